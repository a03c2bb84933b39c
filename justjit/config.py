"""Where JustJIT's settings come from, resolved in one place.

Precedence, highest first::

    decorator keyword  >  environment variable  >  built-in default

(a later change adds ``pyproject.toml`` and an in-code ``justjit.configure()``
layer between the environment and the defaults; ``resolve`` is the only function
that needs to learn about them).

Environment variables read here:

- ``JUSTJIT_BACKEND``: default backend, one of ``VALID_BACKENDS``.
- ``JUSTJIT_DISABLE``: ``1``/``true``/``yes``/``on`` runs everything in the
  interpreter (no compile, no warning).
- ``JUSTJIT_DUMP_DIR``: a directory that receives a copy of every generated .pyx
  (the writing is done by ``justjit.pipeline``, before the C build, so a .pyx that
  fails to build is kept too).

Settings are resolved when ``@jit`` runs (decoration time), so an invalid value is
reported at the decorator, not at some later call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

__all__ = ["VALID_BACKENDS", "DEFAULT_BACKEND", "JITConfig", "resolve"]

VALID_BACKENDS = ("cython", "llvm")
DEFAULT_BACKEND = "cython"

ENV_BACKEND = "JUSTJIT_BACKEND"
ENV_DISABLE = "JUSTJIT_DISABLE"
ENV_DUMP_DIR = "JUSTJIT_DUMP_DIR"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class JITConfig:
    """The settings of one jitted function, after resolution."""

    backend: str = DEFAULT_BACKEND
    fallback: bool = True
    cache: bool = True
    disable: bool = False
    dump_dir: str | None = None


def _parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={text!r} is not a boolean "
        f"(use one of {sorted(_TRUE)} or {sorted(_FALSE - {''})})"
    )


def check_backend(name: object, *, origin: str = "backend") -> str:
    """Return ``name`` if it is a valid backend name, else raise ValueError."""
    if not isinstance(name, str) or name not in VALID_BACKENDS:
        valid = ", ".join(repr(b) for b in VALID_BACKENDS)
        raise ValueError(f"invalid {origin} {name!r}: valid backends are {valid}")
    return name


def _from_environ(environ: Mapping[str, str]) -> dict:
    """The settings that the environment gives, as a partial dict."""
    layer: dict = {}
    if ENV_BACKEND in environ and environ[ENV_BACKEND].strip():
        layer["backend"] = check_backend(
            environ[ENV_BACKEND].strip(), origin=f"backend from {ENV_BACKEND}"
        )
    if ENV_DISABLE in environ:
        layer["disable"] = _parse_bool(ENV_DISABLE, environ[ENV_DISABLE])
    if environ.get(ENV_DUMP_DIR):
        layer["dump_dir"] = environ[ENV_DUMP_DIR]
    return layer


def resolve(
    *,
    backend: str | None = None,
    fallback: bool | None = None,
    cache: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> JITConfig:
    """Resolve the settings for one ``@jit`` use.

    Keyword arguments are the decorator's; ``None`` means "not given there".
    ``environ`` defaults to ``os.environ`` (tests pass their own mapping).
    """
    if environ is None:
        environ = os.environ
    settings: dict = {}
    # Lowest precedence first; each layer overrides the ones before it.
    layers = [
        _from_environ(environ),
        {
            key: value
            for key, value in (("backend", backend), ("fallback", fallback), ("cache", cache))
            if value is not None
        },
    ]
    for layer in layers:
        settings.update(layer)
    if backend is not None:
        check_backend(backend)
    for key in ("fallback", "cache"):
        if key in settings and not isinstance(settings[key], bool):
            raise TypeError(f"jit() argument {key}= must be True or False, not {settings[key]!r}")
    return JITConfig(**settings)
