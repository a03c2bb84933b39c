"""On-disk cache of built extension modules.

The cache knows *where* artifacts live, *how* they are published and verified,
and *which facts about the environment* go into a key.  It does not know how
to build anything: `justjit.backends.cython_build` hands it a finished build
directory.

Layout of a cache directory::

    <root>/
      entries/<module>/            one published entry, never modified in place
          <module><EXT_SUFFIX>     the extension module
          <module>.pyx             its source, kept for inspection
          manifest.json            full key, size and checksum of the .so, provenance,
                                   and optional "metadata" (function, signature, backend)
      tmp/                         build directories in progress (one per build)
      failed/<module>/             sources and logs of the last failed build of <module>
      toolchain/                   memoized facts (C compiler command and identity,
                                   digest of justjit's sources)
      refused/                     functions enable()/run could not compile (never retried)
      index/<warm key>             records of the warm path (see `justjit.fingerprint`): an
                                   entry's module and key, and how to make its constants,
                                   under a key computed from the function, not its source

Publishing an entry is one ``os.rename`` of a complete build directory onto
``entries/<module>``.  Renaming a directory onto an existing non-empty
directory fails, so when two processes build the same key at once the first
rename wins and the loser uses the winner's entry.  A reader never sees a
half-written entry, and verifies the checksum before loading anything.
A record is one file written atomically and checked against its own digest
when read; a damaged one is removed and the caller takes the cold path.

This module must stay cheap to import: a process that only loads cached
modules should pay a few milliseconds, so nothing heavy (Cython, subprocess)
is imported here, and `Entry` and `EntryInfo` are named tuples, not
dataclasses (making a dataclass costs about 1 ms at import).
"""

from __future__ import annotations

import os
import threading
import stat
import sys
from collections import namedtuple
from pathlib import Path

try:  # the builtin module: importing it does not load OpenSSL (~2.5 ms saved)
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover - every CPython has _blake2
    from hashlib import blake2b as _blake2b

__all__ = [
    "CACHE_FORMAT",
    "RUNTIME_DIR",
    "Cache",
    "Entry",
    "EntryInfo",
    "cache_dir",
    "clear",
    "digest",
    "environment_fingerprint",
    "file_checksum",
    "hasher",
    "list_entries",
    "make_key",
    "open_cache",
    "private_dir",
    "runtime_fingerprint",
    "tree_digest",
    "tree_files",
]

# Bump when the layout, the manifest or anything that changes the meaning of
# a key changes (for instance the compiler flags chosen by cython_build).
CACHE_FORMAT = 1

# C headers (and .pxd files) that generated modules include. Every file in it
# is part of every key.  Tests may point this somewhere else.
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"

ENTRIES = "entries"
TMP = "tmp"
FAILED = "failed"
TOOLCHAIN = "toolchain"
REFUSED = "refused"
INDEX = "index"
MANIFEST = "manifest.json"
RECORD_MAGIC = b"justjit-record-1\n"


# ---------------------------------------------------------------------------
# Hashing and keys
# ---------------------------------------------------------------------------

def digest(data: bytes) -> str:
    """The hash used everywhere in the cache (hex)."""
    return _blake2b(data, digest_size=32).hexdigest()


def hasher():
    """An incremental `digest`: ``update()`` it, then ``hexdigest()``."""
    return _blake2b(digest_size=32)


def file_checksum(path: str | os.PathLike) -> tuple[int, str]:
    """``(size, digest)`` of a file's contents."""
    with open(path, "rb") as f:
        data = f.read()
    return len(data), digest(data)


def make_key(parts: dict[str, str]) -> str:
    """Hash named string parts into a key.

    Every field is length-prefixed, so no choice of values can make two
    different part sets serialize to the same bytes.
    """
    h = hasher()
    for name in sorted(parts):
        for text in (name, parts[name]):
            raw = text.encode("utf-8", "surrogatepass")
            h.update(b"%d:" % len(raw))
            h.update(raw)
    return h.hexdigest()


def runtime_fingerprint(runtime_dir: Path | None = None) -> str:
    """Digest of every file under the runtime directory (names and contents).

    Read on every call (it is a handful of small files), so editing the
    runtime header invalidates keys even within one process.
    """
    return tree_digest(RUNTIME_DIR if runtime_dir is None else runtime_dir)


