"""Register allocation: slots, interference, and release points.

The property tests run random programs on a machine with the allocated slots and check that
every read finds the right value, that a released slot is never read before it is written, and
that no slot keeps a value once its register is dead.
"""

from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from justjit.analyses.dataflow import may_raise
from justjit.ir.ops import (BinaryOp, Block, Call, CheckBound, CondBranch, ExcEdge, ForIter,
                            GetIter, IRFunction, IsOp, Jump, LoadConst, LoadGlobal, Move,
                            PopExcept, PushExcInfo, Reg, Reraise, Return, UnpackSequence,
                            successors)
from justjit.ir.printer import format_function
from justjit.regalloc import (Allocation, AllocationError, allocate, check_allocation,
                              format_allocation)

sys.path.insert(0, str(Path(__file__).parent))
from test_liveness import (FAST, REAL_FUNCTIONS, make_fn, oracle_live_after,  # noqa: E402
                           oracle_live_before, points_of, programs)

t0, t1, t2, t3, t4, t5 = (Reg(f"t{i}") for i in range(6))
s0, s1, s2 = Reg("s0", "stack"), Reg("s1", "stack"), Reg("s2", "stack")
x, y = Reg("x", "var"), Reg("y", "var")
e, lasti = Reg("e"), Reg("lasti", "stack")


def slots(alloc: Allocation, *regs) -> list[int]:
    return sorted({alloc.slot[r] for r in regs})


# --------------------------------------------------------------------------------------------
# Hand-built functions


def test_straight_line_reuses_slots_and_releases_after_last_use():
    fn = make_fn(Block(0, [
        LoadConst(t0, 1),              # 0
        LoadConst(t1, 2),              # 1
        BinaryOp(t2, "+", t0, t1),     # 2: t0 and t1 die; t2 takes one of their slots
        Move(x, t2),                   # 3: t2 dies (STORE_FAST)
        Move(t3, x),                   # 4
        Call(t4, t3, []),              # 5: t3 dies; t4 is never used (POP_TOP)
        LoadConst(t5, None),           # 6
    ], Return(t5)))
    a = allocate(fn)
    assert a.num_slots == 2
    assert x not in a.slot
    assert a.slot[t2] in (a.slot[t0], a.slot[t1])
    other = ({a.slot[t0], a.slot[t1]} - {a.slot[t2]}).pop()
    assert a.release_after[(0, 2)] == [other]        # the operand t2 did not overwrite
    assert a.release_after[(0, 3)] == [a.slot[t2]]
    assert a.release_after[(0, 5)] == [a.slot[t4]]   # dead result released at once
    assert (0, 4) not in a.release_after             # t3 lives on into the call
    assert a.release_on_entry == {}


def test_move_between_temporaries_is_coalesced():
    fn = make_fn(Block(0, [LoadConst(t0, 1), Move(s0, t0), LoadConst(t1, 2),
                           BinaryOp(t2, "+", s0, t1)], Return(t2)))
    a = allocate(fn)
    assert a.slot[s0] == a.slot[t0]
    assert (0, 1) not in a.release_after    # t0 dies at the move, but its slot is s0's now


def test_move_source_still_live_shares_the_slot_and_is_not_released_early():
    fn = make_fn(Block(0, [LoadConst(t0, 1), Move(t1, t0), Call(t2, t0, [t1])], Return(t2)))
    a = allocate(fn)
    assert a.slot[t0] == a.slot[t1]
    assert t1 not in a.interference[t0]


def test_diamond_releases_on_entry_of_the_branch_that_does_not_need_a_value():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1), LoadConst(s0, 2)], CondBranch(t0, 1, 2)),
        Block(1, [Move(s1, s0)], Jump(3)),
        Block(2, [LoadConst(s1, 3)], Jump(3)),       # s0 is dead here
        Block(3, [], Return(s1)),
    )
    a = allocate(fn)
    # the branch condition t0 dies at CondBranch: released on entry of both successors
    assert a.slot[t0] in a.release_on_entry[1]
    assert a.release_on_entry[2] == slots(a, t0, s0)
    assert 3 not in a.release_on_entry


