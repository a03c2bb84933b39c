"""Introspection of compiled functions: the generated source of each backend."""

from justjit import jit


def add(a, b):
    return a + b


def test_inspect_llvm_returns_the_optimized_ir_of_the_compiled_function():
    f = jit(add, backend="llvm", fallback=False)
    assert f(1, 2) == add(1, 2)
    assert f.signatures
    assert "define" in f.inspect_llvm()


def test_inspect_pyx_annotates_the_original_source_line():
    f = jit(add, backend="cython", fallback=False)
    assert f("a", "b") == add("a", "b")
    assert "return a + b" in f.inspect_pyx()
