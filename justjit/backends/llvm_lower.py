"""Register IR -> LLVM IR (text), for the LLVM backend.

    lower(fn, inline_decref=..., frame_helper=...) -> LoweredModule(text, constants, symbols)

The module defines the native entry with the METH_FASTCALL signature,

    PyObject *jj_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)

wrapped by the backend as a builtin function whose `self` is the constants tuple (see
`LoweredModule.constants`). `args[0]` is the dispatcher's state tuple (globals, builtins,
closure) and `args[1:]` the argument variables in co_varnames order. For a generator function
the entry only makes the generator (JJL_NewGenerator, see _jj_rt.c) and the body goes into a
second function, `jj_resume`, a state machine resumed at each next()/send()/throw().

How the IR becomes LLVM IR:

- Registers. Every register (var, cell, stack, tmp) has a `PyObject *` slot in one frame
  array (`%jj.frame`: an alloca, or the generator's heap frame), NULL when it holds nothing,
  laid out like CPython's localsplus: locals in co_varnames order, cells, then the value
  stack's registers. A slot owns one reference. Writing a register releases what it held
  (after the store, like STORE_FAST). An unbound local is NULL: CheckBound tests for NULL.
- Lifetimes. `var` and `cell` registers keep their value until overwritten, deleted or the
  function exits (as CPython's frame does). `stack`/`tmp` registers are released where they
  die, from the liveness analysis (`justjit.analyses.liveness`) with the rules of
  `justjit.regalloc`'s release points, applied per register: after the op where a register
  dies, and on entry to a block for the registers some incoming edge carries but the block
  does not need. So a stack/tmp slot is non-NULL only while its register is live (which also
  tells where an old value cannot exist), and an exit releases the whole frame: one call to
  JJL_ReleaseFrame (`frame_helper`), or one release per slot (which LLVM's SROA can turn into
  SSA values at opt_level 3).
- Operations. Each op calls the C-API function ceval.c calls, or the same `JJ_*` helper of
  justjit/runtime/jj_runtime.h as the Cython path (the helpers live in the `_jj_rt` runtime
  extension; their symbols are `jjrt.<name>`). Where CPython 3.11 specializes an instruction
  for exact ints/floats, lists/tuples or globals, a `JJL_*` fast path of _jj_rt.c does the
  same and falls back to that C-API call. A constant whose only use is an op that reads its
  operands without keeping them is read in place by that op (`fold_constants`), and `x + k`
  / `x - k` with a one-digit int constant `k` adds one-digit ints inline. Calls go through
  JJ_VectorcallCached with a JJ_CallCache per site, as on the Cython path (a @jit
  trampoline's target is called without the trampoline's interpreter frame; warnings.warn
  itself goes to JJ_Warn, which gives it this function's line and globals); a GetAttr
  whose only use is as the callable of a Call in the same block is LOAD_METHOD
  (`_PyObject_GetMethod`, no bound-method object; `self` is read from its local where that
  still holds it, and calls with one or two arguments go through JJ_Call1/JJ_Call2, which
  do d.get and l.append at once); tuples and lists are filled in place;
  FOR_ITER calls the iterator's tp_iternext slot; LOAD_GLOBAL has a per-site cache in the
  module's data, checked against the dicts' version tags.
- Exceptions. Every call that can fail is checked. An op that may raise in a block with a
  handler branches to the block's landing pad, which fetches and normalizes the exception
  (with the traceback entry CPython's frame would add) into the edge's `exc_dest` (`lasti_dest`
  gets None) and jumps to the handler; the handler block's entry releases what the handler
  does not need. Anywhere else a failure goes to the function's unwind block: traceback
  entry, release of the frame, return NULL. The source line of the failing op is kept in a
  slot (`%jj.line`), and whether to add a traceback entry (not for RERAISE or a bare `raise`)
  in another (`%jj.tb`).
- Generators. Yield suspends by returning the value with the resume point stored; the
  resume function's entry switches to the point after it, where the sent value (or the
  exception thrown in) arrives. YieldFrom is SEND's loop around PyIter_Send, suspending with
  the delegate in gi_yieldfrom. The protocol itself (states, send/throw/close checks,
  finalization) is jj_runtime.h's generator object, shared with the Cython path.
- Specialized code (justjit.specialize; its docstring is the contract). Unboxed registers
  (i64 / f64 / b1) are not in the frame: each is an alloca of an LLVM i64 / double / i1 in
  the entry block, which SROA makes an SSA value (the backend's tier for specialized code
  runs it). Typed ops are inline instructions: overflow through llvm.s*.with.overflow.i64,
  division and shifts with their deopt conditions tested first (nothing wraps, traps or is
  poison), floats as IEEE operations with CPython's own formulas for // and %. A typed
  terminator that may deopt branches before writing its dest, so the deopt side sees the
  old values. Only boxing (PyLong_FromLongLong, PyFloat_FromDouble, range()), a big int's
  value, libm (fmod, floor, the math functions, errno) are calls.
- Direct self-calls (justjit.specialize, "Direct self-calls"). A specialization with a direct
  body also defines `jj_direct(self, state, <unboxed arguments>, i32 budget)`, the lowering
  of `Specialization.direct` by a child `_Lowering` into the same module (same constants
  and caches). It returns the typed result as a C value, or the kind's magic value
  (DIRECT_RESULT) when it raised (traceback entry added by its unwind, as the entry's),
  when its generic code returned an object (then in @jj.dirty, a new reference, stored after
  its frame is released), or when that is its typed result. The recursion depth is counted
  in `budget` (what the thread's counter would be); its transfer blocks set the thread's
  counter before generic code runs, and the outermost SelfCall, whose JJL_SelfReady checks
  that the callee is this very entry and state, restores it after the call.
- Constants (objects from co_consts, interned names, kwnames tuples, code objects, the
  traceback code object) are items of the constants tuple, read with invariant loads. Only
  None, True and False are referred to by symbol. Nothing from the user's program is spliced
  into the IR except as sanitized comments.
"""

from __future__ import annotations

import ctypes
import dataclasses
import re
import struct
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from ..analyses.dataflow import (all_registers, block_points, edge_may_defs, exc_edge_defs,
                                 may_raise, normal_successors, reachable, straight_defs,
                                 use_counts)
from ..analyses.liveness import Liveness, liveness
from ..ir import ops as ir
from ..ir.ops import IRFunction, Reg
from ..ir.printer import format_op
from . import llvm_capi as capi
from .llvm import CALLS_NAME, CHAIN_NAME  # (defined there: a warm load reads them without us)
from .llvm_runtime import HELPER_PREFIX

__all__ = ["LowerError", "LoweredModule", "lower", "ENTRY_NAME", "LOWERING_FORMAT"]

# Bump when the generated code changes meaning for the same text (it is part of cache keys,
# next to the text itself).
LOWERING_FORMAT = 1

ENTRY_NAME = "jj_entry"
RESUME_NAME = "jj_resume"
DIRECT_NAME = "jj_direct"  # a specialization's direct body (see "Direct self-calls" above)
DIRTY_NAME = "jj.dirty"  # where a direct body hands over an object result
RELEASED_KINDS = ("stack", "tmp")  # released where they die

BINARY_FUNCS = {
    # "*JJL_...": the runtime's fast path for exact ints/floats, falling back to the C-API
    # function named in its comment (see _jj_rt.c, "Fast paths").
    "+": "*JJL_Add", "-": "*JJL_Subtract", "*": "*JJL_Multiply",            # PyNumber_...
    "@": "PyNumber_MatrixMultiply", "/": "*JJL_TrueDivide", "//": "*JJL_FloorDivide",
    "%": "*JJL_Remainder", "<<": "PyNumber_Lshift", ">>": "PyNumber_Rshift",
    "&": "*JJL_And", "|": "*JJL_Or", "^": "*JJL_Xor", "**": "*JJ_Power",
    "+=": "*JJL_InPlaceAdd", "-=": "*JJL_InPlaceSubtract",
    "*=": "*JJL_InPlaceMultiply", "@=": "PyNumber_InPlaceMatrixMultiply",
    "/=": "*JJL_InPlaceTrueDivide", "//=": "*JJL_InPlaceFloorDivide",
    "%=": "*JJL_InPlaceRemainder", "<<=": "PyNumber_InPlaceLshift",
    ">>=": "PyNumber_InPlaceRshift", "&=": "*JJL_InPlaceAnd", "|=": "*JJL_InPlaceOr",
    "^=": "*JJL_InPlaceXor", "**=": "*JJ_InPlacePower",
}
UNARY_FUNCS = {"neg": "PyNumber_Negative", "pos": "PyNumber_Positive",
               "invert": "PyNumber_Invert", "not": "*JJ_Not"}
COMPARE_OPS = {"<": 0, "<=": 1, "==": 2, "!=": 3, ">": 4, ">=": 5}  # Py_LT ... Py_GE
CONVERSIONS = {None: 0, "s": 1, "r": 2, "a": 3}

_SINGLETONS = {id(None): "@_Py_NoneStruct", id(True): "@_Py_TrueStruct",
               id(False): "@_Py_FalseStruct"}

# Specialized code (see justjit.specialize's contract for the backends).
LL_TYPES = {"i64": "i64", "f64": "double", "b1": "i1"}   # unboxed register kind -> LLVM type
ZERO = {"i64": "0", "double": "0.0", "i1": "false"}
INT64_MIN = -(1 << 63)
# A direct body's result, per kind of the typed result: its LLVM type and *magic* value, which
# means "look at @jj.dirty, then PyErr_Occurred()" (jj_typed.h's JJ_DIRECT_MAGIC_*: the values
# the Cython path uses; a bool comes back as an i32, so that -1 is free for the magic).
DIRECT_RESULT = {"i64": ("i64", str(-(1 << 63) + 1)),
                 "f64": ("double", "0x%016X" % struct.unpack("<Q", struct.pack(
                     "<d", -1.7976931348623157e308))[0]),
                 "b1": ("i32", "-1")}
# GuardType: the exact type each lattice name means ("none" is `is None` instead).
GUARD_TYPE_SYMBOLS = {"int": "PyLong_Type", "float": "PyFloat_Type", "bool": "PyBool_Type",
                      "str": "PyUnicode_Type", "bytes": "PyBytes_Type", "list": "PyList_Type",
                      "tuple": "PyTuple_Type", "dict": "PyDict_Type", "set": "PySet_Type",
                      "complex": "PyComplex_Type"}
# TypedLen: the Py_ssize_t field holding the length (ob_size; PyASCIIObject.length;
# PyDictObject.ma_used; PySetObject.used). Checked by `_check_typed_layout`.
LEN_OFFSETS = {"list": 16, "tuple": 16, "bytes": 16, "str": 16, "dict": 16, "set": 24}
FLOAT_VALUE = 16  # PyFloatObject.ob_fval
# Type-based alias tags (module()'s nodes !2-!6). A float's value and the words the code reads
# from registers, object headers, list slots and caches (`load`, `field`) are never the same
# memory, so the optimizer may keep a list's size, items and element across a float stored in
# place: n-body's `xs[i] += d` then checks xs[i] once, not once for the read and again for the
# store. Reference counts and everything else stay untagged (they may alias anything).
TBAA_NODES = ['!2 = !{!"jj.tbaa"}', '!3 = !{!"jj.float.value", !2, i64 0}',
              "!4 = !{!3, !3, i64 0}", '!5 = !{!"jj.word", !2, i64 0}', "!6 = !{!5, !5, i64 0}"]
TBAA_FLOAT_VALUE, TBAA_WORD = "!tbaa !4", "!tbaa !6"
ATTR_CACHE_WORDS = 5  # JJL_GetAttrCached's cache (JJL_ATTR_CACHE_WORDS in _jj_rt.c)
CALL_CACHE_WORDS = 6  # jj_runtime.h's JJ_CallCache (JJL_CALL_CACHE_WORDS in _jj_rt.c)
CALL_FREE = 3  # JJ_CALL_FREE: free argument slots a call site leaves before its arguments
MCACHE_TYPE, MCACHE_VERSION, MCACHE_DESCR = 0, 8, 16  # _jj_rt.c's jjl_method_cache fields
GCACHE_GLOBALS, GCACHE_BUILTINS, GCACHE_VALUE = 0, 8, 16  # _jj_rt.c's jjl_global_cache fields
ACACHE_VERSION, ACACHE_VALUE = 0, 8  # jj_runtime.h's JJ_AttrCache fields (asserted in _jj_rt.c)
SMALL_INT_ARITH = {"+": "add", "-": "sub", "+=": "add", "-=": "sub"}  # see small_int_arith
METHOD_CALL_HELPERS = {1: "*JJ_Call1", 2: "*JJ_Call2"}  # method calls by arguments (op_Call)
# 3.11's PyLongObject: ob_size is the signed digit count, the digits follow at LONG_DIGITS.
# With it, GuardType "int" and UnboxInt read small ints inline; elsewhere they call the C API.
LONG_INLINE = capi.VERSION == (3, 11)
LONG_DIGITS = 24
LONG_FAST_DIGITS = 63 // sys.int_info.bits_per_digit  # this many digits always fit int64
INT_OVERFLOW_OPS = {"+": "sadd", "-": "ssub", "*": "smul"}  # llvm.<op>.with.overflow.i64
INT_BITWISE = {"&": "and", "|": "or", "^": "xor"}
FLOAT_ARITH = {"+": "fadd", "-": "fsub", "*": "fmul"}
ICMP = {"<": "slt", "<=": "sle", "==": "eq", "!=": "ne", ">": "sgt", ">=": "sge"}
# C's comparisons of doubles: false with a nan, except !=.
FCMP = {"<": "olt", "<=": "ole", "==": "oeq", "!=": "une", ">": "ogt", ">=": "oge"}
ERRNO_LOCATION = "__error" if sys.platform == "darwin" else "__errno_location"

CO_COROUTINE = 0x0080
CO_ITERABLE_COROUTINE = 0x0100


class LowerError(Exception):
    """The IR is not something this lowering understands (a bug upstream, or an op the LLVM
    backend does not support yet)."""


@dataclass
class LoweredModule:
    """- `text`: the LLVM IR module (annotated with the source lines as comments).
    - `constants`: the objects the code reads by index (the entry's `self` tuple starts with
      them).
    - `symbols`: the external symbols the code refers to (C API, runtime helpers, data)."""

    text: str
    constants: tuple
    symbols: list[str] = field(default_factory=list)


def lower(fn: IRFunction, *, inline_decref: bool = False,
          frame_helper: bool = True) -> LoweredModule:
    """The LLVM module for `fn`.

    - `inline_decref`: inline Py_DECREF's body at every release (faster code, slower
      compiles; see `llvm_capi.refcount_ir`).
    - `frame_helper`: release the frame at exits with one runtime call (small code, for the
      fast tier) instead of one release per slot (which SROA can turn into SSA values).
    """
    return _Lowering(fn, inline_decref, frame_helper).module()


# --------------------------------------------------------------------------------------------


_CONTROL = {c: "?" for c in list(range(32)) + [127]}


def _comment(text: str) -> str:
    """`text` made safe for an LLVM comment: ASCII, one line."""
    return text.encode("ascii", "backslashreplace").decode("ascii").translate(_CONTROL)


@dataclass(eq=False)
class EvalBreakerCheck(ir.Op):
    """Inserted by this lowering at every loop header (the target of a retreating edge): every
    TICKS passes, do what ceval does when its eval breaker is set (jj_runtime.h's
    JJ_HandlePending: signal handlers, pending calls, a chance for other threads to take the
    GIL). It may raise (a
    KeyboardInterrupt), so the analyses keep what an exception handler needs alive up to it."""
    line: Optional[int] = None


EvalBreakerCheck.USES = ()
EvalBreakerCheck.DEFS = ()
EvalBreakerCheck.CAN_RAISE = True
EvalBreakerCheck.IS_TERMINATOR = False

TICKS = 4096


def with_eval_breaker_checks(fn: IRFunction) -> IRFunction:
    """A copy of `fn` with an EvalBreakerCheck first in every loop header (`fn` is unchanged)."""
    from ..analyses.dataflow import loop_heads

    headers = loop_heads(fn)
    if not headers:
        return fn
    blocks = {}
    for b, block in fn.blocks.items():
        if b in headers:
            first = next((op.line for op in block_points(block) if op.line is not None), None)
            block = ir.Block(block.id, [EvalBreakerCheck(line=first)] + list(block.ops),
                             block.terminator, block.handler)
        blocks[b] = block
    return dataclasses.replace(fn, blocks=blocks)


def _double(value: float) -> str:
    """An LLVM double constant with exactly the bits of `value` (-0.0, inf, nan included)."""
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", value))[0]


def _check_typed_layout() -> None:
    """The object layouts typed code reads inline, checked against this CPython."""
    def word(obj, offset: int, fmt: str = "q"):
        return struct.unpack(fmt, ctypes.string_at(id(obj) + offset, struct.calcsize(fmt)))[0]

    samples = {"list": [1, 2], "tuple": (1, 2, 3), "bytes": b"abcd", "str": "\u20ac" * 5,
               "dict": {1: 2, 3: 4, 5: 6}, "set": {1, 2, 3, 4, 5, 6, 7}}
    for name, obj in samples.items():
        if word(obj, LEN_OFFSETS[name]) != len(obj):
            raise ImportError(f"justjit: unexpected layout of {name} objects")
    if word(-2.5, FLOAT_VALUE, "d") != -2.5:
        raise ImportError("justjit: unexpected layout of float objects")
    big = 12345 << sys.int_info.bits_per_digit
    if LONG_INLINE and (word(-7, capi.OB_SIZE) != -1 or word(-7, LONG_DIGITS, "I") != 7
                        or word(big, capi.OB_SIZE) != 2):
        raise ImportError("justjit: unexpected layout of int objects")


_check_typed_layout()


def _unordered(value) -> bool:
    if isinstance(value, (frozenset, set)):
        return True
    return isinstance(value, tuple) and any(_unordered(v) for v in value)


class _Opaque:
    """Prints as the type of the value it stands for (see `_Lowering.comment`)."""

    def __init__(self, value) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<{type(self.value).__name__} of {len(self.value)}>"


