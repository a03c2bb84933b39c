"""Decode a CPython 3.11 code object into a neutral instruction stream.

This is the only version-specific module of the compiler. Everything after it reads `Instr`
objects whose meaning is given by one table, `OPCODES` (one `OpInfo` per neutral opcode), and
never looks at `dis` again.

What ends here (3.11 quirks), so that later stages never see them:

- `CACHE` entries, `EXTENDED_ARG` prefixes (their value is already folded into the argument),
  `PRECALL`, `RESUME` and `NOP` are dropped. Jump targets and exception-table offsets that
  pointed at a dropped instruction are forwarded to the next kept one.
- `KW_NAMES i` is folded into the following `CALL` as its `kwnames` tuple.
- `LOAD_GLOBAL` with the low bit of its argument set becomes two neutral instructions:
  `PUSH_NULL` (an explicit "push a NULL marker") followed by a plain `LOAD_GLOBAL name`.
- `RETURN_GENERATOR` and the `POP_TOP` after it are dropped (the IR function carries
  `is_generator` instead).
- The direction of a jump disappears: `JUMP_FORWARD`, `JUMP_BACKWARD` and
  `JUMP_BACKWARD_NO_INTERRUPT` are all `JUMP`; `POP_JUMP_FORWARD_IF_X` and
  `POP_JUMP_BACKWARD_IF_X` are both `POP_JUMP_IF_X`.
- The `yield from` loop

      GET_YIELD_FROM_ITER                  (kept: its own neutral instruction)
      LOAD_CONST None
  L:  SEND (to E)
      YIELD_VALUE
      RESUME 2
      JUMP_BACKWARD_NO_INTERRUPT (to L)
  E:  ...

  becomes one neutral `YIELD_FROM` (pops the iterator, pushes the result) at the offset of the
  `LOAD_CONST`. In 3.11 the exception table has no entry of its own for this loop: `throw()`
  into a generator suspended inside it is delegated by the generator object itself
  (`gen_throw` in Objects/genobject.c), and whatever escapes is raised at the loop's
  instructions, which all share the handler of the code around them. `decode` checks that the
  five fused instructions share one handler and that nothing else jumps into the loop, so the
  fused instruction can simply carry that handler.

Each neutral instruction also carries the exception-table entry that covers it (`handler`), so
the CFG builder never parses `co_exceptiontable` itself.
"""

from __future__ import annotations

import dis
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from . import refusals

# --------------------------------------------------------------------------------------------
# Facts about neutral opcodes

# Control-flow kinds
NEXT = "next"      # falls through to the next instruction
JUMP = "jump"      # always goes to `target`
BRANCH = "branch"  # goes to `target` or falls through
STOP = "stop"      # leaves the function (return, raise)

Count = Union[int, Callable[[int], int]]


@dataclass(frozen=True)
class OpInfo:
    """Stack behaviour and control flow of one neutral opcode.

    `pops`/`pushes` describe the window at the top of the stack the instruction works on, on
    the fall-through path: it reads `pops` slots and leaves `pushes` slots in their place (so
    `COPY n` reads n slots and leaves n + 1). Either may be a function of the argument.
    `jump_pops`/`jump_pushes` are the same for the taken edge of a BRANCH (default: as on the
    fall-through path). `ends_block`: control falls through, but a new basic block must start
    after this instruction because it rewrites stack slots below its result (PUSH_EXC_INFO puts
    the previous exception under the current one; an exception handler covering it expects the
    slot below the top to be canonical when anything raises). `argval`: how `Instr.argval` is
    decoded from the 3.11 argument (a key of `ARG_DECODERS`; None: no argval, only `arg`).
    """

    pops: Count = 0
    pushes: Count = 0
    flow: str = NEXT
    jump_pops: Optional[Count] = None
    jump_pushes: Optional[Count] = None
    ends_block: bool = False
    argval: Optional[str] = None


def _n(arg: int) -> int:
    return arg


def _info(pops: Count = 0, pushes: Count = 0, **kw) -> OpInfo:
    return OpInfo(pops, pushes, **kw)


