"""The LLVM backend's own guarantees: engine lifetimes, the object cache across processes,
refusals, introspection, the native entry's calling convention, and every optimization tier.

(Behaviour against CPython is the differential suite's job: tests/test_llvm_diff.py, and
tests/test_llvm_refcount.py for reference counts and memory.)
"""
import gc
import inspect
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

import justjit.pipeline as pipeline
from justjit import jit
from justjit.frontend import build_ir
from justjit.ir import ops as ir_ops

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _llvm_backend(monkeypatch):
    if "llvm" not in pipeline.BACKEND_MODULES:
        monkeypatch.setitem(pipeline.BACKEND_MODULES, "llvm", "justjit.backends.llvm")


def _backend():
    from justjit.backends import llvm
    return llvm


def _make(n):
    """A distinct function (its own code object) computing something from n."""
    ns = {}
    exec(textwrap.dedent(f"""
        def f{n}(x, y=2):
            total = 0
            for i in range(x):
                try:
                    total += (i * y) // (i - {n % 3})
                except ZeroDivisionError:
                    total -= 1
            return total, [str(total)] * 2
    """), ns)
    return ns[f"f{n}"]


def _plain(fn, *args):
    return fn(*args)


# ---------------------------------------------------------------------------------------------
# Engines


def test_native_code_lives_exactly_as_long_as_its_function():
    llvm = _backend()
    fns = [_make(n) for n in range(3)]
    jitted = [jit(fn, backend="llvm", fallback=False) for fn in fns]
    for fn, j in zip(fns, jitted):
        assert j(7) == fn(7)
    handles = [weakref.ref(j.compiled.handle) for j in jitted]
    gc.collect()  # garbage of earlier tests must not count below
    alive = llvm.stats.engines_alive
    # Drop the first one: its engine (and machine code) must be freed...
    del jitted[0]
    gc.collect()
    assert handles[0]() is None, "the execution engine outlived every reference to its code"
    assert llvm.stats.engines_alive == alive - 1
    # ... while the others keep working, also after compiling new functions into new engines.
    more = [jit(_make(n), backend="llvm", fallback=False) for n in range(10, 14)]
    for _ in range(50):
        for fn, j in zip(fns[1:], jitted):
            assert j(9, 3) == fn(9, 3)
        for n, j in zip(range(10, 14), more):
            assert j(5) == _make(n)(5)
    assert all(h() is not None for h in handles[1:])


def test_entry_keeps_its_engine_even_without_the_dispatcher():
    fn = _make(21)
    j = jit(fn, backend="llvm", fallback=False)
    j(1)
    entry = j.compiled.entry
    handle = weakref.ref(j.compiled.handle)
    del j
    gc.collect()
    assert handle() is not None
    state = (fn.__globals__, fn.__builtins__, fn.__closure__)
    assert entry(state, 6, 2) == fn(6, 2)
    del entry
    gc.collect()
    assert handle() is None


def test_each_engine_gets_its_own_target_machine(monkeypatch):
    llvm = _backend()
    made = []
    original = llvm._target_machine

    def counting(opt_level):
        tm = original(opt_level)
        made.append(tm)
        return tm

    monkeypatch.setattr(llvm, "_target_machine", counting)
    j1 = jit(_make(31), backend="llvm", fallback=False)
    j2 = jit(_make(32), backend="llvm", fallback=False)
    j1(3), j2(3)
    assert len({id(tm) for tm in made}) == len(made) >= 2


# ---------------------------------------------------------------------------------------------
# The native entry


def test_native_entry_is_a_fastcall_builtin_that_checks_its_arguments():
    fn = _make(41)
    j = jit(fn, backend="llvm", fallback=False)
    j(2)
    entry = j.compiled.entry
    assert type(entry).__name__ == "builtin_function_or_method"
    state = (fn.__globals__, fn.__builtins__, fn.__closure__)
    with pytest.raises(TypeError, match="expects the state tuple and 2 argument"):
        entry(state, 1)
    with pytest.raises(TypeError, match="state tuple|tuple first"):
        entry([1, 2, 3], 1, 2)
    with pytest.raises(TypeError, match="tuple first"):
        entry((fn.__globals__,), 1, 2)
    assert entry(state, 4, 5) == fn(4, 5)


