"""Everything the frontend refuses to compile, in one place.

Compiled code runs without a Python frame of its own, so anything that inspects "the current
frame" would see the caller's frame instead (locals(), vars(), globals(), dir(), eval/exec
without namespaces, sys._getframe, inspect.currentframe). Module and class bodies (name-based
opcodes) and async code are out of scope. Every refusal is a `CompileError` naming the
construct and `file:line`, so the dispatcher's fallback warning points at the user's code.

The tables below are the facts; the functions only look them up.
"""

from __future__ import annotations

import inspect
from typing import Optional

from ..errors import CompileError

# Code flags that are refused (flag -> construct).
REFUSED_FLAGS = {
    inspect.CO_COROUTINE: "async function",
    inspect.CO_ITERABLE_COROUTINE: "generator-based coroutine (types.coroutine)",
    inspect.CO_ASYNC_GENERATOR: "async generator",
}

# 3.11 opcodes that are refused (opcode -> construct). Any opcode that is neither here nor
# handled by decode is refused as "unsupported opcode".
REFUSED_OPCODES = {
    "LOAD_NAME": "module or class body code",
    "STORE_NAME": "module or class body code",
    "DELETE_NAME": "module or class body code",
    "LOAD_CLASSDEREF": "class body code",
    "IMPORT_STAR": "from ... import *",
    "SETUP_ANNOTATIONS": "module or class body annotations",
    "PRINT_EXPR": "interactive expression statement",
    "GET_AWAITABLE": "await",
    "GET_AITER": "async for",
    "GET_ANEXT": "async for",
    "END_ASYNC_FOR": "async for",
    "BEFORE_ASYNC_WITH": "async with",
    "ASYNC_GEN_WRAP": "async generator",
    "SEND": "yield from / await outside the usual loop",
}

# Builtins that read the caller's frame when called with some number of positional
# arguments: name -> (construct, predicate on the number of positional arguments).
FRAME_CALLS = {
    "locals": ("locals()", lambda n: True),
    "vars": ("vars() without an argument", lambda n: n == 0),
    "globals": ("globals()", lambda n: n == 0),
    "dir": ("dir() without an argument", lambda n: n == 0),
    "eval": ("eval() without explicit namespaces", lambda n: n == 1),
    "exec": ("exec() without explicit namespaces", lambda n: n == 1),
}

# Attribute, global or imported names whose only use is to reach a frame.
FRAME_NAMES = {
    "_getframe": "sys._getframe",
    "currentframe": "inspect.currentframe",
}


def refuse(message: str, construct: str, code, line: Optional[int]) -> CompileError:
    """A CompileError for `construct` at `code`'s file and `line` (the caller raises it)."""
    filename = getattr(code, "co_filename", None)
    if line is None:
        line = getattr(code, "co_firstlineno", None)
    name = getattr(code, "co_qualname", "?")
    # str(error) starts with "file:line: " (CompileError adds the location).
    return CompileError(f"cannot compile {name}(): {message}", construct=construct,
                        filename=filename, lineno=line, stage="frontend")


def check_code(code) -> None:
    """Refuse code objects whose kind is not supported (async functions and generators)."""
    for flag, construct in REFUSED_FLAGS.items():
        if code.co_flags & flag:
            raise refuse(f"{construct}s are not supported", construct, code,
                         code.co_firstlineno)


def refuse_opcode(opname: str, code, line: Optional[int]) -> CompileError:
    construct = REFUSED_OPCODES.get(opname)
    if construct is not None:
        construct = f"{construct} ({opname})"
        return refuse(f"{construct} is not supported", construct, code, line)
    return refuse(f"unsupported opcode {opname}", f"opcode {opname}", code, line)


def check_name(name: str, code, line: Optional[int]) -> None:
    """Refuse loading a global, attribute or imported name that reaches a frame."""
    construct = FRAME_NAMES.get(name)
    if construct is not None:
        raise refuse(f"{construct} needs a Python frame, which compiled code does not have",
                     construct, code, line)


def check_call(callee: Optional[str], npositional: Optional[int], code,
               line: Optional[int]) -> None:
    """Refuse a call of the global `callee` (None: not a global) that reads the caller's
    frame. `npositional` is the number of positional arguments, or None when unknown
    (f(*args, **kw)), which is refused for every frame-reading builtin."""
    if callee is None or callee not in FRAME_CALLS:
        return
    construct, reads_frame = FRAME_CALLS[callee]
    if npositional is None or reads_frame(npositional):
        raise refuse(f"{construct} needs the calling Python frame, which compiled code does "
                     "not have", construct, code, line)


def refuse_super(reason: str, code, line: Optional[int]) -> CompileError:
    return refuse(f"zero-argument super() {reason}", "super()", code, line)
