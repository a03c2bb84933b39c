"""The Cython backend: register IR -> relooper -> register allocation -> .pyx -> C extension.

    compile(ir, ...) -> Compiled       explain(ir, stage) -> text of one of its stages
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGES = ("shapes", "alloc", "pyx")
TYPED = True  # emits the typed ops of justjit.specialize
CHAINS = True  # modules take the next specialization of the dispatcher's chain (__jj_chain)


@dataclass
class CythonStages:
    shape: Any
    program: Any
    allocation: Any
    pyx: Any


def run_stages(ir) -> CythonStages:
    from ..emit_cython import emit_pyx
    from ..regalloc import allocate
    from ..relooper import lower_labelled_jumps, reloop, render

    successors = {block.id: block.all_successors() for block in ir.blocks.values()}
    shape = reloop(ir.entry, successors)
    program = lower_labelled_jumps(render(shape, successors))
    allocation = allocate(ir)
    pyx = emit_pyx(ir, program, allocation)
    return CythonStages(shape, program, allocation, pyx)


def compile(ir, *, key_extra: tuple, use_cache: bool, opt_level: int, on_source=None,
            metadata=None):
    """Build (or load from the cache) the extension for `ir`; returns (entry, pyx text,
    module). `metadata` (function, signature, backend) is recorded in the cache entry."""
    from .cython_build import build_module

    stages = run_stages(ir)
    text = stages.pyx.text
    if on_source is not None:
        on_source(text, ".pyx")
    module = build_module(text, name_hint=ir.name, key_extra=key_extra,
                          use_cache=use_cache, opt_level=opt_level, metadata=metadata)
    # The module is keyed by the code object's fingerprint (in key_extra) as well as its
    # text, so the constants given here are always the ones its text was generated for.
    module.__jj_init(stages.pyx.constants)
    return module.entry, text, module


def explain(ir, stage: str) -> str:
    stages = run_stages(ir)
    if stage == "shapes":
        from ..relooper import format_ast, format_shape
        return format_shape(stages.shape) + "\n\n" + format_ast(stages.program)
    if stage == "alloc":
        from ..regalloc import format_allocation
        return format_allocation(ir, stages.allocation)
    return stages.pyx.text
