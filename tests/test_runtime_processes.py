"""Jitted functions across processes: they pickle by reference as the original does, and
serve as targets of multiprocessing.Pool.map and ProcessPoolExecutor (fork and spawn).

The workers run in a fresh interpreter (never forked from pytest, whose threads could
hold locks), with a fake compiler installed by the worker module itself, so the test
checks the process plumbing, not the compiler (``test_runtime_compiled.py`` repeats it
with the real one).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import pytest
from isolation import child_env

from justjit import jit

WORKER_MODULE = """
    import os
    from types import SimpleNamespace

    import justjit.pipeline as pipeline
    from justjit import jit

    def _fake_compile(py_func, *, backend, use_cache, **optional):
        def entry(state, x):
            return ("compiled", os.getpid(), py_func(x))
        return SimpleNamespace(entry=entry, signature="generic", pyx_source="# fake")

    pipeline.compile_function = _fake_compile

    @jit
    def square(x):
        return x * x

    class Shapes:
        @staticmethod
        @jit
        def cube(x):
            return x ** 3
"""

DRIVER = """
    import concurrent.futures as cf
    import json, multiprocessing as mp, os, pickle, sys

    import jjworker

    def main():
        out = {"parent": os.getpid()}
        assert pickle.loads(pickle.dumps(jjworker.square)) is jjworker.square
        assert pickle.loads(pickle.dumps(jjworker.Shapes.cube)) is jjworker.Shapes.cube
        for method in ("fork", "spawn"):
            ctx = mp.get_context(method)
            with ctx.Pool(2) as pool:
                out[method + "-pool"] = pool.map(jjworker.square, range(12))
            with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                out[method + "-executor"] = list(ex.map(jjworker.Shapes.cube, range(6)))
        print(json.dumps(out))

    if __name__ == "__main__":
        main()
"""


def test_pickles_by_reference_like_the_original():
    @jit
    def local(x):
        return x

    # By reference: a module-level jitted function round-trips to itself ...
    assert pickle.loads(pickle.dumps(module_level)) is module_level
    # ... and a local one fails exactly as the original would.
    with pytest.raises((pickle.PicklingError, AttributeError)) as jitted_error:
        pickle.dumps(local)

    def plain(x):
        return x

    with pytest.raises((pickle.PicklingError, AttributeError)) as plain_error:
        pickle.dumps(plain)
    assert type(jitted_error.value) is type(plain_error.value)


@jit
def module_level(x):
    return x


def test_pool_map_and_process_pool_executor(tmp_path):
    (tmp_path / "jjworker.py").write_text(textwrap.dedent(WORKER_MODULE))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    env = child_env(tmp_path / "cache", tmp_path)
    proc = subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    parent = out.pop("parent")
    for name, results in out.items():
        power = 2 if name.endswith("pool") else 3
        n = 12 if power == 2 else 6
        assert [r[2] for r in results] == [i**power for i in range(n)], name
        assert all(r[0] == "compiled" for r in results), name  # compiled in the worker
        assert all(r[1] != parent for r in results), name  # ... which is another process
