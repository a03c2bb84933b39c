"""The register IR: small op classes, one per kind of operation.

A function is a graph of blocks. Each block holds straight-line ops and ends in exactly one
terminator (Jump, CondBranch, ForIter, Return, Raise, Reraise). A block may also name an
exception handler: if any op in it raises, control goes to the handler with the exception
object in a given register. Nothing here knows about the Python value stack: the frontend's
stack-to-register pass has already turned every stack slot into a named register.

Every op carries the source line it came from. Each op class declares which of its fields are
registers it reads (`USES`) and which it writes (`DEFS`), so analyses need no per-op code;
`CAN_RAISE` says whether the op may raise (and so needs the block's exception edge). A
terminator names the fields holding its successor blocks (`TARGETS`, in `successors` order)
and, when its defs happen on one edge only, that edge (`DEFS_EDGE`: ForIter's `dest` is set on
the way to `body`).

The typed ops at the end of this file (see "Typed code") only appear in the output of
`justjit.specialize`: they work on unboxed registers (kinds "i64", "f64", "b1") and declare
the kind of each register field (`KINDS`), which the verifier checks.

The class names double as the visitor method names: `visitor.visit_BinaryOp(op)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Optional


# --------------------------------------------------------------------------------------------
# Registers

# Register kinds:
#   var   - a Python local variable (may be unbound; reading it checks)
#   cell  - a cell object (cellvars made by MakeCell, freevars taken from the closure)
#   stack - a value-stack slot that is live across a block boundary (one per depth)
#   tmp   - a value-stack slot that lives inside one block
# Unboxed kinds (specialized code only, see "Typed code" below). They hold C values, not
# objects: never unbound, never None, nothing to release.
#   i64   - a C int64_t (a Python int known to fit 64 bits)
#   f64   - a C double (a Python float)
#   b1    - a C truth value, 0 or 1 (a Python bool)
OBJECT_KINDS = ("var", "cell", "stack", "tmp")
UNBOXED_KINDS = ("i64", "f64", "b1")
REG_KINDS = OBJECT_KINDS + UNBOXED_KINDS


@dataclass(frozen=True)
class Reg:
    name: str
    kind: str = "tmp"

    def __post_init__(self) -> None:
        assert self.kind in REG_KINDS, self.kind

    def __str__(self) -> str:
        return f"%{self.name}"


# --------------------------------------------------------------------------------------------
# Op base classes


@dataclass(eq=False)
class Op:
    """Base of every op. Subclasses are dataclasses whose fields name registers or facts."""

    USES: ClassVar[tuple[str, ...]] = ()  # fields holding a Reg, an Optional[Reg] or a list of Reg
    DEFS: ClassVar[tuple[str, ...]] = ()
    CAN_RAISE: ClassVar[bool] = True
    IS_TERMINATOR: ClassVar[bool] = False
    TARGETS: ClassVar[tuple[str, ...]] = ()     # terminators: fields naming successor blocks
    DEFS_EDGE: ClassVar[Optional[str]] = None   # terminators: the one target whose edge gets DEFS
    KINDS: ClassVar[dict[str, Any]] = {}        # typed ops: register field -> kind(s) required

    def uses(self) -> list[Reg]:
        return list(_regs_of(self, self.USES))

    def defs(self) -> list[Reg]:
        return list(_regs_of(self, self.DEFS))

    def accept(self, visitor: Any) -> Any:
        return getattr(visitor, "visit_" + type(self).__name__)(self)


def _regs_of(op: Op, names: tuple[str, ...]) -> Iterator[Reg]:
    for name in names:
        value = getattr(op, name)
        if value is None:
            continue
        if isinstance(value, Reg):
            yield value
        else:
            yield from value


def _op(uses: tuple[str, ...] = (), defs: tuple[str, ...] = (), raises: bool = True,
        terminator: bool = False, targets: tuple[str, ...] = (),
        defs_edge: Optional[str] = None, kinds: Optional[dict[str, Any]] = None):
    """Class decorator: make a dataclass op and record its register fields."""

    def wrap(cls):
        cls.USES = uses
        cls.DEFS = defs
        cls.CAN_RAISE = raises
        cls.IS_TERMINATOR = terminator
        cls.TARGETS = targets
        cls.DEFS_EDGE = defs_edge
        cls.KINDS = dict(kinds or {})
        return dataclass(eq=False)(cls)

    return wrap


# Every op also has a `line` field (source line, or None); it is declared last in each class so
# that positional construction stays readable: BinaryOp(dest, "+", a, b, line=4).

# --------------------------------------------------------------------------------------------
# Moves, constants and local variables


@_op(uses=("src",), defs=("dest",), raises=False)
class Move(Op):
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(defs=("dest",), raises=False)
class LoadConst(Op):
    """dest = a constant. `value` is the Python object itself (never spliced as text)."""
    dest: Reg
    value: Any
    line: Optional[int] = None


@_op(uses=("var",))
class CheckBound(Op):
    """Raise UnboundLocalError if local `var` is unbound (LOAD_FAST / DELETE_FAST semantics)."""
    var: Reg
    line: Optional[int] = None


@_op(defs=("var",), raises=False)
class DeleteLocal(Op):
    """Unbind local `var` (the value is released now). A CheckBound precedes it."""
    var: Reg
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Operators

BINARY_OPS = ("+", "&", "//", "<<", "@", "*", "%", "|", "**", ">>", "-", "/", "^")
INPLACE_OPS = tuple(op + "=" for op in BINARY_OPS)
UNARY_OPS = ("neg", "pos", "invert", "not")
COMPARE_OPS = ("<", "<=", "==", "!=", ">", ">=")


@_op(uses=("left", "right"), defs=("dest",))
class BinaryOp(Op):
    """dest = left <op> right; `op` is one of BINARY_OPS or INPLACE_OPS ("+=" is in-place)."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("operand",), defs=("dest",))