OPCODES: dict[str, OpInfo] = {
    # Stack shuffles and markers
    "POP_TOP": _info(1, 0),
    "PUSH_NULL": _info(0, 1),
    "COPY": _info(_n, lambda n: n + 1),
    "SWAP": _info(_n, _n),
    # Constants, locals, cells, globals
    "LOAD_CONST": _info(0, 1, argval="const"),
    "LOAD_FAST": _info(0, 1, argval="name"),
    "STORE_FAST": _info(1, 0, argval="name"),
    "DELETE_FAST": _info(0, 0, argval="name"),
    "MAKE_CELL": _info(0, 0, argval="name"),
    "COPY_FREE_VARS": _info(0, 0),
    "LOAD_CLOSURE": _info(0, 1, argval="name"),
    "LOAD_DEREF": _info(0, 1, argval="name"),
    "STORE_DEREF": _info(1, 0, argval="name"),
    "DELETE_DEREF": _info(0, 0, argval="name"),
    "LOAD_GLOBAL": _info(0, 1, argval="name"),   # neutral: never pushes a NULL (see PUSH_NULL)
    "STORE_GLOBAL": _info(1, 0, argval="name"),
    "DELETE_GLOBAL": _info(0, 0, argval="name"),
    # Operators
    "UNARY_POSITIVE": _info(1, 1),
    "UNARY_NEGATIVE": _info(1, 1),
    "UNARY_NOT": _info(1, 1),
    "UNARY_INVERT": _info(1, 1),
    "BINARY_OP": _info(2, 1, argval="binop"),
    "COMPARE_OP": _info(2, 1, argval="compare"),
    "IS_OP": _info(2, 1, argval="negate"),
    "CONTAINS_OP": _info(2, 1, argval="negate"),
    # Attributes and subscripts
    "LOAD_ATTR": _info(1, 1, argval="name"),
    "LOAD_METHOD": _info(1, 2, argval="name"),   # [NULL or method, bound attribute or self]
    "STORE_ATTR": _info(2, 0, argval="name"),
    "DELETE_ATTR": _info(1, 0, argval="name"),
    "BINARY_SUBSCR": _info(2, 1),
    "STORE_SUBSCR": _info(3, 0),
    "DELETE_SUBSCR": _info(2, 0),
    "BUILD_SLICE": _info(_n, 1),
    # Calls and functions
    "CALL": _info(lambda n: n + 2, 1),   # [NULL or callable, callable or self, args...]
    "CALL_FUNCTION_EX": _info(lambda f: 3 + (f & 1), 1),  # [NULL, func, args, (kwargs)]
    "MAKE_FUNCTION": _info(lambda f: 1 + bin(f & 0xF).count("1"), 1),
    "LOAD_BUILD_CLASS": _info(0, 1),
    "LOAD_ASSERTION_ERROR": _info(0, 1),
    "IMPORT_NAME": _info(2, 1, argval="name"),
    "IMPORT_FROM": _info(1, 2, argval="name"),
    # Containers and strings
    "BUILD_TUPLE": _info(_n, 1),
    "BUILD_LIST": _info(_n, 1),
    "BUILD_SET": _info(_n, 1),
    "BUILD_MAP": _info(lambda n: 2 * n, 1),
    "BUILD_CONST_KEY_MAP": _info(lambda n: n + 1, 1),
    "BUILD_STRING": _info(_n, 1),
    "FORMAT_VALUE": _info(lambda f: 2 if f & 4 else 1, 1, argval="conversion"),
    "LIST_TO_TUPLE": _info(1, 1),
    "LIST_APPEND": _info(lambda i: i + 1, _n),
    "SET_ADD": _info(lambda i: i + 1, _n),
    "MAP_ADD": _info(lambda i: i + 2, _n),
    "LIST_EXTEND": _info(lambda i: i + 1, _n),
    "SET_UPDATE": _info(lambda i: i + 1, _n),
    "DICT_UPDATE": _info(lambda i: i + 1, _n),
    "DICT_MERGE": _info(lambda i: i + 3, lambda i: i + 2),  # reads the callable 2 below the dict
    # Iteration and unpacking
    "GET_ITER": _info(1, 1),
    "GET_YIELD_FROM_ITER": _info(1, 1),
    "UNPACK_SEQUENCE": _info(1, _n),
    "UNPACK_EX": _info(1, lambda a: (a & 0xFF) + 1 + (a >> 8)),
    # Exceptions and with-statements
    "PUSH_EXC_INFO": _info(1, 2, ends_block=True),
    "POP_EXCEPT": _info(1, 0),
    "CHECK_EXC_MATCH": _info(2, 2),
    "CHECK_EG_MATCH": _info(2, 2),
    "PREP_RERAISE_STAR": _info(2, 1),
    "BEFORE_WITH": _info(1, 2),
    "WITH_EXCEPT_START": _info(4, 5),    # [exit, lasti, prev, exc] -> same + result
    # Pattern matching
    "GET_LEN": _info(1, 2),
    "MATCH_MAPPING": _info(1, 2),
    "MATCH_SEQUENCE": _info(1, 2),
    "MATCH_KEYS": _info(2, 3),
    "MATCH_CLASS": _info(3, 1),
    # Generators
    "YIELD_VALUE": _info(1, 1),
    "YIELD_FROM": _info(1, 1),           # fused yield-from loop (see the module docstring)
    # Control flow
    "JUMP": _info(0, 0, flow=JUMP),
    "POP_JUMP_IF_TRUE": _info(1, 0, flow=BRANCH),
    "POP_JUMP_IF_FALSE": _info(1, 0, flow=BRANCH),
    "POP_JUMP_IF_NONE": _info(1, 0, flow=BRANCH),
    "POP_JUMP_IF_NOT_NONE": _info(1, 0, flow=BRANCH),
    "JUMP_IF_TRUE_OR_POP": _info(1, 0, flow=BRANCH, jump_pops=1, jump_pushes=1),
    "JUMP_IF_FALSE_OR_POP": _info(1, 0, flow=BRANCH, jump_pops=1, jump_pushes=1),
    "FOR_ITER": _info(1, 2, flow=BRANCH, jump_pops=1, jump_pushes=0),
    "RETURN_VALUE": _info(1, 0, flow=STOP),
    "RAISE_VARARGS": _info(_n, 0, flow=STOP),
    "RERAISE": _info(1, 0, flow=STOP),   # RERAISE n also reads lasti n below; irrelevant here
}

