"""Differential tests of type-specialized code: typed loops and arithmetic, their deopts into
the generic code (int64 overflow, zero divisors, domain errors, guards failing), and the
dispatcher's specializations per argument-type signature.

Each function is compiled with fallback=False and compared with CPython on every input; the
tests also assert that a typed specialization was really made and which, so generic code
passing for typed code shows up as a failure.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import importlib
import math

import pytest

from difftest import Call, check, compare_calls
from justjit import jit
from justjit.pipeline import BACKEND_MODULES

NAN = float("nan")
INF = float("inf")
I64_MAX = 2**63 - 1
I64_MIN = -2**63


def emits_typed_code(backend) -> bool:
    return getattr(importlib.import_module(BACKEND_MODULES[backend]), "TYPED", False)


def chains_specializations(backend) -> bool:
    """Whether the backend's modules take a next specialization (__jj_chain); without it
    only the first signature is specialized and the generic code serves the others."""
    return getattr(importlib.import_module(BACKEND_MODULES[backend]), "CHAINS", False)


def expected_signatures(backend, signatures):
    if not emits_typed_code(backend):
        return None
    return signatures if chains_specializations(backend) else signatures[:1]


def typed_check(fn, *calls, backend, signature=None, **options):
    """check() and, where the backend emits typed code, that the first signature got it."""
    jitted = check(fn, *calls, backend=backend, **options)
    if emits_typed_code(backend):
        assert jitted.dispatcher.compiled is not None
        first = jitted.signatures[0]
        assert not first.startswith("generic"), f"{fn.__qualname__}: not specialized: {first}"
        if signature is not None:
            assert first == signature
    return jitted


# --- range loops and int64 overflow in the middle of a loop ----------------------------------

def sum_range(n):
    s = 0
    for i in range(n):
        s += i
    return s


def scaled_sum(n, k):
    s = 0
    for i in range(n):
        s += k * i          # passes 2**63 after a few iterations when k is large
    return s


def range_steps(a, b, c):
    s = 0
    for i in range(a, b, c):
        s = s * 3 + i
    return s


def test_sum_over_range(backend):
    typed_check(sum_range, (0,), (1,), (10,), (-5,), (100_000,), backend=backend,
                signature="(n: int)")


def test_overflow_in_the_middle_of_a_loop_continues_exactly(backend):
    typed_check(scaled_sum, (100, 2**58), (100, -2**58), (50, I64_MAX), (3, 7), (64, 2**62),
                backend=backend)


def test_range_with_steps_and_overflowing_accumulator(backend):
    typed_check(range_steps, (0, 100, 7), (100, 0, -3), (5, 5, 1), (I64_MAX - 5, I64_MAX, 2),
                (I64_MIN, I64_MIN + 10, 3), (0, 10, 0), backend=backend)


def nested_overflow(n, m, k):
    total = 0
    for i in range(n):
        row = 1
        for j in range(m):
            row = row * k + j   # overflows in the inner loop
        total += row
    return total


def test_overflow_inside_nested_loops(backend):
    typed_check(nested_overflow, (3, 4, 10), (4, 30, 7), (2, 100, -3), backend=backend)


def overflow_in_try(n, k):
    log = []
    s = 1
    try:
        for i in range(n):
            s = s * k
            log.append(i)
        1 // (s - s)
    except ZeroDivisionError as e:
        log.append(str(e))
        log.append(s)
    return log


def test_overflow_inside_a_try_block_then_handler(backend):
    typed_check(overflow_in_try, (5, 3), (30, 1000), (70, -2), backend=backend)


# --- int and float operations: every error and edge value -----------------------------------

def int_ops(a, b):
    out = [a + b, a - b, a * b, a & b, a | b, a ^ b, -a, abs(a), a < b, a == b]
    for op in (lambda: a // b, lambda: a % b, lambda: a << b, lambda: a >> b):
        try:
            out.append(op())
        except (ZeroDivisionError, ValueError, OverflowError) as e:
            out.append((type(e).__name__, str(e)))
    return out


def int_div(a, b):
    return a // b, a % b


def int_shift(a, b):
    return a << b, a >> b


def test_int_arithmetic_edges(backend):
    cases = [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 5), (I64_MAX, 1), (I64_MIN, -1),
             (I64_MIN, 1), (I64_MAX, I64_MAX), (1, 63), (1, 64), (-1, 70), (3, 0), (-3, 0)]
    typed_check(int_div, *[c for c in cases if c[1] != 0], (5, 0), (-5, 0), (0, 0),
                backend=backend, signature="(a: int, b: int)")
    typed_check(int_shift, (1, 62), (1, 63), (-1, 63), (3, 100), (0, 1000), (5, -1),
                (I64_MIN, 1), (-5, 70), (5, 70), (12345, 3), backend=backend)


def float_div(a, b):
    return a / b, a // b, a % b


def float_ops(a, b):
    return a + b, a - b, a * b, -a, abs(a), a < b, a >= b, a == b, a != b


def test_float_arithmetic_edges(backend):
    typed_check(float_ops, (1.5, 2.25), (-0.0, 0.0), (NAN, 1.0), (INF, -INF), (1e308, 1e308),
                (-0.0, -0.0), (5e-324, -5e-324), backend=backend,
                signature="(a: float, b: float)")
    typed_check(float_div, (7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-0.0, 3.0), (0.0, -3.0),
                (1.0, 0.0), (1.0, -0.0), (NAN, 2.0), (INF, 3.0), (3.0, INF), (-3.0, INF),
                (1e300, 1e-300), backend=backend)


def mixed(a, b):
    return a + b, a * b, a / b, a < b, b - a, a == b


def test_mixed_int_float(backend):
    typed_check(mixed, (1, 2.5), (2**53 + 1, 1.0), (-(2**60), 0.5), (3, NAN), (I64_MAX, INF),
                (0, -0.0), backend=backend)


def int_true_division(a, b):
    return a / b


def test_int_true_division_and_its_errors(backend):
    typed_check(int_true_division, (7, 2), (-7, 2), (1, 3), (2**60 + 1, 3), (5, 0),
                (I64_MAX, I64_MIN), backend=backend)


def power(a, b):
    return a ** b


def power_sum(a, b, n):
    s = 0
    for i in range(n):
        s += (a + i) ** b
    return s


def compiled_code_has(jitted, backend, cython_text: str, llvm_text: str) -> bool:
    """Whether the compiled code has the given text (its .pyx, or its LLVM IR): the typed
    operation was made."""
    if backend == "llvm":
        return llvm_text in jitted.inspect_llvm()
    return cython_text in jitted.inspect_pyx()


def test_int_power_edges(backend):
    jitted = typed_check(power, (2, 10), (2, 62), (2, 63), (-2, 63), (-2, 64), (3, 39), (3, 40),
                         (0, 0), (0, 5), (-1, I64_MAX), (1, I64_MAX), (-1, 0), (2, 1000),
                         (7, -1), (-3, -2), (0, -1), (I64_MIN, 1), (I64_MIN, 2),
                         backend=backend, signature="(a: int, b: int)")
    assert compiled_code_has(jitted, backend, "JJ_IntPow(", "JJ_IntPowOrMin")


def test_float_power_edges(backend):
    # float_pow's special cases, its errors (ZeroDivisionError, OverflowError), its complex
    # results, underflow to zero and to subnormals, and libm's pow() everywhere else.
    jitted = typed_check(power, (2.5, 0.5), (-8.0, 1 / 3), (-2.0, 3.0), (-2.0, 2.0),
                         (-2.0, 0.5), (0.0, -1.0), (-0.0, -3.0), (0.0, 2.0), (-0.0, 3.0),
                         (-0.0, 2.0), (-0.0, 0.5), (0.0, 0.0), (5.0, -0.0), (1e308, 2.0),
                         (1e-200, 2.0), (2.0, -1075.0), (2.0, -1074.0), (NAN, 0.0),
                         (NAN, 1.0), (1.0, NAN), (INF, 0.5), (INF, -1.0), (-INF, 3.0),
                         (0.5, INF), (1.0000001, 1e9), (-1.0, 1e300), (10.0, 308.0),
                         (10.0, 309.0), (1.5, -2.0), backend=backend,
                         signature="(a: float, b: float)")
    assert compiled_code_has(jitted, backend, "JJ_FloatPow(", "JJ_FloatPowOrNan")


def test_power_of_mixed_operands_and_in_loops(backend):
    typed_check(power, (3, 2.0), (2, 0.5), (-2, 0.5), (0, -1.5), (2**60 + 1, 1.0),
                backend=backend, signature="(a: int, b: float)")
    typed_check(power, (2.0, 3), (2.0, -1), (-2.0, 3), (0.0, -1), (1e200, 2),
                backend=backend, signature="(a: float, b: int)")
    typed_check(power_sum, (2, 2, 10), (2, 62, 3), (-2, 3, 5), (2, -1, 3), (0, 0, 2),
                backend=backend, signature="(a: int, b: int, n: int)")
    typed_check(power_sum, (0.5, 2.0, 5), (-3.0, 0.5, 4), (-3.0, 2.0, 4), (0.0, -1.0, 2),
                (1e100, 4.0, 3), backend=backend, signature="(a: float, b: float, n: int)")


def builtins_on_values(a, b, x):
    return (min(a, b), max(a, b), abs(a), min(x, 1.5), max(x, -2.5), int(x), float(a),
            abs(x), min(a, b, 0), max(0.5, x, 0.25))


def test_min_max_abs_int_float(backend):
    typed_check(builtins_on_values, (3, -4, 2.5), (I64_MIN, 0, -0.0), (0, 0, NAN),
                (5, 5, -7.9), (1, 2, 1e30), (1, 2, INF), backend=backend)


def float_min_nan_order(a, b):
    return min(a, b), max(a, b), min(b, a), max(b, a)


def test_min_max_keep_python_nan_order(backend):
    typed_check(float_min_nan_order, (NAN, 1.0), (1.0, NAN), (0.0, -0.0), (-0.0, 0.0),
                backend=backend)


def lengths(s, xs, t, d):
    n = 0
    for i in range(len(xs)):
        n += len(s) + len(t) + len(d) + i
    return n


def test_len_of_exact_containers(backend):
    typed_check(lengths, ("abc", [1, 2, 3], (1,), {1: 2}), ("", [], (), {}),
                ("\U0001F600x", [0] * 100, (1, 2), dict.fromkeys(range(5))), backend=backend)


def roots(n, x):
    s = 0.0
    for i in range(n):
        s += math.sqrt(x - i) + math.sin(i) * math.exp(-x)
    return s


def test_math_functions_and_domain_errors(backend):
    typed_check(roots, (5, 10.0), (3, 1.0), (2, 0.0), (4, 2.5), (1, INF), (2, NAN), (1, 800.0),
                backend=backend)


def root_sum(xs):
    s = 0.0
    for i in range(len(xs)):
        s += math.sqrt(xs[i])
    return s


def test_sqrt_edges(backend):
    # sqrt is typed as one instruction behind its domain check: -0.0, nan and the
    # infinities pass through as libm's, below 0 the generic call raises the ValueError.
    typed_check(root_sum, ([4.0, 2.0, 1e308, 5e-324],), ([-0.0, 0.0],), ([NAN, 1.0],),
                ([INF, 1.0],), ([1.0, -INF],), ([9.0, -1e-300],), backend=backend)
    typed_check(lambda x: math.sqrt(x), (-0.0,), (2.0,), (NAN,), (INF,), (-INF,), (-1.0,),
                backend=backend)


def float_to_int(x):
    return int(x), int(-x)


def test_int_of_float(backend):
    typed_check(float_to_int, (2.7,), (-2.7,), (0.0,), (-0.0,), (9.3e18,), (1e19,), (NAN,),
                (INF,), (2.0**63,), (-(2.0**63),), backend=backend)


def rounded(x, n):
    s = 0
    for i in range(n):
        s += round(x + i * 0.5)
    return s, round(x), round(-x)


def rounded_int(a):
    return round(a), round(a) is a, round(a > 0)


def test_round_of_float_and_int(backend):
    # Ties to even (0.5, 2.5, -2.5, 2**52 + 0.5...), the largest float below 0.5, the edges
    # of int64, and nan / inf (ValueError, OverflowError from the generic code).
    jitted = typed_check(rounded, (0.5, 5), (-0.5, 5), (2.5, 3), (-2.5, 3), (1e18, 2),
                         (9.3e18, 2), (-9.3e18, 1), (0.49999999999999994, 1),
                         (4503599627370495.5, 1), (-0.0, 2), (1.5, 0), (NAN, 1), (INF, 1),
                         (-INF, 1), backend=backend, signature="(x: float, n: int)")
    assert compiled_code_has(jitted, backend, "JJ_RoundHalfEven(", "llvm.round.f64")
    typed_check(rounded_int, (5,), (10**6,), (-3,), (0,), backend=backend,
                signature="(a: int)")


# --- guards -----------------------------------------------------------------------------------

def mandel(c_re, c_im, limit):
    z_re = 0.0
    z_im = 0.0
    for i in range(limit):
        if z_re * z_re + z_im * z_im > 4.0:
            return i
        z_re, z_im = z_re * z_re - z_im * z_im + c_re, 2.0 * z_re * z_im + c_im
    return limit


def test_float_loop_and_arguments_of_other_types(backend):
    jitted = typed_check(mandel, (0.0, 0.0, 50), (-0.75, 0.1, 100), (1.0, 1.0, 20),
                         (0.25, 0.0, 30), backend=backend)
    # Other argument types: ints where floats were specialized, a complex, a big limit.
    compare_calls(mandel, jitted, (0, 0, 10), (1, 0.5, 10), (1.0, 1.0, 2**64), (1j, 0.0, 5),
                  (0.1, 0.1, True))


def calls_range(n):
    s = 0
    for i in range(n):
        s += i
    return s


def rebinding_range():
    return list(range(3))


def test_rebound_global_fails_the_identity_guard(backend):
    jitted = typed_check(calls_range, (10,), backend=backend)
    g = calls_range.__globals__
    g["range"] = lambda n: [100, 200]
    try:
        compare_calls(calls_range, jitted, (10,))
    finally:
        del g["range"]
    compare_calls(calls_range, jitted, (10,))


def summed(xs):
    s = 0
    for x in xs:
        s += x
    return s


def test_untyped_elements_mixed_inside_loops(backend):
    typed_check(summed, ([1, 2, 3],), ([1, 2.5, 3],), ([1, 2**70, -2**70],), (["a"],),
                ([True, 2],), backend=backend)


def count_flags(flags, k):
    count = 0
    for flag in flags:
        if flag:
            count += k
    return count


def count_flags_seen(flags, k):
    seen = []
    count = 0
    for flag in flags:
        if flag:
            count += k
        elif flag is None:
            seen.append(count)     # read as an object on one path inside the loop
    return count, seen


class Truth:
    """A flag whose truth test runs Python code: it records, raises or grows the list."""

    def __init__(self, value, log=None, grow=None):
        self.value, self.log, self.grow = value, log, grow

    def __bool__(self):
        if self.value == "raise":
            raise ValueError("truth refused")
        if self.grow is not None:
            self.grow.append(True)
            self.grow = None
        return self.value


def count_flags_calls():
    grown = [True, Truth(True), False]
    grown[1].grow = grown
    return [([True, False, True],), ([True, 0, 1, "", "x", None, 2.5, []],),
            ([True] * 3, 2**62), ([True, True], 2**63 - 1), ([True, Truth("raise")],),
            (grown,), ([],)]


def test_conditional_accumulator_in_a_loop(backend):
    calls = [c if len(c) == 2 else c + (1,) for c in count_flags_calls()]
    typed_check(count_flags, *calls, backend=backend)
    typed_check(count_flags_seen, *(calls + [([None, True, None, False, None], 2**62)]),
                backend=backend)


class Mortal:
    """An item whose death is logged (object lifetimes through a loop variable)."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def __bool__(self):
        return self.name != "off"

    def __del__(self):
        self.log.append(("del", self.name))


