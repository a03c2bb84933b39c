"""The ``@jit`` decorator and the dispatcher behind it.

What ``@jit`` returns is a real Python function, the *trampoline*, generated with
exactly the original's parameter list (names, ``/`` and ``*`` markers, ``*args``,
``**kwargs``) and sharing the original's ``__defaults__`` and ``__kwdefaults__``
objects. Its whole body is one line::

    def f(a, b=?, /, c, *args, k, **kw): return TARGET(STATE, a, b, c, k, args, kw)

with ``TARGET`` and ``STATE`` read from the trampoline's own private globals dict.
Because CPython binds the call to that signature, every argument error is CPython's
own ``TypeError``, word for word, and the callee receives the bound argument
variables in ``co_varnames`` order, which is the calling convention of the compiled
entry (see ``justjit.pipeline.compile_function``)::

    entry(state, *arg_values)   # state = (__globals__, __builtins__, __closure__)

``TARGET`` starts as the dispatcher's compile-on-first-call method. That method
compiles under a lock, then rebinds ``TARGET`` in the private globals, so every
later call goes from the trampoline straight to native code. When compiling is
refused, ``TARGET`` becomes an *interpreter path*: another generated function that
re-creates the equivalent call of the original (positional values, ``*args``,
keyword-only values as keywords, ``**kwargs``).

Everything else (state, locking, warnings, introspection) lives in ``Dispatcher``,
which is off the hot path and reachable as ``jitted.dispatcher``.
"""

from __future__ import annotations

import inspect
import keyword
import sys
import threading
import warnings
from types import CodeType, FunctionType

from justjit import config as _config
from justjit.errors import CompileError, JITWarning

__all__ = ["jit", "Dispatcher"]

_CO_VARARGS = inspect.CO_VARARGS
_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS
_CO_COROUTINE = inspect.CO_COROUTINE

# Compiling is serialized process-wide: the in-process Cython compiler and the
# build directory are shared, and compiles are rare, so one lock costs nothing.
_COMPILE_LOCK = threading.RLock()

# Dispatcher states.
PENDING = "pending"  # not compiled yet: TARGET is the compile-on-first-call method
COMPILING = "compiling"  # compile in progress (re-entrant calls run in the interpreter)
COMPILED = "compiled"  # TARGET is the native entry
FALLBACK = "fallback"  # compile refused, fallback=True: TARGET is the interpreter path
FAILED = "failed"  # compile refused, fallback=False: TARGET raises the CompileError
DISABLED = "disabled"  # JUSTJIT_DISABLE: TARGET is the interpreter path, no compile


def _compile_function(py_func, *, backend: str, use_cache: bool):
    """The one place that reaches the compiler (tests patch the pipeline's function)."""
    from justjit import pipeline

    return pipeline.compile_function(py_func, backend=backend, use_cache=use_cache)


# --------------------------------------------------------------------------- layout


class _ArgLayout:
    """The argument variables of a code object, in ``co_varnames`` order."""

    def __init__(self, code: CodeType) -> None:
        nargs = code.co_argcount
        nkwonly = code.co_kwonlyargcount
        names = code.co_varnames
        self.posonly = names[: code.co_posonlyargcount]
        self.positional = names[:nargs]
        self.kwonly = names[nargs : nargs + nkwonly]
        index = nargs + nkwonly
        self.varargs = None
        self.varkw = None
        if code.co_flags & _CO_VARARGS:
            self.varargs = names[index]
            index += 1
        if code.co_flags & _CO_VARKEYWORDS:
            self.varkw = names[index]
            index += 1
        self.names = names[:index]
        for name in self.names:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise TypeError(f"cannot jit {code.co_qualname}: parameter name {name!r} is not an identifier")

    def parameter_list(self) -> str:
        """The parameter list of a ``def`` with these parameters (no defaults)."""
        parts = list(self.positional)
        if self.posonly:
            parts.insert(len(self.posonly), "/")
        if self.varargs is not None:
            parts.append("*" + self.varargs)
        elif self.kwonly:
            parts.append("*")
        parts.extend(self.kwonly)
        if self.varkw is not None:
            parts.append("**" + self.varkw)
        return ", ".join(parts)


def _fresh_name(base: str, taken) -> str:
    name = base
    while name in taken:
        name += "_"
    return name


def _code_of(source: str, filename: str) -> CodeType:
    module_code = compile(source, filename, "exec", dont_inherit=True)
    return next(c for c in module_code.co_consts if isinstance(c, CodeType))


def _make_trampoline(func: FunctionType, layout: _ArgLayout, target_name: str, state_name: str, namespace: dict):
    """The function ``@jit`` returns: the original's signature, body ``return TARGET(STATE, *args)``."""
    orig = func.__code__
    call_args = ", ".join((state_name,) + layout.names)
    # One line, so a traceback through the trampoline points at the decorator line.
    source = f"def _trampoline({layout.parameter_list()}): return {target_name}({call_args})\n"
    code = _code_of(source, orig.co_filename).replace(
        co_name=orig.co_name,
        co_qualname=orig.co_qualname,
        co_firstlineno=orig.co_firstlineno,
    )
    trampoline = FunctionType(code, namespace, func.__name__)
    trampoline.__defaults__ = func.__defaults__
    trampoline.__kwdefaults__ = func.__kwdefaults__
    trampoline.__qualname__ = func.__qualname__
    trampoline.__module__ = func.__module__
    trampoline.__doc__ = func.__doc__
    trampoline.__annotations__ = func.__annotations__
    trampoline.__dict__.update(func.__dict__)
    trampoline.__wrapped__ = func
    if orig.co_flags & _CO_COROUTINE:
        _mark_coroutine_function(trampoline)
    return trampoline


