"""Speculative type specialization: IR -> IR with a typed copy that falls back to generic code.

    specialize(fn, arg_types, globals_=None) -> IRFunction

The function returned holds, in one CFG:

- the **generic copy**: the original blocks, with their original ids, unchanged except that a
  block may be split (a Jump between its halves) where typed code can resume in it;
- the **typed copy** of every block the entry reaches along normal edges, where registers of an
  unboxed type (analyses/types.py: int -> i64, float -> f64, bool -> b1, range and range
  iterator -> three i64) live in shadow registers (`%x.i`, `%x.f`, `%x.b`, `%x.cur/.stop/.step`)
  and the operations on them are typed ops (ir/ops.py, "Typed code");
- **transfer blocks**: each deopt edge (a guard that failed, an int64 overflow, a zero divisor)
  goes to one, which boxes the unboxed values the generic code needs at that point into their
  ordinary registers and jumps into the generic copy *at the same point*: before the op whose
  typed version declined (it had no effect, so the generic op does the work and raises
  CPython's exception if there is one), or right after a generic op whose result failed its
  type or identity guard. An exception raised in typed code goes, through a transfer block
  of the same kind, to the generic copy of its handler. Nothing is ever re-executed;
- **edge blocks**: on a normal edge of the typed copy where a value must be boxed (its type
  is unknown at the join, or the join keeps its boxed form too, see below).

Entry: the function starts with a GuardType on every argument of a known type, in order (a
failure goes to the generic entry), then unboxes them.

Representation. A register whose type (at a point of the typed copy) is unboxed has its value
in its shadow register; its object register is either stale (RAW) or holds the one object
that represents the same value (BOTH): an argument, a constant, the result of a generic op, or
a value already boxed once. Keeping BOTH preserves identity (`x is y`, `x in [x]` with a nan)
and avoids boxing the same value twice. At a join, a register is BOTH when it is on every
incoming edge, or when it is on some and every path from the join reads it as an object
before writing it, or some path does and the edges that must box it do not run inside the
innermost loop holding the join (then those edges box it, once, outside the loop); otherwise
RAW.
(Greatest fixpoint, so a loop-invariant value boxed in the loop is boxed once, before it,
and a loop-carried accumulator is boxed once, after the loop.) A constant is loaded as an
object too only if some path reads it as one. A local whose object register may hold an
object with an observable lifetime is cleared (ClearLocal) when it goes on unboxed, so that
object dies when CPython's store would drop it.

Known gap: a transfer boxes a RAW value afresh, so if its earlier box was dropped at a join
and escaped (stored somewhere), generic code after a deopt sees two objects for one value;
only `is`, id() and containment of a nan can tell.

The function is pure: `fn` is not changed. Generators are not specialized (the generic copy
alone is returned), nor is a function in which nothing would be typed.

Contract for the backends (Cython emitter, llvm)
------------------------------------------------
- Registers of kind i64 / f64 / b1 are C locals (int64_t / double / int; LLVM i64 / double /
  i1), declared once per function, never refcounted, never released; regalloc gives them no
  slot. Their names contain "." (`%s.i`, `%.u3`): mangle them. A Move between two of them is a
  C assignment. Everything else about object registers is unchanged.
- A typed terminator with `ok`/`deopt` writes its defs on the `ok` edge only, and its dest
  may also be an operand (`%s.i = IntArith op='+', %s.i, %t3.i`): compute into a C temporary,
  branch, assign on the ok side, so the deopt side sees the old values. Never let C wrap or
  trap: compute with the checks in ir/ops.py (C: __builtin_add/sub/mul_overflow; LLVM:
  llvm.sadd/ssub/smul.with.overflow.i64), never with Cython's `//`/`%` operators (cdivision
  off would insert Python's own checks and raise).
- Transfer and edge blocks are ordinary blocks (Box ops then a Jump). A typed block's
  exception edge goes to an exception transfer block: enter it as any handler (exc_dest /
  lasti_dest written), it boxes and jumps to the generic handler.
- Box ops: BoxInt = PyLong_FromLongLong, BoxFloat = PyFloat_FromDouble, BoxBool = Py_True /
  Py_False (new reference), BoxRange = range(start, stop, step) (call &PyRange_Type with
  three ints), BoxRangeIter = PyObject_GetIter of that range. Allocation failure may leave
  the function as a MemoryError without running a handler.
- GuardType "int" = PyLong_CheckExact and PyLong_AsLongLongAndOverflow with no overflow (the
  same call can produce the value of the UnboxInt that follows); "float"/... =
  Py<Type>_CheckExact; "none" = `is Py_None`. GuardIdentity = pointer compare with the
  constant object (pass `expected` in the module's constants, like LoadConst values).
  UnboxFloat = PyFloat_AS_DOUBLE, UnboxBool = (x == Py_True).
- ConstFloat: spell the value exactly (C99 hex float from float.hex(); inf / nan / -0.0 via
  copysign(Py_HUGE_VAL, s) / Py_NAN / -0.0).
- MathFunc: errno = 0; r = <name>(x) from <math.h>; deopt on the condition in ir/ops.py.
- ClearLocal is DeleteLocal without its CheckBound precondition (assign the UNBOUND sentinel).
- numpy (GuardArray, ArrayLoad, ArrayStore, NpArith, BoxNumpy, BoxFloatOrNumpy, BoxIntTuple):
  only for a backend with NUMPY (justjit.pipeline turns array types into object for the
  others). Two more multi-register shadows: a "float or numpy.float64" (`%x.f` and the b1
  `%x.np`, set on the edges that join the two) and an array index (i, j) (`%x.i0`, `%x.i1`).
- Direct self-calls (below, and ir.ops.SelfCall): only with `direct_calls=True`, for a backend
  that emits `Specialization.direct`, the direct body, as a second C function taking the
  unboxed arguments and returning the unboxed result. A backend without them gets ordinary
  calls.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional

from .inline_calls import LEAF_CALLS, leaf_body
from .inline_leaves import inline_copy, inline_leaves
from .analyses import types as T
from .analyses.dataflow import (block_points, edge_defs, loop_heads, may_raise,
                                reverse_postorder)
from .analyses.liveness import liveness
from .analyses.types import (BOOL, FLOAT, INT, NONE, OBJECT, RANGE, GUARD_NAMES, PyType,
                             TypeFacts, infer_types, known_label)
from .ir import ops as ir
from .ir.ops import Block, ExcEdge, IRFunction, Reg
from .ir.verify import verify


# --------------------------------------------------------------------------------------------
# What the specialized function is made of


@dataclass
class Specialization:
    """Attached to the returned function as `fn.specialization`.

    - `arg_types`: the lattice type of each argument (OBJECT: not guarded).
    - `typed`: False when only the generic copy was returned (`reason` says why).
    - `fast_entry` / `generic_entry`: where each copy starts (the function's entry is
      fast_entry when typed).
    - `fast_blocks`: typed-copy block -> the original block it comes from (None: the entry
      guards).
    - `generic_blocks`: generic block -> the original block it is (a part of).
    - `transfers`: transfer block -> ("deopt", block, index): resumes before op `index` of
      original block `block`; or ("exc", handler): goes to the generic handler block.
    - `edge_blocks`: blocks that box values on an edge of the typed copy.
    """

    args: list
    arg_types: tuple
    typed: bool
    reason: str = ""
    fast_entry: Optional[int] = None
    generic_entry: int = 0
    fast_blocks: dict = field(default_factory=dict)
    generic_blocks: dict = field(default_factory=dict)
    transfers: dict = field(default_factory=dict)
    edge_blocks: set = field(default_factory=set)
    direct: Optional[IRFunction] = None
    direct_result: Optional[PyType] = None

    def __str__(self) -> str:
        sig = ", ".join(f"{r}: {t}" for r, t in zip(self.args, self.arg_types))
        if not self.typed:
            return f"not specialized ({sig}): {self.reason}"
        lines = [f"specialized for ({sig}): typed entry b{self.fast_entry}, "
                 f"generic entry b{self.generic_entry}",
                 "typed copy: " + _ids(self.fast_blocks),
                 "generic copy: " + _ids(self.generic_blocks),
                 "transfers: " + (", ".join(
                     f"b{b}->" + (f"b{k[1]}@{k[2]}" if k[0] == "deopt" else f"handler b{k[1]}")
                     for b, k in sorted(self.transfers.items())) or "-")]
        if self.edge_blocks:
            lines.append("edge boxing: " + _ids(self.edge_blocks))
        if self.direct is not None:
            lines.append(f"direct self-calls: a direct body taking "
                         f"({', '.join(map(str, self.direct.args))}) returns "
                         f"{self.direct.specialization.direct_result}")
        return "\n".join(lines)


def _ids(ids) -> str:
    return " ".join(f"b{b}" for b in sorted(ids)) or "-"


class SpecializeError(Exception):
    """An internal inconsistency (a bug): the facts promise something no lowering gives."""


# --------------------------------------------------------------------------------------------
# Shadow registers and boxing


_SUFFIX = {"i64": "i", "f64": "f", "b1": "b"}


def shadow(reg: Reg, t: PyType):
    """The unboxed register(s) holding `reg` while its type is `t`: one register, or the
    (cur, stop, step) triple of a range or range iterator."""
    if t.unboxed == "range":
        return tuple(Reg(f"{reg.name}.{p}", "i64") for p in ("cur", "stop", "step"))
    if t == T.FLOAT_OR_NP_FLOAT64:  # (the float's shadow, and whether it is a numpy one)
        return Reg(f"{reg.name}.f", "f64"), Reg(f"{reg.name}.np", "b1")
    if t == T.INT_PAIR:
        return Reg(f"{reg.name}.i0", "i64"), Reg(f"{reg.name}.i1", "i64")
    return Reg(f"{reg.name}.{_SUFFIX[t.unboxed]}", t.unboxed)


def box_op(reg: Reg, t: PyType, line) -> ir.Op:
    """The op that writes the object for unboxed `reg` (of type t) into `reg`."""
    if t == INT:
        return ir.BoxInt(reg, shadow(reg, t), line=line)
    if t == FLOAT:
        return ir.BoxFloat(reg, shadow(reg, t), line=line)
    if t == BOOL:
        return ir.BoxBool(reg, shadow(reg, t), line=line)
    if t == RANGE:
        return ir.BoxRange(reg, *shadow(reg, t), line=line)
    if t.name == T.RANGE_ITER_NAME:
        return ir.BoxRangeIter(reg, *shadow(reg, t), line=line)
    if t in T.NP_DTYPE_OF:
        return ir.BoxNumpy(reg, shadow(reg, t), T.NP_DTYPE_OF[t], line=line)
    if t == T.FLOAT_OR_NP_FLOAT64:
        return ir.BoxFloatOrNumpy(reg, *shadow(reg, t), line=line)
    if t == T.INT_PAIR:
        return ir.BoxIntTuple(reg, list(shadow(reg, t)), line=line)
    raise SpecializeError(f"cannot box {reg} of type {t}")


def unbox_op(reg: Reg, t: PyType, line) -> ir.Op:
    cls = {INT: ir.UnboxInt, FLOAT: ir.UnboxFloat, BOOL: ir.UnboxBool}[t]
    return cls(shadow(reg, t), reg, line=line)


def copy_op(op: ir.Op, **changes) -> ir.Op:
    """A fresh op object (list fields copied too), with `changes` applied."""
    new = dataclasses.replace(op, **changes)
    for f in dataclasses.fields(new):
        value = getattr(new, f.name)
        if isinstance(value, list):
            setattr(new, f.name, list(value))
    return new


def _int_like(t: PyType) -> bool:
    return t == INT or t == BOOL


def _alias_source(op: ir.Op, env, typing) -> Optional[Reg]:
    """For a typed op whose result is its operand itself (same object in CPython: a Move,
    +x, int(i), float(f), math.floor(i)), that operand; else None."""
    if typing.how != "typed":
        return None
    if isinstance(op, ir.Move) and env.get(op.src).is_unboxed:
        return op.src
    if isinstance(op, ir.UnaryOp) and op.op == "pos" and env.get(op.operand) in (INT, FLOAT):
        return op.operand
    if isinstance(op, ir.Call) and len(op.args) == 1:
        label = known_label(env.get(op.func))
        t = env.get(op.args[0])
        if label in ("builtins.int", "builtins.round") and t == INT:
            return op.args[0]
        if label == "builtins.float" and t == FLOAT:
            return op.args[0]
        if label in ("math.floor", "math.ceil", "math.trunc") and t == INT:
            return op.args[0]
    return None


_TOP = object()  # "every register" in the representation fixpoint


# --------------------------------------------------------------------------------------------
# The transformation


class _Specializer:
    def __init__(self, fn: IRFunction, facts: TypeFacts, direct: bool = False,
                 self_result: Optional[PyType] = None):
        self.fn = fn
        self.facts = facts
        # direct: build the direct body instead (see specialize): the arguments arrive
        # unboxed, there are no entry guards, and typed code returns unboxed results.
        self.direct = direct
        self.self_result = self_result
        self.live = liveness(fn)
        self.loop_heads = loop_heads(fn)
        self.blocks: dict[int, Block] = {}
        self.next_id = max(fn.blocks) + 1
        self.fresh_count = 0
        self.info = Specialization(list(fn.args), facts.arg_types, True,
                                   generic_entry=fn.entry, direct_result=self_result)
        self.transfer_cache: dict = {}
        # Locals some `del` unbinds. Generic code may run DeleteLocal on one without a
        # CheckBound (the frontend proved it bound), i.e. without reading it: so wherever
        # generic code takes over, such a local must be in its object register even when
        # liveness says nothing reads it.
        # Registers typed code does not load (their op): a direct body's SELF (typed_LoadGlobal)
        # and known objects only checked (check_known).
        self.unloaded: dict = {}
        self.identity_only_memo: dict = {}
        self.deleted = frozenset(op.var for b in fn.blocks.values() for op in b.ops
                                 if isinstance(op, ir.DeleteLocal))
        self.resume_ids: dict[tuple[int, int], int] = {}
        # building state
        self.emitting = False
        self.piece = None
        self.both: set = set()
        self.B = fn.entry
        self.i = 0
        self.line = None

    # ---- ids and registers ----

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def fresh(self, kind: str) -> Reg:
        self.fresh_count += 1
        return Reg(f".u{self.fresh_count}", kind)

    # ---- the typed CFG ----

    def fold(self, b: int) -> Optional[int]:
        """The single successor of block b's terminator in typed code, when a typed test
        decides it statically (`if None`, `x is None` of a known type); else None."""
        block = self.fn.blocks[b]
        term = block.terminator
        if not isinstance(term, ir.CondBranch):
            return None
        typing = self.facts.typing[(b, len(block.ops))]
        if typing.how != "typed":
            return None
        t = self.facts.before[b][len(block.ops)].get(term.cond)
        if term.test == "truth":
            if t == NONE:
                return term.if_false
            if t.value is not None:
                return term.if_true
            return None
        return term.if_true if t == NONE else term.if_false

    def within_loop(self, p, s: int) -> bool:
        """Whether the typed-copy edge p->s runs inside the innermost loop holding s (a back
        edge, or an edge between two blocks of its body): code on it runs per iteration."""
        body = self.loop_of.get(s)
        return p != "entry" and body is not None and p in body

    def retreating(self, p, s: int) -> bool:
        """Whether the typed-copy edge p->s goes back in reverse postorder (a loop's back
        edge, in a reducible CFG)."""
        return p != "entry" and self.rpo_index[p] >= self.rpo_index[s]

    def fast_succs(self, b: int) -> list[int]:
        f = self.fold(b)
        if f is not None:
            return [f]
        out = []
        for s in ir.successors(self.fn.blocks[b].terminator):
            if s not in out:
                out.append(s)
        return out

    def plan_cfg(self) -> None:
        fn = self.fn
        seen = [fn.entry]
        k = 0
        while k < len(seen):
            for s in self.fast_succs(seen[k]):
                if s not in seen:
                    seen.append(s)
            k += 1
        rpo = [b for b in reverse_postorder(fn) if b in set(seen)]
        self.fast = rpo
        self.rpo_index = {b: k for k, b in enumerate(rpo)}
        self.fast_preds: dict[int, list[int]] = {b: [] for b in rpo}
        for b in rpo:
            for s in self.fast_succs(b):
                self.fast_preds[s].append(b)
        self.fast_id = {b: self.new_id() for b in rpo}
        # loop_of[b]: the blocks of the innermost natural loop of the typed copy holding b
        # (the loops of one header merged; absent: b is in no loop).
        bodies: dict[int, set] = {}
        for p in rpo:
            for h in self.fast_succs(p):
                if self.retreating(p, h):
                    body, work = bodies.setdefault(h, {h}), [p]
                    while work:
                        x = work.pop()
                        if x not in body:
                            body.add(x)
                            work.extend(self.fast_preds[x])
        self.loop_of: dict[int, set] = {}
        for body in sorted(bodies.values(), key=len, reverse=True):
            for b in body:
                self.loop_of[b] = body

    # ---- anticipation: which unboxed registers every path will need as objects ----

    def obj_uses(self, b: int, i: int, op: ir.Op) -> set:
        env = self.facts.before[b][i]
        if self.facts.typing[(b, i)].how == "typed":
            # A typed list store keeps CPython's object when there is one (identity), so
            # it counts as reading the value as an object (typed_SetItem).
            if (isinstance(op, ir.SetItem) and env.get(op.obj).array is None
                    and env.get(op.value) in (INT, FLOAT)):
                return {op.value}
            return set()
        return {r for r in op.uses() if env.get(r).is_unboxed}

    def needed(self, live, env) -> set:
        """The registers generic code (or an object use) may need at a point where `live`
        is live: those, and the deleted locals that are bound (unboxed) there."""
        return set(live) | {r for r in self.deleted if env.get(r).is_unboxed}

    def edge_boxes_needed(self, p: int, s: int) -> set:
        """Registers that the edge p->s must box because s does not hold them unboxed."""
        env_s, env_p = self.facts.block_in[s], self.facts.edge_env(p, s)
        return {r for r in self.needed(self.live.live_in[s], env_p)
                if env_p.get(r).is_unboxed and not env_s.get(r).is_unboxed}

    def compute_anticipated(self) -> None:
        """ant[b]: the unboxed registers that every path from b's entry (in typed code, deopts
        aside) reads as an object before writing them. Boxing one of these at a join is never
        wasted work (backward, must: the greatest fixpoint)."""
        ant: dict = {b: _TOP for b in self.fast}
        changed = True
        while changed:
            changed = False
            for b in reversed(self.fast):
                block = self.fn.blocks[b]
                d = _TOP
                for s in self.fast_succs(b):
                    ds = ant[s]
                    if ds is not _TOP:
                        ds = (ds | self.edge_boxes_needed(b, s)) - set(
                            edge_defs(block.terminator, s))
                    d = ds if d is _TOP else (d if ds is _TOP else d & ds)
                if d is _TOP:
                    d = set() if not self.fast_succs(b) else _TOP
                if d is not _TOP:
                    d = set(d)
                    points = block_points(block)
                    for i in range(len(points) - 1, -1, -1):
                        op = points[i]
                        env = self.facts.before[b][i]
                        typing = self.facts.typing[(b, i)]
                        if not op.IS_TERMINATOR:
                            src = _alias_source(op, env, typing)
                            wanted = any(r in d for r in op.defs())
                            d -= set(op.defs())
                            if src is not None and wanted:
                                d.add(src)
                        d |= self.obj_uses(b, i, op)
                    d = frozenset(d)
                if d != ant[b]:
                    ant[b] = d
                    changed = True
        self.ant = {b: (frozenset() if d is _TOP else d) for b, d in ant.items()}

    def compute_may_use(self) -> None:
        """may_after[(b, i)]: the unboxed registers some path after op i of b (in typed code,
        deopts aside) reads as objects before writing them (backward, may). A constant that
        nothing reads as an object needs no object register."""
        may_in = {b: frozenset() for b in self.fast}
        self.may_after: dict = {}
        changed = True
        while changed:
            changed = False
            for b in reversed(self.fast):
                block = self.fn.blocks[b]
                d = set()
                for s in self.fast_succs(b):
                    d |= (may_in[s] | self.edge_boxes_needed(b, s)) - set(
                        edge_defs(block.terminator, s))
                points = block_points(block)
                for i in range(len(points) - 1, -1, -1):
                    op = points[i]
                    self.may_after[(b, i)] = frozenset(d)
                    env = self.facts.before[b][i]
                    typing = self.facts.typing[(b, i)]
                    if not op.IS_TERMINATOR:
                        src = _alias_source(op, env, typing)
                        wanted = any(r in d for r in op.defs())
                        d -= set(op.defs())
                        if src is not None and wanted:
                            d.add(src)
                    d |= self.obj_uses(b, i, op)
                if frozenset(d) != may_in[b]:
                    may_in[b] = frozenset(d)
                    changed = True
        self.may_in = may_in

    # ---- representation fixpoint ----

    def state_in(self, s: int, edge_out: dict) -> tuple:
        """(BOTH registers, locals that may hold a visible object) at the entry of s.

        A register is BOTH at s when it is BOTH on every incoming edge; or on some, when the
        edges where it is RAW box it at no loss: every path from s reads it as an object
        anyway (anticipated), or some path does and none of those edges runs inside the
        innermost loop holding s (the box is then hoisted out of the loop, not paid per
        iteration: a join inside a loop body, as after `if flag: count += 1`, would box
        `count` on every pass for a read after the loop)."""
        env = self.facts.block_in[s]
        preds = list(self.fast_preds[s]) + (["entry"] if s == self.fn.entry else [])
        outs = [edge_out.get((p, s), _TOP) for p in preds]
        both = set()
        for r in self.live.live_in[s]:
            t = env.get(r)
            if not t.is_unboxed or t.name == T.RANGE_ITER_NAME:
                continue
            raw = [p for p, out in zip(preds, outs) if out is not _TOP and r not in out[0]]
            if not preds:
                continue
            if not raw:
                both.add(r)
            elif len(raw) < len(preds) and (
                    r in self.ant[s]
                    or (r in self.may_in[s] and not any(self.within_loop(p, s) for p in raw))):
                both.add(r)
        visible = set()
        for out in outs:
            if out is not _TOP:
                visible |= out[1]
        return frozenset(both), frozenset(visible)

    def solve_representation(self) -> None:
        args = list(zip(self.fn.args, self.facts.arg_types))
        entry = (frozenset(r for r, t in args if t.is_unboxed and not self.direct),
                 frozenset(r for r, t in args if t.name not in T.LIFETIME_INVISIBLE))
        edge_out: dict = {("entry", self.fn.entry): entry}
        changed = True
        while changed:
            changed = False
            for b in self.fast:
                outs = self.lower_block(b, self.state_in(b, edge_out), emit=False)
                for s, st in outs.items():
                    if edge_out.get((b, s), _TOP) != st:
                        edge_out[(b, s)] = st
                        changed = True
        self.block_state = {b: self.state_in(b, edge_out) for b in self.fast}

    # ---- building blocks ----

    def start_piece(self, bid: int) -> None:
        if self.emitting:
            self.piece = [bid, [], None]  # id, ops, exception plan

    def emit(self, op: ir.Op) -> None:
        if not self.emitting:
            return
        if may_raise(op):
            self.note_raise()
        self.piece[1].append(op)

    def finish_piece(self, term: ir.Op) -> None:
        if not self.emitting:
            return
        if may_raise(term):
            self.note_raise()
        bid, ops, plan = self.piece
        handler = None
        if plan is not None:
            h = self.fn.blocks[self.B].handler
            handler = ExcEdge(self.exc_transfer(h.target, plan), h.exc_dest, h.lasti_dest)
        self.blocks[bid] = Block(bid, ops, term, handler)
        self.info.fast_blocks[bid] = self.B
        self.piece = None

    def note_raise(self) -> None:
        """An op that may raise is about to be added to the current piece: the transfer its
        exception edge goes to boxes what the handler needs, so every raising op of a piece
        must agree on what that is; split the piece where it changes."""
        h = self.fn.blocks[self.B].handler if self.B is not None else None
        if h is None:
            return
        env = self.facts.before[self.B][self.i]
        plan = tuple(sorted(((r, env.get(r))
                             for r in self.needed(self.live.exc_live[self.B], env)
                             if self.objectless(r, env, self.both)),
                            key=lambda rt: (rt[0].kind, rt[0].name)))
        if self.piece[2] is None:
            self.piece[2] = plan
        elif self.piece[2] != plan:
            nxt = self.new_id()
            self.finish_piece(ir.Jump(nxt, line=self.line))  # keeps the old plan
            self.piece = [nxt, [], plan]

    def check(self, make, resume=None, env=None) -> None:
        """End the piece with a typed op that may deopt (`make(ok, deopt)`); continue in a new
        piece. By default a failure resumes before the current op, in the generic copy."""
        if resume is None:
            resume, env = (self.B, self.i), self.facts.before[self.B][self.i]
        if not self.emitting:
            return
        deopt = self.deopt_transfer(resume, env, frozenset(self.both))
        ok = self.new_id()
        self.finish_piece(make(ok, deopt))
        self.start_piece(ok)

    def resume_id(self, b: int, j: int) -> int:
        if j == 0:
            return b
        if (b, j) not in self.resume_ids:
            self.resume_ids[(b, j)] = self.new_id()
        return self.resume_ids[(b, j)]

    def objectless(self, r: Reg, env, both) -> bool:
        """Whether r's object register does not hold its value here: unboxed and not BOTH, or
        unloaded (`materialize` gives it one)."""
        t = env.get(r)
        return ((t.is_unboxed and r not in both)
                or (r in self.unloaded and (t == T.SELF or t.value is not None)))

    def boxes(self, regs, env, both) -> list:
        return [(r, env.get(r)) for r in sorted(regs, key=lambda r: (r.kind, r.name))
                if self.objectless(r, env, both)]

    def materialize(self, r: Reg, t: PyType, line) -> ir.Op:
        """The op giving unboxed (or unloaded, see typed_LoadGlobal) `r` its object."""
        if t == T.SELF:
            return copy_op(self.unloaded[r], line=line)
        if r in self.unloaded:  # (a known object, checked: that very object)
            return ir.LoadConst(r, t.value, line=line)
        return box_op(r, t, line)

    def deopt_transfer(self, resume, env, both) -> int:
        b, j = resume
        boxes = self.boxes(self.needed(self.live.live_before[b][j], env), env, both)
        key = ("deopt", b, j, tuple(boxes))
        if key not in self.transfer_cache:
            block = self.fn.blocks[b]
            line = (block.ops[j] if j < len(block.ops) else block.terminator).line
            bid = self.new_id()
            ops = [self.materialize(r, t, line) for r, t in boxes]
            self.blocks[bid] = Block(bid, ops, ir.Jump(self.resume_id(b, j), line=line))
            self.info.transfers[bid] = ("deopt", b, j)
            self.transfer_cache[key] = bid
        return self.transfer_cache[key]

    def exc_transfer(self, handler: int, plan) -> int:
        key = ("exc", handler, plan)
        if key not in self.transfer_cache:
            bid = self.new_id()
            ops = [self.materialize(r, t, self.line) for r, t in plan]
            self.blocks[bid] = Block(bid, ops, ir.Jump(handler, line=self.line))
            self.info.transfers[bid] = ("exc", handler)
            self.transfer_cache[key] = bid
        return self.transfer_cache[key]

    def edge_target(self, p: int, s: int, both_out) -> int:
        """The typed copy of s, through an edge block when p's end state needs boxing."""
        if not self.emitting:
            return -1
        env_s, env_p = self.facts.block_in[s], self.facts.edge_env(p, s)
        both_s = self.block_state[s][0]
        regs = []
        flags = []  # a float or a numpy.float64 going on as "either": say which
        for r in self.needed(self.live.live_in[s], env_p):
            tp, ts = env_p.get(r), env_s.get(r)
            if ts == T.FLOAT_OR_NP_FLOAT64 and tp in (FLOAT, T.NP_FLOAT64):
                flags.append(ir.ConstBool(shadow(r, ts)[1], tp == T.NP_FLOAT64, line=self.line))
            elif ts.is_unboxed and tp != ts:
                raise SpecializeError(f"{r} is {tp} on b{p}->b{s} but {ts} at b{s}")
            if tp.is_unboxed and r not in both_out and (not ts.is_unboxed or r in both_s):
                regs.append(r)
        target = self.fast_id[s]
        if not regs and not flags:
            return target
        regs.sort(key=lambda r: (r.kind, r.name))
        flags.sort(key=lambda op: op.dest.name)
        bid = self.new_id()
        line = self.line
        self.blocks[bid] = Block(bid, flags + [box_op(r, env_p.get(r), line) for r in regs],
                                 ir.Jump(target, line=line))
        self.info.edge_blocks.add(bid)
        return bid

    # ---- state changes ----

    def need_obj(self, r: Reg, t: PyType) -> None:
        """r (unboxed, type t) is about to be read as an object: box it unless BOTH."""
        if r in self.both:
            return
        if t.name == T.RANGE_ITER_NAME:
            raise SpecializeError(f"range iterator {r} used as an object in typed code")
        self.emit(box_op(r, t, self.line))
        self.both.add(r)
        self.wrote_object(r, t)

    def set_raw(self, dest: Reg, env) -> None:
        """dest now holds a new value in its shadow only."""
        self.both.discard(dest)
        if dest in self.visible:
            # The local's previous object must die now, as CPython's store would drop it.
            self.emit(ir.ClearLocal(dest, line=self.line))
            self.visible.discard(dest)

    def wrote_object(self, dest: Reg, t: PyType) -> None:
        """dest's object register was written with a value of type t."""
        if dest.kind == "var":
            if t.name in T.LIFETIME_INVISIBLE:
                self.visible.discard(dest)
            else:
                self.visible.add(dest)

    def alias(self, dest: Reg, src: Reg, t: PyType, env) -> None:
        """dest = src, the same value (and object, if src has one)."""
        if dest == src:
            return
        d, s = shadow(dest, t), shadow(src, t)
        for a, b in (zip(d, s) if isinstance(d, tuple) else [(d, s)]):
            self.emit(ir.Move(a, b, line=self.line))
        if src in self.both:
            self.emit(ir.Move(dest, src, line=self.line))
            self.both.add(dest)
            self.wrote_object(dest, t)
        else:
            self.set_raw(dest, env)

    def as_int(self, r: Reg, t: PyType) -> Reg:
        if t == INT or t.unboxed == "i64":  # (a numpy int's value)
            return shadow(r, t)
        if t == BOOL:
            out = self.fresh("i64")
            self.emit(ir.BoolToInt(out, shadow(r, BOOL), line=self.line))
            return out
        raise SpecializeError(f"{r}: {t} is not an int")

    def as_float(self, r: Reg, t: PyType) -> Reg:
        """The double CPython's arithmetic and math functions see (ints rounded)."""
        if t == FLOAT or t.unboxed == "f64":  # (a numpy float's value: exact)
            return shadow(r, t)
        if t == T.FLOAT_OR_NP_FLOAT64:
            return shadow(r, t)[0]
        out = self.fresh("f64")
        self.emit(ir.IntToFloat(out, self.as_int(r, t), line=self.line))
        return out

    def as_float_exact(self, r: Reg, t: PyType) -> Reg:
        """The double equal to r, deopting when an int is not exactly convertible."""
        if t != INT:
            return self.as_float(r, t)
        out = self.fresh("f64")
        src = shadow(r, INT)
        self.check(lambda ok, dp: ir.IntToFloatExact(out, src, ok, dp, line=self.line))
        return out

    def const_int(self, value: int) -> Reg:
        out = self.fresh("i64")
        self.emit(ir.ConstInt(out, value, line=self.line))
        return out

    # ---- lowering ----

    def lower_block(self, b: int, state, emit: bool) -> dict:
        """Lower block b of the typed copy from `state` at its entry (see state_in). Returns
        {successor: state on that edge}; when `emit`, also builds the blocks."""
        self.emitting = emit
        self.both = set(state[0])
        self.visible = set(state[1])
        self.B = b
        block = self.fn.blocks[b]
        self.start_piece(self.fast_id[b])
        if emit and b in self.loop_heads:
            # The backends check the eval breaker at a loop's head, which may raise (a signal
            # handler's exception): the block needs its handler's exception transfer.
            self.i, self.line = 0, block.ops[0].line if block.ops else block.terminator.line
            self.note_raise()
        for i, op in enumerate(block.ops):
            self.i, self.line = i, op.line
            self.lower_op(op)
        self.i, self.line = len(block.ops), block.terminator.line
        return self.lower_term(block.terminator)

    def lower_op(self, op: ir.Op) -> None:
        b, i = self.B, self.i
        typing = self.facts.typing[(b, i)]
        env, after = self.facts.before[b][i], self.facts.after[b][i]
        if typing.how == "typed":
            method = getattr(self, "typed_" + type(op).__name__, None)
            if method is None:
                raise SpecializeError(f"no typed lowering for {type(op).__name__}")
            method(op, env, after)
            return
        if typing.how == "known" and self.identity_only(op.dest):
            self.check_known(op, env, after)
            return
        self.generic(op, env, after)
        if typing.how == "generic":
            for d in op.defs():
                if after.get(d).is_unboxed:
                    raise SpecializeError(f"generic {type(op).__name__} gives unboxed {d}")
            return
        if typing.how == "guarded" and len(op.defs()) > 1:  # (UnpackSequence)
            self.guard_unbox(op.defs(), after, b, i)
            return
        (d,) = op.defs()
        t = after.get(d)
        if typing.how == "known":
            self.check(lambda ok, dp: ir.GuardIdentity(d, t.value, ok, dp, line=self.line),
                       resume=(b, i + 1), env=after.with_types({d: OBJECT}))
            return
        if typing.how == "guarded":
            self.check(lambda ok, dp: ir.GuardType(d, GUARD_NAMES[t], ok, dp, line=self.line),
                       resume=(b, i + 1), env=after.with_types({d: OBJECT}))
        if t.is_unboxed:
            self.emit(unbox_op(d, t, self.line))
            self.both.add(d)

    def identity_only(self, reg: Reg) -> bool:
        """Whether typed code needs `reg`, a temporary, only for what it is: every definition
        is a known global or module attribute, and every use the callee of a typed call or
        the module of such an attribute (math.sqrt(x): neither `math` nor `math.sqrt`)."""
        memo = self.identity_only_memo
        if reg not in memo:
            memo[reg] = False  # (while deciding: a cycle is not proof)
            memo[reg] = reg.kind == "tmp" and all(self._identity_uses(reg))
        return memo[reg]

    def _identity_uses(self, reg: Reg):
        for o, how in self.typed_points():
            if reg in o.defs():
                yield how == "known" and isinstance(o, (ir.LoadGlobal, ir.GetAttr))
            if reg in o.uses():
                yield (_typed_callee(o, reg, how)
                       or (isinstance(o, ir.GetAttr) and how == "known"
                           and self.identity_only(o.dest)))

    def typed_points(self):
        """(op, how typed code treats it: Typing.how, None where untyped) for every op and
        terminator of the function."""
        for b, block in self.fn.blocks.items():
            for i, o in enumerate(block_points(block)):
                typing = self.facts.typing.get((b, i))
                yield o, (typing.how if typing is not None else None)

    def check_known(self, op: ir.Op, env, after) -> None:
        """A known global or module attribute that typed code needs only for what it is
        (`identity_only`): checked, with no reference made, to be still that object
        (GlobalIs, ModuleAttrIs). A failure resumes at the generic op, which loads it. Its
        register stays unloaded: generic code gets the object itself (`materialize`)."""
        t, line = after.get(op.dest), self.line
        if isinstance(op, ir.LoadGlobal):
            self.check(lambda ok, dp: ir.GlobalIs(op.name, t.value, ok, dp, line=line))
        else:
            module = env.get(op.obj).value
            self.check(lambda ok, dp: ir.ModuleAttrIs(module, op.name, t.value, ok, dp,
                                                      line=line))
        self.unloaded[op.dest] = op
        self.both.discard(op.dest)

    def guard_unbox(self, defs, after, b: int, i: int) -> None:
        """Check and unbox each of several results of generic op i (a failure resumes after
        it, with the results not yet unboxed as objects)."""
        for k, d in enumerate(defs):
            t = after.get(d)
            rest = after.with_types({r: OBJECT for r in defs[k:]})
            self.check(lambda ok, dp: ir.GuardType(d, GUARD_NAMES[t], ok, dp, line=self.line),
                       resume=(b, i + 1), env=rest)
            self.emit(unbox_op(d, t, self.line))
            self.both.add(d)

    def generic(self, op: ir.Op, env, after) -> None:
        for r in op.uses():
            t = env.get(r)
            if t.is_unboxed:
                self.need_obj(r, t)
        if isinstance(op, ir.DeleteLocal):
            # Its object register may be stale or unset here even though the local is bound
            # (its value lived unboxed on some path): same effect, no precondition.
            self.emit(ir.ClearLocal(op.var, line=op.line))
        else:
            self.emit(copy_op(op))
        for d in op.defs():
            self.both.discard(d)
            self.wrote_object(d, after.get(d))

    # typed ops

    def typed_Move(self, op, env, after):
        self.alias(op.dest, op.src, env.get(op.src), env)

    def typed_LoadConst(self, op, env, after):
        t = after.get(op.dest)
        cls = {INT: ir.ConstInt, FLOAT: ir.ConstFloat, BOOL: ir.ConstBool}[t]
        self.emit(cls(shadow(op.dest, t), op.value, line=self.line))
        if op.dest in self.may_after[(self.B, self.i)]:
            # Read as an object later: let that be the constant object itself, as in CPython.
            self.emit(copy_op(op))
            self.both.add(op.dest)
            self.wrote_object(op.dest, t)
        else:
            self.set_raw(op.dest, env)

    def typed_CheckBound(self, op, env, after):
        pass  # an unboxed local is bound

    def typed_DeleteLocal(self, op, env, after):
        # The value lives in the shadow; the object register may be stale or unset.
        self.emit(ir.ClearLocal(op.var, line=self.line))
        self.both.discard(op.var)
        self.visible.discard(op.var)

    def typed_BinaryOp(self, op, env, after):
        lt, rt = env.get(op.left), env.get(op.right)
        t = after.get(op.dest)
        base = op.op[:-1] if op.op.endswith("=") else op.op
        dst = shadow(op.dest, t)
        if t in T.NP_DTYPE_OF:
            dtype = T.NP_DTYPE_OF[t]
            if t.unboxed == "f64":
                a, b = self.as_float(op.left, lt), self.as_float(op.right, rt)
            else:
                a, b = shadow(op.left, lt), shadow(op.right, rt)
            self.check(lambda ok, dp: ir.NpArith(dst, base, a, b, dtype, ok, dp,
                                                 line=self.line))
        elif t == INT:
            a, b = self.as_int(op.left, lt), self.as_int(op.right, rt)
            if base in ir.INT_ARITH_OPS:
                self.check(lambda ok, dp: ir.IntArith(dst, base, a, b, ok, dp, line=self.line))
            else:
                self.emit(ir.IntBitwise(dst, base, a, b, line=self.line))
        elif t == FLOAT:
            if _int_like(lt) and _int_like(rt):  # int / int: exact operands only
                a, b = self.as_float_exact(op.left, lt), self.as_float_exact(op.right, rt)
            else:
                a, b = self.as_float(op.left, lt), self.as_float(op.right, rt)
            if base in ir.FLOAT_ARITH_OPS:
                self.emit(ir.FloatArith(dst, base, a, b, line=self.line))
            elif base == "**":
                self.check(lambda ok, dp: ir.FloatPow(dst, a, b, ok, dp, line=self.line))
            else:
                self.check(lambda ok, dp: ir.FloatDivide(dst, base, a, b, ok, dp,
                                                         line=self.line))
        else:
            raise SpecializeError(f"typed BinaryOp giving {t}")
        self.set_raw(op.dest, env)

    def typed_UnaryOp(self, op, env, after):
        t = env.get(op.operand)
        d = op.dest
        if op.op == "not":
            self.emit(ir.Truth(shadow(d, BOOL), shadow(op.operand, t), True, line=self.line))
            self.set_raw(d, env)
            return
        if op.op == "pos" and t in (INT, FLOAT):
            self.alias(d, op.operand, t, env)
            return
        if t == FLOAT:  # neg
            self.emit(ir.FloatUnary(shadow(d, FLOAT), "neg", shadow(op.operand, FLOAT),
                                    line=self.line))
            self.set_raw(d, env)
            return
        x = self.as_int(op.operand, t)
        dst = shadow(d, INT)
        if op.op == "pos":
            self.emit(ir.Move(dst, x, line=self.line))
        elif op.op == "neg":
            self.check(lambda ok, dp: ir.IntUnary(dst, "neg", x, ok, dp, line=self.line))
        elif op.op == "invert":
            self.emit(ir.IntBitwise(dst, "^", x, self.const_int(-1), line=self.line))
        else:
            raise SpecializeError(f"typed UnaryOp {op.op}")
        self.set_raw(d, env)

    def typed_Compare(self, op, env, after):
        lt, rt = env.get(op.left), env.get(op.right)
        dst = shadow(op.dest, BOOL)
        if _int_like(lt) and _int_like(rt):
            a, b = self.as_int(op.left, lt), self.as_int(op.right, rt)
            self.emit(ir.IntCompare(dst, op.op, a, b, line=self.line))
        else:
            a, b = self.as_float_exact(op.left, lt), self.as_float_exact(op.right, rt)
            self.emit(ir.FloatCompare(dst, op.op, a, b, line=self.line))
        self.set_raw(op.dest, env)

    def typed_IsOp(self, op, env, after):
        lt, rt = env.get(op.left), env.get(op.right)
        dst = shadow(op.dest, BOOL)
        if lt == BOOL and rt == BOOL:
            a, b = self.as_int(op.left, lt), self.as_int(op.right, rt)
            self.emit(ir.IntCompare(dst, "!=" if op.negate else "==", a, b, line=self.line))
        else:
            lc, rc = T.exact_class(lt), T.exact_class(rt)
            if lc is not rc:
                same = False
            elif lt == NONE:
                same = True
            else:
                same = lt.value is rt.value
            self.emit(ir.ConstBool(dst, same != op.negate, line=self.line))
        self.set_raw(op.dest, env)

    def typed_Call(self, op, env, after):
        if env.get(op.func) == T.SELF:
            self.self_call(op, env, after)
            return
        label = known_label(env.get(op.func))
        if label is not None and label.startswith(T.LEAF_LABEL):
            self.leaf_call(op, env, after)
            return
        ts = [env.get(a) for a in op.args]
        d = op.dest
        t = after.get(d)
        line = self.line
        if label == "builtins.range":
            ints = [self.as_int(a, at) for a, at in zip(op.args, ts)]
            if len(ints) == 1:
                start, stop, step = self.const_int(0), ints[0], self.const_int(1)
            elif len(ints) == 2:
                (start, stop), step = ints, self.const_int(1)
            else:
                start, stop, step = ints
                nonzero = self.fresh("b1")
                self.emit(ir.IntCompare(nonzero, "!=", step, self.const_int(0), line=line))
                self.check(lambda ok, dp: ir.TypedCondBranch(nonzero, ok, dp, line=line))
            for dst, src in zip(shadow(d, RANGE), (start, stop, step)):
                self.emit(ir.Move(dst, src, line=line))
            self.set_raw(d, env)
            return
        if label == "builtins.len":
            self.emit(ir.TypedLen(shadow(d, INT), op.args[0], GUARD_NAMES[ts[0]], line=line))
            self.set_raw(d, env)
            return
        if label == "builtins.abs":
            (a,), (at,) = op.args, ts
            dst = shadow(d, t)
            if at == INT:
                x = shadow(a, INT)
                self.check(lambda ok, dp: ir.IntUnary(dst, "abs", x, ok, dp, line=line))
            elif at == BOOL:
                self.emit(ir.BoolToInt(dst, shadow(a, BOOL), line=line))
            else:
                self.emit(ir.FloatUnary(dst, "abs", shadow(a, FLOAT), line=line))
            self.set_raw(d, env)
            return
        if label in ("builtins.min", "builtins.max"):
            cls = ir.IntMinMax if t == INT else ir.FloatMinMax
            self.emit(cls(shadow(d, t), label[9:], [shadow(a, t) for a in op.args], line=line))
            self.set_raw(d, env)
            return
        a, at = op.args[0], ts[0]
        if label in ("builtins.int", "builtins.round", "math.floor", "math.ceil", "math.trunc"):
            if at == INT:
                self.alias(d, a, INT, env)
                return
            dst = shadow(d, INT)
            if at == BOOL:
                self.emit(ir.BoolToInt(dst, shadow(a, BOOL), line=line))
            else:
                x = shadow(a, FLOAT)
                if label in ("math.floor", "math.ceil"):
                    y = self.fresh("f64")
                    self.check(lambda ok, dp: ir.MathFunc(y, label[5:], x, ok, dp, line=line))
                    x = y
                elif label == "builtins.round":
                    y = self.fresh("f64")
                    self.emit(ir.FloatUnary(y, "round", x, line=line))
                    x = y
                self.check(lambda ok, dp: ir.FloatToInt(dst, x, ok, dp, line=line))
            self.set_raw(d, env)
            return
        if label == "builtins.float":
            if at == FLOAT:
                self.alias(d, a, FLOAT, env)
                return
            self.emit(ir.IntToFloat(shadow(d, FLOAT), self.as_int(a, at), line=line))
            self.set_raw(d, env)
            return
        if label is not None and label.startswith("math."):
            x = self.as_float(a, at)
            dst = shadow(d, FLOAT)
            self.check(lambda ok, dp: ir.MathFunc(dst, label[5:], x, ok, dp, line=line))
            self.set_raw(d, env)
            return
        raise SpecializeError(f"no typed lowering for a call of {label}")

    def typed_LoadGlobal(self, op, env, after):
        """The function's own name (analyses.types.SELF): loaded as usual, so that a SelfCall
        can check what it is. A direct body's SelfCalls need no check: there the load waits
        for generic code that reads the register (transfer blocks load it, see `boxes`)."""
        if self.direct and all(self.direct_callee_only(op.dest)):
            self.unloaded[op.dest] = op
            self.both.discard(op.dest)
            return
        self.generic(op, env, after)

    def direct_callee_only(self, reg: Reg):
        """For each use of `reg` in the function: whether it is the callee of a typed Call."""
        for o, how in self.typed_points():
            if reg in o.uses():
                yield _typed_callee(o, reg, how)

    def self_call(self, op, env, after):
        """A call of this very specialization (SelfCall): the arguments go unboxed, and a
        result that stays in typed code comes back unboxed. Declined, the generic Call runs
        (nothing happened yet); if the callee left typed code, its object result goes to
        the generic code right after the call."""
        t = after.get(op.dest)
        dst = shadow(op.dest, t)
        args = [shadow(a, env.get(a)) for a in op.args]
        line = self.line
        if self.emitting:
            b, i = self.B, self.i
            both = frozenset(self.both)
            decline = self.deopt_transfer((b, i), env, both)
            dirty = self.new_id()
            env_after = after.with_types({op.dest: OBJECT})
            boxes = self.boxes(self.needed(self.live.live_before[b][i + 1], env_after),
                               env_after, both)
            self.blocks[dirty] = Block(
                dirty, [ir.DirectResult(op.dest, line=line)] + [self.materialize(r, rt, line)
                                                               for r, rt in boxes],
                ir.Jump(self.resume_id(b, i + 1), line=line))
            self.info.transfers[dirty] = ("deopt", b, i + 1)
            ok = self.new_id()
            func = None if self.direct else op.func
            self.finish_piece(ir.SelfCall(dst, func, args, ok, dirty, decline, line=line))
            self.start_piece(ok)
        self.set_raw(op.dest, env)

    def leaf_call(self, op, env, after):
        """A call of a jitted leaf (justjit.inline_calls): a copy of its typed code runs here
        on the unboxed arguments. Where the copy gives up, or where LeafBudget declines (a
        profiler, or the recursion limit near), the generic Call runs: nothing happened yet."""
        t = after.get(op.dest)
        if self.emitting:
            arg_types = tuple(env.get(a) for a in op.args)
            body = leaf_body(env.get(op.func).value, arg_types)
            args = [shadow(a, at) for a, at in zip(op.args, arg_types)]
            decline = self.deopt_transfer((self.B, self.i), env, frozenset(self.both))
            ok = self.new_id()
            start, blocks = inline_copy(body, args, shadow(op.dest, t), ok, decline,
                                        f"lc{ok}_", self.new_id, self.line)
            budget = self.fresh("b1")
            # (a direct body counts its own depth: its caller checked the rest)
            self.emit(ir.DirectBudget(budget, 0, line=self.line) if self.direct
                      else ir.LeafBudget(budget, line=self.line))
            self.finish_piece(ir.TypedCondBranch(budget, start, decline, line=self.line))
            for b, block in blocks.items():
                self.blocks[b] = block
                self.info.fast_blocks[b] = self.B
            self.start_piece(ok)
        self.set_raw(op.dest, env)

    def array_indices(self, key: Reg, t: PyType) -> list:
        return list(shadow(key, t)) if t == T.INT_PAIR else [self.as_int(key, t)]

    def typed_BuildTuple(self, op, env, after):  # an array index (i, j): two int64s
        for dst, item in zip(shadow(op.dest, T.INT_PAIR), op.items):
            self.emit(ir.Move(dst, self.as_int(item, env.get(item)), line=self.line))
        self.set_raw(op.dest, env)

    def typed_GetItem(self, op, env, after):
        obj = env.get(op.obj)
        d, t, line = op.dest, after.get(op.dest), self.line
        if obj.array is not None:
            dst, indices = shadow(d, t), self.array_indices(op.key, env.get(op.key))
            self.check(lambda ok, dp: ir.ArrayLoad(dst, op.obj, indices, obj.array[0], ok, dp,
                                                   line=line))
            self.set_raw(d, env)
            if d in self.may_after[(self.B, self.i)]:
                # Read as an object later: box it once now, as numpy makes one scalar per read.
                self.need_obj(d, t)
            return
        of = "tuple" if obj in (T.TUPLE, T.TUPLE_OF_INT) else "list"
        index = self.as_int(op.key, env.get(op.key))
        if t.is_unboxed and d not in self.may_after[(self.B, self.i)]:
            # Only the element's value is used: read it straight into the shadow.
            dst = shadow(d, t)
            self.check(lambda ok, dp: ir.SeqLoad(dst, op.obj, index, of, ok, dp, line=line))
            self.set_raw(d, env)
            return
        self.check(lambda ok, dp: ir.SeqLoad(d, op.obj, index, of, ok, dp, line=line))
        self.both.discard(d)
        self.wrote_object(d, t)
        if t.is_unboxed:
            # Read as an object later too: keep the element itself (its identity), guarded.
            self.check(lambda ok, dp: ir.GuardType(d, GUARD_NAMES[t], ok, dp, line=line),
                       resume=(self.B, self.i + 1), env=after.with_types({d: OBJECT}))
            self.emit(unbox_op(d, t, line))
            self.both.add(d)

    def typed_SetItem(self, op, env, after):
        v, vt, line = op.value, env.get(op.value), self.line
        array = env.get(op.obj).array
        if array is not None:
            indices = self.array_indices(op.key, env.get(op.key))
            dtype = array[0]
            cast = T.array_store_cast(dtype, vt)
            value = (self.as_float(v, vt) if ir.NP_DTYPES[dtype] == "f64" or cast == "trunc"
                     else shadow(v, vt))
            self.check(lambda ok, dp: ir.ArrayStore(op.obj, indices, value, dtype, cast, ok,
                                                    dp, line=line))
            return
        index = self.as_int(op.key, env.get(op.key))
        if vt == BOOL:
            value = shadow(v, BOOL)  # True or False itself
        elif vt == FLOAT and v not in self.both and v not in self.may_after[(self.B, self.i)]:
            # No object holds this float, and none will: CPython would store a new one.
            value = shadow(v, FLOAT)
        else:
            if vt.is_unboxed:
                self.need_obj(v, vt)
            value = v
        self.check(lambda ok, dp: ir.ListStore(op.obj, index, value, ok, dp, line=line))

    def typed_SetAttr(self, op, env, after):
        v = op.value
        if v not in self.both and v not in self.may_after[(self.B, self.i)]:
            # No object holds this float, and none will: CPython would store a new one.
            self.emit(ir.SetAttrFloat(op.obj, op.name, shadow(v, FLOAT), line=self.line))
            return
        self.generic(op, env, after)

    def typed_GetIter(self, op, env, after):
        t = after.get(op.dest)
        for dst, src in zip(shadow(op.dest, t), shadow(op.obj, RANGE)):
            self.emit(ir.Move(dst, src, line=self.line))
        self.set_raw(op.dest, env)

    # terminators

    def lower_term(self, term: ir.Op) -> dict:
        b, i = self.B, self.i
        typing = self.facts.typing[(b, i)]
        env = self.facts.before[b][i]
        both = frozenset(self.both)
        line = self.line
        if self.direct and isinstance(term, ir.Return) and \
                env.get(term.value) == self.self_result:
            self.finish_piece(ir.ReturnUnboxed(shadow(term.value, self.self_result), line=line))
            return {}
        if typing.how == "typed" and isinstance(term, ir.ForIter):
            it = env.get(term.iterator)
            cur, stop, step = shadow(term.iterator, it)
            vis = frozenset(self.visible)
            outs = {term.body: (both - {term.dest}, vis), term.exit: (both, vis)}
            if term.body == term.exit:
                raise SpecializeError("ForIter with body == exit")
            self.finish_piece(ir.RangeIterNext(
                shadow(term.dest, INT), cur, stop, step,
                self.edge_target(b, term.body, outs[term.body][0]),
                self.edge_target(b, term.exit, outs[term.exit][0]), line=line))
            return outs
        if typing.how == "guarded" and isinstance(term, ir.ForIter):
            return self.guarded_for_iter(term, both)
        if typing.how == "typed" and isinstance(term, ir.CondBranch):
            folded = self.fold(b)
            vis = frozenset(self.visible)
            if folded is not None:
                self.finish_piece(ir.Jump(self.edge_target(b, folded, both), line=line))
                return {folded: (both, vis)}
            t = env.get(term.cond)
            if t == BOOL:
                cond = shadow(term.cond, BOOL)
            else:
                cond = self.fresh("b1")
                self.emit(ir.Truth(cond, shadow(term.cond, t), line=line))
            outs = {term.if_true: (both, vis), term.if_false: (both, vis)}
            self.finish_piece(ir.TypedCondBranch(
                cond, self.edge_target(b, term.if_true, both),
                self.edge_target(b, term.if_false, both), line=line))
            return outs
        if typing.how != "generic":
            raise SpecializeError(f"no typed lowering for {type(term).__name__}")
        for r in term.uses():
            if env.get(r).is_unboxed:
                self.need_obj(r, env.get(r))
        both = frozenset(self.both)
        outs = {}
        changes = {}
        for f in term.TARGETS:
            s = getattr(term, f)
            defs = edge_defs(term, s)
            vis = set(self.visible)
            for d in defs:  # a generic terminator's defs are objects (ForIter's dest)
                if d.kind == "var":
                    vis.add(d)
            st = (both - set(defs), frozenset(vis))
            outs[s] = st
            changes[f] = self.edge_target(b, s, st[0])
        self.finish_piece(copy_op(term, **changes))
        return outs

    def guarded_for_iter(self, term: ir.ForIter, both: frozenset) -> dict:
        """`for x in xs` over a profiled list: the generic ForIter, then on its body edge a
        guard that the element has the profiled type, and its unboxing. A failure resumes at
        the start of the body in the generic copy, with the element as an object."""
        b, line, d = self.B, self.line, term.dest
        body_env = self.facts.edge_env(b, term.body)
        t = body_env.get(d)
        vis = frozenset(self.visible)
        guard = self.new_id()
        self.finish_piece(copy_op(term, body=guard,
                                  exit=self.edge_target(b, term.exit, both)))
        self.start_piece(guard)
        self.both = set(both - {d})
        self.check(lambda ok, dp: ir.GuardType(d, GUARD_NAMES[t], ok, dp, line=line),
                   resume=(term.body, 0), env=body_env.with_types({d: OBJECT}))
        self.emit(unbox_op(d, t, line))
        self.both.add(d)
        body_both = frozenset(self.both)
        self.finish_piece(ir.Jump(self.edge_target(b, term.body, body_both), line=line))
        # (the element's object is an int or a float: no lifetime to keep visible)
        return {term.body: (body_both, vis - {d}), term.exit: (both, vis)}

    # ---- entry and assembly ----

    def build_entry(self) -> int:
        fn = self.fn
        entry = self.new_id()
        self.emitting = True
        self.B, self.i, self.line = None, 0, fn.firstlineno
        self.both = set()
        self.visible = set()
        self.piece = [entry, [], None]
        if self.direct:  # the caller passes the unboxed arguments: nothing to check
            self.finish_piece(ir.Jump(self.fast_id[fn.entry], line=self.line))
            return entry
        empty = T.TypeEnv()
        for r, t in zip(fn.args, self.facts.arg_types):
            if t is OBJECT or t == OBJECT:
                continue
            if t.array is not None:
                self.check(lambda ok, dp: ir.GuardArray(r, *t.array, ok, dp, line=self.line),
                           resume=(fn.entry, 0), env=empty)
                continue
            if T.is_instance_type(t):
                self.check(lambda ok, dp: ir.GuardClass(r, t.cls, ok, dp, line=self.line),
                           resume=(fn.entry, 0), env=empty)
                continue
            name = GUARD_NAMES[t]
            self.check(lambda ok, dp: ir.GuardType(r, name, ok, dp, line=self.line),
                       resume=(fn.entry, 0), env=empty)
        for r, t in zip(fn.args, self.facts.arg_types):
            if t.is_unboxed:
                self.emit(unbox_op(r, t, self.line))
                self.both.add(r)
        self.finish_piece(ir.Jump(self.fast_id[fn.entry], line=self.line))
        return entry

    def build_generic(self) -> None:
        fn = self.fn
        for b, block in fn.blocks.items():
            js = sorted(j for (bb, j) in self.resume_ids if bb == b)
            ids = [b] + [self.resume_ids[(b, j)] for j in js]
            starts = [0] + js
            for k, (bid, start) in enumerate(zip(ids, starts)):
                last = k + 1 == len(starts)
                end = len(block.ops) if last else starts[k + 1]
                ops = [copy_op(op) for op in block.ops[start:end]]
                if last:
                    term = copy_op(block.terminator)
                else:
                    nxt = block.ops[end] if end < len(block.ops) else block.terminator
                    term = ir.Jump(ids[k + 1], line=nxt.line)
                handler = dataclasses.replace(block.handler) if block.handler else None
                self.blocks[bid] = Block(bid, ops, term, handler)
                self.info.generic_blocks[bid] = b

    def drop_unreachable(self, entry: int) -> None:
        """Remove the blocks no path from `entry` reaches (a direct body has no generic
        entry: only transfers lead into its generic copy)."""
        seen, todo = {entry}, [entry]
        while todo:
            for s in self.blocks[todo.pop()].all_successors():
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        for b in set(self.blocks) - seen:
            del self.blocks[b]
            self.info.generic_blocks.pop(b, None)
            self.info.fast_blocks.pop(b, None)
            self.info.transfers.pop(b, None)
            self.info.edge_blocks.discard(b)

    def run(self) -> IRFunction:
        self.plan_cfg()
        self.compute_anticipated()
        self.compute_may_use()
        self.solve_representation()
        entry = self.build_entry()
        for b in self.fast:
            self.lower_block(b, self.block_state[b], emit=True)
        self.build_generic()
        self.info.fast_entry = entry
        fn = self.fn
        args = list(fn.args)
        if self.direct:
            args = [shadow(r, t) for r, t in zip(fn.args, self.facts.arg_types)]
            self.drop_unreachable(entry)
        return IRFunction(name=fn.name, qualname=fn.qualname, filename=fn.filename,
                          firstlineno=fn.firstlineno, code=fn.code, args=args,
                          blocks=dict(sorted(self.blocks.items())), entry=entry,
                          is_generator=fn.is_generator, source_lines=dict(fn.source_lines),
                          specialization=self.info)


