"""Checks that an IRFunction is well formed, so a bug in a producing stage is caught there.

- every block ends in a terminator, and only there;
- every successor (normal and exception) exists;
- every `tmp`/`stack` register and every unboxed register (`i64`/`f64`/`b1`) is defined on
  every path before it is used (`var` registers may be unbound at run time: CheckBound
  handles that; cells likewise);
- register kinds fit the ops: a typed op's register fields have the kinds its `KINDS` names;
  every other op reads and writes object registers only, except Move, which copies between
  two registers of one kind.
"""

from __future__ import annotations

from .ops import OBJECT_KINDS, UNBOXED_KINDS, IRFunction, Move, Op, Reg


class IRVerifyError(Exception):
    pass


def _needs_definition(reg: Reg) -> bool:
    return reg.kind in ("tmp", "stack") + UNBOXED_KINDS


def _check_kinds(bid: int, op: Op, errors: list[str]) -> None:
    name = type(op).__name__
    if isinstance(op, Move):
        if (op.dest.kind in UNBOXED_KINDS or op.src.kind in UNBOXED_KINDS) \
                and op.dest.kind != op.src.kind:
            errors.append(f"b{bid}: Move between kinds {op.src.kind} and {op.dest.kind}")
        return
    for field in op.USES + op.DEFS:
        value = getattr(op, field)
        regs = [] if value is None else [value] if isinstance(value, Reg) else list(value)
        want = op.KINDS.get(field, "obj")
        wants = (want,) if isinstance(want, str) else want
        allowed = [k for w in wants for k in (OBJECT_KINDS if w == "obj" else (w,))]
        for reg in regs:
            if reg.kind not in allowed:
                errors.append(f"b{bid}: {name}.{field} is {reg} of kind {reg.kind}, "
                              f"expected {'/'.join(allowed)}")


def verify(fn: IRFunction) -> None:
    errors: list[str] = []
    if fn.entry not in fn.blocks:
        errors.append(f"entry b{fn.entry} missing")
    for block in fn.ordered_blocks():
        if block.terminator is None or not block.terminator.IS_TERMINATOR:
            errors.append(f"b{block.id}: does not end in a terminator")
        for op in block.ops:
            if op.IS_TERMINATOR:
                errors.append(f"b{block.id}: terminator {type(op).__name__} inside the block")
            _check_kinds(block.id, op, errors)
        if block.terminator is not None:
            _check_kinds(block.id, block.terminator, errors)
        for succ in block.all_successors():
            if succ not in fn.blocks:
                errors.append(f"b{block.id}: successor b{succ} missing")
    if errors:
        raise IRVerifyError("\n".join(errors))
    _check_definitions(fn, errors)
    if errors:
        raise IRVerifyError("\n".join(errors))


def _check_definitions(fn: IRFunction, errors: list[str]) -> None:
    """Forward 'definitely defined' dataflow over tmp/stack registers."""
    preds: dict[int, list[tuple[int, bool]]] = {b: [] for b in fn.blocks}
    for block in fn.blocks.values():
        for succ in block.all_successors():
            is_exc = block.handler is not None and succ == block.handler.target and succ not in (
                _normal_succ(block))
            preds[succ].append((block.id, is_exc))

    everything = None  # top of the lattice: "all registers"
    defined_in: dict[int, object] = {b: everything for b in fn.blocks}
    defined_in[fn.entry] = frozenset(fn.args)  # (a direct body's are unboxed registers)
    out_normal: dict[int, object] = {}
    out_exc: dict[int, object] = {}

    def meet(a, b):
        if a is everything:
            return b
        if b is everything:
            return a
        return a & b

    changed = True
    while changed:
        changed = False
        for bid in sorted(fn.blocks):
            block = fn.blocks[bid]
            if bid != fn.entry:
                acc = everything
                for p, is_exc in preds[bid]:
                    acc = meet(acc, out_exc.get(p, everything) if is_exc else out_normal.get(p, everything))
                defined_in[bid] = acc
            state = defined_in[bid]
            if state is everything:
                continue
            cur = set(state)
            # At an exception edge, what is certain is what was defined before every op of the
            # block that may raise (an op that raised wrote nothing), plus the handler's own
            # registers.
            exc_out = None
            for op in list(block.ops) + [block.terminator]:
                if block.handler is not None and may_raise(op):
                    exc_out = set(cur) if exc_out is None else exc_out & cur
                cur.update(op.defs())
            if exc_out is None:
                exc_out = set(state)  # no op can raise: the edge is never taken
            if block.handler is not None:
                exc_out.add(block.handler.exc_dest)
                if block.handler.lasti_dest is not None:
                    exc_out.add(block.handler.lasti_dest)
            new_normal, new_exc = frozenset(cur), frozenset(exc_out)
            if out_normal.get(bid) != new_normal or out_exc.get(bid) != new_exc:
                out_normal[bid], out_exc[bid] = new_normal, new_exc
                changed = True

    for bid, block in fn.blocks.items():
        state = defined_in[bid]
        if state is everything:
            continue  # unreachable
        cur = set(state)
        for op in list(block.ops) + [block.terminator]:
            for reg in op.uses():
                if _needs_definition(reg) and reg not in cur:
                    errors.append(f"b{bid}: {reg} used by {type(op).__name__} before definition")
            cur.update(op.defs())


def may_raise(op: Op) -> bool:
    from ..analyses.dataflow import may_raise as _may_raise
    return _may_raise(op)


def _normal_succ(block):
    from .ops import successors
    return successors(block.terminator) if block.terminator else []
