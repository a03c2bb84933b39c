"""JustJIT's logging: every compile-time message goes to the ``justjit`` logger.

As a library, JustJIT only attaches a ``NullHandler``: nothing is printed unless the
application configures logging (``logging.basicConfig(level=logging.INFO)``) or runs
``python -m justjit run --verbose``. At INFO there is one line per compilation::

    justjit: compiled mymod.f(int, int) backend=cython opt=2 in 0.412 s, cache miss

and one line per function that falls back to the interpreter. DEBUG adds the start
of each compilation and the hot-signature decisions.
"""

from __future__ import annotations

import logging

__all__ = ["logger", "enable_console"]

logger = logging.getLogger("justjit")
logger.addHandler(logging.NullHandler())


def enable_console(level: int = logging.INFO, stream=None) -> logging.Handler:
    """Print JustJIT's log records on ``stream`` (default stderr) from ``level`` up."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler
