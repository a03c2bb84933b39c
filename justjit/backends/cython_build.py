"""Turn .pyx text into a loaded extension module, through the on-disk cache.

    build_module(pyx_source, name_hint="f") -> module

Steps: key -> already loaded in this process? -> verified cache entry? ->
otherwise Cython (in-process) -> system C compiler (one subprocess) ->
publish into the cache -> load with ``ExtensionFileLoader``.

Import cost matters: a process that only loads cached modules must never
import ``Cython.Compiler`` (about 600 ms on first use), so Cython, subprocess
and sysconfig are imported only on the paths that need them.

Choices measured on this machine (tiny module / 20-line function, gcc 12):

- ``binding=False``: Cython then emits a plain builtin function instead of its
  cyfunction type: about 70 KB less C per module and 25-30 % less gcc time.
  Generated functions are wrapped by the dispatcher anyway, so they need no
  ``__defaults__``/``__code__``/descriptor behaviour of their own.
- ``-g0``: debug info costs about 20 % of gcc's time at -O2.
- ``-O2`` (the default) vs ``-O0``: 0.22 s vs 0.17 s for a tiny module,
  0.48 s vs 0.21 s for a 20-line function.  ``opt_level`` is part of the key.
- The quick first tier (`build_tiered`, the dispatcher's ``tiered``): Cython once, its
  C at ``-Og`` for the first calls, then the same C at ``opt_level`` in the background,
  which alone goes into the cache. gcc's CPU time on the eight modules of
  ``benchmarks/compile_latency.py`` (median): -O2 1.24 s, -O1 0.9 s, -Og 0.57 s,
  -O0 0.48 s; but -O0 frames are ~15 times larger (7.3 KB for group_stats' body against
  0.45 KB at -Og and 0.48 KB at -O2): a deep recursion through compiled code would
  overflow the C stack before Python's recursion limit.
- ``-fira-region=all`` (gcc only; clang rejects it): a typed loop keeps its doubles
  in registers across the cold call of the loop-head eval breaker. Mandelbrot
  3.15 ms against 5.78 ms (40x against 21x CPython); n-body, sieve and compile time
  unchanged within noise.
- No ``-w``: it would also silence ``-Werror=implicit-function-declaration``,
  which turns a misspelt runtime-header function into a compile error rather
  than an "undefined symbol" at load time.
- Cython's utility code at -O1 (gcc, ``opt_level`` >= 2): its section of the C file is
  compiled under ``#pragma GCC optimize ("O1")`` (`_utility_code_at_o1`), but for its
  indexing functions; the module's own functions (the compiled body, its entry points)
  and the runtime headers stay at -O2. Those utility functions (argument parsing,
  module init, tracebacks, exception state) are then no longer inlined into the body.
  gcc's CPU time on the eight modules of ``benchmarks/compile_latency.py``: -4 to -7 %;
  the kernels of ``python -m benchmarks`` unchanged (fib 10 % faster; with the indexing
  at -O1 too, sieve was 2 % slower). The same pragma around ``#include "jj_runtime.h"``
  would save 11 % more, but its out-of-line helpers include the call path between
  compiled functions (JJ_VectorcallCached and the trampoline checks it inlines):
  spectral norm 4.6 -> 4.9 ms at -O1, also at -Os. ``-fwrapv`` and
  ``-fno-strict-aliasing`` hold under the pragma.
- One Cython ``Context`` for successive builds (`_cython_context`): the declarations
  every module cimports (``jj_runtime.pxd``, ``cpython.object``, libc) are parsed and
  analysed once per process instead of once per build, about half of Cython's time per
  module (median 204 ms -> 105 ms on those eight modules). Each module's own scope is
  dropped after its build; the context is renewed when the options or the runtime
  directory change, after a failed build and every `_CONTEXT_MAX_BUILDS` builds. The
  C it produces is byte for byte what a fresh context produces (tests/test_cython_build.py).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import namedtuple
from pathlib import Path
from types import ModuleType

from justjit import cache as _cache

__all__ = ["BuildStats", "build_module", "build_cached", "build_tiered", "load_entry",
           "module_key", "toolchain_parts", "stats", "CYTHON_DIRECTIVES"]

# Compiler directives.  Only ones that shrink the generated C or silence
# noise; none changes Python semantics (boundscheck/wraparound stay on,
# cdivision stays off, cpow keeps Python's rules).
CYTHON_DIRECTIVES: dict[str, object] = {
    "language_level": 3,
    "binding": False,             # builtin functions, not cyfunctions (see module doc)
    "embedsignature": False,      # no signature text in docstrings
    "annotation_typing": False,   # annotations never become type checks, as in Python
    "show_performance_hints": False,
}

_NAME_HINT_MAX = 40


class BuildStats:
    """Counters for tests and introspection (this process only). (Not a dataclass: this
    module is imported by every cached load, and making one costs about 1 ms.)"""

    def __init__(self) -> None:
        self.memory_hits = 0    # returned an already-loaded module
        self.disk_hits = 0      # loaded a verified cache entry
        self.warm_hits = 0      # found by the warm path (`load_entry`; also a memory/disk hit)
        self.cython_runs = 0
        self.cython_context_reuses = 0   # Cython runs that reused the previous runs' Context
        self.cc_runs = 0
        self.corrupt_entries = 0
        self.cython_seconds = 0.0   # cumulative wall time in Cython (first run includes its import)
        self.cc_seconds = 0.0       # cumulative wall time in the C compiler

    def __repr__(self) -> str:
        return f"BuildStats({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


stats = BuildStats()

_loaded: dict[str, ModuleType] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_cython_lock = threading.Lock()   # Cython.Compiler keeps global state


def _after_fork_in_child() -> None:
    # A child forked while another thread built holds copies of locked locks.
    global _locks_guard, _cython_lock
    _locks_guard = threading.Lock()
    _cython_lock = threading.Lock()
    _locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------
# Errors (justjit.errors may not exist yet in every checkout)
# ---------------------------------------------------------------------------

class _Fallback:
    """Stand-ins used only when ``justjit.errors`` is missing."""

    class CompileError(Exception):
        def __init__(self, message, *, stage=None, pyx_path=None, source_excerpt=None, **_):
            super().__init__(message)
            self.message = message
            self.stage = stage
            self.pyx_path = pyx_path
            self.source_excerpt = source_excerpt

        def __str__(self):
            text = f"{self.message} (stage: {self.stage}; generated source kept at {self.pyx_path})"
            if self.source_excerpt:
                text += "\n" + "\n".join("    " + line for line in self.source_excerpt.splitlines())
            return text


def _compile_error(message: str, *, stage: str, pyx_path: Path | None, lines: list[str]):
    try:
        from justjit.errors import CompileError
    except ImportError:
        CompileError = _Fallback.CompileError
    return CompileError(
        message,
        stage=stage,
        pyx_path=None if pyx_path is None else str(pyx_path),
        source_excerpt="\n".join(lines) or None,
    )


# ---------------------------------------------------------------------------
# The toolchain: compiler command, flags and identity
# ---------------------------------------------------------------------------

class Toolchain(namedtuple("Toolchain", "cc identity base_flags ext_suffix")):
    """The compiler command (e.g. ("gcc",)), the first line of its `--version`, the flags
    but the runtime include and the file names, and the extension modules' suffix."""

    __slots__ = ()

    def flags(self) -> tuple[str, ...]:
        # RUNTIME_DIR is read at each use so that tests can point it elsewhere.
        return (*self.base_flags, f"-I{_cache.RUNTIME_DIR}")


