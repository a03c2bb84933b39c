"""The Relooper's analysis: turn any CFG into a tree of `Simple`, `Loop` and `Multiple` shapes.

The input is abstract: an entry block and, for each block, its distinct successors. Nothing
here knows about the IR, so the analysis can be tested on random graphs.

The algorithm is Zakai's (Emscripten, 2011). It works on a *region*: a set of blocks, the
branches among them that are still unexplained, and the entries by which control comes in.
Every block of a region is reachable from its entries. One step takes a shape off the front of
the region and leaves the rest, with new entries, to the shape's `next`:

- one entry that nothing in the region branches back to: `Simple`. Its successors are the
  entries of the rest.
- several entries, some of which own a group of blocks that no other entry reaches and that
  nothing outside the group branches into: `Multiple`, with one case per such group. Branches
  out of the groups, and the other entries, go to the rest.
- otherwise: `Loop`. Its body is every block that can reach back to an entry; inside it the
  branches to the entries are `continue`s and are taken out of the body's region, so the body
  has fewer branches and the process ends. The blocks the body branches to are the entries of
  the rest. An irreducible cycle (a cycle with two ways in) has no Multiple to split it, so it
  becomes a Loop with several entries: the label-dispatch fallback.

Branches already explained by an enclosing shape (continue, break, leaving a Multiple's case)
are not in the region any more; the renderer resolves them from the shape tree.

Two choices, beyond the paper, keep labels and nesting out of the code that Python programs
make (the property tests check that if/else, while/else, break, continue and return never
need a label, save in the two shapes they leave out and explain: a `while` that never loops,
and the tail of a `while True` body that never gets back to the top, for the graph does not
show where such a loop ends):

- A loop with several exits would need a label after it, and an exit taken from inside an
  inner loop would need a labelled break. The blocks that only one exit leads to (a `return`
  inside the loop, a `while ... else` clause) move into the loop body when that leaves fewer
  exits, as long as they branch nowhere but among themselves and to the loop's `next` (a
  branch to an enclosing shape would become a jump across the new nesting). When the exits
  never meet again, one stays after the loop: never one that is left from where an inner
  loop will be (see `inner_loop_blocks`), since the break to it would cross the inner loop;
  then the biggest, so as not to nest the rest of the function.
- A Multiple whose cases all end the region (`if c: return` then the rest of the function)
  would nest everything in its last case. One case moves to `next` instead, so the code stays
  flat, when the others can never fall off their end.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Container, Iterable, Iterator, Mapping, Optional, Sequence

from .shapes import Loop, Multiple, Shape, Simple


def reloop(entry: int, successors: Mapping[int, Sequence[int]]) -> Shape:
    """Structure the CFG reachable from `entry`; unreachable blocks are ignored.

    `successors[b]` lists the distinct successors of block `b`; a block missing from the
    mapping has none (its terminator returns or raises).
    """
    return _Relooper(successors).run(entry)


class _Relooper:
    def __init__(self, successors: Mapping[int, Sequence[int]]) -> None:
        self.successors: dict[int, list[int]] = {}
        for block, targets in successors.items():
            targets = list(targets)
            if len(set(targets)) != len(targets):
                raise ValueError(f"block {block} lists a successor twice: {targets}")
            self.successors[block] = targets
        self.rank: dict[int, int] = {}
        # Regions waiting for their shape, and where to put it. A worklist rather than
        # recursion, so that deep nesting (a long elif chain) cannot overflow the stack.
        self.work: list[tuple[_Region, list[int], Callable[[Shape], None]]] = []

    def run(self, entry: int) -> Shape:
        order = _reverse_postorder(entry, self.succ)
        # Sorting by reverse postorder makes the output deterministic and close to source order.
        self.rank = {b: i for i, b in enumerate(order)}
        result: list[Shape] = []
        self.work.append((_Region({b: list(self.succ(b)) for b in order}), [entry],
                          result.append))
        while self.work:
            region, entries, put = self.work.pop()
            put(self.process(region, entries))
        _number(result[0])
        return result[0]

    def succ(self, block: int) -> list[int]:
        return self.successors.get(block, [])

    # ----------------------------------------------------------------------------------------
    # Steps

    def process(self, region: _Region, entries: list[int]) -> Shape:
        """The chain of shapes for a region; the insides of its Loops and Multiples are left
        on the worklist."""
        first: Optional[Shape] = None
        last: Optional[Shape] = None
        while entries:
            shape, entries = self.step(region, entries)
            if last is None:
                first = shape
            else:
                last.next = shape
            last = shape
        assert first is not None and not region.succ, "every block of a region gets a shape"
        return first

    def step(self, region: _Region, entries: list[int]) -> tuple[Shape, list[int]]:
        """Take one shape off the front of `region`; return it and the entries of the rest."""
        if len(entries) == 1:
            entry = entries[0]
            if not region.preds[entry]:
                targets = region.succ[entry]
                region.remove({entry})
                return Simple(entry), self.sort(targets)
            return self.loop(region, entries)
        found = self.multiple(region, entries)
        if found is not None:
            return found
        return self.loop(region, entries)

    def loop(self, region: _Region, entries: list[int]) -> tuple[Shape, list[int]]:
        inside = _flood(entries, region.preds.__getitem__)  # blocks that can reach an entry
        exits = self.exits(region, inside)
        while exits:  # moving blocks in can make new exits movable: again until stuck
            wider = inside | self.absorbable(region, entries, inside, exits)
            fewer = self.exits(region, wider)
            if len(fewer) >= len(exits):
                break
            inside, exits = wider, fewer
        body = region.sub(inside, drop=set(entries))  # branches to the entries: continue
        region.remove(inside)
        loop = Loop(0, tuple(entries), inner=None)  # type: ignore[arg-type]  # filled below
        self.work.append((body, entries, lambda inner: setattr(loop, "inner", inner)))
        return loop, exits

    def absorbable(self, region: _Region, entries: list[int], inside: set[int],
                   exits: list[int]) -> set[int]:
        """Blocks after a loop that may move into its body, so that fewer exits remain."""
        nested: Optional[set[int]] = None

        def deep(exit: int) -> bool:  # left from where an inner loop will be
            nonlocal nested
            if nested is None:
                nested = self.inner_loop_blocks(region, set(entries), inside)
            return any(p in nested for p in region.preds[exit])

        if len(exits) == 1 and not deep(exits[0]):
            return set()  # the common case, decided without looking at the rest
        owner = _sole_owners(exits, lambda b: [t for t in region.succ[b] if t not in inside])
        own: dict[int, set[int]] = {x: set() for x in exits}
        for block, x in owner.items():
            if x is not _SHARED:
                own[x].add(block)
        movable = [x for x in exits if own[x] and self.keeps_all_edges(region, own[x])]
        if _SHARED not in owner.values() and len(movable) == len(exits):
            # The exits never meet again and all could move. The biggest one that the body
            # leaves from outside its inner loops stays after the loop, not to nest the rest
            # of the function. If every exit leaves from an inner loop, all move: a break
            # from there would need lowering.
            shallow = [x for x in movable if not deep(x)]
            if shallow:
                movable.remove(max(shallow, key=lambda x: (len(own[x]), self.rank[x])))
        return set().union(*(own[x] for x in movable))

    def inner_loop_blocks(self, region: _Region, heads: set[int], inside: set[int]) -> set[int]:
        """The blocks of a loop body (`inside`, entered by `heads`) that an inner loop will hold.

        An inner loop is a cycle that avoids the heads. Besides its cycle, it takes in what
        `absorbable` will move into it, as seen from here:

        - when its exits meet again, the blocks that only one exit leads to (the code of an
          `if c: ... break` inside it, a while/else clause);
        - when they never meet, the blocks of all the exits but the biggest;
        - the blocks between the cycle and its exits, that the cycle reaches and that reach one
          of its exits again (moved in over several rounds).

        A branch from any of them to past the outer loop would be a break across the inner
        loop.
        """
        def succ(b: int) -> list[int]:
            return [t for t in region.succ[b] if t in inside and t not in heads]

        nested: set[int] = set()
        for cycle in _cycles(inside, succ):
            exits = self.sort({t for b in cycle for t in succ(b) if t not in cycle})
            owner = _sole_owners(exits, succ)
            own: dict[int, set[int]] = {x: set() for x in exits}
            for block, x in owner.items():
                if x is not _SHARED:
                    own[x].add(block)
            if _SHARED not in owner.values() and own:
                del own[max(own, key=lambda x: (len(own[x]), self.rank[x]))]
            nested |= cycle
            nested.update(*own.values())

            after = _flood(exits, succ)

            def pred(b: int, after: set[int] = after) -> list[int]:
                return [p for p in region.preds[b] if p in after and b not in heads]

            nested |= _flood([p for y in exits for p in pred(y)], pred)
        return nested

    def multiple(self, region: _Region, entries: list[int]) -> Optional[tuple[Shape, list[int]]]:
        owner = _sole_owners(entries, region.succ.__getitem__)
        groups: dict[int, set[int]] = {e: set() for e in entries}
        for block, e in owner.items():
            if e is not _SHARED:
                groups[e].add(block)
        # A group may loop back to its own entry, but nothing else may branch into it.
        groups = {e: group for e, group in groups.items()
                  if e in group and region.preds[e] <= group}
        if not groups:
            return None
        handled = set().union(*groups.values())
        if len(groups) == len(entries) and len(handled) == len(region.succ):
            moved = self.group_for_next(groups)
            if moved is not None:
                handled -= groups.pop(moved)
        multiple = Multiple(0, tuple(entries), dict.fromkeys(groups))  # type: ignore[arg-type]
        for e, group in groups.items():
            self.work.append((region.sub(group), [e], partial(multiple.handled.__setitem__, e)))
        rest_entries = set(self.exits(region, handled))
        rest_entries.update(e for e in entries if e not in groups)
        region.remove(handled)
        return multiple, self.sort(rest_entries)

    def group_for_next(self, groups: dict[int, set[int]]) -> Optional[int]:
        """When no block follows a Multiple, the group that may become its `next`.

        The other groups' code is then followed by that group's instead of by nothing, so
        they must never fall off their end: they must only branch among themselves (and
        return), which `closed` checks on the original graph.
        """
        open_groups = [e for e, group in groups.items() if not self.closed(group)]
        if len(open_groups) > 1:
            return None
        if open_groups:
            return open_groups[0]
        return max(groups, key=lambda e: (len(groups[e]), self.rank[e]))

    # ----------------------------------------------------------------------------------------
    # Helpers

    def exits(self, region: _Region, inside: set[int]) -> list[int]:
        return self.sort({t for b in inside for t in region.succ[b] if t not in inside})

    def keeps_all_edges(self, region: _Region, blocks: set[int]) -> bool:
        """No branch of these blocks was explained by an enclosing shape."""
        return all(len(region.succ[b]) == len(self.succ(b)) for b in blocks)

    def closed(self, blocks: set[int]) -> bool:
        return all(t in blocks for b in blocks for t in self.succ(b))

    def sort(self, blocks: Iterable[int]) -> list[int]:
        return sorted(blocks, key=self.rank.__getitem__)


def _number(root: Shape) -> None:
    """Give Loops and Multiples ids 1, 2, ... in preorder (a shape, its insides, its next)."""
    last_id = 0
    work = [root]
    while work:
        shape = work.pop()
        if shape.next is not None:
            work.append(shape.next)
        if isinstance(shape, Loop):
            last_id += 1
            shape.id = last_id
            work.append(shape.inner)
        elif isinstance(shape, Multiple):
            last_id += 1
            shape.id = last_id
            work.extend(reversed(shape.handled.values()))


class _Region:
    """Blocks still to be structured, with their unexplained branches both ways.

    Taking a shape off the front of a region changes it in place, in time proportional to
    the blocks taken, so a long chain of Simples costs linear time.
    """

    def __init__(self, succ: dict[int, list[int]]) -> None:
        self.succ = succ
        self.preds: dict[int, set[int]] = {b: set() for b in succ}
        for block, targets in succ.items():
            for t in targets:
                self.preds[t].add(block)

    def sub(self, blocks: set[int], drop: Container[int] = ()) -> _Region:
        """A new region of `blocks`, without the branches that leave it or go to `drop`."""
        return _Region({b: [t for t in self.succ[b] if t in blocks and t not in drop]
                        for b in blocks})

    def remove(self, blocks: set[int]) -> None:
        """Take out `blocks`, which the rest of the region must not branch to."""
        for b in blocks:
            for t in self.succ.pop(b):
                if t not in blocks:
                    self.preds[t].discard(b)
        for b in blocks:
            assert self.preds[b] <= blocks, "a shape was entered from the rest of its region"
            del self.preds[b]


_SHARED = object()


def _sole_owners(starts: list[int], succ: Callable[[int], Iterable[int]]) -> dict:
    """For each block reachable from `starts`: the only start that reaches it, or _SHARED.

    One pass in all: a block goes from unseen to owned to shared at most once, and only a
    change floods its successors.
    """
    owner: dict[int, object] = {}
    for start in starts:
        work = [start]
        while work:
            block = work.pop()
            if block not in owner:
                owner[block] = start
                work.extend(succ(block))
            elif owner[block] is not _SHARED and owner[block] != start:
                # Reached from two starts: so is everything after it.
                shared = [block]
                while shared:
                    b = shared.pop()
                    if owner.get(b) is not _SHARED:
                        owner[b] = _SHARED
                        shared.extend(succ(b))
    return owner


def _reverse_postorder(entry: int, succ) -> list[int]:
    # Visiting successors last-first puts the first successor's blocks first in the result,
    # which reads like source order for the usual "fall through first" successor lists.
    seen = {entry}
    post: list[int] = []
    stack = [(entry, reversed(succ(entry)))]
    while stack:
        block, targets = stack[-1]
        for t in targets:
            if t not in seen:
                seen.add(t)
                stack.append((t, reversed(succ(t))))
                break
        else:
            stack.pop()
            post.append(block)
    post.reverse()
    return post


def _cycles(blocks: Iterable[int], succ: Callable[[int], list[int]]) -> Iterator[set[int]]:
    """The strongly connected components of the graph on `blocks` that hold a cycle (Tarjan's
    algorithm, iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    for root in blocks:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ(root)))]
        while work:
            block, targets = work[-1]
            for t in targets:
                if t not in index:
                    index[t] = low[t] = len(index)
                    stack.append(t)
                    on_stack.add(t)
                    work.append((t, iter(succ(t))))
                    break
                if t in on_stack:
                    low[block] = min(low[block], index[t])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[block])
                if low[block] == index[block]:
                    component = set()
                    while True:
                        b = stack.pop()
                        on_stack.discard(b)
                        component.add(b)
                        if b == block:
                            break
                    if len(component) > 1 or block in succ(block):
                        yield component


def _flood(starts: Iterable[int], edges: Callable[[int], Iterable[int]]) -> set[int]:
    seen = set(starts)
    work = list(seen)
    while work:
        for t in edges(work.pop()):
            if t not in seen:
                seen.add(t)
                work.append(t)
    return seen
