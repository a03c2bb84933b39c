"""Register allocation for the Cython path: liveness -> interference -> greedy colouring, plus
the points where each object reference must be released.

Only `stack` and `tmp` registers get slots (the emitter names slot k `r{k}`). `var` registers
are Python locals and `cell` registers are cells: they keep their identity, get no slot, and are
never released early (a local keeps its value until it is reassigned, deleted or the frame
ends, as in CPython).

Interference, the standard rule: at every point where a register is written, it interferes with
every other register live just after. The points are each op's normal completion, each
terminator edge (ForIter's `dest` on the body edge) and each exception edge (`exc_dest` and
`lasti_dest` against the handler's live-in). Exceptions to the rule:
- the dest of a `Move` does not interfere with its source there (they hold the same value), and
  the colouring prefers to give them one slot, so the move disappears;
- the defs of one op always interfere with each other.
A register live only because a handler needs it does not interfere with the defs of the last op
that may raise into that handler: if the op raises its defs are not written, and if it completes
the handler can no longer be reached. This relies on the emitter writing an op's defs only once
the op can no longer raise (what Cython does for `x = expr`). An op's def may share the slot of
one of its own uses that dies there, so the emitter reads all uses before writing any def.

Releases, to keep object lifetimes like CPython's (which drops a value-stack temporary as soon
as the instruction consuming it finishes):
- `release_after[(b, i)]`: slots to clear once op i (< len(ops)) of block b completed normally.
  A slot is listed when a register whose value sits there dies at op i (was live or written
  there, is not live after) and no register live after op i owns that slot.
- `release_on_entry[b]`: slots to clear on entering block b, from any predecessor: the slots that
  may hold a value when some edge into b is taken (normal edge: what is live at the terminator
  or written on that edge; exception edge: what is live at any op of the raising block that may
  raise, plus the edge's own `exc_dest`/`lasti_dest`), less the slots of the registers live into
  b. Clearing a slot that already holds None is harmless.
Nothing is released after a terminator itself: its values die on its edges (release_on_entry),
and at Return/Raise/Reraise without a handler the frame's exit releases every slot.

Invariant (the tests simulate it): after every release point, a slot that is not None holds
the current value of a live register allocated to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from .analyses.dataflow import (block_points, edge_may_defs, exc_edge_defs, may_raise,
                                normal_successors, reverse_postorder, straight_defs)
from .analyses.liveness import Liveness, liveness
from .ir.ops import IRFunction, Move, Op, Reg
from .ir.printer import format_op

ALLOCATED_KINDS = ("stack", "tmp")


def is_allocated(reg: Reg) -> bool:
    return reg.kind in ALLOCATED_KINDS


class AllocationError(Exception):
    pass


@dataclass(frozen=True)
class Allocation:
    """The result of `allocate`.

    - `slot[reg]`: slot number of each stack/tmp register (vars and cells are absent).
    - `num_slots`: slots 0 .. num_slots-1 are used.
    - `interference[reg]`: the stack/tmp registers `reg` interferes with (symmetric).
    - `release_after[(block_id, op_index)]`: sorted slots to set to None after op `op_index`
      (< len(block.ops)) completed normally. Only non-empty entries are present.
    - `release_on_entry[block_id]`: sorted slots to set to None on entering the block (after an
      exception edge has written `exc_dest`/`lasti_dest`). Only non-empty entries are present.
    - `liveness`: the Liveness the allocation was computed from (all register kinds).
    """

    slot: dict[Reg, int]
    num_slots: int
    interference: dict[Reg, frozenset[Reg]]
    release_after: dict[tuple[int, int], list[int]]
    release_on_entry: dict[int, list[int]]
    liveness: Liveness

    def slot_of(self, reg: Reg) -> Optional[int]:
        """The slot of `reg`, or None for a var or cell (and for a register the function never
        mentions)."""
        return self.slot.get(reg)


# --------------------------------------------------------------------------------------------
# Interference


def interference_graph(fn: IRFunction, live: Liveness) -> dict[Reg, set[Reg]]:
    """Interference between the stack/tmp registers of `fn` (every such register is a key)."""
    graph: dict[Reg, set[Reg]] = {}

    def node(r: Reg) -> None:
        if is_allocated(r):
            graph.setdefault(r, set())

    def add(a: Reg, b: Reg) -> None:
        if a != b and is_allocated(a) and is_allocated(b):
            graph[a].add(b)
            graph[b].add(a)

    def written(defs: list[Reg], live_after, exempt: Optional[Reg] = None) -> None:
        for d in defs:
            for r in live_after:
                if r != exempt:
                    add(d, r)
            for d2 in defs:
                add(d, d2)

    for block in fn.ordered_blocks():
        for op in block_points(block):
            for r in op.uses() + op.defs():
                node(r)
        if block.handler is not None:
            for r in exc_edge_defs(block.handler):
                node(r)
    for block in fn.ordered_blocks():
        for i, op in enumerate(block.ops):
            exempt = op.src if isinstance(op, Move) else None
            written(straight_defs(op), live.live_after[block.id][i], exempt)
        term = block.terminator
        for s in normal_successors(block):
            written(edge_may_defs(term, s), live.live_in[s])
        if block.handler is not None:
            written(exc_edge_defs(block.handler), live.live_in[block.handler.target])
    return graph


def _move_partners(fn: IRFunction) -> dict[Reg, list[Reg]]:
    partners: dict[Reg, list[Reg]] = {}
    for block in fn.ordered_blocks():
        for op in block.ops:
            if isinstance(op, Move) and is_allocated(op.dest) and is_allocated(op.src):
                partners.setdefault(op.dest, []).append(op.src)
                partners.setdefault(op.src, []).append(op.dest)
    return partners


def _colouring_order(fn: IRFunction, graph: dict[Reg, set[Reg]]) -> list[Reg]:
    """Registers by first appearance in reverse postorder: close to the order of live-range
    starts, for which greedy colouring does well. A handler's exception-edge registers come at
    the handler's start."""
    handler_defs: dict[int, list[Reg]] = {}
    for block in fn.ordered_blocks():
        if block.handler is not None:
            handler_defs.setdefault(block.handler.target, []).extend(
                exc_edge_defs(block.handler))
    order: list[Reg] = []
    seen: set[Reg] = set()

    def see(r: Reg) -> None:
        if r in graph and r not in seen:
            seen.add(r)
            order.append(r)

    for b in reverse_postorder(fn):
        for r in handler_defs.get(b, ()):
            see(r)
        for op in block_points(fn.blocks[b]):
            for r in op.uses() + op.defs():
                see(r)
    for r in sorted(graph, key=lambda r: (r.kind, r.name)):
        see(r)
    return order


