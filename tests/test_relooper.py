"""Tests for the Relooper (justjit/relooper): golden cases, then properties on random CFGs.

The golden cases put a graph, its shape tree and its structured program side by side. A graph
is written one block a line, `block -> successors`; the first block is the entry.

The properties run the graph and the structured program (before and after lowering the
labelled jumps) with the same choices at each branch, and compare the blocks they visit.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from justjit.relooper import (execute, execute_graph, format_ast, format_shape,
                              lower_labelled_jumps, reloop, render, verify)
from justjit.relooper import shapes
from justjit.relooper.structured import BlockCode, Loop, SetLabel, walk

STEPS = 200


# --------------------------------------------------------------------------------------------
# Helpers


def parse_graph(text: str) -> tuple[int, dict[int, list[int]]]:
    successors: dict[int, list[int]] = {}
    for line in text.strip().splitlines():
        block, _, targets = line.partition("->")
        successors[int(block)] = [int(t) for t in targets.split()]
    return next(iter(successors)), successors


def structure(entry, successors):
    shape = reloop(entry, successors)
    program = render(shape, successors)
    verify(program)
    lowered = lower_labelled_jumps(program)
    verify(lowered, innermost=True)
    return shape, program, lowered


def driver(seed: int):
    rng = random.Random(seed)
    picks = [rng.randrange(1 << 20) for _ in range(STEPS)]
    return lambda block, targets, step: targets[picks[step] % len(targets)]


def reachable(entry, successors) -> set[int]:
    seen, work = {entry}, [entry]
    while work:
        for t in successors.get(work.pop(), ()):
            if t not in seen:
                seen.add(t)
                work.append(t)
    return seen


def all_shapes(shape):
    work = [shape]
    while work:
        for s in shapes.chain(work.pop()):
            yield s
            if isinstance(s, shapes.Loop):
                work.append(s.inner)
            elif isinstance(s, shapes.Multiple):
                work.extend(s.handled.values())


def simple_blocks(shape) -> list[int]:
    return [s.block for s in all_shapes(shape) if isinstance(s, shapes.Simple)]


def check_equivalent(entry, successors, seeds):
    shape, program, lowered = structure(entry, successors)
    # Each reachable block is emitted exactly once: nothing is duplicated or lost.
    blocks = sorted(reachable(entry, successors))
    assert sorted(simple_blocks(shape)) == blocks
    assert sorted(s.block for s in walk(program.stmts) if isinstance(s, BlockCode)) == blocks
    for seed in seeds:
        expected = execute_graph(entry, successors, driver(seed), STEPS)
        assert execute(program, driver(seed), STEPS) == expected
        assert execute(lowered, driver(seed), STEPS) == expected
    return shape, program, lowered


# --------------------------------------------------------------------------------------------
# Golden cases: graph, shape tree, structured program (and the lowered program if it differs)

GOLDEN = {
    "if/else diamond: a fused Multiple, no label": """
0 -> 1 2
1 -> 3
2 -> 3
3 ->
--- shape
Simple 0
Multiple M1 [1, 2]:
  case 1:
    Simple 1
  case 2:
    Simple 2
Simple 3
--- program
block 0
branch 0:
  to 1:
    block 1
    branch 1:
      to 3: pass
  to 2:
    block 2
    branch 2:
      to 3: pass
block 3
exit 3
""",

    "while loop with a break: both exits reach 4, so no label": """
0 -> 1
1 -> 2 4
2 -> 3 4
3 -> 1
4 ->
--- shape
Simple 0
Loop L1 [1]:
  Simple 1
  Simple 2
  Simple 3
Simple 4
--- program
block 0
branch 0:
  to 1: pass
loop L1:
  block 1
  branch 1:
    to 2: pass
    to 4: break L1
  block 2
  branch 2:
    to 3: pass
    to 4: break L1
  block 3
  branch 3:
    to 1: pass
block 4
exit 4
""",

    "three nested loops; 4 continues the outer loop, so the jump is relayed outwards": """
0 -> 1
1 -> 2 9
2 -> 3 8
3 -> 4 7
4 -> 3 1
7 -> 2
8 -> 1
9 ->
--- shape
Simple 0
Loop L1 [1]:
  Simple 1
  Loop L2 [2]:
    Simple 2
    Loop L3 [3]:
      Simple 3
      Simple 4
    Simple 7
  Simple 8
