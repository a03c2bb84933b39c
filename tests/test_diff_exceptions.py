"""Differential tests: try/except/else/finally, raise (from), bare raise, sys.exc_info(),
__context__/__cause__, finally overriding control flow, with-statements, error messages.

Every check compares __cause__, __context__ and __suppress_context__ too (check's default).

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import sys

from difftest import LOG, check, note

# These two names are never bound: the functions below read them to get a NameError.
# (undefined_global_xyz, undefined_in_except_xyz)


class MyError(Exception):
    pass


class BadInit(Exception):
    def __init__(self):
        raise RuntimeError("constructor failed")


def raise_kind(kind):
    if kind == "key":
        raise KeyError("k")
    if kind == "value":
        raise ValueError("v")
    if kind == "type":
        raise TypeError("t")
    if kind == "index":
        raise IndexError("i")
    if kind == "os":
        raise FileNotFoundError(2, "No such file", "x.txt")
    if kind == "my":
        raise MyError("mine")
    if kind == "kbd":
        raise KeyboardInterrupt
    if kind == "exit":
        raise SystemExit(3)
    return kind


# --- try / except / else / finally -----------------------------------------------------------

def try_except_else_finally(log, x):
    try:
        log.append("try")
        r = 10 // x
    except ZeroDivisionError:
        log.append("except")
        r = "div0"
    else:
        log.append("else")
    finally:
        log.append("finally")
    log.append("after")
    return r


def test_try_except_else_finally_order(backend):
    check(try_except_else_finally, (LOG, 2), (LOG, 0), (LOG, "a"), backend=backend)


def multiple_except(kind):
    try:
        raise_kind(kind)
    except KeyError as e:
        return ("KeyError", e.args)
    except (ValueError, TypeError) as e:
        return ("value or type", type(e).__name__)
    except LookupError:
        return "lookup"
    except OSError as e:
        return ("os", e.errno, e.strerror, e.filename, str(e))
    except Exception as e:
        return ("generic", repr(e))
    return "no error"


def test_multiple_except_clauses_and_tuples(backend):
    check(multiple_except, ("key",), ("value",), ("type",), ("index",), ("os",), ("my",),
          ("none",), ("kbd",), ("exit",), backend=backend)


def bare_except(kind):
    try:
        raise_kind(kind)
    except:  # noqa: E722
        return ("caught", sys.exc_info()[0])
    return "none"


def test_bare_except_catches_base_exceptions(backend):
    check(bare_except, ("kbd",), ("exit",), ("value",), ("none",), backend=backend)


def except_bad_class(x):
    try:
        if x:
            raise ValueError(x)
        return "no exception"
    except (int, ValueError):
        return "caught"


def test_except_non_exception_class_is_checked_lazily(backend):
    check(except_bad_class, (0,), (1,), backend=backend)


def except_dynamic_class(classes, kind):
    try:
        raise_kind(kind)
    except classes:
        return "caught"
    return "not raised"


def test_except_with_computed_class(backend):
    check(except_dynamic_class, (KeyError, "key"), ((), "key"), ((KeyError, IndexError), "index"),
          (LookupError, "value"), ((ValueError, (KeyError,)), "key"), (KeyError, "none"),
          backend=backend)


# --- the exception variable ------------------------------------------------------------------

def exc_var_unbound_after(x):
    try:
        raise ValueError(x)
    except ValueError as e:
        first = e.args
    return first, e


def test_except_as_name_is_deleted_after_handler(backend):
    check(exc_var_unbound_after, (1,), backend=backend)


def exc_var_rebinds_existing(x):
    e = "before"
    try:
        if x:
            raise ValueError(x)
    except ValueError as e:
        pass
    return e


def test_except_as_name_deletes_previous_binding(backend):
    check(exc_var_rebinds_existing, (0,), (1,), backend=backend)


def exc_var_free_after(x):
    try:
        raise ValueError(x)
    except ValueError as e:
        pass

    def read():
        return e

    return read()


def test_except_as_name_in_closure_is_name_error(backend):
    check(exc_var_free_after, (1,), backend=backend)


def unbound_local(flag):
    if flag:
        value = "set"
    return value


def test_unbound_local_message(backend):
    check(unbound_local, (1,), (0,), backend=backend)


def undefined_global():
    return undefined_global_xyz  # noqa: F821


def test_name_error_message(backend):
    check(undefined_global, (), backend=backend)


def name_error_in_handler():
    try:
        raise KeyError("first")
    except KeyError:
        return undefined_in_except_xyz  # noqa: F821


def test_name_error_raised_in_handler_has_context(backend):
    check(name_error_in_handler, (), backend=backend)


# --- raise -----------------------------------------------------------------------------------

def raise_forms(kind):
    if kind == "class":
        raise ValueError
    if kind == "instance":
        raise ValueError("v", 2)
    if kind == "non-exception":
        raise 5
    if kind == "non-exception class":
        raise int
    if kind == "from none":
        raise ValueError("v") from None
    if kind == "from":
        raise ValueError("v") from KeyError("cause")
    if kind == "from class":
        raise ValueError("v") from KeyError
    if kind == "from bad":
        raise ValueError("v") from 5
    if kind == "bad init":
        raise BadInit
    if kind == "my":
        raise MyError
    return "no raise"


def test_raise_forms(backend):
    check(raise_forms, ("class",), ("instance",), ("non-exception",), ("non-exception class",),
          ("from none",), ("from",), ("from class",), ("from bad",), ("bad init",), ("my",),
          ("nothing",), backend=backend)


def raise_from_in_handler(mode):
    try:
        {}["missing"]
    except KeyError as e:
        if mode == "from e":
            raise ValueError("converted") from e
        if mode == "from none":
            raise ValueError("converted") from None
        if mode == "from other":
            raise ValueError("converted") from TypeError("other")
        raise ValueError("implicit")


def test_raise_from_inside_handler_sets_cause_context_suppress(backend):
    check(raise_from_in_handler, ("from e",), ("from none",), ("from other",), ("implicit",),
          backend=backend)


def suppress_flags(mode):
    try:
        raise_from_in_handler(mode)
    except ValueError as e:
        return (e.__suppress_context__, type(e.__cause__), type(e.__context__),
                e.__context__ is e.__cause__)


def test_cause_and_context_attributes_read_inside_jitted_code(backend):
    check(suppress_flags, ("from e",), ("from none",), ("from other",), ("implicit",),
          backend=backend)


def bare_reraise(log, kind):
    try:
        raise_kind(kind)
    except (KeyError, ValueError):
        log.append("handling")
        raise
    return "nothing to re-raise"


def test_bare_raise_in_handler(backend):
    check(bare_reraise, (LOG, "key"), (LOG, "value"), (LOG, "type"), (LOG, "none"),
          backend=backend)


def bare_raise_outside():
    raise


def test_bare_raise_without_active_exception(backend):
    check(bare_raise_outside, (), backend=backend)


def reraise_after_nested_handler(log, inner_reraises):
    try:
        raise KeyError("outer")
    except KeyError:
        try:
            raise ValueError("inner")
        except ValueError:
            log.append("inner handled")
            if inner_reraises:
                raise
        log.append("back in outer")
        raise


def test_bare_raise_after_nested_handler_reraises_outer(backend):
    check(reraise_after_nested_handler, (LOG, False), (LOG, True), backend=backend)


def helper_bare_raise():
    raise


def helper_exc_info():
    return sys.exc_info()[:2]


def reraise_from_helper(kind):
    try:
        raise_kind(kind)
    except Exception:
        seen = helper_exc_info()
        try:
            helper_bare_raise()
        except Exception as again:
            return seen, again
    return "none"


def test_callee_sees_handled_exception_of_compiled_caller(backend):
    check(reraise_from_helper, ("key",), ("my",), ("none",), backend=backend)


# --- sys.exc_info() ----------------------------------------------------------------------------

def exc_info_states():
    states = [sys.exc_info()[:2]]
    try:
        raise KeyError("outer")
    except KeyError:
        states.append(sys.exc_info()[:2])
        try:
            raise ValueError("inner")
        except ValueError:
            states.append(sys.exc_info()[:2])
        states.append(sys.exc_info()[:2])
    states.append(sys.exc_info()[:2])
    return states


def test_exc_info_inside_nested_handlers_and_after(backend):
    check(exc_info_states, (), backend=backend)


def exc_info_in_finally(raising):
    seen = []
    try:
        try:
            if raising:
                raise KeyError("in flight")
        finally:
            seen.append(sys.exc_info()[:2])
    except KeyError:
        seen.append("caught")
    seen.append(sys.exc_info()[:2])
    return seen


def test_exc_info_in_finally_during_propagation(backend):
    check(exc_info_in_finally, (True,), (False,), backend=backend)


# --- __context__ -------------------------------------------------------------------------------

def context_chain(mode):
    if mode == "in handler":
        try:
            raise KeyError("a")
        except KeyError:
            raise ValueError("b")
    if mode == "in finally":
        try:
            raise KeyError("a")
        finally:
            raise ValueError("b")
    if mode == "raise same":
        try:
            raise KeyError("a")
        except KeyError as e:
            raise e
    if mode == "reraise outer in inner":
        try:
            raise KeyError("a")
        except KeyError as a:
            try:
                raise ValueError("b")
            except ValueError:
                raise a
    if mode == "after handler":
        try:
            raise KeyError("a")
        except KeyError:
            pass
        raise ValueError("no context")
    return "none"


def test_context_chaining(backend):
    check(context_chain, ("in handler",), ("in finally",), ("raise same",),
          ("reraise outer in inner",), ("after handler",), backend=backend)


def context_two_levels():
    try:
        try:
            raise KeyError("a")
        except KeyError:
            raise ValueError("b")
    except ValueError as e:
        return (repr(e), repr(e.__context__), repr(e.__context__.__context__))


def test_context_inspected_in_compiled_code(backend):
    check(context_two_levels, (), backend=backend)


# --- finally and control flow -----------------------------------------------------------------

def finally_return(x):
    try:
        if x == "raise":
            raise ValueError("swallowed")
        return "from try"
    finally:
        if x:
            return "from finally"


def test_return_in_finally_overrides_return_and_exception(backend):
    check(finally_return, (0,), (1,), ("raise",), backend=backend)


def finally_runs_on_return(log, xs):
    for x in xs:
        try:
            if x > 1:
                return x
        finally:
            log.append(("finally", x))
    return None


def test_finally_runs_when_returning_from_loop(backend):
    check(finally_runs_on_return, (LOG, [0, 1, 2, 3]), (LOG, []), (LOG, [0, "x"]),
          backend=backend)


def break_in_finally(xs):
    out = []
    for x in xs:
        try:
            out.append(10 // x)
        finally:
            if x == 0:
                break
    return out


def test_break_in_finally_swallows_exception(backend):
    check(break_in_finally, ([1, 2, 0, 5],), ([5],), (["a", 0],), (["a"],), backend=backend)


def continue_in_finally(xs):
    out = []
    for x in xs:
        try:
            out.append(10 // x)
        finally:
            if x == 0:
                continue
        out.append("after")
    return out


def test_continue_in_finally_swallows_exception(backend):
    check(continue_in_finally, ([1, 0, 2],), ([0, 0],), (["a"],), backend=backend)


def exception_in_finally(mode):
    try:
        if mode == "raise":
            raise KeyError("original")
        return "returned"
    finally:
        if mode != "quiet":
            raise ValueError("from finally")


def test_exception_in_finally_replaces(backend):
    check(exception_in_finally, ("raise",), ("return",), ("quiet",), backend=backend)


def try_in_loop_accumulates(items):
    errors = []
    total = 0
    for item in items:
        try:
            total += int(item)
        except ValueError as e:
            errors.append(str(e))
            continue
        except TypeError:
            errors.append("type")
            break
        else:
            total += 1000
    return total, errors


def test_try_in_loop_with_continue_and_break_in_handlers(backend):
    check(try_in_loop_accumulates, (["1", "x", "2", None, "3"],), ([],), (["7"],),
          backend=backend)


# --- with ------------------------------------------------------------------------------------

class CM:
    def __init__(self, log, name, suppress=False, fail_enter=False, fail_exit=False):
        self.log, self.name, self.suppress = log, name, suppress
        self.fail_enter, self.fail_exit = fail_enter, fail_exit

    def __enter__(self):
        self.log.append(("enter", self.name))
        if self.fail_enter:
            raise RuntimeError(f"enter {self.name} failed")
        return f"value of {self.name}"

    def __exit__(self, exc_type, exc, tb):
        self.log.append(("exit", self.name, exc_type, exc, tb is not None,
                         sys.exc_info()[0]))
        if self.fail_exit:
            raise RuntimeError(f"exit {self.name} failed")
        return self.suppress


def with_suppress(log, suppress, kind):
    with CM(log, "a", suppress=suppress) as value:
        log.append(("body", value))
        raise_kind(kind)
        log.append("body finished")
    log.append("after with")
    return "end"


def test_with_exit_arguments_and_suppression(backend):
    check(with_suppress, (LOG, False, "none"), (LOG, False, "key"), (LOG, True, "key"),
          (LOG, 1, "value"), (LOG, "", "value"), (LOG, None, "kbd"), (LOG, True, "kbd"),
          backend=backend)


def nested_with(log, fail):
    with CM(log, "outer", fail_enter=fail == "outer enter"), \
            CM(log, "inner", fail_enter=fail == "inner enter", fail_exit=fail == "inner exit",
               suppress=fail == "suppress"):
        log.append("body")
        if fail in ("body", "inner exit", "suppress"):
            raise KeyError("body")
    return "done"


def test_nested_with_enter_exit_failures(backend):
    check(nested_with, (LOG, None), (LOG, "outer enter"), (LOG, "inner enter"), (LOG, "body"),
          (LOG, "inner exit"), (LOG, "suppress"), backend=backend)


def with_return_break_continue(log):
    out = []
    for i in range(4):
        with CM(log, i):
            if i == 0:
                continue
            if i == 2:
                break
            out.append(i)
    with CM(log, "ret"):
        return note_and_return(log, out)


def note_and_return(log, value):
    log.append("computing return value")
    return value


def test_with_exits_on_return_break_continue(backend):
    check(with_return_break_continue, (LOG,), backend=backend)


class EnterOnly:
    def __enter__(self):
        return 1


class InstanceDunders:
    def __init__(self):
        self.__enter__ = lambda: 1
        self.__exit__ = lambda *a: None


def with_no_protocol(obj):
    with obj:
        return "entered"


def test_with_on_objects_without_the_protocol(backend):
    check(with_no_protocol, (5,), (EnterOnly(),), (InstanceDunders(),), backend=backend)


def with_exit_raises(log, body_raises):
    with CM(log, "x", fail_exit=True):
        if body_raises:
            raise KeyError("body")
    return "unreachable"


def test_exception_from_exit_chains_to_body_exception(backend):
    check(with_exit_raises, (LOG, True), (LOG, False), backend=backend)


# --- messages --------------------------------------------------------------------------------

def subscript(container, key):
    return container[key]


class GetItem:
    def __getitem__(self, key):
        return ("got", key)


def test_index_and_key_error_messages(backend):
    check(subscript, ([1], 5), ([1], -2), ((1,), 5), ("a", 5), (b"a", 5), (bytearray(b"a"), 5),
          (range(3), 5), ({}, "k"), ({}, ("a", "b")), ({}, ()), ({}, 1.5), ({}, None),
          ({}, [1]), ([1], "x"), ("a", 1.0), ((1,), None), (5, 0), (None, 0), (GetItem(), (1, 2)),
          ([1], 2**100), ({}, KeyError("inner")), backend=backend)


def level3(x):
    return {"a": 1}[x]


def level2(x):
    return level3(x) + 1


def level1(x):
    return level2(x) * 2


def deep_call(x):
    try:
        return level1(x)
    except KeyError as e:
        raise LookupError(f"wrapped {e}") from e


def test_exception_from_deep_calls(backend):
    check(deep_call, ("a",), ("b",), ([],), backend=backend)


def base_exceptions_pass_except_exception(kind):
    try:
        raise_kind(kind)
    except Exception:
        return "caught by except Exception"
    return "none"


def test_keyboard_interrupt_and_system_exit_pass_through(backend):
    check(base_exceptions_pass_except_exception, ("kbd",), ("exit",), ("my",), backend=backend)


def exception_notes(x):
    try:
        raise ValueError(x)
    except ValueError as e:
        e.add_note(f"note for {x}")
        e.add_note("second")
        raise


def test_exception_notes_are_kept(backend):
    check(exception_notes, (1,), backend=backend)
    check(read_notes, (1,), backend=backend)


def read_notes(x):
    try:
        exception_notes(x)
    except ValueError as e:
        return e.__notes__


def except_star(kinds):
    seen = []
    try:
        raise ExceptionGroup("group", [raise_and_catch(k) for k in kinds])
    except* KeyError as g:
        seen.append(("keys", [repr(e) for e in g.exceptions]))
    except* (ValueError, TypeError) as g:
        seen.append(("values", [repr(e) for e in g.exceptions]))
    return seen


def raise_and_catch(kind):
    try:
        raise_kind(kind)
    except BaseException as e:
        return e


def test_except_star_splits_groups(backend):
    check(except_star, (["key", "value"],), (["type"],), (["key", "index"],), (["my"],),
          backend=backend)


def stop_iteration_in_handler(xs):
    it = iter(xs)
    out = []
    while True:
        try:
            out.append(next(it))
        except StopIteration as e:
            return out, e.value, e.args


def test_stop_iteration_caught_in_plain_function(backend):
    check(stop_iteration_in_handler, ([1, 2],), ([],), backend=backend)


def exception_lifetime_after_handler():
    try:
        raise KeyError("x")
    except KeyError as e:
        saved = e
    return saved.__traceback__ is not None, saved.args, sys.exc_info()


def test_saved_exception_keeps_traceback_and_exc_info_clears(backend):
    check(exception_lifetime_after_handler, (), backend=backend)


def raise_in_except_clause_expression(log):
    try:
        raise KeyError("a")
    except note(log, "evaluating clause", KeyError):
        log.append("handled")
    try:
        raise KeyError("b")
    except (note(log, "first", ValueError)):
        log.append("never")
    except note(log, "second", KeyError):
        log.append("handled b")
    return "ok"


def test_except_clause_expressions_evaluated_in_order(backend):
    check(raise_in_except_clause_expression, (LOG,), backend=backend)
