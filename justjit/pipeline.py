"""The compiler driver: runs the stages in order, one direction, and shows any of them.

    function -> frontend (verified register IR) -> backend -> native entry
      cython backend: relooper -> regalloc -> emit_cython (.pyx) -> C extension (cached)

This module only wires the stages together, so `explain_stage` prints exactly what
`compile_function` used. Each backend module offers `compile(ir, ...)` and `explain(ir, stage)`.

The warm path: with the cache on, a backend that offers it (`WARM`) is first asked for the
entry recorded under the function's warm key (`justjit.fingerprint`), which needs neither
the stages nor their modules; only a miss runs them, and records the entry for next time.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import CompileError
from .fingerprint import code_fingerprint

BACKEND_MODULES = {"cython": "justjit.backends.cython_backend", "llvm": "justjit.backends.llvm"}
FRONTEND_STAGES = ("cfg", "ir", "types")
CYTHON_STAGES = ("shapes", "alloc", "pyx")
LLVM_STAGES = ("llvm", "llvm-raw")
STAGES = FRONTEND_STAGES + CYTHON_STAGES + LLVM_STAGES


@dataclass
class Compiled:
    entry: Callable[..., Any]  # entry(state, *arg_values)
    signature: str
    backend: str
    pyx_source: Optional[str] = None
    llvm_ir: Optional[str] = None
    handle: Any = None  # what keeps the native code alive (the extension module)
    typed: bool = False  # a typed copy for `arg_types` (else generic code only)
    arg_types: tuple = ()  # lattice type names of the arguments it was specialized for
    cache_hit: Optional[bool] = None  # True: found by the warm path (else see the backend)
    # A quick first tier (`tiered`): upgrade() builds the same code at opt_level, caches it
    # and returns its Compiled (same fields); meant for a background thread.
    upgrade: Optional[Callable[[], "Compiled"]] = None


def _signature_text(py_func) -> str:
    code = py_func.__code__
    n = code.co_argcount + code.co_kwonlyargcount
    n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    return "generic(" + ", ".join(code.co_varnames[:n]) + ")"


def _dumper(py_func, dump_dir: Optional[str]):
    """A callback writing generated source into the dump directory (the configured one, else
    JUSTJIT_DUMP_DIR) before the C build, so a source that fails to build is kept too."""
    dump_dir = dump_dir or os.environ.get("JUSTJIT_DUMP_DIR")
    if not dump_dir:
        return None

    def dump(text: str, suffix: str) -> None:
        from .cache import digest as _digest

        os.makedirs(dump_dir, exist_ok=True)
        digest = _digest(text.encode("utf-8", "surrogatepass"))[:10]
        safe = "".join(c if c.isalnum() or c in "._" else "_" for c in py_func.__qualname__)
        path = os.path.join(dump_dir, f"{safe}_{digest}{suffix}")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)

    return dump


def _backend_module(backend: str, py_func):
    name = BACKEND_MODULES.get(backend)
    if name is None:
        code = py_func.__code__
        raise CompileError(f"the {backend!r} backend is not available yet",
                           construct=f"backend={backend!r}", stage="backend",
                           filename=code.co_filename, lineno=code.co_firstlineno)
    return importlib.import_module(name)


def specialized_ir(py_func, arg_types: Optional[tuple], direct_calls: bool = False):
    """The register IR of `py_func`, specialized for `arg_types` (argument classes, see
    justjit.specialize) when given; the IR carries `.specialization` then. `direct_calls`:
    the backend runs direct self-calls (its DIRECT_CALLS)."""
    from .frontend import build_ir

    ir = build_ir(py_func)
    if arg_types is None:
        return ir
    from .specialize import specialize
    return specialize(ir, tuple(arg_types), py_func.__globals__, direct_calls=direct_calls)


def _typed_signature_text(spec) -> str:
    return "(" + ", ".join(f"{r.name}: {t}" for r, t in zip(spec.args, spec.arg_types)) + ")"


def compile_function(py_func, *, backend: str = "cython", use_cache: bool = True,
                     opt_level: int = 2, dump_dir: Optional[str] = None,
                     metadata: Optional[dict] = None,
                     arg_types: Optional[tuple] = None, tiered: bool = False) -> Compiled:
    """Compile `py_func`: generic code, or with `arg_types` (the classes of the arguments
    in co_varnames order, their lattice types, or a `fingerprint.ValueProfile` of their
    values) a typed copy guarded by them plus the generic code it falls back to
    (Compiled.typed says whether anything was typed). `tiered` (at opt_level >= 2, on a
    backend that offers it): when the code has to be built, a quick build first, and
    Compiled.upgrade to make the opt_level one."""
    try:
        return _compile(py_func, backend, use_cache, opt_level, dump_dir, metadata, arg_types,
                        tiered)
    finally:
        if hasattr(arg_types, "release"):
            arg_types.release()


def _without_arrays(arg_types):
    """`arg_types` with numpy array types as "object", for a backend without the numpy typed
    ops (NUMPY): its arrays go through generic code. Unchanged (not even made) when no name
    is an array's."""
    from .fingerprint import arg_type_names

    names = arg_type_names(arg_types)
    if arg_types is None or not any(n.startswith("ndarray[") for n in names):
        return arg_types
    from .analyses.types import OBJECT

    return tuple(OBJECT if t.array is not None else t for t in arg_types)


