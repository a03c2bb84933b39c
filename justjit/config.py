"""Where JustJIT's settings come from, resolved in one place.

Five layers, each overriding the ones before it::

    1 built-in defaults
    2 [tool.justjit] in the project's pyproject.toml
      (the first pyproject.toml found walking up from the current directory)
    3 JUSTJIT_* environment variables
    4 code: ``justjit.config.<setting> = value`` or ``justjit.configure(...)``
    5 decorator arguments: ``@jit(backend=..., hot=...)``

This module *is* the in-code configuration object: its settings are properties,
so ``justjit.config.backend = "llvm"`` checks the value at once (a bad value raises
``ValueError`` there, not at some later call) and ``justjit.config.backend`` reads
the effective value (layers 1-4). ``del justjit.config.backend`` or
``justjit.config.reset()`` drops what code set.

The settings (``python -m justjit config`` prints them with their origin):

=============  ==========================  ==========  ==============================
name           environment variable        default     meaning
=============  ==========================  ==========  ==============================
backend        JUSTJIT_BACKEND             "cython"    "cython" or "llvm"
cache          JUSTJIT_CACHE               True        use the on-disk cache
cache_dir      JUSTJIT_CACHE_DIR           (XDG)       where the cache lives
hot            JUSTJIT_HOT                 0           @jit: interpreted calls per
                                                       argument-type signature before
                                                       compiling (0: compile on the
                                                       first call)
background     JUSTJIT_BACKGROUND          False       @jit: compile in a thread while
                                                       calls run in the interpreter
threshold      JUSTJIT_THRESHOLD           1000        enable()/``run``: calls that make
                                                       a function hot
opt_level      JUSTJIT_OPT_LEVEL           2           C compiler -O level (0-3)
tiered         JUSTJIT_TIERED              True        cython, opt_level >= 2: serve the
                                                       first calls from a module built at
                                                       -Og while the opt_level build runs
                                                       in the background, then swap
max_signatures JUSTJIT_MAX_SIGNATURES      8           @jit: typed specializations per
                                                       function; beyond, generic code
dump_dir       JUSTJIT_DUMP_DIR            None        copy every generated .pyx there
disable        JUSTJIT_DISABLE             False       run everything in the interpreter
fallback       JUSTJIT_FALLBACK            True        interpret (with a JITWarning)
                                                       what cannot be compiled
=============  ==========================  ==========  ==============================

Per-function settings (``backend``, ``cache``, ``hot``, ``background``, ``opt_level``,
``tiered``, ``max_signatures``, ``dump_dir``, ``disable``, ``fallback``) are resolved when
``@jit`` runs, into a frozen
``JITConfig``: change ``justjit.config`` before importing the code that uses ``@jit``.
Process-wide settings (``cache_dir``, ``threshold``) are read when they are used.
Relative paths in pyproject.toml are relative to the directory of that file.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "VALID_BACKENDS",
    "DEFAULT_BACKEND",
    "SETTINGS",
    "JITConfig",
    "Resolved",
    "resolve",
    "current",
    "configure",
    "reset",
    "find_pyproject",
    "check_backend",
]

VALID_BACKENDS = ("cython", "llvm")
DEFAULT_BACKEND = "cython"

ENV_BACKEND = "JUSTJIT_BACKEND"
ENV_DISABLE = "JUSTJIT_DISABLE"
ENV_DUMP_DIR = "JUSTJIT_DUMP_DIR"
ENV_CACHE_DIR = "JUSTJIT_CACHE_DIR"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


# --------------------------------------------------------------------------- settings


class Setting:
    """One setting: its type, default, environment variable and meaning."""

    __slots__ = ("name", "kind", "default", "doc", "per_function", "minimum", "maximum")

    def __init__(self, name: str, kind: str, default: Any, doc: str, per_function: bool,
                 minimum: int | None = None, maximum: int | None = None) -> None:
        self.name = name
        self.kind = kind  # "backend", "bool", "int", "path"
        self.default = default
        self.doc = doc
        self.per_function = per_function  # resolved into JITConfig for each @jit
        self.minimum = minimum
        self.maximum = maximum

    @property
    def env(self) -> str:
        return "JUSTJIT_" + self.name.upper()

    def __repr__(self) -> str:
        return f"<Setting {self.name} default={self.default!r} env={self.env}>"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("backend", "backend", DEFAULT_BACKEND, "compiler backend: 'cython' or 'llvm'", True),
        Setting("cache", "bool", True, "use the on-disk cache of compiled modules", True),
        Setting("cache_dir", "path", None, "cache directory (default $XDG_CACHE_HOME/justjit or ~/.cache/justjit)", True),
        Setting("hot", "int", 0, "@jit: interpreted calls per argument-type signature before compiling", True, 0),
        Setting("background", "bool", False, "@jit: compile in a background thread, interpret meanwhile", True),
        Setting("threshold", "int", 1000, "enable() / run: calls that make a function hot", False, 1),
        Setting("opt_level", "int", 2, "C compiler optimization level (0-3)", True, 0, 3),
        Setting("tiered", "bool", True, "cython: a quick -Og build first, then the opt_level one (background)", True),
        Setting("max_signatures", "int", 8, "@jit: typed specializations per function (beyond: generic code)", True, 1),
        Setting("dump_dir", "path", None, "directory receiving a copy of every generated .pyx", True),
        Setting("disable", "bool", False, "run every jitted function in the interpreter", True),
        Setting("fallback", "bool", True, "interpret (with one JITWarning) what cannot be compiled", True),
    )
}


@dataclass(frozen=True)
class JITConfig:
    """The settings of one jitted function, after resolution."""

    backend: str = DEFAULT_BACKEND
    fallback: bool = True
    cache: bool = True
    cache_dir: str | None = None
    disable: bool = False
    dump_dir: str | None = None
    hot: int = 0
    background: bool = False
    opt_level: int = 2
    tiered: bool = True
    max_signatures: int = 8


_JIT_FIELDS = tuple(f.name for f in fields(JITConfig))
assert set(_JIT_FIELDS) == {s.name for s in SETTINGS.values() if s.per_function}


# ------------------------------------------------------------------------- validation


def check_backend(name: object, *, origin: str = "backend") -> str:
    """Return ``name`` if it is a valid backend name, else raise ValueError."""
    if not isinstance(name, str) or name not in VALID_BACKENDS:
        valid = ", ".join(repr(b) for b in VALID_BACKENDS)
        raise ValueError(f"invalid {origin} {name!r}: valid backends are {valid}")
    return name


def _check(setting: Setting, value: Any, origin: str) -> Any:
    """``value`` if valid for ``setting`` (as given by ``origin``), else raise."""
    what = f"{setting.name} from {origin}"
    if setting.kind == "backend":
        return check_backend(value, origin=f"backend from {origin}")
    if setting.kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{what} must be True or False, not {value!r}")
        return value
    if setting.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{what} must be an integer, not {value!r}")
        if setting.minimum is not None and value < setting.minimum:
            raise ValueError(f"{what} must be at least {setting.minimum}, not {value!r}")
        if setting.maximum is not None and value > setting.maximum:
            raise ValueError(f"{what} must be at most {setting.maximum}, not {value!r}")
        return value
    if setting.kind == "path":
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{what} must be a path (str), not {value!r}")
        return os.fspath(value)
    raise AssertionError(setting.kind)


def _parse_text(setting: Setting, text: str, origin: str) -> Any:
    """An environment variable's text as a value of ``setting``."""
    if setting.kind == "bool":
        value = text.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError(
            f"environment variable {origin}={text!r} is not a boolean "
            f"(use one of {sorted(_TRUE)} or {sorted(_FALSE - {''})})"
        )
    if setting.kind == "int":
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError(f"environment variable {origin}={text!r} is not an integer") from None
        return _check(setting, number, f"environment variable {origin}")
    if setting.kind == "backend":
        return check_backend(text.strip(), origin=f"backend from {origin}")
    return text  # path


