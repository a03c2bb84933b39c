"""Differential tests of the fast paths of hot dict/list/int code (benchmarks' word_frequency):
constants read in place by the op that uses them, `x + 1` / `x - 1` on ints, method calls
whose `self` is a local (d.get(k, 0), l.append(x), methods of user objects), item assignment
on dicts and lists, and the one-digit int paths of the arithmetic helpers. Each runs on both
backends; every outcome (value, type, exception type and message) must match CPython.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import math

from difftest import LOG, Call, check, check_generator, fresh, note

LIST = ("list",)


class Hashless:
    __hash__ = None


class CountingDict(dict):
    def get(self, key, default=None):
        return ("sub", super().get(key, default))

    def __setitem__(self, key, value):
        super().__setitem__(key, ("set", value))


class LoggingList(list):
    def append(self, item):
        super().append(("logged", item))


class Adds:
    def __add__(self, other):
        return ("add", other)

    def __sub__(self, other):
        return ("sub", other)


class Small(int):
    pass


# --- word_frequency and its variants ------------------------------------------------------------

def counts_into(counts, words):
    """benchmarks/kernels.py's word_frequency, into a given mapping."""
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return counts


def test_word_frequency(backend):
    check(counts_into, ({}, ["a", "b", "a", "c", "a", "b"]), ({}, []), ({}, list("mississippi")),
          ({}, [1, 2, 1, 1.0, True, (1, 2), (1, 2)]), ({}, [[1]]), ({}, [Hashless()]),
          ({}, None), Call({}, fresh(lambda: iter(["x", "y", "x"]))), backend=backend)


def test_counts_into_other_mappings(backend):
    check(counts_into, ({}, ["a", "a"]), (CountingDict(), ["a"]), ({"a": "x"}, ["a"]),
          ({"a": 2 ** 30 - 1}, ["a", "a"]), ({"a": -(2 ** 30) + 1}, ["a"]),
          ({"a": 2 ** 62}, ["a"]), ({"a": 1.5}, ["a"]), ({"a": True}, ["a"]),
          ({"a": Adds()}, ["a"]), ({"a": Small(3)}, ["a"]), ({"a": [1]}, ["a"]),
          ([0, 0], [1, 1, 0]), ([0], [5]), ((0,), [0]), (None, ["a"]), backend=backend)


# --- constants read in place ------------------------------------------------------------------

class Box:
    def __init__(self, value):
        self.value = value


def int_plus_minus(box):
    x = box.value  # of no known type: the generic code's paths
    a = x + 1
    b = x - 1
    c = x + 1073741823
    d = x - -1073741823
    e = x + 1073741824  # two digits: the generic path
    x += 1
    y = x
    y -= 3
    return a, b, c, d, e, x, y


def test_small_int_arith_with_constants(backend):
    values = [0, 1, -1, 5, -5, 2 ** 30 - 1, -(2 ** 30) + 1, 2 ** 30, -(2 ** 30), 2 ** 62,
              -(2 ** 63), 10 ** 30, True, False, Small(4), 2.5, float("nan"), Adds(), "s", [1],
              None]
    check(int_plus_minus, *[(Box(v),) for v in values], backend=backend)


def constants_everywhere(seq, key, value):
    out = []
    out.append(seq[0])
    out.append(key < 10)
    out.append(key == "k")
    out.append(value * 2)
    out.append(max(value, 3, key=abs))
    seq[0] = "first"
    return out, seq


def test_constants_as_operands(backend):
    check(constants_everywhere, ([1, 2], 3, -4), ({0: "z"}, 30, 2.5), ([], 3, 1),
          ("ab", 1, 2), ((5,), 1, 2), ({"x": 1}, "k", 1), ([1], None, 1), ([1], 1, "v"),
          backend=backend)


def constant_live_across_a_raise(fn):
    try:
        return max(1, fn())
    except ValueError as exc:
        return "caught", str(exc)


def constant_live_across_an_unwind(fn):
    return max(1, fn())


def _raise_value_error():
    raise ValueError("from fn")


def test_constant_operand_when_an_earlier_op_raises(backend):
    calls = [(lambda: 5,), (lambda: -5,), (_raise_value_error,), (lambda: 1 / 0,), (None,)]
    check(constant_live_across_a_raise, *calls, backend=backend)
    check(constant_live_across_an_unwind, *calls, backend=backend)


def constant_in_loop(n):
    total = 0
    i = 0
    while i < n:
        total = total + 3
        i = i + 1
    return total, i


def test_constants_in_a_loop(backend):
    check(constant_in_loop, (0,), (10,), (1000,), (2.5,), (-3,), backend=backend)


# --- method calls ---------------------------------------------------------------------------

def dict_get(d, k):
    return d.get(k), d.get(k, "default")