class UnaryOp(Op):
    dest: Reg
    op: str  # one of UNARY_OPS
    operand: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",))
class Compare(Op):
    dest: Reg
    op: str  # one of COMPARE_OPS
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False)
class IsOp(Op):
    """dest = (left is right), or `is not` when negate."""
    dest: Reg
    left: Reg
    right: Reg
    negate: bool
    line: Optional[int] = None


@_op(uses=("item", "container"), defs=("dest",))
class ContainsOp(Op):
    """dest = (item in container), or `not in` when negate."""
    dest: Reg
    item: Reg
    container: Reg
    negate: bool
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Globals, builtins and cells


@_op(defs=("dest",))
class LoadGlobal(Op):
    """Look `name` up in the function's globals, then its builtins (NameError if absent)."""
    dest: Reg
    name: str
    line: Optional[int] = None


@_op(uses=("value",))
class StoreGlobal(Op):
    name: str
    value: Reg
    line: Optional[int] = None


@_op()
class DeleteGlobal(Op):
    name: str
    line: Optional[int] = None


@_op(uses=("initial",), defs=("cell",), raises=False)
class MakeCell(Op):
    """cell = a new cell holding `initial` (an argument that is also a cellvar), or empty."""
    cell: Reg
    initial: Optional[Reg]
    line: Optional[int] = None


@_op(defs=("cell",), raises=False)
class LoadFreeCell(Op):
    """cell = the function's __closure__[index] (COPY_FREE_VARS)."""
    cell: Reg
    index: int
    line: Optional[int] = None


@_op(uses=("cell",), defs=("dest",))
class LoadDeref(Op):
    """dest = cell contents. Empty cell: UnboundLocalError (cellvar) or NameError (freevar)."""
    dest: Reg
    cell: Reg
    name: str
    is_free: bool
    line: Optional[int] = None


@_op(uses=("cell", "value"), raises=False)
class StoreDeref(Op):
    cell: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("cell",))
class DeleteDeref(Op):
    cell: Reg
    name: str
    is_free: bool
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Attributes and subscripts


@_op(uses=("obj",), defs=("dest",))
class GetAttr(Op):
    dest: Reg
    obj: Reg
    name: str
    line: Optional[int] = None


@_op(uses=("obj", "value"))
class SetAttr(Op):
    obj: Reg
    name: str
    value: Reg
    line: Optional[int] = None


@_op(uses=("obj",))
class DelAttr(Op):
    obj: Reg
    name: str
    line: Optional[int] = None


@_op(uses=("obj", "key"), defs=("dest",))
class GetItem(Op):
    dest: Reg
    obj: Reg
    key: Reg
    line: Optional[int] = None


@_op(uses=("obj", "key", "value"))
class SetItem(Op):
    obj: Reg
    key: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("obj", "key"))
class DelItem(Op):
    obj: Reg
    key: Reg
    line: Optional[int] = None


@_op(uses=("start", "stop", "step"), defs=("dest",))
class BuildSlice(Op):
    dest: Reg
    start: Reg
    stop: Reg
    step: Optional[Reg]
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Calls and functions


@_op(uses=("func", "args"), defs=("dest",))
class Call(Op):
    """dest = func(*args[:n-k], **dict(zip(kwnames, args[n-k:]))) with k = len(kwnames).

    For a method call (LOAD_METHOD) the frontend has already put `self` first in args.
    """
    dest: Reg
    func: Reg
    args: list[Reg]
    kwnames: tuple[str, ...] = ()
    line: Optional[int] = None


@_op(uses=("func", "args", "kwargs"), defs=("dest",))
class CallEx(Op):
    """dest = func(*args, **kwargs) (CALL_FUNCTION_EX): `args` is any iterable (converted to a
    tuple with CPython's error message), `kwargs` a dict or None."""
    dest: Reg
    func: Reg
    args: Reg
    kwargs: Optional[Reg]
    line: Optional[int] = None


@_op(uses=("defaults", "kwdefaults", "annotations", "closure"), defs=("dest",))
class MakeFunction(Op):
    """dest = a new ordinary Python function from the nested code object `code`, with the
    jitted function's globals and builtins (MAKE_FUNCTION)."""
    dest: Reg
    code: Any  # types.CodeType, passed to the generated module as an object
    defaults: Optional[Reg]
    kwdefaults: Optional[Reg]
    annotations: Optional[Reg]
    closure: Optional[Reg]
    line: Optional[int] = None


@_op(defs=("dest",))
class LoadBuildClass(Op):
    dest: Reg
    line: Optional[int] = None


@_op(defs=("dest",), raises=False)
class LoadAssertionError(Op):
    dest: Reg
    line: Optional[int] = None


@_op(uses=("level", "fromlist"), defs=("dest",))
class ImportName(Op):
    dest: Reg
    name: str
    level: Reg
    fromlist: Reg
    line: Optional[int] = None


@_op(uses=("module",), defs=("dest",))
class ImportFrom(Op):
    dest: Reg
    module: Reg
    name: str
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Building containers and strings


@_op(uses=("items",), defs=("dest",))
class BuildTuple(Op):
    dest: Reg
    items: list[Reg]
    line: Optional[int] = None


@_op(uses=("items",), defs=("dest",))
class BuildList(Op):
    dest: Reg
    items: list[Reg]
    line: Optional[int] = None


@_op(uses=("items",), defs=("dest",))
class BuildSet(Op):
    dest: Reg
    items: list[Reg]
    line: Optional[int] = None


@_op(uses=("keys", "values"), defs=("dest",))
class BuildMap(Op):
    """dest = {keys[0]: values[0], ...} inserted in order."""
    dest: Reg
    keys: list[Reg]
    values: list[Reg]
    line: Optional[int] = None