def tree_files(root: str | os.PathLike) -> list[tuple[str, str]]:
    """``(name relative to root, path)`` of every file below ``root`` but bytecode, in a
    stable order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(dirpath, name)
                files.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return files


def tree_digest(root: str | os.PathLike, files: list | None = None) -> str:
    """Digest of the names and contents of `tree_files` (``files``, if given)."""
    h = hasher()
    for rel, path in tree_files(root) if files is None else files:
        try:
            size, sub = file_checksum(path)
        except OSError:  # vanished or unreadable: still changes the key
            size, sub = -1, "unreadable"
        h.update(f"{rel}\0{size}\0{sub}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


_ENVIRONMENT: dict[str, str] | None = None


def environment_fingerprint() -> dict[str, str]:
    """Facts about this process that every key depends on (computed once).

    Python version, implementation and ABI tag, the justjit version and the
    Cython version.  The toolchain (compiler identity and flags) and the
    runtime header are added by the builder, which owns them.
    """
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from importlib.machinery import EXTENSION_SUFFIXES

        _ENVIRONMENT = {
            "cache_format": str(CACHE_FORMAT),
            "python_implementation": sys.implementation.name,
            "python_version": sys.version,
            "python_hexversion": str(sys.hexversion),
            "python_cache_tag": str(sys.implementation.cache_tag),
            "python_abi": EXTENSION_SUFFIXES[0] + "|" + getattr(sys, "abiflags", ""),
            "justjit_version": _justjit_version(),
            "cython_version": _cython_version(),
        }
    return dict(_ENVIRONMENT)


def _justjit_version() -> str:
    pkg = sys.modules.get("justjit")
    return str(getattr(pkg, "__version__", None) or "unknown")


def _cython_version() -> str:
    """Cython's version without importing Cython (a cached load must stay cheap).

    ``Cython/__init__.py`` re-exports ``__version__`` from ``Cython/Shadow.py``;
    reading that one line costs ~0.1 ms against ~3 ms for ``import Cython``.
    """
    mod = sys.modules.get("Cython")
    if mod is not None and getattr(mod, "__version__", None):
        return str(mod.__version__)
    from importlib.util import find_spec

    try:
        spec = find_spec("Cython")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return "not-installed"
    try:
        text = Path(spec.origin).with_name("Shadow.py").read_text(encoding="utf-8")
    except OSError:
        text = ""
    import re

    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if match:
        return match.group(1)
    import Cython  # unusual layout: ask the package

    return str(getattr(Cython, "__version__", "unknown"))


# ---------------------------------------------------------------------------
# Where the cache lives, and whether it is safe to use
# ---------------------------------------------------------------------------

# The cache directory of the function being compiled on this thread (its @jit(cache_dir=...)
# or resolved setting), set by the dispatcher around a compilation: see `compiling_into`.
_function_dir = threading.local()


class compiling_into:
    """``with compiling_into(path):`` the cache this thread opens is ``path``'s (None: the
    configured one)."""

    def __init__(self, path) -> None:
        self.path = path

    def __enter__(self):
        self.saved = getattr(_function_dir, "path", None)
        _function_dir.path = self.path
        return self

    def __exit__(self, *exc) -> None:
        _function_dir.path = self.saved


def cache_dir() -> Path:
    """The configured cache directory (not created, not checked).

    The cache directory of the function being compiled (`compiling_into`), else the
    ``cache_dir`` setting of `justjit.config` (code, ``$JUSTJIT_CACHE_DIR`` or
    ``[tool.justjit]`` in pyproject.toml, in that order), else
    ``$XDG_CACHE_HOME/justjit`` (when that is an absolute path, as the XDG spec
    requires), else ``~/.cache/justjit``.  Read at each use.
    """
    from justjit import config

    explicit = getattr(_function_dir, "path", None) or config.current().values["cache_dir"]
    if explicit:
        return Path(explicit).expanduser()
    return config.default_cache_dir()


def unsafe_reason(path: Path) -> str | None:
    """Why ``path`` must not be trusted as a cache directory, or ``None``.

    Anyone who can write into the cache can make us load arbitrary native
    code, so the directory must be ours and writable by no one else.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot stat it ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    getuid = getattr(os, "getuid", None)
    if getuid is not None and st.st_uid != getuid():
        return f"it is owned by uid {st.st_uid}, not by this user (uid {getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):#o})"
    return None


_warned_dirs: set[str] = set()


def _warn(message: str) -> None:
    import warnings

    try:
        from justjit.errors import JITWarning
    except ImportError:
        JITWarning = _Fallback.JITWarning
    warnings.warn(message, JITWarning, stacklevel=4)


