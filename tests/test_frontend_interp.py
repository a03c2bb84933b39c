"""Run the frontend's IR with a small reference interpreter and compare with CPython.

`IRInterpreter` (justjit/ir/interp.py) gives every op its documented meaning (ir/ops.py) in
plain Python. It is not
meant to be fast or complete (no sys.exc_info() bookkeeping beyond PushExcInfo/PopExcept, no
tracebacks); it is meant to catch frontend bugs that verification cannot see: a value in the
wrong register after a join, a handler reading the wrong stack slot, a lost copy-on-write, a
wrong branch sense. Each test runs a function plainly and through build_ir + the interpreter
and compares the return value (or the exception's type and message) and the arguments' state.
"""

from __future__ import annotations

import copy
import types

import pytest

from justjit.frontend import build_ir
from justjit.ir import ops as ir
from justjit.ir.interp import IRInterpreter

# ---------------------------------------------------------------------------------------------
# The differential harness


def outcome(thunk):
    try:
        return ("value", thunk())
    except Exception as e:  # noqa: BLE001
        return ("raise", type(e), str(e))


def run_both(func, *args, **kwargs):
    jitted = IRInterpreter(build_ir(func), func)
    a1, k1 = copy.deepcopy((args, kwargs))
    a2, k2 = copy.deepcopy((args, kwargs))
    plain = outcome(lambda: func(*a1, **k1))
    mine = outcome(lambda: jitted(*a2, **k2))
    assert mine == plain, (func.__name__, args)
    assert (a1, k1) == (a2, k2)
    return plain


def run_generator_both(func, *args, sends=(), throw_at=None):
    """Drive both generators with next/send (and optionally throw at step `throw_at`)."""
    def drive(gen):
        log = []
        try:
            log.append(("y", next(gen)))
            for i, value in enumerate(sends):
                if throw_at == i:
                    log.append(("y", gen.throw(ValueError("thrown"))))
                else:
                    log.append(("y", gen.send(value)))
            while True:
                log.append(("y", next(gen)))
        except StopIteration as stop:
            log.append(("return", stop.value))
        except Exception as e:  # noqa: BLE001
            log.append(("raise", type(e), str(e)))
        return log
    jitted = IRInterpreter(build_ir(func), func)
    plain = drive(func(*copy.deepcopy(args)))
    mine = drive(jitted(*copy.deepcopy(args)))
    assert mine == plain
    return plain


# ---------------------------------------------------------------------------------------------
# Functions under test


def chained(a, b, c):
    return a < b < c, a == b != c, a < b > c < a


def swaps(a, b, c):
    a, b = b, a
    a, b, c = c, a, b
    x = [a, b, c]
    x[0], x[1] = x[1], x[0]
    return a, b, c, x


def walrus(xs):
    out = []
    i = 0
    while (n := len(xs)) > i:
        out.append((n, y := xs[i] * 2, y))
        i += 1
    return out


def loops(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        for j in range(i):
            if j > 4:
                break
            total += j
        else:
            total += 100
    while n > 0:
        n -= 1
        if n == 2:
            break
    else:
        total = -total
    return total, n


def maybe_unbound(flag):
    if flag:
        x = 1
    return x


def deleted(a):
    b = a
    del a
    try:
        return a
    except UnboundLocalError as e:
        return b, str(e)


def exceptions(f, x):
    try:
        y = f(x)
    except (ValueError, TypeError) as e:
        y = "caught " + str(e)
    except KeyError:
        raise
    except ZeroDivisionError as e:
        raise RuntimeError("wrapped") from e
    else:
        y = ("else", y)
    finally:
        x = None
    return y, x


def finally_flow(xs):
    out = []
    for x in xs:
        try:
            if x == 1:
                continue
            if x == 2:
                break
            if x == 3:
                return out, "returned"
            out.append(x)
        finally:
            out.append(("fin", x))
    return out


def return_in_finally(f):
    try:
        return f()
    finally:
        if f is int:
            return "override"


def nested_try(f):
    try:
        try:
            return f(1)
        except ValueError:
            return f(2)
        finally:
            f(3)
    except Exception as e:
        return "outer", type(e).__name__


class Manager:
    def __init__(self, log, swallow=False):
        self.log = log
        self.swallow = swallow

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, t, v, tb):
        self.log.append(("exit", t.__name__ if t else None))
        return self.swallow


def with_statements(log, fail, swallow):
    with Manager(log, swallow) as m, Manager(log):
        log.append("body")
        if fail:
            raise ValueError("boom")
    log.append(m is not None)
    return len(log)


