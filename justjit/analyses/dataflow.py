"""One generic dataflow framework over the register IR, serving liveness and the other analyses.

A problem says which way facts flow (`forward`), how two facts meet at a join point (`join`),
and how each op, each normal edge and each exception edge changes a fact. `solve(fn, problem)`
runs a worklist to the fixpoint and returns the fact before and after every op of every block.
Nothing here mutates the IR.

Three things about this IR shape every problem, so they are decided here, once:

* **Exception edges leave from the middle of a block.** A block's `handler` is taken from any op
  that may raise (`may_raise`), terminator included. The op that raised did not complete: its
  uses were read, its defs did not happen. So a raising op has two outcomes, and the framework
  asks the problem for both: `transfer(op, fact)` (completed normally) and
  `transfer_raised(op, fact)` (raised). Forward, the fact leaving on the exception edge is the
  join, over the block's raising ops, of `transfer_raised(op, fact before op)`. Backward, the
  fact before a raising op is `transfer(op, after) JOIN transfer_raised(op, fact at the edge)`:
  for liveness, whatever the handler needs is live at every op that may raise.
* **The exception edge defines registers of its own:** `exc_dest` and `lasti_dest` are written
  on the way into the handler (`exc_edge_defs`). `transfer_exc_edge` applies that.
* **A terminator's defs happen on its edges.** `ForIter` sets `dest` only on the way to its
  body; on exhaustion `dest` is untouched (`edge_defs`). So `transfer(terminator, fact)` sees
  the terminator's uses only (`straight_defs(terminator)` is empty) and `transfer_edge` sees its
  defs.

Results are in program order whatever the direction: `before[b][i]` is the fact just before op
`i` of block `b` runs, `after[b][i]` the fact just after it completed normally; index
`len(block.ops)` is the terminator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, Iterable, Optional, TypeVar

from ..ir.ops import (Block, ClearLocal, CondBranch, DeleteLocal, ExcEdge, IRFunction, Op,
                      Reg, successors)

S = TypeVar("S")


# --------------------------------------------------------------------------------------------
# Facts about ops and edges that every analysis shares


def may_raise(op: Op) -> bool:
    """Whether `op` may transfer control to its block's exception handler."""
    if isinstance(op, CondBranch) and op.test == "none":
        return False  # `cond is None` cannot raise; only the "truth" test calls __bool__
    return op.CAN_RAISE


def straight_defs(op: Op) -> list[Reg]:
    """Registers written when `op` completes normally, before any edge is chosen."""
    return [] if op.IS_TERMINATOR else op.defs()


def edge_defs(term: Op, succ: int) -> list[Reg]:
    """Registers a terminator writes on its normal edge to block `succ`."""
    if term.DEFS_EDGE is not None:
        # The defs happen on the way to one target only (ForIter's body, a typed op's `ok`).
        # If that block is also another target, the edge is ambiguous; no def is the
        # conservative answer for every analysis here.
        target = getattr(term, term.DEFS_EDGE)
        others = [getattr(term, f) for f in term.TARGETS if f != term.DEFS_EDGE]
        return term.defs() if succ == target and target not in others else []
    return term.defs()


def edge_may_defs(term: Op, succ: int) -> list[Reg]:
    """Registers a terminator may write on its normal edge to `succ`: `edge_defs`, except that
    when a ForIter's body and exit are one block (or a typed op's ok and deopt), `dest` may be
    written on that edge. Register
    allocation needs this over-approximation (a def that may happen must not clobber a live
    value); liveness and definedness need `edge_defs` (a def that may not happen kills nothing).
    """
    if term.DEFS_EDGE is not None:
        return term.defs() if succ == getattr(term, term.DEFS_EDGE) else []
    return term.defs()


def exc_edge_defs(edge: ExcEdge) -> list[Reg]:
    """Registers written when control enters a handler through `edge`."""
    return [edge.exc_dest] + ([edge.lasti_dest] if edge.lasti_dest is not None else [])


def block_points(block: Block) -> list[Op]:
    """The block's ops then its terminator: index i is op i, index len(ops) the terminator."""
    return list(block.ops) + [block.terminator]


def use_counts(block: Block) -> dict:
    """How many times each register is read by the block's ops and terminator. (Fusions ask
    this per block: specialized code has two copies of every register.)"""
    counts: dict = {}
    for op in block_points(block):
        for r in op.uses():
            counts[r] = counts.get(r, 0) + 1
    return counts


