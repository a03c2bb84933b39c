"""Differential tests of instances of user classes: specializations keyed by the class and the
types of the attributes the function names (analyses.types.instance_type), typed reads of
those attributes under a guard, and the per-site attribute caches that read and replace an
instance attribute in its inline values (jj_runtime.h's JJ_GetAttrCached / JJ_SetAttrCached).

Whatever a class or an instance does mid-call (rebinding an attribute to another type,
deleting it, making its __dict__, gaining a property of that name, changing __class__) must
give CPython's results, exceptions and final attribute state.

Instances are made by their class's __init__ (`fresh`), as a program makes them: a deepcopy
would make each copy's __dict__ at once, and the inline values would never be used.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import pytest

from difftest import LOG, check, fresh, note
from test_diff_typed import compiled_code_has, typed_check


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Body:
    def __init__(self, x, vx, mass):
        self.x = x
        self.vx = vx
        self.mass = mass
        self.steps = 0


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class SubPoint(Point):
    pass


def point(x, y):
    return fresh(lambda: Point(x, y))


def weighted(p, n):
    s = 0.0
    for i in range(n):
        s += p.x * i + p.y
    return s


def test_typed_attribute_reads(backend):
    jitted = typed_check(weighted, (point(1.5, 2.0), 100), (point(-0.0, 0.0), 3),
                         (point(float("nan"), 1.0), 4), (point(1.5, 2.0), 0), backend=backend)
    assert jitted.signatures[0] == "(p: test_diff_instances.Point{x:float,y:float}, n: int)"
    # other attribute types, other classes: each its own specialization, or generic code
    check(weighted, (point(1, 2), 50), (point(2**62, 2**62), 5), (point(2**70, 1), 3),
          (point("a", "b"), 0), (point([1], [2]), 2), (fresh(lambda: SubPoint(1.5, 2)), 9),
          (fresh(lambda: Slotted(0.5, 4.0)), 7), backend=backend)


class Walker:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def walk(self, n):
        for _ in range(n):
            self.x += self.v
        return self.x


def test_a_method_is_specialized_for_its_instance(backend):
    plain_walk = Walker.walk
    jitted = typed_check(plain_walk, (fresh(lambda: Walker(0.0, 0.5)), 1000),
                         (fresh(lambda: Walker(1, 3)), 10), backend=backend)
    assert "Walker{x:float,v:float}" in jitted.signatures[0]
    # as a method of the class (the dispatcher is a descriptor)
    plain, compiled = Walker(0.25, 0.5), Walker(0.25, 0.5)
    expected = plain.walk(4)
    Walker.walk = jitted
    try:
        assert compiled.walk(4) == expected and vars(compiled) == vars(plain)
    finally:
        Walker.walk = plain_walk


def local_class_instance():
    class Local:
        def __init__(self):
            self.x = 1.5
            self.y = 2.0
    return Local()


def test_instances_of_classes_made_in_functions_are_not_specialized_for(backend):
    # (each call of the function would make a new class, and a specialization for it)
    jitted = typed_check(weighted, (fresh(local_class_instance), 5), backend=backend)
    assert jitted.signatures[0] == "(p: object, n: int)"


def step(b, n, dt):
    for _ in range(n):
        b.x += b.vx * dt
        b.steps += 1
    return b.x


def test_attribute_stores(backend):
    typed_check(step, (fresh(lambda: Body(0.0, 1.5, 3.0)), 1000, 0.01),
                (fresh(lambda: Body(1, 2, 3)), 10, 1), backend=backend)


def overflowing(b, n):
    for _ in range(n):
        b.steps += 2**61
    return b.steps


def test_int_attribute_overflows_int64_in_the_loop(backend):
    typed_check(overflowing, (fresh(lambda: Body(0.0, 1.0, 1.0)), 10), backend=backend)


def rebinds(p, n):
    s = 0.0
    for i in range(n):
        if i == 3:
            p.x = "text"
        if i == 5:
            p.x = 2**80
        if i == 7:
            p.x = 2.5
        s += p.y
        if isinstance(p.x, str):
            s -= len(p.x)
        else:
            s += p.x
    return s


def test_attribute_rebound_to_another_type_mid_loop(backend):
    typed_check(rebinds, (point(1.0, 0.5), 10), backend=backend)


def deletes(p, n):
    s = 0.0
    for i in range(n):
        if i == 4:
            del p.y
        s += p.x + p.y
    return s


def test_attribute_deleted_mid_loop_raises_cpythons_error(backend):
    typed_check(deletes, (point(1.0, 0.5), 3), (point(1.0, 0.5), 10), backend=backend)


def makes_dict(p, n):
    s = 0.0
    for i in range(n):
        if i == 2:
            s += len(vars(p))
            p.x = 1.0
        s += p.x * p.y
    return s


def test_instance_dict_made_mid_loop(backend):
    typed_check(makes_dict, (point(3.0, 0.5), 6), backend=backend)


def gains_property(p, n, log):
    s = 0.0
    for i in range(n):
        if i == 2:
            type(p).x = property(lambda self: note(log, "get", 40.0))
        s += p.x
    return s


def of_a_new_class():
    """An instance of a class of its own (the call changes its class)."""
    class Local:
        def __init__(self):
            self.x = 1.0

    return Local()


def test_class_gains_a_property_of_that_name_mid_loop(backend):
    typed_check(gains_property, (fresh(of_a_new_class), 5, LOG), backend=backend)


def property_store(p, n, log):
    for i in range(n):
        if i == 1:
            type(p).x = property(lambda self: 0.0,
                                 lambda self, v: note(log, ("set", v)))
        p.x = float(i)
    return n


def test_class_gains_a_data_descriptor_before_a_store(backend):
    check(property_store, (fresh(of_a_new_class), 4, LOG), backend=backend)


def changes_class(p, n):
    s = 0.0
    for i in range(n):
        if i == 2:
            p.__class__ = SubPoint
        s += p.x
        p.y = s
    return s


def test_class_assigned_mid_loop(backend):
    typed_check(changes_class, (point(1.0, 0.0), 5), backend=backend)


def new_attributes(p, n):
    for i in range(n):
        p.y = i
        if i == 1:
            p.z = 2.0
            p.w = i
        if i == 2:
            del p.x
            p.x = 0.5
    return list(vars(p))


def test_new_and_readded_attributes_keep_insertion_order(backend):
    check(new_attributes, (point(1.0, 0.0), 4), backend=backend)


class Dynamic:
    def __init__(self):
        self.y = 1.0

    def __getattr__(self, name):
        return 2.5


class Hooked:
    def __init__(self):
        self.x = 1.0
        self.y = 2.0

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        return value * 10 if name == "x" else value

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value + 1)


def test_getattr_hooks_run_as_in_cpython(backend):
    check(weighted, (fresh(Dynamic), 4), (fresh(Hooked), 4), backend=backend)
    check(step, (fresh(Hooked), 3, 1.0), backend=backend)


def test_the_compiled_code_reads_attributes_through_the_site_cache(backend):
    jitted = typed_check(weighted, (point(0.5, 1.0), 8), backend=backend)
    assert compiled_code_has(jitted, backend, "JJ_GetAttrCached(", "JJL_GetAttrCached")
    assert compiled_code_has(jitted, backend, "guard: float", "@PyFloat_Type")


@pytest.mark.parametrize("value", [Point(1.0, 2), Slotted(1, 2.0), SubPoint(2**70, [1.0]),
                                   Dynamic(), Hooked(), 1j])
def test_profile_name_agrees_with_the_lattice(value):
    from justjit.analyses.types import profile_type
    from justjit.fingerprint import profile_name

    names = ("x", "y", "z", "__init__")
    assert profile_name(value, names) == str(profile_type(value, names))


def test_profiling_an_instance_runs_no_code_and_leaves_its_dict_unmade():
    import gc

    from justjit.analyses.types import FLOAT, profile_type

    p = Hooked()
    t = profile_type(p, ("x", "y", "missing"))
    assert dict(t.attributes) == {"x": FLOAT, "y": FLOAT}
    assert str(t).endswith("Hooked{x:float,y:float}")
    # (an instance whose __dict__ was made refers to it; one with inline values does not)
    assert not any(type(r) is dict for r in gc.get_referents(p))
    vars(p)
    assert any(type(r) is dict for r in gc.get_referents(p))


def complex_total(z, n):
    s = 0j
    for i in range(n):
        s += z * i
    return s


def test_complex_arguments_have_their_own_specialization(backend):
    jitted = typed_check(complex_total, (1.5j, 10), (complex(1, -0.0), 3), backend=backend)
    assert jitted.signatures[0] == "(z: complex, n: int)"


# --- float stores (ir.ops.SetAttrFloat: an unshared float in the slot takes the value) --------

class FloatSub(float):
    pass


def float_stores(p, n):
    kept = p.x  # the attribute's float, held here too: never changed in place
    for i in range(n):
        p.x = p.x * 0.5 + i
        p.y = p.x - 1.0
        if i == 2:
            p.y = FloatSub(2.0)
            held = p.x
    return kept, p.x, p.y, held, held is p.x


def same_object_stored(p, n):
    out = []
    for i in range(n):
        v = p.x + 1.0
        p.x = v
        out.append(p.x is v)  # v is read as an object after the store: one object
    return out, p.x


def test_float_attribute_stores(backend):
    jitted = typed_check(float_stores, (point(1.5, 0.0), 6), (point(3.0, 1.0), 4),
                         backend=backend)
    assert compiled_code_has(jitted, backend, "JJ_SetAttrFloat(", "JJL_SetAttrFloat")
    typed_check(same_object_stored, (point(0.5, 0.0), 4), backend=backend)
    check(float_stores, (fresh(lambda: Slotted(1.0, 2.0)), 5),
          (fresh(lambda: Hooked()), 4), backend=backend)
