"""Liveness of every register (all kinds: var, cell, stack, tmp) on the dataflow framework.

A register is live at a point if some path from there reads it before writing it. Paths include
exception edges: at every op that may raise, whatever the handler needs (less the registers the
exception edge itself writes) is live, and the raising op's own defs do not count as writes on
that path. A terminator's defs count on their edge only (ForIter's `dest` on the body edge).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..ir.ops import ExcEdge, IRFunction, Op, Reg
from ..ir.printer import format_op
from .dataflow import RegSetProblem, edge_defs, exc_edge_defs, solve, straight_defs


class _LiveRegisters(RegSetProblem):
    forward = False
    may = True

    def transfer(self, op: Op, fact: frozenset) -> frozenset:
        defs = straight_defs(op)
        if defs:
            fact = fact - frozenset(defs)
        return fact | frozenset(op.uses())

    def transfer_raised(self, op: Op, fact: frozenset) -> frozenset:
        return fact | frozenset(op.uses())

    def transfer_edge(self, term: Op, succ: int, fact: frozenset) -> frozenset:
        return fact - frozenset(edge_defs(term, succ))

    def transfer_exc_edge(self, edge: ExcEdge, fact: frozenset) -> frozenset:
        return fact - frozenset(exc_edge_defs(edge))


@dataclass(frozen=True)
class Liveness:
    """Live registers of one function. Index i of a block's lists is op i; index len(ops) is
    the terminator.

    - `live_before[b][i]`: live just before op i runs. At an op that may raise this includes
      `exc_live[b]`.
    - `live_after[b][i]`: live just after op i completed normally; `live_after[b][-1]` (after
      the terminator) is `live_out[b]`.
    - `live_in[b] == live_before[b][0]`.
    - `live_out[b]`: union of the normal successors' `live_in` (empty at Return/Raise/Reraise).
      For a ForIter it includes `dest` when the body needs it.
    - `exc_live[b]` (blocks with a handler): the handler's `live_in` less the registers the
      exception edge writes: what every raising op of the block keeps alive.
    """

    live_in: dict[int, frozenset[Reg]]
    live_out: dict[int, frozenset[Reg]]
    live_before: dict[int, list[frozenset[Reg]]]
    live_after: dict[int, list[frozenset[Reg]]]
    exc_live: dict[int, frozenset[Reg]]


def liveness(fn: IRFunction) -> Liveness:
    r = solve(fn, _LiveRegisters())
    return Liveness(live_in=r.block_in, live_out=r.block_out, live_before=r.before,
                    live_after=r.after, exc_live=r.exc)


def _regs(regs) -> str:
    return "{" + ", ".join(str(r) for r in sorted(regs, key=lambda r: (r.kind, r.name))) + "}"


def format_liveness(fn: IRFunction, live: Liveness) -> str:
    """Each block with its live-in set, each op followed by what is live after it, and the
    live-out set. `exc_live` is shown on the block header."""
    lines = [f"liveness of {fn.qualname}"]
    for block in fn.ordered_blocks():
        head = f"b{block.id}:"
        if block.handler is not None:
            head += f"  (except -> b{block.handler.target}, keeps {_regs(live.exc_live[block.id])})"
        lines.append(head)
        lines.append(f"    in:  {_regs(live.live_in[block.id])}")
        for i, op in enumerate(list(block.ops) + [block.terminator]):
            lines.append(f"    {format_op(dataclasses.replace(op, line=None)):<40} live: "
                         f"{_regs(live.live_after[block.id][i])}")
        lines.append(f"    out: {_regs(live.live_out[block.id])}")
    return "\n".join(lines) + "\n"
