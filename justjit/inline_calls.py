"""Calls of small jitted functions, run inline in the caller's typed code.

    LEAF_CALLS: what analyses.types asks (a jitted global's type, a call's result type)
    leaf_body(obj, arg_types) -> IRFunction: the callee's direct body, to copy inline

`s += eval_a(i, j) * u[j]`, with `eval_a` a jitted function of two ints returning a float,
costs a call through the dispatcher's trampoline and a boxed float per iteration. When the
callee's typed code for the arguments' types only computes on unboxed values, takes no loop,
makes no call and names nothing (a *leaf*), the caller's specialization runs a copy of that
code instead (justjit.inline_leaves.inline_copy), on the unboxed arguments, into an unboxed
result:

    %f = LoadGlobal eval_a ; GuardIdentity %f is <that jitted function>  (else: generic code)
    %b = LeafBudget        ; no profiler or tracer, and room below the recursion limit
    TypedCondBranch %b -> <the copy>, else the generic Call
    <the copy>: the callee's typed ops on renamed registers; its return sets the call's
    result; where it would give up (an int64 overflow, a zero divisor, a math domain error),
    the generic Call runs, from the start: the copy had no effect

So the call's answer, its exceptions (raised by the real call, with the callee's frame in
the traceback) and RecursionError at the limit are CPython's. What is not seen: a frame
that a `sys._getframe()` of the callee would have shown cannot be asked for (the callee is
a leaf: it calls nothing), and no profiler is on (LeafBudget checks).

The callee is identified by the jitted function object the global holds when the caller is
compiled; its code is the code the copy was made from (a jitted function keeps its original
function). A caller that copies a callee has that object among its constants, which has no
recipe in the warm cache (fingerprint.constant_recipe): it takes the cold path in a new
process, where its generated source (and so the cache key) includes the copy.
"""

from __future__ import annotations

from types import FunctionType
from typing import Optional

from .analyses import types as T
from .analyses.types import PyType
from .fingerprint import jitted_original
from .inline_leaves import inline_copy
from .ir import ops as ir

# (code, argument types) -> (result type, direct body), or None: not a leaf. Bodies depend on
# the code and the types only (a leaf reads no global), so they are made once per process.
_PLANS: dict = {}

_NOT_PLAIN = 0x04 | 0x08 | 0x20 | 0x80 | 0x100 | 0x200  # *args, **kw, generator, coroutine...


def _plan(value, arg_types: tuple):
    py_func = jitted_original(value)
    if py_func is None:
        return None
    code = py_func.__code__
    if (code.co_flags & _NOT_PLAIN or code.co_kwonlyargcount or code.co_freevars
            or code.co_argcount != len(arg_types)
            or not all(t in (T.INT, T.FLOAT, T.BOOL) for t in arg_types)):
        return None
    key = (code, arg_types)
    if key not in _PLANS:
        _PLANS[key] = _make_plan(py_func, arg_types)
    return _PLANS[key]


def _make_plan(py_func, arg_types: tuple):
    from .frontend import build_ir
    from .specialize import SpecializeError, direct_leaf_body

    try:
        fn = build_ir(py_func)
    except Exception:  # noqa: BLE001 - a callee the frontend refuses is simply called
        return None
    for result in (T.INT, T.FLOAT, T.BOOL):
        try:
            body = direct_leaf_body(fn, arg_types, result, py_func.__globals__)
        except SpecializeError:
            return None
        if body is None:
            continue
        # A trial copy (throwaway ids and registers): a leaf is code whose copy can return.
        args = [ir.Reg(f"a{k}.{r.kind[0]}", r.kind) for k, r in enumerate(body.args)]
        ids = iter(range(1 << 20, 1 << 21)).__next__
        dest = ir.Reg("r", result.unboxed)
        if inline_copy(body, args, dest, 0, -1, "p", ids, None) is not None:
            return result, body
        return None
    return None


def leaf_body(value, arg_types: tuple) -> ir.IRFunction:
    """The direct body of the jitted function `value` that a call with `arg_types` copies
    (LEAF_CALLS.result said it is a leaf)."""
    return _plan(value, arg_types)[1]


class _LeafCalls:
    """What analyses.types asks about calls of jitted functions."""

    @staticmethod
    def known(value) -> Optional[PyType]:
        """The lattice type "exactly this jitted function" for one that may be a leaf, or
        None. A leaf names nothing (no global, no attribute: its code has no co_names), so
        that the caller's module, which holds the callee for its guard, is never held by it
        in turn (nor by itself: a function naming itself is no leaf)."""
        py_func = jitted_original(value)
        if py_func is None or py_func.__code__.co_names or py_func.__code__.co_flags & _NOT_PLAIN:
            return None
        name = f"={T.LEAF_LABEL}{py_func.__module__}.{py_func.__qualname__}"
        return PyType(name, FunctionType, value=value)

    @staticmethod
    def result(value, arg_types: tuple) -> Optional[PyType]:
        """The result type of a call of jitted `value` with arguments of `arg_types`, when its
        typed code runs inline (a leaf), else None."""
        plan = _plan(value, tuple(arg_types))
        return None if plan is None else plan[0]


LEAF_CALLS = _LeafCalls()