def test_loop_value_live_around_back_edge_is_never_released_in_the_loop():
    fn = make_fn(
        Block(0, [LoadConst(s0, 10), LoadGlobal(t0, "it"), GetIter(s1, t0)], Jump(1)),
        Block(1, [], ForIter(t1, s1, 2, 3)),
        Block(2, [BinaryOp(t2, "+", t1, s0), Move(x, t2)], Jump(1)),
        Block(3, [Move(t3, x), BinaryOp(t4, "+", t3, s0)], Return(t4)),
    )
    a = allocate(fn)
    loop_slots = set(slots(a, s0, s1))
    for b in (1, 2):
        assert not loop_slots & set(a.release_on_entry.get(b, []))
        for i in range(len(fn.blocks[b].ops)):
            assert not loop_slots & set(a.release_after.get((b, i), []))
    # the iterator dies on the loop exit; s0 dies at its last use after the loop, where the
    # result takes its slot or it is released
    assert a.release_on_entry[3] == [a.slot[s1]]
    assert a.slot[s0] == a.slot[t4] or a.slot[s0] in a.release_after[(3, 1)]


def test_exception_edge_releases_at_handler_entry():
    # try:  t1 = g(); t2 = t1 + t1  except: return h(e)   with s0 live across for the handler's
    # use, and t1/t2 live in the try body only.
    fn = make_fn(
        Block(0, [LoadGlobal(s0, "h")], Jump(1)),
        Block(1, [LoadGlobal(t1, "g"), BinaryOp(t2, "+", t1, t1)], Return(t2),
              handler=ExcEdge(2, e, lasti)),
        Block(2, [Call(t3, s0, [e])], Return(t3)),
    )
    a = allocate(fn)
    # t1 may hold a value when the exception edge is taken (t2 cannot: it is written by the
    # last op that may raise, and Return does not raise); the handler needs neither; nor
    # lasti, which it never reads. What e's write on the edge overwrites needs no release.
    assert set(a.release_on_entry[2]) == set(slots(a, t1, lasti)) - {a.slot[e]}
    assert a.slot[lasti] in a.release_on_entry[2]
    assert a.slot[e] not in a.release_on_entry[2]
    assert a.slot[s0] not in a.release_on_entry[2]
    # s0 is kept through the try body for the handler, up to the last op that may raise
    assert a.slot[s0] not in a.release_after.get((1, 0), [])
    # e and lasti are written on the edge while s0 is live
    assert s0 in a.interference[e] and s0 in a.interference[lasti]
    assert lasti in a.interference[e]


def test_handler_only_value_released_after_last_raising_op():
    fn = make_fn(
        Block(0, [LoadGlobal(s0, "h")], Jump(1)),
        Block(1, [LoadGlobal(t1, "g"), IsOp(t2, t1, t1, False)], Return(t2),
              handler=ExcEdge(2, e)),
        Block(2, [Call(t3, s0, [e])], Return(t3)),
    )
    # Return cannot raise: LoadGlobal is the last op that may raise into b2, so s0 dies there
    a = allocate(fn)
    assert a.slot[s0] == a.slot[t1] or a.slot[s0] in a.release_after[(1, 0)]
    fn2 = make_fn(
        Block(0, [LoadGlobal(s0, "h")], Jump(1)),
        Block(1, [LoadGlobal(t1, "g"), IsOp(t2, t1, t1, False)], Jump(3), handler=ExcEdge(2, e)),
        Block(2, [Call(t3, s0, [e])], Return(t3)),
        Block(3, [], Return(t2)),
    )
    a2 = allocate(fn2)
    # LoadGlobal is the last op that may raise into b2: s0 dies with it. Its slot is free for
    # LoadGlobal's own result (written only if LoadGlobal did not raise), or released.
    assert a2.slot[s0] == a2.slot[t1] or a2.slot[s0] in a2.release_after[(1, 0)]
    assert s0 not in a2.interference[t1]
    assert a2.slot[s0] not in a2.release_on_entry.get(2, [])


def test_with_statement_shape():
    # exit fn stays live through the body (both for the normal exit and for the handler);
    # exception handler pushes exc info, and the handled exception is re-raised.
    fn = make_fn(
        Block(0, [LoadGlobal(t0, "cm"), Move(s0, t0), LoadGlobal(s1, "exit")], Jump(1)),
        Block(1, [LoadGlobal(t1, "body"), Call(t2, t1, [])], Jump(3), handler=ExcEdge(2, e, lasti)),
        Block(2, [PushExcInfo(s2, e), Call(t3, s1, [e])], Reraise(e)),
        Block(3, [Call(t4, s1, [])], Return(t4)),
    )
    a = allocate(fn)
    assert a.slot[s1] not in a.release_after.get((1, 0), [])
    assert a.slot[s1] not in a.release_on_entry.get(2, [])
    assert a.slot[s1] not in a.release_on_entry.get(3, [])
    assert a.slot[s0] == a.slot[t0]                  # coalesced move
    assert a.release_after[(0, 1)] == [a.slot[s0]]   # the manager is never used again


