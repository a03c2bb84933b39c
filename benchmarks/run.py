"""The JustJIT benchmark suite: every kernel, every column, one process, one command.

    python -m benchmarks [--quick] [--repeats N] [--kernels a,b] [--columns cpython,cython,...]
                         [--out PATH] [--png PATH] [--json PATH] [--use-cache]

(``python benchmarks/run.py ...`` works too.) Columns: CPython (the interpreter), JustJIT's
``backend="cython"`` and ``backend="llvm"`` (``jit(fn, backend=..., fallback=False)``), and
Numba's ``njit`` when numba imports. Kernels: ``benchmarks/kernels.py`` and, when numpy
imports, ``benchmarks/kernels_numpy.py``.

For each column the harness loads a fresh copy of the kernel modules and replaces every
function in them by the column's compiled version (as if each ``def`` had the decorator), so
calls between kernels go to compiled code. For each kernel and column:

1. The first call is timed (for a compiler it includes compiling) and its result is checked
   against CPython's: same type and same value, deep (lists, dicts in order, numpy arrays
   with dtype and shape). A result that differs is reported as MISMATCH and never timed. A
   JustJIT function that ran in the interpreter (a fallback, or status other than
   ``compiled``) is never counted as compiled. If the compiler refuses the kernel
   (``justjit.CompileError``, Numba's nopython typing errors; object mode is not allowed),
   the cell says n/a with the reason. With JustJIT's quick first tier (``tiered``, the
   default) that first call runs the -Og module; the column then waits for the -O2 module
   to be swapped in (``Column.settle``, untimed), so the repeats time the -O2 code.
2. Then ``--repeats`` rounds in which every column that passed is called once more, timed
   (interleaved, so that a change in the machine's load touches all columns alike; fresh
   arguments each, ``gc.collect()`` before each, every result checked again). The figure is
   the BEST (minimum) of those repeats by default (``--stat median`` for the median), on
   this process's CPU clock by default (``--clock wall`` for the wall clock; both are
   recorded): the kernels are single-threaded, and on a shared, busy machine the wall clock
   also counts the time other processes hold the core (it was 2x the CPU time here at a load
   average of 4 on 2 cores) while the CPU clock stays within a few percent. Ratios are
   CPython's figure over the column's, from the same run. Compile time is the first call
   minus a steady call, both on the wall clock (the C compiler runs in a child process).

The report (Markdown, written to ``--out`` and printed) shows each ratio beside its target
with met/missed; the PNG bar chart needs matplotlib (optional). JustJIT compiles into a
fresh temporary cache directory unless ``--use-cache`` is given, so the compile column
measures real builds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gc
import importlib.util
import json
import math
import platform
import random
import shlex
import shutil
import statistics
import string
import sys
import tempfile
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))  # measure this work tree's justjit

from benchmarks.report import (  # noqa: E402 - after the sys.path set-up
    COLUMN_TITLES,
    JIT_COLUMNS,
    _fmt_time,
    _rel,
    build_report,
    to_json,
    write_png,
)

COLUMNS = ("cpython", "cython", "llvm", "numba")


# ============================================================================ kernels


@dataclass
class Bench:
    key: str  # row id
    title: str
    module: str  # "kernels" or "kernels_numpy"
    func: str
    full: tuple  # parameters of the full run
    quick: tuple  # parameters of --quick
    make_args: object  # (params, plain kernels module) -> tuple of arguments (fresh each call)
    size: object  # params -> text
    target: float | None = None  # fixed speed-up target over CPython (both JustJIT backends)
    note: str = ""


def _millions(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return str(n)


@functools.lru_cache(maxsize=None)
def _words(n: int) -> list:
    """n words drawn (Zipf-like) from a vocabulary of 5,000 random lowercase words."""
    rng = random.Random(20240611)
    vocab = sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10))) for _ in range(5000)})
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    return rng.choices(vocab, weights=weights, k=n)


@functools.lru_cache(maxsize=None)
def _vectors(n: int):
    import numpy as np

    rng = np.random.default_rng(7)
    return rng.random(n), rng.random(n)


@functools.lru_cache(maxsize=None)
def _grid(n: int):
    import numpy as np

    rng = np.random.default_rng(11)
    return rng.random((n, n))


def _big_lo(n: int) -> int:
    # the running sum passes 2**63 about halfway through and ends near 2**64
    return 2**64 // n


BENCHES = [
    Bench("sum_range", "sum over range", "kernels", "sum_range", (10_000_000,), (1_000_000,),
          lambda p, k: (0, p[0]), lambda p: f"range({_millions(p[0])})", target=50,
          note="Numba's LLVM turns this loop into a closed form: its time does not grow with n"),
    Bench("sum_range_big", "sum over range, passes 2**63", "kernels", "sum_range", (10_000_000,), (1_000_000,),
          lambda p, k: (_big_lo(p[0]), _big_lo(p[0]) + p[0]),
          lambda p: f"range(2**64//n, +n), n={_millions(p[0])}", target=50,
          note="the running sum passes 2**63 halfway and ends near 2**64: exact big-int result"),
    Bench("fib", "recursive fib", "kernels", "fib", (30,), (24,),
          lambda p, k: (p[0],), lambda p: f"fib({p[0]})", target=40),
    Bench("mandelbrot", "Mandelbrot", "kernels", "mandelbrot", (200, 200, 100), (100, 100, 50),
          lambda p, k: p, lambda p: "x".join(map(str, p)), target=40),
    Bench("nbody", "n-body (lists of floats)", "kernels", "nbody", (100_000,), (5_000,),
          lambda p, k: (p[0], *k.nbody_initial()), lambda p: f"5 bodies, {_millions(p[0])} steps", target=40),
    Bench("sieve", "sieve over a list", "kernels", "sieve", (2_000_000,), (200_000,),
          lambda p, k: p, lambda p: f"n={_millions(p[0])}", target=10),
    Bench("word_frequency", "word frequency", "kernels", "word_frequency", (1_000_000,), (100_000,),
          lambda p, k: (_words(p[0]),), lambda p: f"{_millions(p[0])} strings", target=1.3),
    Bench("spectral_norm", "spectral norm", "kernels", "spectral_norm", (250,), (60,),
          lambda p, k: p, lambda p: f"n={p[0]}"),
    Bench("dot", "numpy dot product (loop)", "kernels_numpy", "dot", (1_000_000,), (100_000,),
          lambda p, k: _vectors(p[0]), lambda p: f"{_millions(p[0])} float64"),
    Bench("stencil", "numpy 5-point stencil", "kernels_numpy", "stencil", (200, 10), (60, 5),
          lambda p, k: (_grid(p[0]), p[1]), lambda p: f"{p[0]}x{p[0]}, {p[1]} sweeps"),
]


# ============================================================================ results


@dataclass
class Cell:
    status: str  # "ok", "n/a", "mismatch", "error", "skipped"
    reason: str = ""
    first: float | None = None  # seconds (wall clock), the first call
    times: list = field(default_factory=list)  # seconds (wall clock), the timed repeats
    cpu_times: list = field(default_factory=list)  # seconds of this process's CPU, the same calls
    backend_compile: float | None = None  # what the compiler itself reported, if anything
    fn: object = field(default=None, repr=False)  # the compiled kernel, while it is timed

    statistic = "best"  # or "median": which figure ``steady`` is (set from --stat)
    clock = "cpu"  # or "wall": which clock ``steady`` reads (set from --clock)

    def _pick(self, clock: str, statistic: str) -> float | None:
        values = self.cpu_times if clock == "cpu" else self.times
        if not values:
            return None
        return min(values) if statistic == "best" else statistics.median(values)

    @property
    def steady(self) -> float | None:
        """The steady-state time the ratios use: the chosen figure on the chosen clock."""
        return self._pick(Cell.clock, Cell.statistic)

    @property
    def median(self) -> float | None:
        return self._pick("wall", "median")

    @property
    def best(self) -> float | None:
        return self._pick("wall", "best")

    @property
    def cpu_best(self) -> float | None:
        return self._pick("cpu", "best")

    @property
    def compile(self) -> float | None:
        """The first call minus a steady call, both on the wall clock: the C compiler runs
        in a child process, whose time this process's CPU clock would not see."""
        steady = self._pick("wall", Cell.statistic)
        if self.first is None or steady is None:
            return None
        return max(self.first - steady, 0.0)