def overwrite_behind(xs, log):
    k = 0
    for x in xs:
        log.append(("saw", x.name))
        xs[k] = None        # from the second A on, the loop variable is A's last owner
        k += 1
    log.append("end")
    return log


def rebind_and_delete(xs):
    out = []
    for x in xs:
        if x:
            out.append(x)
            x = xs[-1]      # the next item may be this very object
        else:
            del x
    return out


def same_object_runs(xs, extra):
    n = 0
    for x in xs:
        if x is extra:
            n += 1
            if n == 2:
                xs.append(extra)   # grows the list while it is iterated
    return n, len(xs)


def noisy_calls():
    log = []
    a, b = Mortal("a", log), Mortal("b", log)
    return [([a, a, b], log), ([a, Mortal("off", log), a, a], log), ([], log)]


def test_loop_variable_keeps_the_same_item_without_changing_lifetimes(backend):
    typed_check(overwrite_behind, *noisy_calls(), backend=backend)
    t, f = True, False
    typed_check(rebind_and_delete, ([t, f, t, t],), ([f, f],), ([1, 1, 0, 1],), ([],),
                ([None, t, None],), (["a", "a", "", "a"],), backend=backend)
    e = object()
    typed_check(same_object_runs, ([e, e, 1, e], e), ([1, 2], e), ([e] * 5, e), backend=backend)


