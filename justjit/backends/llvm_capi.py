"""What the LLVM backend knows about CPython's C API that differs between versions.

Everything version- or layout-specific that generated machine code depends on sits here, and
nowhere else in the backend:

- struct offsets the generated code reads directly (refcount, type, tuple/list items, the type
  slots `tp_flags`, `tp_iternext` and `tp_version_tag`), checked against the running
  interpreter at import;
- the reference-count operations as LLVM IR (3.12+ has immortal objects: incref/decref must
  leave them alone);
- the `PyMethodDef` layout and `METH_FASTCALL`, to wrap native code as a builtin function.

`FINGERPRINT` names the choices made here; it is part of every cache key of the backend.
"""

from __future__ import annotations

import ctypes
import struct
import sys

__all__ = [
    "FINGERPRINT", "OB_REFCNT", "OB_TYPE", "OB_SIZE", "TUPLE_ITEMS", "LIST_ITEMS", "TP_FLAGS",
    "TP_ITERNEXT", "TPFLAGS_TUPLE_SUBCLASS", "TP_VERSION_TAG", "TPFLAGS_VALID_VERSION_TAG",
    "DICT_VERSION_TAG", "MODULE_DICT",
    "LISTITER_INDEX", "LISTITER_SEQ", "PY_VECTORCALL_ARGUMENTS_OFFSET", "METH_FASTCALL",
    "refcount_ir", "new_builtin",
]

VERSION = sys.version_info[:2]
IMMORTAL = VERSION >= (3, 12)

if struct.calcsize("P") != 8:  # pragma: no cover - 64-bit only
    raise ImportError("the LLVM backend supports 64-bit CPython only")

# PyObject / PyVarObject (non-free-threaded builds: the layout is the same in 3.11-3.13).
OB_REFCNT = 0
OB_TYPE = 8
OB_SIZE = 16
# PyTupleObject.ob_item[0]; PyListObject.ob_item (a PyObject **).
TUPLE_ITEMS = 24
LIST_ITEMS = 24
# PyTypeObject slots (the public layout is the same in 3.11-3.13).
TP_FLAGS = 168
TP_ITERNEXT = 224
TPFLAGS_TUPLE_SUBCLASS = 1 << 26
# The type's method cache tag (an unsigned int; 0 and the flag clear once the type changes):
# LOAD_METHOD's per-site cache is checked against it inline.
TP_VERSION_TAG = 384
TPFLAGS_VALID_VERSION_TAG = 1 << 19
# PyDictObject.ma_version_tag (3.11: after ma_used): LOAD_GLOBAL's per-site cache is checked
# against the globals' and builtins' tags inline. A new tag on every change, never reused.
DICT_VERSION_TAG = 24
# PyModuleObject.md_dict (internal; the same in 3.11-3.13): a module attribute's per-site cache
# is checked against that dict's tag inline.
MODULE_DICT = 16
# listiterobject (Objects/listobject.c, the same in 3.11-3.13): it_index, then it_seq (NULL once
# exhausted). FOR_ITER steps a list iterator inline, as listiter_next does.
LISTITER_INDEX = 16
LISTITER_SEQ = 24

PY_VECTORCALL_ARGUMENTS_OFFSET = 1 << 63
METH_FASTCALL = 0x0080

FINGERPRINT = (f"capi-1 py{VERSION[0]}.{VERSION[1]} immortal={IMMORTAL} "
               f"offsets={OB_REFCNT},{OB_TYPE},{OB_SIZE},{TUPLE_ITEMS},{LIST_ITEMS},"
               f"{TP_FLAGS},{TP_ITERNEXT},{LISTITER_INDEX},{LISTITER_SEQ},{TP_VERSION_TAG},"
               f"{DICT_VERSION_TAG},{MODULE_DICT}")


def _word(address: int) -> int:
    return ctypes.c_ssize_t.from_address(address).value


def _check_layout() -> None:
    """Compare the offsets above with the running interpreter (cheap; once per process)."""
    problems = []
    t = (object(), object())
    if _word(id(t) + OB_TYPE) != id(tuple) or _word(id(t) + OB_SIZE) != 2:
        problems.append("PyVarObject header")
    if _word(id(t) + TUPLE_ITEMS + 8) != id(t[1]):
        problems.append("PyTupleObject.ob_item")
    lst = [t]
    if _word(_word(id(lst) + LIST_ITEMS)) != id(t):
        problems.append("PyListObject.ob_item")
    if _word(id(tuple) + TP_FLAGS) & 0xFFFFFFFF != tuple.__flags__ & 0xFFFFFFFF:
        problems.append("PyTypeObject.tp_flags")
    if not tuple.__flags__ & TPFLAGS_TUPLE_SUBCLASS:
        problems.append("Py_TPFLAGS_TUPLE_SUBCLASS")
    if _word(id(object) + TP_ITERNEXT) != 0 or _word(id(type(iter([]))) + TP_ITERNEXT) == 0:
        problems.append("PyTypeObject.tp_iternext")
    if not _version_tag_ok():
        problems.append("PyTypeObject.tp_version_tag")
    d = {}
    tag = _word(id(d) + DICT_VERSION_TAG)
    d["x"] = 1
    changed = _word(id(d) + DICT_VERSION_TAG)
    d["x"] = 2
    if not 0 < tag < changed < _word(id(d) + DICT_VERSION_TAG) or _word(id(d) + 16) != 1:
        problems.append("PyDictObject.ma_version_tag")
    if _word(id(sys) + MODULE_DICT) != id(sys.__dict__):
        problems.append("PyModuleObject.md_dict")
    it = iter(lst)
    next(it)
    if _word(id(it) + LISTITER_INDEX) != 1 or _word(id(it) + LISTITER_SEQ) != id(lst):
        problems.append("listiterobject")
    before = sys.getrefcount(t)
    ctypes.c_ssize_t.from_address(id(t) + OB_REFCNT).value += 1
    after = sys.getrefcount(t)
    ctypes.c_ssize_t.from_address(id(t) + OB_REFCNT).value -= 1
    if after != before + 1:
        problems.append("ob_refcnt")
    if problems:
        raise ImportError("the LLVM backend does not know this CPython's object layout: "
                          + ", ".join(problems))


