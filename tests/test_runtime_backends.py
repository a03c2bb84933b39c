"""The runtime behaviours of issue 5 with each real backend (``backend`` is "cython" or
"llvm", see conftest.py): statistics, logging, hot signatures, background builds, threads,
processes and the cache commands do not depend on which compiler made the code.

Results are checked differentially (the plain function against ``jit(fn, fallback=False)``);
the statistics and log lines are checked for what the issue says they report.
(``test_runtime_compiled.py`` has the Cython-only versions of some of these.)
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest
from difftest import compare_calls
from isolation import child_env, clear_settings

from justjit import JITWarning, cache, jit
from justjit import config as jconfig
from justjit.__main__ import main
from justjit.dispatcher import wait_all
from justjit.pipeline import BACKEND_MODULES

@pytest.fixture(autouse=True)
def root(monkeypatch, tmp_path):
    """A cache directory of the test's own, no JUSTJIT_* settings, and no warnings allowed."""
    path = tmp_path / "cache"
    clear_settings(monkeypatch, path)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=JITWarning)  # a fallback fails the test
        yield path
    assert wait_all(60)
    jconfig.reset()


def info_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "justjit" and r.levelno == logging.INFO]


def affine(x, k):
    return x * k + 1


# ------------------------------------------------------------------ stats and logging


def logged_affine(x, k):  # compiled by this test only: its first compile is a cache miss
    return x * k - 2


def test_stats_and_one_info_line_per_compilation(backend, caplog):
    jitted = jit(logged_affine, backend=backend, fallback=False)
    with caplog.at_level(logging.INFO, logger="justjit"):
        compare_calls(logged_affine, jitted, (3, 4), (5, -2), (0, 7))
    [line] = info_lines(caplog)
    assert "logged_affine(int, int)" in line and f"backend={backend}" in line and " s, cache miss" in line
    stats = jitted.stats
    assert stats.status == "compiled" and stats.compiles == 1 and stats.compile_seconds > 0
    assert (stats.cache_hits, stats.cache_misses) == (0, 1)
    assert stats.as_dict()["signatures"] == {
        "(int, int)": {"calls": 3, "interpreted": 0, "compiled_calls": 3, "compiled": True}}

    # The same function jitted again finds the code already built: a cache hit, one line.
    caplog.clear()
    again = jit(logged_affine, backend=backend, fallback=False)
    with caplog.at_level(logging.INFO, logger="justjit"):
        compare_calls(logged_affine, again, (3, 4), (-1, 9))
    [line] = info_lines(caplog)
    assert "logged_affine(int, int)" in line and f"backend={backend}" in line and "cache hit" in line
    assert (again.stats.cache_hits, again.stats.cache_misses) == (1, 0)


def counted_affine(x, k):  # compiled by this test only
    return x * k + x


def test_compiled_calls_are_counted_per_signature(backend):
    """The compiled module counts the calls of its code: those served by the typed code of
    a signature's specialization count for that signature; those served by generic code
    (a backend without a chain of specializations: its floats) in generic_calls."""
    jitted = jit(counted_affine, backend=backend, fallback=False)
    compare_calls(counted_affine, jitted, *[(i, 3) for i in range(7)])
    compare_calls(counted_affine, jitted, *[(i + 0.5, 2.0) for i in range(4)])
    stats = jitted.stats
    assert stats.compiled_calls_counted is True
    counts = {s.text: (s.calls, s.interpreted, s.compiled_calls) for s in stats.signatures.values()}
    # floats get their own specialization where the backend chains them
    chained = getattr(importlib.import_module(BACKEND_MODULES[backend]), "CHAINS", False)
    assert counts == ({"(int, int)": (7, 0, 7), "(float, float)": (4, 0, 4)} if chained
                      else {"(int, int)": (7, 0, 7)})  # (the dispatcher never saw floats)
    assert stats.generic_calls == (0 if chained else 4)
    assert stats.calls == stats.compiled_calls == 11 and stats.interpreted_calls == 0
    d = stats.as_dict()
    assert (d["calls"], d["compiled_calls"], d["generic_calls"]) == (11, 11, 0 if chained else 4)
    # A signature no specialization takes is served by generic code.
    compare_calls(counted_affine, jitted, ("ab", 2), ("c", 3))
    assert stats.calls == 13 and stats.generic_calls == (2 if chained else 6)
    assert "13 calls (0 interpreted, 13 compiled" in str(stats)