# ---------------------------------------------------------------------------------------------
# Refusals and introspection


def _gen(n):
    for i in range(n):
        sent = yield i
        if sent is not None:
            yield ("sent", sent)
    return "end"


def test_generators_keep_their_code_alive_and_release_their_frame():
    fn = _gen
    j = jit(fn, backend="llvm", fallback=False)
    gens = [j(4) for _ in range(3)]
    assert [next(g) for g in gens] == [0, 0, 0]
    handle = weakref.ref(j.compiled.handle)
    del j
    gc.collect()
    assert handle() is not None, "a suspended generator must keep its machine code"
    assert gens[0].send("x") == ("sent", "x")
    assert list(gens[1]) == [1, 2, 3]
    marker = []

    class Witness:
        def __del__(self):
            marker.append("freed")

    w = Witness()
    g = jit(_holds, backend="llvm", fallback=False)(w)
    assert next(g) is w
    del w
    assert marker == []
    g.close()  # GeneratorExit at the yield; the frame's references go with it
    assert marker == ["freed"]
    del gens, g
    gc.collect()
    assert handle() is None


def _holds(obj):
    try:
        yield obj
    finally:
        pass


def _sample(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        return None


def test_explain_gives_optimized_and_annotated_llvm_ir():
    llvm = _backend()
    ir = build_ir(_sample)
    text = llvm.explain(ir, "llvm")
    assert "define ptr @jj_entry(ptr" in text
    raw = llvm.explain(ir, "llvm-raw")
    assert "return a / b" in raw  # the source line, as a comment next to its code
    assert "JJL_TrueDivide" in raw  # the fast path for exact ints and floats


def test_dump_dir_receives_the_ll_files(tmp_path):
    pipeline.compile_function(_sample, backend="llvm", dump_dir=str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.endswith(".ll") and not n.endswith(".opt.ll") for n in names), names
    assert any(n.endswith(".opt.ll") for n in names), names


def test_every_generic_op_has_a_lowering():
    from justjit.backends import llvm_lower

    lowering = llvm_lower._Lowering
    missing = []
    for name, cls in vars(ir_ops).items():
        if not (inspect.isclass(cls) and issubclass(cls, ir_ops.Op) and cls is not ir_ops.Op):
            continue
        if getattr(cls, "KINDS", None):  # typed ops of specialized code: not generated here
            continue
        prefix = "term_" if cls.IS_TERMINATOR else "op_"
        if not hasattr(lowering, prefix + name):
            missing.append(name)
    assert not missing, f"no LLVM lowering for {missing}"


def test_runtime_exports_every_helper_the_lowering_uses():
    from justjit.backends import llvm_lower, llvm_runtime

    source = Path(llvm_lower.__file__).read_text()
    import re

    used = set(re.findall(r'"\*(JJL?_\w+)"', source))
    table = llvm_runtime.helpers()
    missing = sorted(n for n in used if llvm_runtime.HELPER_PREFIX + n not in table)
    assert not missing, f"_jj_rt does not export {missing}"


# ---------------------------------------------------------------------------------------------
# Optimization tiers


@pytest.mark.parametrize("opt_level", [0, 1, 2, 3])
def test_every_tier_compiles_the_same_behaviour(opt_level):
    llvm = _backend()
    fn = _make(50 + opt_level)
    ir = build_ir(fn)
    entry, text, handle = llvm.compile(ir, key_extra=("tier-test", opt_level), use_cache=False,
                                       opt_level=opt_level)
    state = (fn.__globals__, fn.__builtins__, fn.__closure__)
    for args in [(0, 1), (5, 2), (9, -3)]:
        assert entry(state, *args) == fn(*args)
    with pytest.raises(TypeError):
        entry(state, "x", 1)


# ---------------------------------------------------------------------------------------------
# The on-disk cache


CHILD = r"""
import json, sys
import justjit
from justjit import pipeline
pipeline.BACKEND_MODULES.setdefault("llvm", "justjit.backends.llvm")
sys.path.insert(0, sys.argv[1])
import llvm_cache_probe as m
j = justjit.jit(m.probe, backend="llvm", fallback=False, cache=True)
value = j(10, 3)
from justjit.backends import llvm
print(json.dumps({"value": value, "compiles": llvm.stats.compiles,
                  "disk_hits": llvm.stats.disk_hits}))
"""


def test_second_process_loads_the_object_instead_of_compiling(tmp_path):
    (tmp_path / "llvm_cache_probe.py").write_text(textwrap.dedent("""
        def probe(n, k):
            out = []
            for i in range(n):
                if i % k:
                    out.append(i * k)
            return sum(out), len(out)
    """))
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    env = dict(os.environ, JUSTJIT_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))

    def run():
        proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["value"] == second["value"] == [81, 6]
    assert first["compiles"] == 1 and first["disk_hits"] == 0
    assert second["compiles"] == 0 and second["disk_hits"] == 1
    entries = [p for p in (cache / "entries").iterdir() if p.name.startswith("_jj_llvm_probe")]
    assert len(entries) == 1
    manifest = json.loads((entries[0] / "manifest.json").read_text())
    assert manifest["so"].endswith(".o") and manifest["metadata"]["backend"] == "llvm"
    # A corrupted object is detected (checksum) and rebuilt, never loaded.
    obj = entries[0] / manifest["so"]
    obj.write_bytes(obj.read_bytes()[:-16] + b"\0" * 16)
    third = run()
    assert third["value"] == [81, 6] and third["compiles"] == 1