def _mark_coroutine_function(trampoline) -> None:
    """Make ``inspect``/``asyncio.iscoroutinefunction`` agree with the original, where cheap."""
    mark = getattr(inspect, "markcoroutinefunction", None)  # 3.12+
    if mark is not None:
        mark(trampoline)
    coroutines = sys.modules.get("asyncio.coroutines")
    if coroutines is None:
        import asyncio.coroutines as coroutines
    marker = getattr(coroutines, "_is_coroutine", None)  # asyncio's marker up to 3.13
    if marker is not None:
        trampoline._is_coroutine = marker


def _make_interpreter_path(func: FunctionType, layout: _ArgLayout):
    """A function ``(state, *arg_values) -> func(<the equivalent call>)``.

    Positional parameters go positionally (so positional-only ones are fine),
    then ``*args``, keyword-only ones as keywords, then ``**kwargs``. Placeholders
    ``_0, _1, ...`` name the values, so no user name can collide with ours.
    """
    index = {name: f"_{i}" for i, name in enumerate(layout.names)}
    call = [index[name] for name in layout.positional]
    if layout.varargs is not None:
        call.append("*" + index[layout.varargs])
    call.extend(f"{name}={index[name]}" for name in layout.kwonly)
    if layout.varkw is not None:
        call.append("**" + index[layout.varkw])
    params = ", ".join(["_state"] + [index[name] for name in layout.names])
    source = f"def _interpret({params}):\n    return _func({', '.join(call)})\n"
    code = _code_of(source, f"<justjit interpreter path for {func.__qualname__}>")
    code = code.replace(co_name="_interpret", co_qualname=f"{func.__qualname__}.<interpreter path>")
    return FunctionType(code, {"_func": func}, "_interpret")


# ----------------------------------------------------------------------- dispatcher


