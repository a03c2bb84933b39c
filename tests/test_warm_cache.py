"""The warm path: a fresh process finds a function's compiled module in the cache from the
function itself (its fingerprint, justjit/fingerprint.py), without running the pipeline or
importing the compiler or Cython; and whatever changes what would be compiled misses.

The end-to-end tests run fresh interpreters against a copy of the justjit package taken
once for this module (the warm key covers the compiler's sources, which other people may
be editing in this work tree while the tests run).
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

import justjit
from justjit import cache, fingerprint
from justjit.analyses.types import profile_type
from justjit.backends import cython_build
from justjit.fingerprint import (ValueProfile, code_fingerprint, constant_recipe, profile_name,
                                 rebuild_constants, warm_key)

REPO = Path(__file__).resolve().parents[1]

MODULE = '''
import math


def kernel(xs, k):
    total = 0.0
    for x in xs:
        total += math.sqrt(x) * k

    def scale(v):
        return v * k
    return total, len(xs), (1, 2, "three \\u00e9"), scale


def poly(x, y):
    return x * y + x
'''

# What a warm first call may import: the cache lookup and the loader, nothing of the
# compiler (frontend, IR, analyses, emitter), nor Cython, json, logging or sysconfig.
WARM_IMPORTS = {"justjit.pipeline", "justjit.fingerprint", "justjit.cache", "justjit.backends",
                "justjit.backends.cython_backend", "justjit.backends.cython_build",
                "_blake2", "cython_runtime",
                # loading the extension from its path (a clean interpreter has not yet
                # imported them; this machine's site does, which hid them at first)
                "importlib.util", "importlib._abc"}

CHILD = """
import json, sys
import justjit, wmod
jitted = justjit.jit(wmod.kernel, fallback=False, backend=sys.argv[2])
args = eval(sys.argv[1])
before = set(sys.modules)
result = jitted(*args)
new = sorted(set(sys.modules) - before)
plain = wmod.kernel(*args)
from justjit.backends.cython_build import stats
print(json.dumps({
    "result": repr(result[:3]), "same": repr(result[:3]) == repr(plain[:3]),
    "scale": result[3](2) == plain[3](2),
    "tuple_is_the_code_constant": result[2] is plain[2],
    "nested_code_is_the_code_constant": result[3].__code__ is plain[3].__code__,
    "new_modules": [m for m in new if not m.startswith("_jj_")],
    "warm_hits": stats.warm_hits, "cc_runs": stats.cc_runs,
    "corrupt_entries": stats.corrupt_entries, "cache_hits": jitted.stats.cache_hits,
    "typed": jitted.dispatcher.compiled.typed,
}))
"""

FLOATS = "([1.0, 4.0, 9.0], 3)"

# Three signatures, the last served by the first one's module through the chain.
CHAIN_CHILD = """
import json, sys
import justjit, wmod
jitted = justjit.jit(wmod.poly, fallback=False, backend=sys.argv[1], hot=0)
same = True
for args in [(3, 4), (1.5, 2.0), (5, 6)]:
    result, plain = jitted(*args), wmod.poly(*args)
    same = same and result == plain and type(result) is type(plain)
stats = jitted.stats
print(json.dumps({"same": same, "signatures": jitted.signatures,
                  "cache_hits": stats.cache_hits, "generic_calls": stats.generic_calls}))
