"""A reference interpreter for the register IR: every op with its documented meaning
(ir/ops.py) in plain Python.

It is not meant to be fast or complete (no sys.exc_info() bookkeeping beyond
PushExcInfo/PopExcept, no tracebacks); it is meant to pin down what the IR means, so that tests
can run a function through the IR and compare with CPython: a value in the wrong register
after a join, a handler reading the wrong stack slot, a wrong branch sense (the frontend), or
a typed op that computes what CPython would not, a deopt that loses or re-executes work (the
specializer).

Typed code (justjit.specialize): unboxed registers hold Python ints, floats and bools, and
the interpreter checks that each write fits its kind (an i64 register only ever holds an int
in [-2**63, 2**63)), so a typed op that would wrap around or produce a value C could not hold
is a failure here, not a silent difference. Box ops make new objects (PyLong_FromLongLong /
PyFloat_FromDouble), so identity behaves as in the compiled code. When the function is
specialized, `deopts` lists the transfer blocks entered, in order.
"""

from __future__ import annotations

import builtins
import collections.abc
import math
import operator
import struct
import types

from . import ops as ir

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
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_GUARD_CLASSES = {"int": int, "float": float, "bool": bool, "none": type(None), "str": str,
                  "bytes": bytes, "list": list, "tuple": tuple, "dict": dict, "set": set,
                  "complex": complex}


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
        spec = getattr(fn, "specialization", None)
        self.transfer_blocks = set(spec.transfers) if spec is not None else set()
        self.deopts: list[int] = []  # transfer blocks entered, in order (all calls)

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
                if nxt in self.transfer_blocks:
                    self.deopts.append(nxt)
                block, index = fn.blocks[nxt], 0
            except BaseException as e:  # noqa: BLE001 - route to the block's handler
                h = block.handler
                if h is None:
                    raise
                if h.lasti_dest is not None:
                    regs[h.lasti_dest] = -1
                regs[h.exc_dest] = e
                if h.target in self.transfer_blocks:
                    self.deopts.append(h.target)
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
        value = self.get(regs, op.src)
        if op.dest.kind in ir.UNBOXED_KINDS:
            self.put(regs, op.dest, value)
        else:
            regs[op.dest] = value

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


    # ---- typed code (justjit.specialize) -----------------------------------------------

    @staticmethod
    def put(regs, reg, value):
        """Write an unboxed register, checking the value fits its kind."""
        kind = reg.kind
        if kind == "i64":
            ok = type(value) is int and _I64_MIN <= value <= _I64_MAX
        elif kind == "f64":
            ok = type(value) is float
        elif kind == "b1":
            ok = type(value) is bool
        else:
            raise AssertionError(f"{reg} is not an unboxed register")
        if not ok:
            raise AssertionError(f"{reg} ({kind}) cannot hold {value!r}")
        regs[reg] = value

    def op_ClearLocal(self, op, regs, st):
        regs.pop(op.var, None)

    def op_ConstInt(self, op, regs, st):
        self.put(regs, op.dest, op.value)

    def op_ConstFloat(self, op, regs, st):
        self.put(regs, op.dest, op.value)

    def op_ConstBool(self, op, regs, st):
        self.put(regs, op.dest, op.value)

    def op_BoxInt(self, op, regs, st):
        # PyLong_FromLongLong: the cached object for a small int, else a new one.
        regs[op.dest] = int.__add__(self.get(regs, op.src), 0)

    def op_BoxFloat(self, op, regs, st):
        # PyFloat_FromDouble: always a new object, bit for bit.
        regs[op.dest] = struct.unpack("<d", struct.pack("<d", self.get(regs, op.src)))[0]

    def op_BoxBool(self, op, regs, st):
        regs[op.dest] = True if self.get(regs, op.src) else False

    def op_BoxRange(self, op, regs, st):
        step = self.get(regs, op.step)
        assert step != 0
        regs[op.dest] = range(self.get(regs, op.start), self.get(regs, op.stop), step)

    def op_BoxRangeIter(self, op, regs, st):
        step = self.get(regs, op.step)
        assert step != 0
        regs[op.dest] = iter(range(self.get(regs, op.cur), self.get(regs, op.stop), step))

    def op_UnboxInt(self, op, regs, st):
        value = self.get(regs, op.src)
        assert type(value) is int, f"UnboxInt of {type(value).__name__}"
        self.put(regs, op.dest, value)

    def op_UnboxFloat(self, op, regs, st):
        value = self.get(regs, op.src)
        assert type(value) is float, f"UnboxFloat of {type(value).__name__}"
        self.put(regs, op.dest, value)

    def op_UnboxBool(self, op, regs, st):
        value = self.get(regs, op.src)
        assert value is True or value is False, f"UnboxBool of {type(value).__name__}"
        self.put(regs, op.dest, value)

    def op_BoolToInt(self, op, regs, st):
        self.put(regs, op.dest, 1 if self.get(regs, op.src) else 0)

    def op_IntToFloat(self, op, regs, st):
        self.put(regs, op.dest, float(self.get(regs, op.src)))  # round half to even

    def op_IntBitwise(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        self.put(regs, op.dest, _BINARY[op.op](a, b))

    def op_FloatArith(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        self.put(regs, op.dest, _BINARY[op.op](a, b))

    def op_FloatUnary(self, op, regs, st):
        x = self.get(regs, op.operand)
        if op.op == "round":  # Python's round() of a finite float is the same integer
            self.put(regs, op.dest, math.copysign(float(round(x)), x) if math.isfinite(x) else x)
            return
        self.put(regs, op.dest, -x if op.op == "neg" else math.fabs(x))

    def op_IntCompare(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        self.put(regs, op.dest, _COMPARE[op.op](a, b))

    op_FloatCompare = op_IntCompare

    def op_Truth(self, op, regs, st):
        self.put(regs, op.dest, (self.get(regs, op.src) != 0) != op.negate)

    def op_IntMinMax(self, op, regs, st):
        values = [self.get(regs, a) for a in op.args]
        self.put(regs, op.dest, min(values) if op.op == "min" else max(values))

    def op_FloatMinMax(self, op, regs, st):
        values = [self.get(regs, a) for a in op.args]
        r = values[0]
        for x in values[1:]:
            if (x < r) if op.op == "min" else (x > r):
                r = x
        self.put(regs, op.dest, r)

    def op_TypedLen(self, op, regs, st):
        obj = self.get(regs, op.obj)
        assert type(obj).__name__ == op.of, (type(obj), op.of)
        self.put(regs, op.dest, len(obj))

    def op_GuardType(self, op, regs, st):
        value = self.get(regs, op.src)
        want = _GUARD_CLASSES[op.type_name]
        holds = type(value) is want
        if holds and want is int:
            holds = _I64_MIN <= value <= _I64_MAX
        return op.ok if holds else op.deopt

    def op_GuardIdentity(self, op, regs, st):
        return op.ok if self.get(regs, op.src) is op.expected else op.deopt

    def op_GlobalIs(self, op, regs, st):
        missing = object()
        found = self.globals.get(op.name, missing)
        if found is missing:
            found = self.builtins.get(op.name, missing)
        return op.ok if found is op.expected else op.deopt

    def op_ModuleAttrIs(self, op, regs, st):
        return op.ok if op.module.__dict__.get(op.name) is op.expected else op.deopt

    def op_SetAttrFloat(self, op, regs, st):
        setattr(self.get(regs, op.obj), op.name, self.get(regs, op.value))

    def op_GuardClass(self, op, regs, st):
        return op.ok if type(self.get(regs, op.src)) is op.cls else op.deopt

    def op_IntArith(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        if op.op in ("<<", ">>"):
            if b < 0:
                return op.deopt
            if b >= 64:
                result = (0 if a == 0 else None) if op.op == "<<" else (-1 if a < 0 else 0)
            else:
                result = a << b if op.op == "<<" else a >> b
        elif op.op in ("//", "%") and b == 0:
            return op.deopt
        elif op.op == "**" and b < 0:
            return op.deopt
        else:
            result = _BINARY[op.op](a, b)
        if result is None or not _I64_MIN <= result <= _I64_MAX:
            return op.deopt
        self.put(regs, op.dest, result)
        return op.ok

    def op_IntUnary(self, op, regs, st):
        x = self.get(regs, op.operand)
        if x == _I64_MIN:
            return op.deopt
        self.put(regs, op.dest, -x if op.op == "neg" else abs(x))
        return op.ok

    def op_FloatDivide(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        if b == 0.0:
            return op.deopt
        self.put(regs, op.dest, _BINARY[op.op](a, b))  # CPython's float_div/float_rem/divmod
        return op.ok

    def op_FloatPow(self, op, regs, st):
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        if (not (math.isfinite(a) and math.isfinite(b)) or (a == 0.0 and b < 0.0)
                or (a < 0.0 and b != int(b))):
            return op.deopt
        try:
            result = a ** b
        except OverflowError:  # (errno set; an underflow's ERANGE is not seen here)
            return op.deopt
        if not math.isfinite(result):
            return op.deopt
        self.put(regs, op.dest, result)
        return op.ok

    def op_IntToFloatExact(self, op, regs, st):
        x = self.get(regs, op.src)
        if not -(1 << 53) <= x <= (1 << 53):
            return op.deopt
        self.put(regs, op.dest, float(x))
        return op.ok

    def op_FloatToInt(self, op, regs, st):
        x = self.get(regs, op.src)
        if math.isnan(x) or math.isinf(x):
            return op.deopt
        result = int(x)
        if not _I64_MIN <= result <= _I64_MAX:
            return op.deopt
        self.put(regs, op.dest, result)
        return op.ok

    def op_MathFunc(self, op, regs, st):
        x = self.get(regs, op.arg)
        if op.name in ("floor", "ceil", "trunc"):
            # The C functions: a double; inf and nan come back as they are.
            result = x if math.isinf(x) or math.isnan(x) else float(getattr(math, op.name)(x))
        else:
            # The math module raises exactly where C would deopt (or a subset of those
            # cases: the generic call then gives the same value), so model a deopt by it.
            try:
                result = getattr(math, op.name)(x)
            except (ValueError, OverflowError):
                return op.deopt
        self.put(regs, op.dest, result)
        return op.ok

    def op_SeqLoad(self, op, regs, st):
        seq, index = self.get(regs, op.seq), self.get(regs, op.index)
        assert type(seq).__name__ == op.of, (type(seq), op.of)
        if not -len(seq) <= index < len(seq):
            return op.deopt
        item = seq[index]
        kind = op.dest.kind
        if kind == "f64" and type(item) is not float:
            return op.deopt
        if kind == "i64" and not (type(item) is int and _I64_MIN <= item <= _I64_MAX):
            return op.deopt
        if kind in ("i64", "f64"):
            self.put(regs, op.dest, item)
        else:
            regs[op.dest] = item
        return op.ok

    def op_ListStore(self, op, regs, st):
        seq, index = self.get(regs, op.seq), self.get(regs, op.index)
        assert type(seq) is list, type(seq)
        if not -len(seq) <= index < len(seq):
            return op.deopt
        seq[index] = self.get(regs, op.value)  # f64: a new float; b1: True or False
        return op.ok

    # numpy (ops.GuardArray ...): numpy itself computes, under errstate "raise" so that any
    # warning or error numpy would give is a deopt, as the C helpers decline.

    def op_GuardArray(self, op, regs, st):
        from ..fingerprint import array_profile
        key = array_profile(self.get(regs, op.src))
        return op.ok if key == (op.dtype, op.ndim, op.layout) else op.deopt

    def _np_slot(self, regs, op):
        """The non-negative indices of arr[indices] when arr is still of op's dtype and ndim
        and they are in range, else None."""
        from ..fingerprint import array_profile
        arr, indices = self.get(regs, op.arr), [self.get(regs, r) for r in op.indices]
        key = array_profile(arr)
        if key is None or key[:2] != (op.dtype, len(indices)) or not all(
                -n <= i < n for i, n in zip(indices, arr.shape)):
            return None
        return tuple(i % n for i, n in zip(indices, arr.shape))

    def op_ArrayLoad(self, op, regs, st):
        arr, i = self.get(regs, op.arr), self._np_slot(regs, op)
        if i is None:
            return op.deopt
        self.put(regs, op.dest, (float if op.dest.kind == "f64" else int)(arr[i]))
        return op.ok

    def op_ArrayStore(self, op, regs, st):
        import numpy as np
        arr, value, i = self.get(regs, op.arr), self.get(regs, op.value), self._np_slot(regs, op)
        if i is None or not arr.flags.writeable:
            return op.deopt
        if op.cast == "trunc":
            if not math.isfinite(value):
                return op.deopt
            value = int(value)
        try:
            with np.errstate(all="raise"):
                converted = np.dtype(op.dtype).type(value)
        except (OverflowError, FloatingPointError):
            return op.deopt
        if op.cast == "exact" and converted != value and value == value:
            raise AssertionError(f"ArrayStore exact of {value!r} into {op.dtype}")
        arr[i] = converted
        return op.ok

    def op_NpArith(self, op, regs, st):
        import numpy as np
        a, b = self.get(regs, op.left), self.get(regs, op.right)
        cls = getattr(np, op.dtype)
        if op.dtype.startswith("int"):
            info = np.iinfo(cls)
            exact = {"+": a + b, "-": a - b, "*": a * b}[op.op]
            if not all(info.min <= x <= info.max for x in (a, b, exact)):
                return op.deopt
            self.put(regs, op.dest, exact)
            return op.ok
        try:
            with np.errstate(all="raise"):
                x = _BINARY[op.op](cls(a), cls(b))
        except (FloatingPointError, ZeroDivisionError):
            return op.deopt
        if not math.isfinite(x):
            return op.deopt
        self.put(regs, op.dest, float(x))
        return op.ok

    def op_BoxNumpy(self, op, regs, st):
        import numpy as np
        regs[op.dest] = getattr(np, op.dtype)(self.get(regs, op.src))

    def op_BoxIntTuple(self, op, regs, st):
        regs[op.dest] = tuple(self.get(regs, r) for r in op.items)

    def op_BoxFloatOrNumpy(self, op, regs, st):
        import numpy as np
        value = self.get(regs, op.src)
        regs[op.dest] = np.float64(value) if self.get(regs, op.is_numpy) else float(value)

    def op_SelfCall(self, op, regs, st):
        # The reference semantics of a direct self-call is the generic call it stands for:
        # declining is always allowed, and this interpreter has no direct body to run.
        return op.decline

    def op_DirectResult(self, op, regs, st):
        raise AssertionError("DirectResult is reached only after a SelfCall went dirty")

    def op_DirectBudget(self, op, regs, st):
        regs[op.dest] = False  # the SelfCall then declines (see op_SelfCall)

    def op_LeafBudget(self, op, regs, st):
        regs[op.dest] = True  # run the inline copy: its answers must be the call's

    def op_ReturnUnboxed(self, op, regs, st):
        return _Return(self.get(regs, op.value))

    def op_TypedCondBranch(self, op, regs, st):
        return op.if_true if self.get(regs, op.cond) else op.if_false

    def op_RangeIterNext(self, op, regs, st):
        cur, stop, step = (self.get(regs, r) for r in (op.cur, op.stop, op.step))
        assert step != 0
        if not (cur < stop if step > 0 else cur > stop):
            return op.exit
        self.put(regs, op.dest, cur)
        nxt = cur + step
        self.put(regs, op.cur, nxt if _I64_MIN <= nxt <= _I64_MAX else stop)
        return op.body


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


