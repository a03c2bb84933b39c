"""Structured program + register allocation -> Cython .pyx text (see emitter.py).

    from justjit.emit_cython import emit_pyx
    pyx = emit_pyx(ir_function, program, allocation)
    module = build_module(pyx.text, ...); module.__jj_init(pyx.constants)
    module.entry((globals, builtins, closure), *argument_values)
"""

from .emitter import EmitError, PyxModule, emit_pyx, structure, tb_code
from .names import ConstPool, comment_text, mangle

__all__ = ["emit_pyx", "PyxModule", "EmitError", "structure", "tb_code", "ConstPool",
           "comment_text", "mangle", "format_pyx"]


def format_pyx(fn, program=None, allocation=None) -> str:
    """The .pyx text for `fn` (for `explain` and debugging)."""
    return emit_pyx(fn, program, allocation).text
