"""Differential tests of calls of jitted leaves run inline (justjit.inline_calls): a typed
caller copies the typed code of a small jitted function it calls through a module global.
Results and their types, ints past int64 made by the callee, exceptions (with the callee's
frame in the traceback), handlers in the caller, RecursionError at the limit, and rebinding
the callee's name must all be CPython's.

Each test binds the callee's global name to the side being run: the plain function for the
plain caller, the jitted one for the jitted caller, as decorating both would.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import sys
import traceback

import pytest

from difftest import compare_calls
from justjit import jit


def inlined(jitted, backend) -> bool:
    """Whether the compiled caller runs a leaf inline (it tests LeafBudget)."""
    text = jitted.inspect_llvm() if backend == "llvm" else jitted.inspect_pyx()
    return "JJ_LeafReady" in text


def run_with(caller, callees, *calls, backend, inline=True):
    """Compare plain `caller` and jit(caller) (fallback=False) on `calls`, each callee's
    global bound to its plain or jitted version as the side, and check whether the code
    compiled for the first call runs a leaf inline."""
    jitted_callees = {f.__name__: jit(f, backend=backend, fallback=False) for f in callees}
    jitted = jit(caller, backend=backend, fallback=False)

    def bind(side):
        for f in callees:
            globals()[f.__name__] = f if side is caller else jitted_callees[f.__name__]
    try:
        compare_calls(caller, jitted, calls[0], setup=bind)
        assert jitted.signatures and not jitted.signatures[0].startswith("generic")
        assert inlined(jitted, backend) == inline, f"{caller.__name__}: inline is not {inline}"
        compare_calls(caller, jitted, *calls, setup=bind)
    finally:
        restore()
    return jitted


def restore():
    """Bind every callee's global to its plain function again."""
    globals().update(PLAIN)


# --- results ---------------------------------------------------------------------------------

def eval_a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def a_sum(n):
    s = 0.0
    for i in range(n):
        for j in range(n):
            s += eval_a(i, j) * (j + 1)
    return s


def test_float_result(backend):
    run_with(a_sum, [eval_a], (0,), (1,), (7,), (60,), (-3,), backend=backend)


def is_odd(x):
    return x % 2 == 1


def count_odd(n, k):
    c = 0
    for i in range(n):
        if is_odd(i * k):
            c += 1
    return c


def test_bool_result_and_negative_arguments(backend):
    run_with(count_odd, [is_odd], (10, 1), (10, -3), (0, 5), (25, 7), backend=backend)


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def clamped_total(xs, lo, hi):
    t = 0
    for i in range(len(xs)):
        t += clamp(xs[i], lo, hi)
    return t


def test_branches_in_the_callee(backend):
    run_with(clamped_total, [clamp], ([5, -4, 12, 0, 9], 0, 10), ([1, 2, 3], 2, 2),
             ([], 0, 1), backend=backend)


def mul(a, b):
    return a * b


def products(n, k):
    t = 0
    for i in range(n):
        t += mul(i, k)
    return t


def test_int64_overflow_in_the_callee_gives_cpythons_big_int(backend):
    # mul(i, 2**62) overflows int64 for i >= 2: the copy gives up, the real call returns the
    # big int, and the caller's sum goes on past 2**63 in generic code.
    run_with(products, [mul], (10, 3), (10, 2**62), (40, -(2**61)), (5, 2**70),
             (5, 1.5), backend=backend)


# --- exceptions ------------------------------------------------------------------------------

def inv(x):
    return 1.0 / x


def inverse_sum(n, offset):
    s = 0.0
    for i in range(n):
        s += inv(i - offset)
    return s


def test_zero_division_raised_by_the_real_call(backend):
    run_with(inverse_sum, [inv], (10, -1), (10, 3), (4, 4), backend=backend)


def inverse_sum_caught(n, offset):
    s = 0.0
    for i in range(n):
        try:
            s += inv(i - offset)
        except ZeroDivisionError as e:
            s -= len(str(e))
    return s


def test_exception_caught_by_the_callers_handler(backend):
    run_with(inverse_sum_caught, [inv], (10, 3), (10, -1), backend=backend)


