"""Differential tests: globals and builtins looked up at call time in the function's own
namespace, the global statement, closure cells shared with the original, and local names that
collide with C/Cython keywords, generated names or need Unicode handling.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import builtins

from difftest import Call, check, compare_calls
from justjit import jit

MISSING = object()


class rebound:
    """Temporarily bind (or, with MISSING, delete) names in a namespace dict."""

    def __init__(self, namespace, **names):
        self.namespace, self.names = namespace, names

    def __enter__(self):
        self.saved = {k: self.namespace.get(k, MISSING) for k in self.names}
        for k, v in self.names.items():
            if v is MISSING:
                self.namespace.pop(k, None)
            else:
                self.namespace[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is MISSING:
                self.namespace.pop(k, None)
            else:
                self.namespace[k] = v


def _jit(fn, backend):
    return jit(fn, backend=backend, fallback=False, cache=True)


# --- globals and builtins at call time ---------------------------------------------------------

SCALE = 2


def scaled(x):
    return x * SCALE


def test_global_rebinding_is_seen_by_the_same_jitted_function(backend):
    jitted = _jit(scaled, backend)
    compare_calls(scaled, jitted, (3,), (2**62,))
    for value in (2**70, "ab", 0.5, None, MISSING, 3):
        with rebound(globals(), SCALE=value):
            compare_calls(scaled, jitted, (3,), (2.5,), ([1],))
    assert jitted.signatures


def uses_len(x):
    return len(x), abs(-2)


def test_global_shadowing_a_builtin_and_unshadowing(backend):
    jitted = _jit(uses_len, backend)
    compare_calls(uses_len, jitted, ("abc",), (5,))
    with rebound(globals(), len=lambda x: ("shadowed", x)):
        compare_calls(uses_len, jitted, ("abc",), (5,))
    compare_calls(uses_len, jitted, ("abc",))
    with rebound(vars(builtins), abs=lambda x: "patched builtin"):
        compare_calls(uses_len, jitted, ("abc",))
    compare_calls(uses_len, jitted, ("abc",))


def assert_uses_builtin_assertion_error(x):
    assert x, "message"
    return x


def test_assert_ignores_shadowed_assertion_error(backend):
    class Fake(Exception):
        pass
    jitted = _jit(assert_uses_builtin_assertion_error, backend)
    with rebound(globals(), AssertionError=Fake):
        compare_calls(assert_uses_builtin_assertion_error, jitted, (0,), (1,))


MUTABLE_GLOBAL = "start"


def set_mutable_global(value):
    global MUTABLE_GLOBAL
    MUTABLE_GLOBAL = value


def global_rebound_during_loop(n):
    seen = []
    for i in range(n):
        seen.append(MUTABLE_GLOBAL)
        set_mutable_global(i * 10)
    return seen


def reset_mutable_global(side):
    set_mutable_global("start")


def test_global_rebound_by_callee_mid_loop(backend):
    check(global_rebound_during_loop, (0,), (4,), setup=reset_mutable_global,
          observe=lambda: MUTABLE_GLOBAL, backend=backend)


def set_len_shadow(on):
    if on:
        globals()["len"] = lambda s: -1
    else:
        globals().pop("len", None)


def shadow_len_mid_loop(words):
    out = []
    for w in words:
        out.append(len(w))
        if w == "shadow":
            set_len_shadow(True)
        elif w == "unshadow":
            set_len_shadow(False)
    return out


def test_builtin_shadowed_mid_loop(backend):
    check(shadow_len_mid_loop, (["a", "shadow", "bb", "unshadow", "ccc"],), (["x"],),
          setup=lambda side: globals().pop("len", None), observe=lambda: "len" in globals(),
          backend=backend)


COUNTER = 0


def bump_global(k):
    global COUNTER
    COUNTER += k
    return COUNTER


def test_global_statement_writes_module_global(backend):
    check(bump_global, (1,), (2**70,), ("x",), setup=lambda side: globals().update(COUNTER=5),
          observe=lambda: COUNTER, backend=backend)


def define_and_delete_global(value, delete_twice):
    global CREATED_BY_FUNCTION
    CREATED_BY_FUNCTION = value
    seen = CREATED_BY_FUNCTION
    del CREATED_BY_FUNCTION
    if delete_twice:
        del CREATED_BY_FUNCTION
    return seen


def test_global_statement_creates_and_deletes(backend):
    check(define_and_delete_global, (1, False), ("v", True),
          setup=lambda side: globals().pop("CREATED_BY_FUNCTION", None),
          observe=lambda: globals().get("CREATED_BY_FUNCTION", "absent"), backend=backend)


def module_dunders():
    return __name__, type(__builtins__).__name__, __doc__[:20], __file__.endswith(".py")


def test_module_dunder_globals(backend):
    check(module_dunders, (), backend=backend)


FUNC_SOURCE = '''
def uses_namespace(x):
    return CONSTANT, helper(x), len(x)
'''


class DefaultingGlobals(dict):
    def __missing__(self, key):
        return f"default for {key}"


def make_exec_function(namespace):
    exec(FUNC_SOURCE, namespace)
    return namespace["uses_namespace"]


def test_function_globals_and_builtins_from_its_own_namespace(backend):
    namespace = {"__builtins__": {"len": lambda x: ("custom len", x)},
                 "helper": lambda x: ("helper", x), "CONSTANT": 1}
    fn = make_exec_function(namespace)
    jitted = _jit(fn, backend)
    compare_calls(fn, jitted, ("ab",), ([1],))
    namespace["CONSTANT"] = "rebound"
    compare_calls(fn, jitted, ("ab",))
    del namespace["helper"]
    compare_calls(fn, jitted, ("ab",))


def test_globals_dict_subclass_missing_is_honoured(backend):
    namespace = DefaultingGlobals(__builtins__=builtins.__dict__, helper=repr)
    fn = make_exec_function(namespace)
    jitted = _jit(fn, backend)
    compare_calls(fn, jitted, ("ab",), ([1],))


# --- closure cells shared with the original -----------------------------------------------------

def make_cell_trio(start):
    n = start

    def inc(k):
        nonlocal n
        n += k
        return n

    def get():
        return n

    def set_(v):
        nonlocal n
        n = v

    return inc, get, set_


def test_nested_function_jitted_shares_cells_with_siblings(backend):
    plain_inc, plain_get, plain_set = make_cell_trio(0)
    inc, get, set_ = make_cell_trio(0)
    jitted_inc = _jit(inc, backend)
    script = [("inc", 2), ("get",), ("set", 10), ("inc", 1), ("get",), ("set", "s"), ("inc", 1),
              ("set", "s"), ("inc", "t"), ("get",)]
    for op, *arg in script:
        if op == "inc":
            compare_calls(plain_inc, jitted_inc, tuple(arg))
        elif op == "get":
            assert plain_get() == get(), f"sibling closure sees {get()!r}, expected {plain_get()!r}"
        else:
            plain_set(*arg)
            set_(*arg)
    assert jitted_inc.signatures


def make_reader(value):
    def read(suffix):
        return value + suffix
    return read


def test_jitted_closure_reads_cell_changed_after_jit(backend):
    reader = make_reader("a")
    jitted = _jit(reader, backend)
    compare_calls(reader, jitted, ("!",))
    reader.__closure__[0].cell_contents = "changed"
    compare_calls(reader, jitted, ("!",), (1,))


# --- awkward local names -------------------------------------------------------------------------

def cython_keyword_names(cdef, cpdef=2):
    struct = cdef + cpdef
    union = struct * 2
    enum = [union]
    NULL = None
    double = 1.5
    int_ = 3
    char = "c"
    long = 2**70
    void = ()
    extern = inline = ctypedef = include = gil = nogil = "kw"
    cimport = "ci"
    DEF = "def"
    IF = "if"
    readonly = public = api = "attrs"
    cython = "not the module"
    return (struct, union, enum, NULL, double, int_, char, long, void, extern, inline, ctypedef,
            include, gil, nogil, cimport, DEF, IF, readonly, public, api, cython)


def test_cython_keywords_as_local_names(backend):
    check(cython_keyword_names, (1,), Call(cdef=1, cpdef=5), ("a", "b"), Call(cpdef=1),
          backend=backend)


def c_keyword_names(auto, register=0):
    volatile = auto + register
    goto = sizeof = typedef = signed = unsigned = short = const = static = volatile
    switch = default = do = restrict = _Bool = inline_ = volatile * 2
    errno = stdin = EOF = NAN = INFINITY = TRUE = FALSE = "macro-like"
    new = delete = this = template = namespace = operator = private = "c++"
    main = printf = malloc = free = exit = abort = "libc"
    likely = unlikely = CYTHON_UNUSED = PyObject = Py_None = Py_ssize_t = "cpython"
    case = match = _ = "soft keywords"
    return (volatile, goto, sizeof, typedef, signed, unsigned, short, const, static, switch,
            default, do, restrict, _Bool, inline_, errno, stdin, EOF, NAN, INFINITY, TRUE,
            FALSE, new, delete, this, template, namespace, operator, private, main, printf,
            malloc, free, exit, abort, likely, unlikely, CYTHON_UNUSED, PyObject, Py_None,
            Py_ssize_t, case, match, _)


def test_c_and_cpp_keywords_and_macros_as_local_names(backend):
    check(c_keyword_names, (1,), Call(auto=2, register=3), ("x",), backend=backend)


def generated_looking_names(self, label, state):
    __pyx_r = self + 1
    __pyx_v_x = label
    __pyx_self = state
    __pyx_t_1 = __pyx_L1_error = __pyx_n_s_x = __pyx_k = "pyx"
    __pyx_args = __pyx_kwds = __pyx_nargs = "args"
    _pyx_x = tmp = tmp0 = r0 = v0 = reg0 = t1 = L1 = "regs"
    __builtins_local = __class__ = "dunders"
    return (__pyx_r, __pyx_v_x, __pyx_self, __pyx_t_1, __pyx_L1_error, __pyx_n_s_x, __pyx_k,
            __pyx_args, __pyx_kwds, __pyx_nargs, _pyx_x, tmp, tmp0, r0, v0, reg0, t1, L1,
            __builtins_local, __class__, self, label, state)


def test_generated_looking_local_names(backend):
    check(generated_looking_names, (1, 2, 3), Call(state="s", label="l", self=0), ("a", 1, 2),
          backend=backend)


def builtin_names_as_locals(x):
    int = str = float = list = len = object = type = bool = bytes = x
    print = None
    return int, str, float, list, len, object, type, bool, bytes, print


def test_builtin_type_names_as_local_variables(backend):
    check(builtin_names_as_locals, (1,), ("s",), backend=backend)


def keyword_nonlocal_names(NULL):
    def inner():
        nonlocal NULL
        NULL = (NULL, "updated")
        cdef = NULL
        return cdef
    return inner(), NULL


def test_keyword_names_as_closure_cells(backend):
    check(keyword_nonlocal_names, (0,), Call(NULL="x"), backend=backend)


def unicode_names(π, 变量=2):
    naïve = π * 变量
    Ωmega = naïve + 1
    ℌ = "H-normalised"
    ﬁle = "fi-ligature normalised to file"
    return naïve, Ωmega, H, file, π, 变量


def test_non_ascii_identifiers(backend):
    check(unicode_names, (3,), Call(π=1, 变量=10), Call(**{"π": 2}), Call(3, **{"ﬁle": 1}),
          ("ab",), backend=backend)


class Mangled:
    def __init__(self):
        self.__secret = "init"

    def method(self, value):
        self.__secret = value
        __local = "locals are mangled too"
        return self.__secret, __local, sorted(vars(self)), getattr(self, "_Mangled__secret")


def test_private_name_mangling_in_method(backend):
    check(Mangled.method, (Mangled(), 1), (Mangled(), "x"), backend=backend)