@_op(uses=("values",), defs=("dest",))
class BuildConstKeyMap(Op):
    """dest = dict(zip(keys, values)) where `keys` is a constant tuple."""
    dest: Reg
    keys: tuple
    values: list[Reg]
    line: Optional[int] = None


@_op(uses=("parts",), defs=("dest",))
class BuildString(Op):
    """dest = "".join(parts) (f-strings); every part is already a str."""
    dest: Reg
    parts: list[Reg]
    line: Optional[int] = None


@_op(uses=("value", "spec"), defs=("dest",))
class FormatValue(Op):
    """dest = format(conv(value), spec); conversion is None, "s", "r" or "a"."""
    dest: Reg
    value: Reg
    conversion: Optional[str]
    spec: Optional[Reg]
    line: Optional[int] = None


@_op(uses=("list_",), defs=("dest",))
class ListToTuple(Op):
    dest: Reg
    list_: Reg
    line: Optional[int] = None


@_op(uses=("list_", "value"))
class ListAppend(Op):
    list_: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("list_", "iterable"))
class ListExtend(Op):
    """list_.extend(iterable); a non-iterable gives CPython's "Value after * must be an
    iterable, not T" message."""
    list_: Reg
    iterable: Reg
    line: Optional[int] = None


@_op(uses=("set_", "value"))
class SetAdd(Op):
    set_: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("set_", "iterable"))
class SetUpdate(Op):
    set_: Reg
    iterable: Reg
    line: Optional[int] = None


@_op(uses=("dict_", "key", "value"))
class MapAdd(Op):
    dict_: Reg
    key: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("dict_", "mapping"))
class DictUpdate(Op):
    """dict_.update(mapping) for {**m}; non-mapping: "'T' object is not a mapping"."""
    dict_: Reg
    mapping: Reg
    line: Optional[int] = None


@_op(uses=("dict_", "mapping", "func"))
class DictMerge(Op):
    """Merge keyword arguments for a call to `func` (f(**m)): duplicate keys and non-mappings
    raise CPython's messages, which name `func`."""
    dict_: Reg
    mapping: Reg
    func: Reg
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Iteration and unpacking


@_op(uses=("obj",), defs=("dest",))
class GetIter(Op):
    dest: Reg
    obj: Reg
    line: Optional[int] = None


@_op(uses=("obj",), defs=("dest",))
class GetYieldFromIter(Op):
    dest: Reg
    obj: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dests",))
class UnpackSequence(Op):
    """dests[0], dests[1], ... = src, exactly len(dests) items (CPython's messages)."""
    dests: list[Reg]
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dests",))
class UnpackEx(Op):
    """a, *rest, b = src: `before` leading items, a list, `after` trailing items, in dests."""
    dests: list[Reg]
    src: Reg
    before: int
    after: int
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Exceptions, with-statements and pattern matching


@_op(uses=("exc",), defs=("prev",), raises=False)
class PushExcInfo(Op):
    """prev = the currently handled exception (or None); then `exc` becomes the handled one."""
    prev: Reg
    exc: Reg
    line: Optional[int] = None


@_op(uses=("prev",), raises=False)
class PopExcept(Op):
    """Restore `prev` as the handled exception (end of an except clause)."""
    prev: Reg
    line: Optional[int] = None


@_op(uses=("exc", "match_type"), defs=("dest",))
class CheckExcMatch(Op):
    """dest = isinstance-style match of exc against match_type (a class or tuple), with
    CPython's TypeError for classes that do not inherit from BaseException."""
    dest: Reg
    exc: Reg
    match_type: Reg
    line: Optional[int] = None


@_op(uses=("exc", "match_type"), defs=("rest", "match"))
class CheckEgMatch(Op):
    """except*: split exception group `exc`; match is None when nothing matched."""
    rest: Reg
    match: Reg
    exc: Reg
    match_type: Reg
    line: Optional[int] = None


@_op(uses=("orig", "raised"), defs=("dest",))
class PrepReraiseStar(Op):
    dest: Reg
    orig: Reg
    raised: Reg
    line: Optional[int] = None


@_op(uses=("manager",), defs=("exit", "result"))
class BeforeWith(Op):
    """exit = bound manager.__exit__; result = manager.__enter__() (CPython's lookup order and
    messages)."""
    exit: Reg
    result: Reg
    manager: Reg
    line: Optional[int] = None


@_op(uses=("exit", "exc"), defs=("dest",))
class WithExceptStart(Op):
    """dest = exit(type(exc), exc, exc.__traceback__)."""
    dest: Reg
    exit: Reg
    exc: Reg
    line: Optional[int] = None


@_op(uses=("obj",), defs=("dest",))
class GetLen(Op):
    dest: Reg
    obj: Reg
    line: Optional[int] = None


@_op(uses=("subject",), defs=("dest",), raises=False)
class MatchMapping(Op):
    dest: Reg
    subject: Reg
    line: Optional[int] = None


@_op(uses=("subject",), defs=("dest",), raises=False)
class MatchSequence(Op):
    dest: Reg
    subject: Reg
    line: Optional[int] = None


@_op(uses=("subject", "keys"), defs=("dest",))
class MatchKeys(Op):
    """dest = tuple of values for `keys` (a tuple) in mapping subject, or None."""
    dest: Reg
    subject: Reg
    keys: Reg
    line: Optional[int] = None


@_op(uses=("subject", "cls", "names"), defs=("dest",))
class MatchClass(Op):
    """dest = tuple of extracted attributes (nargs positional via __match_args__, then the
    keyword `names`), or None when subject is not an instance."""
    dest: Reg
    subject: Reg
    cls: Reg
    names: Reg
    nargs: int
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Generators


@_op(uses=("value",), defs=("dest",))
class Yield(Op):
    """dest = (yield value): the value sent in, or raises what was thrown in."""
    dest: Reg
    value: Reg
    line: Optional[int] = None


