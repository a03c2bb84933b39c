"""Run the frontend's IR with a small reference interpreter and compare with CPython.

`IRInterpreter` gives every op its documented meaning (ir/ops.py) in plain Python. It is not
meant to be fast or complete (no sys.exc_info() bookkeeping beyond PushExcInfo/PopExcept, no
tracebacks); it is meant to catch frontend bugs that verification cannot see: a value in the
wrong register after a join, a handler reading the wrong stack slot, a lost copy-on-write, a
wrong branch sense. Each test runs a function plainly and through build_ir + the interpreter
and compares the return value (or the exception's type and message) and the arguments' state.
"""

from __future__ import annotations

import builtins
import collections.abc
import copy
import operator
import types

import pytest

from justjit.frontend import build_ir
from justjit.ir import ops as ir

_BINARY = {
    "+": operator.add, "&": operator.and_, "//": operator.floordiv, "<<": operator.lshift,
    "@": operator.matmul, "*": operator.mul, "%": operator.mod, "|": operator.or_,
    "**": operator.pow, ">>": operator.rshift, "-": operator.sub, "/": operator.truediv,
    "^": operator.xor,
    "+=": operator.iadd, "&=": operator.iand, "//=": operator.ifloordiv,
    "<<=": operator.ilshift, "@=": operator.imatmul, "*=": operator.imul,
    "%=": operator.imod, "|=": operator.ior, "**=": operator.ipow, ">>=": operator.irshift,
    "-=": operator.isub, "/=": operator.itruediv, "^=": operator.ixor,
}
_UNARY = {"neg": operator.neg, "pos": operator.pos, "invert": operator.invert,
          "not": operator.not_}
_COMPARE = {"<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
            ">": operator.gt, ">=": operator.ge}
_UNBOUND = object()


class _Unbound(Exception):
    pass