def test_the_traceback_has_the_callees_frame(backend):
    jitted_inv = jit(inv, backend=backend, fallback=False)
    jitted = jit(inverse_sum, backend=backend, fallback=False)
    texts = []
    for side, callee in ((inverse_sum, inv), (jitted, jitted_inv)):
        globals()["inv"] = callee
        try:
            # Both compiled first: a first call's traceback has the dispatcher's frames.
            callee(1)
            side(5, -1)
            with pytest.raises(ZeroDivisionError) as info:
                side(5, 2)
        finally:
            restore()
        # (the trampoline's entry, at the def line, is the README's known difference)
        texts.append([(f.name, f.line) for f in traceback.extract_tb(info.value.__traceback__)
                      if f.name in ("inverse_sum", "inv") and not f.line.startswith("def ")])
    assert inlined(jitted, backend)
    assert texts[0] == texts[1]
    assert [name for name, _ in texts[0]] == ["inverse_sum", "inv"]


# --- the name changes meaning ----------------------------------------------------------------

def add_one(x):
    return x + 1


def add_two(x):
    return x + 2


def bumped(n):
    t = 0
    for i in range(n):
        t += add_one(i)
    return t


def test_rebinding_the_callee(backend):
    jitted_one = jit(add_one, backend=backend, fallback=False)
    jitted_two = jit(add_two, backend=backend, fallback=False)
    jitted = run_with(bumped, [add_one], (10,), backend=backend)
    try:
        for plain_callee, jitted_callee in ((add_two, jitted_two), (add_two, add_two),
                                             (add_one, jitted_one), (len, len)):
            def bind(side, plain_callee=plain_callee, jitted_callee=jitted_callee):
                globals()["add_one"] = jitted_callee if side is jitted else plain_callee
            compare_calls(bumped, jitted, (10,), (0,), setup=bind)
    finally:
        restore()


# --- what is not a leaf ----------------------------------------------------------------------

def looping(x):
    t = 0
    for k in range(x):
        t += k
    return t


def looped_total(n):
    t = 0
    for i in range(n):
        t += looping(i)
    return t


def test_a_callee_with_a_loop_is_called(backend):
    run_with(looped_total, [looping], (10,), (0,), backend=backend, inline=False)


# --- RecursionError --------------------------------------------------------------------------

def frames_below():
    frame, count = sys._getframe(1), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1
    return count


def plus_one(n):
    return n + 1


def deep(n):
    if n == 0:
        return plus_one(n)
    return deep(n - 1) + 1


def one_call(n):
    return plus_one(n) * 2


def nest(fn, n):
    """fn(n) called n frames deeper (a plain recursion)."""
    if n == 0:
        return fn(3)
    return nest(fn, n - 1)


def compiled_with(caller, callee, backend):
    """(jit(caller), jit(callee)), both compiled, the caller with the jitted callee bound:
    the object its inline copy is guarded by. Each is called often enough here that its
    trampoline's call of the compiled code is specialized by CPython: until then, that call
    takes one more level of the recursion limit (the README's "What differs")."""
    jitted_callee = jit(callee, backend=backend, fallback=False)
    jitted = jit(caller, backend=backend, fallback=False)
    globals()[caller.__name__] = jitted
    globals()[callee.__name__] = jitted_callee
    try:
        for _ in range(100):
            assert jitted(5) == caller(5) and jitted_callee(1) == callee(1)
        assert inlined(jitted, backend)
    finally:
        restore()
    return jitted, jitted_callee


def at_each_depth(caller, callee, backend, nested: bool):
    """Compare caller(n) and its jitted version (or the RecursionError each raises) where
    the calls come near the recursion limit and pass it: from a recursion of n levels of the
    caller itself, or (`nested`) of a plain function above one call of the caller. The
    globals of both are bound to the plain or jitted versions as the side."""
    jitted, jitted_callee = compiled_with(caller, callee, backend)
    top = sys.getrecursionlimit() - frames_below()
    try:
        for n in range(top - 12, top + 3):
            results = []
            for side, bound in ((caller, callee), (jitted, jitted_callee)):
                globals()[caller.__name__] = side
                globals()[callee.__name__] = bound
                try:
                    results.append(nest(side, n) if nested else side(n))
                except RecursionError as exc:
                    results.append(type(exc))
            assert results[0] == results[1], f"depth {n}: {results}"
    finally:
        restore()


def test_recursion_error_at_the_same_depth_in_a_direct_body(backend):
    # deep() calls itself directly and its leaf inline at the bottom; CPython raises
    # RecursionError entering plus_one at the limit, and so must the compiled deep().
    at_each_depth(deep, plus_one, backend, nested=False)


def test_recursion_error_at_the_same_depth_from_typed_code(backend):
    # one_call (not recursive) runs plus_one inline unless the real call could raise.
    at_each_depth(one_call, plus_one, backend, nested=True)


PLAIN = {name: value for name, value in globals().items()
         if callable(value) and getattr(value, "__module__", None) == __name__}