def _typed_callee(op: ir.Op, reg: Reg, how: Optional[str]) -> bool:
    """Whether `op` is a typed Call of `reg` that uses it only as the callee."""
    return isinstance(op, ir.Call) and op.func == reg and reg not in op.args and how == "typed"


def _generic_only(fn: IRFunction, facts: Optional[TypeFacts], arg_types, reason: str):
    blocks = {}
    for b, block in fn.blocks.items():
        handler = dataclasses.replace(block.handler) if block.handler else None
        blocks[b] = Block(b, [copy_op(op) for op in block.ops], copy_op(block.terminator),
                          handler)
    info = Specialization(list(fn.args), tuple(arg_types), False, reason,
                          generic_entry=fn.entry, generic_blocks={b: b for b in blocks})
    return IRFunction(name=fn.name, qualname=fn.qualname, filename=fn.filename,
                      firstlineno=fn.firstlineno, code=fn.code, args=list(fn.args),
                      blocks=blocks, entry=fn.entry, is_generator=fn.is_generator,
                      source_lines=dict(fn.source_lines), specialization=info)


def specialize(fn: IRFunction, arg_types=(), globals_: Optional[Mapping] = None,
               facts: Optional[TypeFacts] = None, direct_calls: bool = False) -> IRFunction:
    """The function `fn` specialized for arguments of `arg_types` (Python classes or lattice
    types, see analyses.types.argument_types), as a new verified IRFunction holding the
    typed copy, the generic copy and the transfers between them (module docstring).
    `globals_`: the function's globals, which decide which names are known objects.
    `direct_calls`: the backend runs SelfCall (see "Direct self-calls")."""
    self_result = None
    if facts is None:
        planned = _plan_self_calls(fn, arg_types, globals_) if direct_calls else None
        if planned is not None:
            facts, self_result = planned
        else:
            facts = infer_types(fn, arg_types, globals_, callees=LEAF_CALLS)
    if fn.is_generator:
        return _generic_only(fn, facts, facts.arg_types, "generators are not specialized")
    spec = _Specializer(fn, facts)
    spec.plan_cfg()
    useful = any(facts.typing[(b, i)].how in ("typed", "proven", "guarded")
                 for b in spec.fast for i in range(len(fn.blocks[b].ops) + 1))
    if not useful:
        return _generic_only(fn, facts, facts.arg_types, "nothing would be typed")
    out = _Specializer(fn, facts, self_result=self_result).run()
    verify(out)
    if self_result is not None:
        direct = _Specializer(fn, facts, direct=True, self_result=self_result).run()
        inline_leaves(direct)
        verify(direct)
        out.specialization.direct = direct
    return out


