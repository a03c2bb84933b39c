"""Differential tests: generator functions driven by scripts of next/send/throw/close.

Each step's outcome (yielded value, or exception with its StopIteration value and chain) is
compared, and so is the log argument the generators append to.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import collections.abc
import copy
import gc
import inspect
import re
import sys

import pytest

import justjit
from difftest import LOG, Call, check, check_generator, fresh, note, outcome, same

NEXT = ("next",)
CLOSE = ("close",)
LIST = ("list",)


def send(value):
    return ("send", value)


def throw(exc):
    return ("throw", exc)


def counter(n):
    for i in range(n):
        yield i
    return "done"


def test_yield_and_return_value(backend):
    check_generator(counter, (3,), [NEXT] * 5, backend=backend)
    check_generator(counter, (0,), [NEXT, NEXT], backend=backend)
    check_generator(counter, (4,), [LIST, NEXT], backend=backend)
    check_generator(counter, ("x",), [NEXT], backend=backend)
    check_generator(counter, Call(), [NEXT], backend=backend)


def returns_tuple():
    yield 1
    return (1, 2)


def returns_none_explicitly():
    yield 1
    return None


def test_stop_iteration_value_shapes(backend):
    check_generator(returns_tuple, (), [NEXT, NEXT], backend=backend)
    check_generator(returns_none_explicitly, (), [NEXT, NEXT], backend=backend)


def echo(log):
    received = yield "ready"
    while True:
        log.append(received)
        if received == "stop":
            return "stopped"
        received = yield ("got", received)


def test_send(backend):
    check_generator(echo, (LOG,), [NEXT, send(1), send(None), NEXT, send("stop"), send(2)],
                    backend=backend)


def test_send_non_none_to_just_started_generator(backend):
    check_generator(echo, (LOG,), [send(5), NEXT, send("x")], backend=backend)


def yield_expressions(log):
    total = (yield "a") + (yield "b")
    pair = [(yield "c"), (yield "d")]
    log.append((total, pair))
    text = f"{(yield 'e')}-{(yield 'f')}"
    return text


def test_yield_as_expression_evaluation_order(backend):
    check_generator(yield_expressions, (LOG,),
                    [NEXT, send(1), send(2), send("x"), send("y"), send("p"), send("q")],
                    backend=backend)
    check_generator(yield_expressions, (LOG,), [NEXT, send(1), send("s")], backend=backend)


def sub(log):
    x = yield 1
    log.append(("sub got", x))
    y = yield 2
    log.append(("sub got", y))
    return "sub result"


def delegator(log):
    result = yield from sub(log)
    log.append(("delegator got", result))
    yield result
    return "outer"


def test_yield_from_passes_send_and_returns_value(backend):
    check_generator(delegator, (LOG,), [NEXT, send("a"), send("b"), NEXT, NEXT], backend=backend)
    check_generator(delegator, (LOG,), [LIST], backend=backend)


def catching_sub(log):
    while True:
        try:
            yield "sub waiting"
        except ValueError as e:
            log.append(("sub caught", e.args))
            yield "sub recovered"
        finally:
            log.append("sub finally")


def delegator_to_catching(log):
    try:
        yield from catching_sub(log)
    finally:
        log.append("delegator finally")


def test_yield_from_forwards_throw_and_close(backend):
    check_generator(delegator_to_catching, (LOG,),
                    [NEXT, throw(ValueError("v")), NEXT, throw(KeyError("k")), NEXT],
                    backend=backend)
    check_generator(delegator_to_catching, (LOG,), [NEXT, CLOSE, NEXT], backend=backend)


def delegate_to_iterator(xs):
    result = yield from xs
    return result


def test_yield_from_plain_iterator(backend):
    check_generator(delegate_to_iterator, ([1, 2],), [NEXT, NEXT, NEXT], backend=backend)
    check_generator(delegate_to_iterator, ([1, 2],), [NEXT, send(5)], backend=backend)
    check_generator(delegate_to_iterator, ([1, 2],), [NEXT, throw(ValueError), NEXT],
                    backend=backend)
    check_generator(delegate_to_iterator, ("ab",), [LIST], backend=backend)
    check_generator(delegate_to_iterator, (5,), [NEXT], backend=backend)
    check_generator(delegate_to_iterator, (fresh(lambda: counter(2)),), [NEXT, NEXT, NEXT],
                    backend=backend)


def raising_sub():
    yield 1
    raise KeyError("from sub")


def delegate_to_raising():
    try:
        yield from raising_sub()
    except KeyError as e:
        yield ("delegator caught", e.args)
    return "end"


def test_exception_from_subgenerator_reaches_delegator(backend):
    check_generator(delegate_to_raising, (), [NEXT, NEXT, NEXT], backend=backend)


def catches_thrown(log):
    while True:
        try:
            x = yield "waiting"
            log.append(("sent", x))
        except ValueError as e:
            log.append(("caught", e.args))
            yield ("caught", str(e))
        except KeyError:
            return "returned from handler"


def test_throw_caught_inside_generator(backend):
    check_generator(catches_thrown, (LOG,),
                    [NEXT, throw(ValueError("first")), NEXT, send(1), throw(ValueError),
                     throw(KeyError("k")), NEXT], backend=backend)


def test_throw_uncaught_finishes_generator(backend):
    check_generator(catches_thrown, (LOG,), [NEXT, throw(TypeError("t")), NEXT, send(1)],
                    backend=backend)


def with_finally(log):
    try:
        log.append("started")
        yield 1
        yield 2
    finally:
        log.append("finally")


def test_throw_into_unstarted_generator(backend):
    check_generator(with_finally, (LOG,), [throw(ValueError("early")), NEXT], backend=backend)


def test_close_runs_finally(backend):
    check_generator(with_finally, (LOG,), [NEXT, CLOSE, NEXT, CLOSE], backend=backend)
    check_generator(with_finally, (LOG,), [CLOSE, NEXT], backend=backend)
    check_generator(with_finally, (LOG,), [LIST, CLOSE], backend=backend)


def handles_generator_exit(log, mode):
    try:
        yield 1
        yield 2
    except GeneratorExit:
        log.append("GeneratorExit")
        if mode == "reraise":
            raise
        if mode == "ignore":
            yield "ignored"
        if mode == "return":
            return "value"
        if mode == "other":
            raise ValueError("during close")


def test_generator_exit_handling(backend):
    for mode in ("reraise", "ignore", "return", "other", "swallow"):
        check_generator(handles_generator_exit, (LOG, mode), [NEXT, CLOSE, NEXT], backend=backend)


def stop_iteration_inside(kind):
    yield 1
    if kind == "raise":
        raise StopIteration("leaked")
    if kind == "next":
        next(iter([]))
    yield 2


def test_stop_iteration_inside_generator_becomes_runtime_error(backend):
    for kind in ("raise", "next", "none"):
        check_generator(stop_iteration_inside, (kind,), [NEXT, NEXT, NEXT], backend=backend)


class CM:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.log.append(("exit", exc_type))
        return False


def yield_inside_with(log):
    with CM(log):
        yield "in with"
        yield "still in with"
    yield "after with"


def test_close_inside_with_calls_exit_with_generator_exit(backend):
    check_generator(yield_inside_with, (LOG,), [NEXT, CLOSE], backend=backend)
    check_generator(yield_inside_with, (LOG,), [NEXT, throw(KeyError("k"))], backend=backend)
    check_generator(yield_inside_with, (LOG,), [LIST], backend=backend)


def yield_in_handler():
    yield sys.exc_info()[0]
    try:
        raise KeyError("k")
    except KeyError:
        yield sys.exc_info()[0]
        yield sys.exc_info()[0]
    yield sys.exc_info()[0]


def test_exc_info_across_yields(backend):
    check_generator(yield_in_handler, (),
                    [("next_while_handling", ValueError), NEXT,
                     ("next_while_handling", TypeError), ("next_while_handling", OSError)],
                    backend=backend)


def runs_itself():
    me = yield "send me myself"
    yield next(me)


def test_generator_already_executing(backend):
    check_generator(runs_itself, (), [NEXT, ("send_self",), NEXT], backend=backend)


def yield_in_finally_on_close(log):
    try:
        yield 1
    finally:
        log.append("finally")
        yield "from finally"


def test_yield_in_finally_during_close(backend):
    check_generator(yield_in_finally_on_close, (LOG,), [NEXT, CLOSE, NEXT], backend=backend)


def return_in_finally_generator():
    try:
        yield 1
        return "try"
    finally:
        return "finally"


def test_return_in_finally_overrides_in_generator(backend):
    check_generator(return_in_finally_generator, (), [NEXT, NEXT], backend=backend)
    check_generator(return_in_finally_generator, (), [NEXT, throw(ValueError)],
                    backend=backend)


def tree_walk(node):
    if isinstance(node, list):
        for child in node:
            yield from tree_walk(child)
    else:
        yield node


def test_recursive_generator_through_global_name(backend):
    check_generator(tree_walk, ([1, [2, [3, []], 4], [[5]]],), [LIST], backend=backend)
    check_generator(tree_walk, (7,), [NEXT, NEXT], backend=backend)


def genexp_inside_generator(xs):
    squares = (x * x for x in xs)
    yield sum(squares)
    yield from (x for x in xs if x)
    yield [x for x in squares]


def test_generator_expression_inside_generator(backend):
    check_generator(genexp_inside_generator, ([0, 1, 2],), [LIST], backend=backend)
    check_generator(genexp_inside_generator, (["a"],), [NEXT], backend=backend)


def closure_generator(start, step=1):
    total = start

    def bump():
        nonlocal total
        total += step
    while True:
        cmd = yield total
        if cmd == "stop":
            return total
        bump()


def test_generator_with_closure_and_defaults(backend):
    check_generator(closure_generator, (0,), [NEXT, NEXT, NEXT, send("stop")], backend=backend)
    check_generator(closure_generator, Call(1.5, step=-1), [NEXT, NEXT, CLOSE, NEXT],
                    backend=backend)


def send_after_exhaustion():
    yield 1


def test_send_and_throw_after_exhaustion(backend):
    check_generator(send_after_exhaustion, (),
                    [NEXT, NEXT, send(1), send(None), throw(KeyError("late")), CLOSE],
                    backend=backend)


def finally_tracking(log, n):
    try:
        for i in range(n):
            yield i
    finally:
        log.append("generator finally")


def consume_with_break(log, n):
    for x in finally_tracking(log, n):
        log.append(("got", x))
        if x == 1:
            break
    log.append("after loop")
    return "ok"


def test_consumer_break_closes_generator_immediately(backend):
    check(consume_with_break, (LOG, 5), (LOG, 1), (LOG, 0), backend=backend)


def consume_partially(log):
    g = finally_tracking(log, 3)
    first = next(g)
    log.append("dropping")
    g = None
    log.append("dropped")
    return first


def test_dropping_last_reference_closes_generator(backend):
    check(consume_partially, (LOG,), backend=backend)


def generator_raises_midway(log):
    yield note(log, "first", 1)
    yield 10 // 0
    yield "never"


def test_exception_inside_generator_then_exhausted(backend):
    check_generator(generator_raises_midway, (LOG,), [NEXT, NEXT, NEXT], backend=backend)
    check_generator(generator_raises_midway, (LOG,), [LIST, NEXT], backend=backend)


def lazy_argument_errors(xs):
    it = iter(xs)
    yield "created"
    yield next(it)


def test_generator_body_does_not_run_until_first_next(backend):
    check_generator(lazy_argument_errors, (5,), [NEXT, NEXT], backend=backend)
    check_generator(lazy_argument_errors, ([],), [NEXT, NEXT, NEXT], backend=backend)


# ---------------------------------------------------------------------------------------------
# The generator object's protocol beyond scripted steps: each step is a function of the
# generator, run on the plain and on the jitted generator alike.
# ---------------------------------------------------------------------------------------------

def _jit(fn, backend):
    return justjit.jit(fn, backend=backend, fallback=False, cache=True)


def _compare_runs(what, plain, got):
    (plain_steps, plain_args), (got_steps, got_args) = plain, got
    for i, (a, b) in enumerate(zip(plain_steps, got_steps)):
        assert same(a, b), f"{what}, step {i}:\n  plain CPython: {a!r}\n  jitted:        {b!r}"
    assert len(plain_steps) == len(got_steps)
    assert same(plain_args, got_args), (
        f"{what}: arguments differ\n  plain CPython: {plain_args!r}\n  jitted:        {got_args!r}")


def _run_steps(make, args, steps):
    call_args, _ = Call(*args).materialize()
    gen = make(*call_args)
    return [outcome(step, (gen,)) for step in steps], call_args


def check_steps(fn, args, steps, backend):
    """Compare plain ``fn(*args)`` and jitted ``fn(*args)`` under ``steps``, functions of the
    generator whose outcomes (value or exception with its chain) are compared."""
    jitted = _jit(fn, backend)
    what = f"{fn.__qualname__}{args!r}"
    _compare_runs(what, _run_steps(fn, args, steps), _run_steps(jitted, args, steps))
    assert jitted.signatures, f"{fn.__qualname__}: no signature recorded after a compiled call"


def nxt(gen):
    return next(gen)


def close(gen):
    return gen.close()


def thrower(*args):
    """A step that calls gen.throw(*args); exception instances are made afresh for each side."""
    def step(gen):
        return gen.throw(*[copy.copy(a) if isinstance(a, BaseException) else a for a in args])
    step.__name__ = f"throw{args!r}"
    return step


def sender(value):
    def step(gen):
        return gen.send(value)
    step.__name__ = f"send({value!r})"
    return step


def while_handling(action):
    """``action(gen)`` called inside an ``except`` block of the caller."""
    def step(gen):
        try:
            raise OSError("the caller's")
        except OSError:
            return action(gen)
    step.__name__ = f"while_handling({action.__name__})"
    return step


def reports_context(log):
    while True:
        try:
            yield "waiting"
        except BaseException as e:
            log.append((type(e).__name__, type(e.__context__).__name__))
            if isinstance(e, GeneratorExit):
                return "closed"


def test_throw_and_close_while_the_caller_handles_an_exception(backend):
    # throw() does not chain the exception to the caller's handled exception; close() does.
    check_steps(reports_context, (LOG,),
                [nxt, while_handling(thrower(ValueError("v"))), while_handling(close)], backend)
    check_steps(reports_context, (LOG,), [while_handling(thrower(KeyError("early"))), nxt],
                backend)
    check_steps(reports_context, (LOG,),
                [nxt, close, while_handling(thrower(KeyError("late"))), while_handling(close)],
                backend)


class FailsToConstruct(Exception):
    def __init__(self, *args):
        raise TypeError("cannot construct FailsToConstruct")


def test_throw_argument_errors_leave_the_generator_untouched(backend):
    bad = [thrower(1), thrower(ValueError("a"), 1), thrower(ValueError, None, 5), thrower(),
           thrower(ValueError, 1, None, 3), lambda gen: gen.throw(ValueError, tb=None)]
    check_steps(with_finally, (LOG,), bad + [nxt] + bad + [nxt, nxt], backend)
    check_steps(catches_thrown, (LOG,),
                [nxt, thrower(ValueError, "args"), thrower(ValueError, ("a", 2)),
                 thrower(ValueError, ValueError("instance")), thrower(ValueError, None, None),
                 thrower(FailsToConstruct), nxt], backend)


def test_throw_stop_iteration(backend):
    check_steps(with_finally, (LOG,), [thrower(StopIteration("unstarted")), nxt], backend)
    check_steps(with_finally, (LOG,), [nxt, thrower(StopIteration("suspended")), nxt], backend)
    check_steps(with_finally, (LOG,), [nxt, nxt, nxt, thrower(StopIteration("after"))], backend)


def test_close_and_send_before_start(backend):
    check_steps(echo, (LOG,), [close, nxt, sender(None), sender(1), close], backend)
    check_steps(echo, (LOG,), [sender(1), sender(None), sender(2), close, sender(3)], backend)


def state(gen):
    return (inspect.getgeneratorstate(gen), gen.gi_running, gen.gi_suspended,
            gen.gi_frame is None, getattr(gen.gi_yieldfrom, "__name__", gen.gi_yieldfrom))


def names(gen):
    return (gen.__name__, gen.__qualname__, re.sub(" at 0x[0-9a-f]+", "", repr(gen)),
            type(gen).__name__, isinstance(gen, collections.abc.Generator))


def test_generator_state_and_attributes(backend):
    def gi_code(gen):
        return gen.gi_code is delegator.__code__

    def rename(gen):
        gen.__name__ = "renamed"
        gen.__qualname__ = "re.named"
        return names(gen)

    def bad_rename(gen):
        gen.__name__ = 5

    check_steps(delegator, (LOG,),
                [state, names, gi_code, nxt, state, nxt, nxt, state, nxt, state, nxt, state,
                 rename, bad_rename, gi_code], backend)
    check_steps(delegator, (LOG,), [nxt, close, state], backend)


def inspects_itself(log):
    me = yield "send me myself"
    log.append((inspect.getgeneratorstate(me), me.gi_running, me.gi_suspended, me.gi_yieldfrom))
    try:
        me.send(1)
    except ValueError as e:
        log.append(("send", str(e)))
    try:
        me.throw(KeyError("k"))
    except ValueError as e:
        log.append(("throw", str(e)))
    try:
        me.throw(1)
    except TypeError as e:
        log.append(("bad throw", str(e)))
    try:
        me.close()
    except ValueError as e:
        log.append(("close", str(e)))
    yield "done"


def test_running_generator_refuses_every_method(backend):
    def send_self(gen):
        return gen.send(gen)

    check_steps(inspects_itself, (LOG,), [nxt, send_self, state, nxt, state], backend)


def _dropped(make, log_args, steps):
    """Run ``steps`` on a new generator, drop it (and collect cycles); return the log and the
    unraisable exceptions reported meanwhile."""
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append((u.exc_type, str(u.exc_value)))
    try:
        args, _ = Call(*log_args).materialize()
        gen = make(*args)
        results = [outcome(step, (gen,)) for step in steps]
        del gen
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    return results, args, unraisable


def keeps_itself(log, mode):
    try:
        me = yield 1
        yield 2
    except GeneratorExit:
        log.append("GeneratorExit")
        if mode == "ignore":
            yield "ignored"
        return "value"
    finally:
        log.append("finally")


@pytest.mark.parametrize("mode", ["return", "ignore"])
@pytest.mark.parametrize("cycle", [False, True])
def test_dropped_generator_is_closed_once(backend, mode, cycle):
    def send_self(gen):
        return gen.send(gen if cycle else None)

    jitted = _jit(keeps_itself, backend)
    plain = _dropped(keeps_itself, (LOG, mode), [nxt, send_self])
    got = _dropped(jitted, (LOG, mode), [nxt, send_self])
    _compare_runs(f"keeps_itself({mode!r}) dropped", plain[:2], got[:2])
    assert same(plain[2], got[2]), f"unraisable: plain {plain[2]!r}, jitted {got[2]!r}"


def suspended_in_a_cycle(cycle, log):
    try:
        yield 1
        yield 2
    finally:
        log.append("finally")


def _collect_orphans(make):
    """Generators suspended in garbage cycles, whose function is gone as well by the time the
    collector finalizes them (closing them runs their code): the log of their finally
    clauses."""
    log = []
    for _ in range(20):
        cycle = []
        gen = make(cycle, log)
        next(gen)
        cycle.append(gen)
        del gen, cycle
    del make
    gc.collect()
    return log


def test_generators_in_cycles_outlive_their_function(backend):
    # (With llvm, the machine code is freed with the last reference to it; the collector
    # finalizes a cycle's objects in no particular order.)
    plain = _collect_orphans(suspended_in_a_cycle)
    got = _collect_orphans(_jit(suspended_in_a_cycle, backend))
    assert same(plain, got), f"plain {plain!r}, jitted {got!r}"


def recurses_through(f, n):
    if n:
        yield from f(f, n - 1)
    yield n


def test_deep_recursion_of_delegating_generators(backend):
    # Each resumed generator counts towards the recursion limit, as CPython's frames do:
    # RecursionError, never an exhausted C stack. (Which call reaches the limit first may
    # differ, and with it the message's suffix: " while calling a Python object".)
    jitted = _jit(recurses_through, backend)

    def depth_error(text):
        return text.startswith("maximum recursion depth exceeded")

    for n in (30, 5000, 100000):
        plain = outcome(lambda: list(recurses_through(recurses_through, n)), message=depth_error)
        got = outcome(lambda: list(jitted(jitted, n)), message=depth_error)
        assert same(plain, got), f"n={n}:\n  plain {plain!r}\n  jitted {got!r}"


def delegate_to(sub_gen, log):
    try:
        result = yield from sub_gen
        log.append(("result", result))
    finally:
        log.append("delegator finally")
    return "delegator done"


DELEGATION_SCRIPTS = [
    [nxt, sender("a"), sender("b"), nxt],
    [nxt, thrower(ValueError("v")), nxt, thrower(KeyError("k")), nxt],
    [nxt, close, nxt],
    [nxt, while_handling(close), state],
    [nxt, state, sender(None)],
]


@pytest.mark.parametrize("script", range(len(DELEGATION_SCRIPTS)))
@pytest.mark.parametrize("sub_fn", [sub, catching_sub])
def test_jitted_generators_delegate_to_each_other(backend, sub_fn, script):
    # Pure CPython against: jitted delegator over jitted delegate, plain over jitted, jitted
    # over plain.
    steps = DELEGATION_SCRIPTS[script]
    outer, inner = _jit(delegate_to, backend), _jit(sub_fn, backend)

    def make(outer_fn, sub_gen_fn):
        return lambda log: outer_fn(sub_gen_fn(log), log)

    plain = _run_steps(make(delegate_to, sub_fn), (LOG,), steps)
    for outer_fn, sub_gen_fn in ((outer, inner), (delegate_to, inner), (outer, sub_fn)):
        got = _run_steps(make(outer_fn, sub_gen_fn), (LOG,), steps)
        what = (f"{getattr(outer_fn, 'backend', 'plain')} delegate_to over "
                f"{getattr(sub_gen_fn, 'backend', 'plain')} {sub_fn.__name__}")
        _compare_runs(what, plain, got)


# ---------------------------------------------------------------------------------------------
# throw() and close() while delegating (`yield from`) to iterators of every kind: with or
# without throw() and close(), and with those that yield, return or raise. The delegate keeps
# the log, so its state after the steps is compared too.
# ---------------------------------------------------------------------------------------------

class Delegate:
    """An iterator over 0, 1, 2 returning "done"; logs its calls. `throw_mode`: None (no throw
    method), "yield", "return", "raise" or "reraise"; `close_mode`: None (no close method),
    "log" or "raise"."""

    def __init__(self, throw_mode=None, close_mode=None):
        self.log = []
        self.i = 0
        self.throw_mode = throw_mode
        self.close_mode = close_mode

    def __iter__(self):
        self.log.append("iter")
        return self

    def __next__(self):
        self.log.append("next")
        if self.i >= 3:
            raise StopIteration("done")
        self.i += 1
        return self.i - 1

    def __getattr__(self, name):
        if name == "throw" and self.throw_mode is not None:
            return self._throw
        if name == "close" and self.close_mode is not None:
            return self._close
        if name == "throw" and self.throw_mode is None and self.close_mode == "lookup fails":
            raise KeyError("looking up throw")
        raise AttributeError(name)

    def _throw(self, *args):
        self.log.append(("throw", [type(a).__name__ for a in args]))
        if self.throw_mode == "yield":
            return "yielded by throw"
        if self.throw_mode == "return":
            raise StopIteration("returned by throw")
        if self.throw_mode == "raise":
            raise RuntimeError("raised by throw")
        raise args[0] if isinstance(args[0], BaseException) else args[0]()

    def _close(self):
        self.log.append("close")
        if self.close_mode == "raise":
            raise KeyError("raised by close")


def reports_delegation(it):
    try:
        result = yield from it
        it.log.append(("result", result))
    except BaseException as e:
        it.log.append(("caught", type(e).__name__, str(e), type(e.__context__).__name__))
        if isinstance(e, GeneratorExit):
            raise
        yield "recovered"
    yield "end"


def yieldfrom_name(gen):
    return type(gen.gi_yieldfrom).__name__


DELEGATE_KINDS = [(None, None), (None, "log"), (None, "raise"), ("yield", None), ("return", "log"),
                  ("raise", None), ("reraise", "log"), (None, "lookup fails")]


@pytest.mark.parametrize("kind", DELEGATE_KINDS,
                         ids=[f"throw={t},close={c}" for t, c in DELEGATE_KINDS])
def test_throw_and_close_into_yield_from_any_delegate(backend, kind):
    delegate = Delegate(*kind)
    for steps in ([nxt, yieldfrom_name, while_handling(thrower(ValueError("v"))), yieldfrom_name,
                   nxt, nxt, nxt],
                  [nxt, while_handling(thrower(GeneratorExit)), nxt],
                  [nxt, thrower(GeneratorExit("instance")), yieldfrom_name, nxt],
                  [nxt, while_handling(close), nxt],
                  [nxt, thrower(StopIteration("thrown")), nxt, nxt],
                  [nxt, thrower(1), thrower(ValueError("a"), 1), yieldfrom_name, nxt, nxt, nxt],
                  [nxt, nxt, nxt, thrower(KeyError("k")), nxt]):
        check_steps(reports_delegation, (delegate,), steps, backend)


def test_yield_from_iterates_the_delegate_once(backend):
    # GET_YIELD_FROM_ITER calls iter() once; SEND then drives what it returned.
    check_steps(reports_delegation, (Delegate(),), [nxt, nxt, nxt, nxt, nxt], backend)
    check_generator(delegate_to_iterator, (fresh(lambda: iter(Delegate())),), [LIST],
                    backend=backend)


# ---------------------------------------------------------------------------------------------
# What code that inspects generators sees. The generator object is `justjit.generator`, not
# CPython's generator type: that type cannot be subclassed, and its instances run interpreter
# frames; isinstance() checks the real type, so nothing but a Python generator frame can be
# one (JustJIT's autojit trampolines wrap the compiled generator in one, at a cost per item).
# Everything that only needs the protocol and the gi_* attributes matches.
# ---------------------------------------------------------------------------------------------

def introspection(gen):
    import types
    import typing
    frame = gen.gi_frame
    return (inspect.getgeneratorstate(gen), gen.gi_running, gen.gi_suspended,
            frame is None, frame is gen.gi_frame, gen.gi_code.co_name,
            getattr(gen.gi_yieldfrom, "__name__", gen.gi_yieldfrom),
            isinstance(gen, collections.abc.Generator), isinstance(gen, collections.abc.Iterator),
            isinstance(gen, typing.Generator), issubclass(type(gen), collections.abc.Iterable),
            isinstance(gen, collections.abc.Coroutine), inspect.isawaitable(gen),
            inspect.iscoroutine(gen), isinstance(gen, types.CoroutineType))


def watches_itself(log):
    me = yield "send me myself"
    log.append(introspection(me))
    yield from sub(log)
    log.append(introspection(me))
    return "finished"


def test_introspection_in_every_state(backend):
    def send_self(gen):
        return gen.send(gen)

    check_steps(watches_itself, (LOG,),
                [introspection, nxt, introspection, send_self, introspection, nxt, introspection,
                 nxt, nxt, introspection, nxt, introspection], backend)
    check_steps(watches_itself, (LOG,), [nxt, close, introspection], backend)
    check_steps(watches_itself, (LOG,), [close, introspection], backend)
    check_steps(watches_itself, (LOG,), [nxt, thrower(KeyError("k")), introspection], backend)


@pytest.mark.xfail(strict=True, reason="a compiled generator is a justjit.generator: CPython's "
                   "generator type cannot be subclassed and only interpreter frames make its "
                   "instances (see the comment above introspection())")
def test_compiled_generator_is_a_types_generator(backend):
    import types

    def kind(gen):
        return (isinstance(gen, types.GeneratorType), inspect.isgenerator(gen),
                inspect.getgeneratorlocals(gen) is not None)

    check_steps(counter, (2,), [kind], backend)