class IRInterpreter:
    """Calls of an IRFunction: `IRInterpreter(fn, func)(*args, **kwargs)`."""

    def __init__(self, fn: ir.IRFunction, func: types.FunctionType):
        self.fn = fn
        self.func = func
        self.globals = func.__globals__
        self.builtins = self.globals.get("__builtins__", builtins)
        if isinstance(self.builtins, types.ModuleType):
            self.builtins = self.builtins.__dict__

        self.bind = _binder(func)

    def __call__(self, *args, **kwargs):
        regs = dict(zip(self.fn.args, self.bind(*args, **kwargs)))
        if self.fn.is_generator:
            return self._generator(regs)
        outcome = self._advance(self.fn.blocks[self.fn.entry], 0, regs, {"handled": [None]})
        assert outcome[0] == "return", "a non-generator function yielded"
        return outcome[1]

    def _advance(self, block, index, regs, st, exc=None):
        """Run from op `index` of `block` until a Return ("return", value) or a Yield /
        YieldFrom ("suspend", suspension, op, block, next index). An exception raised by an op
        (or `exc`, thrown in at that point) goes to the block's handler."""
        fn = self.fn
        while True:
            try:
                if exc is not None:
                    pending, exc = exc, None
                    raise pending
                while index < len(block.ops):
                    op = block.ops[index]
                    index += 1
                    result = getattr(self, "op_" + type(op).__name__)(op, regs, st)
                    if isinstance(result, _Suspend):
                        return ("suspend", result, op, block, index)
                term = block.terminator
                nxt = getattr(self, "op_" + type(term).__name__)(term, regs, st)
                if isinstance(nxt, _Return):
                    return ("return", nxt.value)
                block, index = fn.blocks[nxt], 0
            except BaseException as e:  # noqa: BLE001 - route to the block's handler
                h = block.handler
                if h is None:
                    raise
                if h.lasti_dest is not None:
                    regs[h.lasti_dest] = -1
                regs[h.exc_dest] = e
                block, index = fn.blocks[h.target], 0

    def _generator(self, regs):
        """Yield / YieldFrom become Python's yield / yield from, so send, throw and close
        behave as in CPython; what is thrown in re-enters at the suspended op."""
        st = {"handled": [None]}
        block, index, exc = self.fn.blocks[self.fn.entry], 0, None
        while True:
            outcome = self._advance(block, index, regs, st, exc)
            exc = None
            if outcome[0] == "return":
                return outcome[1]
            _, suspension, op, block, index = outcome
            try:
                regs[op.dest] = yield from suspension.gen()
            except BaseException as e:  # noqa: BLE001
                exc = e

    # ---- helpers -------------------------------------------------------------------------

    @staticmethod
    def get(regs, reg):
        value = regs.get(reg, _UNBOUND)
        if value is _UNBOUND:
            raise AssertionError(f"register {reg} read before it was written")
        return value

    # ---- ops -----------------------------------------------------------------------------

    def op_Move(self, op, regs, st):
        regs[op.dest] = self.get(regs, op.src)

    def op_LoadConst(self, op, regs, st):
        regs[op.dest] = op.value

    def op_CheckBound(self, op, regs, st):
        if op.var not in regs:
            raise UnboundLocalError(f"cannot access local variable '{op.var.name}' where it "
                                    "is not associated with a value")

    def op_DeleteLocal(self, op, regs, st):
        del regs[op.var]

    def op_BinaryOp(self, op, regs, st):
        regs[op.dest] = _BINARY[op.op](self.get(regs, op.left), self.get(regs, op.right))

    def op_UnaryOp(self, op, regs, st):
        regs[op.dest] = _UNARY[op.op](self.get(regs, op.operand))

    def op_Compare(self, op, regs, st):
        regs[op.dest] = _COMPARE[op.op](self.get(regs, op.left), self.get(regs, op.right))

    def op_IsOp(self, op, regs, st):
        regs[op.dest] = (self.get(regs, op.left) is self.get(regs, op.right)) != op.negate

    def op_ContainsOp(self, op, regs, st):
        regs[op.dest] = (self.get(regs, op.item) in self.get(regs, op.container)) != op.negate

    def op_LoadGlobal(self, op, regs, st):
        if op.name in self.globals:
            regs[op.dest] = self.globals[op.name]
        elif op.name in self.builtins:
            regs[op.dest] = self.builtins[op.name]
        else:
            raise NameError(f"name '{op.name}' is not defined")

    def op_StoreGlobal(self, op, regs, st):
        self.globals[op.name] = self.get(regs, op.value)

    def op_DeleteGlobal(self, op, regs, st):
        try:
            del self.globals[op.name]
        except KeyError:
            raise NameError(f"name '{op.name}' is not defined") from None

    def op_MakeCell(self, op, regs, st):
        if op.initial is not None and op.initial in regs:
            regs[op.cell] = types.CellType(regs[op.initial])
        else:
            regs[op.cell] = types.CellType()

    def op_LoadFreeCell(self, op, regs, st):
        regs[op.cell] = self.func.__closure__[op.index]

    def op_LoadDeref(self, op, regs, st):
        try:
            regs[op.dest] = self.get(regs, op.cell).cell_contents
        except ValueError:
            if op.is_free:
                raise NameError(f"cannot access free variable '{op.name}' where it is not "
                                "associated with a value in enclosing scope") from None
            raise UnboundLocalError(f"cannot access local variable '{op.name}' where it is "
                                    "not associated with a value") from None

    def op_StoreDeref(self, op, regs, st):
        self.get(regs, op.cell).cell_contents = self.get(regs, op.value)

    def op_DeleteDeref(self, op, regs, st):
        cell = self.get(regs, op.cell)
        try:
            cell.cell_contents
        except ValueError:
            raise UnboundLocalError(f"cannot access local variable '{op.name}' where it is "
                                    "not associated with a value") from None
        del cell.cell_contents

    def op_GetAttr(self, op, regs, st):
        regs[op.dest] = getattr(self.get(regs, op.obj), op.name)

    def op_SetAttr(self, op, regs, st):
        setattr(self.get(regs, op.obj), op.name, self.get(regs, op.value))

    def op_DelAttr(self, op, regs, st):
        delattr(self.get(regs, op.obj), op.name)

    def op_GetItem(self, op, regs, st):
        regs[op.dest] = self.get(regs, op.obj)[self.get(regs, op.key)]

    def op_SetItem(self, op, regs, st):
        self.get(regs, op.obj)[self.get(regs, op.key)] = self.get(regs, op.value)

    def op_DelItem(self, op, regs, st):
        del self.get(regs, op.obj)[self.get(regs, op.key)]

    def op_BuildSlice(self, op, regs, st):
        step = None if op.step is None else self.get(regs, op.step)
        regs[op.dest] = slice(self.get(regs, op.start), self.get(regs, op.stop), step)

    def op_Call(self, op, regs, st):
        args = [self.get(regs, a) for a in op.args]
        k = len(op.kwnames)
        pos, kw = (args[:-k], args[-k:]) if k else (args, [])
        regs[op.dest] = self.get(regs, op.func)(*pos, **dict(zip(op.kwnames, kw)))

    def op_CallEx(self, op, regs, st):
        kwargs = {} if op.kwargs is None else self.get(regs, op.kwargs)
        regs[op.dest] = self.get(regs, op.func)(*self.get(regs, op.args), **kwargs)

    def op_MakeFunction(self, op, regs, st):
        defaults = None if op.defaults is None else self.get(regs, op.defaults)
        closure = None if op.closure is None else self.get(regs, op.closure)
        f = types.FunctionType(op.code, self.globals, op.code.co_name, defaults, closure)
        f.__qualname__ = op.code.co_qualname
        if op.kwdefaults is not None:
            f.__kwdefaults__ = self.get(regs, op.kwdefaults)
        if op.annotations is not None:
            flat = self.get(regs, op.annotations)
            f.__annotations__ = dict(zip(flat[::2], flat[1::2]))
        regs[op.dest] = f

    def op_LoadBuildClass(self, op, regs, st):
        regs[op.dest] = self.builtins["__build_class__"]

    def op_LoadAssertionError(self, op, regs, st):
        regs[op.dest] = AssertionError

    def op_ImportName(self, op, regs, st):
        regs[op.dest] = __import__(op.name, self.globals, None, self.get(regs, op.fromlist),
                                   self.get(regs, op.level))

    def op_ImportFrom(self, op, regs, st):
        regs[op.dest] = getattr(self.get(regs, op.module), op.name)

    def op_BuildTuple(self, op, regs, st):
        regs[op.dest] = tuple(self.get(regs, r) for r in op.items)

    def op_BuildList(self, op, regs, st):
        regs[op.dest] = [self.get(regs, r) for r in op.items]

    def op_BuildSet(self, op, regs, st):
        regs[op.dest] = {self.get(regs, r) for r in op.items}

    def op_BuildMap(self, op, regs, st):
        d = {}
        for k, v in zip(op.keys, op.values):
            d[self.get(regs, k)] = self.get(regs, v)
        regs[op.dest] = d

    def op_BuildConstKeyMap(self, op, regs, st):
        regs[op.dest] = dict(zip(op.keys, (self.get(regs, v) for v in op.values)))

    def op_BuildString(self, op, regs, st):
        regs[op.dest] = "".join(self.get(regs, p) for p in op.parts)

    def op_FormatValue(self, op, regs, st):
        value = self.get(regs, op.value)
        conv = {None: lambda v: v, "s": str, "r": repr, "a": ascii}[op.conversion]
        spec = "" if op.spec is None else self.get(regs, op.spec)
        regs[op.dest] = format(conv(value), spec)

    def op_ListToTuple(self, op, regs, st):
        regs[op.dest] = tuple(self.get(regs, op.list_))

    def op_ListAppend(self, op, regs, st):
        self.get(regs, op.list_).append(self.get(regs, op.value))

    def op_ListExtend(self, op, regs, st):
        self.get(regs, op.list_).extend(self.get(regs, op.iterable))

    def op_SetAdd(self, op, regs, st):
        self.get(regs, op.set_).add(self.get(regs, op.value))

    def op_SetUpdate(self, op, regs, st):
        self.get(regs, op.set_).update(self.get(regs, op.iterable))

    def op_MapAdd(self, op, regs, st):
        self.get(regs, op.dict_)[self.get(regs, op.key)] = self.get(regs, op.value)

    def op_DictUpdate(self, op, regs, st):
        self.get(regs, op.dict_).update(self.get(regs, op.mapping))

    def op_DictMerge(self, op, regs, st):
        target, mapping = self.get(regs, op.dict_), self.get(regs, op.mapping)
        for key in mapping.keys():
            if key in target:
                raise TypeError(f"{_function_str(self.get(regs, op.func))} got multiple "
                                f"values for keyword argument '{key}'")
            target[key] = mapping[key]

    def op_GetIter(self, op, regs, st):
        regs[op.dest] = iter(self.get(regs, op.obj))

    def op_GetYieldFromIter(self, op, regs, st):
        obj = self.get(regs, op.obj)
        regs[op.dest] = obj if isinstance(obj, types.GeneratorType) else iter(obj)

    def op_UnpackSequence(self, op, regs, st):
        items = list(self.get(regs, op.src))
        n = len(op.dests)
        if len(items) < n:
            raise ValueError(f"not enough values to unpack (expected {n}, got {len(items)})")
        if len(items) > n:
            raise ValueError(f"too many values to unpack (expected {n})")
        for reg, value in zip(op.dests, items):
            regs[reg] = value

    def op_UnpackEx(self, op, regs, st):
        items = list(self.get(regs, op.src))
        if len(items) < op.before + op.after:
            raise ValueError("not enough values to unpack (expected at least "
                             f"{op.before + op.after}, got {len(items)})")
        end = len(items) - op.after
        values = items[:op.before] + [items[op.before:end]] + items[end:]
        for reg, value in zip(op.dests, values):
            regs[reg] = value

    def op_PushExcInfo(self, op, regs, st):
        regs[op.prev] = st["handled"][-1]
        st["handled"].append(self.get(regs, op.exc))

    def op_PopExcept(self, op, regs, st):
        st["handled"].pop()

    def op_CheckExcMatch(self, op, regs, st):
        match_type = self.get(regs, op.match_type)
        types_ = match_type if isinstance(match_type, tuple) else (match_type,)
        for t in types_:
            if not (isinstance(t, type) and issubclass(t, BaseException)):
                raise TypeError("catching classes that do not inherit from BaseException "
                                "is not allowed")
        regs[op.dest] = isinstance(self.get(regs, op.exc), match_type)

    def op_BeforeWith(self, op, regs, st):
        mgr = self.get(regs, op.manager)
        enter = type(mgr).__enter__
        regs[op.exit] = type(mgr).__exit__.__get__(mgr)
        regs[op.result] = enter(mgr)

    def op_WithExceptStart(self, op, regs, st):
        exc = self.get(regs, op.exc)
        regs[op.dest] = self.get(regs, op.exit)(type(exc), exc, exc.__traceback__)

    def op_GetLen(self, op, regs, st):
        regs[op.dest] = len(self.get(regs, op.obj))

    def op_MatchMapping(self, op, regs, st):
        regs[op.dest] = isinstance(self.get(regs, op.subject), collections.abc.Mapping)

    def op_MatchSequence(self, op, regs, st):
        s = self.get(regs, op.subject)
        regs[op.dest] = (isinstance(s, collections.abc.Sequence)
                         and not isinstance(s, (str, bytes, bytearray)))

    def op_MatchKeys(self, op, regs, st):
        subject, keys = self.get(regs, op.subject), self.get(regs, op.keys)
        missing = object()
        values = []
        for key in keys:
            value = subject.get(key, missing)
            if value is missing:
                regs[op.dest] = None
                return
            values.append(value)
        regs[op.dest] = tuple(values)

    def op_MatchClass(self, op, regs, st):
        subject, cls = self.get(regs, op.subject), self.get(regs, op.cls)
        names = self.get(regs, op.names)
        if not isinstance(subject, cls):
            regs[op.dest] = None
            return
        attrs = []
        if op.nargs:
            match_args = getattr(cls, "__match_args__", ())
            for name in match_args[:op.nargs]:
                attrs.append(getattr(subject, name))
        for name in names:
            if not hasattr(subject, name):
                regs[op.dest] = None
                return
            attrs.append(getattr(subject, name))
        regs[op.dest] = tuple(attrs)

    def op_Yield(self, op, regs, st):
        value = self.get(regs, op.value)

        def gen():
            return (yield value)
        return _Suspend(gen)

    def op_YieldFrom(self, op, regs, st):
        iterator = self.get(regs, op.iterator)

        def gen():
            return (yield from iterator)
        return _Suspend(gen)

    # ---- terminators ---------------------------------------------------------------------

    def op_Jump(self, op, regs, st):
        return op.target

    def op_CondBranch(self, op, regs, st):
        value = self.get(regs, op.cond)
        holds = bool(value) if op.test == "truth" else value is None
        return op.if_true if holds else op.if_false

    def op_ForIter(self, op, regs, st):
        try:
            regs[op.dest] = next(self.get(regs, op.iterator))
        except StopIteration:
            return op.exit
        return op.body

    def op_Return(self, op, regs, st):
        return _Return(self.get(regs, op.value))

    def op_Raise(self, op, regs, st):
        if op.exc is None:
            exc = st["handled"][-1]
            if exc is None:
                raise RuntimeError("No active exception to reraise")
            raise exc
        exc = self.get(regs, op.exc)
        if op.cause is not None:
            raise exc from self.get(regs, op.cause)
        raise exc

    def op_Reraise(self, op, regs, st):
        raise self.get(regs, op.exc)


