"""Differential tests: if/while/for (over every kind of iterable), break/continue, loop else,
ternary, and/or, walrus, match (every pattern kind), assert, del.

PYTEST_DONT_REWRITE: pytest must not rewrite this module (it would rewrite the asserts under test).
"""
import collections
import collections.abc
import enum

from difftest import LOG, Call, check, fresh, note

NAN = float("nan")


# --- if / while / for ------------------------------------------------------------------------

def classify(x):
    if x < 0:
        return "negative"
    elif x == 0:
        return "zero"
    elif x < 10:
        return "small"
    else:
        return "large"


def test_if_elif_else(backend):
    check(classify, (-5,), (0,), (-0.0,), (3,), (2**70,), (NAN,), (False,), ("a",), (None,),
          backend=backend)


def countdown_while(n):
    out = []
    while n > 0:
        n -= 1
        if n == 3:
            continue
        out.append(n)
        if n == 7:
            break
    return out, n


def test_while_break_continue(backend):
    check(countdown_while, (0,), (5,), (10,), (2.5,), ("x",), backend=backend)


def while_else(n, stop):
    i = 0
    while i < n:
        if i == stop:
            result = ("broke", i)
            break
        i += 1
    else:
        result = ("finished", i)
    return result


def test_while_else(backend):
    check(while_else, (5, 2), (5, 9), (0, 0), (3, None), backend=backend)


def for_else(xs, target):
    for i, x in enumerate(xs):
        if x == target:
            break
    else:
        return ("not found", xs)
    return ("found at", i)


def test_for_else(backend):
    check(for_else, ([1, 2, 3], 2), ([1, 2, 3], 4), ([], 1), ("abc", "c"), ({"a": 1}, "a"),
          backend=backend)


def iterate(xs):
    out = []
    for x in xs:
        out.append(x)
    return out


class CountDown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n


class OldSequence:
    """Iterable only through __getitem__ (the old sequence protocol)."""

    def __getitem__(self, i):
        if i >= 3:
            raise IndexError("done")
        return i * i


class BadIter:
    def __iter__(self):
        return 42


def gen_three():
    yield 1
    yield 2
    yield 3


def test_for_over_every_iterable(backend):
    check(iterate, ([1, 2],), ((3, 4),), ({"b": 1, "a": 2},), ({3, 1, 2},), ("héllo",),
          (b"ab",), (bytearray(b"\x00\xff"),), (range(10, 0, -3),), (range(2**64, 2**64 + 2),),
          (fresh(gen_three),), (fresh(lambda: CountDown(3)),), (OldSequence(),),
          (fresh(lambda: {"x": 1, "y": 2}.items()),), (fresh(lambda: enumerate("ab", 5)),),
          (fresh(lambda: zip([1, 2], "ab")),), (fresh(lambda: reversed([1, 2, 3])),),
          (fresh(lambda: collections.deque([1, 2])),), (frozenset(),), (5,), (None,),
          (BadIter(),), backend=backend)


class FailingIter:
    def __init__(self):
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.i += 1
        if self.i == 3:
            raise ValueError("iterator broke")
        return self.i


def iterate_logging(log, xs):
    for x in xs:
        log.append(x)
    return "done"


def test_for_iterator_raising_midway(backend):
    check(iterate_logging, (LOG, fresh(FailingIter)), (LOG, [1, 2]), backend=backend)


def mutate_while_iterating(container):
    seen = []
    for x in container:
        seen.append(x)
        if isinstance(container, list) and x < 3:
            container.append(x + 10)
        elif isinstance(container, dict):
            container[x + "!"] = 1
        elif isinstance(container, set):
            container.add(x + 100)
    return seen


def test_mutating_container_during_iteration(backend):
    check(mutate_while_iterating, ([1, 2, 5],), ({"a": 1},), ({1},), backend=backend)


def shrink_while_iterating(xs):
    seen = []
    it = iter(xs)
    for x in it:          # a list iterator is stepped inline (llvm): it reads the size each time
        seen.append(x)
        if x == 2:
            xs.pop()
    xs.append(99)         # an exhausted list iterator stays exhausted
    seen.append(list(it))
    for x in xs:
        seen.append(x)
        if x == 1:
            xs.clear()
    return seen, xs


def test_shrinking_a_list_during_iteration(backend):
    check(shrink_while_iterating, ([1, 2, 3, 4],), ([2, 5],), ([],), ([7, 1, 8],), backend=backend)