def with_return(log):
    with Manager(log):
        return "from with"


def calls(f, args, kw):
    r1 = f(*args, **kw)
    r2 = f(1, *args, 2, **kw, z=3)
    r3 = "-".join(map(str, args))
    r4 = "{a}".format(a=1)
    return r1, r2, r3, r4, sorted(args, key=lambda v: -v, reverse=False)


def collect(*a, **k):
    return a, sorted(k.items())


def comprehensions(xs):
    a = [x * 2 for x in xs if x % 2]
    b = {x: x * x for x in xs}
    c = {x % 3 for x in xs}
    d = list(x for x in xs if x)
    return a, b, c, d, [*xs, *a], {**b, 0: "zero"}, (*xs,)


def closures(a):
    b = 1

    def inner(c=3, *, d=4):
        nonlocal b
        b += a + c + d
        return b

    def reader():
        return a, b

    inner()
    r = inner(10, d=0)
    del_b = reader()
    return r, del_b, b


def unpacking(t):
    a, b, *c = t
    *d, e = t
    f, (g, h) = t[0], t[1:3]
    return a, b, c, d, e, f, g, h


def fstrings(x, w):
    return f"{x}|{x!r:>{w}}|{x!s}|{x!a}|{x:>{w}.{w}}|{w:05d}"


def matching(p):
    match p:
        case [x, y, *rest]:
            return "seq", x, y, rest
        case {"k": v, **kw}:
            return "map", v, kw
        case complex(real=0, imag=i) if i > 1:
            return "complex", i
        case str() | bytes():
            return "text"
        case (1 | 2) as n:
            return "small", n
        case None:
            return "none"
        case _:
            return "other"


def globals_and_attrs(o):
    global COUNTER
    COUNTER = 1
    COUNTER += 1
    o.attr = COUNTER
    o.attr += 1
    r = o.attr
    del o.attr
    del COUNTER
    return r, hasattr(o, "attr")


def slices_and_items(x):
    d = {}
    d["a"] = x[1:]
    d["b"] = x[::2]
    d["a"] += x[:1]
    del d["b"]
    return d, x[1:3:1]


def boolean_ops(a, b, c):
    return (a and b) or c, a or b and c, not (a and b), a if b else c, a is None, b is not None


def asserts(x):
    assert x > 0, "must be positive"
    return x


def raises(kind):
    if kind == 1:
        raise ValueError
    if kind == 2:
        raise ValueError("x") from None
    try:
        raise KeyError("k")
    except KeyError:
        if kind == 3:
            raise
        return "handled"


class Base:
    def hello(self):
        return "base hello"


class Derived(Base):
    def hello(self):
        return "derived+" + super().hello()


def gen_basic(n):
    x = yield "start"
    for i in range(n):
        y = yield i, x
        x = y or x
    return "done", x


def gen_yield_from(n):
    r = yield from gen_basic(n)
    yield r
    try:
        yield "in try"
    except ValueError as e:
        yield "caught " + str(e)
    return "end"


def gen_stack_across_yield(f):
    return f((yield 1), *(yield 2))


def imports():
    import os.path
    from os import path as p, sep
    import collections.abc as cabc
    return os.path is p, sep, cabc.Mapping.__name__


