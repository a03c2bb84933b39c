"""The Relooper's output: a tree of shapes (Zakai, "Emscripten", 2011).

A shape is a piece of structured control flow over the blocks of a CFG:

- `Simple(block)`: run the block once.
- `Loop(entries, inner)`: run `inner` over and over. Inside, a branch to an entry is a
  `continue`; a branch to an entry of the loop's `next` is a `break`.
- `Multiple(entries, handled)`: run at most one of the handled shapes, picked by where control
  is going; a branch to an unhandled entry skips them all and lands in `next`.

Every shape may have a `next` shape that runs after it: shapes form a chain (a sequence), and a
branch "to `next`" is one of the ways out of a shape. A shape with more than one entry is
entered by first setting the label variable to the target block (see `needs_label`).

These classes hold no analysis (that is `analysis.py`) and no rendering (that is
`structured.py`), only the tree and a printer, so each stage can be read and tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Union


@dataclass(eq=True)
class Simple:
    block: int
    next: Optional[Shape] = None


@dataclass(eq=True)
class Loop:
    id: int
    entries: tuple[int, ...]
    inner: Shape
    next: Optional[Shape] = None


@dataclass(eq=True)
class Multiple:
    id: int
    # All the blocks by which control may enter: the handled ones and those that go to `next`.
    entries: tuple[int, ...]
    handled: dict[int, Shape]
    next: Optional[Shape] = None


Shape = Union[Simple, Loop, Multiple]


def entries(shape: Shape) -> tuple[int, ...]:
    """The blocks by which control may enter `shape`."""
    if isinstance(shape, Simple):
        return (shape.block,)
    return shape.entries


def needs_label(shape: Shape) -> bool:
    """Whether a branch into `shape` must say, through the label, which entry it means."""
    return len(entries(shape)) > 1


def chain(shape: Optional[Shape]) -> Iterator[Shape]:
    """`shape`, its `next`, the next's `next`, ... (iterative: chains can be long)."""
    while shape is not None:
        yield shape
        shape = shape.next


def format_shape(shape: Optional[Shape]) -> str:
    """Text form: one line per shape, nesting by indentation, a chain as a list of siblings.

        Simple 0
        Loop L1 [1]:
          Simple 1
        Multiple M2 [2, 3]:
          case 2:
            Simple 2
        Simple 3
    """
    lines: list[str] = []
    _format(shape, 0, lines)
    return "\n".join(lines) + "\n"


def _format(shape: Optional[Shape], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    for s in chain(shape):
        if isinstance(s, Simple):
            lines.append(f"{pad}Simple {s.block}")
        elif isinstance(s, Loop):
            lines.append(f"{pad}Loop L{s.id} {_ids(s.entries)}:")
            _format(s.inner, depth + 1, lines)
        else:
            lines.append(f"{pad}Multiple M{s.id} {_ids(s.entries)}:")
            for block, arm in s.handled.items():
                lines.append(f"{pad}  case {block}:")
                _format(arm, depth + 2, lines)


def _ids(blocks: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, blocks)) + "]"
