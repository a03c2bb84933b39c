"""Differential tests of the paths n-body's inner loop runs: a module attribute read through its
per-site cache (`math.sqrt` in a loop: the hit is checked inline against the module dict's
version tag) and float stores into lists read in the same loop (`xs[i] += d`: an unshared
float takes the value in place; the llvm backend keeps a list's size and items across such a
store). Each case changes what the fast path assumes: the attribute replaced or deleted
between calls or in the middle of the loop, a module whose dict was replaced, a ModuleType
subclass, the same list passed twice, floats shared between lists or held elsewhere.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import math
import types

from difftest import Call, check, compare_calls, fresh
from test_diff_typed import compiled_code_has, typed_check

# A module of this test's own whose attributes the tests change (restored by each test).
mod = types.ModuleType("jj_attr_test_mod")
mod.root = math.sqrt
mod.scale = 2.0


def root_sum(xs):
    s = 0.0
    for i in range(len(xs)):
        s += math.sqrt(xs[i])
    return s


def mod_root_sum(xs):
    s = 0.0
    for i in range(len(xs)):
        s += mod.root(xs[i]) * mod.scale
    return s


def _set_mod(root=math.sqrt, scale=2.0):
    """A setup (difftest's `setup(side)`) giving mod these attributes (None: deleted)."""
    def setup(side=None):
        for name, value in (("root", root), ("scale", scale)):
            if value is None:
                mod.__dict__.pop(name, None)
            else:
                setattr(mod, name, value)
    return setup


def test_module_attribute_hit_and_miss(backend):
    typed_check(root_sum, ([4.0, 9.0, 2.0],), ([],), ([1.0, -1.0],), backend=backend)
    try:
        jitted = typed_check(mod_root_sum, ([4.0, 9.0],), backend=backend)
        # changed between calls: the value cached under the old dict version is not used
        for setup in (_set_mod(root=abs), _set_mod(scale=3), _set_mod(root=math.exp),
                      _set_mod(root=None), _set_mod(scale=None), _set_mod()):
            compare_calls(mod_root_sum, jitted, ([4.0, 9.0],), ([-1.0],), setup=setup)
    finally:
        _set_mod()()


def changes_mid_loop(xs, log):
    s = 0.0
    for i in range(len(xs)):
        s += mod.root(xs[i])
        if i == 1:
            mod.root = abs  # the dict changes under the cached hit
            log.append("changed")
    return s


def test_module_attribute_changed_in_the_loop(backend):
    try:
        check(changes_mid_loop, Call([4.0, 9.0, -16.0, 25.0], fresh(list)),
              Call([4.0, 9.0, 16.0], fresh(list)), Call([4.0], fresh(list)),
              backend=backend, setup=_set_mod())
    finally:
        _set_mod()()


class ModuleSub(types.ModuleType):
    @property
    def root(self):  # a data descriptor of the type: not the dict's value
        return abs


sub = ModuleSub("jj_attr_test_sub")
sub.__dict__["root"] = math.sqrt


def sub_root_sum(xs):
    s = 0.0
    for i in range(len(xs)):
        s += sub.root(xs[i])
    return s


def test_module_subclass_and_descriptor(backend):
    check(sub_root_sum, ([4.0, -9.0],), ([1.0],), backend=backend)


def test_module_attribute_of_a_cleared_module_dict(backend):
    # The module's dict emptied (what interpreter shutdown does): AttributeError, same text.
    gone = types.ModuleType("jj_attr_test_gone")
    gone.root = math.sqrt
    ns = {"gone": gone, "range": range, "len": len}
    exec("def f(xs):\n    s = 0.0\n    for i in range(len(xs)):\n"
         "        s += gone.root(xs[i])\n    return s\n", ns)
    f = ns["f"]
    jitted = check(f, ([4.0, 9.0],), backend=backend)
    gone.__dict__.clear()
    compare_calls(f, jitted, ([4.0, 9.0],))
    gone.__dict__["root"] = abs
    compare_calls(f, jitted, ([4.0, -9.0],))


# --- known objects checked without a reference (ir.ops.GlobalIs, ModuleAttrIs) --------------
# `math.sqrt(x)` and `range(n)` in typed code only check that the names still mean those
# objects; the checks fail when they are rebound in the middle of the loop.

REAL_SQRT = math.sqrt


def rebinding_sqrt(xs, k, log):
    s = 0.0
    for i in range(len(xs)):
        if i == k:
            math.sqrt = lambda v: log.append(v) or -v
        s += math.sqrt(xs[i])
    return s


def restore_sqrt(side=None):
    math.sqrt = REAL_SQRT


def test_math_function_rebound_in_the_loop(backend):
    try:
        jitted = typed_check(rebinding_sqrt, Call([4.0, 9.0, 16.0, 25.0], 2, fresh(list)),
                             Call([1.0, 4.0], 0, fresh(list)),
                             Call([1.0, -4.0], 5, fresh(list)),
                             backend=backend, setup=restore_sqrt)
        assert compiled_code_has(jitted, backend, "JJ_ModuleAttrIs(", "JJL_ModuleAttrIs")
        assert compiled_code_has(jitted, backend, "JJ_GlobalIs(", "JJL_GlobalIs")
    finally:
        restore_sqrt()


def rebinding_globals(xs, k):
    s = 0.0
    for i in range(len(xs)):
        if i == k:
            NAMESPACE["math"] = types.SimpleNamespace(sqrt=abs)
        if i == k + 2:
            NAMESPACE["abs"] = lambda v: 100.0
        if i == k + 4:
            del NAMESPACE["math"]
        s += math.sqrt(xs[i]) + abs(-1.0)
    return s


def restore_globals(side=None):
    NAMESPACE["math"] = math_module
    NAMESPACE.pop("abs", None)


math_module = math
NAMESPACE = globals()  # (compiled code has no frame for globals() to read)


def test_globals_rebound_or_deleted_in_the_loop(backend):
    try:
        typed_check(rebinding_globals, ([4.0, 9.0, -16.0, 25.0, 1.0, 2.0, 3.0], 1),
                    ([4.0, 9.0], 5), backend=backend, setup=restore_globals)
    finally:
        restore_globals()


# --- float stores into lists read in the same loop --------------------------------------------

def kick(xs, vs, dt):
    for _ in range(3):
        for i in range(len(xs)):
            for j in range(i + 1, len(xs)):
                d = xs[i] - xs[j]
                vs[i] -= d * dt
                vs[j] += d * dt
                xs[j] += vs[i] * dt
        for i in range(len(xs)):
            xs[i] += dt * vs[i]
    return xs, vs


def kick_same(xs, dt):
    vs = xs  # one list read and written as both
    for _ in range(3):
        for i in range(len(xs)):
            for j in range(i + 1, len(xs)):
                d = xs[i] - xs[j]
                vs[i] -= d * dt
                vs[j] += d * dt
                xs[j] += vs[i] * dt
    return xs


def kick_shared(dt):
    f = 1.5
    xs = [f, f, 2.5, f]  # one float object three times: never changed in place
    vs = [0.25, f, 0.5, 0.75]
    held = xs[2]  # held here too: a new float goes in, `held` keeps its value
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            d = xs[i] - xs[j]
            vs[i] -= d * dt
            vs[j] += d * dt
            xs[j] += vs[i] * dt
            xs[i] -= held * dt
    return xs, vs, held, f, xs[0] is xs[1]


class F(float):
    pass


def test_list_float_stores(backend):
    xs = [0.0, 1.0, 2.5, -3.0, 4.0]
    vs = [0.5, -0.25, 0.125, 1.0, -1.0]
    typed_check(kick, (xs, vs, 0.01), ([], [], 0.01), ([1.0], [2.0], 0.5), backend=backend)
    typed_check(kick_same, (xs, 0.01), ([1.0, 2.0], 0.5), backend=backend)
    typed_check(kick_shared, (0.01,), (0.5,), backend=backend)
    # an int and a float subclass among the floats: the typed code leaves for the generic one
    check(kick, ([0.0, 1.0, 2.0], [0.5, 1, 0.25], 0.01),
          ([0.0, F(1.0), 2.0], [0.5, 0.75, 0.25], 0.01),
          ([0.0, 1.0], [0.5], 0.01), backend=backend)


def bodies_alias(steps, xs, vxs):
    # n-body's step with xs and vxs possibly the same list (both are read and written)
    n = len(xs)
    for _ in range(steps):
        for i in range(n):
            for j in range(i + 1, n):
                dx = xs[i] - xs[j]
                mag = 0.01 / (dx * dx + 1.0)
                vxs[i] -= dx * mag
                vxs[j] += dx * mag
        for i in range(n):
            xs[i] += 0.01 * vxs[i]
    return sum(xs) + sum(vxs)


def test_nbody_step_with_aliased_lists(backend):
    xs = [0.0, 1.0, 4.0, 9.0]
    typed_check(bodies_alias, (5, xs, [0.1, 0.2, 0.3, 0.4]), backend=backend)
    typed_check(bodies_alias, (5, xs, xs), backend=backend)