"""


LEAF_MODULE = '''
from justjit import jit


@jit(fallback=False)
def leaf(i, j):
    return 1.0 / (i + j + 1)


@jit(fallback=False)
def caller(n):
    s = 0.0
    for i in range(n):
        s += leaf(i, 2)
    return s
'''

LEAF_CHILD = """
import json, sys, lmod
from justjit.backends.cython_build import stats
result = lmod.caller(50)
print(json.dumps({"result": repr(result), "warm_hits": stats.warm_hits,
                  "inline": "JJ_LeafReady" in lmod.caller.inspect_pyx()}))
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("justjit-snapshot")
    shutil.copytree(REPO / "justjit", root / "justjit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return root


@pytest.fixture
def world(tmp_path, snapshot):
    """A cache directory and a module directory; `run(args)` calls the kernel in a fresh
    interpreter and returns what it saw."""
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "wmod.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "mod" / "lmod.py").write_text(LEAF_MODULE, encoding="utf-8")
    root = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUSTJIT_")}
    # Untiered: a tiered child's background -O2 build may or may not have run when it prints
    # its build counters (tests/test_tiered.py covers the tiers).
    env.update(JUSTJIT_CACHE_DIR=str(root), JUSTJIT_TIERED="0",
               PYTHONPATH=os.pathsep.join([str(snapshot), str(tmp_path / "mod")]))

    class World:
        cache_dir = root
        module = tmp_path / "mod" / "wmod.py"

        @staticmethod
        def run(args=FLOATS, backend="cython") -> dict:
            proc = subprocess.run([sys.executable, "-P", "-c", CHILD, args, backend], env=env,
                                  cwd=tmp_path, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout.strip().splitlines()[-1])

        @staticmethod
        def run_chain(backend: str) -> dict:
            proc = subprocess.run([sys.executable, "-P", "-c", CHAIN_CHILD, backend], env=env,
                                  cwd=tmp_path, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout.strip().splitlines()[-1])

        @staticmethod
        def run_leaf() -> dict:
            proc = subprocess.run([sys.executable, "-P", "-c", LEAF_CHILD], env=env,
                                  cwd=tmp_path, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout.strip().splitlines()[-1])

        @staticmethod
        def records() -> list[Path]:
            return sorted((root / "index").iterdir())

    return World


def test_warm_first_call_needs_neither_the_compiler_nor_cython(world):
    cold = world.run()
    assert cold["same"] and cold["typed"] and cold["cc_runs"] == 1 and cold["warm_hits"] == 0
    assert len(world.records()) == 1
    warm = world.run()
    assert warm["result"] == cold["result"] and warm["same"] and warm["scale"]
    assert warm["warm_hits"] == 1 and warm["cache_hits"] == 1 and warm["cc_runs"] == 0
    assert warm["typed"]  # the typed specialization, as the cold process compiled it
    # The constants are the function's own objects, as in the cold process.
    assert warm["tuple_is_the_code_constant"] and warm["nested_code_is_the_code_constant"]
    assert set(warm["new_modules"]) <= WARM_IMPORTS, warm["new_modules"]


def test_llvm_warm_first_call_skips_the_lowering(world):
    cold = world.run(backend="llvm")
    assert cold["same"] and cold["cache_hits"] == 0
    warm = world.run(backend="llvm")
    assert warm["same"] and warm["scale"] and warm["cache_hits"] == 1
    assert warm["tuple_is_the_code_constant"] and warm["nested_code_is_the_code_constant"]
    compiler = [m for m in warm["new_modules"] if m.startswith(
        ("justjit.backends.llvm_lower", "justjit.ir", "justjit.frontend", "justjit.analyses"))]
    assert compiler == []


@pytest.mark.parametrize("backend", ["cython", "llvm"])
def test_warm_modules_are_linked_into_the_chain(world, backend):
    """Specializations loaded warm take their place in the chain as compiled ones do: the
    third call, of the first signature, reaches its typed code through the second module."""
    cold = world.run_chain(backend)
    assert cold["same"] and len(cold["signatures"]) == 2 and cold["cache_hits"] == 0
    warm = world.run_chain(backend)
    assert warm["same"] and warm["signatures"] == cold["signatures"]
    assert warm["cache_hits"] == 2 and warm["generic_calls"] == cold["generic_calls"] == 0


def test_changed_constant_or_signature_is_compiled_not_loaded(world):
    assert world.run()["cc_runs"] == 1
    text = world.module.read_text(encoding="utf-8")
    world.module.write_text(text.replace('"three', '"four'), encoding="utf-8")
    changed = world.run()
    assert changed["warm_hits"] == 0 and changed["cc_runs"] == 1
    assert "four" in changed["result"] and changed["same"]
    ints = world.run("([1, 4, 9], 3)")  # another specialization: list[int]
    assert ints["warm_hits"] == 0 and ints["same"] and "justjit.frontend" in ints["new_modules"]
    assert len(world.records()) == 3
    assert world.run("([1, 4, 9], 3)")["warm_hits"] == 1


def test_a_caller_that_copies_a_jitted_leaf_is_warm_until_the_leaf_changes(world):
    """The caller's module holds the leaf (its inline copy's guard): the warm record names it
    by module and qualname, and the warm key has the leaf's code, which the copy came from."""
    cold = world.run_leaf()
    assert cold["inline"] and cold["warm_hits"] == 0
    warm = world.run_leaf()
    # (the leaf itself is never called: every call of it ran inline)
    assert warm["warm_hits"] == 1 and warm["result"] == cold["result"]
    path = world.cache_dir.parent / "mod" / "lmod.py"
    path.write_text(LEAF_MODULE.replace("i + j + 1", "i + j + 3"), encoding="utf-8")
    changed = world.run_leaf()
    assert changed["inline"] and changed["warm_hits"] == 0  # the caller too: its copy is stale
    assert changed["result"] == repr(sum(1.0 / (i + 2 + 3) for i in range(50)))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_record_is_survived(world, damage):
    world.run()
    [record] = world.records()
    data = record.read_bytes()
    record.write_bytes({"truncate": data[:len(data) // 2],
                        "flip": data[:-1] + bytes([data[-1] ^ 1]),
                        "garbage": b"\0" * 40}[damage])
    again = world.run()
    # The cold path ran (no warm hit), found the module by its source key (no gcc), and
    # wrote a good record.
    assert again["same"] and again["warm_hits"] == 0 and again["cc_runs"] == 0
    assert world.run()["warm_hits"] == 1


def test_damaged_module_behind_a_good_record_is_rebuilt(world):
    world.run()
    [entry] = (world.cache_dir / "entries").iterdir()
    [so] = [p for p in entry.iterdir() if p.suffix == ".so"]
    so.write_bytes(bytes(b ^ 0x5A for b in so.read_bytes()))  # same size, other bytes
    rebuilt = world.run()
    assert rebuilt["same"] and rebuilt["warm_hits"] == 0
    assert rebuilt["corrupt_entries"] == 1 and rebuilt["cc_runs"] == 1
    assert world.run()["warm_hits"] == 1


# ------------------------------------------------------------------- in this process


def test_second_dispatcher_of_a_function_takes_the_warm_path(tmp_path, monkeypatch):
    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(tmp_path / "cache"))
    namespace: dict = {}
    exec(compile("def f(a, b):\n    return a * b - 7\n", str(tmp_path / "f.py"), "exec"),
         namespace)
    f = namespace["f"]
    assert justjit.jit(f, fallback=False)(6, 7) == 35
    hits = cython_build.stats.warm_hits
    again = justjit.jit(f, fallback=False)
    assert again(6, 7) == 35 and again(2.5, 2) == -2.0
    assert cython_build.stats.warm_hits == hits + 1 and again.stats.cache_hits == 1


def test_the_profile_lets_go_of_the_values_when_the_compile_is_over(tmp_path, monkeypatch):
    # (a refusal's traceback must not be what keeps the call's arguments alive)
    from justjit import pipeline

    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(tmp_path / "cache"))

    class Arg:
        pass

    def f(x):
        return sorted(locals())

    arg = Arg()
    ref = weakref.ref(arg)
    profile = ValueProfile((arg,))
    # As in a process that has not imported the type lattice yet: the types are made later.
    profile._types, profile._values = None, (arg,)
    with pytest.raises(justjit.CompileError, match="locals") as info:
        pipeline.compile_function(f, arg_types=profile)
    assert profile.names == ("object",)
    del arg
    gc.collect()
    assert ref() is None and info.value.__traceback__ is not None


