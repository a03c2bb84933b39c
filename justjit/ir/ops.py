"""The register IR: small op classes, one per kind of operation.

A function is a graph of blocks. Each block holds straight-line ops and ends in exactly one
terminator (Jump, CondBranch, ForIter, Return, Raise, Reraise). A block may also name an
exception handler: if any op in it raises, control goes to the handler with the exception
object in a given register. Nothing here knows about the Python value stack: the frontend's
stack-to-register pass has already turned every stack slot into a named register.

Every op carries the source line it came from. Each op class declares which of its fields are
registers it reads (`USES`) and which it writes (`DEFS`), so analyses need no per-op code;
`CAN_RAISE` says whether the op may raise (and so needs the block's exception edge).

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
REG_KINDS = ("var", "cell", "stack", "tmp")


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
        terminator: bool = False):
    """Class decorator: make a dataclass op and record its register fields."""

    def wrap(cls):
        cls.USES = uses
        cls.DEFS = defs
        cls.CAN_RAISE = raises
        cls.IS_TERMINATOR = terminator
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


@_op(raises=False, terminator=True)
class Jump(Op):
    target: int
    line: Optional[int] = None


@_op(uses=("cond",), terminator=True)
class CondBranch(Op):
    """Go to if_true when the test holds, else if_false.

    test "truth": PyObject_IsTrue(cond) (may raise); "none": cond is None (cannot raise).
    """
    cond: Reg
    if_true: int
    if_false: int
    test: str = "truth"
    line: Optional[int] = None


@_op(uses=("iterator",), defs=("dest",), terminator=True)
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
    """Normal (non-exception) successors of a terminator, in a fixed order."""
    if isinstance(term, Jump):
        return [term.target]
    if isinstance(term, CondBranch):
        return [term.if_true, term.if_false]
    if isinstance(term, ForIter):
        return [term.body, term.exit]
    return []


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

    def ordered_blocks(self) -> list[Block]:
        return [self.blocks[k] for k in sorted(self.blocks)]
