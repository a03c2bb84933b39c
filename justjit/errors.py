"""Exceptions and warnings raised by JustJIT.

``CompileError`` is what every stage raises when it refuses a function (an
unsupported construct, a failed C build, ...).  It carries the location of the
construct so that the dispatcher's fallback warning can point at user code.
``JITWarning`` is the category of the warning issued when the dispatcher falls
back to the interpreter.
"""

from __future__ import annotations

__all__ = ["JITWarning", "CompileError"]


class JITWarning(UserWarning):
    """A jitted function runs in the interpreter (or something else to know)."""


class CompileError(Exception):
    """Compiling a function was refused or failed.

    Attributes (all optional, ``None`` when unknown):

    - ``message``: the human-readable reason.
    - ``construct``: the unsupported construct, e.g. ``"async with"``.
    - ``filename`` / ``lineno``: where that construct is in the user's source.
    - ``stage``: the pipeline stage that refused, e.g. ``"frontend"``, ``"build"``.
    - ``pyx_path``: the generated .pyx that was kept for inspection.
    - ``source_excerpt``: the offending source line(s).
    """

    def __init__(
        self,
        message: str,
        *,
        construct: str | None = None,
        filename: str | None = None,
        lineno: int | None = None,
        stage: str | None = None,
        pyx_path: str | None = None,
        source_excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.construct = construct
        self.filename = filename
        self.lineno = lineno
        self.stage = stage
        self.pyx_path = pyx_path
        self.source_excerpt = source_excerpt

    @property
    def location(self) -> str | None:
        """``file:line`` (or just ``file``) when known, else ``None``."""
        if self.filename is None:
            return None
        if self.lineno is None:
            return str(self.filename)
        return f"{self.filename}:{self.lineno}"

    def __str__(self) -> str:
        text = str(self.message)
        loc = self.location
        if loc is not None:
            text = f"{loc}: {text}"
        extras = []
        if self.stage is not None:
            extras.append(f"stage: {self.stage}")
        if self.pyx_path is not None:
            extras.append(f"generated source kept at {self.pyx_path}")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        if self.source_excerpt:
            excerpt = "\n".join("    " + line for line in str(self.source_excerpt).splitlines())
            text += "\n" + excerpt
        return text

    def __reduce__(self):
        # Keyword-only constructor arguments: keep the exception picklable
        # (multiprocessing, pytest-xdist) with all attributes intact.
        return (_rebuild_compile_error, (type(self), self.message, self._fields()))

    def _fields(self) -> dict:
        return {
            "construct": self.construct,
            "filename": self.filename,
            "lineno": self.lineno,
            "stage": self.stage,
            "pyx_path": self.pyx_path,
            "source_excerpt": self.source_excerpt,
        }


def _rebuild_compile_error(cls, message, fields):
    return cls(message, **fields)