def counted_generic(items, extra):  # compiled by this test only
    return [*items, extra]


def test_generic_only_function_counts_its_calls(backend):
    jitted = jit(counted_generic, backend=backend, fallback=False, hot=2)
    compare_calls(counted_generic, jitted, *[([i], i) for i in range(5)])
    compare_calls(counted_generic, jitted, *[((i,), "x") for i in range(3)])
    assert not jitted.compiled.typed
    stats = jitted.stats
    # (list, int): two calls in the interpreter, the third compiled it and ran compiled.
    counts = {s.text: (s.calls, s.interpreted, s.compiled_calls) for s in stats.signatures.values()}
    assert counts == {"(list, int)": (2, 2, 0)}  # (tuples went straight to compiled code)
    assert stats.generic_calls == stats.compiled_calls == 6 and stats.calls == 8


def test_a_module_loaded_from_the_cache_counts_its_calls(backend):
    first = jit(counted_affine, backend=backend, fallback=False)
    compare_calls(counted_affine, first, (1, 2), (3, 4))
    again = jit(counted_affine, backend=backend, fallback=False)  # a cache hit
    compare_calls(counted_affine, again, *[(i, 5) for i in range(6)])
    assert again.stats.cache_hits == 1
    [sig] = again.stats.signatures.values()
    assert (sig.text, sig.calls, sig.compiled_calls) == ("(int, int)", 6, 6)


def mixed(x, y):  # compiled by this test only
    return x * y + x


