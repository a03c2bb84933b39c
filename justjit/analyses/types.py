"""Type inference for one specialization: the type of every register at every point.

    infer_types(fn, arg_types, globals_=None) -> TypeFacts        format_types(facts) -> text

A specialization is a tuple of argument types (what the dispatcher keys on). From it, a forward
dataflow on the generic framework (analyses/dataflow.py) gives each register's type before and
after every op. It is pure: the IR is never changed; `justjit.specialize` reads the facts to
build the typed copy of the code.

The lattice lives here, and only here (`PyType` and the constants below). It is flat:

            OBJECT  (anything: unknown, or maybe unbound for a local)
      /    /    |    |     \\       \\
   NONE BOOL INT FLOAT STR ... RANGE RANGE_ITER  known objects (=builtins.range, =math.sqrt)
      \\    \\    |    |     /       /
                  (a register never written: UNBOUND, i.e. absent from an environment)

Every type but OBJECT and UNBOUND names one exact class: INT is "type(x) is int", never a
subclass, and in addition its value is *speculated* to fit int64; FLOAT is an exact float;
BOOL exactly True or False. Two different types join to OBJECT (an int on one path and a float
on the other is OBJECT, and so is "an int, or unbound"). Types that specialized code holds
unboxed: INT (C int64), FLOAT (C double), BOOL (C 0/1), RANGE and RANGE_ITER (three int64:
cur/start, stop, step).

A few globals are *known*: `range`, `len`, `abs`, `min`, `max`, `int`, `float`, the `math`
module and its functions. A LoadGlobal (or a GetAttr on the math module) has a known type only
when the name resolves to that very object now (given `globals_`, else builtins are assumed),
and only under a guard that it still does at run time.

numpy (no import of numpy here): an array argument's type names its dtype, ndim and layout
(ndarray_type, checked by the entry guard); its elements a[i] / a[i, j] are numpy scalars
(NP_SCALARS, held unboxed: int32/int64 in i64, float32/float64 in f64), and their arithmetic
follows numpy's promotion (numpy_binary_result) where C reproduces it exactly, with a deopt
wherever numpy would wrap, warn or raise. The array types are hints, not proofs: every typed
element access re-checks the array's dtype and ndim, since Python code run by a generic op
may change them.

Conservative: whatever is not proven (or speculated under a guard that specialized code
checks) is OBJECT. The per-op rules say, besides the result types, how specialized code treats
the op (`Typing.how`) and what it speculates (`Typing.guard`, shown by format_types):

- "typed":   computed by typed ops (IntArith, FloatCompare, RangeIterNext, ...), maybe with a
             deopt condition named in `guard`;
- "proven":  the generic op runs and its result certainly has the (unboxed) type: unbox it;
- "guarded": the generic op runs and its result type is speculated: check it (GuardType);
- "known":   the generic op runs and its result is speculated to be a known object
             (GuardIdentity);
- "generic": the generic op runs; its result is an object (maybe of a known object type such
             as STR or LIST, which needs no unboxing).
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import types as _pytypes
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from ..fingerprint import (ATTRIBUTE_PROFILES, array_profile, array_profile_name,
                           instance_attributes, instance_profile_name)
from ..ir import ops as ir
from ..ir.ops import ExcEdge, IRFunction, Op, Reg
from ..ir.printer import format_op
from .dataflow import Problem, block_points, edge_defs, solve, use_counts

# --------------------------------------------------------------------------------------------
# The lattice


@dataclass(frozen=True)
class PyType:
    """One element of the lattice. `name` identifies a plain type; a known object also carries
    the object (`value`), a range iterator the op that made it (`origin`), since two iterators
    made by different GetIters are different values that must not be merged."""

    name: str
    cls: Optional[type] = field(default=None, compare=False)  # exact class of every value
    unboxed: Optional[str] = field(default=None, compare=False)  # "i64"/"f64"/"b1"/"range"
    value: Any = None   # known objects: the object itself
    origin: Any = None  # range iterators: (block, index) of their GetIter
    array: Optional[tuple] = None  # numpy arrays: (dtype, ndim, layout), see ndarray_type
    # instances of a user class (cls): ((attribute, PyType), ...), see instance_type
    attributes: Optional[tuple] = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.name

    @property
    def is_unboxed(self) -> bool:
        return self.unboxed is not None


OBJECT = PyType("object")
UNBOUND = PyType("unbound")
NONE = PyType("None", type(None))
BOOL = PyType("bool", bool, "b1")
INT = PyType("int", int, "i64")
FLOAT = PyType("float", float, "f64")
STR = PyType("str", str)
BYTES = PyType("bytes", bytes)
LIST = PyType("list", list)
TUPLE = PyType("tuple", tuple)
DICT = PyType("dict", dict)
SET = PyType("set", set)
COMPLEX = PyType("complex", complex)
RANGE = PyType("range", range, "range")
RANGE_ITER_NAME = "range_iterator"
# The function being specialized, loaded by name from its globals (direct self-calls: see
# SelfCallPlan). Not a known object: whether the name still means this function is checked
# where it is called (ir.ops.SelfCall).
SELF = PyType("this function")
# The label of a known jitted function (justjit.inline_calls): "jit:module.qualname".
LEAF_LABEL = "jit:"
# Lists whose elements were all of one type when the specialization was made (a value profile
# of the arguments, see profile_type): reading an element by index speculates that type, and
# a guard on each read sends any other element to the generic code. The entry guard checks
# only that the argument is a list.
LIST_OF_INT = PyType("list[int]", list)
LIST_OF_FLOAT = PyType("list[float]", list)
ELEMENT_TYPES = {LIST_OF_INT: INT, LIST_OF_FLOAT: FLOAT}
LISTS = (LIST, LIST_OF_INT, LIST_OF_FLOAT)
# Sequences indexed by an int without a call (ir.ops.SeqLoad; lists also ListStore).
SEQ_LOADS = LISTS + (TUPLE,)
# The iterator of a profiled list (`for x in xs`): the list's own iterator, each element it
# gives guarded to be of the profiled type, as an indexed read's is.
LIST_ITERATORS = {t: PyType(f"list_iterator[{ELEMENT_TYPES[t]}]", type(iter([])))
                  for t in (LIST_OF_INT, LIST_OF_FLOAT)}
ITERATED_TYPES = {it: ELEMENT_TYPES[t] for t, it in LIST_ITERATORS.items()}
PROFILE_SAMPLE = 8  # elements looked at, from each end of a list
# A tuple of exact ints (an ndarray's shape): reading one by index is an int, under the same
# per-read guard as a list[int]'s.
TUPLE_OF_INT = PyType("tuple[int]", tuple)
ELEMENT_TYPES[TUPLE_OF_INT] = INT
SEQ_LOADS = SEQ_LOADS + (TUPLE_OF_INT,)

# numpy. An array argument's type says its dtype, ndim and layout (ndarray_type; the entry
# guard checks all three); reading an element gives a numpy scalar of its dtype, held unboxed
# (ir.ops.NP_DTYPES). Nothing here imports numpy: these types exist before any array does.
NP_SCALARS = {dtype: PyType("numpy." + dtype, None, kind)
              for dtype, kind in ir.NP_DTYPES.items()}
NP_INT32, NP_INT64 = NP_SCALARS["int32"], NP_SCALARS["int64"]
NP_FLOAT32, NP_FLOAT64 = NP_SCALARS["float32"], NP_SCALARS["float64"]
NP_DTYPE_OF = {t: dtype for dtype, t in NP_SCALARS.items()}
# An accumulator started as a Python float that numpy float64s are then added to
# (`total = 0.0; total += a[i] * b[i]`): a float or a numpy.float64, the join of the two. Its
# value is one double, with a flag saying which class to box it as (specialize.shadow); any
# operation with another numpy.float64 is one of two numpy.float64s, whichever it is.
FLOAT_OR_NP_FLOAT64 = PyType("float|numpy.float64", None, "f64|np")
# The index `(i, j)` of a 2-d array's element, built of two ints only to be used as that
# index: held as two int64s (no tuple is made unless generic code needs one).
INT_PAIR = PyType("tuple[int,int]", tuple, "pair")


def ndarray_type(dtype: str, ndim: int, layout: str) -> PyType:
    """The type of exact numpy.ndarray arguments of that dtype (a key of NP_DTYPES), ndim and
    layout ("C", "F": contiguous that way, "A": neither; see ir.ops.GuardArray)."""
    return PyType(array_profile_name((dtype, ndim, layout)), array=(dtype, ndim, layout))


def _array_profile(value) -> Optional[PyType]:
    key = array_profile(value)
    return None if key is None else ndarray_type(*key)

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

_BY_CLASS = {int: INT, float: FLOAT, bool: BOOL, type(None): NONE, str: STR, bytes: BYTES,
             list: LIST, tuple: TUPLE, dict: DICT, set: SET, complex: COMPLEX}
# The lattice types a GuardType can check (ir.ops.GUARD_TYPES names).
GUARD_NAMES = {INT: "int", FLOAT: "float", BOOL: "bool", NONE: "none", STR: "str",
               BYTES: "bytes", LIST: "list", TUPLE: "tuple", DICT: "dict", SET: "set",
               COMPLEX: "complex", LIST_OF_INT: "list", LIST_OF_FLOAT: "list"}
# Types whose values have no observable lifetime (no __del__, no weakrefs, no contents):
# specialized code may keep a stale reference to one a little longer.
LIFETIME_INVISIBLE = ("None", "bool", "int", "float", "complex", "str", "bytes", "range",
                      RANGE_ITER_NAME, UNBOUND.name) + tuple(
                          str(t) for t in (*NP_SCALARS.values(), FLOAT_OR_NP_FLOAT64, INT_PAIR))


def instance_type(cls: type, attributes: tuple = ()) -> PyType:
    """The type of instances of exactly `cls`, a user class (fingerprint.instance_attributes),
    whose attributes `attributes`, ((name, PyType), ...), had those types when the
    specialization was made. The entry guard checks the class only (ir.ops.GuardClass); a
    read of one of those attributes is the generic one, its result guarded to have that
    type (the attribute may have been rebound since)."""
    return PyType(instance_profile_name(cls, tuple((a, str(t)) for a, t in attributes)), cls,
                  attributes=attributes)


def is_instance_type(t: PyType) -> bool:
    return t.attributes is not None


def _speculated(reg, t: PyType) -> str:
    """The guard text of a register speculated to be of type `t` (format_types)."""
    return f"{reg} is an int64" if t is INT else f"{reg} is a {t}"


def range_iter(origin) -> PyType:
    return PyType(RANGE_ITER_NAME, None, "range", origin=origin)


def join(a: PyType, b: PyType) -> PyType:
    if a == b:
        return a
    if {a, b} <= {FLOAT, NP_FLOAT64, FLOAT_OR_NP_FLOAT64}:
        return FLOAT_OR_NP_FLOAT64
    return OBJECT


def type_of_class(cls) -> PyType:
    """The lattice type of arguments of exact class `cls` (a PyType passes through)."""
    if isinstance(cls, PyType):
        return cls
    if cls is None:
        return OBJECT
    return _BY_CLASS.get(cls, OBJECT)


def profile_type(value, attributes: tuple = ()) -> PyType:
    """The lattice type a specialization for an argument like `value` assumes: its class's,
    an int outside int64 is OBJECT (no guard accepts it), and a list whose first and last
    PROFILE_SAMPLE elements are all floats (or all int64 ints) is LIST_OF_FLOAT (LIST_OF_INT).
    An instance of a user class has an instance_type, with the types of those of the
    `attributes` (names) it holds that typed code computes with (ATTRIBUTE_PROFILES)."""
    found = instance_attributes(value, attributes)
    if found is not None:
        typed = [(a, profile_type(v)) for a, v in found]
        return instance_type(type(value), tuple(
            (a, t) for a, t in typed if str(t) in ATTRIBUTE_PROFILES))
    t = _BY_CLASS.get(type(value), OBJECT)
    if t is INT and not INT64_MIN <= value <= INT64_MAX:
        return OBJECT
    if t is OBJECT:
        return _array_profile(value) or OBJECT
    if t is LIST and value:
        sample = value[:PROFILE_SAMPLE] + value[-PROFILE_SAMPLE:]
        if all(type(x) is float for x in sample):
            return LIST_OF_FLOAT
        if all(type(x) is int and INT64_MIN <= x <= INT64_MAX for x in sample):
            return LIST_OF_INT
    return t


def type_of_constant(value) -> PyType:
    t = _BY_CLASS.get(type(value), OBJECT)
    if t is INT and not INT64_MIN <= value <= INT64_MAX:
        return OBJECT
    if t in (LIST, DICT, SET):
        return OBJECT  # not a constant kind; never in co_consts
    return t


def in_type(value, t: PyType) -> bool:
    """Whether `value` belongs to lattice type `t` (what GuardType checks)."""
    if t is OBJECT:
        return True
    if t.array is not None:
        return profile_type(value) == t
    if t.value is not None:
        return value is t.value
    if t.cls is None or type(value) is not t.cls:
        return False
    return t is not INT or INT64_MIN <= value <= INT64_MAX


# --------------------------------------------------------------------------------------------
# Known objects


MATH_FLOAT_FUNCS = tuple(n for n in ir.MATH_FUNCS if n not in ("floor", "ceil", "trunc"))
MATH_INT_FUNCS = ("floor", "ceil", "trunc")
MATH_CONSTANTS = ("pi", "e", "tau", "inf", "nan")
_KNOWN_BUILTINS = ("range", "len", "abs", "min", "max", "int", "float", "round")

KNOWN: dict[int, tuple[Any, str]] = {}  # id(object) -> (object, label)
for _name in _KNOWN_BUILTINS:
    KNOWN[id(getattr(builtins, _name))] = (getattr(builtins, _name), "builtins." + _name)
KNOWN[id(math)] = (math, "math")
for _name in ir.MATH_FUNCS:
    KNOWN[id(getattr(math, _name))] = (getattr(math, _name), "math." + _name)


def known(obj) -> Optional[PyType]:
    """The lattice type "exactly this object" for a known object, else None."""
    entry = KNOWN.get(id(obj))
    if entry is None or entry[0] is not obj:
        return None
    return PyType("=" + entry[1], type(obj), value=obj)


def known_label(t: PyType) -> Optional[str]:
    return t.name[1:] if t.value is not None else None


def _resolver(globals_: Optional[Mapping]):
    """name -> its current value (globals, then builtins), or a missing marker."""
    missing = object()
    if globals_ is None:
        return (lambda name: getattr(builtins, name, missing)), missing
    bins = globals_.get("__builtins__", builtins)
    if isinstance(bins, _pytypes.ModuleType):
        bins = bins.__dict__

    def resolve(name):
        if name in globals_:
            return globals_[name]
        return bins.get(name, missing)
    return resolve, missing


# --------------------------------------------------------------------------------------------
# Environments: register -> type (absent: never written, UNBOUND)


class TypeEnv(Mapping):
    """An immutable map from registers to types. Absent registers are UNBOUND."""

    __slots__ = ("_d",)

    def __init__(self, d: Optional[dict] = None):
        self._d = dict(d or {})

    def __getitem__(self, reg: Reg) -> PyType:
        return self._d[reg]

    def get(self, reg: Reg, default=UNBOUND) -> PyType:  # type: ignore[override]
        return self._d.get(reg, default)

    def __iter__(self) -> Iterator[Reg]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __eq__(self, other) -> bool:
        return isinstance(other, TypeEnv) and self._d == other._d

    def __hash__(self):
        return hash(frozenset(self._d.items()))

    def with_types(self, updates: Mapping[Reg, PyType]) -> "TypeEnv":
        if not updates:
            return self
        d = dict(self._d)
        for reg, t in updates.items():
            if t is UNBOUND:
                d.pop(reg, None)
            else:
                d[reg] = t
        return TypeEnv(d)

    def __repr__(self) -> str:
        return "TypeEnv(" + ", ".join(f"{r}: {t}" for r, t in self._d.items()) + ")"


class _Unreached:
    """The fact of a point no path reaches yet (identity of the join)."""

    def __repr__(self) -> str:
        return "<unreached>"


UNREACHED = _Unreached()


def join_envs(a, b):
    if a is UNREACHED:
        return b
    if b is UNREACHED:
        return a
    if a == b:
        return a
    out = {}
    for reg in set(a) | set(b):
        t = join(a.get(reg), b.get(reg))
        out[reg] = t
    return TypeEnv(out)


# --------------------------------------------------------------------------------------------
# Per-op rules


@dataclass(frozen=True)
class Typing:
    """How one op is typed: the types of its defs (for a terminator: on its DEFS edge), how
    specialized code treats it (see the module docstring) and what it speculates."""

    defs: Mapping[Reg, PyType]
    how: str = "generic"
    guard: Optional[str] = None


def _int_like(t: PyType) -> bool:
    return t is INT or t is BOOL or t == INT or t == BOOL


def _numeric(t: PyType) -> bool:
    return t == INT or t == BOOL or t == FLOAT


_INT_ARITH_GUARDS = {
    "+": "int64 overflow", "-": "int64 overflow", "*": "int64 overflow",
    "//": "zero divisor or int64 overflow", "%": "zero divisor",
    "<<": "negative count or int64 overflow", ">>": "negative count",
    "**": "negative exponent or int64 overflow",
}


def _np_operand(t: PyType) -> Optional[str]:
    """A numpy scalar's dtype, "int" / "float" for a Python int / float (NEP 50's "weak"
    operands), else None (bool and everything else stay generic)."""
    if t == INT:
        return "int"
    if t == FLOAT:
        return "float"
    return NP_DTYPE_OF.get(t)


def numpy_binary_result(base: str, lt: PyType, rt: PyType) -> Optional[PyType]:
    """The numpy scalar type of `left <base> right` when one operand is a numpy scalar and
    the operation is one NpArith reproduces exactly (numpy 2, NEP 50 promotion), else None.
    Two numpy scalars promote (int32 with int64 is int64; an int with a float, or float32 with
    float64, is float64); a Python int takes the other's dtype, a Python float makes float64.
    Left generic: float32 with a Python number (its conversion to float32 may warn or round
    twice), and true division of two ints."""
    if FLOAT_OR_NP_FLOAT64 in (lt, rt):
        # (float or numpy.float64) with a numpy.float64 is a numpy.float64 either way
        ok = {lt, rt} <= {FLOAT_OR_NP_FLOAT64, NP_FLOAT64} and base in ir.NP_ARITH_OPS
        return NP_FLOAT64 if ok else None
    a, b = _np_operand(lt), _np_operand(rt)
    if a is None or b is None or base not in ir.NP_ARITH_OPS:
        return None
    strong = [k for k in (a, b) if k in ir.NP_DTYPES]
    if not strong:
        return None
    if len(strong) == 2:
        x, y = strong
        if x == y:
            result = x
        elif {x, y} == {"int32", "int64"}:
            result = "int64"
        else:
            result = "float64"
    else:
        weak = b if a in ir.NP_DTYPES else a
        if strong[0] == "float32":
            return None
        result = "float64" if weak == "float" else strong[0]
    if base == "/" and result not in ("float32", "float64"):
        return None
    return NP_SCALARS[result]


def binary_result(op: str, lt: PyType, rt: PyType) -> tuple[PyType, str, Optional[str]]:
    """(result type, how, guard) of `left <op> right` (op with or without "=")."""
    base = op[:-1] if op.endswith("=") and op not in ("==",) else op
    np_result = numpy_binary_result(base, lt, rt)
    if np_result is not None:
        return (np_result, "typed",
                "overflow, out-of-range operand, zero divisor or inf/nan/underflow -> deopt")
    if _int_like(lt) and _int_like(rt):
        if lt == BOOL and rt == BOOL and base in ir.INT_BITWISE_OPS:
            return BOOL, "proven", None  # bool & bool is a bool (bool.__and__)
        if base in ir.INT_ARITH_OPS:
            return INT, "typed", _INT_ARITH_GUARDS[base] + " -> deopt"
        if base in ir.INT_BITWISE_OPS:
            return INT, "typed", None
        if base == "/":
            return FLOAT, "typed", "operand beyond 2**53 or zero divisor -> deopt"
        return OBJECT, "generic", None
    if _numeric(lt) and _numeric(rt):  # at least one float
        if base in ir.FLOAT_ARITH_OPS:
            return FLOAT, "typed", None
        if base in ir.FLOAT_DIVIDE_OPS:
            return FLOAT, "typed", "zero divisor -> deopt"
        if base == "**":
            return FLOAT, "typed", ("a zero or non-finite operand, a complex result, an "
                                    "overflow or underflow -> deopt")
        return OBJECT, "generic", None
    same = {STR: ("+",), BYTES: ("+",), LIST: ("+",), TUPLE: ("+",)}
    if lt == rt and lt in same and base in same[lt]:
        return lt, "generic", None
    if lt in (STR, BYTES, LIST, TUPLE) and _int_like(rt) and base == "*":
        return lt, "generic", None
    if rt in (STR, BYTES, LIST, TUPLE) and _int_like(lt) and base == "*":
        return rt, "generic", None
    if lt == STR and base == "%" and rt in (STR, INT, FLOAT, BOOL, TUPLE, NONE):
        return STR, "generic", None
    return OBJECT, "generic", None


# What ArrayStore does with a value of each type stored into an array of each dtype: the
# conversions numpy makes that C reproduces exactly (ir.ops.ARRAY_STORE_CASTS); any other pair
# is stored by generic code.
_ARRAY_STORES = {
    "float64": {FLOAT: "exact", NP_FLOAT64: "exact", NP_FLOAT32: "exact", INT: "exact"},
    "float32": {NP_FLOAT32: "exact", FLOAT: "round", NP_FLOAT64: "round"},
    "int64": {INT: "exact", NP_INT64: "exact", NP_INT32: "exact", FLOAT: "trunc"},
    "int32": {INT: "exact", NP_INT32: "exact", FLOAT: "trunc"},
}


def array_store_cast(dtype: str, value: PyType) -> Optional[str]:
    return _ARRAY_STORES[dtype].get(value)


def exact_class(t: PyType) -> Optional[type]:
    if t.value is not None:
        return type(t.value)
    if t.name == RANGE_ITER_NAME:
        return type(iter(range(0)))
    return t.cls


@dataclass(frozen=True)
class SelfCallPlan:
    """Type calls of the function by its own global `name`, with arguments of exactly the
    specialization's (unboxed) types, as direct calls of this specialization whose result is
    `result` (the type every return of its typed code has: justjit.specialize checks that).
    A callee that leaves typed code hands its result over as an object instead."""

    name: str
    result: PyType


def _index_tuples(fn: IRFunction) -> dict:
    """(block, index) of each BuildTuple whose tuple's one use is as the key of a GetItem or
    SetItem later in its block -> that op: `a[i, j]`, whose tuple may stay unboxed."""
    uses: dict = {}
    for block in fn.blocks.values():
        for r, n in use_counts(block).items():
            uses[r] = uses.get(r, 0) + n
    out = {}
    for block in fn.blocks.values():
        for k, op in enumerate(block.ops):
            if not isinstance(op, ir.BuildTuple) or uses.get(op.dest) != 1:
                continue
            for later in block.ops[k + 1:]:
                if isinstance(later, (ir.GetItem, ir.SetItem)) and later.key == op.dest:
                    out[(block.id, k)] = later
                    break
    return out


class _Typer:
    """The per-op rules: `typing(op, env, where)` -> Typing."""

    def __init__(self, fn: IRFunction, globals_: Optional[Mapping], no_typed_iter: set,
                 arg_types: tuple = (), self_call: Optional[SelfCallPlan] = None,
                 callees=None):
        self.fn = fn
        self.callees = callees
        self.resolve, self.missing = _resolver(globals_)
        self.no_typed_iter = no_typed_iter  # GetIter origins not to give RANGE_ITER
        self.arg_types = arg_types
        self.self_call = self_call
        self.index_tuples = _index_tuples(fn)

    def typing(self, op: Op, env: TypeEnv, where) -> Typing:
        method = getattr(self, "t_" + type(op).__name__, None)
        if method is not None:
            result = method(op, env, where)
            if result is not None:
                return result
        if op.IS_TERMINATOR:
            return Typing({})
        return Typing({r: OBJECT for r in op.defs()})

    # ---- values and locals ----

    def t_Move(self, op, env, where):
        t = env.get(op.src)
        return Typing({op.dest: t}, "typed" if t.is_unboxed else "generic")

    def t_LoadConst(self, op, env, where):
        t = type_of_constant(op.value)
        return Typing({op.dest: t}, "typed" if t.is_unboxed else "generic")

    def t_CheckBound(self, op, env, where):
        t = env.get(op.var)
        return Typing({}, "typed" if t.is_unboxed else "generic")

    def t_DeleteLocal(self, op, env, where):
        # An unboxed local is bound (its CheckBound went away); its object register is not.
        return Typing({op.var: UNBOUND}, "typed" if env.get(op.var).is_unboxed else "generic")

    def t_ClearLocal(self, op, env, where):
        return Typing({op.var: UNBOUND})

    # ---- operators ----

    def t_BinaryOp(self, op, env, where):
        t, how, guard = binary_result(op.op, env.get(op.left), env.get(op.right))
        return Typing({op.dest: t}, how, guard)

    def t_UnaryOp(self, op, env, where):
        t = env.get(op.operand)
        if op.op == "not":
            return Typing({op.dest: BOOL}, "typed" if t in (INT, FLOAT, BOOL) else "proven")
        if t == INT:
            guard = "int64 overflow -> deopt" if op.op == "neg" else None
            return Typing({op.dest: INT}, "typed", guard)
        if t == BOOL:
            return Typing({op.dest: INT}, "typed")
        if t == FLOAT and op.op in ("neg", "pos"):
            return Typing({op.dest: FLOAT}, "typed")
        return None

    def t_Compare(self, op, env, where):
        lt, rt = env.get(op.left), env.get(op.right)
        if _numeric(lt) and _numeric(rt):
            mixed = (lt == FLOAT) != (rt == FLOAT)
            return Typing({op.dest: BOOL}, "typed",
                          "int beyond 2**53 -> deopt" if mixed else None)
        if lt == STR and rt == STR:
            return Typing({op.dest: BOOL}, "proven")
        return None

    def t_IsOp(self, op, env, where):
        lt, rt = env.get(op.left), env.get(op.right)
        lc, rc = exact_class(lt), exact_class(rt)
        if lt == BOOL and rt == BOOL:
            return Typing({op.dest: BOOL}, "typed")
        if lc is not None and rc is not None and (
                lc is not rc or lt == NONE or (lt.value is not None and rt.value is not None)):
            return Typing({op.dest: BOOL}, "typed")  # a constant answer
        return Typing({op.dest: BOOL}, "proven")

    def t_ContainsOp(self, op, env, where):
        return Typing({op.dest: BOOL}, "proven")

    # ---- globals and attributes ----

    def t_LoadGlobal(self, op, env, where):
        if self.self_call is not None and op.name == self.self_call.name:
            return Typing({op.dest: SELF}, "typed")
        value = self.resolve(op.name)
        t = None if value is self.missing else known(value)
        if t is None and self.callees is not None and value is not self.missing:
            t = self.callees.known(value)  # a jitted function
        if t is None:
            return None
        return Typing({op.dest: t}, "known", f"{op.dest} is {known_label(t)}")

    def t_GetAttr(self, op, env, where):
        obj = env.get(op.obj)
        if obj.attributes:
            t = dict(obj.attributes).get(op.name)
            if t is not None:  # as profiled; it may have been rebound since: guarded
                return Typing({op.dest: t}, "guarded", _speculated(op.dest, t))
        if obj.array is not None and op.name == "shape":
            return Typing({op.dest: TUPLE_OF_INT})  # an exact ndarray's shape: exact ints
        if obj.array is not None and op.name == "copy":
            # ndarray.copy itself (an ndarray has no instance dict)
            return Typing({op.dest: PyType(f"{obj}.copy", origin=("copy", obj.array))})
        if obj.value is not math:
            return None
        value = getattr(math, op.name, None)
        t = known(value) if value is not None else None
        if t is not None:
            return Typing({op.dest: t}, "known", f"{op.dest} is {known_label(t)}")
        if op.name in MATH_CONSTANTS and type(value) is float:
            return Typing({op.dest: FLOAT}, "guarded", f"{op.dest} is a float")
        return None

    # ---- calls of known functions ----

    def t_Call(self, op, env, where):
        func = env.get(op.func)
        if func.origin is not None and func.origin[0] == "copy" and not op.args:
            # a.copy(): a new array like a, C-contiguous (order="C"). Not checked here: typed
            # element accesses check the dtype and ndim anyway.
            dtype, ndim, _ = func.origin[1]
            return Typing({op.dest: ndarray_type(dtype, ndim, "C")})
        if func == SELF and not op.kwnames and len(op.args) == len(self.arg_types) and all(
                env.get(a) == t for a, t in zip(op.args, self.arg_types)):
            return Typing({op.dest: self.self_call.result}, "typed",
                          "callee leaves typed code -> generic after the call")
        if func.value is None or op.kwnames:
            return None
        label = known_label(func)
        args = [env.get(a) for a in op.args]
        n = len(args)
        d = op.dest
        if self.callees is not None and label.startswith(LEAF_LABEL):
            result = self.callees.result(func.value, tuple(args))
            if result is None:
                return None
            return Typing({d: result}, "typed", "the callee gives up -> the generic call")
        if label == "builtins.range" and 1 <= n <= 3 and all(_int_like(a) for a in args):
            return Typing({d: RANGE}, "typed", "zero step -> deopt" if n == 3 else None)
        if label == "builtins.len" and n == 1:
            if GUARD_NAMES.get(args[0]) in ir.LEN_TYPES:
                return Typing({d: INT}, "typed")
            return Typing({d: INT}, "guarded", f"{d} is an int64")
        if label == "builtins.abs" and n == 1:
            if args[0] == INT:
                return Typing({d: INT}, "typed", "int64 overflow -> deopt")
            if args[0] == BOOL:
                return Typing({d: INT}, "typed")
            if args[0] == FLOAT:
                return Typing({d: FLOAT}, "typed")
            return None
        if label in ("builtins.min", "builtins.max") and n >= 2:
            if all(a == INT for a in args):
                return Typing({d: INT}, "typed")
            if all(a == FLOAT for a in args):
                return Typing({d: FLOAT}, "typed")
            return None
        if label == "builtins.int" and n == 1:
            if _int_like(args[0]):
                return Typing({d: INT}, "typed")
            if args[0] == FLOAT:
                return Typing({d: INT}, "typed", "nan, inf or beyond int64 -> deopt")
            return Typing({d: INT}, "guarded", f"{d} is an int64")
        if label == "builtins.round" and n == 1:
            if _int_like(args[0]):
                return Typing({d: INT}, "typed")
            if args[0] == FLOAT:
                return Typing({d: INT}, "typed", "nan, inf or beyond int64 -> deopt")
            return None
        if label == "builtins.float" and n == 1:
            if _numeric(args[0]):
                return Typing({d: FLOAT}, "typed")
            return Typing({d: FLOAT}, "guarded", f"{d} is a float")
        if label is not None and label.startswith("math.") and n == 1:
            name = label[5:]
            if name in MATH_INT_FUNCS:
                if _int_like(args[0]):
                    return Typing({d: INT}, "typed")
                if args[0] == FLOAT:
                    return Typing({d: INT}, "typed", "nan, inf or beyond int64 -> deopt")
                return None
            if name in MATH_FLOAT_FUNCS:
                if _numeric(args[0]):
                    return Typing({d: FLOAT}, "typed", "math domain or range error -> deopt")
                return Typing({d: FLOAT}, "proven")  # math_1 always returns an exact float
        return None

    # ---- containers, iteration ----

    def t_BuildTuple(self, op, env, where):
        consumer = self.index_tuples.get(where)
        array = env.get(consumer.obj).array if consumer is not None else None
        if (array is not None and array[1] == len(op.items) == 2
                and all(env.get(r) == INT for r in op.items)):
            return Typing({op.dest: INT_PAIR}, "typed")
        return Typing({op.dest: TUPLE})

    def t_UnpackSequence(self, op, env, where):
        if env.get(op.src) == TUPLE_OF_INT:  # rows, cols = a.shape
            return Typing({d: INT for d in op.dests}, "guarded",
                          ", ".join(map(str, op.dests)) + " are int64s")
        return None

    def t_BuildList(self, op, env, where):
        return Typing({op.dest: LIST})

    def t_BuildSet(self, op, env, where):
        return Typing({op.dest: SET})

    def t_BuildMap(self, op, env, where):
        return Typing({op.dest: DICT})

    def t_BuildConstKeyMap(self, op, env, where):
        return Typing({op.dest: DICT})

    def t_BuildString(self, op, env, where):
        return Typing({op.dest: STR})

    def t_FormatValue(self, op, env, where):
        return Typing({op.dest: STR})

    def t_ListToTuple(self, op, env, where):
        return Typing({op.dest: TUPLE})

    def t_GetLen(self, op, env, where):
        return Typing({op.dest: INT}, "proven")

    def t_MatchMapping(self, op, env, where):
        return Typing({op.dest: BOOL}, "proven")

    def t_MatchSequence(self, op, env, where):
        return Typing({op.dest: BOOL}, "proven")

    def t_GetItem(self, op, env, where):
        obj, key = env.get(op.obj), env.get(op.key)
        if obj.array is not None:
            if (obj.array[1], key) in ((1, INT), (2, INT_PAIR)):  # (a bool index is a mask)
                return Typing({op.dest: NP_SCALARS[obj.array[0]]}, "typed",
                              "index out of range or array changed -> deopt")
            return None
        if obj in SEQ_LOADS and _int_like(key):
            element = ELEMENT_TYPES.get(obj)
            if element is None:
                return Typing({op.dest: OBJECT}, "typed", "index out of range -> deopt")
            return Typing({op.dest: element}, "typed",
                          f"index out of range or {op.dest} not a {element} -> deopt")
        if obj == STR and _int_like(key):
            return Typing({op.dest: STR})
        if obj == BYTES and _int_like(key):
            return Typing({op.dest: INT}, "proven")
        return None

    def t_SetItem(self, op, env, where):
        obj = env.get(op.obj)
        if obj.array is not None:
            if ((obj.array[1], env.get(op.key)) in ((1, INT), (2, INT_PAIR))
                    and array_store_cast(obj.array[0], env.get(op.value)) is not None):
                return Typing({}, "typed", "index out of range, read-only array or a cast "
                                           "numpy checks -> deopt")
            return None
        if obj in LISTS and _int_like(env.get(op.key)):
            return Typing({}, "typed", "index out of range -> deopt")
        return None

    def t_SetAttr(self, op, env, where):
        if env.get(op.value) == FLOAT:
            return Typing({}, "typed", "an unshared float in the slot takes the value in place")
        return None

    def t_GetIter(self, op, env, where):
        obj = env.get(op.obj)
        if obj == RANGE and where not in self.no_typed_iter:
            return Typing({op.dest: range_iter(where)}, "typed")
        if obj in LIST_ITERATORS:
            return Typing({op.dest: LIST_ITERATORS[obj]})
        return None

    def t_ForIter(self, op, env, where):
        it = env.get(op.iterator)
        if it.name == RANGE_ITER_NAME:
            return Typing({op.dest: INT}, "typed")
        if it in ITERATED_TYPES:
            t = ITERATED_TYPES[it]
            return Typing({op.dest: t}, "guarded", _speculated(op.dest, t))
        return Typing({op.dest: OBJECT})

    def t_CondBranch(self, op, env, where):
        t = env.get(op.cond)
        if op.test == "truth":
            if t in (INT, FLOAT, BOOL) or t == NONE or t.value is not None:
                return Typing({}, "typed")
            return None
        cls = exact_class(t)
        if cls is not None:  # `is None` of a value of known class
            return Typing({}, "typed")
        return None


# --------------------------------------------------------------------------------------------
# The dataflow problem


class _TypeProblem(Problem):
    forward = True

    def __init__(self, typer: _Typer, entry_env: TypeEnv, where: dict):
        self.typer = typer
        self.entry_env = entry_env
        self.where = where  # id(op) -> (block, index)

    def boundary(self, fn):
        return self.entry_env

    def initial(self, fn):
        return UNREACHED

    def join(self, a, b):
        return join_envs(a, b)

    def transfer(self, op, env):
        if env is UNREACHED:
            return env
        if op.IS_TERMINATOR:
            return env  # defs happen on the edges (transfer_edge)
        return env.with_types(self.typer.typing(op, env, self.where[id(op)]).defs)

    def transfer_raised(self, op, env):
        return env

    def transfer_edge(self, term, succ, env):
        if env is UNREACHED:
            return env
        defs = edge_defs(term, succ)
        if not defs:
            return env
        typing = self.typer.typing(term, env, self.where[id(term)])
        return env.with_types({r: typing.defs.get(r, OBJECT) for r in defs})

    def transfer_exc_edge(self, edge: ExcEdge, env):
        if env is UNREACHED:
            return env
        regs = [edge.exc_dest] + ([edge.lasti_dest] if edge.lasti_dest is not None else [])
        return env.with_types({r: OBJECT for r in regs})


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class TypeFacts:
    """The types of one function under one specialization.

    - `before[b][i]` / `after[b][i]`: the TypeEnv just before op i of block b runs / just after
      it completed normally; index len(ops) is the terminator (whose defs are on its edges:
      see `edge_env`). An unreachable block has UNREACHED everywhere.
    - `typing[(b, i)]`: how op i of block b is treated (`Typing`), for reachable blocks.
    - `reachable`: the blocks some path from the entry reaches (normal and exception edges).
    """

    fn: IRFunction
    arg_types: tuple
    before: dict
    after: dict
    block_in: dict
    typing: dict
    reachable: frozenset
    _problem: Any = field(repr=False, compare=False, default=None)

    def type_before(self, block: int, index: int, reg: Reg) -> PyType:
        env = self.before[block][index]
        return OBJECT if env is UNREACHED else env.get(reg)

    def edge_env(self, block: int, succ: int):
        """The environment on the normal edge from `block` to `succ` (the terminator's edge
        defs applied)."""
        b = self.fn.blocks[block]
        return self._problem.transfer_edge(b.terminator, succ, self.after[block][-1])

    def exc_env(self, block: int, index: int):
        """The environment entering the handler when op `index` of `block` raises."""
        return self._problem.transfer_exc_edge(self.fn.blocks[block].handler,
                                               self.before[block][index])

    def unboxed_registers(self) -> dict[Reg, set]:
        """Every register that holds an unboxed type somewhere -> those types."""
        out: dict[Reg, set] = {}
        for b in self.reachable:
            for env in self.before[b] + self.after[b]:
                for reg, t in env.items():
                    if t.is_unboxed:
                        out.setdefault(reg, set()).add(t.name)
        return out

    def guards(self) -> dict[tuple[int, int], str]:
        return {k: t.guard for k, t in self.typing.items() if t.guard is not None}


def argument_types(fn: IRFunction, arg_types) -> tuple:
    """The lattice type of each of fn.args: `arg_types` gives them in order (Python classes or
    PyTypes; None for unknown); missing trailing ones are OBJECT. A *args tuple and a
    **kwargs dict are TUPLE and DICT whatever is given: their classes are certain. A type a
    guard cannot check (a known object, range) counts as OBJECT."""
    code = fn.code
    given = [type_of_class(t) for t in arg_types]
    if len(given) > len(fn.args):
        raise ValueError(f"{len(given)} argument types for {len(fn.args)} arguments")
    out = []
    nplain = code.co_argcount + code.co_kwonlyargcount if code is not None else len(fn.args)
    for i, reg in enumerate(fn.args):
        t = given[i] if i < len(given) else OBJECT
        if code is not None and i == nplain and code.co_flags & 0x04:
            t = TUPLE
        elif code is not None and i >= nplain and code.co_flags & 0x08 and i == len(fn.args) - 1:
            t = DICT
        elif t not in GUARD_NAMES and t.array is None and not is_instance_type(t):
            t = OBJECT
        out.append(t)
    return tuple(out)


def infer_types(fn: IRFunction, arg_types=(), globals_: Optional[Mapping] = None,
                self_call: Optional[SelfCallPlan] = None, callees=None) -> TypeFacts:
    """The types of every register at every point of `fn` when called with arguments of
    `arg_types` (see `argument_types`); `globals_` is the function's globals, to decide which
    global names are known objects (without it, only unshadowed builtins are). With
    `self_call`, calls of the function itself are typed as that plan says. With `callees`
    (justjit.inline_calls.LEAF_CALLS), a global jitted function is a known object, and a
    call of it whose typed code runs inline has that code's result type."""
    from .liveness import liveness

    args = argument_types(fn, arg_types)
    entry_env = TypeEnv({reg: t for reg, t in zip(fn.args, args) if t is not UNBOUND})
    where = {}
    for block in fn.blocks.values():
        for i, op in enumerate(block_points(block)):
            where[id(op)] = (block.id, i)
    live = None
    no_typed_iter: set = set()
    while True:
        typer = _Typer(fn, globals_, no_typed_iter, args, self_call, callees)
        problem = _TypeProblem(typer, entry_env, where)
        result = solve(fn, problem)
        # A range iterator is held unboxed, so it must have one owner: it may only be stepped
        # by ForIter or moved (the source dying there). Any other use (or two live copies)
        # makes its GetIter produce an ordinary iterator object instead, and we solve again.
        if live is None:
            live = liveness(fn)
        bad = set()
        for block in fn.ordered_blocks():
            for i, op in enumerate(block_points(block)):
                env = result.before[block.id][i]
                if env is UNREACHED:
                    continue
                for reg in op.uses():
                    t = env.get(reg)
                    if t.name != RANGE_ITER_NAME:
                        continue
                    if isinstance(op, ir.ForIter) and op.iterator == reg:
                        continue
                    if isinstance(op, ir.Move) and (op.dest == reg
                                                     or reg not in live.live_after[block.id][i]):
                        continue
                    bad.add(t.origin)
        if not bad:
            break
        no_typed_iter |= bad
    typing = {}
    reachable = set()
    for block in fn.ordered_blocks():
        if result.block_in[block.id] is UNREACHED:
            continue
        reachable.add(block.id)
        for i, op in enumerate(block_points(block)):
            typing[(block.id, i)] = typer.typing(op, result.before[block.id][i], (block.id, i))
    return TypeFacts(fn, args, result.before, result.after, result.block_in, typing,
                     frozenset(reachable), problem)


