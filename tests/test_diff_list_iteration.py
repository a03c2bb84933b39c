"""Differential tests of `for x in xs` over a list profiled as list[float] or list[int]: the
list's own iterator gives each element, which typed code guards to be of the profiled type and
unboxes (analyses.types.LIST_ITERATORS). An element of another type (an int among floats, an
int past int64, a str), a list changed while it is iterated, `break`/`else`, handlers and the
loop variable after the loop must all behave as in CPython.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
from test_diff_typed import typed_check


def sum_squares(xs):
    s = 0.0
    for x in xs:
        s += x * x
    return s, x if xs else None


def int_total(xs):
    t = 0
    for x in xs:
        t += x * 3
    return t


FLOATS = [0.5 * i for i in range(40)]
INTS = list(range(-20, 20))


def test_elements_are_typed(backend):
    jitted = typed_check(sum_squares, (FLOATS,), ([],), ([float("nan"), -0.0],),
                         backend=backend)
    assert jitted.signatures[0] == "(xs: list[float])"
    jitted = typed_check(int_total, (INTS,), ([2**62, 2**62],), ([-1],), backend=backend)
    assert jitted.signatures[0] == "(xs: list[int])"


def test_an_element_of_another_type_goes_on_in_generic_code(backend):
    # (the profile samples both ends: these lists are list[float] / list[int])
    odd = FLOATS[:20] + [3, "x"] + FLOATS[20:]
    typed_check(sum_squares, (FLOATS,), (FLOATS[:20] + [7] + FLOATS[20:],), (odd,),
                backend=backend)
    typed_check(int_total, (INTS,), (INTS[:20] + [2**70] + INTS[20:],),
                (INTS[:20] + [1.5] + INTS[20:],), backend=backend)


def grows(xs):
    s = 0.0
    for x in xs:
        if len(xs) < 30:
            xs.append(x + 1.0)
        if x > 4.0 and len(xs) < 40:
            xs.append(7)  # an int now: the next elements' guard fails
        s += x
    return s, len(xs)


def test_list_changed_while_iterated(backend):
    typed_check(grows, ([0.5, 1.5, 2.5] * 6,), backend=backend)


def loops(xs, rounds):
    found = None
    total = 0.0
    for k in range(rounds):
        for x in xs:
            if x > k:
                found = x
                break
            total += x
        else:
            total -= 1.0
    return total, found


def in_try(xs):
    out = []
    for x in xs:
        try:
            out.append(1.0 / x)
        except ZeroDivisionError as e:
            out.append(str(e))
    return out


def test_break_else_nested_and_handlers(backend):
    typed_check(loops, ([1.0, 2.0, 3.0, 9.0, 4.0] * 4, 12), ([], 3), backend=backend)
    typed_check(in_try, ([2.0, 0.0, -0.0, 4.0] * 5,), backend=backend)