def test_records_written_concurrently_are_read_whole(tmp_path):
    store = cache.open_cache(tmp_path / "cache")
    values = [("value", i, "x" * (1000 * i)) for i in range(6)]
    running = set()
    for value in values:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for _ in range(200):
                    store.write_record("k" * 64, value)
                status = 0
            finally:
                os._exit(status)
        running.add(pid)
    reads = []
    while running:
        reads.append(store.read_record("k" * 64))
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                running.discard(pid)
    # Every read saw nothing yet or one whole record (a damaged one would be removed and
    # read as None: the writes are atomic, so there is none).
    assert all(r is None or r in values for r in reads)
    assert store.read_record("k" * 64) in values
    assert [p.name for p in store.index.iterdir()] == ["k" * 64]  # no temporary files left


@pytest.mark.parametrize("damage", [lambda d: d[:-3], lambda d: d[:20], lambda d: b"",
                                    lambda d: d[:-1] + bytes([d[-1] ^ 0x80]),
                                    lambda d: b"X" + d[1:]])
def test_read_record_rejects_and_removes_damage(tmp_path, damage):
    store = cache.open_cache(tmp_path / "cache")
    store.write_record("key", (("mod", "key"), (("c", (1, 2)),), {"signature": "(x: int)"}))
    path = store.index / "key"
    path.write_bytes(damage(path.read_bytes()))
    assert store.read_record("key") is None
    assert not path.exists()


