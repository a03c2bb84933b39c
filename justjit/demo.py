"""`python -m justjit demo`: compile a hot loop, check it against CPython, print the speed-up
and where the generated .pyx is. Everything is measured in this one process."""

from __future__ import annotations

import os
import tempfile
import time


def kernel(n):
    """A loop of small integer operations, the kind of code the interpreter is slow at."""
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += i * i
        elif i % 7 == 1:
            total -= i << 2
        else:
            total ^= i
    return total


def _best_of(fn, arg, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    dump_dir = os.environ.setdefault("JUSTJIT_DUMP_DIR",
                                     os.path.join(tempfile.gettempdir(), "justjit-demo"))
    from . import jit

    jitted = jit(kernel, fallback=False)
    n = 300_000
    start = time.perf_counter()
    compiled_result = jitted(n)
    first_call = time.perf_counter() - start
    expected = kernel(n)
    if compiled_result != expected or type(compiled_result) is not type(expected):
        print(f"MISMATCH: CPython gave {expected!r}, compiled code gave {compiled_result!r}")
        return 1

    # The first call may have run a quick -Og module (the `tiered` setting): time the -O2
    # one that a background thread builds and swaps in.
    start = time.perf_counter()
    jitted.wait()
    upgrade = time.perf_counter() - start
    t_py = _best_of(kernel, n)
    t_jit = _best_of(jitted, n)
    print(f"kernel({n}) = {expected}  (same answer from CPython and from compiled code)")
    print(f"first call (compile or cache load + run): {first_call * 1000:.0f} ms")
    if jitted.stats.upgrades:
        print(f"then the -O2 build, in the background: {upgrade * 1000:.0f} ms more")
    print(f"CPython:  {t_py * 1000:8.2f} ms")
    compiled = jitted.dispatcher.compiled
    kind = ("typed code for these argument types, generic code behind its guards"
            if getattr(compiled, "typed", False) else "generic object code")
    print(f"justjit:  {t_jit * 1000:8.2f} ms   speed-up {t_py / t_jit:.2f}x  ({kind})")
    print(f"signatures: {jitted.signatures}")
    print(f"generated .pyx files are in: {dump_dir}")
    print("the source is also available as jitted.inspect_pyx(); the start of the body:")
    lines = jitted.inspect_pyx().splitlines()
    body = next((i for i, line in enumerate(lines) if "__jj_body(" in line), 0)
    start = next((i for i, line in enumerate(lines) if i > body and "# -- b" in line), body)
    for line in lines[start:start + 30]:
        print("    " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