def _colour(order: list[Reg], graph: dict[Reg, set[Reg]],
            partners: dict[Reg, list[Reg]]) -> dict[Reg, int]:
    slot: dict[Reg, int] = {}
    for r in order:
        taken = {slot[n] for n in graph[r] if n in slot}
        preferred = [slot[p] for p in partners.get(r, ()) if p in slot and slot[p] not in taken]
        if preferred:
            slot[r] = min(preferred)
            continue
        k = 0
        while k in taken:
            k += 1
        slot[r] = k
    return slot


# --------------------------------------------------------------------------------------------
# Releases


def _slots(regs, slot: dict[Reg, int]) -> set[int]:
    return {slot[r] for r in regs if r in slot}


def _releases(fn: IRFunction, live: Liveness, slot: dict[Reg, int]):
    release_after: dict[tuple[int, int], list[int]] = {}
    arriving: dict[int, set[int]] = {b: set() for b in fn.blocks}
    for block in fn.ordered_blocks():
        b = block.id
        before, after = live.live_before[b], live.live_after[b]
        for i, op in enumerate(block.ops):
            dying = (before[i] | set(straight_defs(op))) - after[i]
            freed = _slots(dying, slot) - _slots(after[i], slot)
            if freed:
                release_after[(b, i)] = sorted(freed)
        n = len(block.ops)
        term = block.terminator
        for s in normal_successors(block):
            arriving[s] |= _slots(before[n] | set(edge_may_defs(term, s)), slot)
        if block.handler is not None:
            h = block.handler
            held: set[int] = _slots(exc_edge_defs(h), slot)
            for i, op in enumerate(block_points(block)):
                if may_raise(op):
                    held |= _slots(before[i], slot)
            arriving[h.target] |= held
    release_on_entry: dict[int, list[int]] = {}
    for b, held in arriving.items():
        freed = held - _slots(live.live_in[b], slot)
        if freed:
            release_on_entry[b] = sorted(freed)
    return release_after, release_on_entry