class _Fallback:
    """Stand-ins used only when ``justjit.errors`` is missing."""

    class JITWarning(UserWarning):
        pass


def open_cache(root: Path | None = None) -> Cache | None:
    """The persistent cache, created if needed; ``None`` if it must not be used.

    A directory owned by someone else or writable by group/others is refused
    with a ``JITWarning`` (the caller then builds into `private_dir()`).  An
    uncreatable directory is refused the same way.
    """
    root = cache_dir() if root is None else Path(root)
    try:
        if not root.is_dir():
            os.makedirs(root, mode=0o700, exist_ok=True)
        reason = unsafe_reason(root)
    except OSError as exc:
        reason = f"it cannot be created ({exc.strerror})"
    if reason is None:
        cache = Cache(root)
        try:
            cache.prepare()
        except OSError as exc:
            reason = f"its subdirectories cannot be created ({exc.strerror})"
        else:
            return cache
    key = str(root)
    if key not in _warned_dirs:
        _warned_dirs.add(key)
        _warn(
            f"JustJIT refuses the cache directory {root}: {reason}. "
            f"Compiled modules go to a private temporary directory instead "
            f"(set JUSTJIT_CACHE_DIR to a directory only you can write)."
        )
    return None


_PRIVATE: Path | None = None


def private_dir() -> Path:
    """A directory private to this process, removed at exit.

    Used for uncached builds and when the cache directory is refused.  Loaded
    modules stay usable after removal (the mapping outlives the file).
    """
    global _PRIVATE
    if _PRIVATE is None or not _PRIVATE.is_dir():
        import atexit

        import tempfile  # lazily: the warm path never needs it
        path = Path(tempfile.mkdtemp(prefix="justjit-"))
        import shutil  # lazily: the warm path never needs it
        atexit.register(shutil.rmtree, path, True)
        _PRIVATE = path
    return _PRIVATE


# ---------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------

class Entry(namedtuple("Entry", "module_name directory so_path pyx_path manifest")):
    """A verified, loadable cache entry: its module name, directory, the paths of its
    extension module and .pyx, and its manifest (a dict)."""

    __slots__ = ()


class EntryInfo(namedtuple("EntryInfo", "module_name directory size created valid problem "
                                        "metadata", defaults=(None,))):
    """What `list_entries` reports about an entry (verified or not): its module name,
    directory, size in bytes, creation time (or None), whether it verifies, the problem if
    not, and the metadata the builder recorded (function, signature, backend), if any."""

    __slots__ = ()


