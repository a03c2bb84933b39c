"""The warm path's cache key: what a compiled specialization depends on, computed from the
function itself, without running (or importing) the compiler.

    warm_key(py_func, store, backend=, opt_level=, arg_names=, backend_parts=) -> key
    code_fingerprint(code) -> digest        arg_type_names(arg_types) -> names or None
    ValueProfile(values): a call's argument profile, its names now, its lattice types lazily
    constant_recipe(code, constants) -> recipe or None
    rebuild_constants(code, recipe) -> constants

The cold path keys a built module by its generated source (`cython_build.module_key`), which
needs the whole pipeline. The warm key covers instead everything that source is made from:

- the code object, recursively (`code_fingerprint`: bytecode, constants, names, flags, line
  table, file name and first line), and the function's `__name__`/`__qualname__`;
- the argument-type signature of a typed specialization (`arg_type_names`) and, for one, the
  kind of object each name of `co_names` is bound to now (`globals_snapshot`: the type
  analysis treats `len`, `math`, `math.sqrt`... as known objects when they are), and for a
  function @jit made also its code's fingerprint (justjit.inline_calls may copy its code);
- the backend, `opt_level` and the backend's own toolchain facts (`backend_parts`);
- the compiler: a digest of every source file of the `justjit` package
  (`compiler_digest`, memoized on disk under the files' stat stamps) and of the runtime
  headers; the Python, Cython and justjit versions (`cache.environment_fingerprint`).

The source lines quoted as comments in the generated .pyx are not covered: an edit that
changes only a comment leaves the code object, and so the compiled behaviour, unchanged.

A generated module is initialized with a tuple of constants (`__jj_init`). A *recipe*
(`constant_recipe`) says how to make that tuple again in another process: an object of
the function's own code object tree by its path (the very object, as the compiler passed
it), plain data (marshal), or a module-level object by reference (`math.sqrt`). A module
whose constants have no recipe is not recorded; that function keeps the cold path.

The argument profile (`profile_name`) mirrors `analyses.types.profile_type` so that a warm
call does not import the type lattice (it imports the IR: tens of milliseconds). The
pipeline records a warm entry only when the two agree, and tests/test_warm_cache.py checks
that they do.
"""

from __future__ import annotations

import marshal
import os
import sys
from types import MemberDescriptorType as _SLOT

from justjit import cache as _cache

__all__ = ["ValueProfile", "arg_type_names", "code_fingerprint", "compiler_digest",
           "constant_recipe", "globals_snapshot", "instance_attributes",
           "instance_profile_name", "jitted_original", "profile_name",
           "rebuild_constants", "warm_key"]

WARM_FORMAT = 1  # bump when the key's parts or the recipe's meaning change
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_RUNTIME = _cache.RUNTIME_DIR


# ---------------------------------------------------------------------------
# The code object


def code_fingerprint(code) -> str:
    """A stable digest of everything in a code object that can change the compiled result.

    (marshal output is not stable across runs: its reference flags depend on refcounts.)
    """
    h = _cache.hasher()

    def feed(obj) -> None:
        if hasattr(obj, "co_code"):
            h.update(b"<code>")
            for attr in ("co_code", "co_names", "co_varnames", "co_cellvars", "co_freevars",
                         "co_filename", "co_name", "co_qualname", "co_firstlineno",
                         "co_linetable", "co_exceptiontable", "co_flags", "co_argcount",
                         "co_posonlyargcount", "co_kwonlyargcount", "co_stacksize"):
                h.update(repr(getattr(obj, attr, None)).encode("utf-8", "surrogatepass"))
            for const in obj.co_consts:
                feed(const)
            h.update(b"</code>")
        elif isinstance(obj, (tuple, frozenset)):
            h.update(type(obj).__name__.encode())
            for item in (obj if isinstance(obj, tuple) else sorted(obj, key=repr)):
                feed(item)
            h.update(b")")
        else:
            h.update(type(obj).__name__.encode() + b":" +
                     repr(obj).encode("utf-8", "surrogatepass") + b";")

    feed(code)
    return h.hexdigest()


