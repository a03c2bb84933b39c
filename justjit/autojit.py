"""JIT without decorators: ``python -m justjit run script.py`` and ``justjit.enable()``.

Functions of the user's own code (not the standard library, not site-packages, not
JustJIT) that become hot are compiled in a background thread and swapped in.

How functions are found and swapped (CPython 3.11)
--------------------------------------------------
Each eligible function gets a *trampoline code object* in place of its code: the
original's exact parameter list and a one-line body
``return H.t(H.s, <arguments>)``, where ``H`` is a small holder object stored among
the code's constants (a plain module object, so CPython's specializing interpreter
handles both attribute loads with its fast module-attribute paths) and ``H.s`` the
state of the compiled entry (globals, builtins, closure). ``H.t`` starts as
a counting path (a ``justjit.dispatcher.Dispatcher`` with ``hot=threshold`` and
``background=True``); when the compiled entry is ready it becomes ``H.t``, so a call
costs one extra hop to native code (about the cost of an ``@jit`` trampoline); a
function that cannot be compiled gets its original code back, so it costs nothing
from then on.

Closures (functions with free variables: nested functions reading their enclosing
function's variables, methods using ``super()`` or ``__class__``) run one code for many
closures, so the state comes with each call: the trampoline has the original's free
variables (``co_freevars``, same names, same order), so every function made from it
gets the closure the original would have got, and its body passes that closure on,
``return H.t((H.g, H.b, (<its cells>)), <arguments>)``. The cells are loaded with
``LOAD_CLOSURE`` (the cell, not its value: the one opcode of the template that source
cannot spell, swapped in for ``LOAD_DEREF``; same length, lines and stack; 3.11 and
3.12 have it, from 3.13 on it is a pseudo-instruction and closures are left alone).
One dispatcher per code object then serves every closure: calls of all of them are
counted together, the compiled entry (which takes the closure in its state, as for
``@jit``) is shared, and the counting path runs each call on a function made for it
from the call's globals and cells, so ``nonlocal`` writes are seen by every closure
sharing them. Building the state costs two small tuples per call (about 40 ns more
than a trampoline without free variables, measured here). A closure that cannot be
compiled gets its original code back, but closures made afterwards still come with
the trampoline (their enclosing code holds it) and run through the interpreter path,
which makes a function per call (about 0.1 us).

A generator function's trampoline is a generator function too, with the body
``return (yield from H.t(...))``: calling it binds the arguments and makes a real
generator, as the original does, and its first ``next()`` makes the compiled generator
(or an interpreted one while counting) and delegates to it. So
``inspect.isgeneratorfunction``, ``inspect.isgenerator``, ``types.GeneratorType`` and
``send``/``throw``/``close`` behave as without JIT (frameworks dispatch on the first:
pytest fixtures, FastAPI dependencies, Twisted's ``inlineCallbacks``). The cost is one
delegation per item (15 to 25 ns measured here, which a tiny generator body does not win
back; ``@jit``'s trampoline returns the compiled ``justjit.generator`` itself, but is
not a generator function). Lambdas are plain functions named ``<lambda>``.

Trampolines are put in place before any function exists, by rewriting code
constants: the import hook (a ``sys.meta_path`` finder whose loader is a
``SourceFileLoader`` with an instrumenting ``get_code``) does it for every user
module imported while enabled, and ``run`` does it for the script (or ``-m``
module). The functions' identity never changes: module globals, class
dictionaries, decorators and other references all hold the same function objects.

Why this hook: 3.11 has no ``sys.monitoring``. ``sys.setprofile`` calls a Python
function on every call and return of *every* function (standard library included)
for the life of the program: about 8x the cost of a small call, measured here (56
ns -> 477 ns), and it can never be switched off per function. Sampling frames
(``sys._current_frames``) costs nothing per call but cannot count calls, and still
needs a way to swap code. A per-code trampoline costs only the functions it
watches, only until each is decided, and needs no editing of the user's bytecode
(only the one opcode of JustJIT's own closure template) and no AST rewriting (line
numbers, ``inspect.getsource`` and the .pyc cache stay intact).

Eligible: ``def`` functions, lambdas, closures and generator functions. Not: coroutines
and async generators (the compiler refuses ``async def``, so they would only pay for the
trampoline), and comprehensions and generator expressions (called once, where they are
made). ``enable()`` also instruments the functions
already defined in the module that called it, and watches that module for new
ones (a quarter-second rescan) since its remaining ``def`` statements run after
``enable()`` returned.

Counting: calls are counted per argument-type signature until the function is
compiled or refused (see ``Dispatcher``), then by the compiled code itself (the
report's ``compiled`` column, see ``JITStats``); calls to refused functions are not
counted. All closures of one ``def`` count as one function (one
row of the report). The report says so.

A function is tried once per process. Refusals (a ``CompileError`` from the
compiler: an unsupported construct, a failed C build) are also remembered in the
cache directory (``refused/``), keyed by the function's code, the backend and the
JustJIT version, and never retried: the next run does not even instrument them.
``python -m justjit cache clear`` forgets them. Internal compiler errors (bugs) are
not remembered across runs.
"""

