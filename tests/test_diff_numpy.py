"""Differential tests with numpy arrays of each common dtype: element reads and writes in typed
loops keep numpy's scalar types, overflow behaviour and warnings.

On a backend with the numpy typed ops (NUMPY: cython and llvm) each function is also checked to
have been specialized for its arrays (the signature names the array type) and to hold the typed
op that the test is about, so generic code passing for typed code fails: the .pyx calls the
jj_numpy.h helper (cython); the module's !jj.numpy metadata names the helpers whose checks its
code makes inline or calls (llvm).

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import pytest

import importlib
import re

from benchmarks.kernels_numpy import dot, stencil  # the benchmark's kernels themselves
from difftest import check, compare_calls, fresh
from justjit import jit
from justjit.pipeline import BACKEND_MODULES

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


def array(dtype, values, *, view=None, writeable=True):
    """A fresh array for each side; `view` makes a view of it (a slice, a transpose)."""
    def make():
        a = np.array(values, dtype=dtype)
        if view is not None:
            a = view(a)
        a.flags.writeable = writeable
        return a
    return fresh(make)


def numpy_typed(backend) -> bool:
    return getattr(importlib.import_module(BACKEND_MODULES[backend]), "NUMPY", False)


def has_typed_op(jitted, backend, op: str) -> bool:
    """Whether the compiled code holds `op`, a (prefix of a) call of the .pyx, e.g.
    "JJ_ArrayLoad_float64" or "JJ_NpArith_float64(b'*'"; on llvm, a (prefix of a) name in the
    module's !jj.numpy: "JJ_NpArith_float64 *"."""
    if backend == "cython":
        return op in jitted.inspect_pyx()
    name = re.sub(r"\(b'(.)'$", r" \1", op).rstrip("(")
    return f'!"{name}' in jitted.inspect_llvm().partition("!jj.numpy")[2]


def typed_check(fn, *calls, backend, signature=None, ops=()):
    """check(), and on a backend with the numpy typed ops: the first signature is `signature`
    (when given) and the typed code holds every op of `ops` (has_typed_op)."""
    jitted = check(fn, *calls, backend=backend)
    if numpy_typed(backend):
        first = jitted.signatures[0]
        assert "ndarray[" in first, f"{fn.__qualname__}: not specialized for arrays: {first}"
        if signature is not None:
            assert first == signature
        for op in ops:
            assert has_typed_op(jitted, backend, op), f"{fn.__qualname__}: no {op} in the typed code"
    return jitted


@pytest.mark.parametrize("dtype", DTYPES)
def test_sums_keep_numpy_scalar_types(backend, dtype):
    for fn in (total, total_float_start, neighbours):
        typed_check(fn, (array(dtype, [1, 2, 3, 4]),), (array(dtype, []),),
                    (array(dtype, [-7, 5]),), backend=backend,
                    signature=f"(a: ndarray[{dtype},1d,C])", ops=(f"JJ_ArrayLoad_{dtype}",))


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


# --- dispatch: one specialization per dtype, ndim and layout -----------------------------------

def first(a):
    return a[0]


def test_signatures_name_dtype_ndim_and_layout(backend):
    def new_jit():
        return jit(first, backend=backend, fallback=False, cache=True, hot=0, background=False)

    jitted = new_jit()
    grid = [[0, 1, 2], [3, 4, 5]]
    arrays = [array("float64", range(6)), array("float64", range(6), view=lambda v: v[::2]),
              array("int32", range(6)), array("float64", grid),
              array("float64", grid, view=np.asfortranarray)]
    for a in arrays:
        compare_calls(first, jitted, (a,))
    expected = ["(a: ndarray[float64,1d,C])", "(a: ndarray[float64,1d,A])",
                "(a: ndarray[int32,1d,C])", "(a: ndarray[float64,2d,C])",
                "(a: ndarray[float64,2d,F])"]
    if not numpy_typed(backend):
        return
    if getattr(importlib.import_module(BACKEND_MODULES[backend]), "CHAINS", False):
        assert jitted.signatures == expected  # (one call each: hot=0)
        return
    # Without a chain of specializations a dispatcher keeps its first call's: one each.
    for a, signature in zip(arrays, expected):
        alone = new_jit()
        compare_calls(first, alone, (a,))
        assert alone.signatures == [signature]


