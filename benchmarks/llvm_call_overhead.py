"""Call overhead of the LLVM backend: a jitted ``def f(x): return x`` against the plain one.

    python benchmarks/llvm_call_overhead.py [--number N] [--repeat R]

Prints the best-of-R time per call for:

- ``plain``: the interpreted function;
- ``jitted``: what users call, ``jit(f, backend="llvm")`` (the dispatcher's one-line
  trampoline, then the native entry);
- ``native entry``: the native entry called directly with the state tuple (what the
  trampoline adds on top is the difference);
- ``trampoline share``: jitted less native entry, what the dispatcher's trampoline costs,

and the ratio jitted / plain (target: <= 1.5).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def f(x):
    return x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("JUSTJIT_CACHE_DIR", tempfile.mkdtemp(prefix="jj-bench-llvm-"))

    import justjit
    from justjit import pipeline

    pipeline.BACKEND_MODULES.setdefault("llvm", "justjit.backends.llvm")
    jitted = justjit.jit(f, backend="llvm", fallback=False)
    assert jitted(41) == 41 and jitted.dispatcher.stats.status == "compiled"
    entry = jitted.compiled.entry
    state = (f.__globals__, f.__builtins__, f.__closure__)

    def timed(stmt, glb):
        best = min(timeit.repeat(stmt, globals=glb, number=args.number, repeat=args.repeat))
        return best / args.number * 1e9

    obj = object()
    plain_ns = timed("f(obj)", {"f": f, "obj": obj})
    jitted_ns = timed("f(obj)", {"f": jitted, "obj": obj})
    entry_ns = timed("e(s, obj)", {"e": entry, "s": state, "obj": obj})

    print(f"plain f(x):            {plain_ns:7.1f} ns")
    print(f"jitted f(x):           {jitted_ns:7.1f} ns")
    print(f"native entry directly: {entry_ns:7.1f} ns")
    print(f"trampoline share:      {jitted_ns - entry_ns:7.1f} ns  (jitted - native entry: "
          f"the dispatcher's one-line Python trampoline)")
    print(f"ratio jitted / plain:  {jitted_ns / plain_ns:7.2f}   (target <= 1.5)")
    print(f"ratio entry / plain:   {entry_ns / plain_ns:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