# --------------------------------------------------------------------------------------------
# Text


def _env_text(env, regs=None) -> str:
    if env is UNREACHED:
        return "unreachable"
    items = sorted(((r, t) for r, t in env.items() if regs is None or r in regs),
                   key=lambda rt: (rt[0].kind, rt[0].name))
    return ", ".join(f"{r}: {t}" for r, t in items) or "-"


def format_types(facts: TypeFacts) -> str:
    """Text for `explain --stage types`: the argument types; the registers held unboxed (C
    int64 / double / bool, or three int64 for a range or range iterator); then each block
    with the types of its live-in registers, and each op with the types of what it defines,
    how specialized code runs it (`Typing.how`; for a generic op, the unboxed values it must
    box first) and any speculation (`guard: ...`) that sends the code back to the generic
    version when it fails."""
    from .liveness import liveness

    fn = facts.fn
    live = liveness(fn)
    args = ", ".join(f"{r}: {t}" for r, t in zip(fn.args, facts.arg_types))
    lines = [f"types of {fn.qualname}({args})"]
    unboxed = facts.unboxed_registers()
    if unboxed:
        parts = [f"{r}: {'|'.join(sorted(ts))}"
                 for r, ts in sorted(unboxed.items(), key=lambda rt: (rt[0].kind, rt[0].name))]
        lines.append("unboxed: " + ", ".join(parts))
    else:
        lines.append("unboxed: -")
    for block in fn.ordered_blocks():
        head = f"b{block.id}:"
        if block.handler is not None:
            head += f"  (except -> b{block.handler.target})"
        lines.append(head)
        if block.id not in facts.reachable:
            lines.append("    unreachable")
            continue
        lines.append("    in: " + _env_text(facts.block_in[block.id], live.live_in[block.id]))
        for i, op in enumerate(block_points(block)):
            typing = facts.typing[(block.id, i)]
            text = format_op(dataclasses.replace(op, line=None))
            notes = []
            if op.IS_TERMINATOR:
                for s in ir.successors(op):
                    defs = edge_defs(op, s)
                    if defs:
                        env = facts.edge_env(block.id, s)
                        notes.append(f"-> b{s} " + ", ".join(f"{r}: {env.get(r)}" for r in defs))
            else:
                env = facts.after[block.id][i]
                notes += [f"{r}: {env.get(r)}" for r in op.defs()]
            env = facts.before[block.id][i]
            boxed = [str(r) for r in op.uses() if env.get(r).is_unboxed]
            if typing.how != "typed" and boxed:
                notes.append(typing.how + ", boxes " + ", ".join(dict.fromkeys(boxed)))
            elif typing.how != "generic" or op.defs() or not op.IS_TERMINATOR:
                notes.append(typing.how)
            if typing.guard:
                notes.append("guard: " + typing.guard)
            lines.append(f"    {text:<44} | " + "; ".join(notes) if notes else f"    {text}")
    return "\n".join(lines) + "\n"


def annotated_argument_types(py_func) -> tuple:
    """Argument classes from a function's annotations (`def f(n: int, x: float)`), for
    `explain` without a specialization: an annotation that is not a class the lattice knows
    (or a string, or none) gives OBJECT."""
    from ..frontend.stack_to_reg import argument_names

    annotations = getattr(py_func, "__annotations__", {}) or {}
    out = []
    for name in argument_names(py_func.__code__):
        cls = annotations.get(name)
        out.append(type_of_class(cls) if isinstance(cls, type) else OBJECT)
    return tuple(out)


def explain_types(py_func, arg_types=None) -> str:
    """The text of `explain --stage types`: format_types for `py_func` specialized for
    `arg_types` (default: its annotations, see annotated_argument_types)."""
    from ..frontend import build_ir

    if arg_types is None:
        arg_types = annotated_argument_types(py_func)
    from justjit.inline_calls import LEAF_CALLS

    return format_types(infer_types(build_ir(py_func), arg_types, py_func.__globals__,
                                    callees=LEAF_CALLS))
