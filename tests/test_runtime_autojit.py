"""JIT without decorators: ``python -m justjit run script.py`` and ``justjit.enable()``.

The compiler is replaced by ``FakePipeline`` (its entry runs the original code and
counts the call), except in the subprocess tests at the end, which only check the
command line around the program (arguments, exit status, report).
"""

from __future__ import annotations

import inspect
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path

import pytest
from isolation import clear_settings

from justjit import CompileError, autojit
from justjit import config as jconfig
from justjit.__main__ import main

REPO = Path(__file__).resolve().parents[1]


class FakePipeline:
    """``compile_function`` stand-in: refuses functions named in ``refuse``; the entry
    runs the original code with the globals and closure of the state it is called with
    (as compiled code does, so results stay right) and counts its calls."""

    def __init__(self):
        self.compiled = []
        self.entry_calls: dict[str, int] = {}
        self.refuse = {}
        self.lock = threading.Lock()

    def __call__(self, py_func, *, backend, use_cache, **optional):
        name = py_func.__qualname__
        with self.lock:
            self.compiled.append(name)
        if name in self.refuse:
            raise CompileError(self.refuse[name], construct="something", stage="frontend")
        code = py_func.__code__
        npos, nkw = code.co_argcount, code.co_kwonlyargcount
        kwnames = code.co_varnames[npos : npos + nkw]
        has_varargs = bool(code.co_flags & inspect.CO_VARARGS)
        has_varkw = bool(code.co_flags & inspect.CO_VARKEYWORDS)

        def entry(state, *args):  # args: the bound argument variables, co_varnames order
            with self.lock:
                self.entry_calls[name] = self.entry_calls.get(name, 0) + 1
            rest = list(args[npos + nkw :])
            star = rest.pop(0) if has_varargs else ()
            starstar = rest.pop(0) if has_varkw else {}
            kwargs = dict(zip(kwnames, args[npos : npos + nkw]), **starstar)
            func = types.FunctionType(code, state[0], py_func.__name__, None, state[2])
            return func(*args[:npos], *star, **kwargs)

        compiled = types.SimpleNamespace(entry=entry, signature="generic", pyx_source="# fake\n")
        return compiled


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    clear_settings(monkeypatch, tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    before = set(sys.modules)
    autojit._reset_for_tests()
    yield tmp_path
    autojit.wait(10)
    autojit._reset_for_tests()
    jconfig.reset()
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def fake(monkeypatch):
    import justjit.pipeline as pipeline

    compiler = FakePipeline()
    monkeypatch.setattr(pipeline, "compile_function", compiler)
    return compiler


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def is_trampoline(func) -> bool:
    return any(isinstance(c, types.ModuleType) and c.__name__.startswith("justjit.auto:")
               for c in func.__code__.co_consts)


SCRIPT = """
    import colorsys
    import sys

    import helper
    import justjit.autojit

    def hot(x, y=2, *, z=1):
        "Doc of hot."
        return x * y + z

    def gen(n):
        yield from range(n)

    def make_adder(k):
        def add(x):
            return x + k
        return add

    class Shape:
        def area(self, w):
            return w * w

    class Square(Shape):
        def area(self, w):
            return super().area(w)

    def main():
        total = 0
        add = make_adder(5)
        square = Square()
        for i in range(10):
            total += hot(i) + hot(i, 3, z=0) + helper.twice(i) + add(i) + square.area(i)
            total += Shape().area(i) + sum(gen(3)) + int(colorsys.rgb_to_hsv(0.1, 0.2, 0.3)[2] * 10)
        justjit.autojit.wait()
        for i in range(5):
            total += hot(i) + helper.twice(i) + Shape().area(i) + add(i) + square.area(i) + sum(gen(2))
        print("total", total, "argv", sys.argv[1:], "name", __name__, "doc", hot.__doc__)

    main()
"""

HELPER = """
    def twice(x):
        return 2 * x
"""


def expected_total():
    total = 0
    for i in range(10):
        total += (i * 2 + 1) + (i * 3) + 2 * i + (i + 5) + i * i + i * i + 3 + int(0.3 * 10)
    for i in range(5):
        total += (i * 2 + 1) + 2 * i + i * i + (i + 5) + i * i + 1
    return total


def test_run_compiles_hot_user_functions_and_reports(isolated, fake, capsys):
    write(isolated, "helper.py", HELPER)
    script = write(isolated, "prog.py", SCRIPT)
    fake.refuse["Shape.area"] = "Shape.area uses something unsupported"
    assert main(["run", "--threshold", "3", "--report", str(script), "a", "-b"]) == 0
    out, err = capsys.readouterr()
    assert f"total {expected_total()} argv ['a', '-b'] name __main__ doc Doc of hot." in out
    # Hot user functions were compiled, generators, closures and super() users included; the
    # standard library and functions called fewer than threshold+1 times were not.
    assert sorted(fake.compiled) == ["Shape.area", "Square.area", "gen", "hot", "make_adder.<locals>.add",
                                     "twice"]
    for name in ("hot", "twice", "Square.area", "make_adder.<locals>.add", "gen"):
        assert fake.entry_calls[name] >= 5, name
    assert "Shape.area" not in fake.entry_calls
    assert "justjit report:" in err
    rows = {line.split()[0]: line for line in err.splitlines()[2:] if line.startswith("  ") and line.split()}
    assert "compiled" in rows["hot"] and "compiled" in rows["twice"]
    assert "compiled" in rows["gen"] and "compiled" in rows["make_adder.<locals>.add"]
    assert "refused" in rows["Shape.area"]
    assert "reason: Shape.area uses something unsupported" in err
    assert "main" in rows and "pending" in rows["main"]
    assert f"{script}:" in rows["hot"] and str(isolated / "helper.py") in rows["twice"]
    assert "then by its compiled code" in err


def test_counts_in_the_report(isolated, fake):
    write(isolated, "prog.py", """
        def f(x):
            return x
        for i in range(7):
            f(i)
        f("s")
    """)
    auto = autojit.run_path(str(isolated / "prog.py"), threshold=100)
    [row] = auto.rows()
    assert (row["function"], row["calls"], row["interpreted"], row["status"]) == ("f", 8, 8, "pending")
    assert fake.compiled == []


def test_instrumented_functions_keep_identity_signature_and_source(isolated, fake):
    write(isolated, "lib.py", '''
        import functools

        def f(a, b=[], /, c=3, *args, k, m=None, **kw):
            """Doc."""
            return (a, b, c, args, k, m, kw)

        @functools.lru_cache
        def cached(x):
            return x * 2

        REGISTRY = [f]

        def closure():
            y = 1
            def inner():
                return y
            return inner
    ''')
    autojit.enable(5, watch_caller=False)
    import lib

    original = lib.f
    assert is_trampoline(lib.f) and lib.REGISTRY[0] is lib.f
    assert lib.f.__doc__ == "Doc." and lib.f.__name__ == "f" and lib.f.__module__ == "lib"
    assert str(inspect.signature(lib.f)) == "(a, b=[], /, c=3, *args, k, m=None, **kw)"
    assert "return (a, b, c, args, k, m, kw)" in inspect.getsource(lib.f)
    assert pickle.loads(pickle.dumps(lib.f)) is lib.f
    for _ in range(8):
        assert lib.f(1, k=2) == (1, [], 3, (), 2, None, {})
        assert lib.f(1, 2, 3, 4, k=5, z=6) == (1, 2, 3, (4,), 5, None, {"z": 6})
        assert lib.cached(21) == 42
    with pytest.raises(TypeError, match=r"f\(\) missing 1 required keyword-only argument: 'k'"):
        lib.f(1)
    autojit.wait()
    assert lib.f(1, k=2) == (1, [], 3, (), 2, None, {})
    assert lib.f is original and "f" in fake.compiled and fake.entry_calls["f"] >= 1
    assert is_trampoline(lib.closure()) and lib.closure()() == 1
    assert not is_trampoline(sys.modules["functools"].wraps)  # the standard library too


def test_refused_function_gets_its_code_back_and_is_never_retried(isolated, fake):
    write(isolated, "mod.py", """
        def bad(x):
            return x - 1

        def good(x):
            return x + 1
    """)
    fake.refuse["bad"] = "bad is unsupported"
    autojit.enable(2, watch_caller=False)
    import mod

    for i in range(6):
        assert mod.bad(i) == i - 1 and mod.good(i) == i + 1
    autojit.wait()
    assert mod.bad(10) == 9
    assert not is_trampoline(mod.bad)  # original code back: no cost per call any more
    assert is_trampoline(mod.good)
    assert fake.compiled.count("bad") == 1

    # A new run (same cache directory): bad is not even instrumented.
    autojit._reset_for_tests()
    del sys.modules["mod"]
    fake.compiled.clear()
    auto = autojit.enable(2, watch_caller=False)
    import mod as mod2

    assert not is_trampoline(mod2.bad) and is_trampoline(mod2.good)
    for i in range(6):
        mod2.bad(i), mod2.good(i)
    autojit.wait()
    assert "bad" not in fake.compiled
    assert any("bad" in s for s in auto.skipped_refused)
    assert "refused in an earlier run" in auto.report()


def test_internal_errors_are_not_remembered_across_runs(isolated, fake, monkeypatch):
    write(isolated, "mod_internal.py", """
        def f(x):
            return x
    """)

    def broken(py_func, **kwargs):
        raise RuntimeError("compiler bug")

    import justjit.pipeline as pipeline

    monkeypatch.setattr(pipeline, "compile_function", broken)
    autojit.enable(1, watch_caller=False)
    import mod_internal

    for i in range(3):
        assert mod_internal.f(i) == i
    autojit.wait()
    assert not is_trampoline(mod_internal.f)
    from justjit import cache

    assert cache.open_cache().refused_keys() == set()


def test_enable_from_code_instruments_caller_and_later_imports(isolated, fake):
    write(isolated, "later.py", HELPER)
    write(isolated, "app.py", """
        import justjit

        def before(x):
            return x + 1

        auto = justjit.enable(threshold=2)

        def after(x):
            return x + 2

        import later
    """)
    import app

    assert is_trampoline(app.before)  # defined before enable(): instrumented by enable()
    assert is_trampoline(app.later.twice)  # imported after enable(): instrumented on import
    app.auto.rescan()  # what the watcher thread does every quarter second
    assert is_trampoline(app.after)
    for i in range(5):
        assert (app.before(i), app.after(i), app.later.twice(i)) == (i + 1, i + 2, 2 * i)
    app.auto.wait()
    assert sorted(fake.compiled) == ["after", "before", "twice"]


def test_run_module_with_dash_m(isolated, fake, capsys):
    write(isolated, "pkg/__init__.py", "")
    write(isolated, "pkg/__main__.py", """
        import sys
        def sq(x):
            return x * x
        print("sum", sum(sq(i) for i in range(20)), sys.argv[1:], __name__)
    """)
    assert main(["run", "--threshold", "4", "-m", "pkg", "x"]) == 0
    autojit.wait()
    out = capsys.readouterr().out
    assert "sum 2470 ['x'] __main__" in out
    assert fake.compiled == ["sq"]


def test_disable_in_configuration_instruments_nothing(isolated, fake):
    jconfig.disable = True
    write(isolated, "prog.py", """
        def f(x):
            return x
        for i in range(20):
            f(i)
    """)
    auto = autojit.run_path(str(isolated / "prog.py"), threshold=2)
    assert auto.functions == [] and fake.compiled == []


def test_run_passes_exit_status_and_still_reports(isolated, fake, capsys):
    write(isolated, "prog.py", """
        def f(x):
            return x
        f(1)
        raise SystemExit(3)
    """)
    with pytest.raises(SystemExit) as info:
        main(["run", "--report", str(isolated / "prog.py")])
    assert info.value.code == 3
    assert "justjit report:" in capsys.readouterr().err


def test_threads_share_one_compile(isolated, fake):
    write(isolated, "tmod.py", """
        def f(x):
            return x * 2
    """)
    autojit.enable(5, watch_caller=False)
    import tmod

    results = []
    barrier = threading.Barrier(8)

    def worker(i):
        barrier.wait()
        results.append([tmod.f(i * 1000 + k) for k in range(50)])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    autojit.wait()
    assert sorted(r[0] for r in results) == [i * 2000 for i in range(8)]
    assert all(r == [(r[0] // 2 + k) * 2 for k in range(50)] for r in results)
    assert fake.compiled == ["f"]


# ------------------------------------------------------------------- the real command


def run_cli(args, cwd, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JUSTJIT_")}
    environ.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-m", "justjit", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_cli_run_script_arguments_exit_status_and_report(isolated):
    write(isolated, "prog.py", """
        import sys
        def f(x):
            return x + 1
        print("result", sum(f(i) for i in range(10)), sys.argv, __name__, sys.path[0])
        sys.exit(5)
    """)
    proc = run_cli(["run", "--report", "prog.py", "one", "--two"], isolated,
                   JUSTJIT_CACHE_DIR=str(isolated / "cache"))
    assert proc.returncode == 5, proc.stderr
    assert f"result 55 ['prog.py', 'one', '--two'] __main__ {isolated}" in proc.stdout or \
        f"result 55 ['{isolated / 'prog.py'}', 'one', '--two'] __main__ {isolated}" in proc.stdout
    assert "justjit report:" in proc.stderr and " f " in proc.stderr


def test_cli_run_usage_errors(isolated):
    proc = run_cli(["run"], isolated)
    assert proc.returncode == 2 and "expected a script" in proc.stderr
    proc = run_cli(["run", "missing.py"], isolated)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_jit_decorated_functions_are_left_to_jit(isolated, fake):
    write(isolated, "withjit.py", """
        from justjit import jit

        @jit(hot=2)
        def g(x):
            return x * 10
    """)
    auto = autojit.enable(1, watch_caller=False)
    import withjit

    # @jit compiles the original code, not enable()'s trampoline of it.
    assert not is_trampoline(withjit.g.py_func) and not is_trampoline(withjit.g)
    assert auto.instrument_namespace(withjit) == 0  # the watcher leaves @jit functions alone
    assert [withjit.g(i) for i in range(4)] == [0, 10, 20, 30]
    auto.wait()
    assert fake.compiled == ["g"]


CLOSURES = """
    import inspect

    def make_counter():
        count = 0
        def incr(k=1):
            nonlocal count
            count += k
            return count
        def get():
            return count
        return incr, get

    def make_adder(k):
        def add(x):
            return x + k
        return add

    def make_fact():
        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)
        return fact

    def squares(n):
        "Doc of squares."
        for i in range(n):
            yield i * i
        return "done"

    def make_scaled(m):
        def scaled(n):
            total = yield "ready"
            for i in range(n):
                total = (yield i * m) or total
            return total
        return scaled

    class Base:
        def area(self, w):
            return w * w

    class Derived(Base):
        def area(self, w):
            return (super().area(w), __class__.__name__)

    cube = lambda x: x ** 3

    def drive(gen):
        out = [next(gen)]
        try:
            while True:
                out.append(gen.send(len(out)))
        except StopIteration as stop:
            out.append(("returned", stop.value))
        return out

    def run(rounds, settle=lambda: None):
        out = []
        incr, get = make_counter()
        one, hundred = make_adder(1), make_adder(100)
        fact, scaled, shape = make_fact(), make_scaled(3), Derived()
        for phase in range(2):
            for i in range(rounds):
                adder = (one, hundred)[i % 2]  # two closures of one def, called alternately
                out.append((incr(i), get(), adder(i), fact(i % 7), cube(i), sum(squares(i % 4)),
                            drive(scaled(i % 3)), shape.area(i)))
            settle()
        gen = squares(3)
        out.append((next(gen), list(gen), inspect.isgeneratorfunction(squares), inspect.isgenerator(gen),
                    inspect.isgeneratorfunction(scaled), squares.__doc__, cube.__name__))
        return out
"""

CLOSURE_NAMES = ["Derived.area", "<lambda>", "make_adder.<locals>.add", "make_counter.<locals>.get",
                 "make_counter.<locals>.incr", "make_fact.<locals>.fact", "make_scaled.<locals>.scaled",
                 "squares"]


def test_closures_lambdas_and_generators_are_compiled_and_behave_the_same(isolated, fake):
    write(isolated, "clos.py", CLOSURES)
    import clos

    plain = clos.run(8)
    del sys.modules["clos"]
    auto = autojit.enable(3, watch_caller=False)
    import clos as instrumented

    assert is_trampoline(instrumented.make_fact()) and is_trampoline(instrumented.cube)
    assert is_trampoline(instrumented.Derived.area) and is_trampoline(instrumented.squares)
    assert instrumented.run(8, settle=auto.wait) == plain
    assert sorted(set(fake.compiled)) == sorted(CLOSURE_NAMES + ["Base.area", "drive"])
    for name in CLOSURE_NAMES:
        assert fake.entry_calls[name] >= 8, name  # the second phase ran compiled code
    rows = {row["function"]: row for row in auto.rows()}
    assert all(rows[name]["status"] == "compiled" for name in CLOSURE_NAMES)
    # The two adders (and every counter made by the def) share one row.
    assert rows["make_adder.<locals>.add"]["calls"] >= 4
    assert "every closure its def made" in auto.report()


def test_refused_closure_runs_on_its_own_cells(isolated, fake):
    write(isolated, "refclos.py", """
        def make_counter():
            count = 0
            def incr():
                nonlocal count
                count += 1
                return count
            return incr
    """)
    fake.refuse["make_counter.<locals>.incr"] = "unsupported"
    autojit.enable(2, watch_caller=False)
    import refclos

    first, second = refclos.make_counter(), refclos.make_counter()
    assert [first(), first(), second(), first(), second()] == [1, 2, 1, 3, 2]
    autojit.wait()
    assert [first(), second()] == [4, 3]
    assert not is_trampoline(first) and not is_trampoline(second)  # original code back
    third = refclos.make_counter()  # made from the enclosing code's trampoline: interpreter path
    assert is_trampoline(third) and [third(), third(), first()] == [1, 2, 5]
    assert fake.compiled.count("make_counter.<locals>.incr") == 1


def test_cli_run_compiles_closures_lambdas_and_generators_for_real(isolated, backend):
    """The real compiler: the script prints the same under ``run`` as without it, and the
    closures, the lambda and the generators were compiled (the second phase ran them)."""
    write(isolated, "closprog.py", CLOSURES + """
    from justjit import autojit
    print(repr(run(8, settle=autojit.wait)))
    """)
    plain = subprocess.run([sys.executable, "closprog.py"], cwd=isolated, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert plain.returncode == 0, plain.stderr
    proc = run_cli(["run", "--report", "--threshold", "3", "closprog.py"], isolated,
                   JUSTJIT_CACHE_DIR=str(isolated / "cache"), JUSTJIT_BACKEND=backend)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain.stdout
    rows = {line.split()[0]: line for line in proc.stderr.splitlines() if line.startswith("  ") and line.split()}
    for name in CLOSURE_NAMES:
        assert " compiled " in rows[name], proc.stderr


def test_only_the_users_own_files_are_instrumented(isolated, fake):
    """The standard library, site-packages and JustJIT itself are left alone; files of the
    user's project are instrumented."""
    import colorsys

    import pytest

    import justjit.config

    # pytest.approx: a pure-Python function of site-packages (its module moves between
    # pytest versions, so it is found through the function)
    site_function = pytest.approx
    site_module = sys.modules[site_function.__module__]
    auto = autojit.enable(1, watch_caller=False)
    write(isolated, "mine.py", HELPER)
    assert auto.is_user_file(str(isolated / "mine.py"))
    for module in (colorsys, site_module, justjit.config):
        assert not auto.is_user_file(module.__file__), module.__file__
    assert not auto.instrument_function(site_function)
    assert not auto.instrument_function(colorsys.rgb_to_hsv)
    assert not is_trampoline(site_function) and not is_trampoline(colorsys.rgb_to_hsv)
    import mine

    assert is_trampoline(mine.twice)


def test_enable_takes_its_settings_from_the_configuration(isolated, fake):
    jconfig.configure(backend="llvm", cache=False, opt_level=1, max_signatures=3, dump_dir=str(isolated / "d"))
    config = autojit.enable(7, watch_caller=False).jit_config
    assert (config.backend, config.cache, config.opt_level, config.max_signatures, config.dump_dir) == (
        "llvm", False, 1, 3, str(isolated / "d"))
    assert (config.hot, config.background, config.fallback) == (7, True, True)  # what enable() is