def _binder(func):
    """A function with `func`'s signature (names, defaults, error messages) that returns its
    arguments in co_varnames order."""
    c = func.__code__
    names = list(c.co_varnames[:c.co_argcount + c.co_kwonlyargcount])
    pos, kwonly = names[:c.co_argcount], names[c.co_argcount:]
    parts = pos[:c.co_posonlyargcount] + (["/"] if c.co_posonlyargcount else [])
    parts += pos[c.co_posonlyargcount:]
    i = len(names)
    if c.co_flags & 0x04:  # CO_VARARGS
        parts.append("*" + c.co_varnames[i])
        names.append(c.co_varnames[i])
        i += 1
    elif kwonly:
        parts.append("*")
    parts += kwonly
    if c.co_flags & 0x08:  # CO_VARKEYWORDS
        parts.append("**" + c.co_varnames[i])
        names.append(c.co_varnames[i])
    namespace = {}
    exec(f"def binder({', '.join(parts)}):\n    return ({''.join(n + ', ' for n in names)})\n",
         namespace)
    binder = namespace["binder"]
    binder.__code__ = binder.__code__.replace(co_name=c.co_name, co_qualname=c.co_qualname)
    binder.__defaults__ = func.__defaults__
    binder.__kwdefaults__ = func.__kwdefaults__
    return binder


def _function_str(func) -> str:
    """CPython's _PyObject_FunctionStr: "module.qualname()" (no module for builtins)."""
    qualname = getattr(func, "__qualname__", None)
    if qualname is None:
        return type(func).__name__ + " object"
    module = getattr(func, "__module__", None)
    if module is not None and module != "builtins":
        return f"{module}.{qualname}()"
    return f"{qualname}()"


class _Return:
    def __init__(self, value):
        self.value = value


class _Suspend:
    def __init__(self, gen):
        self.gen = gen


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