def test_cache_info_counts_records_and_clear_removes_them(tmp_path, monkeypatch, capsys):
    from justjit.__main__ import main

    monkeypatch.setenv("JUSTJIT_CACHE_DIR", str(tmp_path / "cache"))
    store = cache.open_cache()
    store.write_record("a" * 64, 1)
    store.write_record("b" * 64, 2)
    assert main(["cache", "info"]) == 0
    assert "warm-path records (function fingerprint -> entry): 2" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert not store.index.exists()


# ------------------------------------------------------------------------ the key


def _function(source: str, name: str = "f", filename: str = "/tmp/jj_warm_key.py", **glb):
    namespace = dict(glb)
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


BASE = "def f(xs, k):\n    return len(xs) * k + 1\n"


def _key(fn, *, backend="cython", opt_level=2, arg_names=("list", "int"), parts=None):
    return warm_key(fn, None, backend=backend, opt_level=opt_level, arg_names=arg_names,
                    backend_parts=parts or {"cc_flags": "-O2"})


@pytest.mark.parametrize("change", [
    dict(source="def f(xs, k):\n    return len(xs) * k - 1\n"),      # the code
    dict(source="def f(xs, k):\n    return len(xs) * k + 2\n"),      # a constant
    dict(source="def f(xs, kk):\n    return len(xs) * kk + 1\n"),    # a local's name
    dict(source="\ndef f(xs, k):\n    return len(xs) * k + 1\n"),    # the line numbers
    dict(filename="/tmp/elsewhere.py"),
    dict(arg_names=("list[int]", "int")),                            # the signature
    dict(arg_names=None),                                            # generic code
    dict(opt_level=1),
    dict(backend="llvm"),
    dict(parts={"cc_flags": "-O3"}),                                 # the toolchain
    dict(glb={"len": lambda xs: 0}),                                 # a known global rebound
])
def test_the_key_covers_what_the_compiled_code_depends_on(change):
    fn_args = {k: change[k] for k in ("source", "filename") if k in change}
    base = _key(_function(BASE))
    assert _key(_function(BASE)) == base  # stable
    changed = _function(fn_args.get("source", BASE),
                        filename=fn_args.get("filename", "/tmp/jj_warm_key.py"),
                        **change.get("glb", {}))
    key_args = {k: change[k] for k in ("arg_names", "opt_level", "backend", "parts")
                if k in change}
    assert _key(changed, **key_args) != base


