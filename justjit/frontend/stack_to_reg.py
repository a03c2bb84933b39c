"""Stack to registers: an abstract interpretation of the value stack over the CFG.

Conventions of the IR it produces:

- At every block boundary the stack slot at depth d (0 = bottom) lives in the canonical
  register `Reg("s<d>", "stack")`. Inside a block each pushed value gets a fresh
  `Reg("t<n>", "tmp")`. Before a block's terminator, `Move`s (a parallel move, sequentialized)
  put the live stack values where the successors expect them. The terminator itself reads the
  values as they were before those moves (an operand that a move would overwrite is copied to a
  fresh tmp first).
- An exception handler's entry stack is s0..s{depth-1} (what the raising block holds below
  the handler's depth, which must be the canonical registers of that block's entry whenever
  something in the block can raise), then the `lasti` slot if the entry has one, then the
  exception: `ExcEdge(target, exc_dest=s<k>, lasti_dest=s<k-1> or None)`.
- NULL markers (PUSH_NULL, LOAD_METHOD's first slot) are static: they occupy a stack
  position but no register; every path into a block must agree on where they are.
- LOAD_CONST is lazy: the constant is only loaded (LoadConst) when a register is needed, so
  constants that only parametrize an op (MAKE_FUNCTION's code object, BUILD_CONST_KEY_MAP's
  keys) never become registers.
- Locals are `Reg(name, "var")`. LOAD_FAST pushes the variable's register itself (preceded by
  a CheckBound unless a forward definite-assignment analysis proves it bound); STORE_FAST and
  DELETE_FAST first copy any stack entry that still refers to the variable (copy-on-write:
  `a, b = b, a`). STORE_FAST of a fresh result writes the producing op's dest directly.
- Cells are `Reg(name, "cell")`.
"""

from __future__ import annotations

import builtins
import heapq
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import CompileError
from ..ir import ops as ir
from ..ir.ops import Reg
from . import refusals
from .cfg import CFG, BasicBlock
from .decode import Instr

# --------------------------------------------------------------------------------------------
# Abstract stack entries