@_op(uses=("iterator",), defs=("dest",))
class YieldFrom(Op):
    """dest = (yield from iterator): delegates next/send/throw/close; dest is its result."""
    dest: Reg
    iterator: Reg
    line: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Terminators. Successor block ids are plain ints.


@_op(raises=False, terminator=True, targets=("target",))
class Jump(Op):
    target: int
    line: Optional[int] = None


@_op(uses=("cond",), terminator=True, targets=("if_true", "if_false"))
class CondBranch(Op):
    """Go to if_true when the test holds, else if_false.

    test "truth": PyObject_IsTrue(cond) (may raise); "none": cond is None (cannot raise).
    """
    cond: Reg
    if_true: int
    if_false: int
    test: str = "truth"
    line: Optional[int] = None


@_op(uses=("iterator",), defs=("dest",), terminator=True, targets=("body", "exit"),
     defs_edge="body")
class ForIter(Op):
    """dest = next(iterator) and go to body; on exhaustion go to exit (dest is not set)."""
    dest: Reg
    iterator: Reg
    body: int
    exit: int
    line: Optional[int] = None


@_op(uses=("value",), raises=False, terminator=True)
class Return(Op):
    value: Reg
    line: Optional[int] = None


@_op(uses=("exc", "cause"), terminator=True)
class Raise(Op):
    """raise exc from cause; with exc None it is a bare `raise` of the handled exception."""
    exc: Optional[Reg]
    cause: Optional[Reg]
    line: Optional[int] = None


@_op(uses=("exc",), terminator=True)
class Reraise(Op):
    """Re-raise `exc` keeping its traceback (RERAISE at the end of handlers and finally)."""
    exc: Reg
    line: Optional[int] = None


def successors(term: Op) -> list[int]:
    """Normal (non-exception) successors of a terminator, in a fixed order (`TARGETS`)."""
    return [getattr(term, name) for name in term.TARGETS]


# --------------------------------------------------------------------------------------------
# Typed code (output of justjit.specialize only)
#
# Unboxed registers hold C values: i64 (int64_t), f64 (double), b1 (0 or 1). The semantics of
# each op below is exact: where CPython would give a different result (an int that no longer
# fits 64 bits, a division by zero, a float that is not exactly convertible, a math domain
# error) the op does not compute anything: it *deopts*, i.e. goes to its `deopt` block, a
# transfer block that boxes the live unboxed values into the generic registers and jumps into
# the generic copy of the code at the very point of the operation, which then runs the
# ordinary op (with CPython's exception and message). So no typed op raises, and none has a
# side effect before it deopts.
#
# Ops that may deopt are terminators with two targets, `ok` and `deopt`; their defs are
# written on the `ok` edge only (DEFS_EDGE). Ops that cannot fail are ordinary ops.
# `KINDS` maps each register field to the kind it must have ("obj": any object kind; a tuple
# lists the kinds allowed); the verifier checks it. A generic op (one without KINDS) only
# takes object registers, except Move, which copies between two registers of the same kind.

INT_ARITH_OPS = ("+", "-", "*", "//", "%", "<<", ">>", "**")  # IntArith (may deopt)
INT_BITWISE_OPS = ("&", "|", "^")                         # IntBitwise (cannot fail)
FLOAT_ARITH_OPS = ("+", "-", "*")                          # FloatArith (cannot fail)
FLOAT_DIVIDE_OPS = ("/", "//", "%")                        # FloatDivide (deopt on zero divisor)
INT_UNARY_OPS = ("neg", "abs")                             # IntUnary (deopt on INT64_MIN)
FLOAT_UNARY_OPS = ("neg", "abs", "round")                  # FloatUnary
# Lattice type names a GuardType can check, and what "src is of that type" means:
#   "int": type(src) is int and -2**63 <= src < 2**63;  "float", "bool", "str", "bytes",
#   "list", "tuple", "dict", "set", "complex": type(src) is exactly that class;  "none": src
#   is None.
GUARD_TYPES = ("int", "float", "bool", "none", "str", "bytes", "list", "tuple", "dict", "set",
               "complex")
# Sequences whose elements SeqLoad reads without a call.
SEQ_TYPES = ("list", "tuple")
# Sequences and collections whose length TypedLen reads without a call.
LEN_TYPES = ("str", "bytes", "list", "tuple", "dict", "set")
# 1-argument math functions MathFunc computes with the C library function CPython calls.
MATH_FUNCS = ("sqrt", "exp", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
              "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "fabs", "expm1",
              "floor", "ceil", "trunc")


@_op(defs=("var",), raises=False)
class ClearLocal(Op):
    """Unbind local `var` whether or not it is bound, releasing the object it held if any
    (unlike DeleteLocal, no CheckBound precedes it). Specialized code uses it where a local
    goes on in an unboxed register, so its previous object dies when CPython would drop it."""
    var: Reg
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "i64"})
class ConstInt(Op):
    """dest = value (an int with -2**63 <= value < 2**63)."""
    dest: Reg
    value: int
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "f64"})
class ConstFloat(Op):
    """dest = value, bit for bit (-0.0, inf and nan included: spell it from float.hex or the
    8 bytes, never from a rounded decimal)."""
    dest: Reg
    value: float
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "b1"})
class ConstBool(Op):
    dest: Reg
    value: bool
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "obj", "src": "i64"})
class BoxInt(Op):
    """dest = a Python int with the value of src (PyLong_FromLongLong: small ints are the
    cached objects, as CPython's own arithmetic gives). Allocation failure is not modelled: an
    emitter may let the MemoryError leave the function without running a handler."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "obj", "src": "f64"})
class BoxFloat(Op):
    """dest = a new Python float (PyFloat_FromDouble). Same allocation note as BoxInt."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "obj", "src": ("i64", "f64")})