def _version_tag_ok() -> bool:
    """A lookup on a new class gives it a version tag; changing the class drops it."""
    class Probe:
        pass

    def tag() -> int:
        return ctypes.c_uint.from_address(id(Probe) + TP_VERSION_TAG).value

    getattr(Probe, "jj_probe", None)  # _PyType_Lookup assigns the tag
    tagged = tag() != 0 and Probe.__flags__ & TPFLAGS_VALID_VERSION_TAG
    Probe.jj_probe = 1  # PyType_Modified
    return bool(tagged) and tag() == 0 and not Probe.__flags__ & TPFLAGS_VALID_VERSION_TAG


_check_layout()


# --------------------------------------------------------------------------------------------
# Reference counting, as LLVM IR functions the optimizer inlines


def refcount_ir(inline_decref: bool = True) -> str:
    """Definitions of `@jj.incref(ptr)`, `@jj.decref(ptr)` and `@jj.xdecref(ptr)` (x: NULL
    allowed), calling `_Py_Dealloc` when a count drops to zero, as Py_INCREF/Py_DECREF do.
    incref is always inlined; decref and xdecref only with `inline_decref` (each inlined
    decref adds basic blocks, which LLVM's optimizer and code generator pay for)."""
    if not IMMORTAL:
        inc_body = """\
  %rc = load i64, ptr %o, align 8
  %n = add i64 %rc, 1
  store i64 %n, ptr %o, align 8
  ret void
"""
        dec_body = """\
  %rc = load i64, ptr %o, align 8
  %n = sub i64 %rc, 1
  store i64 %n, ptr %o, align 8
  %z = icmp eq i64 %n, 0
  br i1 %z, label %dealloc, label %done
dealloc:
  call void @_Py_Dealloc(ptr %o)
  br label %done
done:
  ret void
"""
    else:
        # 3.12+: an object whose low 32 bits of ob_refcnt are negative (as int32) is immortal;
        # incref saturates at that boundary, decref leaves immortal objects alone.
        inc_body = """\
  %rc = load i32, ptr %o, align 8
  %n = add i32 %rc, 1
  %imm = icmp eq i32 %n, 0
  br i1 %imm, label %done, label %store
store:
  store i32 %n, ptr %o, align 8
  br label %done
done:
  ret void
"""
        dec_body = """\
  %lo = load i32, ptr %o, align 8
  %imm = icmp slt i32 %lo, 0
  br i1 %imm, label %done, label %live
live:
  %rc = load i64, ptr %o, align 8
  %n = sub i64 %rc, 1
  store i64 %n, ptr %o, align 8
  %z = icmp eq i64 %n, 0
  br i1 %z, label %dealloc, label %done
dealloc:
  call void @_Py_Dealloc(ptr %o)
  br label %done
done:
  ret void
"""
    attr = "alwaysinline" if inline_decref else "noinline"
    return (
        f"define internal void @jj.incref(ptr %o) alwaysinline {{\n{inc_body}}}\n"
        f"define internal void @jj.decref(ptr %o) {attr} {{\n{dec_body}}}\n"
        f"define internal void @jj.xdecref(ptr %o) {attr} {{\n"
        f"  %null = icmp eq ptr %o, null\n"
        f"  br i1 %null, label %done, label %nonnull\n"
        f"nonnull:\n{dec_body}"
        f"}}\n"
        "declare void @_Py_Dealloc(ptr)\n"
    )


# --------------------------------------------------------------------------------------------
# Builtin functions around native code


class PyMethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_PyCFunction_NewEx = ctypes.pythonapi.PyCFunction_NewEx
_PyCFunction_NewEx.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]
_PyCFunction_NewEx.restype = ctypes.py_object


def new_builtin(name: str, address: int, self_obj: object) -> tuple[object, PyMethodDef]:
    """A builtin function calling the METH_FASTCALL C function at `address` with `self_obj` as
    its first argument: `(function, method_def)`. The PyMethodDef must outlive the function:
    keep it in `self_obj` (the function holds a reference to it)."""
    mdef = PyMethodDef(name.encode("utf-8", "surrogatepass"), address, METH_FASTCALL, None)
    func = _PyCFunction_NewEx(ctypes.addressof(mdef), self_obj, None)
    return func, mdef
