"""Compile latency of the Cython backend's build step (justjit.backends.cython_build).

Measures, against a fresh temporary cache directory:

1. cold compile: ``build_module`` on several distinct ~20-line functions with
   an empty cache (Cython in-process + the C compiler).  The first build in a
   process also pays for importing and warming up Cython; it is reported
   separately, and the median is over the builds that follow it.
2. warm first load: a fresh interpreter loads one of those modules from the
   cache.  Reported as the ``build_module`` call alone and as import of
   justjit + the call (interpreter start-up excluded).

Targets: cold <= 1.0 s median, warm <= 10 ms.

The .pyx texts are hand-written stand-ins for the emitter's output (untyped
object code with a few C temporaries); switch to the real emitter when it can
compile these functions.

    python3 benchmarks/compile_latency.py [--opt-level N] [--loads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FUNCTIONS = {
    "mixed_loop": '''
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
    ''',
    "word_count": '''
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
    ''',
    "matrix": '''
        def matrix(rows, cols, scale):
            cdef Py_ssize_t i, j
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
    ''',
    "exceptions": '''
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
            with open(__file__) if False else _Null() as f:
                pass
            return out, errors

        class _Null:
            def __enter__(self):
                return self
            def __exit__(self, *a):
                return False
    ''',
    "closure": '''
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
    ''',
    "strings": '''
        def strings(name, parts, width):
            cdef int k = 0
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
    ''',
    "bisect_search": '''
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
    ''',
}

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from justjit.backends.cython_build import build_module
t1 = time.perf_counter()
m = build_module(sys.argv[1], name_hint=sys.argv[2], opt_level=int(sys.argv[3]))
t2 = time.perf_counter()
print(json.dumps({"call_ms": (t2 - t1) * 1e3, "total_ms": (t2 - t0) * 1e3,
                  "cython_imported": "Cython.Compiler.Main" in sys.modules}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opt-level", type=int, default=2)
    parser.add_argument("--loads", type=int, default=5, help="fresh processes for the warm figure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jj-bench-") as tmp:
        os.environ["JUSTJIT_CACHE_DIR"] = tmp
        sys.path.insert(0, str(REPO))
        from justjit.backends.cython_build import build_module, stats

        sources = {name: textwrap.dedent(text) for name, text in FUNCTIONS.items()}
        cold, split = {}, {}
        for name, source in sources.items():
            cy0, cc0 = stats.cython_seconds, stats.cc_seconds
            t0 = time.perf_counter()
            build_module(source, name_hint=name, opt_level=args.opt_level)
            cold[name] = time.perf_counter() - t0
            split[name] = (stats.cython_seconds - cy0, stats.cc_seconds - cc0)

        names = list(cold)
        first, rest = names[0], names[1:]
        print(f"cold compile, -O{args.opt_level}, {len(names)} distinct functions of ~20 lines")
        for name in names:
            note = "  (first in process: includes Cython import/warm-up)" if name == first else ""
            cy, cc = split[name]
            print(f"  {name:<14} {cold[name] * 1e3:7.0f} ms  (cython {cy * 1e3:4.0f}, cc {cc * 1e3:4.0f})"
                  f"{note}")
        print(f"  median after the first: {statistics.median(cold[n] for n in rest) * 1e3:.0f} ms"
              f"   (target <= 1000 ms)")

        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        loads = []
        for i in range(args.loads):
            name = names[i % len(names)]
            out = subprocess.run([sys.executable, "-c", CHILD, sources[name], name,
                                  str(args.opt_level)],
                                 env=env, capture_output=True, text=True, check=True)
            loads.append(json.loads(out.stdout))
        assert not any(r["cython_imported"] for r in loads), "a cached load imported Cython.Compiler"
        call = statistics.median(r["call_ms"] for r in loads)
        total = statistics.median(r["total_ms"] for r in loads)
        print(f"warm first load in a fresh process (median of {len(loads)}):")
        print(f"  build_module call: {call:.1f} ms   (target <= 10 ms)")
        print(f"  import justjit + call: {total:.1f} ms")
        if sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
            print("  note: PYTHONDONTWRITEBYTECODE is set, so imports compile from source here")


if __name__ == "__main__":
    main()