class _Constants:
    """The constants tuple: objects by identity, names interned and shared."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[tuple, int] = {}

    def obj(self, value: Any) -> int:
        key = ("o", id(value))
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.values)
            self.values.append(value)
        return i

    def name(self, text: str) -> int:
        key = ("n", text)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.values)
            self.values.append(sys.intern(str(text)))
        return i


def _releases(fn: IRFunction, live: Liveness, blocks: list[int]):
    """Per-register release points (regalloc's rules, one slot per register):
    (after[(b, i)] -> regs, on_entry[b] -> regs), stack/tmp registers only."""

    def owned(regs) -> set:
        return {r for r in regs if r.kind in RELEASED_KINDS}

    after: dict[tuple[int, int], list[Reg]] = {}
    arriving: dict[int, set] = {b: set() for b in fn.blocks}
    for b in blocks:
        block = fn.blocks[b]
        before_l, after_l = live.live_before[b], live.live_after[b]
        for i, op in enumerate(block.ops):
            dying = owned(before_l[i] | set(straight_defs(op))) - after_l[i]
            if dying:
                after[(b, i)] = sorted(dying, key=_reg_key)
        n = len(block.ops)
        for s in normal_successors(block):
            arriving[s] |= owned(before_l[n] | set(edge_may_defs(block.terminator, s)))
        if block.handler is not None:
            held = owned(exc_edge_defs(block.handler))
            for i, op in enumerate(block_points(block)):
                if may_raise(op):
                    held |= owned(before_l[i])
            arriving[block.handler.target] |= held
    on_entry = {}
    for b, held in arriving.items():
        freed = held - live.live_in[b]
        if freed:
            on_entry[b] = sorted(freed, key=_reg_key)
    return after, on_entry


def _reg_key(r: Reg):
    return (r.kind, r.name)


def _natural(name: str):
    """`t10` after `t9`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class _Lowering:
    def __init__(self, fn: IRFunction, inline_decref: bool = False,
                 frame_helper: bool = True, parent: Optional["_Lowering"] = None) -> None:
        # parent: this lowers the direct body of the parent's function (see the module
        # docstring) into the parent's module, sharing its constants, declarations and data.
        self.direct = parent is not None
        fn = with_eval_breaker_checks(fn)
        self.fn = fn
        self.gen = bool(fn.is_generator)
        self.inline_decref = inline_decref
        # A generator's registers live in its heap frame: released by the helper.
        self.frame_helper = frame_helper or self.gen
        self.live = liveness(fn)
        self.reach = reachable(fn)
        self.order = [b for b in sorted(fn.blocks) if b in self.reach]
        if fn.entry in self.order:  # the entry first, then by id
            self.order.remove(fn.entry)
            self.order.insert(0, fn.entry)
        self.release_after, self.release_on_entry = _releases(fn, self.live, self.order)
        self.code_flags = getattr(fn.code, "co_flags", 0) or 0
        if parent is not None:
            self.k = parent.k
            self.tbcode_index = parent.tbcode_index
            self.decls = parent.decls
            self.data = parent.data
            self.globals_ = parent.globals_
            self.np_helpers = parent.np_helpers
        else:
            self.np_helpers: set[str] = set()  # the module's !jj.numpy (see np_record)
            self.k = _Constants()
            from ..emit_cython.emitter import tb_code
            self.tbcode_index = self.k.obj(tb_code(fn))
            self.decls: dict[str, str] = {}
            self.data: set[str] = set()
            self.globals_: list[str] = []  # module-level variables (definitions)
        self.dirty = parent.dirty if parent is not None else False  # @jj.dirty defined
        self.body: list[str] = []
        self.n = 0
        self.cur = ""
        self.frame = self.frame_layout()
        # Method calls (see `find_method_calls`): the GetAttr's register -> its companion,
        # a hidden slot (after the registers) holding `self` when the lookup found an unbound
        # method; except where `self` is a local that still holds it at the Call
        # (self_var: method register -> the local), read there with the lookup's `found`
        # (self.found: the GetAttr's i32, an SSA value the Call's code is dominated by).
        methods, self.self_var = self.find_method_calls()
        self.companion = {t: Reg(f"{t.name}.self", "tmp") for t in methods
                          if t not in self.self_var}
        self.found: dict[Reg, str] = {}
        # Constants read in place (see `fold_constants`): (block, op index) of the reader ->
        # {register: value}, and the (block, op index) of the LoadConsts not lowered.
        self.folded, self.folded_loads = self.fold_constants()
        self.cur_folded: dict = {}  # the op being lowered's entry of self.folded
        self.frame += list(self.companion.values())
        # The frame object of this call's traceback entries (JJL_Catch / JJL_Unwind), made on
        # the first exception and released with the frame.
        self.tbframe = Reg("jj.tbframe", "tmp")
        self.frame.append(self.tbframe)
        self.slot_index = {reg: k for k, reg in enumerate(self.frame)}
        # Unboxed registers (specialized code) hold C values, outside the frame: one alloca
        # each, which SROA / mem2reg turn into SSA values. Never released.
        unboxed = sorted((r for r in all_registers(fn) if r.kind in ir.UNBOXED_KINDS),
                         key=lambda r: _natural(r.name))
        self.unboxed = {reg: f"%un.{k}" for k, reg in enumerate(unboxed)}
        if self.unboxed and self.gen:
            raise LowerError("unboxed registers in a generator (specialize never makes them)")
        self.nlocals = sum(1 for r in self.frame if r.kind in ("var", "cell"))
        # A direct body's typed code (the blocks its entry reaches before any transfer) that
        # touches no object register leaves the frame alone: it is zeroed only on the ways
        # out of typed code (deopt transfers, typed blocks' landing pads and failures), so
        # that a call that stays typed costs no frame work at all.
        self.typed_region = self.frame_free_typed_region() if self.direct else None
        self.uses_state: set[str] = set()
        self.uses_L = False
        self.uses_cline = False  # a call passes its line to JJ_Warn (caller)
        self.uses_meth = False
        self.uses_gres = False
        self.uses_ovf = False  # %jj.ovf: PyLong_AsLongLongAndOverflow's flag
        self.uses_tstate = False  # %jj.ts: this thread's state (LeafBudget)
        self.range_format = False
        self.ticks = parent.ticks if parent is not None else False
        self.typed_unwind = False  # a direct body's typed code fails (see `typed_region`)
        self.resumes: list[str] = []  # generators: the resume points' labels, 1-based
        self.argv_size = 0
        self.unwind_regs: set[Reg] = set()
        self.unwind_used = False
        self.landings: dict[int, ir.Block] = {}
        self.entry_deopts: dict[int, str] = {}  # generic block -> its entry guards' stub
        # Per op being lowered.
        self.block: Optional[ir.Block] = None
        self.index = 0
        self.known_line: Optional[int] = None
        self.last_comment: Optional[int] = None

    # ---- small builders -------------------------------------------------------------------

    def tmp(self, hint: str = "v") -> str:
        self.n += 1
        return f"%{hint}{self.n}"

    def new_label(self, hint: str) -> str:
        self.n += 1
        return f"{hint}.{self.n}"

    def emit(self, text: str) -> None:
        self.body.append("  " + text)

    def label(self, name: str) -> None:
        self.body.append(f"{name}:")
        self.cur = name

    def frame_layout(self) -> list[Reg]:
        """Every register, in frame order: the locals in co_varnames order, the cells
        (cellvars, then freevars), then the value-stack registers."""
        code = self.fn.code
        order: dict[tuple, int] = {}
        for name in getattr(code, "co_varnames", ()):
            order.setdefault(("var", name), len(order))
        for name in tuple(getattr(code, "co_cellvars", ())) + tuple(getattr(code, "co_freevars",
                                                                              ())):
            order.setdefault(("cell", name), len(order))
        regs = {r for r in all_registers(self.fn) | set(self.fn.args)
                if r.kind not in ir.UNBOXED_KINDS}
        kind_rank = {"var": 0, "cell": 1, "stack": 2, "tmp": 2}

        def key(r: Reg):
            return (kind_rank[r.kind], order.get((r.kind, r.name), 1 << 30), r.kind,
                    _natural(r.name))

        return sorted(regs, key=key)

    def find_method_calls(self) -> tuple[list[Reg], dict[Reg, Reg]]:
        """The GetAttr results that only serve as the callable of a Call later in the same
        block (what 3.11 compiles from LOAD_METHOD): a tmp register, used once, dying at that
        Call, and not needed by an exception handler. These are lowered like LOAD_METHOD +
        CALL (`_PyObject_GetMethod`, then the call with `self` prepended), which skips making
        a bound-method object. Also, of those, the ones whose object is a local that nothing
        rebinds or deletes before the Call, outside generators (whose resume points would
        split the lookup from the call): method register -> that local, which holds `self`
        for the call (as the Cython path's method_self)."""
        # Every GetAttr defining the register must qualify: specialized code has a typed and
        # a generic copy of each register, and the lowering is chosen per register.
        verdict: dict[Reg, bool] = {}
        self_var: dict[Reg, Optional[Reg]] = {}
        for b in self.order:
            block = self.fn.blocks[b]
            exc_live = self.live.exc_live.get(b, frozenset())
            uses = use_counts(block)
            for i, op in enumerate(block.ops):
                if not (isinstance(op, ir.GetAttr) and op.dest.kind == "tmp"):
                    continue
                ok = False
                if uses.get(op.dest) == 1 and op.dest not in exc_live:
                    for j in range(i + 1, len(block.ops)):
                        later = block.ops[j]
                        if op.dest in later.defs():
                            break
                        if op.dest in later.uses():
                            ok = (isinstance(later, ir.Call) and later.func == op.dest
                                  and op.dest not in later.args
                                  and op.dest in self.release_after.get((b, j), ()))
                            break
                verdict[op.dest] = verdict.get(op.dest, True) and ok
                var = op.obj if op.obj.kind == "var" and not self.gen else None
                if ok and var is not None and any(
                        var in later.defs() or isinstance(later, (ir.DeleteLocal, ir.MakeCell))
                        for later in block.ops[i + 1:j]):
                    var = None
                self_var[op.dest] = var if self_var.get(op.dest, var) == var else None
        found = [r for r, ok in verdict.items() if ok]
        return found, {r: self_var[r] for r in found if self_var[r] is not None}

    def fold_constants(self) -> tuple[dict, set]:
        """The LoadConsts whose register's only use is a later op of the same block that
        reads its operands without taking a reference (BinaryOp, Compare, GetItem, SetItem,
        a Call's argument): that op reads the constant from the constants tuple, which keeps
        it alive, and the register's slot stays NULL (LOAD_CONST's incref and the decref
        after the op are saved; the Cython path folds the same constants)."""
        folded: dict[tuple[int, int], dict] = {}
        skipped: set[tuple[int, int]] = set()
        for b in self.order:
            block = self.fn.blocks[b]
            uses = use_counts(block)
            outside = (self.live.live_out.get(b, frozenset())
                       | self.live.exc_live.get(b, frozenset()))
            for i, op in enumerate(block.ops):
                r = op.dest if isinstance(op, ir.LoadConst) else None
                if r is None or r.kind != "tmp" or uses.get(r) != 1 or r in outside:
                    continue
                for j in range(i + 1, len(block.ops)):
                    later = block.ops[j]
                    if r in later.uses():
                        if (isinstance(later, (ir.BinaryOp, ir.Compare, ir.GetItem, ir.SetItem))
                                or (isinstance(later, ir.Call) and r != later.func)):
                            folded.setdefault((b, j), {})[r] = op.value
                            skipped.add((b, i))
                        break
                    if r in later.defs():
                        break
        return folded, skipped

    def slot(self, reg: Reg) -> str:
        """The address of `reg`'s slot in the frame."""
        k = self.slot_index.get(reg)
        if k is None:
            raise LowerError(f"{reg} is not a register of {self.fn.qualname}")
        p = self.tmp(f"{reg.kind[0]}{k}.")
        self.emit(f"{p} = getelementptr inbounds ptr, ptr %jj.frame, i64 {k}")
        return p

    def declare(self, name: str, ret: str, params: list[str], varargs: bool = False) -> str:
        """The LLVM symbol for `name` (a leading '*' means a runtime helper), declared."""
        sym = HELPER_PREFIX + name[1:] if name.startswith("*") else name
        text = f"declare {ret} @{sym}({', '.join(params + (['...'] if varargs else []))})"
        old = self.decls.setdefault(sym, text)
        if old != text:
            raise LowerError(f"{sym} used with two signatures: {old!r} and {text!r}")
        return sym

    def call(self, ret: str, name: str, args: list[tuple[str, str]], nfixed: Optional[int] = None,
             hint: str = "r") -> Optional[str]:
        """Emit a call; `args` are (type, value) pairs; `nfixed` makes it a varargs call with
        that many fixed parameters. Returns the result (None for void)."""
        types = [t for t, _ in args]
        if nfixed is None:
            sym = self.declare(name, ret, types)
            callee = f"@{sym}"
        else:
            sym = self.declare(name, ret, types[:nfixed], varargs=True)
            callee = f"({', '.join(types[:nfixed] + ['...'])}) @{sym}"
        arg_text = ", ".join(f"{t} {v}" for t, v in args)
        if ret == "void":
            self.emit(f"call void {callee}({arg_text})")
            return None
        res = self.tmp(hint)
        self.emit(f"{res} = call {ret} {callee}({arg_text})")
        return res

    def load(self, reg: Reg) -> str:
        if reg in self.cur_folded:
            return self.const(self.cur_folded[reg])  # borrowed: see fold_constants
        v = self.tmp("x")
        self.emit(f"{v} = load ptr, ptr {self.slot(reg)}, align 8, {TBAA_WORD}")
        return v

    def incref(self, v: str) -> None:
        self.emit(f"call void @jj.incref(ptr {v})")

    def decref(self, v: str) -> None:
        self.emit(f"call void @jj.decref(ptr {v})")

    def xdecref(self, v: str) -> None:
        self.emit(f"call void @jj.xdecref(ptr {v})")

    def may_hold(self, reg: Reg) -> bool:
        """Whether `reg` may hold a reference just before the current op (or terminator):
        a stack/tmp slot is NULL wherever its register is not live (the release points
        guarantee it); a var or cell may hold one anywhere."""
        if reg.kind not in RELEASED_KINDS:
            return True
        if self.block is None:
            return True
        return reg in self.live.live_before[self.block.id][self.index]

    def store(self, reg: Reg, v: str, may_hold: Optional[bool] = None) -> None:
        """reg = v (v is an owned reference); the old value, if any, is released after the
        store (STORE_FAST's order)."""
        slot = self.slot(reg)
        if may_hold is None:
            may_hold = self.may_hold(reg)
        if not may_hold:
            self.emit(f"store ptr {v}, ptr {slot}, align 8")
            return
        old = self.tmp("old")
        self.emit(f"{old} = load ptr, ptr {slot}, align 8")
        self.emit(f"store ptr {v}, ptr {slot}, align 8")
        self.xdecref(old)

    def clear(self, reg: Reg, holds: bool = False) -> None:
        """Release reg and make it NULL (`holds`: it certainly holds a reference); with it
        the companion of a method-call register."""
        companion = self.companion.get(reg)
        if companion is not None:
            self.clear(companion)
        old = self.tmp("old")
        slot = self.slot(reg)
        self.emit(f"{old} = load ptr, ptr {slot}, align 8")
        self.emit(f"store ptr null, ptr {slot}, align 8")
        if holds:
            self.decref(old)
        else:
            self.xdecref(old)

    def item_ptr(self, base: str, offset: int) -> str:
        p = self.tmp("p")
        self.emit(f"{p} = getelementptr i8, ptr {base}, i64 {offset}")
        return p

    def const(self, value: Any) -> str:
        """A borrowed reference to a constant object."""
        sym = _SINGLETONS.get(id(value))
        if sym is not None:
            self.data.add(sym[1:])
            return sym
        return self.const_index(self.k.obj(value))

    def const_index(self, index: int) -> str:
        p = self.item_ptr("%self", capi.TUPLE_ITEMS + 8 * index)
        v = self.tmp("k")
        self.emit(f"{v} = load ptr, ptr {p}, align 8, !invariant.load !0")
        return v

    def name(self, text: str) -> str:
        return self.const_index(self.k.name(text))

    def owned_const(self, value: Any) -> str:
        v = self.const(value)
        self.incref(v)
        return v

    def state(self, which: str) -> str:
        if self.direct:
            # Loaded where used: only generic code uses them, and loaded on entry they would
            # hold registers (or stack slots) across the typed code's calls.
            index = ("g", "b", "cl").index(which)
            p = self.item_ptr("%jj.state", capi.TUPLE_ITEMS + 8 * index)
            return self.inst(f"load ptr, ptr {p}, align 8, !invariant.load !0", "st")
        self.uses_state.add(which)
        return {"g": "%jj.globals", "b": "%jj.builtins", "cl": "%jj.closure"}[which]

    def none(self) -> str:
        return self.const(None)

    def opt(self, reg: Optional[Reg]) -> str:
        """A register's value, or None when absent (borrowed)."""
        return self.none() if reg is None else self.load(reg)

    # ---- failure checks -------------------------------------------------------------------

    def fail_target(self, op: Optional[ir.Op]) -> str:
        block = self.block
        if op is not None and block.handler is not None and may_raise(op):
            self.landings[block.id] = block
            return f"land.b{block.id}"
        self.unwind_used = True
        live = self.live.live_before[block.id][self.index]
        self.unwind_regs |= {r for r in live if r.kind in RELEASED_KINDS}
        if self.typed_region is not None and block.id in self.typed_region:
            self.typed_unwind = True
            return "unwind.typed"  # zeroes the frame first
        return "unwind"

    def fail_if(self, cond: str, op: Optional[ir.Op]) -> None:
        ok = self.new_label("ok")
        self.emit(f"br i1 {cond}, label %{self.fail_target(op)}, label %{ok}")
        self.label(ok)

    def check_null(self, v: str, op: Optional[ir.Op]) -> str:
        c = self.tmp("f")
        self.emit(f"{c} = icmp eq ptr {v}, null")
        self.fail_if(c, op)
        return v

    def check_neg(self, v: str, op: Optional[ir.Op]) -> str:
        c = self.tmp("f")
        self.emit(f"{c} = icmp slt i32 {v}, 0")
        self.fail_if(c, op)
        return v

    def obj_call(self, op: ir.Op, name: str, args: list[str], *,
                 types: Optional[list[str]] = None) -> str:
        """Call an object-returning function of `args` (ptr unless `types`), check it."""
        types = types or ["ptr"] * len(args)
        res = self.call("ptr", name, list(zip(types, args)))
        return self.check_null(res, op)

    def int_call(self, op: ir.Op, name: str, args: list[str], *,
                 types: Optional[list[str]] = None) -> str:
        """Call an int-returning (-1 on error) function and check it."""
        types = types or ["ptr"] * len(args)
        res = self.call("i32", name, list(zip(types, args)))
        return self.check_neg(res, op)

    def set_line(self, op: ir.Op) -> None:
        line = op.line
        if line is None or line == self.known_line:
            return
        self.known_line = line
        self.emit(f"store i32 {int(line)}, ptr %jj.line, align 4")

    # ---- blocks -----------------------------------------------------------------------------

    def lower_block(self, block: ir.Block) -> None:
        self.block = block
        self.known_line = None
        self.last_comment = None
        self.label(f"b{block.id}")
        transfer = self.fn.specialization.transfers.get(block.id) if self.direct else None
        if transfer is not None:
            if self.typed_region is not None and transfer[0] == "deopt":
                self.zero_frame()  # leaving typed code (exc transfers: the landing pad did)
            # generic code counts on the thread's counter
            self.call("void", "*JJL_RecursionSet", [("i32", "%jj.rem")])
        handler = block.handler
        if handler is not None and block.id in self.reach:
            self.body.append(f"  ; b{block.id}: exceptions go to b{handler.target}")
        for reg in self.release_on_entry.get(block.id, ()):
            self.clear(reg)
        for i, op in enumerate(block.ops):
            self.index = i
            self.comment(op)
            if op.CAN_RAISE:
                self.set_line(op)
            method = getattr(self, "op_" + type(op).__name__, None)
            if method is None:
                raise LowerError(f"the llvm backend cannot lower {type(op).__name__} yet")
            released = set(self.release_after.get((block.id, i), ()))
            self.cur_folded = self.folded.get((block.id, i), {})
            stolen = method(op, released) or set()
            stolen = set(stolen) | set(self.cur_folded)  # never held: nothing to release
            self.cur_folded = {}
            touched = set(op.uses()) | set(op.defs())
            for reg in self.release_after.get((block.id, i), ()):
                if reg not in stolen:
                    # Read or written by the op: it holds a reference now.
                    self.clear(reg, holds=reg in touched
                               and not isinstance(op, (ir.DeleteLocal, ir.ClearLocal)))
        self.index = len(block.ops)
        term = block.terminator
        self.comment(term)
        if may_raise(term):
            self.set_line(term)
        method = getattr(self, "term_" + type(term).__name__, None)
        if method is None:
            raise LowerError(f"the llvm backend cannot lower terminator {type(term).__name__}")
        method(term)

    def comment(self, op: ir.Op) -> None:
        if op.line is not None and op.line != self.last_comment:
            self.last_comment = op.line
            src = self.fn.source_lines.get(op.line, "").strip()
            self.body.append(f"  ; {op.line}: {_comment(src)}" if src else f"  ; line {op.line}")
        if isinstance(op, ir.LoadConst) and _unordered(op.value):
            # A set's repr depends on string hashing (randomized per process): the text,
            # which is part of the cache key, must not.
            op = dataclasses.replace(op, value=_Opaque(op.value))
        text = format_op(op).split("  ; line")[0].rstrip()
        # Not the address of a GuardIdentity's object: the text is part of the cache key.
        text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
        self.body.append(f"  ; {_comment(text)}")

    def landing(self, block: ir.Block) -> None:
        """The landing pad of `block`'s exception edge."""
        h = block.handler
        self.label(f"land.b{block.id}")
        if self.typed_region is not None and block.id in self.typed_region:
            self.zero_frame()
        line = self.tmp("line")
        flag = self.tmp("tb")
        self.emit(f"{line} = load i32, ptr %jj.line, align 4")
        self.emit(f"{flag} = load i32, ptr %jj.tb, align 4")
        self.emit("store i32 1, ptr %jj.tb, align 4")
        exc = self.call("ptr", "*JJL_Catch", [("ptr", self.const_index(self.tbcode_index)),
                                              ("ptr", self.state("g")), ("i32", line),
                                              ("i32", flag), ("ptr", self.slot(self.tbframe))],
                        hint="exc")
        # What may be held where an op of the block raised.
        before = self.live.live_before[block.id]
        held = set()
        for i, op in enumerate(block_points(block)):
            if may_raise(op):
                held |= before[i]
        self.store(h.exc_dest, exc, may_hold=h.exc_dest in held or h.exc_dest.kind not in RELEASED_KINDS)
        if h.lasti_dest is not None:
            self.store(h.lasti_dest, self.owned_const(None),
                       may_hold=(h.lasti_dest in held
                                 or h.lasti_dest.kind not in RELEASED_KINDS))
        self.emit(f"br label %b{h.target}")

    def exit_release(self, regs=(), inline: bool = False) -> None:
        """Release the frame's references at an exit: `regs` (the stack/tmp registers that
        may hold one), last first, then the locals and cells in frame order. With
        `frame_helper` (and not `inline`), one call to JJL_ReleaseFrame does it for every
        slot."""
        if self.frame_helper and not inline:
            self.call("void", "*JJL_ReleaseFrame",
                      [("ptr", "%jj.frame"), ("i64", str(self.nlocals)),
                       ("i64", str(len(self.frame)))])
            return
        regs = set(regs) | {self.companion[r] for r in regs if r in self.companion}
        regs.add(self.tbframe)
        for reg in sorted(regs, key=lambda r: self.slot_index[r], reverse=True):
            self.xdecref(self.load(reg))
        for reg in self.frame[:self.nlocals]:
            self.xdecref(self.load(reg))

    def unwind(self) -> None:
        self.label("unwind")
        if self.gen:
            self.emit("store i32 -1, ptr %jj.rp, align 4")
        line = self.tmp("line")
        flag = self.tmp("tb")
        self.emit(f"{line} = load i32, ptr %jj.line, align 4")
        self.emit(f"{flag} = load i32, ptr %jj.tb, align 4")
        add = self.tmp("add")
        self.emit(f"{add} = icmp ne i32 {flag}, 0")
        self.emit(f"br i1 {add}, label %unwind.tb, label %unwind.release")
        self.label("unwind.tb")
        self.call("void", "*JJL_Unwind", [("ptr", self.const_index(self.tbcode_index)),
                                          ("ptr", self.state("g")), ("i32", line),
                                          ("ptr", self.slot(self.tbframe))])
        self.emit("br label %unwind.release")
        self.label("unwind.release")
        self.exit_release(regs=self.unwind_regs)
        if self.direct:
            self.emit("ret {} {}".format(*self.direct_result()))
        else:
            self.emit("ret ptr null")

    # ---- the module -------------------------------------------------------------------------

    def module(self) -> LoweredModule:
        fn = self.fn
        for b in self.order:
            self.lower_block(fn.blocks[b])
        for b in sorted(self.landings):
            self.landing(self.landings[b])
        for target, stub in sorted(self.entry_deopts.items()):
            self.label(stub)
            self.offer_to_next()
            self.emit(f"br label %b{target}")
        if self.unwind_used:
            self.unwind()
        body = self.body
        self.body = []
        if self.gen:
            # The entry makes the generator; the body is the resume function's.
            entry = self.entry_checks(frame=False) + self.generator_entry()
            self.body = []
            resume = self.resume_prologue() + body
            functions = [
                [f"define ptr @{ENTRY_NAME}(ptr %self, ptr %args, i64 %nargs) {{"] + entry
                + ["}", ""],
                [f"define internal ptr @{RESUME_NAME}(ptr %self, ptr %jj.state, ptr %jj.frame, "
                 f"ptr %sent, i32 %mode, ptr %jj.rp, ptr %jj.yf) {{"] + resume + ["}"],
            ]
        else:
            entry = self.entry_checks(frame=True) + self.function_prologue()
            functions = [[f"define ptr @{ENTRY_NAME}(ptr %self, ptr %args, i64 %nargs) {{"]
                         + entry + body + ["}"]]
            spec = getattr(fn, "specialization", None)
            if spec is not None and spec.direct is not None:
                child = _Lowering(spec.direct, self.inline_decref, self.frame_helper,
                                  parent=self)
                functions.append([""] + child.direct_function())
        head = [
            f"; JustJIT: {_comment(fn.qualname)} from {_comment(str(fn.filename))}:"
            f"{fn.firstlineno}",
            f"; ModuleID = 'jj'",
            "",
        ]
        decls = [self.decls[k] for k in sorted(self.decls)]
        data = [f"@{name} = external global i8" for name in sorted(self.data)]
        fn_text = [line for f in functions for line in f]
        counters = [f"@{CALLS_NAME} = global [2 x i64] zeroinitializer"]
        if self.entry_deopts:
            counters.append(f"@{CHAIN_NAME} = global [2 x ptr] zeroinitializer")
        text = "\n".join(head + data + counters + self.globals_ + [""] + decls + [""]
                         + [capi.refcount_ir(self.inline_decref)]
                         + fn_text + ["", "!0 = !{}", '!1 = !{!"branch_weights", i32 1, i32 2000}']
                         + TBAA_NODES
                         + self.np_metadata() + [""])
        symbols = [d for d in self.decls if not d.startswith("llvm.")] + sorted(self.data)
        symbols.append("_Py_Dealloc")
        return LoweredModule(text=text, constants=tuple(self.k.values),
                             symbols=sorted(set(symbols)))

    def locals_allocas(self) -> None:
        """The per-call scratch slots (the register frame itself is separate)."""
        self.emit("%jj.line = alloca i32, align 4")
        self.emit("%jj.tb = alloca i32, align 4")
        if self.uses_L:
            self.emit("%jj.L = alloca [2 x i32], align 4")
        if self.uses_cline:
            self.emit("%jj.cline = alloca i32, align 4")
        if self.uses_meth:
            self.emit("%jj.meth = alloca ptr, align 8")
        if self.uses_gres:
            self.emit("%jj.gres = alloca ptr, align 8")
        if self.uses_ovf:
            self.emit("%jj.ovf = alloca i32, align 4")
        if self.argv_size:
            self.emit(f"%jj.argv = alloca [{self.argv_size} x ptr], align 8")
        if self.entry_deopts:
            self.emit("%jj.chained = alloca ptr, align 8")
        if self.uses_tstate:
            # (once per call or resume: a call into libpython; see JJ_LeafReady)
            self.emit("%jj.ts = call ptr @PyThreadState_Get()")
            self.declare("PyThreadState_Get", "ptr", [])
        self.emit(f"store i32 {int(self.fn.firstlineno or 0)}, ptr %jj.line, align 4")
        self.emit("store i32 1, ptr %jj.tb, align 4")

    def load_state(self) -> None:
        for which, name in (("g", "globals"), ("b", "builtins"), ("cl", "closure")):
            if which in self.uses_state or (which == "g" and (self.landings or self.unwind_used)):
                index = ("g", "b", "cl").index(which)
                p = self.item_ptr("%jj.state", capi.TUPLE_ITEMS + 8 * index)
                self.emit(f"%jj.{name} = load ptr, ptr {p}, align 8, !invariant.load !0")

    def frame_free_typed_region(self) -> Optional[set]:
        """The blocks of this direct body's typed code if none of them touches an object
        register (nor returns an object), else None (see `typed_region`)."""
        transfers = self.fn.specialization.transfers
        region, todo = {self.fn.entry}, [self.fn.entry]
        while todo:
            for s in self.fn.blocks[todo.pop()].all_successors():
                if s not in region and s not in transfers:
                    region.add(s)
                    todo.append(s)
        for b in region:
            block = self.fn.blocks[b]
            if self.release_on_entry.get(b) or isinstance(block.terminator, ir.Return):
                return None
            for i, op in enumerate(block_points(block)):
                if (b, i) in self.release_after or any(
                        r.kind not in ir.UNBOXED_KINDS for r in list(op.uses()) + list(op.defs())
                        if r is not None):
                    return None
        return region

    def zero_frame(self) -> None:
        nslots = max(len(self.frame), 1)
        self.emit(f"call void @llvm.memset.p0.i64(ptr align 8 %jj.frame, i8 0, "
                  f"i64 {8 * nslots}, i1 false)")
        self.decls["llvm.memset.p0.i64"] = ("declare void @llvm.memset.p0.i64(ptr, i8, i64, "
                                           "i1)")

    def frame_allocas(self) -> None:
        """The register frame (zeroed, but see `typed_region`), the scratch slots and the
        unboxed registers."""
        nslots = max(len(self.frame), 1)
        self.emit(f"%jj.frame = alloca [{nslots} x ptr], align 8")
        for k, reg in enumerate(self.frame):
            self.body.append(f"  ; slot {k}: {_comment(str(reg))} ({reg.kind})")
        self.locals_allocas()
        for reg, p in self.unboxed.items():
            ty = LL_TYPES[reg.kind]
            self.body.append(f"  ; {p}: {_comment(str(reg))} ({reg.kind})")
            self.emit(f"{p} = alloca {ty}")
            # Defined on every path: a value is never read before it is written, but
            # a zero keeps LLVM from reasoning about undefined ones.
            self.emit(f"store {ty} {ZERO[ty]}, ptr {p}")
        if getattr(self, "typed_region", None) is None:
            self.zero_frame()

    def entry_checks(self, frame: bool) -> list[str]:
        """The native entry's first block: (frame slots and scratch,) then the checks of
        nargs and of the state tuple; continues in block `state.ok` with %jj.state set."""
        self.body = []
        nparams = len(self.fn.args)
        self.label("entry")
        if frame:
            self.frame_allocas()
        c = self.tmp("c")
        self.emit(f"{c} = icmp eq i64 %nargs, {nparams + 1}")
        self.emit(f"br i1 {c}, label %args.ok, label %args.bad")
        self.label("args.bad")
        self.call("void", "*JJL_ArgCountError", [("i64", "%nargs"), ("i64", str(nparams + 1))])
        self.emit("ret ptr null")
        self.label("args.ok")
        self.emit("%jj.state = load ptr, ptr %args, align 8")
        tp = self.item_ptr("%jj.state", capi.OB_TYPE)
        t = self.tmp("type")
        self.emit(f"{t} = load ptr, ptr {tp}, align 8")
        fp = self.item_ptr(t, capi.TP_FLAGS)
        flags = self.tmp("flags")
        self.emit(f"{flags} = load i64, ptr {fp}, align 8")
        bit = self.tmp("bit")
        self.emit(f"{bit} = and i64 {flags}, {capi.TPFLAGS_TUPLE_SUBCLASS}")
        sp = self.item_ptr("%jj.state", capi.OB_SIZE)
        size = self.tmp("size")
        self.emit(f"{size} = load i64, ptr {sp}, align 8")
        ok1 = self.tmp("c")
        ok2 = self.tmp("c")
        ok = self.tmp("c")
        self.emit(f"{ok1} = icmp ne i64 {bit}, 0")
        self.emit(f"{ok2} = icmp sge i64 {size}, 3")
        self.emit(f"{ok} = and i1 {ok1}, {ok2}")
        self.emit(f"br i1 {ok}, label %state.ok, label %state.bad")
        self.label("state.bad")
        self.call("void", "*JJL_BadState", [])
        self.emit("ret ptr null")
        self.label("state.ok")
        return self.body

    def function_prologue(self) -> list[str]:
        """An ordinary function: state, arguments into their slots, then the entry block."""
        self.body = []
        self.load_state()
        for i, reg in enumerate(self.fn.args):
            p = self.tmp("ap")
            self.emit(f"{p} = getelementptr ptr, ptr %args, i64 {i + 1}")
            v = self.tmp("arg")
            self.emit(f"{v} = load ptr, ptr {p}, align 8")
            self.incref(v)
            self.emit(f"store ptr {v}, ptr {self.slot(reg)}, align 8")
        spec = getattr(self.fn, "specialization", None)
        self.count_call(0 if spec is not None and spec.typed else 1, 1)
        self.emit(f"br label %b{self.fn.entry}")
        return self.body

    def direct_function(self) -> list[str]:
        """The text of the direct body `jj_direct` (a child lowering, see the module
        docstring): no argument checks, the unboxed arguments straight into their registers,
        then the typed copy's entry."""
        fn = self.fn
        for b in self.order:
            self.lower_block(fn.blocks[b])
        for b in sorted(self.landings):
            self.landing(self.landings[b])
        if self.entry_deopts:
            raise LowerError("a direct body has entry guards")
        if self.typed_unwind:
            self.label("unwind.typed")
            self.zero_frame()
            self.emit("br label %unwind")
        if self.unwind_used:
            self.unwind()
        body = self.body
        self.body = []
        self.label("entry")
        self.frame_allocas()
        params = []
        for k, reg in enumerate(fn.args):
            ty = LL_TYPES[reg.kind]
            params.append(f"{ty} %jj.arg{k}")
            self.ustore(reg, f"%jj.arg{k}")
        self.emit(f"br label %b{fn.entry}")
        prologue = self.body
        self.body = []
        rty, _ = self.direct_result()
        head = (f"define internal {rty} @{DIRECT_NAME}(ptr %self, ptr %jj.state, "
                f"{''.join(p + ', ' for p in params)}i32 %jj.rem) {{")
        return [head] + prologue + body + ["}"]

    def direct_result(self) -> tuple[str, str]:
        """(LLVM type, magic value) of this direct body's result (DIRECT_RESULT)."""
        return DIRECT_RESULT[self.fn.specialization.direct_result.unboxed]

    def dirty_slot(self) -> str:
        if not self.dirty:
            self.globals_.append(f"@{DIRTY_NAME} = internal global ptr null")
            self.dirty = True
        return f"@{DIRTY_NAME}"

    def term_SelfCall(self, term: ir.SelfCall) -> None:
        """A direct call of this specialization's direct body (ir.ops.SelfCall): declined
        (b{decline}: the generic Call runs) unless the callee is this very entry and state
        (JJL_SelfReady; in a direct body its caller checked that) and the recursion depth
        allows it; then ok (dest = the typed result), dirty (the callee's object waits in
        @jj.dirty) or raised."""
        args = "".join(f"{LL_TYPES[a.kind]} {self.uload(a)}, " for a in term.args)
        go_label = self.new_label("selfcall")
        if term.func is None:
            spent = self.inst("icmp slt i32 %jj.rem, 1", "c")  # unlikely
            self.emit(f"br i1 {spent}, label %b{term.decline}, label %{go_label}, !prof !1")
            self.label(go_label)
            budget = self.inst("sub i32 %jj.rem, 1", "rem")
        else:
            budget = self.call("i32", "*JJL_SelfReady",
                               [("ptr", self.call_cache()), ("ptr", self.load(term.func)),
                                ("ptr", "%self"), ("ptr", "%jj.state"),
                                ("i64", str(len(term.args)))], hint="sc")
            go = self.inst(f"icmp sge i32 {budget}, 0", "c")
            self.emit(f"br i1 {go}, label %{go_label}, label %b{term.decline}")
            self.label(go_label)
        rty, magic = DIRECT_RESULT[term.dest.kind]
        value = self.inst(f"call {rty} @{DIRECT_NAME}(ptr %self, ptr %jj.state, {args}"
                          f"i32 {budget})", "d")
        if term.func is not None:
            # the direct bodies counted the depth in their budget; their transfers to generic
            # code set the thread's counter: back to what it was before the call
            self.call("void", "*JJL_RecursionSet",
                      [("i32", self.inst(f"add i32 {budget}, 1", "rem"))])
        check, ok = self.new_label("direct.magic"), self.new_label("direct.ok")
        if rty == "i64":
            # value - 2 overflows only for INT64_MIN and the magic -INT64_MAX: one compare
            # with a small immediate, where the magic itself needs a register held across
            # the typed code's calls. The exact test follows on the cold side.
            near = self.new_label("direct.near")
            low = self.call("{i64, i1}", "llvm.ssub.with.overflow.i64",
                            [("i64", value), ("i64", "2")])
            self.emit(f"br i1 {self.inst(f'extractvalue {{i64, i1}} {low}, 1', 'c')}, "
                      f"label %{near}, label %{ok}, !prof !1")
            self.label(near)
            is_magic = self.inst(f"icmp eq i64 {value}, {magic}", "c")
            self.emit(f"br i1 {is_magic}, label %{check}, label %{ok}")
        else:
            cmp = "fcmp oeq" if rty == "double" else "icmp eq"
            is_magic = self.inst(f"{cmp} {rty} {value}, {magic}", "c")
            self.emit(f"br i1 {is_magic}, label %{check}, label %{ok}, !prof !1")
        self.label(check)
        dirty = self.inst(f"load ptr, ptr {self.dirty_slot()}, align 8", "dirty")
        has = self.inst(f"icmp ne ptr {dirty}, null", "c")
        raised_label = self.new_label("direct.raised")
        self.emit(f"br i1 {has}, label %b{term.dirty}, label %{raised_label}")
        self.label(raised_label)
        err = self.call("ptr", "PyErr_Occurred", [], hint="err")
        self.fail_if(self.inst(f"icmp ne ptr {err}, null", "c"), term)
        self.emit(f"br label %{ok}")
        self.label(ok)
        if term.dest.kind == "b1":
            value = self.inst(f"trunc i32 {value} to i1", "v")
        self.ok_with(term, value)

    def op_DirectBudget(self, op: ir.DirectBudget, released):
        self.ustore(op.dest, self.inst(f"icmp sgt i32 %jj.rem, {int(op.depth)}", "c"))

    def op_LeafBudget(self, op: ir.LeafBudget, released):
        self.uses_tstate = True
        ready = self.call("i32", "*JJ_LeafReady", [("ptr", "%jj.ts")])
        self.ustore(op.dest, self.inst(f"icmp ne i32 {ready}, 0", "c"))

    def op_DirectResult(self, op: ir.DirectResult, released):
        # The object the SelfCall's callee handed over (a new reference): taken, slot emptied.
        slot = self.dirty_slot()
        v = self.inst(f"load ptr, ptr {slot}, align 8", "dirty")
        self.emit(f"store ptr null, ptr {slot}, align 8")
        self.store(op.dest, v)

    def term_ReturnUnboxed(self, term: ir.ReturnUnboxed) -> None:
        v = self.uload(term.value)
        if term.value.kind == "b1":
            v = self.inst(f"zext i1 {v} to i32", "v")
        if self.typed_region is None:
            regs = {r for r in self.live.live_before[self.block.id][self.index]
                    if r.kind in RELEASED_KINDS}
            # (typed code: the frame is nearly empty, a few inline tests beat the helper's loop)
            self.exit_release(regs=regs, inline=True)
        self.emit(f"ret {self.direct_result()[0]} {v}")

    def count_call(self, index: int, delta: int) -> None:
        """Add `delta` to the module's call counter `index` (@jj_calls: 0 typed code, 1
        generic code; under the GIL, so a plain add). A call is counted once, on entry, in
        the counter of the code it enters; one that fails the entry guards moves to the
        generic counter (`entry_deopt`). Generators count the calls that make them."""
        p = self.tmp("calls")
        self.emit(f"{p} = getelementptr inbounds [2 x i64], ptr @{CALLS_NAME}, i64 0, "
                  f"i64 {index}")
        n = self.inst(f"load i64, ptr {p}, align 8", "n")
        self.emit(f"store i64 {self.inst(f'add i64 {n}, {delta}', 'n')}, ptr {p}, align 8")

    def entry_deopt(self, term: ir.Op) -> str:
        """The label a failing guard goes to: term.deopt, or for an entry guard of a typed
        specialization a stub that first moves the call to the generic counter."""
        spec = getattr(self.fn, "specialization", None)
        bid = self.block.id if self.block is not None else None
        if (self.direct or spec is None or not spec.typed or bid not in spec.fast_blocks
                or spec.fast_blocks[bid] is not None):
            return f"b{term.deopt}"
        if term.deopt not in self.entry_deopts:
            self.entry_deopts[term.deopt] = self.new_label("entry.deopt")
        return self.entry_deopts[term.deopt]

    def offer_to_next(self) -> None:
        """An entry guard's stub (`entry_deopt`): the arguments go to the next specialization
        of the dispatcher's chain (@jj_chain, see _jj_rt.c's JJL_ChainNext), if any; its
        answer is this call's (the frame, holding only the arguments yet, released), unless it
        lets this module's generic code run them. Nothing has happened yet at that point. The
        call, counted as served by the typed code on entry, is counted where it is served: by
        the next module, or here by the generic code (as the Cython backend's offer_to_next)."""
        self.count_call(0, -1)
        served = self.call("i32", "*JJL_ChainNext",
                           [("ptr", f"@{CHAIN_NAME}"), ("ptr", "%args"), ("i64", "%nargs"),
                            ("ptr", "%jj.chained")], hint="chain")
        answered, generic = self.new_label("chain.answered"), self.new_label("chain.generic")
        self.emit(f"br i1 {self.inst(f'icmp ne i32 {served}, 0', 'c')}, label %{answered}, "
                  f"label %{generic}")
        self.label(answered)
        result = self.inst("load ptr, ptr %jj.chained, align 8", "res")
        # (a cold path: the helper releases every slot whatever the tier)
        self.call("void", "*JJL_ReleaseFrame", [("ptr", "%jj.frame"), ("i64", str(self.nlocals)),
                                               ("i64", str(len(self.frame)))])
        self.emit(f"ret ptr {result}")
        self.label(generic)
        self.count_call(1, 1)

    def generator_entry(self) -> list[str]:
        """A generator function: make the generator over a heap frame holding the arguments
        (JJL_NewGenerator); the body runs in the resume function."""
        self.body = []
        for i, reg in enumerate(self.fn.args):
            if self.slot_index[reg] != i:
                raise LowerError(f"argument {reg} is not in frame slot {i}")
        code = self.fn.code
        argp = self.tmp("ap")
        self.emit(f"{argp} = getelementptr ptr, ptr %args, i64 1")
        args = [("ptr", "%self"), ("ptr", "%jj.state"), ("ptr", argp),
                ("i64", str(len(self.fn.args))), ("i64", str(len(self.frame))),
                ("i64", str(self.nlocals)), ("ptr", f"@{RESUME_NAME}"),
                ("ptr", self.const(code)), ("ptr", self.const_index(self.tbcode_index)),
                ("ptr", self.name(getattr(code, "co_name", None) or self.fn.name)),
                ("ptr", self.name(getattr(code, "co_qualname", None) or self.fn.qualname))]
        self.count_call(1, 1)
        g = self.call("ptr", "*JJL_NewGenerator", args, hint="gen")
        self.emit(f"ret ptr {g}")
        return self.body

    def resume_prologue(self) -> list[str]:
        """The resume function's entry: scratch slots, state, then a switch on the resume
        point (0: the body's entry block; k: just after the k-th yield point)."""
        self.body = []
        self.label("entry")
        self.locals_allocas()
        self.load_state()
        rp = self.tmp("rp")
        self.emit(f"{rp} = load i32, ptr %jj.rp, align 4")
        cases = " ".join(f"i32 {k}, label %resume.{k}" for k in range(1, len(self.resumes) + 1))
        self.emit(f"switch i32 {rp}, label %b{self.fn.entry} [{cases}]")
        return self.body

    # ---- operations ---------------------------------------------------------------------------
    # Each op_X(op, released) emits the op; `released` are the registers that die at it (the
    # caller releases them afterwards); it returns the subset it took ownership of itself.

    def op_Move(self, op: ir.Move, released):
        if op.dest == op.src:
            return None
        if op.dest.kind in ir.UNBOXED_KINDS:
            self.ustore(op.dest, self.uload(op.src))
            return None
        v = self.load(op.src)
        if op.src in released and op.src.kind in RELEASED_KINDS:
            # The source dies here: move its reference instead of copying it.
            self.emit(f"store ptr null, ptr {self.slot(op.src)}, align 8")
            self.store(op.dest, v)
            return {op.src}
        self.incref(v)
        self.store(op.dest, v)
        return None

    def op_EvalBreakerCheck(self, op: EvalBreakerCheck, released):
        if not self.ticks:
            self.globals_.append(f"@jj.ticks = internal global i32 {TICKS}")
            self.ticks = True
        t = self.tmp("ticks")
        self.emit(f"{t} = load i32, ptr @jj.ticks, align 4")
        t2 = self.tmp("ticks")
        self.emit(f"{t2} = sub i32 {t}, 1")
        self.emit(f"store i32 {t2}, ptr @jj.ticks, align 4")
        due = self.tmp("c")
        self.emit(f"{due} = icmp slt i32 {t2}, 0")
        tick = self.new_label("tick")
        cont = self.new_label("ticked")
        self.emit(f"br i1 {due}, label %{tick}, label %{cont}")
        self.label(tick)
        self.emit(f"store i32 {TICKS}, ptr @jj.ticks, align 4")
        r = self.call("i32", "*JJ_HandlePending", [])
        self.check_neg(r, op)
        self.emit(f"br label %{cont}")
        self.label(cont)

    def op_LoadConst(self, op: ir.LoadConst, released):
        if (self.block.id, self.index) in self.folded_loads:
            return None  # read in place by its only use (fold_constants)
        self.store(op.dest, self.owned_const(op.value))

    def op_CheckBound(self, op: ir.CheckBound, released):
        v = self.load(op.var)
        unbound = self.new_label("unbound")
        ok = self.new_label("bound")
        c = self.tmp("c")
        self.emit(f"{c} = icmp eq ptr {v}, null")
        self.emit(f"br i1 {c}, label %{unbound}, label %{ok}")
        self.label(unbound)
        self.call("i32", "*JJ_RaiseUnboundLocal", [("ptr", self.name(op.var.name))])
        self.emit(f"br label %{self.fail_target(op)}")
        self.label(ok)

    def op_DeleteLocal(self, op: ir.DeleteLocal, released):
        self.clear(op.var)

    op_ClearLocal = op_DeleteLocal

    def op_BinaryOp(self, op: ir.BinaryOp, released):
        func = BINARY_FUNCS.get(op.op)
        if func is None:
            raise LowerError(f"unknown binary operator {op.op!r}")
        a, b = self.load(op.left), self.load(op.right)
        k = self.cur_folded.get(op.right)
        if (LONG_INLINE and op.op in SMALL_INT_ARITH and type(k) is int
                and abs(k) < 1 << sys.int_info.bits_per_digit):
            self.store(op.dest, self.small_int_arith(op, func, a, b, k))
            return
        self.store(op.dest, self.obj_call(op, func, [a, b]))

    def small_int_arith(self, op: ir.BinaryOp, func: str, a: str, b: str, k: int) -> str:
        """`a + k` / `a - k` for a folded int constant `k` of one digit (BINARY_OP_ADD_INT's
        commonest case, `i + 1`): an exact int `a` of one digit is computed inline (no
        overflow: both are below 2**30), as `func`'s fast path would; any other `a` calls
        `func`."""
        check, fast, slow, done = (self.new_label(h) for h in ("int.check", "int.fast",
                                                               "int.slow", "int.done"))
        self.emit(f"br i1 {self.type_is(a, 'PyLong_Type')}, label %{check}, label %{slow}")
        self.label(check)
        x = self.medium_value(a, fast, slow)
        r = self.inst(f"{SMALL_INT_ARITH[op.op]} i64 {x}, {k}")
        boxed = self.call("ptr", "PyLong_FromLongLong", [("i64", r)])
        self.emit(f"br label %{done}")
        self.label(slow)
        generic = self.call("ptr", func, [("ptr", a), ("ptr", b)])
        self.emit(f"br label %{done}")
        self.label(done)
        res = self.inst(f"phi ptr [ {boxed}, %{fast} ], [ {generic}, %{slow} ]", "r")
        return self.check_null(res, op)

    def op_UnaryOp(self, op: ir.UnaryOp, released):
        func = UNARY_FUNCS.get(op.op)
        if func is None:
            raise LowerError(f"unknown unary operator {op.op!r}")
        self.store(op.dest, self.obj_call(op, func, [self.load(op.operand)]))

    def op_Compare(self, op: ir.Compare, released):
        code = COMPARE_OPS.get(op.op)
        if code is None:
            raise LowerError(f"unknown comparison {op.op!r}")
        a, b = self.load(op.left), self.load(op.right)
        self.store(op.dest, self.obj_call(op, "*JJL_RichCompare", [a, b, str(code)],
                                          types=["ptr", "ptr", "i32"]))

    def bool_object(self, cond: str) -> str:
        """A new reference to True or False for the i1 `cond`."""
        t, f = self.const(True), self.const(False)
        v = self.tmp("bool")
        self.emit(f"{v} = select i1 {cond}, ptr {t}, ptr {f}")
        self.incref(v)
        return v

    def op_IsOp(self, op: ir.IsOp, released):
        a, b = self.load(op.left), self.load(op.right)
        c = self.tmp("c")
        self.emit(f"{c} = icmp {'ne' if op.negate else 'eq'} ptr {a}, {b}")
        self.store(op.dest, self.bool_object(c))

    def op_ContainsOp(self, op: ir.ContainsOp, released):
        item, container = self.load(op.item), self.load(op.container)
        self.store(op.dest, self.obj_call(op, "*JJ_Contains",
                                          [item, container, str(int(bool(op.negate)))],
                                          types=["ptr", "ptr", "i32"]))

    def op_LoadGlobal(self, op: ir.LoadGlobal, released):
        # A cache per site, in the module's own (writable) data: see JJL_LoadGlobalCached,
        # whose hit (the value while both dicts keep the tags it was found under; it fills
        # the cache for exact dicts only, and a tag is never seen on two dicts) is checked
        # here inline.
        cache, g, b = self.global_cache()
        hit, miss, done = (self.new_label(h) for h in ("gcache.hit", "gcache.miss", "global"))
        value, fresh = self.global_cache_hit(cache, g, b)
        self.emit(f"br i1 {fresh}, label %{hit}, label %{miss}")
        self.label(hit)
        self.incref(value)
        self.emit(f"br label %{done}")
        self.label(miss)
        looked_up = self.call("ptr", "*JJL_LoadGlobalCached",
                              [("ptr", g), ("ptr", b), ("ptr", self.name(op.name)),
                               ("ptr", cache)])
        self.emit(f"br label %{done}")
        self.label(done)
        res = self.inst(f"phi ptr [ {value}, %{hit} ], [ {looked_up}, %{miss} ]", "glob")
        self.store(op.dest, self.check_null(res, op))

    def global_cache(self) -> tuple[str, str, str]:
        """A new LOAD_GLOBAL site's cache (see op_LoadGlobal), and the globals and builtins."""
        cache = f"@jj.gcache.{len(self.globals_)}"
        self.globals_.append(f"{cache} = internal global [3 x i64] zeroinitializer")
        return cache, self.state("g"), self.state("b")

    def global_cache_hit(self, cache: str, g: str, b: str) -> tuple[str, str]:
        """(the cached value, i1: it is the global's value now)."""
        value = self.field(cache, GCACHE_VALUE, "ptr")
        return value, self.all_of(
            self.inst(f"icmp ne ptr {value}, null", "c"),
            self.inst(f"icmp eq i64 {self.field(g, capi.DICT_VERSION_TAG)}, "
                      f"{self.field(cache, GCACHE_GLOBALS)}", "c"),
            self.inst(f"icmp eq i64 {self.field(b, capi.DICT_VERSION_TAG)}, "
                      f"{self.field(cache, GCACHE_BUILTINS)}", "c"))

    def module_cache_hit(self, module: str, cache: str, miss: str) -> str:
        """The value cached for exact module `module`'s attribute, where its dict still has
        the version tag it was found under (else to label `miss`)."""
        check = self.new_label("acache.dict")
        value = self.field(cache, ACACHE_VALUE, "ptr")
        d = self.field(module, capi.MODULE_DICT, "ptr")
        filled = self.all_of(self.inst(f"icmp ne ptr {value}, null", "c"),
                             self.inst(f"icmp ne ptr {d}, null", "c"))
        self.emit(f"br i1 {filled}, label %{check}, label %{miss}")
        self.label(check)
        fresh = self.inst(f"icmp eq i64 {self.field(d, capi.DICT_VERSION_TAG)}, "
                          f"{self.field(cache, ACACHE_VERSION)}", "c")
        hit = self.new_label("acache.hit")
        self.emit(f"br i1 {fresh}, label %{hit}, label %{miss}")
        self.label(hit)
        return value

    def term_GlobalIs(self, term: ir.GlobalIs) -> None:
        cache, g, b = self.global_cache()
        hit, miss = self.new_label("gcache.hit"), self.new_label("gcache.miss")
        value, fresh = self.global_cache_hit(cache, g, b)
        expected = self.const(term.expected)
        self.emit(f"br i1 {fresh}, label %{hit}, label %{miss}")
        self.label(hit)
        same = self.inst(f"icmp eq ptr {value}, {expected}", "c")
        self.emit(f"br i1 {same}, label %b{term.ok}, label %b{term.deopt}")
        self.label(miss)
        found = self.call("i32", "*JJL_GlobalIs", [("ptr", g), ("ptr", b),
                                                   ("ptr", self.name(term.name)),
                                                   ("ptr", cache), ("ptr", expected)])
        self.emit(f"br i1 {self.inst(f'icmp ne i32 {found}, 0', 'c')}, label %b{term.ok}, "
                  f"label %b{term.deopt}")

    def term_ModuleAttrIs(self, term: ir.ModuleAttrIs) -> None:
        cache, miss = self.attr_cache(), self.new_label("acache.miss")
        module, expected = self.const(term.module), self.const(term.expected)
        value = self.module_cache_hit(module, cache, miss)
        same = self.inst(f"icmp eq ptr {value}, {expected}", "c")
        self.emit(f"br i1 {same}, label %b{term.ok}, label %b{term.deopt}")
        self.label(miss)
        found = self.call("i32", "*JJL_ModuleAttrIs", [("ptr", module),
                                                       ("ptr", self.name(term.name)),
                                                       ("ptr", cache), ("ptr", expected)])
        self.emit(f"br i1 {self.inst(f'icmp ne i32 {found}, 0', 'c')}, label %b{term.ok}, "
                  f"label %b{term.deopt}")

    def module_attr_cached(self, op: ir.GetAttr, obj: str, cache: str) -> str:
        """JJL_GetAttrCached, with its hit checked here inline (JJ_GetAttrCached): an exact
        module whose dict still has the version tag the cached value was found under."""
        miss, done = self.new_label("acache.miss"), self.new_label("attr")
        module = self.new_label("acache.module")
        self.emit(f"br i1 {self.type_is(obj, 'PyModule_Type')}, label %{module}, label %{miss}")
        self.label(module)
        value = self.module_cache_hit(obj, cache, miss)
        hit = self.cur
        self.incref(value)
        self.emit(f"br label %{done}")
        self.label(miss)
        looked_up = self.call("ptr", "*JJL_GetAttrCached",
                              [("ptr", obj), ("ptr", self.name(op.name)), ("ptr", cache)])
        self.emit(f"br label %{done}")
        self.label(done)
        res = self.inst(f"phi ptr [ {value}, %{hit} ], [ {looked_up}, %{miss} ]", "attr")
        return self.check_null(res, op)

    def op_StoreGlobal(self, op: ir.StoreGlobal, released):
        self.int_call(op, "*JJ_StoreGlobal", [self.state("g"), self.name(op.name),
                                              self.load(op.value)])

    def op_DeleteGlobal(self, op: ir.DeleteGlobal, released):
        self.int_call(op, "*JJ_DeleteGlobal", [self.state("g"), self.name(op.name)])

    def op_MakeCell(self, op: ir.MakeCell, released):
        if op.initial is None:
            cell = self.obj_call(op, "*JJ_NewEmptyCell", [])
        else:
            cell = self.obj_call(op, "*JJ_NewCell", [self.load(op.initial)])
        self.store(op.cell, cell)
        if op.initial is not None and op.initial.kind == "var":
            # MAKE_CELL replaces the local with the cell: the local no longer holds the value.
            self.clear(op.initial)

    def op_LoadFreeCell(self, op: ir.LoadFreeCell, released):
        self.store(op.cell, self.obj_call(op, "*JJ_FreeCell",
                                          [self.state("cl"), str(int(op.index))],
                                          types=["ptr", "i64"]))

    def op_LoadDeref(self, op: ir.LoadDeref, released):
        self.store(op.dest, self.obj_call(op, "*JJ_LoadDeref",
                                          [self.load(op.cell), self.name(op.name),
                                           str(int(bool(op.is_free)))],
                                          types=["ptr", "ptr", "i32"]))

    def op_StoreDeref(self, op: ir.StoreDeref, released):
        self.call("i32", "*JJ_StoreDeref", [("ptr", self.load(op.cell)),
                                            ("ptr", self.load(op.value))])

    def op_DeleteDeref(self, op: ir.DeleteDeref, released):
        self.int_call(op, "*JJ_DeleteDeref", [self.load(op.cell), self.name(op.name),
                                              str(int(bool(op.is_free)))],
                      types=["ptr", "ptr", "i32"])

    def op_GetAttr(self, op: ir.GetAttr, released):
        companion = self.companion.get(op.dest)
        obj = self.load(op.obj)
        if companion is None and op.dest not in self.self_var:
            # With a cache per site (JJL_GetAttrCached: an instance's or a module's attribute).
            self.store(op.dest, self.module_attr_cached(op, obj, self.attr_cache()))
            return
        # LOAD_METHOD: dest = the method, companion = self when it is an unbound method.
        meth, found = self.cached_method(obj, op.name)
        self.check_null(meth, op)
        self.store(op.dest, meth)
        if companion is None:
            self.found[op.dest] = found  # `self` stays in its local (see self_var)
            return
        unbound = self.tmp("c")
        self.emit(f"{unbound} = icmp ne i32 {found}, 0")
        with_self = self.new_label("withself")
        done = self.new_label("gotmethod")
        self.emit(f"br i1 {unbound}, label %{with_self}, label %{done}")
        self.label(with_self)
        self.incref(obj)
        self.emit(f"store ptr {obj}, ptr {self.slot(companion)}, align 8")
        self.emit(f"br label %{done}")
        self.label(done)

    def cached_method(self, obj: str, name: str) -> tuple[str, str]:
        """LOAD_METHOD with a cache per site (JJL_GetMethodCached: LOAD_METHOD_NO_DICT), its
        hit checked inline, as jj_runtime.h's JJ_LoadMethod is on the Cython path: (the
        method, NULL with an exception set; i32 `found`)."""
        self.uses_meth = True
        cache = f"@jj.mcache.{len(self.globals_)}"
        self.globals_.append(f"{cache} = internal global [3 x i64] zeroinitializer")
        check, hit, miss, done = (self.new_label(h) for h in ("mcache", "mcache.hit",
                                                              "mcache.miss", "gotmeth"))
        tp = self.field(obj, capi.OB_TYPE, "ptr")
        same = self.inst(f"icmp eq ptr {tp}, {self.field(cache, MCACHE_TYPE, 'ptr')}", "c")
        self.emit(f"br i1 {same}, label %{check}, label %{miss}")
        self.label(check)
        version = self.field(tp, capi.TP_VERSION_TAG, "i32")
        valid = self.inst(f"and i64 {self.field(tp, capi.TP_FLAGS)}, "
                          f"{capi.TPFLAGS_VALID_VERSION_TAG}")
        fresh = self.all_of(
            self.inst(f"icmp eq i32 {version}, {self.field(cache, MCACHE_VERSION, 'i32')}", "c"),
            self.inst(f"icmp ne i64 {valid}, 0", "c"))
        self.emit(f"br i1 {fresh}, label %{hit}, label %{miss}")
        self.label(hit)
        descr = self.field(cache, MCACHE_DESCR, "ptr")
        self.incref(descr)
        self.emit(f"br label %{done}")
        self.label(miss)
        found = self.call("i32", "*JJL_GetMethodCached", [("ptr", obj), ("ptr", self.name(name)),
                                                          ("ptr", "%jj.meth"), ("ptr", cache)])
        looked_up = self.inst("load ptr, ptr %jj.meth, align 8", "meth")
        self.emit(f"br label %{done}")
        self.label(done)
        return (self.inst(f"phi ptr [ {descr}, %{hit} ], [ {looked_up}, %{miss} ]", "meth"),
                self.inst(f"phi i32 [ 1, %{hit} ], [ {found}, %{miss} ]", "found"))

    def attr_cache(self) -> str:
        """A new site's JJ_AttrCache (jj_runtime.h), zeroed."""
        cache = f"@jj.acache.{len(self.globals_)}"
        self.globals_.append(f"{cache} = internal global [{ATTR_CACHE_WORDS} x i64] "
                             "zeroinitializer")
        return cache

    def op_SetAttr(self, op: ir.SetAttr, released):
        self.int_call(op, "*JJL_SetAttrCached", [self.load(op.obj), self.name(op.name),
                                                 self.load(op.value), self.attr_cache()])

    def op_DelAttr(self, op: ir.DelAttr, released):
        self.int_call(op, "*JJ_DelAttr", [self.load(op.obj), self.name(op.name)])

    def op_GetItem(self, op: ir.GetItem, released):
        self.store(op.dest, self.obj_call(op, "*JJL_GetItem",
                                          [self.load(op.obj), self.load(op.key)]))

    def op_SetItem(self, op: ir.SetItem, released):
        # STORE_SUBSCR_DICT: an exact dict calls PyDict_SetItem (what dict_ass_sub does);
        # anything else jj_runtime.h's JJ_SetItem, as on the Cython path (an exact list with
        # an int index in range is stored inline).
        obj, key, value = self.load(op.obj), self.load(op.key), self.load(op.value)
        is_dict, other, done = (self.new_label(h) for h in ("setdict", "setitem", "stored"))
        self.emit(f"br i1 {self.type_is(obj, 'PyDict_Type')}, label %{is_dict}, label %{other}")
        self.label(is_dict)
        r1 = self.call("i32", "PyDict_SetItem", [("ptr", obj), ("ptr", key), ("ptr", value)])
        self.emit(f"br label %{done}")
        self.label(other)
        r2 = self.call("i32", "*JJ_SetItem", [("ptr", obj), ("ptr", key), ("ptr", value)])
        self.emit(f"br label %{done}")
        self.label(done)
        self.check_neg(self.inst(f"phi i32 [ {r1}, %{is_dict} ], [ {r2}, %{other} ]", "r"), op)

    def op_DelItem(self, op: ir.DelItem, released):
        self.int_call(op, "PyObject_DelItem", [self.load(op.obj), self.load(op.key)])

    def op_BuildSlice(self, op: ir.BuildSlice, released):
        self.store(op.dest, self.obj_call(op, "PySlice_New",
                                          [self.load(op.start), self.load(op.stop),
                                           self.opt(op.step)]))

    def argv(self, values: list[str], skip: int = 1) -> str:
        """Store `values` at argv[skip:] (the slots before are free for the callee:
        PY_VECTORCALL_ARGUMENTS_OFFSET, JJ_CALL_FREE); returns a pointer to argv[skip]."""
        self.argv_size = max(self.argv_size, len(values) + skip)
        for i, v in enumerate(values):
            p = self.tmp("av")
            self.emit(f"{p} = getelementptr ptr, ptr %jj.argv, i64 {i + skip}")
            self.emit(f"store ptr {v}, ptr {p}, align 8")
        p = self.tmp("av")
        self.emit(f"{p} = getelementptr ptr, ptr %jj.argv, i64 {skip}")
        return p

    def op_Call(self, op: ir.Call, released):
        # CALL through jj_runtime.h's JJ_VectorcallCached, as the Cython path does, with a
        # JJ_CallCache per site in the module's data: a call of a @jit trampoline goes
        # straight to its target (no interpreter frame for the trampoline; fib's calls cost
        # a third as much), warnings.warn goes to JJ_Warn, bound methods, dict.get and
        # list.append skip the method machinery; anything else is PyObject_Vectorcall.
        func = self.load(op.func)
        values = [self.load(a) for a in op.args]
        kwnames = tuple(op.kwnames)
        nkw = len(kwnames)
        if nkw > len(values):
            raise LowerError("Call with more keyword names than arguments")
        kw = self.const(kwnames) if nkw else "null"
        self_obj, has = self.method_self(op.func)
        npos = len(values) - nkw
        if self_obj is not None and not nkw and npos in METHOD_CALL_HELPERS:
            # CALL after LOAD_METHOD with 1 or 2 arguments: jj_runtime.h's JJ_Call1/JJ_Call2
            # (found when `self` is set), which recognize d.get(k[, default]) and
            # l.append(x) on an exact dict / list before any call machinery.
            found = self.inst(f"zext i1 {has} to i32", "found")
            res = self.call("ptr", METHOD_CALL_HELPERS[npos],
                            [("ptr", self.call_cache())] + self.caller()
                            + [("ptr", func), ("i32", found), ("ptr", self_obj)]
                            + [("ptr", v) for v in values])
            self.store(op.dest, self.check_null(res, op))
            return
        if self_obj is None:
            argp = self.argv(values, skip=CALL_FREE)
            npos_value = str(npos)
        else:
            # CALL after LOAD_METHOD: with `self` (argv[CALL_FREE]) when the lookup found an
            # unbound method, else without.
            argp = self.argv(values, skip=CALL_FREE + 1)
            p1 = self.tmp("av")
            self.emit(f"{p1} = getelementptr ptr, ptr %jj.argv, i64 {CALL_FREE}")
            self.emit(f"store ptr {self_obj}, ptr {p1}, align 8")
            argp = self.inst(f"select i1 {has}, ptr {p1}, ptr {argp}", "av")
            npos_value = self.inst(f"select i1 {has}, i64 {npos + 1}, i64 {npos}", "n")
        res = self.call("ptr", "*JJ_VectorcallCached",
                        [("ptr", self.call_cache())] + self.caller()
                        + [("ptr", func), ("ptr", argp), ("i64", npos_value), ("ptr", kw)])
        self.store(op.dest, self.check_null(res, op))

    def method_self(self, func: Reg) -> tuple[Optional[str], Optional[str]]:
        """For a Call of `func`: (None, None) when it is no method call, else the `self` to
        pass (borrowed; NULL when the lookup found no unbound method) and the i1 `self` is
        not NULL."""
        var = self.self_var.get(func)
        if var is not None:
            unbound = self.inst(f"icmp ne i32 {self.found.pop(func)}, 0", "c")
            return (self.inst(f"select i1 {unbound}, ptr {self.load(var)}, ptr null", "self"),
                    unbound)
        companion = self.companion.get(func)
        if companion is None:
            return None, None
        self_obj = self.load(companion)
        return self_obj, self.inst(f"icmp ne ptr {self_obj}, null", "c")

    def call_cache(self) -> str:
        """A new call site's JJ_CallCache (zeroed words of the module's data)."""
        cache = f"@jj.ccache.{len(self.globals_)}"
        self.globals_.append(f"{cache} = internal global [{CALL_CACHE_WORDS} x i64] "
                             "zeroinitializer")
        return cache

    def op_CallEx(self, op: ir.CallEx, released):
        self.store(op.dest, self.obj_call(op, "*JJ_CallEx", [self.load(op.func),
                                                             self.load(op.args),
                                                             self.opt(op.kwargs),
                                                             *(v for _, v in self.caller())]))

    def caller(self) -> list:
        """What a call passes about the calling function (its state tuple, traceback code and
        line slot), for a callee that needs its frame: warnings.warn (jj_runtime.h, JJ_Warn).
        The line goes in a slot of its own, copied at the call: handing out %jj.line itself
        would keep LLVM from promoting it to registers (Mandelbrot ran at half speed)."""
        self.uses_cline = True
        line = self.tmp("line")
        self.emit(f"{line} = load i32, ptr %jj.line, align 4")
        self.emit(f"store i32 {line}, ptr %jj.cline, align 4")
        return [("ptr", "%jj.state"), ("ptr", self.const_index(self.tbcode_index)),
                ("ptr", "%jj.cline")]

    def op_MakeFunction(self, op: ir.MakeFunction, released):
        args = [self.const(op.code), self.state("g"), self.opt(op.defaults),
                self.opt(op.kwdefaults), self.opt(op.annotations), self.opt(op.closure)]
        self.store(op.dest, self.obj_call(op, "*JJ_MakeFunction", args))

    def op_LoadBuildClass(self, op: ir.LoadBuildClass, released):
        self.store(op.dest, self.obj_call(op, "*JJ_LoadBuildClass", [self.state("b")]))

    def op_LoadAssertionError(self, op: ir.LoadAssertionError, released):
        self.store(op.dest, self.obj_call(op, "*JJ_AssertionError", []))

    def op_ImportName(self, op: ir.ImportName, released):
        args = [self.state("b"), self.state("g"), self.name(op.name), self.load(op.fromlist),
                self.load(op.level)]
        self.store(op.dest, self.obj_call(op, "*JJ_ImportName", args))

    def op_ImportFrom(self, op: ir.ImportFrom, released):
        self.store(op.dest, self.obj_call(op, "*JJ_ImportFrom",
                                          [self.load(op.module), self.name(op.name)]))

    def fill_items(self, items_ptr: str, regs: list[Reg]) -> None:
        for i, reg in enumerate(regs):
            v = self.load(reg)
            self.incref(v)
            p = self.item_ptr(items_ptr, 8 * i)
            self.emit(f"store ptr {v}, ptr {p}, align 8")

    def op_BuildTuple(self, op: ir.BuildTuple, released):
        t = self.call("ptr", "PyTuple_New", [("i64", str(len(op.items)))])
        self.check_null(t, op)
        if op.items:
            self.fill_items(self.item_ptr(t, capi.TUPLE_ITEMS), op.items)
        self.store(op.dest, t)

    def op_BuildList(self, op: ir.BuildList, released):
        lst = self.call("ptr", "PyList_New", [("i64", str(len(op.items)))])
        self.check_null(lst, op)
        if op.items:
            items = self.tmp("items")
            self.emit(f"{items} = load ptr, ptr {self.item_ptr(lst, capi.LIST_ITEMS)}, align 8")
            self.fill_items(items, op.items)
        self.store(op.dest, lst)

    def varargs_call(self, op: ir.Op, name: str, fixed: list[tuple[str, str]],
                     regs: list[Reg]) -> str:
        args = fixed + [("ptr", self.load(r)) for r in regs]
        res = self.call("ptr", name, args, nfixed=len(fixed))
        return self.check_null(res, op)

    def op_BuildSet(self, op: ir.BuildSet, released):
        self.store(op.dest, self.varargs_call(op, "*JJ_BuildSet",
                                              [("i64", str(len(op.items)))], op.items))

    def op_BuildMap(self, op: ir.BuildMap, released):
        if len(op.keys) != len(op.values):
            raise LowerError("BuildMap with different numbers of keys and values")
        pairs: list[Reg] = []
        for key, value in zip(op.keys, op.values):
            pairs += [key, value]
        self.store(op.dest, self.varargs_call(op, "*JJ_BuildMap",
                                              [("i64", str(len(op.keys)))], pairs))

    def op_BuildConstKeyMap(self, op: ir.BuildConstKeyMap, released):
        self.store(op.dest, self.varargs_call(
            op, "*JJ_BuildConstKeyMap",
            [("ptr", self.const(op.keys)), ("i64", str(len(op.values)))], op.values))

    def op_BuildString(self, op: ir.BuildString, released):
        self.store(op.dest, self.varargs_call(op, "*JJ_BuildString",
                                              [("i64", str(len(op.parts)))], op.parts))

    def op_FormatValue(self, op: ir.FormatValue, released):
        if op.conversion not in CONVERSIONS:
            raise LowerError(f"unknown conversion {op.conversion!r}")
        args = [self.load(op.value), str(CONVERSIONS[op.conversion]), self.opt(op.spec),
                str(int(op.spec is not None))]
        self.store(op.dest, self.obj_call(op, "*JJ_FormatValue", args,
                                          types=["ptr", "i32", "ptr", "i32"]))

    def op_ListToTuple(self, op: ir.ListToTuple, released):
        self.store(op.dest, self.obj_call(op, "PyList_AsTuple", [self.load(op.list_)]))

    def op_ListAppend(self, op: ir.ListAppend, released):
        self.int_call(op, "PyList_Append", [self.load(op.list_), self.load(op.value)])

    def op_ListExtend(self, op: ir.ListExtend, released):
        self.int_call(op, "*JJ_ListExtend", [self.load(op.list_), self.load(op.iterable)])

    def op_SetAdd(self, op: ir.SetAdd, released):
        self.int_call(op, "PySet_Add", [self.load(op.set_), self.load(op.value)])

    def op_SetUpdate(self, op: ir.SetUpdate, released):
        self.int_call(op, "*JJ_SetUpdate", [self.load(op.set_), self.load(op.iterable)])

    def op_MapAdd(self, op: ir.MapAdd, released):
        self.int_call(op, "PyDict_SetItem", [self.load(op.dict_), self.load(op.key),
                                             self.load(op.value)])

    def op_DictUpdate(self, op: ir.DictUpdate, released):
        self.int_call(op, "*JJ_DictUpdate", [self.load(op.dict_), self.load(op.mapping)])

    def op_DictMerge(self, op: ir.DictMerge, released):
        self.int_call(op, "*JJ_DictMerge", [self.load(op.dict_), self.load(op.mapping),
                                            self.load(op.func)])

    def op_GetIter(self, op: ir.GetIter, released):
        self.store(op.dest, self.obj_call(op, "PyObject_GetIter", [self.load(op.obj)]))

    def op_GetYieldFromIter(self, op: ir.GetYieldFromIter, released):
        coro = int(bool(self.code_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE)))
        self.store(op.dest, self.obj_call(op, "*JJ_GetYieldFromIter",
                                          [self.load(op.obj), str(coro)], types=["ptr", "i32"]))

    def unpack_tuple(self, t: str, dests: list[Reg]) -> None:
        """dests[i] = t[i] for the new tuple `t`, then release `t`."""
        items = self.item_ptr(t, capi.TUPLE_ITEMS)
        values = []
        for i in range(len(dests)):
            v = self.tmp("it")
            self.emit(f"{v} = load ptr, ptr {self.item_ptr(items, 8 * i)}, align 8")
            self.incref(v)
            values.append(v)
        stored = set()
        for dest, v in zip(dests, values):
            self.store(dest, v, may_hold=True if dest in stored else None)
            stored.add(dest)
        self.decref(t)

    def op_UnpackSequence(self, op: ir.UnpackSequence, released):
        t = self.obj_call(op, "*JJ_UnpackSequence", [self.load(op.src), str(len(op.dests))],
                          types=["ptr", "i32"])
        self.unpack_tuple(t, op.dests)

    def op_UnpackEx(self, op: ir.UnpackEx, released):
        if len(op.dests) != op.before + 1 + op.after:
            raise LowerError("UnpackEx with a wrong number of destinations")
        t = self.obj_call(op, "*JJ_UnpackEx", [self.load(op.src), str(int(op.before)),
                                               str(int(op.after))], types=["ptr", "i32", "i32"])
        self.unpack_tuple(t, op.dests)

    def op_PushExcInfo(self, op: ir.PushExcInfo, released):
        prev = self.call("ptr", "*JJ_PushExcInfo", [("ptr", self.load(op.exc))])
        self.store(op.prev, prev)

    def op_PopExcept(self, op: ir.PopExcept, released):
        self.call("void", "*JJ_PopExcept", [("ptr", self.load(op.prev))])

    def op_CheckExcMatch(self, op: ir.CheckExcMatch, released):
        self.store(op.dest, self.obj_call(op, "*JJ_CheckExcMatch",
                                          [self.load(op.exc), self.load(op.match_type)]))

    def op_CheckEgMatch(self, op: ir.CheckEgMatch, released):
        t = self.obj_call(op, "*JJ_CheckEgMatch", [self.load(op.exc), self.load(op.match_type)])
        self.unpack_tuple(t, [op.rest, op.match])

    def op_PrepReraiseStar(self, op: ir.PrepReraiseStar, released):
        self.store(op.dest, self.obj_call(op, "*JJ_PrepReraiseStar",
                                          [self.load(op.orig), self.load(op.raised)]))

    def op_BeforeWith(self, op: ir.BeforeWith, released):
        t = self.obj_call(op, "*JJ_BeforeWith", [self.load(op.manager)])
        self.unpack_tuple(t, [op.exit, op.result])

    def op_WithExceptStart(self, op: ir.WithExceptStart, released):
        self.store(op.dest, self.obj_call(op, "*JJ_WithExceptStart",
                                          [self.load(op.exit), self.load(op.exc)]))

    def op_GetLen(self, op: ir.GetLen, released):
        self.store(op.dest, self.obj_call(op, "*JJ_GetLen", [self.load(op.obj)]))

    def op_MatchMapping(self, op: ir.MatchMapping, released):
        self.store(op.dest, self.obj_call(op, "*JJ_MatchMapping", [self.load(op.subject)]))

    def op_MatchSequence(self, op: ir.MatchSequence, released):
        self.store(op.dest, self.obj_call(op, "*JJ_MatchSequence", [self.load(op.subject)]))

    def op_MatchKeys(self, op: ir.MatchKeys, released):
        self.store(op.dest, self.obj_call(op, "*JJ_MatchKeys",
                                          [self.load(op.subject), self.load(op.keys)]))

    def op_MatchClass(self, op: ir.MatchClass, released):
        args = [self.load(op.subject), self.load(op.cls), self.load(op.names), str(int(op.nargs))]
        self.store(op.dest, self.obj_call(op, "*JJ_MatchClass", args,
                                          types=["ptr", "ptr", "ptr", "i64"]))

    def resume_point(self) -> tuple[int, str]:
        if not self.gen:
            raise LowerError("a yield in a function that is not a generator")
        self.resumes.append(f"resume.{len(self.resumes) + 1}")
        return len(self.resumes), self.resumes[-1]

    def op_Yield(self, op: ir.Yield, released):
        """Suspend with the value (YIELD_VALUE pops it: a dying register is moved out, not
        kept); on resumption, dest = the value sent in, or the exception thrown in is raised
        here (mode 2)."""
        k, label = self.resume_point()
        v = self.load(op.value)
        stolen = None
        if op.value in released and op.value.kind in RELEASED_KINDS:
            self.emit(f"store ptr null, ptr {self.slot(op.value)}, align 8")
            stolen = {op.value}
        else:
            self.incref(v)
        self.emit(f"store i32 {k}, ptr %jj.rp, align 4")
        self.emit(f"ret ptr {v}")
        self.label(label)
        if op.line is not None:
            self.emit(f"store i32 {int(op.line)}, ptr %jj.line, align 4")
            self.known_line = op.line
        thrown = self.tmp("c")
        self.emit(f"{thrown} = icmp eq i32 %mode, 2")
        self.fail_if(thrown, op)
        self.incref("%sent")
        self.store(op.dest, "%sent")
        return stolen

    def op_YieldFrom(self, op: ir.YieldFrom, released):
        """SEND / YIELD_VALUE's loop: send into the delegate (PyIter_Send) until it returns
        (dest = its value) or fails; each value it yields is yielded, suspended with the
        delegate in *yf (gi_yieldfrom). On resumption: mode 0 sends the value on, mode 1 means
        the delegate finished with `sent` (throw()/close() went through it), mode 2 raises
        here."""
        k, label = self.resume_point()
        self.uses_gres = True
        send, nxt, ret, err, done, cont = (f"yf{name}.{k}" for name in
                                           ("send", "next", "ret", "err", "done", "cont"))
        none = self.none()
        before = self.cur
        self.emit(f"br label %{send}")
        self.label(send)
        sent = self.tmp("sent")
        self.emit(f"{sent} = phi ptr [ {none}, %{before} ], [ %sent, %{label} ]")
        it = self.load(op.iterator)
        self.emit("store ptr null, ptr %jj.gres, align 8")
        status = self.call("i32", "PyIter_Send", [("ptr", it), ("ptr", sent),
                                                  ("ptr", "%jj.gres")])
        r = self.tmp("r")
        self.emit(f"{r} = load ptr, ptr %jj.gres, align 8")
        self.emit(f"switch i32 {status}, label %{nxt} [i32 0, label %{ret} "
                  f"i32 -1, label %{err}]")
        self.label(err)
        self.emit(f"br label %{self.fail_target(op)}")
        self.label(nxt)
        self.incref(it)
        self.emit(f"store ptr {it}, ptr %jj.yf, align 8")
        self.emit(f"store i32 {k}, ptr %jj.rp, align 4")
        self.emit(f"ret ptr {r}")
        self.label(label)
        if op.line is not None:
            self.emit(f"store i32 {int(op.line)}, ptr %jj.line, align 4")
            self.known_line = op.line
        old = self.tmp("old")
        self.emit(f"{old} = load ptr, ptr %jj.yf, align 8")
        self.emit("store ptr null, ptr %jj.yf, align 8")
        self.xdecref(old)
        thrown = self.new_label(f"yfthrown.{k}")
        self.emit(f"switch i32 %mode, label %{send} [i32 1, label %{done} "
                  f"i32 2, label %{thrown}]")
        self.label(thrown)
        self.emit(f"br label %{self.fail_target(op)}")
        self.label(done)
        self.incref("%sent")
        self.emit(f"br label %{cont}")
        self.label(ret)
        self.emit(f"br label %{cont}")
        self.label(cont)
        value = self.tmp("v")
        self.emit(f"{value} = phi ptr [ %sent, %{done} ], [ {r}, %{ret} ]")
        self.store(op.dest, value)

    # ---- typed code (justjit.specialize) ------------------------------------------------------
    # Unboxed registers are allocas of C values (LL_TYPES); typed ops compute inline, without
    # wrapping or trapping: what CPython would not compute the same way deopts instead.

    def inst(self, text: str, hint: str = "t") -> str:
        """`%tN = text`: one instruction's value."""
        v = self.tmp(hint)
        self.emit(f"{v} = {text}")
        return v

    def uslot(self, reg: Reg) -> str:
        p = self.unboxed.get(reg)
        if p is None:
            raise LowerError(f"{reg} is not an unboxed register of {self.fn.qualname}")
        return p

    def uload(self, reg: Reg) -> str:
        # (Hint "v": a value named like a block label, %b9, would not parse.)
        return self.inst(f"load {LL_TYPES[reg.kind]}, ptr {self.uslot(reg)}", "v")

    def ustore(self, reg: Reg, v: str) -> None:
        self.emit(f"store {LL_TYPES[reg.kind]} {v}, ptr {self.uslot(reg)}")

    def field(self, obj: str, offset: int, ty: str = "i64") -> str:
        """A word of an object (or a cache); with `FLOAT_VALUE, "double"`, a float's value."""
        tag = TBAA_FLOAT_VALUE if (offset, ty) == (FLOAT_VALUE, "double") else TBAA_WORD
        return self.inst(f"load {ty}, ptr {self.item_ptr(obj, offset)}, align 8, {tag}", "fld")

    def type_is(self, obj: str, type_symbol: str) -> str:
        """i1: type(obj) is exactly the type object `type_symbol` (a C-API data symbol)."""
        self.data.add(type_symbol)
        tp = self.field(obj, capi.OB_TYPE, "ptr")
        return self.inst(f"icmp eq ptr {tp}, @{type_symbol}", "c")

    def any_of(self, *conds: str) -> str:
        v = conds[0]
        for c in conds[1:]:
            v = self.inst(f"or i1 {v}, {c}", "c")
        return v

    def all_of(self, *conds: str) -> str:
        v = conds[0]
        for c in conds[1:]:
            v = self.inst(f"and i1 {v}, {c}", "c")
        return v

    def op_ConstInt(self, op: ir.ConstInt, released):
        if not INT64_MIN <= op.value < -INT64_MIN:
            raise LowerError(f"ConstInt {op.value} does not fit int64")
        self.ustore(op.dest, str(int(op.value)))

    def op_ConstFloat(self, op: ir.ConstFloat, released):
        self.ustore(op.dest, _double(op.value))

    def op_ConstBool(self, op: ir.ConstBool, released):
        self.ustore(op.dest, "true" if op.value else "false")

    def box(self, op: ir.Op, func: str, dest: Reg, src: Reg) -> None:
        """dest = func(src) for a C-API constructor. Its failure (a MemoryError) leaves the
        function without running a handler, as the contract allows."""
        v = self.call("ptr", func, [(LL_TYPES[src.kind], self.uload(src))])
        self.store(dest, self.check_null(v, op))

    def op_BoxInt(self, op: ir.BoxInt, released):
        self.box(op, "PyLong_FromLongLong", op.dest, op.src)

    def op_BoxFloat(self, op: ir.BoxFloat, released):
        self.box(op, "PyFloat_FromDouble", op.dest, op.src)

    def op_BoxBool(self, op: ir.BoxBool, released):
        self.store(op.dest, self.bool_object(self.uload(op.src)))

    def new_range(self, op: ir.Op, start: Reg, stop: Reg, step: Reg) -> str:
        """A new reference to range(start, stop, step) (PyRange_Type called with 3 ints)."""
        if not self.range_format:
            self.globals_.append('@jj.fmt.range = private unnamed_addr constant [4 x i8] '
                                 'c"LLL\\00"')
            self.range_format = True
        self.data.add("PyRange_Type")
        args = [("ptr", "@PyRange_Type"), ("ptr", "@jj.fmt.range")]
        args += [("i64", self.uload(r)) for r in (start, stop, step)]
        return self.check_null(self.call("ptr", "PyObject_CallFunction", args, nfixed=2), op)

    def op_BoxRange(self, op: ir.BoxRange, released):
        self.store(op.dest, self.new_range(op, op.start, op.stop, op.step))

    def op_BoxRangeIter(self, op: ir.BoxRangeIter, released):
        r = self.new_range(op, op.cur, op.stop, op.step)
        it = self.call("ptr", "PyObject_GetIter", [("ptr", r)])
        self.decref(r)
        self.store(op.dest, self.check_null(it, op))

    def medium_value(self, x: str, fast: str, slow: str) -> str:
        """For the exact int `x` (LONG_INLINE): branch to `slow` unless it has at most one
        digit, else to `fast`, where its value is computed (returned)."""
        size = self.field(x, capi.OB_SIZE)
        biased = self.inst(f"add i64 {size}, 1")
        one_digit = self.inst(f"icmp ult i64 {biased}, 3", "c")  # -1, 0 or 1 digit
        self.emit(f"br i1 {one_digit}, label %{fast}, label %{slow}")
        self.label(fast)
        digit = self.inst(f"zext i32 {self.field(x, LONG_DIGITS, 'i32')} to i64")
        return self.inst(f"mul i64 {size}, {digit}")

    def long_value(self, x: str) -> str:
        """The value of the exact int `x`, known to fit int64."""
        if not LONG_INLINE:
            return self.call("i64", "PyLong_AsLongLong", [("ptr", x)])
        fast, slow, done = (self.new_label(h) for h in ("long.fast", "long.slow", "long"))
        small = self.medium_value(x, fast, slow)
        self.emit(f"br label %{done}")
        self.label(slow)
        big = self.call("i64", "PyLong_AsLongLong", [("ptr", x)])
        self.emit(f"br label %{done}")
        self.label(done)
        return self.inst(f"phi i64 [ {small}, %{fast} ], [ {big}, %{slow} ]", "long")

    def op_UnboxInt(self, op: ir.UnboxInt, released):
        self.ustore(op.dest, self.long_value(self.load(op.src)))

    def op_UnboxFloat(self, op: ir.UnboxFloat, released):
        self.ustore(op.dest, self.field(self.load(op.src), FLOAT_VALUE, "double"))

    def op_UnboxBool(self, op: ir.UnboxBool, released):
        x = self.load(op.src)
        self.ustore(op.dest, self.inst(f"icmp eq ptr {x}, {self.const(True)}", "c"))

    def op_BoolToInt(self, op: ir.BoolToInt, released):
        self.ustore(op.dest, self.inst(f"zext i1 {self.uload(op.src)} to i64"))

    def op_IntToFloat(self, op: ir.IntToFloat, released):
        # Round to nearest, ties to even (the default rounding mode), as PyLong_AsDouble.
        self.ustore(op.dest, self.inst(f"sitofp i64 {self.uload(op.src)} to double"))

    def binary(self, op: ir.Op, instr: str) -> None:
        """dest = left <instr> right, one instruction on values of the operands' type."""
        a, b = self.uload(op.left), self.uload(op.right)
        self.ustore(op.dest, self.inst(f"{instr} {LL_TYPES[op.left.kind]} {a}, {b}"))

    def op_IntBitwise(self, op: ir.IntBitwise, released):
        self.binary(op, INT_BITWISE[op.op])

    def op_FloatArith(self, op: ir.FloatArith, released):
        self.binary(op, FLOAT_ARITH[op.op])  # no fast-math flags: IEEE results, nan and inf

    def op_IntCompare(self, op: ir.IntCompare, released):
        self.binary(op, "icmp " + ICMP[op.op])

    def op_FloatCompare(self, op: ir.FloatCompare, released):
        self.binary(op, "fcmp " + FCMP[op.op])

    def fabs(self, v: str) -> str:
        return self.call("double", "llvm.fabs.f64", [("double", v)])

    def op_FloatUnary(self, op: ir.FloatUnary, released):
        v = self.uload(op.operand)
        if op.op == "neg":
            self.ustore(op.dest, self.inst(f"fneg double {v}"))
        elif op.op == "abs":
            self.ustore(op.dest, self.fabs(v))
        elif op.op == "round":  # jj_typed.h's JJ_RoundHalfEven
            rounded = self.call("double", "llvm.round.f64", [("double", v)])
            tie = self.inst(f"fcmp oeq double {self.fabs(self.inst(f'fsub double {v}, {rounded}'))}"
                            f", 0.5", "c")
            half = self.call("double", "llvm.round.f64",
                             [("double", self.inst(f"fdiv double {v}, 2.0"))])
            even = self.inst(f"fmul double {half}, 2.0")
            self.ustore(op.dest, self.inst(f"select i1 {tie}, double {even}, double {rounded}"))
        else:
            raise LowerError(f"unknown FloatUnary {op.op!r}")

    def op_Truth(self, op: ir.Truth, released):
        v = self.uload(op.src)
        kind = op.src.kind
        if kind == "b1":
            t = self.inst(f"xor i1 {v}, true", "c") if op.negate else v
        elif kind == "i64":
            t = self.inst(f"icmp {'eq' if op.negate else 'ne'} i64 {v}, 0", "c")
        else:  # a nan is true, -0.0 false
            t = self.inst(f"fcmp {'oeq' if op.negate else 'une'} double {v}, 0.0", "c")
        self.ustore(op.dest, t)

    def min_max(self, op, less: str, greater: str) -> None:
        """Python's min()/max(): r = args[0]; r = x wherever x < r (min) / x > r (max)."""
        ty = LL_TYPES[op.dest.kind]
        cmp = {"min": less, "max": greater}[op.op]
        r = self.uload(op.args[0])
        for arg in op.args[1:]:
            x = self.uload(arg)
            c = self.inst(f"{cmp} {ty} {x}, {r}", "c")
            r = self.inst(f"select i1 {c}, {ty} {x}, {ty} {r}")
        self.ustore(op.dest, r)

    def op_IntMinMax(self, op: ir.IntMinMax, released):
        self.min_max(op, "icmp slt", "icmp sgt")

    def op_FloatMinMax(self, op: ir.FloatMinMax, released):
        self.min_max(op, "fcmp olt", "fcmp ogt")

    def op_SetAttrFloat(self, op: ir.SetAttrFloat, released):
        self.int_call(op, "*JJL_SetAttrFloat", [self.load(op.obj), self.name(op.name),
                                                self.uload(op.value), self.attr_cache()],
                      types=["ptr", "ptr", "double", "ptr"])

    def op_TypedLen(self, op: ir.TypedLen, released):
        offset = LEN_OFFSETS.get(op.of)
        if offset is None:
            raise LowerError(f"TypedLen of {op.of!r}")
        self.ustore(op.dest, self.field(self.load(op.obj), offset))

    # ---- terminators --------------------------------------------------------------------------

    def term_Jump(self, term: ir.Jump) -> None:
        self.emit(f"br label %b{term.target}")

    def term_CondBranch(self, term: ir.CondBranch) -> None:
        cond = self.load(term.cond)
        if term.test == "none":
            c = self.tmp("c")
            self.emit(f"{c} = icmp eq ptr {cond}, {self.none()}")
            self.emit(f"br i1 {c}, label %b{term.if_true}, label %b{term.if_false}")
            return
        if term.test != "truth":
            raise LowerError(f"unknown CondBranch test {term.test!r}")
        # POP_JUMP_IF_*: True and False without a call, else PyObject_IsTrue.
        true_sym, false_sym = self.const(True), self.const(False)
        is_true = self.tmp("c")
        self.emit(f"{is_true} = icmp eq ptr {cond}, {true_sym}")
        not_true = self.new_label("nottrue")
        self.emit(f"br i1 {is_true}, label %b{term.if_true}, label %{not_true}")
        self.label(not_true)
        is_false = self.tmp("c")
        self.emit(f"{is_false} = icmp eq ptr {cond}, {false_sym}")
        other = self.new_label("truth")
        self.emit(f"br i1 {is_false}, label %b{term.if_false}, label %{other}")
        self.label(other)
        r = self.call("i32", "PyObject_IsTrue", [("ptr", cond)])
        self.check_neg(r, term)
        c = self.tmp("c")
        self.emit(f"{c} = icmp ne i32 {r}, 0")
        self.emit(f"br i1 {c}, label %b{term.if_true}, label %b{term.if_false}")

    def term_ForIter(self, term: ir.ForIter) -> None:
        it = self.load(term.iterator)
        tp = self.tmp("type")
        self.emit(f"{tp} = load ptr, ptr {self.item_ptr(it, capi.OB_TYPE)}, align 8")
        self.list_iter_step(term, it, tp)
        next_fn = self.tmp("next")
        self.emit(f"{next_fn} = load ptr, ptr {self.item_ptr(tp, capi.TP_ITERNEXT)}, align 8")
        c = self.tmp("c")
        self.emit(f"{c} = icmp eq ptr {next_fn}, null")
        not_iter = self.new_label("notiter")
        call = self.new_label("iternext")
        self.emit(f"br i1 {c}, label %{not_iter}, label %{call}")
        self.label(not_iter)
        self.call("void", "*JJL_NotIterator", [("ptr", it)])
        self.emit(f"br label %{self.fail_target(term)}")
        self.label(call)
        item = self.tmp("item")
        self.emit(f"{item} = call ptr {next_fn}(ptr {it})")
        got = self.tmp("c")
        self.emit(f"{got} = icmp ne ptr {item}, null")
        body = self.new_label("forbody")
        ended = self.new_label("forend")
        self.emit(f"br i1 {got}, label %{body}, label %{ended}")
        self.label(ended)
        r = self.call("i32", "*JJL_IterError", [])
        self.check_neg(r, term)
        self.emit(f"br label %b{term.exit}")
        self.label(body)
        self.store(term.dest, item)
        self.emit(f"br label %b{term.body}")

    def list_iter_step(self, term: ir.ForIter, it: str, tp: str) -> None:
        """A list iterator with an item left yields it inline (listiter_next's steps: the
        index is read against the list's current size, so a loop that grows or shrinks the
        list sees what CPython sees); anything else, and the end, go on to tp_iternext (at
        the end it drops its list, as listiter_next does)."""
        self.data.add("PyListIter_Type")
        inline, has_seq, has_item = (self.new_label(h) for h in ("listiter", "listiter.seq",
                                                                 "listiter.item"))
        other = self.new_label("iter")
        self.emit(f"br i1 {self.inst(f'icmp eq ptr {tp}, @PyListIter_Type', 'c')}, "
                  f"label %{inline}, label %{other}")
        self.label(inline)
        seq = self.field(it, capi.LISTITER_SEQ, "ptr")
        self.emit(f"br i1 {self.inst(f'icmp ne ptr {seq}, null', 'c')}, label %{has_seq}, "
                  f"label %{other}")
        self.label(has_seq)
        index = self.field(it, capi.LISTITER_INDEX)
        size = self.field(seq, capi.OB_SIZE)
        self.emit(f"br i1 {self.inst(f'icmp slt i64 {index}, {size}', 'c')}, "
                  f"label %{has_item}, label %{other}")
        self.label(has_item)
        items = self.field(seq, capi.LIST_ITEMS, "ptr")
        item = self.inst(f"load ptr, ptr {self.inst(f'getelementptr ptr, ptr {items}, i64 {index}', 'p')}, "
                         f"align 8", "item")
        self.emit(f"store i64 {self.inst(f'add i64 {index}, 1')}, "
                  f"ptr {self.item_ptr(it, capi.LISTITER_INDEX)}, align 8")
        self.incref(item)
        self.store(term.dest, item)
        self.emit(f"br label %b{term.body}")
        self.label(other)

    def term_Return(self, term: ir.Return) -> None:
        if self.gen:
            self.emit("store i32 -1, ptr %jj.rp, align 4")
        v = self.load(term.value)
        if term.value.kind in RELEASED_KINDS:
            # The returned register's reference becomes the result.
            self.emit(f"store ptr null, ptr {self.slot(term.value)}, align 8")
        else:
            self.incref(v)
        regs = {r for r in self.live.live_before[self.block.id][self.index]
                if r.kind in RELEASED_KINDS and r != term.value}
        self.exit_release(regs=regs)
        if self.direct:
            # Generic code's result: handed over in @jj.dirty, after the frame's release
            # (which may run code that makes direct calls of its own).
            self.emit(f"store ptr {v}, ptr {self.dirty_slot()}, align 8")
            self.emit("ret {} {}".format(*self.direct_result()))
            return
        self.emit(f"ret ptr {v}")

    def raise_flag_from_L(self) -> None:
        """After JJ_Raise / JJ_Reraise: %jj.tb = (L[1] == 0), i.e. add a traceback entry
        unless the helper re-raised."""
        p = self.tmp("p")
        self.emit(f"{p} = getelementptr [2 x i32], ptr %jj.L, i64 0, i64 1")
        v = self.tmp("l1")
        self.emit(f"{v} = load i32, ptr {p}, align 4")
        c = self.tmp("c")
        self.emit(f"{c} = icmp eq i32 {v}, 0")
        f = self.tmp("tb")
        self.emit(f"{f} = zext i1 {c} to i32")
        self.emit(f"store i32 {f}, ptr %jj.tb, align 4")

    def reset_L(self) -> None:
        self.uses_L = True
        p = self.tmp("p")
        self.emit(f"{p} = getelementptr [2 x i32], ptr %jj.L, i64 0, i64 1")
        self.emit(f"store i32 0, ptr {p}, align 4")

    def term_Raise(self, term: ir.Raise) -> None:
        exc = self.opt(term.exc)
        cause = self.opt(term.cause)
        self.reset_L()
        self.call("i32", "*JJ_Raise", [("ptr", exc), ("ptr", cause),
                                       ("i32", str(int(term.exc is not None))),
                                       ("i32", str(int(term.cause is not None))),
                                       ("ptr", "%jj.L")])
        self.raise_flag_from_L()
        self.emit(f"br label %{self.fail_target(term)}")

    def term_Reraise(self, term: ir.Reraise) -> None:
        exc = self.load(term.exc)
        self.reset_L()
        self.call("i32", "*JJ_Reraise", [("ptr", exc), ("ptr", "%jj.L")])
        self.raise_flag_from_L()
        self.emit(f"br label %{self.fail_target(term)}")

    # ---- typed terminators ------------------------------------------------------------------
    # One that may deopt branches to `deopt` before writing anything; its defs are written on
    # the ok side only (a dest may also be an operand: the deopt side sees the old value).

    def deopt_if(self, term: ir.Op, bad: str, deopt: Optional[str] = None) -> None:
        """Go to term.deopt (or the label `deopt`) when `bad`; go on in a new block (the ok
        side) otherwise."""
        ok = self.new_label("typed.ok")
        # (unlikely: the typed code's register allocation and layout favour the ok side)
        self.emit(f"br i1 {bad}, label %{deopt or f'b{term.deopt}'}, label %{ok}, !prof !1")
        self.label(ok)

    def ok_with(self, term: ir.Op, value: str) -> None:
        self.ustore(term.dest, value)
        self.emit(f"br label %b{term.ok}")

    def term_TypedCondBranch(self, term: ir.TypedCondBranch) -> None:
        self.emit(f"br i1 {self.uload(term.cond)}, label %b{term.if_true}, "
                  f"label %b{term.if_false}")

    def term_GuardIdentity(self, term: ir.GuardIdentity) -> None:
        same = self.inst(f"icmp eq ptr {self.load(term.src)}, {self.const(term.expected)}", "c")
        self.emit(f"br i1 {same}, label %b{term.ok}, label %b{term.deopt}")

    def term_GuardClass(self, term: ir.GuardClass) -> None:
        tp = self.field(self.load(term.src), capi.OB_TYPE, "ptr")
        same = self.inst(f"icmp eq ptr {tp}, {self.const(term.cls)}", "c")
        self.emit(f"br i1 {same}, label %b{term.ok}, label %{self.entry_deopt(term)}")

    def term_GuardType(self, term: ir.GuardType) -> None:
        x = self.load(term.src)
        if term.type_name == "none":
            c = self.inst(f"icmp eq ptr {x}, {self.none()}", "c")
        elif term.type_name in GUARD_TYPE_SYMBOLS:
            c = self.type_is(x, GUARD_TYPE_SYMBOLS[term.type_name])
        else:
            raise LowerError(f"GuardType {term.type_name!r}")
        deopt = self.entry_deopt(term)
        if term.type_name != "int":
            self.emit(f"br i1 {c}, label %b{term.ok}, label %{deopt}")
            return
        # An exact int: does it fit int64? Surely with few digits; else ask CPython.
        self.deopt_if(term, self.inst(f"xor i1 {c}, true", "c"), deopt)
        if LONG_INLINE:
            size = self.field(x, capi.OB_SIZE)
            biased = self.inst(f"add i64 {size}, {LONG_FAST_DIGITS}")
            few = self.inst(f"icmp ule i64 {biased}, {2 * LONG_FAST_DIGITS}", "c")
            slow = self.new_label("long.fits")
            self.emit(f"br i1 {few}, label %b{term.ok}, label %{slow}")
            self.label(slow)
        self.uses_ovf = True
        self.call("i64", "PyLong_AsLongLongAndOverflow", [("ptr", x), ("ptr", "%jj.ovf")])
        overflow = self.inst("load i32, ptr %jj.ovf, align 4")
        fits = self.inst(f"icmp eq i32 {overflow}, 0", "c")
        self.emit(f"br i1 {fits}, label %b{term.ok}, label %{deopt}")

    def rounded_toward_zero(self, rem: str, x: str, y: str) -> str:
        """i1: rem != 0 and x, y of unlike signs: where C's division, which truncates,
        differs from Python's, which floors."""
        inexact = self.inst(f"icmp ne i64 {rem}, 0", "c")
        unlike = self.inst(f"icmp slt i64 {self.inst(f'xor i64 {x}, {y}')}, 0", "c")
        return self.all_of(inexact, unlike)

    def term_IntArith(self, term: ir.IntArith) -> None:
        a, b = self.uload(term.left), self.uload(term.right)
        op = term.op
        if op in INT_OVERFLOW_OPS:
            r = self.call("{i64, i1}", f"llvm.{INT_OVERFLOW_OPS[op]}.with.overflow.i64",
                          [("i64", a), ("i64", b)])
            self.deopt_if(term, self.inst(f"extractvalue {{i64, i1}} {r}, 1", "c"))
            self.ok_with(term, self.inst(f"extractvalue {{i64, i1}} {r}, 0"))
        elif op == "**":
            # (INT64_MIN: declined, or (-2) ** 63 itself, which the generic code computes)
            r = self.call("i64", "*JJ_IntPowOrMin", [("i64", a), ("i64", b)])
            self.deopt_if(term, self.inst(f"icmp eq i64 {r}, {INT64_MIN}", "c"))
            self.ok_with(term, r)
        elif op == "//":
            # Python floors; C truncates: one less when inexact with operands of unlike signs.
            zero = self.inst(f"icmp eq i64 {b}, 0", "c")
            min_left = self.inst(f"icmp eq i64 {a}, {INT64_MIN}", "c")
            minus_one = self.inst(f"icmp eq i64 {b}, -1", "c")
            self.deopt_if(term, self.any_of(zero, self.all_of(min_left, minus_one)))
            q = self.inst(f"sdiv i64 {a}, {b}")
            r = self.inst(f"srem i64 {a}, {b}")
            down = self.inst(f"zext i1 {self.rounded_toward_zero(r, a, b)} to i64")
            self.ok_with(term, self.inst(f"sub i64 {q}, {down}"))
        elif op == "%":
            # The result takes the divisor's sign. x % -1 is 0 (and INT64_MIN srem -1 is UB).
            self.deopt_if(term, self.inst(f"icmp eq i64 {b}, 0", "c"))
            minus_one = self.inst(f"icmp eq i64 {b}, -1", "c")
            divisor = self.inst(f"select i1 {minus_one}, i64 1, i64 {b}")
            r = self.inst(f"srem i64 {a}, {divisor}")
            fix = self.inst(f"select i1 {self.rounded_toward_zero(r, r, b)}, i64 {b}, i64 0")
            self.ok_with(term, self.inst(f"add i64 {r}, {fix}"))
        elif op == "<<":
            # Deopt on a negative count, or when bits (of a nonzero left) would be lost.
            in_range = self.inst(f"icmp ult i64 {b}, 64", "c")
            count = self.inst(f"select i1 {in_range}, i64 {b}, i64 0")
            v = self.inst(f"shl i64 {a}, {count}")
            lost = self.inst(f"icmp ne i64 {self.inst(f'ashr i64 {v}, {count}')}, {a}", "c")
            too_far = self.inst(f"xor i1 {in_range}, true", "c")
            nonzero = self.inst(f"icmp ne i64 {a}, 0", "c")
            negative = self.inst(f"icmp slt i64 {b}, 0", "c")
            self.deopt_if(term, self.any_of(negative,
                                            self.all_of(nonzero, self.any_of(too_far, lost))))
            self.ok_with(term, v)
        elif op == ">>":
            # A count of 63 or more leaves the sign: 0 or -1.
            self.deopt_if(term, self.inst(f"icmp slt i64 {b}, 0", "c"))
            count = self.call("i64", "llvm.umin.i64", [("i64", b), ("i64", "63")])
            self.ok_with(term, self.inst(f"ashr i64 {a}, {count}"))
        else:
            raise LowerError(f"unknown IntArith {op!r}")

    def term_IntUnary(self, term: ir.IntUnary) -> None:
        a = self.uload(term.operand)
        if term.op not in ir.INT_UNARY_OPS:
            raise LowerError(f"unknown IntUnary {term.op!r}")
        self.deopt_if(term, self.inst(f"icmp eq i64 {a}, {INT64_MIN}", "c"))
        neg = self.inst(f"sub i64 0, {a}")
        if term.op == "abs":
            negative = self.inst(f"icmp slt i64 {a}, 0", "c")
            neg = self.inst(f"select i1 {negative}, i64 {neg}, i64 {a}")
        self.ok_with(term, neg)

    def libm(self, name: str, *args: str) -> str:
        """A call to the C library's double function `name` (by symbol, so that the loader
        resolves it like the C API)."""
        return self.call("double", name, [("double", a) for a in args])

    def copysign(self, magnitude: str, sign: str) -> str:
        return self.call("double", "llvm.copysign.f64", [("double", magnitude), ("double", sign)])

    def term_FloatPow(self, term: ir.FloatPow) -> None:
        # A C helper: libm's pow() must be called as such (LLVM would rewrite pow(x, 2.0)).
        r = self.call("double", "*JJ_FloatPowOrNan",
                      [("double", self.uload(term.left)), ("double", self.uload(term.right))])
        self.deopt_if(term, self.inst(f"fcmp uno double {r}, {r}", "c"))
        self.ok_with(term, r)

    def term_FloatDivide(self, term: ir.FloatDivide) -> None:
        """float_div, float_rem and _float_div_mod of Objects/floatobject.c."""
        a, b = self.uload(term.left), self.uload(term.right)
        self.deopt_if(term, self.inst(f"fcmp oeq double {b}, 0.0", "c"))  # 0.0 and -0.0
        if term.op == "/":
            self.ok_with(term, self.inst(f"fdiv double {a}, {b}"))
            return
        if term.op not in ("%", "//"):
            raise LowerError(f"unknown FloatDivide {term.op!r}")
        mod = self.libm("fmod", a, b)
        # C's `if (mod)` and `(wx < 0) != (mod < 0)`: a nan is true, and never < 0.
        nonzero = self.inst(f"fcmp une double {mod}, 0.0", "c")
        b_neg = self.inst(f"fcmp olt double {b}, 0.0", "c")
        mod_neg = self.inst(f"fcmp olt double {mod}, 0.0", "c")
        fix = self.all_of(nonzero, self.inst(f"xor i1 {b_neg}, {mod_neg}", "c"))
        if term.op == "%":
            fixed = self.inst(f"select i1 {fix}, double {self.inst(f'fadd double {mod}, {b}')}, "
                              f"double {mod}")
            self.ok_with(term, self.inst(f"select i1 {nonzero}, double {fixed}, "
                                         f"double {self.copysign('0.0', b)}"))
            return
        div = self.inst(f"fdiv double {self.inst(f'fsub double {a}, {mod}')}, {b}")
        div = self.inst(f"select i1 {fix}, double {self.inst(f'fsub double {div}, 1.0')}, "
                        f"double {div}")
        floor = self.libm("floor", div)
        up = self.inst(f"fcmp ogt double {self.inst(f'fsub double {div}, {floor}')}, 0.5", "c")
        floor = self.inst(f"select i1 {up}, double {self.inst(f'fadd double {floor}, 1.0')}, "
                          f"double {floor}")
        zero = self.copysign("0.0", self.inst(f"fdiv double {a}, {b}"))
        div_nonzero = self.inst(f"fcmp une double {div}, 0.0", "c")
        self.ok_with(term, self.inst(f"select i1 {div_nonzero}, double {floor}, double {zero}"))

    def term_IntToFloatExact(self, term: ir.IntToFloatExact) -> None:
        v = self.uload(term.src)
        self.deopt_if(term, self.any_of(self.inst(f"icmp slt i64 {v}, {-(1 << 53)}", "c"),
                                        self.inst(f"icmp sgt i64 {v}, {1 << 53}", "c")))
        self.ok_with(term, self.inst(f"sitofp i64 {v} to double"))

    def term_FloatToInt(self, term: ir.FloatToInt) -> None:
        v = self.uload(term.src)
        # Ordered comparisons: a nan fails both, an infinity one.
        low = self.inst(f"fcmp oge double {v}, {_double(-2.0 ** 63)}", "c")
        high = self.inst(f"fcmp olt double {v}, {_double(2.0 ** 63)}", "c")
        self.deopt_if(term, self.inst(f"xor i1 {self.all_of(low, high)}, true", "c"))
        self.ok_with(term, self.inst(f"fptosi double {v} to i64"))

    def term_MathFunc(self, term: ir.MathFunc) -> None:
        if term.name not in ir.MATH_FUNCS:
            raise LowerError(f"unknown MathFunc {term.name!r}")
        x = self.uload(term.arg)
        if term.name == "sqrt":
            # Its only error is the domain below 0 (nan and inf pass through): the
            # intrinsic is one instruction where libm's call also sets errno.
            self.deopt_if(term, self.inst(f"fcmp olt double {x}, {_double(0.0)}", "c"))
            self.ok_with(term, self.call("double", "llvm.sqrt.f64", [("double", x)]))
            return
        errno = self.call("ptr", ERRNO_LOCATION, [], hint="errno")
        self.emit(f"store i32 0, ptr {errno}, align 4")
        r = self.libm(term.name, x)
        err = self.inst(f"load i32, ptr {errno}, align 4")
        inf = _double(float("inf"))
        new_nan = self.all_of(self.inst(f"fcmp uno double {r}, {r}", "c"),
                              self.inst(f"fcmp ord double {x}, {x}", "c"))
        new_inf = self.all_of(self.inst(f"fcmp oeq double {self.fabs(r)}, {inf}", "c"),
                              self.inst(f"fcmp olt double {self.fabs(x)}, {inf}", "c"))
        self.deopt_if(term, self.any_of(new_nan, new_inf,
                                        self.inst(f"icmp ne i32 {err}, 0", "c")))
        self.ok_with(term, r)

    def seq_slot(self, term: ir.Op, of: str) -> str:
        """The address of seq[index] in an exact list or tuple (`of`; an index from the end
        counts back from len); deopt when it is out of range."""
        seq, i = self.load(term.seq), self.uload(term.index)
        n = self.field(seq, capi.OB_SIZE)
        back = self.inst(f"icmp slt i64 {i}, 0", "c")
        index = self.inst(f"select i1 {back}, i64 {self.inst(f'add i64 {i}, {n}')}, i64 {i}")
        self.deopt_if(term, self.inst(f"icmp uge i64 {index}, {n}", "c"))
        if of == "list":
            items = self.field(seq, capi.LIST_ITEMS, "ptr")
        else:
            items = self.item_ptr(seq, capi.TUPLE_ITEMS)
        return self.inst(f"getelementptr ptr, ptr {items}, i64 {index}", "p")

    def term_SeqLoad(self, term: ir.SeqLoad) -> None:
        if term.of not in ir.SEQ_TYPES:
            raise LowerError(f"SeqLoad of {term.of!r}")
        x = self.inst(f"load ptr, ptr {self.seq_slot(term, term.of)}, align 8, {TBAA_WORD}",
                      "item")
        kind = term.dest.kind
        if kind == "f64":
            self.deopt_if(term, self.inst(f"xor i1 {self.type_is(x, 'PyFloat_Type')}, true", "c"))
            self.ok_with(term, self.field(x, FLOAT_VALUE, "double"))
        elif kind == "i64":
            self.deopt_if(term, self.inst(f"xor i1 {self.type_is(x, 'PyLong_Type')}, true", "c"))
            self.uses_ovf = True
            v = self.call("i64", "PyLong_AsLongLongAndOverflow", [("ptr", x), ("ptr", "%jj.ovf")])
            overflow = self.inst("load i32, ptr %jj.ovf, align 4")
            self.deopt_if(term, self.inst(f"icmp ne i32 {overflow}, 0", "c"))
            self.ok_with(term, v)
        else:
            self.incref(x)
            self.store(term.dest, x)
            self.emit(f"br label %b{term.ok}")

    def term_ListStore(self, term: ir.ListStore) -> None:
        slot = self.seq_slot(term, "list")
        old = self.inst(f"load ptr, ptr {slot}, align 8, {TBAA_WORD}", "old")
        if term.value.kind == "f64":
            # An exact float only the list holds takes the value in place (see ListStore).
            v = self.uload(term.value)
            alone = self.inst(f"icmp eq i64 {self.field(old, capi.OB_REFCNT)}, 1", "c")
            reuse = self.all_of(self.type_is(old, "PyFloat_Type"), alone)
            in_place, fresh = self.new_label("store.inplace"), self.new_label("store.new")
            self.emit(f"br i1 {reuse}, label %{in_place}, label %{fresh}")
            self.label(in_place)
            self.emit(f"store double {v}, ptr {self.item_ptr(old, FLOAT_VALUE)}, align 8, "
                      f"{TBAA_FLOAT_VALUE}")
            self.emit(f"br label %b{term.ok}")
            self.label(fresh)
            new = self.call("ptr", "PyFloat_FromDouble", [("double", v)])
            failed = self.inst(f"icmp eq ptr {new}, null", "c")
            made, lost = self.new_label("store.made"), self.new_label("store.nomem")
            self.emit(f"br i1 {failed}, label %{lost}, label %{made}")
            self.label(lost)
            self.call("void", "PyErr_Clear", [])  # the generic SetItem raises it again
            self.emit(f"br label %b{term.deopt}")
            self.label(made)
        else:
            if term.value.kind == "b1":
                new = self.inst(f"select i1 {self.uload(term.value)}, ptr {self.const(True)}, "
                                f"ptr {self.const(False)}", "bool")
            else:
                new = self.load(term.value)
            # The object the slot holds already: nothing changes, not even a count.
            differs = self.new_label("store.other")
            self.emit(f"br i1 {self.inst(f'icmp eq ptr {new}, {old}', 'c')}, "
                      f"label %b{term.ok}, label %{differs}")
            self.label(differs)
            self.incref(new)
        self.emit(f"store ptr {new}, ptr {slot}, align 8")
        self.decref(old)
        self.emit(f"br label %b{term.ok}")

    def term_RangeIterNext(self, term: ir.RangeIterNext) -> None:
        cur, stop, step = (self.uload(r) for r in (term.cur, term.stop, term.step))
        up = self.inst(f"icmp sgt i64 {step}, 0", "c")
        below = self.inst(f"icmp slt i64 {cur}, {stop}", "c")
        above = self.inst(f"icmp sgt i64 {cur}, {stop}", "c")
        more = self.inst(f"select i1 {up}, i1 {below}, i1 {above}", "c")
        body = self.new_label("range.next")
        self.emit(f"br i1 {more}, label %{body}, label %b{term.exit}")
        self.label(body)
        r = self.call("{i64, i1}", "llvm.sadd.with.overflow.i64", [("i64", cur), ("i64", step)])
        past = self.inst(f"extractvalue {{i64, i1}} {r}, 0")
        overflow = self.inst(f"extractvalue {{i64, i1}} {r}, 1", "c")
        self.ustore(term.dest, cur)
        # With a step of 1 (cur < stop: no overflow) the next value is one add, said so: for
        # the usual constant step the optimizer drops the check, and the loop's counter is not
        # an add and a select (2 cycles per pass where gcc's loop takes 1).
        clamped = self.inst(f"select i1 {overflow}, i64 {stop}, i64 {past}")
        unit = self.inst(f"icmp eq i64 {step}, 1", "c")
        plus_one = self.inst(f"add nsw i64 {cur}, 1")
        self.ustore(term.cur, self.inst(f"select i1 {unit}, i64 {plus_one}, i64 {clamped}"))
        self.emit(f"br label %b{term.body}")

    # ---- numpy arrays and scalars (ir/ops.py's numpy ops; C: runtime/jj_numpy.h) ------------
    # The same checks as jj_numpy.h's helpers, at every access: element addresses, loads,
    # exact stores and NpArith are inline (the hot path); the entry guard, boxing and the
    # converting stores call the helpers themselves (_jj_rt.c exports them).

    def np_record(self, *helpers: str) -> None:
        """Name in the module's !jj.numpy the jj_numpy.h helpers whose work the code does
        (inline or by calling them): metadata, kept by the optimizer, so that inspect_llvm
        shows which typed numpy ops a function has."""
        self.np_helpers.update(helpers)

    def np_metadata(self) -> list[str]:
        # (numbered from 100: clear of module()'s own nodes; LLVM renumbers them anyway)
        names = sorted(self.np_helpers)
        if not names:
            return []
        return ["!jj.numpy = !{" + ", ".join(f"!{100 + k}" for k in range(len(names))) + "}"] + [
            f'!{100 + k} = !{{!"{name}"}}' for k, name in enumerate(names)]

    def np_field(self, obj: str, offset: int, ty: str, align: int) -> str:
        return self.inst(f"load {ty}, ptr {self.item_ptr(obj, offset)}, align {align}", "np")

    def np_dtype(self, dtype: str) -> str:
        if dtype not in NP_ELEMENTS:
            raise LowerError(f"no typed numpy dtype {dtype!r}")
        _check_numpy_layout()
        return dtype

    def np_slot(self, term, write: bool) -> str:
        """JJ_NpSlot<ndim>_<dtype>: the address of arr[i] / arr[i, j]; deopt when the array is
        no longer of that dtype and ndim (or not writable, for a store) or an index is out of
        range. The fields are read here, never kept: generic code may have changed them."""
        if len(term.indices) not in (1, 2):
            raise LowerError(f"no typed access with {len(term.indices)} indices")
        arr = self.load(term.arr)
        descr = self.np_field(arr, NP_DESCR, "ptr", 8)
        bad = [self.inst(f"icmp ne i32 {self.np_field(arr, NP_ND, 'i32', 8)}, "
                         f"{len(term.indices)}", "c"),
               self.inst(f"icmp ne i32 {self.np_field(descr, NP_TYPE_NUM, 'i32', 4)}, "
                         f"{NP_TYPE_NUMS[self.np_dtype(term.dtype)]}", "c"),
               self.inst(f"icmp eq i8 {self.np_field(descr, NP_BYTEORDER, 'i8', 1)}, "
                         f"{NP_SWAPPED}", "c")]
        if write:  # writeable, and not one that warns on write
            flags = self.np_field(arr, NP_FLAGS, "i32", 8)
            mask = (NP_WRITEABLE | NP_WARN_ON_WRITE) - (1 << 32)  # (as a signed i32)
            masked = self.inst(f"and i32 {flags}, {mask}")
            bad.append(self.inst(f"icmp ne i32 {masked}, {NP_WRITEABLE}", "c"))
        self.deopt_if(term, self.any_of(*bad))  # (before reading dimensions[ndim - 1])
        dims = self.np_field(arr, NP_DIMS, "ptr", 8)
        strides = self.np_field(arr, NP_STRIDES, "ptr", 8)
        out, offset = [], None
        for axis, reg in enumerate(term.indices):
            i = self.uload(reg)
            n = self.inst(f"load i64, ptr {self.item_ptr(dims, 8 * axis)}, align 8", "np")
            back = self.inst(f"icmp slt i64 {i}, 0", "c")
            i = self.inst(f"select i1 {back}, i64 {self.inst(f'add i64 {i}, {n}')}, i64 {i}")
            out.append(self.inst(f"icmp uge i64 {i}, {n}", "c"))
            stride = self.inst(f"load i64, ptr {self.item_ptr(strides, 8 * axis)}, align 8",
                               "np")
            step = self.inst(f"mul i64 {i}, {stride}")
            offset = step if offset is None else self.inst(f"add i64 {offset}, {step}")
        self.deopt_if(term, self.any_of(*out))
        data = self.np_field(arr, NP_DATA, "ptr", 8)
        self.np_record(f"JJ_NpSlot{len(term.indices)}_{term.dtype}")
        return self.inst(f"getelementptr i8, ptr {data}, i64 {offset}", "np.slot")

    def term_ArrayLoad(self, term: ir.ArrayLoad) -> None:
        elem = NP_ELEMENTS[self.np_dtype(term.dtype)]
        # align 1: a view's data may be unaligned (the C helper's memcpy)
        v = self.inst(f"load {elem}, ptr {self.np_slot(term, write=False)}, align 1", "np.elem")
        widen = {"i32": "sext", "float": "fpext"}.get(elem)
        if widen is not None:
            v = self.inst(f"{widen} {elem} {v} to {LL_TYPES[term.dest.kind]}")
        self.np_record(f"JJ_ArrayLoad_{term.dtype}")
        self.ok_with(term, v)

    def term_ArrayStore(self, term: ir.ArrayStore) -> None:
        dtype = self.np_dtype(term.dtype)
        how = term.value.kind if term.cast == "exact" else term.cast
        if f"{dtype}_{how}" not in NP_STORES:
            raise LowerError(f"no typed store of {how} into {dtype}")
        p = self.np_slot(term, write=True)
        v = self.uload(term.value)
        self.np_record(f"JJ_ArrayStore_{dtype}_{how}")
        if how in ("trunc", "round"):  # numpy's conversion: the helper, which declines too
            r = self.call("i32", f"*JJ_ArrayStore_{dtype}_{how}", [("ptr", p), ("double", v)])
            self.deopt_if(term, self.inst(f"icmp ne i32 {r}, 0", "c"))
            self.emit(f"br label %b{term.ok}")
            return
        elem = NP_ELEMENTS[dtype]
        if dtype == "int32":  # numpy would raise its OverflowError
            self.deopt_if(term, self.np_outside_int32(v))
            v = self.inst(f"trunc i64 {v} to i32")
        elif dtype == "float32":  # exact: the value is a float32's
            v = self.inst(f"fptrunc double {v} to float")
        self.emit(f"store {elem} {v}, ptr {p}, align 1")
        self.emit(f"br label %b{term.ok}")

    def np_outside_int32(self, *values: str) -> str:
        """i1: some of `values` (i64) is outside int32."""
        bad = []
        for x in values:
            narrow = self.inst(f"sext i32 {self.inst(f'trunc i64 {x} to i32')} to i64")
            bad.append(self.inst(f"icmp ne i64 {x}, {narrow}", "c"))
        return self.any_of(*bad)

    def np_finite(self, x: str) -> str:
        return self.inst(f"fcmp olt double {self.fabs(x)}, {_double(float('inf'))}", "c")

    def term_NpArith(self, term: ir.NpArith) -> None:
        """JJ_NpArith_<dtype>: deopt where numpy would wrap, warn or raise."""
        dtype, op = self.np_dtype(term.dtype), term.op
        if op not in ir.NP_ARITH_OPS:
            raise LowerError(f"no numpy operator {op!r}")
        a, b = self.uload(term.left), self.uload(term.right)
        self.np_record(f"JJ_NpArith_{dtype} {op}")
        if dtype in ("int32", "int64"):
            if op not in INT_OVERFLOW_OPS:  # ("/": the helper always declines)
                self.emit(f"br label %b{term.deopt}")
                return
            if dtype == "int32":
                self.deopt_if(term, self.np_outside_int32(a, b))
            r = self.call("{i64, i1}", f"llvm.{INT_OVERFLOW_OPS[op]}.with.overflow.i64",
                          [("i64", a), ("i64", b)])
            x = self.inst(f"extractvalue {{i64, i1}} {r}, 0", "np.int")
            bad = [self.inst(f"extractvalue {{i64, i1}} {r}, 1", "c")]
            if dtype == "int32":
                bad.append(self.np_outside_int32(x))
            self.deopt_if(term, self.any_of(*bad))
            self.ok_with(term, x)
            return
        # JJ_NpFloat: float32 is computed in double (tiny 0: no underflow test) and rounded once
        tiny = _double(sys.float_info.min if dtype == "float64" else 0.0)
        bad = []
        if op == "/":
            bad.append(self.inst(f"fcmp oeq double {b}, 0.0", "c"))
        x = self.inst(f"{NP_FLOAT_INSTR[op]} double {a}, {b}", "np.float")
        if op in ("*", "/"):
            tiny_x = self.inst(f"fcmp olt double {self.fabs(x)}, {tiny}", "c")
            nonzero = [self.inst(f"fcmp une double {v}, 0.0", "c")
                       for v in ((a, b) if op == "*" else (a,))]
            bad.append(self.all_of(tiny_x, *nonzero))
        bad.append(self.inst(f"xor i1 {self.np_finite(x)}, true", "c"))
        if dtype == "float32":
            f = self.inst(f"fpext float {self.inst(f'fptrunc double {x} to float')} to double",
                          "np.float")
            under = self.all_of(
                self.inst(f"fcmp olt double {self.fabs(f)}, {_double(2.0 ** -126)}", "c"),
                self.inst(f"fcmp une double {x}, 0.0", "c"))
            bad += [self.inst(f"xor i1 {self.np_finite(f)}, true", "c"), under]
            x = f
        self.deopt_if(term, self.any_of(*bad))
        self.ok_with(term, x)

    def term_GuardArray(self, term: ir.GuardArray) -> None:
        if term.layout not in ("C", "F", "A"):
            raise LowerError(f"no array layout {term.layout!r}")
        import numpy  # (imported by whoever made the array this specialization is for)

        self.np_record(f"JJ_GuardArray_{self.np_dtype(term.dtype)}")
        ok = self.call("i32", f"*JJ_GuardArray_{term.dtype}",
                       [("ptr", self.load(term.src)), ("ptr", self.const(numpy.ndarray)),
                        ("i32", str(int(term.ndim))), ("i8 signext", str(ord(term.layout)))])
        self.emit(f"br i1 {self.inst(f'icmp ne i32 {ok}, 0', 'c')}, label %b{term.ok}, "
                  f"label %{self.entry_deopt(term)}")

    def np_box(self, dtype: str, v: str) -> str:
        """JJ_BoxNumpy_<dtype>: a new numpy scalar (unchecked)."""
        import numpy

        cls = self.const(getattr(numpy, self.np_dtype(dtype)))
        self.np_record(f"JJ_BoxNumpy_{dtype}")
        return self.call("ptr", f"*JJ_BoxNumpy_{dtype}",
                         [("ptr", cls), (LL_TYPES[ir.NP_DTYPES[dtype]], v)])

    def op_BoxNumpy(self, op: ir.BoxNumpy, released):
        self.store(op.dest, self.check_null(self.np_box(op.dtype, self.uload(op.src)), op))

    def op_BoxFloatOrNumpy(self, op: ir.BoxFloatOrNumpy, released):
        v = self.uload(op.src)
        to_np, to_float, done = (self.new_label(h) for h in ("box.np", "box.float", "box"))
        self.emit(f"br i1 {self.uload(op.is_numpy)}, label %{to_np}, label %{to_float}")
        self.label(to_np)
        a = self.np_box("float64", v)
        self.emit(f"br label %{done}")
        self.label(to_float)
        b = self.call("ptr", "PyFloat_FromDouble", [("double", v)])
        self.emit(f"br label %{done}")
        self.label(done)
        r = self.inst(f"phi ptr [{a}, %{to_np}], [{b}, %{to_float}]", "box")
        self.store(op.dest, self.check_null(r, op))

    def op_BoxIntTuple(self, op: ir.BoxIntTuple, released):
        fmt = "(" + "L" * len(op.items) + ")"
        name = f"@jj.fmt.ints{len(op.items)}"
        if not any(g.startswith(name + " ") for g in self.globals_):
            self.globals_.append(f'{name} = private unnamed_addr constant '
                                 f'[{len(fmt) + 1} x i8] c"{fmt}\\00"')
        args = [("ptr", name)] + [("i64", self.uload(r)) for r in op.items]
        t = self.call("ptr", "Py_BuildValue", args, nfixed=1)
        self.store(op.dest, self.check_null(t, op))


