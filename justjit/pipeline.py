"""The compiler driver: runs the stages in order, one direction, and shows any of them.

    function -> frontend (verified register IR) -> backend -> native entry
      cython backend: relooper -> regalloc -> emit_cython (.pyx) -> C extension (cached)

This module only wires the stages together, so `explain_stage` prints exactly what
`compile_function` used. Each backend module offers `compile(ir, ...)` and `explain(ir, stage)`.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import CompileError

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


def code_fingerprint(code) -> str:
    """A stable digest of everything in a code object that can change the compiled result.

    (marshal output is not stable across runs: its reference flags depend on refcounts.)
    """
    h = hashlib.sha256()

    def feed(obj) -> None:
        if hasattr(obj, "co_code"):
            h.update(b"<code>")
            for attr in ("co_code", "co_names", "co_varnames", "co_cellvars", "co_freevars",
                         "co_filename", "co_name", "co_qualname", "co_firstlineno",
                         "co_linetable", "co_exceptiontable", "co_flags", "co_argcount",
                         "co_posonlyargcount", "co_kwonlyargcount", "co_stacksize"):
                h.update(repr(getattr(obj, attr, None)).encode("utf-8", "surrogatepass"))
            for const in obj.co_consts:
                feed(const)
            h.update(b"</code>")
        elif isinstance(obj, (tuple, frozenset)):
            h.update(type(obj).__name__.encode())
            for item in (obj if isinstance(obj, tuple) else sorted(obj, key=repr)):
                feed(item)
            h.update(b")")
        else:
            h.update(type(obj).__name__.encode() + b":" +
                     repr(obj).encode("utf-8", "surrogatepass") + b";")

    feed(code)
    return h.hexdigest()


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
        os.makedirs(dump_dir, exist_ok=True)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
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


def specialized_ir(py_func, arg_types: Optional[tuple]):
    """The register IR of `py_func`, specialized for `arg_types` (argument classes, see
    justjit.specialize) when given; the IR carries `.specialization` then."""
    from .frontend import build_ir

    ir = build_ir(py_func)
    if arg_types is None:
        return ir
    from .specialize import specialize
    return specialize(ir, tuple(arg_types), py_func.__globals__)


def _typed_signature_text(spec) -> str:
    return "(" + ", ".join(f"{r.name}: {t}" for r, t in zip(spec.args, spec.arg_types)) + ")"


def compile_function(py_func, *, backend: str = "cython", use_cache: bool = True,
                     opt_level: int = 2, dump_dir: Optional[str] = None,
                     metadata: Optional[dict] = None,
                     arg_types: Optional[tuple] = None) -> Compiled:
    """Compile `py_func`: generic code, or with `arg_types` (the classes of the arguments
    in co_varnames order) a typed copy guarded by them plus the generic code it falls back
    to (Compiled.typed says whether anything was typed)."""
    backend_module = _backend_module(backend, py_func)
    if not getattr(backend_module, "TYPED", False):
        arg_types = None  # a backend that does not emit typed ops yet: generic code
    ir = specialized_ir(py_func, arg_types)
    spec = getattr(ir, "specialization", None)
    typed = spec is not None and spec.typed
    signature = _typed_signature_text(spec) if typed else _signature_text(py_func)
    entry, source, handle = backend_module.compile(
        ir, key_extra=(code_fingerprint(py_func.__code__),), use_cache=use_cache,
        opt_level=opt_level, on_source=_dumper(py_func, dump_dir),
        metadata=dict(metadata or {}, signature=signature, backend=backend))
    return Compiled(entry=entry, signature=signature, backend=backend,
                    pyx_source=source if backend == "cython" else None,
                    llvm_ir=source if backend == "llvm" else None, handle=handle,
                    typed=typed,
                    arg_types=tuple(str(t) for t in spec.arg_types) if typed else ())


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
    ir = specialized_ir(py_func, arg_types)
    if stage == "ir":
        from .ir.printer import format_function
        return format_function(ir)
    backend = "llvm" if stage in LLVM_STAGES else "cython"
    return _backend_module(backend, py_func).explain(ir, stage)