# 3.11 opcodes that are dropped (no meaning once their quirk is resolved).
DROPPED = frozenset({"CACHE", "PRECALL", "EXTENDED_ARG", "RESUME", "NOP"})

# 3.11 opcodes that only change name.
RENAMED = {
    "JUMP_FORWARD": "JUMP",
    "JUMP_BACKWARD": "JUMP",
    "JUMP_BACKWARD_NO_INTERRUPT": "JUMP",
    "POP_JUMP_FORWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_FORWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_FORWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_BACKWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
}

# The 3.11 yield-from loop, after GET_YIELD_FROM_ITER.
_YIELD_FROM_LOOP = ("LOAD_CONST", "SEND", "YIELD_VALUE", "RESUME", "JUMP_BACKWARD_NO_INTERRUPT")

_CONVERSIONS = {0: None, 1: "s", 2: "r", 3: "a"}


def _count(value: Count, arg: Optional[int]) -> int:
    return value(arg if arg is not None else 0) if callable(value) else value


# --------------------------------------------------------------------------------------------
# Neutral instructions


@dataclass(frozen=True)
class Handler:
    """An exception-table entry: on an exception, pop the stack to `depth`, push the offset
    of the raising instruction if `lasti`, push the exception, go to offset `target`."""
    target: int
    depth: int
    lasti: bool


@dataclass
class Instr:
    """One neutral instruction.

    - `offset`: byte offset of the 3.11 instruction it came from (two neutral instructions can
      share one: the PUSH_NULL and LOAD_GLOBAL split from one LOAD_GLOBAL).
    - `arg`: the numeric argument (EXTENDED_ARG folded in); its meaning is per opcode
      (a count, flags, ...).
    - `argval`: the resolved argument: a name for name-taking opcodes, the constant for
      LOAD_CONST, the operator text for BINARY_OP/COMPARE_OP, `negate` for IS_OP/CONTAINS_OP,
      the conversion ("s", "r", "a" or None) for FORMAT_VALUE.
    - `target`: the offset of the jump target (a kept instruction), for JUMP and BRANCH flow.
    - `kwnames`: CALL only: the keyword names of the last len(kwnames) arguments.
    - `handler`: the exception-table entry that covers this instruction, or None.
    """

    opname: str
    offset: int
    line: Optional[int]
    arg: Optional[int] = None
    argval: Any = None
    target: Optional[int] = None
    kwnames: tuple = ()
    handler: Optional[Handler] = None

    @property
    def info(self) -> OpInfo:
        return OPCODES[self.opname]

    @property
    def pops(self) -> int:
        return _count(self.info.pops, self.arg)

    @property
    def pushes(self) -> int:
        return _count(self.info.pushes, self.arg)

    def stack_effect(self, jump: bool = False) -> int:
        info = self.info
        if jump and info.flow == BRANCH and info.jump_pops is not None:
            return _count(info.jump_pushes, self.arg) - _count(info.jump_pops, self.arg)
        return self.pushes - self.pops

    def __str__(self) -> str:
        text = self.opname
        if self.opname in ("JUMP",) or self.info.flow == BRANCH:
            text += f" to {self.target}"
        elif self.opname == "LOAD_CONST":
            text += " " + _short_repr(self.argval)
        elif self.argval is not None and not isinstance(self.argval, bool):
            text += f" {self.argval}"
        elif self.arg is not None:
            text += f" {self.arg}"
        if self.kwnames:
            text += f" kwnames={self.kwnames!r}"
        return text


