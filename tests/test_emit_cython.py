"""emit_cython: IR -> .pyx -> C extension, run differentially against CPython.

Each test builds an IRFunction (by hand, or with the frontend from a Python function), runs the
relooper and the register allocator, emits the .pyx, builds it with Cython + gcc, calls
`entry((globals, builtins, closure), *args)` and compares with the plain function: value and
exact type, or exception type and message (and, where it matters, __context__/__cause__,
sys.exc_info() and the traceback).
"""

from __future__ import annotations

import builtins
import gc
import math
import sys
import traceback
import types
import weakref

import pytest

from justjit.emit_cython import comment_text, emit_pyx, mangle
from justjit.emit_cython.names import ConstPool
from justjit.ir import ops as ir
from justjit.ir.ops import Block, IRFunction, Reg

build_module = pytest.importorskip("justjit.backends.cython_build").build_module

_counter = [0]


class Compiled:
    """A compiled IRFunction: call it like the function (globals/closure given at creation)."""

    def __init__(self, fn: IRFunction, globals_: dict, closure=None):
        self.pyx = emit_pyx(fn)
        _counter[0] += 1
        self.module = build_module(self.pyx.text, name_hint=f"t{_counter[0]}_{fn.name}",
                                   use_cache=False)
        getattr(self.module, "__jj_init")(self.pyx.constants)  # not name-mangled
        self.state = (globals_, builtins.__dict__, closure)

    def __call__(self, *args):
        return self.module.entry(self.state, *args)