_TOOLCHAINS: dict[tuple, Toolchain] = {}  # (opt_level, cache root or None) -> Toolchain
_IDENTITIES: dict[tuple[str, ...], str] = {}


def _toolchain(opt_level: int, store=None) -> Toolchain:
    """The compiler and flags for ``opt_level`` (computed once per process and cache
    directory, so that every cache directory gets the memos a cached load needs)."""
    slot = (opt_level, None if store is None else str(store.root))
    tc = _TOOLCHAINS.get(slot)
    if tc is None:
        from importlib.machinery import EXTENSION_SUFFIXES

        cc, includes = _compiler_command(store)
        identity = _compiler_identity(cc, store)
        flags = (
            "-shared", "-fPIC", "-pipe", "-g0", f"-O{opt_level}",
            "-fwrapv",                    # as CPython itself is built
            "-fno-strict-aliasing",
            "-fvisibility=hidden",        # only PyInit_* is exported (PyMODINIT_FUNC)
            "-DNDEBUG",
            "-Werror=implicit-function-declaration",
            *(("-fira-region=all",) if _is_gcc(identity) else ()),
            *(f"-I{d}" for d in includes),
        )
        tc = Toolchain(cc, identity, flags, EXTENSION_SUFFIXES[0])
        _TOOLCHAINS[slot] = tc
    return tc