class Dispatcher:
    """The state of one jitted function: what is compiled, what was refused, and why.

    ``trampoline`` is the callable the user holds; ``status`` is one of
    ``pending``, ``compiling``, ``compiled``, ``fallback``, ``failed``, ``disabled``.
    """

    def __init__(self, py_func: FunctionType, cfg: _config.JITConfig) -> None:
        self.py_func = py_func
        self.config = cfg
        self.backend = cfg.backend
        self.signatures: list[str] = []
        self.compiled = None  # the pipeline's Compiled, once compiled
        self.error: CompileError | None = None  # why compiling was refused
        self._lock = threading.RLock()

        code = py_func.__code__
        self._layout = _ArgLayout(code)
        self._state = (py_func.__globals__, py_func.__builtins__, py_func.__closure__)
        self._interpret = _make_interpreter_path(py_func, self._layout)
        taken = set(self._layout.names)
        self._target_name = _fresh_name("_justjit_target", taken)
        self._state_name = _fresh_name("_justjit_state", taken | {self._target_name})
        self._namespace = {self._state_name: self._state}
        if cfg.disable:
            self.status = DISABLED
            self._namespace[self._target_name] = self._interpret
        else:
            self.status = PENDING
            self._namespace[self._target_name] = self._first_call
        self.trampoline = _make_trampoline(
            py_func, self._layout, self._target_name, self._state_name, self._namespace
        )
        t = self.trampoline
        t.py_func = py_func
        t.signatures = self.signatures
        t.backend = self.backend
        t.compiled = None
        t.inspect_pyx = self.inspect_pyx
        t.dispatcher = self

    def __repr__(self) -> str:
        return f"<justjit.Dispatcher {self.py_func.__qualname__} backend={self.backend} status={self.status}>"

    @property
    def target(self):
        """What the trampoline calls right now."""
        return self._namespace[self._target_name]

    def _set_target(self, target) -> None:
        self._namespace[self._target_name] = target

    # -- compile on first call -------------------------------------------------------

    def _first_call(self, *state_and_args):
        return self._ensure_target()(*state_and_args)

    def _ensure_target(self):
        """Compile if nothing was tried yet; return what the trampoline calls now."""
        with self._lock:
            if self.status == PENDING:
                self._compile()
            elif self.status == COMPILING:
                # Re-entered on this thread while compiling (the compiler ran us):
                # this one call runs in the interpreter.
                return self._interpret
            return self.target

    def _compile(self) -> None:
        self.status = COMPILING
        try:
            with _COMPILE_LOCK:
                compiled = _compile_function(
                    self.py_func, backend=self.backend, use_cache=self.config.cache
                )
            entry = compiled.entry
            signature = compiled.signature
            compiled.pyx_source  # part of the contract: fail here, not in inspect_pyx()
            if not callable(entry):
                raise TypeError(f"compile_function returned a non-callable entry {entry!r}")
        except CompileError as exc:
            self._refuse(exc, internal=False)
            if not self.config.fallback:
                raise
            return
        except Exception as exc:
            error = self._internal_error(exc)
            self._refuse(error, internal=True)
            if not self.config.fallback:
                raise error from exc
            return
        except BaseException:
            self.status = PENDING  # e.g. KeyboardInterrupt: try again next call
            raise
        self.compiled = compiled
        self.signatures.append(signature)
        self.trampoline.compiled = compiled
        self.status = COMPILED
        self._set_target(entry)

    def _internal_error(self, exc: BaseException) -> CompileError:
        code = self.py_func.__code__
        error = CompileError(
            f"internal error in the JustJIT compiler while compiling "
            f"{self.py_func.__qualname__}: {type(exc).__name__}: {exc}",
            filename=code.co_filename,
            lineno=code.co_firstlineno,
            stage="internal",
        )
        error.__cause__ = exc
        return error

    def _refuse(self, error: CompileError, *, internal: bool) -> None:
        self.error = error
        if not self.config.fallback:
            self.status = FAILED
            self._set_target(self._raise_error)
            return
        self.status = FALLBACK
        self._set_target(self._interpret)
        self._warn_fallback(error, internal=internal)

    def _raise_error(self, *state_and_args):
        raise self.error.with_traceback(None)

    def _warn_fallback(self, error: CompileError, *, internal: bool) -> None:
        code = self.py_func.__code__
        filename = error.filename or code.co_filename
        lineno = error.lineno if error.filename and error.lineno is not None else code.co_firstlineno
        name = self.py_func.__qualname__
        if internal:
            message = (
                f"{error.message} (function defined at {filename}:{lineno}); "
                f"{name} runs in the interpreter. This is a JustJIT bug, please report it."
            )
        else:
            what = f"unsupported construct {error.construct!r}" if error.construct else "this function"
            message = (
                f"cannot compile {name}: {what} at {filename}:{lineno}: {error.message}; "
                f"{name} runs in the interpreter"
            )
            if error.pyx_path:
                message += f" (generated source kept at {error.pyx_path})"
        # Point the warning at the construct, not at the dispatcher's frames.
        warnings.warn_explicit(message, JITWarning, filename, lineno or 0)

    # -- introspection ---------------------------------------------------------------

    def inspect_pyx(self) -> str:
        """The generated Cython source, compiling first if needed."""
        self._ensure_target()
        with self._lock:
            status = self.status
            compiled = self.compiled
            error = self.error
        name = self.py_func.__qualname__
        if status == DISABLED:
            raise RuntimeError(
                f"JustJIT is disabled ({_config.ENV_DISABLE}); {name} runs in the interpreter "
                f"and has no generated source"
            )
        if status in (FALLBACK, FAILED):
            raise CompileError(
                f"{name} was not compiled, it runs in the interpreter: {error.message}",
                construct=error.construct,
                filename=error.filename,
                lineno=error.lineno,
                stage=error.stage,
                pyx_path=error.pyx_path,
            ) from error
        if compiled is None:  # COMPILING on this thread
            raise RuntimeError(f"{name} is being compiled")
        source = compiled.pyx_source
        if not isinstance(source, str):
            raise CompileError(
                f"the {self.backend} backend produced no Cython source for {name}", stage="inspect"
            )
        return source


# ------------------------------------------------------------------------ decorator


def jit(func=None, /, *, backend: str | None = None, fallback: bool | None = None, cache: bool | None = None):
    """Compile a Python function to native code on its first call.

    Usable as ``@jit``, ``@jit()`` or ``@jit(backend=..., fallback=..., cache=...)``.

    - ``backend``: ``"cython"`` or ``"llvm"``; default ``$JUSTJIT_BACKEND``, else ``"cython"``.
    - ``fallback`` (default True): when compiling is refused, warn once
      (``JITWarning``) and run the function in the interpreter. With False, calls raise
      the ``CompileError``.
    - ``cache`` (default True): use the on-disk cache of compiled artifacts.

    ``JUSTJIT_DISABLE=1`` runs every jitted function in the interpreter.
    """
    cfg = _config.resolve(backend=backend, fallback=fallback, cache=cache)

    def decorate(f):
        return _jit_with_config(f, cfg)

    if func is None:
        return decorate
    return decorate(func)


def _jit_with_config(func, cfg: _config.JITConfig):
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(_jit_with_config(func.__func__, cfg))
    owner = getattr(func, "dispatcher", None)
    if isinstance(owner, Dispatcher) and owner.trampoline is func:
        func = owner.py_func  # re-jit the original, not the trampoline
    if not isinstance(func, FunctionType):
        hint = ""
        if inspect.ismethod(func):
            hint = " (decorate the function in the class body, or jit its __func__)"
        raise TypeError(f"jit() expects a Python function, not {type(func).__name__} {func!r}{hint}")
    return Dispatcher(func, cfg).trampoline
