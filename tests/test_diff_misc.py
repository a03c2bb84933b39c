"""Differential tests: imports inside functions, isinstance, super() and methods, unpacking
assignments, string methods, print, object lifetimes (weakref timing), warnings, numpy scalars,
tracebacks through compiled code, and the constructs the compiler must refuse.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import builtins
import collections.abc
import inspect
import io
import sys
import time
import traceback
import warnings
import weakref

import pytest

import justjit
from difftest import (LOG, Call, check, check_refused, check_traceback, compare_calls, fresh,
                      outcome, same)
from justjit import jit


def _jit(fn, backend):
    return jit(fn, backend=backend, fallback=False, cache=True)


# --- imports and isinstance -------------------------------------------------------------------

def imports_inside(kind):
    import math
    import os.path as osp
    from collections import OrderedDict as OD
    import collections.abc
    result = [math.floor(2.5), osp.basename("/a/b.txt"), OD(a=1), collections.abc.Sized.__name__]
    if kind == "missing module":
        import nonexistent_module_xyz  # noqa: F401
    if kind == "missing name":
        from math import does_not_exist  # noqa: F401
    if kind == "submodule attribute":
        import json.decoder
        result.append(json.decoder.JSONDecodeError.__name__)
    return result


def test_import_inside_function(backend):
    check(imports_inside, ("ok",), ("missing module",), ("missing name",),
          ("submodule attribute",), backend=backend)


IMPORT_LOG = []


def logging_import(name, globals=None, locals=None, fromlist=(), level=0):
    IMPORT_LOG.append((name, tuple(fromlist or ()), level))
    return _real_import(name, globals, locals, fromlist, level)


_real_import = builtins.__import__


def import_uses_builtins_import():
    import math
    from os import sep
    return math.pi, sep


def test_import_statement_calls_current_builtins_import(backend):
    jitted = _jit(import_uses_builtins_import, backend)
    jitted()  # compile first: the compiler's own imports are not under test
    builtins.__import__ = logging_import
    try:
        compare_calls(import_uses_builtins_import, jitted, (),
                      setup=lambda side: IMPORT_LOG.clear(), observe=lambda: list(IMPORT_LOG))
    finally:
        builtins.__import__ = _real_import


class LoggingMeta(type):
    log = []

    def __instancecheck__(cls, obj):
        LoggingMeta.log.append(("instancecheck", type(obj).__name__))
        return isinstance(obj, int)

    def __subclasscheck__(cls, sub):
        LoggingMeta.log.append(("subclasscheck", sub.__name__))
        return issubclass(sub, int)


class IntLike(metaclass=LoggingMeta):
    pass


def type_checks(x):
    return (isinstance(x, int), isinstance(x, (str, (bytes, int))), isinstance(x, int | str),
            isinstance(x, collections.abc.Sequence), isinstance(x, IntLike),
            issubclass(type(x), IntLike), type(x) is int, type(x).__name__)


def test_isinstance_issubclass_abc_and_hooks(backend):
    check(type_checks, (1,), (True,), ("s",), ([1],), (range(2),), (None,),
          setup=lambda side: LoggingMeta.log.clear(), observe=lambda: list(LoggingMeta.log),
          backend=backend)


def type_check_errors(kind):
    if kind == "issubclass":
        return issubclass(1, int)
    if kind == "isinstance":
        return isinstance(1, 5)
    if kind == "nested bad":
        return isinstance(1, (str, (5,)))
    return isinstance(kind, str)


def test_isinstance_errors(backend):
    check(type_check_errors, ("issubclass",), ("isinstance",), ("nested bad",), ("ok",),
          backend=backend)


# --- methods and super() ------------------------------------------------------------------------

class Base:
    def describe(self, x):
        return ("Base", type(self).__name__, x)

    @classmethod
    def create(cls, x):
        return ("Base.create", cls.__name__, x)


class Derived(Base):
    def describe(self, x):
        return ("Derived", super().describe(x * 2), __class__.__name__)

    @classmethod
    def create(cls, x):
        return ("Derived.create", super().create(x))


class MoreDerived(Derived):
    def describe(self, x):
        return ("MoreDerived", super().describe(x))


def test_super_in_method_uses_class_cell(backend):
    check(Derived.describe, (Derived(), 1), (MoreDerived(), "a"), (Base(), 1), (5, 1),
          backend=backend)


def test_super_in_classmethod(backend):
    check(Derived.create.__func__, (Derived, 1), (MoreDerived, 2), (int, 3), backend=backend)


def test_jitted_function_installed_as_method(backend):
    original = Derived.describe
    jitted = _jit(original, backend)
    calls = [lambda: MoreDerived().describe(3), lambda: Derived().describe("x"),
             lambda: Derived.describe(Derived(), 1)]
    expected = [outcome(c) for c in calls]
    Derived.describe = jitted
    try:
        got = [outcome(c) for c in calls]
    finally:
        Derived.describe = original
    for e, g in zip(expected, got):
        assert same(e, g), (e, g)
    assert jitted.signatures


# --- assignment forms -----------------------------------------------------------------------------

def star_unpack(xs):
    a, *b, c = xs
    *d, e = xs
    f, *g = xs
    return a, b, c, d, e, f, g


def test_star_unpacking_assignment(backend):
    check(star_unpack, ([1, 2],), ([1, 2, 3, 4],), ("xyz",), ((1,),), ([],), (5,),
          (fresh(lambda: iter(range(3))),), ({"k": 1, "j": 2},), backend=backend)


def unpack_exact(xs, n):
    if n == 2:
        a, b = xs
        return a, b
    a, b, c = xs
    return a, b, c


def test_unpacking_error_messages(backend):
    check(unpack_exact, ([1, 2], 2), ([1, 2, 3], 2), ([1], 3), ([1, 2, 3], 3), (None, 2),
          (5, 3), ("ab", 2), (fresh(lambda: iter([1, 2, 3])), 2), (fresh(lambda: iter([])), 3),
          ({"a": 1, "b": 2}, 2), backend=backend)


def swaps_and_chains(a, b):
    a, b = b, a
    x = y = []
    x.append(a)
    lst = [0, 0, 0]
    i = lst[i] = 2  # noqa: F821 - i is assigned first, then used as the index
    c, (d, e), [f] = a, (b, a), [b]
    a, b, c = c, a, b
    return a, b, c, d, e, f, x, y, x is y, lst, i


def test_swaps_chained_and_nested_targets(backend):
    check(swaps_and_chains, (1, 2), ("p", "q"), ([1], [2]), backend=backend)


# --- strings and print ----------------------------------------------------------------------------

def string_methods(s):
    return (s.split(), s.split(",", 1), s.rsplit(" ", 1), s.strip(" ,"), s.upper(), s.lower(),
            s.casefold(), s.title(), s.replace("a", "A", 1), s.find("b"), s.rfind("b"),
            s.startswith(("x", "a")), s.endswith("c"), s.partition(","), s.zfill(12),
            s.center(11, "*"), s.splitlines(), s.splitlines(True), s.isidentifier(),
            s.encode("utf-8", "replace"), "-".join(s.split(",")), s.count(""),
            s.expandtabs(4), s.swapcase(), s[::-1], s.isdigit(), s.isspace())


def test_string_methods(backend):
    check(string_methods, ("a,b c",), ("  Straße ",), ("line1\nline2\r\nline3\x1c\u2028end",),
          ("",), ("\tab\tc",), ("ǅemo ǈ",), ("123",), (b"bytes",), backend=backend)


def string_method_errors(kind):
    if kind == "index":
        return "abc".index("z")
    if kind == "join":
        return ",".join(["a", 1])
    if kind == "encode":
        return "é\ud800".encode("ascii")
    if kind == "decode":
        return b"\xff\xfe\xfa".decode("utf-8")
    if kind == "format_map":
        return "{x}".format_map({})
    if kind == "removeprefix":
        return "prefix-body".removeprefix("prefix-"), "x".removesuffix("")
    return None


def test_string_method_errors(backend):
    check(string_method_errors, ("index",), ("join",), ("encode",), ("decode",),
          ("format_map",), ("removeprefix",), ("none",), backend=backend)


class BadStr:
    def __str__(self):
        raise ValueError("no str for you")


def printing(out, *values, sep=" ", end="\n"):
    print(*values, sep=sep, end=end, file=out)
    print(file=out)
    print("flushed", file=out, flush=True)
    print(*values, file=out, sep="")
    return out.getvalue()


def test_print_to_stringio(backend):
    check(printing, (fresh(io.StringIO), 1, "a", None), Call(fresh(io.StringIO), sep="-", end="!"),
          Call(fresh(io.StringIO), 1, 2, sep="", end=""), Call(fresh(io.StringIO), "é", "😀"),
          Call(fresh(io.StringIO), 1, BadStr(), 2), Call(fresh(io.StringIO), sep=1),
          Call(5, "x"), backend=backend)


# --- object lifetimes ----------------------------------------------------------------------------

class Obj:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Obj({self.name!r})"


def tracked(log, name):
    """An object whose collection appends ('freed', name) to log (through a weakref callback)."""
    obj = Obj(name)
    weakref.finalize(obj, log.append, ("freed", name))
    return obj


def temporary_dropped(log):
    size = len(repr(tracked(log, "temp")))
    log.append("after the expression")
    attr = tracked(log, "temp2").name
    log.append("after attribute access")
    return size, attr, list(log)


def test_temporary_is_collected_before_the_next_statement(backend):
    check(temporary_dropped, (LOG,), backend=backend)


def reassignment_releases(log):
    x = tracked(log, "first")
    log.append("before reassignment")
    x = tracked(log, "second")
    log.append("after reassignment")
    x = None
    log.append("after None")
    return list(log)


def test_reassignment_releases_old_value_at_that_point(backend):
    check(reassignment_releases, (LOG,), backend=backend)


def del_releases(log):
    x = tracked(log, "x")
    y = x
    del x
    log.append("after del x (y still holds it)")
    del y
    log.append("after del y")
    return list(log)


def test_del_releases_immediately(backend):
    check(del_releases, (LOG,), backend=backend)


def local_lives_until_return(log):
    a = tracked(log, "a")
    b = tracked(log, "b")
    name = a.name + b.name
    log.append("after last use of a and b")
    return name, list(log)


def test_locals_live_until_the_frame_ends_and_die_in_order(backend):
    check(local_lives_until_return, (LOG,), backend=backend)


def loop_variable_releases(log):
    for obj in [tracked(log, "one"), tracked(log, "two")][::-1]:
        log.append(("visiting", obj.name))
    log.append("after loop")
    obj = None
    log.append("loop variable cleared")
    return list(log)


def test_loop_releases_temporaries_and_variable(backend):
    check(loop_variable_releases, (LOG,), backend=backend)


def exception_variable_releases(log):
    try:
        raise ValueError(tracked(log, "in exception"))
    except ValueError as e:
        log.append(("handling", e.args[0].name))
    log.append("after handler")
    return list(log)


def test_exception_and_its_args_released_after_handler(backend):
    check(exception_variable_releases, (LOG,), backend=backend)


def call_argument_releases(log):
    def consume(o):
        return o.name
    result = consume(tracked(log, "argument"))
    log.append("after call")
    return result, list(log)


def test_call_argument_released_after_call(backend):
    check(call_argument_releases, (LOG,), backend=backend)


# --- warnings -------------------------------------------------------------------------------------

def warns(x, stacklevel):
    warnings.warn(f"careful with {x!r}", UserWarning, stacklevel=stacklevel)  # WARN-LINE
    return x


def _record_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(fn, args, kwargs)  # both sides call from this same line
    return result, [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


def _compare_warnings(fn, jitted, *calls):
    for call in map(lambda c: c if isinstance(c, Call) else Call(*c), calls):
        plain = _record_warnings(fn, *call.args, **call.kwargs)
        got = _record_warnings(jitted, *call.args, **call.kwargs)
        assert same(plain, got), f"{fn.__name__}{call!r}:\n  plain: {plain}\n  jitted: {got}"


def test_warning_attributed_to_the_original_line(backend):
    # stacklevel 1 is the line in the function, 2 the caller's line (here, in outcome()),
    # 0 and below the function too, and past the outermost frame "sys", line 1. The first
    # call compiles (the dispatcher's frames sit between), the later ones come from the
    # trampoline.
    jitted = _jit(warns, backend)
    _compare_warnings(warns, jitted, (1, 1), ("é", 1), (1, 2), (1, 1), (2, 2), (3, 0),
                      (3, -1), (4, 3), (5, 10**6))


def calls_through(fn, *args):
    return fn(*args)  # where a warning of `fn` with stacklevel=2 points


def test_warning_stacklevel_through_a_caller(backend):
    jitted = _jit(warns, backend)
    for level in (1, 2, 3, 4):
        plain = _record_warnings(calls_through, warns, "x", level)
        got = _record_warnings(calls_through, jitted, "x", level)
        assert same(plain, got), f"stacklevel={level}:\n  plain: {plain}\n  jitted: {got}"


def warns_with(*args, **kwargs):
    warnings.warn(*args, **kwargs)  # CALL_FUNCTION_EX


def warns_keywords(message, category, level):
    warnings.warn(message, category=category, stacklevel=level)


def test_warn_arguments_and_their_errors(backend):
    # warnings.warn's own parsing and checks: same messages, same warnings.
    _compare_warnings(warns_with, _jit(warns_with, backend),
                      ("m",), (), ("a", "b", "c", "d", "e"), ("m", int), ("m", 5),
                      ("m", None, 2), (UserWarning("instance"),),
                      (DeprecationWarning("instance"), UserWarning), ("m", RuntimeWarning, 1, 5),
                      Call("m", stacklevel="x"), Call("m", stacklevel=2**70), Call("m", foo=1),
                      Call("m", message="twice"), Call(message="m", category=RuntimeWarning),
                      Call("m", **{"stacklevel": 2}), Call("m", source="s"))
    _compare_warnings(warns_keywords, _jit(warns_keywords, backend),
                      ("m", FutureWarning, 1), ("m", None, 2), ("m", UserWarning, True),
                      ("m", Warning, 1.5), (3, SyntaxWarning, 1))


_WARNMOD_SOURCE = """
import warnings
def noisy(n):
    for i in range(n):
        warnings.warn("again")
        warnings.warn("again", stacklevel=1)
        warnings.warn(f"call {n}")
    return n