# ---------------------------------------------------------------------------- layers


def _from_environ(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """``{name: (value, origin)}`` for the settings the environment gives."""
    layer: dict[str, tuple[Any, str]] = {}
    for setting in SETTINGS.values():
        text = environ.get(setting.env)
        if text is None:
            continue
        # An empty string means "not set" for everything but booleans, where
        # JUSTJIT_DISABLE= reads as false (as it always has).
        if setting.kind != "bool" and not text.strip():
            continue
        layer[setting.name] = (_parse_text(setting, text, setting.env), f"environment ({setting.env})")
    return layer


def find_pyproject(start: str | os.PathLike | None = None) -> Path | None:
    """The first ``pyproject.toml`` in ``start`` (default: the cwd) or a parent."""
    try:
        directory = Path(start if start is not None else os.getcwd()).resolve()
    except OSError:
        return None
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


_PYPROJECT_MEMO: dict[str, tuple[tuple, dict]] = {}
_memo_lock = threading.Lock()


def _from_pyproject(path: Path | None) -> dict[str, tuple[Any, str]]:
    """``{name: (value, origin)}`` from ``[tool.justjit]`` of ``path``.

    Memoized on the file's (mtime, size), so a resolve per ``@jit`` reads the file
    once. Unknown keys are reported with a ``JITWarning`` and ignored (a typo must
    not stop the program); bad values raise ValueError/TypeError naming the file.
    """
    if path is None:
        return {}
    try:
        st = path.stat()
    except OSError:
        return {}
    stamp = (st.st_mtime_ns, st.st_size)
    key = str(path)
    with _memo_lock:
        memo = _PYPROJECT_MEMO.get(key)
    if memo is not None and memo[0] == stamp:
        return dict(memo[1])
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read JustJIT settings from {path}: {exc}") from exc
    table = data.get("tool", {}).get("justjit", {}) if isinstance(data.get("tool"), dict) else {}
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [tool.justjit] must be a table")
    origin = f"pyproject.toml ({path})"
    layer: dict[str, tuple[Any, str]] = {}
    for name, value in table.items():
        setting = SETTINGS.get(name)
        if setting is None:
            _warn_unknown(path, name)
            continue
        value = _check(setting, value, f"{path} [tool.justjit]")
        if setting.kind == "path" and value is not None:
            value = str((path.parent / value).resolve()) if not os.path.isabs(value) else value
        layer[name] = (value, origin)
    with _memo_lock:
        _PYPROJECT_MEMO[key] = (stamp, layer)
    return dict(layer)


def _warn_unknown(path: Path, name: str) -> None:
    import warnings

    from justjit.errors import JITWarning

    valid = ", ".join(SETTINGS)
    warnings.warn(
        f"{path}: unknown setting {name!r} in [tool.justjit] is ignored (valid settings: {valid})",
        JITWarning,
        stacklevel=4,
    )


_code_layer: dict[str, Any] = {}
_code_lock = threading.Lock()
CODE_ORIGIN = "code (justjit.config)"


def configure(**settings: Any) -> None:
    """Set several settings from code (layer 4), e.g. ``configure(backend="cython", hot=10)``.

    All values are checked before any is applied. ``None`` removes what code set for
    that setting (the layers below apply again).
    """
    checked = {}
    for name, value in settings.items():
        setting = SETTINGS.get(name)
        if setting is None:
            raise TypeError(f"configure() got an unknown setting {name!r} (valid settings: {', '.join(SETTINGS)})")
        checked[name] = None if value is None else _check(setting, value, CODE_ORIGIN)
    with _code_lock:
        for name, value in checked.items():
            if value is None:
                _code_layer.pop(name, None)
            else:
                _code_layer[name] = value


def reset(*names: str) -> None:
    """Forget what code set (for ``names``, or for every setting)."""
    with _code_lock:
        if not names:
            _code_layer.clear()
        for name in names:
            _code_layer.pop(name, None)


# ------------------------------------------------------------------------ resolution


class Resolved:
    """Every setting's effective value (``values``, also as attributes) and where it came
    from (``origins``), plus the pyproject.toml that was read."""

    __slots__ = ("values", "origins", "pyproject")

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, str], pyproject: Path | None) -> None:
        self.values = values
        self.origins = origins
        self.pyproject = pyproject

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def rows(self) -> list[tuple[str, Any, str]]:
        return [(name, self.values[name], self.origins[name]) for name in SETTINGS]

    def __repr__(self) -> str:
        return f"<Resolved {dict(self.values)!r}>"


