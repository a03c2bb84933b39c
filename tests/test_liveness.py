"""Liveness and the dataflow framework, on hand-built IR and on random programs.

The random-program generator and the brute-force liveness oracle here are also used by
test_regalloc.py.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from justjit.analyses.dataflow import (DefinedRegisters, all_registers, defined_registers,
                                       may_raise, solve)
from justjit.analyses.liveness import format_liveness, liveness
from justjit.ir.ops import (BinaryOp, Block, Call, CheckBound, CondBranch, DeleteLocal, ExcEdge,
                            ForIter, GetIter, IRFunction, IsOp, Jump, LoadConst, LoadGlobal, Move,
                            Raise, Reg, Return, SetItem, UnpackSequence, successors)
from justjit.ir.printer import format_function
from justjit.ir.verify import verify

t0, t1, t2, t3, t4, t5 = (Reg(f"t{i}") for i in range(6))
s0, s1 = Reg("s0", "stack"), Reg("s1", "stack")
x, y = Reg("x", "var"), Reg("y", "var")
e, lasti = Reg("e"), Reg("lasti", "stack")


def make_fn(*blocks: Block, args=(), entry=None) -> IRFunction:
    fn = IRFunction(name="f", qualname="f", filename="<test>", firstlineno=1, code=None,
                    args=list(args), blocks={b.id: b for b in blocks},
                    entry=blocks[0].id if entry is None else entry)
    verify(fn)
    return fn


def S(*regs) -> frozenset:
    return frozenset(regs)


# --------------------------------------------------------------------------------------------
# Hand-built functions


def test_straight_line():
    fn = make_fn(Block(0, [
        LoadConst(t0, 1),                # 0
        LoadConst(t1, 2),                # 1
        BinaryOp(t2, "+", t0, t1),       # 2
        Move(x, t2),                     # 3
        Move(t3, x),                     # 4
    ], Return(t3)))                      # 5
    lv = liveness(fn)
    assert lv.live_after[0] == [S(t0), S(t0, t1), S(t2), S(x), S(t3), S()]
    assert lv.live_before[0] == [S(), S(t0), S(t0, t1), S(t2), S(x), S(t3)]
    assert lv.live_in[0] == S() and lv.live_out[0] == S()
    assert lv.exc_live == {}


def test_diamond():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1), LoadConst(t1, 2), LoadConst(s0, 3)], CondBranch(t0, 1, 2)),
        Block(1, [BinaryOp(s1, "+", t1, s0)], Jump(3)),
        Block(2, [Move(s1, s0)], Jump(3)),
        Block(3, [], Return(s1)),
    )
    lv = liveness(fn)
    assert lv.live_in == {0: S(), 1: S(t1, s0), 2: S(s0), 3: S(s1)}
    assert lv.live_out == {0: S(t1, s0), 1: S(s1), 2: S(s1), 3: S()}
    # t0 is read by the branch and dead after it
    assert lv.live_before[0][3] == S(t0, t1, s0)
    assert lv.live_after[0][3] == S(t1, s0)


def test_loop_keeps_values_live_around_the_back_edge():
    # x = 0; for i in it: x = x + k;  return x + k   (k is a stack value defined before the loop)
    fn = make_fn(
        Block(0, [LoadConst(s0, 10), LoadConst(x, 0), LoadGlobal(t0, "it"), GetIter(s1, t0)],
              Jump(1)),
        Block(1, [], ForIter(t1, s1, 2, 3)),
        Block(2, [Move(y, t1), BinaryOp(t2, "+", x, s0), Move(x, t2)], Jump(1)),
        Block(3, [BinaryOp(t3, "+", x, s0)], Return(t3)),
    )
    lv = liveness(fn)
    assert lv.live_in[1] == S(s0, s1, x)
    assert lv.live_out[1] == S(s0, s1, x, t1)       # t1 is live on the body edge
    assert lv.live_before[1][0] == S(s0, s1, x)     # ... but ForIter writes it
    for point in lv.live_after[2]:
        assert {s0, s1} <= point
    assert lv.live_in[3] == S(x, s0)
    assert s1 not in lv.live_in[3]                  # the iterator dies on the exit edge


def test_foriter_dest_is_written_on_the_body_edge_only():
    # the exit path reads the old value of s1: ForIter must not kill it there
    fn = make_fn(
        Block(0, [LoadConst(s1, "old"), LoadGlobal(t0, "it"), GetIter(s0, t0)], Jump(1)),
        Block(1, [], ForIter(s1, s0, 2, 3)),
        Block(2, [], Jump(1)),
        Block(3, [], Return(s1)),
    )
    lv = liveness(fn)
    assert s1 in lv.live_before[1][0]
    assert lv.live_in[1] == S(s0, s1)


def test_exception_edge_keeps_handler_values_live_at_raising_ops():
    # b3 is the try body. t0 is needed only by the handler; ops 0..1 may raise, op 2 (IsOp)
    # cannot.
    fn = make_fn(
        Block(0, [LoadConst(t0, "needed by handler")], Jump(3)),
        Block(3, [
            LoadGlobal(t1, "g"),                  # 0 may raise
            BinaryOp(t2, "+", t1, t1),            # 1 may raise: the last raising op
            IsOp(t3, t2, t2, False),              # 2 cannot raise
        ], Jump(2), handler=ExcEdge(1, e, lasti)),
        Block(1, [Call(t4, t0, [e])], Return(t4)),
        Block(2, [], Return(t3)),
    )
    lv = liveness(fn)
    assert lv.live_in[1] == S(t0, e)
    assert lv.exc_live[3] == S(t0)          # e (and lasti) are written by the edge
    assert lv.live_in[3] == S(t0)
    assert lv.live_before[3][1] == S(t0, t1)
    assert lv.live_after[3][1] == S(t2)     # no raising op left: t0 is dead
    assert lv.live_before[3][3] == S(t3)    # Jump cannot raise
    assert lv.live_out[0] == S(t0)
    assert e not in lv.live_in[3]


def test_def_by_raising_op_does_not_kill_for_the_handler():
    # s0 = f(s0) inside a try whose handler returns s0: the old s0 is live before the call
    fn = make_fn(
        Block(0, [LoadConst(s0, 1), LoadGlobal(t0, "f")], Jump(1)),
        Block(1, [Call(s0, t0, [s0])], Return(s0), handler=ExcEdge(2, e)),
        Block(2, [], Return(s0)),
    )
    lv = liveness(fn)
    assert lv.live_before[1][0] == S(t0, s0)
    assert lv.live_in[2] == S(s0)
    # s0 is live before Return because Return reads it
    assert lv.live_before[1][1] == S(s0)


def test_condbranch_none_test_cannot_raise():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1)], Jump(3)),
        Block(3, [LoadConst(t1, None)], CondBranch(t1, 1, 1, test="none"), handler=ExcEdge(2, e)),
        Block(1, [LoadConst(t2, 0)], Return(t2)),
        Block(2, [], Return(t0)),
    )
    assert not may_raise(fn.blocks[3].terminator)
    assert may_raise(CondBranch(t1, 1, 1))
    lv = liveness(fn)
    assert lv.live_in[3] == S()             # no op of b3 may raise: t0 is not kept for b2
    assert lv.live_after[0][0] == S()


def test_vars_are_tracked_like_everything_else():
    fn = make_fn(Block(0, [CheckBound(x), Move(t0, x), DeleteLocal(x), Move(y, t0)], Return(y)),
                 args=[x])
    lv = liveness(fn)
    assert lv.live_in[0] == S(x)
    assert lv.live_after[0] == [S(x), S(t0), S(t0), S(y), S()]


def test_printer():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1, line=3)], Jump(2)),
        Block(2, [LoadGlobal(t1, "g", line=4)], Return(t1), handler=ExcEdge(1, e)),
        Block(1, [], Return(t0)),
    )
    assert format_liveness(fn, liveness(fn)) == """\