"""


def _warnmod_run(backend, configure):
    namespace = {"__name__": "warnmod"}
    exec(compile(_WARNMOD_SOURCE, "<warnmod>", "exec"), namespace)
    fn = namespace["noisy"] if backend is None else _jit(namespace["noisy"], backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        configure()
        results = [outcome(fn, (3,)), outcome(fn, (2,)), outcome(fn, (3,))]
    registry = namespace.get("__warningregistry__", {})
    return (results, [(w.category, str(w.message), w.filename, w.lineno) for w in caught],
            sorted(repr(key) for key in registry if key != "version"))


def test_warning_registry_and_module_filters(backend):
    # The registry is the function's module's, keyed by its lines ("default": once per
    # location, "module": once per module), and filters see the module's __name__.
    for configure in (lambda: warnings.simplefilter("default"),
                      lambda: warnings.simplefilter("module"),
                      lambda: warnings.filterwarnings("error", module="warnmod"),
                      lambda: warnings.filterwarnings("error", module="other"),
                      lambda: warnings.filterwarnings("ignore", message="call 2")):
        plain = _warnmod_run(None, configure)
        got = _warnmod_run(backend, configure)
        assert same(plain, got), f"\n  plain: {plain}\n  jitted: {got}"


def warning_generator(n):
    for i in range(n):
        warnings.warn(f"item {i}", stacklevel=2)  # the caller of next()
        yield i
    warnings.warn("exhausted")


def test_warning_from_a_generator(backend):
    jitted = _jit(warning_generator, backend)
    for n in (0, 2):
        plain = _record_warnings(list, warning_generator(n))
        got = _record_warnings(list, jitted(n))
        assert same(plain, got), f"n={n}:\n  plain: {plain}\n  jitted: {got}"


def not_implemented_truth():
    return not NotImplemented  # a DeprecationWarning issued by C code


def test_c_level_warning_filtered_by_the_function_module(backend):
    # C code warns about the current frame: under compiled code, the trampoline's, which
    # has no line of its own but carries the module's __name__ (the first call, through the
    # dispatcher's frames, is not covered: hence the call before comparing).
    jitted = _jit(not_implemented_truth, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jitted()
    for action in ("error", "ignore"):
        with warnings.catch_warnings():
            warnings.filterwarnings(action, category=DeprecationWarning, module=__name__)
            plain, got = outcome(not_implemented_truth), outcome(jitted)
        assert same(plain, got), f"{action}:\n  plain: {plain}\n  jitted: {got}"


def parses_a_date(text):
    # time.strptime imports _strptime from C (PyImport_Import reads the current globals'
    # __builtins__: under compiled code, the trampoline's).
    return time.strptime(text, "%Y-%m-%d")[:3]


def test_c_code_importing_under_compiled_code(backend):
    check(parses_a_date, ("2024-02-29",), ("2023-02-29",), ("2020-01-01",), backend=backend)


# --- numpy scalars keep their types ------------------------------------------------------------------

def numpy_ops(a, b):
    return a + b, a * b, a / b, -a, a > b, a + 1, a * 2.0, abs(a), a // b


def test_numpy_scalars_keep_numpy_types(backend):
    np = pytest.importorskip("numpy")
    check(numpy_ops, (np.float32(1.5), np.float32(2)), (np.int64(2**62), np.int64(2)),
          (np.int8(127), np.int8(1)), (np.int64(7), np.int64(0)), (np.float64(-0.0), 1),
          (np.float32("nan"), np.float32(1)), (np.bool_(True), np.bool_(False)),
          (np.uint8(3), 5), backend=backend)


def sum_floats(xs):
    total = 0.0
    for x in xs:
        total += x
    return total


def test_numpy_element_in_float_loop(backend):
    np = pytest.importorskip("numpy")
    check(sum_floats, ([1.0, np.float32(0.1), 2.0],), ([np.float64(1.5)],),
          (fresh(lambda: np.arange(3, dtype=np.int32)),), backend=backend)


# --- specialization by argument type ----------------------------------------------------------------

def polymorphic(x, y):
    acc = x
    for _ in range(3):
        acc = acc + y
    return acc, type(acc).__name__


def test_same_function_called_with_changing_types(backend):
    check(polymorphic, (1, 2), (1.5, 2), (1, 2.5), ("a", "b"), (2**62, 2**62), ([1], [2]),
          (1, 2), (True, True), (1, "x"), (1, 2), backend=backend)


# --- tracebacks -------------------------------------------------------------------------------------

def tb_simple(x):
    y = x * 2
    return y // (x - x)  # MARK: tb_simple raises


def test_traceback_names_file_function_and_line(backend):
    check_traceback(tb_simple, (1,), marks=[(tb_simple, "# MARK: tb_simple raises")],
                    backend=backend)


def _plain_raiser(v):
    raise ValueError(f"bad {v}")  # MARK: plain raiser


def tb_through_call(v):
    prefix = "calling"
    return prefix, _plain_raiser(v)  # MARK: call site


def test_traceback_through_compiled_caller(backend):
    check_traceback(tb_through_call, ("x",),
                    marks=[(tb_through_call, "# MARK: call site"),
                           (_plain_raiser, "# MARK: plain raiser")], backend=backend)


def tb_multiline(xs):
    total = 0
    for x in xs:
        total += (
            10 // x  # MARK: multiline
        )
    return total


def test_traceback_line_inside_loop_and_parentheses(backend):
    check_traceback(tb_multiline, ([1, 2, 0],), marks=[(tb_multiline, "# MARK: multiline")],
                    backend=backend)


def tb_entries(v):
    try:
        tb_through_call(v)
    except ValueError as e:
        return [(f.name, f.lineno, f.line) for f in traceback.extract_tb(e.__traceback__)]


def test_traceback_entries_seen_by_compiled_code(backend):
    check(tb_entries, ("a",), backend=backend)


def tb_lineno_relative(x):
    try:
        return 1 // x
    except ZeroDivisionError as e:
        return e.__traceback__.tb_lineno - tb_lineno_relative.__code__.co_firstlineno


def test_caught_exception_traceback_line_number(backend):
    check(tb_lineno_relative, (0,), (1,), backend=backend)


# --- refusals and frame-dependent builtins ----------------------------------------------------------

def uses_locals(a):
    b = a + 1
    return locals()


def uses_vars(a):
    b = [a]
    return vars(), b


def uses_getframe(a):
    return sys._getframe().f_code.co_name, a


def uses_eval(a):
    return eval("a + 1")


def uses_exec(a):
    exec("print(a, file=out)", {"out": io.StringIO(), "print": print, "a": 0})
    exec("b = a * 2")
    return a


def test_locals_is_refused(backend):
    check_refused(uses_locals, [(1,), ("x",), (1,)], construct="locals", backend=backend)


def test_vars_without_argument_is_refused(backend):
    check_refused(uses_vars, [(1,), (None,)], construct="vars", backend=backend)


def test_sys_getframe_is_refused(backend):
    check_refused(uses_getframe, [(1,), (2,)], construct="_getframe", backend=backend)


def test_eval_without_namespace_is_refused(backend):
    check_refused(uses_eval, [(1,), ("x",)], construct="eval", backend=backend)


def test_exec_without_namespace_is_refused(backend):
    check_refused(uses_exec, [(1,), (2,)], construct="exec", backend=backend)


def eval_exec_with_namespaces(a):
    ns = {"a": a}
    exec("b = a * 2", ns)
    return eval("x + 1", {"x": a}), eval("y", {}, {"y": a}), ns["b"], vars(Base)["describe"].__name__


def test_eval_exec_vars_with_explicit_arguments_compile(backend):
    check(eval_exec_with_namespaces, (1,), ("s",), backend=backend)


def uses_dir(a):
    b = 1
    return dir()


def uses_currentframe(a):
    return inspect.currentframe().f_code.co_name, a


@pytest.mark.parametrize("fn, construct", [(uses_dir, "dir"), (uses_currentframe, "currentframe")])
def test_frame_introspection_is_right_or_refused(fn, construct, backend):
    jitted = _jit(fn, backend)
    try:
        got = outcome(jitted, (1,))
    except justjit.CompileError as exc:
        assert construct in str(exc), f"CompileError does not name {construct!r}: {exc}"
        return
    assert same(outcome(fn, (1,)), got), (
        f"{fn.__name__} silently changed behaviour: plain {outcome(fn, (1,))!r}, jitted {got!r}")
