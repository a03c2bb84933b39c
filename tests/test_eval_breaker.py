"""Compiled loops check the eval breaker as the interpreter's backward jumps do: signal
handlers run inside the loop (their exception is raised there and can be caught there), other
threads get the GIL while a compiled loop runs, and an asynchronous exception set by another
thread (PyThreadState_SetAsyncExc) arrives inside the loop, as in the interpreter.
"""
import ctypes
import signal
import threading
import time
import traceback

import pytest

from justjit import jit


class Stop(Exception):
    pass


def spin_until_signal(k):
    n = 0
    try:
        while True:
            n += k
    except Stop:
        return "caught in the loop's handler"


def spin_typed(k):
    n = 0
    for i in range(10**18):
        n = (n + i * k) % 1000
    return n


def _raise_stop(signum, frame):
    raise Stop()


@pytest.mark.parametrize("fn", [spin_until_signal, spin_typed])
def test_signal_handler_runs_inside_a_compiled_loop(backend, fn):
    jitted = jit(fn, backend=backend, fallback=False)
    jitted.dispatcher._compile_now((int,))  # compile first: the timer measures the loop only
    old = signal.signal(signal.SIGALRM, _raise_stop)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        if fn is spin_until_signal:
            assert jitted(1) == "caught in the loop's handler"
        else:
            with pytest.raises(Stop):
                jitted(3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def count_while(flag):
    n = 0
    while not flag:
        n += 1
    return n > 0


def test_other_threads_run_while_a_compiled_loop_holds_the_gil(backend):
    jitted = jit(count_while, backend=backend, fallback=False)
    assert jitted([1]) is False  # compiled
    flag = []
    ticks = []

    def other():
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            ticks.append(1)
            time.sleep(0.01)
        flag.append(1)  # ends the loop in the main thread

    thread = threading.Thread(target=other)
    thread.start()
    assert jitted(flag) is True
    thread.join()
    # The interpreter gives the other thread 20 turns here (10 ms asleep, then up to one switch
    # interval's wait for the GIL); compiled loops 14 to 16, even with two more busy processes.
    # A loop that starves waiting threads gave anywhere from 1 to 26.
    assert len(ticks) >= 8


# --- asynchronous exceptions (PyThreadState_SetAsyncExc) -------------------------------------

class Interrupt(Exception):
    pass


def spin_until_async_exception(k):
    n = 0
    try:
        while True:
            n = (n + k) % 1000
    except Interrupt:
        return "caught in the loop's handler"


def spin_without_handler(k):
    n = 0
    while True:
        n = (n + k) % 1000


def _interrupt_soon(thread_id, delay=0.2):
    """Set Interrupt on thread `thread_id` (as threading-based timeouts do) after `delay` s."""
    def fire():
        time.sleep(delay)
        assert ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                          ctypes.py_object(Interrupt)) == 1
    thread = threading.Thread(target=fire)
    thread.start()
    return thread


def _outcome_under_async_exception(fn):
    """What fn(1) does when another thread sets Interrupt on this one while it loops.

    A loop that never receives it is ended by a SIGALRM after 20 s, so a failure cannot hang
    (running the Python signal handler enters the interpreter, which delivers the Interrupt):
    the outcome is checked to come well before that."""
    old = signal.signal(signal.SIGALRM, _raise_stop)
    signal.setitimer(signal.ITIMER_REAL, 20)
    start = time.monotonic()
    thread = _interrupt_soon(threading.get_ident())
    try:
        try:
            outcome = ("returned", fn(1))
        except Interrupt as exc:
            outcome = ("raised", type(exc), traceback.extract_tb(exc.__traceback__)[-1].name)
        assert time.monotonic() - start < 10, "the asynchronous exception came late"
        return outcome
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        thread.join()


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "generic"])
@pytest.mark.parametrize("fn", [spin_until_async_exception, spin_without_handler])
def test_async_exception_is_delivered_inside_a_compiled_loop(backend, fn, typed):
    jitted = jit(fn, backend=backend, fallback=False)
    jitted.dispatcher._compile_now((int,) if typed else None)
    if typed and backend == "cython":
        assert jitted.dispatcher.compiled.typed  # the loop runs on C ints
    plain = _outcome_under_async_exception(fn)
    assert plain == (("returned", "caught in the loop's handler") if fn is spin_until_async_exception
                     else ("raised", Interrupt, fn.__name__))
    assert _outcome_under_async_exception(jitted) == plain
    assert _outcome_under_async_exception(jitted) == plain  # and again: nothing left behind
