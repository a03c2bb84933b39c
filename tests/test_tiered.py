"""The quick first tier (``tiered``, Cython backend): a function that has to be built first
runs from a module compiled at -Og, then from its opt_level module, built in the
background and swapped in. Both tiers must behave as CPython does, and the swap must keep
everything that names the compiled entry right: the trampoline's target, the chain of
typed specializations, direct self-calls, the call counters, ``signatures``,
``inspect_pyx`` and the cache (only the opt_level module goes there).

Each test holds the upgrade back (`held`) to run the quick module, then lets it run.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import os

import pytest

from difftest import compare_calls
from justjit import jit
from justjit.backends import cython_build
from justjit.dispatcher import Dispatcher


@pytest.fixture
def held(monkeypatch):
    """Upgrades are not started but kept: ``held.release()`` starts them."""
    kept = []
    start = Dispatcher._start_upgrade
    monkeypatch.setattr(Dispatcher, "_start_upgrade",
                        lambda self, compiled, types: kept.append((self, compiled, types)))

    class Held:
        @staticmethod
        def release():
            for dispatcher, compiled, types in kept:
                with dispatcher._lock:
                    start(dispatcher, compiled, types)
            kept.clear()

        count = staticmethod(lambda: len(kept))

    return Held


def tiered(fn, **options):
    return jit(fn, backend="cython", fallback=False, cache=True, tiered=True, **options)


def quick_then_upgraded(fn, held, *calls, **options):
    """Compare ``fn`` with its jitted self on ``calls`` on the quick tier, then on the
    upgraded one; returns the jitted function."""
    jitted = tiered(fn, **options)
    compare_calls(fn, jitted, *calls)
    assert held.count() >= 1 and jitted.stats.upgrades == 0
    quick = jitted.compiled
    assert not os.path.exists(quick.handle.__file__)  # not published: not in the cache
    held.release()
    assert jitted.wait()
    assert jitted.stats.upgrades >= 1 and jitted.compiled is not quick
    assert jitted.compiled.pyx_source == quick.pyx_source
    assert os.path.exists(jitted.compiled.handle.__file__)
    compare_calls(fn, jitted, *calls)
    return jitted


def mixed(a, b, n):
    acc = 0
    for i in range(1, n):
        acc += a * i if i & 1 else -(b // i)
        if acc > 10**6:
            acc //= 7
    d = {"acc": acc}
    try:
        v = d[a]
    except (KeyError, TypeError):
        v = len(d)
    return acc + v


def handlers(items, default):
    out = []
    for x in items:
        try:
            out.append(100 // x)
        except ZeroDivisionError:
            out.append(default)
        except TypeError as e:
            out.append(str(e))
        else:
            out.append(-x)
        finally:
            out.append(len(out))
    if len(out) > 8:
        raise ValueError(f"{len(out)} items")
    return out


def test_both_tiers_compute_what_cpython_does(held):
    quick_then_upgraded(mixed, held, (7, 3, 50), (2**62, 1, 10), (1.5, 2, 9))
    quick_then_upgraded(handlers, held, ([1, 0, "x", 5], -1), ([0, 0, 0, 0, 0], None))


def gen(n, stop):
    for i in range(n):
        got = yield i * i
        if got == stop:
            return got


def test_a_generator_on_both_tiers(held):
    def drive(f):
        g = f(5, "x")
        out = [next(g), g.send(None), g.send(1)]
        try:
            g.send("x")
        except StopIteration as e:
            out.append(("stop", e.value))
        return out

    jitted = tiered(gen)
    assert drive(jitted) == drive(gen)
    held.release()
    jitted.wait()
    assert jitted.stats.upgrades == 1 and drive(jitted) == drive(gen)


def down(n):
    if n == 0:
        return 0
    return 1 + down(n - 1)


def test_self_calls_and_deep_recursion_across_the_swap(held):
    # The quick module's frames are small enough for the recursion limit's depth (-Og, not
    # -O0); after the swap its direct self-calls decline (the target is the new module's).
    global down
    plain = down
    try:
        jitted = tiered(plain)
        for side in (plain, jitted):
            down = side
            compare_calls(plain, jitted, (300,), (10**5,))
        held.release()
        jitted.wait()
        assert jitted.stats.upgrades == 1
        down = jitted
        compare_calls(plain, jitted, (300,), (10**5,))
        assert jitted.signatures == ["(n: int)"]
    finally:
        down = plain


def poly(x, y):
    acc = x
    for _ in range(3):
        acc = acc * y + x
    return acc


def test_the_chain_of_specializations_is_relinked(held):
    jitted = tiered(poly, max_signatures=3)
    calls = [(2, 3), (1.5, 2.0), (2, 3), ("a", 2), (1.5, 2.0)]
    compare_calls(poly, jitted, *calls)
    first = len(jitted.signatures)
    assert first >= 2
    held.release()
    assert jitted.wait()
    assert jitted.stats.upgrades == first
    compare_calls(poly, jitted, *calls, (3, 2**40), (2.5, 3))
    stats = jitted.stats
    # Every call counted, on whichever tier served it.
    assert stats.calls == stats.compiled_calls + stats.interpreted_calls
    assert stats.calls == 2 * len(calls) + 2
    assert len(jitted.signatures) == first


def test_inspect_pyx_and_signatures_survive_the_swap(held):
    jitted = tiered(mixed)
    text = jitted.inspect_pyx()
    signatures = list(jitted.signatures)
    held.release()
    jitted.wait()
    assert jitted.inspect_pyx() == text and jitted.signatures == signatures
    assert jitted.dispatcher.target is jitted.compiled.entry


def test_the_cache_gets_the_upgrade_and_a_later_jit_loads_it(held):
    jitted = tiered(mixed)
    jitted(1, 2, 3)
    held.release()
    jitted.wait()
    builds = cython_build.stats.cc_runs
    again = tiered(mixed)
    compare_calls(mixed, again, (1, 2, 3))
    assert again.stats.cache_hits == 1 and held.count() == 0  # nothing to upgrade
    assert cython_build.stats.cc_runs == builds
    assert again.compiled.handle is jitted.compiled.handle


def test_a_failed_upgrade_keeps_the_quick_module(held, monkeypatch):
    jitted = tiered(handlers)
    compare_calls(handlers, jitted, ([1, 0], 5))
    quick = jitted.compiled

    def broken():
        raise OSError("no space left")

    monkeypatch.setattr(quick, "upgrade", broken)
    held.release()
    assert jitted.wait()
    assert jitted.stats.upgrades == 0 and jitted.compiled is quick
    compare_calls(handlers, jitted, ([1, 0], 5))


def scale(xs, k):
    return [x * k for x in xs if x]


def test_without_a_cache_and_when_turned_off(held):
    # (a function no other test built: in this process the loaded module would be reused)
    jitted = jit(scale, backend="cython", fallback=False, cache=False, tiered=True)
    compare_calls(scale, jitted, ([1, 0, 2.5], 3))
    held.release()
    jitted.wait()
    assert jitted.stats.upgrades == 1
    compare_calls(scale, jitted, ([1, 0, 2.5], 3), ([], None))
    off = jit(handlers, backend="cython", fallback=False, cache=False, tiered=False)
    compare_calls(handlers, off, ([1, 0], 5))
    assert held.count() == 0 and off.compiled.upgrade is None
