"""Compile latency of the LLVM backend: ``jit(fn, backend="llvm", fallback=False, cache=True)``.

The functions are the ~20-line functions of benchmarks/compile_latency.py (loops, branches,
try/except, calls, comprehensions, closures, f-strings), written to a real module.

1. **Cold compile**: the first call of each jitted function with a new, empty cache
   directory, timed from the call to its return (frontend, lowering to LLVM IR, LLVM's
   optimizer and code generator, loading the object into an engine, the call). The first
   function in the process also pays for importing llvmlite and loading the runtime
   extension; it is reported apart and left out of the median. Target: median <= 30 ms.
2. **Warm first call**: a fresh interpreter whose cache holds the objects: the first call
   must not run LLVM's code generator (checked) and its time is reported.

    python benchmarks/llvm_compile_latency.py [--opt-level N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE = "jj_llvm_bench_functions"
TARGET_MS = 30.0


def _shared():
    spec = importlib.util.spec_from_file_location(
        "compile_latency_shared", Path(__file__).with_name("compile_latency.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FUNCTIONS, mod.CALLS


CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import justjit
from justjit import pipeline
pipeline.BACKEND_MODULES.setdefault("llvm", "justjit.backends.llvm")
module = __import__(os.environ["JJ_BENCH_MODULE"])
out = {"import_ms": (time.perf_counter() - t0) * 1e3}
calls = json.loads(os.environ["JJ_BENCH_CALLS"])
times = {}
for name, args in calls.items():
    fn = getattr(module, name)
    jitted = justjit.jit(fn, backend="llvm", fallback=False, cache=True)
    a = eval(args)
    t = time.perf_counter()
    jitted(*a)
    times[name] = (time.perf_counter() - t) * 1e3
from justjit.backends import llvm as backend
out["first_call_ms"] = times
out["llvm_compiles"] = backend.stats.compiles
out["disk_hits"] = backend.stats.disk_hits
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opt-level", type=int, default=None)
    args = parser.parse_args()
    if args.opt_level is not None:
        os.environ["JUSTJIT_OPT_LEVEL"] = str(args.opt_level)
    functions, calls = _shared()
    with tempfile.TemporaryDirectory(prefix="jj-llvm-bench-") as tmp:
        root = Path(tmp)
        (root / f"{MODULE}.py").write_text(functions.lstrip(), encoding="utf-8")
        sys.path.insert(0, str(root))
        sys.path.insert(0, str(REPO))
        cache = root / "cache"
        os.makedirs(cache, mode=0o700)
        os.environ["JUSTJIT_CACHE_DIR"] = str(cache)
        cold = run_cold(root, calls)
        warm = run_warm(root, calls)
    report(cold, warm)
    return 0


def run_cold(root: Path, calls: dict) -> dict:
    import justjit
    from justjit import frontend, pipeline
    from justjit.backends import llvm as backend

    pipeline.BACKEND_MODULES.setdefault("llvm", "justjit.backends.llvm")
    module = __import__(MODULE)
    timers = {"frontend": 0.0}
    original = frontend.build_ir

    def build_ir(fn):
        t = time.perf_counter()
        try:
            return original(fn)
        finally:
            timers["frontend"] += time.perf_counter() - t

    frontend.build_ir = build_ir
    out = {}
    try:
        for name, call in calls.items():
            fn = getattr(module, name)
            # Every function is new to the (empty) cache: each first call compiles, and
            # publishes the object for the warm run.
            before = (timers["frontend"], backend.stats.lower_seconds, backend.stats.llvm_seconds,
                      backend.stats.load_seconds, backend.stats.compiles)
            jitted = justjit.jit(fn, backend="llvm", fallback=False, cache=True)
            a = eval(call)
            c = time.process_time()
            t = time.perf_counter()
            result = jitted(*a)
            ms = (time.perf_counter() - t) * 1e3
            cpu_ms = (time.process_time() - c) * 1e3
            assert repr(result) == repr(fn(*a)), f"{name}: jitted result differs"
            assert backend.stats.compiles == before[4] + 1, name
            after = (timers["frontend"], backend.stats.lower_seconds, backend.stats.llvm_seconds,
                     backend.stats.load_seconds)
            stages = {k: (b - a_) * 1e3 for k, a_, b in
                      zip(("frontend", "lower", "llvm", "load"), before, after)}
            stages["other"] = ms - sum(stages.values())
            out[name] = {"ms": ms, "cpu_ms": cpu_ms, "stages": stages, "ir_ops": _count_ops(fn)}
    finally:
        frontend.build_ir = original
    return out


def _count_ops(fn) -> int:
    from justjit.frontend import build_ir

    ir = build_ir(fn)
    return sum(len(b.ops) + 1 for b in ir.blocks.values())


def run_warm(root: Path, calls: dict) -> dict:
    env = dict(os.environ, JUSTJIT_CACHE_DIR=str(root / "cache"), JJ_BENCH_MODULE=MODULE,
               JJ_BENCH_CALLS=json.dumps(calls),
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"warm run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(cold: dict, warm: dict) -> None:
    names = list(cold)
    first, rest = names[0], names[1:]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Cold compiles (first call, empty cache), ms  [load average {load:.1f} on "
          f"{os.cpu_count()} CPUs: wall times grow with it; 'cpu' is this process's CPU time]:")
    print(f"  {'function':<14} {'IR ops':>6} {'total':>7} {'cpu':>6} {'frontend':>9} {'lower':>7} "
          f"{'llvm':>7} {'load':>6} {'other':>6}")
    for name in names:
        c = cold[name]
        s = c["stages"]
        mark = "  (first: imports llvmlite, loads the runtime)" if name == first else ""
        print(f"  {name:<14} {c['ir_ops']:>6} {c['ms']:7.1f} {c['cpu_ms']:6.1f} "
              f"{s['frontend']:9.1f} {s['lower']:7.1f} {s['llvm']:7.1f} {s['load']:6.1f} "
              f"{s['other']:6.1f}{mark}")
    median = statistics.median(cold[n]["ms"] for n in rest)
    cpu_median = statistics.median(cold[n]["cpu_ms"] for n in rest)
    print(f"  median (without the first): {median:.1f} ms wall, {cpu_median:.1f} ms CPU   "
          f"target <= {TARGET_MS:.0f} ms: {'yes' if median <= TARGET_MS else 'NO'}")
    print()
    times = warm["first_call_ms"]
    print("Warm (fresh process, populated cache), first call, ms:")
    for name in names:
        print(f"  {name:<14} {times[name]:7.1f}")
    print(f"  median (without the first): {statistics.median(times[n] for n in rest):.1f} ms;"
          f" LLVM code generator runs: {warm['llvm_compiles']} (expected 0), "
          f"objects loaded from the cache: {warm['disk_hits']}")
    print(f"  import justjit + functions module: {warm['import_ms']:.1f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