from __future__ import annotations

import atexit
import dis
import gc
import os
import sys
import threading
import types
import weakref
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path
from types import CodeType, FunctionType

from justjit import config as _config
from justjit.dispatcher import (
    COMPILED,
    FALLBACK,
    Dispatcher,
    _ArgLayout,
    _code_of,
)
from justjit.logs import logger

__all__ = ["AutoJIT", "enable", "disable", "active", "report", "run_path", "run_module", "wait"]

_CO_OPTIMIZED = 0x0001
_CO_NEWLOCALS = 0x0002
_CO_GENERATOR = 0x0020
_CO_ASYNC = 0x0080 | 0x0100 | 0x0200  # coroutine, iterable coroutine, async generator
# Closures need an opcode that loads a cell itself (a pseudo-instruction from 3.13 on).
_LOAD_CLOSURE = dis.opmap.get("LOAD_CLOSURE", 256)
_CLOSURES = _LOAD_CLOSURE < 256

_PLACEHOLDER = "__justjit_holder__"
_DOC = "__justjit_doc__"  # the template's docstring: its own first constant, the original's doc


# ------------------------------------------------------------------------ user code


class _UserCode:
    """Which files are the user's: not the standard library, site-packages or JustJIT."""

    def __init__(self) -> None:
        import site
        import sysconfig

        roots = set()
        paths = sysconfig.get_paths()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            if paths.get(key):
                roots.add(paths[key])
        try:
            roots.update(site.getsitepackages())
        except AttributeError:  # some virtualenvs
            pass
        user_site = getattr(site, "getusersitepackages", lambda: None)()
        if user_site:
            roots.add(user_site)
        roots.add(str(Path(__file__).resolve().parent))  # justjit itself
        self.roots = tuple(sorted({os.path.realpath(r) + os.sep for r in roots}))

    def __call__(self, filename: str | None) -> bool:
        if not filename or not filename.endswith(".py"):
            return False
        path = os.path.realpath(filename)
        return not any(path.startswith(root) for root in self.roots)


# ----------------------------------------------------------------------- one function


