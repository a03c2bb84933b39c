"""Compiled loops check the eval breaker as the interpreter's backward jumps do: signal
handlers run inside the loop (their exception is raised there and can be caught there), and
other threads get the GIL while a compiled loop runs.
"""
import signal
import threading
import time

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
    assert len(ticks) >= 5