def globals_snapshot(py_func) -> str:
    """What each name of the function's ``co_names`` is bound to, as far as the type
    analysis can tell things apart: a module, a builtin function or a class (by name), any
    other object, or nothing."""
    g = py_func.__globals__
    b = g.get("__builtins__", None)
    b = getattr(b, "__dict__", b) if b is not None else {}
    out = []
    for name in py_func.__code__.co_names:
        value = g[name] if name in g else b.get(name, _MISSING) if isinstance(b, dict) else _MISSING
        out.append(f"{name}={_label(value)}")
    return ";".join(out)


_MISSING = object()


def _label(value) -> str:
    if value is _MISSING:
        return "-"
    ref = _reference(value, importing=False)
    if ref is None:
        return "object"
    jitted = jitted_original(value)
    if jitted is not None:  # its typed code may be copied into the caller (inline_calls)
        return ".".join(ref) + "@" + code_fingerprint(jitted.__code__)
    return ".".join(ref)


def jitted_original(value):
    """The original function of `value` when it is a function @jit made, else None (without
    importing the dispatcher)."""
    dispatcher = getattr(value, "dispatcher", None)
    if type(value) is not type(_label) or getattr(dispatcher, "trampoline", None) is not value:
        return None
    return getattr(dispatcher, "py_func", None)


# ---------------------------------------------------------------------------
# Argument types


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_PROFILE_SAMPLE = 8
_CLASS_NAMES = {int: "int", float: "float", bool: "bool", type(None): "None", str: "str",
                bytes: "bytes", list: "list", tuple: "tuple", dict: "dict", set: "set",
                complex: "complex"}


# numpy arrays are specialized by dtype, ndim and layout (analyses.types.ndarray_type); the
# dtypes and ndims with typed code (ir.ops.NP_DTYPES).
_ARRAY_DTYPES = ("int32", "int64", "float32", "float64")
_ARRAY_MAX_NDIM = 2


def array_profile(value) -> tuple | None:
    """``(dtype name, ndim, layout)`` of an exact numpy.ndarray that typed code handles
    (native byte order; layout "C", "F" or "A" as ir.ops.GuardArray checks), else None.
    numpy is only looked up, never imported: an array exists, so it is."""
    np = sys.modules.get("numpy")
    if np is None or type(value) is not getattr(np, "ndarray", None):
        return None
    dtype = value.dtype
    if (dtype.name not in _ARRAY_DTYPES or dtype.type is not getattr(np, dtype.name)
            or not dtype.isnative or not 1 <= value.ndim <= _ARRAY_MAX_NDIM):
        return None  # (a C long long array is "int64" with numpy.longlong scalars: not typed)
    flags = value.flags
    layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
    return (dtype.name, value.ndim, layout)


def array_profile_name(key: tuple) -> str:
    return f"ndarray[{key[0]},{key[1]}d,{key[2]}]"


# Instances of user classes are specialized by class, and by the types of those of their
# attributes that the function names (analyses.types.instance_type).
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement (or type())


def _named_class(cls) -> bool:
    """Whether ``cls`` is a heap type that its module binds to its qualified name (a class
    statement at the top of a module, or in such a class). Not a class made in a function:
    made again at each call, each would have a specialization, and keep its class alive."""
    if not cls.__flags__ & _HEAPTYPE:
        return False
    module = sys.modules.get(cls.__module__)
    parts = cls.__qualname__.split(".")
    if module is None or "<locals>" in parts:
        return False
    namespace = module.__dict__  # (no module __getattr__, no descriptor: no code runs)
    for part in parts[:-1]:
        outer = namespace.get(part)
        if not isinstance(outer, type):
            return False
        namespace = outer.__dict__
    return namespace.get(parts[-1]) is cls


def instance_attributes(value, names) -> tuple | None:
    """``((name, attribute), ...)`` for the attributes among ``names`` that ``value``, an
    instance of a user class (`_named_class`), holds itself (in its __dict__ or a __slots__
    slot), in the order of ``names``; None for any other value. They are read without
    running any of the program's code and without making the instance's __dict__ (3.11
    keeps attributes in inline values until then)."""
    cls = type(value)
    if not _named_class(cls):
        return None
    found = []
    for name in names:
        on_class = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if on_class is not None and type(on_class) is not _SLOT:
            continue  # a method, a property, a class attribute: not the instance's own
        try:
            found.append((name, object.__getattribute__(value, name)))
        except AttributeError:
            continue
    return tuple(found)


