"""Differential test harness: run a function plainly and through ``justjit.jit``; compare everything.

A test never states an expected value.  It names a function and some inputs; the harness calls the
plain function and the jitted one on equal-but-distinct copies of the inputs and compares:

* the outcome: the return value and its exact type, or the exception's type, message, args and
  (by default) its ``__cause__`` / ``__context__`` / ``__suppress_context__``;
* the state of every argument after the call (side effects, e.g. a log list the function appends to);
* that no handled exception leaks out of a normal return (``sys.exc_info()`` is clear afterwards);
* the warnings issued during the call (category and message), in order.

Values are compared with :func:`same`: exact types at every level, floats by ``repr`` (so
``nan`` equals ``nan`` and ``-0.0`` differs from ``0.0``), containers recursively and in order.

Entry points: :func:`check`, :func:`compare_calls`, :func:`check_generator`, :func:`check_traceback`,
:func:`check_refused`.
Helpers for inputs: :class:`Call`, :class:`fresh`, :data:`LOG`, :func:`note`.
"""
import copy
import inspect
import io
import numbers
import re
import sys
import traceback
import types
import warnings

import justjit
from justjit import jit


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

class fresh:
    """An argument built anew for each side: ``fresh(lambda: [1, 2])`` or ``fresh(MyIter)``.

    Use it for anything that must not be shared between the plain and the jitted call and that
    ``copy.deepcopy`` cannot copy (generators, iterators over external state, StringIO, ...).
    """

    def __init__(self, factory):
        self.factory = factory

    def __repr__(self):
        return f"fresh({getattr(self.factory, '__qualname__', self.factory)!r})"


#: A fresh empty list for a function to append its log to; compared after the call.
LOG = fresh(list)


def note(log, tag, value=None):
    """Append ``tag`` to ``log`` and return ``value``: marks *when* an expression is evaluated."""
    log.append(tag)
    return value


class Call:
    """One call: ``Call(1, 2, key=3)``.  A plain tuple of positional arguments also works."""

    def __init__(self, /, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def materialize(self):
        """Equal-but-distinct arguments for one side of the comparison."""
        try:
            args, kwargs = copy.deepcopy((self.args, self.kwargs))
        except TypeError as exc:  # e.g. a generator: the test must use fresh()
            raise TypeError(f"argument of {self!r} cannot be copied; wrap it in fresh()") from exc
        args = tuple(a.factory() if isinstance(a, fresh) else a for a in args)
        kwargs = {k: v.factory() if isinstance(v, fresh) else v for k, v in kwargs.items()}
        return args, kwargs

    def __repr__(self):
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"({', '.join(parts)})"


def as_call(call):
    if isinstance(call, Call):
        return call
    if isinstance(call, tuple):
        return Call(*call)
    raise TypeError(f"a call is a tuple of positional arguments or a Call(...), not {call!r}")


# ---------------------------------------------------------------------------------------------
# Careful equality
# ---------------------------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def same_type(a, b):
    """``a is b``, or two classes created by separate runs of the same local class statement."""
    if a is b:
        return True
    return (isinstance(a, type) and isinstance(b, type)
            and "<locals>" in a.__qualname__
            and (a.__module__, a.__qualname__, a.__name__) == (b.__module__, b.__qualname__, b.__name__))


def same(a, b, _seen=None):
    """Strict structural equality; see the module docstring."""
    if a is b:
        return True
    if not same_type(type(a), type(b)):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, complex):
        return repr(a.real) == repr(b.real) and repr(a.imag) == repr(b.imag)
    if isinstance(a, type):
        return same_type(a, b)
    if isinstance(a, types.TracebackType):
        return True  # both present; line numbers are checked by check_traceback
    if isinstance(a, (types.FunctionType, types.BuiltinFunctionType)):
        return a.__qualname__ == b.__qualname__
    if isinstance(a, io.StringIO):
        return a.getvalue() == b.getvalue()
    if type(a).__name__ == "ndarray" and hasattr(a, "tolist"):  # numpy arrays
        return a.dtype == b.dtype and a.shape == b.shape and same(a.tolist(), b.tolist())
    seen = set() if _seen is None else _seen
    if (id(a), id(b)) in seen:  # a cycle: assume equal, the rest of the walk decides
        return True
    seen.add((id(a), id(b)))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (len(a) == len(b)
                and all(same(ka, kb, seen) and same(a[ka], b[kb], seen) for ka, kb in zip(a, b)))
    if isinstance(a, (set, frozenset)):
        return a == b
    if isinstance(a, BaseException):
        return str(a) == str(b) and same(a.args, b.args, seen)
    if isinstance(a, numbers.Number) and a != a and b != b:  # NaN of numpy scalars, Decimal...
        return repr(a) == repr(b)
    if type(a).__eq__ is object.__eq__:
        # No equality of its own: compare the state (instances of user classes), else the repr.
        if hasattr(a, "__dict__"):
            return same(vars(a), vars(b), seen)
        return _ADDRESS.sub("", repr(a)) == _ADDRESS.sub("", repr(b))
    return bool(a == b)


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------

