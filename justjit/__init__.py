"""JustJIT: a just-in-time compiler for CPython that keeps CPython's semantics.

    from justjit import jit

    @jit                      # or @jit(hot=100, background=True, ...)
    def f(a, b):
        return a + b

    import justjit
    justjit.config.backend = "cython"   # settings: see justjit.config
    justjit.enable(threshold=1000)      # compile hot functions without decorators

See ``justjit.dispatcher`` for what ``@jit`` returns, ``justjit.autojit`` for
``enable()`` and ``python -m justjit run``, and ``python -m justjit`` for the command
line (``run``, ``config``, ``cache``, ``explain``, ``demo``).
"""

from justjit import config
from justjit.config import configure
from justjit.dispatcher import jit
from justjit.errors import CompileError, JITWarning

__version__ = "0.1.0"

__all__ = ["jit", "enable", "configure", "config", "CompileError", "JITWarning", "__version__"]


def enable(threshold=None, *, report=False, watch_caller=True):
    """Compile the hot functions of your own code without decorators.

    See ``justjit.autojit.enable`` (imported on first use, so ``import justjit`` stays
    cheap).
    """
    from justjit import autojit

    return autojit.enable(threshold, report=report, watch_caller=watch_caller, _depth=2)