def normal_successors(block: Block) -> list[int]:
    """Distinct normal successors, in the terminator's order."""
    out: list[int] = []
    for s in successors(block.terminator):
        if s not in out:
            out.append(s)
    return out


@dataclass(frozen=True)
class Predecessors:
    normal: dict[int, list[int]]  # block -> blocks whose terminator jumps to it
    exc: dict[int, list[int]]     # block -> blocks whose exception handler it is


def predecessors(fn: IRFunction) -> Predecessors:
    normal: dict[int, list[int]] = {b: [] for b in fn.blocks}
    exc: dict[int, list[int]] = {b: [] for b in fn.blocks}
    for block in fn.ordered_blocks():
        for s in normal_successors(block):
            normal[s].append(block.id)
        if block.handler is not None:
            exc[block.handler.target].append(block.id)
    return Predecessors(normal, exc)


def raises_to_handler(block: Block) -> bool:
    """Whether the block's exception edge can be taken: it has one and some op may raise."""
    return block.handler is not None and any(may_raise(op) for op in block_points(block))


def reachable(fn: IRFunction) -> set[int]:
    """Blocks reachable from the entry through normal edges and exception edges that can be
    taken (`raises_to_handler`)."""
    seen = {fn.entry}
    stack = [fn.entry]
    while stack:
        block = fn.blocks[stack.pop()]
        succs = normal_successors(block)
        if raises_to_handler(block):
            succs.append(block.handler.target)
        for s in succs:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


def reverse_postorder(fn: IRFunction) -> list[int]:
    """Blocks reachable from the entry (normal and exception edges) in reverse postorder, then
    the unreachable ones in id order."""
    seen: set[int] = set()
    post: list[int] = []
    stack: list[tuple[int, Iterable[int]]] = []

    def push(b: int) -> None:
        seen.add(b)
        stack.append((b, iter(fn.blocks[b].all_successors())))

    push(fn.entry)
    while stack:
        b, it = stack[-1]
        for s in it:
            if s not in seen:
                push(s)
                break
        else:
            stack.pop()
            post.append(b)
    order = post[::-1]
    return order + [b for b in sorted(fn.blocks) if b not in seen]


# --------------------------------------------------------------------------------------------
# Problems


class Problem(Generic[S]):
    """A dataflow problem. Subclass and override; facts must be immutable and comparable."""

    forward: bool = True

    def boundary(self, fn: IRFunction) -> S:
        """The fact at the entry (forward) or after the exits (backward)."""
        raise NotImplementedError

    def initial(self, fn: IRFunction) -> S:
        """The optimistic starting fact for every block: the identity of `join`."""
        raise NotImplementedError

    def join(self, a: S, b: S) -> S:
        raise NotImplementedError

    def transfer(self, op: Op, fact: S) -> S:
        """`op` completed normally. For a terminator: its uses only (defs are edge effects)."""
        raise NotImplementedError

    def transfer_raised(self, op: Op, fact: S) -> S:
        """`op` raised: it read its uses, its defs did not happen."""
        raise NotImplementedError

    def transfer_edge(self, term: Op, succ: int, fact: S) -> S:
        """The normal edge from `term` to block `succ` (see `edge_defs`)."""
        return fact

    def transfer_exc_edge(self, edge: ExcEdge, fact: S) -> S:
        """Entering the handler through `edge` (see `exc_edge_defs`)."""
        return fact


class RegSetProblem(Problem[frozenset]):
    """A problem whose facts are sets of registers: `may` problems join by union and start
    empty; `must` problems join by intersection and start from the set of every register of
    the function. Subclasses say what each op, edge and exception edge adds and removes."""

    may: bool = True

    def boundary(self, fn: IRFunction) -> frozenset:
        return frozenset()

    def initial(self, fn: IRFunction) -> frozenset:
        return frozenset() if self.may else all_registers(fn)

    def join(self, a: frozenset, b: frozenset) -> frozenset:
        return a | b if self.may else a & b


def all_registers(fn: IRFunction) -> frozenset:
    regs: set[Reg] = set(fn.args)
    for block in fn.blocks.values():
        for op in block_points(block):
            regs.update(op.uses())
            regs.update(op.defs())
        if block.handler is not None:
            regs.update(exc_edge_defs(block.handler))
    return frozenset(regs)