# ---------------------------------------------------------------------------------------------
# The runtime's fast paths (exact ints/floats, list/tuple indexing, cached globals) against
# CPython, at their edges: digit boundaries, signs, zero divisors, nan/-0.0, bool and int
# subclasses (not exact: the generic path), negative and out-of-range indexes.


def _arith_jittable(a, b):
    r = []
    for op in range(15):
        try:
            if op == 0:
                v = a + b
            elif op == 1:
                v = a - b
            elif op == 2:
                v = a * b
            elif op == 3:
                v = a / b
            elif op == 4:
                v = a // b
            elif op == 5:
                v = a % b
            elif op == 6:
                v = a & b
            elif op == 7:
                v = a | b
            elif op == 8:
                v = a ^ b
            elif op == 9:
                v = a < b
            elif op == 10:
                v = a <= b
            elif op == 11:
                v = a == b
            elif op == 12:
                v = a != b
            elif op == 13:
                v = a > b
            else:
                v = a >= b
            r.append((type(v).__name__, repr(v)))
        except Exception as e:  # noqa: BLE001
            r.append((type(e).__name__, str(e)))
    x = a
    x += b
    r.append(repr(x))
    x = a
    x -= b
    r.append(repr(x))
    x = a
    x *= b
    r.append(repr(x))
    try:
        x = a
        x //= b
        r.append(repr(x))
        x = a
        x %= b
        r.append(repr(x))
        x = a
        x /= b
        r.append(repr(x))
    except Exception as e:  # noqa: BLE001
        r.append((type(e).__name__, str(e)))
    return r


class _Int(int):
    def __add__(self, other):
        return "subclass add"


_EDGE = [0, 1, -1, 7, -7, 2**30 - 1, -(2**30 - 1), 2**30, -2**30, 2**31, 2**62, -2**63,
         10**20, True, False, _Int(3), 0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"),
         float("nan"), 1e308, 3, -3]