class BoxNumpy(Op):
    """dest = a new numpy scalar of `dtype` (numpy.float64, ...) with the value of src. Same
    allocation note as BoxInt."""
    dest: Reg
    src: Reg
    dtype: str
    line: Optional[int] = None


@_op(uses=("src", "is_numpy"), defs=("dest",), raises=False,
     kinds={"dest": "obj", "src": "f64", "is_numpy": "b1"})
class BoxFloatOrNumpy(Op):
    """dest = a new numpy.float64 with the value of src if is_numpy, else a new Python float
    (a value of type "float or numpy.float64", see analyses.types.FLOAT_OR_NP_FLOAT64)."""
    dest: Reg
    src: Reg
    is_numpy: Reg
    line: Optional[int] = None


@_op(uses=("items",), defs=("dest",), raises=False, kinds={"dest": "obj", "items": "i64"})
class BoxIntTuple(Op):
    """dest = a new tuple of Python ints with the values of items (PyLong_FromLongLong each):
    an array index `(i, j)` that typed code kept as two int64s. Same allocation note as
    BoxInt."""
    dest: Reg
    items: list[Reg]
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "obj", "src": "b1"})
class BoxBool(Op):
    """dest = True if src else False (the singletons)."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("start", "stop", "step"), defs=("dest",), raises=False,
     kinds={"dest": "obj", "start": "i64", "stop": "i64", "step": "i64"})
class BoxRange(Op):
    """dest = range(start, stop, step) (a new range object; step is never 0 here)."""
    dest: Reg
    start: Reg
    stop: Reg
    step: Reg
    line: Optional[int] = None


@_op(uses=("cur", "stop", "step"), defs=("dest",), raises=False,
     kinds={"dest": "obj", "cur": "i64", "stop": "i64", "step": "i64"})
class BoxRangeIter(Op):
    """dest = iter(range(cur, stop, step)): an iterator that yields exactly what the unboxed
    range iterator (cur, stop, step) would still yield (see RangeIterNext)."""
    dest: Reg
    cur: Reg
    stop: Reg
    step: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "i64", "src": "obj"})
class UnboxInt(Op):
    """dest = the value of src. Precondition (a GuardType "int" before it, or proven): src is
    an exact int that fits int64."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "f64", "src": "obj"})
class UnboxFloat(Op):
    """dest = PyFloat_AS_DOUBLE(src). Precondition: src is an exact float."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "b1", "src": "obj"})
class UnboxBool(Op):
    """dest = (src is True). Precondition: src is True or False."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "i64", "src": "b1"})
class BoolToInt(Op):
    """dest = 1 if src else 0 (what int(b) and arithmetic on a bool see)."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, kinds={"dest": "f64", "src": "i64"})
class IntToFloat(Op):
    """dest = (double)src, rounded to nearest, ties to even: what CPython's PyLong_AsDouble
    gives for an int64 (used by float(i) and by int/float mixed arithmetic). Cannot fail."""
    dest: Reg
    src: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False,
     kinds={"dest": "i64", "left": "i64", "right": "i64"})
class IntBitwise(Op):
    """dest = left <op> right, op in INT_BITWISE_OPS (two's complement, as Python ints)."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False,
     kinds={"dest": "f64", "left": "f64", "right": "f64"})
class FloatArith(Op):
    """dest = left <op> right in IEEE double arithmetic, op in FLOAT_ARITH_OPS (inf and nan
    results are values, as in CPython's float_add/float_sub/float_mul)."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("operand",), defs=("dest",), raises=False, kinds={"dest": "f64", "operand": "f64"})
class FloatUnary(Op):
    """dest = -operand ("neg", flips the sign of 0.0 and nan too), fabs(operand) ("abs"), or
    operand rounded to an integer with ties to even ("round") as float.__round__ without
    ndigits computes it: r = round(operand) (C's, ties away from zero); if
    fabs(operand - r) == 0.5: r = 2.0 * round(operand / 2.0). nan and inf pass through."""
    dest: Reg
    op: str
    operand: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False,
     kinds={"dest": "b1", "left": "i64", "right": "i64"})
class IntCompare(Op):
    """dest = left <op> right, op in COMPARE_OPS, on int64 values."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False,
     kinds={"dest": "b1", "left": "f64", "right": "f64"})
class FloatCompare(Op):
    """dest = left <op> right, op in COMPARE_OPS, C semantics on doubles (every comparison
    with a nan is false except !=; -0.0 == 0.0), which is CPython's float_richcompare."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False,
     kinds={"dest": "b1", "src": ("i64", "f64", "b1")})
class Truth(Op):
    """dest = (src != 0), or (src == 0) when negate: the truth of an int, a float (nan is true,
    -0.0 false) or a bool."""
    dest: Reg
    src: Reg
    negate: bool = False
    line: Optional[int] = None


@_op(uses=("args",), defs=("dest",), raises=False, kinds={"dest": "i64", "args": "i64"})
class IntMinMax(Op):
    """dest = min(args) or max(args) (op "min"/"max"), len(args) >= 2."""
    dest: Reg
    op: str
    args: list[Reg]
    line: Optional[int] = None


@_op(uses=("args",), defs=("dest",), raises=False, kinds={"dest": "f64", "args": "f64"})
class FloatMinMax(Op):
    """dest = Python's min(*args) / max(*args) on floats: r = args[0]; for each later x,
    r = x if x < r (min) / x > r (max). So a leading nan wins, a later nan never does, and
    min(0.0, -0.0) is 0.0."""
    dest: Reg
    op: str
    args: list[Reg]
    line: Optional[int] = None


@_op(uses=("obj",), defs=("dest",), raises=False, kinds={"dest": "i64", "obj": "obj"})
class TypedLen(Op):
    """dest = len(obj) for an obj of exact type `of` (one of LEN_TYPES), read without a call
    (Py_SIZE / PyUnicode_GET_LENGTH / PyDict_GET_SIZE / PySet_GET_SIZE)."""
    dest: Reg
    obj: Reg
    of: str
    line: Optional[int] = None


# ---- typed ops that may deopt (terminators: ok / deopt) ----


@_op(uses=("src",), raises=False, terminator=True, targets=("ok", "deopt"),
     kinds={"src": "obj"})
class GuardType(Op):
    """Go to ok if src is of lattice type `type_name` (see GUARD_TYPES), else to deopt."""
    src: Reg
    type_name: str
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("src",), raises=False, terminator=True, targets=("ok", "deopt"),
     kinds={"src": "obj"})
class GuardIdentity(Op):
    """Go to ok if src is `expected` (pointer identity), else to deopt. `expected` is the
    object itself (pass it to the module as a constant, like LoadConst's value)."""
    src: Reg
    expected: Any
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(raises=False, terminator=True, targets=("ok", "deopt"))
class GlobalIs(Op):
    """Go to ok if global `name` (LOAD_GLOBAL's lookup, from the cache of the site) is the
    object `expected` now, else to deopt. Makes no reference and has no effect: a known
    global that typed code uses only for what it is (a callee) is checked, not loaded; the
    generic LoadGlobal the deopt resumes at does the real lookup."""
    name: str
    expected: Any
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(raises=False, terminator=True, targets=("ok", "deopt"))
class ModuleAttrIs(Op):
    """Go to ok if attribute `name` of the module `module` (an exact module, a constant) is
    `expected` now (found in its dict, as the site's attribute cache says), else to deopt;
    as GlobalIs, no reference, no effect (math.sqrt in typed code)."""
    module: Any
    name: str
    expected: Any
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("src",), raises=False, terminator=True, targets=("ok", "deopt"),
     kinds={"src": "obj"})
class GuardClass(Op):
    """Go to ok if type(src) is `cls` exactly (an instance of a user class: see
    analyses.types.instance_type), else to deopt. `cls` is passed as GuardIdentity's
    `expected` is."""
    src: Reg
    cls: Any
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": "i64", "left": "i64", "right": "i64"})
class IntArith(Op):
    """dest = left <op> right with Python int semantics, op in INT_ARITH_OPS; goes to deopt
    (dest untouched) when the exact result does not fit int64 or CPython would raise:
      + - *  overflow (C: __builtin_add/sub/mul_overflow);
      //     right == 0, or left == INT64_MIN and right == -1; else floor division
             (q = left / right; if (left % right != 0 and (left ^ right) < 0) q -= 1);
      %      right == 0; else r = left % right; if (r != 0 and (r ^ right) < 0) r += right
             (left == INT64_MIN, right == -1 gives 0; do not evaluate that C expression);
      <<     right < 0, or right >= 64 and left != 0, or bits shifted out (the result shifted
             back right does not give left); 0 << n is 0;
      >>     right < 0; right >= 64 gives 0 or -1 by the sign of left; else arithmetic shift.
      **     right < 0 (CPython gives a float), or overflow (by repeated squaring with checked
             multiplications: a base squared past int64 while bits of right remain means the
             result is past it too).
    """
    dest: Reg
    op: str
    left: Reg
    right: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("operand",), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok", kinds={"dest": "i64", "operand": "i64"})
class IntUnary(Op):
    """dest = -operand ("neg") or abs(operand) ("abs"); deopt when operand == INT64_MIN."""
    dest: Reg
    op: str
    operand: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": "f64", "left": "f64", "right": "f64"})
class FloatDivide(Op):
    """dest = left <op> right with CPython's float semantics, op in FLOAT_DIVIDE_OPS; deopt
    when right == 0.0 (either sign), where CPython raises ZeroDivisionError.
      /   left / right.
      %   m = fmod(left, right); if m != 0: if (right < 0) != (m < 0): m += right
          else: m = copysign(0.0, right).
      //  m = fmod(left, right); d = (left - m) / right;
          if m != 0 and (right < 0) != (m < 0): d -= 1.0;
          if d != 0: q = floor(d); if d - q > 0.5: q += 1.0
          else: q = copysign(0.0, left / right).
    (float_div, float_rem and _float_div_mod of Objects/floatobject.c.)"""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": "f64", "left": "f64", "right": "f64"})
class FloatPow(Op):
    """dest = left ** right as CPython's float_pow computes it, for finite operands:
    right == 0.0 gives 1.0; left == 0.0 (either sign) with right > 0.0 gives left for an odd
    integral right, else 0.0; otherwise pow(|left|, right) (left < 0.0 needs an integral right;
    the result is negated for an odd one) with errno cleared before pow() and still 0 after,
    and a finite result. Anything else goes to deopt (a zero base with a negative exponent, a
    complex result, an overflow or underflow, inf or nan operands: the generic code answers or
    raises). pow() must be called as such: a C compiler may not rewrite pow(x, 2.0) as x * x."""
    dest: Reg
    left: Reg
    right: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, terminator=True, targets=("ok", "deopt"),
     defs_edge="ok", kinds={"dest": "f64", "src": "i64"})
class IntToFloatExact(Op):
    """dest = (double)src when -2**53 <= src <= 2**53 (so the conversion is exact), else
    deopt. Used where CPython compares or divides ints exactly (int < float, int / int)."""
    dest: Reg
    src: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("src",), defs=("dest",), raises=False, terminator=True, targets=("ok", "deopt"),
     defs_edge="ok", kinds={"dest": "i64", "src": "f64"})
class FloatToInt(Op):
    """dest = int(src), truncating toward zero; deopt when src is nan or infinite or its
    integer part does not fit int64 (-2**63 <= src < 2**63 after truncation)."""
    dest: Reg
    src: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("arg",), defs=("dest",), raises=False, terminator=True, targets=("ok", "deopt"),
     defs_edge="ok", kinds={"dest": "f64", "arg": "f64"})
