"""The Cython rendering of typed ops (justjit/ir/ops.py, "Typed code"; see justjit/specialize.py
for the contract): a mixin of `_Emitter` in emitter.py.

- Unboxed registers are C locals: `cdef int64_t` (i64), `cdef double` (f64), `cdef bint` (b1),
  named `u<suffix>_<register base>` (`%s.i` -> `ui_s`, `%t1.cur` -> `ucur_t1`), so the .pyx
  shows which registers were unboxed. They are never refcounted or released.
- Every int operation and every op that may deopt is a call of a jj_typed.h helper, never a
  Cython operator (Cython's `//` and `%` would add Python's checks and raise). A helper of an op
  that may deopt returns 1 when the generic code must run the operation instead, and writes its
  result into the temporary `__jj_ti` / `__jj_tf`; the ok arm copies it into the destination
  first, so the deopt arm sees every register as it was:

      if JJ_IntAdd(ui_s, ui_t3, &__jj_ti):   # deopt: int64 overflow
          ...transfer into the generic code...
      else:
          ui_s = __jj_ti
          ...
"""

from __future__ import annotations

import math
import struct

from ..ir import ops as ir
from ..ir.ops import Reg
from .names import mangle

UNBOXED_KINDS = {"i64": "int64_t", "f64": "double", "b1": "bint"}
# The C temporary each kind of typed result goes through (see the module docstring).
RESULT_TEMP = {"i64": "__jj_ti", "f64": "__jj_tf"}
# SeqLoad's element object goes through a borrowed pointer (the ok arm's assignment to the
# object register takes the reference).
OBJECT_TEMP = "__jj_to"

INT_ARITH_HELPERS = {"+": "JJ_IntAdd", "-": "JJ_IntSub", "*": "JJ_IntMul",
                     "//": "JJ_IntFloorDiv", "%": "JJ_IntMod", "<<": "JJ_IntLshift",
                     ">>": "JJ_IntRshift", "**": "JJ_IntPow"}
INT_UNARY_HELPERS = {"neg": "JJ_IntNeg", "abs": "JJ_IntAbs"}
FLOAT_DIVIDE_HELPERS = {"/": "JJ_FloatDiv", "//": "JJ_FloatFloorDiv", "%": "JJ_FloatMod"}
GUARD_HELPERS = {name: "JJ_Guard" + name.capitalize() for name in ir.GUARD_TYPES}
C_COMPARE = {"<": "<", "<=": "<=", "==": "==", "!=": "!=", ">": ">", ">=": ">="}
INT64_MIN = -2 ** 63

# Why each kind of typed terminator may go to its deopt block (a comment in the .pyx).
DEOPT_REASONS = {
    "GuardType": "guard: {type_name}",
    "GuardIdentity": "guard: identity",
    # (the class's address too: a generated module is shared by every function whose .pyx
    # text is the same, and its constants, the class among them, are the module's own)
    "GuardClass": "guard: class {cls}",
    "GlobalIs": "guard: the global is still that object",
    "ModuleAttrIs": "guard: the module attribute is still that object",
    "IntArith": "deopt: int64 result or error",
    "IntUnary": "deopt: int64 result",
    "FloatDivide": "deopt: zero divisor",
    "FloatPow": "deopt: zero, inf or nan operand, complex result, overflow or underflow",
    "IntToFloatExact": "deopt: inexact conversion",
    "FloatToInt": "deopt: nan, inf or out of int64",
    "MathFunc": "deopt: domain or range error",
    "SeqLoad": "deopt: index out of range or another element type",
    "ListStore": "deopt: index out of range",
    "GuardArray": "guard: ndarray[{dtype},{ndim}d,{layout}]",
    "ArrayLoad": "deopt: index out of range or array changed",
    "ArrayStore": "deopt: index out of range, read-only, array changed or a cast numpy checks",
    "NpArith": "deopt: numpy would wrap, warn or raise",
}


def _numpy():
    """numpy, for the classes the generated code checks and makes (imported by whoever made
    the array that a specialization is for)."""
    import numpy
    return numpy


def unboxed_name(r: Reg) -> str:
    """The C local of an unboxed register (an injective encoding: the suffix is alphanumeric
    and ends at the first underscore; other names keep mangle's "u_" form)."""
    base, dot, suffix = r.name.rpartition(".")
    if dot and suffix.isascii() and suffix.isalnum():
        return mangle("u" + suffix, base)
    return mangle("u", r.name)


