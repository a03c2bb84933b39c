"""The llvm backend on specialized code (justjit.specialize -> llvm_lower's typed ops).

Each test specializes a function for the types of its arguments, compiles the result with the
llvm backend (`llvm.compile`, no cache) and compares a call of the native entry with a plain
call: the same value of the same type (floats bit for bit: -0.0 and nan count), or the same
exception type and message. Many cases deopt on purpose (int64 overflow, zero divisors, a
failed guard, a rebound builtin) so that the generic copy has to finish the job exactly.

At the end, the cases of tests/test_specialize.py (which check the same functions in the
reference IR interpreter), its random programs and the frontend's interpreter cases run
through the llvm backend as well.
"""

from __future__ import annotations

import copy
import math
import random
import struct
import types

import pytest

import test_specialize as spec_tests
from justjit.backends import llvm
from justjit.frontend import build_ir
from justjit.ir import ops as ir
from justjit.specialize import specialize
from test_specialize import INF, INT64_MAX, INT64_MIN, NAN, outcome, same

_COMPILED: dict = {}


def compiled(func, arg_types, opt_level=2, globals_=None):
    """The llvm-compiled specialization of `func` for `arg_types`, as a plain callable."""
    globals_ = func.__globals__ if globals_ is None else globals_
    key = (func, repr(arg_types), opt_level)
    if key not in _COMPILED:
        fn = specialize(build_ir(func), arg_types, globals_)
        entry, _text, _native = llvm.compile(
            fn, key_extra=("test_llvm_typed", func.__qualname__, repr(arg_types)),
            use_cache=False, opt_level=opt_level)
        state = (globals_, func.__builtins__, func.__closure__)
        _COMPILED[key] = (fn, lambda *args: entry(state, *args))
    return _COMPILED[key]


def check(func, *args, types=None, opt_level=2):
    """Run `func` plainly and compiled (specialized for `types`, default: the arguments'
    classes); they must agree. Returns the plain outcome."""
    if types is None:
        types = tuple(type(a) for a in args)
    fn, native = compiled(func, types, opt_level)
    a1, a2 = copy.deepcopy(args), copy.deepcopy(args)
    plain = outcome(lambda: func(*a1))
    mine = outcome(lambda: native(*a2))
    if plain[0] == "value":
        assert mine[0] == "value" and same(mine[1], plain[1]), (func.__name__, args, mine, plain)
    else:
        assert mine == plain, (func.__name__, args)
    assert same(list(a1), list(a2))
    return plain


def typed_ops(func, arg_types) -> set:
    fn = compiled(func, arg_types)[0]
    return {type(op).__name__ for b in fn.blocks.values() for op in b.ops + [b.terminator]
            if type(op) in ir.TYPED_OPS}


# --------------------------------------------------------------------------------------------
# Loops over ranges


def sum_range(a, n):
    s = a
    for i in range(n):
        s += i
    return s