def _chain(exc):
    def link(e):
        return None if e is None else (type(e), str(e))
    return (link(exc.__cause__), link(exc.__context__), exc.__suppress_context__)


def outcome(callable, args=(), kwargs=None, *, chain=True, message=None):
    """Call and record what happened, as a tuple that :func:`same` compares.

    ``('return', type, value, leaked)`` where ``leaked`` is the type in ``sys.exc_info()`` right
    after the return (None in plain CPython), or
    ``('raise', type, message, args, chain)`` where ``chain`` is ``(cause, context,
    suppress_context)`` with cause/context as ``(type, str)`` (None if ``chain=False``).
    ``message``, if given, maps ``str(exc)`` to what is compared (and then ``args`` is skipped).
    """
    try:
        value = callable(*args, **(kwargs or {}))
        leaked = sys.exc_info()[0]
    except BaseException as exc:  # noqa: B902 - we record everything, KeyboardInterrupt included
        if isinstance(exc, justjit.CompileError):
            raise
        text = str(exc) if message is None else message(str(exc))
        exc_args = exc.args if message is None else None
        return ("raise", type(exc), text, exc_args, _chain(exc) if chain else None)
    return ("return", type(value), value, leaked)


def _describe(record):
    if record[0] == "return":
        leak = f"  (sys.exc_info() leaked {record[3].__name__})" if record[3] else ""
        return f"returned {record[2]!r} of type {record[1].__qualname__}{leak}"
    chain = f", chain={record[4]!r}" if record[4] else ""
    return f"raised {record[1].__qualname__}({record[2]!r}), args={record[3]!r}{chain}"


def _compare(what, plain, jitted):
    assert same(plain, jitted), (
        f"{what}\n  plain CPython: {_describe(plain)}\n  jitted:        {_describe(jitted)}")


def _compare_args(what, plain_args, jitted_args):
    assert same(plain_args, jitted_args), (
        f"{what}: arguments differ after the call (side effects)\n"
        f"  plain CPython: {plain_args!r}\n  jitted:        {jitted_args!r}")


def _jit(fn, backend):
    return jit(fn, backend=backend, fallback=False, cache=True)


# ---------------------------------------------------------------------------------------------
# Refusals a backend makes on purpose
# ---------------------------------------------------------------------------------------------

#: Kinds of function a backend refuses on purpose (for now), each as ``(what, message)``. A
#: test on such a backend that fails because compiling raised ``CompileError`` with that
#: message is reported as an expected failure (xfail) naming the reason (see `refusal_reason`
#: and the hook in tests/conftest.py), so the gap stays visible; any other failure, and any
#: other CompileError, stays a failure.
EXPECTED_REFUSALS: dict = {
    # e.g. "llvm": [("generator functions", "generators are not supported by the llvm backend")]
}


