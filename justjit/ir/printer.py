"""Text form of the register IR, for `explain --stage ir`, golden tests and debugging.

One line per op: `%dest = OpName field, field  ; line N`. The format is generic over the
op dataclasses, so a new op class prints without touching this file.
"""

from __future__ import annotations

import dataclasses
import types

from .ops import Block, IRFunction, Op, Reg


def format_value(value) -> str:
    if isinstance(value, Reg):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if hasattr(value, "co_name") and hasattr(value, "co_code"):
        return f"<code {value.co_qualname}>"
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"  # not its file: the text must not depend on paths
    return repr(value)


def format_op(op: Op) -> str:
    defs = set(op.DEFS)
    fields = [f for f in dataclasses.fields(op) if f.name != "line"]
    dest = [format_value(getattr(op, f.name)) for f in fields if f.name in defs]
    rest = []
    for f in fields:
        if f.name in defs:
            continue
        value = getattr(op, f.name)
        text = format_value(value)
        if (f.name in op.TARGETS or f.name in ("target", "if_true", "if_false", "body", "exit")) \
                and isinstance(value, int):
            text = f"b{value}"
        rest.append(text if f.name in op.USES else f"{f.name}={text}")
    text = type(op).__name__ + (" " + ", ".join(rest) if rest else "")
    if dest:
        text = ", ".join(dest) + " = " + text
    if op.line is not None:
        text = f"{text:<48} ; line {op.line}"
    return text


def format_block(block: Block) -> str:
    head = f"b{block.id}:"
    if block.handler is not None:
        h = block.handler
        head += f"  (except -> b{h.target}, exc in {h.exc_dest}"
        head += f", lasti in {h.lasti_dest})" if h.lasti_dest is not None else ")"
    lines = [head]
    lines += ["    " + format_op(op) for op in block.ops]
    lines.append("    " + (format_op(block.terminator) if block.terminator else "<no terminator>"))
    return "\n".join(lines)


def format_function(fn: IRFunction) -> str:
    args = ", ".join(str(a) for a in fn.args)
    kind = "generator " if fn.is_generator else ""
    head = f"{kind}function {fn.qualname}({args})  ; {fn.filename}:{fn.firstlineno}, entry b{fn.entry}"
    lines = [head]
    if fn.specialization is not None:
        lines += ["; " + line for line in str(fn.specialization).splitlines()]
    return "\n".join(lines + [format_block(b) for b in fn.ordered_blocks()]) + "\n"
