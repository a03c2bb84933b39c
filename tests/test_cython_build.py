"""build_module end to end: .pyx text in, loaded extension module out.

Every test uses its own source text: within one process a key is loaded at
most once (the module is then returned from memory), so sharing a source
between tests would skip the disk entirely.
"""

import json
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from justjit import cache
from justjit.backends.cython_build import build_module, module_key, stats
from justjit.errors import CompileError, JITWarning

REPO = Path(__file__).resolve().parents[1]


def src(tag, body="def f(x):\n    return x + 1\n"):
    return f"# {tag}\n{body}"


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(path))
    return path


def run_child(code, root, timeout=120):
    """Run ``code`` in a fresh interpreter against cache ``root``; return its JSON."""
    env = dict(os.environ, JUSTJIT_CACHE_DIR=str(root),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHILD_BUILD = """
    import json, sys, time
    t0 = time.perf_counter()
    from justjit.backends.cython_build import build_module, stats
    m = build_module({source!r}, name_hint="f", opt_level={opt_level})
    t1 = time.perf_counter()
    print(json.dumps({{
        "result": m.f(1),
        "cython_runs": stats.cython_runs,
        "disk_hits": stats.disk_hits,
        "corrupt_entries": stats.corrupt_entries,
        "cython_compiler_imported": "Cython.Compiler.Main" in sys.modules,
        "ms": (t1 - t0) * 1000,
    }}))
"""


def test_build_call_and_reuse_in_process(root):
    source = src("reuse")
    runs = stats.cython_runs
    m = build_module(source, name_hint="f")
    assert m.f(41) == 42
    assert m.__name__.startswith("_jj_f_")
    assert stats.cython_runs == runs + 1

    hits = stats.memory_hits
    assert build_module(source, name_hint="f") is m
    assert stats.memory_hits == hits + 1 and stats.cython_runs == runs + 1

    [info] = cache.list_entries()
    assert info.valid and info.module_name == m.__name__
    assert (info.directory / f"{m.__name__}.pyx").read_text() == source


def test_fresh_process_loads_from_disk_without_cython(root):
    source = src("fresh")
    build_module(source, name_hint="f")
    child = run_child(CHILD_BUILD.format(source=source, opt_level=2), root)
    assert child["result"] == 2
    assert child["cython_runs"] == 0 and child["disk_hits"] == 1
    assert child["cython_compiler_imported"] is False
    print(f"warm load in a fresh process: {child['ms']:.1f} ms (import + build_module)")


def test_key_covers_source_name_options_and_extra(root):
    a, _ = module_key(src("k1"), name_hint="f")
    assert module_key(src("k1"), name_hint="f") == module_key(src("k1"), name_hint="f")
    assert module_key(src("k2"), name_hint="f")[0] != a
    assert module_key(src("k1"), name_hint="g")[0] != a
    assert module_key(src("k1"), name_hint="f", opt_level=0)[0] != a
    assert module_key(src("k1"), name_hint="f", key_extra=("int",))[0] != a

    m1 = build_module(src("k3"), name_hint="f", opt_level=0)
    m2 = build_module(src("k4"), name_hint="f", opt_level=0)
    assert m1 is not m2 and m1.__name__ != m2.__name__
    assert len(cache.list_entries()) == 2


def test_name_hint_is_sanitized(root):
    name, key = module_key(src("n"), name_hint="outer.<locals>.inner-λ")
    assert name == f"_jj_outer__locals__inner___{key[:16]}"
    assert name.isidentifier() and name.isascii()


def test_truncated_entry_is_rebuilt_not_loaded(root):
    source = src("corrupt")
    m = build_module(source, name_hint="f", opt_level=0)
    so = Path(m.__file__)
    # Truncating the file in place would pull pages from under this process's
    # mapping of it (SIGBUS); the cache itself never writes a file in place.
    # So put a truncated copy where the entry's .so was.
    half = so.with_name("half")
    half.write_bytes(so.read_bytes()[: so.stat().st_size // 2])
    os.replace(half, so)
    child = run_child(CHILD_BUILD.format(source=source, opt_level=0), root)
    assert child["result"] == 2
    assert child["corrupt_entries"] == 1 and child["cython_runs"] == 1
    [info] = cache.list_entries()
    assert info.valid


def test_untrusted_cache_dir_warns_and_builds_privately(root):
    root.mkdir()
    os.chmod(root, 0o777)
    with pytest.warns(JITWarning, match="writable by group or others"):
        m = build_module(src("untrusted"), name_hint="f", opt_level=0)
    assert m.f(1) == 2
    assert not Path(m.__file__).is_relative_to(root)
    assert not (root / cache.ENTRIES).exists()


def test_use_cache_false_leaves_the_cache_alone(root):
    m = build_module(src("nocache"), name_hint="f", use_cache=False, opt_level=0)
    assert m.f(1) == 2
    assert not root.exists()


def test_concurrent_builds_of_one_key(root):
    source = src("race")
    code = """
        import json, os, sys, time
        import Cython.Compiler.Main                  # warm up before the race
        from justjit.backends.cython_build import build_module
        ready = os.path.join(sys.argv[1], "ready-" + sys.argv[2])
        open(ready, "w").close()
        while len([n for n in os.listdir(sys.argv[1]) if n.startswith("ready-")]) < 2:
            time.sleep(0.005)
        m = build_module({source!r}, name_hint="f")
        from justjit.backends.cython_build import stats
        print(json.dumps({{"result": m.f(1), "file": m.__file__, "cython_runs": stats.cython_runs}}))
    """.format(source=source)
    rendezvous = root.parent / "rendezvous"
    rendezvous.mkdir()
    env = dict(os.environ, JUSTJIT_CACHE_DIR=str(root), PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(rendezvous), str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["result"] for r in results] == [2, 2]
    assert results[0]["file"] == results[1]["file"]
    print("cython runs per process:", [r["cython_runs"] for r in results])
    [info] = cache.list_entries()
    assert info.valid
    assert list((root / cache.TMP).iterdir()) == []   # the loser cleaned up


def test_cython_error(root):
    source = "def f(x:\n    return x\n"
    with pytest.raises(CompileError) as excinfo:
        build_module(source, name_hint="bad_syntax", opt_level=0)
    err = excinfo.value
    assert err.stage == "cython"
    assert Path(err.pyx_path).read_text() == source
    assert f"{err.pyx_path}:2:" in err.source_excerpt       # file:line of the error, kept path
    assert err.pyx_path in str(err)


def test_c_compiler_error(root):
    source = 'cdef extern from *:\n    """\n    #error boom\n    """\n\ndef f(x):\n    return x\n'
    with pytest.raises(CompileError) as excinfo:
        build_module(source, name_hint="bad_c", opt_level=0)
    err = excinfo.value
    assert err.stage == "cc"
    assert "#error boom" in err.source_excerpt
    assert Path(err.pyx_path).read_text() == source
    assert (Path(err.pyx_path).parent / "cc.log").exists()


def test_undeclared_c_function_is_a_compile_error_not_a_load_error(root):
    source = "cdef extern from *:\n    int jj_no_such_function(int)\n\ndef f(x):\n    return jj_no_such_function(x)\n"
    with pytest.raises(CompileError) as excinfo:
        build_module(source, name_hint="undeclared", opt_level=0)
    assert excinfo.value.stage == "cc"
    assert "jj_no_such_function" in excinfo.value.source_excerpt


def test_runtime_header_is_on_the_include_path_and_in_the_key(root, tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "jj_runtime.h").write_text("static long jj_answer(void) { return 42; }\n")
    monkeypatch.setattr(cache, "RUNTIME_DIR", runtime)
    source = src("runtime", 'cdef extern from "jj_runtime.h":\n    long jj_answer()\n\n'
                            "def f(x):\n    return jj_answer() + x\n")
    before = module_key(source, name_hint="f")
    assert build_module(source, name_hint="f", opt_level=0).f(0) == 42
    (runtime / "jj_runtime.h").write_text("static long jj_answer(void) { return 43; }\n")
    assert module_key(source, name_hint="f") != before


def test_tracebacks_point_at_the_kept_pyx(root):
    m = build_module(src("tb", "def f(x):\n    return 1 // x\n"), name_hint="f", opt_level=0)
    with pytest.raises(ZeroDivisionError) as excinfo:
        m.f(0)
    frame = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    [info] = cache.list_entries()
    assert Path(frame.filename) == info.directory / f"{m.__name__}.pyx"
    assert frame.lineno == 3 and frame.line == "return 1 // x"


def test_bad_opt_level():
    with pytest.raises(ValueError):
        build_module(src("opt"), name_hint="f", opt_level=7)


def test_module_init_failure_is_a_load_error(root):
    source = 'raise RuntimeError("boom at import")\n'
    with pytest.raises(CompileError) as excinfo:
        build_module(source, name_hint="bad_init", opt_level=0)
    assert excinfo.value.stage == "load"
    assert "boom at import" in str(excinfo.value)
    assert Path(excinfo.value.pyx_path).read_text() == source


def test_shared_cython_context_writes_what_a_fresh_one_writes(tmp_path):
    """Successive builds reuse one Cython Context (the cimported .pxd files are analysed
    once): the C must not depend on what was compiled before, and a name may be built
    again (e.g. after the cache was cleared)."""
    from justjit.backends import cython_build

    body = ("from jj_runtime cimport *\n\ncdef int g(int x):\n    return x * 2\n\n"
            "def f(x):\n    try:\n        return g(x) + len(x)\n    except TypeError as e:\n"
            "        return str(e)\n")
    other = "from libc.stdint cimport int64_t\n\ndef h(int64_t n):\n    return [n] * 2\n"
    (tmp_path / "ctx_a.pyx").write_text(body)
    (tmp_path / "ctx_b.pyx").write_text(other)

    def cythonize(name, out):
        failure = cython_build._run_cython(tmp_path / f"{name}.pyx", tmp_path / out, name)
        assert failure is None, failure
        return (tmp_path / out).read_text()

    cython_build._drop_cython_context()
    fresh = cythonize("ctx_a", "fresh.c")
    reuses = stats.cython_context_reuses
    cythonize("ctx_b", "b.c")
    shared = cythonize("ctx_a", "shared.c")      # the same module name again
    assert stats.cython_context_reuses == reuses + 2
    assert shared == fresh


def test_cython_utility_code_compiles_at_o1_with_gcc():
    from justjit.backends import cython_build

    text = ("int hot(void) { return 1; }\n/* #### Code section: utility_code_def ### */\n"
            "/* Refnanny */\nstatic int util(void) { return 2; }\n"
            "/* GetItemInt */\nstatic int index_(void) { return 3; }\n"
            "/* AddTraceback */\nstatic int tb(void) { return 4; }\n"
            "/* #### Code section: utility_code_pragmas_end ### */\nint tail;\n")
    out = cython_build._utility_code_at_o1(text)

    def level(name):  # the optimization level in force where `name` is defined
        before = out[:out.index(name)]
        pushed = before.count("#pragma GCC push_options") - before.count("#pragma GCC pop_options")
        return "O1" if pushed else "O2"

    assert out.count('#pragma GCC optimize ("O1")') == out.count("#pragma GCC push_options")
    assert [level(n) for n in ("int hot", "static int util", "static int index_",
                               "static int tb", "int tail")] == ["O2", "O1", "O2", "O1", "O2"]
    assert cython_build._utility_code_at_o1("no markers\n") == "no markers\n"
    tc = cython_build._toolchain(2)
    if cython_build._is_gcc(tc.identity):   # the rewrite is in the key where it applies
        assert cython_build.toolchain_parts(2)["c_transform"]
    assert not cython_build.toolchain_parts(1)["c_transform"]
