"""Leaf inlining in a direct body: a SelfCall first runs, inline, the callee's code while
that code only computes on unboxed values (constants, comparisons, arithmetic), down to two
more levels of the callee's own calls, and makes the call only where that code gives up.

    inline_leaves(direct_body) -> None  (rewrites it in place)

Half of fib(n)'s calls are fib(1) and fib(0), C calls that test `n < 2` and return; a
quarter more are fib(2) and fib(3). Here the caller computes those itself:

    b:  ...ops of b...
        %lfB_budget.b = DirectBudget depth=0      ; the recursion budget allows the call
        TypedCondBranch %lfB_budget.b, if_true=<copy of the callee's entry>, if_false=c
    <copy>: the callee's ops, on renamed registers, its parameters being the SelfCall's
        arguments; its ReturnUnboxed becomes `dest = value` and a jump to the SelfCall's
        `ok`; its own SelfCall (up to _MAX_DEPTH levels), a DirectBudget test of the deeper
        budget and a copy of the callee again, whose returns continue the copy after that
        call; anything else (an op with effects or that can raise, an int64 overflow, a
        guard, too many ops) jumps to c
    c:  dest = SelfCall ... (the original terminator of b)

The copied ops have no effects and cannot raise (an overflow is a branch), so where the copy
gives up, the real call runs from the start without anything having happened twice, and
every result the copy computes is the one the callee's typed code would have computed: it
runs exactly these ops. The budget tests keep CPython's RecursionError at the same depth:
CPython raises it entering a callee at the limit, a leaf too. fib(30): 4.5 -> 1.6 ms
(Cython), 6.0 -> 2.0 ms (llvm); with one level fewer 2.6 and 2.8 ms.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from .ir import ops as ir

_MAX_OPS = 50  # per call site: bounds the code it adds (fib takes 48 for its three levels)
_MAX_DEPTH = 3  # the callee, its calls and theirs: fib(3) = (fib(1) + fib(0)) + fib(1) inline


def inline_leaves(fn: ir.IRFunction) -> None:
    """Give each SelfCall of the direct body `fn` an inline copy of the callee's leaf code
    (module docstring), when that code can return."""
    spec = fn.specialization
    sites = sorted(b for b, block in fn.blocks.items()
                   if isinstance(block.terminator, ir.SelfCall) and block.terminator.func is None
                   and b in spec.fast_blocks)
    next_id = max(fn.blocks) + 1
    plans = []
    for site in sites:  # all copies are made from the callee as it was
        plan = _leaf_copy(fn, site, next_id)
        if plan is not None:
            plans.append(plan)
            next_id = max(plan[2]) + 1
    for site, call_block, blocks, start in plans:
        block = fn.blocks[site]
        call: ir.SelfCall = block.terminator
        budget = ir.Reg(f"lf{site}_budget.b", "b1")
        blocks[call_block] = ir.Block(call_block, [], call, block.handler)
        block.ops.append(ir.DirectBudget(budget, 0, line=call.line))
        block.terminator = ir.TypedCondBranch(budget, start, call_block, line=call.line)
        fn.blocks.update(blocks)
        for b in blocks:
            spec.fast_blocks[b] = spec.fast_blocks[site]


def _leaf_copy(fn: ir.IRFunction, site: int, next_id: int):
    """(site, the id for the SelfCall's own block, the copy's blocks, its first block), or
    None when the callee's code reaches no return before it would give up."""
    call: ir.SelfCall = fn.blocks[site].terminator
    call_block = next_id
    copy = inline_copy(fn, call.args, call.dest, call.ok, call_block, f"lf{site}_",
                       itertools.count(next_id + 1).__next__, call.line, _MAX_DEPTH)
    if copy is None:
        return None
    start, new_blocks = copy
    return site, call_block, new_blocks, start