class _Null:
    """The static NULL marker (no register)."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


@dataclass(eq=False)
class _Const:
    """A constant not loaded into a register yet."""
    value: Any


@dataclass(eq=False)
class _Val:
    """A value in a register. `origin` is the global name it was loaded from, if any (used to
    recognize calls of frame-reading builtins and of zero-argument super())."""
    reg: Reg
    origin: Optional[str] = None


def stack_reg(depth: int) -> Reg:
    return Reg(f"s{depth}", "stack")


def var_reg(name: str) -> Reg:
    return Reg(name, "var")


def cell_reg(name: str) -> Reg:
    return Reg(name, "cell")


# --------------------------------------------------------------------------------------------
# Facts: ops that read k stack slots and push their results


def _no_fields(ins: Instr) -> dict:
    return {}


@dataclass(frozen=True)
class Simple:
    """An instruction that becomes one op: it reads the top `len(reads)` stack slots into the
    op's fields `reads` (deepest first), keeps the deepest `keep` of them on the stack, and
    pushes the op's DEFS in order. `fields` gives the op's other (non-register) fields."""
    op: type
    reads: tuple[str, ...] = ()
    keep: int = 0
    fields: Callable[[Instr], dict] = _no_fields


def _name(ins: Instr) -> dict:
    return {"name": ins.argval}


def _unary(op: str) -> Callable[[Instr], dict]:
    return lambda ins: {"op": op}


SIMPLE: dict[str, Simple] = {
    "UNARY_POSITIVE": Simple(ir.UnaryOp, ("operand",), fields=_unary("pos")),
    "UNARY_NEGATIVE": Simple(ir.UnaryOp, ("operand",), fields=_unary("neg")),
    "UNARY_NOT": Simple(ir.UnaryOp, ("operand",), fields=_unary("not")),
    "UNARY_INVERT": Simple(ir.UnaryOp, ("operand",), fields=_unary("invert")),
    "BINARY_OP": Simple(ir.BinaryOp, ("left", "right"), fields=lambda i: {"op": i.argval}),
    "COMPARE_OP": Simple(ir.Compare, ("left", "right"), fields=lambda i: {"op": i.argval}),
    "IS_OP": Simple(ir.IsOp, ("left", "right"), fields=lambda i: {"negate": i.argval}),
    "CONTAINS_OP": Simple(ir.ContainsOp, ("item", "container"),
                          fields=lambda i: {"negate": i.argval}),
    "BINARY_SUBSCR": Simple(ir.GetItem, ("obj", "key")),
    "STORE_SUBSCR": Simple(ir.SetItem, ("value", "obj", "key")),
    "DELETE_SUBSCR": Simple(ir.DelItem, ("obj", "key")),
    "LOAD_ATTR": Simple(ir.GetAttr, ("obj",), fields=_name),
    "STORE_ATTR": Simple(ir.SetAttr, ("value", "obj"), fields=_name),
    "DELETE_ATTR": Simple(ir.DelAttr, ("obj",), fields=_name),
    "STORE_GLOBAL": Simple(ir.StoreGlobal, ("value",), fields=_name),
    "DELETE_GLOBAL": Simple(ir.DeleteGlobal, (), fields=_name),
    "LOAD_BUILD_CLASS": Simple(ir.LoadBuildClass),
    "LOAD_ASSERTION_ERROR": Simple(ir.LoadAssertionError),
    "IMPORT_NAME": Simple(ir.ImportName, ("level", "fromlist"), fields=_name),
    "IMPORT_FROM": Simple(ir.ImportFrom, ("module",), keep=1, fields=_name),
    "LIST_TO_TUPLE": Simple(ir.ListToTuple, ("list_",)),
    "GET_ITER": Simple(ir.GetIter, ("obj",)),
    "GET_YIELD_FROM_ITER": Simple(ir.GetYieldFromIter, ("obj",)),
    "GET_LEN": Simple(ir.GetLen, ("obj",), keep=1),
    "MATCH_MAPPING": Simple(ir.MatchMapping, ("subject",), keep=1),
    "MATCH_SEQUENCE": Simple(ir.MatchSequence, ("subject",), keep=1),
    "MATCH_KEYS": Simple(ir.MatchKeys, ("subject", "keys"), keep=2),
    "MATCH_CLASS": Simple(ir.MatchClass, ("subject", "cls", "names"),
                          fields=lambda i: {"nargs": i.arg}),
    "POP_EXCEPT": Simple(ir.PopExcept, ("prev",)),
    "CHECK_EXC_MATCH": Simple(ir.CheckExcMatch, ("exc", "match_type"), keep=1),
    "CHECK_EG_MATCH": Simple(ir.CheckEgMatch, ("exc", "match_type")),   # pushes rest, match
    "PREP_RERAISE_STAR": Simple(ir.PrepReraiseStar, ("orig", "raised")),
    "BEFORE_WITH": Simple(ir.BeforeWith, ("manager",)),                  # pushes exit, result
    "YIELD_VALUE": Simple(ir.Yield, ("value",)),
    "YIELD_FROM": Simple(ir.YieldFrom, ("iterator",)),
}

# Container builders: opname -> (op, field holding the items).
BUILDERS = {
    "BUILD_TUPLE": (ir.BuildTuple, "items"),
    "BUILD_LIST": (ir.BuildList, "items"),
    "BUILD_SET": (ir.BuildSet, "items"),
    "BUILD_STRING": (ir.BuildString, "parts"),
}

# Ops on a container `arg` slots below the operands they pop:
# opname -> (op, field of the container, fields of the popped operands, deepest first).
CONTAINER_UPDATES = {
    "LIST_APPEND": (ir.ListAppend, "list_", ("value",)),
    "SET_ADD": (ir.SetAdd, "set_", ("value",)),
    "MAP_ADD": (ir.MapAdd, "dict_", ("key", "value")),
    "LIST_EXTEND": (ir.ListExtend, "list_", ("iterable",)),
    "SET_UPDATE": (ir.SetUpdate, "set_", ("iterable",)),
    "DICT_UPDATE": (ir.DictUpdate, "dict_", ("mapping",)),
}

# Conditional branches: opname -> (test, does the jump happen when the test holds,
# does the jump edge keep the tested value on the stack).
BRANCHES = {
    "POP_JUMP_IF_TRUE": ("truth", True, False),
    "POP_JUMP_IF_FALSE": ("truth", False, False),
    "POP_JUMP_IF_NONE": ("none", True, False),
    "POP_JUMP_IF_NOT_NONE": ("none", False, False),
    "JUMP_IF_TRUE_OR_POP": ("truth", True, True),
    "JUMP_IF_FALSE_OR_POP": ("truth", False, True),
}


# --------------------------------------------------------------------------------------------
# Definite assignment of locals


def argument_names(code) -> list[str]:
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return list(code.co_varnames[:n])


def definitely_assigned(cfg: CFG) -> dict[int, frozenset[str]]:
    """For each block, the locals bound on every path to its entry (forward, must-analysis).

    STORE_FAST binds, DELETE_FAST unbinds, and LOAD_FAST binds too (past it, the variable was
    bound or UnboundLocalError was raised). Along an exception edge only what holds at every
    point of the raising block is certain: its entry state minus what it deletes.
    """
    args = frozenset(argument_names(cfg.code))
    edges: dict[int, list[tuple[int, bool]]] = {b.id: [] for b in cfg.blocks}
    for b in cfg.blocks:
        for s in b.normal_succs():
            edges[s].append((b.id, False))
        if b.handler is not None:
            edges[b.handler.target].append((b.id, True))
    in_: dict[int, Optional[frozenset]] = {b.id: None for b in cfg.blocks}  # None: not reached
    out: dict[int, Optional[frozenset]] = {b.id: None for b in cfg.blocks}
    exc_out: dict[int, Optional[frozenset]] = {b.id: None for b in cfg.blocks}
    order = cfg.reverse_postorder()
    changed = True
    while changed:
        changed = False
        for bid in order:
            incoming = [args] if bid == cfg.entry else []
            incoming += [exc_out[p] if is_exc else out[p] for p, is_exc in edges[bid]]
            incoming = [s for s in incoming if s is not None]
            if not incoming:
                continue
            state = frozenset.intersection(*incoming)
            in_[bid] = state
            cur = set(state)
            deleted = set()
            for ins in cfg.blocks[bid].instrs:
                if ins.opname in ("STORE_FAST", "LOAD_FAST"):
                    cur.add(ins.argval)
                elif ins.opname == "DELETE_FAST":
                    cur.discard(ins.argval)
                    deleted.add(ins.argval)
            new_out, new_exc = frozenset(cur), state - deleted
            if (new_out, new_exc) != (out[bid], exc_out[bid]):
                out[bid], exc_out[bid] = new_out, new_exc
                changed = True
    return {bid: s for bid, s in in_.items() if s is not None}


# --------------------------------------------------------------------------------------------
# The abstract interpreter


class StackToReg:
    """Lowers one CFG to an `ir.IRFunction` (use `stack_to_reg(cfg, ...)`)."""

    def __init__(self, cfg: CFG):
        self.cfg = cfg
        self.code = cfg.code
        self.args = argument_names(self.code)
        self.freevars = self.code.co_freevars
        self.assigned_in = definitely_assigned(cfg)
        self.blocks: dict[int, ir.Block] = {}
        self.shapes: dict[int, tuple[bool, ...]] = {}  # block -> which entry slots are NULL
        self.worklist: list[int] = []
        self.inline: set[int] = set()                   # synthetic blocks, lowered in place
        self.next_block = len(cfg.blocks)
        self.ntmp = 0
        # State of the block being lowered.
        self.block: ir.Block
        self.bb: BasicBlock
        self.stack: list = []
        self.entry_stack: list = []
        self.assigned: set[str] = set()
        self.line: Optional[int] = None

    # ---- driver ---------------------------------------------------------------------------

    def run(self) -> dict[int, ir.Block]:
        self._enter(self.cfg.entry, ())
        while self.worklist:
            bid = heapq.heappop(self.worklist)
            if bid not in self.blocks:
                self._lower_block(self.cfg.blocks[bid])
        return self.blocks

    def _lower_block(self, bb: BasicBlock) -> None:
        self.bb = bb
        self.assigned = set(self.assigned_in[bb.id])
        self._start(bb.id)
        for ins in bb.instrs:
            self.line = ins.line
            block, nops, depth = self.block, len(self.block.ops), len(self.stack)
            dirty = not self._prefix_is_canonical()
            handler = getattr(self, "op_" + ins.opname, None)
            if handler is not None:
                handler(ins)
            elif ins.opname in SIMPLE:
                self._simple(ins, SIMPLE[ins.opname])
            elif ins.opname in BUILDERS:
                self._build(ins, *BUILDERS[ins.opname])
            elif ins.opname in CONTAINER_UPDATES:
                self._container_update(ins, *CONTAINER_UPDATES[ins.opname])
            elif ins.opname in BRANCHES:
                self._branch(ins, *BRANCHES[ins.opname])
            else:  # decode only produces opcodes of its table; this is a missing lowering
                raise refusals.refuse_opcode(ins.opname, self.code, ins.line)
            if dirty and self.block is block and any(op.CAN_RAISE for op in block.ops[nops:]):
                raise self._error(f"{ins.opname} can raise while the stack below its handler's "
                                  "depth is not in the handler's registers", "unusual bytecode")
            if self.block.terminator is None:
                assert len(self.stack) == depth + ins.stack_effect(), (ins, self.stack)
        if self.block.terminator is None:
            self._finish(ir.Jump(bb.next, line=self.line), [(bb.next, list(self.stack))])

    def _start(self, bid: int) -> None:
        """Begin IR block `bid` with the canonical entry stack of its recorded shape."""
        shape = self.shapes[bid]
        self.stack = [NULL if null else _Val(stack_reg(i)) for i, null in enumerate(shape)]
        self.entry_stack = list(self.stack)
        h = self.bb.handler
        edge = None
        if h is not None:
            if len(shape) < h.depth:
                raise self._error("stack shallower than its handler's depth", "unusual bytecode")
            edge = ir.ExcEdge(h.target, exc_dest=stack_reg(h.depth + int(h.lasti)),
                              lasti_dest=stack_reg(h.depth) if h.lasti else None)
            self._enter(h.target, shape[:h.depth] + (False,) * (int(h.lasti) + 1))
        self.block = ir.Block(bid, handler=edge)
        self.blocks[bid] = self.block

    def _enter(self, bid: int, shape: tuple[bool, ...]) -> None:
        """Record that control reaches block `bid` with NULL markers at `shape`."""
        if bid in self.shapes:
            if self.shapes[bid] != shape:
                raise self._error(f"the stack reaching b{bid} holds NULL markers at different "
                                  f"places on different paths ({self._shape_text(shape)} vs "
                                  f"{self._shape_text(self.shapes[bid])})", "unusual bytecode")
            return
        self.shapes[bid] = shape
        if bid not in self.inline:
            heapq.heappush(self.worklist, bid)

    @staticmethod
    def _shape_text(shape) -> str:
        return "[" + ", ".join("NULL" if n else "v" for n in shape) + "]"

    def _prefix_is_canonical(self) -> bool:
        h = self.bb.handler
        if h is None:
            return True
        if len(self.stack) < h.depth:
            return False
        return all(self.stack[i] is self.entry_stack[i] for i in range(h.depth))

    # ---- helpers --------------------------------------------------------------------------

    def _error(self, message: str, construct: str) -> CompileError:
        return refusals.refuse(message, construct, self.code, self.line)

    def _tmp(self) -> Reg:
        reg = Reg(f"t{self.ntmp}", "tmp")
        self.ntmp += 1
        return reg

    def _emit(self, op: ir.Op) -> ir.Op:
        op.line = self.line
        self.block.ops.append(op)
        return op

    def _materialize(self, entry) -> Reg:
        """The register of a stack entry, loading a lazy constant (once for all its copies)."""
        if isinstance(entry, _Val):
            return entry.reg
        if isinstance(entry, _Const):
            reg = self._tmp()
            self._emit(ir.LoadConst(reg, entry.value))
            loaded = _Val(reg)
            self.stack = [loaded if e is entry else e for e in self.stack]
            return reg
        raise self._error("a NULL marker is used as a value", "unusual bytecode")

    def _pop(self):
        return self.stack.pop()

    def _pop_reg(self) -> Reg:
        entry = self.stack[-1]
        reg = self._materialize(entry)
        self.stack.pop()
        return reg

    def _pop_regs(self, n: int) -> list[Reg]:
        """Pop n values; the result is in stack order (deepest first)."""
        if n == 0:
            return []
        regs = [self._materialize(e) for e in list(self.stack[-n:])]
        del self.stack[-n:]
        return regs

    def _push(self, reg: Reg, origin: Optional[str] = None) -> None:
        self.stack.append(_Val(reg, origin))

    def _copy_on_write(self, var: Reg) -> None:
        """Before `var` changes, give stack entries still referring to it their own copy."""
        if any(isinstance(e, _Val) and e.reg == var for e in self.stack):
            copy = _Val(self._tmp())
            self._emit(ir.Move(copy.reg, var))
            self.stack = [copy if isinstance(e, _Val) and e.reg == var else e
                          for e in self.stack]

    def _check_bound(self, name: str) -> None:
        if name not in self.assigned:
            self._emit(ir.CheckBound(var_reg(name)))
            self.assigned.add(name)

    # ---- block ends -----------------------------------------------------------------------

    def _finish(self, term: ir.Op, succs: list[tuple[int, list]]) -> None:
        """End the current block: moves into canonical registers, then `term`.

        `succs` lists each successor with the stack it receives; all are prefixes of the
        longest one, whose entries are put into s0, s1, ... (NULL markers stay static).
        """
        full = max((st for _, st in succs), key=len, default=[])
        moves: list[tuple[Reg, Reg]] = []
        consts: list[tuple[Reg, Any]] = []
        for i, entry in enumerate(full):
            dest = stack_reg(i)
            if isinstance(entry, _Const):
                consts.append((dest, entry.value))
            elif isinstance(entry, _Val) and entry.reg != dest:
                moves.append((dest, entry.reg))
        clobbered = {d for d, _ in moves} | {d for d, _ in consts}
        for name in term.USES:
            reg = getattr(term, name)
            if isinstance(reg, Reg) and reg in clobbered:
                keep = self._tmp()
                self._emit(ir.Move(keep, reg))
                setattr(term, name, keep)
        self._parallel_moves(moves)
        for dest, value in consts:
            self._emit(ir.LoadConst(dest, value))
        term.line = self.line
        self.block.terminator = term
        for bid, st in succs:
            self._enter(bid, tuple(e is NULL for e in st))

    def _parallel_moves(self, moves: list[tuple[Reg, Reg]]) -> None:
        """Emit moves that behave as if all sources were read before any dest is written."""
        pending = dict(moves)
        while pending:
            sources = set(pending.values())
            ready = [d for d in pending if d not in sources]
            if ready:
                dest = ready[0]
                self._emit(ir.Move(dest, pending.pop(dest)))
                continue
            dest = next(iter(pending))  # every dest is still needed as a source: a cycle
            save = self._tmp()
            self._emit(ir.Move(save, dest))
            pending = {d: (save if s == dest else s) for d, s in pending.items()}

    def _new_block(self) -> int:
        bid = self.next_block
        self.next_block += 1
        self.inline.add(bid)
        return bid

    # ---- generic lowerings ----------------------------------------------------------------

    def _simple(self, ins: Instr, spec: Simple) -> None:
        n = len(spec.reads)
        for entry in list(self.stack[len(self.stack) - n:]):
            self._materialize(entry)
        entries = self.stack[len(self.stack) - n:]
        del self.stack[len(self.stack) - n:]
        fields = {name: e.reg for name, e in zip(spec.reads, entries)}
        fields.update(spec.fields(ins))
        results = [self._tmp() for _ in spec.op.DEFS]
        fields.update(zip(spec.op.DEFS, results))
        self._emit(spec.op(**fields))
        self.stack.extend(entries[:spec.keep])
        for reg in results:
            self._push(reg)

    def _build(self, ins: Instr, op: type, items: str) -> None:
        regs = self._pop_regs(ins.arg)
        dest = self._tmp()
        self._emit(op(dest=dest, **{items: regs}))
        self._push(dest)

    def _container_update(self, ins: Instr, op: type, container: str,
                          operands: tuple[str, ...]) -> None:
        regs = self._pop_regs(len(operands))
        target = self._materialize(self.stack[-ins.arg])
        self._emit(op(**{container: target}, **dict(zip(operands, regs))))

    def _branch(self, ins: Instr, test: str, jump_if: bool, keeps: bool) -> None:
        bb = self.bb
        if keeps:   # JUMP_IF_X_OR_POP: the jump edge keeps the value, the other pops it
            cond = self._materialize(self.stack[-1])
            jump_stack, next_stack = list(self.stack), self.stack[:-1]
        else:
            cond = self._pop_reg()
            jump_stack, next_stack = list(self.stack), list(self.stack)
        if_true, if_false = (bb.jump, bb.next) if jump_if else (bb.next, bb.jump)
        self._finish(ir.CondBranch(cond, if_true, if_false, test),
                     [(bb.jump, jump_stack), (bb.next, next_stack)])

    # ---- stack shuffles -------------------------------------------------------------------

    def op_POP_TOP(self, ins: Instr) -> None:
        self._pop()

    def op_PUSH_NULL(self, ins: Instr) -> None:
        self.stack.append(NULL)

    def op_COPY(self, ins: Instr) -> None:
        self.stack.append(self.stack[-ins.arg])

    def op_SWAP(self, ins: Instr) -> None:
        n = ins.arg
        self.stack[-1], self.stack[-n] = self.stack[-n], self.stack[-1]

    def op_LOAD_CONST(self, ins: Instr) -> None:
        self.stack.append(_Const(ins.argval))

    # ---- locals and cells -----------------------------------------------------------------

    def op_LOAD_FAST(self, ins: Instr) -> None:
        self._check_bound(ins.argval)
        self._push(var_reg(ins.argval))

    def op_STORE_FAST(self, ins: Instr) -> None:
        name = ins.argval
        var = var_reg(name)
        entry = self._pop()
        self.assigned.add(name)
        if isinstance(entry, _Val) and entry.reg == var:
            return  # x = x
        self._copy_on_write(var)
        if isinstance(entry, _Const):
            self._emit(ir.LoadConst(var, entry.value))
        elif self._retargetable(entry):
            self.block.ops[-1].dest = var
        else:
            self._emit(ir.Move(var, self._materialize(entry)))

    def _retargetable(self, entry) -> bool:
        """Can the op that produced `entry` write the variable directly? Yes when `entry` is a
        tmp defined (alone) by the block's last op and referred to by no other stack entry."""
        if not isinstance(entry, _Val) or entry.reg.kind != "tmp" or not self.block.ops:
            return False
        last = self.block.ops[-1]
        if last.DEFS != ("dest",) or last.dest != entry.reg:
            return False
        return not any(isinstance(e, _Val) and e.reg == entry.reg for e in self.stack)

    def op_DELETE_FAST(self, ins: Instr) -> None:
        name = ins.argval
        self._check_bound(name)
        self._copy_on_write(var_reg(name))
        self._emit(ir.DeleteLocal(var_reg(name)))
        self.assigned.discard(name)

    def op_MAKE_CELL(self, ins: Instr) -> None:
        name = ins.argval
        initial = var_reg(name) if name in self.args else None
        self._emit(ir.MakeCell(cell_reg(name), initial))

    def op_COPY_FREE_VARS(self, ins: Instr) -> None:
        for index in range(ins.arg):
            self._emit(ir.LoadFreeCell(cell_reg(self.freevars[index]), index))

    def op_LOAD_CLOSURE(self, ins: Instr) -> None:
        self._push(cell_reg(ins.argval))

    def op_LOAD_DEREF(self, ins: Instr) -> None:
        dest = self._tmp()
        name = ins.argval
        self._emit(ir.LoadDeref(dest, cell_reg(name), name, name in self.freevars))
        self._push(dest)

    def op_STORE_DEREF(self, ins: Instr) -> None:
        self._emit(ir.StoreDeref(cell_reg(ins.argval), self._pop_reg()))

    def op_DELETE_DEREF(self, ins: Instr) -> None:
        name = ins.argval
        self._emit(ir.DeleteDeref(cell_reg(name), name, name in self.freevars))

    # ---- globals, attributes --------------------------------------------------------------

    def op_LOAD_GLOBAL(self, ins: Instr) -> None:
        refusals.check_name(ins.argval, self.code, self.line)
        dest = self._tmp()
        self._emit(ir.LoadGlobal(dest, ins.argval))
        self._push(dest, origin=ins.argval)

    def op_LOAD_ATTR(self, ins: Instr) -> None:
        refusals.check_name(ins.argval, self.code, self.line)
        self._simple(ins, SIMPLE["LOAD_ATTR"])

    def op_IMPORT_FROM(self, ins: Instr) -> None:
        refusals.check_name(ins.argval, self.code, self.line)
        self._simple(ins, SIMPLE["IMPORT_FROM"])

    def op_LOAD_METHOD(self, ins: Instr) -> None:
        # obj.name(...) as [NULL, getattr(obj, name)]: CALL then calls the bound attribute.
        # (3.11's LOAD_METHOD only skips making a bound method object; the lookup and the call
        # it performs are the same.)
        refusals.check_name(ins.argval, self.code, self.line)
        obj = self._pop_reg()
        dest = self._tmp()
        self._emit(ir.GetAttr(dest, obj, ins.argval))
        self.stack.append(NULL)
        self._push(dest)

    # ---- calls and functions --------------------------------------------------------------

    def op_CALL(self, ins: Instr) -> None:
        n = ins.arg
        first, second = self.stack[-n - 2], self.stack[-n - 1]
        if first is NULL:        # [NULL, callable, args...]
            func_entry = second
            regs = self._pop_regs(n + 1)
            self._pop()
            func, args = regs[0], regs[1:]
        else:                    # [callable, self, args...]: a method call
            func_entry = first
            regs = self._pop_regs(n + 2)
            func, args = regs[0], regs[1:]
        origin = func_entry.origin if isinstance(func_entry, _Val) else None
        refusals.check_call(origin, len(args) - len(ins.kwnames), self.code, self.line)
        if origin == "super" and first is NULL and not args:
            self._zero_arg_super(func)
            return
        dest = self._tmp()
        self._emit(ir.Call(dest, func, args, tuple(ins.kwnames)))
        self._push(dest)

    def _zero_arg_super(self, func: Reg) -> None:
        """super() with no arguments inside a method.

        CPython's super() finds its arguments in the calling frame (the `__class__` cell and
        the first local). Compiled code has no Python frame, so when `super` is the builtin we
        call it in its two-argument form super(__class__, <first argument>) ourselves; if the
        name `super` is bound to something else at run time, that object is called with no
        arguments, as in CPython. This is the only place a block is split in the middle.
        """
        code = self.code
        if "__class__" not in code.co_freevars:
            raise refusals.refuse_super("outside a method (no __class__ cell)", code, self.line)
        if code.co_argcount == 0:
            raise refusals.refuse_super("in a function without positional parameters", code,
                                        self.line)
        builtin, is_builtin = self._tmp(), self._tmp()
        self._emit(ir.LoadConst(builtin, builtins.super))
        self._emit(ir.IsOp(is_builtin, func, builtin, False))
        self._push(func)
        func_slot = stack_reg(len(self.stack) - 1)
        two_args, no_args, join = self._new_block(), self._new_block(), self._new_block()
        self._finish(ir.CondBranch(is_builtin, two_args, no_args, "truth"),
                     [(two_args, list(self.stack)), (no_args, list(self.stack))])
        assigned = set(self.assigned)
        for bid in (two_args, no_args):
            self.assigned = set(assigned)
            self._start(bid)
            self._pop()
            args = []
            if bid == two_args:
                cls = self._tmp()
                self._emit(ir.LoadDeref(cls, cell_reg("__class__"), "__class__", True))
                args = [cls, self._first_argument()]
            dest = self._tmp()
            self._emit(ir.Call(dest, func_slot, args))
            self._push(dest)
            self._finish(ir.Jump(join), [(join, list(self.stack))])
        self.assigned = assigned
        self._start(join)

    def _first_argument(self) -> Reg:
        """The current value of the first parameter (its cell's contents if it is a cell)."""
        name = self.code.co_varnames[0]
        if name in self.code.co_cellvars:
            dest = self._tmp()
            self._emit(ir.LoadDeref(dest, cell_reg(name), name, False))
            return dest
        self._check_bound(name)
        return var_reg(name)

    def op_CALL_FUNCTION_EX(self, ins: Instr) -> None:
        kwargs = self._pop_reg() if ins.arg & 1 else None
        args = self._pop_reg()
        func_entry = self.stack[-1]
        func = self._pop_reg()
        if self._pop() is not NULL:
            raise self._error("CALL_FUNCTION_EX without a NULL below the callable",
                              "unusual bytecode")
        refusals.check_call(func_entry.origin, None, self.code, self.line)
        dest = self._tmp()
        self._emit(ir.CallEx(dest, func, args, kwargs))
        self._push(dest)

    def op_DICT_MERGE(self, ins: Instr) -> None:
        # [..., func, args, dict, ..., mapping]: the callable sits 2 below the dict.
        mapping = self._pop_reg()
        target = self._materialize(self.stack[-ins.arg])
        func = self._materialize(self.stack[-ins.arg - 2])
        self._emit(ir.DictMerge(target, mapping, func))

    def op_MAKE_FUNCTION(self, ins: Instr) -> None:
        code_entry = self._pop()
        if not isinstance(code_entry, _Const) or not inspect.iscode(code_entry.value):
            raise self._error("MAKE_FUNCTION of a code object that is not a constant",
                              "unusual bytecode")
        flags = ins.arg
        closure = self._pop_reg() if flags & 0x08 else None
        annotations = self._pop_reg() if flags & 0x04 else None
        kwdefaults = self._pop_reg() if flags & 0x02 else None
        defaults = self._pop_reg() if flags & 0x01 else None
        dest = self._tmp()
        self._emit(ir.MakeFunction(dest, code_entry.value, defaults, kwdefaults, annotations,
                                   closure))
        self._push(dest)

    # ---- containers and strings -----------------------------------------------------------

    def op_BUILD_MAP(self, ins: Instr) -> None:
        regs = self._pop_regs(2 * ins.arg)
        dest = self._tmp()
        self._emit(ir.BuildMap(dest, regs[0::2], regs[1::2]))
        self._push(dest)

    def op_BUILD_CONST_KEY_MAP(self, ins: Instr) -> None:
        keys = self._pop()
        if not isinstance(keys, _Const) or not isinstance(keys.value, tuple):
            raise self._error("BUILD_CONST_KEY_MAP without constant keys", "unusual bytecode")
        values = self._pop_regs(ins.arg)
        dest = self._tmp()
        self._emit(ir.BuildConstKeyMap(dest, keys.value, values))
        self._push(dest)

    def op_BUILD_SLICE(self, ins: Instr) -> None:
        regs = self._pop_regs(ins.arg)
        dest = self._tmp()
        step = regs[2] if ins.arg == 3 else None
        self._emit(ir.BuildSlice(dest, regs[0], regs[1], step))
        self._push(dest)

    def op_FORMAT_VALUE(self, ins: Instr) -> None:
        spec = self._pop_reg() if ins.arg & 4 else None
        value = self._pop_reg()
        dest = self._tmp()
        self._emit(ir.FormatValue(dest, value, ins.argval, spec))
        self._push(dest)

    def op_UNPACK_SEQUENCE(self, ins: Instr) -> None:
        src = self._pop_reg()
        dests = [self._tmp() for _ in range(ins.arg)]
        self._emit(ir.UnpackSequence(dests, src))
        for reg in reversed(dests):  # the first item ends on top
            self._push(reg)

    def op_UNPACK_EX(self, ins: Instr) -> None:
        before, after = ins.arg & 0xFF, ins.arg >> 8
        src = self._pop_reg()
        dests = [self._tmp() for _ in range(before + 1 + after)]
        self._emit(ir.UnpackEx(dests, src, before, after))
        for reg in reversed(dests):
            self._push(reg)

    # ---- exceptions -----------------------------------------------------------------------

    def op_PUSH_EXC_INFO(self, ins: Instr) -> None:
        exc = self._stack_top_value()
        self._pop()
        prev = self._tmp()
        self._emit(ir.PushExcInfo(prev, exc.reg))
        self._push(prev)
        self.stack.append(exc)

    def op_WITH_EXCEPT_START(self, ins: Instr) -> None:
        # [exit, lasti, prev, exc] -> [exit, lasti, prev, exc, exit(type(exc), exc, tb)]
        exit_func = self._materialize(self.stack[-4])
        exc = self._materialize(self.stack[-1])
        dest = self._tmp()
        self._emit(ir.WithExceptStart(dest, exit_func, exc))
        self._push(dest)

    def _stack_top_value(self) -> _Val:
        self._materialize(self.stack[-1])
        return self.stack[-1]

    # ---- terminators ----------------------------------------------------------------------

    def op_RETURN_VALUE(self, ins: Instr) -> None:
        self._finish(ir.Return(self._pop_reg()), [])

    def op_RAISE_VARARGS(self, ins: Instr) -> None:
        cause = self._pop_reg() if ins.arg >= 2 else None
        exc = self._pop_reg() if ins.arg >= 1 else None
        self._finish(ir.Raise(exc, cause), [])

    def op_RERAISE(self, ins: Instr) -> None:
        self._finish(ir.Reraise(self._pop_reg()), [])

    def op_JUMP(self, ins: Instr) -> None:
        self._finish(ir.Jump(self.bb.jump), [(self.bb.jump, list(self.stack))])

    def op_FOR_ITER(self, ins: Instr) -> None:
        bb = self.bb
        iterator = self._materialize(self.stack[-1])
        dest = stack_reg(len(self.stack))
        self._finish(ir.ForIter(dest, iterator, bb.next, bb.jump),
                     [(bb.next, self.stack + [_Val(dest)]), (bb.jump, self.stack[:-1])])


def stack_to_reg(cfg: CFG) -> dict[int, ir.Block]:
    """The IR blocks of a CFG (entry block: cfg.entry)."""
    return StackToReg(cfg).run()