def test_vars_and_cells_get_no_slot_and_no_release():
    c = Reg("c", "cell")
    fn = make_fn(Block(0, [CheckBound(x), Move(t0, x), Move(y, t0), LoadConst(t1, 1),
                           Move(x, t1)], Return(c)), args=[x, c])
    a = allocate(fn)
    assert set(a.slot) == {t0, t1}
    assert a.slot_of(x) is None and a.slot_of(c) is None
    for freed in list(a.release_after.values()) + list(a.release_on_entry.values()):
        assert set(freed) <= set(a.slot.values())


def test_unpack_dests_interfere_even_when_dead():
    fn = make_fn(Block(0, [LoadConst(t0, (1, 2)), UnpackSequence([t1, t2], t0)],
                       Return(t0)))
    a = allocate(fn)
    assert a.slot[t1] != a.slot[t2]
    assert a.release_after[(0, 1)] == slots(a, t1, t2)


def test_check_allocation_rejects_a_bad_colouring():
    fn = make_fn(Block(0, [LoadConst(t0, 1), LoadConst(t1, 2), BinaryOp(t2, "+", t0, t1)],
                       Return(t2)))
    a = allocate(fn)
    bad = Allocation(slot={**a.slot, t1: a.slot[t0]}, num_slots=a.num_slots,
                     interference=a.interference, release_after=a.release_after,
                     release_on_entry=a.release_on_entry, liveness=a.liveness)
    with pytest.raises(AllocationError, match="interfere"):
        check_allocation(fn, bad)


def test_format_allocation():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1, line=2), LoadGlobal(s0, "g", line=3)], Jump(1)),
        Block(1, [Call(t1, s0, [t0], line=3), Move(x, t1, line=3), PopExcept(s0)], Return(x),
              handler=ExcEdge(2, e)),
        Block(2, [], Reraise(e)),
    )
    assert format_allocation(fn, allocate(fn)) == """\
allocation of f: 2 slot(s)
  r0: %e, %t0, %t1
  r1: %s0
b0:
    %t0:r0 = LoadConst value=1
    %s0:r1 = LoadGlobal name='g'
    Jump target=b1
b1:  (except -> b2, exc in %e:r0)
    %t1:r0 = Call %s0:r1, [%t0:r0], kwnames=()
    %x = Move %t1:r0                                 ; release r0
    PopExcept %s0:r1                                 ; release r1
    Return %x
b2:
    release on entry: r1
    Reraise %e:r0
"""


def test_allocate_does_not_mutate_the_ir():
    fn = make_fn(
        Block(0, [LoadConst(t0, 1), LoadGlobal(t1, "g")], ForIter(t2, t1, 1, 2),
              handler=ExcEdge(2, e, lasti)),
        Block(1, [Move(t3, t2)], Jump(0)),
        Block(2, [], Return(t0)),
    )
    text = format_function(fn)
    allocate(fn)
    assert format_function(fn) == text


# --------------------------------------------------------------------------------------------
# Property tests: random programs, executed on the allocated slots