Simple 9
--- program
block 0
branch 0:
  to 1: pass
loop L1:
  block 1
  branch 1:
    to 2: pass
    to 9: break L1
  loop L2:
    block 2
    branch 2:
      to 3: pass
      to 8: break L2
    loop L3:
      block 3
      branch 3:
        to 4: pass
        to 7: break L3
      block 4
      branch 4:
        to 3: pass
        to 1: continue L1
    block 7
    branch 7:
      to 2: pass
  block 8
  branch 8:
    to 1: pass
block 9
exit 9
--- lowered
block 0
branch 0:
  to 1: pass
loop L1:
  block 1
  branch 1:
    to 2: pass
    to 9: break L1
  loop L2:
    block 2
    branch 2:
      to 3: pass
      to 8: break L2
    loop L3:
      block 3
      branch 3:
        to 4: pass
        to 7: break L3
      block 4
      branch 4:
        to 3: pass
        to 1: ctl = 1; break L3
    if ctl != 0: break L2
    block 7
    branch 7:
      to 2: pass
  if ctl == 1: ctl = 0; continue L1
  block 8
  branch 8:
    to 1: pass
block 9
exit 9
""",

    "irreducible: the cycle 1 <-> 2 has two ways in, so the label picks the entry": """
0 -> 1 2
1 -> 2 3
2 -> 1
3 ->
--- shape
Simple 0
Loop L1 [2, 1]:
  Multiple M2 [2, 1]:
    case 2:
      Simple 2
    case 1:
      Simple 1
Simple 3
--- program
block 0
branch 0:
  to 1: label = 1
  to 2: label = 2
loop L1:
  if label == 2:
    block 2
    branch 2:
      to 1: label = 1
  elif label == 1:
    block 1
    branch 1:
      to 2: label = 2
      to 3: break L1
block 3
exit 3
""",

    "a return inside a loop moves into the body, so the loop keeps one exit": """
0 -> 1
1 -> 2 4
2 -> 3 1
3 ->
4 ->
--- shape
Simple 0
Loop L1 [1]:
  Simple 1
  Simple 2
  Simple 3
Simple 4
--- program
block 0
branch 0:
  to 1: pass
loop L1:
  block 1
  branch 1:
    to 2: pass
    to 4: break L1
  block 2
  branch 2:
    to 3: pass
    to 1: continue L1
  block 3
  exit 3
block 4
exit 4
""",

    "while/else: the else clause 5 moves into the body, where the header branches to it": """
0 -> 1
1 -> 2 5
2 -> 3 6
3 -> 1
5 -> 6
6 ->
--- shape
Simple 0
Loop L1 [1]:
  Simple 1
  Multiple M2 [2, 5]:
    case 2:
      Simple 2
      Simple 3
    case 5:
      Simple 5
Simple 6
--- program
block 0
branch 0:
  to 1: pass
loop L1:
  block 1
  branch 1:
    to 2:
      block 2
      branch 2:
        to 3: pass
        to 6: break L1
      block 3
      branch 3:
        to 1: pass
    to 5:
      block 5
      branch 5:
        to 6: break L1
block 6
exit 6
""",

    "early returns: the code after each `if c: return` follows it instead of nesting": """
0 -> 1 2
1 ->
2 -> 3 4
3 ->
4 -> 5
5 ->
--- shape
Simple 0
Multiple M1 [1, 2]:
  case 1:
    Simple 1
Simple 2
Multiple M2 [3, 4]:
  case 3:
    Simple 3
Simple 4
Simple 5
--- program
block 0
branch 0:
  to 1:
    block 1
    exit 1
  to 2: pass
block 2
branch 2:
  to 3:
    block 3
    exit 3
  to 4: pass
block 4
branch 4:
  to 5: pass
block 5
exit 5
""",

    "a case left from the middle of a chain (a match pattern): nested ifs, no one-shot loop": """
0 -> 1 4
1 -> 2 4
2 -> 3 4
3 ->
4 ->
--- shape
Simple 0
Multiple M1 [1, 4]:
  case 1:
    Simple 1
    Simple 2
    Simple 3
