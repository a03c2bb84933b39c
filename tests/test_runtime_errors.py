"""Errors a user can act on: a failed build is a CompileError naming the failing stage,
the relevant lines of the generated source, the original file:line and the kept .pyx;
with fallback=True it is one JITWarning per function.

These tests run the real Cython and C compiler (``build_module``) on hand-written .pyx
text that fails, standing in for a generated module: the pipeline is replaced by a
function that builds that text, as the real one does with the emitter's output.
"""

from __future__ import annotations

import os
import warnings

import pytest
from isolation import clear_settings

from justjit import CompileError, JITWarning, jit
from justjit import config as jconfig
from justjit.backends.cython_build import build_module


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    clear_settings(monkeypatch, tmp_path / "cache")
    yield
    jconfig.reset()


def user_function():
    x = 1
    return helper(x)  # noqa: F821 - line "return helper(x)" is what the .pyx annotates


RETURN_LINE = user_function.__code__.co_firstlineno + 2

CYTHON_ERROR_PYX = f"""\
# generated for user_function
def entry(state):
    # {RETURN_LINE - 1}: x = 1
    x = 1
    # {RETURN_LINE}: return helper(x)
    return x +
"""

CC_ERROR_PYX = f"""\
cdef extern from *:
    int jj_no_such_function(int)

def entry(state):
    # {RETURN_LINE - 1}: x = 1
    x = 1
    # {RETURN_LINE}: return helper(x)
    return jj_no_such_function(x)
"""


@pytest.fixture
def failing_pipeline(monkeypatch):
    import justjit.pipeline as pipeline

    def use(pyx_text):
        def compile_function(py_func, *, backend, use_cache, **optional):
            build_module(pyx_text, name_hint=py_func.__name__, use_cache=use_cache)
            raise AssertionError("the build should have failed")

        monkeypatch.setattr(pipeline, "compile_function", compile_function)

    return use


@pytest.mark.parametrize(
    "pyx, stage, generated_line",
    [(CYTHON_ERROR_PYX, "cython", "return x +"), (CC_ERROR_PYX, "cc", "return jj_no_such_function(x)")],
    ids=["cython", "cc"],
)
def test_build_failure_is_an_actionable_compile_error(failing_pipeline, pyx, stage, generated_line):
    failing_pipeline(pyx)
    jitted = jit(user_function, fallback=False)
    with pytest.raises(CompileError) as info:
        jitted()
    error = info.value
    assert error.stage == stage
    assert (error.filename, error.lineno) == (__file__, RETURN_LINE)  # the original file:line
    assert error.pyx_path.endswith(".pyx") and os.path.isfile(error.pyx_path)
    text = str(error)
    assert f"{__file__}:{RETURN_LINE}" in text and f"stage: {stage}" in text and error.pyx_path in text
    assert generated_line in text  # the relevant generated source line, shown
    assert "> " in text and "generated source" in text
    assert "Traceback" not in text and "setuptools" not in text and "distutils" not in text
    # Later calls raise the same error; nothing is rebuilt.
    with pytest.raises(CompileError) as again:
        jitted()
    assert again.value is error


def test_build_failure_with_fallback_is_one_warning_per_function(failing_pipeline):
    failing_pipeline(CYTHON_ERROR_PYX)
    jitted = jit(user_function)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(NameError, match="helper"):  # the original runs, and fails as it does
                jitted()
    [warning] = [r for r in records if issubclass(r.category, JITWarning)]
    message = str(warning.message)
    assert f"{__file__}:{RETURN_LINE}" in message and "stage: cython" in message and ".pyx" in message
    assert (warning.filename, warning.lineno) == (__file__, RETURN_LINE)
    [record] = jitted.stats.fallbacks
    assert record.stage == "cython" and record.location == f"{__file__}:{RETURN_LINE}"
    assert record.pyx_path and record.pyx_path.endswith(".pyx")


def test_error_without_a_located_line_points_at_the_function(monkeypatch):
    import justjit.pipeline as pipeline

    def compile_function(py_func, **kwargs):
        raise CompileError("the C compiler is missing", stage="cc")

    monkeypatch.setattr(pipeline, "compile_function", compile_function)
    jitted = jit(user_function, fallback=False)
    with pytest.raises(CompileError) as info:
        jitted()
    assert (info.value.filename, info.value.lineno) == (__file__, user_function.__code__.co_firstlineno)
