"""The LLVM backend's runtime: the `_jj_rt` extension and the symbols machine code links to.

    helpers() -> {helper name: address}        (jj_runtime.h's JJ_* and _jj_rt.c's JJL_*)
    register_symbols(names)                    make those names resolvable by LLVM's linker

Where `_jj_rt` comes from:

1. `pip install .` builds it (setup.py, `ext_modules`), next to this file. It is used when its
   compiled-in `SOURCE_DIGEST` matches the sources it was built from (`llvm_rtdigest`), or when
   those sources are not installed alongside it (a wheel: the installed copy is consistent).
2. Otherwise (a source checkout, or an in-place build gone stale after the runtime header
   changed), it is compiled once into the cache directory with the system C compiler, keyed
   by that digest, published and verified like any cache entry, and loaded from there. Every
   later process loads the cached build.

So no C compiler runs per function: machine code calls the helpers by address, resolved once
per process (`llvmlite.binding.add_symbol`). C-API functions are resolved through
`ctypes.pythonapi` (the running interpreter's own exports).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from pathlib import Path

from . import llvm_rtdigest

__all__ = ["HELPER_PREFIX", "helpers", "register_symbols", "runtime_digest", "runtime_module",
           "stats"]

HELPER_PREFIX = "jjrt."  # LLVM symbol of helper JJ_X is "jjrt.JJ_X"

# Bump when the build flags of `_toolchain` change.
BUILD_FORMAT = 1

_lock = threading.Lock()
_module = None
_helpers: dict[str, int] | None = None
_registered: set[str] = set()


class _Stats:
    built = 0          # compiled the runtime in this process
    build_seconds = 0.0
    source = ""        # "installed", "cache" or "private"


stats = _Stats()


def runtime_module():
    """The loaded `_jj_rt` module (built first if needed)."""
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                _module = _load()
    return _module


def helpers() -> dict[str, int]:
    """{LLVM symbol name: address} of every runtime helper."""
    global _helpers
    if _helpers is None:
        table = runtime_module().addresses()
        _helpers = {HELPER_PREFIX + name: int(addr) for name, addr in table.items()}
    return _helpers


def runtime_digest() -> str:
    """The source digest of the loaded runtime (part of the backend's cache keys)."""
    return str(runtime_module().SOURCE_DIGEST)


def register_symbols(names) -> None:
    """Make every name in `names` resolvable when machine code is linked: runtime helpers
    (HELPER_PREFIX), data (`_Py_NoneStruct`, ...) and C-API functions."""
    missing = [n for n in names if n not in _registered]
    if not missing:
        return
    import llvmlite.binding as llvm

    table = helpers()
    for name in missing:
        if name.startswith(HELPER_PREFIX):
            address = table.get(name)
            if address is None:
                raise RuntimeError(f"justjit: the LLVM runtime has no helper {name!r}")
        else:
            address = _capi_address(name)
        llvm.add_symbol(name, address)
        _registered.add(name)


_DATA = {"_Py_NoneStruct": None, "_Py_TrueStruct": True, "_Py_FalseStruct": False,
         "_Py_NotImplementedStruct": NotImplemented, "_Py_EllipsisObject": ...}


def _capi_address(name: str) -> int:
    if name in _DATA:
        return id(_DATA[name])
    try:
        return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value
    except AttributeError:
        raise RuntimeError(f"justjit: the running CPython does not export {name!r}") from None


# --------------------------------------------------------------------------------------------
# Loading and building


def _load():
    digest = None
    if os.path.exists(llvm_rtdigest.C_SOURCE):
        digest = llvm_rtdigest.source_digest()
    try:
        from . import _jj_rt as installed  # type: ignore[attr-defined]
    except ImportError:
        installed = None
    if installed is not None and (digest is None or installed.SOURCE_DIGEST == digest):
        stats.source = "installed"
        return installed
    if digest is None:
        raise _error("the LLVM backend's runtime extension (justjit.backends._jj_rt) is not "
                     "installed and its C source is missing: reinstall justjit with a C "
                     "compiler available", [])
    return _load_or_build(digest)


def _toolchain() -> tuple[list[str], list[str]]:
    import shlex
    import sysconfig

    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    paths = sysconfig.get_paths()
    includes = dict.fromkeys((paths["include"], paths["platinclude"], llvm_rtdigest.RUNTIME_DIR))
    flags = ["-shared", "-fPIC", "-pipe", "-g0", "-O2", "-fwrapv", "-fno-strict-aliasing",
             "-DNDEBUG", "-Werror=implicit-function-declaration",
             *(f"-I{d}" for d in includes)]
    return cc, flags


def _load_or_build(digest: str):
    from importlib.machinery import EXTENSION_SUFFIXES

    from justjit import cache as _cache

    # The key needs no compiler facts (finding them imports sysconfig): the flags are fixed
    # here (BUILD_FORMAT) and any C compiler that builds the sources builds the same helpers.
    parts = _cache.environment_fingerprint()
    parts.update(llvm_runtime=digest, llvm_runtime_build=str(BUILD_FORMAT),
                 ext_suffix=EXTENSION_SUFFIXES[0])
    key = _cache.make_key(parts)
    entry_name = f"_jj_llvm_rt_{key[:16]}"
    so_name = "_jj_rt" + EXTENSION_SUFFIXES[0]
    store = _cache.open_cache()
    if store is not None:
        entry, _problem = store.lookup(entry_name, key)
        if entry is not None:
            try:
                module = _import_from(entry.so_path)
            except Exception:
                store.remove(entry_name)
            else:
                stats.source = "cache"
                return module
    root = store.tmp if store is not None else _cache.private_dir()
    os.makedirs(root, mode=0o700, exist_ok=True)
    import tempfile

    build_dir = Path(tempfile.mkdtemp(prefix=f"{entry_name}-", dir=root))
    so_path = build_dir / so_name
    c_copy = build_dir / "_jj_rt.c"
    c_copy.write_bytes(Path(llvm_rtdigest.C_SOURCE).read_bytes())
    cc, flags = _toolchain()
    _compile(cc, flags, digest, c_copy, so_path)
    if store is not None:
        try:
            entry = store.publish(build_dir, entry_name, key, so_name, "_jj_rt.c",
                                  {"created": time.time(), "cc": " ".join(cc),
                                   "cc_flags": flags, "llvm_runtime_digest": digest},
                                  metadata={"function": "<LLVM backend runtime>",
                                            "backend": "llvm"})
        except OSError:
            pass
        else:
            so_path = entry.so_path
            stats.source = "cache"
            return _import_from(so_path)
    stats.source = "private"
    return _import_from(so_path)


def _compile(cc, flags, digest, c_path: Path, so_path: Path) -> None:
    import subprocess

    cmd = [*cc, *flags, f'-DJJ_RT_SOURCE_DIGEST="{digest}"', str(c_path), "-o", str(so_path)]
    start = time.perf_counter()
    env = dict(os.environ, LC_ALL="C")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                              cwd=c_path.parent)
    except OSError as exc:
        raise _error(f"cannot run the C compiler {cc[0]!r} to build the LLVM backend's "
                     f"runtime: {exc}", []) from exc
    finally:
        stats.build_seconds += time.perf_counter() - start
    stats.built += 1
    if proc.returncode != 0 or not so_path.exists():
        lines = (proc.stderr + proc.stdout).splitlines()
        raise _error(f"the C compiler failed on the LLVM backend's runtime (exit status "
                     f"{proc.returncode}); install justjit with `pip install .` or fix the "
                     f"runtime sources", [" ".join(cmd)] + lines[:40])


def _error(message: str, lines: list[str]):
    from justjit.errors import CompileError

    return CompileError(message, stage="llvm-runtime", source_excerpt="\n".join(lines) or None)


def _import_from(so_path: Path):
    """Load the extension at `so_path` (its init function is PyInit__jj_rt) without putting it
    in sys.modules (an installed, stale `justjit.backends._jj_rt` may be there)."""
    from importlib.machinery import ExtensionFileLoader
    from importlib.util import module_from_spec, spec_from_file_location

    name = "justjit.backends._jj_rt"
    loader = ExtensionFileLoader(name, str(so_path))
    spec = spec_from_file_location(name, str(so_path), loader=loader)
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def _reset_for_tests() -> None:
    global _module, _helpers
    _module = None
    _helpers = None