def instance_profile_name(cls, attribute_names: tuple) -> str:
    """``module.qualname{attribute:type,...}``: the name of analyses.types.instance_type."""
    text = f"{getattr(cls, '__module__', '?')}.{cls.__qualname__}"
    if attribute_names:
        text += "{" + ",".join(f"{a}:{t}" for a, t in attribute_names) + "}"
    return text


def _plain_profile_name(value) -> str:
    name = _CLASS_NAMES.get(type(value), "object")
    if name == "object":
        key = array_profile(value)
        return "object" if key is None else array_profile_name(key)
    if name == "int" and not _INT64_MIN <= value <= _INT64_MAX:
        return "object"
    if name == "list" and value:
        sample = value[:_PROFILE_SAMPLE] + value[-_PROFILE_SAMPLE:]
        if all(type(x) is float for x in sample):
            return "list[float]"
        if all(type(x) is int and _INT64_MIN <= x <= _INT64_MAX for x in sample):
            return "list[int]"
    return name


# The attribute types an instance's profile records: those typed code computes with.
ATTRIBUTE_PROFILES = ("int", "float", "bool", "list[int]", "list[float]")


def profile_name(value, names: tuple = ()) -> str:
    """``str(analyses.types.profile_type(value, names))``, without importing the lattice."""
    attributes = instance_attributes(value, names)
    if attributes is None:
        return _plain_profile_name(value)
    typed = [(a, _plain_profile_name(v)) for a, v in attributes]
    return instance_profile_name(type(value), tuple(
        (a, t) for a, t in typed if t in ATTRIBUTE_PROFILES))


class ValueProfile:
    """The argument profile of one call: its type names at once (the warm key), the lattice
    types (`analyses.types.profile_type`) when first iterated (a compilation). The values
    are dropped once the types are known, or by `release` (the compilation is over: a
    refusal's traceback must not keep the call's arguments alive)."""

    __slots__ = ("names", "_values", "_types", "_attributes")

    def __init__(self, values, attributes: tuple = ()) -> None:
        """`attributes`: the names the function reads attributes by (its co_names)."""
        lattice = sys.modules.get("justjit.analyses.types")
        self._attributes = attributes
        if lattice is not None:  # the compiler is loaded anyway: use the real profile
            self._types = tuple([lattice.profile_type(v, attributes) for v in values])
            self.names = tuple([str(t) for t in self._types])
            self._values = None
        else:
            self._types = None
            self.names = tuple([profile_name(v, attributes) for v in values])
            self._values = tuple(values)

    def release(self) -> None:
        self._values = None

    def types(self) -> tuple:
        if self._types is None:
            if self._values is None:
                raise RuntimeError("the profile's values were released")
            from justjit.analyses.types import profile_type

            self._types = tuple([profile_type(v, self._attributes) for v in self._values])
            self._values = None
        return self._types

    def __iter__(self):
        return iter(self.types())

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):
        return self.types()[index]

    def __repr__(self) -> str:
        return f"ValueProfile({', '.join(self.names)})"


def arg_type_names(arg_types) -> tuple | None:
    """The key's names for ``arg_types`` (a ValueProfile, lattice types, or classes), or
    None for generic code."""
    if arg_types is None:
        return None
    names = getattr(arg_types, "names", None)
    if names is not None:
        return tuple(names)
    return tuple([f"class:{t.__module__}.{t.__qualname__}" if isinstance(t, type) else str(t)
                  for t in arg_types])


# ---------------------------------------------------------------------------
# The compiler


_DIGESTS: dict[str, str] = {}  # stamp -> digest, this process


def compiler_digest(store=None, root: str = PACKAGE_DIR) -> str:
    """Digest of the names and contents of every source file of the package at ``root``.

    Each call stats the files (about 50: a fraction of a millisecond); the contents are
    read only for a stamp (paths, sizes, mtimes, inodes) not seen before, and the answer is
    memoized under that stamp in this process and, with a cache, on disk.
    """
    files = _cache.tree_files(root)
    stamp = []
    for _rel, path in files:
        try:
            st = os.stat(path)
        except OSError:
            continue
        stamp.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
    memo = "compiler-" + _cache.digest("\n".join(stamp).encode("utf-8", "surrogateescape"))[:32]
    found = _DIGESTS.get(memo) or (store.read_memo(memo) if store is not None else None)
    if not found:
        found = _cache.tree_digest(root, files)
        if store is not None:
            store.write_memo(memo, found)
    _DIGESTS[memo] = found
    return found