def loop_variable_after_loop(xs):
    for x in xs:
        pass
    return x


def test_loop_variable_survives_or_is_unbound(backend):
    check(loop_variable_after_loop, ([1, 2, 3],), ([],), ("ab",), backend=backend)


class Holder:
    pass


def for_unusual_targets(pairs):
    d = {}
    h = Holder()
    seen = []
    for d["k"] in pairs:
        seen.append(dict(d))
    for h.attr in pairs:
        seen.append(h.attr)
    for i, (a, b) in enumerate(pairs):
        seen.append((i, a, b))
    for first, *rest in pairs:
        seen.append((first, rest))
    return seen


def test_for_targets_subscript_attribute_unpacking(backend):
    check(for_unusual_targets, ([(1, 2), (3, 4)],), (["ab"],), ([(1, 2, 3)],), ([()],),
          backend=backend)


def nested_break_continue(rows):
    found = []
    for i, row in enumerate(rows):
        if not row:
            continue
        for j, v in enumerate(row):
            if v is None:
                break
            if v < 0:
                continue
            found.append((i, j, v))
        else:
            found.append((i, "complete"))
    return found


def test_nested_loops_break_continue_else(backend):
    check(nested_break_continue, ([[1, -2, 3], [], [4, None, 5], [6]],), ([],), ([[1, "x"]],),
          backend=backend)


def while_true_return(xs):
    it = iter(xs)
    while True:
        x = next(it)
        if x > 2:
            return x


def test_while_true_with_stopiteration_leaking(backend):
    check(while_true_return, ([1, 2, 3],), ([1],), backend=backend)


# --- expressions: ternary, and/or, walrus -----------------------------------------------------

def ternary(log, x):
    return note(log, "yes", "big") if x > 5 else note(log, "no", "small")


def test_ternary_evaluates_one_branch(backend):
    check(ternary, (LOG, 10), (LOG, 1), (LOG, NAN), (LOG, "x"), backend=backend)


def and_or(a, b, c):
    return a and b, a or b, a and b or c, not a, (a or b) and c


def test_and_or_return_operands(backend):
    check(and_or, (0, "x", []), ("", None, 0.0), ([], [1], {}), ("x", 0, "c"), (NAN, -0.0, 1),
          (1, 2, 3), (0j, b"", "z"), backend=backend)


def short_circuit(log, a, b):
    r1 = note(log, "a1", a) and note(log, "b1", b)
    r2 = note(log, "a2", a) or note(log, "b2", b)
    if note(log, "a3", a) and note(log, "b3", b) or note(log, "c3", True):
        log.append("body")
    return r1, r2


def test_and_or_short_circuit_order(backend):
    check(short_circuit, (LOG, 0, 1), (LOG, 1, 0), (LOG, 1, 1), (LOG, 0, 0), backend=backend)


class BoolRaises:
    def __bool__(self):
        raise RuntimeError("no truth")


def and_with_raising_bool(x, y):
    return x and y


def test_and_calls_bool_once(backend):
    check(and_with_raising_bool, (BoolRaises(), 1), (0, BoolRaises()), (1, BoolRaises()),
          backend=backend)


def walrus(xs):
    out = []
    it = iter(xs)
    while (x := next(it, None)) is not None:
        if (y := x * 2) > 4:
            out.append(y)
    squares = [z for v in xs if (z := v * v) > 1]
    return out, squares, x, z


def test_walrus_in_while_if_and_comprehension(backend):
    check(walrus, ([1, 2, 3],), ([5],), ([],), (["ab"],), backend=backend)


# --- match -----------------------------------------------------------------------------------

def match_literal(x):
    match x:
        case 0:
            return "zero"
        case 1.5:
            return "one and a half"
        case "a" | b"a":
            return "a-ish"
        case None:
            return "none"
        case True:
            return "true"
        case -1:
            return "minus one"
        case 1 + 2j:
            return "complex"
        case _:
            return "other"


def test_match_literals_equality_vs_identity(backend):
    check(match_literal, (0,), (0.0,), (-0.0,), (False,), (True,), (1,), (1.5,), ("a",),
          (b"a",), (None,), (-1,), (1 + 2j,), ("b",), (NAN,), backend=backend)