class AutoFunction:
    """One instrumented code object: its trampoline, holder and (once called) dispatcher."""

    def __init__(self, auto: "AutoJIT", code: CodeType) -> None:
        self.auto = auto
        self.code = code  # the original (with its own nested functions instrumented)
        self.name = code.co_qualname
        self.location = f"{code.co_filename}:{code.co_firstlineno}"
        self.dispatcher: Dispatcher | None = None
        self.restored = False
        self.closure = bool(code.co_freevars)  # each call brings its cells (see the module doc)
        self.functions: list = []  # weak references to function objects swapped in place
        self._lock = threading.Lock()
        holder = types.ModuleType(f"justjit.auto:{code.co_qualname}")  # repr stable across runs
        holder.t = self._first_call
        holder.s = None
        holder.g = holder.b = None  # a closure's globals and builtins, known at its first call
        self.holder = holder
        self.trampoline = _trampoline_code(code, holder)

    def _first_call(self, state, *args):
        # Called from the trampoline's frame, whose globals are the function's.
        dispatcher = self.dispatcher
        if dispatcher is None:
            dispatcher = self._make_dispatcher(sys._getframe(1).f_globals)
        state = (self.holder.g, self.holder.b, state[2]) if self.closure else dispatcher._state
        return dispatcher._pending_call(state, *args)

    def _make_dispatcher(self, globals_: dict) -> Dispatcher:
        with self._lock:
            if self.dispatcher is None:
                code = self.code
                # A closure's dispatcher compiles a function of empty cells: the compiler reads
                # the code only, and each call brings the cells it runs on.
                cells = tuple(types.CellType() for _ in code.co_freevars) or None
                py_func = FunctionType(code, globals_, code.co_name, None, cells)
                if self.closure:
                    # Before H.t leaves _first_call: a trampoline reads H.t first, then H.g, H.b.
                    self.holder.g, self.holder.b = py_func.__globals__, py_func.__builtins__
                self.dispatcher = Dispatcher(
                    py_func, self.auto.jit_config, holder=self.holder, warn=False, listener=self._decided,
                    state_per_call=self.closure,
                )
                self.auto._register_called(self)
            return self.dispatcher

    def _decided(self, dispatcher: Dispatcher) -> None:
        """Listener: a compilation's outcome was installed."""
        if dispatcher.status == FALLBACK:
            error = dispatcher.error
            if getattr(error, "stage", None) != "internal":
                # A refusal is a fact about this code and this JustJIT version; an
                # internal error is a bug, retried by the next run (not by this one).
                self.auto._remember_refusal(self, dispatcher)
            else:
                logger.info("%s (%s): %s", self.name, self.location, error)
            self.restore()

    def restore(self) -> None:
        """Give the function objects their original code back (no cost per call any more)."""
        if self.restored:
            return
        self.restored = True
        targets = [ref() for ref in self.functions]
        targets += [
            obj
            for obj in gc.get_referrers(self.trampoline)
            if isinstance(obj, FunctionType) and obj.__code__ is self.trampoline
        ]
        for func in targets:
            if func is not None and func.__code__ is self.trampoline:
                func.__code__ = self.code

    def row(self) -> dict:
        d = self.dispatcher
        stats = d.stats if d is not None else None
        status = stats.status if stats is not None else "not called"
        reason = None
        if stats is not None and stats.fallbacks:
            reason = stats.fallbacks[-1].reason
        return {
            "function": self.name,
            "location": self.location,
            "calls": stats.calls if stats is not None else 0,
            "interpreted": stats.interpreted_calls if stats is not None else 0,
            "compiled": stats.compiled_calls if stats is not None else 0,
            "status": status,
            "compile_seconds": stats.compile_seconds if stats is not None else 0.0,
            "cache_hits": stats.cache_hits if stats is not None else 0,
            "cache_misses": stats.cache_misses if stats is not None else 0,
            "reason": reason,
        }


_TEMPLATES: dict[tuple, CodeType] = {}


def _trampoline_code(code: CodeType, holder) -> CodeType:
    """``def <name>(<the same parameters>): return H.t(H.s, <arguments>)``, or the closure's
    or generator's form of it (see the module doc)."""
    layout = _ArgLayout(code)
    generator = bool(code.co_flags & _CO_GENERATOR)
    key = (layout.parameter_list(), code.co_freevars, generator)
    template = _TEMPLATES.get(key)
    if template is None:
        template = _TEMPLATES[key] = _template(layout, code.co_freevars, generator)
    doc = code.co_consts[0] if code.co_consts and isinstance(code.co_consts[0], str) else None
    # A function's first constant is its docstring (or None), and only that in the template:
    # the None that `yield from` sends is another constant.
    consts = (doc,) + tuple(holder if c == _PLACEHOLDER else c for c in template.co_consts[1:])
    return template.replace(
        co_name=code.co_name,
        co_qualname=code.co_qualname,
        co_filename=code.co_filename,
        co_firstlineno=code.co_firstlineno,
        co_consts=consts,
    )