def loop_handlers(xs):
    out = []
    for x in xs:
        try:
            if x is None:
                continue
            out.append(10 // x)
        except ZeroDivisionError as e:
            out.append(str(e))
            continue
        finally:
            out.append("f")
        with Manager(out):
            if x == 2:
                continue
            if x == 3:
                break
    return out


def cell_args(a, b):
    def get():
        return a, b
    a = a + 1
    r1 = get()
    del b
    try:
        get()
    except NameError as e:
        return r1, str(e)


def self_assign(x):
    x = x
    y = x
    x = y
    return x, y


def nested_with_return(log):
    with Manager(log):
        with Manager(log, swallow=True):
            try:
                raise KeyError("k")
            finally:
                log.append("inner finally")
        return "after"


class Point:
    __match_args__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


def class_patterns(p):
    match p:
        case Point(0, y):
            return "on y axis", y
        case Point(x, y=0):
            return "on x axis", x
        case Point(x=a, y=b) if a == b:
            return "diagonal", a
        case _:
            return "elsewhere"


def exception_var_cleared(f):
    e = "before"
    try:
        f()
    except Exception as e:
        pass
    try:
        return e
    except UnboundLocalError:
        return "unbound"


CASES = [
    (loop_handlers, ([1, None, 0, 2, 5, 3, 4],)),
    (cell_args, (1, 2)),
    (self_assign, (4,)),
    (nested_with_return, ([],)),
    (class_patterns, (Point(0, 5),)), (class_patterns, (Point(3, 0),)),
    (class_patterns, (Point(2, 2),)), (class_patterns, (Point(1, 2),)), (class_patterns, (3,)),
    (exception_var_cleared, (int,)), (exception_var_cleared, (dict.popitem,)),
    (chained, (1, 2, 3)), (chained, (3, 2, 1)), (chained, (1, 3, 2)),
    (swaps, (1, 2, 3)),
    (walrus, ([1, 2, 3],)),
    (loops, (10,)), (loops, (0,)), (loops, (3,)),
    (maybe_unbound, (True,)), (maybe_unbound, (False,)),
    (deleted, (5,)),
    (exceptions, (int, "12")), (exceptions, (int, "x")), (exceptions, ({}.__getitem__, 1)),
    (exceptions, (lambda v: 1 / v, 0)), (exceptions, (len, 3)),
    (finally_flow, ([0, 5, 1, 2, 7],)), (finally_flow, ([3],)), (finally_flow, ([0, 1],)),
    (return_in_finally, (int,)), (return_in_finally, (list,)),
    (return_in_finally, (dict.fromkeys,)),
    (nested_try, (lambda v: v,)), (nested_try, (lambda v: 1 / (v - 1),)),
    (nested_try, (int.__neg__,)),
    (with_statements, ([], False, False)), (with_statements, ([], True, False)),
    (with_statements, ([], True, True)),
    (with_return, ([],)),
    (calls, (collect, (1, 2), {"k": 3})), (calls, (collect, (), {})),
    (calls, (collect, (1,), {"z": 1})),
    (comprehensions, ([1, 2, 3, 4],)),
    (closures, (2,)),
    (unpacking, ((1, 2, 3, 4),)), (unpacking, ((1,),)),
    (fstrings, (3.14159, 4)), (fstrings, ("é", 2)),
    (matching, ([1, 2, 3],)), (matching, ({"k": 1, "z": 2},)), (matching, (3j,)),
    (matching, ("s",)), (matching, (2,)), (matching, (None,)), (matching, (7.5,)),
    (matching, (1j,)),
    (globals_and_attrs, (types.SimpleNamespace(),)),
    (slices_and_items, ([1, 2, 3, 4],)),
    (boolean_ops, (0, 1, 2)), (boolean_ops, (1, 0, None)), (boolean_ops, (None, [], "c")),
    (asserts, (1,)), (asserts, (-1,)),
    (raises, (1,)), (raises, (2,)), (raises, (3,)), (raises, (4,)),
    (imports, ()),
]


@pytest.mark.parametrize("func, args", CASES,
                         ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(CASES)])
def test_ir_runs_like_cpython(func, args):
    run_both(func, *args)


def test_zero_argument_super():
    jitted = IRInterpreter(build_ir(Derived.hello), Derived.hello)
    assert jitted(Derived()) == Derived().hello()


def test_zero_argument_super_respects_a_rebound_name():
    namespace = {}
    exec("class A:\n"
         "    def m(self):\n"
         "        return super()\n", namespace)
    func = namespace["A"].m
    namespace["super"] = lambda *args: ("fake", args)
    jitted = IRInterpreter(build_ir(func), func)
    assert jitted(namespace["A"]()) == ("fake", ()) == func(namespace["A"]())


@pytest.mark.parametrize("sends, throw_at", [((), None), (("a", "b", None), None),
                                            ((1, 2, 3), 1)])
def test_generator(sends, throw_at):
    run_generator_both(gen_basic, 3, sends=sends, throw_at=throw_at)


@pytest.mark.parametrize("throw_at", [None, 0, 1, 5, 6])
def test_generator_yield_from(throw_at):
    run_generator_both(gen_yield_from, 2, sends=(None,) * 7, throw_at=throw_at)


def test_generator_stack_across_yield():
    run_generator_both(gen_stack_across_yield, collect, sends=("x", (1, 2)))


def test_register_read_before_write_is_caught():
    # The interpreter itself must notice a frontend that reads an unwritten register.
    fn = build_ir(chained)
    block = fn.blocks[fn.entry]
    block.ops.insert(0, ir.Move(ir.Reg("t999", "tmp"), ir.Reg("nowhere", "tmp")))
    with pytest.raises(AssertionError):
        IRInterpreter(fn, chained)(1, 2, 3)
