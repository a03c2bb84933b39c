"""Differential tests: arithmetic, bitwise, comparison, identity/membership, augmented assignment,
numeric edge values and user-defined operator methods.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
from difftest import LOG, Call, check, fresh, note

NAN = float("nan")
INF = float("inf")
BIG = 2**64 + 1
I64_MAX = 2**63 - 1
I64_MIN = -2**63


# --- arithmetic ------------------------------------------------------------------------------

def add(a, b):
    return a + b


def test_add_all_types_and_errors(backend):
    check(add, (1, 2), (2**62, 2**62), (I64_MAX, 1), (I64_MIN, -1), (BIG, BIG), (1, 2.5),
          (0.1, 0.2), (-0.0, 0.0), (-0.0, -0.0), (NAN, 1), (INF, -INF), (1j, 2), (True, True),
          (True, 1.5), ("ab", "cd"), (b"ab", b"cd"), ([1], [2]), ((1,), (2,)),
          (bytearray(b"x"), b"y"), (1, "a"), ("a", 1), ([1], (2,)), (None, 1), (b"a", "b"),
          ("a", b"b"), backend=backend)


def sub(a, b):
    return a - b


def test_sub(backend):
    check(sub, (5, 7), (I64_MIN, 1), (-BIG, BIG), (0.0, 0.0), (-0.0, 0.0), (INF, INF),
          ({1, 2, 3}, {2}), (frozenset({1}), {1}), (2j, 1.5), (False, True), ("a", "b"),
          ([1], [1]), backend=backend)


def mul(a, b):
    return a * b


def test_mul_numbers_and_sequences(backend):
    check(mul, (6, 7), (2**32, 2**32), (I64_MAX, 2), (BIG, -BIG), (-0.0, 5), (0.0, -1),
          (INF, 0), (1e308, 10.0), ("ab", 3), (3, "ab"), ([0], -1), ((1, 2), 2), (True, "x"),
          (b"ab", 0), ("a", 2.0), ("a", BIG), (1j, 1j), ([1], [2]), backend=backend)


def truediv(a, b):
    return a / b


def test_truediv_and_zero_division_messages(backend):
    check(truediv, (7, 2), (-7, 2), (6, 3), (1, 3), (1, 0), (1.0, 0), (0, 0.0), (1, -0.0),
          (2**1100, 1), (2**1000 + 1, 2**999), (BIG, 3), (10**400, 10**399), (INF, INF),
          (-0.0, 5), (1j, 0), (1 + 1j, 1j), ("a", 1), (True, True), backend=backend)


def floordiv(a, b):
    return a // b


def test_floordiv_rounding_and_errors(backend):
    check(floordiv, (7, 2), (-7, 2), (7, -2), (-7, -2), (7, 0), (7.0, 0), (7, 0.0), (-7.5, 2),
          (BIG, -3), (-BIG, 7), (I64_MIN, -1), (-0.0, 1), (0.0, -1), (INF, 1), (5, INF),
          (-5, INF), (1j, 1), (True, True), ("a", 1), backend=backend)


def mod(a, b):
    return a % b


def test_mod_signs_and_string_formatting(backend):
    check(mod, (7, 3), (-7, 3), (7, -3), (-7, -3), (7, 0), (7.0, 0), (-7.5, 2), (7.5, -2),
          (0.0, -1), (-0.0, 1), (BIG, -7), (I64_MIN, -1), (5, INF), (-5, INF), ("%s!", "x"),
          ("%d%%", 5), (b"%s", b"x"), ("x", ()), ("x", 1), (1j, 1), backend=backend)


def divmod_(a, b):
    return divmod(a, b)


def test_divmod(backend):
    check(divmod_, (7, 3), (-7, 3), (BIG, 10), (7.5, 2), (-7.5, 2), (1, 0), (1.0, 0.0),
          (INF, 3), (1j, 1), backend=backend)


def power(a, b):
    return a ** b


def test_power_signs_overflow_and_complex_results(backend):
    check(power, (2, 10), (2, -1), (-2, -1), (0, 0), (0, -1), (0.0, -1), (2, 0.5), (-8, 1 / 3),
          (-2.0, 0.5), (2, 100), (3, 64), (2.0, 10000), (10, -400), (BIG, 3), (1j, 2), (INF, 0),
          (NAN, 0), (1, NAN), (-1, INF), (True, 2), (0j, -1), (0j, 0), ("a", 2),
          backend=backend)


def pow3(a, b, m):
    return pow(a, b, m)


def test_three_argument_pow(backend):
    check(pow3, (2, 10, 1000), (3, BIG, 7), (2, -1, 5), (2, -1, 4), (2, 3, 0), (2.0, 3, 5),
          backend=backend)


class Mat:
    def __init__(self, tag):
        self.tag = tag

    def __matmul__(self, other):
        return ("matmul", self.tag, other)

    def __rmatmul__(self, other):
        return ("rmatmul", self.tag, other)


def matmul(a, b):
    return a @ b


def test_matmul(backend):
    check(matmul, (Mat("x"), 1), (1, Mat("y")), (Mat("p"), Mat("q")), (1, 2), backend=backend)


# --- unary -----------------------------------------------------------------------------------

def neg(x):
    return -x


def test_unary_minus(backend):
    check(neg, (0,), (5,), (-0.0,), (0.0,), (NAN,), (BIG,), (I64_MIN,), (True,), (1j,),
          (complex(0.0, -0.0),), ("a",), (None,), backend=backend)


def pos(x):
    return +x


def test_unary_plus_returns_int_for_bool(backend):
    check(pos, (True,), (-0.0,), (BIG,), (1j,), ("a",), backend=backend)


def invert(x):
    return ~x


def test_invert(backend):
    check(invert, (0,), (-1,), (True,), (False,), (BIG,), (I64_MAX,), (I64_MIN,), (1.5,),
          backend=backend)


def not_(x):
    return not x


def test_not(backend):
    check(not_, (0,), (1,), ("",), ("0",), ([],), ([0],), (NAN,), (-0.0,), (0j,), (None,),
          (BIG,), backend=backend)


# --- bitwise ---------------------------------------------------------------------------------

def bit_and_or_xor(a, b):
    return a & b, a | b, a ^ b


def test_bitwise_ints_bools_sets_dicts(backend):
    check(bit_and_or_xor, (12, 10), (-12, 10), (BIG, -1), (I64_MIN, I64_MAX), (True, False),
          (True, 2), ({1, 2}, {2, 3}), (frozenset({1}), {1, 2}), ({"a": 1}, {"b": 2}),
          (1.0, 1), backend=backend)


def dict_or(a, b):
    return a | b


def test_dict_merge_operator(backend):
    check(dict_or, ({"a": 1, "b": 2}, {"b": 3, "c": 4}), ({}, {}), ({"a": 1}, [("c", 3)]),
          backend=backend)


def shifts(a, b):
    return a << b, a >> b


def test_shifts(backend):
    check(shifts, (1, 3), (1, 63), (1, 64), (-1, 100), (2**100, 99), (I64_MIN, 1), (BIG, 0),
          (True, 1), (-7, 1), (5, -1), (1.0, 1), (1, 2.0), backend=backend)


# --- comparison, identity, membership --------------------------------------------------------

def compare_all(a, b):
    return a < b, a <= b, a == b, a != b, a > b, a >= b


def test_comparisons_exact_int_float(backend):
    check(compare_all, (1, 2), (2, 1), (1, 1.0), (NAN, NAN), (NAN, 1), (2**53 + 1, 2.0**53),
          (2.0**53, 2**53 + 1), (BIG, float(BIG)), (2**1024, INF), (10**400, 1e308),
          (-0.0, 0.0), ("a", "b"), ("a", "B"), ("", "\0"), ([1, 2], [1, 3]), ((1,), (1, 0)),
          ({1}, {1, 2}), (True, 1), (1, "a"), (None, None), (1j, 1j), backend=backend)


def eq_ne(a, b):
    return a == b, a != b


def test_equality_identity_shortcut_in_containers(backend):
    check(eq_ne, (1j, 1), (1, True), ("1", 1), (NAN, NAN), ([NAN], [NAN]),
          (fresh(lambda: [float("nan")]), fresh(lambda: [float("nan")])), (b"a", "a"),
          ((1, [2]), (1, [2])), ({1: 2}, {1: 2.0}), (range(0), range(2, 2)), backend=backend)


def chained(a, b, c):
    return a < b < c, a < b == c, a == b != c


def test_chained_comparison_values(backend):
    check(chained, (1, 2, 3), (1, 3, 2), (3, 2, 1), (1, NAN, 2), (1, 2, 2), ("a", "b", "c"),
          (1, 2, "x"), (1, "x", 2), backend=backend)


class Cmp:
    """Rich comparisons that log and return non-bool values."""

    def __init__(self, log, name, n):
        self.log, self.name, self.n = log, name, n

    def __lt__(self, other):
        self.log.append(f"{self.name}<{other.name}")
        return f"{self.name}<{other.name}" if self.n < other.n else ""

    def __le__(self, other):
        self.log.append(f"{self.name}<={other.name}")
        return self.n <= other.n and [self.name]


def chained_objects(log, x, y, z):
    a, b, c = Cmp(log, "a", x), Cmp(log, "b", y), Cmp(log, "c", z)
    return a < b <= c, a <= b < c


def test_chained_comparison_returns_operand_and_short_circuits(backend):
    check(chained_objects, (LOG, 1, 2, 3), (LOG, 2, 1, 3), (LOG, 1, 3, 2), (LOG, 1, 1, 1),
          backend=backend)


def chained_evaluation_order(log, x, y):
    return note(log, "a", 1) < note(log, "b", x) < note(log, "c", y) < note(log, "d", 9)


def test_chained_comparison_evaluates_middle_once(backend):
    check(chained_evaluation_order, (LOG, 2, 3), (LOG, 0, 3), (LOG, 2, 0), (LOG, 2, 10),
          backend=backend)


def is_in(a, b):
    return a is b, a is not b, a in b, a not in b


def test_identity_and_membership(backend):
    check(is_in, (1, [1, 2]), (NAN, [NAN]), ("b", "abc"), ("", "abc"), ("x", {"x": 1}),
          (1, fresh(lambda: {1: 2}.values())), ([1], [[1]]), (3, range(0, 10, 3)), (2**70, range(2**71)),
          (1.0, range(3)), (b"a", b"abc"), (97, b"abc"), (None, None), ("a", b"abc"), ([], {}),
          (1, 5), backend=backend)


class Contains:
    def __init__(self, result):
        self.result = result

    def __contains__(self, item):
        return self.result


class OnlyIter:
    def __iter__(self):
        return iter([1, 2, 3])


class OnlyGetitem:
    def __getitem__(self, i):
        if i >= 3:
            raise IndexError(i)
        return i * 10


def contains_protocols(x, container):
    return x in container, x not in container


def test_membership_protocols(backend):
    check(contains_protocols, (1, Contains([1])), (1, Contains(0)), (2, OnlyIter()),
          (5, OnlyIter()), (20, OnlyGetitem()), (25, OnlyGetitem()), backend=backend)


def small_int_identity(a):
    x = a * 1
    y = a + 0
    return x is a, y is a, x == a


def test_int_identity_follows_small_int_cache(backend):
    check(small_int_identity, (5,), (256,), (257,), (1000,), (-5,), (-6,), (BIG,), (True,),
          backend=backend)


# --- augmented assignment --------------------------------------------------------------------

def iadd_alias(lst, x):
    alias = lst
    lst += x
    return alias is lst, lst


def test_iadd_mutates_list_in_place(backend):
    check(iadd_alias, ([1], [2]), ([1], "ab"), ([1], (2, 3)), ([1], fresh(lambda: iter([7, 8]))),
          ((1,), (2,)), ("a", "b"), (bytearray(b"a"), b"b"), ([1], 5), ({1}, {2}),
          backend=backend)


def ior_alias(a, b):
    alias = a
    a |= b
    return alias is a, a


def test_ior_on_dict_and_set(backend):
    check(ior_alias, ({"a": 1}, {"b": 2}), ({"a": 1}, [("c", 3)]), ({1}, {2}), (1, 2),
          (frozenset({1}), {2}), ({1}, [2]), ({"a": 1}, 5), backend=backend)


def aug_chain(x, y):
    x += y
    x -= 1
    x *= y
    x //= 2
    x %= 1000
    x **= 2
    x <<= 1
    x >>= 1
    x &= 0xFFFF
    x |= 1
    x ^= 3
    return x


def test_augmented_operators_sequence(backend):
    check(aug_chain, (3, 4), (BIG, 3), (-7, 2), (True, True), (2.5, 2), (1, 0), ("a", "b"),
          backend=backend)


def aug_truediv(x, y):
    x /= y
    return x


def test_augmented_truediv(backend):
    check(aug_truediv, (6, 3), (1, 0), (1.0, 0), (BIG, 2), backend=backend)


class LoggingDict(dict):
    def __init__(self, log, *args):
        super().__init__(*args)
        self.log = log

    def __getitem__(self, key):
        self.log.append(("get", key))
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        self.log.append(("set", key, value))
        super().__setitem__(key, value)


def aug_subscript_order(log, start, key):
    d = LoggingDict(log, start)
    d[note(log, "key", key)] += note(log, "rhs", 1)
    return dict(d)


def test_augmented_subscript_evaluation_order(backend):
    check(aug_subscript_order, (LOG, {"k": 1}, "k"), (LOG, {"k": "s"}, "k"),
          (LOG, {"k": 1}, "missing"), backend=backend)


class LoggingAttrs:
    def __init__(self, log):
        object.__setattr__(self, "log", log)
        object.__setattr__(self, "count", 10)

    def __getattribute__(self, name):
        object.__getattribute__(self, "log").append(("getattr", name))
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        self.log.append(("setattr", name, value))
        object.__setattr__(self, name, value)


def aug_attribute_order(log, amount):
    obj = LoggingAttrs(log)
    obj.count += note(log, "rhs", amount)
    return obj.count


def test_augmented_attribute_evaluation_order(backend):
    check(aug_attribute_order, (LOG, 2), (LOG, 2.5), (LOG, "x"), backend=backend)


def aug_tuple_item(t, i):
    t[i] += [9]
    return t


def test_augmented_tuple_item_mutates_then_raises(backend):
    check(aug_tuple_item, (fresh(lambda: ([0], 1)), 0), (fresh(lambda: ([0], 1)), 1),
          (fresh(lambda: [[0], 1]), 0), backend=backend)


# --- numeric edge values ---------------------------------------------------------------------

def float_ops(x):
    return x + 0.0, -x * 1.0, x - x, x * x, x / 2, x == x, x < 1, abs(x), x * 1e308


def test_float_special_values(backend):
    check(float_ops, (0.0,), (-0.0,), (NAN,), (INF,), (-INF,), (1e308,), (5e-324,), (0.1,),
          (3,), (True,), backend=backend)


def to_int(x):
    return int(x)


def test_float_to_int_conversion_errors(backend):
    check(to_int, (2.9,), (-2.9,), (-0.0,), (1e300,), (NAN,), (INF,), ("12",), (" -3 ",),
          ("1_000",), ("x",), ("1.5",), (1j,), backend=backend)


def round_(x, n):
    return round(x) if n is None else round(x, n)


def test_round_half_even_and_errors(backend):
    check(round_, (2.5, None), (0.5, None), (-0.5, None), (2.675, 2), (1234, -2), (BIG, -5),
          (-0.0, 0), (INF, None), (NAN, None), (INF, 2), (1.5, 1.0), backend=backend)


def complex_ops(z, w):
    return z + w, z - w, z * w, abs(z), z.conjugate(), z == w, -z, z / w


def test_complex_arithmetic(backend):
    check(complex_ops, (1 + 2j, 3 - 4j), (1j, 1j), (complex(NAN, 0), 1j),
          (complex(-0.0, -0.0), 1), (1j, 0), (2, 1j), backend=backend)


def complex_order(z, w):
    return z < w


def test_complex_ordering_is_type_error(backend):
    check(complex_order, (1j, 2j), (1j, 1), backend=backend)


def bool_arith(a, b):
    return a + b, a - b, a * b, a & b, a | b, a ^ b, -a, ~a, a / b, a // b


def test_bool_arithmetic_types(backend):
    check(bool_arith, (True, True), (False, True), (True, 2), (True, False), (False, 1.5),
          backend=backend)


def seq_ops(a, b):
    return a + b, a * 2, b in a, a < b, a == b


def test_str_bytes_sequence_operators(backend):
    check(seq_ops, ("abc", "b"), ("", ""), ("\u00e4", "a"), ("\U0001F600", "x"), (b"ab", b"a"),
          (bytearray(b"ab"), b"a"), ([1, 2], [2]), ((1,), (1,)), (b"ab", "a"), backend=backend)


def big_int_ops(a, b):
    return a * b, a // b, a % b, -a, abs(a), a.bit_length(), a == b, hash(a) == hash(b)


def test_big_ints_beyond_64_bits(backend):
    check(big_int_ops, (BIG, 3), (2**64, 2**64), (-(2**100), 7), (I64_MAX, -1),
          (I64_MIN, -1), (10**30, 10**15), (BIG, 0), backend=backend)


def overflow_in_loop(log, x, n):
    for i in range(n):
        x = x + x
        log.append(x)
    return x


def test_int_overflow_mid_loop_is_not_reexecuted(backend):
    check(overflow_in_loop, (LOG, 1, 70), (LOG, 2**61, 5), (LOG, -(2**62), 3), (LOG, 1.5, 3),
          (LOG, "ab", 3), backend=backend)


def float_sum_with_ints(xs):
    total = 0.0
    for x in xs:
        total += x
    return total


def test_sum_list_of_floats_with_odd_elements(backend):
    check(float_sum_with_ints, ([1.5, 2.5],), ([1.5, 2, 3.5],), ([1.0, 2**70],), ([0.1] * 10,),
          ([-0.0],), ([1.0, 1j],), ([1.0, "x"],), backend=backend)


# --- user-defined operator methods -----------------------------------------------------------

class L:
    def __init__(self, v):
        self.v = v

    def __add__(self, other):
        return ("L.add", self.v, other) if isinstance(other, int) else NotImplemented

    def __radd__(self, other):
        return ("L.radd", other, self.v) if isinstance(other, int) else NotImplemented

    def __repr__(self):
        return f"{type(self).__name__}({self.v})"


class SubL(L):
    def __radd__(self, other):
        return ("SubL.radd", repr(other), self.v)


class R:
    def __radd__(self, other):
        return ("R.radd", repr(other))

    def __repr__(self):
        return "R()"


class NoOps:
    def __repr__(self):
        return "NoOps()"


def binop_add(a, b):
    return a + b


def test_add_tries_radd_and_subclass_first(backend):
    check(binop_add, (1, L(1)), (L(1), 1), (L(1), R()), (L(1), SubL(2)), (SubL(2), L(1)),
          ("a", R()), ([1], R()), (1.5, L(2)), (NoOps(), 1), (1, NoOps()), (L(1), L(2)),
          backend=backend)


class Accum:
    def __init__(self, items):
        self.items = list(items)

    def __iadd__(self, other):
        self.items.append(other)
        return self


class IaddNotImplemented:
    def __init__(self, v):
        self.v = v

    def __iadd__(self, other):
        return NotImplemented

    def __add__(self, other):
        return IaddNotImplemented(self.v + other)


def iadd_objects(a, b):
    alias = a
    a += b
    return a is alias, a


def test_iadd_fallback_to_add(backend):
    check(iadd_objects, (fresh(lambda: Accum([1])), 2), (fresh(lambda: IaddNotImplemented(1)), 2),
          (L(1), 5), (NoOps(), 1), backend=backend)


class Eq:
    def __init__(self, log, v, result=None):
        self.log, self.v, self.result = log, v, result

    def __eq__(self, other):
        self.log.append(("eq", self.v))
        if self.result is NotImplemented:
            return NotImplemented
        return self.result if self.result is not None else "yes"

    __hash__ = None


def eq_protocol(log, va, vb, result):
    a = Eq(log, va, result)
    b = Eq(log, vb, result)
    return a == b, a != b, 1 == a, a == a, [a] == [a], [a] == [b]


def test_eq_returns_non_bool_and_ne_is_derived(backend):
    check(eq_protocol, (LOG, 1, 2, None), (LOG, 1, 2, 0), (LOG, 1, 2, NotImplemented),
          (LOG, 1, 1, ""), backend=backend)


class Lt:
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        if isinstance(other, Lt):
            return ("lt", self.v, other.v)
        return NotImplemented

    def __gt__(self, other):
        if isinstance(other, int):
            return ("gt", self.v, other)
        return NotImplemented


def lt_reflected(a, b):
    return a < b, b > a


def test_lt_and_reflected_gt(backend):
    check(lt_reflected, (Lt(1), Lt(2)), (3, Lt(1)), (Lt(1), 3), ("x", Lt(1)), backend=backend)


def sort_objects(values):
    return [x.v for x in sorted(Lt(v) for v in values)]


def test_sorted_uses_lt(backend):
    check(sort_objects, ([3, 1, 2],), ([],), backend=backend)


class B:
    def __init__(self, value):
        self.value = value

    def __bool__(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Len:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def truthiness(x):
    branch = "t" if x else "f"
    return branch, not x, bool(x)


def test_bool_and_len_protocols(backend):
    check(truthiness, (B(True),), (B(False),), (B(1),), (B(ValueError("no")),), (Len(0),),
          (Len(3),), (Len(-1),), (Len(2**100),), (Len("x"),), (NoOps(),), (0.0,), (-0.0,),
          (NAN,), ("",), (b"",), ([],), ({},), (0j,), (None,), (range(0),), backend=backend)


def len_of(x):
    return len(x)


def test_len_protocol_errors(backend):
    check(len_of, (Len(3),), (Len(-1),), (Len(2**100),), (Len(True),), ("abc",), (5,),
          (NoOps(),), backend=backend)


class Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


def use_index(seq, i):
    return seq[i], seq[i:], [0] * i, list(range(i)), hex(i), bin(i)


def test_index_protocol(backend):
    check(use_index, ([1, 2, 3], Idx(1)), ("abc", Idx(-1)), ((1, 2), Idx(5)),
          ([1], Idx("x")), ([1], 1.0), ([1, 2], Idx(BIG)), backend=backend)


class Tracked:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def __add__(self, other):
        self.log.append(f"{self.name}+{other.name}")
        return Tracked(self.log, f"({self.name}+{other.name})")

    def __mul__(self, other):
        self.log.append(f"{self.name}*{other.name}")
        return Tracked(self.log, f"({self.name}*{other.name})")


def operand_order(log):
    a, b, c = Tracked(log, "a"), Tracked(log, "b"), Tracked(log, "c")
    return (note(log, "A", a) + note(log, "B", b) * note(log, "C", c)).name


def test_operand_evaluation_order(backend):
    check(operand_order, (LOG,), backend=backend)


def precedence(a, b, c):
    return a + b * c ** 2 - a // b % c, -a ** 2, (-a) ** 2, a | b ^ c & a, not a == b


def test_precedence(backend):
    check(precedence, (2, 3, 4), (-2, 3, 5), (BIG, 3, 7), (1, 0, 1), backend=backend)


def call_with_kwargs_ops(a, *, b=2):
    return a * b


def test_operator_on_keyword_only_argument(backend):
    check(call_with_kwargs_ops, Call(3), Call(3, b=4), Call("x", b=3), Call(b=1), backend=backend)