def _template(layout: _ArgLayout, freevars: tuple, generator: bool) -> CodeType:
    """The trampoline's code with the placeholder ``H``. With ``freevars`` it is compiled
    nested in a function defining them, so CPython gives it the same free variables in the
    same (sorted) order as the original; then the loads of their values in the state tuple
    become loads of their cells. ValueError if that does not come out as expected."""
    h = repr(_PLACEHOLDER)
    state = f"({h}.g, {h}.b, ({''.join(name + ', ' for name in freevars)}))" if freevars else f"{h}.s"
    call = f"{h}.t({', '.join((state,) + layout.names)})"
    body = f"return (yield from {call})" if generator else f"return {call}"
    source = f"def _t({layout.parameter_list()}): {_DOC!r}; {body}\n"
    if not freevars:
        return _code_of(source, "<justjit trampoline>")
    if not _CLOSURES:
        raise ValueError("no LOAD_CLOSURE opcode")
    outer = _code_of(f"def _o():\n    {' = '.join(freevars)} = None\n    {source}", "<justjit trampoline>")
    template = next(c for c in outer.co_consts if isinstance(c, CodeType))
    raw = bytearray(template.co_code)
    loads = [i.offset for i in dis.get_instructions(template) if i.opname == "LOAD_DEREF"]
    if template.co_freevars != freevars or len(loads) != len(freevars):
        raise ValueError(f"unexpected closure template for {freevars}")
    for offset in loads:
        raw[offset] = _LOAD_CLOSURE  # same oparg: the variable's index in the frame
    return template.replace(co_code=bytes(raw))


# --------------------------------------------------------------------------- controller