class MathFunc(Op):
    """dest = r = name(arg) with the C library function of that name (`name` in MATH_FUNCS;
    floor/ceil/trunc/fabs return a double here). Set errno = 0 before the call; deopt when
    (isnan(r) and not isnan(arg)) or (isinf(r) and isfinite(arg)) or errno != 0 — a superset
    of the cases where CPython's math module raises, so the generic call decides."""
    dest: Reg
    name: str
    arg: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("seq", "index"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": ("obj", "i64", "f64"), "seq": "obj", "index": "i64"})
class SeqLoad(Op):
    """dest = seq[index] for a seq of exact type `of` (one of SEQ_TYPES), read without a call;
    a negative index counts from the end (index + len(seq)). dest's kind says what the
    element must be: obj takes any element (a new reference), i64 an exact int in int64,
    f64 an exact float (their values). Deopt, having read nothing, when the index is out of
    range or the element is not of that kind: reading an element of an exact list or tuple
    has no effect, so the generic GetItem does it again (and raises CPython's IndexError)."""
    dest: Reg
    seq: Reg
    index: Reg
    of: str
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("obj", "value"), kinds={"obj": "obj", "value": "f64"})
class SetAttrFloat(Op):
    """obj.name = value, a float CPython would have just made (as ListStore's f64 value):
    when the attribute's slot (the site's instance attribute cache, see SetAttr) holds an
    exact float that nothing else references, its value is overwritten in place; otherwise
    the generic store stores a new float (and raises what it raises)."""
    obj: Reg
    name: str
    value: Reg
    line: Optional[int] = None


@_op(uses=("seq", "index", "value"), raises=False, terminator=True, targets=("ok", "deopt"),
     kinds={"seq": "obj", "index": "i64", "value": ("obj", "f64", "b1")})
class ListStore(Op):
    """seq[index] = value for an exact list seq, without a call (list_ass_item): a negative
    index counts from the end; the new element is put in place, then the old one released.
    An f64 value is a float that CPython would have just made (the result of arithmetic):
    when the old element is an exact float that nothing but the list references, its value
    is overwritten in place (no reference to the old float can tell; floats have no
    weakrefs or finalizers), else a new float is stored. A b1 value stores True or False.
    Storing the object the slot already holds changes nothing (not even reference counts).
    Deopt, having stored nothing, when the index is out of range (the generic SetItem
    raises) or a new float cannot be made."""
    seq: Reg
    index: Reg
    value: Reg
    ok: int
    deopt: int
    line: Optional[int] = None


# ---- numpy arrays and scalars (C: justjit/runtime/jj_numpy.h) ----
#
# numpy dtypes with typed element access and scalar arithmetic (native byte order), and the
# unboxed kind that holds their values exactly (an int32 in an i64, a float32 in an f64).
NP_DTYPES = {"int32": "i64", "int64": "i64", "float32": "f64", "float64": "f64"}
NP_ARITH_OPS = ("+", "-", "*", "/")  # NpArith ("/" only for the float dtypes)
# ArrayStore conversions: "exact" (value already of the dtype), "trunc" (a Python float into an
# int array: int(value)), "round" (a double into a float32 array).
ARRAY_STORE_CASTS = ("exact", "trunc", "round")


@_op(uses=("src",), raises=False, terminator=True, targets=("ok", "deopt"),
     kinds={"src": "obj"})
class GuardArray(Op):
    """Go to ok if src is an exact numpy.ndarray of dtype `dtype` (NP_DTYPES, native byte
    order), `ndim` dimensions and `layout` ("C": C-contiguous, "F": only Fortran-contiguous,
    "A": neither), else to deopt."""
    src: Reg
    dtype: str
    ndim: int
    layout: str
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("arr", "indices"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": ("i64", "f64"), "arr": "obj", "indices": "i64"})
class ArrayLoad(Op):
    """dest = the value of arr[i] or arr[i, j] (`indices`) for an exact 1-d or 2-d ndarray of
    dtype `dtype` (a negative index counts from the end of its axis). Deopt, having read
    nothing, when the array is no longer of that ndim and dtype or an index is out of range
    (generic code raises numpy's IndexError)."""
    dest: Reg
    arr: Reg
    indices: list[Reg]
    dtype: str
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("arr", "indices", "value"), raises=False, terminator=True,
     targets=("ok", "deopt"), kinds={"arr": "obj", "indices": "i64", "value": ("i64", "f64")})
class ArrayStore(Op):
    """arr[i] or arr[i, j] (`indices`) = value for an exact 1-d or 2-d ndarray of dtype
    `dtype`, converting as `cast` says (ARRAY_STORE_CASTS). Deopt, having stored nothing, when
    the array changed dtype or ndim, is read-only, an index is out of range, or numpy's cast
    would raise or warn."""
    arr: Reg
    indices: list[Reg]
    value: Reg
    dtype: str
    cast: str
    ok: int
    deopt: int
    line: Optional[int] = None


@_op(uses=("left", "right"), defs=("dest",), raises=False, terminator=True,
     targets=("ok", "deopt"), defs_edge="ok",
     kinds={"dest": ("i64", "f64"), "left": ("i64", "f64"), "right": ("i64", "f64")})
class NpArith(Op):
    """dest = left <op> right as numpy scalars of `dtype` (op in NP_ARITH_OPS), the operands
    already converted to it. Deopt where numpy would warn, raise or wrap: integer overflow, an
    int32 operand out of range (a Python int numpy cannot convert), a zero divisor, a float
    result that is not finite or underflows."""
    dest: Reg
    op: str
    left: Reg
    right: Reg
    dtype: str
    ok: int
    deopt: int
    line: Optional[int] = None


# ---- typed terminators ----


@_op(uses=("cond",), raises=False, terminator=True, targets=("if_true", "if_false"),
     kinds={"cond": "b1"})
