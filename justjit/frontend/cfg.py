"""Basic blocks over the neutral instruction stream, with normal and exception edges.

A block starts at the first instruction, at every jump target, at every handler entry, after
every instruction that does not simply fall through (jumps, branches, returns, raises) or that
`ends_block` (PUSH_EXC_INFO), and wherever the covering exception-table entry changes. So each
block has at most one handler: `BasicBlock.handler` (target block, stack depth, lasti flag).

Blocks that cannot be reached from the entry (through normal or exception edges) are dropped;
the rest are numbered 0, 1, ... in code order, the entry being 0.

The stack depth at the entry of every block is computed here from the opcode table (and
checked: every path must agree, and no instruction may pop below an enclosing handler's depth).
Dominators, back edges and natural loops are small utilities on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from . import refusals
from .decode import BRANCH, JUMP, NEXT, STOP, Instr, decode


@dataclass(frozen=True)
class BlockHandler:
    """Where exceptions raised in a block go: block `target`, after popping the stack to
    `depth`, pushing the raising offset if `lasti`, then the exception."""
    target: int
    depth: int
    lasti: bool

    @property
    def entry_depth(self) -> int:
        """Stack depth at the handler's entry."""
        return self.depth + int(self.lasti) + 1


@dataclass
class BasicBlock:
    id: int
    instrs: list[Instr]
    handler: Optional[BlockHandler] = None
    next: Optional[int] = None   # fall-through successor, if control can fall through
    jump: Optional[int] = None   # jump/branch target of the last instruction
    depth: int = 0               # stack depth at entry

    @property
    def offset(self) -> int:
        return self.instrs[0].offset

    @property
    def last(self) -> Instr:
        return self.instrs[-1]

    def normal_succs(self) -> list[int]:
        out = []
        for s in (self.next, self.jump):
            if s is not None and s not in out:
                out.append(s)
        return out

    def succs(self) -> list[int]:
        out = self.normal_succs()
        if self.handler is not None and self.handler.target not in out:
            out.append(self.handler.target)
        return out


@dataclass
class CFG:
    code: Any
    blocks: list[BasicBlock]
    entry: int = 0
    _preds: Optional[dict[int, list[int]]] = field(default=None, repr=False)

    def preds(self) -> dict[int, list[int]]:
        """Predecessors of every block over normal and exception edges."""
        if self._preds is None:
            preds: dict[int, list[int]] = {b.id: [] for b in self.blocks}
            for b in self.blocks:
                for s in b.succs():
                    preds[s].append(b.id)
            self._preds = preds
        return self._preds

    def reverse_postorder(self) -> list[int]:
        seen: set[int] = set()
        order: list[int] = []
        stack = [(self.entry, iter(self.blocks[self.entry].succs()))]
        seen.add(self.entry)
        while stack:
            node, it = stack[-1]
            for s in it:
                if s not in seen:
                    seen.add(s)
                    stack.append((s, iter(self.blocks[s].succs())))
                    break
            else:
                stack.pop()
                order.append(node)
        return order[::-1]

    def dominators(self) -> dict[int, set[int]]:
        """dom[b] = the blocks that dominate b (b included), over all edges."""
        rpo = self.reverse_postorder()
        preds = self.preds()
        everything = set(rpo)
        dom = {b: set(everything) for b in rpo}
        dom[self.entry] = {self.entry}
        changed = True
        while changed:
            changed = False
            for b in rpo:
                if b == self.entry:
                    continue
                ps = [dom[p] for p in preds[b] if p in dom]
                new = set.intersection(*ps) if ps else set()
                new.add(b)
                if new != dom[b]:
                    dom[b] = new
                    changed = True
        return dom

    def back_edges(self) -> list[tuple[int, int]]:
        """Edges (tail, head) whose head dominates their tail."""
        dom = self.dominators()
        return [(b.id, s) for b in self.blocks for s in b.succs() if s in dom.get(b.id, ())]

    def loops(self) -> dict[int, set[int]]:
        """Natural loops: header -> the blocks of the loop (header included)."""
        preds = self.preds()
        loops: dict[int, set[int]] = {}
        for tail, head in self.back_edges():
            body = loops.setdefault(head, {head})
            work = [tail]
            while work:
                n = work.pop()
                if n not in body:
                    body.add(n)
                    work.extend(preds[n])
        return loops


# --------------------------------------------------------------------------------------------
# Construction


