"""Checks that an IRFunction is well formed, so a bug in a producing stage is caught there.

- every block ends in a terminator, and only there;
- every successor (normal and exception) exists;
- every `tmp`/`stack` register is defined on every path before it is used
  (`var` registers may be unbound at run time: CheckBound handles that; cells likewise).
"""

from __future__ import annotations

from .ops import IRFunction, Reg


class IRVerifyError(Exception):
    pass


def _needs_definition(reg: Reg) -> bool:
    return reg.kind in ("tmp", "stack")


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
    defined_in[fn.entry] = frozenset()
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
            # At an exception edge, only what was defined at block entry is certain, plus the
            # handler's own registers.
            exc_out = set(cur)
            if block.handler is not None:
                exc_out.add(block.handler.exc_dest)
                if block.handler.lasti_dest is not None:
                    exc_out.add(block.handler.lasti_dest)
            for op in block.ops:
                cur.update(op.defs())
            term = block.terminator
            cur.update(term.defs())
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


def _normal_succ(block):
    from .ops import successors
    return successors(block.terminator) if block.terminator else []