def test_loop_over_repeated_items_leaks_no_reference(backend):
    import sys
    flag = object()
    jitted = typed_check(count_flags, ([flag, flag, False, flag], 1), backend=backend)
    before = sys.getrefcount(flag)
    for _ in range(3):
        assert jitted([flag] * 10 + [True, flag], 2) == count_flags([flag] * 10 + [True, flag], 2)
    assert sys.getrefcount(flag) == before


# --- the dispatcher: one specialization per signature, capped ---------------------------------

def poly(x, y):
    return x * y + x


def test_each_signature_gets_its_specialization(backend):
    jitted = jit(poly, backend=backend, fallback=False, cache=True)
    compare_calls(poly, jitted, (3, 4), (1.5, 2.0), (True, False), (3, 4), (2**70, 3), ("a", 2))
    # (a big int, int) and (str, int) would type nothing: the generic code serves them.
    expected = expected_signatures(backend, ["(x: int, y: int)", "(x: float, y: float)",
                                             "(x: bool, y: bool)"])
    assert expected is None or jitted.signatures == expected, jitted.signatures


def test_signatures_beyond_the_cap_run_generic_code(backend):
    jitted = jit(poly, backend=backend, fallback=False, cache=True, max_signatures=2)
    compare_calls(poly, jitted, (3, 4), (1.5, 2.0), (True, False), (2**70, 3), (3, 4.5),
                  (1.5, 2.0), (3, 4))
    expected = expected_signatures(backend, ["(x: int, y: int)", "(x: float, y: float)"])
    assert expected is None or jitted.signatures == expected, jitted.signatures


