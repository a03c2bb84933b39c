"""The @jit decorator and its dispatcher: binding, dispatch, fallback, configuration.

These tests never compile anything. ``justjit.pipeline.compile_function`` is replaced
by a fake whose native "entry" records what it receives (the ``state`` tuple and the
argument variables), so the tests check the calling convention, not compiled code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
import sys
import textwrap
import threading
import time
import timeit
import types
import warnings

import pytest
from isolation import clear_settings

import justjit
from justjit import CompileError, JITWarning, jit
from justjit import config as jconfig

# ------------------------------------------------------------------------ fixtures


class FakeCompiled:
    def __init__(self, entry, pyx_source, signature):
        self.entry = entry
        self.pyx_source = pyx_source
        self.signature = signature


class FakeCompiler:
    """Stands in for ``justjit.pipeline.compile_function``.

    By default the entry returns the argument variables as a dict keyed by the
    function's ``co_varnames``, which is what the original's ``locals()`` is at entry.
    Set ``error`` to make compiling raise, or ``make_entry`` to choose the entry.
    """

    def __init__(self):
        self.calls = []  # (py_func, backend, use_cache)
        self.entry_calls = []  # (state, arg_values)
        self.error = None
        self.make_entry = None
        self.delay = 0.0
        self.during_compile = None

    def __call__(self, py_func, *, backend, use_cache):
        self.calls.append((py_func, backend, use_cache))
        if self.delay:
            time.sleep(self.delay)
        if self.during_compile is not None:
            self.during_compile()
        if self.error is not None:
            raise self.error
        code = py_func.__code__
        nargs = code.co_argcount + code.co_kwonlyargcount
        nargs += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
        names = code.co_varnames[:nargs]
        if self.make_entry is not None:
            entry = self.make_entry(py_func)
        else:

            def entry(state, *arg_values):
                self.entry_calls.append((state, arg_values))
                assert len(arg_values) == len(names)
                return dict(zip(names, arg_values))

        source = f"# generated for {py_func.__qualname__}\ndef {py_func.__name__}(): pass\n"
        return FakeCompiled(entry, source, f"generic({', '.join(['object'] * len(names))})")

    @property
    def ncompiles(self):
        return len(self.calls)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    clear_settings(monkeypatch)


@pytest.fixture
def pipeline_module(monkeypatch):
    """``justjit.pipeline``, or a stand-in module while the real one does not exist."""
    try:
        import justjit.pipeline as pipeline
    except Exception:
        pipeline = types.ModuleType("justjit.pipeline")
        monkeypatch.setitem(sys.modules, "justjit.pipeline", pipeline)
        monkeypatch.setattr(justjit, "pipeline", pipeline, raising=False)
    return pipeline


@pytest.fixture
def fake(monkeypatch, pipeline_module):
    compiler = FakeCompiler()
    monkeypatch.setattr(pipeline_module, "compile_function", compiler, raising=False)
    return compiler


def outcome(func, args, kwargs):
    """('ok', value) or ('raise', type, message)."""
    try:
        return ("ok", func(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - comparing behaviour
        return ("raise", type(exc), str(exc))


def only_jit_warnings(records):
    return [r for r in records if issubclass(r.category, JITWarning)]


# ----------------------------------------------- binding: same values, same errors

MUTABLE_DEFAULT = ["default"]
MUTABLE_KWDEFAULT = {"kw": "default"}


def s_empty():
    return locals()


def s_pos(a, b):
    return locals()


def s_defaults(a, b=1, c=MUTABLE_DEFAULT):
    return locals()


def s_posonly(a, b=2, /, c=3):
    return locals()


def s_kwonly(a, *, k, m=MUTABLE_KWDEFAULT):
    return locals()


def s_kwonly_only(*, k=1, m):
    return locals()


def s_varargs(a, *args):
    return locals()


def s_varkw(a, **kw):
    return locals()


def s_posonly_varkw(a, /, **kw):
    return locals()


def s_star_star(*args, **kwargs):
    return locals()


def s_mixed(p, q=MUTABLE_DEFAULT, /, r=3, *args, k, m=MUTABLE_KWDEFAULT, **kw):
    return locals()


def s_names_like_ours(_justjit_target, _justjit_state, _state, _func, _0, /, *_1, **_justjit_target_):
    return locals()


SIGNATURES = [
    s_empty,
    s_pos,
    s_defaults,
    s_posonly,
    s_kwonly,
    s_kwonly_only,
    s_varargs,
    s_varkw,
    s_posonly_varkw,
    s_star_star,
    s_mixed,
    s_names_like_ours,
]

CALLS = [
    ((), {}),
    ((1,), {}),
    ((1, 2), {}),
    ((1, 2, 3), {}),
    ((1, 2, 3, 4, 5, 6), {}),
    ((), {"a": 1}),
    ((), {"a": 1, "b": 2}),
    ((1,), {"a": 1}),
    ((1,), {"b": 2}),
    ((1, 2), {"c": 3}),
    ((1,), {"c": 3, "zz": 4}),
    ((1,), {"k": 9}),
    ((), {"k": 9}),
    ((), {"m": 8}),
    ((1, 2), {"k": 9, "m": 8}),
    ((1,), {"k": 9, "zz": 0}),
    ((1,), {"p": 1, "k": 2}),
    ((1, 2, 3, 4), {"k": 5, "x": 6}),
    ((1, 2, 3, 4), {"k": 5, "r": 6}),
    ((), {"p": 1, "q": 2, "k": 3}),
    ((1,), {"args": 5}),
    ((1,), {"kw": 5}),
    ((1, 2, 3, 4, 5), {"_1": 0, "_justjit_target_": 1}),
]


@pytest.mark.parametrize("original", SIGNATURES, ids=lambda f: f.__name__)
def test_binding_matches_cpython(fake, original):
    jitted = jit(original)
    nok = 0
    for args, kwargs in CALLS:
        expected = outcome(original, args, kwargs)
        got = outcome(jitted, args, kwargs)
        assert got == expected, (args, kwargs)
        if expected[0] == "ok":
            nok += 1
            # Default values are the very same objects, not copies.
            for name, value in expected[1].items():
                if isinstance(value, (list, dict)) and value in (MUTABLE_DEFAULT, MUTABLE_KWDEFAULT):
                    assert got[1][name] is value
    assert nok > 0 or original is s_kwonly_only
    assert fake.ncompiles == (1 if nok else 0)


def test_every_signature_gets_some_good_call():
    # Guard on the matrix above: each signature must be exercised by a good call.
    for original in SIGNATURES:
        extra = [((), {"m": 1})]
        assert any(outcome(original, a, k)[0] == "ok" for a, k in CALLS + extra), original


def test_entry_receives_state_and_arg_variables(fake):
    cell_value = []

    def outer():
        def f(a, b=2, *args, k=3, **kw):
            cell_value.append(a)
            return locals()

        return f

    original = outer()
    jitted = jit(original)
    assert jitted(1, k=4) == {"a": 1, "b": 2, "args": (), "k": 4, "kw": {}}
    state, arg_values = fake.entry_calls[-1]
    assert state[0] is original.__globals__
    assert state[1] is original.__builtins__
    assert state[2] is original.__closure__ and state[2] is not None
    assert arg_values == (1, 2, 4, (), {})


def test_error_messages_name_the_function(fake):
    class C:
        @jit
        def method(self, x, /, y, *, z):
            return locals()

    def check(call):
        plain = outcome(C.method.py_func, *call)
        assert outcome(C.method, *call) == plain
        assert plain[0] == "raise"
        prefix = "test_error_messages_name_the_function.<locals>."
        assert plain[2].startswith(prefix)
        return plain[2][len(prefix) :]

    assert check(((C(), 1, 2, 3), {})) == "C.method() takes 3 positional arguments but 4 were given"
    assert check(((C(),), {"x": 1, "y": 2, "z": 3})) == (
        "C.method() got some positional-only arguments passed as keyword arguments: 'x'"
    )
    assert check(((C(), 1), {"z": 1})) == "C.method() missing 1 required positional argument: 'y'"
    assert check(((C(), 1, 2), {"z": 3, "w": 0})) == "C.method() got an unexpected keyword argument 'w'"
    assert check(((C(), 1, 2), {"y": 2, "z": 3})) == "C.method() got multiple values for argument 'y'"


# ----------------------------------------------------------------- decorator forms


def test_decorator_forms(fake):
    @jit
    def a(x):
        return locals()

    @jit()
    def b(x):
        return locals()

    @jit(backend="cython", fallback=True, cache=False)
    def c(x):
        return locals()

    for f in (a, b, c):
        assert f(1) == {"x": 1}
    assert [(backend, cache) for _, backend, cache in fake.calls] == [("cython", True), ("cython", True), ("cython", False)]
    assert c.backend == "cython"


def test_unknown_keyword_and_bad_arguments():
    with pytest.raises(TypeError, match="unexpected keyword argument 'parallel'"):
        jit(parallel=True)
    with pytest.raises(TypeError, match="expects a Python function"):
        jit(42)
    with pytest.raises(TypeError, match="expects a Python function"):
        jit(len)
    with pytest.raises(TypeError, match="__func__"):
        jit(_Holder().method)
    with pytest.raises(TypeError, match="fallback"):
        jit(fallback="yes")


class _Holder:
    def method(self):
        pass


def test_invalid_backend_is_rejected_at_decoration():
    with pytest.raises(ValueError) as info:
        jit(backend="gpu")
    assert "'cython'" in str(info.value) and "'llvm'" in str(info.value) and "'gpu'" in str(info.value)

    def f():
        pass

    with pytest.raises(ValueError):
        jit(f, backend="Cython")


def test_backend_from_environment(fake, monkeypatch):
    monkeypatch.setenv("JUSTJIT_BACKEND", "llvm")

    @jit
    def f(x):
        return locals()

    @jit(backend="cython")
    def g(x):
        return locals()

    assert f.backend == "llvm" and g.backend == "cython"
    f(1), g(1)
    assert [backend for _, backend, _ in fake.calls] == ["llvm", "cython"]

    monkeypatch.setenv("JUSTJIT_BACKEND", "gpu")
    with pytest.raises(ValueError, match="JUSTJIT_BACKEND"):
        jit(lambda: None)


def test_config_resolution_precedence():
    assert jconfig.resolve(environ={}) == jconfig.JITConfig()
    assert jconfig.resolve(environ={}).backend == "cython"
    env = {"JUSTJIT_BACKEND": "llvm", "JUSTJIT_DISABLE": "yes", "JUSTJIT_DUMP_DIR": "/tmp/d"}
    cfg = jconfig.resolve(environ=env)
    assert (cfg.backend, cfg.disable, cfg.dump_dir) == ("llvm", True, "/tmp/d")
    assert jconfig.resolve(backend="cython", environ=env).backend == "cython"
    assert jconfig.resolve(environ={"JUSTJIT_DISABLE": "0"}).disable is False
    with pytest.raises(ValueError, match="JUSTJIT_DISABLE"):
        jconfig.resolve(environ={"JUSTJIT_DISABLE": "maybe"})


# ------------------------------------------------------------- identity and protocol


@jit
def picklable(a, b=1):
    """Docstring of picklable."""
    return locals()


def test_identity_attributes(fake):
    def original(a: int, b=[], /, *args, k: str = "x", **kw) -> dict:
        """The doc."""
        return locals()

    original.custom = "kept"
    jitted = jit(original)
    assert jitted.__name__ == "original"
    assert jitted.__qualname__ == original.__qualname__
    assert jitted.__doc__ == "The doc."
    assert jitted.__module__ == original.__module__ == __name__
    assert jitted.__wrapped__ is original and jitted.py_func is original
    assert jitted.custom == "kept"
    assert jitted.__defaults__ is original.__defaults__
    assert jitted.__kwdefaults__ is original.__kwdefaults__
    assert jitted.__annotations__ == original.__annotations__
    assert inspect.signature(jitted) == inspect.signature(original)
    # Even without following __wrapped__, the trampoline's own signature is the original's.
    assert inspect.signature(jitted, follow_wrapped=False) == inspect.signature(original)
    code = jitted.__code__
    assert code.co_name == "original" and code.co_qualname == original.__code__.co_qualname
    assert code.co_filename == original.__code__.co_filename
    assert code.co_firstlineno == original.__code__.co_firstlineno
    assert isinstance(jitted, types.FunctionType)
    assert jitted.signatures == [] and jitted.compiled is None and jitted.backend == "cython"
    assert jitted.dispatcher.status == "pending"


def test_pickles_by_reference(fake):
    assert pickle.loads(pickle.dumps(picklable)) is picklable
    assert picklable.__doc__ == "Docstring of picklable."


def test_methods_staticmethods_classmethods_partial(fake):
    class C:
        @jit
        def method(self, x, y=2):
            return locals()

        @staticmethod
        @jit
        def static_outer(x):
            return locals()

        @jit
        @staticmethod
        def static_inner(x):
            return locals()

        @classmethod
        @jit
        def cls_outer(cls, x):
            return locals()

        @jit
        @classmethod
        def cls_inner(cls, x):
            return locals()

    obj = C()
    assert obj.method(1) == {"self": obj, "x": 1, "y": 2}
    assert C.method(obj, 1, y=3) == {"self": obj, "x": 1, "y": 3}
    assert C.static_outer(1) == obj.static_outer(1) == {"x": 1}
    assert C.static_inner(1) == obj.static_inner(1) == {"x": 1}
    assert C.cls_outer(1) == obj.cls_outer(1) == {"cls": C, "x": 1}
    assert C.cls_inner(1) == {"cls": C, "x": 1}
    assert functools.partial(obj.method, y=5)(1) == {"self": obj, "x": 1, "y": 5}
    assert functools.partial(C.static_outer, 7)() == {"x": 7}
    assert list(map(C.static_outer, [1, 2])) == [{"x": 1}, {"x": 2}]

    @functools.wraps(C.static_outer)
    def wrapper(*a, **k):
        return C.static_outer(*a, **k)

    assert wrapper.__wrapped__ is C.static_outer and wrapper.__name__ == "static_outer"
    assert wrapper(3) == {"x": 3}


def test_jit_of_jitted_rejits_the_original(fake):
    def f(x):
        return locals()

    once = jit(f)
    twice = jit(once, cache=False)
    assert twice.py_func is f and twice is not once
    assert twice(1) == {"x": 1}
    assert fake.calls[0][0] is f

    @functools.wraps(once)
    def wrapper(x):  # carries a copy of once.__dict__, dispatcher included
        return once(x)

    jitted_wrapper = jit(wrapper)
    assert jitted_wrapper.py_func is wrapper


# ------------------------------------------------------------------ compile once, swap


def test_compiles_once_and_swaps_target(fake):
    @jit
    def f(a, b):
        return locals()

    assert f.signatures == []
    assert f(1, 2) == {"a": 1, "b": 2}
    assert f(3, b=4) == {"a": 3, "b": 4}
    assert fake.ncompiles == 1
    assert f.signatures == ["generic(object, object)"]
    assert f.compiled is f.dispatcher.compiled and f.dispatcher.status == "compiled"
    assert f.dispatcher.target is f.compiled.entry  # the hot path calls native code directly


def test_user_exception_from_entry_is_not_a_compile_error(fake):
    def make_entry(py_func):
        def entry(state, x):
            raise ValueError(f"user error {x}")

        return entry

    fake.make_entry = make_entry

    @jit
    def f(x):
        raise ValueError(f"user error {x}")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="user error 1"):
            f(1)
        with pytest.raises(ValueError, match="user error 2"):
            f(2)
    assert f.dispatcher.status == "compiled" and fake.ncompiles == 1


def test_inspect_pyx_compiles_if_needed(fake):
    @jit
    def f(x):
        return locals()

    source = f.inspect_pyx()
    assert "generated for" in source and "f" in source
    assert fake.ncompiles == 1
    assert f(1) == {"x": 1}
    assert f.inspect_pyx() == source and fake.ncompiles == 1


def test_threads_compile_once(fake):
    fake.delay = 0.05

    @jit
    def f(x):
        return locals()

    results = [None] * 8
    barrier = threading.Barrier(len(results))

    def worker(i):
        barrier.wait()
        results[i] = f(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"x": i} for i in range(len(results))]
    assert fake.ncompiles == 1


def test_reentrant_call_while_compiling_runs_in_interpreter(fake):
    seen = []

    @jit
    def f(x):
        return ("interpreted", x)

    fake.during_compile = lambda: seen.append(f(41))
    assert f(1) == {"x": 1}
    assert seen == [("interpreted", 41)]


def test_keyboard_interrupt_during_compile_retries(fake):
    fake.error = KeyboardInterrupt()

    @jit
    def f(x):
        return locals()

    with pytest.raises(KeyboardInterrupt):
        f(1)
    assert f.dispatcher.status == "pending"
    fake.error = None
    assert f(2) == {"x": 2} and fake.ncompiles == 2


# ----------------------------------------------------------------------- fallback


def unsupported(construct="async with", lineno=12):
    return CompileError(
        f"{construct} is not supported yet",
        construct=construct,
        filename="/src/mod.py",
        lineno=lineno,
        stage="frontend",
    )


def test_compile_error_str():
    err = CompileError("boom", filename="/a/b.py", lineno=3, stage="build", pyx_path="/tmp/x.pyx")
    text = str(err)
    assert "boom" in text and "/a/b.py:3" in text and "build" in text and "/tmp/x.pyx" in text
    assert str(CompileError("plain")) == "plain"
    again = pickle.loads(pickle.dumps(err))
    assert (again.message, again.lineno, again.stage, again.pyx_path) == ("boom", 3, "build", "/tmp/x.pyx")


def test_fallback_warns_once_and_behaves_like_original(fake):
    fake.error = unsupported()

    def original(a, /, b=[], *args, k, m=None, **kw):
        if a == "raise":
            raise ZeroDivisionError("from the original")
        return (a, b, args, k, m, kw)

    jitted = jit(original)
    calls = [
        ((1,), {"k": 2}),
        ((1, 2, 3, 4), {"k": 5, "m": 6, "a": 7, "z": 8}),
        ((), {"a": 1, "k": 2}),
        (("raise",), {"k": 1}),
        ((1,), {}),
    ]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        for args, kwargs in calls:
            assert outcome(jitted, args, kwargs) == outcome(original, args, kwargs)
    jit_warnings = only_jit_warnings(records)
    assert len(jit_warnings) == 1
    message = str(jit_warnings[0].message)
    assert "async with" in message and "/src/mod.py:12" in message
    assert (jit_warnings[0].filename, jit_warnings[0].lineno) == ("/src/mod.py", 12)
    assert jitted.signatures == [] and jitted.compiled is None
    assert jitted.dispatcher.status == "fallback"
    assert fake.ncompiles == 1 and fake.entry_calls == []
    with pytest.raises(CompileError, match="not compiled"):
        jitted.inspect_pyx()


def test_fallback_generator_and_coroutine(fake):
    fake.error = unsupported("yield")

    def gen(n, *, start=0):
        yield from range(start, n)

    async def coro(x):
        return x * 2

    jgen, jcoro = jit(gen), jit(coro)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert list(jgen(3)) == [0, 1, 2]
        assert list(jgen(5, start=3)) == [3, 4]
        assert asyncio.run(jcoro(21)) == 42
    assert asyncio.iscoroutinefunction(jcoro)
    # Known limitation: the trampoline is an ordinary function, so
    # inspect.isgeneratorfunction / inspect.iscoroutinefunction (3.11) say False.
    assert inspect.isgeneratorfunction(gen)


def test_no_fallback_raises_compile_error_every_call(fake):
    fake.error = unsupported()

    @jit(fallback=False)
    def f(x):
        return x

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CompileError, match="async with") as first:
            f(1)
        with pytest.raises(CompileError) as second:
            f(2)
    assert first.value is fake.error and second.value is fake.error
    assert fake.ncompiles == 1
    assert f.signatures == [] and f.dispatcher.status == "failed"


def test_internal_error_with_fallback_warns_and_interprets(fake):
    fake.error = ZeroDivisionError("compiler bug")

    @jit
    def f(x, y=1):
        return x + y

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert f(1) == 2
        assert f(1, 2) == 3
    jit_warnings = only_jit_warnings(records)
    assert len(jit_warnings) == 1
    message = str(jit_warnings[0].message)
    assert "internal error" in message and "ZeroDivisionError" in message and "compiler bug" in message
    assert f"{__file__}:{f.py_func.__code__.co_firstlineno}" in message
    assert f.signatures == [] and f.dispatcher.status == "fallback"


def test_internal_error_without_fallback_raises_compile_error(fake):
    fake.error = ZeroDivisionError("compiler bug")

    @jit(fallback=False)
    def f(x):
        return x

    for _ in range(2):
        with pytest.raises(CompileError, match="internal error") as info:
            f(1)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert info.value.stage == "internal"
    assert fake.ncompiles == 1


def test_malformed_compiled_object_is_an_internal_error(fake):
    fake.make_entry = lambda py_func: "not callable"

    @jit
    def f(x):
        return x

    with pytest.warns(JITWarning, match="internal error"):
        assert f(5) == 5
    assert f.signatures == []


def test_missing_pipeline_is_an_internal_error(monkeypatch, pipeline_module):
    monkeypatch.delattr(pipeline_module, "compile_function", raising=False)

    @jit
    def f(x):
        return -x

    with pytest.warns(JITWarning, match="internal error"):
        assert f(5) == -5


# ----------------------------------------------------------------------- disabled


def test_disable_runs_everything_in_interpreter(fake, monkeypatch):
    monkeypatch.setenv("JUSTJIT_DISABLE", "1")

    @jit(fallback=False)
    def f(a, *args, k=1):
        return (a, args, k)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(1, 2, k=3) == (1, (2,), 3)
        assert outcome(f, (), {}) == outcome(f.py_func, (), {})
    assert fake.ncompiles == 0
    assert f.dispatcher.status == "disabled" and f.signatures == []
    with pytest.raises(RuntimeError, match="JUSTJIT_DISABLE"):
        f.inspect_pyx()


# ---------------------------------------------------------------------------- CLI


def test_cli_explain_module_and_path(fake, pipeline_module, monkeypatch, tmp_path, capsys):
    from justjit.__main__ import main

    seen = []

    def explain_stage(func, stage):
        seen.append((func, stage))
        return f"{stage} of {func.__qualname__}"

    monkeypatch.setattr(pipeline_module, "explain_stage", explain_stage, raising=False)
    source = textwrap.dedent(
        """
        from justjit import jit

        class Shape:
            @jit
            def area(self, w):
                return w * w

            @staticmethod
            def helper(x):
                return x

        @jit
        def top(x):
            return x
        """
    )
    (tmp_path / "jj_cli_sample.py").write_text(source)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "jj_cli_sample", raising=False)
    try:
        assert main(["explain", str(tmp_path / "jj_cli_sample.py") + ":Shape.area", "--stage", "cfg"]) == 0
        assert capsys.readouterr().out == "cfg of Shape.area\n"
        assert main(["explain", "jj_cli_sample:top", "--stage", "pyx"]) == 0
        assert capsys.readouterr().out == "pyx of top\n"
        assert main(["explain", "jj_cli_sample:Shape.helper"]) == 0
        assert capsys.readouterr().out == "ir of Shape.helper\n"
        assert all(isinstance(func, types.FunctionType) and not hasattr(func, "dispatcher") for func, _ in seen)
        with pytest.raises(SystemExit) as info:
            main(["explain", "jj_cli_sample:nothing"])
        assert info.value.code == 2
        assert "no attribute 'nothing'" in capsys.readouterr().err
    finally:
        sys.modules.pop("jj_cli_sample", None)


def test_cli_demo(monkeypatch):
    from justjit.__main__ import main

    demo = types.ModuleType("justjit.demo")
    ran = []
    demo.main = lambda: ran.append(True)
    monkeypatch.setitem(sys.modules, "justjit.demo", demo)
    monkeypatch.setattr(justjit, "demo", demo, raising=False)
    assert main(["demo"]) == 0 and ran == [True]


# ----------------------------------------------------------------------- overhead


def test_measure_call_overhead(fake, capsys):
    """Prints (does not assert) the cost of a call through the trampoline."""
    fake.make_entry = lambda py_func: isinstance  # a C builtin as the "native" entry

    def plain(x):
        return x

    def python_entry(state, x):
        return x

    @jit
    def to_builtin(x):
        return x

    to_builtin(int)
    assert to_builtin.dispatcher.target is isinstance

    fake.make_entry = lambda py_func: python_entry

    @jit
    def to_python(x):
        return x

    to_python(1)
    fake.error = unsupported()

    @jit
    def interpreted(x):
        return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreted(1)

    state = (globals(), __builtins__, None)
    number = 300_000
    cases = {
        "plain Python call      f(x)": lambda: timeit.repeat("f(int)", globals={"f": plain}, number=number, repeat=5),
        "C builtin directly     isinstance(s, x)": lambda: timeit.repeat(
            "f(s, int)", globals={"f": isinstance, "s": state}, number=number, repeat=5
        ),
        "jit -> C builtin entry": lambda: timeit.repeat("f(int)", globals={"f": to_builtin}, number=number, repeat=5),
        "jit -> Python entry": lambda: timeit.repeat("f(int)", globals={"f": to_python}, number=number, repeat=5),
        "jit fallback (interp)": lambda: timeit.repeat("f(int)", globals={"f": interpreted}, number=number, repeat=5),
    }
    best = {name: min(run()) / number * 1e9 for name, run in cases.items()}
    loop = min(timeit.repeat("f; int", globals={"f": plain}, number=number, repeat=5)) / number * 1e9
    base = best["plain Python call      f(x)"] - loop
    with capsys.disabled():
        print(f"\ncall cost, ns per call, best of 5, timeit loop ({loop:.1f} ns) subtracted:")
        for name, ns in best.items():
            net = ns - loop
            print(f"  {name:42s} {net:7.1f} ns  ({net / base:.2f}x plain call)")
