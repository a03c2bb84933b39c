"""Differential tests of direct self-calls (justjit.specialize, "Direct self-calls"): a
specialization calling itself through its own global name, with arguments of its own types,
runs its direct body by a C call. Results, big ints past int64 in the middle of a recursion,
exceptions and their tracebacks, RecursionError, and rebinding the name must all be CPython's.

The recursive functions call themselves by their module global, which each test binds to the
side being run (the plain function or the jitted one), as a decorated function would be.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import importlib
import math
import sys
import traceback

import pytest

from difftest import compare_calls
from justjit import jit
from justjit.pipeline import BACKEND_MODULES


def makes_direct_calls(backend) -> bool:
    return getattr(importlib.import_module(BACKEND_MODULES[backend]), "DIRECT_CALLS", False)


def has_direct_body(jitted, backend) -> bool:
    """Whether the compiled module of `jitted` has a direct body (and calls it)."""
    if backend == "llvm":
        return "@jj_direct(" in jitted.inspect_llvm()
    return "__jj_direct(" in jitted.inspect_pyx()


def bound_to(name):
    """check()'s setup: bind global `name` to the side about to run."""
    return lambda side: globals().__setitem__(name, side)


def run_both(fn, *calls, backend, direct=True):
    """Compare plain `fn` and jit(fn) (fallback=False) on `calls`, with fn's global name bound
    to the side that runs; then check whether the compiled module has a direct body."""
    name = fn.__name__
    jitted = jit(fn, backend=backend, fallback=False, cache=True)
    try:
        compare_calls(fn, jitted, *calls, setup=bound_to(name))
    finally:
        globals()[name] = fn
    assert jitted.signatures and not jitted.signatures[0].startswith("generic")
    if makes_direct_calls(backend) and direct is not None:
        has_direct = has_direct_body(jitted, backend)
        assert has_direct == direct, f"{name}: direct body {'missing' if direct else 'made'}"
    return jitted


# --- ints --------------------------------------------------------------------------------------

def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def test_fib(backend):
    run_both(fib, *[(n,) for n in (0, 1, 2, 10, 20, -5)], backend=backend)


def doubling(n):
    if n == 0:
        return 1
    return 2 * doubling(n - 1)


def test_results_past_int64_in_the_middle_of_the_recursion(backend):
    # 2**63 appears at depth 63: the frame whose multiplication overflows goes generic, and
    # every frame above it continues generic with the big int, as CPython computes it.
    run_both(doubling, *[(n,) for n in (0, 5, 62, 63, 64, 100, 300)], backend=backend)


def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def test_two_arguments_and_nested_self_calls(backend):
    run_both(ackermann, (0, 0), (1, 5), (2, 3), (3, 3), backend=backend)


# --- floats and bools ------------------------------------------------------------------------

def halve(x, n):
    if n == 0:
        return x
    return halve(x * 0.5, n - 1) * 1.0