# --------------------------------------------------------------------------------------------
# Direct self-calls
#
# A recursive function (fib calling fib) pays, per call, for boxing its arguments and result
# and for a call through the dispatcher. When the specialization's typed code is *pure* (only
# typed ops, known globals and calls of itself: no code of anyone else can run in it, so
# nothing can rebind a global), a call of itself with arguments of the specialization's own
# types is a SelfCall: a C call of the *direct body*, a second copy of the specialization whose
# arguments arrive unboxed, with no entry guards, whose typed code returns unboxed results.
# The specialization's own SelfCalls check that the callee really is this function (the
# global, the dispatcher state, the compiled entry); in a direct body nothing can have
# changed since its caller checked, so its SelfCalls only count the recursion depth. A direct
# body that leaves typed code (a deopt) runs on generic and returns an object, and its caller
# continues generic after the call with that object. The direct body's SelfCalls first run
# the callee's leaf code inline (justjit.inline_leaves): fib(1) and fib(0) make no call.

# Typed ops that run no code but their own (LoadGlobal: the function's own name; known
# globals and math attributes are cached dict reads, their guards deopt).
_PURE_TYPED = (ir.Move, ir.LoadConst, ir.CheckBound, ir.BinaryOp, ir.UnaryOp, ir.Compare,
               ir.IsOp, ir.Call, ir.LoadGlobal)