@pytest.mark.parametrize("opt_level", [2, 3])
def test_arithmetic_fast_paths_match_cpython(opt_level):
    j = jit(_arith_jittable, backend="llvm", fallback=False, opt_level=opt_level)
    for a in _EDGE:
        for b in _EDGE:
            if isinstance(a, float) and isinstance(b, int) and abs(b) > 2**100:
                continue
            assert j(a, b) == _arith_jittable(a, b), (a, b)


def _index(seq, i):
    try:
        return seq[i]
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e)


def test_subscript_fast_path_matches_cpython():
    j = jit(_index, backend="llvm", fallback=False)
    seqs = [[1, 2, 3], (4, 5, 6), [], (), "abc", {1: "x", -1: "y"}, range(5), [[0]] * 3]
    keys = [0, 1, 2, 3, -1, -3, -4, 2**30, -2**30, 2**40, True, False, 1.0, "x", _Int(1)]
    for s in seqs:
        for k in keys:
            assert j(s, k) == _index(s, k), (s, k)


_G = 1


def _reads_global_and_len(n):
    out = []
    for _ in range(n):
        out.append((_G, len(out)))
    return out


def test_global_cache_sees_every_change():
    import builtins

    j = jit(_reads_global_and_len, backend="llvm", fallback=False)
    g = globals()
    assert j(2) == [(1, 0), (1, 1)]
    g["_G"] = 2
    assert j(1) == [(2, 0)]
    g["len"] = lambda x: "shadowed"
    try:
        assert j(1) == [(2, "shadowed")]
    finally:
        del g["len"]
    assert j(1) == [(2, 0)]
    original = builtins.len
    builtins.len = lambda x: "patched builtin"
    try:
        assert j(1) == [(2, "patched builtin")]
    finally:
        builtins.len = original
    del g["_G"]
    try:
        with pytest.raises(NameError, match="name '_G' is not defined"):
            j(1)
    finally:
        g["_G"] = 1
    assert j(1) == [(1, 0)]


# ---------------------------------------------------------------------------------------------
# Loops do what ceval's eval breaker does: other threads get the GIL, signals are handled
# (a KeyboardInterrupt is raised inside the loop, where an except clause can catch it).


def _spin_until(flag):
    n = 0
    while not flag:
        n += 1
    return n


def _catch_interrupt(stop):
    try:
        while not stop:
            pass
        return "stopped"
    except KeyboardInterrupt:
        return "interrupted"


def test_compiled_loops_let_other_threads_run_and_take_signals():
    import _thread
    import threading

    j = jit(_spin_until, backend="llvm", fallback=False)
    assert j([1]) == 0  # compiled now
    flag = []
    t = threading.Timer(0.05, flag.append, (1,))
    t.start()
    assert j(flag) > 0  # returns only because the timer thread could run
    t.join()
    c = jit(_catch_interrupt, backend="llvm", fallback=False)
    assert c([1]) == "stopped"  # compiled now: the interrupt below arrives in the loop
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    assert c([]) == "interrupted"
    timer.join()


def _chained(x, y):
    return x * y - x


def test_chain_of_specializations_dies_with_its_dispatcher():
    """Each module owns its link to the next entry of the chain (and the oldest one to the
    dispatcher's `_miss`, a garbage cycle): dropping the dispatcher frees every engine."""
    from difftest import compare_calls

    llvm = _backend()
    jitted = jit(_chained, backend="llvm", fallback=False, cache=False, hot=0)
    compare_calls(_chained, jitted, (3, 4), (1.5, 2.0), (True, False), (3, 4), ("a", 2))
    handles = [entry.__self__[-1] for entry, _link in jitted.dispatcher._links]
    assert len(handles) == 3 and all(isinstance(h, llvm.NativeCode) and h.link for h in handles)
    refs = [weakref.ref(h) for h in handles]
    del handles
    gc.collect()
    alive = llvm.stats.engines_alive
    del jitted
    gc.collect()
    assert all(r() is None for r in refs)
    assert llvm.stats.engines_alive == alive - 3