def build_cfg(code, instrs: Optional[list[Instr]] = None) -> CFG:
    """The CFG of a code object (decoding it unless `instrs` is given)."""
    if instrs is None:
        instrs = decode(code)
    first_at: dict[int, int] = {}
    for idx, ins in enumerate(instrs):
        first_at.setdefault(ins.offset, idx)

    leaders = {0}
    for idx, ins in enumerate(instrs):
        if ins.target is not None:
            leaders.add(first_at[ins.target])
        if ins.handler is not None:
            leaders.add(first_at[ins.handler.target])
        if ins.info.flow != NEXT or ins.info.ends_block:
            leaders.add(idx + 1)
        if idx > 0 and ins.handler != instrs[idx - 1].handler:
            leaders.add(idx)
    starts = sorted(i for i in leaders if i < len(instrs))
    spans = list(zip(starts, starts[1:] + [len(instrs)]))
    block_of = {start: n for n, (start, _) in enumerate(spans)}  # instr index -> raw block

    # Raw successors (raw block numbers).
    raw_next: list[Optional[int]] = []
    raw_jump: list[Optional[int]] = []
    raw_handler: list[Optional[tuple]] = []
    for n, (start, end) in enumerate(spans):
        last = instrs[end - 1]
        flow = last.info.flow
        nxt = jmp = None
        if flow in (NEXT, BRANCH):
            if end >= len(instrs):
                raise refusals.refuse("control falls off the end of the code",
                                      "unusual bytecode", code, last.line)
            nxt = n + 1
        if flow in (JUMP, BRANCH):
            jmp = block_of[first_at[last.target]]
        raw_next.append(nxt)
        raw_jump.append(jmp)
        h = instrs[start].handler
        raw_handler.append(None if h is None else
                           (block_of[first_at[h.target]], h.depth, h.lasti))

    # Keep the blocks reachable from the entry; number them in code order.
    reach = {0}
    work = [0]
    while work:
        n = work.pop()
        for s in (raw_next[n], raw_jump[n], raw_handler[n] and raw_handler[n][0]):
            if s is not None and s not in reach:
                reach.add(s)
                work.append(s)
    kept = sorted(reach)
    new_id = {old: new for new, old in enumerate(kept)}
    blocks = []
    for old in kept:
        start, end = spans[old]
        h = raw_handler[old]
        blocks.append(BasicBlock(
            id=new_id[old],
            instrs=instrs[start:end],
            handler=None if h is None else BlockHandler(new_id[h[0]], h[1], h[2]),
            next=None if raw_next[old] is None else new_id[raw_next[old]],
            jump=None if raw_jump[old] is None else new_id[raw_jump[old]],
        ))
    cfg = CFG(code, blocks)
    _compute_depths(cfg)
    return cfg


def _compute_depths(cfg: CFG) -> None:
    """Set BasicBlock.depth from the opcode table, checking that all paths agree."""
    code = cfg.code
    depth: dict[int, int] = {cfg.entry: 0}
    work = [cfg.entry]

    def reach(block: int, d: int, line) -> None:
        if block not in depth:
            depth[block] = d
            work.append(block)
        elif depth[block] != d:
            raise refusals.refuse(f"stack depth {d} on one path into block b{block} and "
                                  f"{depth[block]} on another", "unusual bytecode", code, line)

    while work:
        b = cfg.blocks[work.pop()]
        d = depth[b.id]
        h = b.handler
        if h is not None:
            reach(h.target, h.entry_depth, b.instrs[0].line)
        before = d
        for ins in b.instrs:
            before = d
            if d < ins.pops:
                raise refusals.refuse(f"{ins.opname} pops from an empty stack",
                                      "unusual bytecode", code, ins.line)
            d += ins.stack_effect()
            if h is not None and d < h.depth and ins.info.flow != STOP:
                raise refusals.refuse(f"{ins.opname} pops below the stack depth {h.depth} "
                                      "that its handler keeps", "unusual bytecode", code,
                                      ins.line)
        if b.next is not None:
            reach(b.next, d, b.last.line)
        if b.jump is not None:
            reach(b.jump, before + b.last.stack_effect(jump=True), b.last.line)
    for b in cfg.blocks:
        b.depth = depth[b.id]


# --------------------------------------------------------------------------------------------
# Printing


def format_cfg(cfg: CFG) -> str:
    """Readable text of a CFG: each block with its instructions, depth, handler, successors."""
    code = cfg.code
    block_at = {b.offset: b.id for b in cfg.blocks}
    lines = [f"cfg {code.co_qualname}  ; {code.co_filename}:{code.co_firstlineno}"]
    for b in cfg.blocks:
        head = f"b{b.id}:  depth {b.depth}"
        if b.handler is not None:
            h = b.handler
            head += f"  (except -> b{h.target}, depth {h.depth}"
            head += ", lasti)" if h.lasti else ")"
        lines.append(head)
        for ins in b.instrs:
            text = str(ins)
            if ins.target is not None:
                text = f"{ins.opname} -> b{block_at[ins.target]}"
            lines.append(f"    {ins.offset:>4}  {text:<40} ; line {ins.line}")
        succ = []
        if b.next is not None:
            succ.append(f"next b{b.next}")
        if b.jump is not None:
            succ.append(f"jump b{b.jump}")
        lines.append("    -> " + (", ".join(succ) if succ else "(leaves)"))
    back = cfg.back_edges()
    if back:
        lines.append("back edges: " + ", ".join(f"b{t} -> b{h}" for t, h in back))
    return "\n".join(lines) + "\n"
