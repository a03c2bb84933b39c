"""Speculative specialization (justjit/specialize.py), checked against CPython.

Each test builds the IR of a function, specializes it for the types of its arguments, runs the
result in the reference IR interpreter (justjit/ir/interp.py, which executes the typed ops with
exact int64 overflow checks: an int64 register that would hold anything else is an error) and
compares with a plain call: the value (type and bits: -0.0, nan and int-vs-float count) or the
exception's type and message. Many tests also say whether the typed code ran to the end or
deopted into the generic copy, and where.
"""

from __future__ import annotations

import copy
import math
import struct
from math import floor, sqrt

import pytest

from justjit.analyses.types import OBJECT
from justjit.frontend import build_ir
from justjit.ir import ops as ir
from justjit.ir.interp import IRInterpreter
from justjit.ir.printer import format_function
from justjit.ir.verify import IRVerifyError, verify
from justjit.specialize import specialize

INT64_MAX = 2**63 - 1
INT64_MIN = -2**63
NAN = float("nan")
INF = float("inf")


# --------------------------------------------------------------------------------------------
# Harness


def same(a, b) -> bool:
    """Equal values of the same types; floats bit for bit (nan == nan, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def outcome(thunk):
    try:
        return ("value", thunk())
    except Exception as e:  # noqa: BLE001
        return ("raise", type(e), str(e))


_CACHE = {}


def specialized(func, types):
    key = (func, types)
    if key not in _CACHE:
        fn = specialize(build_ir(func), types, func.__globals__)
        verify(fn)
        _CACHE[key] = fn
    return _CACHE[key]


def run_spec(func, *args, types=None):
    """Run `func` plainly and specialized for `types` (default: the arguments' classes);
    check they agree; return (outcome, deopt transfer kinds entered)."""
    if types is None:
        types = tuple(type(a) for a in args)
    fn = specialized(func, types)
    interp = IRInterpreter(fn, func)
    a1, a2 = copy.deepcopy(args), copy.deepcopy(args)
    plain = outcome(lambda: func(*a1))
    mine = outcome(lambda: interp(*a2))
    if plain[0] == "value":
        assert mine[0] == "value" and same(mine[1], plain[1]), (func.__name__, args, mine, plain)
    else:
        assert mine == plain, (func.__name__, args)
    assert same(list(a1), list(a2))
    spec = fn.specialization
    return plain, [spec.transfers[b][0] for b in interp.deopts]


# --------------------------------------------------------------------------------------------
# Loops that overflow int64 part way


def sum_squares(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def sum_squares_from(a, n):
    s = 0
    for i in range(a, a + n):
        s += i * i
    return s


def product(n):
    p = 1
    for i in range(1, n + 1):
        p *= i
    return p


def test_sum_of_squares_to_a_million_stays_typed():
    result, deopts = run_spec(sum_squares, 10**6)
    assert result == ("value", 333332833333500000)
    assert deopts == []


@pytest.mark.parametrize("a, n", [(3_037_000_400, 200), (3_000_000_000, 3), (0, 10),
                                  (-3_037_000_600, 400)])
def test_sum_of_squares_overflowing_mid_loop(a, n):
    result, deopts = run_spec(sum_squares_from, a, n)
    big = any(abs(i) * abs(i) > INT64_MAX for i in range(a, a + n)) or \
        abs(sum(i * i for i in range(a, a + n))) > INT64_MAX
    assert deopts == (["deopt"] if big else [])


@pytest.mark.parametrize("n", [0, 1, 5, 20, 21, 22, 40])
def test_products(n):
    result, deopts = run_spec(product, n)
    assert deopts == (["deopt"] if n >= 21 else [])  # 21! > 2**63


def nested(n, m, k):
    t = 0
    for i in range(n):
        for j in range(m):
            t += i * j * k
    return t


def nested_while(n, x):
    i = 0
    acc = 1
    while i < n:
        j = 0
        while j < 3:
            acc = acc * x + j
            j += 1
        i += 1
    return acc, i, j


@pytest.mark.parametrize("args", [(3, 4, 5), (4, 5, 2**61), (3, 3, -2**62), (0, 5, 1)])
def test_guard_failure_inside_nested_loops(args):
    result, deopts = run_spec(nested, *args)
    assert len(deopts) <= 1


@pytest.mark.parametrize("args", [(3, 7), (5, 1000), (2, -3), (0, 5)])
def test_nested_while_loops(args):
    run_spec(nested_while, *args)


def test_nested_while_loops_deopt_in_the_inner_loop():
    _, deopts = run_spec(nested_while, 4, 10**5)
    assert deopts == ["deopt"]


def float_accumulate(n, x):
    t = 0.0
    i = 0
    while i < n:
        t = t * x + i
        i += 1
    return t


@pytest.mark.parametrize("args", [(10, 0.5), (2000, 1.5), (3, NAN), (5, -0.0), (4, INF)])
def test_float_accumulator(args):
    result, deopts = run_spec(float_accumulate, *args)
    assert deopts == []


# --------------------------------------------------------------------------------------------
# Deopts inside try blocks, and exceptions from generic code in the typed copy


def zero_divisor_in_try(d, n):
    t = 0
    msg = ""
    for i in range(n):
        try:
            t += 100 // (i - d)
        except ZeroDivisionError as e:
            t -= 1000
            msg = str(e)
    return t, msg


def float_divisor_in_try(d, n):
    t = 0.0
    msgs = []
    for i in range(n):
        try:
            t += 1.0 / (i - d)
            t += 1.0 // (i - d)
            t += 1.0 % (i - d)
        except ZeroDivisionError as e:
            msgs.append(str(e))
    return t, msgs


def raises_at(i):
    if i == 3:
        raise ValueError("three")
    return i


def generic_raise_in_try(n, f):
    t = 0
    u = 1.5
    for i in range(n):
        try:
            t += i
            u *= 1.5
            f(i)
        except ValueError:
            t = t * 2 + 1
            u = u - t
    return t, u


def overflow_in_try(x, n):
    try:
        for i in range(n):
            x = x * x
    except OverflowError:
        return "overflow"
    finally:
        x = -x
    return x


def test_zero_divisor_inside_try_deopts_to_the_handler():
    result, deopts = run_spec(zero_divisor_in_try, 3, 6)
    assert result[1][1] == "integer division or modulo by zero"
    assert deopts == ["deopt"]


def test_zero_divisor_never_hit_stays_typed():
    result, deopts = run_spec(zero_divisor_in_try, -1, 50)
    assert deopts == []


def test_float_zero_divisor_inside_try():
    result, deopts = run_spec(float_divisor_in_try, 2, 5)
    assert result[1][1] == ["float division by zero"]
    assert deopts == ["deopt"]


def test_exception_from_generic_code_boxes_typed_values_for_the_handler():
    result, deopts = run_spec(generic_raise_in_try, 6, raises_at)
    assert deopts == ["exc"]


@pytest.mark.parametrize("x, n", [(3, 2), (3, 6), (-7, 7)])
def test_overflow_in_try_finally(x, n):
    run_spec(overflow_in_try, x, n)


# --------------------------------------------------------------------------------------------
# Every binary operator on ints, floats, bools and mixtures, with CPython's errors


def add(a, b): return a + b
def sub(a, b): return a - b
def mul(a, b): return a * b
def floordiv(a, b): return a // b
def mod(a, b): return a % b
def truediv(a, b): return a / b
def lshift(a, b): return a << b
def rshift(a, b): return a >> b
def and_(a, b): return a & b
def or_(a, b): return a | b
def xor(a, b): return a ^ b
def power(a, b): return a ** b
def lt(a, b): return a < b
def le(a, b): return a <= b
def eq(a, b): return a == b
def ne(a, b): return a != b
def gt(a, b): return a > b
def ge(a, b): return a >= b
def is_(a, b): return a is b
def is_not(a, b): return a is not b


def iadd(a, b):
    a += b
    return a


BINARY = [add, sub, mul, floordiv, mod, truediv, lshift, rshift, and_, or_, xor, power,
          lt, le, eq, ne, gt, ge, is_, is_not, iadd]

INT_PAIRS = [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 5), (5, 0), (0, 0), (INT64_MIN, -1),
             (INT64_MIN, 1), (INT64_MAX, 1), (INT64_MAX, -1), (2**62, 4), (3, 2**62), (1, 63),
             (1, 64), (-1, 70), (0, 100), (5, -1), (-5, 65), (2**53 + 1, 3), (9, 2**53 + 1),
             (1000, 1000), (INT64_MIN, INT64_MIN), (-9, 2)]
FLOAT_PAIRS = [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (0.0, -3.0), (-0.0, 5.0),
               (5.0, 0.0), (5.0, -0.0), (0.0, 0.0), (NAN, 1.0), (1.0, NAN), (INF, 2.0),
               (1.0, INF), (-INF, 3.0), (INF, INF), (1e308, 10.0), (-1e-320, 1e10), (3.0, 3.0),
               (1e300, 1e-300), (-5.0, INF), (5.0, -INF)]
MIXED_PAIRS = [(7, 2.5), (2.5, 7), (2**60 + 1, 0.5), (2**53 + 1, 9007199254740992.0),
               (9007199254740992.0, 2**53 + 1), (5, 0.0), (5.5, 0), (-3, -0.0), (0, NAN),
               (INF, 3), (2**63 - 1, 9.223372036854776e18), (-7, 2.0), (7.0, -2)]
BOOL_PAIRS = [(True, 2), (True, 0), (False, 0), (True, True), (True, False), (False, 0.0),
              (True, 1.5), (3, True), (2.5, False), (False, False)]


@pytest.mark.parametrize("func", BINARY, ids=[f.__name__ for f in BINARY])
@pytest.mark.parametrize("pairs", [INT_PAIRS, FLOAT_PAIRS, MIXED_PAIRS, BOOL_PAIRS],
                         ids=["int", "float", "mixed", "bool"])
def test_binary_operators(func, pairs):
    for a, b in pairs:
        if func in (power, lshift) and isinstance(b, int) and abs(b) > 200:
            continue  # CPython itself would take forever (3 ** 2**62)
        run_spec(func, a, b)


@pytest.mark.parametrize("func, a, b, message", [
    (floordiv, 5, 0, "integer division or modulo by zero"),
    (mod, 5, 0, "integer modulo by zero"),
    (truediv, 5, 0, "division by zero"),
    (truediv, 5.0, 0.0, "float division by zero"),
    (truediv, 5, 0.0, "float division by zero"),
    (truediv, 5.0, 0, "float division by zero"),
    (floordiv, 5.0, 0.0, "float floor division by zero"),
    (floordiv, 5, -0.0, "float floor division by zero"),
    (mod, 5.0, 0.0, "float modulo"),
    (mod, 5.0, False, "float modulo"),
    (floordiv, True, False, "integer division or modulo by zero"),
])
def test_zero_division_messages(func, a, b, message):
    result, deopts = run_spec(func, a, b)
    assert result == ("raise", ZeroDivisionError, message)
    assert deopts == ["deopt"]


def test_int_results_that_do_not_fit_deopt():
    for func, a, b in [(add, INT64_MAX, 1), (sub, INT64_MIN, 1), (mul, 2**32, 2**31),
                       (floordiv, INT64_MIN, -1), (lshift, 1, 63), (lshift, 3, 62)]:
        result, deopts = run_spec(func, a, b)
        assert type(result[1]) is int and deopts == ["deopt"], func


def test_no_int_result_wraps_around():
    # The interpreter refuses any int64 register value out of range, so reaching here
    # means every op above checked; a few exact results for good measure.
    assert run_spec(mul, -2**31, 2**32)[0] == ("value", INT64_MIN)
    assert run_spec(mod, INT64_MIN, -1)[0] == ("value", 0)
    assert run_spec(floordiv, INT64_MIN, 1)[0] == ("value", INT64_MIN)


def mixed_chain(i, x):
    a = i + x
    b = i * 2 - x
    c = (i + 1) / 2
    d = i / (x + 1.0)
    return a, b, c, d, i < x, i == x, x >= i


@pytest.mark.parametrize("i, x", [(3, 0.5), (2**60 + 1, 0.25), (-2**62, 1e-300), (7, NAN),
                                  (2**53 + 1, 9007199254740992.0), (0, -0.0), (5, -1.0)])
def test_mixed_int_float(i, x):
    run_spec(mixed_chain, i, x)


def grow_then_float(n):
    x = 10
    for i in range(n):
        x *= 10
    return x + 0.5


def test_int_too_large_to_convert_to_float():
    result, deopts = run_spec(grow_then_float, 400)
    assert result == ("raise", OverflowError, "int too large to convert to float")
    assert deopts == ["deopt"]
    assert run_spec(grow_then_float, 5)[1] == []


# --------------------------------------------------------------------------------------------
# Unary operators, builtins and math


def neg(a): return -a
def pos(a): return +a
def invert(a): return ~a
def not_(a): return not a
def abs_(a): return abs(a)
def int_(a): return int(a)
def float_(a): return float(a)


def truth(a):
    if a:
        return "yes"
    return "no"


def min2(a, b): return min(a, b)
def max2(a, b): return max(a, b)
def min3(a, b, c): return min(a, b, c)
def max3(a, b, c): return max(a, b, c)


UNARY = [neg, pos, invert, not_, abs_, int_, float_, truth]
UNARY_VALUES = [0, 1, -1, 7, INT64_MIN, INT64_MAX, 2**53 + 1, True, False, 0.0, -0.0, 2.5,
                -2.5, 1e30, -1e19, 9.2e18, NAN, INF, -INF, 1e-320]


@pytest.mark.parametrize("func", UNARY, ids=[f.__name__ for f in UNARY])
def test_unary(func):
    for v in UNARY_VALUES:
        run_spec(func, v)


def test_int_of_float_outside_int64_deopts():
    assert run_spec(int_, 1e30)[1] == ["deopt"]
    assert run_spec(int_, INF)[0] == ("raise", OverflowError,
                                      "cannot convert float infinity to integer")
    assert run_spec(int_, NAN)[0] == ("raise", ValueError, "cannot convert float NaN to integer")
    assert run_spec(neg, INT64_MIN)[1] == ["deopt"]


@pytest.mark.parametrize("func", [min2, max2])
def test_min_max_two(func):
    for a, b in [(1, 2), (2, 1), (-5, -5), (0.0, -0.0), (-0.0, 0.0), (NAN, 1.0), (1.0, NAN),
                 (INF, -INF), (1, 2.0), (True, 0)]:
        run_spec(func, a, b)


@pytest.mark.parametrize("func", [min3, max3])
def test_min_max_three(func):
    for a, b, c in [(3, 1, 2), (1.0, NAN, 0.5), (NAN, 2.0, 1.0), (0.0, -0.0, 0.0)]:
        run_spec(func, a, b, c)


def math_calls(x):
    return (math.sqrt(x), math.exp(x), math.log(x), math.sin(x), math.fabs(x),
            math.atan(x), math.tanh(x))


def math_one(x):
    return math.sqrt(x)


def math_exp(x):
    return math.exp(x)


def math_log(x):
    return math.log(x)


def math_int(x):
    return math.floor(x), math.ceil(x), math.trunc(x)


def imported_names(x):
    return sqrt(x) + floor(x)


MATH_VALUES = [4.0, 2, 0.5, 1e-300, 710.0, 1000.0, -1.0, 0.0, -0.0, INF, -INF, NAN, 10**15,
               True, -3, 1e300]


@pytest.mark.parametrize("func", [math_calls, math_one, math_exp, math_log, math_int,
                                  imported_names])
def test_math(func):
    for v in MATH_VALUES:
        run_spec(func, v)


def test_math_errors_come_from_the_generic_call():
    assert run_spec(math_one, -1.0) == (("raise", ValueError, "math domain error"), ["deopt"])
    assert run_spec(math_exp, 1000.0) == (("raise", OverflowError, "math range error"),
                                          ["deopt"])
    assert run_spec(math_log, 0.0) == (("raise", ValueError, "math domain error"), ["deopt"])
    assert run_spec(math_int, INF)[0] == ("raise", OverflowError,
                                          "cannot convert float infinity to integer")
    assert run_spec(math_one, 4.0)[1] == []


def lengths(xs, s, n):
    t = 0
    for i in range(len(xs)):
        t += xs[i] * n
    return t + len(s), len(xs) > n


def test_len_of_builtin_containers():
    run_spec(lengths, [1, 2, 3], "héllo", 4)
    run_spec(lengths, (1.5, 2.5), "", 2)


def ranges(a, b, c):
    t = 0
    for i in range(a, b, c):
        t = t * 3 + i
    return t, list(range(a, b, c))[:3], len(range(a, b))


@pytest.mark.parametrize("args", [(0, 10, 3), (10, 0, -3), (5, 5, 1), (0, 10, 0),
                                  (INT64_MAX - 3, INT64_MAX, 1), (INT64_MAX - 10, INT64_MAX, 4),
                                  (INT64_MIN + 10, INT64_MIN, -4), (INT64_MIN, INT64_MIN + 3, 1),
                                  (1, 1000, INT64_MAX), (0, -5, INT64_MIN), (True, 4, True)])
def test_range_loops(args):
    run_spec(ranges, *args)


def test_range_with_zero_step_raises_from_generic_code():
    result, deopts = run_spec(ranges, 0, 10, 0)
    assert result == ("raise", ValueError, "range() arg 3 must not be zero")
    assert deopts == ["deopt"]


# --------------------------------------------------------------------------------------------
# bool, is, None, truthiness, identity


def bools(a, b):
    return (a + 1, a + b, a * 3, a & b, a | b, a ^ b, -a, ~a, a / 2, a // 1, a == 1, a < b,
            a is True, a is b, not a, int(a), float(a), abs(a), a + 0.5)


@pytest.mark.parametrize("a, b", [(True, False), (True, True), (False, False)])
def test_bool_arithmetic(a, b):
    result, _ = run_spec(bools, a, b)
    assert type(result[1][0]) is int


def is_checks(x, y):
    return x is None, x is not None, x is y, y is None, y is not x


@pytest.mark.parametrize("x, y", [(1, None), (None, None), (1.5, 1.5), (3, 3), (True, True),
                                  (2**40, 2**40), ("a", None), (None, 2)])
def test_is(x, y):
    run_spec(is_checks, x, y)


def identity(x, n):
    out = []
    for i in range(n):
        out.append(x)
    y = x * 2.0
    pair = [y, y]
    same_x = True
    for v in out:
        same_x = same_x and v is x
    return same_x, pair[0] is pair[1], out[0] is x, y in pair, (x + 0.0) is x


def test_identity_of_boxed_values():
    result, _ = run_spec(identity, 2.5, 3)
    assert result[1] == (True, True, True, True, False)
    run_spec(identity, NAN, 2)


def nan_containment(x):
    y = x * 1.0
    items = [y]
    return y in items, y == y, y is items[0], items.count(y)


def test_nan_in_container_keeps_identity():
    result, _ = run_spec(nan_containment, NAN)
    assert result[1] == (True, False, True, 1)


def loop_var_after_loop(n):
    for i in range(n):
        pass
    return i


def deleted_typed_local(n):
    x = n * 2
    del x
    try:
        return x
    except UnboundLocalError as e:
        return str(e)


def test_locals():
    run_spec(loop_var_after_loop, 5)
    assert run_spec(loop_var_after_loop, 0)[0][1] is UnboundLocalError
    run_spec(deleted_typed_local, 4)


class Tracker:
    log: list = []

    def __del__(self):
        Tracker.log.append("del")


def release_on_store(n):
    x = Tracker()
    Tracker.log.append("before")
    x = n + 1
    Tracker.log.append("after")
    return x


def test_a_local_releases_its_object_when_it_becomes_unboxed():
    Tracker.log = []
    release_on_store(1)
    plain = Tracker.log
    Tracker.log = []
    fn = specialized(release_on_store, (int,))
    assert IRInterpreter(fn, release_on_store)(1) == 2
    assert Tracker.log == plain == ["before", "del", "after"]


def strings_and_format(n, x):
    s = "ab" * n
    return s, f"{x:.3f}|{n:>4}|{x!r}", "%d-%s" % (n, x), len(s) + n


def test_typed_values_given_to_generic_code():
    run_spec(strings_and_format, 3, 2.5)
    run_spec(strings_and_format, -1, NAN)


# --------------------------------------------------------------------------------------------
# Guards on globals, and on the arguments at entry


def uses_abs(n, hook):
    t = 0
    for i in range(n):
        t += abs(i - 3)
        hook(i)
    return t


def rebind_abs(i):
    if i == 2:
        globals()["abs"] = lambda v: 1000


def test_global_rebound_mid_loop_fails_its_guard():
    fn = specialized(uses_abs, (int, type(rebind_abs)))
    interp = IRInterpreter(fn, uses_abs)
    try:
        plain = uses_abs(6, rebind_abs)
        globals().pop("abs", None)
        mine = interp(6, rebind_abs)
    finally:
        globals().pop("abs", None)
    assert mine == plain == 3006
    assert [fn.specialization.transfers[b][0] for b in interp.deopts] == ["deopt"]


def test_a_shadowed_builtin_is_not_known():
    globals()["abs"] = lambda v: -v
    try:
        fn = specialize(build_ir(uses_abs), (int, OBJECT), globals())
        guarded = [op.expected for b in fn.blocks.values() for op in b.ops + [b.terminator]
                   if isinstance(op, (ir.GuardIdentity, ir.GlobalIs))]
        assert guarded == [range]
        run_spec(uses_abs, 4, lambda i: None, types=(int, None))
        _CACHE.clear()
    finally:
        globals().pop("abs", None)


def twice(n):
    return n * 2 + 1


def test_arguments_that_fail_their_entry_guard_run_generic_code():
    fn = specialized(twice, (int,))
    for arg in (2**70, 5.0, "3", True, None):
        interp = IRInterpreter(fn, twice)
        assert outcome(lambda: interp(arg)) == outcome(lambda: twice(arg))
        assert [fn.specialization.transfers[b][2] for b in interp.deopts] == [0]


# --------------------------------------------------------------------------------------------
# The shape of the result


def test_specialized_ir_verifies_and_prints():
    for func, types in [(sum_squares, (int,)), (zero_divisor_in_try, (int, int)),
                        (generic_raise_in_try, (int, None)), (identity, (float, int)),
                        (ranges, (int, int, int)), (math_calls, (float,))]:
        fn = specialized(func, types)
        verify(fn)
        text = format_function(fn)
        assert "specialized for" in text
        spec = fn.specialization
        assert spec.typed and fn.entry == spec.fast_entry
        assert set(spec.fast_blocks) | set(spec.generic_blocks) | set(spec.transfers) | \
            spec.edge_blocks == set(fn.blocks)


def test_the_input_function_is_not_changed():
    fn = build_ir(zero_divisor_in_try)
    before = format_function(fn)
    specialize(fn, (int, int), globals())
    assert format_function(fn) == before


def gen(n):
    for i in range(n):
        yield i * i


def untyped(a, b):
    return a.x + b


def test_not_specialized():
    fn = specialize(build_ir(gen), (int,), globals())
    assert not fn.specialization.typed and "generator" in fn.specialization.reason
    fn = specialize(build_ir(untyped), (None, None), globals())
    assert not fn.specialization.typed


def test_verifier_checks_register_kinds():
    i64, f64, obj = ir.Reg("a", "i64"), ir.Reg("b", "f64"), ir.Reg("t0", "tmp")
    fn = build_ir(add)
    block = fn.blocks[fn.entry]
    bad = [ir.ConstInt(i64, 1), ir.ConstFloat(f64, 1.0), ir.FloatArith(i64, "+", f64, f64)]
    block.ops[:0] = bad
    with pytest.raises(IRVerifyError, match="FloatArith.dest"):
        verify(fn)
    fn = build_ir(add)
    fn.blocks[fn.entry].ops[:0] = [ir.ConstInt(i64, 1), ir.Move(obj, i64)]
    with pytest.raises(IRVerifyError, match="Move between kinds"):
        verify(fn)
    fn = build_ir(add)
    fn.blocks[fn.entry].ops[:0] = [ir.BoxInt(obj, i64)]
    with pytest.raises(IRVerifyError, match="before definition"):
        verify(fn)


def test_specialized_ir_goes_through_register_allocation_and_the_relooper():
    from justjit.regalloc import allocate
    from justjit.relooper import reloop
    for func, types in [(sum_squares, (int,)), (generic_raise_in_try, (int, None)),
                        (nested, (int, int, int))]:
        fn = specialized(func, types)
        allocate(fn)
        reloop(fn.entry, {b.id: b.all_successors() for b in fn.blocks.values()})


# --------------------------------------------------------------------------------------------
# Random programs: numeric code with loops, branches and try blocks, plain vs specialized


class _Gen:
    BINOPS = ["+", "-", "*", "//", "%", "/"] * 3 + ["<<", ">>", "&", "|", "^"]
    CMPS = ["<", "<=", "==", "!=", ">", ">="]
    CONSTS = ["0", "1", "-3", "7", "2**40", "2**62", "-2**63", "0.5", "-0.0", "1e308", "2.5",
              "True", "False", "1e-300", "float('nan')", "float('inf')"]
    CALLS = ["abs({})", "min({}, {})", "max({}, {})", "int({})", "float({})",
             "math.sqrt({})", "math.floor({})", "math.exp({})", "bool({})"]

    def __init__(self, seed):
        import random
        self.r = random.Random(seed)
        self.vars = ["a", "b", "c", "x", "y"]

    def expr(self, depth=0):
        r = self.r
        k = r.random()
        if depth > 2 or k < 0.3:
            return r.choice(self.vars + self.vars + self.CONSTS)
        if k < 0.7:
            op = r.choice(self.BINOPS)
            right = self.expr(depth + 1)
            if op in ("<<", ">>"):
                right = f"(({right}) % 70 if isinstance({right}, int) else 3)"
            return f"({self.expr(depth + 1)} {op} {right})"
        if k < 0.8:
            return f"({self.expr(depth + 1)} {r.choice(self.CMPS)} {self.expr(depth + 1)})"
        if k < 0.87:
            return f"({r.choice(['-', '+', 'not ', '-', '~'])}{self.expr(depth + 1)})"
        if k < 0.93:
            return f"({self.expr(depth + 1)} if {self.expr(depth + 1)} else {self.expr(depth + 1)})"
        call = r.choice(self.CALLS)
        return call.format(*(self.expr(depth + 1) for _ in range(call.count("{}"))))

    def stmts(self, indent, depth=0):
        r = self.r
        out = []
        for _ in range(r.randint(1, 3)):
            pad = "    " * indent
            k = r.random()
            v = r.choice(["x", "y", "a"])
            if k < 0.35 or depth > 1:
                op = r.choice(["=", "+=", "-=", "*=", "//=", "%="]) if k < 0.3 else "="
                out.append(f"{pad}{v} {op} {self.expr()}")
            elif k < 0.47:
                out.append(f"{pad}if {self.expr()}:")
                out += self.stmts(indent + 1, depth + 1)
                out.append(f"{pad}else:")
                out += self.stmts(indent + 1, depth + 1)
            elif k < 0.6:
                extra = r.choice([
                    f"{pad}lst.append({v})",
                    f"{pad}{v} = opaque({v})",
                    f"{pad}z = (lst[-1] is {v}) if lst else ({v} is None)",
                    f"{pad}del {v}\n{pad}{v} = {self.expr()}",
                    f"{pad}k = 0\n{pad}while k < {r.choice(['2', 'n'])}:\n"
                    f"{pad}    {v} = {self.expr()}\n{pad}    k += 1",
                ])
                out += extra.split("\n")
            elif k < 0.7:
                i = "i" if depth == 0 else "j"
                n = r.choice(["3", "5", "n", "2"])
                out.append(f"{pad}for {i} in range({n}):")
                self.vars.append(i)
                out += self.stmts(indent + 1, depth + 1)
                out.append(f"{pad}    {r.choice(['x', 'y'])} += {i}")
                self.vars.remove(i)
            else:
                out.append(f"{pad}try:")
                out += self.stmts(indent + 1, depth + 1)
                out.append(f"{pad}except (ArithmeticError, ValueError, TypeError) as e:")
                out.append(f"{pad}    y = str(e)")
        return out

    def program(self):
        body = ["def f(a, b, c, n):", "    x = 0", "    y = 1.5", "    z = None",
                "    lst = []"]
        body += self.stmts(1)
        body += ["    same = []", "    for e in lst:", "        same.append(e is x)",
                 "    return a, b, c, x, y, z, lst, same"]
        return "\n".join(body) + "\n"


def _opaque(v):
    if v == 3 or v != v:
        raise ValueError("opaque")
    return v


ARG_CHOICES = [0, 1, -7, 3, 2**31, 2**62 - 1, -2**63, 0.0, -0.0, 2.5, -1e10, 1e300, True, False]


@pytest.mark.parametrize("seed", range(250))
def test_random_programs(seed):
    import random
    gen = _Gen(seed)
    source = gen.program()
    namespace = {"math": math, "opaque": _opaque}
    exec(compile(source, f"<random {seed}>", "exec"), namespace)
    func = namespace["f"]
    r = random.Random(seed)
    for _ in range(4):
        args = tuple(r.choice(ARG_CHOICES) for _ in range(3)) + (r.choice([0, 2, 4]),)
        types = tuple(type(a) for a in args)
        fn = specialize(build_ir(func), types, namespace)
        interp = IRInterpreter(fn, func)
        plain = outcome(lambda: func(*args))
        mine = outcome(lambda: interp(*args))
        if plain[0] == "value":
            assert mine[0] == "value" and same(mine[1], plain[1]), (source, args, mine, plain)
        else:
            assert mine == plain, (source, args)


# --------------------------------------------------------------------------------------------
# The frontend's interpreter cases (closures, with, match, finally, ...), specialized for the
# types of their arguments: the typed copy must not change what they do.


def _frontend_cases():
    import test_frontend_interp as t
    return t.CASES


@pytest.mark.parametrize("index", range(len(_frontend_cases())))
def test_frontend_cases_specialized(index):
    func, args = _frontend_cases()[index]
    types = tuple(type(a) for a in args)
    fn = specialize(build_ir(func), types, func.__globals__)
    interp = IRInterpreter(fn, func)
    a1, a2 = copy.deepcopy(args), copy.deepcopy(args)
    plain = outcome(lambda: func(*a1))
    mine = outcome(lambda: interp(*a2))
    assert mine == plain or (plain[0] == mine[0] == "value" and same(mine[1], plain[1]))


def _boxes_on_typed_path(fn):
    spec = fn.specialization
    return [type(op).__name__ for b in set(spec.fast_blocks) | spec.edge_blocks
            for op in fn.blocks[b].ops if type(op).__name__.startswith("Box")]


def appends_invariant(x, n):
    out = []
    y = x * 2.0
    for i in range(n):
        out.append(y)
    return out


def test_accumulator_is_boxed_once_after_the_loop():
    fn = specialized(sum_squares, (int,))
    assert _boxes_on_typed_path(fn) == ["BoxInt"]  # for the return only
    ret = [b for b in fn.specialization.fast_blocks
           if isinstance(fn.blocks[b].terminator, ir.Return)]
    assert [type(op).__name__ for b in ret for op in fn.blocks[b].ops] == ["BoxInt"]


def test_conditional_accumulator_is_boxed_after_the_loop_not_per_pass():
    # The join after `if flag: count += k` is inside the loop: boxing `count` on its edge
    # (for the read after the loop) would allocate an int on every pass.
    from test_diff_typed import count_flags as count_true
    fn = specialized(count_true, (list, int))
    spec = fn.specialization
    in_loop = [b for b in set(spec.fast_blocks) | spec.edge_blocks
               if any(type(op).__name__ == "BoxInt" for op in fn.blocks[b].ops)
               and not isinstance(fn.blocks[b].terminator, ir.Return)]
    assert in_loop == [], format_function(fn)
    for args in (([True, False, 1, 0, [], "x"], 3), ([True] * 5, 2**62), ([], 1),
                 ([True, 2.5, None], -1), ([True, True], 2**63)):
        run_spec(count_true, *args, types=(list, int))


def invariant_per_outer_pass(x, n):
    out = []
    for i in range(n):
        y = x * i
        for j in range(i):
            out.append(y)
    return out


def test_value_made_in_an_outer_loop_is_boxed_once_per_outer_pass():
    fn = specialized(invariant_per_outer_pass, (float, int))
    assert _boxes_on_typed_path(fn) == ["BoxFloat"]
    out = IRInterpreter(fn, invariant_per_outer_pass)(1.5, 4)
    assert out == invariant_per_outer_pass(1.5, 4) and out[1] is out[2]
    run_spec(invariant_per_outer_pass, 1.5, 5)


def test_loop_invariant_value_is_boxed_once_before_the_loop():
    fn = specialized(appends_invariant, (float, int))
    assert _boxes_on_typed_path(fn) == ["BoxFloat"]
    result, deopts = run_spec(appends_invariant, 1.5, 3)
    out = IRInterpreter(fn, appends_invariant)(1.5, 3)
    assert out[0] is out[1] is out[2]


def circle(r):
    return math.pi * r * r, math.inf > r, -math.tau


def test_math_constants_are_speculated_floats():
    result, deopts = run_spec(circle, 2.0)
    assert deopts == []
    saved = math.pi
    try:
        math.pi = 3  # an int now: its GuardType fails, after the GetAttr that read it
        fn = specialized(circle, (float,))
        interp = IRInterpreter(fn, circle)
        assert interp(2.0) == circle(2.0) == (12.0, True, -math.tau)
        assert [fn.specialization.transfers[b][0] for b in interp.deopts] == ["deopt"]
    finally:
        math.pi = saved
