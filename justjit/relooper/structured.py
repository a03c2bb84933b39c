"""Render a shape tree as a small structured program that a code generator walks.

The program is a tree of tiny statement nodes:

    Seq(stmts)                 the whole function
    BlockCode(block)           emit the block's body (everything but its terminator)
    Dispatch(block, arms)      right after BlockCode(block): the terminator picks a successor t
                               and runs arms[t], the statements that carry control to t (an
                               empty list falls through to what follows the Dispatch). Every
                               successor has an arm, in the order of the CFG's successor list.
                               No arms: the block has no successors, the function ends here.
    Loop(loop_id, body)        `while True: body`
    Break(loop_id)             leave that loop (maybe an outer one, until lowered)
    Continue(loop_id)          next iteration of that loop (maybe an outer one, until lowered)
    SetLabel(block)            `label = block`
    LabelSwitch(cases)         `if label == k1: ... elif label == k2: ...`; no match: no-op
    SetControl(value)          `ctl = value` (only after lower_labelled_jumps)
    ControlSwitch(cases, otherwise)
                               `if ctl == k1: ... elif ...: ... elif ctl != 0: otherwise`
                               (only after lower_labelled_jumps; ctl == 0: no-op)

`render` resolves every branch of the CFG against the shape tree: falling through to the next
shape (with `label = t` first if that shape has several entries), `continue` to a loop entry,
`break` to a loop's next shape. A branch that leaves a case of a Multiple from the middle of
the case needs a way to the Multiple's next. When the branch ends a Simple that the rest of
the case follows, the rest goes inside the Simple's other arm, so that the branch falls off the
end of the case (nested ifs, as for `if a and b: return`). Otherwise the Multiple is wrapped in
a one-shot `Loop` (body ends in its own Break) so that a Break can get there. A Simple
followed by a Multiple is fused: the Multiple's cases go straight into the Simple's Dispatch
arms, so an if/else needs no label.

`lower_labelled_jumps` then removes Break/Continue to outer loops, which Python and Cython
cannot express, using one integer control variable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

from . import shapes


# --------------------------------------------------------------------------------------------
# Statement nodes


@dataclass(frozen=True)
class BlockCode:
    block: int


@dataclass
class Dispatch:
    block: int
    arms: dict[int, list[Stmt]]


@dataclass
class Loop:
    loop_id: int
    body: list[Stmt]


@dataclass(frozen=True)
class Break:
    loop_id: int


@dataclass(frozen=True)
class Continue:
    loop_id: int


@dataclass(frozen=True)
class SetLabel:
    block: int


@dataclass
class LabelSwitch:
    cases: dict[int, list[Stmt]]


@dataclass(frozen=True)
class SetControl:
    value: int


@dataclass
class ControlSwitch:
    cases: dict[int, list[Stmt]]
    otherwise: list[Stmt] = field(default_factory=list)


@dataclass
class Seq:
    stmts: list[Stmt]


Stmt = Union[BlockCode, Dispatch, Loop, Break, Continue, SetLabel, LabelSwitch, SetControl,
             ControlSwitch]
Jump = Union[Break, Continue]
_LEAVES = (Break, Continue, SetLabel, SetControl)


def children(stmt: Stmt) -> list[list[Stmt]]:
    """The statement lists nested directly in `stmt`."""
    if isinstance(stmt, Dispatch):
        return list(stmt.arms.values())
    if isinstance(stmt, Loop):
        return [stmt.body]
    if isinstance(stmt, LabelSwitch):
        return list(stmt.cases.values())
    if isinstance(stmt, ControlSwitch):
        return list(stmt.cases.values()) + [stmt.otherwise]
    return []


def walk(stmts: list[Stmt]) -> Iterator[Stmt]:
    """Every statement in `stmts` and nested in them, in preorder."""
    work = list(reversed(stmts))
    while work:
        stmt = work.pop()
        yield stmt
        for body in reversed(children(stmt)):
            work.extend(reversed(body))


# --------------------------------------------------------------------------------------------
# Printer


def format_ast(program: Union[Seq, list[Stmt]]) -> str:
    """Python-like text, one statement per line; arms of leaf statements fit on one line."""
    stmts = program.stmts if isinstance(program, Seq) else program
    lines: list[str] = []
    _format_list(stmts, 0, lines)
    return "\n".join(lines) + "\n"


def _format_list(stmts: list[Stmt], depth: int, lines: list[str]) -> None:
    for stmt in stmts:
        _format_stmt(stmt, depth, lines)


def _format_stmt(stmt: Stmt, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    if isinstance(stmt, _LEAVES):
        lines.append(pad + _leaf(stmt))
    elif isinstance(stmt, BlockCode):
        lines.append(f"{pad}block {stmt.block}")
    elif isinstance(stmt, Dispatch):
        if not stmt.arms:
            lines.append(f"{pad}exit {stmt.block}")
            return
        lines.append(f"{pad}branch {stmt.block}:")
        for target, arm in stmt.arms.items():
            _format_arm(f"to {target}", arm, depth + 1, lines)
    elif isinstance(stmt, Loop):
        lines.append(f"{pad}loop L{stmt.loop_id}:")
        _format_list(stmt.body, depth + 1, lines)
    elif isinstance(stmt, LabelSwitch):
        for i, (block, case) in enumerate(stmt.cases.items()):
            _format_arm(f"{'elif' if i else 'if'} label == {block}", case, depth, lines)
    elif isinstance(stmt, ControlSwitch):
        heads = [f"ctl == {value}" for value in stmt.cases] + ["ctl != 0"]
        bodies = list(stmt.cases.values()) + [stmt.otherwise]
        for i, (head, body) in enumerate(zip(heads, bodies)):
            if body or head != "ctl != 0":
                _format_arm(f"{'elif' if i else 'if'} {head}", body, depth, lines)
    else:
        raise TypeError(f"not a statement: {stmt!r}")


def _format_arm(head: str, body: list[Stmt], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    if all(isinstance(s, _LEAVES) for s in body):
        lines.append(f"{pad}{head}: " + ("; ".join(map(_leaf, body)) or "pass"))
    else:
        lines.append(f"{pad}{head}:")
        _format_list(body, depth + 1, lines)


def _leaf(stmt: Stmt) -> str:
    if isinstance(stmt, Break):
        return f"break L{stmt.loop_id}"
    if isinstance(stmt, Continue):
        return f"continue L{stmt.loop_id}"
    if isinstance(stmt, SetLabel):
        return f"label = {stmt.block}"
    assert isinstance(stmt, SetControl)
    return f"ctl = {stmt.value}"


# --------------------------------------------------------------------------------------------
# Rendering

# How to carry control to a block from some point: target block -> statements.
Ways = dict[int, list[Stmt]]


def render(shape: shapes.Shape, successors) -> Seq:
    """The structured program for `shape`, the result of `reloop(entry, successors)`."""
    return Seq(_Renderer(successors).chain(shape, {}, {}))


class _Renderer:
    """Every method gets two maps from target blocks to the statements that reach them:

    - `env`: valid anywhere in the code being rendered (break and continue of enclosing loops);
    - `after`: valid only at the very end of that code, where control falls through into the
      following shape (or, at the end of a loop body, back to the loop's start).
    """

    def __init__(self, successors) -> None:
        self.successors = successors
        self.broken: set[int] = set()  # Multiples that need their one-shot loop
        self.multiples: set[int] = set()  # ids of the Multiples met (their Breaks are one-shot)

    def succ(self, block: int) -> list[int]:
        return list(self.successors.get(block, ()))

    def chain(self, shape: Optional[shapes.Shape], env: Ways, after: Ways) -> list[Stmt]:
        result: list[Stmt] = []
        out = result  # where the next shape goes: the end of `result`, or nested in an arm
        while shape is not None:
            then = _landing(shape.next) if shape.next is not None else after
            if isinstance(shape, shapes.Simple):
                if isinstance(shape.next, shapes.Multiple):
                    fused = shape.next
                    then = _landing(fused.next) if fused.next is not None else after
                    out += self.multiple(fused, env, then, head=shape.block)
                    shape = fused.next
                    continue
                if self.nests_rest(shape, env, after):
                    # The rest of the chain goes into the arm to its entry, so the block's
                    # other arms end the chain and fall through to what follows it.
                    (entry,) = shapes.entries(shape.next)
                    arms = {t: [] if t == entry else self.jump(t, env, after)
                            for t in self.succ(shape.block)}
                    out += [BlockCode(shape.block), Dispatch(shape.block, arms)]
                    out = arms[entry]
                    shape = shape.next
                    continue
                arms = {t: self.jump(t, env, then) for t in self.succ(shape.block)}
                out += [BlockCode(shape.block), Dispatch(shape.block, arms)]
            elif isinstance(shape, shapes.Loop):
                out.append(self.loop(shape, env, then))
            else:
                out += self.multiple(shape, env, then, head=None)
            shape = shape.next
        return result

    def nests_rest(self, shape: shapes.Simple, env: Ways, after: Ways) -> bool:
        """Whether the block of `shape` leaves a Multiple's case from the middle of the case
        (a pattern of a `match` that fails half way, `if a and b: return`), and the rest of the
        chain has one entry. Nesting the rest under the block's branch then turns that exit
        into falling off the end of the case, where a Break would need a one-shot loop.
        """
        rest = shape.next
        if rest is None or shapes.needs_label(rest):
            return False
        return any(t in after and t in env and _breaks_one_of(env[t], self.multiples)
                   for t in self.succ(shape.block) if t not in shapes.entries(rest))

    def loop(self, shape: shapes.Loop, env: Ways, then: Ways) -> Loop:
        start = _landing(shape)
        inner = _extend(env, {t: way + [Continue(shape.id)] for t, way in start.items()})
        # A break lands on what follows the loop: its next shape or, when the loop ends its
        # region, whatever the region falls into. In that second case the break replaces the
        # way out that `env` knows (a Break of an enclosing Multiple, a Continue of an
        # enclosing loop): it is shorter, and a jump to the innermost loop needs no lowering.
        leave = {t: way + [Break(shape.id)] for t, way in then.items()}
        inner = _extend(inner, leave) if shape.next is not None else {**inner, **leave}
        # Falling off the end of the body starts the next iteration.
        return Loop(shape.id, self.chain(shape.inner, inner, start))

    def multiple(self, shape: shapes.Multiple, env: Ways, then: Ways,
                 head: Optional[int]) -> list[Stmt]:
        inner = env
        self.multiples.add(shape.id)
        if shape.next is not None:
            leave = _landing(shape.next)
            inner = _extend(env, {t: way + [Break(shape.id)] for t, way in leave.items()})
        cases = {e: self.chain(case, inner, then) for e, case in shape.handled.items()}
        if head is None:
            out: list[Stmt] = [LabelSwitch(cases)]
        else:
            # Fused with the Simple before it: each case is entered straight from its arm.
            arms = {t: cases[t] if t in cases else self.jump(t, env, then)
                    for t in self.succ(head)}
            out = [BlockCode(head), Dispatch(head, arms)]
        if shape.id in self.broken:
            out = [Loop(shape.id, out + [Break(shape.id)])]
        return out

    def jump(self, target: int, env: Ways, then: Ways) -> list[Stmt]:
        if target in then:
            return list(then[target])
        if target not in env:
            raise AssertionError(f"relooper: no way to reach block {target}")
        way = list(env[target])
        if isinstance(way[-1], Break):
            self.broken.add(way[-1].loop_id)  # only matters for Multiples
        return way


def _breaks_one_of(way: list[Stmt], ids: set[int]) -> bool:
    return bool(way) and isinstance(way[-1], Break) and way[-1].loop_id in ids


def _landing(shape: shapes.Shape) -> Ways:
    """How to fall into `shape` for each of its entries: set the label if it has several."""
    label = shapes.needs_label(shape)
    return {t: [SetLabel(t)] if label else [] for t in shapes.entries(shape)}


def _extend(env: Ways, more: Ways) -> Ways:
    # The analysis explains each branch once, so an inner shape never re-binds a target.
    assert not (env.keys() & more.keys()), (env.keys() & more.keys())
    return {**env, **more}


# --------------------------------------------------------------------------------------------
# Lowering labelled break/continue


@dataclass
class _Frame:
    loop_id: int
    # Jumps that leave this loop on their way to an outer one: code -> the jump.
    escapes: dict[int, Jump] = field(default_factory=dict)


def lower_labelled_jumps(program: Seq) -> Seq:
    """Rewrite `program` so that every Break/Continue targets its innermost enclosing loop.

    A jump to an outer loop becomes `ctl = k; break`, where k names the jump (kind and target
    loop). Right after each inner loop that such a jump leaves, a ControlSwitch finishes the
    jump if it targets the loop now innermost (`ctl = 0` first, so later checks stay quiet) or
    passes it on with another `break`. Loops that no such jump leaves get no check.
    """
    codes: dict[Jump, int] = {}

    def lower(stmts: list[Stmt], stack: list[_Frame]) -> list[Stmt]:
        out: list[Stmt] = []
        for stmt in stmts:
            if isinstance(stmt, (Break, Continue)):
                if not stack:
                    raise ValueError(f"{_leaf(stmt)} outside any loop")
                if stmt.loop_id == stack[-1].loop_id:
                    out.append(stmt)
                    continue
                code = codes.setdefault(stmt, len(codes) + 1)
                for frame in reversed(stack):
                    if frame.loop_id == stmt.loop_id:
                        break
                    frame.escapes[code] = stmt
                else:
                    raise ValueError(f"{stmt} is not inside loop L{stmt.loop_id}")
                out += [SetControl(code), Break(stack[-1].loop_id)]
            elif isinstance(stmt, Loop):
                frame = _Frame(stmt.loop_id)
                out.append(Loop(stmt.loop_id, lower(stmt.body, stack + [frame])))
                if frame.escapes:
                    out.append(_check(frame, stack[-1].loop_id))
            elif isinstance(stmt, Dispatch):
                out.append(Dispatch(stmt.block, {t: lower(arm, stack)
                                                 for t, arm in stmt.arms.items()}))
            elif isinstance(stmt, LabelSwitch):
                out.append(LabelSwitch({k: lower(case, stack) for k, case in stmt.cases.items()}))
            elif isinstance(stmt, ControlSwitch):
                raise ValueError("program is already lowered")
            else:
                out.append(stmt)
        return out

    return Seq(lower(program.stmts, []))


def _check(frame: _Frame, parent: int) -> ControlSwitch:
    """The test after loop `frame`, inside loop `parent`, for the jumps that left `frame`."""
    cases: dict[int, list[Stmt]] = {}
    otherwise: list[Stmt] = []
    for code, jump in sorted(frame.escapes.items()):
        if jump.loop_id == parent:
            cases[code] = [SetControl(0), type(jump)(parent)]
        else:
            otherwise = [Break(parent)]  # still further out: leave this loop too
    return ControlSwitch(cases, otherwise)


# --------------------------------------------------------------------------------------------
# Verifier


def verify(program: Seq, innermost: bool = False) -> None:
    """Check the program is well formed; raise ValueError if not.

    Each Dispatch directly follows the BlockCode of its block; each Break/Continue is inside
    its loop (the innermost one if `innermost`) and ends its statement list; loop ids are
    unique.
    """
    seen_loops: set[int] = set()

    def check(stmts: list[Stmt], loops: list[int]) -> None:
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, Dispatch):
                if i == 0 or stmts[i - 1] != BlockCode(stmt.block):
                    raise ValueError(f"branch {stmt.block} does not follow block {stmt.block}")
            if isinstance(stmt, (Break, Continue)):
                if stmt.loop_id not in loops:
                    raise ValueError(f"{_leaf(stmt)} outside loop L{stmt.loop_id}")
                if innermost and stmt.loop_id != loops[-1]:
                    raise ValueError(f"{_leaf(stmt)} inside inner loop L{loops[-1]}")
                if i != len(stmts) - 1:
                    raise ValueError(f"dead code after {_leaf(stmt)}")
            if isinstance(stmt, Loop):
                if stmt.loop_id in seen_loops:
                    raise ValueError(f"loop id L{stmt.loop_id} used twice")
                seen_loops.add(stmt.loop_id)
                check(stmt.body, loops + [stmt.loop_id])
            else:
                for body in children(stmt):
                    check(body, loops)

    check(program.stmts, [])