_PURE_KNOWN = (ir.LoadGlobal, ir.GetAttr)


def _is_self(obj, fn: IRFunction) -> bool:
    """Whether `obj` (what fn's name is bound to) is the jitted wrapper of fn itself."""
    return getattr(getattr(obj, "py_func", None), "__code__", None) is fn.code


def _plan_self_calls(fn: IRFunction, arg_types, globals_):
    """(facts, result type) typing fn's calls of itself as SelfCalls, or None when fn does not
    qualify: it must call its own global name, take plain positional arguments of unboxed
    types, and be pure with every return of its typed code of one unboxed type."""
    code = fn.code
    name = getattr(code, "co_name", None)
    if (fn.is_generator or code is None or globals_ is None or name is None
            or code.co_flags & 0x0C or code.co_kwonlyargcount
            or not _is_self(globals_.get(name), fn)
            or not any(isinstance(op, ir.LoadGlobal) and op.name == name
                       for b in fn.blocks.values() for op in b.ops)):
        return None
    if not all(t.is_unboxed and t.unboxed != "range"
               for t in T.argument_types(fn, arg_types)):
        return None
    for result in (INT, FLOAT, BOOL):
        facts = infer_types(fn, arg_types, globals_, T.SelfCallPlan(name, result),
                            callees=LEAF_CALLS)
        if _pure_self_calls(fn, facts, result):
            return facts, result
    return None