def _compile(py_func, backend, use_cache, opt_level, dump_dir, metadata, arg_types, tiered):
    backend_module = _backend_module(backend, py_func)
    if not getattr(backend_module, "TYPED", False):
        arg_types = None  # a backend that does not emit typed ops yet: generic code
    elif not getattr(backend_module, "NUMPY", False):
        arg_types = _without_arrays(arg_types)
    warm = None
    if use_cache and getattr(backend_module, "WARM", False):
        warm = _WarmPath(py_func, backend_module, backend, opt_level, arg_types)
        compiled = warm.load(_dumper(py_func, dump_dir))
        if compiled is not None:
            return compiled
    ir = specialized_ir(py_func, arg_types, getattr(backend_module, "DIRECT_CALLS", False))
    spec = getattr(ir, "specialization", None)
    typed = spec is not None and spec.typed
    signature = _typed_signature_text(spec) if typed else _signature_text(py_func)
    fields = dict(signature=signature, typed=typed,
                  arg_types=tuple(str(t) for t in spec.arg_types) if typed else ())
    extra = {} if warm is None else {"on_entry": warm.recorder(fields, arg_types)}
    tiered = tiered and opt_level >= 2 and getattr(backend_module, "TIERED", False)
    if tiered:
        extra["tiered"] = True
    entry, source, handle, *upgrade = backend_module.compile(
        ir, key_extra=(code_fingerprint(py_func.__code__),), use_cache=use_cache,
        opt_level=opt_level, on_source=_dumper(py_func, dump_dir),
        metadata=dict(metadata or {}, signature=signature, backend=backend), **extra)
    later = upgrade[0] if upgrade else None

    def upgraded() -> Compiled:  # (the same .pyx: the same fields)
        return _compiled(backend, *later(), **fields)

    # Tiered, the backend says whether it built (the build counters would also count an
    # upgrade running in the background).
    hit = {"cache_hit": later is None} if tiered else {}
    return _compiled(backend, entry, source, handle,
                     upgrade=None if later is None else upgraded, **hit, **fields)


def _compiled(backend: str, entry, source: str, handle, **fields) -> Compiled:
    return Compiled(entry=entry, backend=backend, handle=handle,
                    pyx_source=source if backend == "cython" else None,
                    llvm_ir=source if backend == "llvm" else None, **fields)


class _WarmPath:
    """The warm key of one compile_function call, and its record in the cache: the backend's
    entry (module name and key), the recipe of its constants and the Compiled's fields."""

    def __init__(self, py_func, backend_module, backend: str, opt_level: int, arg_types):
        from . import cache, fingerprint

        self.py_func = py_func
        self.backend_module = backend_module
        self.backend = backend
        self.names = fingerprint.arg_type_names(arg_types)
        self.store = cache.open_cache()
        self.key = None
        if self.store is not None:
            try:
                self.key = fingerprint.warm_key(
                    py_func, self.store, backend=backend, opt_level=opt_level,
                    arg_names=self.names,
                    backend_parts=backend_module.warm_key_parts(opt_level, self.store))
            except Exception:  # noqa: BLE001 - e.g. an odd __globals__: take the cold path
                pass

    def load(self, on_source) -> Optional[Compiled]:
        """The recorded entry, loaded; None (cold path) when there is none or it fails."""
        if self.key is None:
            return None
        from .fingerprint import rebuild_constants

        record = self.store.read_record(self.key)
        if record is None:
            return None
        try:
            location, recipe, fields = record
            constants = rebuild_constants(self.py_func.__code__, recipe)
            found = self.backend_module.load_warm(self.store, location, constants, on_source)
            # (None: the entry is gone or damaged; the cold path rebuilds it and the record)
            return None if found is None else _compiled(self.backend, *found, cache_hit=True,
                                                        **fields)
        except Exception:  # noqa: BLE001 - a malformed record, or a stale recipe
            self.store.remove_record(self.key)
            return None

    def recorder(self, fields: dict, arg_types):
        """The backend's `on_entry`: record its entry (and the Compiled's ``fields``) under
        the warm key, when the key's argument names are those of the types compiled for and
        every constant has a recipe."""
        from .fingerprint import arg_type_names

        if self.key is None:
            return None
        if arg_types is not None and arg_type_names(tuple(arg_types)) != self.names:
            return None  # fingerprint.profile_name disagrees with the lattice: no record

        def on_entry(location: tuple, constants: tuple) -> None:
            from .fingerprint import constant_recipe

            recipe = constant_recipe(self.py_func.__code__, constants)
            if recipe is None:
                return  # a constant we cannot make again: this function stays cold
            self.store.write_record(self.key, (location, recipe, fields))
        return on_entry


def _annotated(py_func) -> tuple:
    from .analyses.types import annotated_argument_types
    return annotated_argument_types(py_func)


def explain_stage(py_func, stage: str, backend: str = "cython",
                  arg_types: Optional[tuple] = None) -> str:
    """The text of one stage for `python -m justjit explain`; with `arg_types` (argument
    classes) the later stages show the specialization for them."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    from .frontend import explain_cfg
    if stage == "cfg":
        return explain_cfg(py_func)
    if stage == "types":
        from .analyses.types import explain_types
        text = explain_types(py_func, arg_types)
        ir = specialized_ir(py_func, arg_types if arg_types is not None else
                            _annotated(py_func))
        return text + "\n\n" + str(ir.specialization)
    backend = "llvm" if stage in LLVM_STAGES else "cython"
    module = _backend_module(backend, py_func)
    ir = specialized_ir(py_func, arg_types, getattr(module, "DIRECT_CALLS", False))
    if stage == "ir":
        from .ir.printer import format_function
        return format_function(ir)
    return module.explain(ir, stage)