def test_the_key_covers_the_compiler_sources(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "runtime").mkdir(parents=True)
    (package / "emit.py").write_text("A = 1\n")
    (package / "runtime" / "rt.h").write_text("int x;\n")
    first = fingerprint.compiler_digest(None, str(package))
    assert fingerprint.compiler_digest(None, str(package)) == first
    (package / "runtime" / "rt.h").write_text("int y;\n")
    assert fingerprint.compiler_digest(None, str(package)) != first
    fn = _function(BASE)
    base = _key(fn)
    monkeypatch.setattr(fingerprint, "compiler_digest", lambda store=None: "another compiler")
    assert _key(fn) != base


def test_code_fingerprint_sees_nested_code_and_constants():
    outer = "def f():\n    def g():\n        return {}\n    return g\n"
    assert code_fingerprint(_function(outer.format("1")).__code__) != \
        code_fingerprint(_function(outer.format("1.0")).__code__)
    assert code_fingerprint(_function(outer.format("0.0")).__code__) != \
        code_fingerprint(_function(outer.format("-0.0")).__code__)


# ------------------------------------------------------------- profile and constants


PROFILED = [0, -1, True, False, None, 1.5, float("nan"), 2 ** 63 - 1, 2 ** 63, -2 ** 63,
            -2 ** 63 - 1, "s", b"b", (), (1,), {}, {1: 2}, set(), frozenset(), [], [1, 2],
            [1.0, 2.0], [1, 2.0], [True], [2 ** 64], [1.0] * 20 + ["x"] + [1.0] * 20,
            [1.0] * 20 + ["x"] + [1.0] * 5, range(3), object(), 1j, bytearray(b"x"),
            [1] * 7 + [2 ** 70], ["a"]]


@pytest.mark.parametrize("value", PROFILED, ids=repr)
def test_profile_name_agrees_with_the_lattice(value):
    assert profile_name(value) == str(profile_type(value))


def test_value_profile_names_now_types_when_iterated():
    profile = ValueProfile([1, [1.5], "s"])
    assert profile.names == ("int", "list[float]", "str") and len(profile) == 3
    assert [str(t) for t in profile] == ["int", "list[float]", "str"]
    assert profile[1] is profile_type([1.5])


def test_constant_recipe_rebuilds_the_same_objects():
    fn = _function("def f(x):\n    def g():\n        return ('a', 1)\n"
                   "    return g, (1, 2), 'name', x.attr\n")
    code = fn.__code__
    [inner] = [c for c in code.co_consts if hasattr(c, "co_code")]
    [pair] = [c for c in inner.co_consts if c == ("a", 1)]
    [numbers] = [c for c in code.co_consts if c == (1, 2)]
    consts = (inner, pair, numbers, sys.intern("attr"), 12345678901,
              -0.0, fn.__code__.replace(co_name="tb"), math.sqrt, math, len, float, None,
              ("kw", "names"), frozenset({1, 2}))
    recipe = constant_recipe(code, consts)
    assert recipe is not None
    rebuilt = rebuild_constants(code, recipe)
    assert len(rebuilt) == len(consts)
    for before, after in zip(consts[:3] + consts[7:11], rebuilt[:3] + rebuilt[7:11]):
        assert after is before  # from the code object, or by reference
    assert rebuilt[3] is sys.intern("attr")  # still interned
    assert repr(rebuilt[5]) == "-0.0" and rebuilt[6] == consts[6]
    assert rebuilt[12] == ("kw", "names") and rebuilt[13] == frozenset({1, 2})


@pytest.mark.parametrize("value", [object(), lambda: 0, [1], {"a": 1}, textwrap],
                         ids=["object", "lambda", "list", "dict", "module-not-reachable"])
def test_constant_without_a_recipe_keeps_the_cold_path(value, monkeypatch):
    if value is textwrap:  # a module under a name that is not its own
        monkeypatch.setattr(textwrap, "__name__", "not_textwrap")
    assert constant_recipe(_function(BASE).__code__, (1, value)) is None