def jit_py(func):
    """The compiled `func`, called with CPython's argument binding (what the dispatcher does)."""
    import inspect

    from justjit.frontend import build_ir
    compiled = Compiled(build_ir(func), func.__globals__, func.__closure__)
    sig = inspect.signature(func)

    def call(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return compiled(*bound.arguments.values())

    call.pyx = compiled.pyx
    return call


def outcome(f, *args):
    try:
        value = f(*args)
    except BaseException as exc:  # noqa: B902
        return ("raise", type(exc), str(exc))
    return ("return", type(value), repr(value), sys.exc_info()[0])


def same_outcome(f, g, *args):
    a, b = outcome(f, *args), outcome(g, *args)
    assert a == b, f"plain {a} != compiled {b}"
    return a


def fn_of(name, args, blocks, *, source=None, generator=False, firstlineno=1):
    return IRFunction(name=name, qualname=name, filename="<ir:" + name + ">",
                      firstlineno=firstlineno, code=None,
                      args=[Reg(a, "var") for a in args],
                      blocks={b.id: b for b in blocks}, entry=blocks[0].id,
                      is_generator=generator, source_lines=source or {})


def T(n):
    return Reg(f"t{n}", "tmp")


def V(name):
    return Reg(name, "var")


# --------------------------------------------------------------------------------------------
# Names and escaping (no compiler needed)


def test_mangle_is_injective_and_safe():
    names = ["x", "_x", "x_", "__x", "cdef", "NULL", "__pyx_r", "label", "π", "_3c0_", "a_b",
             "ab", "v_x", "r0", "__jj_state", "None", "日本"]
    mangled = [mangle("v", n) for n in names]
    assert len(set(mangled)) == len(names)
    for m in mangled:
        assert m.isascii() and m.isidentifier() and m.startswith("v_")
    assert mangle("v", "π") != mangle("v", "_3c0_")


def test_comment_text_cannot_end_a_comment():
    for evil in ["a\nb", "a\rb", "a\u2028b", "a\x0cb", "a\x00b", "x\u2029y", "\ud800"]:
        text = comment_text(evil)
        assert not any(ch in text for ch in "\n\r\x0c\x00\u2028\u2029\x0b\x1c\x1d\x1e\x85")
        assert len(text.splitlines()) == 1


def test_const_pool_keeps_identity_and_shares_names():
    pool = ConstPool()
    a, b = 1.0, 1
    assert pool.obj(a) != pool.obj(b)
    assert pool.obj(a) == pool.obj(a)
    assert pool.name("x") == pool.name("x")
    assert pool.obj(True) != pool.obj(1)


# --------------------------------------------------------------------------------------------
# Hand-built IR


def test_arithmetic_hand_built():
    # def f(a, b): return (a + b) * b - a // b
    fn = fn_of("arith", ["a", "b"], [
        Block(0, [ir.BinaryOp(T(0), "+", V("a"), V("b"), line=1),
                  ir.BinaryOp(T(1), "*", T(0), V("b"), line=1),
                  ir.BinaryOp(T(2), "//", V("a"), V("b"), line=1),
                  ir.BinaryOp(T(3), "-", T(1), T(2), line=1)],
              ir.Return(T(3), line=1)),
    ])
    c = Compiled(fn, {})

    def plain(a, b):
        return (a + b) * b - a // b

    for args in [(3, 4), (2.5, 1.5), (7, 0), ("a", 2), (10**30, 7), (-7, 2), (1.0, 0.0)]:
        same_outcome(plain, c, *args)


def test_constants_are_never_spliced_into_the_source():
    weird = ['a"b\'c\\d\x00e\U0001F600', b'\x00"\\\'', '\n\r\u2028 """ \'\'\' # cython: x',
             -0.0, float("inf"), 10**40, (1, "x\n", None), frozenset({1}), 1j, ...,
             "\ud800x"]
    regs = [T(i) for i in range(len(weird))]
    fn = fn_of("consts", [], [
        Block(0, [ir.LoadConst(r, v, line=1) for r, v in zip(regs, weird)]
              + [ir.BuildTuple(T(99), regs, line=2)],
              ir.Return(T(99), line=2)),
    ], source={1: 'x = "\n# evil\ncdef int y = 0 \u2028', 2: "return x  # ok"})
    c = Compiled(fn, {})
    got = c()
    assert len(got) == len(weird)
    for a, b in zip(got, weird):
        assert type(a) is type(b)
        assert a is b  # the very objects given in the constants tuple
    for v in weird:
        if isinstance(v, str) and len(v) > 3:
            assert v not in c.pyx.text


def test_local_names_that_are_keywords_or_generated_names():
    names = ["cdef", "π", "NULL", "__pyx_r", "label", "r0", "__jj_state", "int", "日本"]
    ops = []
    for i, name in enumerate(names):
        ops.append(ir.LoadConst(V(name), i * 10, line=1))
    ops.append(ir.BuildTuple(T(0), [V(n) for n in names], line=2))
    fn = fn_of("names", ["cdef", "π"], [Block(0, ops, ir.Return(T(0), line=2))])
    c = Compiled(fn, {})
    assert c(1, 2) == tuple(i * 10 for i in range(len(names)))


def test_unbound_local_message():
    fn = fn_of("unbound", ["flag"], [
        Block(0, [], ir.CondBranch(V("flag"), 1, 2, line=1)),
        Block(1, [ir.LoadConst(V("x"), 5, line=2)], ir.Jump(2, line=2)),
        Block(2, [ir.CheckBound(V("x"), line=3)], ir.Return(V("x"), line=3)),
    ])
    c = Compiled(fn, {})

    def plain(flag):
        if flag:
            x = 5
        return x  # noqa: F821

    same_outcome(plain, c, True)
    r = same_outcome(plain, c, False)
    assert r[1] is UnboundLocalError
    assert r[2] == "cannot access local variable 'x' where it is not associated with a value"


def test_global_lookup_sees_rebinding_and_builtins():
    fn = fn_of("glob", [], [
        Block(0, [ir.LoadGlobal(T(0), "G", line=1), ir.LoadGlobal(T(1), "len", line=1),
                  ir.Call(T(2), T(1), [T(0)], line=1)],
              ir.Return(T(2), line=1)),
    ])
    g = {"G": [1, 2]}
    c = Compiled(fn, g)
    assert c() == 2
    g["G"] = "abcd"
    assert c() == 4
    g["len"] = lambda x: "shadowed"
    assert c() == "shadowed"
    del g["G"]
    with pytest.raises(NameError) as info:
        c()
    assert str(info.value) == "name 'G' is not defined"
    assert info.value.name == "G"


# --------------------------------------------------------------------------------------------
# Through the frontend: behaviour of whole functions

G = 10


def f_loop(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        total += i * G
    return total


def f_exc(x):
    try:
        return 10 / x
    except ZeroDivisionError:
        return ("caught", sys.exc_info()[0].__name__)
    finally:
        pass


def f_context(x):
    try:
        1 / x
    except ZeroDivisionError:
        raise KeyError("inner")


def f_cause(x):
    try:
        1 / x
    except ZeroDivisionError as e:
        raise ValueError("v") from e


def f_bare_raise():
    raise


def f_not_exception():
    raise 5


def f_bad_except(x):
    try:
        1 / x
    except 3:
        pass


def f_unpack(seq):
    a, b, c = seq
    return a + b + c


def f_unpack_ex(seq):
    a, *b, c = seq
    return (a, b, c)


def f_fstring(x, y):
    return f"{x!r:>6}|{y:.2f}|{x}"


def f_calls(f, *args, **kwargs):
    return f(*args, sep="-", **kwargs)


def f_with(cm):
    with cm as v:
        return v


def f_closure(x):
    def inner(y):
        return x + y
    return inner(2)


def f_build(a, b):
    return {a: b, "k": [a, b], "s": {a, b}, "t": (a,)}


def f_exc_info_in_finally(raising):
    seen = []
    try:
        try:
            if raising:
                raise KeyError("in flight")
        finally:
            seen.append(sys.exc_info()[0])
    except KeyError:
        seen.append("caught")
    seen.append(sys.exc_info()[0])
    return seen


def f_exc_info_after():
    try:
        raise ValueError("x")
    except ValueError:
        pass
    return sys.exc_info()


@pytest.mark.parametrize("func,args_list", [
    (f_loop, [(0,), (10,), (-1,)]),
    (f_exc, [(2,), (0,), ("s",)]),
    (f_context, [(0,), (1,)]),
    (f_cause, [(0,)]),
    (f_bare_raise, [()]),
    (f_not_exception, [()]),
    (f_bad_except, [(0,), (1,)]),
    (f_unpack, [((1, 2, 3),), ([1, 2],), ([1, 2, 3, 4],), (5,), ("abc",)]),
    (f_unpack_ex, [((1, 2, 3, 4),), ((1,),), (range(5),)]),
    (f_fstring, [(1, 2.5), ("s", 3), (None, "x")]),
    (f_calls, [(print.__class__, 1), (lambda *a, **k: (a, k), 1, 2), (len, 1, 2)]),
    (f_closure, [(1,), ("a",)]),
    (f_build, [(1, 2), ([], 1)]),
    (f_exc_info_after, [()]),
    (f_exc_info_in_finally, [(True,), (False,)]),
])
def test_differential(func, args_list):
    c = jit_py(func)
    for args in args_list:
        same_outcome(func, c, *args)


def test_exception_chaining_matches():
    c = jit_py(f_context)
    with pytest.raises(KeyError) as info:
        c(0)
    assert type(info.value.__context__) is ZeroDivisionError
    assert info.value.__cause__ is None and not info.value.__suppress_context__
    c2 = jit_py(f_cause)
    with pytest.raises(ValueError) as info:
        c2(0)
    assert type(info.value.__cause__) is ZeroDivisionError
    assert info.value.__suppress_context__


def test_with_statement():
    log = []

    class CM:
        def __enter__(self):
            log.append("enter")
            return 42

        def __exit__(self, *a):
            log.append(("exit", a[0]))
            return False

    c = jit_py(f_with)
    assert c(CM()) == 42
    assert log == ["enter", ("exit", None)]
    r = outcome(c, 5)
    assert r[:3] == ("raise", TypeError,
                     "'int' object does not support the context manager protocol")


def test_traceback_names_original_file_function_and_line():
    c = jit_py(f_unpack)
    try:
        c((1, 2))
    except ValueError as e:
        exc = e
        entries = traceback.extract_tb(exc.__traceback__)
    else:
        raise AssertionError("no exception")
    code = f_unpack.__code__
    mine = [e for e in entries if e.filename == code.co_filename and e.name == "f_unpack"]
    assert mine and mine[-1].lineno == code.co_firstlineno + 1
    assert not any(e.filename.endswith(".pyx") for e in entries)
    text = "".join(traceback.format_exception(exc))
    assert "a, b, c = seq" in text


def test_traceback_through_handler_and_reraise_has_one_entry():
    def f(x):
        try:
            return 1 / x
        finally:
            pass

    c = jit_py(f)
    with pytest.raises(ZeroDivisionError) as info:
        c(0)
    entries = [e for e in traceback.extract_tb(info.value.__traceback__) if e.name == "f"]
    assert [e.lineno for e in entries] == [f.__code__.co_firstlineno + 2]


def test_sys_exc_info_not_leaked_into_callers_generator_state():
    # The compiled function catches an exception while the calling generator has no handled
    # exception of its own but *its* caller has one: afterwards the generator must still see
    # no exception (Cython's except clause would otherwise leave the caller's one behind).
    def inner():
        try:
            1 / 0
        except ZeroDivisionError:
            pass
        return 1

    c = jit_py(inner)

    def gen():
        yield c()
        yield sys.exc_info()[0]

    try:
        raise KeyError("outer")
    except KeyError:
        g = gen()
        assert next(g) == 1
    assert next(g) is None


# --------------------------------------------------------------------------------------------
# Generators


def g_simple(n):
    total = 0
    for i in range(n):
        got = yield i
        if got is not None:
            total += got
    return total


def g_exc_state():
    try:
        raise ValueError("x")
    except ValueError:
        yield sys.exc_info()[0]
        yield sys.exc_info()[0]
    yield sys.exc_info()[0]


def g_delegate(n):
    r = yield from g_simple(n)
    yield ("done", r)


def _drive(gen, sends):
    out = []
    try:
        out.append(next(gen))
        for s in sends:
            out.append(gen.send(s))
    except StopIteration as stop:
        out.append(("stop", stop.value))
    except BaseException as exc:  # noqa: B902
        out.append(("raise", type(exc), str(exc)))
    return out


def test_generator_send():
    c = jit_py(g_simple)
    for sends in ([None, None, None], [5, 6, 7], [1]):
        assert _drive(c(3), sends) == _drive(g_simple(3), sends)


def test_generator_throw_and_close():
    c = jit_py(g_simple)
    g1, g2 = c(5), g_simple(5)
    next(g1), next(g2)
    for g in (g1, g2):
        with pytest.raises(KeyError):
            g.throw(KeyError("k"))
    g1, g2 = c(5), g_simple(5)
    next(g1), next(g2)
    g1.close()
    g2.close()
    assert list(g1) == list(g2) == []


def test_generator_keeps_handled_exception_across_yield():
    c = jit_py(g_exc_state)
    assert list(c()) == list(g_exc_state()) == [ValueError, ValueError, None]


def test_generator_yield_from():
    c = jit_py(g_delegate)
    for sends in ([None] * 5, [1, 2, 3, 4, 5]):
        assert _drive(c(3), sends) == _drive(g_delegate(3), sends)


def test_yielded_value_is_not_kept_alive_by_the_suspended_generator():
    class Obj:
        pass

    def g():
        yield Obj()
        yield 2

    c = jit_py(g)
    gen = c()
    ref = weakref.ref(next(gen))
    gc.collect()
    assert ref() is None
    assert next(gen) == 2


def test_generator_objects_share_one_type_across_modules():
    # The runtime's generator type is made once per interpreter (not once per module), named
    # like CPython's in error messages, and its gi_code is the function's own code object.
    import collections.abc

    c1, c2 = jit_py(g_simple), jit_py(g_delegate)
    gen1, gen2 = c1(1), c2(1)
    assert type(gen1) is type(gen2)
    assert (type(gen1).__module__, type(gen1).__name__) == ("justjit", "generator")
    assert isinstance(gen1, collections.abc.Generator)
    assert gen1.gi_code is g_simple.__code__ and gen2.gi_code is g_delegate.__code__
    with pytest.raises(TypeError, match="cannot create 'generator' instances"):
        type(gen1)()
    with pytest.raises(TypeError, match="'generator' object is not subscriptable"):
        gen1[0]
    assert weakref.ref(gen1)() is gen1


def test_hand_built_generator_without_code_object():
    # IR made by hand has no code object: gi_code is the traceback code, named like the
    # function.
    fn = fn_of("hand", [], [Block(0, [ir.LoadConst(T(0), 7, line=1),
                                      ir.Yield(T(1), T(0), line=1)],
                                   ir.Return(T(1), line=1))], generator=True)
    gen = Compiled(fn, {})()
    assert gen.gi_code.co_name == "hand" and gen.__name__ == "hand"
    assert next(gen) == 7
    with pytest.raises(StopIteration) as info:
        gen.send("sent")
    assert info.value.value == "sent"


def test_generator_exception_traceback():
    def g(x):
        yield 1
        yield 1 / x

    c = jit_py(g)
    gen = c(0)
    next(gen)
    with pytest.raises(ZeroDivisionError) as info:
        next(gen)
    entries = [e for e in traceback.extract_tb(info.value.__traceback__) if e.name == "g"]
    assert [e.lineno for e in entries] == [g.__code__.co_firstlineno + 2]


def test_nan_constant_identity():
    nan = float("nan")
    fn = fn_of("nanc", [], [Block(0, [ir.LoadConst(T(0), nan, line=1)], ir.Return(T(0), line=1))])
    c = Compiled(fn, {})
    assert c() is nan and math.isnan(c())


def g_handler_yield(log):
    try:
        raise ValueError("v")
    except ValueError:
        x = yield "in handler"
        log.append(x)
    yield "after"


def test_exception_thrown_at_yield_gets_the_generators_context():
    c = jit_py(g_handler_yield)
    for gen in (g_handler_yield([]), c([])):
        assert next(gen) == "in handler"
        with pytest.raises(KeyError) as info:
            gen.throw(KeyError("k"))
        assert type(info.value.__context__) is ValueError
        assert sys.exc_info()[0] is None


def test_emitted_text_reads_like_a_listing():
    c = jit_py(f_loop)
    text = c.pyx.text
    line = f_loop.__code__.co_firstlineno + 5
    assert f"# {line}: total += i * G" in text
    assert "def entry(tuple __jj_state, v_n):" in text
    assert any(src == line for src in c.pyx.line_map.values())


def test_unlowered_program_is_lowered():
    from justjit.frontend import build_ir
    from justjit.relooper import reloop, render

    fn = build_ir(f_loop)
    succ = {b.id: b.all_successors() for b in fn.blocks.values()}
    pyx = emit_pyx(fn, render(reloop(fn.entry, succ), succ))
    assert "def entry" in pyx.text


# --------------------------------------------------------------------------------------------
# Fast paths (jj_runtime.h "Fast paths"): the same answers as the generic C-API calls

_EDGE_NUMBERS = [0, 1, -1, 2, -7, 5, 255, 256, -5, -6, 2**30 - 1, 2**30, -(2**30), 2**31 + 3,
                 2**60 - 1, -(2**60) + 1, 2**62, 2**64 + 1, -(2**64) - 1, 10**30,
                 0.0, -0.0, 1.5, -2.25, 1e308, -1e-308, float("inf"), float("-inf"),
                 float("nan"), True, False, 3 + 0j]


class IntSub(int):
    def __add__(self, other):
        return ("IntSub.add", int(self), other)

    def __radd__(self, other):
        return ("IntSub.radd", other, int(self))


class FloatSub(float):
    def __lt__(self, other):
        return "FloatSub.lt"

    def __rtruediv__(self, other):
        return ("FloatSub.rtruediv", other)


def f_binary_ops(a, b):
    out = []
    for name in ("+", "-", "*", "/", "//", "%", "<", "<=", "==", "!=", ">", ">="):
        try:
            if name == "+":
                r = a + b
            elif name == "-":
                r = a - b
            elif name == "*":
                r = a * b
            elif name == "/":
                r = a / b
            elif name == "//":
                r = a // b
            elif name == "%":
                r = a % b
            elif name == "<":
                r = a < b
            elif name == "<=":
                r = a <= b
            elif name == "==":
                r = a == b
            elif name == "!=":
                r = a != b
            elif name == ">":
                r = a > b
            else:
                r = a >= b
            out.append((name, type(r).__name__, repr(r)))
        except Exception as e:  # noqa: BLE001
            out.append((name, type(e).__name__, str(e)))
    x = a
    try:
        x += b
        x -= b
        x *= b
        out.append(("inplace", type(x).__name__, repr(x)))
    except Exception as e:  # noqa: BLE001
        out.append(("inplace", type(e).__name__, str(e)))
    return out


def f_branch_on_compare(a, b):
    n = 0
    if a < b:
        n += 1
    if a <= b:
        n += 2
    if a == b:
        n += 4
    if a != b:
        n += 8
    if a > b:
        n += 16
    if a >= b:
        n += 32
    return n


def test_int_and_float_fast_paths_match_the_generic_operators():
    ops = jit_py(f_binary_ops)
    branch = jit_py(f_branch_on_compare)
    values = _EDGE_NUMBERS + [IntSub(3), FloatSub(2.5)]
    for a in values:
        for b in values:
            same_outcome(f_binary_ops, ops, a, b)
            if not isinstance(a, complex) and not isinstance(b, complex):
                same_outcome(f_branch_on_compare, branch, a, b)


def test_small_int_results_are_the_cached_objects():
    def f(a, b):
        five, six, one, zero = int("5"), int("6"), int("1"), int("0")
        return (a + b) is five, (a * b) is six, (b - a) is one, (a - a) is zero

    c = jit_py(f)
    assert c(2, 3) == f(2, 3) == (True, True, True, True)


class Truthy:
    def __init__(self, value):
        self.value = value

    def __bool__(self):
        if self.value is None:
            raise ValueError("no truth")
        return self.value


class Sized:
    def __len__(self):
        return 2


def f_truth(x):
    if x:
        return "yes"
    return "no"


def test_truth_tests():
    c = jit_py(f_truth)
    for x in [0, 1, -1, 2**70, 0.0, -0.0, float("nan"), [], [0], (), (0,), {}, {0: 0}, "",
              "a", None, True, False, Truthy(True), Truthy(False), Truthy(None), Sized(),
              IntSub(0), FloatSub(0.0), set(), range(0)]:
        same_outcome(f_truth, c, x)


def f_subscripts(seq, i):
    return seq[i]


def f_store(seq, i, v):
    seq[i] = v
    return seq


def test_list_tuple_subscripts_and_stores_keep_their_messages():
    get = jit_py(f_subscripts)
    store = jit_py(f_store)
    for seq in ([10, 20, 30], (10, 20, 30), "abc", {1: "one"}, range(3)):
        for i in (0, 2, -1, -3, 3, -4, 2**40, -(2**40), True, IntSub(1), 1.0, 1, "k"):
            same_outcome(f_subscripts, get, seq, i)
    for i in (0, -1, 2, 3, -4, 2**40, True, "k"):
        for seq in ([10, 20, 30], (1, 2), {1: "one"}):
            same_outcome(f_store, store, seq, i, "v")


def f_iterate(items):
    out = []
    for x in items:
        out.append(x)
        if isinstance(items, list) and len(items) < 6:
            items.append(len(items))
    return out


class Countdown:
    def __init__(self, n, fail=False):
        self.n, self.fail = n, fail

    def __iter__(self):
        return self

    def __next__(self):
        if self.n == 0:
            if self.fail:
                raise KeyError("broken iterator")
            raise StopIteration
        self.n -= 1
        return self.n


def test_for_loops_over_lists_ranges_and_iterators():
    c = jit_py(f_iterate)
    factories = [lambda: [1, 2], list, lambda: range(5), lambda: range(10, -10, -3),
                 lambda: range(2**64, 2**64 + 3), lambda: range(-5, 5, 4), lambda: (1, 2),
                 lambda: "ab", lambda: {1: 2, 3: 4}, lambda: Countdown(3),
                 lambda: Countdown(2, fail=True), lambda: iter([1, 2]), lambda: 5]
    for make in factories:
        assert outcome(f_iterate, make()) == outcome(c, make())


# --------------------------------------------------------------------------------------------
# Per-site caches: globals, attributes, methods, calls


def test_global_cache_with_a_dict_subclass_and_changing_builtins():
    fn = fn_of("glob2", [], [
        Block(0, [ir.LoadGlobal(T(0), "X", line=1), ir.LoadGlobal(T(1), "len", line=1),
                  ir.BuildTuple(T(2), [T(0), T(1)], line=1)],
              ir.Return(T(2), line=1)),
    ])

    class Missing(dict):
        def __missing__(self, key):
            return ("missing", key)

    c = Compiled(fn, Missing())  # not an exact dict: __getitem__ (and __missing__) every time
    assert c() == (("missing", "X"), ("missing", "len"))
    my_builtins = {"len": "first"}
    g = {"X": 1}
    c = Compiled(fn, g)
    c.state = (g, my_builtins, None)
    for _ in range(3):
        assert c() == (1, "first")
    my_builtins["len"] = "second"
    assert c() == (1, "second")
    g["len"] = "global"
    assert c() == (1, "global")
    del g["len"]
    assert c() == (1, "second")
    del my_builtins["len"]
    with pytest.raises(NameError):
        c()


def f_module_attr(m):
    return m.value, m.func(2)


def test_module_attribute_cache_sees_rebinding():
    m = types.ModuleType("jj_test_mod")
    m.value = 1
    m.func = lambda x: x * 10
    c = jit_py(f_module_attr)
    assert c(m) == (1, 20)
    m.value = 2
    m.func = lambda x: x * 100
    assert c(m) == (2, 200)
    del m.func
    same_outcome(f_module_attr, c, m)

    def getattr_hook(name):
        return lambda x: ("hook", name, x)

    m.__getattr__ = getattr_hook
    assert c(m) == f_module_attr(m) == (2, ("hook", "func", 2))
    same_outcome(f_module_attr, c, math)


class Methods:
    def m(self, x):
        return ("method", x)


def f_method_call(obj, x):
    return obj.m(x)


def test_method_calls_follow_class_and_instance_changes():
    c = jit_py(f_method_call)
    obj = Methods()
    assert c(obj, 1) == ("method", 1)
    Methods.m = lambda self, x: ("patched", x)
    try:
        assert c(obj, 2) == ("patched", 2)
        obj.m = lambda x: ("instance", x)
        assert c(obj, 3) == ("instance", 3)
    finally:
        del Methods.m
    same_outcome(f_method_call, c, Methods(), 4)  # AttributeError
    for other in ({}, [], "abc", 5):
        same_outcome(f_method_call, c, other, 1)

    class WithSlots:
        __slots__ = ()

        def m(self, x):
            return ("slots", x)

    assert c(WithSlots(), 5) == ("slots", 5)
    WithSlots.m = lambda self, x: ("slots patched", x)
    assert c(WithSlots(), 6) == ("slots patched", 6)


def f_dict_get_and_append(d, key, out):
    out.append(d.get(key))
    out.append(d.get(key, "default"))
    return out


class MyDict(dict):
    def get(self, key, default=None):
        return ("MyDict.get", key, default)


class MyList(list):
    def append(self, x):
        super().append(("MyList", x))


def test_dict_get_and_list_append():
    c = jit_py(f_dict_get_and_append)
    for d in ({"a": 1}, {}, MyDict(a=1), {("t",): 2}, 5):
        for key in ("a", "b", ("t",), []):
            for make_out in (list, MyList):
                assert (outcome(f_dict_get_and_append, d, key, make_out())
                        == outcome(c, d, key, make_out()))


def f_temporary_receiver(log):
    class Noisy:
        def __del__(self):
            log.append("del")

        def m(self, x):
            log.append(("m", x))
            return x

    return Noisy().m(log.append("arg") or 1), log.append("after")


def test_method_receiver_lifetime_matches_cpython():
    c = jit_py(f_temporary_receiver)
    a, b = [], []
    f_temporary_receiver(a)
    c(b)
    assert a == b


def test_calls_between_jitted_functions_skip_the_trampoline():
    from justjit import jit

    ns = {}
    exec(
        "def inner(x):\n"
        "    return 1 / x\n"
        "def outer(x):\n"
        "    return inner(x) + 1\n"
        "def count(n):\n"
        "    return 0 if n == 0 else 1 + count(n - 1)\n",
        ns)
    plain_outer = ns["outer"]
    ns["inner"] = jit(ns["inner"], fallback=False)
    ns["count"] = jit(ns["count"], fallback=False)
    outer = jit(plain_outer, fallback=False)
    # inner compiled first: outer runs it inline (justjit.inline_calls), so outer(0) would
    # make its first call, whose traceback has frames of the dispatcher.
    assert ns["inner"](4) == 0.25
    assert outer(2) == 1.5
    with pytest.raises(ZeroDivisionError) as info:
        outer(0)
    names = [e.name for e in traceback.extract_tb(info.value.__traceback__)]
    # As in CPython, one entry for inner: compiled outer called it without its trampoline's
    # frame (outer itself, called from here, has its trampoline's entry too).
    assert names.count("inner") == 1 and names[-2:] == ["outer", "inner"]
    # Rebinding the callee is seen at once.
    ns["inner"] = lambda x: -x
    assert outer(2) == -1
    # Recursion through the jitted global: CPython's depth and message.
    limit = sys.getrecursionlimit()
    assert ns["count"](limit // 2) == limit // 2
    with pytest.raises(RecursionError) as info:
        ns["count"](limit * 2)
    assert str(info.value).startswith("maximum recursion depth exceeded")
    # Under a trace function the trampoline runs as an ordinary frame.
    events = []

    def tracer(frame, event, arg):
        if event == "call":
            events.append(frame.f_code.co_name)
        return None

    sys.settrace(tracer)
    try:
        assert ns["count"](3) == 3
    finally:
        sys.settrace(None)
    assert events.count("count") == 4


def f_float_temporaries(a, b, c):
    shared = [a * b] * 3
    first = shared[0] + 1.0          # a temporary read from a list: not reused
    kept = a * b
    chained = (a + b) * (a - b) / (a * b + 1.0) - (b * c + a)
    both = (a * a) * (a * a)
    picked = ((a * b) if c > 0 else (a + b)) + c
    again = kept * 2.0 + kept
    return shared, first, kept, chained, both, picked, again, a, b, c


def test_float_results_written_into_dying_temporaries():
    c = jit_py(f_float_temporaries)
    assert "_Reuse(" in c.pyx.text
    for args in [(1.5, 2.0, 3.0), (-0.0, 1e308, -2.5), (float("nan"), 1.0, 0.0),
                 (2.0, 0.5, float("inf")), (3, 1.5, 2.0), (1.0, 1e-320, 7.0)]:
        same_outcome(f_float_temporaries, c, *args)


def f_nested_methods(d, items, m, x):
    return d.get(items.index(x)), m.func(items.index(x)), items.index(m.func(x))


def test_nested_method_calls_keep_their_own_receivers():
    m = types.ModuleType("jj_nested")
    m.func = lambda v: v + 1
    c = jit_py(f_nested_methods)
    for d, items, x in [({0: "zero", 1: "one"}, [5, 6, 7], 5), ({}, [1, 2], 1),
                        ({1: "one"}, [0, 1, 2], 0), ({}, [1], 9)]:
        same_outcome(f_nested_methods, c, d, items, m, x)
