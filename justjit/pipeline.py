"""The compiler driver: runs the stages in order, one direction, and shows any of them.

    function -> frontend (IR) -> relooper (structured program) -> regalloc -> emit_cython (.pyx)
             -> backends.cython_build (C extension, cached) -> native entry

Each stage is a pure function of the previous stages' output; this module only wires them
together, so `explain_stage` can print exactly what `compile_function` used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable

from .errors import CompileError

STAGES = ("cfg", "ir", "shapes", "alloc", "pyx")


@dataclass
class Compiled:
    entry: Callable[..., Any]  # entry(state, *arg_values)
    pyx_source: str
    signature: str
    module: Any


@dataclass
class _Stages:
    ir: Any
    shape: Any
    program: Any
    allocation: Any
    pyx: Any


def _run_stages(py_func) -> _Stages:
    from .frontend import build_ir
    from .emit_cython import emit_pyx
    from .regalloc import allocate
    from .relooper import lower_labelled_jumps, reloop, render

    ir = build_ir(py_func)
    successors = {block.id: block.all_successors() for block in ir.blocks.values()}
    shape = reloop(ir.entry, successors)
    program = lower_labelled_jumps(render(shape, successors))
    allocation = allocate(ir)
    pyx = emit_pyx(ir, program, allocation)
    return _Stages(ir, shape, program, allocation, pyx)


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


def _dump(py_func, text: str) -> None:
    dump_dir = os.environ.get("JUSTJIT_DUMP_DIR")
    if not dump_dir:
        return
    os.makedirs(dump_dir, exist_ok=True)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "._" else "_" for c in py_func.__qualname__)
    path = os.path.join(dump_dir, f"{safe}_{digest}.pyx")
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)


def compile_function(py_func, *, backend: str = "cython", use_cache: bool = True) -> Compiled:
    if backend != "cython":
        raise CompileError(f"the {backend!r} backend is not available yet",
                           construct=f"backend={backend!r}", stage="backend",
                           filename=py_func.__code__.co_filename,
                           lineno=py_func.__code__.co_firstlineno)
    from .backends.cython_build import build_module

    stages = _run_stages(py_func)
    text = stages.pyx.text
    _dump(py_func, text)
    module = build_module(text, name_hint=py_func.__name__,
                          key_extra=(code_fingerprint(py_func.__code__),),
                          use_cache=use_cache)
    module.__jj_init(stages.pyx.constants)
    return Compiled(entry=module.entry, pyx_source=text, signature=_signature_text(py_func),
                    module=module)


def explain_stage(py_func, stage: str) -> str:
    """The text of one stage for `python -m justjit explain`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    if stage == "cfg":
        from .frontend import explain_cfg
        return explain_cfg(py_func)
    stages = _run_stages(py_func)
    if stage == "ir":
        from .ir.printer import format_function
        return format_function(stages.ir)
    if stage == "shapes":
        from .relooper import format_ast, format_shape
        return format_shape(stages.shape) + "\n\n" + format_ast(stages.program)
    if stage == "alloc":
        from .regalloc import format_allocation
        return format_allocation(stages.ir, stages.allocation)
    return stages.pyx.text
