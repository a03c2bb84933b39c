"""Compile latency of the real pipeline: ``justjit.jit(fn, fallback=False, cache=True)``.

Two figures, each against its target:

1. **Cold compile**: the first call of a jitted function whose cache directory is new and
   empty, timed from the call to its return (frontend, relooper, register allocation,
   .pyx emission, Cython in-process, the C compiler, loading, then the call itself). The
   median is over several distinct realistic ~20-line functions (loops, branches,
   try/except, calls, comprehensions, closures, f-strings). The very first compile in the
   process also pays for importing and warming up Cython; it is reported separately and
   left out of the median. Target: median <= 1.0 s. With justjit's quick first tier
   (``tiered``, the default) that call runs the -Og module; the -O2 build that follows in
   the background is waited for after the timing (reported as ``upgrade``), so that the
   next compile has the CPU to itself. The CPU time of the call (this process and its
   finished gcc children) is reported too: the load of a shared machine inflates the wall
   time, not that.
2. **Warm first call**: in a fresh interpreter whose cache already holds the function, the
   time from the jitted function's first call to its return. ``import justjit`` (and
   importing the module that defines the functions, and decorating) happen before and are
   reported separately. Target: <= 10 ms. Each run checks that it loaded the function
   through the warm path (the cache record found under the function's fingerprint, see
   justjit/fingerprint.py), imported neither Cython nor the compiler's stages, and
   returned the interpreter's result.

To show where the time goes, a timer wraps each stage (frontend, relooper, regalloc, emit,
Cython, gcc, the warm key, cache, load) during the cold compiles (the wrappers cost
microseconds). For the warm path, the report lists the justjit modules the first call
imports (they are imported lazily, so that ``import justjit`` stays cheap, and their import
is part of the first call), and three more fresh processes import them beforehand and time
each stage. The output is Markdown: a summary table with the targets and whether each is
met, then the details.

The whole run uses a copy of the ``justjit`` package taken when it starts: the warm key
covers the compiler's source files, so an edit made in the work tree during the run (by
someone else) would otherwise make the warm processes miss.

    python benchmarks/compile_latency.py [--opt-level N] [--warm-runs N] [--profile]
                                         [--keep-bytecode-env] [--json PATH]

The warm processes run with a bytecode cache (PYTHONPYCACHEPREFIX in the temporary
directory, warmed by one discarded run), as an installed package would have: with
PYTHONDONTWRITEBYTECODE set, as in some sandboxes, every import compiles justjit from source.
`--keep-bytecode-env` keeps the environment as it is instead. `--profile` adds cProfile's
top entries for one cold compile and one warm first call.

The functions live in a real module written to a temporary directory, so the cold and the
warm processes compile the same code objects (the cache key includes the file name).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE = "jj_bench_functions"

# Distinct functions of about 20 lines, the kind of code people decorate. Each has the
# arguments of its first call; the result is checked against the interpreter's.
FUNCTIONS = '''
import math
from collections import defaultdict


def mixed_loop(a, b, n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += a * i
        elif i % 3 == 1:
            total -= b
        else:
            total += (a - b) // (i + 1)
    lst = [total, a, b]
    d = {"x": lst, "y": n}
    try:
        v = d["z"]
    except KeyError:
        v = len(lst)
    s = 0
    while v > 0:
        s += v
        v -= 1
    return total + s + d["y"]


def word_count(text, stop):
    counts = {}
    for raw in text.split():
        word = raw.strip(".,;:!?").lower()
        if not word or word in stop:
            continue
        counts[word] = counts.get(word, 0) + 1
    best = None
    best_n = 0
    for word, n in counts.items():
        if n > best_n or (n == best_n and word < best):
            best, best_n = word, n
    result = []
    for word in sorted(counts):
        if counts[word] * 2 >= best_n:
            result.append(f"{word}={counts[word]}")
    if best is None:
        return ""
    return best + ":" + ",".join(result)


def matrix(rows, cols, scale):
    m = []
    for i in range(rows):
        row = []
        for j in range(cols):
            row.append((i * cols + j) * scale)
        m.append(row)
    t = [[m[i][j] for i in range(rows)] for j in range(cols)]
    acc = 0.0
    for i in range(cols):
        for j in range(rows):
            acc += t[i][j] * 0.5
    if acc > 1e6:
        raise OverflowError("too big")
    diag = [m[i][i] for i in range(min(rows, cols))]
    return acc, sum(diag), len(t)


def exceptions(items, default):
    out = []
    errors = 0
    for x in items:
        try:
            y = 100 // x
        except ZeroDivisionError:
            errors += 1
            y = default
        except TypeError as e:
            errors += 1
            y = str(e)
        else:
            y = y + 1
        finally:
            out.append(x)
        out.append(y)
    if errors > len(items) // 2:
        raise ValueError(f"{errors} bad items")
    return out, errors


def closure(base, values):
    seen = set()
    def key(v):
        return (v - base) ** 2
    ordered = sorted(values, key=key)
    firsts = []
    for v in ordered:
        if v in seen:
            continue
        seen.add(v)
        firsts.append(v)
    pairs = list(zip(firsts, firsts[1:]))
    gaps = [b - a for a, b in pairs]
    if not gaps:
        return firsts, 0
    mean = sum(gaps) / len(gaps)
    spread = max(gaps) - min(gaps)
    label = "tight" if spread < mean else "loose"
    return firsts, label


def strings(name, parts, width):
    k = 0
    head = name.upper()[:width]
    body = []
    for p in parts:
        k += 1
        if isinstance(p, bytes):
            p = p.decode("utf-8", "replace")
        elif not isinstance(p, str):
            p = repr(p)
        body.append(p.center(width, "."))
    text = "|".join(body)
    if len(text) > 4 * width:
        text = text[: 4 * width] + "..."
    table = {c: text.count(c) for c in set(text) if c.isalpha()}
    common = sorted(table, key=table.get, reverse=True)[:3]
    return f"{head}[{k}]: {text} ({''.join(common)})"


def bisect_search(seq, target, lo=0, hi=None):
    if hi is None:
        hi = len(seq)
    steps = 0
    while lo < hi:
        steps += 1
        mid = (lo + hi) // 2
        if seq[mid] < target:
            lo = mid + 1
        elif seq[mid] > target:
            hi = mid
        else:
            return mid, steps
    if lo < len(seq) and seq[lo] == target:
        return lo, steps
    neighbours = seq[max(0, lo - 1):lo + 1]
    nearest = min(neighbours, key=lambda v: abs(v - target), default=None)
    return -1 if nearest is None else ~lo, steps


def group_stats(records, field, *, limit=None):
    groups = defaultdict(list)
    for rec in records:
        try:
            groups[rec[field]].append(float(rec["value"]))
        except (KeyError, ValueError):
            continue
    summary = {}
    for name, vals in sorted(groups.items()):
        if limit is not None and len(summary) >= limit:
            break
        n = len(vals)
        mean = sum(vals) / n
        var = sum((v - mean) ** 2 for v in vals) / n if n > 1 else 0.0
        summary[name] = {"n": n, "mean": round(mean, 3), "sd": round(math.sqrt(var), 3)}
    best = max(summary, key=lambda k: summary[k]["mean"], default=None)
    return summary, best
'''

CALLS = {
    "mixed_loop": "(7, 3, 50)",
    "word_count": "('the cat and the hat. The bat, the cat!', {'and'})",
    "matrix": "(4, 5, 2)",
    "exceptions": "([1, 0, 'x', 5, 7], -1)",
    "closure": "(10, [3, 14, 9, 3, 21, 10])",
    "strings": "('report', ['ab', b'cd', 42, 'efgh'], 6)",
    "bisect_search": "(list(range(0, 100, 3)), 42)",
    "group_stats": "([{'k': 'a', 'value': '1.5'}, {'k': 'b', 'value': 'x'}, "
                   "{'k': 'a', 'value': 2}, {'value': 3}, {'k': 'b', 'value': 4}], 'k')",
}

# Stages of the pipeline, as (label, module, attribute) of the functions to time. The
# pipeline imports them at call time (`from .frontend import build_ir`), so wrapping the
# module attribute times every call the real pipeline makes.
STAGES = [
    ("frontend", "justjit.frontend", "build_ir"),
    ("relooper", "justjit.relooper", "reloop"),
    ("relooper", "justjit.relooper", "render"),
    ("relooper", "justjit.relooper", "lower_labelled_jumps"),
    ("regalloc", "justjit.regalloc", "allocate"),
    ("emit", "justjit.emit_cython", "emit_pyx"),
    ("cython", "justjit.backends.cython_build", "_run_cython"),
    ("gcc", "justjit.backends.cython_build", "_run_cc"),
    ("key", "justjit.fingerprint", "warm_key"),
    ("cache", "justjit.cache", "open_cache"),
    ("cache", "justjit.backends.cython_build", "_module_key"),
    ("cache", "justjit.cache", "Cache.lookup"),
    ("cache", "justjit.cache", "Cache.publish"),
    ("cache", "justjit.cache", "Cache.read_record"),
    ("cache", "justjit.cache", "Cache.write_record"),
    ("cache", "justjit.cache", "Cache.unchanged"),
    ("load", "justjit.backends.cython_build", "_load"),
]
STAGE_ORDER = ["frontend", "relooper", "regalloc", "emit", "cython", "gcc", "key", "cache",
               "load"]

# The justjit modules that a warm first call imports lazily (for the warm breakdown).
LAZY_MODULES = ["justjit.pipeline", "justjit.fingerprint", "justjit.backends.cython_backend",
                "justjit.backends.cython_build", "justjit.cache"]

COLD_TARGET_S = 1.0
WARM_TARGET_MS = 10.0


# ------------------------------------------------------------------------------------------
# Timing helpers (used in this process and in the children)


def install_stage_timers() -> dict[str, float]:
    """Wrap each stage function with a timer; returns the dict the timers add to."""
    import importlib

    totals: dict[str, float] = {label: 0.0 for label in STAGE_ORDER}
    for label, module_name, attr in STAGES:
        owner = importlib.import_module(module_name)
        *path, attr = attr.split(".")
        for part in path:  # "Class.method"
            owner = getattr(owner, part)
        original = getattr(owner, attr)

        def timed(*args, __original=original, __label=label, **kwargs):
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                totals[__label] += time.perf_counter() - start

        setattr(owner, attr, timed)
    return totals


CHILD = r"""
import json, os, sys, time
mode = sys.argv[1]
name = sys.argv[2]
t0 = time.perf_counter()
import justjit
t1 = time.perf_counter()
out = {"import_justjit_ms": (t1 - t0) * 1e3}
sys.path.insert(0, os.environ["JJ_BENCH_DIR"])
if mode == "breakdown":
    import importlib
    from compile_latency_support import LAZY_MODULES, install_stage_timers
    t = time.perf_counter()
    for m in LAZY_MODULES:
        importlib.import_module(m)
    out["lazy_imports_ms"] = (time.perf_counter() - t) * 1e3
    totals = install_stage_timers()
