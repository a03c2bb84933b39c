"""Reference counts and memory on the LLVM backend, over the whole differential suite.

Every `check(fn, *calls)` / `compare_calls(fn, jitted, *calls)` / `check_traceback(fn, args)`
/ `check_generator(fn, args, script)` case of tests/test_diff_*.py is collected by running
the test with those harness functions replaced by a recorder. Then, per case and per call
(a generator is driven through its script):

- reference counts: the change in `sys.getrefcount` of every argument (and of the items of
  list/tuple/dict arguments) across a call must be the same for the plain function and the
  jitted one (so a leaked or over-released argument shows, and so does a reference the
  function legitimately keeps, on both sides);
- memory: calling the jitted function many times with fresh arguments must not grow traced
  memory (tracemalloc) by more than the plain function does, plus a small slack.
"""
import gc
import importlib
import sys
import tracemalloc
import warnings

import pytest

import difftest
import justjit.pipeline as pipeline
from justjit import jit

_MODULES = ["calls", "control", "exceptions", "fastpaths", "generators", "literals", "misc",
            "nested", "operators", "scoping"]
LOOPS = 30
SLACK = 24 * 1024  # bytes


class _Case:
    def __init__(self, fn, calls, setup=None, script=None):
        self.fn = fn
        self.calls = [difftest.as_call(c) for c in calls]
        self.setup = setup
        self.script = script  # generators: the steps to drive the generator with

    def invoke(self, side, args, kwargs):
        result = side(*args, **kwargs)
        if self.script is not None:
            difftest.drive_generator(result, self.script)
        return result


def _collect():
    """(test id, [cases]) for every differential test that runs ordinary functions."""
    out = []
    for short in _MODULES:
        mod = importlib.import_module(f"test_diff_{short}")
        for name, test in sorted(vars(mod).items()):
            if not (name.startswith("test_") and callable(test)):
                continue
            params = getattr(test, "pytestmark", [])
            if any(m.name in ("parametrize", "xfail") for m in params):
                continue
            out.append((f"{short}::{name}", mod, test))
    return out


def _record(mod, test):
    cases = []

    def check(fn, *calls, backend=None, setup=None, **_kw):
        cases.append(_Case(fn, calls, setup))
        return jit(fn, backend="cython", fallback=True)  # a callable for tests that use it

    def compare_calls(fn, jitted, *calls, setup=None, **_kw):
        cases.append(_Case(fn, calls, setup))

    def check_traceback(fn, args, **_kw):
        cases.append(_Case(fn, [args]))

    def check_refused(*_a, **_kw):
        pass

    def check_generator(fn, args, script, backend=None, **_kw):
        cases.append(_Case(fn, [args], script=list(script)))

    names = ("check", "compare_calls", "check_traceback", "check_refused", "check_generator")
    saved = {n: getattr(mod, n) for n in names if hasattr(mod, n)}
    fake = {"check": check, "compare_calls": compare_calls, "check_traceback": check_traceback,
            "check_refused": check_refused, "check_generator": check_generator}
    try:
        for n in saved:
            setattr(mod, n, fake[n])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                test(backend="cython")
            except BaseException:  # noqa: BLE001 - a test that needs the real harness
                pass
    finally:
        for n, v in saved.items():
            setattr(mod, n, v)
    return [c for c in cases if getattr(c.fn, "__code__", None) is not None]


_TESTS = _collect()


@pytest.fixture(autouse=True)
def _llvm_backend(monkeypatch):
    if "llvm" not in pipeline.BACKEND_MODULES:
        monkeypatch.setitem(pipeline.BACKEND_MODULES, "llvm", "justjit.backends.llvm")


# Objects shared process-wide (singletons, interned and cached atoms, classes, functions):
# their counts move for reasons unrelated to the call under test.
_SHARED = (type(None), bool, int, float, complex, str, bytes, type, type(len), type(_collect))


def _watched(args, kwargs):
    objs = list(args) + list(kwargs.values())
    more = []
    for o in objs:
        if type(o) in (list, tuple):
            more.extend(o)
        elif type(o) is dict:
            more.extend(o.values())
    return [o for o in objs + more if not isinstance(o, _SHARED)]