# --------------------------------------------------------------------------------------------
# Solver


@dataclass(frozen=True)
class DataflowResult(Generic[S]):
    """Facts in program order. `before[b][i]` / `after[b][i]` for i in 0..len(ops) (the last
    index is the terminator). `block_in[b] == before[b][0]`.

    `block_out[b]`: forward, the fact after the terminator before any edge's own effect;
    backward, the join of the normal successors' `block_in` (the boundary at an exit).
    `after[b][len(ops)] == block_out[b]`.

    `exc[b]` (blocks with a handler only): forward, the fact leaving on the exception edge
    before `transfer_exc_edge` (absent when no op of the block may raise); backward, the
    handler's `block_in` through `transfer_exc_edge`: the fact every raising op must respect.

    Forward, a block unreachable from the entry has the initial fact at every point and no
    `exc` entry. Backward, every block is solved (liveness does not care about reachability).
    """

    before: dict[int, list[S]]
    after: dict[int, list[S]]
    block_in: dict[int, S]
    block_out: dict[int, S]
    exc: dict[int, S]


def solve(fn: IRFunction, problem: Problem[S]) -> DataflowResult[S]:
    """Run `problem` over `fn` to its fixpoint."""
    if problem.forward:
        return _solve_forward(fn, problem)
    return _solve_backward(fn, problem)


def _join_all(problem: Problem[S], facts: Iterable[S]) -> Optional[S]:
    acc: Optional[S] = None
    for f in facts:
        acc = f if acc is None else problem.join(acc, f)
    return acc


def _solve_forward(fn: IRFunction, problem: Problem[S]) -> DataflowResult[S]:
    # Facts flow from the entry only: an unreachable block keeps the initial fact and
    # contributes nothing to its successors (so the fixpoint is the meet over paths from the
    # entry, even for may-problems).
    live = reachable(fn)
    preds = predecessors(fn)
    order = reverse_postorder(fn)
    init = problem.initial(fn)
    boundary = problem.boundary(fn)
    out: dict[int, S] = {b: init for b in fn.blocks}
    exc_out: dict[int, Optional[S]] = {b: None for b in fn.blocks}

    def entry_fact(b: int) -> S:
        if b not in live:
            return init
        facts: list[S] = [boundary] if b == fn.entry else []
        for p in preds.normal[b]:
            if p in live:
                facts.append(problem.transfer_edge(fn.blocks[p].terminator, b, out[p]))
        for p in preds.exc[b]:
            if p in live and exc_out[p] is not None:
                facts.append(problem.transfer_exc_edge(fn.blocks[p].handler, exc_out[p]))
        acc = _join_all(problem, facts)
        return init if acc is None else acc

    def run_block(b: int, fact: S, before: Optional[list[S]] = None,
                  after: Optional[list[S]] = None) -> tuple[S, Optional[S]]:
        block = fn.blocks[b]
        raised: list[S] = []
        for op in block_points(block):
            if before is not None:
                before.append(fact)
            if block.handler is not None and may_raise(op):
                raised.append(problem.transfer_raised(op, fact))
            fact = problem.transfer(op, fact)
            if after is not None:
                after.append(fact)
        return fact, _join_all(problem, raised)

    work = deque(b for b in order if b in live)
    queued = set(work)
    while work:
        b = work.popleft()
        queued.discard(b)
        new_out, new_exc = run_block(b, entry_fact(b))
        if new_out != out[b] or new_exc != exc_out[b]:
            out[b], exc_out[b] = new_out, new_exc
            for s in fn.blocks[b].all_successors():
                if s in live and s not in queued:
                    queued.add(s)
                    work.append(s)

    before: dict[int, list[S]] = {}
    after: dict[int, list[S]] = {}
    block_in: dict[int, S] = {}
    exc: dict[int, S] = {}
    block_out: dict[int, S] = {}
    for b in fn.blocks:
        before[b], after[b] = [], []
        block_in[b] = entry_fact(b)
        if b in live:
            block_out[b], e = run_block(b, block_in[b], before[b], after[b])
            if e is not None:
                exc[b] = e
        else:
            n = len(fn.blocks[b].ops) + 1
            before[b], after[b], block_out[b] = [init] * n, [init] * n, init
    return DataflowResult(before, after, block_in, block_out, exc)