def direct_leaf_body(fn: IRFunction, arg_types: tuple, result: PyType,
                     globals_: Optional[Mapping]) -> Optional[IRFunction]:
    """The direct body of `fn` for arguments of `arg_types` when its typed code is pure,
    loop-free, makes no call and returns only `result` values (a leaf: justjit.inline_calls
    copies it into its callers), else None."""
    facts = infer_types(fn, arg_types, globals_)
    if _pure_self_calls(fn, facts, result) != 0:
        return None
    body = _Specializer(fn, facts, direct=True, self_result=result).run()
    verify(body)
    return body


def _pure_self_calls(fn: IRFunction, facts: TypeFacts, result: PyType) -> Optional[int]:
    """The number of SelfCalls of the typed copy under `facts` when it is pure (see above),
    loop-free (a loop head checks the eval breaker, which may run a signal handler) and
    returns only values of type `result`; else None. (Calls of leaves are pure: see
    justjit.inline_calls.)"""
    spec = _Specializer(fn, facts)
    spec.plan_cfg()
    calls = 0
    for b in spec.fast:
        if b in spec.loop_heads:
            return None
        block = fn.blocks[b]
        for i, op in enumerate(block.ops):
            how = facts.typing[(b, i)].how
            if how == "known" and isinstance(op, _PURE_KNOWN):
                continue
            if how != "typed" or not isinstance(op, _PURE_TYPED):
                return None
            calls += isinstance(op, ir.Call) and facts.before[b][i].get(op.func) == T.SELF
        term, i = block.terminator, len(block.ops)
        if isinstance(term, ir.Return):
            if facts.before[b][i].get(term.value) != result:
                return None
        elif not (isinstance(term, ir.Jump) or (isinstance(term, ir.CondBranch)
                                                 and facts.typing[(b, i)].how == "typed")):
            return None
    return calls