Simple 4
--- program
block 0
branch 0:
  to 1:
    block 1
    branch 1:
      to 2:
        block 2
        branch 2:
          to 3:
            block 3
            exit 3
          to 4: pass
      to 4: pass
  to 4: pass
block 4
exit 4
""",

    "a case left from its middle (2 skips 3): the Multiple becomes a one-shot loop": """
0 -> 1 5
1 -> 3 2
2 -> 3 5
3 -> 5
5 ->
--- shape
Simple 0
Multiple M1 [1, 5]:
  case 1:
    Simple 1
    Multiple M2 [2, 3]:
      case 2:
        Simple 2
    Simple 3
Simple 5
--- program
loop L1:
  block 0
  branch 0:
    to 1:
      block 1
      branch 1:
        to 3: pass
        to 2:
          block 2
          branch 2:
            to 3: pass
            to 5: break L1
      block 3
      branch 3:
        to 5: pass
    to 5: pass
  break L1
block 5
exit 5
""",
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden(name):
    graph, _, expected = GOLDEN[name].partition("--- shape\n")
    expected_shape, _, expected = expected.partition("--- program\n")
    expected_program, _, expected_lowered = expected.partition("--- lowered\n")
    entry, successors = parse_graph(graph)
    shape, program, lowered = check_equivalent(entry, successors, range(20))
    assert format_shape(shape) == expected_shape
    assert format_ast(program) == expected_program
    assert format_ast(lowered) == (expected_lowered or expected_program)


# --------------------------------------------------------------------------------------------
# Random CFGs


@st.composite
def random_cfgs(draw):
    """Any graph: self loops, cycles with many ways in, unreachable blocks, odd block ids."""
    n = draw(st.integers(1, 12))
    ids = draw(st.lists(st.integers(-5, 1000), min_size=n, max_size=n, unique=True))
    successors = {}
    for b in ids:
        successors[b] = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3))
    return draw(st.sampled_from(ids)), successors


# Python-like programs: statements are "pass", "break", "continue", "return",
# ("if", then, else) and ("while", body, else or None, forever).
_stmt = st.recursive(
    st.sampled_from(["pass", "break", "continue", "return"]),
    lambda inner: st.one_of(
        st.tuples(st.just("if"), st.lists(inner, max_size=3), st.lists(inner, max_size=3)),
        st.tuples(st.just("while"), st.lists(inner, max_size=3),
                  st.none() | st.lists(inner, max_size=2), st.booleans()),
    ),
    max_leaves=16,
)
_programs = st.lists(_stmt, min_size=1, max_size=4)


@dataclass
class _LoopCtx:
    header: int
    exit: int


class _Builder:
    """Compiles a Python-like program to a CFG the way a bytecode compiler would."""

    def __init__(self) -> None:
        self.successors: dict[int, list[int]] = {}
        self.loops_that_never_loop = 0
        self.forever_bodies: list[tuple[int, set[int]]] = []  # (header, body blocks)

    def new(self) -> int:
        block = len(self.successors)
        self.successors[block] = []
        return block

    def edge(self, a: int, b: int) -> None:
        self.successors[a].append(b)

    def stmts(self, stmts, cur, loops):
        for stmt in stmts:
            if cur is None:
                break  # dead code
            cur = self.stmt(stmt, cur, loops)
        return cur

    def stmt(self, stmt, cur, loops):
        if stmt == "return":
            return None
        if stmt in ("break", "continue") and loops:
            self.edge(cur, loops[-1].exit if stmt == "break" else loops[-1].header)
            return None
        if isinstance(stmt, str):  # pass, or break/continue outside a loop
            nxt = self.new()
            self.edge(cur, nxt)
            return nxt
        if stmt[0] == "if":
            _, then, orelse = stmt
            t = self.new()
            self.edge(cur, t)
            ends = [self.stmts(then, t, loops)]
            join = self.new()
            if orelse:
                e = self.new()
                self.edge(cur, e)
                ends.append(self.stmts(orelse, e, loops))
            else:
                self.edge(cur, join)
            for end in ends:
                if end is not None:
                    self.edge(end, join)
            return join if self.preds(join) else None
        _, body, orelse, forever = stmt
        header = self.new()
        self.edge(cur, header)
        b = self.new()
        after = self.new()
        self.edge(header, b)
        preds_before = self.preds(header)
        end = self.stmts(body, b, loops + [_LoopCtx(header, after)])
        if end is not None:
            self.edge(end, header)
        if self.preds(header) == preds_before:
            self.loops_that_never_loop += 1
        if forever:
            self.forever_bodies.append((header, {b} | set(range(after + 1, len(self.successors)))))
        if not forever:
            if orelse is None:
                self.edge(header, after)
            else:
                e = self.new()
                self.edge(header, e)
                # A break or continue in an else clause, out to an enclosing loop, needs a flag
                # in any language without goto (the inner loop has two exits going to different
                # levels), so here it is left out: the clause sees no enclosing loop.
                end = self.stmts(orelse, e, [])
                if end is not None:
                    self.edge(end, after)
        return after if self.preds(after) else None

    def preds(self, block: int) -> int:
        return sum(block in targets for targets in self.successors.values())

    def forever_loops_with_a_tail(self) -> int:
        """`while True` loops with a branch in their body that never gets back to the top.

        Without a test, nothing in the graph says where such a loop ends: for the graph the
        loop ends at that branch, and the rest of the body, which only leaves the loop, comes
        after it. A `break` from the middle of an if there (one that skips code after the if)
        is then a jump past code that follows it, which needs a label.
        """
        count = 0
        for header, body in self.forever_bodies:
            for block in body:
                if len(self.successors[block]) > 1 and \
                        header not in reachable(block, self.successors):
                    count += 1
                    break
        return count


def python_cfg(program, builder=None) -> dict[int, list[int]]:
    builder = builder or _Builder()
    builder.stmts(program, builder.new(), [])
    return builder.successors


@st.composite
def tangled_cfgs(draw):
    """A Python-like CFG plus a few random edges: irreducible loops, jumps into loops."""
    successors = python_cfg(draw(_programs))
    blocks = list(successors)
    for _ in range(draw(st.integers(1, 4))):
        a, b = draw(st.sampled_from(blocks)), draw(st.sampled_from(blocks))
        if b not in successors[a] and len(successors[a]) < 3:
            successors[a].append(b)
    return successors


# JUSTJIT_HYPOTHESIS_EXAMPLES=20000 runs the properties much longer (to hunt for rare cases).
FAST = settings(max_examples=int(os.environ.get("JUSTJIT_HYPOTHESIS_EXAMPLES", 300)),
                deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(random_cfgs(), st.lists(st.integers(0, 1 << 30), min_size=1, max_size=3))
def test_random_cfgs_visit_the_same_blocks(cfg, seeds):
    entry, successors = cfg
    check_equivalent(entry, successors, seeds)


@FAST
@given(tangled_cfgs(), st.lists(st.integers(0, 1 << 30), min_size=1, max_size=3))
def test_tangled_cfgs_visit_the_same_blocks(successors, seeds):
    check_equivalent(0, successors, seeds)


@FAST
@given(_programs, st.lists(st.integers(0, 1 << 30), min_size=1, max_size=3))
# A return (or an endless loop) inside an inner loop, reached from an `if` that the inner loop's
# `continue` and `break` also leave: the inner loop must hold it, and so the outer loop must
# not keep it as its next (its own `while` test leads there instead).
@example(program=[('while', [('while', [('if', [], ['continue']), ('if', [], ['break']),
                                         ('while', [], None, True)], None, False)],
                   None, False)], seeds=[0])
@example(program=[('while', [('while', [('if', [], ['continue']), ('if', [], ['break']),
                                         'return'], None, False)], None, False)], seeds=[0])
@example(program=[('while', [('if', ['break'], []),
                             ('while', [('if', [], ['continue']), ('if', [], ['break']),
                                        'return'], None, False)], None, True)], seeds=[0])
# The same with the return in a while/else clause of the inner loop.
@example(program=[('while', [('while', [('if', [], ['break'])],
                              [('if', [], ['pass', 'return'])], False)], None, False)],
         seeds=[0])
def test_python_programs_need_no_label(program, seeds):
    """What if/else, while/else, break, continue and return make needs no label, no one-shot
    loop and no control variable: Python's own structure suffices."""
    builder = _Builder()
    successors = python_cfg(program, builder)
    # A `while` whose body never gets back to its test is no loop in the graph, and a break
    # out of it, from the middle of an if, needs a label or a one-shot loop. So does a break
    # from the part of a `while True` body that never gets back to the top (see
    # `forever_loops_with_a_tail`).
    assume(builder.loops_that_never_loop == 0)
    assume(builder.forever_loops_with_a_tail() == 0)
    shape, structured, lowered = check_equivalent(0, successors, seeds)
    assert lowered == structured
    loop_shapes = {s.id for s in all_shapes(shape) if isinstance(s, shapes.Loop)}
    for stmt in walk(structured.stmts):
        assert not isinstance(stmt, SetLabel)
        if isinstance(stmt, Loop):
            assert stmt.loop_id in loop_shapes, "a Multiple needed a one-shot loop"