class AutoJIT:
    """The state of decorator-free JIT in this process (``justjit.enable()`` returns it)."""

    def __init__(self, threshold: int | None = None) -> None:
        settings = _config.current()
        self.threshold = settings.threshold if threshold is None else threshold
        if not isinstance(self.threshold, int) or isinstance(self.threshold, bool) or self.threshold < 1:
            raise ValueError(f"threshold must be a positive integer, not {self.threshold!r}")
        self.disabled = settings.disable
        self.jit_config = _config.JITConfig(
            backend=settings.backend,
            fallback=True,
            cache=settings.cache,
            disable=settings.disable,
            dump_dir=settings.dump_dir,
            hot=self.threshold,
            background=True,
            opt_level=settings.opt_level,
            tiered=settings.tiered,
            max_signatures=settings.max_signatures,
        )
        self.is_user_file = _UserCode()
        self.functions: list[AutoFunction] = []  # every instrumented code object
        self.called: list[AutoFunction] = []  # those called at least once
        self.skipped_refused: list[str] = []  # not instrumented: refused in an earlier run
        self._by_trampoline: dict[int, AutoFunction] = {}
        self._lock = threading.RLock()
        self._refused = self._load_refusals()
        self._finder: _Finder | None = None
        self._watched: list = []  # weak references to modules rescanned for new functions
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.report_at_exit = False

    # -- refusals remembered across runs -------------------------------------------

    def _store(self):
        if not self.jit_config.cache:
            return None
        from justjit import cache

        try:
            return cache.open_cache()
        except OSError:
            return None

    def _load_refusals(self) -> set[str]:
        store = self._store()
        return store.refused_keys() if store is not None else set()

    def refusal_key(self, code: CodeType) -> str:
        from justjit import __version__, cache

        parts = {
            "justjit": __version__,
            "backend": self.jit_config.backend,
            "file": code.co_filename,
            "qualname": code.co_qualname,
            "line": str(code.co_firstlineno),
            "code": code.co_code.hex(),
            "names": repr(code.co_names),
            "varnames": repr(code.co_varnames),
            "consts": repr([c for c in code.co_consts if not isinstance(c, CodeType)]),
        }
        return cache.make_key(parts)

    def _remember_refusal(self, record: AutoFunction, dispatcher: Dispatcher) -> None:
        error = dispatcher.error
        logger.info("%s (%s) cannot be compiled and will not be retried: %s",
                    record.name, record.location, getattr(error, "message", error))
        store = self._store()
        if store is None:
            return
        store.remember_refusal(
            self.refusal_key(record.code),
            {
                "function": record.name,
                "location": record.location,
                "reason": str(getattr(error, "message", error)),
                "stage": getattr(error, "stage", None),
            },
        )

    # -- instrumentation -----------------------------------------------------------

    def _eligible(self, code: CodeType) -> bool:
        flags = code.co_flags
        return (
            flags & _CO_OPTIMIZED
            and flags & _CO_NEWLOCALS
            and not flags & _CO_ASYNC
            and (_CLOSURES or not code.co_freevars)
            and (code.co_name == "<lambda>" or not code.co_name.startswith("<"))  # not comprehensions
            and id(code) not in self._by_trampoline
        )

    def instrument_code(self, code: CodeType) -> CodeType:
        """``code`` (a module's, a class body's or a function's) with every eligible
        function below it replaced by its trampoline; the trampoline of ``code`` itself
        if it is an eligible function."""
        if self.disabled:
            return code
        consts = code.co_consts
        new = None
        for i, const in enumerate(consts):
            if isinstance(const, CodeType):
                replaced = self.instrument_code(const)
                if replaced is not const:
                    if new is None:
                        new = list(consts)
                    new[i] = replaced
        if new is not None:
            code = code.replace(co_consts=tuple(new))
        if not self._eligible(code):
            return code
        if self._refused and self.refusal_key(code) in self._refused:
            self.skipped_refused.append(f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})")
            return code
        try:
            record = AutoFunction(self, code)
        except (TypeError, SyntaxError, ValueError):  # parameter names we cannot spell
            return code
        with self._lock:
            self.functions.append(record)
            self._by_trampoline[id(record.trampoline)] = record
        return record.trampoline

    def instrument_function(self, func) -> bool:
        """Swap an existing function's code for its trampoline; True if done."""
        if not isinstance(func, FunctionType) or id(func.__code__) in self._by_trampoline:
            return False
        if hasattr(func, "dispatcher"):  # an @jit trampoline: already handled by @jit
            return False
        code = func.__code__
        if not self.is_user_file(code.co_filename):
            return False
        new = self.instrument_code(code)
        if new is code:
            return False
        record = self._by_trampoline.get(id(new))
        func.__code__ = new
        if record is not None:
            record.functions.append(weakref.ref(func))
        return True

    def instrument_namespace(self, module) -> int:
        """Instrument the functions (and methods of classes) a module defines."""
        name = getattr(module, "__name__", None)
        count = 0
        for value in list(vars(module).values()):
            if isinstance(value, FunctionType) and value.__module__ == name:
                count += self.instrument_function(value)
            elif isinstance(value, type) and value.__module__ == name:
                for attr in list(vars(value).values()):
                    if isinstance(attr, (staticmethod, classmethod)):
                        attr = attr.__func__
                    if isinstance(attr, FunctionType) and attr.__module__ == name:
                        count += self.instrument_function(attr)
        return count

    def _register_called(self, record: AutoFunction) -> None:
        with self._lock:
            self.called.append(record)

    # -- hooks -----------------------------------------------------------------------

    def install(self) -> None:
        if self._finder is None and not self.disabled:
            self._finder = _Finder(self)
            sys.meta_path.insert(0, self._finder)

    def uninstall(self) -> None:
        if self._finder is not None:
            try:
                sys.meta_path.remove(self._finder)
            except ValueError:
                pass
            self._finder = None
        self._stop.set()

    def watch(self, module) -> None:
        """Instrument ``module``'s functions now and, while enabled, as they appear."""
        if self.disabled:
            return
        self.instrument_namespace(module)
        self._watched.append(weakref.ref(module))
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_loop, name="justjit watcher", daemon=True)
            self._watcher.start()

    def rescan(self) -> int:
        """Instrument functions that appeared in watched modules since the last scan."""
        count = 0
        for ref in list(self._watched):
            module = ref()
            if module is not None:
                count += self.instrument_namespace(module)
        return count

    def _watch_loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.rescan()
            except Exception:  # noqa: BLE001 - a module mutated under us; next round
                pass

    # -- results ---------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background compilations started so far; False on timeout."""
        from justjit.dispatcher import wait_all

        done = wait_all(timeout)
        for record in list(self.called):
            if record.dispatcher is not None:
                record.dispatcher.poll()
        return done

    def rows(self) -> list[dict]:
        return [record.row() for record in list(self.called)]

    def report(self) -> str:
        rows = self.rows()
        compiled = [r for r in rows if r["status"] == COMPILED]
        refused = [r for r in rows if r["status"] == FALLBACK]
        seconds = sum(r["compile_seconds"] for r in rows)
        lines = [
            f"justjit report: {len(self.functions)} functions instrumented, {len(rows)} called, "
            f"{len(compiled)} compiled, {len(refused)} refused; "
            f"{seconds:.3f} s compiling (threshold: {self.threshold} calls per signature)"
        ]
        if rows:
            rows.sort(key=lambda r: (-r["calls"], r["function"]))
            width = max(len("function"), *(len(r["function"]) for r in rows))
            lines.append(f"  {'function':<{width}}  {'calls':>8}  {'compiled':>8}  {'status':<10}  "
                         f"{'compile':>8}  cache  where")
            for r in rows:
                cache = "hit" if r["cache_hits"] else "miss" if r["cache_misses"] else "-"
                compile_time = f"{r['compile_seconds']:.3f}s" if r["compile_seconds"] else "-"
                status = "refused" if r["status"] == FALLBACK else r["status"]
                lines.append(
                    f"  {r['function']:<{width}}  {r['calls']:>8}  {r['compiled']:>8}  {status:<10}  "
                    f"{compile_time:>8}  "
                    f"{cache:<5}  {r['location']}"
                )
                if r["reason"]:
                    lines.append(f"  {'':<{width}}    reason: {r['reason']}")
        if self.skipped_refused:
            lines.append(
                f"  {len(self.skipped_refused)} functions not instrumented: refused in an earlier run "
                f"(python -m justjit cache clear forgets): " + ", ".join(self.skipped_refused[:5])
                + (" ..." if len(self.skipped_refused) > 5 else "")
            )
        lines.append(
            "  calls are counted until a function is compiled or refused, then by its compiled "
            "code ('compiled'); calls to refused functions are not counted."
        )
        if any(record.closure for record in list(self.called)):
            lines.append("  a closure's row counts the calls of every closure its def made.")
        return "\n".join(lines) + "\n"