def _layers(environ, pyproject, decorator) -> Resolved:
    if environ is None:
        environ = os.environ
    if pyproject is None:
        pyproject = find_pyproject()
    elif pyproject is False:
        pyproject = None
    else:
        pyproject = Path(pyproject)
    values = {name: s.default for name, s in SETTINGS.items()}
    origins = {name: "default" for name in SETTINGS}
    with _code_lock:
        code = dict(_code_layer)
    for layer in (
        _from_pyproject(pyproject),
        _from_environ(environ),
        {name: (value, CODE_ORIGIN) for name, value in code.items()},
        {name: (value, "decorator argument") for name, value in decorator.items()},
    ):
        for name, (value, origin) in layer.items():
            values[name] = value
            origins[name] = origin
    return Resolved(values, origins, pyproject)


def current(*, environ: Mapping[str, str] | None = None, pyproject=None) -> Resolved:
    """The effective settings of layers 1-4 (``pyproject``: a path, ``False`` for none,
    or ``None`` to search from the current directory)."""
    return _layers(environ, pyproject, {})


def resolve(
    *,
    backend: str | None = None,
    fallback: bool | None = None,
    cache: bool | None = None,
    hot: int | None = None,
    background: bool | None = None,
    opt_level: int | None = None,
    tiered: bool | None = None,
    max_signatures: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    dump_dir: str | os.PathLike | None = None,
    disable: bool | None = None,
    environ: Mapping[str, str] | None = None,
    pyproject=None,
) -> JITConfig:
    """Resolve the settings for one ``@jit`` use.

    Keyword arguments are the decorator's; ``None`` means "not given there".
    ``environ`` defaults to ``os.environ`` and ``pyproject`` to the one found from
    the current directory (tests pass their own, or ``pyproject=False``).
    """
    given = {
        "backend": backend,
        "fallback": fallback,
        "cache": cache,
        "hot": hot,
        "background": background,
        "opt_level": opt_level,
        "tiered": tiered,
        "max_signatures": max_signatures,
        "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
        "dump_dir": None if dump_dir is None else os.fspath(dump_dir),
        "disable": disable,
    }
    decorator = {}
    for name, value in given.items():
        if value is None:
            continue
        if name == "backend":
            check_backend(value)
        elif SETTINGS[name].kind == "bool" and not isinstance(value, bool):
            raise TypeError(f"jit() argument {name}= must be True or False, not {value!r}")
        decorator[name] = _check(SETTINGS[name], value, "jit() argument")
    resolved = _layers(environ, pyproject, decorator)
    return JITConfig(**{name: resolved.values[name] for name in _JIT_FIELDS})


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The cache directory when no layer sets ``cache_dir``: XDG, else ``~/.cache``."""
    environ = os.environ if environ is None else environ
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "justjit"
    return Path.home() / ".cache" / "justjit"


def describe(*, environ: Mapping[str, str] | None = None, pyproject=None) -> str:
    """The table ``python -m justjit config`` prints."""
    resolved = current(environ=environ, pyproject=pyproject)
    rows = []
    for name, value, origin in resolved.rows():
        if name == "cache_dir" and value is None:
            value = str(default_cache_dir(environ))
            origin = "default (XDG_CACHE_HOME or ~/.cache)"
        shown = value if SETTINGS[name].kind == "path" and value is not None else repr(value)
        rows.append((name, shown, origin))
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    lines = [f"{'setting':<{width}}  {'value':<{vwidth}}  origin"]
    lines += [f"{n:<{width}}  {v:<{vwidth}}  {o}" for n, v, o in rows]
    if resolved.pyproject is None:
        lines.append("pyproject.toml: none found from the current directory")
    else:
        lines.append(f"pyproject.toml: {resolved.pyproject}")
    lines.append("precedence: default < pyproject.toml [tool.justjit] < JUSTJIT_* environment "
                 "< justjit.config in code < @jit arguments")
    return "\n".join(lines) + "\n"


# -------------------------------------------------- the module as a configuration object


def _make_property(name: str) -> property:
    setting = SETTINGS[name]

    def fget(module):
        return current().values[name]

    def fset(module, value):
        configure(**{name: value}) if value is not None else reset(name)

    def fdel(module):
        reset(name)

    return property(fget, fset, fdel, doc=setting.doc)


class _ConfigModule(types.ModuleType):
    """``justjit.config``: module functions plus one property per setting."""

    def __repr__(self) -> str:
        resolved = current()
        inner = ", ".join(f"{name}={resolved.values[name]!r}" for name in SETTINGS)
        return f"<justjit.config {inner}>"

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in SETTINGS or name in self.__dict__:
            super().__setattr__(name, value)
            return
        raise AttributeError(
            f"justjit.config has no setting {name!r} (settings: {', '.join(SETTINGS)})"
        )


for _name in SETTINGS:
    setattr(_ConfigModule, _name, _make_property(_name))
del _name

sys.modules[__name__].__class__ = _ConfigModule
