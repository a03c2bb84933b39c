"""Differential tests: argument binding of the jitted function itself, calls made from compiled
code (positional, keyword, defaults, * and ** unpacking), methods, builtins, attributes,
subscripts, slices, slice assignment/deletion, evaluation order, recursion.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import collections.abc
import functools
import math

from difftest import LOG, Call, check, fresh, note


# --- binding the jitted function's own arguments ----------------------------------------------

def full_signature(a, b=2, *args, c, d=4, **kw):
    return a, b, args, c, d, kw


def test_binding_all_parameter_kinds(backend):
    check(full_signature, Call(1, c=3), Call(1, 2, 3, 4, c=5), Call(a=1, c=2, z=3),
          Call(1, c=3, d=None, b=7), Call(c=1), Call(1), Call(1, a=2, c=3), Call(),
          Call(1, c=3, **{"class": 1, "def": 2}), backend=backend)


def strict(a, b, /, c, *, d):
    return a, b, c, d


def test_binding_errors_positional_only_keyword_only(backend):
    check(strict, Call(1, 2, 3, d=4), Call(1, 2, c=3, d=4), Call(1, 2, 3, 4), Call(1, 2, 3),
          Call(a=1, b=2, c=3, d=4), Call(1, 2, 3, d=4, e=5), Call(1), Call(1, 2, 3, d=4, c=5),
          backend=backend)


def no_args():
    return "called"


def test_binding_no_parameters(backend):
    check(no_args, (), (1,), Call(x=1), backend=backend)


def mutable_default(x, acc=[]):
    acc.append(x)
    return list(acc)


def test_mutable_default_is_shared_with_the_original(backend):
    check(mutable_default, (1,), (2,), Call(3, acc=[0]),
          setup=lambda side: mutable_default.__defaults__[0].clear(),
          observe=lambda: list(mutable_default.__defaults__[0]), backend=backend)


def kwonly_defaults(*, k=[], n=None):
    k.append(n)
    return len(k)


def test_keyword_only_defaults(backend):
    check(kwonly_defaults, Call(), Call(n=1), Call(k=[5]), Call(z=1),
          setup=lambda side: kwonly_defaults.__kwdefaults__["k"].clear(),
          observe=lambda: list(kwonly_defaults.__kwdefaults__["k"]), backend=backend)


# --- calls made from compiled code -------------------------------------------------------------

def helper(a, b=2, *args, c=3, **kw):
    return a, b, args, c, kw


def call_positional_keyword():
    return (helper(1), helper(1, 5), helper(1, c=7), helper(a=1, b=2), helper(1, 2, 3, 4, c=5, z=6),
            helper(*[1, 2]), helper(**{"a": 1}))


def test_calls_positional_keyword_defaults(backend):
    check(call_positional_keyword, (), backend=backend)


def call_star(a, k):
    return helper(*a, **k)


class LoggingKwargs(collections.abc.Mapping):
    def __init__(self, log, data):
        self.log, self.data = log, data

    def keys(self):
        self.log.append("keys")
        return list(self.data)

    def __getitem__(self, key):
        self.log.append(("getitem", key))
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def test_call_with_star_and_double_star(backend):
    check(call_star, ((1,), {}), ([1, 2, 3], {"c": 9}), ("ab", {}), (range(3), {"z": 0}),
          (fresh(lambda: iter([1, 2])), {}), ((), {"a": 1}), ((1,), {"a": 2}), (5, {}),
          ((1,), [("c", 1)]), ((1,), {1: 2}), ((), {}), ((1,), fresh(lambda: LoggingKwargs([], {"c": 4}))),
          backend=backend)


def call_mixed(a, k):
    return helper(1, *a, c=2, **k)


def test_call_mixed_unpacking(backend):
    check(call_mixed, ((), {}), ((5, 6), {"z": 1}), ((), {"c": 3}), ((), {"a": 0}),
          ([7], {"b": 8}), (None, {}), ((), None), backend=backend)


def call_evaluation_order(log):
    fn = note(log, "callee", helper)
    return fn(note(log, "a", 1), *note(log, "star", [2]), c=note(log, "c", 3),
              **note(log, "kwargs", {"z": 4}))


def test_call_evaluation_order(backend):
    check(call_evaluation_order, (LOG,), backend=backend)


def many_args(n):
    return helper(*range(n))


def test_call_with_many_arguments(backend):
    check(many_args, (1,), (300,), (0,), backend=backend)


class Acc:
    factor = 10

    def __init__(self, start):
        self.total = start
        self.plain = lambda x: ("instance attribute function", x)

    def add(self, x):
        self.total += x
        return self

    @classmethod
    def make(cls, start):
        return cls(start)

    @staticmethod
    def scale(x):
        return x * Acc.factor

    @property
    def doubled(self):
        return lambda: self.total * 2


def method_calls(start):
    acc = Acc.make(start)
    acc.add(1).add(2)
    bound = acc.add
    bound(3)
    unbound = Acc.add
    unbound(acc, 4)
    return (acc.total, acc.scale(2), Acc.scale(3), acc.plain(5), acc.doubled(),
            getattr(acc, "add")(0).total, type(acc).make(1).total)


def test_method_calls_bound_unbound_class_static(backend):
    check(method_calls, (0,), (1.5,), ("x",), backend=backend)


def builtin_method_calls(lst, s):
    lst.append(s.upper())
    lst.extend(s.split(","))
    lst.insert(0, str.lower(s))
    popped = lst.pop()
    return lst, popped, ",".join(lst), s.count(","), dict.fromkeys(lst, 0)


def test_calls_of_builtin_methods(backend):
    check(builtin_method_calls, ([], "A,b"), (["x"], ""), ((), "a"), ([], 5), backend=backend)


def call_non_callable(x):
    return x()


def test_calling_non_callable(backend):
    check(call_non_callable, (5,), (None,), ("s",), (list,), (Acc,), backend=backend)


def missing_method(obj):
    return obj.missing_method()


def test_missing_method_attribute_error(backend):
    check(missing_method, (Acc(1),), (5,), ([],), backend=backend)


# --- builtins and C functions ----------------------------------------------------------------

def use_builtins(xs):
    return (sorted(xs, key=lambda v: -v), sorted(xs, reverse=True), max(xs, default=None),
            min(xs, key=abs, default="empty"), sum(xs, 100), list(map(abs, xs)),
            list(filter(None, xs)), any(x > 2 for x in xs), all(xs), list(enumerate(xs, 1)),
            list(reversed(xs)), len(xs), list(zip(xs, xs[1:])), isinstance(xs, (list, tuple)),
            abs(sum(xs)), divmod(sum(xs), 3), round(sum(xs) / 7, 3), repr(xs), hash(tuple(xs)))


def test_builtins_with_keywords(backend):
    check(use_builtins, ([3, -1, 2],), ([],), ((0, 5),), ([1.5, -2.5],), (["a"],),
          backend=backend)


def builtin_errors(kind):
    if kind == "min":
        return min([])
    if kind == "sqrt":
        return math.sqrt(-1)
    if kind == "int":
        return int("x")
    if kind == "int base":
        return int("ff", 16), int("0x10", 0), int("z", 37)
    if kind == "sum str":
        return sum(["a", "b"], "")
    if kind == "zip":
        return list(zip([1, 2], [1], strict=True))
    if kind == "hash":
        return hash([1])
    if kind == "chr":
        return chr(0x110000)
    if kind == "ord":
        return ord("ab")
    if kind == "abs":
        return abs("x")
    if kind == "float":
        return float("1e500"), float("nan?")
    if kind == "log":
        return math.log(0)
    if kind == "exp":
        return math.exp(1000)
    if kind == "factorial":
        return math.factorial(-1)
    if kind == "kwarg":
        return sorted([1], cmp=None)
    if kind == "positional":
        return "abc".split(",", 1, 2)
    return None


def test_builtin_and_c_function_errors(backend):
    check(builtin_errors, ("min",), ("sqrt",), ("int",), ("int base",), ("sum str",), ("zip",),
          ("hash",), ("chr",), ("ord",), ("abs",), ("float",), ("log",), ("exp",),
          ("factorial",), ("kwarg",), ("positional",), ("none",), backend=backend)


def partial_and_constructors(x):
    p = functools.partial(helper, x, c="partial")
    return p(), p(1, 2), type(x)(), list(str(x)), dict(a=x, **{"b": x}), int.from_bytes(b"\x01\x00", "little")


def test_partial_and_type_calls(backend):
    check(partial_and_constructors, (1,), ("s",), (2.5,), backend=backend)


# --- attributes --------------------------------------------------------------------------------

class Attrs:
    cls_attr = "class"

    def __init__(self, log):
        self.log = log
        self._x = 0

    @property
    def x(self):
        self.log.append("get x")
        return self._x

    @x.setter
    def x(self, value):
        self.log.append(("set x", value))
        self._x = value

    @x.deleter
    def x(self):
        self.log.append("del x")
        self._x = None

    @property
    def read_only(self):
        return 1

    def __getattr__(self, name):
        if name.startswith("dyn_"):
            return name[4:]
        raise AttributeError(f"no {name} here")


class Slotted:
    __slots__ = ("a",)


def attribute_ops(log, name):
    obj = Attrs(log)
    obj.x = 5
    obj.x += 1
    value = obj.x
    del obj.x
    obj.new = "n"
    results = [value, obj.x, obj.new, obj.cls_attr, obj.dyn_hello, getattr(obj, "zz", "default"),
               hasattr(obj, "dyn_q"), hasattr(obj, "other")]
    obj.cls_attr = "instance"
    results.append((obj.cls_attr, Attrs.cls_attr))
    del obj.cls_attr
    results.append(obj.cls_attr)
    if name == "read_only":
        obj.read_only = 2
    elif name == "missing":
        return obj.missing
    elif name == "del missing":
        del obj.never_set
    elif name == "slots":
        s = Slotted()
        s.a = 1
        s.b = 2
    elif name == "int":
        (5).x = 1
    elif name == "object":
        object().attr = 1
    elif name == "slots unset":
        return Slotted().a
    return results


def test_attribute_get_set_delete(backend):
    check(attribute_ops, (LOG, None), (LOG, "read_only"), (LOG, "missing"), (LOG, "del missing"),
          (LOG, "slots"), (LOG, "int"), (LOG, "object"), (LOG, "slots unset"), backend=backend)


def setattr_getattr_delattr(obj, name, value):
    setattr(obj, name, value)
    got = getattr(obj, name)
    delattr(obj, name)
    return got, vars(obj)


def test_setattr_builtins_on_user_object(backend):
    check(setattr_getattr_delattr, (fresh(lambda: Attrs([])), "k", 1),
          (fresh(lambda: Attrs([])), "x", 2), (fresh(lambda: Attrs([])), 5, 1), backend=backend)


# --- subscripts and slices ---------------------------------------------------------------------

class Recorder:
    def __init__(self, log):
        self.log = log

    def __getitem__(self, key):
        self.log.append(("get", key))
        return key

    def __setitem__(self, key, value):
        self.log.append(("set", key, value))

    def __delitem__(self, key):
        self.log.append(("del", key))


def subscript_protocol(log):
    r = Recorder(log)
    r[1] = "a"
    r[1, 2] = "b"
    r[1:2] = "c"
    r[::2, ...] = "d"
    del r[0]
    del r[:-1]
    return r[5], r[1:], r[:, 1], r[...], r[::-1], r[None:None:None]


def test_subscript_keys_tuples_slices_ellipsis(backend):
    check(subscript_protocol, (LOG,), backend=backend)


class MissingDict(dict):
    def __missing__(self, key):
        return ("missing", key)


def missing_and_class_getitem(key):
    d = MissingDict(a=1)
    return d[key], key in d, list[int], dict[str, key] if isinstance(key, type) else None


def test_dict_missing_and_class_getitem(backend):
    check(missing_and_class_getitem, ("a",), ("b",), (int,), ([1],), backend=backend)


def slices(seq, start, stop, step):
    return seq[start:stop:step], seq[start:], seq[:stop], seq[::step]


def test_slice_reads_steps_negatives_and_errors(backend):
    data = list(range(10))
    check(slices, (data, 2, 8, 2), (data, -3, None, 1), (data, None, -2, -1), (data, 8, 2, -2),
          (data, 100, 200, 1), (data, -100, 100, 3), (data, 2**100, -2**100, -1), (data, 1, 5, 0),
          ("héllo wörld", 1, -1, 2), (b"bytes", None, None, -1), ((1, 2, 3), 0, 2, 1),
          (range(0, 20, 3), 1, -1, 2), (data, "a", None, 1), (data, 1.0, None, 1),
          (data, None, None, Idx(2)), (5, 0, 1, 1), backend=backend)


class Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


def slice_assign(lst, start, stop, step, value):
    lst[start:stop:step] = value
    return lst


def test_slice_assignment(backend):
    def fresh_list():
        return fresh(lambda: list(range(6)))
    check(slice_assign, (fresh_list(), 1, 3, None, "xyz"), (fresh_list(), 1, 3, None, []),
          (fresh_list(), None, None, 2, "abc"), (fresh_list(), None, None, 2, "ab"),
          (fresh_list(), None, None, -1, range(6)), (fresh_list(), 4, 1, None, [9]),
          (fresh_list(), 1, 2, None, 5), (fresh_list(), None, None, 3, 5),
          (fresh_list(), 10, 20, None, [1]), (fresh_list(), None, None, 0, []),
          (fresh(lambda: bytearray(b"abcdef")), 1, 3, None, b"XYZ"),
          (fresh(lambda: bytearray(b"abc")), 0, 1, None, "s"), ((1, 2), 0, 1, None, [1]),
          backend=backend)


def slice_self_assign(lst):
    lst[:] = lst
    lst[1:1] = lst
    lst[::-1] = lst
    return lst


def test_slice_assignment_from_itself(backend):
    check(slice_self_assign, ([1, 2, 3],), ([],), backend=backend)


def slice_delete(lst, start, stop, step):
    del lst[start:stop:step]
    return lst


def test_slice_deletion(backend):
    check(slice_delete, (list(range(10)), None, None, 2), (list(range(10)), None, None, -3),
          (list(range(10)), 5, 1, None), (list(range(10)), -3, None, None),
          (list(range(10)), None, None, 0), (bytearray(b"abcdef"), 1, None, 2),
          (list(range(3)), 2**70, None, None), backend=backend)


def assignment_evaluation_order(log):
    target = {}
    note(log, "container", target)[note(log, "key", "k")] = note(log, "value", 1)
    a = b = note(log, "chained", [])
    a.append(1)
    x = [0, 0]
    i = 0
    i, x[i] = 1, 2
    return target, b, x


def test_assignment_evaluates_value_before_targets(backend):
    check(assignment_evaluation_order, (LOG,), backend=backend)


# --- recursion ----------------------------------------------------------------------------------

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_recursion_through_plain_global(backend):
    check(fib, (0,), (1,), (15,), (2.0,), ("x",), backend=backend)


def test_recursion_through_jitted_global(backend):
    original = fib
    try:
        check(fib, (0,), (10,), (20,), (3.5,), (-1,),
              setup=lambda side: globals().__setitem__("fib", side), backend=backend)
    finally:
        globals()["fib"] = original


def down(n):
    if n == 0:
        return 0
    return 1 + down(n - 1)


def test_deep_recursion_raises_recursion_error(backend):
    original = down
    try:
        check(down, (10,), (100_000,), (50,), (10**6,),
              message=lambda m: m.startswith("maximum recursion depth exceeded"),
              setup=lambda side: globals().__setitem__("down", side), backend=backend)
    finally:
        globals()["down"] = original


def catch_recursion(n):
    try:
        return down(n)
    except RecursionError:
        return "too deep"


def test_recursion_error_is_catchable(backend):
    original = down
    try:
        check(catch_recursion, (5,), (100_000,), (7,),
              setup=lambda side: globals().__setitem__("down", original), backend=backend)
    finally:
        globals()["down"] = original