class _Loader(SourceFileLoader):
    """A ``SourceFileLoader`` whose code objects come out instrumented.

    Overriding ``get_code`` (not ``exec_module``) also covers ``runpy`` (``-m``); the
    .pyc cache still holds the original code.
    """

    def get_code(self, fullname):
        code = super().get_code(fullname)
        auto = _AUTO
        if code is not None and auto is not None:
            code = auto.instrument_code(code)
        return code


class _Finder:
    """``sys.meta_path`` entry: user modules found by the path finder get ``_Loader``."""

    def __init__(self, auto: AutoJIT) -> None:
        self.auto = auto

    def find_spec(self, fullname, path=None, target=None):
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not SourceFileLoader:
            return None
        if not self.auto.is_user_file(spec.origin):
            return None
        spec.loader = _Loader(spec.loader.name, spec.loader.path)
        return spec

    def invalidate_caches(self):
        pass


def original_function(func: FunctionType) -> FunctionType:
    """``func`` itself, or, if its code is an enable()/run trampoline, a copy of it with the
    original code (what ``@jit`` should compile when it decorates such a function)."""
    auto = _AUTO
    record = auto._by_trampoline.get(id(func.__code__)) if auto is not None else None
    if record is None or record.trampoline is not func.__code__:
        return func
    copy = FunctionType(record.code, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__annotations__ = func.__annotations__
    copy.__dict__.update(func.__dict__)
    return copy


# ----------------------------------------------------------------------------- API

_AUTO: AutoJIT | None = None
_API_LOCK = threading.Lock()


def enable(threshold: int | None = None, *, report: bool = False, watch_caller: bool = True,
           _depth: int = 1) -> AutoJIT:
    """Compile the user's hot functions from now on, without decorators.

    ``threshold`` (default: the ``threshold`` setting, 1000): calls of one
    argument-type signature after which a function is compiled, in the background.
    Modules imported from now on are instrumented; so are the functions already
    defined in the calling module (``watch_caller``), which is also watched for
    functions defined after this call. ``report=True`` prints ``report()`` on stderr
    at exit. Calling ``enable()`` again returns the active controller.
    """
    global _AUTO
    with _API_LOCK:
        if _AUTO is None:
            _AUTO = AutoJIT(threshold)
            atexit.register(_AUTO._stop.set)
        auto = _AUTO
        auto.install()
    if report and not auto.report_at_exit:
        auto.report_at_exit = True
        atexit.register(lambda: sys.stderr.write(auto.report()))
    if watch_caller:
        caller = sys._getframe(_depth).f_globals.get("__name__")
        module = sys.modules.get(caller) if caller else None
        if module is not None and auto.is_user_file(getattr(module, "__file__", None)):
            auto.watch(module)
    return auto


def disable() -> None:
    """Stop instrumenting new modules. Functions already instrumented keep working
    (and keep compiling when hot); ``report()`` still describes them."""
    auto = _AUTO
    if auto is not None:
        auto.uninstall()


def active() -> AutoJIT | None:
    """The controller of ``enable()``/``run``, or None."""
    return _AUTO


def report() -> str:
    """What was compiled, how often each function ran, the time spent compiling."""
    return _AUTO.report() if _AUTO is not None else "justjit report: enable() was not called\n"


def wait(timeout: float | None = None) -> bool:
    """Wait for pending background compilations; False on timeout."""
    return _AUTO.wait(timeout) if _AUTO is not None else True


def _reset_for_tests() -> None:
    """Forget the controller (tests only; instrumented functions keep their trampolines)."""
    global _AUTO
    with _API_LOCK:
        if _AUTO is not None:
            _AUTO.uninstall()
        _AUTO = None


# ------------------------------------------------------------------------------ run


class _MainContext:
    """``sys.argv``, ``sys.path[0]`` and ``sys.modules['__main__']`` as for ``python script``;
    restored afterwards (so an in-process caller, such as a test, gets them back)."""

    def __init__(self, argv: list[str], path0: str | None, module=None) -> None:
        self.argv, self.path0, self.module = argv, path0, module

    def __enter__(self):
        self.saved = (sys.argv, sys.path[:1], sys.modules.get("__main__"))
        sys.argv = list(self.argv)
        if self.path0 is not None:
            if sys.path:
                sys.path[0] = self.path0
            else:
                sys.path.insert(0, self.path0)
        if self.module is not None:
            sys.modules["__main__"] = self.module
        return self

    def __exit__(self, *exc):
        argv, path0, main = self.saved
        sys.argv = argv
        if path0 and sys.path:
            sys.path[0] = path0[0]
        if main is not None:
            sys.modules["__main__"] = main


def run_path(path: str, args: list[str] = (), *, threshold: int | None = None) -> AutoJIT:
    """Run the script ``path`` as ``__main__`` with ``sys.argv = [path, *args]``, compiling
    its hot functions (and those of the user modules it imports)."""
    import builtins
    import io

    auto = enable(threshold, watch_caller=False)
    path = os.path.abspath(path) if not os.path.isabs(path) else path
    with io.open_code(path) as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    code = auto.instrument_code(code)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__cached__ = None
    main.__spec__ = None
    with _MainContext([path, *args], os.path.dirname(path), main):
        exec(code, main.__dict__)
    return auto


def run_module(name: str, args: list[str] = (), *, threshold: int | None = None) -> AutoJIT:
    """``python -m name args...`` with JIT: the module runs as ``__main__``."""
    import runpy

    auto = enable(threshold, watch_caller=False)
    with _MainContext([name, *args], os.getcwd()):
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    return auto