# ---------------------------------------------------------------------------
# The key


def warm_key(py_func, store, *, backend: str, opt_level: int, arg_names: tuple | None,
             backend_parts: dict) -> str:
    """The warm path's key of ``py_func`` compiled by ``backend`` at ``opt_level`` for
    ``arg_names`` (`arg_type_names`; None: generic code)."""
    parts = _cache.environment_fingerprint()
    parts.update(backend_parts)
    parts.update(
        warm_format=str(WARM_FORMAT),
        compiler=compiler_digest(store),
        # (the package's own runtime headers are in the compiler digest; tests move them)
        runtime=("" if _cache.RUNTIME_DIR == _PACKAGE_RUNTIME else _cache.runtime_fingerprint()),
        code=code_fingerprint(py_func.__code__),
        function=f"{py_func.__name__}\0{py_func.__qualname__}",
        backend=backend,
        opt_level=str(opt_level),
        arg_types="generic" if arg_names is None else "\0".join(arg_names),
        globals="" if arg_names is None else globals_snapshot(py_func),
    )
    return _cache.make_key(parts)


# ---------------------------------------------------------------------------
# Constants


_PLAIN = (int, float, complex, str, bytes, bool, type(None), type(...))


def _plain(value) -> bool:
    """Whether marshal gives back an equivalent object (interned strings stay interned)."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind in (tuple, frozenset):
        return all(_plain(item) for item in value)
    return kind is type(_plain.__code__)


def _reference(value, importing: bool = True) -> tuple[str, ...] | None:
    """``(module,)`` for a module, ``(module, qualname)`` for a builtin function, a class or
    a function @jit made that is reachable under that name (the very object), else None.
    Without ``importing`` only modules imported already are looked in."""
    if type(value) is type(sys):
        name = getattr(value, "__name__", None)
        return (name,) if isinstance(name, str) and sys.modules.get(name) is value else None
    if not isinstance(value, (type, type(len))) and jitted_original(value) is None:
        return None
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    if not importing and module not in sys.modules:
        return None
    try:
        found = _resolve((module, qualname))
    except Exception:  # noqa: BLE001 - anything unreachable is simply not a reference
        return None
    return (module, qualname) if found is value else None


def _resolve(ref: tuple[str, ...]):
    module = sys.modules.get(ref[0])
    if module is None:
        import importlib

        module = importlib.import_module(ref[0])
    obj = module
    for part in ref[1].split(".") if len(ref) > 1 else ():
        obj = getattr(obj, part)
    return obj


def _paths(code) -> dict[int, tuple]:
    """id -> path of every object of the code object tree: () is ``code``, (i, ...) the
    i-th constant (of a code object, or item of a tuple) below it."""
    found: dict[int, tuple] = {}

    def walk(obj, path: tuple) -> None:
        if id(obj) in found:
            return
        found[id(obj)] = path
        items = obj.co_consts if hasattr(obj, "co_code") else obj if type(obj) is tuple else ()
        for i, item in enumerate(items):
            walk(item, path + (i,))

    walk(code, ())
    return found


def constant_recipe(code, constants: tuple) -> tuple | None:
    """How to make ``constants`` again from ``code`` in another process, or None when
    some constant can be neither found in ``code``, marshalled, nor named."""
    paths = _paths(code)
    recipe = []
    for value in constants:
        path = paths.get(id(value))
        if path is not None:
            recipe.append(("c", path))
        elif _plain(value):
            recipe.append(("v", value))
        else:
            ref = _reference(value)
            if ref is None:
                return None
            recipe.append(("r", ref))
    try:
        marshal.dumps(tuple(recipe))
    except ValueError:
        return None
    return tuple(recipe)


def rebuild_constants(code, recipe: tuple) -> tuple:
    """The constants ``recipe`` describes (raises if one cannot be made)."""
    out = []
    for kind, what in recipe:
        if kind == "c":
            obj = code
            for i in what:
                obj = obj.co_consts[i] if hasattr(obj, "co_code") else obj[i]
            out.append(obj)
        elif kind == "v":
            out.append(what)
        elif kind == "r":
            out.append(_resolve(what))
        else:
            raise ValueError(f"unknown constant recipe {kind!r}")
    return tuple(out)