def match_sequence(x):
    match x:
        case []:
            return "empty"
        case [a]:
            return ("one", a)
        case [0, *rest]:
            return ("zero first", rest)
        case [a, b, *_, z] if a == z:
            return ("ends equal", a, b)
        case (a, b, *mid, c):
            return ("long", a, b, mid, c)
        case [*_]:
            return "short"
        case _:
            return "not a sequence"


def test_match_sequence_and_star(backend):
    check(match_sequence, ([],), ((),), ([1],), ("ab",), (b"ab",), (bytearray(b"ab"),),
          ([0, 1, 2],), ((1, 2, 3, 1),), ((1, 2, 3),), ([1, 2],), (range(3),), ({1: 2},),
          (fresh(lambda: iter([1, 2])),), (fresh(lambda: collections.deque([0, 9])),),
          ([[1]],), backend=backend)


class LoggingMapping(collections.abc.Mapping):
    def __init__(self, log, data):
        self.log, self.data = log, data

    def __getitem__(self, key):
        self.log.append(("getitem", key))
        return self.data[key]

    def __iter__(self):
        self.log.append("iter")
        return iter(self.data)

    def __len__(self):
        self.log.append("len")
        return len(self.data)


def match_mapping(x):
    match x:
        case {"kind": "circle", "r": r}:
            return ("circle", r)
        case {"kind": "rect", **rest}:
            return ("rect", rest)
        case {}:
            return "some mapping"
        case _:
            return "not a mapping"


def test_match_mapping_and_rest(backend):
    check(match_mapping, ({"kind": "circle", "r": 2, "extra": 1},),
          ({"kind": "rect", "w": 1, "h": 2},), ({},), ({"kind": "tri"},),
          ([("kind", "circle")],), (fresh(lambda: collections.defaultdict(int)),),
          (fresh(lambda: collections.OrderedDict(kind="rect", z=1)),), backend=backend)


def match_custom_mapping(log, data):
    m = LoggingMapping(log, data)
    match m:
        case {"a": 1, **rest}:
            return ("a1", rest)
        case {"a": a, "b": b}:
            return ("ab", a, b)
        case _:
            return "nothing"


def test_match_mapping_protocol_calls(backend):
    check(match_custom_mapping, (LOG, {"a": 1, "z": 2}), (LOG, {"a": 2, "b": 3}),
          (LOG, {"b": 1}), backend=backend)


class Point:
    __match_args__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


class Point3(Point):
    __match_args__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        super().__init__(x, y)
        self.z = z


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Limits:
    LOW = 10


def match_class(x):
    match x:
        case Point(0, 0):
            return "origin"
        case Point3(_, _, 0):
            return "flat 3d"
        case Point(x=0, y=yy):
            return ("on y axis", yy)
        case Point(xx, 0):
            return ("on x axis", xx)
        case Point(x=xx, y=yy) if xx == yy:
            return ("diagonal", xx)
        case Point():
            return "some point"
        case bool(b):
            return ("bool", b)
        case int(n) | float(n):
            return ("number", n)
        case str() as s:
            return ("str", s)
        case Color.RED:
            return "red"
        case Limits.LOW:
            return "low"
        case _:
            return "other"


def test_match_class_patterns_and_value_patterns(backend):
    check(match_class, (Point(0, 0),), (Point(0, 5),), (Point(5, 0),), (Point(2, 2),),
          (Point(1, 2),), (Point3(1, 2, 0),), (Point3(0, 0, 1),), (True,), (7,), (2.5,),
          ("s",), (Color.RED,), (Color.GREEN,), (10,), (10.0,), (None,), backend=backend)


class BadMatchArgs:
    __match_args__ = "x"
    x = 1


class NoMatchArgs:
    pass


def match_class_errors(x):
    match x:
        case Point(1, 2, 3):
            return "never"
        case BadMatchArgs(1):
            return "bad"
        case NoMatchArgs(1):
            return "none"
        case NoMatchArgs(missing=1):
            return "missing attr"
        case _:
            return "other"


def test_match_class_pattern_errors(backend):
    check(match_class_errors, (Point(1, 2),), (BadMatchArgs(),), (NoMatchArgs(),), (3,),
          backend=backend)


def match_or_as_group(x):
    match x:
        case (1 | 2 | 3) as small:
            return ("small", small)
        case [("a" | "b") as letter, *_] as whole:
            return ("letter", letter, whole)
        case {"k": (int() | float()) as num}:
            return ("num", num)
        case [(1 | 2), (3 | 4)] | [0, 0]:
            return "pairs"
        case _:
            return "other"