def test_a_forever_loop_with_a_tail_needs_a_label():
    """The case the property above leaves out:

        while True:
            if a: pass
            else:                   # never gets back to the top: for the graph, the loop
                if b: pass          # ends before this `else`
                else:
                    if c: pass
                    else: break     # block 12: skips block 8
                break               # block 8

    After the loop (as the graph has it), block 12's jump to the end skips block 8, which
    the other paths run, so it needs a label. Still structured correctly."""
    program = [("while", [("if", [], [("if", [], [("if", [], ["break"])]), "break"])],
                None, True)]
    builder = _Builder()
    successors = python_cfg(program, builder)
    assert builder.forever_loops_with_a_tail() == 1 and builder.loops_that_never_loop == 0
    _, program, lowered = check_equivalent(0, successors, range(20))
    assert lowered == program
    assert [s for s in walk(program.stmts) if isinstance(s, SetLabel)] == [
        SetLabel(8), SetLabel(8), SetLabel(3)]


@FAST
@given(random_cfgs())
def test_cycles_are_the_strongly_connected_components_with_a_cycle(cfg):
    from justjit.relooper.analysis import _cycles
    _, successors = cfg
    succ = successors.__getitem__
    components = list(_cycles(successors, succ))
    on_cycle = {b for b in successors if b in _reach(succ(b), succ)}
    assert sorted(b for c in components for b in c) == sorted(on_cycle)  # disjoint, complete
    for component in components:
        for b in component:
            assert component <= _reach(succ(b), succ)