def _is_gcc(identity: str) -> bool:
    """Whether ``cc --version``'s first line names gcc ("gcc (GCC) 12.2.0", or Debian's
    "cc (Debian 12.2.0-14) 12.2.0"); clang, which also answers to "cc", names itself."""
    return "clang" not in identity and (
        "gcc" in identity or "GCC" in identity or identity.startswith("cc ("))


def _compiler_command(store=None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The C compiler command (``$CC``, else Python's own) and Python's include directories.

    With a cache, memoized on disk under ``$CC`` and the interpreter's prefixes and version,
    so that a process that only loads cached modules does not import sysconfig and read
    its data (about 2 ms).
    """
    import marshal

    memo_name = None
    if store is not None:
        stamp = "\0".join((os.environ.get("CC") or "", sys.prefix, sys.exec_prefix,
                           sys.base_prefix, sys.base_exec_prefix, sys.version))
        memo_name = "cc-command-" + _cache.digest(stamp.encode("utf-8", "surrogateescape"))[:32]
        try:
            cc, includes = marshal.loads(bytes.fromhex(store.read_memo(memo_name) or ""))
            if all(isinstance(x, str) for x in (*cc, *includes)) and cc:
                return tuple(cc), tuple(includes)
        except (EOFError, ValueError, TypeError):
            pass
    import shlex
    import sysconfig

    cc = tuple(shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"))
    paths = sysconfig.get_paths()
    includes = tuple(dict.fromkeys((paths["include"], paths["platinclude"])))
    if memo_name is not None:
        store.write_memo(memo_name, marshal.dumps((cc, includes)).hex())
    return cc, includes


def _which(command: str):
    """shutil.which(command) without importing shutil (it imports bz2, lzma and more: a
    few ms of a warm start)."""
    dirs = [""] if os.sep in command else os.environ.get("PATH", os.defpath).split(os.pathsep)
    for d in dirs:
        path = os.path.join(d, command) if d else command
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _compiler_identity(cc: tuple[str, ...], store=None) -> str:
    """First line of ``cc --version``, run once per process.

    With a cache, the answer is also memoized on disk under a stamp of the
    resolved compiler executable (path, inode, size, mtime), so that a
    process that only loads cached modules forks nothing (saves ~5 ms:
    importing subprocess and running the driver).
    """
    ident = None
    memo_name = None
    if store is not None:
        exe = _which(cc[0])
        if exe is not None:
            try:
                real = os.path.realpath(exe)
                st = os.stat(real)
            except OSError:
                pass
            else:
                stamp = "\0".join(map(str, (real, st.st_dev, st.st_ino, st.st_size,
                                             st.st_mtime_ns, *cc)))
                memo_name = "cc-" + _cache.digest(stamp.encode("utf-8", "surrogateescape"))[:32]
                ident = store.read_memo(memo_name)
    if ident:
        _IDENTITIES[cc] = ident
        return ident
    ident = _IDENTITIES.get(cc)
    if not ident:
        import subprocess

        try:
            out = subprocess.run([*cc, "--version"], capture_output=True, text=True,
                                 errors="replace", env=_c_locale_env(), check=False)
            ident = (out.stdout.splitlines() or ["unknown"])[0].strip() or "unknown"
        except OSError as exc:
            ident = f"unavailable: {exc}"
    if memo_name is not None and not ident.startswith("unavailable"):
        store.write_memo(memo_name, ident)
    _IDENTITIES[cc] = ident
    return ident


def _c_locale_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"  # stable, parseable compiler messages
    return env


# ---------------------------------------------------------------------------
# Keys and names
# ---------------------------------------------------------------------------

def _sanitize(name_hint: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name_hint, flags=re.ASCII)[:_NAME_HINT_MAX]
    return name or "anon"


def module_key(pyx_source: str, *, name_hint: str, key_extra: tuple = (),
               opt_level: int = 2) -> tuple[str, str]:
    """``(module_name, full_key)`` that `build_module` would use.

    ``key_extra`` must be made of values whose ``repr`` is stable across
    processes (str, bytes, int, float, bool, None, nested tuples of them).
    """
    return _module_key(pyx_source, name_hint, key_extra, opt_level, None)


def toolchain_parts(opt_level: int, store=None) -> dict[str, str]:
    """The key parts of the C compiler and Cython's options at ``opt_level`` (also in the
    warm path's key, `justjit.fingerprint.warm_key`)."""
    tc = _toolchain(opt_level, store)
    return {
        "cc": " ".join(tc.cc),
        "cc_identity": tc.identity,
        "cc_flags": "\0".join(tc.flags()),
        "ext_suffix": tc.ext_suffix,
        "cython_directives": repr(sorted(CYTHON_DIRECTIVES.items())),
        "c_transform": _UTILITY_O1_ID if _utility_o1_applies(tc, opt_level) else "",
    }


def _module_key(pyx_source, name_hint, key_extra, opt_level, store) -> tuple[str, str]:
    hint = _sanitize(name_hint)
    parts = _cache.environment_fingerprint()
    parts.update(toolchain_parts(opt_level, store))
    parts.update(
        pyx=pyx_source,
        name_hint=hint,
        key_extra=repr(tuple(key_extra)),
        runtime=_cache.runtime_fingerprint(),
    )
    key = _cache.make_key(parts)
    return f"_jj_{hint}_{key[:16]}", key


# ---------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------

def build_module(pyx_source: str, *, name_hint: str, key_extra: tuple = (),
                 opt_level: int = 2, use_cache: bool = True,
                 metadata: dict | None = None) -> ModuleType:
    """Compile ``pyx_source`` to an extension module and load it.

    The same key twice in one process returns the same module object.  With
    ``use_cache`` (the default) a verified on-disk entry is loaded without
    running Cython or the C compiler; otherwise, or when the cache directory
    is refused, the build goes to a private temporary directory.

    ``metadata`` (optional, JSON-serializable, not part of the key) is
    recorded in the cache manifest of a new entry: the dispatcher passes the
    function's qualified name, signature and backend, which ``python -m
    justjit cache list`` shows.

    Raises ``justjit.errors.CompileError`` with ``stage`` "cython", "cc" or
    "load", the relevant error lines as ``source_excerpt`` and the kept .pyx
    as ``pyx_path``.
    """
    return build_cached(pyx_source, name_hint=name_hint, key_extra=key_extra,
                        opt_level=opt_level, use_cache=use_cache, metadata=metadata)[0]


def build_cached(pyx_source: str, *, name_hint: str, key_extra: tuple = (),
                 opt_level: int = 2, use_cache: bool = True, metadata: dict | None = None):
    """`build_module`, returning ``(module, module_name, key, cache)``: what a later
    `load_entry` needs (with `Cache.location`) to find it (``cache`` is None when the
    cache is not used)."""
    _check_opt_level(opt_level)
    store = _cache.open_cache() if use_cache else None
    module_name, key = _module_key(pyx_source, name_hint, key_extra, opt_level, store)
    module = _loaded_or(module_name, lambda: _load_or_build(store, module_name, key,
                                                              pyx_source, opt_level, metadata))
    return module, module_name, key, store


def build_tiered(pyx_source: str, *, name_hint: str, key_extra: tuple = (),
                 opt_level: int = 2, use_cache: bool = True, metadata: dict | None = None):
    """`build_cached`'s ``(module, module_name, key, cache)`` plus ``finish``.

    When the module is loaded already or in the cache, that module and ``finish`` None.
    Otherwise Cython runs once, and the module returned is its C compiled at -Og (about
    0.55 s of gcc against 1.25 s at -O2 on the modules of benchmarks/compile_latency.py;
    -O0 is faster still but its frames are ~15x larger, 7 KB for a 20-line function:
    deep recursion through compiled code would overflow the C stack). It is neither
    published nor remembered as the key's module. ``finish()`` (meant for a background
    thread) compiles the same C at ``opt_level``, publishes and loads that module, and
    returns the four values for it; it raises CompileError as `build_cached` does.
    """
    _check_opt_level(opt_level)
    store = _cache.open_cache() if use_cache else None
    module_name, key = _module_key(pyx_source, name_hint, key_extra, opt_level, store)

    def load():
        return _load_cached(store, module_name, key) if store is not None else None

    module = _loaded_or(module_name, load)
    if module is not None:
        return module, module_name, key, store, None
    build_dir = _new_dir(store.tmp if store is not None else _cache.private_dir(), module_name)
    pyx_name = f"{module_name}.pyx"
    final_pyx = (store.entries / module_name if store is not None else build_dir) / pyx_name
    c_path = _cythonize(build_dir, module_name, pyx_source, store)
    quick_so = _compile_c(build_dir, module_name, c_path, opt_level, store, final_pyx,
                          quick=True)
    try:
        quick = _load(module_name, quick_so, build_dir / pyx_name)
    finally:
        os.unlink(quick_so)  # (loaded: it stays mapped) not to be published with the build

    def finish():
        def build():
            so_path = _compile_c(build_dir, module_name, c_path, opt_level, store, final_pyx)
            return _publish_and_load(store, build_dir, module_name, key, so_path, opt_level,
                                     metadata)

        return _loaded_or(module_name, build), module_name, key, store

    return quick, module_name, key, store, finish


def _check_opt_level(opt_level) -> None:
    if not isinstance(opt_level, int) or not 0 <= opt_level <= 3:
        raise ValueError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}")


def load_entry(store, location: tuple):
    """``(module, .pyx path)`` of the cache entry at ``location`` (see `build_cached`) if it
    verifies (or is loaded already), else None: never Cython nor the C compiler."""
    module_name, key = location[:2]
    module = _loaded_or(module_name, lambda: _load_cached(store, module_name, key, location))
    if module is None:
        return None
    stats.warm_hits += 1
    return module, store.entries / module_name / location[3]


def _loaded_or(module_name: str, load) -> ModuleType | None:
    """The module loaded already as ``module_name`` (a memory hit), else ``load()``'s
    (remembered unless None), under the name's lock."""
    module = _loaded.get(module_name)
    if module is None:
        with _lock_for(module_name):
            module = _loaded.get(module_name)
            if module is None:
                module = load()
                if module is not None:
                    _loaded[module_name] = module
                return module
    stats.memory_hits += 1
    return module


def _lock_for(module_name: str) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(module_name)
        if lock is None:
            lock = _locks[module_name] = threading.Lock()
        return lock


def _load_cached(store, module_name, key, location=None) -> ModuleType | None:
    """The verified entry ``module_name``, loaded; None when absent or damaged (removed).
    With its `Cache.location`, an unchanged extension module is loaded without reading
    the manifest (nor importing json)."""
    entry = store.unchanged(location) if location is not None else None
    if entry is None:
        entry, problem = store.lookup(module_name, key)
        if problem is not None:
            stats.corrupt_entries += 1  # already removed by lookup
        if entry is None:
            return None
    try:
        module = _load(module_name, entry.so_path, entry.pyx_path)
    except FileNotFoundError:
        return None  # removed (cache cleared) between verifying and loading
    except Exception:
        # The checksum matched but the file does not load: written broken
        # by someone (another process, a full disk). Drop it.
        stats.corrupt_entries += 1
        store.remove(module_name)
        return None
    stats.disk_hits += 1
    return module


def _load_or_build(store, module_name, key, pyx_source, opt_level, metadata=None) -> ModuleType:
    pyx_name = f"{module_name}.pyx"
    if store is not None:
        module = _load_cached(store, module_name, key)
        if module is not None:
            return module
    build_dir = _new_dir(store.tmp if store is not None else _cache.private_dir(), module_name)
    # Where the .pyx will live once published: that path goes into the module
    # (tracebacks, linecache) instead of the short-lived build directory.
    final_pyx = (store.entries / module_name if store is not None else build_dir) / pyx_name
    so_path = _build(build_dir, module_name, pyx_source, opt_level, store, final_pyx)
    return _publish_and_load(store, build_dir, module_name, key, so_path, opt_level, metadata)


def _publish_and_load(store, build_dir, module_name, key, so_path, opt_level, metadata):
    """Move the finished build into the cache (if any) and load it from there."""
    pyx_name = f"{module_name}.pyx"
    if store is None:
        return _load(module_name, so_path, build_dir / pyx_name)
    tc = _toolchain(opt_level, store)
    provenance = {
        "created": time.time(),
        "cc": " ".join(tc.cc),
        "cc_identity": tc.identity,
        "cc_flags": list(tc.flags()),
        "cython_directives": {k: CYTHON_DIRECTIVES[k] for k in sorted(CYTHON_DIRECTIVES)},
        "environment": _cache.environment_fingerprint(),
    }
    try:
        entry = store.publish(build_dir, module_name, key, so_path.name, pyx_name, provenance,
                              metadata=metadata)
    except OSError:
        # Could not publish (trouble with the cache directory): use this build as is.
        return _load(module_name, so_path, build_dir / pyx_name)
    return _load(module_name, entry.so_path, entry.pyx_path)


def _new_dir(root: Path, module_name: str) -> Path:
    import tempfile

    os.makedirs(root, mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{module_name}-", dir=root))


# ---------------------------------------------------------------------------
# Building: Cython, then the C compiler
# ---------------------------------------------------------------------------

_MAX_ERROR_LINES = 40


def _build(build_dir: Path, module_name: str, pyx_source: str, opt_level: int, store,
           final_pyx: Path) -> Path:
    """Build ``<module_name><EXT_SUFFIX>`` in ``build_dir``; leave only it and the .pyx."""
    c_path = _cythonize(build_dir, module_name, pyx_source, store)
    return _compile_c(build_dir, module_name, c_path, opt_level, store, final_pyx)


def _cythonize(build_dir: Path, module_name: str, pyx_source: str, store) -> Path:
    """Write the .pyx into ``build_dir`` and Cython's C next to it; the C file's path."""
    pyx_path = build_dir / f"{module_name}.pyx"
    c_path = build_dir / f"{module_name}.c"
    pyx_path.write_text(pyx_source, encoding="utf-8")
    failure = _run_cython(pyx_path, c_path, module_name)
    if failure is not None:
        message, lines = failure
        _fail(build_dir, module_name, store, "cython", message, lines)
    return c_path


def _compile_c(build_dir: Path, module_name: str, c_path: Path, opt_level: int, store,
               final_pyx: Path, *, quick: bool = False) -> Path:
    """Compile Cython's C at ``opt_level`` into ``<module_name><EXT_SUFFIX>``, and remove the
    C file; with ``quick``, at -Og into ``<module_name>.quick<EXT_SUFFIX>``, keeping the C file
    for the ``opt_level`` build (`build_tiered`)."""
    tc = _toolchain(opt_level, store)
    _rewrite_c(c_path, module_name, final_pyx,
               utility_o1=not quick and _utility_o1_applies(tc, opt_level))
    if quick:
        tc = tc._replace(base_flags=tuple("-Og" if f == f"-O{opt_level}" else f
                                          for f in tc.base_flags))
    so_path = build_dir / f"{module_name}{'.quick' if quick else ''}{tc.ext_suffix}"
    failure = _run_cc(tc, c_path, so_path, build_dir)
    if failure is not None:
        message, lines = failure
        _fail(build_dir, module_name, store, "cc", message, lines)
    if not quick:
        for leftover in (c_path, c_path.with_suffix(".lis")):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
    return so_path


def _run_cython(pyx_path: Path, c_path: Path, module_name: str):
    """Run Cython in this process; ``None`` on success, else ``(message, lines)``."""
    start = time.perf_counter()
    try:
        return _run_cython_locked(pyx_path, c_path, module_name)
    finally:
        stats.cython_seconds += time.perf_counter() - start


def _run_cython_locked(pyx_path: Path, c_path: Path, module_name: str):
    with _cython_lock:
        from Cython.Compiler import Main

        options = Main.CompilationOptions(
            Main.default_options,
            output_file=str(c_path),
            language_level=3,
            compiler_directives=dict(CYTHON_DIRECTIVES),
            include_path=[str(_cache.RUNTIME_DIR)],
            use_listing_file=True,     # messages go to <name>.lis (thread-local), not stderr
            errors_to_stderr=False,
            annotate=False,
        )
        context = _cython_context(Main, options)
        stats.cython_runs += 1
        try:
            result = Main.compile_single(str(pyx_path), options, module_name, context=context)
        except Exception as exc:  # Cython's AbortError / InternalError / CompileError
            _drop_cython_context()
            listing = _read_listing(pyx_path)
            return (f"Cython failed on {module_name}: {type(exc).__name__}: {exc}",
                    listing + [f"{type(exc).__name__}: {exc}"])
        finally:
            # The module's own scope: a later build of the same name must start afresh.
            context.modules.pop(module_name, None)
        if result.num_errors:
            _drop_cython_context()
    if result.num_errors or result.c_file is None or not c_path.exists():
        listing = _read_listing(pyx_path)
        return (f"Cython rejected the generated module {module_name} "
                f"({result.num_errors} error{'s' if result.num_errors != 1 else ''})",
                listing)
    return None


# One Cython Context for successive builds (see the module doc): [stamp, Context, builds].
_context_slot: list | None = None
_CONTEXT_MAX_BUILDS = 64   # bounds what the context accumulates (interned names, ...)


def _cython_context(Main, options):
    """The Context to compile with: the previous builds' one when it was made for the same
    options and the same runtime directory (its parsed .pxd files), else a new one.
    Called with ``_cython_lock`` held."""
    global _context_slot
    stamp = (tuple(options.include_path), repr(sorted(options.compiler_directives.items())),
             options.language_level, _cache.runtime_fingerprint())
    slot = _context_slot
    if slot is not None and slot[0] == stamp and slot[2] < _CONTEXT_MAX_BUILDS:
        slot[2] += 1
        stats.cython_context_reuses += 1
        return slot[1]
    context = Main.Context.from_options(options)
    _context_slot = [stamp, context, 1]
    return context


def _drop_cython_context() -> None:
    """Forget the shared Context (after a failure it may hold a half-analysed module)."""
    global _context_slot
    _context_slot = None


_FILENAME_TABLE = re.compile(r"(static const char\* const __pyx_f\[\] = \{\n)(.*?)(\n\};)", re.DOTALL)


def _rewrite_c(c_path: Path, module_name: str, final_pyx: Path, *, utility_o1: bool) -> None:
    """Rewrite the C that Cython wrote: `_set_source_path`, then (``utility_o1``)
    `_utility_code_at_o1`."""
    text = c_path.read_text(encoding="utf-8", errors="surrogateescape")
    new = _set_source_path(text, module_name, final_pyx)
    if utility_o1:
        new = _utility_code_at_o1(new)
    if new != text:
        c_path.write_text(new, encoding="utf-8", errors="surrogateescape")


def _set_source_path(text: str, module_name: str, final_pyx: Path) -> str:
    """Point Cython's filename table at ``final_pyx``.

    Cython records the .pyx path as given (relative to the working directory
    when below it), i.e. the temporary build directory.  Rewriting it makes
    the output independent of the build directory (two processes building
    one key produce identical files) and lets tracebacks and ``linecache``
    find the kept source.  If a future Cython lays the table out
    differently this silently does nothing.
    """
    match = _FILENAME_TABLE.search(text)
    if match is None:
        return text
    own = re.compile(r'"(?:[^"\\\n]|\\.)*' + re.escape(f"{module_name}.pyx") + '"')
    body, count = own.subn(lambda _m: _c_string(str(final_pyx)), match.group(2), count=1)
    if not count:
        return text
    return text[:match.start(2)] + body + text[match.end(2):]


# Cython's utility code at -O1 (see the module doc). The id is part of the key: change it
# with the rewrite.
_UTILITY_O1_ID = "utility-O1-v1"
_O1_BEGIN = '#pragma GCC push_options\n#pragma GCC optimize ("O1")\n'
_O1_END = "#pragma GCC pop_options\n"
_UTILITY_BEGIN = "/* #### Code section: utility_code_def ### */\n"
_UTILITY_END = "/* #### Code section: utility_code_pragmas_end ### */\n"
# Each piece of utility code starts with a comment naming it: "/* GetItemInt */", or
# "/* PyObjectCall (used by PyObjectFastCall) */".
_UTILITY_PIECE = re.compile(r"^/\* ([\w.]+)(?: \(used by [\w.]+\))? \*/$", re.MULTILINE)
# Pieces that stay at -O2: Cython's indexing (the state tuple's items at every entry of a
# compiled body). At -O1 it is no longer inlined, and the sieve kernel was 2 % slower.
_UTILITY_KEEP_O2 = frozenset({"GetItemInt", "GettItemInt_wraparound"})   # (sic: Cython spells it so)


def _utility_o1_applies(tc: Toolchain, opt_level: int) -> bool:
    # gcc only (clang has no per-function optimization level), and only where it lowers it.
    return opt_level >= 2 and _is_gcc(tc.identity)


def _utility_code_at_o1(text: str) -> str:
    """``text`` with Cython's utility-code section between ``#pragma GCC push_options`` /
    ``optimize ("O1")`` and ``pop_options``, but for the pieces named in `_UTILITY_KEEP_O2`;
    unchanged if the section's markers are not found (another Cython's layout)."""
    begin = text.find(_UTILITY_BEGIN)
    end = text.find(_UTILITY_END, begin) if begin >= 0 else -1
    if end < 0:
        return text
    section = text[begin:end]
    starts = [m.start() for m in _UTILITY_PIECE.finditer(section)]
    out = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else len(section)
        if _UTILITY_PIECE.match(section, start).group(1) in _UTILITY_KEEP_O2:
            out.append((start, stop))
    pieces, last = [], 0
    for start, stop in out:
        pieces += [section[last:start], _O1_END, section[start:stop], _O1_BEGIN]
        last = stop
    pieces.append(section[last:])
    return text[:begin] + _O1_BEGIN + "".join(pieces) + _O1_END + text[end:]


def _c_string(text: str) -> str:
    """A C string literal for ``text`` (octal escapes for anything unusual)."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":   # "?" could start a trigraph
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _read_listing(pyx_path: Path) -> list[str]:
    try:
        text = pyx_path.with_suffix(".lis").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    # Keep errors, drop warnings; a Cython error message spans several lines
    # (the source context with a caret, then "path:line:col: message").
    blocks = [b for b in re.split(r"\n(?=warning: |note: |performance hint: )", text)
              if not b.startswith(("warning: ", "note: ", "performance hint: "))]
    lines = "\n".join(blocks).strip("\n").splitlines()
    return lines[:_MAX_ERROR_LINES]


def _run_cc(tc: Toolchain, c_path: Path, so_path: Path, build_dir: Path):
    """Compile and link in one step; ``None`` on success, else ``(message, lines)``."""
    import subprocess

    cmd = [*tc.cc, *tc.flags(), str(c_path), "-o", str(so_path)]
    stats.cc_runs += 1
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                              env=_c_locale_env(), cwd=build_dir)
    except OSError as exc:
        return f"cannot run the C compiler {tc.cc[0]!r}: {exc}", [" ".join(cmd)]
    finally:
        stats.cc_seconds += time.perf_counter() - start
    if proc.returncode == 0 and so_path.exists():
        return None
    output = proc.stderr + proc.stdout
    (build_dir / "cc.log").write_text(" ".join(cmd) + "\n\n" + output, encoding="utf-8")
    return (f"the C compiler failed on {c_path.name} (exit status {proc.returncode})",
            _error_lines(output))


def _error_lines(output: str) -> list[str]:
    """The compiler's error messages, each with its source-context lines."""
    lines = output.splitlines()
    picked: list[str] = []
    i = 0
    while i < len(lines) and len(picked) < _MAX_ERROR_LINES:
        line = lines[i]
        i += 1
        if re.search(r"\b(error|undefined reference)\b", line, re.IGNORECASE):
            picked.append(line)
            while i < len(lines) and lines[i].startswith(" "):  # "  12 | code", caret
                picked.append(lines[i])
                i += 1
    return picked[:_MAX_ERROR_LINES] or lines[-_MAX_ERROR_LINES:]


def _fail(build_dir: Path, module_name: str, store, stage: str, message: str, lines: list[str]):
    """Keep the failed build's files where they survive, and raise CompileError."""
    import shutil
    import tempfile

    if store is not None:
        kept = store.failed_dir(module_name)
    else:  # the private dir is removed at exit; failures must outlive the process
        kept = Path(tempfile.mkdtemp(prefix="justjit-failed-")) / module_name
    for _attempt in range(2):
        try:
            os.rename(build_dir, kept)
            break
        except OSError:  # a concurrent failure of the same key got there first
            shutil.rmtree(kept, ignore_errors=True)
    else:
        kept = build_dir  # leave the files where they are
    # Messages name the build directory, absolutely or relative to the cwd.
    spellings = {str(build_dir)}
    try:
        relative = os.path.relpath(build_dir)
    except ValueError:
        relative = None
    if relative is not None and not relative.startswith(".."):
        spellings.add(relative)
    for old in sorted(spellings, key=len, reverse=True):
        lines = [line.replace(old, str(kept)) for line in lines]
    raise _compile_error(message, stage=stage, pyx_path=kept / f"{module_name}.pyx", lines=lines)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def _load(module_name: str, so_path: Path, pyx_path: Path) -> ModuleType:
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_file_location

    path = str(so_path)
    loader = ExtensionFileLoader(module_name, path)
    spec = spec_from_file_location(module_name, path, loader=loader)
    try:
        module = module_from_spec(spec)
        sys.modules[module_name] = module
        loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        if not os.path.exists(path):
            raise FileNotFoundError(path) from exc
        raise _compile_error(f"the built module {module_name} failed to load: {exc}",
                             stage="load", pyx_path=pyx_path,
                             lines=[f"{type(exc).__name__}: {exc}"]) from exc
    return module