class Machine:
    """Runs a function along one random path with the allocation's slots.

    `cur` is the value (an int id) each register holds logically; `slots` what the slots hold.
    A read of an allocated register must find its own current value in its slot. After every
    release point each non-None slot must hold the current value of a register allocated to it
    and live there (brute-force liveness), i.e. no value outlives its last use."""

    def __init__(self, fn: IRFunction, alloc: Allocation, rng: random.Random, before=None):
        self.fn, self.alloc, self.rng = fn, alloc, rng
        self.before = oracle_live_before(fn) if before is None else before
        self.after = oracle_live_after(fn, self.before)
        self.slots: list = [None] * alloc.num_slots
        self.cur: dict[Reg, int] = {r: -1 - i for i, r in enumerate(fn.args)}
        self.fresh = itertools.count()
        self.trace: list[str] = []

    def read(self, r: Reg) -> None:
        k = self.alloc.slot.get(r)
        if k is None:
            return
        assert r in self.cur, f"{r} read before any write (IR not verified?)"
        assert self.slots[k] == self.cur[r], (
            f"{r} in r{k} clobbered: slot holds {self.slots[k]}, expected {self.cur[r]}")

    def write(self, r: Reg, value: int) -> None:
        self.cur[r] = value
        k = self.alloc.slot.get(r)
        if k is not None:
            self.slots[k] = value

    def release(self, ks) -> None:
        for k in ks:
            self.slots[k] = None

    def check_nothing_dead_is_held(self, live, where) -> None:
        for k, v in enumerate(self.slots):
            if v is None:
                continue
            owners = [r for r in live if self.alloc.slot.get(r) == k and self.cur.get(r) == v]
            assert owners, f"at {where}: r{k} still holds dead value {v}"

    def enter(self, b: int) -> None:
        self.trace.append(f"enter b{b}")
        self.release(self.alloc.release_on_entry.get(b, []))
        self.check_nothing_dead_is_held(self.before[(b, 0)], f"entry of b{b}")

    def run(self, max_steps: int = 60) -> None:
        fn = self.fn
        b = fn.entry
        self.enter(b)
        for _ in range(max_steps):
            block = fn.blocks[b]
            n = len(block.ops)
            for i, op in enumerate(list(block.ops) + [block.terminator]):
                self.trace.append(f"b{b}[{i}] {type(op).__name__}")
                for r in op.uses():
                    self.read(r)
                if block.handler is not None and may_raise(op) and self.rng.random() < 0.2:
                    h = block.handler
                    self.trace.append(f"raise -> b{h.target}")
                    for r in (h.exc_dest, h.lasti_dest):
                        if r is not None:
                            self.write(r, next(self.fresh))
                    b = h.target
                    self.enter(b)
                    break
                if i < n:
                    if isinstance(op, Move):
                        self.write(op.dest, self.cur.get(op.src, next(self.fresh)))
                    else:
                        for r in op.defs():
                            self.write(r, next(self.fresh))
                    self.release(self.alloc.release_after.get((b, i), []))
                    self.check_nothing_dead_is_held(self.after[(b, i)], f"after b{b}[{i}]")
                    continue
                if isinstance(op, ForIter):
                    exhausted = self.rng.random() < 0.3
                    if not exhausted:
                        self.write(op.dest, next(self.fresh))
                    b = op.exit if exhausted else op.body
                else:
                    succs = successors(op)
                    if not succs:
                        return
                    b = self.rng.choice(succs)
                self.enter(b)


@FAST
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_run_correctly_on_the_allocated_slots(fn, seed):
    alloc = allocate(fn)
    rng = random.Random(seed)
    before = oracle_live_before(fn)
    for _ in range(5):
        m = Machine(fn, alloc, rng, before)
        try:
            m.run()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{format_allocation(fn, alloc)}\n"
                                 + "\n".join(m.trace[-30:])) from None


@FAST
@given(programs())
def test_random_programs_interference_is_respected(fn):
    alloc = allocate(fn)
    before = oracle_live_before(fn)
    after = oracle_live_after(fn, before)
    slot = alloc.slot

    def check(defs, live, exempt=None):
        for d in defs:
            for r in live:
                if r != d and r != exempt and d in slot and r in slot:
                    assert slot[d] != slot[r], (d, r, format_allocation(fn, alloc))

    for (b, i) in points_of(fn):
        block = fn.blocks[b]
        if i < len(block.ops):
            op = block.ops[i]
            check(op.defs(), after[(b, i)], op.src if isinstance(op, Move) else None)
            check(op.defs(), op.defs())
        else:
            term = block.terminator
            if isinstance(term, ForIter):
                check([term.dest], before[(term.body, 0)])
        if block.handler is not None:
            h = block.handler
            regs = [r for r in (h.exc_dest, h.lasti_dest) if r is not None]
            check(regs, before[(h.target, 0)])
            check(regs, regs)
    # every stack/tmp register got a slot, no var did
    for r in slot:
        assert r.kind in ("stack", "tmp")


@pytest.mark.parametrize("func", REAL_FUNCTIONS, ids=lambda f: f.__name__)
def test_real_functions_run_correctly_on_the_allocated_slots(func):
    from justjit.frontend import build_ir

    fn = build_ir(func)
    alloc = allocate(fn)
    assert alloc.num_slots < len(alloc.slot)
    rng = random.Random(1)
    before = oracle_live_before(fn)
    for _ in range(50):
        Machine(fn, alloc, rng, before).run(300)