liveness of f
b0:
    in:  {}
    %t0 = LoadConst value=1                  live: {%t0}
    Jump target=b2                           live: {%t0}
    out: {%t0}
b1:
    in:  {%t0}
    Return %t0                               live: {}
    out: {}
b2:  (except -> b1, keeps {%t0})
    in:  {%t0}
    %t1 = LoadGlobal name='g'                live: {%t1}
    Return %t1                               live: {}
    out: {}
"""


def test_defined_registers_forward_must_analysis():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1)], CondBranch(t0, 1, 2)),
        Block(1, [Move(x, t0), LoadGlobal(t1, "g")], Jump(3), handler=ExcEdge(4, e)),
        Block(2, [Move(x, t0), DeleteLocal(y)], Jump(3)),
        Block(3, [CheckBound(x)], Return(x)),
        Block(4, [], Return(e)),
        args=[y],
    )
    d = defined_registers(fn)
    assert d.block_in[0] == S(y)
    assert d.block_in[3] == S(t0, x)        # y deleted on one path, t1 defined on one path
    assert d.exc[1] == S(y, t0, x)          # before LoadGlobal, which did not write t1
    assert d.block_in[4] == S(y, t0, x, e)
    assert d.after[1][1] == S(y, t0, x, t1)


def test_analyses_do_not_mutate_the_ir():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1), LoadGlobal(t1, "g")], ForIter(t2, t1, 1, 2),
              handler=ExcEdge(2, e, lasti)),
        Block(1, [], Jump(0)),
        Block(2, [], Return(t0)),
    )
    text = format_function(fn)
    liveness(fn)
    defined_registers(fn)
    assert format_function(fn) == text


# --------------------------------------------------------------------------------------------
# Random programs, shared with test_regalloc.py

ALLOCATABLE = [Reg(f"t{i}") for i in range(4)] + [Reg(f"s{i}", "stack") for i in range(2)]
VARS = [Reg("v0", "var"), Reg("v1", "var")]
ANY = ALLOCATABLE + VARS


@st.composite
def programs(draw, max_blocks: int = 6, max_ops: int = 5) -> IRFunction:
    """A random, verified IRFunction: branches, loops, ForIter, exception edges, moves, multi-def
    ops, vars. Uses of stack/tmp registers not defined on every path get a LoadConst in front."""
    n = draw(st.integers(1, max_blocks))
    target = st.integers(0, n - 1)
    use = st.sampled_from(ANY)
    dest = st.sampled_from(ANY)
    blocks = {}
    for b in range(n):
        ops = []
        for _ in range(draw(st.integers(0, max_ops))):
            kind = draw(st.integers(0, 9))
            if kind == 0:
                ops.append(LoadConst(draw(dest), 0))
            elif kind in (1, 2):
                ops.append(Move(draw(dest), draw(use)))
            elif kind == 3:
                ops.append(BinaryOp(draw(dest), "+", draw(use), draw(use)))
            elif kind == 4:
                ops.append(IsOp(draw(dest), draw(use), draw(use), False))
            elif kind == 5:
                ops.append(Call(draw(dest), draw(use), draw(st.lists(use, max_size=2))))
            elif kind == 6:
                ops.append(UnpackSequence(draw(st.lists(dest, min_size=2, max_size=2, unique=True)),
                                          draw(use)))
            elif kind == 7:
                ops.append(SetItem(draw(use), draw(use), draw(use)))
            elif kind == 8:
                ops.append(CheckBound(draw(st.sampled_from(VARS))))
            else:
                ops.append(DeleteLocal(draw(st.sampled_from(VARS))))
        kind = draw(st.integers(0, 5))
        if kind == 0:
            term = Jump(draw(target))
        elif kind in (1, 2):
            term = CondBranch(draw(use), draw(target), draw(target),
                              test=draw(st.sampled_from(["truth", "none"])))
        elif kind == 3:
            term = ForIter(draw(dest), draw(use), draw(target), draw(target))
        elif kind == 4:
            term = Return(draw(use))
        else:
            term = Raise(draw(use), None)
        handler = None
        if draw(st.integers(0, 2)) == 0:
            exc_dest = draw(st.sampled_from(ALLOCATABLE))
            lasti_dest = draw(st.sampled_from([None] + [r for r in ALLOCATABLE if r != exc_dest]))
            handler = ExcEdge(draw(target), exc_dest, lasti_dest)
        blocks[b] = Block(b, ops, term, handler)
    fn = IRFunction(name="rand", qualname="rand", filename="<random>", firstlineno=1, code=None,
                    args=list(VARS[:1]), blocks=blocks, entry=0)
    _define_before_use(fn)
    verify(fn)
    return fn


def _define_before_use(fn: IRFunction) -> None:
    """Insert `LoadConst r` in front of every use of a stack/tmp register r not defined on every
    path. Definedness is computed at least as strictly as verify(): on an exception edge only
    what was defined at block entry counts (plus the edge's registers), and ForIter's dest counts
    on the body edge only."""
    def need(r):
        return r.kind in ("stack", "tmp")

    for _ in range(10):
        everything = None
        din = {b: everything for b in fn.blocks}
        din[fn.entry] = frozenset()
        changed = True
        while changed:
            changed = False
            for b in sorted(fn.blocks):
                state = din[b]
                if state is everything:
                    continue
                block = fn.blocks[b]
                cur = set(state)
                for op in block.ops:
                    cur.update(op.defs())
                outs = []
                for s in successors(block.terminator):
                    extra = set()
                    if isinstance(block.terminator, ForIter):
                        if s == block.terminator.body != block.terminator.exit:
                            extra = {block.terminator.dest}
                    outs.append((s, frozenset(cur | extra)))
                if block.handler is not None:
                    h = block.handler
                    extra = {h.exc_dest} | ({h.lasti_dest} if h.lasti_dest else set())
                    outs.append((h.target, frozenset(state | extra)))
                for s, out in outs:
                    new = out if din[s] is everything else din[s] & out
                    if s == fn.entry:
                        new = frozenset()
                    if new != din[s]:
                        din[s] = new
                        changed = True
        inserted = False
        for b, block in fn.blocks.items():
            if din[b] is everything:
                continue
            cur = set(din[b])
            new_ops = []
            for op in list(block.ops) + [block.terminator]:
                for r in op.uses():
                    if need(r) and r not in cur:
                        new_ops.append(LoadConst(r, 0))
                        cur.add(r)
                        inserted = True
                cur.update(op.defs() if not op.IS_TERMINATOR else ())
                if not op.IS_TERMINATOR:
                    new_ops.append(op)
            block.ops = new_ops
        if not inserted:
            return
    raise AssertionError("definedness fixup did not converge")


# Brute-force liveness: a register is live at a point if a path from there reads it before any
# write. Written independently of the dataflow framework, from the IR's semantics.


def points_of(fn: IRFunction):
    for b, block in fn.blocks.items():
        for i in range(len(block.ops) + 1):
            yield (b, i)


def _op_at(fn, p):
    b, i = p
    block = fn.blocks[b]
    return block.ops[i] if i < len(block.ops) else block.terminator


def _transitions(fn, p):
    """(next point, registers written on the way) for every way control may leave point p."""
    b, i = p
    block = fn.blocks[b]
    op = _op_at(fn, p)
    out = []
    if i < len(block.ops):
        out.append(((b, i + 1), set(op.defs())))
    else:
        for s in successors(op):
            written = set()
            if isinstance(op, ForIter) and s == op.body and op.body != op.exit:
                written = {op.dest}
            elif not isinstance(op, ForIter):
                written = set(op.defs())
            out.append(((s, 0), written))
    raises = op.CAN_RAISE and not (isinstance(op, CondBranch) and op.test == "none")
    if raises and block.handler is not None:
        h = block.handler
        out.append(((h.target, 0), {h.exc_dest, h.lasti_dest} - {None}))
    return out


def oracle_live_before(fn: IRFunction) -> dict:
    """point -> registers live before it: for each register, the points from which some chain
    of transitions not writing it reaches a read of it (searched backwards from the reads)."""
    points = list(points_of(fn))
    into: dict = {p: [] for p in points}
    reads: dict = {}
    for p in points:
        op = _op_at(fn, p)
        for r in op.uses():
            reads.setdefault(r, []).append(p)
        for q, written in _transitions(fn, p):
            into[q].append((p, written))
    live = {p: set() for p in points}
    for r, starts in reads.items():
        seen = set(starts)
        stack = list(starts)
        while stack:
            q = stack.pop()
            for p, written in into[q]:
                if r not in written and p not in seen:
                    seen.add(p)
                    stack.append(p)
        for p in seen:
            live[p].add(r)
    return {p: frozenset(v) for p, v in live.items()}


def oracle_live_after(fn: IRFunction, before: dict) -> dict:
    after = {}
    for (b, i) in points_of(fn):
        block = fn.blocks[b]
        if i < len(block.ops):
            after[(b, i)] = before[(b, i + 1)]
        else:
            succs = successors(block.terminator)
            after[(b, i)] = frozenset().union(*[before[(s, 0)] for s in succs])
    return after


# JUSTJIT_EXAMPLES=5000 for a long run.
FAST = settings(max_examples=int(os.environ.get("JUSTJIT_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(programs())
def test_liveness_matches_brute_force(fn):
    text = format_function(fn)
    lv = liveness(fn)
    assert format_function(fn) == text
    before = oracle_live_before(fn)
    after = oracle_live_after(fn, before)
    for (b, i) in points_of(fn):
        assert lv.live_before[b][i] == before[(b, i)], (b, i, format_function(fn))
        assert lv.live_after[b][i] == after[(b, i)], (b, i, format_function(fn))
    for b, block in fn.blocks.items():
        assert lv.live_in[b] == before[(b, 0)]
        assert lv.live_out[b] == after[(b, len(block.ops))]
        if block.handler is not None:
            h = block.handler
            assert lv.exc_live[b] == before[(h.target, 0)] - {h.exc_dest, h.lasti_dest}


class _MaybeDefined(DefinedRegisters):
    """The same facts joined by union: exercises a forward may-problem."""
    may = True


def _definedness_oracle(fn: IRFunction, r: Reg) -> set:
    """Every (point, holds-a-value) pair reachable from the entry, for register r."""
    start = (fn.entry, 0), r in fn.args
    seen = {start}
    stack = [start]
    while stack:
        p, holds = stack.pop()
        unbinds = isinstance(_op_at(fn, p), DeleteLocal)
        for q, written in _transitions(fn, p):
            now = (not unbinds if r in written else holds) if q[0] == p[0] and q[1] == p[1] + 1 \
                else (True if r in written else holds)
            if (q, now) not in seen:
                seen.add((q, now))
                stack.append((q, now))
    return seen


@FAST
@given(programs())
def test_forward_problems_match_path_enumeration(fn):
    must = defined_registers(fn)
    may = solve(fn, _MaybeDefined(fn))
    universe = all_registers(fn)
    facts = {r: _definedness_oracle(fn, r) for r in universe}
    for (b, i) in points_of(fn):
        p = (b, i)
        reachable = any((p, h) in facts[r] for r in universe for h in (True, False))
        exp_may = frozenset(r for r in universe if (p, True) in facts[r])
        exp_must = (frozenset(r for r in universe if (p, False) not in facts[r])
                    if reachable else universe)
        assert may.before[b][i] == exp_may, (p, format_function(fn))
        assert must.before[b][i] == exp_must, (p, format_function(fn))


# Real functions through the frontend: shapes CPython 3.11 produces (loops, try/except,
# try/finally with return, with, generators, comprehensions, break/continue).


def _real_loop_try(a, b):
    total = 0
    for i in range(a):
        try:
            total += b[i] * (i + 1)
        except IndexError as exc:
            total -= len(str(exc))
        finally:
            total += 1
    return total


def _real_with(path, n):
    with open(path) as f:
        for _ in range(n):
            line = f.readline()
            if not line:
                break
            if line.startswith("#"):
                continue
            return line
    return None


def _real_finally_return(xs):
    try:
        return [x * 2 for x in xs if x]
    finally:
        xs.clear()


def _real_generator(n):
    i = 0
    while i < n:
        try:
            got = yield i
        except ValueError:
            got = None
        i += 1 if got is None else got
    return i


def _real_nested(d):
    out = {}
    for k, v in d.items():
        for j, w in enumerate(v):
            if w is None:
                continue
            out[k, j] = w if w > 0 else -w
    return {k: v for k, v in out.items() if v}


REAL_FUNCTIONS = [_real_loop_try, _real_with, _real_finally_return, _real_generator,
                  _real_nested]


@pytest.mark.parametrize("func", REAL_FUNCTIONS, ids=lambda f: f.__name__)
def test_real_functions_match_brute_force(func):
    from justjit.frontend import build_ir

    fn = build_ir(func)
    lv = liveness(fn)
    before = oracle_live_before(fn)
    after = oracle_live_after(fn, before)
    for (b, i) in points_of(fn):
        assert lv.live_before[b][i] == before[(b, i)], (b, i)
        assert lv.live_after[b][i] == after[(b, i)], (b, i)