class Cache:
    """A cache directory that `open_cache` judged safe."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.entries = self.root / ENTRIES
        self.tmp = self.root / TMP
        self.failed = self.root / FAILED
        self.toolchain = self.root / TOOLCHAIN
        self.refused = self.root / REFUSED
        self.index = self.root / INDEX

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def prepare(self) -> None:
        for sub in (self.entries, self.tmp):
            if not sub.is_dir():
                os.makedirs(sub, mode=0o700, exist_ok=True)

    # -- reading ----------------------------------------------------------

    def lookup(self, module_name: str, key: str) -> tuple[Entry | None, str | None]:
        """``(entry, None)`` for a verified entry, ``(None, None)`` when absent.

        An entry that fails verification (missing file, wrong size, wrong
        checksum, unreadable manifest, different key) is removed, so that the
        caller's rebuild can publish in its place; the result is then
        ``(None, problem)``.
        """
        directory = self.entries / module_name
        if not directory.is_dir():
            return None, None
        entry, problem = _verify(directory, module_name, key)
        if entry is None:
            self.remove(module_name)
        return entry, problem

    def location(self, module_name: str, key: str) -> tuple | None:
        """What `unchanged` needs to find the entry ``module_name`` again, from its manifest
        if that names ``key`` (None otherwise): its module, key, file names, and the size and
        checksum of its extension module (marshallable). Nothing is verified or removed."""
        import json

        try:
            with open(self.entries / module_name / MANIFEST, encoding="utf-8") as f:
                m = json.load(f)
            location = (module_name, key, m["so"], m["pyx"], m["so_size"], m["so_blake2b"])
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return location if m.get("key") == key else None

    def unchanged(self, location: tuple) -> Entry | None:
        """The entry at ``location`` (see `location`) if its extension module still has the
        recorded size and checksum, without reading its manifest; else None (and nothing
        is removed: `lookup` judges the entry)."""
        module_name, _key, so_name, pyx_name, size, checksum = location
        directory = self.entries / module_name
        if _check_file(directory / so_name, size, checksum) is not None:
            return None
        return Entry(module_name, directory, directory / so_name, directory / pyx_name, {})

    def remove(self, module_name: str) -> None:
        """Remove an entry without ever exposing a half-deleted directory."""
        directory = self.entries / module_name
        trash = self.tmp / f"trash-{module_name}-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            os.rename(directory, trash)
        except FileNotFoundError:
            return  # someone else removed it
        except OSError:
            trash = directory  # cannot move (e.g. tmp/ gone): delete in place
        import shutil  # lazily: the warm path never needs it
        shutil.rmtree(trash, ignore_errors=True)

    # -- writing ----------------------------------------------------------

    def new_build_dir(self, module_name: str) -> Path:
        self.prepare()
        import tempfile  # lazily: the warm path never needs it
        return Path(tempfile.mkdtemp(prefix=f"{module_name}-", dir=self.tmp))

    def publish(self, build_dir: Path, module_name: str, key: str,
                so_name: str, pyx_name: str, provenance: dict,
                metadata: dict | None = None) -> Entry:
        """Turn a complete build directory into the entry for ``module_name``.

        Writes the manifest, then renames the directory into place.  If
        another process published first, its (verified) entry is returned and
        ``build_dir`` is discarded; if that entry is corrupt it is replaced.
        ``metadata`` (JSON-serializable, optional) is stored under the
        manifest's ``"metadata"`` key for `list_entries` and ``cache list``;
        it is not part of the key.
        """
        import json

        size, checksum = file_checksum(build_dir / so_name)
        manifest = {
            "format": CACHE_FORMAT,
            "module": module_name,
            "key": key,
            "so": so_name,
            "pyx": pyx_name,
            "so_size": size,
            "so_blake2b": checksum,
            **provenance,
        }
        if metadata:
            manifest["metadata"] = dict(metadata)
        _write_atomic(build_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        target = self.entries / module_name
        for _attempt in range(3):
            try:
                os.rename(build_dir, target)
            except OSError:
                # Lost the race (target exists and is not empty).
                existing, _problem = self.lookup(module_name, key)  # removes it if corrupt
                if existing is not None:
                    import shutil  # lazily: the warm path never needs it
                    shutil.rmtree(build_dir, ignore_errors=True)
                    return existing
                continue
            return Entry(module_name, target, target / so_name, target / pyx_name, manifest)
        raise OSError(f"could not publish cache entry {target}")

    def failed_dir(self, module_name: str) -> Path:
        """A fresh, empty ``failed/<module>`` directory (replacing an older one)."""
        os.makedirs(self.failed, mode=0o700, exist_ok=True)
        path = self.failed / module_name
        if path.exists():
            import shutil  # lazily: the warm path never needs it
            shutil.rmtree(path, ignore_errors=True)
        return path

    # -- small memoized facts (toolchain identity) --------------------------

    def read_memo(self, name: str) -> str | None:
        try:
            with open(self.toolchain / name, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return None

    def write_memo(self, name: str, text: str) -> None:
        """Best effort: a memo that cannot be written is simply recomputed."""
        try:
            os.makedirs(self.toolchain, mode=0o700, exist_ok=True)
            _write_atomic(self.toolchain / name, text)
        except OSError:
            pass

    # -- records of the warm path --------------------------------------------

    def read_record(self, key: str):
        """The record stored under ``key`` (any marshallable value), or None when there is
        none. A record that fails its digest or does not unmarshal is removed."""
        import marshal

        path = self.index / key
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        head = len(RECORD_MAGIC) + 32
        if data[:len(RECORD_MAGIC)] == RECORD_MAGIC and \
                _blake2b(data[head:], digest_size=32).digest() == data[len(RECORD_MAGIC):head]:
            try:
                return marshal.loads(data[head:])
            except (EOFError, ValueError, TypeError):
                pass
        self.remove_record(key)
        return None

    def write_record(self, key: str, record) -> None:
        """Best effort (a record that cannot be written costs the next process the cold
        path); ``record`` must be marshallable."""
        import marshal

        payload = marshal.dumps(record)
        try:
            os.makedirs(self.index, mode=0o700, exist_ok=True)
            _write_atomic(self.index / key, RECORD_MAGIC +
                          _blake2b(payload, digest_size=32).digest() + payload)
        except OSError:
            pass

    def remove_record(self, key: str) -> None:
        try:
            os.unlink(self.index / key)
        except OSError:
            pass

    def record_count(self) -> int:
        try:
            return sum(1 for name in os.listdir(self.index) if not name.startswith(".tmp-"))
        except OSError:
            return 0

    # -- remembered refusals (enable()/run never retry them) ----------------

    def remember_refusal(self, key: str, record: dict) -> None:
        """Best effort: record that the function with ``key`` cannot be compiled."""
        import json

        try:
            os.makedirs(self.refused, mode=0o700, exist_ok=True)
            _write_atomic(self.refused / f"{key}.json", json.dumps(record, sort_keys=True))
        except (OSError, TypeError, ValueError):
            pass

    def refused_keys(self) -> set[str]:
        try:
            names = os.listdir(self.refused)
        except OSError:
            return set()
        return {name[:-5] for name in names if name.endswith(".json")}

    def refusals(self) -> list[dict]:
        import json

        records = []
        for key in sorted(self.refused_keys()):
            try:
                with open(self.refused / f"{key}.json", encoding="utf-8") as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    # -- maintenance ------------------------------------------------------

    def list_entries(self) -> list[EntryInfo]:
        infos = []
        if not self.entries.is_dir():
            return infos
        for directory in sorted(self.entries.iterdir()):
            if not directory.is_dir():
                continue
            entry, problem = _verify(directory, directory.name, None)
            try:
                size = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
            except OSError:  # removed while we looked
                continue
            created = entry.manifest.get("created") if entry is not None else None
            metadata = entry.manifest.get("metadata") if entry is not None else None
            infos.append(EntryInfo(directory.name, directory, size, created,
                                   entry is not None, problem,
                                   metadata if isinstance(metadata, dict) else None))
        return infos

    def clear(self) -> int:
        """Remove every entry, warm record, build leftover, failure log and remembered
        refusal; count entries."""
        count = 0
        if self.entries.is_dir():
            count = sum(1 for d in self.entries.iterdir() if d.is_dir())
        for sub in (self.index, self.entries, self.tmp, self.failed, self.toolchain,
                    self.refused):
            import shutil  # lazily: the warm path never needs it
            shutil.rmtree(sub, ignore_errors=True)
        return count


def _verify(directory: Path, module_name: str, key: str | None) -> tuple[Entry | None, str | None]:
    """Check an entry against its manifest; ``(entry, None)`` or ``(None, problem)``."""
    import json

    try:
        with open(directory / MANIFEST, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest ({exc})"
    if not isinstance(manifest, dict):
        return None, "malformed manifest"
    if manifest.get("format") != CACHE_FORMAT:
        return None, f"cache format {manifest.get('format')!r}, expected {CACHE_FORMAT}"
    if manifest.get("module") != module_name:
        return None, "manifest names another module"
    if key is not None and manifest.get("key") != key:
        return None, "manifest has another key (hash-prefix collision or tampering)"
    so_name, pyx_name = manifest.get("so"), manifest.get("pyx")
    if not isinstance(so_name, str) or not isinstance(pyx_name, str) or "/" in so_name + pyx_name:
        return None, "malformed manifest"
    so_path = directory / so_name
    problem = _check_file(so_path, manifest.get("so_size"), manifest.get("so_blake2b"))
    if problem is not None:
        return None, problem
    return Entry(module_name, directory, so_path, directory / pyx_name, manifest), None


def _check_file(path: Path, size, checksum) -> str | None:
    """Why the file at ``path`` does not have ``size`` and ``checksum``, or None."""
    try:
        if os.stat(path).st_size != size:
            return "extension module has the wrong size (truncated?)"
        _size, actual = file_checksum(path)
    except OSError as exc:
        return f"extension module unreadable ({exc.strerror})"
    if actual != checksum:
        return "extension module checksum mismatch"
    return None


def _write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to ``path`` through a temporary file in the same directory."""
    import tempfile  # lazily: the warm path never needs it
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes)
              else os.fdopen(fd, "w", encoding="utf-8")) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------
# Helpers for the command line
# ---------------------------------------------------------------------------

def list_entries(root: str | os.PathLike | None = None) -> list[EntryInfo]:
    """Every entry in the cache directory, with whether it verifies."""
    return Cache(cache_dir() if root is None else Path(root)).list_entries()


def clear(root: str | os.PathLike | None = None) -> int:
    """Empty the cache directory; return how many entries were removed."""
    return Cache(cache_dir() if root is None else Path(root)).clear()