# numpy's structs as jj_numpy.h mirrors them (PyArrayObject_fields; PyArray_Descr's byteorder
# and type_num), checked against the running numpy before the first numpy op is lowered.
NP_DATA, NP_ND, NP_DIMS, NP_STRIDES, NP_DESCR, NP_FLAGS = 16, 24, 32, 40, 56, 64
NP_BYTEORDER, NP_TYPE_NUM = 26, 28
NP_TYPE_NUMS = {"int32": 5, "int64": 7, "float32": 11, "float64": 12}  # NPY_INT, NPY_LONG, ...
NP_ELEMENTS = {"int32": "i32", "int64": "i64", "float32": "float", "float64": "double"}
NP_STORES = {"int32_i64", "int64_i64", "float32_f64", "float64_f64", "int32_trunc",
             "int64_trunc", "float32_round"}  # jj_numpy.h's JJ_ArrayStore_*
NP_FLOAT_INSTR = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
NP_WRITEABLE, NP_WARN_ON_WRITE = 0x0400, 0x80000000
NP_SWAPPED = ord(">" if sys.byteorder == "little" else "<")
_numpy_layout_checked = False


def _check_numpy_layout() -> None:
    """The numpy fields typed code reads inline, checked against the running numpy."""
    global _numpy_layout_checked
    if _numpy_layout_checked:
        return
    import numpy

    def word(addr: int, offset: int, fmt: str):
        return struct.unpack(fmt, ctypes.string_at(addr + offset, struct.calcsize(fmt)))[0]

    a = numpy.zeros((3, 4), dtype=numpy.float32)[:, ::2]
    ok = (word(id(a), NP_DATA, "Q") == a.ctypes.data and word(id(a), NP_ND, "i") == 2
          and word(id(a), NP_DESCR, "Q") == id(a.dtype)
          and word(word(id(a), NP_DIMS, "Q"), 8, "q") == 2
          and word(word(id(a), NP_STRIDES, "Q"), 8, "q") == 8
          and word(id(a), NP_FLAGS, "i") & 0xFFFF == a.flags.num & 0xFFFF
          and word(id(a.dtype), NP_TYPE_NUM, "i") == a.dtype.num
          and word(id(a.dtype), NP_BYTEORDER, "c") == a.dtype.byteorder.encode()
          and numpy.dtype(numpy.intc).num == NP_TYPE_NUMS["int32"]
          and numpy.dtype(numpy.int64).num == NP_TYPE_NUMS["int64"]
          and numpy.intc().itemsize == 4)
    if not ok:
        raise LowerError("unexpected layout of numpy arrays: no typed numpy code")
    _numpy_layout_checked = True