def test_hot_counts_each_new_signature(backend):
    jitted = jit(poly, backend=backend, fallback=False, cache=True, hot=2)
    compare_calls(poly, jitted, *[(3, 4)] * 3, *[(1.5, 2.0)] * 2)
    if emits_typed_code(backend):
        assert jitted.signatures == ["(x: int, y: int)"]
    compare_calls(poly, jitted, (1.5, 2.0))
    expected = expected_signatures(backend, ["(x: int, y: int)", "(x: float, y: float)"])
    assert expected is None or jitted.signatures == expected, jitted.signatures


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_recursion_through_the_specialization(backend):
    g = fib.__globals__
    try:
        typed_check(fib, (0,), (1,), (2,), (10,), (20,), (15.0,), (True,), (-3,),
                    backend=backend, setup=lambda side: g.__setitem__("fib", side))
    finally:
        g["fib"] = fib


# --- list elements: speculated from the arguments, guarded at every read ----------------------

def dot(xs, ys):
    s = 0.0
    for i in range(len(xs)):
        s += xs[i] * ys[i]
    return s


def scale_rows(rows, k):
    out = 0
    for r in range(len(rows)):
        row = rows[r]
        for i in range(len(row)):
            try:
                out += row[i] * k
            except TypeError as e:
                out = str(e)
    return out