def sum_squares(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def stepped(a, b, c):
    t = 0
    k = 0
    for i in range(a, b, c):
        t ^= i
        k += 1
    return t, k


def test_sum_over_range_stays_typed_and_exact():
    assert check(sum_squares, 10**6) == ("value", 333332833333500000)
    assert {"RangeIterNext", "IntArith", "GuardType", "GlobalIs"} <= typed_ops(
        sum_squares, (int,))


@pytest.mark.parametrize("a, n", [(0, 0), (0, 1), (0, 1000), (INT64_MAX - 5000, 200),
                                  (INT64_MAX - 100, 1000), (INT64_MIN + 10, 3),
                                  (-2**62, 10**4)])
def test_sum_overflowing_int64_mid_loop(a, n):
    """The accumulator passes 2**63 part way: the rest of the loop runs generic, exactly."""
    check(sum_range, a, n)


def test_sum_of_squares_past_two_to_the_63():
    n = 3_037_100
    assert check(sum_squares, n) == ("value", (n - 1) * n * (2 * n - 1) // 6)


@pytest.mark.parametrize("args", [(0, 10, 3), (10, 0, -3), (5, 5, 1), (0, 10, 0),
                                  (INT64_MAX - 5, INT64_MAX, 3), (INT64_MIN + 5, INT64_MIN, -3),
                                  (INT64_MIN, INT64_MAX, 2**62), (INT64_MAX, INT64_MIN, -2**62),
                                  (-3, 4, INT64_MAX), (2**63, 2**63 + 3, 1), (0, 5, True)])
def test_range_steps_and_ends(args):
    """The step's addition overflows at the ends of int64 (the iteration is then over), a zero
    step raises from the generic range(), arguments beyond int64 fail their guard."""
    check(stepped, *args, types=(int, int, int))


def range_object(n):
    r = range(n)
    for i in r:
        n += i
    return r, n


def test_a_range_boxed_for_generic_code():
    check(range_object, 5)
    check(range_object, 0)


# --------------------------------------------------------------------------------------------
# Recursion on ints


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def test_fib():
    """(The recursive calls are calls of the global `fib`, the plain function.)"""
    assert compiled(fib, (int,))[1](20) == 6765
    for n in (0, 1, 2, 10, -3, True, 2**64, 5.0):
        check(fib, n, types=(int,))


# --------------------------------------------------------------------------------------------
# Floats


def mandelbrot(cr, ci, limit):
    zr = zi = 0.0
    for k in range(limit):
        zr, zi = zr * zr - zi * zi + cr, 2 * zr * zi + ci
        if zr * zr + zi * zi > 4.0:
            return k
    return -1


def float_ops(x, y):
    return (x + y, x - y, x * y, -x, abs(x), +x, x < y, x <= y, x == y, x != y, x > y,
            x >= y, min(x, y), max(x, y), min(y, x, 1.0), max(y, x, -1.0), bool(x),
            1 if x else 0, 1 if not y else 0, float(int(2.5)) + x, x * 2 + 0.1)


def float_divide(x, y):
    return x / y


def float_floordiv(x, y):
    return x // y


def float_mod(x, y):
    return x % y


SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -7.25, 1e308, -1e-310, 5e-324, INF, -INF, NAN,
           float.fromhex("0x1.fffffffffffffp+1023"), 3.0]


@pytest.mark.parametrize("c", [(-0.5, 0.1), (0.3, 0.5), (-2.0, 0.0), (0.25, 0.0),
                               (-0.75, 0.1), (NAN, 0.0), (INF, -INF), (-0.0, -0.0)])
def test_mandelbrot(c):
    check(mandelbrot, *c, 1000)


def test_float_ops_on_special_values():
    for x in SPECIAL:
        for y in SPECIAL:
            check(float_ops, x, y)


@pytest.mark.parametrize("func", [float_divide, float_floordiv, float_mod],
                         ids=lambda f: f.__name__)
def test_float_division_by_zero_and_special_values(func):
    for x in SPECIAL:
        for y in SPECIAL:
            check(func, x, y)
    for zero in (0.0, -0.0):
        assert check(func, 1.0, zero)[:2] == ("raise", ZeroDivisionError)


def float_constants(x):
    return (x * 0.1, x * -0.0, x * 1e-320, x * 1.7976931348623157e308, x * 1e400,
            x * -1e400, x * (1e400 - 1e400), x * 2.0 ** -1074)


def test_float_constants_are_bit_exact():
    native = compiled(float_constants, (float,))[1]
    for x in (1.0, -1.0):
        assert [struct.pack("<d", v) for v in native(x)] == \
            [struct.pack("<d", v) for v in float_constants(x)]


# --------------------------------------------------------------------------------------------
# Integer arithmetic at the edges of int64


def int_add(a, b): return a + b
def int_sub(a, b): return a - b
def int_mul(a, b): return a * b
def int_floordiv(a, b): return a // b
def int_mod(a, b): return a % b
def int_truediv(a, b): return a / b
def int_lshift(a, b): return a << b
def int_rshift(a, b): return a >> b
def int_bits(a, b): return a & b, a | b, a ^ b
def int_compare(a, b): return a < b, a <= b, a == b, a != b, a > b, a >= b
def int_min_max(a, b): return min(a, b), max(a, b), min(b, a, 0), max(b, 0, a)
def int_neg(a): return -a
def int_abs(a): return abs(a)
def int_to_float(a): return float(a), a < 0.5, a * 0.5


INT_BINARY = [int_add, int_sub, int_mul, int_floordiv, int_mod, int_truediv, int_lshift,
              int_rshift, int_bits, int_compare, int_min_max]
EDGES = [0, 1, -1, 2, -2, 3, -7, 7, 63, 64, -64, 65, 1000, 2**31, -2**31, 2**32 + 1, 2**53,
         2**53 + 1, -2**53 - 1, 2**62, -2**62, -2**62 - 1, 3037000499, 3037000500, INT64_MAX,
         INT64_MIN, INT64_MIN + 1]


@pytest.mark.parametrize("func", INT_BINARY, ids=lambda f: f.__name__)
def test_int_binary_operators_at_the_edges(func):
    for a in EDGES:
        for b in EDGES:
            if func is int_lshift and b > 1000:
                continue  # CPython would build an enormous int
            check(func, a, b)


def test_int_edge_cases_by_name():
    assert check(int_floordiv, INT64_MIN, -1) == ("value", 2**63)
    assert check(int_mod, INT64_MIN, -1) == ("value", 0)
    assert check(int_floordiv, -7, 2) == ("value", -4)
    assert check(int_mod, -7, 2) == ("value", 1)
    assert check(int_mod, 7, -2) == ("value", -1)
    assert check(int_floordiv, 5, 0) == ("raise", ZeroDivisionError,
                                         "integer division or modulo by zero")
    assert check(int_mod, 5, 0) == ("raise", ZeroDivisionError, "integer modulo by zero")
    assert check(int_truediv, 5, 0) == ("raise", ZeroDivisionError, "division by zero")
    assert check(int_lshift, 1, 62) == ("value", 2**62)
    assert check(int_lshift, 1, 63) == ("value", 2**63)
    assert check(int_lshift, -1, 63) == ("value", INT64_MIN)
    assert check(int_lshift, 0, 10**6) == ("value", 0)
    assert check(int_lshift, 3, -1) == ("raise", ValueError, "negative shift count")
    assert check(int_rshift, -5, 1) == ("value", -3)
    assert check(int_rshift, -5, 64) == ("value", -1)
    assert check(int_rshift, 5, INT64_MAX) == ("value", 0)
    assert check(int_rshift, 3, -1) == ("raise", ValueError, "negative shift count")
    assert check(int_neg, INT64_MIN) == ("value", 2**63)
    assert check(int_abs, INT64_MIN) == ("value", 2**63)
    assert check(int_abs, -5) == ("value", 5)
    assert check(int_to_float, 2**53 + 1) == ("value", (9007199254740992.0, False,
                                                        4503599627370496.5))


@pytest.mark.parametrize("a", EDGES)
def test_int_unary_at_the_edges(a):
    for func in (int_neg, int_abs, int_to_float):
        check(func, a)


def float_to_int(x):
    return int(x), math.floor(x), math.ceil(x), math.trunc(x)


@pytest.mark.parametrize("x", [0.0, -0.0, 2.5, -2.5, 1e18, 9.2e18, -9.223372036854775808e18,
                               9.223372036854775808e18, 1e300, INF, -INF, NAN])
def test_float_to_int(x):
    check(float_to_int, x)


# --------------------------------------------------------------------------------------------
# math, len, min/max


def math_funcs(x):
    return (math.sqrt(x), math.exp(x), math.sin(x), math.cos(x), math.atan(x), math.fabs(x),
            math.expm1(x))


def math_log(x):
    return math.log(x), math.log2(x), math.log10(x)


def sqrt_of(x):
    return math.sqrt(x)


@pytest.mark.parametrize("x", [0.0, -0.0, 1.0, 2.0, 0.5, 709.0, 710.0, -1000.0, 1e308, INF,
                               -INF, NAN, -1.0])
def test_math_functions(x):
    check(math_funcs, x)
    check(math_log, x)


def test_math_domain_error_deopts_to_the_generic_call():
    assert check(sqrt_of, -1.0) == ("raise", ValueError, "math domain error")
    assert check(sqrt_of, 2.0) == ("value", math.sqrt(2.0))
    assert "MathFunc" in typed_ops(sqrt_of, (float,))


def lengths(xs, s, t, d, b, st):
    n = 0
    for _ in range(3):
        n += len(xs) + len(s) * 10 + len(t) * 100 + len(d) * 1000 + len(b) + len(st)
    return n


def test_len_of_builtin_containers():
    args = ([1, 2, 3], "h\u00e9llo\U0001f600", (1,), {1: 2, 3: 4}, b"xyz", {1, 2, 3, 4, 5, 6})
    check(lengths, *args)
    check(lengths, [], "", (), {}, b"", set())
    assert "TypedLen" in typed_ops(lengths, tuple(type(a) for a in args))
    # Another type where a list was specialized: the entry guard fails.
    check(lengths, (1, 2), "", (), {}, b"", set(), types=tuple(type(a) for a in args))


def float_min_max(a, b, c):
    return min(a, b), max(a, b), min(a, b, c), max(c, b, a)


def test_min_max_of_floats_order_nans_like_python():
    values = [NAN, 0.0, -0.0, 1.0, -INF]
    for a in values:
        for b in values:
            for c in values:
                check(float_min_max, a, b, c)


# --------------------------------------------------------------------------------------------
# Guards that fail, deopts inside nested loops and try blocks


def twice(n):
    return n * 2 + 1


@pytest.mark.parametrize("arg", [2**63, -2**63 - 1, 2**70, True, False, 5.0, "3", None])
def test_arguments_failing_their_entry_guard(arg):
    check(twice, arg, types=(int,))


def nested(n, m, k):
    t = 0
    for i in range(n):
        for j in range(m):
            t += i * j * k
    return t


@pytest.mark.parametrize("args", [(3, 4, 5), (4, 5, 2**61), (3, 3, -2**62), (0, 5, 1),
                                  (5, 5, 2**63), (5, 5, 2.5), (5, 5, True)])
def test_overflow_and_guard_failure_in_nested_loops(args):
    check(nested, *args, types=(int, int, int))


def parse_cells(rows):
    total = 0
    for row in rows:
        for cell in row:
            total += int(cell)
    return total


def test_guard_on_a_result_failing_inside_nested_loops():
    """int(cell) is speculated to be an int64: a bigger one fails its guard part way."""
    check(parse_cells, [["1", "2"], ["3", "99999999999999999999999", "4"], ["-5"]])
    check(parse_cells, [["1", "2"], [True, 3.5]])


def try_loop(n, d):
    t = 0
    for i in range(n):
        try:
            t += 1000 // (d - i)
        except ZeroDivisionError:
            t -= 1
    return t


def try_parse(cells):
    total = 0
    for c in cells:
        try:
            total += int(c) * 3
        except ValueError as e:
            total -= len(str(e))
    return total


def overflow_in_try(x, n):
    try:
        for i in range(n):
            x = x * x
    finally:
        x = (x, "done")
    return x


def test_deopts_inside_try_blocks():
    check(try_loop, 10, 4)
    check(try_loop, 10, 40)
    check(try_loop, 10, 2**70, types=(int, int))
    check(try_parse, ["1", "x", "2", str(2**80), "3", "y"])
    for x, n in [(3, 2), (3, 6), (-7, 7), (2**40, 1), (2**40, 2)]:
        check(overflow_in_try, x, n)


def float_in_try(d, n):
    t = 0.0
    for i in range(n):
        try:
            t += 1.0 / (d - i)
        except ZeroDivisionError as e:
            t = -t
            err = str(e)
    return t


def test_float_zero_divisor_inside_try():
    check(float_in_try, 3.0, 6)
    check(float_in_try, 3.5, 6)


# --------------------------------------------------------------------------------------------
# Builtins rebound after compiling: GuardIdentity deopts


def counts(xs, n):
    t = 0
    for i in range(n):
        t += len(xs) + i
    return t


def rebind_len_on_call(x):
    globals()["len"] = lambda v: -1000
    return 1


def uses_len_then_rebinds(xs, n):
    t = 0
    for i in range(n):
        t += len(xs)
        if i == 2:
            t += rebind_len_on_call(i)
    return t


class _Rebound:
    def __init__(self, **names):
        self.names = names

    def __enter__(self):
        globals().update(self.names)

    def __exit__(self, *exc):
        for name in self.names:
            globals().pop(name, None)


def test_builtins_rebound_after_compiling():
    compiled(counts, (list, int))
    with _Rebound(range=lambda n: [10, 20], len=lambda v: 7):
        check(counts, [1, 2, 3], 5)
    with _Rebound(len=lambda v: 7):
        check(counts, [1, 2, 3], 5)
    check(counts, [1, 2, 3], 5)


def test_builtin_rebound_in_the_middle_of_a_loop():
    native = compiled(uses_len_then_rebinds, (list, int))[1]
    with _Rebound(len=None):
        globals().pop("len")
        plain = uses_len_then_rebinds([1, 2], 6)
    with _Rebound(len=None):
        globals().pop("len")
        mine = native([1, 2], 6)
    assert mine == plain == 2 * 3 + 1 + 3 * -1000


# --------------------------------------------------------------------------------------------
# Every optimization tier lowers typed code to the same results


@pytest.mark.parametrize("opt_level", [0, 1, 3])
def test_other_opt_levels(opt_level):
    for a, b in [(INT64_MIN, -1), (7, -2), (1, 63), (5, 0), (-3, 64)]:
        for func in (int_floordiv, int_mod, int_lshift, int_rshift, int_mul):
            check(func, a, b, opt_level=opt_level)
    for x, y in [(1.0, -0.0), (-7.5, 2.0), (INF, 3.0), (NAN, 1.0)]:
        for func in (float_floordiv, float_mod, float_min_max):
            args = (x, y, 0.0) if func is float_min_max else (x, y)
            check(func, *args, opt_level=opt_level)
    check(sum_range, INT64_MAX - 100, 1000, opt_level=opt_level)
    check(sqrt_of, -1.0, opt_level=opt_level)
    check(mandelbrot, -0.5, 0.1, 100, opt_level=opt_level)


def test_hot_loop_runs_typed_in_the_tier_for_specialized_code():
    fn = compiled(sum_squares, (int,))[0]
    assert llvm.tier_for(fn, 2) is llvm.TYPED_TIERS[2]
    assert llvm.tier_for(build_ir(sum_squares), 2) is llvm.TIERS[2]
    text = llvm.explain(fn, "llvm")
    loop = text[text.index("range.next"):]
    assert "smul.with.overflow" in loop and "alloca i64" not in text


# --------------------------------------------------------------------------------------------
# The cases of tests/test_specialize.py, through the llvm backend


@pytest.fixture
def llvm_too(monkeypatch):
    """test_specialize's `run_spec` checks the llvm backend too."""
    original = spec_tests.run_spec

    def run_spec_and_llvm(func, *args, types=None):
        result = original(func, *args, types=types)
        check(func, *args, types=types)
        return result

    monkeypatch.setattr(spec_tests, "run_spec", run_spec_and_llvm)


def _through_llvm_too(test):
    """A copy of test_specialize's `test` (its marks included) that runs with `llvm_too`."""
    copied = types.FunctionType(test.__code__, test.__globals__, test.__name__,
                                test.__defaults__, test.__closure__)
    copied.pytestmark = list(getattr(test, "pytestmark", [])) + [
        pytest.mark.usefixtures("llvm_too").mark]
    return copied


for _name, _test in list(vars(spec_tests).items()):
    if (_name.startswith("test_") and callable(_test) and hasattr(_test, "__code__")
            and "run_spec" in _test.__code__.co_names):
        globals()[f"{_name}__llvm"] = _through_llvm_too(_test)


@pytest.mark.parametrize("seed", range(0, 250, 3))
def test_random_programs(seed):
    gen = spec_tests._Gen(seed)
    source = gen.program()
    namespace = {"math": math, "opaque": spec_tests._opaque}
    exec(compile(source, f"<random {seed}>", "exec"), namespace)
    func = namespace["f"]
    r = random.Random(seed)
    for _ in range(4):
        args = tuple(r.choice(spec_tests.ARG_CHOICES) for _ in range(3)) + (r.choice([0, 2, 4]),)
        check(func, *args)


def _frontend_cases():
    import test_frontend_interp
    return test_frontend_interp.CASES


@pytest.mark.parametrize("index", range(len(_frontend_cases())))
def test_frontend_cases(index):
    func, args = _frontend_cases()[index]
    if build_ir(func).is_generator:
        pytest.skip("generators are not specialized")
    check(func, *args)