def test_float_results(backend):
    run_both(halve, (1.0, 0), (3.0, 10), (-0.0, 3), (float("inf"), 4), (float("nan"), 2),
             (5e-324, 3), (1.5, 1100 // 2), backend=backend)


def roots(x, n):
    if n == 0:
        return x
    return roots(math.sqrt(x), n - 1) + 1.0 / x


def test_typed_code_holding_objects(backend):
    # math and math.sqrt are objects the typed code holds (the llvm direct body then keeps
    # its frame from the start); sqrt of a negative number and 1.0 / 0.0 raise from deep
    # frames, with every traceback entry
    jitted = run_both(roots, (4.0, 0), (16.0, 3), (1e300, 40), (-1.0, 2), (0.0, 1), (0.0, 3),
                      backend=backend)
    try:
        globals()["roots"] = jitted
        got = traceback_of(jitted, 0.0, 5)
        globals()["roots"] = roots
        want = traceback_of(roots, 0.0, 5)
    finally:
        globals()["roots"] = roots
    assert got == want


def even(n):
    if n == 0:
        return True
    return not even(n - 1)


def test_bool_results(backend):
    run_both(even, (0,), (1,), (7,), (400,), backend=backend)


# --- exceptions, tracebacks, recursion depth ---------------------------------------------------

def countdown(n):
    if n == 0:
        return 1 // n
    return countdown(n - 1) + 1


def traceback_of(fn, *args):
    """The exception fn(*args) raises and its traceback entries in this file."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return (type(exc), str(exc),
                [(f.name, f.lineno) for f in traceback.extract_tb(exc.__traceback__)
                 if f.filename == __file__ and f.name != "traceback_of"])
    raise AssertionError(f"{fn.__name__}{args!r} did not raise")


def test_exception_from_deep_frames_has_every_traceback_entry(backend):
    jitted = run_both(countdown, (0,), (1,), (30,), backend=backend)
    try:
        globals()["countdown"] = jitted
        got = traceback_of(jitted, 30)
        globals()["countdown"] = countdown
        want = traceback_of(countdown, 30)
    finally:
        globals()["countdown"] = countdown
    assert got == want


def caught(n):
    try:
        if n == 0:
            return 1 // n
        return caught(n - 1) + 1
    except ZeroDivisionError:
        return -100


def test_exception_caught_by_a_frame_of_the_recursion(backend):
    run_both(caught, (0,), (1,), (25,), backend=backend)


def depth(n):
    if n == 0:
        return 0
    return depth(n - 1) + 1


def test_recursion_error_then_the_depth_budget_is_whole_again(backend):
    # After a RecursionError in the middle of direct calls, the thread's recursion counter
    # must be back where it was: a deep but legal recursion works again.
    run_both(depth, (10,), (5000,), (600,), (100_000,), (600,), backend=backend)


# --- the name changes meaning ------------------------------------------------------------------

def rebound(n):
    if n == 0:
        return 0
    return rebound(n - 1) + 1


def test_rebinding_the_name_between_calls(backend):
    original = rebound
    jitted = run_both(original, (3,), (50,), backend=backend)
    other = lambda n: 1000 + n  # noqa: E731
    # The name now means another function: the compiled code calls that one, as CPython does.
    try:
        compare_calls(original, jitted, (5,), (0,),
                      setup=lambda side: globals().__setitem__("rebound", other))
    finally:
        # (not `= rebound`: that reads the global, which is `other` here)
        globals()["rebound"] = original


def noisy(n, log):
    log.append(n)
    if n == 0:
        return 0
    return noisy(n - 1, log) + 1


def test_code_that_can_run_other_code_makes_ordinary_calls(backend):
    # (list.append is a call: such a function gets no direct body, and stays exact)
    name = "noisy"
    jitted = jit(noisy, backend=backend, fallback=False, cache=True)
    try:
        compare_calls(noisy, jitted, (4, []), (0, []), setup=bound_to(name))
    finally:
        globals()[name] = noisy
    if makes_direct_calls(backend):
        assert not has_direct_body(jitted, backend)


def halving(n):
    if n <= 1:
        return 0
    return halving(n / 2) + 1


def test_an_argument_of_another_type_makes_an_ordinary_call(backend):
    # n / 2 is a float: the int specialization calls another one, through the dispatcher
    # (which, for floats, calls itself directly)
    run_both(halving, (1,), (2,), (1000,), (7.5,), backend=backend, direct=None)


def keyword_self(n):
    if n == 0:
        return 0
    return keyword_self(n=n - 1) + 1


def test_a_keyword_call_is_an_ordinary_call(backend):
    run_both(keyword_self, (0,), (12,), backend=backend, direct=False)


@pytest.mark.parametrize("n", [0, 15])
def test_a_profiler_sees_every_call(backend, n):
    # With a profile function on, compiled calls decline and go through the trampoline, whose
    # frames the profiler sees: the same count of calls as CPython's.
    import sys

    def count_calls(fn):
        calls = []

        def profile(frame, event, arg):
            if event == "call" and frame.f_code.co_name == "fib":
                calls.append(1)
        sys.setprofile(profile)
        try:
            result = fn(n)
        finally:
            sys.setprofile(None)
        return result, len(calls)

    jitted = run_both(fib, (n,), (5,), backend=backend)
    try:
        globals()["fib"] = jitted
        got = count_calls(jitted)
    finally:
        globals()["fib"] = fib
    want = count_calls(fib)
    assert got == want


# --- the callee's leaf code, run inline (justjit.inline_leaves) --------------------------------

def leaf_first(n):
    if n < 1:
        return 0
    return leaf_first(0) + leaf_first(n - 1) + 1


def chain(n):
    if n < 2:
        return n
    return chain(n - 1) + 1


def frames_below():
    frame, count = sys._getframe(1), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1
    return count


@pytest.mark.parametrize("fn", [leaf_first, chain, fib])
def test_recursion_error_at_the_same_depth_when_the_leaf_runs_inline(backend, fn):
    # CPython raises RecursionError entering a callee at the limit, a leaf too: calls whose
    # deepest (inline) leaves land on each side of the limit, fib's under a low limit.
    jitted = run_both(fn, (5,), backend=backend)  # compiled here, at the usual limit
    old = sys.getrecursionlimit()
    if fn is fib:
        sys.setrecursionlimit(frames_below() + 40)
    try:
        top = sys.getrecursionlimit() - frames_below()
        compare_calls(fn, jitted, *[(n,) for n in range(top - 45, top + 5)],
                      setup=bound_to(fn.__name__))
    finally:
        globals()[fn.__name__] = fn
        sys.setrecursionlimit(old)


def scaled(n):
    if n < 2:
        return n * 4611686018427387904
    return scaled(n - 1) + scaled(n - 5)


def at_the_magic(n):
    if n < 1:
        return -9223372036854775807
    return at_the_magic(n - 1) + 0 * at_the_magic(n - 2)


def test_leaf_results_past_int64_and_at_the_edges(backend):
    # scaled: leaves of 2**62 * n overflow for n < -2 (the inline copy gives up, the call
    # deopts) and give -2**63 for n == -2; sums past int64. at_the_magic: a typed result equal
    # to the direct bodies' magic value.
    run_both(scaled, *[(n,) for n in (1, 2, 3, 4, 6, 9, 12)], backend=backend)
    run_both(at_the_magic, (0,), (1,), (2,), (5,), backend=backend)


def halves(x):
    if x < 1.0:
        return x * 0.5
    return halves(x / 3.0) + halves(x - 1.5)


def test_float_leaves(backend):
    run_both(halves, (0.5,), (2.0,), (7.25,), (-0.0,), (float("inf"),), backend=backend)


def rebinds(n, k):
    if n < 2:
        k = k + n
        return k
    return rebinds(n - 1, k) + rebinds(n - 2, k) * 3 + k


def test_a_callee_rebinding_its_parameter_inline_leaves_the_callers_alone(backend):
    # the copy of the callee writes its own k, not the caller's k it was called with
    run_both(rebinds, *[(n, k) for n in (0, 1, 2, 3, 6, 11) for k in (0, 5, -7)],
             backend=backend)


def test_the_direct_body_runs_leaves_inline():
    # (what the tests above check the effects of) fib's direct body tests the budget and the
    # callee's `n < 2` before each of its two calls; its calls themselves are still there
    from justjit.ir import ops as ir
    from justjit.pipeline import specialized_ir

    plain = fib
    globals()["fib"] = jit(plain, fallback=False)  # what makes its calls self-calls
    try:
        direct = specialized_ir(plain, (int,), direct_calls=True).specialization.direct
    finally:
        globals()["fib"] = plain
    terms = [b.terminator for b in direct.blocks.values()]
    ops = [op for b in direct.blocks.values() for op in b.ops]
    assert sum(isinstance(t, ir.SelfCall) for t in terms) == 2
    assert {op.depth for op in ops if isinstance(op, ir.DirectBudget)} == {0, 1, 2}