def _clear_frames(objs, depth=3):
    """Clear the frames of tracebacks reachable from `objs` (exceptions the function stored in
    its arguments), and the finished frames behind them (f_back). An interpreter frame keeps
    its locals alive; compiled code has no frame (its traceback entries have no locals, and a
    callee's f_back is the dispatcher's trampoline): a documented difference, which would
    otherwise show as references one side holds and the other does not."""
    seen = set()

    def clear(tb):
        while tb is not None:
            frame = tb.tb_frame
            while frame is not None:
                try:
                    frame.clear()
                except RuntimeError:  # still executing (the caller's frames)
                    break
                frame = frame.f_back
            tb = tb.tb_next

    def visit(o, d):
        if id(o) in seen or d < 0:
            return
        seen.add(id(o))
        if isinstance(o, BaseException):
            clear(o.__traceback__)
            for linked in (o.__context__, o.__cause__):
                if linked is not None:
                    visit(linked, d)
        elif type(o) in (list, tuple, set, frozenset):
            for x in o:
                visit(x, d - 1)
        elif type(o) is dict:
            for x in o.values():
                visit(x, d - 1)

    for o in objs:
        visit(o, depth)


def _run(side, case, call, collect=False):
    """Call `side` on fresh arguments: the refcount changes of the watched objects (after a
    full garbage collection when `collect`)."""
    args, kwargs = call.materialize()
    watched = _watched(args, kwargs)
    if case.setup is not None:
        case.setup(side)
    if collect:
        gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = case.invoke(side, args, kwargs)
        except BaseException as exc:  # noqa: BLE001
            _clear_frames([exc])
            result = None
    _clear_frames(list(args) + list(kwargs.values()) + [result])
    del result
    if collect:
        gc.collect()
    after = [sys.getrefcount(o) for o in watched]
    return [a - b for a, b in zip(after, before)]


def _growth(side, case, call):
    """Traced-memory growth over LOOPS calls on fresh arguments: the smaller of two
    consecutive windows (type caches, interned strings and allocator pools make one window
    noisy; a leak grows in both)."""
    def once():
        args, kwargs = call.materialize()
        if case.setup is not None:
            case.setup(side)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                case.invoke(side, args, kwargs)
            except BaseException:  # noqa: BLE001
                pass

    for _ in range(3):
        once()
    windows = []
    for _window in range(2):
        gc.collect(1)
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(LOOPS):
            once()
        gc.collect(1)
        windows.append(tracemalloc.get_traced_memory()[0] - start)
    return min(windows)


@pytest.mark.parametrize("test_id, mod, test", _TESTS, ids=[t[0] for t in _TESTS])
def test_refcounts_and_memory_match_cpython(test_id, mod, test):
    cases = _record(mod, test)
    if not cases:
        pytest.skip("no ordinary-function cases")
    tracemalloc.start()
    try:
        for case in cases:
            jitted = jit(case.fn, backend="llvm", fallback=False)
            for call in case.calls:
                _run(case.fn, case, call)   # warm up (the first jitted call compiles)
                _run(jitted, case, call)
                plain = _run(case.fn, case, call)
                got = _run(jitted, case, call)
                if plain != got:  # garbage cycles may hold references: measure again
                    plain = _run(case.fn, case, call, collect=True)
                    got = _run(jitted, case, call, collect=True)
                assert plain == got, (
                    f"{case.fn.__qualname__}{call!r}: reference count changes of the arguments "
                    f"differ: plain {plain}, jitted {got}")
                plain_growth = _growth(case.fn, case, call)
                got_growth = _growth(jitted, case, call)
                assert got_growth <= max(plain_growth, 0) + SLACK, (
                    f"{case.fn.__qualname__}{call!r}: memory grew by {got_growth} bytes over "
                    f"{LOOPS} jitted calls (plain CPython: {plain_growth})")
    finally:
        tracemalloc.stop()


def chained_poly(x, y):
    return x * y + x


def test_refcounts_and_memory_through_the_chain_of_specializations():
    """Arguments a module's entry guards reject go along the dispatcher's chain (_jj_rt.c's
    JJL_ChainNext) to the next specialization, or back to the module's generic code: the
    arguments' reference counts and memory behave as in CPython on every way through it."""
    from fractions import Fraction

    # ints then floats then bools: three typed modules; the rest go the whole chain
    calls = [(3, 4), (1.5, 2.0), (True, False), (Fraction(1, 3), 2), ([1], 2), ("a", [2]),
             (3, 4), (2.5, 0.5)]
    case = _Case(chained_poly, calls)
    jitted = jit(chained_poly, backend="llvm", fallback=False, cache=False, hot=0)
    tracemalloc.start()
    try:
        for call in case.calls:
            _run(jitted, case, call)  # (compiles its signature's specialization)
        assert sum(not s.startswith("generic") for s in jitted.signatures) == 3
        for call in case.calls:
            plain = _run(case.fn, case, call, collect=True)
            got = _run(jitted, case, call, collect=True)
            assert plain == got, f"{call!r}: plain {plain}, jitted {got}"
            assert _growth(jitted, case, call) <= max(_growth(case.fn, case, call), 0) + SLACK
    finally:
        tracemalloc.stop()