def test_dict_get(backend):
    check(dict_get, ({"a": 1}, "a"), ({"a": 1}, "b"), ({}, [1]), ({1: 2}, 1.0),
          (CountingDict(a=1), "a"), ({"a": None}, "a"), ([1], 0), (None, "a"),
          backend=backend)


def list_append(lst, x):
    lst.append(x)
    lst.append(lst.pop())
    return lst


def test_list_append(backend):
    check(list_append, ([], 1), ([1, 2], [3]), (LoggingList(), 1), ((), 1), ({}, 1),
          backend=backend)


def self_rebound_between_lookup_and_call(x):
    return x.append((x := [9])), x


def test_method_self_rebound_in_the_arguments(backend):
    check(self_rebound_between_lookup_and_call, ([],), ([1],), backend=backend)


class WithMethods:
    def __init__(self):
        self.f = lambda *a: ("instance attribute", a)

    def one(self, a):
        return ("one", a)

    def two(self, a, b):
        return ("two", a, b)

    def many(self, a, b, c):
        return ("many", a, b, c)


def user_methods(o, a, b):
    return o.one(a), o.two(a, b), o.many(a, b, a), o.f(a), o.f(a, b), o.f()


def module_functions(m, x):
    return m.floor(x), m.copysign(x, -1.0)


def test_methods_of_user_objects_and_modules(backend):
    check(user_methods, (WithMethods(), 1, 2), (WithMethods(), "a", None), (3, 1, 2),
          backend=backend)
    check(module_functions, Call(fresh(lambda: math), 2.5), Call(fresh(lambda: math), "x"),
          (None, 1), backend=backend)


def make_redefinable():
    class C:
        def m(self, a):
            return ("old", a)
    return C()


def make_slotted():
    class S:
        __slots__ = ()  # no instance dict: the method found is cached per type

        def m(self, a):
            return ("old", a)
    return S()



def polymorphic_calls(objs):
    out = []
    for o in objs:
        out.append(o.get("a", 0))
        out.append(o.count(1))
    return out


def method_redefined_in_a_loop(o, log):
    out = []
    for i in range(4):
        out.append(o.m(i))
        if i == 1:
            type(o).m = lambda self, a: note(log, "new", ("new", a))
        if i == 2 and hasattr(o, "__dict__"):
            o.m = lambda a: ("instance", a)
    return out


def test_method_cache_sees_class_and_instance_changes(backend):
    check(method_redefined_in_a_loop, Call(fresh(make_redefinable), LOG), backend=backend)
    check(method_redefined_in_a_loop, Call(fresh(make_slotted), LOG), backend=backend)


class Counts(dict):
    def count(self, x):
        return ("count", x)


def test_method_call_site_seeing_several_types(backend):
    check(polymorphic_calls, ([{}, {"a": 1}, Counts(a=2), {"a": 3}, Counts()],),
          ([{"a": 1}, [1, 1]],), ([{"a": 1}, (1,)],), backend=backend)


def get_in_a_generator(d, keys):
    for k in keys:
        yield d.get(k, 0) + 1


def test_method_calls_in_a_generator(backend):
    check_generator(get_in_a_generator, ({"a": 1}, ["a", "b"]), [LIST], backend=backend)
    check_generator(get_in_a_generator, ({}, ["a", [1]]), [LIST], backend=backend)


# --- item assignment and the one-digit int helpers ------------------------------------------

def set_item(obj, key, value):
    obj[key] = value
    return obj


def test_set_item(backend):
    check(set_item, ({}, "a", 1), ({}, [1], 1), ([1, 2, 3], 1, "x"), ([1, 2, 3], -1, "x"),
          ([1, 2, 3], 3, "x"), ([1, 2, 3], -4, "x"), ([1, 2], True, "x"), ([1, 2], 2 ** 70, 0),
          ([1, 2], "0", 0), ([1, 2], Small(1), 0), ((1, 2), 0, 0), ("ab", 0, "c"),
          (CountingDict(), "k", 1), (None, 0, 0), ([1, 2, 3], slice(0, 2), [9]),
          backend=backend)


def int_helpers(a, b):
    out = [a + b, a - b, a * b, a & b, a | b, a ^ b, a < b, a >= b, a == b]
    try:
        out.append(a // b)
    except ZeroDivisionError as exc:
        out.append(str(exc))
    try:
        out.append(a % b)
    except ZeroDivisionError as exc:
        out.append(str(exc))
    try:
        out.append(a / b)
    except ZeroDivisionError as exc:
        out.append(str(exc))
    try:
        out.append((10, 20, 30)[a])
    except IndexError as exc:
        out.append(str(exc))
    return out


def test_one_digit_int_helpers(backend):
    values = [0, 1, -1, 2, -3, 2 ** 30 - 1, -(2 ** 30) + 1, 2 ** 30, -(2 ** 30), 2 ** 62]
    check(int_helpers, *[(a, b) for a in values for b in values[:6]], (1, 0.5), (True, 2), (2.5, 1),
          backend=backend)