# --------------------------------------------------------------------------------------------
# Entry points


def allocate(fn: IRFunction, live: Optional[Liveness] = None) -> Allocation:
    """Allocate slots for the stack/tmp registers of `fn` and compute release points.
    `fn` is not modified. The result is checked (`check_allocation`) before it is returned."""
    if live is None:
        live = liveness(fn)
    graph = interference_graph(fn, live)
    slot = _colour(_colouring_order(fn, graph), graph, _move_partners(fn))
    release_after, release_on_entry = _releases(fn, live, slot)
    alloc = Allocation(
        slot=slot,
        num_slots=max(slot.values(), default=-1) + 1,
        interference={r: frozenset(ns) for r, ns in graph.items()},
        release_after=release_after,
        release_on_entry=release_on_entry,
        liveness=live,
    )
    check_allocation(fn, alloc)
    return alloc


def check_allocation(fn: IRFunction, alloc: Allocation) -> None:
    """Raise AllocationError if two interfering registers share a slot, a stack/tmp register
    has no slot, or a var/cell got one."""
    errors: list[str] = []
    for r, ns in alloc.interference.items():
        if r not in alloc.slot:
            errors.append(f"{r} has no slot")
            continue
        for n in ns:
            if alloc.slot.get(n) == alloc.slot[r] and (r.kind, r.name) < (n.kind, n.name):
                errors.append(f"{r} and {n} interfere but share r{alloc.slot[r]}")
    for r in alloc.slot:
        if not is_allocated(r):
            errors.append(f"{r} is a {r.kind} and must not get a slot")
    if errors:
        raise AllocationError(f"bad allocation for {fn.qualname}:\n" + "\n".join(errors))


def _with_slots(op: Op, alloc: Allocation) -> Op:
    """A copy of `op` whose allocated registers print as `%name:rK` (for display only)."""

    def rename(value):
        if isinstance(value, Reg):
            k = alloc.slot.get(value)
            return value if k is None else Reg(f"{value.name}:r{k}", value.kind)
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    fields = {name: rename(getattr(op, name)) for name in op.USES + op.DEFS}
    return dataclasses.replace(op, line=None, **fields)


def format_allocation(fn: IRFunction, alloc: Allocation) -> str:
    """The function with each stack/tmp register shown with its slot (`%t3:r1`), the points
    where slots are released, and a slot table."""
    lines = [f"allocation of {fn.qualname}: {alloc.num_slots} slot(s)"]
    by_slot: dict[int, list[Reg]] = {}
    for r, k in alloc.slot.items():
        by_slot.setdefault(k, []).append(r)
    for k in sorted(by_slot):
        names = ", ".join(str(r) for r in sorted(by_slot[k], key=lambda r: (r.kind, r.name)))
        lines.append(f"  r{k}: {names}")
    for block in fn.ordered_blocks():
        head = f"b{block.id}:"
        if block.handler is not None:
            h = block.handler
            head += f"  (except -> b{h.target}, exc in {_with_slot_name(h.exc_dest, alloc)}"
            if h.lasti_dest is not None:
                head += f", lasti in {_with_slot_name(h.lasti_dest, alloc)}"
            head += ")"
        lines.append(head)
        entry = alloc.release_on_entry.get(block.id)
        if entry:
            lines.append("    release on entry: " + ", ".join(f"r{k}" for k in entry))
        for i, op in enumerate(block_points(block)):
            text = format_op(_with_slots(op, alloc))
            freed = alloc.release_after.get((block.id, i))
            if freed:
                text = f"{text:<48} ; release " + ", ".join(f"r{k}" for k in freed)
            lines.append("    " + text)
    return "\n".join(lines) + "\n"


def _with_slot_name(reg: Reg, alloc: Allocation) -> str:
    k = alloc.slot.get(reg)
    return str(reg) if k is None else f"{reg}:r{k}"
