"""Runtime behaviour of @jit: hot-signature counting, background builds, wait(), stats,
threads, logging and the settings the dispatcher hands to the pipeline.

Nothing is compiled here: ``justjit.pipeline.compile_function`` is replaced by
``FakePipeline``, whose "native entry" is a Python function that tags its result with
``"compiled"``, so each test can tell which path served a call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings

import pytest
from isolation import clear_settings

from justjit import CompileError, JITWarning, jit
from justjit import config as jconfig
from justjit.dispatcher import wait_all


class FakeCompiled:
    def __init__(self, entry, signature, cache_hit=None):
        self.entry = entry
        self.signature = signature
        self.pyx_source = "# fake\n"
        if cache_hit is not None:
            self.cache_hit = cache_hit


class FakePipeline:
    """Stands in for ``justjit.pipeline.compile_function`` (accepts the optional arguments).

    The entry calls the original function and returns ``("compiled", result)``.
    ``delay`` makes each compile take that long, ``error`` makes it raise, ``gate``
    (an Event) makes it wait until set.
    """

    def __init__(self):
        self.calls = []
        self.delay = 0.0
        self.error = None
        self.gate = None
        self.cache_hit = None
        self.started = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, py_func, *, backend, use_cache, **optional):
        with self.lock:
            self.calls.append(dict(py_func=py_func, backend=backend, use_cache=use_cache, **optional))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error

        def entry(state, *args):
            code = py_func.__code__
            assert state[0] is py_func.__globals__
            names = code.co_varnames[: len(args)]
            positional = code.co_argcount
            return ("compiled", py_func(*args[:positional], **dict(zip(names[positional:], args[positional:]))))

        return FakeCompiled(entry, "generic", self.cache_hit)

    @property
    def ncompiles(self):
        return len(self.calls)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No JUSTJIT_* variables, no pyproject.toml, no settings from code."""
    clear_settings(monkeypatch, tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    yield
    jconfig.reset()
    assert wait_all(10)


@pytest.fixture
def fake(monkeypatch):
    import justjit.pipeline as pipeline

    compiler = FakePipeline()
    monkeypatch.setattr(pipeline, "compile_function", compiler)
    return compiler


# ------------------------------------------------------------------ hot signatures


def test_default_compiles_synchronously_on_first_call(fake):
    @jit
    def f(x):
        return x + 1

    assert f(1) == ("compiled", 2)
    assert fake.ncompiles == 1 and f.stats.status == "compiled"
    assert f.dispatcher.target is f.compiled.entry


def test_hot_counts_per_argument_type_signature(fake):
    @jit(hot=3)
    def f(x, y=1):
        return x * y

    for _ in range(3):
        assert f(2) == 2  # interpreted
        assert f("a") == "a"
        assert f(2.0, y=2) == 4.0
    assert fake.ncompiles == 0 and f.dispatcher.status == "pending"
    assert f(3) == ("compiled", 3)  # 4th call of (int, int): hot, compiled now, runs compiled
    assert fake.ncompiles == 1
    sigs = {s.text: (s.calls, s.interpreted, s.compiled) for s in f.stats.signatures.values()}
    assert sigs == {"(int, int)": (4, 3, True), "(str, int)": (3, 3, True), "(float, int)": (3, 3, True)}
    # One generic specialization serves every signature from now on.
    assert f("b") == ("compiled", "b")


def test_compiled_calls_do_no_bookkeeping(fake):
    """The trampoline calls the compiled entry directly: counting is the compiled module's
    job (its call counters, see test_runtime_backends), and this fake one has none."""
    @jit(hot=1)
    def f(x):
        return x

    f(1), f(1)
    before = f.stats.calls
    for i in range(100):
        f(i)
    assert f.stats.calls == before  # the dispatcher does no bookkeeping on the native path
    assert f.stats.compiled_calls == 0 and f.stats.signatures[(int,)].forwarded == 1
    assert f.stats.compiled_calls_counted is True
    assert f.dispatcher.target is f.compiled.entry
    assert "compiled: yes" in str(f.stats)


# ---------------------------------------------------------------------- background


def test_background_compiles_while_calls_run_in_the_interpreter(fake):
    fake.gate = threading.Event()

    @jit(background=True)
    def f(x):
        return x * 2

    assert f(1) == 2  # started the build, ran in the interpreter
    assert fake.started.wait(5)
    assert f.stats.status == "compiling"
    for i in range(5):
        assert f(i) == i * 2  # still interpreted: the build is not ready
    assert f.wait(timeout=0.05) is False  # still blocked on the gate
    fake.gate.set()
    assert f.wait(timeout=10) is True
    assert f.dispatcher.status == "compiled" and f.dispatcher.target is f.compiled.entry
    assert f(4) == ("compiled", 8)
    assert fake.ncompiles == 1
    [sig] = f.stats.signatures.values()
    assert (sig.calls, sig.interpreted) == (6, 6)


def test_the_call_that_finds_the_build_ready_switches_to_it(fake):
    @jit(background=True, hot=1)
    def f(x):
        return -x

    assert f(1) == -1 and f(1) == -1  # the second call is hot: build starts
    f.dispatcher._thread.join(10)  # finished, but nobody installed it yet
    assert f.dispatcher.status == "compiling"
    assert f.dispatcher.target == f.dispatcher._pending_call
    assert f(5) == ("compiled", -5)  # this call installs it and runs compiled code
    assert f.dispatcher.target is f.compiled.entry


def test_wait_without_pending_work_returns_at_once(fake):
    @jit(hot=5)
    def f(x):
        return x

    assert f.wait() is True and f.wait(0) is True
    assert fake.ncompiles == 0


def test_background_fallback_warns_once_in_the_calling_thread(fake):
    fake.error = CompileError("no async with", construct="async with", filename="/src/m.py", lineno=7,
                              stage="frontend")

    @jit(background=True)
    def f(x):
        return x

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert f(1) == 1
        f.wait()
        for i in range(3):
            assert f(i) == i
    jit_warnings = [r for r in records if issubclass(r.category, JITWarning)]
    assert len(jit_warnings) == 1 and "/src/m.py:7" in str(jit_warnings[0].message)
    assert f.stats.status == "fallback"
    [record] = f.stats.fallbacks
    assert record.reason == "no async with" and record.stage == "frontend"
    assert record.location == "/src/m.py:7" and record.construct == "async with"


def test_background_without_fallback_raises_at_the_next_call(fake):
    fake.error = CompileError("refused", stage="frontend")

    @jit(background=True, fallback=False)
    def f(x):
        return x

    assert f(1) == 1  # interpreted while the build runs
    f.wait()
    with pytest.raises(CompileError, match="refused"):
        f(2)
    with pytest.raises(CompileError):
        f(3)
    assert fake.ncompiles == 1


def test_interrupted_background_build_is_retried(fake):
    fake.error = KeyboardInterrupt()

    @jit(background=True)
    def f(x):
        return x

    assert f(1) == 1
    f.wait()
    assert f.dispatcher.status == "pending"
    fake.error = None
    assert f(2) == 2  # hot again: a new build starts
    f.wait()
    assert f(3) == ("compiled", 3) and fake.ncompiles == 2


def test_inspect_pyx_waits_for_a_background_build(fake):
    fake.delay = 0.1

    @jit(background=True)
    def f(x):
        return x

    f(1)
    assert f.inspect_pyx() == "# fake\n"
    assert f.dispatcher.status == "compiled" and fake.ncompiles == 1


# ----------------------------------------------------------------------------- stats


def test_stats_report_compile_time_cache_and_fallbacks(fake):
    fake.delay = 0.05
    fake.cache_hit = True

    @jit
    def f(x):
        return x

    f(1)
    stats = f.stats
    assert stats.compiles == 1 and stats.compile_seconds >= 0.05
    assert (stats.cache_hits, stats.cache_misses) == (1, 0)
    d = stats.as_dict()
    assert d["status"] == "compiled" and d["compiled"] is True
    assert d["signatures"] == {"(int)": {"calls": 1, "interpreted": 0, "compiled_calls": 0,
                                         "compiled": True}}
    assert d["function"].endswith("test_stats_report_compile_time_cache_and_fallbacks.<locals>.f")
    assert "cache hits: 1" in str(stats)


def test_stats_of_disabled_function(fake):
    jconfig.disable = True

    @jit
    def f(x):
        return x

    assert f(1) == 1 and fake.ncompiles == 0
    assert f.stats.status == "disabled" and f.stats.calls == 0


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize("background", [False, True], ids=["sync", "background"])
def test_eight_threads_during_compile_get_right_results_and_one_compile(fake, background):
    fake.delay = 0.2

    @jit(background=background)
    def f(x):
        return x * 3

    nthreads, ncalls = 8, 25
    results = [[] for _ in range(nthreads)]
    barrier = threading.Barrier(nthreads)

    def worker(i):
        barrier.wait()
        for k in range(ncalls):
            results[i].append(f(i * 100 + k))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert time.monotonic() - start < 20
    assert fake.ncompiles == 1
    for i, got in enumerate(results):
        values = [r[1] if isinstance(r, tuple) else r for r in got]
        assert values == [(i * 100 + k) * 3 for k in range(ncalls)]
    f.wait()
    assert f.stats.status == "compiled"
    if not background:  # every call waited for the build and ran compiled code
        assert all(isinstance(r, tuple) for got in results for r in got)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_compiling_in_background_does_not_hang(fake):
    fake.gate = threading.Event()

    @jit(background=True)
    def f(x):
        return x + 1

    f(1)
    assert fake.started.wait(5)  # the build thread is inside the (locked) compiler now
    pid = os.fork()
    if pid == 0:  # child: no build thread here; it must compile on its own
        code = 1
        try:
            fake.gate.set()
            f(1)
            code = 0 if f.wait(5) and f(2) == ("compiled", 3) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the forked child hung")
        time.sleep(0.02)
    fake.gate.set()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# --------------------------------------------------------------------------- logging


def test_one_info_line_per_compilation(fake, caplog):
    fake.cache_hit = False

    @jit(hot=1)
    def f(x):
        return x

    with caplog.at_level(logging.INFO, logger="justjit"):
        for i in range(5):
            f(i)
    lines = [r.getMessage() for r in caplog.records if r.name == "justjit" and r.levelno == logging.INFO]
    assert len(lines) == 1
    [line] = lines
    assert ".f(int)" in line and "backend=cython" in line and "cache miss" in line and " s," in line


def test_fallback_is_logged(fake, caplog):
    fake.error = CompileError("nope", stage="frontend", filename="/x.py", lineno=3)

    @jit
    def f(x):
        return x

    with caplog.at_level(logging.INFO, logger="justjit"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f(1)
    assert any("runs in the interpreter" in r.getMessage() and "/x.py:3" in r.getMessage()
               for r in caplog.records)


def test_logger_is_silent_by_default():
    logger = logging.getLogger("justjit")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)


# ------------------------------------------------- settings handed to the pipeline


def test_opt_level_dump_dir_and_metadata_reach_the_pipeline(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("JUSTJIT_DUMP_DIR", str(tmp_path / "dump"))

    @jit(opt_level=1, cache=False)
    def f(x):
        return x

    f(1)
    [call] = fake.calls
    assert call["opt_level"] == 1 and call["use_cache"] is False
    assert call["dump_dir"] == str(tmp_path / "dump")
    meta = call["metadata"]
    assert meta["function"].endswith(".f") and meta["backend"] == "cython" and meta["types"] == "(int)"
    assert meta["file"] == __file__


def test_pipeline_without_optional_parameters_still_works(monkeypatch):
    import justjit.pipeline as pipeline

    seen = []

    def compile_function(py_func, *, backend, use_cache):  # the pipeline as it is today
        seen.append(backend)
        return FakeCompiled(lambda state, x: ("compiled", x), "generic")

    monkeypatch.setattr(pipeline, "compile_function", compile_function)

    @jit(opt_level=0)
    def f(x):
        return x

    assert f(1) == ("compiled", 1) and seen == ["cython"]


def test_invalid_decorator_values_are_rejected_at_decoration():
    with pytest.raises(ValueError, match="hot"):
        jit(hot=-1)
    with pytest.raises(ValueError, match="opt_level"):
        jit(opt_level=4)
    with pytest.raises(TypeError, match="background"):
        jit(background="yes")
