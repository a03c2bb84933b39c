"""The runtime behaviours of issue 5 with the real compiler (frontend -> relooper ->
regalloc -> emit_cython -> Cython -> gcc). Every function here is tiny, so each
compile is mostly Cython's and gcc's fixed cost.

These tests need the whole pipeline to work; the rest of the issue-5 tests replace
the compiler and run without it (test_runtime_dispatch, test_runtime_autojit,
test_runtime_processes, test_runtime_errors, test_cache_cli, test_config).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

from isolation import child_env, clear_settings

from justjit import cache, jit
from justjit import config as jconfig
from justjit.dispatcher import wait_all

@pytest.fixture(autouse=True)
def root(monkeypatch, tmp_path):
    path = tmp_path / "cache"
    clear_settings(monkeypatch, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)  # a fallback warning fails the test
        yield path
    assert wait_all(60)
    jconfig.reset()


def test_compiles_on_first_call_and_logs_one_line(root, caplog):
    @jit(fallback=False)
    def f(x):
        return x + 1

    with caplog.at_level(logging.INFO, logger="justjit"):
        assert f(1) == 2
        assert f(1) == 2
    assert f.stats.status == "compiled" and f.stats.compiles == 1
    assert (f.stats.cache_hits, f.stats.cache_misses) == (0, 1)
    [line] = [r.getMessage() for r in caplog.records if r.name == "justjit" and r.levelno == logging.INFO]
    assert ".f(int)" in line and "backend=cython" in line and "cache miss" in line
    # A new argument-type signature gets its own specialization, and its own line.
    with caplog.at_level(logging.INFO, logger="justjit"):
        assert f(2.5) == 3.5
    assert f.stats.compiles == 2 and f.signatures == ["(x: int)", "(x: float)"]


def test_hot_signature_then_compiled(root):
    @jit(hot=3, fallback=False)
    def f(x):
        return x + 1

    for i in range(3):
        assert f(i) == i + 1
    assert f.stats.status == "pending"
    assert f(10) == 11
    assert f.stats.status == "compiled"
    assert f.dispatcher.target is f.compiled.entry


def test_background_build_is_swapped_in(root):
    @jit(background=True, fallback=False)
    def f(x):
        return x + 1

    results = [f(i) for i in range(50)]  # these run in the interpreter while the build runs
    assert f.wait(60)
    assert f.stats.status == "compiled"
    assert results == [i + 1 for i in range(50)] and f(41) == 42


def test_compiled_code_holds_the_gil_as_the_interpreter_does(root):
    """Compiled code runs with the GIL, releasing it only inside blocking C calls
    (here time.sleep), as the interpreter does: shared lists stay consistent and
    sleeping threads overlap."""
    shared = []

    @jit(fallback=False)
    def work(sink, n, sleep):
        for i in range(n):
            sink.append(i)
        sleep(0.2)
        return n

    assert work([], 1, lambda s: None) == 1
    assert work.stats.status == "compiled"
    threads = [threading.Thread(target=work, args=(shared, 10_000, time.sleep)) for _ in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - start
    assert len(shared) == 80_000 and sorted(shared) == sorted(list(range(10_000)) * 8)
    assert elapsed < 8 * 0.2  # the sleeps overlapped: the GIL was released while sleeping


WORKER = """
    from justjit import jit

    @jit(fallback=False)
    def plus_one(x):
        return x + 1
"""

EIGHT_PROCESSES = """
    import json, os, sys, warnings
    warnings.simplefilter("error")
    from justjit import jit

    @jit(fallback=False, cache=False)
    def warm_up(x):           # pays Cython's import and warm-up once, before forking
        return x - 1

    warm_up(1)
    go_r, go_w = os.pipe()
    pids = []
    for i in range(8):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(go_w)
                os.read(go_r, 1)
                import jjshared
                line = json.dumps([jjshared.plus_one(41), jjshared.plus_one.stats.compiles])
                # os._exit skips the wait for the background build that publishes the
                # opt_level module (tiered): wait here.
                jjshared.plus_one.wait()
                os.write(1, (line + "\\n").encode())    # one write: lines never interleave
                status = 0
            finally:
                os._exit(status)
        pids.append(pid)
    os.close(go_r)
    os.write(go_w, b"g" * 8)
    sys.exit(sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids))
"""


def test_eight_processes_compile_one_function_into_one_cache(root, tmp_path):
    (tmp_path / "jjshared.py").write_text(textwrap.dedent(WORKER))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EIGHT_PROCESSES)],
                          env=child_env(root, tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [[42, 1]] * 8
    [info] = cache.list_entries()
    assert info.valid
    assert list((root / "tmp").iterdir()) == []


def test_cache_list_names_the_compiled_function(root, capsys):
    """Needs the pipeline to pass the dispatcher's ``metadata`` on to build_module."""
    from justjit.__main__ import main

    @jit(fallback=False)
    def listed(x):
        return x + 1

    assert listed(1) == 2
    listed.wait()  # (tiered: the cache gets the opt_level module when it is swapped in)
    [info] = cache.list_entries()
    assert info.metadata["function"].endswith("test_cache_list_names_the_compiled_function.<locals>.listed")
    assert info.metadata["backend"] == "cython"
    main(["cache", "list"])
    assert "listed" in capsys.readouterr().out


POOL_DRIVER = """
    import concurrent.futures as cf, json, multiprocessing as mp
    import jjshared

    if __name__ == "__main__":
        out = {}
        for method in ("fork", "spawn"):
            ctx = mp.get_context(method)
            with ctx.Pool(2) as pool:
                out[method + "-pool"] = pool.map(jjshared.plus_one, range(10))
            with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                out[method + "-executor"] = list(ex.map(jjshared.plus_one, range(10)))
        print(json.dumps(out))
"""


def test_pool_map_and_executor_with_compiled_function(root, tmp_path):
    (tmp_path / "jjshared.py").write_text(textwrap.dedent(WORKER))
    (tmp_path / "driver.py").write_text(textwrap.dedent(POOL_DRIVER))
    proc = subprocess.run([sys.executable, "driver.py"], env=child_env(root, tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {name: list(range(1, 11)) for name in ("fork-pool", "fork-executor", "spawn-pool",
                                                          "spawn-executor")}
    assert len(cache.list_entries()) == 1  # every worker used (or raced to publish) one entry


def test_run_compiles_the_hot_function_of_a_script(root, tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent("""
        import justjit.autojit

        def plus_one(x):
            return x + 1

        total = sum(plus_one(i) for i in range(20))
        justjit.autojit.wait()
        total += sum(plus_one(i) for i in range(20))
        print("total", total)
    """))
    env = child_env(root)
    proc = subprocess.run([sys.executable, "-m", "justjit", "run", "--report", "--threshold", "5", "prog.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "total 420" in proc.stdout
    [row] = [line for line in proc.stderr.splitlines() if "plus_one" in line]
    assert "compiled" in row, proc.stderr


def test_cache_hit_in_a_fresh_process(root, tmp_path):
    (tmp_path / "jjshared.py").write_text(textwrap.dedent(WORKER))
    code = textwrap.dedent("""
        import json, jjshared
        r = jjshared.plus_one(1)
        s = jjshared.plus_one.stats
        print(json.dumps([r, s.cache_hits, s.cache_misses]))
    """)
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(root, tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert runs == [[2, 0, 1], [2, 1, 0]]
