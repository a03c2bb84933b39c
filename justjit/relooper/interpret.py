"""Reference interpreters: run a CFG, or a structured program, and record the blocks visited.

They exist for the tests. A structured program is right when, driven by the same choices, it
visits exactly the blocks the graph visits, in the same order. The driver `choose(block,
successors, step)` returns the successor to take when `block` ends; `step` is the index of
`block` in the trace, so a driver that depends only on its arguments is deterministic and
both runs see the same choices. A run stops when a block without successors ends (the
function returns) or after `max_steps` blocks.

Only the structured interpreter knows the semantics of the statement nodes, so this file is
also their executable specification: `label` and `ctl` start unset (None and 0), a
LabelSwitch without a matching case does nothing, a ControlSwitch runs `otherwise` when ctl is
neither 0 nor a case.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

from .structured import (BlockCode, Break, Continue, ControlSwitch, Dispatch, LabelSwitch, Loop,
                         Seq, SetControl, SetLabel, Stmt)

Choose = Callable[[int, list[int], int], int]


def execute_graph(entry: int, successors: Mapping[int, Sequence[int]], choose: Choose,
                  max_steps: int = 200) -> list[int]:
    trace: list[int] = []
    block = entry
    while len(trace) < max_steps:
        trace.append(block)
        targets = list(successors.get(block, ()))
        if not targets:
            break
        block = _pick(choose, block, targets, len(trace) - 1)
    return trace


def execute(program: Seq, choose: Choose, max_steps: int = 200) -> list[int]:
    run = _Run(choose, max_steps)
    try:
        jump = run.stmts(program.stmts)
    except _Stop:
        return run.trace
    raise AssertionError(f"control left the program without returning ({jump})")


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, choose: Choose, max_steps: int) -> None:
        self.choose = choose
        self.max_steps = max_steps
        self.trace: list[int] = []
        self.label: Optional[int] = None
        self.ctl = 0

    def stmts(self, stmts: list[Stmt]) -> Optional[Stmt]:
        """Run a statement list; return the Break/Continue that cut it short, if any."""
        for stmt in stmts:
            if isinstance(stmt, BlockCode):
                if len(self.trace) >= self.max_steps:
                    raise _Stop
                self.trace.append(stmt.block)
            elif isinstance(stmt, Dispatch):
                assert self.trace and self.trace[-1] == stmt.block, "branch without its block"
                if not stmt.arms:
                    raise _Stop  # the block returns (or raises)
                target = _pick(self.choose, stmt.block, list(stmt.arms), len(self.trace) - 1)
                jump = self.stmts(stmt.arms[target])
                if jump is not None:
                    return jump
            elif isinstance(stmt, (Break, Continue)):
                return stmt
            elif isinstance(stmt, Loop):
                jump = self.loop(stmt)
                if jump is not None:
                    return jump
            elif isinstance(stmt, SetLabel):
                self.label = stmt.block
            elif isinstance(stmt, LabelSwitch):
                if self.label in stmt.cases:
                    jump = self.stmts(stmt.cases[self.label])
                    if jump is not None:
                        return jump
            elif isinstance(stmt, SetControl):
                self.ctl = stmt.value
            elif isinstance(stmt, ControlSwitch):
                if self.ctl in stmt.cases:
                    body = stmt.cases[self.ctl]
                else:
                    body = stmt.otherwise if self.ctl != 0 else []
                jump = self.stmts(body)
                if jump is not None:
                    return jump
            else:
                raise TypeError(f"not a statement: {stmt!r}")
        return None

    def loop(self, loop: Loop) -> Optional[Stmt]:
        while True:
            start = len(self.trace)
            jump = self.stmts(loop.body)
            if isinstance(jump, Break) and jump.loop_id == loop.loop_id:
                return None
            if jump is not None and not (isinstance(jump, Continue)
                                         and jump.loop_id == loop.loop_id):
                return jump
            # A correct program visits a block on every trip round a loop; without this
            # check a wrong label would spin here forever.
            if len(self.trace) == start:
                raise AssertionError(f"loop L{loop.loop_id} went round without visiting a block")


def _pick(choose: Choose, block: int, targets: list[int], step: int) -> int:
    target = choose(block, targets, step)
    if target not in targets:
        raise ValueError(f"choose picked {target}, not a successor of {block}: {targets}")
    return target