def _short_repr(value: Any) -> str:
    if hasattr(value, "co_code"):
        return f"<code {value.co_qualname}>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------------------------
# Exception table (format: Objects/exception_handling_notes.txt)


def parse_exception_table(code) -> list[tuple[int, int, Handler]]:
    """[(start, end, handler)] with byte offsets, `end` exclusive, in table order."""
    data = code.co_exceptiontable
    pos = 0

    def varint() -> int:
        nonlocal pos
        byte = data[pos]
        pos += 1
        value = byte & 63
        while byte & 64:
            byte = data[pos]
            pos += 1
            value = (value << 6) | (byte & 63)
        return value

    entries = []
    while pos < len(data):
        assert data[pos] & 128, "exception table entry does not start at a marked byte"
        start = varint() * 2
        end = start + varint() * 2
        target = varint() * 2
        depth_lasti = varint()
        entries.append((start, end, Handler(target, depth_lasti >> 1, bool(depth_lasti & 1))))
    return entries


def _handler_at(entries, offset: int) -> Optional[Handler]:
    for start, end, handler in entries:
        if start <= offset < end:
            return handler
    return None


# --------------------------------------------------------------------------------------------
# Decoding


def decode(code) -> list[Instr]:
    """The neutral instruction stream of a 3.11 code object (refusing what cannot compile)."""
    refusals.check_code(code)
    return _Decoder(code).run()


class _Decoder:
    """One pass over the 3.11 instructions. Each quirk is a method named in `QUIRKS`; it
    consumes raw instructions from `self.i` on and emits neutral ones."""

    QUIRKS = {
        "KW_NAMES": "_kw_names",
        "RETURN_GENERATOR": "_return_generator",
        "LOAD_CONST": "_load_const",      # maybe the start of a yield-from loop
        "LOAD_GLOBAL": "_load_global",    # maybe with a NULL
    }

    def __init__(self, code):
        self.code = code
        self.raw = list(dis.get_instructions(code))
        self.table = parse_exception_table(code)
        self.out: list[Instr] = []
        self.forward: dict[int, Optional[int]] = {}  # 3.11 offset -> first kept offset at/after
        self.pending: list[int] = []       # dropped offsets waiting for the next kept one
        self.kwnames: tuple = ()           # from KW_NAMES, for the next CALL
        self.fused_away: set[int] = set()  # offsets inside fused yield-from loops
        self.i = 0

    def run(self) -> list[Instr]:
        while self.i < len(self.raw):
            r = self.raw[self.i]
            quirk = self.QUIRKS.get(r.opname)
            if r.opname in DROPPED:
                self._drop(r)
            elif quirk is not None:
                getattr(self, quirk)(r)
            elif r.opname in OPCODES or r.opname in RENAMED:
                self._plain(r)
            else:
                raise refusals.refuse_opcode(r.opname, self.code, _line(r))
        for off in self.pending:
            self.forward[off] = None  # dropped instructions at the very end
        for ins in self.out:
            if ins.target is not None:
                ins.target = self._forwarded(ins.target, ins)
            if ins.handler is not None:
                h = ins.handler
                ins.handler = Handler(self._forwarded(h.target, ins), h.depth, h.lasti)
        return self.out

    # ---- helpers --------------------------------------------------------------------------

    def _emit(self, ins: Instr) -> Instr:
        for off in self.pending:
            self.forward[off] = ins.offset
        self.pending.clear()
        self.forward.setdefault(ins.offset, ins.offset)
        self.out.append(ins)
        return ins

    def _drop(self, r: dis.Instruction) -> None:
        self.pending.append(r.offset)
        self.i += 1

    def _neutral(self, name: str, r: dis.Instruction, **fields) -> Instr:
        return Instr(name, r.offset, _line(r), handler=_handler_at(self.table, r.offset),
                     **fields)

    def _forwarded(self, off: int, ins: Instr) -> int:
        if off in self.fused_away or self.forward.get(off) is None:
            raise refusals.refuse(f"jump to offset {off}, inside a yield-from loop or past the "
                                  "end of the code", "unusual bytecode", self.code, ins.line)
        return self.forward[off]

    # ---- instructions ---------------------------------------------------------------------

    def _plain(self, r: dis.Instruction) -> None:
        name = RENAMED.get(r.opname, r.opname)
        ins = self._neutral(name, r, arg=r.arg, argval=_argval(name, r, self.code))
        if name == "JUMP" or OPCODES[name].flow == BRANCH:
            ins.target = r.argval  # dis gives jump targets as byte offsets
        if name == "CALL":
            ins.kwnames, self.kwnames = self.kwnames, ()
        self._emit(ins)
        self.i += 1

    def _kw_names(self, r: dis.Instruction) -> None:
        self.kwnames = tuple(self.code.co_consts[r.arg])
        self._drop(r)

    def _return_generator(self, r: dis.Instruction) -> None:
        self._drop(r)
        if self.i < len(self.raw) and self.raw[self.i].opname == "POP_TOP":
            self._drop(self.raw[self.i])

    def _load_global(self, r: dis.Instruction) -> None:
        if r.arg & 1:
            self._emit(self._neutral("PUSH_NULL", r))
        self._emit(self._neutral("LOAD_GLOBAL", r, arg=r.arg >> 1,
                                 argval=_argval("LOAD_GLOBAL", r, self.code)))
        self.i += 1

    def _load_const(self, r: dis.Instruction) -> None:
        if not _is_yield_from_loop(self.raw, self.i, self.code):
            self._plain(r)
            return
        loop = self.raw[self.i:self.i + len(_YIELD_FROM_LOOP)]
        if len({_handler_at(self.table, x.offset) for x in loop}) != 1:
            raise refusals.refuse("yield from whose loop is split between exception handlers",
                                  "yield from", self.code, _line(r))
        self._emit(self._neutral("YIELD_FROM", r))
        self.pending.extend(x.offset for x in loop[1:])
        self.fused_away.update(x.offset for x in loop[1:])
        self.i += len(loop)