def inline_copy(callee: ir.IRFunction, args: list, dest: ir.Reg, ok: int, give_up: int,
                prefix: str, new_id, line, max_depth: int = 1):
    """(first block, blocks) of an inline copy of the typed code of `callee`, a direct body,
    called with the unboxed registers `args`: its returns set `dest` and jump to `ok`, and
    where it would do anything but compute on unboxed values (see _copyable) it jumps to
    `give_up`, which makes the real call. Its own SelfCalls are copied too, down to
    `max_depth` levels in all. `new_id()` gives block ids; registers are renamed with
    `prefix`. None when the copy reaches no return before giving up."""
    frames = itertools.count()
    new_blocks: dict[int, ir.Block] = {}
    written = {r for block in callee.blocks.values()
               for op in [*block.ops, block.terminator] for r in op.defs()}
    count = 0
    returns = 0

    def frame(args: list):
        """The renaming of one inline instance of the callee, and the moves that pass it
        `args`: a parameter it never writes is the argument's register itself; one it writes
        gets its own (the caller's register may hold its own variable, or be the argument of
        the real call when the copy gives up)."""
        frame_prefix = f"{prefix}{next(frames)}_"
        regs = {p: a for p, a in zip(callee.args, args) if p not in written}
        moves = []

        def rename(reg: ir.Reg) -> ir.Reg:
            if reg not in regs:
                regs[reg] = ir.Reg(frame_prefix + reg.name, reg.kind)
            return regs[reg]
        for p, a in zip(callee.args, args):
            if p in written:
                moves.append(ir.Move(rename(p), a, line=line))
        return rename, moves

    def enter(args: list, depth: int, ret) -> int:
        """The copy of the callee's entry called with `args` (give_up: it gives up)."""
        rename, moves = frame(args)
        start = copy(callee.entry, rename, depth, ret)
        if start != give_up:
            new_blocks[start].ops[:0] = moves
        return start

    def copy(b: int, rename, depth: int, ret) -> int:
        """The id of the copy of callee block b (give_up where the copy gives up) in the
        frame `rename`, `depth` calls below the copied call; ret(value) is what its returns
        become: (ops, terminator), or None to give up."""
        nonlocal count
        src = callee.blocks[b]
        if src.handler is not None:
            return give_up
        new_ops = []
        for op in src.ops:
            count += 1
            if not _copyable(op) or count > _MAX_OPS:
                return give_up
            new_ops.append(_renamed(op, rename, line))
        term = src.terminator
        if isinstance(term, ir.ReturnUnboxed) and term.value.kind == dest.kind:
            done = ret(rename(term.value))
            if done is None:
                return give_up
            new_ops += done[0]
            new_term: ir.Op = done[1]
        elif isinstance(term, ir.Jump):
            target = copy(term.target, rename, depth, ret)
            if target == give_up:
                return give_up
            new_term = ir.Jump(target, line=line)
        elif isinstance(term, ir.TypedCondBranch):
            if_true = copy(term.if_true, rename, depth, ret)
            if_false = copy(term.if_false, rename, depth, ret)
            if if_true == if_false == give_up:
                return give_up
            new_term = ir.TypedCondBranch(rename(term.cond), if_true, if_false, line=line)
        elif _checked(term):
            # An int64 overflow, a zero divisor, a math domain error...: the real call runs
            # the callee's own code, which deopts there as it would.
            count += 1
            next_ok = copy(term.ok, rename, depth, ret) if count <= _MAX_OPS else give_up
            if next_ok == give_up:
                return give_up
            new_term = replace(_renamed(term, rename, line), ok=next_ok, deopt=give_up)
        elif isinstance(term, ir.SelfCall) and term.func is None and depth + 1 < max_depth:
            # The callee's own call, inline too when its budget allows it (one more level).
            inner_dest = rename(term.dest)

            def inner_ret(value: ir.Reg):
                after = copy(term.ok, rename, depth, ret)
                if after == give_up:
                    return None
                return [ir.Move(inner_dest, value, line=line)], ir.Jump(after, line=line)
            start = enter([rename(a) for a in term.args], depth + 1, inner_ret)
            if start == give_up:
                return give_up
            budget = rename(ir.Reg(f"budget{depth + 1}.b", "b1"))
            new_ops.append(ir.DirectBudget(budget, depth + 1, line=line))
            new_term = ir.TypedCondBranch(budget, start, give_up, line=line)
        else:
            return give_up
        block_id = new_id()
        new_blocks[block_id] = ir.Block(block_id, new_ops, new_term)
        return block_id

    def top_ret(value: ir.Reg):
        nonlocal returns
        returns += 1
        return [ir.Move(dest, value, line=line)], ir.Jump(ok, line=line)

    start = enter(args, 0, top_ret)
    if not returns or start == give_up:
        return None
    return start, new_blocks


def _checked(term: ir.Op) -> bool:
    """Whether `term` is a typed op that computes on unboxed values and goes to `deopt`
    instead of raising (IntArith, FloatDivide, MathFunc...)."""
    return (isinstance(term, ir.TYPED_OPS) and not isinstance(term, ir.SelfCall)
            and hasattr(term, "ok") and hasattr(term, "deopt") and not term.CAN_RAISE
            and all(r.kind in ir.UNBOXED_KINDS for r in term.uses() + term.defs()))


def _copyable(op: ir.Op) -> bool:
    """Whether the copy may contain `op`: a typed op (or a move) that computes unboxed values
    from unboxed values and cannot raise. (DirectBudget means the depth of the frame it is
    in, so it is not copied.)"""
    return (isinstance(op, (ir.Move, *ir.TYPED_OPS)) and not op.CAN_RAISE
            and not op.IS_TERMINATOR and not isinstance(op, ir.DirectBudget)
            and all(r.kind in ir.UNBOXED_KINDS for r in op.uses() + op.defs()))


def _renamed(op: ir.Op, rename, line) -> ir.Op:
    """A copy of `op` on renamed registers, at the caller's line."""
    changes = {}
    for name in (*op.USES, *op.DEFS):
        value = getattr(op, name)
        if isinstance(value, ir.Reg):
            changes[name] = rename(value)
        elif isinstance(value, list):
            changes[name] = [rename(r) if isinstance(r, ir.Reg) else r for r in value]
    return replace(op, line=line, **changes)