def test_untyped_arrays_go_generic(backend):
    # other dtypes, byte orders and 0-d arrays are plain objects
    check(first, (np.arange(3, dtype=np.int8),), (np.arange(3, dtype=">f8"),),
          (np.array([True, False]),), (np.arange(3, dtype=np.uint64),),
          (np.arange(3, dtype=np.longlong),), backend=backend)
    check(total, (np.array(2.0),), backend=backend)


# --- element reads: indices, errors, result types -------------------------------------------

def item(a, i):
    return a[i]


def item_plus(a, i, x):
    return a[i] + x


def item_ops(a, i, j):
    return a[i] + a[j], a[i] - a[j], a[i] * a[j], a[i] / a[j]


@pytest.mark.parametrize("dtype", DTYPES)
def test_indices_and_index_errors(backend, dtype):
    a = array(dtype, [3, -4, 5])
    typed_check(item, (a, 0), (a, 2), (a, -1), (a, -3), (a, 3), (a, -4), (a, 2**40),
                (a, -2**62), backend=backend, ops=(f"JJ_ArrayLoad_{dtype}",))
    check(item, (a, True), (a, 1.0), (a, None), (a, 2**70), backend=backend)
    typed_check(item, (array(dtype, [1, 2, 3, 4, 5, 6], view=lambda v: v[::-2]), 1),
                (array(dtype, [1, 2, 3, 4, 5, 6], view=lambda v: v[1::2]), -1),
                backend=backend, ops=(f"JJ_ArrayLoad_{dtype}",))


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_promotion_with_python_numbers(backend, dtype):
    a = array(dtype, [7, -3, 2**20])
    for x in (1, -5, 2**31 - 1, 2**31, -2**31 - 1, 2**62, 0.5, -0.0, 1e308):
        typed_check(item_plus, (a, 0, x), (a, 2, x), backend=backend)
    typed_check(item_plus, (a, 1, np.int32(3)), (a, 1, np.int64(-9)), (a, 1, np.float32(0.25)),
                (a, 1, np.float64(1e-3)), (a, 1, True), (a, 1, 10**30), backend=backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_arithmetic_overflow_and_division(backend, dtype):
    edge = {"int32": [2**31 - 1, -2**31, 0, 2, -1], "int64": [2**63 - 1, -2**63, 0, 2, -1],
            "float32": [3e38, -3e38, 0.0, 1e-30, float("nan")],
            "float64": [1.7e308, -1.7e308, 0.0, 1e-300, float("inf")]}[dtype]
    a = array(dtype, edge)
    calls = [(a, i, j) for i in range(5) for j in range(5)]
    typed_check(item_ops, *calls, backend=backend, ops=(f"JJ_ArrayLoad_{dtype}",))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_underflow_follows_numpy_error_state(backend, dtype):
    # ignored by default, so the results alone would not show typed code missing an underflow
    tiny = {"float32": 1e-30, "float64": 1e-200}[dtype]
    a = array(dtype, [tiny, tiny, 3.0, 1 / tiny])
    for under in ("raise", "warn"):
        with np.errstate(under=under):
            typed_check(item_ops, (a, 0, 1), (a, 0, 3), (a, 0, 2), (a, 2, 3), backend=backend,
                        ops=(f"JJ_NpArith_{dtype}(b'*'", f"JJ_NpArith_{dtype}(b'/'"))


def mixed_dot(a, b):
    s = 0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_mixed_dtype_products(backend, da, db):
    typed_check(mixed_dot, (array(da, [1, -2, 3]), array(db, [4, 5, -6])),
                (array(da, [2**15, 7]), array(db, [2**16, 3])), backend=backend,
                ops=(f"JJ_ArrayLoad_{da}", f"JJ_ArrayLoad_{db}"))


def test_dot_product(backend):
    values = [0.5, -1.25, 3.0, 1e300, 1e300]
    typed_check(dot, (array("float64", values[:3]), array("float64", values[:3])),
                (array("float64", values), array("float64", values)),
                (array("float64", [1.0, 2.0]), array("float64", [1.0])),
                backend=backend, ops=("JJ_NpArith_float64(b'*'",))


# --- element writes --------------------------------------------------------------------------

def store(a, i, x):
    a[i] = x
    return a


def fill(a, x):
    for i in range(len(a)):
        a[i] = x
    return a


@pytest.mark.parametrize("dtype", DTYPES)
def test_stores_cast_as_numpy_does(backend, dtype):
    values = (0, -7, 2**31 - 1, 2**31, -2**31 - 1, 2**63 - 1, 2.75, -2.75, -0.0, 1e-45, 3e38,
              1e300, float("nan"), float("inf"), np.float32(1.5), np.float64(-2.5),
              np.int32(-3), np.int64(2**40), True)
    for x in values:
        check(store, (array(dtype, [1, 2, 3]), 1, x), (array(dtype, [1, 2, 3]), -1, x),
              (array(dtype, [1, 2, 3]), 3, x), backend=backend)
    # The stores with typed code (a Python int into float32 is generic), over the same values.
    typed = {"int32": {int: "i64", float: "trunc"}, "int64": {int: "i64", float: "trunc"},
             "float32": {float: "round"}, "float64": {int: "f64", float: "f64"}}[dtype]
    for kind, helper in typed.items():
        calls = [(array(dtype, [1, 2, 3]), 1, x) for x in values if type(x) is kind]
        typed_check(store, *calls, backend=backend, ops=(f"JJ_ArrayStore_{dtype}_{helper}",))


@pytest.mark.parametrize("dtype", DTYPES)
def test_stores_into_views_and_read_only_arrays(backend, dtype):
    typed_check(fill, (array(dtype, [1, 2, 3, 4, 5], view=lambda v: v[::2]), 9),
                (array(dtype, [1, 2, 3], writeable=False), 9),
                (array(dtype, [1, 2, 3], view=lambda v: v[::-1]), 9), backend=backend)
    typed_check(scale_in_place, (array(dtype, [1, 2, 3], writeable=False), 2), backend=backend)


# --- arrays changed by Python code the typed path calls ----------------------------------------

def fill_calling(a, x, callback):
    for i in range(len(a)):
        a[i] = a[i] + x
        callback(a, i)
    return a


def freeze_at_1(a, i):
    if i == 1:
        a.flags.writeable = False


def shrink_at_0(a, i):
    if i == 0:
        a.resize(2, refcheck=False)


def retype_at_0(a, i):
    if i == 0:
        a.dtype = np.int64 if a.dtype == np.float64 else np.float64


def reshape_at_0(a, i):
    if i == 0:
        a.shape = (2, 2)


@pytest.mark.parametrize("callback", [freeze_at_1, shrink_at_0, retype_at_0, reshape_at_0])
def test_arrays_changed_in_the_loop(backend, callback):
    for dtype in ("int64", "float64"):
        typed_check(fill_calling, (array(dtype, [1, 2, 3, 4]), 1, callback), backend=backend,
                    ops=(f"JJ_ArrayStore_{dtype}_",))


# --- 2-d arrays: a[i, j] reads and writes, shape unpacking, copies ------------------------------

def item2(a, i, j):
    return a[i, j]


def store2(a, i, j, x):
    a[i, j] = x
    return a


GRID = [[1, 2, 3, 4], [5, -6, 7, 8], [9, 10, 11, -12]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_2d_reads_writes_and_index_errors(backend, dtype):
    layouts = {"C": None, "F": np.asfortranarray, "A": lambda v: v[:, ::2]}
    for layout, view in layouts.items():
        a = array(dtype, GRID, view=view)
        typed_check(item2, (a, 0, 0), (a, 2, 1), (a, -1, -1), (a, -3, 0), (a, 3, 0), (a, 0, 9),
                    (a, 0, -9), backend=backend,
                    signature=f"(a: ndarray[{dtype},2d,{layout}], i: int, j: int)",
                    ops=(f"JJ_NpSlot2_{dtype}",))
    x = 7 if dtype.startswith("int") else 2.5
    typed_check(store2, (array(dtype, GRID), 1, 2, x), (array(dtype, GRID), -1, -2, x),
                (array(dtype, GRID), 1, 4, x), (array(dtype, GRID, writeable=False), 0, 0, x),
                (array(dtype, GRID, view=lambda v: v.T), 3, 1, x), backend=backend,
                ops=(f"JJ_ArrayStore_{dtype}_",))
    check(item2, (array(dtype, GRID), True, 0), backend=backend)


def test_stencil(backend):
    grid = [[float(i * j % 7) for j in range(6)] for i in range(5)]
    typed_check(stencil, (array("float64", grid), 3), (array("float64", grid), 0),
                (array("float64", [[1e308, 1e308, 1e308]] * 3), 2),
                (array("float64", [[1.0]]), 1), backend=backend,
                ops=("JJ_NpSlot2_float64(", "JJ_ArrayStore_float64_f64("))
    # (0.25 * a float32 is generic: a Python float with float32)
    typed_check(stencil, (array("float32", grid), 2), backend=backend,
                ops=("JJ_NpSlot2_float32(",))


# --- the reference interpreter runs the same typed IR (justjit/ir/interp.py) -------------------

def test_reference_interpreter_runs_the_numpy_typed_ops():
    from difftest import Call, same
    from justjit.analyses.types import profile_type
    from justjit.frontend import build_ir
    from justjit.ir.interp import IRInterpreter
    from justjit.specialize import specialize

    cases = [(total, ("float64", [1.5, 2.5]), ()), (mixed_dot, ("int32", [2**14, 3]), ()),
             (dot, ("float32", [1, 2]), ()), (fill, ("int32", [1, 2]), (7,)),
             (scale_in_place, ("float64", [1, -2]), (3,)), (item_ops, ("int64", [5, 2]), (0, 1)),
             (stencil, ("float64", [[1, 2, 3], [4, 5, 6], [7, 8, 9]]), (2,)),
             (store2, ("int32", [[1, 2], [3, 4]]), (-1, 0, 2.5))]
    for fn, (dtype, values), rest in cases:
        def args():
            a = np.array(values, dtype=dtype)
            return ((a, a.copy()) if fn in (mixed_dot, dot) else (a,)) + rest
        spec = specialize(build_ir(fn), tuple(profile_type(x) for x in args()), fn.__globals__)
        assert spec.specialization.typed, fn.__name__
        interp = IRInterpreter(spec, fn)
        plain_args, mine_args = args(), args()
        plain, mine = fn(*plain_args), interp(*mine_args)
        assert same(plain, mine) and same(plain_args, mine_args), (fn.__name__, plain, mine)
        assert interp.deopts == [], f"{fn.__name__}: left the typed code"


def test_explain_types_stage_shows_array_and_element_types(capsys):
    from justjit.__main__ import main

    main(["explain", "benchmarks.kernels_numpy:stencil", "--stage", "types",
          "--types", "ndarray[float64,2d,C],int"])
    text = capsys.readouterr().out
    assert "types of stencil(%grid: ndarray[float64,2d,C], %sweeps: int)" in text
    assert "numpy.float64; typed" in text and "tuple[int,int]; typed" in text