t = time.perf_counter()
module = __import__(os.environ["JJ_BENCH_MODULE"])
fn = getattr(module, name)
args = eval(os.environ["JJ_BENCH_ARGS"])
out["import_functions_ms"] = (time.perf_counter() - t) * 1e3
t = time.perf_counter()
jitted = justjit.jit(fn, fallback=False, cache=True)
out["decorate_ms"] = (time.perf_counter() - t) * 1e3
before = set(sys.modules)
if mode == "profile":
    import cProfile, io, pstats
    profiler = cProfile.Profile()
    profiler.enable()
t = time.perf_counter()
result = jitted(*args)
out["first_call_ms"] = (time.perf_counter() - t) * 1e3
if mode == "profile":
    profiler.disable()
    from compile_latency_support import _trim_profile
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(20)
    out["profile"] = _trim_profile(text.getvalue())
t = time.perf_counter()
jitted(*args)
out["second_call_ms"] = (time.perf_counter() - t) * 1e3
out["imported_by_first_call"] = sorted(m for m in set(sys.modules) - before
                                       if m.startswith("justjit"))
out["others_imported_by_first_call"] = len([m for m in set(sys.modules) - before
                                            if not m.startswith("justjit")])
out["cython_imported"] = "Cython.Compiler.Main" in sys.modules
out["stages_imported"] = sorted(m for m in ("justjit.frontend", "justjit.emit_cython",
                                            "justjit.ir.ops", "justjit.analyses.types")
                                if m in sys.modules)