def _line(r: dis.Instruction) -> Optional[int]:
    return r.positions.lineno if r.positions is not None else None


def _is_yield_from_loop(raw, i: int, code) -> bool:
    """raw[i] is LOAD_CONST None opening the 3.11 yield-from loop (after GET_YIELD_FROM_ITER)."""
    window = raw[i:i + len(_YIELD_FROM_LOOP)]
    if tuple(r.opname for r in window) != _YIELD_FROM_LOOP:
        return False
    load, send, _, resume, back = window
    if code.co_consts[load.arg] is not None or resume.arg < 2 or back.argval != send.offset:
        return False
    after = raw[i + len(_YIELD_FROM_LOOP)] if i + len(_YIELD_FROM_LOOP) < len(raw) else None
    if after is None or send.argval != after.offset:
        return False
    if i == 0 or raw[i - 1].opname != "GET_YIELD_FROM_ITER":
        return False
    return True


# How Instr.argval is decoded, per OpInfo.argval kind.
ARG_DECODERS: dict[str, Callable[[dis.Instruction, Any], Any]] = {
    "name": lambda r, code: r.argval,              # dis resolves names (locals, cells, ...)
    "const": lambda r, code: code.co_consts[r.arg],
    "binop": lambda r, code: dis._nb_ops[r.arg][1],  # "+", "+=", ...
    "compare": lambda r, code: dis.cmp_op[r.arg],   # "<", "==", ...
    "negate": lambda r, code: bool(r.arg),          # IS_OP / CONTAINS_OP: 1 = "is not"/"not in"
    "conversion": lambda r, code: _CONVERSIONS[r.arg & 3],
}


def _argval(name: str, r: dis.Instruction, code) -> Any:
    kind = OPCODES[name].argval
    return None if kind is None else ARG_DECODERS[kind](r, code)


def format_instrs(instrs: list[Instr]) -> str:
    """One line per neutral instruction (for debugging)."""
    lines = []
    for ins in instrs:
        h = ""
        if ins.handler is not None:
            h = f"  [except -> {ins.handler.target}, depth {ins.handler.depth}"
            h += ", lasti]" if ins.handler.lasti else "]"
        lines.append(f"{ins.offset:>5}  {str(ins):<40} ; line {ins.line}{h}")
    return "\n".join(lines)