def _reach(starts, succ) -> set[int]:
    seen, work = set(), list(starts)
    while work:
        b = work.pop()
        if b not in seen:
            seen.add(b)
            work.extend(succ(b))
    return seen


# --------------------------------------------------------------------------------------------
# Edges of the interface


def test_unreachable_blocks_are_ignored_and_missing_blocks_have_no_successors():
    successors = {0: [1], 5: [0, 6], 6: [5]}  # 1 is not a key: it returns
    shape, program, _ = check_equivalent(0, successors, range(3))
    assert format_shape(shape) == "Simple 0\nSimple 1\n"
    assert format_ast(program) == "block 0\nbranch 0:\n  to 1: pass\nblock 1\nexit 1\n"


def test_self_loop_on_entry():
    shape, program, _ = check_equivalent(7, {7: [7, 8], 8: []}, range(10))
    assert format_shape(shape) == "Loop L1 [7]:\n  Simple 7\nSimple 8\n"


def test_duplicate_successors_are_rejected():
    with pytest.raises(ValueError):
        reloop(0, {0: [1, 1]})


def test_long_chains_do_not_recurse():
    successors = {b: [b + 1] for b in range(5000)}
    shape, program, _ = structure(0, successors)
    assert len(simple_blocks(shape)) == 5001


def test_arms_follow_successor_order():
    successors = {0: [3, 1, 2], 1: [], 2: [], 3: []}
    _, program, _ = structure(0, successors)
    dispatch = program.stmts[1]
    assert list(dispatch.arms) == [3, 1, 2]


def test_long_elif_chains_nest_without_overflow():
    # if/elif/.../else with 150 arms: each elif nests in the else of the one before, and every
    # stage must cope with that depth.
    successors = {2 * i: [2 * i + 1, 2 * i + 2] for i in range(150)}
    successors.update({2 * i + 1: [999] for i in range(150)})
    successors.update({300: [999], 999: []})
    shape, program, _ = check_equivalent(0, successors, range(5))
    assert "label" not in format_ast(program)