def _solve_backward(fn: IRFunction, problem: Problem[S]) -> DataflowResult[S]:
    preds = predecessors(fn)
    order = reverse_postorder(fn)[::-1]
    init = problem.initial(fn)
    boundary = problem.boundary(fn)
    into: dict[int, S] = {b: init for b in fn.blocks}

    def exit_facts(b: int) -> tuple[S, S, Optional[S]]:
        """(raw join of successors' facts, the same through the edges, exception-edge fact)"""
        block = fn.blocks[b]
        succs = normal_successors(block)
        if succs:
            raw = _join_all(problem, (into[s] for s in succs))
            edged = _join_all(problem, (problem.transfer_edge(block.terminator, s, into[s])
                                        for s in succs))
        else:
            raw = edged = boundary
        exc = None
        if block.handler is not None:
            exc = problem.transfer_exc_edge(block.handler, into[block.handler.target])
        return raw, edged, exc

    def run_block(b: int, before: Optional[list[S]] = None,
                  after: Optional[list[S]] = None) -> S:
        block = fn.blocks[b]
        raw, fact, exc = exit_facts(b)
        points = block_points(block)
        for i in range(len(points) - 1, -1, -1):
            op = points[i]
            if after is not None:
                after.append(raw if i == len(points) - 1 else fact)
            new = problem.transfer(op, fact)
            if exc is not None and may_raise(op):
                new = problem.join(new, problem.transfer_raised(op, exc))
            fact = new
            if before is not None:
                before.append(fact)
        return fact

    work = deque(order)
    queued = set(order)
    while work:
        b = work.popleft()
        queued.discard(b)
        new_in = run_block(b)
        if new_in != into[b]:
            into[b] = new_in
            for p in preds.normal[b] + preds.exc[b]:
                if p not in queued:
                    queued.add(p)
                    work.append(p)

    before: dict[int, list[S]] = {}
    after: dict[int, list[S]] = {}
    block_out: dict[int, S] = {}
    exc: dict[int, S] = {}
    for b in fn.blocks:
        bl: list[S] = []
        al: list[S] = []
        run_block(b, bl, al)
        before[b], after[b] = bl[::-1], al[::-1]
        raw, _, e = exit_facts(b)
        block_out[b] = raw
        if e is not None:
            exc[b] = e
    return DataflowResult(before, after, dict(into), block_out, exc)


# --------------------------------------------------------------------------------------------
# A forward must-problem on the same framework: which registers definitely hold a value


class DefinedRegisters(RegSetProblem):
    """Forward, must: the registers that hold a value on every path to a point. A `var` starts
    unbound (arguments excepted), `DeleteLocal` (or `ClearLocal`) unbinds it; an op that raised
    wrote nothing.
    The emitter can drop a `CheckBound` whose var is in the fact before it."""

    forward = True
    may = False

    def __init__(self, fn: IRFunction):
        self.args = frozenset(fn.args)

    def boundary(self, fn: IRFunction) -> frozenset:
        return self.args

    def transfer(self, op: Op, fact: frozenset) -> frozenset:
        defs = straight_defs(op)
        if not defs:
            return fact
        if isinstance(op, (DeleteLocal, ClearLocal)):
            return fact - frozenset(defs)
        return fact | frozenset(defs)

    def transfer_raised(self, op: Op, fact: frozenset) -> frozenset:
        return fact

    def transfer_edge(self, term: Op, succ: int, fact: frozenset) -> frozenset:
        return fact | frozenset(edge_defs(term, succ))

    def transfer_exc_edge(self, edge: ExcEdge, fact: frozenset) -> frozenset:
        return fact | frozenset(exc_edge_defs(edge))


def defined_registers(fn: IRFunction) -> DataflowResult[frozenset]:
    return solve(fn, DefinedRegisters(fn))


def loop_heads(fn: IRFunction) -> set[int]:
    """Targets of retreating normal edges (in reverse postorder): where ceval's backward jump
    would check its eval breaker, so compiled code checks it there too (and may raise there).
    Both backends and specialize use this one definition."""
    order = {b: i for i, b in enumerate(reverse_postorder(fn))}
    heads = set()
    for block in fn.blocks.values():
        if block.id not in order:
            continue
        for succ in normal_successors(block):
            if succ in order and order[succ] <= order[block.id]:
                heads.add(succ)
    return heads