def int_elements(xs):
    s = 0
    for i in range(-len(xs), len(xs)):
        s = s * 2 + xs[i]
    return s


def test_list_of_floats_element_guards(backend):
    jitted = typed_check(dot, ([1.5, 2.0, -0.0], [2.0, 0.5, 3.0]), backend=backend,
                         signature="(xs: list[float], ys: list[float])")
    # An element of another type anywhere (after the sampled ends too) goes to the generic code.
    longer = [float(i) for i in range(40)]
    odd = list(longer)
    odd[20] = 3
    compare_calls(dot, jitted, (longer, longer), (odd, longer), (longer, odd),
                  ([1.0, "x"], [2.0, 2.0]), ([1.0, 2.0], [1.0]), ([NAN, 1.0], [1.0, INF]),
                  ([1.0, 2**70], [3.0, 1.0]))


def test_list_element_guard_fails_inside_nested_loops_and_try(backend):
    typed_check(scale_rows, ([[1, 2], [3, 4]], 3), ([[1, 2], [3, "a"], [5]], 2),
                ([[1, 2**62], [2**62, 3]], 4), ([[1.5, 2]], 2), backend=backend)


def test_list_of_ints_negative_indices_and_overflow(backend):
    typed_check(int_elements, ([1, 2, 3],), ([I64_MAX, I64_MAX],), ([1, True, 3],),
                ([1, 2**64],), ([],), backend=backend, signature="(xs: list[int])")


