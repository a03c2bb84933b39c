"""The Relooper: turn a CFG into structured control flow (loops, ifs, a label where needed).

Stages, one module each, each with a printer:

    analysis.reloop(entry, successors) -> shape tree      (shapes.format_shape)
    structured.render(shape, successors) -> Seq           (structured.format_ast)
    structured.lower_labelled_jumps(Seq) -> Seq           (no break/continue to outer loops)

`interpret` runs graphs and programs side by side, for the tests. Nothing here depends on the
rest of the compiler: the input is an abstract CFG of integer block ids.
"""

from .analysis import reloop
from .shapes import Loop, Multiple, Shape, Simple, format_shape
from .structured import Seq, format_ast, lower_labelled_jumps, render, verify
from .interpret import execute, execute_graph

__all__ = [
    "reloop", "Shape", "Simple", "Loop", "Multiple", "format_shape",
    "render", "lower_labelled_jumps", "verify", "Seq", "format_ast",
    "execute", "execute_graph",
]