def describe_difference(got, want, path="result") -> str | None:
    """None if ``got`` is ``want``'s equal in type and value (deeply), else what differs."""
    if type(got) is not type(want):
        same_value = False
        try:
            same_value = bool(got == want)
        except Exception:
            pass
        extra = f" (values equal: {got!r})" if same_value and not hasattr(got, "shape") else ""
        return f"{path}: type {_tname(got)} != {_tname(want)}{extra}"
    if type(want).__module__ == "numpy" and hasattr(want, "dtype") and hasattr(want, "shape") and want.shape != ():
        import numpy as np

        if got.dtype != want.dtype:
            return f"{path}: dtype {got.dtype} != {want.dtype}"
        if got.shape != want.shape:
            return f"{path}: shape {got.shape} != {want.shape}"
        equal_nan = got.dtype.kind in "fc"
        if not np.array_equal(got, want, equal_nan=equal_nan):
            bad = np.argwhere(~((got == want) | ((got != got) & (want != want))) if equal_nan else got != want)
            where = tuple(int(x) for x in bad[0]) if len(bad) else "?"
            return f"{path}: arrays differ at {where}: {got[where]!r} != {want[where]!r} ({len(bad)} elements)"
        return None
    if isinstance(want, float):
        if math.isnan(want) and math.isnan(got):
            return None
        if got == want and math.copysign(1.0, got) == math.copysign(1.0, want):
            return None
        return f"{path}: {got!r} != {want!r}"
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            d = describe_difference(g, w, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(want, dict):
        if list(got) != list(want):
            if set(got) == set(want):
                return f"{path}: same keys in a different order"
            missing = [k for k in want if k not in got][:3]
            extra = [k for k in got if k not in want][:3]
            return f"{path}: keys differ (missing {missing}, unexpected {extra})"
        for k in want:
            d = describe_difference(got[k], want[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    try:
        equal = bool(got == want)
    except Exception as e:  # pragma: no cover - exotic results
        return f"{path}: cannot compare ({type(e).__name__}: {e})"
    return None if equal else f"{path}: {_short(got)} != {_short(want)}"


def _tname(x) -> str:
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _short(x, limit=60) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _one_line(text: str, limit=300) -> str:
    """A compiler's message on one line: ANSI colours and object addresses removed; for
    Numba's long typing errors, the header plus the lines that say what failed."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    picked = lines[:1]
    for prefix in (("No implementation", "Cannot", "Untyped", "Unknown attribute", "Use of unsupported",
                    "non-precise type", "Invalid use of"), (">>>",)):
        for ln in lines[1:]:
            if ln.startswith(prefix):
                picked.append(ln)
                break
    line = " ".join(picked)
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ============================================================================ columns


class Column:
    """How one column compiles a function, and whether it can run at all."""

    def __init__(self, key: str):
        self.key = key
        self.title = COLUMN_TITLES[key]
        self.unavailable: str | None = None  # the whole column is n/a, and why
        self.version = ""
        self.warmup: float | None = None  # one-off cost paid before the first kernel
        self.modules: dict[str, types.ModuleType] = {}
        self.wrapped: dict[str, list] = {}  # module name -> compiled functions

    # -- compiling ------------------------------------------------------------------------------

    def wrap(self, fn):
        return fn

    def refusal(self, exc: BaseException) -> str | None:
        """The reason if ``exc`` means "this compiler does not compile that", else None."""
        return None

    def not_compiled(self, module_key: str) -> str | None:
        """After a call: why it did not run as compiled code (None: it did)."""
        return None

    def backend_compile_seconds(self, module_key: str) -> float | None:
        return None

    def settle(self, module_key: str) -> None:
        """After a first call: wait for whatever the compiler still does in the background."""

    # -- loading the kernels ----------------------------------------------------------------

    def load(self, module_key: str) -> types.ModuleType:
        if module_key not in self.modules:
            name = f"benchmarks._jjb_{self.key}_{module_key}"
            path = HERE / f"{module_key}.py"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # Numba resolves recursive calls through the module
            spec.loader.exec_module(module)
            compiled = []
            for attr, value in list(vars(module).items()):
                if isinstance(value, types.FunctionType) and value.__module__ == name:
                    wrapped = self.wrap(value)
                    setattr(module, attr, wrapped)
                    compiled.append(wrapped)
            self.modules[module_key] = module
            self.wrapped[module_key] = compiled
        return self.modules[module_key]


class CPythonColumn(Column):
    def __init__(self):
        super().__init__("cpython")
        self.version = platform.python_version()


class JustJITColumn(Column):
    def __init__(self, key: str, cache_dir: str | None):
        super().__init__(key)
        try:
            import justjit
            from justjit import CompileError, jit
        except Exception as e:  # noqa: BLE001 - report any import failure
            self.unavailable = f"justjit does not import: {type(e).__name__}: {e}"
            return
        self.CompileError = CompileError
        self._jit = jit
        self.version = justjit.__version__
        if cache_dir is not None:
            justjit.configure(cache_dir=cache_dir)
        # Probe: compile a trivial function (not in the table). For Cython this pays the
        # one-off import and warm-up of the compiler, reported separately as the warm-up.
        def _probe(a, b):
            return a + b

        t0 = time.perf_counter()
        try:
            probe = self.wrap(_probe)
            if probe(2, 3) != 5:
                self.unavailable = "the probe function returned a wrong result"
            elif probe.stats.status != "compiled":
                self.unavailable = f"the probe function was not compiled (status {probe.stats.status})"
        except CompileError as e:
            self.unavailable = f"CompileError: {_one_line(e)}"
        except Exception as e:  # noqa: BLE001
            self.unavailable = f"{type(e).__name__}: {_one_line(e)}"
        self.warmup = time.perf_counter() - t0

    def wrap(self, fn):
        return self._jit(fn, backend=self.key, fallback=False, hot=0, background=False)

    def refusal(self, exc):
        if isinstance(exc, self.CompileError):
            return f"CompileError: {_one_line(exc)}"
        return None

    def not_compiled(self, module_key):
        for f in self.wrapped.get(module_key, ()):
            stats = f.stats
            if stats.calls == 0:
                continue  # never called through the dispatcher
            if stats.status != "compiled" or stats.interpreted_calls:
                name = f.py_func.__qualname__
                return (f"{name} ran in the interpreter (status {stats.status}, "
                        f"{stats.interpreted_calls} interpreted calls): not counted as compiled")
        return None

    def backend_compile_seconds(self, module_key):
        return sum(f.stats.compile_seconds for f in self.wrapped.get(module_key, ()))

    def settle(self, module_key):
        # The timed calls measure the opt_level code: wait for the swap of a quick first
        # tier (`tiered`), which the first call's time does not include.
        for f in self.wrapped.get(module_key, ()):
            f.wait()


class NumbaColumn(Column):
    def __init__(self):
        super().__init__("numba")
        t0 = time.perf_counter()
        try:
            import numba
            from numba.core import errors
        except ImportError as e:
            self.unavailable = (f"numba is not installed ({e}); install it with `pip install numba` "
                                "or `pip install -e '.[bench]'`")
            return
        except Exception as e:  # noqa: BLE001 - e.g. a numba built for another numpy
            self.unavailable = f"numba does not import: {type(e).__name__}: {_one_line(e)}"
            return
        self.warmup = time.perf_counter() - t0
        self.numba = numba
        self.errors = errors
        self.version = numba.__version__

    def wrap(self, fn):
        # njit is nopython-only: a kernel Numba cannot type raises instead of running in
        # object mode.
        return self.numba.njit(fn)

    def refusal(self, exc):
        errors = self.errors
        if isinstance(exc, (errors.TypingError, errors.UnsupportedError, errors.LoweringError,
                            errors.NumbaError)):
            return f"Numba cannot compile it in nopython mode: {_one_line(exc)}"
        return None

    def not_compiled(self, module_key):
        for f in self.wrapped.get(module_key, ()):
            if getattr(f, "signatures", None) and not f.nopython_signatures:
                return f"{f.py_func.__qualname__} was compiled in object mode: not allowed"
        return None


# ============================================================================ running


class Progress:
    """A plain-text progress bar on stderr (one line per step when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.done = 0
        self.start = time.perf_counter()
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._width = 0

    def show(self, label: str) -> None:
        if not self.enabled:
            return
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.perf_counter() - self.start
        text = f"[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {label}"
        if self.tty:
            pad = max(self._width - len(text), 0)
            sys.stderr.write("\r" + text + " " * pad)
            self._width = len(text)
        elif self._step:  # not a terminal: one line per finished step
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    _step = False

    def step(self, label: str | None, count: int = 1) -> None:
        """``count`` more steps done (0 or less: nothing); ``label`` None: no new line."""
        if count <= 0:
            return
        self.done += count
        if label is None:
            return
        self._step = True
        try:
            self.show(label)
        finally:
            self._step = False

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _call(fn, args):
    """``fn(*args)`` after a collection; returns (result, wall seconds, CPU seconds)."""
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    result = fn(*args)
    t1 = time.perf_counter()
    c1 = time.process_time()
    return result, t1 - t0, c1 - c0


def first_call(bench: Bench, column: Column, params, plain, reference) -> tuple[Cell, object]:
    """Call one kernel in one column for the first time (compiling it) and check the result
    against CPython's (``reference``; None for the CPython column itself). Returns the cell
    (status "ok" when it may be timed) and the result."""
    if column.unavailable:
        return Cell("n/a", column.unavailable), None
    try:
        module = column.load(bench.module)
    except Exception as e:  # noqa: BLE001
        return Cell("error", f"loading {bench.module}: {type(e).__name__}: {_one_line(e)}"), None
    fn = getattr(module, bench.func)
    args = bench.make_args(params, plain)
    compiled_before = column.backend_compile_seconds(bench.module)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Numba's reflected-list deprecation
            result, seconds, _ = _call(fn, args)
    except Exception as e:  # noqa: BLE001
        reason = column.refusal(e)
        if reason is not None:
            return Cell("n/a", reason), None
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return Cell("error", f"raised {type(e).__name__}: {_one_line(e)} "
                             f"(at {Path(tb.filename).name}:{tb.lineno})"), None
    if (why := column.not_compiled(bench.module)) is not None:
        return Cell("n/a", why), result
    if reference is not None:
        diff = describe_difference(result, reference)
        if diff is not None:
            return Cell("mismatch", diff, first=seconds), result
    cell = Cell("ok", first=seconds)
    column.settle(bench.module)
    compiled_after = column.backend_compile_seconds(bench.module)
    if compiled_after is not None:
        cell.backend_compile = compiled_after - (compiled_before or 0.0)
    cell.fn = fn
    return cell, result


def timed_call(bench: Bench, column: Column, cell: Cell, params, plain, reference) -> None:
    """One more timed call of a cell that passed its first call; checks the result again."""
    args = bench.make_args(params, plain)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, seconds, cpu = _call(cell.fn, args)
    except Exception as e:  # noqa: BLE001
        cell.status, cell.reason = "error", f"a repeat raised {type(e).__name__}: {_one_line(e)}"
        return
    diff = describe_difference(result, reference)
    if diff is not None:
        cell.status, cell.reason = "mismatch", f"on a repeat: {diff}"
        return
    cell.times.append(seconds)
    cell.cpu_times.append(cpu)


@dataclass
class Row:
    bench: Bench
    params: tuple
    cells: dict  # column key -> Cell


NUMPY_MISSING = "numpy is not installed: the numpy kernels are not run"


def run_suite(benches, columns, quick: bool, repeats: int, progress: Progress) -> list[Row]:
    """Each kernel: every column's first call (compile + check), then ``repeats`` rounds in
    which every column that passed is timed once, interleaved, so that a change in the
    machine's load during a kernel touches all columns alike."""
    plain = _load_plain("kernels")
    rows = []
    for bench in benches:
        params = bench.quick if quick else bench.full
        cells: dict[str, Cell] = {}
        rows.append(Row(bench, params, cells))
        if bench.module == "kernels_numpy" and not _numpy_available():
            for column in columns:
                cells[column.key] = Cell("n/a", NUMPY_MISSING)
            progress.step(f"{bench.key}: numpy missing", len(columns) * (1 + repeats))
            continue
        reference = None
        for i, column in enumerate(columns):
            progress.show(f"{bench.key} · {column.title}: first call ...")
            cell, result = first_call(bench, column, params, plain, reference)
            cells[column.key] = cell
            progress.step(f"{bench.key} · {column.title}: {_cell_brief(cell)}")
            if column.key == "cpython":
                if cell.status != "ok":
                    # Without CPython's result nothing else can be checked: skip the row.
                    for other in columns[i + 1:]:
                        cells[other.key] = Cell("skipped", "CPython did not produce a result")
                    progress.step(f"{bench.key}: skipped", len(columns) - i - 1)
                    break
                reference = result
        live = [c for c in columns if cells[c.key].status == "ok"]
        for r in range(repeats):
            for column in live:
                cell = cells[column.key]
                if cell.status == "ok":
                    progress.show(f"{bench.key} · {column.title}: repeat {r + 1}/{repeats}")
                    timed_call(bench, column, cell, params, plain, reference)
                progress.step(f"{bench.key} · {column.title}: repeat {r + 1}/{repeats} {_cell_brief(cell)}")
            progress.step(None, len(columns) - len(live))
        for cell in cells.values():
            cell.fn = None
    return rows


def _cell_brief(cell: Cell) -> str:
    if cell.status == "ok":
        if cell.times:
            return _fmt_time(cell.steady)
        return f"first call {_fmt_time(cell.first)}, result checked"
    return cell.status.upper() if cell.status in ("mismatch", "error") else cell.status


@functools.lru_cache(maxsize=None)
def _numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


def _load_plain(module_key: str) -> types.ModuleType:
    name = f"benchmarks._jjb_plain_{module_key}"
    spec = importlib.util.spec_from_file_location(name, HERE / f"{module_key}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ============================================================================ main


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI/dev): well under 2 minutes")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per cell (default 7, --quick 5)")
    p.add_argument("--stat", choices=("best", "median"), default="best",
                   help="the figure of the timed calls that the ratios use (default best, i.e. minimum)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="the clock of the timed calls that the ratios use (default cpu: this process's "
                        "CPU time, which a busy shared machine disturbs far less than the wall clock)")
    p.add_argument("--kernels", default=None, help="comma-separated kernel ids (default: all): "
                   + ",".join(b.key for b in BENCHES))
    p.add_argument("--columns", default=",".join(COLUMNS), help="comma-separated subset of " + ",".join(COLUMNS))
    p.add_argument("--out", default=None, help="Markdown report (default benchmarks/REPORT.md, "
                   "--quick: benchmarks/REPORT-quick.md)")
    p.add_argument("--png", default=None, help="bar chart (default beside the report, .png)")
    p.add_argument("--no-png", action="store_true", help="skip the chart")
    p.add_argument("--json", default=None, help="also write the raw results as JSON here")
    p.add_argument("--use-cache", action="store_true",
                   help="use JustJIT's configured cache (default: a fresh temporary one, so every compile is a build)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p.parse_args(argv)


def main(argv=None, prog="python -m benchmarks") -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = time.perf_counter()
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 7)
    Cell.statistic = args.stat
    Cell.clock = args.clock
    if repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    command = " ".join([prog, *map(shlex.quote, argv)])

    wanted = [k.strip() for k in args.columns.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in COLUMNS]
    if unknown:
        raise SystemExit(f"unknown column(s) {unknown}; choose from {', '.join(COLUMNS)}")
    if "cpython" not in wanted:
        wanted.insert(0, "cpython")  # the reference every other column is checked against
    benches = BENCHES
    if args.kernels:
        names = [k.strip() for k in args.kernels.split(",") if k.strip()]
        known = {b.key: b for b in BENCHES}
        bad = [n for n in names if n not in known]
        if bad:
            raise SystemExit(f"unknown kernel(s) {bad}; choose from {', '.join(known)}")
        benches = [known[n] for n in names]

    import faulthandler

    faulthandler.enable()  # a crash in compiled code still says where
    tmp_cache = None
    cache_note = "JustJIT's configured cache (--use-cache): compile times may be cache loads."
    if not args.use_cache:
        tmp_cache = tempfile.mkdtemp(prefix="justjit-bench-cache-")
        cache_note = "a fresh, empty cache directory, so every compile is a real build."

    columns: list[Column] = []
    say = (lambda msg: print(msg, file=sys.stderr)) if not args.no_progress else (lambda msg: None)
    try:
        for key in COLUMNS:
            if key not in wanted:
                continue
            if key == "cpython":
                col = CPythonColumn()
            elif key in JIT_COLUMNS:
                say(f"setting up {COLUMN_TITLES[key]} (probe compile) ...")
                col = JustJITColumn(key, tmp_cache)
            else:
                say("importing numba ...")
                col = NumbaColumn()
            if col.unavailable:
                say(f"{col.title}: column is n/a: {col.unavailable}")
            columns.append(col)
        if not _numpy_available():
            say("numpy is not installed: the numpy rows say n/a")

        progress = Progress(len(benches) * len(columns) * (1 + repeats), enabled=not args.no_progress)
        rows = run_suite(benches, columns, args.quick, repeats, progress)
        progress.close()
    finally:
        if tmp_cache is not None:
            shutil.rmtree(tmp_cache, ignore_errors=True)
    elapsed = time.perf_counter() - t_start

    out = Path(args.out) if args.out else HERE / ("REPORT-quick.md" if args.quick else "REPORT.md")
    png = Path(args.png) if args.png else out.with_suffix(".png")
    if args.no_png:
        png_note = "No PNG chart (--no-png)."
    else:
        png_note = write_png(rows, columns, png, f"JustJIT benchmarks ({'quick' if args.quick else 'full'})")
        if png_note.startswith("No PNG"):
            say(png_note)
    report = build_report(rows, columns, command=command, started=started, elapsed=elapsed, quick=args.quick,
                          repeats=repeats, cache_note=cache_note, png_note=png_note)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(report)
    print(f"(report written to {_rel(out)})", file=sys.stderr)
    if args.json:
        meta = {"command": command, "date": started.isoformat(), "quick": args.quick, "repeats": repeats,
                "statistic": Cell.statistic, "clock": Cell.clock, "elapsed_seconds": elapsed}
        Path(args.json).write_text(json.dumps(to_json(rows, columns, meta), indent=2), encoding="utf-8")
    # A mismatch or an error is a failure of the run (exit 1); missed targets are not.
    bad = any(c.status in ("mismatch", "error") and k != "numba" for r in rows for k, c in r.cells.items())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(prog="python benchmarks/run.py"))