from justjit.backends import cython_build
out["warm_hits"] = cython_build.stats.warm_hits
d = jitted.dispatcher.stats
out["status"] = d.status
out["cache_hits"] = d.cache_hits
out["correct"] = repr(result) == repr(fn(*args))
if mode == "breakdown":
    out["stages_ms"] = {k: v * 1e3 for k, v in totals.items()}
print(json.dumps(out))
"""


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (gcc): the cold compile's cost
    without the wait for a CPU, which a loaded machine adds to the wall time."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _median(values):
    return statistics.median(values) if values else float("nan")


def _yes(ok: bool) -> str:
    return "**yes**" if ok else "**NO**"


# ------------------------------------------------------------------------------------------


def main() -> int:
    global REPO
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opt-level", type=int, default=None,
                        help="C optimization level (default: justjit's configured one)")
    parser.add_argument("--warm-runs", type=int, default=8,
                        help="fresh processes for the warm figure (cycling over the functions)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile's top entries for a cold and a warm compile")
    parser.add_argument("--keep-bytecode-env", action="store_true",
                        help="run the warm processes without a bytecode cache of their own")
    args = parser.parse_args()
    if args.opt_level is not None:
        os.environ["JUSTJIT_OPT_LEVEL"] = str(args.opt_level)

    with tempfile.TemporaryDirectory(prefix="jj-bench-") as tmp:
        root = Path(tmp)
        REPO = snapshot(root)  # (the children and _trim_profile use it too)
        (root / f"{MODULE}.py").write_text(FUNCTIONS.lstrip(), encoding="utf-8")
        # The children import the timer helpers from this file, under another name.
        (root / "compile_latency_support.py").write_text(
            Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
        sys.path.insert(0, str(root))
        sys.path.insert(0, str(REPO))
        report = run(root, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def snapshot(root: Path) -> Path:
    """A copy of the justjit package (sources only) under ``root``: where this run imports it
    from."""
    import shutil

    target = root / "snapshot"
    shutil.copytree(REPO / "justjit", target / "justjit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return target


def fresh_cache(root: Path, name: str) -> Path:
    path = root / f"cache-{name}"
    os.makedirs(path, mode=0o700)
    os.environ["JUSTJIT_CACHE_DIR"] = str(path)
    return path


def run(root: Path, args) -> dict:
    os.environ["JJ_BENCH_DIR"] = str(root)
    t = time.perf_counter()
    import justjit
    import_ms = (time.perf_counter() - t) * 1e3
    from justjit.backends import cython_build

    module = __import__(MODULE)
    totals = install_stage_timers()  # imports the lazy modules now: not in any timing below
    names = list(CALLS)

    # ---- cold: one fresh empty cache directory per function, the first call timed
    cold: dict[str, dict] = {}
    for name in names:
        fn = getattr(module, name)
        call_args = eval(CALLS[name])
        fresh_cache(root, name)
        before = dict(totals)
        jitted = justjit.jit(fn, fallback=False, cache=True)
        cpu0 = _cpu_seconds()
        start = time.perf_counter()
        result = jitted(*call_args)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
        stages = {k: (totals[k] - before[k]) * 1e3 for k in STAGE_ORDER}
        # The opt_level build of a quick first tier (justjit's `tiered`) runs in the
        # background: wait for it (untimed but reported) so that the next compile does not
        # share the CPU with it and the warm processes find it in the cache.
        start = time.perf_counter()
        jitted.wait()
        upgrade_seconds = time.perf_counter() - start
        stats = jitted.dispatcher.stats
        assert stats.status == "compiled" and stats.cache_misses == 1, (name, stats.status)
        assert repr(result) == repr(fn(*call_args)), f"{name}: jitted result differs"
        stages["call+other"] = seconds * 1e3 - sum(stages.values())
        cold[name] = {"ms": seconds * 1e3, "cpu_ms": cpu * 1e3, "stages_ms": stages,
                      "upgrade_ms": upgrade_seconds * 1e3,
                      "upgrades": getattr(stats, "upgrades", 0)}  # (0: a justjit without tiers)
    first, rest = names[0], names[1:]
    cold_median_ms = _median([cold[n]["ms"] for n in rest])

    # ---- warm: a fresh process per run, its cache populated by the cold run above
    env = dict(os.environ, JJ_BENCH_DIR=str(root), JJ_BENCH_MODULE=MODULE, JJ_BENCH_REPO=str(REPO),
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    if not args.keep_bytecode_env:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    bytecode = ("own bytecode cache" if not args.keep_bytecode_env else
                "no bytecode cache" if env.get("PYTHONDONTWRITEBYTECODE")
                else "bytecode cache as configured")

    def child(mode: str, name: str) -> dict:
        env_run = dict(env, JUSTJIT_CACHE_DIR=str(root / f"cache-{name}"),
                       JJ_BENCH_ARGS=CALLS[name])
        # (-P: not the working directory's justjit, but the snapshot on PYTHONPATH)
        proc = subprocess.run([sys.executable, "-P", "-c", CHILD, mode, name], env=env_run,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"warm child failed for {name}:\n{proc.stderr}")
        out = json.loads(proc.stdout)
        assert out["status"] == "compiled" and out["cache_hits"] == 1, out
        assert out["correct"], f"{name}: jitted result differs in the warm process"
        assert not out["cython_imported"], f"{name}: a cached load imported Cython.Compiler"
        if mode == "plain":
            assert out["warm_hits"] == 1 and not out["stages_imported"], \
                f"{name}: not loaded through the warm path ({out['stages_imported']})"
        return out

    child("plain", names[0])  # discarded: fills the bytecode cache
    warm = [dict(child("plain", names[i % len(names)]), name=names[i % len(names)])
            for i in range(args.warm_runs)]
    breakdown = [child("breakdown", names[i % len(names)]) for i in range(min(3, len(names)))]
    warm_ms = _median([w["first_call_ms"] for w in warm])

    # ---- report
    opt = justjit.config.resolve().opt_level
    tiers = (f"gcc -Og, then -O{opt} in the background" if any(c["upgrades"] for c in cold.values())
             else f"gcc -O{opt}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# JustJIT compile latency (Python {sys.version.split()[0]}, {tiers}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}, warm processes: {bytecode})\n")
    print("| measure | value | target | met |")
    print("|---|---:|---:|:---:|")
    print(f"| cold compile + first call, median of {len(rest)} functions "
          f"(first compile excluded) | {cold_median_ms:.0f} ms | <= {COLD_TARGET_S * 1e3:.0f} ms "
          f"| {_yes(cold_median_ms <= COLD_TARGET_S * 1e3)} |")
    print(f"| warm first call in a fresh process, median of {len(warm)} | {warm_ms:.1f} ms "
          f"| <= {WARM_TARGET_MS:.0f} ms | {_yes(warm_ms <= WARM_TARGET_MS)} |")
    print(f"| the same, CPU time (this process and gcc; median) "
          f"| {_median([cold[n]['cpu_ms'] for n in rest]):.0f} ms | - | - |")
    print(f"| first compile in the process ({first}, includes importing Cython) "
          f"| {cold[first]['ms']:.0f} ms | - | - |")
    print(f"| `import justjit` in a fresh process (median) "
          f"| {_median([w['import_justjit_ms'] for w in warm]):.1f} ms | - | - |")
    print(f"| `import justjit` in this process | {import_ms:.1f} ms | - | - |")
    print(f"| background -O{opt} build until swapped in, after the cold first call (median) "
          f"| {_median([cold[n]['upgrade_ms'] for n in rest]):.0f} ms | - | - |")
    print(f"| second call in the fresh process (median) "
          f"| {_median([w['second_call_ms'] for w in warm]) * 1e3:.0f} us | - | - |")

    print("\n## Cold compile by stage (ms)\n")
    print("(the stages of the first call; `upgrade`: then waiting for the background build)\n")
    cols = STAGE_ORDER + ["call+other"]
    print("| function | total | " + " | ".join(cols) + " | upgrade |")
    print("|---|---:|" + "---:|" * (len(cols) + 1))
    for name in names:
        s = cold[name]["stages_ms"]
        note = " (first)" if name == first else ""
        print(f"| {name}{note} | {cold[name]['ms']:.0f} | "
              + " | ".join(f"{s[c]:.1f}" for c in cols) + f" | {cold[name]['upgrade_ms']:.0f} |")
    med = {c: _median([cold[n]["stages_ms"][c] for n in rest]) for c in cols}
    print(f"| median (first excluded) | {cold_median_ms:.0f} | "
          + " | ".join(f"{med[c]:.1f}" for c in cols)
          + f" | {_median([cold[n]['upgrade_ms'] for n in rest]):.0f} |")

    print("\n## Warm first call, fresh process (ms)\n")
    print("| function | import justjit | first call | modules the first call imports |")
    print("|---|---:|---:|---|")
    for w in warm:
        print(f"| {w['name']} | {w['import_justjit_ms']:.1f} | {w['first_call_ms']:.1f} "
              f"| {len(w['imported_by_first_call'])} of justjit, "
              f"{w['others_imported_by_first_call']} others |")
    mods = sorted({m for w in warm for m in w["imported_by_first_call"]})
    print(f"\njustjit modules imported by a first call: {', '.join(mods)}")
    print("\nThe same first call with the lazy imports done beforehand and a timer per stage "
          "(median of " f"{len(breakdown)} runs):\n")
    keys = ["lazy_imports_ms", "first_call_ms"]
    stage_med = {k: _median([b["stages_ms"][k] for b in breakdown]) for k in STAGE_ORDER}
    first_med = _median([b["first_call_ms"] for b in breakdown])
    print("| lazy imports | first call | " + " | ".join(STAGE_ORDER) + " | other |")
    print("|---:|---:|" + "---:|" * (len(STAGE_ORDER) + 1))
    print(f"| {_median([b[keys[0]] for b in breakdown]):.1f} | {first_med:.1f} | "
          + " | ".join(f"{stage_med[k]:.2f}" for k in STAGE_ORDER)
          + f" | {first_med - sum(stage_med.values()):.2f} |")

    if args.profile:
        profile_cold(root, module, names[-1])
        print("\n## cProfile: warm first call in a fresh process (top 20, cumulative)\n")
        print("```")
        print(child("profile", names[0])["profile"].rstrip())
        print("```")

    return {"cold": cold, "cold_median_ms": cold_median_ms, "first": first, "warm": warm,
            "warm_median_ms": warm_ms, "warm_breakdown": breakdown, "import_ms": import_ms,
            "builds": {"cython_runs": cython_build.stats.cython_runs,
                       "cc_runs": cython_build.stats.cc_runs}}


def profile_cold(root: Path, module, name: str) -> None:
    """cProfile of one more cold compile (a fresh cache, a fresh copy of the function)."""
    import cProfile
    import io
    import pstats
    import types

    import justjit

    original = getattr(module, name)
    # A copy with another first line number: another code object, so another cache key.
    code = original.__code__.replace(co_firstlineno=original.__code__.co_firstlineno + 10000)
    fn = types.FunctionType(code, original.__globals__, name, original.__defaults__,
                            original.__closure__)
    fn.__kwdefaults__ = original.__kwdefaults__
    fresh_cache(root, name + "-profile")
    jitted = justjit.jit(fn, fallback=False, cache=True)
    call_args = eval(CALLS[name])
    profiler = cProfile.Profile()
    profiler.enable()
    jitted(*call_args)
    profiler.disable()
    jitted.wait()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(20)
    print(f"\n## cProfile: cold compile of {name} (top 20, cumulative)\n")
    print("```")
    print(_trim_profile(out.getvalue()))
    print("```")


def _trim_profile(text: str) -> str:
    lines = text.strip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    repo = os.environ.get("JJ_BENCH_REPO", str(REPO)) + os.sep
    tmp = os.environ.get("JJ_BENCH_DIR", "<none>") + os.sep
    return "\n".join(line.replace(repo, "").replace(tmp, "<tmp>/")
                     for line in lines[start:])


if __name__ == "__main__":
    sys.exit(main())