def int_literal(value: int) -> str:
    if value == INT64_MIN:
        return "(-9223372036854775807 - 1)"
    return f"<int64_t>{int(value)}"


def float_literal(value: float) -> str:
    """`value` bit for bit: a decimal that round-trips when finite (C compilers round decimal
    literals correctly), else its bytes (nan payload and sign, inf, -0.0)."""
    if math.isfinite(value) and not (value == 0.0 and math.copysign(1.0, value) < 0):
        return repr(float(value))
    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    return f"JJ_DoubleFromBits({bits >> 32:#x}, {bits & 0xFFFFFFFF:#x})  # {value!r}"


def _class_label(cls) -> str:
    if cls is None:
        return ""
    return f"{getattr(cls, '__module__', '?')}.{cls.__qualname__} at {id(cls):#x}"


class TypedOps:
    """op_<TypedOp> renderings and the dispatch of typed terminators, for `_Emitter`."""

    TERMINATORS = (ir.GuardType, ir.GuardIdentity, ir.GuardClass, ir.GlobalIs,
                   ir.ModuleAttrIs, ir.IntArith, ir.IntUnary, ir.FloatDivide, ir.FloatPow,
                   ir.IntToFloatExact, ir.FloatToInt, ir.MathFunc, ir.SeqLoad, ir.ListStore,
                   ir.TypedCondBranch, ir.RangeIterNext, ir.GuardArray, ir.ArrayLoad,
                   ir.ArrayStore, ir.NpArith)

    # ---- ops that cannot fail ----

    def op_ClearLocal(self, op: ir.ClearLocal):
        self.uses.add("unbound")
        return f"{self.reg(op.var)} = __jj_UNBOUND"

    def op_ConstInt(self, op: ir.ConstInt):
        return f"{self.reg(op.dest)} = {int_literal(op.value)}"

    def op_ConstFloat(self, op: ir.ConstFloat):
        return f"{self.reg(op.dest)} = {float_literal(op.value)}"

    def op_ConstBool(self, op: ir.ConstBool):
        return f"{self.reg(op.dest)} = {int(bool(op.value))}"

    def op_BoxInt(self, op: ir.BoxInt):
        return f"{self.reg(op.dest)} = JJ_BoxInt({self.reg(op.src)})"

    def op_BoxFloat(self, op: ir.BoxFloat):
        return f"{self.reg(op.dest)} = JJ_BoxFloat({self.reg(op.src)})"

    def op_BoxBool(self, op: ir.BoxBool):
        return f"{self.reg(op.dest)} = True if {self.reg(op.src)} else False"

    def op_BoxRange(self, op: ir.BoxRange):
        return (f"{self.reg(op.dest)} = JJ_BoxRange({self.reg(op.start)}, "
                f"{self.reg(op.stop)}, {self.reg(op.step)})")

    def op_BoxRangeIter(self, op: ir.BoxRangeIter):
        return (f"{self.reg(op.dest)} = JJ_BoxRangeIter({self.reg(op.cur)}, "
                f"{self.reg(op.stop)}, {self.reg(op.step)})")

    def op_BoxNumpy(self, op: ir.BoxNumpy):
        self._np_dtype(op.dtype)
        cls = self.p_const(getattr(_numpy(), op.dtype))
        return f"{self.reg(op.dest)} = JJ_BoxNumpy_{op.dtype}({cls}, {self.reg(op.src)})"

    def op_BoxFloatOrNumpy(self, op: ir.BoxFloatOrNumpy):
        cls = self.p_const(_numpy().float64)
        return (f"{self.reg(op.dest)} = JJ_BoxNumpy_float64({cls}, {self.reg(op.src)}) "
                f"if {self.reg(op.is_numpy)} else JJ_BoxFloat({self.reg(op.src)})")

    def _np_slot(self, term, write: bool) -> str:
        """The element's address (NULL: decline) for ArrayLoad / ArrayStore: jj_numpy.h's
        JJ_NpSlot<ndim>, which checks the array's dtype, ndim, the indices (and write
        access) at each access."""
        if len(term.indices) not in (1, 2):
            raise self.error(f"no typed access with {len(term.indices)} indices")
        indices = "".join(f", {self.reg(i)}" for i in term.indices)
        return (f"JJ_NpSlot{len(term.indices)}_{self._np_dtype(term.dtype)}"
                f"(<PyObject *>{self.reg(term.arr)}{indices}, {int(write)})")

    def op_BoxIntTuple(self, op: ir.BoxIntTuple):
        items = "".join(f"JJ_BoxInt({self.reg(r)}), " for r in op.items)
        return f"{self.reg(op.dest)} = ({items})"

    def _np_dtype(self, dtype: str) -> str:
        if dtype not in ir.NP_DTYPES:
            raise self.error(f"no typed numpy dtype {dtype!r}")
        return dtype

    def op_UnboxInt(self, op: ir.UnboxInt):
        return f"{self.reg(op.dest)} = JJ_UnboxInt(<PyObject *>{self.reg(op.src)})"

    def op_UnboxFloat(self, op: ir.UnboxFloat):
        return f"{self.reg(op.dest)} = JJ_UnboxFloat(<PyObject *>{self.reg(op.src)})"

    def op_UnboxBool(self, op: ir.UnboxBool):
        return f"{self.reg(op.dest)} = JJ_UnboxBool(<PyObject *>{self.reg(op.src)})"

    def op_BoolToInt(self, op: ir.BoolToInt):
        return f"{self.reg(op.dest)} = <int64_t>{self.reg(op.src)}"

    def op_IntToFloat(self, op: ir.IntToFloat):
        return f"{self.reg(op.dest)} = <double>{self.reg(op.src)}"

    def op_IntBitwise(self, op: ir.IntBitwise):
        if op.op not in ir.INT_BITWISE_OPS:
            raise self.error(f"unknown int bitwise operator {op.op!r}")
        return f"{self.reg(op.dest)} = {self.reg(op.left)} {op.op} {self.reg(op.right)}"

    def op_FloatArith(self, op: ir.FloatArith):
        if op.op not in ir.FLOAT_ARITH_OPS:
            raise self.error(f"unknown float operator {op.op!r}")
        return f"{self.reg(op.dest)} = {self.reg(op.left)} {op.op} {self.reg(op.right)}"

    def op_FloatUnary(self, op: ir.FloatUnary):
        if op.op == "neg":
            return f"{self.reg(op.dest)} = -{self.reg(op.operand)}"
        if op.op == "abs":
            return f"{self.reg(op.dest)} = fabs({self.reg(op.operand)})"
        if op.op == "round":
            return f"{self.reg(op.dest)} = JJ_RoundHalfEven({self.reg(op.operand)})"
        raise self.error(f"unknown float unary operator {op.op!r}")

    def _compare(self, op):
        symbol = C_COMPARE.get(op.op)
        if symbol is None:
            raise self.error(f"unknown comparison {op.op!r}")
        return f"{self.reg(op.dest)} = {self.reg(op.left)} {symbol} {self.reg(op.right)}"

    op_IntCompare = _compare
    op_FloatCompare = _compare

    def op_Truth(self, op: ir.Truth):
        return f"{self.reg(op.dest)} = {self.reg(op.src)} {'==' if op.negate else '!='} 0"

    def _min_max(self, op, helpers: dict):
        helper = helpers.get(op.op)
        if helper is None or len(op.args) < 2:
            raise self.error(f"bad {type(op).__name__} {op.op!r} of {len(op.args)} values")
        expr = self.reg(op.args[0])
        for arg in op.args[1:]:
            expr = f"{helper}({expr}, {self.reg(arg)})"
        return f"{self.reg(op.dest)} = {expr}"

    def op_IntMinMax(self, op: ir.IntMinMax):
        return self._min_max(op, {"min": "JJ_IntMin", "max": "JJ_IntMax"})

    def op_FloatMinMax(self, op: ir.FloatMinMax):
        return self._min_max(op, {"min": "JJ_FloatMin", "max": "JJ_FloatMax"})

    def op_TypedLen(self, op: ir.TypedLen):
        if op.of not in ir.LEN_TYPES:
            raise self.error(f"len() of {op.of!r} has no typed form")
        return f"{self.reg(op.dest)} = JJ_Len_{op.of}(<PyObject *>{self.reg(op.obj)})"

    def op_SetAttrFloat(self, op: ir.SetAttrFloat):
        return (f"JJ_SetAttrFloat({self.attr_cache()}, {self.p(op.obj)}, {self.pname(op.name)}, "
                f"{self.reg(op.value)})")

    # ---- terminators ----

    def typed_test(self, term: ir.Op) -> tuple[str, list[str]]:
        """(C condition that is true on the deopt / exit / false side, statements that open
        the other side: copying the result temporary into its destination)."""
        reg = self.reg
        if isinstance(term, ir.GuardType):
            helper = GUARD_HELPERS.get(term.type_name)
            if helper is None:
                raise self.error(f"no guard for type {term.type_name!r}")
            return f"not {helper}(<PyObject *>{reg(term.src)})", []
        if isinstance(term, ir.GuardIdentity):
            return f"<PyObject *>{reg(term.src)} != {self.p_const(term.expected)}", []
        if isinstance(term, ir.GlobalIs):
            return (f"not JJ_GlobalIs({self.global_cache()}, <PyObject *>{self.state('g')}, "
                    f"<PyObject *>{self.state('b')}, {self.pname(term.name)}, "
                    f"{self.p_const(term.expected)})"), []
        if isinstance(term, ir.ModuleAttrIs):
            return (f"not JJ_ModuleAttrIs({self.attr_cache()}, {self.p_const(term.module)}, "
                    f"{self.pname(term.name)}, {self.p_const(term.expected)})"), []
        if isinstance(term, ir.GuardClass):
            return f"not JJ_GuardClass(<PyObject *>{reg(term.src)}, {self.p_const(term.cls)})", []
        if isinstance(term, ir.GuardArray):
            if term.layout not in ("C", "F", "A"):
                raise self.error(f"no array layout {term.layout!r}")
            helper = f"JJ_GuardArray_{self._np_dtype(term.dtype)}"
            cls = self.p_const(_numpy().ndarray)
            return (f"not {helper}(<PyObject *>{reg(term.src)}, {cls}, {int(term.ndim)}, "
                    f"b'{term.layout}')"), []
        if isinstance(term, ir.ArrayStore):
            if term.cast not in ir.ARRAY_STORE_CASTS:
                raise self.error(f"no array store cast {term.cast!r}")
            # (an exact store's helper is named by the value's kind, the others by the cast)
            how = term.value.kind if term.cast == "exact" else term.cast
            slot = self._np_slot(term, write=True)
            return f"JJ_ArrayStore_{self._np_dtype(term.dtype)}_{how}({slot}, {reg(term.value)})", []
        if isinstance(term, ir.IntArith):
            call = self._helper(INT_ARITH_HELPERS, term.op, reg(term.left), reg(term.right))
        elif isinstance(term, ir.IntUnary):
            call = self._helper(INT_UNARY_HELPERS, term.op, reg(term.operand))
        elif isinstance(term, ir.FloatDivide):
            call = self._helper(FLOAT_DIVIDE_HELPERS, term.op, reg(term.left), reg(term.right))
        elif isinstance(term, ir.FloatPow):
            call = f"JJ_FloatPow({reg(term.left)}, {reg(term.right)}, "
        elif isinstance(term, ir.IntToFloatExact):
            call = f"JJ_IntToFloatExact({reg(term.src)}, "
        elif isinstance(term, ir.FloatToInt):
            call = f"JJ_FloatToInt({reg(term.src)}, "
        elif isinstance(term, ir.SeqLoad):
            if term.of not in ir.SEQ_TYPES:
                raise self.error(f"no typed element read of {term.of!r}")
            kind = term.dest.kind if term.dest.kind in RESULT_TEMP else "obj"
            call = f"JJ_SeqLoad_{term.of}_{kind}(<PyObject *>{reg(term.seq)}, {reg(term.index)}, "
            if kind == "obj":
                self.uses.add(OBJECT_TEMP)
                return f"{call}&{OBJECT_TEMP})", [f"{reg(term.dest)} = <object>{OBJECT_TEMP}"]
        elif isinstance(term, ir.ListStore):
            seq, index = f"<PyObject *>{reg(term.seq)}", reg(term.index)
            helper = {"f64": "JJ_ListStoreFloat", "b1": "JJ_ListStoreBool"}.get(term.value.kind)
            if helper is not None:
                return f"{helper}({seq}, {index}, {reg(term.value)})", []
            return f"JJ_ListStore({seq}, {index}, <PyObject *>{reg(term.value)})", []
        elif isinstance(term, ir.ArrayLoad):
            call = f"JJ_ArrayLoad_{self._np_dtype(term.dtype)}({self._np_slot(term, write=False)}, "
        elif isinstance(term, ir.NpArith):
            if term.op not in ir.NP_ARITH_OPS:
                raise self.error(f"no numpy operator {term.op!r}")
            call = (f"JJ_NpArith_{self._np_dtype(term.dtype)}(b'{term.op}', {reg(term.left)}, "
                    f"{reg(term.right)}, ")
        elif isinstance(term, ir.MathFunc):
            if term.name not in ir.MATH_FUNCS:
                raise self.error(f"no typed math function {term.name!r}")
            call = f"JJ_Math_{term.name}({reg(term.arg)}, "
        else:
            raise self.error(f"unknown typed terminator {type(term).__name__}")
        temp = RESULT_TEMP[term.dest.kind]
        self.uses.add(temp)
        return f"{call}&{temp})", [f"{reg(term.dest)} = {temp}"]

    def _helper(self, helpers: dict, op: str, *operands: str) -> str:
        helper = helpers.get(op)
        if helper is None:
            raise self.error(f"no typed helper for operator {op!r}")
        return f"{helper}({', '.join(operands)}, "

    def typed_dispatch(self, term: ir.Op, arm, depth: int, out) -> None:
        """The arms of a typed terminator; `arm(target)` gives a target's statements."""
        if isinstance(term, ir.TypedCondBranch):
            self.two_way(f"{self.reg(term.cond)}", [], arm(term.if_true), [],
                         arm(term.if_false), depth, out)
            return
        if isinstance(term, ir.RangeIterNext):
            cur, stop, step = self.reg(term.cur), self.reg(term.stop), self.reg(term.step)
            self.two_way(f"JJ_RangeHas({cur}, {stop}, {step})",
                         [f"{self.reg(term.dest)} = {cur}",
                          f"{cur} = JJ_RangeAdvance({cur}, {stop}, {step})"],
                         arm(term.body), [], arm(term.exit), depth, out)
            return
        test, on_ok = self.typed_test(term)
        reason = DEOPT_REASONS[type(term).__name__].format(
            type_name=getattr(term, "type_name", ""), dtype=getattr(term, "dtype", ""),
            ndim=getattr(term, "ndim", ""), layout=getattr(term, "layout", ""),
            cls=_class_label(getattr(term, "cls", None)))
        deopt_lines = [f"# {reason}"]
        if self.is_entry_guard(term):
            deopt_lines += self.offer_to_next()
        # Unlikely: without it gcc guesses each guard's exit at even odds, and the end of a
        # loop body past a dozen guards looks cold, so it is compiled for size (n-body's sqrt
        # became a libm call, its stores out-of-line DECREF calls).
        self.two_way(f"JJ_UNLIKELY({test})", deopt_lines, arm(term.deopt), on_ok, arm(term.ok),
                     depth, out)

    def is_entry_guard(self, term: ir.Op) -> bool:
        spec = getattr(self.fn, "specialization", None)
        return (isinstance(term, (ir.GuardType, ir.GuardArray, ir.GuardClass))
                and spec is not None and spec.typed
                and self.cur_block in spec.fast_blocks
                and spec.fast_blocks[self.cur_block] is None)

    def offer_to_next(self) -> list[str]:
        """Arguments that fail the entry guards go to the next specialization in the
        dispatcher's chain (`__jj_chain`), if any; it answers, or returns `__jj_continue` to
        let this module's generic code run them. Nothing has happened yet at that point.
        The call, counted as served by the typed code on entry, is counted where it is
        served: by the next module, or here by the generic code (see `call_counter`)."""
        self.uses.add("m")
        self.chained = True
        args = [self.reg(a) for a in self.fn.args]
        values = "".join(f", <PyObject *>{a}" for a in ["__jj_state"] + args)
        return ["__jj_calls[0] -= 1",
                "if __jj_next is not None:",
                f"    __jj_m = JJ_CallNext(<PyObject *>__jj_next, __jj_L, {len(args) + 1}{values})",
                "    if __jj_m is not __jj_continue:",
                "        return __jj_m",
                "    __jj_m = None",
                "__jj_calls[1] += 1"]

    def two_way(self, test: str, first_lines: list, first: list, second_lines: list,
                second: list, depth: int, out) -> None:
        """if test: first_lines; first  else: second_lines; second."""
        out.add(depth, f"if {test}:")
        for text in first_lines:
            out.add(depth + 1, text)
        self.suite(first, depth + 1, out)
        out.add(depth, "else:")
        for text in second_lines:
            out.add(depth + 1, text)
        self.suite(second, depth + 1, out)

    def unboxed_declarations(self, out, depth: int, params=frozenset()) -> None:
        for name, ctype in sorted(self.unboxed.items()):
            if name not in params:
                out.add(depth, f"cdef {ctype} {name} = 0")
        for kind, temp in RESULT_TEMP.items():
            if temp in self.uses:
                out.add(depth, f"cdef {UNBOXED_KINDS[kind]} {temp} = 0")
        if OBJECT_TEMP in self.uses:
            out.add(depth, f"cdef PyObject *{OBJECT_TEMP} = NULL")