def test_background_builds_a_new_signature_while_generic_code_serves(backend):
    jitted = jit(poly, backend=backend, fallback=False, cache=True, background=True)
    compare_calls(poly, jitted, (3, 4))
    assert jitted.wait(timeout=120)
    compare_calls(poly, jitted, (3, 4), (1.5, 2.0), (2.5, 2.0))  # the float build starts
    assert jitted.wait(timeout=120)
    compare_calls(poly, jitted, (1.5, 2.0))
    expected = expected_signatures(backend, ["(x: int, y: int)", "(x: float, y: float)"])
    assert expected is None or jitted.signatures == expected, jitted.signatures


# --- list and tuple indexing by an int64: reads and stores without a call ---------------------

def axpy(xs, ys, a):
    for i in range(len(xs)):
        ys[i] += a * xs[i]
    return ys


def shifted_stores(xs, k):
    n = len(xs)
    for i in range(-n, k):
        xs[i] -= 0.5 * xs[i - 1]
    return xs


def keeps_old_element(xs):
    old = xs[0]
    xs[0] = old * 2.0         # the old float is still referenced: it must not change
    kept = xs[1]
    xs[1] += 1.0
    return old, kept, xs


def stored_identity(xs):
    xs[1] = xs[0]             # the same object in both slots, as in CPython
    y = xs[2] * 3.0
    xs[2] = y
    xs[3] = y
    return xs[1] is xs[0], xs[2] is xs[3], xs


def flags(n):
    is_set = [True] * (n + 1)
    is_set[0] = False
    for j in range(2, n + 1, 2):
        is_set[j] = False
    count = 0
    for i in range(n + 1):
        if is_set[i]:
            count += 1
    return count, is_set[-1], is_set[True]


def tuple_reads(t, i):
    s = 0
    for k in range(i):
        s += t[k] + t[-1 - k]
    return s, t[i]


def store_log(xs, log):
    for i in range(len(xs)):
        xs[i] = i     # releases the old element: a finalizer runs at the same point
        log.append(i)
    return len(log)


class Noisy:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def __del__(self):
        self.log.append(self.name)


def store_while_list_changes(xs):
    s = 0.0
    i = 0
    while i < len(xs):
        s += xs[i]
        if s > 4.0:
            xs.pop()
        xs[i] = s
        i += 1
    return s, xs


def test_list_reads_and_stores_by_index(backend):
    typed_check(axpy, ([1.0, 2.0, 3.0], [0.5, -0.0, NAN], 2.0), ([], [], 1.0),
                ([1.0, 2.0], [1.0], 3.0), ([1.0, 2.0], [1.0, "a"], 2.0),
                ([1.0, 2**70], [1.0, 2.0], 1.0), ([1.0, 2.0], [3, 4], 0.5),
                backend=backend, signature="(xs: list[float], ys: list[float], a: float)")
    typed_check(shifted_stores, ([1.0, 2.0, 3.0, 4.0], 2), ([1.0, 2.0], 3), ([1.0, 2.0], 0),
                ([1.0], 5), ([1.0, "b"], 1), backend=backend)


def test_list_stores_keep_identity_and_old_elements(backend):
    typed_check(keeps_old_element, ([1.5, 2.5],), ([1.5],), ([1.5, 7],), backend=backend)
    typed_check(stored_identity, ([1.0, 2.0, 3.0, 4.0],), ([1.0, 2.0, 3.0],),
                ([1.0, 2, 3.0, 4.0],), backend=backend)


def test_list_of_bools_made_in_the_function(backend):
    typed_check(flags, (10,), (1,), (0,), (101,), backend=backend, signature="(n: int)")


def test_tuple_reads_by_index(backend):
    typed_check(tuple_reads, ((1, 2, 3), 2), ((1, 2, 3), 3), ((1, 2.5, 3), 1), ((), 0),
                ((2**70, 1), 1), backend=backend, signature="(t: tuple, i: int)")


def test_list_store_releases_the_old_element_in_order(backend):
    def noisy_list():
        log = []
        return [Noisy(log, "a"), Noisy(log, "b")], log
    check_order = Call(*noisy_list())
    typed_check(store_log, check_order, ([1.0, 2.0], []), backend=backend)


def test_list_changing_length_inside_the_loop(backend):
    typed_check(store_while_list_changes, ([1.0, 2.0, 3.0, 4.0],), ([5.0],), ([],),
                backend=backend)
