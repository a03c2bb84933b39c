"""Differential tests with numpy arrays of each common dtype: element reads and writes in typed
loops keep numpy's scalar types, overflow behaviour and warnings (no numpy typed paths exist yet:
these pin the semantics the typed paths must keep).

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import pytest

from difftest import check, fresh

np = pytest.importorskip("numpy")

DTYPES = ["int32", "int64", "float32", "float64"]


def total(a):
    s = 0
    for i in range(len(a)):
        s += a[i]
    return s


def total_float_start(a):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * 2
    return s


def scale_in_place(a, k):
    for i in range(len(a)):
        a[i] = a[i] * k
    return a


def neighbours(a):
    out = 0
    for i in range(1, len(a) - 1):
        out += a[i - 1] - 2 * a[i] + a[i + 1]
    return out


def array(dtype, values):
    return fresh(lambda: np.array(values, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sums_keep_numpy_scalar_types(backend, dtype):
    for fn in (total, total_float_start, neighbours):
        check(fn, (array(dtype, [1, 2, 3, 4]),), (array(dtype, []),), (array(dtype, [-7, 5]),),
              backend=backend)


def test_int32_and_int64_overflow_wrap_with_numpy_warnings(backend):
    big32 = [2**31 - 1, 1, 5]
    big64 = [2**63 - 1, 1, 5]
    check(total, (array("int32", big32),), (array("int64", big64),), backend=backend)
    check(scale_in_place, (array("int32", big32), 2), (array("int64", big64), 3),
          (array("float32", [1e38, 2.0]), 10.0), (array("float64", [1.5, -0.0]), -1),
          backend=backend)


def test_float_specials_in_arrays(backend):
    values = [float("nan"), float("inf"), -0.0, 1e-45]
    check(total_float_start, (array("float32", values),), (array("float64", values),),
          backend=backend)
    check(scale_in_place, (array("float64", values), 0.0), backend=backend)
