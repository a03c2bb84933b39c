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

``TARGET`` starts as the dispatcher's *pending path*, which counts calls per
argument-type signature and decides when to compile:

- default (``hot=0``, ``background=False``): the first call compiles, under a lock,
  then runs the compiled code;
- ``hot=N``: the first N calls of each signature run in the interpreter; call N+1
  of a signature makes it hot and compiles;
- ``background=True``: the hot call starts the compile in a thread and runs in the
  interpreter, as do all calls until the build is ready; the first call that finds
  it ready installs it. ``jitted.wait()`` blocks until it is.

With ``tiered`` (the default; the Cython backend at ``opt_level`` >= 2), a function
that has to be built is first built at -Og, about half of gcc's time at -O2, and
installed; a background thread then compiles the same C at ``opt_level``, puts that
module in the cache and swaps it in (``_swap``: the trampoline's target, the chain of
specializations, the call counters; see ``Dispatcher._upgrade``). The two modules come
from one .pyx, so they behave alike; ``wait()`` also waits for the swap.

Installing compiled code rebinds ``TARGET`` to the native entry, so every later
call goes from the trampoline straight to native code, with no Python-level
bookkeeping: the compiled module counts its calls itself, one C increment per call
(see ``JITStats``), and the dispatcher reads its counters when ``stats`` are read.
When compiling is refused, ``TARGET`` becomes an *interpreter path*: another
generated function that re-creates the equivalent call of the original (positional
values, ``*args``, keyword-only values as keywords, ``**kwargs``); calls on it are
not counted. Today the compiler produces one generic specialization, so
the first hot signature compiles code that serves every signature.