class TypedCondBranch(Op):
    """Go to if_true when cond (a b1) is 1, else to if_false. Cannot raise."""
    cond: Reg
    if_true: int
    if_false: int
    line: Optional[int] = None


@_op(uses=("cur", "stop", "step"), defs=("dest", "cur"), raises=False, terminator=True,
     targets=("body", "exit"), defs_edge="body",
     kinds={"dest": "i64", "cur": "i64", "stop": "i64", "step": "i64"})
class RangeIterNext(Op):
    """The for-loop step over an unboxed range iterator (cur, stop, step), step != 0:
    if (step > 0 ? cur < stop : cur > stop): dest = cur; cur = cur + step, or cur = stop when
    that addition overflows int64 (the iteration is then over); go to body.
    Else go to exit (dest and cur untouched)."""
    dest: Reg
    cur: Reg
    stop: Reg
    step: Reg
    body: int
    exit: int
    line: Optional[int] = None


# ---- direct self-calls (a function calling its own typed code, justjit.specialize) ----


@_op(uses=("func", "args"), defs=("dest",), terminator=True,
     targets=("ok", "dirty", "decline"), defs_edge="ok",
     kinds={"dest": UNBOXED_KINDS, "func": "obj", "args": UNBOXED_KINDS})
class SelfCall(Op):
    """dest = this function (the same specialization) called with the unboxed `args`, by a
    C call of its *direct* body (Specialization.direct), with no argument objects, no
    dispatch and no result object when the callee stays in typed code. Three ways out:

    - `ok`: the callee returned from typed code; dest holds its result.
    - `dirty`: the callee left typed code (a deopt) and returned an object; the first op of
      `dirty` is the DirectResult that takes it. Code after this point runs generic.
    - `decline`: nothing happened; the generic Call must run instead. A SelfCall declines
      when `func` (the object the call would call) is not this very function with the same
      state and entry, when a profiler or tracer is on, or when the recursion limit would be
      reached (the generic call then raises CPython's RecursionError). In a direct body
      `func` is None: its caller checked all that, and typed code runs no other code.

    Raises what the callee raised (traceback entry added)."""
    dest: Reg
    func: Optional[Reg]
    args: list[Reg]
    ok: int
    dirty: int
    decline: int
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "obj"})
class DirectResult(Op):
    """dest = the object that the SelfCall ending the only predecessor block got from a
    callee that left typed code (a new reference, handed over through the module)."""
    dest: Reg
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "b1"})
class DirectBudget(Op):
    """dest = 1 when this direct body's recursion budget allows `depth` + 1 nested calls
    (a SelfCall declines when it allows none, and the generic call raises RecursionError).
    Only in a direct body; it guards the callee code it runs inline (justjit.inline_leaves)."""
    dest: Reg
    depth: int
    line: Optional[int] = None


@_op(defs=("dest",), raises=False, kinds={"dest": "b1"})
class LeafBudget(Op):
    """dest = 1 when a call of a jitted leaf may run inline (justjit.inline_calls): no
    profiler or tracer is on (it would see the call), and the recursion limit is far enough
    that the real call could not raise RecursionError. Not in a direct body (DirectBudget)."""
    dest: Reg
    line: Optional[int] = None


@_op(uses=("value",), raises=False, terminator=True, kinds={"value": UNBOXED_KINDS})
class ReturnUnboxed(Op):
    """Return from a direct body's typed code with the unboxed result (no object made)."""
    value: Reg
    line: Optional[int] = None


TYPED_OPS = (ClearLocal, ConstInt, ConstFloat, ConstBool, BoxInt, BoxFloat, BoxBool, BoxRange,
             BoxRangeIter, UnboxInt, UnboxFloat, UnboxBool, BoolToInt, IntToFloat, IntBitwise,
             FloatArith, FloatUnary, IntCompare, FloatCompare, Truth, IntMinMax, FloatMinMax,
             TypedLen, GuardType, GuardIdentity, GuardClass, GlobalIs, ModuleAttrIs, IntArith,
             IntUnary, FloatDivide, FloatPow, IntToFloatExact, FloatToInt, MathFunc, SeqLoad,
             ListStore, SetAttrFloat, TypedCondBranch, RangeIterNext, SelfCall, DirectResult,
             DirectBudget, LeafBudget, ReturnUnboxed, BoxNumpy, BoxFloatOrNumpy, BoxIntTuple,
             GuardArray, ArrayLoad, ArrayStore, NpArith)


# --------------------------------------------------------------------------------------------
# Blocks and functions


@dataclass
class ExcEdge:
    """Where a block's exceptions go: `target` receives the exception in `exc_dest`.
    `lasti_dest`, when set, is a slot the handler expects below the exception (3.11 `lasti`)."""
    target: int
    exc_dest: Reg
    lasti_dest: Optional[Reg] = None


@dataclass
class Block:
    id: int
    ops: list[Op] = field(default_factory=list)
    terminator: Optional[Op] = None
    handler: Optional[ExcEdge] = None

    def all_successors(self) -> list[int]:
        succ = successors(self.terminator) if self.terminator else []
        if self.handler is not None and self.handler.target not in succ:
            succ = succ + [self.handler.target]
        return succ


@dataclass
class IRFunction:
    name: str
    qualname: str
    filename: str
    firstlineno: int
    code: Any                      # the original code object
    args: list[Reg]                # argument variables, in co_varnames order
    blocks: dict[int, Block]
    entry: int
    is_generator: bool = False
    source_lines: dict[int, str] = field(default_factory=dict)  # line number -> source text
    # Set by justjit.specialize on the function it returns (a specialize.Specialization: the
    # argument types, which blocks are the typed copy, the generic copy and the transfers).
    specialization: Any = None

    def ordered_blocks(self) -> list[Block]:
        return [self.blocks[k] for k in sorted(self.blocks)]