def test_every_compilation_is_counted_and_logged(backend, caplog, monkeypatch):
    """Each run of the compiler, including a later signature's that finds nothing to type
    (the generic code then serves it), is one INFO line and counted in the stats."""
    import functools

    import justjit.pipeline as pipeline

    runs = []
    real = pipeline.compile_function

    @functools.wraps(real)
    def counting(*args, **kwargs):
        runs.append(kwargs.get("metadata", {}).get("types"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compile_function", counting)
    jitted = jit(mixed, backend=backend, fallback=False)
    with caplog.at_level(logging.INFO, logger="justjit"):
        compare_calls(mixed, jitted, (3, 4), ("a", 2), (1.5, 2.0), ("b", 3), (2, 5))
    lines = info_lines(caplog)
    stats = jitted.stats
    assert runs and len(lines) == stats.compiles == len(runs), (runs, lines)
    assert stats.cache_hits + stats.cache_misses == stats.compiles
    for types, line in zip(runs, lines):
        assert f"mixed{types} backend={backend}" in line and ("cache hit" in line or "cache miss" in line)


def uses_locals(x):
    return len(locals()) + x


def test_fallback_is_recorded_with_its_reason_and_logged(backend, caplog):
    jitted = jit(uses_locals, backend=backend)
    with caplog.at_level(logging.INFO, logger="justjit"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [jitted(x) for x in (1, 2, 3)] == [uses_locals(x) for x in (1, 2, 3)]
    assert len([w for w in caught if issubclass(w.category, JITWarning)]) == 1
    assert jitted.stats.status == "fallback"
    [record] = jitted.stats.fallbacks
    assert "locals" in record.construct and record.stage == "frontend"
    assert record.location.startswith(f"{__file__}:")
    [line] = info_lines(caplog)
    assert "uses_locals runs in the interpreter" in line and record.location in line


# --------------------------------------------------------------- hot and background


def test_hot_counts_each_signature_then_compiles(backend):
    jitted = jit(affine, backend=backend, fallback=False, hot=2)
    compare_calls(affine, jitted, (1, 2), (1.5, 2.0), (3, 4))
    stats = jitted.stats
    assert stats.status == "pending" and stats.compiles == 0
    assert {s.text: (s.calls, s.interpreted) for s in stats.signatures.values()} == {
        "(int, int)": (2, 2), "(float, float)": (1, 1)}
    compare_calls(affine, jitted, (5, 6))  # the third (int, int) call: hot, compiled, runs compiled
    assert stats.status == "compiled" and stats.compiles == 1
    assert {s.text: (s.calls, s.interpreted) for s in stats.signatures.values()}["(int, int)"] == (3, 2)
    compare_calls(affine, jitted, (7, 8), (2.5, 0.5))


def test_background_build_is_swapped_in(backend):
    jitted = jit(affine, backend=backend, fallback=False, background=True)
    compare_calls(affine, jitted, *[(i, 3) for i in range(20)])  # while the build runs
    assert jitted.wait(60)
    assert jitted.stats.status == "compiled" and jitted.stats.compiles == 1
    [sig] = jitted.stats.signatures.values()
    assert sig.interpreted >= 1  # at least the call that started the build ran in the interpreter
    compiled = jitted.compiled.entry
    compare_calls(affine, jitted, (41, 2), (-3, 3))
    assert jitted.dispatcher.target is compiled


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize("background", [False, True], ids=["sync", "background"])
def test_eight_threads_while_compiling_compile_once(backend, background):
    warnings.simplefilter("error")  # any warning fails it (the fixture restores the filters)
    jitted = jit(affine, backend=backend, fallback=False, background=background)
    barrier = threading.Barrier(8)
    results = [None] * 8

    def worker(i):
        barrier.wait()
        results[i] = [jitted(i * 1000 + k, 3) for k in range(200)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [[affine(i * 1000 + k, 3) for k in range(200)] for i in range(8)]
    assert jitted.wait(60)
    assert jitted.stats.compiles == 1 and jitted.stats.status == "compiled"


def append_and_meet(sink, tag, n, meet):
    for i in range(n):
        sink.append((tag, i))
    meet()
    for i in range(n):
        sink.append((tag, -i))
    return len(sink)


def test_compiled_code_holds_the_gil_as_the_interpreter_does(backend):
    """Eight threads append to one list, then all wait at one barrier (which only the
    interpreter's usual release of the GIL in a blocking call lets them reach together),
    then append again: the list holds exactly what the plain function leaves, in each
    thread's order, as with the interpreter."""

    def run(fn):
        sink = []
        barrier = threading.Barrier(8)
        meet = lambda: barrier.wait(60)  # noqa: E731 - raises BrokenBarrierError if never met
        errors = []

        def worker(tag):
            try:
                fn(sink, tag, 5000, meet)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(tag,)) for tag in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        return sink

    jitted = jit(append_and_meet, backend=backend, fallback=False)
    jitted([], -1, 1, lambda: None)  # compiled before the threads start
    assert jitted.stats.status == "compiled"
    plain, compiled = run(append_and_meet), run(jitted)
    assert sorted(compiled) == sorted(plain)
    for tag in range(8):
        assert [i for t, i in compiled if t == tag] == [i for t, i in plain if t == tag]


# ------------------------------------------------------------------------- processes


WORKER = """
    import os
    from justjit import jit

    def plain(x):
        return x * 3 - 7

    @jit(backend={backend!r}, fallback=False)
    def scaled(x):
        return x * 3 - 7

    def status(x):
        scaled(x)
        return scaled.stats.status
"""

POOL_DRIVER = """
    import concurrent.futures as cf, json, multiprocessing as mp, pickle
    import jjworker

    if __name__ == "__main__":
        out = {"pickles": pickle.loads(pickle.dumps(jjworker.scaled)) is jjworker.scaled,
               "expected": list(map(jjworker.plain, range(10)))}
        for method in ("fork", "spawn"):
            ctx = mp.get_context(method)
            with ctx.Pool(2) as pool:
                out[method + "-pool"] = pool.map(jjworker.scaled, range(10))
                out[method + "-pool-status"] = sorted(set(pool.map(jjworker.status, range(4))))
            with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                out[method + "-executor"] = list(ex.map(jjworker.scaled, range(10)))
        print(json.dumps(out))
"""


def test_pickling_pool_map_and_executor(backend, root, tmp_path):
    (tmp_path / "jjworker.py").write_text(textwrap.dedent(WORKER.format(backend=backend)))
    (tmp_path / "driver.py").write_text(textwrap.dedent(POOL_DRIVER))
    proc = subprocess.run([sys.executable, "driver.py"], env=child_env(root, tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("pickles") is True
    expected = out.pop("expected")
    for method in ("fork", "spawn"):
        assert out.pop(method + "-pool-status") == ["compiled"], method
    assert out == {name: expected for name in ("fork-pool", "fork-executor", "spawn-pool", "spawn-executor")}
    entries = [i for i in cache.list_entries() if (i.metadata or {}).get("function", "").endswith(".scaled")]
    assert len(entries) == 1 and entries[0].valid and entries[0].metadata["backend"] == backend


EIGHT_PROCESSES = """
    import json, os, sys
    from justjit import jit

    @jit(backend={backend!r}, fallback=False, cache=False)
    def warm_up(x):           # pays the backend's imports and warm-up once, before forking
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
                import jjworker
                line = json.dumps([jjworker.scaled(41), jjworker.plain(41), jjworker.scaled.stats.compiles])
                # os._exit skips the wait for the background build that publishes the
                # opt_level module (tiered): wait here.
                jjworker.scaled.wait()
                os.write(1, (line + "\\n").encode())    # one write: lines never interleave
                status = 0
            finally:
                os._exit(status)
        pids.append(pid)
    os.close(go_r)
    os.write(go_w, b"g" * 8)
    sys.exit(sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids))
"""


def test_eight_processes_compile_one_function_into_one_cache(backend, root, tmp_path):
    (tmp_path / "jjworker.py").write_text(textwrap.dedent(WORKER.format(backend=backend)))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EIGHT_PROCESSES.format(backend=backend))],
                          env=child_env(root, tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 8 and all(got == plain and compiles == 1 for got, plain, compiles in rows)
    entries = [i for i in cache.list_entries() if (i.metadata or {}).get("function", "").endswith(".scaled")]
    assert len(entries) == 1 and entries[0].valid
    assert list((root / "tmp").iterdir()) == []


# ---------------------------------------------------- compile output, cache commands


OUTPUT_PROGRAM = """
    import logging
    from justjit import jit

    def f(x):
        return x * 2 + 1

    def g(x):
        return x - 5

    print("f", jit(f, backend={backend!r}, fallback=False)(20), f(20))  # logging not configured
    logging.basicConfig(level=logging.INFO, format="%(name)s|%(levelname)s|%(message)s")
    print("g", jit(g, backend={backend!r}, fallback=False)(20), g(20))
"""


def test_compile_time_output_goes_only_through_logging(backend, root, tmp_path):
    program = textwrap.dedent(OUTPUT_PROGRAM.format(backend=backend))
    proc = subprocess.run([sys.executable, "-c", program], env=child_env(root), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    f_line, g_line = proc.stdout.splitlines()
    assert f_line.split()[1] == f_line.split()[2] and g_line.split()[1] == g_line.split()[2]
    # Nothing from the first compile (no handler configured); one INFO line for the second.
    [line] = proc.stderr.splitlines()
    assert line.startswith("justjit|INFO|compiled __main__.g(int)")
    assert f"backend={backend}" in line and "cache miss" in line


def listed_affine(x, k):  # compiled by this test only: its entry is in this test's cache
    return x * k + 3


def test_cache_list_info_clear(backend, root, capsys):
    jitted = jit(listed_affine, backend=backend, fallback=False)
    compare_calls(listed_affine, jitted, (2, 3))
    jitted.wait()  # (tiered: the cache gets the opt_level module when it is swapped in)
    capsys.readouterr()
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["function", "signature", "backend", "size", "age"]
    [row] = [r for r in rows if ".listed_affine " in r]
    assert jitted.signatures[0] in row and f" {backend} " in row and " ok " in row
    assert main(["cache", "info"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert cache.list_entries() == []


# ---------------------------------------------- a cache entry corrupted by another process


TARGET = """
    def target(n, k):
        total = 0
        for i in range(n):
            total += i * k
        return total
"""

BUILDER = """
    import sys
    sys.path.insert(0, sys.argv[1])
    from justjit import jit
    import {module}
    print(jit({module}.target, backend={backend!r}, fallback=False)(10, 3))
"""

CORRUPTER = """
    import json, os, sys
    from justjit import cache
    root, mode = sys.argv[1], sys.argv[2]
    [entry] = [i for i in cache.list_entries(root)
               if (i.metadata or {}).get("function", "").endswith(".target")]
    manifest_path = os.path.join(entry.directory, "manifest.json")
    manifest = json.load(open(manifest_path))
    binary = os.path.join(entry.directory, manifest["so"])
    data = open(binary, "rb").read()
    if mode == "checksum":        # right size, wrong bytes
        open(binary, "wb").write(bytes(b ^ 0x5A for b in data))
    elif mode == "not-a-binary":  # a consistent manifest over garbage: only loading it can tell
        open(binary, "wb").write(b"this is not object code")
        manifest["so_size"], manifest["so_blake2b"] = cache.file_checksum(binary)
        open(manifest_path, "w").write(json.dumps(manifest))
    else:                         # a truncated manifest
        open(manifest_path, "w").write(json.dumps(manifest)[:-3])
"""


@pytest.mark.parametrize("mode", ["checksum", "not-a-binary", "manifest"])
def test_entry_corrupted_by_another_process_mid_run_is_survived(backend, root, tmp_path, monkeypatch,
                                                                 mode):
    """This process is running (and has compiled already) when one process builds ``target``
    into the cache and another damages that entry; this process then needs ``target``: it
    gets a working compiled function, never the damaged code."""
    warm_up = jit(listed_affine, backend=backend, fallback=False)
    compare_calls(listed_affine, warm_up, (1, 2))
    module = f"jjcorrupt_{backend}_{mode.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(TARGET))
    builder = textwrap.dedent(BUILDER.format(module=module, backend=backend))
    built = subprocess.run([sys.executable, "-c", builder, str(tmp_path)], env=child_env(root),
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    corrupted = subprocess.run([sys.executable, "-c", textwrap.dedent(CORRUPTER), str(root), mode],
                               env=child_env(root), capture_output=True, text=True, timeout=60)
    assert corrupted.returncode == 0, corrupted.stderr

    monkeypatch.syspath_prepend(str(tmp_path))
    target = __import__(module).target
    jitted = jit(target, backend=backend, fallback=False)
    compare_calls(target, jitted, (10, 3), (7, -2))
    assert jitted.stats.status == "compiled"
    jitted.wait()  # (tiered: the rebuilt entry is published when its upgrade is swapped in)
    if mode != "manifest":
        # The damaged binary was removed and built again. (A damaged manifest over an intact
        # binary may stay until a lookup reads it: the warm path checks the binary only.)
        [entry] = [i for i in cache.list_entries()
                   if (i.metadata or {}).get("function", "").endswith(".target")]
        assert entry.valid
