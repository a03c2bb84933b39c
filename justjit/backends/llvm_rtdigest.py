"""The digest of the LLVM backend's runtime sources (no imports beyond the standard library).

`source_digest()` hashes `_jj_rt.c` and every file of justjit/runtime/ (names and contents).
setup.py compiles that digest into the runtime extension (`_jj_rt.SOURCE_DIGEST`), and
justjit/backends/llvm_runtime.py compares it with the sources next to the package, so a
runtime built from other sources (an in-place build gone stale) is never used. setup.py loads
this file by path, before justjit or its dependencies are importable: keep it standalone.
"""

from __future__ import annotations

import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
C_SOURCE = os.path.join(HERE, "_jj_rt.c")
RUNTIME_DIR = os.path.join(os.path.dirname(HERE), "runtime")


def source_digest(c_source: str | None = None, runtime_dir: str | None = None) -> str:
    """Digest of `c_source` and `runtime_dir` (default: C_SOURCE and RUNTIME_DIR, read at each
    call so that tests may point them elsewhere)."""
    c_source = C_SOURCE if c_source is None else c_source
    runtime_dir = RUNTIME_DIR if runtime_dir is None else runtime_dir
    h = hashlib.blake2b(digest_size=20)
    files = [("_jj_rt.c", c_source)]
    for dirpath, dirnames, filenames in os.walk(runtime_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            files.append(("runtime/" + os.path.relpath(path, runtime_dir).replace(os.sep, "/"),
                          path))
    for rel, path in files:
        with open(path, "rb") as f:
            data = f.read()
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0%d\0" % len(data))
        h.update(data)
    return h.hexdigest()
