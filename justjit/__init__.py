"""JustJIT: a just-in-time compiler for CPython that keeps CPython's semantics.

    from justjit import jit

    @jit
    def f(a, b):
        return a + b

See ``justjit.dispatcher`` for what ``@jit`` returns and ``python -m justjit`` for
the command line (``explain``, ``demo``).
"""

from justjit.dispatcher import jit
from justjit.errors import CompileError, JITWarning

__version__ = "0.1.0"

__all__ = ["jit", "CompileError", "JITWarning", "__version__"]