def refusal_reason(exc, backend):
    """The xfail reason when ``exc`` (or an exception it was raised from) is the CompileError
    ``backend`` gives on purpose (see EXPECTED_REFUSALS), else None. tests/conftest.py reports
    such a failure as xfail; any other failure stays a failure."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, justjit.CompileError):
            for what, message in EXPECTED_REFUSALS.get(backend, ()):
                if message in str(exc):
                    return f"the {backend} backend refuses {what} for now: {message}"
        exc = exc.__cause__ or exc.__context__
    return None


def _call_refused(fn, exc):
    raise AssertionError(f"justjit refused to compile {fn.__qualname__}: "
                         f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# check: plain vs jitted for ordinary functions
# ---------------------------------------------------------------------------------------------

def compare_calls(fn, jitted, *calls, chain=True, message=None, setup=None, observe=None):
    """Compare ``fn`` and an existing ``jitted`` callable on each call (see :func:`check`).

    Use it directly when one jitted object must be reused across changes of outside state, e.g.
    rebinding a module global between calls.
    """
    assert calls, "compare_calls() needs at least one call"
    for call in map(as_call, calls):
        records = []
        for side in (fn, jitted):
            args, kwargs = call.materialize()
            if setup is not None:
                setup(side)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    record = outcome(side, args, kwargs, chain=chain, message=message)
                except justjit.CompileError as exc:
                    _call_refused(fn, exc)
            issued = [(w.category, str(w.message)) for w in caught]
            state = observe() if observe is not None else None
            records.append((record, (args, kwargs), state, issued))
        (plain, plain_args, plain_state, plain_warned), (got, got_args, got_state, got_warned) = records
        what = f"{fn.__qualname__}{call!r}"
        _compare(what, plain, got)
        _compare_args(what, plain_args, got_args)
        assert same(plain_warned, got_warned), (
            f"{what}: warnings differ\n  plain CPython: {plain_warned!r}\n"
            f"  jitted:        {got_warned!r}")
        assert same(plain_state, got_state), (
            f"{what}: observed state differs\n  plain CPython: {plain_state!r}\n"
            f"  jitted:        {got_state!r}")


def check(fn, *calls, backend, chain=True, message=None, setup=None, observe=None):
    """Jit ``fn`` (fallback=False) and compare it with ``fn`` on every call.

    ``setup(side)`` runs before each side's call with the callable about to run (the plain ``fn``
    or the jitted one), e.g. to reset a module global or to bind a global name to ``side``;
    ``observe()`` runs after the call and its result is compared too (e.g. a module global).
    ``chain=False`` skips comparing __cause__/__context__; ``message`` maps exception messages
    before comparing (e.g. to a prefix test).  Returns the jitted callable.
    """
    jitted = _jit(fn, backend)
    compare_calls(fn, jitted, *calls, chain=chain, message=message, setup=setup, observe=observe)
    assert jitted.signatures, f"{fn.__qualname__}: no signature recorded after a compiled call"
    return jitted


# ---------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------

def _exception(spec):
    """An exception to throw: a class, a factory, or an instance (rebuilt so sides don't share)."""
    if isinstance(spec, type):
        return spec
    if isinstance(spec, BaseException):
        return type(spec)(*spec.args)
    return spec()


def _next_while_handling(gen, exc_spec):
    """``next(gen)`` called from inside an ``except`` block of the caller."""
    try:
        raise _exception(exc_spec)
    except BaseException:
        return next(gen)


def drive_generator(gen, script, *, chain=True):
    """Run ``script`` against ``gen`` and return the list of outcomes, one per step.

    Steps: ``('next',)``, ``('send', value)``, ``('throw', exc)``, ``('close',)``, ``('list',)``
    (exhaust into a list), ``('send_self',)`` (send the generator itself) and
    ``('next_while_handling', exc)`` (``next`` called inside an ``except`` block).
    ``exc`` is an exception class, a factory, or an instance.
    """
    results = []
    for step in script:
        op, *arg = step
        if op == "next":
            record = outcome(next, (gen,), chain=chain)
        elif op == "send":
            record = outcome(gen.send, (arg[0],), chain=chain)
        elif op == "throw":
            record = outcome(gen.throw, (_exception(arg[0]),), chain=chain)
        elif op == "close":
            record = outcome(gen.close, chain=chain)
        elif op == "list":
            record = outcome(list, (gen,), chain=chain)
        elif op == "send_self":
            record = outcome(gen.send, (gen,), chain=chain)
        elif op == "next_while_handling":
            record = outcome(_next_while_handling, (gen, arg[0]), chain=chain)
        else:
            raise ValueError(f"unknown generator step {step!r}")
        results.append(record)
    return results


def _run_generator(fn, call, script, chain):
    args, kwargs = call.materialize()
    created = outcome(fn, args, kwargs, chain=chain)
    if created[0] == "raise":
        return [created], (args, kwargs)
    # The generator object itself is not compared (its class may differ); its behaviour is.
    return [("created",)] + drive_generator(created[2], script, chain=chain), (args, kwargs)


def check_generator(fn, args, script, backend, *, chain=True):
    """Compare a generator function plain vs jitted under one script (see drive_generator)."""
    call = as_call(args)
    jitted = _jit(fn, backend)
    plain_steps, plain_args = _run_generator(fn, call, script, chain)
    try:
        got_steps, got_args = _run_generator(jitted, call, script, chain)
    except justjit.CompileError as exc:
        _call_refused(fn, exc)
    steps = [("create",)] + list(script)
    for step, plain, got in zip(steps, plain_steps, got_steps):
        if plain[0] == "created" or got[0] == "created":
            assert plain == got, f"{fn.__qualname__}{call!r}: creating the generator differs"
            continue
        _compare(f"{fn.__qualname__}{call!r} at step {step!r}", plain, got)
    assert len(plain_steps) == len(got_steps), f"{fn.__qualname__}: step counts differ"
    _compare_args(f"{fn.__qualname__}{call!r}", plain_args, got_args)
    if got_steps[0] == ("created",):  # a call that failed to bind never reached compiled code
        assert jitted.signatures, f"{fn.__qualname__}: no signature recorded after a compiled call"
    return jitted


# ---------------------------------------------------------------------------------------------
# Tracebacks and refusals
# ---------------------------------------------------------------------------------------------

def marked_line(fn, marker):
    """The absolute line number of the line of ``fn``'s source that contains ``marker``."""
    lines, first = inspect.getsourcelines(fn)
    hits = [first + i for i, line in enumerate(lines) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} must occur once in {fn.__qualname__}"
    return hits[0]


def _formatted_exception(fn, args):
    try:
        fn(*args)
    except justjit.CompileError as exc:
        _call_refused(fn, exc)
    except Exception as exc:  # noqa: BLE001
        return exc, "".join(traceback.format_exception(exc))
    raise AssertionError(f"{fn.__qualname__}{args!r} did not raise")


def check_traceback(fn, args, *, backend, marks):
    """The formatted exception from the jitted ``fn(*args)`` names ``fn``'s file, and for each
    ``(function, marker)`` in ``marks`` the function's name and the line holding the marker.
    The same is asserted of the plain run, so the test cannot ask for more than CPython gives."""
    jitted = _jit(fn, backend)
    plain_exc, plain_text = _formatted_exception(fn, args)
    got_exc, got_text = _formatted_exception(jitted, args)
    assert same((type(plain_exc), str(plain_exc)), (type(got_exc), str(got_exc))), (
        f"plain raised {plain_exc!r}, jitted raised {got_exc!r}")
    for text, who in ((plain_text, "plain CPython"), (got_text, "jitted")):
        assert inspect.getsourcefile(fn) in text, f"{who}: file not named in\n{text}"
        for function, marker in marks:
            line = marked_line(function, marker)
            assert function.__name__ in text, f"{who}: {function.__name__} not named in\n{text}"
            assert re.search(rf"(line |:){line}\b", text), f"{who}: line {line} not named in\n{text}"
    return jitted


def check_refused(fn, calls, *, construct, backend):
    """``fn`` uses a construct the compiler must refuse: with fallback=False the first call raises
    CompileError naming ``construct``; with fallback=True every call matches the plain function and
    exactly one JITWarning is issued over all of them."""
    refusing = jit(fn, backend=backend, fallback=False, cache=True)
    first = as_call(calls[0])
    args, kwargs = first.materialize()
    try:
        refusing(*args, **kwargs)
    except justjit.CompileError as exc:
        assert construct in str(exc), f"CompileError does not name {construct!r}: {exc}"
    else:
        raise AssertionError(f"{fn.__qualname__} uses {construct} but compiled without complaint")

    falling_back = jit(fn, backend=backend, fallback=True, cache=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in map(as_call, calls):
            (pa, pk), (ja, jk) = call.materialize(), call.materialize()
            plain = outcome(fn, pa, pk)
            got = outcome(falling_back, ja, jk)
            _compare(f"{fn.__qualname__}{call!r} with fallback", plain, got)
            _compare_args(f"{fn.__qualname__}{call!r} with fallback", (pa, pk), (ja, jk))
    jit_warnings = [w for w in caught if issubclass(w.category, justjit.JITWarning)]
    assert len(jit_warnings) == 1, (
        f"expected exactly one JITWarning, got {[str(w.message) for w in jit_warnings]}")
