"""The frontend: from a Python function to a verified register-IR function.

    decode (3.11 bytecode -> neutral instructions)      frontend/decode.py
    -> build_cfg (basic blocks, exception edges)        frontend/cfg.py
    -> stack_to_reg (value stack -> registers)          frontend/stack_to_reg.py
    -> verify                                           ir/verify.py

Refusals (CompileError naming the construct and file:line) all come from frontend/refusals.py.
"""

from __future__ import annotations

import inspect
import linecache
import types
from typing import Union

from ..ir.ops import IRFunction, Reg
from ..ir.verify import verify
from .cfg import CFG, build_cfg, format_cfg
from .decode import decode
from .stack_to_reg import argument_names, stack_to_reg

__all__ = ["build_ir", "build_cfg_of", "explain_cfg", "format_cfg"]

FunctionLike = Union[types.FunctionType, types.CodeType]


def _code_of(func: FunctionLike) -> types.CodeType:
    if isinstance(func, types.CodeType):
        return func
    func = inspect.unwrap(func) if not isinstance(func, types.FunctionType) else func
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise TypeError(f"expected a Python function or code object, not {type(func).__name__}")
    return code


def build_cfg_of(func: FunctionLike) -> CFG:
    """The CFG of a function (or code object)."""
    return build_cfg(_code_of(func))


def explain_cfg(func: FunctionLike) -> str:
    """The CFG of a function as text (`format_cfg`)."""
    return format_cfg(build_cfg_of(func))


def build_ir(func: FunctionLike) -> IRFunction:
    """The verified register IR of a function (or code object); CompileError if refused."""
    code = _code_of(func)
    cfg = build_cfg(code, decode(code))
    blocks = stack_to_reg(cfg)
    fn = IRFunction(
        name=getattr(func, "__name__", code.co_name),
        qualname=getattr(func, "__qualname__", code.co_qualname),
        filename=code.co_filename,
        firstlineno=code.co_firstlineno,
        code=code,
        args=[Reg(name, "var") for name in argument_names(code)],
        blocks=blocks,
        entry=cfg.entry,
        is_generator=bool(code.co_flags & inspect.CO_GENERATOR),
        source_lines=_source_lines(code, blocks),
    )
    verify(fn)
    return fn


def _source_lines(code: types.CodeType, blocks) -> dict[int, str]:
    """line -> source text for every line the IR mentions (empty when the source is unknown)."""
    lines = {code.co_firstlineno}
    for block in blocks.values():
        for op in block.ops + [block.terminator]:
            if op is not None and op.line is not None:
                lines.add(op.line)
    out = {}
    for line in sorted(lines):
        text = linecache.getline(code.co_filename, line)
        if text:
            out[line] = text.rstrip("\r\n")
    return out