def test_match_or_as_and_group_patterns(backend):
    check(match_or_as_group, (2,), (2.0,), (4,), (["a", 1],), (("b",),), (["c"],), ({"k": 1.5},),
          ({"k": "x"},), ([2, 4],), ([0, 0],), ([1, 5],), backend=backend)


def match_guard_binding(log, x):
    y = "unset"
    z = "unset"
    match x:
        case [y, 0] if note(log, ("guard", y), y > 5):
            return ("big", y)
        case [z, 1]:
            return ("one", y, z)
        case _:
            pass
    return ("fell through", y, z)


def test_match_guard_side_effects_and_bindings(backend):
    check(match_guard_binding, (LOG, [7, 0]), (LOG, [3, 0]), (LOG, [3, 1]), (LOG, [7, 2]),
          (LOG, "xy"), backend=backend)


def match_subject_once(log, x):
    match note(log, "subject", x):
        case [a, b]:
            return a + b
        case {"a": a}:
            return a
        case _:
            return None


def test_match_subject_evaluated_once(backend):
    check(match_subject_once, (LOG, [1, 2]), (LOG, {"a": 3}), (LOG, 5), (LOG, [1, "x"]),
          backend=backend)


def match_nested(cmd):
    match cmd.split():
        case ["go", ("north" | "south") as direction]:
            return ("go", direction)
        case ["drop", *objects] if objects:
            return ("drop", objects)
        case ["look"]:
            return "look"
        case [verb, *_]:
            return ("unknown", verb)
        case []:
            return "nothing"


def test_match_command_parser(backend):
    check(match_nested, ("go north",), ("go west",), ("drop a b",), ("drop",), ("look",),
          ("",), (5,), backend=backend)


# --- assert and del --------------------------------------------------------------------------

def assert_plain(x):
    assert x
    return "ok"


def test_assert_without_message(backend):
    check(assert_plain, (1,), (0,), ([],), (BoolRaises(),), backend=backend)


def assert_message(log, x):
    assert x > 0, note(log, "message evaluated", f"bad value {x!r}")
    return x


def test_assert_message_evaluated_only_on_failure(backend):
    check(assert_message, (LOG, 5), (LOG, -1), (LOG, "x"), backend=backend)


def assert_exception_message(x):
    assert x, ValueError("as message")
    return x


def test_assert_with_exception_instance_as_message(backend):
    check(assert_exception_message, (1,), (0,), backend=backend)


def del_local(x):
    y = x
    del y
    return y


def test_del_local_then_read(backend):
    check(del_local, (1,), backend=backend)


def del_twice(x):
    del x
    del x


def test_del_unbound_local(backend):
    check(del_twice, (1,), backend=backend)


def del_then_rebind(x):
    del x
    x = 2
    return x


def test_del_then_rebind(backend):
    check(del_then_rebind, (1,), backend=backend)


def del_items(container, key):
    del container[key]
    return container


def test_del_items(backend):
    check(del_items, ({"a": 1}, "a"), ({"a": 1}, "b"), ([1, 2, 3], -1), ([1], 5), ((1,), 0),
          ("ab", 0), ([1, 2], "x"), backend=backend)


def del_attribute(obj, name):
    if name == "a":
        del obj.a
    else:
        del obj.missing
    return vars(obj)


def attr_obj():
    h = Holder()
    h.a = 1
    h.b = 2
    return h


def test_del_attribute(backend):
    check(del_attribute, (fresh(attr_obj), "a"), (fresh(attr_obj), "missing"), (5, "a"),
          backend=backend)


def del_slices(lst):
    del lst[1:3]
    snapshot = list(lst)
    del lst[::2]
    del lst[10:20]
    return snapshot, lst


def test_del_slices(backend):
    check(del_slices, (list(range(10)),), ([1],), ([],), (bytearray(b"abcdef"),), ((1, 2, 3),),
          backend=backend)


def del_multiple(lst, d):
    del lst[0], d["a"]
    return lst, d


def test_del_tuple_of_targets_stops_at_first_error(backend):
    check(del_multiple, ([1, 2], {"a": 1}), ([1, 2], {"b": 1}), ([], {"a": 1}),
          backend=backend)


def keyword_only_loop(*, n=3):
    total = 0
    for i in range(n):
        total += i
    return total


def test_loop_bound_from_keyword_default(backend):
    check(keyword_only_loop, Call(), Call(n=0), Call(n=-1), Call(n=2.0), backend=backend)