Everything else (state, locking, warnings, statistics, introspection) lives in
``Dispatcher``, which is off the hot path and reachable as ``jitted.dispatcher``.
``justjit.autojit`` reuses ``Dispatcher`` with a different place for ``TARGET``
(see ``Holder``).
"""

from __future__ import annotations

import inspect
import keyword
import os
import re
import sys
import threading
import time
import warnings
import weakref
from types import CodeType, FunctionType

from justjit import config as _config
from justjit.errors import CompileError, JITWarning

__all__ = ["jit", "Dispatcher", "JITStats", "SignatureStats", "FallbackRecord", "wait_all"]

_CO_VARARGS = inspect.CO_VARARGS
_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS
_CO_COROUTINE = inspect.CO_COROUTINE

# Compiling is serialized process-wide: the in-process Cython compiler and the
# build directory are shared, and compiles are rare, so one lock costs nothing.
_COMPILE_LOCK = threading.RLock()

# Dispatcher states.
PENDING = "pending"  # not compiled yet: TARGET is the pending path (counts, decides)
COMPILING = "compiling"  # compile in progress (in this thread or in the background)
COMPILED = "compiled"  # TARGET is the native entry
FALLBACK = "fallback"  # compile refused, fallback=True: TARGET is the interpreter path
FAILED = "failed"  # compile refused, fallback=False: TARGET raises the CompileError
DISABLED = "disabled"  # disabled by configuration: TARGET is the interpreter path

# Arguments of pipeline.compile_function beyond (py_func, backend, use_cache) that the
# dispatcher passes when the pipeline accepts them.
_OPTIONAL_COMPILE_ARGS = ("opt_level", "dump_dir", "metadata", "arg_types", "tiered")


def _compile_function(py_func, *, backend: str, use_cache: bool, **optional):
    """The one place that reaches the compiler (tests patch the pipeline's function).

    ``optional`` (``opt_level``, ``dump_dir``, ``metadata``, ``arg_types``, ``tiered``) is
    passed on only where ``compile_function`` declares the parameter (or ``**kwargs``).
    """
    from justjit import pipeline

    compile_function = pipeline.compile_function
    try:
        params = inspect.signature(compile_function).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in optional.items() if v is not None and (takes_any or k in params)}
    return compile_function(py_func, backend=backend, use_cache=use_cache, **extra)


class _LazyLogger:
    """``logging.getLogger("justjit")`` on first use (``import logging`` costs ~3 ms, and
    a program whose functions all come from the cache never logs anything). Until some
    code imports ``logging``, nothing can have configured it, and the ``NullHandler`` of
    ``justjit.logs`` would drop every record: so they are dropped here, unformatted."""

    def __getattr__(self, name):
        if "logging" not in sys.modules:
            return _drop
        from justjit.logs import logger as real

        globals()["logger"] = real
        return getattr(real, name)


def _drop(*args, **kwargs) -> None:
    return None


logger = _LazyLogger()


# The backends' counters (module, fields counted as hits, fields counted as builds), to
# tell a cache hit from a build: Cython's build step, and LLVM's object code.
_BUILD_COUNTERS = (
    ("justjit.backends.cython_build", ("memory_hits", "disk_hits"), ("cython_runs", "cc_runs")),
    ("justjit.backends.llvm", ("memory_hits", "disk_hits"), ("compiles",)),
)


def _build_counters():
    """``(hits, builds)`` summed over the backends loaded so far, or None if none is."""
    hits = builds = 0
    seen = False
    for module, hit_fields, build_fields in _BUILD_COUNTERS:
        stats = getattr(sys.modules.get(module), "stats", None)
        if stats is None:
            continue
        seen = True
        hits += sum(getattr(stats, name, 0) for name in hit_fields)
        builds += sum(getattr(stats, name, 0) for name in build_fields)
    return (hits, builds) if seen else None


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


def _make_interpreter_path(func: FunctionType, layout: _ArgLayout, state_per_call: bool = False):
    """A function ``(state, *arg_values) -> func(<the equivalent call>)``.

    Positional parameters go positionally (so positional-only ones are fine),
    then ``*args``, keyword-only ones as keywords, then ``**kwargs``. Placeholders
    ``_0, _1, ...`` name the values, so no user name can collide with ours.
    With ``state_per_call`` (``justjit.autojit``'s closures, whose calls each bring
    their own closure) the callee is a function of ``func``'s code made for the call
    from ``state``: its globals and its closure.
    """
    index = {name: f"_{i}" for i, name in enumerate(layout.names)}
    call = [index[name] for name in layout.positional]
    if layout.varargs is not None:
        call.append("*" + index[layout.varargs])
    call.extend(f"{name}={index[name]}" for name in layout.kwonly)
    if layout.varkw is not None:
        call.append("**" + index[layout.varkw])
    params = ", ".join(["_state"] + [index[name] for name in layout.names])
    callee, namespace = "_func", {"_func": func}
    if state_per_call:
        callee = "_function(_code, _state[0], _name, None, _state[2])"
        namespace = {"_function": FunctionType, "_code": func.__code__, "_name": func.__name__}
    source = f"def _interpret({params}):\n    return {callee}({', '.join(call)})\n"
    code = _code_of(source, f"<justjit interpreter path for {func.__qualname__}>")
    code = code.replace(co_name="_interpret", co_qualname=f"{func.__qualname__}.<interpreter path>")
    return FunctionType(code, namespace, "_interpret")


# ---------------------------------------------------------------------------- stats


def _type_name(t: type) -> str:
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", repr(t))
    return name if module in (None, "builtins") else f"{module}.{name}"


def signature_text(types: tuple) -> str:
    """``(int, list)`` for a tuple of argument types."""
    return "(" + ", ".join(_type_name(t) for t in types) + ")"


class SignatureStats:
    """The calls of one tuple of argument types.

    - ``interpreted``: calls the dispatcher ran in the interpreter (before the function
      was compiled, while it compiled, or hot-counting); calls of the interpreter path
      after a fallback are not counted.
    - ``compiled_calls``: calls served by the typed specialization made for this
      signature, counted by the compiled module itself (see ``JITStats``). Calls served
      by generic compiled code are counted per function, in ``JITStats.generic_calls``:
      generic code does not look at the argument types, so it cannot tell signatures apart.
    - ``forwarded``: calls the dispatcher handed to something that counts none: compiled
      code of a backend without call counters, or the CompileError of a refused function.
    - ``calls``: the sum of the three. ``compiled``: compiled code serves this signature.
    """

    __slots__ = ("types", "seen", "interpreted", "compiled_calls", "forwarded", "compiled")

    def __init__(self, types: tuple) -> None:
        self.types = types
        self.seen = 0  # calls that went through the dispatcher's Python path (hot counting)
        self.interpreted = 0
        self.compiled_calls = 0  # read from the compiled modules' counters (JITStats._refresh)
        self.forwarded = 0
        self.compiled = False

    @property
    def calls(self) -> int:
        return self.interpreted + self.compiled_calls + self.forwarded

    @property
    def text(self) -> str:
        return signature_text(self.types)

    def __repr__(self) -> str:
        return (f"SignatureStats({self.text}, calls={self.calls}, interpreted={self.interpreted}, "
                f"compiled_calls={self.compiled_calls}, compiled={self.compiled})")


class FallbackRecord:
    """Why a function (or one signature) runs in the interpreter."""

    __slots__ = ("reason", "stage", "location", "construct", "pyx_path", "internal", "signature")

    def __init__(self, reason: str, stage: str | None = None, location: str | None = None,
                 construct: str | None = None, pyx_path: str | None = None, internal: bool = False,
                 signature: str | None = None) -> None:
        self.reason = reason
        self.stage = stage
        self.location = location
        self.construct = construct
        self.pyx_path = pyx_path
        self.internal = internal
        self.signature = signature

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"FallbackRecord({self.as_dict()!r})"


class JITStats:
    """Live statistics of one jitted function: ``jitted.stats``.

    - ``status``: ``pending``, ``compiling``, ``compiled``, ``fallback``, ``failed``
      or ``disabled``; ``compiled``: whether compiled code is installed.
    - ``signatures``: ``{argument types: SignatureStats}``, the calls counted per
      signature: interpreted, and served by that signature's typed specialization.
    - ``generic_calls``: calls served by generic compiled code, whatever their signature.
    - ``calls`` / ``interpreted_calls`` / ``compiled_calls``: totals (``compiled_calls``
      is the typed calls of every signature plus ``generic_calls``).
    - ``compiles``, ``compile_seconds``: compilations finished and their wall time.
    - ``cache_hits`` / ``cache_misses``: compilations served by the cache or built
      (compilations whose outcome the backend does not report count in neither).
    - ``upgrades``: quick first tiers (``tiered``) swapped for their opt_level build; the
      first tier is not a compilation of its own (``compiles`` counts it once).
    - ``fallbacks``: ``FallbackRecord``s, the reasons for running in the interpreter.

    ``compiled_calls_counted`` is True: a compiled module (both backends) counts the
    calls of its code in two C counters, one increment per call with no lock (the GIL
    orders them): calls served by its typed code and by its generic code. A call that
    fails a specialization's entry guards is counted where it is served: by the next
    specialization in the chain, or by the generic code. The counters are read here,
    when the statistics are read. Not counted: direct self-calls inside one module
    (``__jj_direct``: recursion internal to compiled code), calls of the interpreter
    path after a fallback, and the calls of compiled code a backend without counters
    made (the dispatcher counts those it routed there, in ``forwarded``). One limit: a
    module is loaded once per process, so two jitted objects made from the same code
    share its counters; each counts from the moment its module was installed, so calls
    of the other one after that are counted by both. Reading ``status`` installs a
    finished background build, as a call would.
    """

    compiled_calls_counted = True

    def __init__(self, dispatcher: "Dispatcher") -> None:
        self._dispatcher = dispatcher
        self._signatures: dict[tuple, SignatureStats] = {}
        self._generic = 0
        self.compiles = 0
        self.compile_seconds = 0.0
        self.cache_hits = 0
        self.cache_misses = 0
        self.upgrades = 0  # quick first tiers swapped for their opt_level build
        self.fallbacks: list[FallbackRecord] = []

    def _record(self, types: tuple) -> SignatureStats:
        record = self._signatures.get(types)
        if record is None:
            record = self._signatures[types] = SignatureStats(types)
        return record

    def _refresh(self) -> None:
        """Read the installed modules' call counters into the signatures' ``compiled_calls``
        and ``generic_calls`` (each counter less its value when its module was installed)."""
        typed: dict = {}
        generic = 0
        for types, read, (typed0, generic0) in list(self._dispatcher._counters):
            n_typed, n_generic = read()
            if types is None:
                generic += n_typed - typed0
            else:
                typed[types] = typed.get(types, 0) + n_typed - typed0
            generic += n_generic - generic0
        for types in typed:
            self._record(types)
        for types, record in list(self._signatures.items()):
            record.compiled_calls = typed.get(types, 0)
        self._generic = generic

    @property
    def signatures(self) -> dict:
        self._refresh()
        return self._signatures

    @property
    def generic_calls(self) -> int:
        self._refresh()
        return self._generic

    @property
    def compiled_calls(self) -> int:
        records = list(self.signatures.values())
        return sum(r.compiled_calls for r in records) + self._generic

    @property
    def status(self) -> str:
        self._dispatcher.poll()
        return self._dispatcher.status

    @property
    def compiled(self) -> bool:
        return self.status == COMPILED

    @property
    def calls(self) -> int:
        records = list(self.signatures.values())
        return sum(r.calls for r in records) + self._generic

    @property
    def interpreted_calls(self) -> int:
        return sum(r.interpreted for r in list(self._signatures.values()))

    def as_dict(self) -> dict:
        return {
            "function": self._dispatcher.name,
            "status": self.status,
            "compiled": self.compiled,
            "signatures": {
                r.text: {"calls": r.calls, "interpreted": r.interpreted,
                         "compiled_calls": r.compiled_calls, "compiled": r.compiled}
                for r in list(self.signatures.values())
            },
            "calls": self.calls,
            "interpreted_calls": self.interpreted_calls,
            "compiled_calls": self.compiled_calls,
            "generic_calls": self._generic,
            "compiled_calls_counted": self.compiled_calls_counted,
            "compiles": self.compiles,
            "compile_seconds": self.compile_seconds,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "upgrades": self.upgrades,
            "fallbacks": [r.as_dict() for r in self.fallbacks],
        }

    def __str__(self) -> str:
        d = self.as_dict()
        lines = [
            f"{d['function']}: {d['status']}, {d['calls']} calls "
            f"({d['interpreted_calls']} interpreted, {d['compiled_calls']} compiled, "
            f"{d['generic_calls']} of them by generic code)",
            f"  compiles: {d['compiles']} in {d['compile_seconds']:.3f} s, "
            f"cache hits: {d['cache_hits']}, misses: {d['cache_misses']}",
        ]
        for text, sig in d["signatures"].items():
            lines.append(
                f"  {text}: {sig['calls']} calls, {sig['interpreted']} interpreted, "
                f"{sig['compiled_calls']} typed compiled, "
                f"compiled: {'yes' if sig['compiled'] else 'no'}"
            )
        for record in self.fallbacks:
            where = f" at {record.location}" if record.location else ""
            stage = f" [{record.stage}]" if record.stage else ""
            lines.append(f"  fallback{stage}{where}: {record.reason}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<JITStats {self._dispatcher.name} status={self._dispatcher.status} calls={self.calls}>"


# ----------------------------------------------------------------------- dispatcher


# What the end of the chain of specializations returns to let the generic code run a call.
_CONTINUE = object()


def _profile(values, attributes: tuple) -> tuple:
    """The lattice types to specialize for, from the argument values (see
    analyses.types.profile_type: an int past int64 is an object, a list of floats a
    list[float], an instance of a user class its class and the types of its `attributes`
    among the function's names); their names are the specialization's key
    (Compiled.arg_types)."""
    from justjit.analyses.types import profile_type

    return tuple([profile_type(value, attributes) for value in values])


def _lazy_profile(values, attributes: tuple):
    """`_profile` made when first iterated; its names (the cache key) at once."""
    from justjit.fingerprint import ValueProfile

    return ValueProfile(values, attributes)


class _Outcome:
    """What one compilation produced."""

    __slots__ = ("compiled", "error", "internal", "interrupted", "seconds", "cache_hit", "types")

    def __init__(self, compiled=None, error: CompileError | None = None, internal: bool = False,
                 interrupted: BaseException | None = None, seconds: float = 0.0,
                 cache_hit: bool | None = None, types: tuple | None = None) -> None:
        self.compiled = compiled
        self.error = error
        self.internal = internal
        self.interrupted = interrupted  # KeyboardInterrupt & co. in a background build
        self.seconds = seconds
        self.cache_hit = cache_hit
        self.types = types


_ALL_DISPATCHERS: "set[Dispatcher]" = set()  # those with a background build (for wait_all)
_ALL_LOCK = threading.Lock()
_LIVE: "weakref.WeakSet[Dispatcher]" = weakref.WeakSet()  # for the fork handler


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: free their locks and builds.

    Without this, a child forked while another thread compiled (multiprocessing's
    default start method on Linux) would wait forever on a lock held by a thread
    that does not exist in it, or on a background build that will never finish.
    """
    global _COMPILE_LOCK, _ALL_LOCK
    _COMPILE_LOCK = threading.RLock()
    _ALL_LOCK = threading.Lock()
    _ALL_DISPATCHERS.clear()
    for dispatcher in list(_LIVE):
        dispatcher._lock = threading.RLock()
        dispatcher._upgrades.clear()  # (their threads are not in the child: quick code stays)
        if dispatcher.status == COMPILING:
            dispatcher.status = PENDING
            dispatcher._thread = None
            dispatcher._outcome = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Dispatcher:
    """The state of one jitted function: what is compiled, what was refused, and why.

    ``trampoline`` is the callable the user holds (``None`` when ``holder`` is given:
    then ``TARGET`` and ``STATE`` live in ``holder.t`` and ``holder.s``, see
    ``justjit.autojit``); ``status`` is one of ``pending``, ``compiling``,
    ``compiled``, ``fallback``, ``failed``, ``disabled``; ``stats`` the live
    ``JITStats``.

    ``warn`` (default True) issues the fallback ``JITWarning``; ``listener``, if
    given, is called as ``listener(dispatcher)`` (under the dispatcher's lock) each
    time a compilation's outcome is installed. ``state_per_call``: each call's state
    carries its own globals and closure, which the interpreter path then uses
    (``justjit.autojit``'s closures: one dispatcher serves every closure of a code).
    """

    def __init__(self, py_func: FunctionType, cfg: _config.JITConfig, *, holder=None,
                 warn: bool = True, listener=None, state_per_call: bool = False) -> None:
        self.py_func = py_func
        self.config = cfg
        self.backend = cfg.backend
        self.name = f"{py_func.__module__}.{py_func.__qualname__}"
        self.signatures: list[str] = []
        self.compiled = None  # the pipeline's Compiled, once compiled
        self.error: CompileError | None = None  # why compiling was refused
        self.stats = JITStats(self)
        self._lock = threading.RLock()
        self._warn = warn
        self._listener = listener
        self._thread: threading.Thread | None = None  # the background build, if any
        self._outcome: _Outcome | None = None  # a finished background build, not installed yet
        # Typed specializations (see _chain): their argument type keys, the chain's modules
        # (entry and link; the last is the head), keys known to get no typed code.
        self._spec_keys: set = set()
        self._links: list = []  # [(entry, its module's __jj_chain)], oldest first
        self._specs_closed = False
        self._generic_keys: set = set()
        self._compiling_spec = False
        self._spec_thread: threading.Thread | None = None  # a later signature's build
        self._spec_outcome = None  # (key, _Outcome) of a finished one, not installed yet
        # The installed modules' call counters: (signature types or None, read, baseline).
        self._counters: list = []
        self._counts_calls = False  # the installed code counts its calls itself
        self._upgrades: set = set()  # threads building the opt_level tier of a quick module
        _LIVE.add(self)

        code = py_func.__code__
        self._layout = _ArgLayout(code)
        self._state = (py_func.__globals__, py_func.__builtins__, py_func.__closure__)
        self._interpret = _make_interpreter_path(py_func, self._layout, state_per_call)
        self.status = DISABLED if cfg.disable else PENDING
        initial = self._interpret if cfg.disable else self._pending_call
        if holder is not None:
            holder.s = self._state
            self._slot_get = lambda: holder.t
            self._slot_set = lambda target: setattr(holder, "t", target)
            self._slot_set(initial)
            self.trampoline = None
            return
        taken = set(self._layout.names)
        target_name = _fresh_name("_justjit_target", taken)
        state_name = _fresh_name("_justjit_state", taken | {target_name})
        namespace = {state_name: self._state, target_name: initial}
        # While compiled code runs, the trampoline's frame is the current one: C code that
        # reads the current globals finds these (PyImport_Import needs __builtins__, and a
        # warning from C code is attributed to the module named by __name__).
        namespace["__builtins__"] = py_func.__builtins__
        if "__name__" in py_func.__globals__:
            namespace["__name__"] = py_func.__globals__["__name__"]
        self._slot_get = lambda: namespace[target_name]
        self._slot_set = lambda target: namespace.__setitem__(target_name, target)
        self.trampoline = _make_trampoline(py_func, self._layout, target_name, state_name, namespace)
        t = self.trampoline
        t.py_func = py_func
        t.signatures = self.signatures
        t.backend = self.backend
        t.compiled = None
        t.inspect_pyx = self.inspect_pyx
        t.inspect_llvm = self.inspect_llvm
        t.wait = self.wait
        t.stats = self.stats
        t.dispatcher = self

    def __repr__(self) -> str:
        return f"<justjit.Dispatcher {self.py_func.__qualname__} backend={self.backend} status={self.status}>"

    @property
    def target(self):
        """What the trampoline calls right now."""
        return self._slot_get()

    def _set_target(self, target) -> None:
        self._slot_set(target)

    # -- the pending path: count, decide, compile ------------------------------------

    def _pending_call(self, *state_and_args):
        types = tuple([type(value) for value in state_and_args[1:]])
        return self._route(types, state_and_args[1:])(*state_and_args)

    def _route(self, types: tuple, args: tuple = ()):
        """Count one call of signature ``types``; return what should run it."""
        with self._lock:
            if self._outcome is not None:
                self._install(self._outcome)
            record = self.stats._record(types)
            record.seen += 1
            if self.status == PENDING and record.seen > self.config.hot:
                logger.debug("%s%s is hot after %d calls", self.name, record.text, record.seen - 1)
                names = self.py_func.__code__.co_names
                if self.config.background:
                    self._start_background(types, _profile(args, names))
                else:
                    # (a lazy profile: a warm cache hit does not import the type lattice;
                    # this raises the CompileError if fallback=False)
                    self._compile_now(types, _lazy_profile(args, names))
            status = self.status
            if status == COMPILED:
                record.compiled = True
                if not self._counts_calls:
                    record.forwarded += 1
                return self.target
            if status == FAILED:
                record.forwarded += 1
                return self._raise_error
            # pending, compiling (background, or re-entered from the compiler), fallback
            record.interpreted += 1
            return self._interpret

    def _compile_now(self, types: tuple | None, arg_types: tuple | None = None) -> None:
        self.status = COMPILING
        try:
            outcome = self._run_compiler(types, arg_types)
        except BaseException:
            self.status = PENDING  # e.g. KeyboardInterrupt: try again next call
            raise
        self._install(outcome)
        if outcome.error is not None and not self.config.fallback:
            raise outcome.error

    def _start_background(self, types: tuple, arg_types: tuple | None = None) -> None:
        self.status = COMPILING
        thread = threading.Thread(
            target=self._background, args=(types, arg_types), name=f"justjit compile {self.name}", daemon=True
        )
        self._thread = thread
        with _ALL_LOCK:
            _ALL_DISPATCHERS.add(self)
        try:
            thread.start()
        except RuntimeError:  # e.g. "can't create new thread at interpreter shutdown"
            self._thread = None
            self.status = PENDING
            with _ALL_LOCK:
                _ALL_DISPATCHERS.discard(self)

    def _background(self, types: tuple, arg_types: tuple | None = None) -> None:
        try:
            outcome = self._run_compiler(types, arg_types)
        except BaseException as exc:  # noqa: BLE001 - reported to the thread that installs it
            outcome = _Outcome(interrupted=exc, types=types)
        self._outcome = outcome  # the next call (or wait()) installs it

    def _run_compiler(self, types: tuple | None, arg_types: tuple | None = None) -> _Outcome:
        """Compile ``py_func`` specialized for ``arg_types`` (default: ``types``, the
        classes of the call's arguments); CompileErrors and internal errors become the
        outcome."""
        sig = signature_text(types) if types is not None else None
        code = self.py_func.__code__
        metadata = {
            "function": self.name,
            "file": code.co_filename,
            "line": code.co_firstlineno,
            "backend": self.backend,
            "types": sig,
        }
        logger.debug("compiling %s%s backend=%s", self.name, sig or "", self.backend)
        start = time.perf_counter()
        try:
            from justjit.cache import compiling_into

            with _COMPILE_LOCK, compiling_into(self.config.cache_dir):
                start = time.perf_counter()
                before = _build_counters()
                try:
                    compiled = _compile_function(
                        self.py_func,
                        backend=self.backend,
                        use_cache=self.config.cache,
                        opt_level=self.config.opt_level,
                        dump_dir=self.config.dump_dir,
                        metadata=metadata,
                        tiered=self.config.tiered,
                        arg_types=arg_types if arg_types is not None else types,
                    )
                finally:
                    seconds = time.perf_counter() - start
                    after = _build_counters()
            entry = compiled.entry
            compiled.signature  # part of the contract: fail here, not later
            compiled.pyx_source
            if not callable(entry):
                raise TypeError(f"compile_function returned a non-callable entry {entry!r}")
        except CompileError as exc:
            return _Outcome(error=exc, seconds=time.perf_counter() - start, types=types)
        except Exception as exc:
            return _Outcome(error=self._internal_error(exc), internal=True,
                            seconds=time.perf_counter() - start, types=types)
        hit = getattr(compiled, "cache_hit", None)
        if hit is None and after is not None:
            hits0, builds0 = before or (0, 0)
            hits1, builds1 = after
            if builds1 > builds0:
                hit = False
            elif hits1 > hits0:
                hit = True
        return _Outcome(compiled=compiled, seconds=seconds, cache_hit=hit, types=types)

    def _install(self, outcome: _Outcome) -> None:
        """Make ``outcome`` (of a compilation) what the trampoline calls. Under the lock."""
        self._outcome = None
        self._thread = None
        with _ALL_LOCK:
            _ALL_DISPATCHERS.discard(self)
        if outcome.interrupted is not None:
            self.status = PENDING  # the background build was interrupted: retry when hot
            logger.info("compiling %s was interrupted (%s); will retry",
                        self.name, type(outcome.interrupted).__name__)
            return
        stats = self.stats
        cache = self._account(outcome)
        sig = signature_text(outcome.types) if outcome.types is not None else ""
        if outcome.error is not None:
            self._refuse(outcome.error, internal=outcome.internal, signature=sig or None)
        else:
            compiled = outcome.compiled
            self.compiled = compiled
            self.signatures.append(compiled.signature)
            if self.trampoline is not None:
                self.trampoline.compiled = compiled
            self.status = COMPILED
            for record in stats._signatures.values():
                record.compiled = True  # compiled code (typed or generic) serves them all
            types = outcome.types if getattr(compiled, "typed", False) else None
            self._counts_calls = self._count(compiled, types)
            self._chain(compiled)
            self._set_target(compiled.entry)
            quick = getattr(compiled, "upgrade", None) is not None  # (tests' stand-ins: none)
            if quick:
                self._start_upgrade(compiled, types)
            logger.info("compiled %s%s backend=%s opt=%s in %.3f s, %s", self.name, sig,
                        self.backend, "g (until the upgrade)" if quick else
                        self.config.opt_level, outcome.seconds, cache)
        if self._listener is not None:
            self._listener(self)

    def _count(self, compiled, types: tuple | None) -> bool:
        """Read the call counters of ``compiled``'s module from now on (``types``: of its typed
        code; None: generic); whether it has them."""
        read = getattr(getattr(compiled, "handle", None), "__jj_counts", None)
        if read is not None:
            self._counters.append((types, read, read()))
        return read is not None

    # -- the second tier: swap a quick module for its opt_level build ----------------

    def _start_upgrade(self, compiled, types: tuple | None) -> None:
        # Not a daemon: at exit the interpreter waits for it, so that the opt_level module
        # is in the cache for the next process (the exit then takes what the build had left).
        thread = threading.Thread(target=self._upgrade, args=(compiled, types),
                                  name=f"justjit upgrade {self.name}")
        self._upgrades.add(thread)
        with _ALL_LOCK:
            _ALL_DISPATCHERS.add(self)
        try:
            thread.start()
        except RuntimeError:  # e.g. at interpreter shutdown: the quick module stays
            self._upgrades.discard(thread)

    def _upgrade(self, quick, types: tuple | None) -> None:
        """The upgrade thread: build ``quick``'s opt_level module (outside the compile lock:
        it runs gcc only, and the next function's compile need not wait for it) and swap it
        in. A failure leaves the quick module in place."""
        start = time.perf_counter()
        try:
            better = quick.upgrade()
        except BaseException as exc:  # noqa: BLE001 - a CompileError, an interrupt: keep quick
            better = None
            logger.info("no -O%d tier for %s (it keeps its quick module): %s",
                        self.config.opt_level, self.name, exc)
        with self._lock:
            if better is not None:
                self._swap(quick, better, types)
                # (DEBUG: one INFO line per compilation, and this is the same compilation's end)
                logger.debug("upgraded %s to -O%d in %.3f s", self.name, self.config.opt_level,
                            time.perf_counter() - start)
            self._upgrades.discard(threading.current_thread())

    def _swap(self, quick, better, types: tuple | None) -> None:
        """Put ``better`` wherever ``quick`` is: its place in the chain, the trampoline's
        target, ``compiled``. ``signatures`` and the statistics stay (the calls ``quick``
        counted stay counted). Under the lock."""
        self._count(better, types)
        for i, (entry, _link) in enumerate(self._links):
            # (the same .pyx: it has the chain's link too; a string, as `__jj_chain` would be
            # name-mangled in a class body)
            if entry is quick.entry:
                self._links[i] = (better.entry, getattr(better.handle, "__jj_chain"))
                self._relink()
                break
        if self.target is quick.entry:
            self._set_target(better.entry)
        if self.compiled is quick:
            self.compiled = better
            if self.trampoline is not None:
                self.trampoline.compiled = better
        self.stats.upgrades += 1

    def _account(self, outcome: _Outcome) -> str:
        """Count a finished compilation in ``stats`` (installed or not); its cache outcome as
        the log line says it."""
        stats = self.stats
        stats.compiles += 1
        stats.compile_seconds += outcome.seconds
        if outcome.error is None:
            if outcome.cache_hit is True:
                stats.cache_hits += 1
            elif outcome.cache_hit is False:
                stats.cache_misses += 1
        return {True: "cache hit", False: "cache miss", None: "cache unknown"}[outcome.cache_hit]

    # -- typed specializations: a chain of compiled entries ---------------------------

    def _chain(self, compiled) -> None:
        """Put a newly compiled specialization at the head of the chain. Its entry guards
        send arguments of other types to the previous head, and the last one sends them to
        `_miss` (a new signature) while more specializations may be made; otherwise they
        run the generic code of the module they reached. Under the lock."""
        if not getattr(compiled, "typed", False):
            self._specs_closed = True  # generic code: nothing to specialize
            return
        link = getattr(compiled.handle, "__jj_chain", None)
        self._spec_keys.add(tuple(getattr(compiled, "arg_types", ())))
        if link is None:  # a backend without the chain: the first specialization only
            self._specs_closed = True
            return
        self._links.append((compiled.entry, link))
        if len(self._spec_keys) >= self.config.max_signatures:
            self._specs_closed = True
        self._relink()

    def _relink(self) -> None:
        """Link each module of the chain to the one before it; the oldest to `_miss` while
        more specializations may be made, else to its own generic code. Under the lock."""
        for i, (_entry, link) in enumerate(self._links):
            link(self._links[i - 1][0] if i else None if self._specs_closed else self._miss,
                 _CONTINUE)

    def _miss(self, state, *args):
        """Arguments no specialization's guards accepted (the end of the chain): count the
        signature and, once it is hot, compile a specialization for it and run it there.
        Returns _CONTINUE to let the generic code of the caller's module run them."""
        types = tuple([type(value) for value in args])
        with self._lock:
            record = self.stats._record(types)
            record.seen += 1  # (counted where it is served: generic code or a new specialization)
            record.compiled = True
            if self._outcome is not None:
                self._install(self._outcome)
            self._install_specialization()
            profile = _profile(args, self.py_func.__code__.co_names)
            key = tuple([str(t) for t in profile])
            if (self._specs_closed or key in self._generic_keys or key in self._spec_keys
                    or self._compiling_spec or record.seen <= self.config.hot):
                return _CONTINUE
            self._compiling_spec = True
            if self.config.background:
                # As for the first signature: this call and the next ones run the generic
                # code until the build is ready (installed by the next miss, poll or wait).
                thread = threading.Thread(target=self._build_specialization,
                                          args=(key, types, profile), daemon=True,
                                          name=f"justjit compile {self.name}")
                self._spec_thread = thread
                thread.start()
                return _CONTINUE
            try:  # (here a KeyboardInterrupt in the compiler reaches the caller)
                outcome = self._run_compiler(types, profile)
            finally:
                self._compiling_spec = False
            self._spec_outcome = (key, outcome)
            entry = self._install_specialization()
        return _CONTINUE if entry is None else entry(state, *args)

    def _build_specialization(self, key: tuple, types: tuple, arg_types: tuple) -> None:
        """The background build of a later signature's specialization."""
        try:
            outcome = self._run_compiler(types, arg_types)
        except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt in the thread
            outcome = _Outcome(interrupted=exc, types=types)
        self._spec_outcome = (key, outcome)

    def _install_specialization(self):
        """Install a finished specialization build (under the lock); its entry, or None when
        there is none or it gave no typed code (then that signature stays generic)."""
        finished, self._spec_outcome = self._spec_outcome, None
        if finished is None:
            return None
        self._compiling_spec = False
        self._spec_thread = None
        key, outcome = finished
        if outcome.interrupted is not None:
            return None  # retried at the next miss of that signature
        if outcome.error is not None or not outcome.compiled.typed:
            # A compilation all the same: counted, and logged on one line.
            self._generic_keys.add(key)
            cache = self._account(outcome)
            if outcome.error is not None:
                logger.info("no specialization of %s%s (%.3f s): %s", self.name,
                            signature_text(outcome.types), outcome.seconds, outcome.error)
            else:
                logger.info("compiled %s%s backend=%s opt=%d in %.3f s, %s; no typed code for "
                            "it, the generic code serves it", self.name,
                            signature_text(outcome.types), self.backend, self.config.opt_level,
                            outcome.seconds, cache)
            return None
        self._install(outcome)
        return outcome.compiled.entry

    def poll(self) -> None:
        """Install a finished background build, if there is one."""
        if self._outcome is not None or self._spec_outcome is not None:
            with self._lock:
                if self._outcome is not None:
                    self._install(self._outcome)
                self._install_specialization()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a pending background compilation has finished, and install it; and
        until the opt_level build of a quick first tier is swapped in (``tiered``).

        Returns False if ``timeout`` (seconds) ran out first, else True. Does not
        raise the CompileError of a refused function (calls do, with fallback=False).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._thread, self._spec_thread):
            if thread is not None:
                thread.join(timeout)
                if thread.is_alive():
                    return False
        self.poll()
        # Then the upgrades (those the install above started too).
        for thread in list(self._upgrades):
            if thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    return False
        return True

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

    def _refuse(self, error: CompileError, *, internal: bool, signature: str | None = None) -> None:
        if not internal:
            _locate(error, self.py_func)
        self.error = error
        self.stats.fallbacks.append(
            FallbackRecord(
                reason=str(error.message),
                stage=error.stage,
                location=error.location,
                construct=error.construct,
                pyx_path=error.pyx_path,
                internal=internal,
                signature=signature,
            )
        )
        logger.info("%s runs in the interpreter: %s", self.name, error)
        if not self.config.fallback:
            self.status = FAILED
            self._set_target(self._raise_error)
            return
        self.status = FALLBACK
        self._set_target(self._interpret)
        if self._warn:
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
            if error.stage:
                message += f" (stage: {error.stage})"
            if error.pyx_path:
                message += f" (generated source kept at {error.pyx_path})"
        # Point the warning at the construct, not at the dispatcher's frames.
        warnings.warn_explicit(message, JITWarning, filename, lineno or 0)

    # -- introspection ---------------------------------------------------------------

    def _ensure_target(self):
        """Compile now if nothing was tried yet (waiting for a background build)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            if self._outcome is not None:
                self._install(self._outcome)
            if self.status == PENDING:
                self._compile_now(None)
            elif self.status == COMPILING:
                # Re-entered on this thread while compiling (the compiler ran us).
                return self._interpret
            return self.target

    def inspect_pyx(self) -> str:
        """The generated Cython source, compiling first if needed (whatever ``hot`` says)."""
        return self._inspect_source("pyx_source", "Cython source")

    def inspect_llvm(self) -> str:
        """The optimized LLVM IR (backend="llvm"), compiling first if needed."""
        return self._inspect_source("llvm_ir", "LLVM IR")

    def _inspect_source(self, attribute: str, what: str) -> str:
        self._ensure_target()
        with self._lock:
            status = self.status
            compiled = self.compiled
            error = self.error
        name = self.py_func.__qualname__
        if status == DISABLED:
            raise RuntimeError(
                f"JustJIT is disabled ({_config.ENV_DISABLE} or justjit.config.disable); "
                f"{name} runs in the interpreter and has no generated source"
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
        source = getattr(compiled, attribute, None)
        if not isinstance(source, str):
            raise CompileError(
                f"the {self.backend} backend produced no {what} for {name}", stage="inspect"
            )
        return source


def wait_all(timeout: float | None = None) -> bool:
    """Wait for every background compilation of this process; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _ALL_LOCK:
            pending = list(_ALL_DISPATCHERS)
        if not pending:
            return True
        for dispatcher in pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not dispatcher.wait(left):
                return False
            with _ALL_LOCK:
                _ALL_DISPATCHERS.discard(dispatcher)


# ---------------------------------------------------- where a build error comes from

_PYX_LOCATION = re.compile(r"([^\s:\"']+\.pyx):(\d+)")
_C_LOCATION = re.compile(r"([^\s:\"']+\.c):(\d+)")
_C_PYX_MARK = re.compile(r'/\* "([^"]+\.pyx)":(\d+)')
_SOURCE_MARK = re.compile(r"^\s*# (?:line )?(\d+)(?::|\s*$)")
_CONTEXT = 2


def _locate(error: CompileError, py_func) -> None:
    """Fill in the original ``file:line`` of a build error, and the .pyx lines it is about.

    The backends raise build errors (Cython, C compiler) without a location in the
    user's source. The generated .pyx carries ``# <line>: <source>`` comments (see
    ``justjit.emit_cython``): from the failing .pyx line (or the C line, through
    Cython's ``/* "x.pyx":N`` markers) the nearest such comment above names the
    original line; failing that, the function's first line is used.
    """
    code = py_func.__code__
    if error.filename is not None:
        return
    excerpt = str(error.source_excerpt or "")
    pyx_path, pyx_line = _pyx_position(excerpt, error.pyx_path)
    lineno = None
    pyx_lines = _read_lines(pyx_path) if pyx_path else []
    if pyx_line is not None and pyx_lines:
        for number in range(min(pyx_line, len(pyx_lines)), 0, -1):
            match = _SOURCE_MARK.match(pyx_lines[number - 1])
            if match:
                lineno = int(match.group(1))
                break
        lo, hi = max(1, pyx_line - _CONTEXT), min(len(pyx_lines), pyx_line + _CONTEXT)
        context = [f"{'>' if n == pyx_line else ' '} {n:5d} | {pyx_lines[n - 1]}" for n in range(lo, hi + 1)]
        header = f"generated source {pyx_path}, line {pyx_line}:"
        error.source_excerpt = "\n".join(filter(None, [excerpt, header, *context]))
    error.filename = code.co_filename
    error.lineno = lineno if lineno is not None else code.co_firstlineno


def _pyx_position(excerpt: str, pyx_path: str | None):
    """``(pyx file, line)`` the build error names, or ``(pyx_path, None)``."""
    for match in _PYX_LOCATION.finditer(excerpt):
        return match.group(1), int(match.group(2))
    for match in _C_LOCATION.finditer(excerpt):
        c_lines = _read_lines(match.group(1))
        for number in range(min(int(match.group(2)), len(c_lines)), 0, -1):
            mark = _C_PYX_MARK.search(c_lines[number - 1])
            if mark:
                return pyx_path or mark.group(1), int(mark.group(2))
        break
    return pyx_path, None


def _read_lines(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


# ------------------------------------------------------------------------ decorator


def jit(
    func=None,
    /,
    *,
    backend: str | None = None,
    fallback: bool | None = None,
    cache: bool | None = None,
    hot: int | None = None,
    background: bool | None = None,
    opt_level: int | None = None,
    tiered: bool | None = None,
    max_signatures: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    dump_dir: str | os.PathLike | None = None,
    disable: bool | None = None,
):
    """Compile a Python function to native code.

    Usable as ``@jit``, ``@jit()`` or ``@jit(backend=..., hot=..., ...)``. Every
    argument left out comes from ``justjit.config`` (code, ``JUSTJIT_*`` environment
    variables, ``[tool.justjit]`` in pyproject.toml, defaults), resolved now.

    - ``backend``: ``"cython"`` or ``"llvm"`` (default ``"cython"``).
    - ``fallback`` (default True): when compiling is refused, warn once
      (``JITWarning``) and run the function in the interpreter. With False, calls raise
      the ``CompileError``.
    - ``cache`` (default True): use the on-disk cache of compiled artifacts.
    - ``hot`` (default 0): run the first ``hot`` calls of each argument-type signature
      in the interpreter, and compile when a signature is called once more.
    - ``background`` (default False): compile in a background thread; calls run in
      the interpreter until the build is ready. ``f.wait()`` blocks until it is.
    - ``opt_level`` (default 2): the C compiler's optimization level, 0 to 3.
    - ``tiered`` (default True): Cython backend, ``opt_level`` >= 2: a function that has
      to be built runs first from a module built at -Og (about half the C compiler's
      time), while a background thread builds (and caches) the ``opt_level`` one and
      swaps it in. ``f.wait()`` waits for that swap.
    - ``max_signatures`` (default 8): how many argument-type signatures get their own
      typed specialization; calls of further signatures run the generic code.
    - ``cache_dir``: this function's cache directory (default: the configured one).
    - ``dump_dir``: a directory receiving a copy of each .pyx generated for it.
    - ``disable`` (default False): run this function in the interpreter.

    The returned function has ``py_func``, ``signatures``, ``stats``, ``wait()``,
    ``inspect_pyx()`` and ``dispatcher``. ``disable`` in the configuration runs every
    jitted function in the interpreter.
    """
    cfg = _config.resolve(
        backend=backend, fallback=fallback, cache=cache, hot=hot, background=background,
        opt_level=opt_level, tiered=tiered, max_signatures=max_signatures, cache_dir=cache_dir,
        dump_dir=dump_dir, disable=disable,
    )

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
    autojit = sys.modules.get("justjit.autojit")
    if autojit is not None:  # defined in a module that enable()/run instrumented
        func = autojit.original_function(func)
    return Dispatcher(func, cfg).trampoline
