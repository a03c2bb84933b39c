"""Build step for JustJIT's only install-time C extension: the LLVM backend's runtime helpers.

All metadata lives in pyproject.toml; this file only adds `justjit.backends._jj_rt`
(justjit/backends/_jj_rt.c, which includes justjit/runtime/jj_runtime.h). The extension is
compiled once here, so the LLVM backend never runs a C compiler per function. It carries the
digest of the sources it was built from (`justjit.backends.llvm_rtdigest`), so a stale build
is detected and replaced at run time. It is optional: if it cannot be built (another Python
version, no compiler), installing still succeeds and the backend builds it on first use or
refuses with a CompileError.
"""

import importlib.util
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _runtime_digest() -> str:
    path = os.path.join(HERE, "justjit", "backends", "llvm_rtdigest.py")
    spec = importlib.util.spec_from_file_location("_justjit_llvm_rtdigest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_digest()


ext_modules = []
# jj_runtime.h reproduces CPython 3.11's semantics and refuses to compile elsewhere.
if sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11):
    ext_modules.append(Extension(
        "justjit.backends._jj_rt",
        sources=["justjit/backends/_jj_rt.c"],
        include_dirs=["justjit/runtime"],
        define_macros=[("JJ_RT_SOURCE_DIGEST", f'"{_runtime_digest()}"')],
        extra_compile_args=["-fwrapv", "-fno-strict-aliasing"],
        optional=True,
    ))

setup(ext_modules=ext_modules)
