"""Differential tests: nested functions, lambdas, closures and nonlocal, the four comprehension
kinds and generator expressions, classes and decorators defined inside the compiled function.

PYTEST_DONT_REWRITE: pytest must not rewrite this module, so the functions keep their bytecode.
"""
import functools

from difftest import LOG, Call, check, fresh, note, outcome, same
from justjit import jit


def nested_function(x):
    def inner(y):
        return x + y
    return inner(1), inner(x)


def test_nested_function_reads_enclosing_argument(backend):
    check(nested_function, (1,), ("a",), ([1],), (None,), backend=backend)


def lambdas_late_binding(n):
    late = [lambda: i for i in range(n)]
    bound = [lambda i=i: i for i in range(n)]
    loop = []
    for j in range(n):
        loop.append(lambda: j)
    return [f() for f in late], [g() for g in bound], [h() for h in loop]


def test_lambda_defaults_vs_late_binding(backend):
    check(lambdas_late_binding, (3,), (0,), (1,), backend=backend)


def lambda_forms(x):
    add = lambda a, b=10, *rest, k=1, **kw: (a + b + k, rest, kw)  # noqa: E731
    return add(x), add(x, 1, 2, 3, k=2, z=0), (lambda: x)(), (lambda *a: a)(x, x)


def test_lambda_parameter_forms(backend):
    check(lambda_forms, (1,), (1.5,), ("s",), backend=backend)


def closure_both_ways(start):
    count = start

    def bump(k):
        nonlocal count
        count += k
        return count

    def read():
        return count

    a = bump(1)
    count = count * 10
    b = read()
    c = bump(2)
    return a, b, c, count


def test_closure_writes_visible_both_ways(backend):
    check(closure_both_ways, (0,), (5,), ("x",), (None,), backend=backend)


def deep_nonlocal(x):
    def outer():
        y = x

        def middle():
            def inner():
                nonlocal y
                y += 1
                return y
            return inner() + inner()

        return middle(), y

    return outer()


def test_nonlocal_through_two_levels(backend):
    check(deep_nonlocal, (1,), (2.5,), ("a",), backend=backend)


def counter_factory(n):
    def make():
        total = 0

        def step(k=1):
            nonlocal total
            total += k
            return total
        return step

    a, b = make(), make()
    return [a() for _ in range(n)], b(5), a(0), b()


def test_independent_counters_have_independent_cells(backend):
    check(counter_factory, (3,), (0,), backend=backend)


def deleted_cell(flag):
    x = "value"

    def read():
        return x
    if flag:
        del x
    return read()


def test_deleted_cell_variable_is_name_error_in_closure(backend):
    check(deleted_cell, (0,), (1,), backend=backend)


def nested_metadata(x):
    def inner(a: int, b=x, *, c=[x]) -> str:
        """inner doc"""
        return a
    lam = lambda: None  # noqa: E731
    return (inner.__name__, inner.__qualname__, lam.__qualname__, inner.__code__.co_name,
            inner.__defaults__, inner.__kwdefaults__, inner.__module__, inner.__doc__,
            inner.__annotations__, lam.__name__, inner.__code__.co_varnames,
            inner.__closure__, len(lam.__code__.co_consts) > 0)


def test_nested_function_metadata(backend):
    check(nested_metadata, (1,), ("s",), backend=backend)


def defaults_evaluated_once(log):
    def inner(acc=note(log, "default evaluated", [])):
        acc.append(len(acc))
        return list(acc)
    return inner(), inner(), inner([9])


def test_nested_defaults_evaluated_at_def_time(backend):
    check(defaults_evaluated_once, (LOG,), backend=backend)


def nested_recursion(n):
    def fact(k):
        return 1 if k <= 1 else k * fact(k - 1)
    return fact(n)


def test_recursive_closure(backend):
    check(nested_recursion, (0,), (5,), (25,), (2.5,), backend=backend)


def make_adder(n):
    def adder(x):
        return x + n
    return adder


def test_returned_closure_works_after_the_call(backend):
    jitted = jit(make_adder, backend=backend, fallback=False, cache=True)
    for n, x in ((1, 2), ("a", "b"), (1, "b")):
        plain_adder, jitted_adder = make_adder(n), jitted(n)
        assert same(outcome(plain_adder, (x,)), outcome(jitted_adder, (x,)))
        assert plain_adder.__qualname__ == jitted_adder.__qualname__
        assert [c.cell_contents for c in plain_adder.__closure__] == \
            [c.cell_contents for c in jitted_adder.__closure__]
    assert jitted.signatures


# --- comprehensions ---------------------------------------------------------------------------

def comprehensions(xs):
    return ([x * 2 for x in xs if x % 2], {x % 3 for x in xs}, {x: x * x for x in xs if x},
            list(x + 1 for x in xs), sum(x for x in xs), [(x, y) for x in xs for y in xs if x < y],
            [[y for y in range(x)] for x in xs], {x: [y for y in xs if y > x] for x in xs})


def test_all_four_comprehension_kinds(backend):
    check(comprehensions, ([1, 2, 3],), ([],), ((0, 5, -1),), (range(4),), (["a"],),
          ([1, None],), backend=backend)


def comprehension_scope(xs):
    x = "outer"
    y = [x for x in xs]
    z = [x for _ in xs]
    return x, y, z


def test_comprehension_variable_does_not_leak(backend):
    check(comprehension_scope, ([1, 2],), ([],), backend=backend)


def genexp_eager_first_iterable(log, xs, ys):
    g = (note(log, ("pair", x, y), (x, y)) for x in xs for y in ys)
    log.append("created")
    return list(g)


def test_generator_expression_first_iterable_is_eager(backend):
    check(genexp_eager_first_iterable, (LOG, [1, 2], "ab"), (LOG, 5, "ab"), (LOG, [1], 5),
          (LOG, [], 5), backend=backend)


def any_all_short_circuit(log, xs):
    def checked(x):
        log.append(x)
        return x > 2
    return any(checked(x) for x in xs), all(checked(x) for x in xs)


def test_any_all_stop_consuming_generator(backend):
    check(any_all_short_circuit, (LOG, [1, 3, 5]), (LOG, [5, 1]), (LOG, []), (LOG, [1, "x"]),
          backend=backend)


def comprehension_exceptions(xs):
    return [10 // x for x in xs]


def test_exception_inside_comprehension(backend):
    check(comprehension_exceptions, ([1, 2],), ([1, 0],), ([None],), backend=backend)


def comprehension_closures(n):
    fs = [lambda: k for k in range(n)]
    gs = {k: (lambda k=k: k) for k in range(n)}
    return [f() for f in fs], [g() for g in gs.values()]


def test_closures_created_in_comprehensions(backend):
    check(comprehension_closures, (3,), (0,), backend=backend)


def nested_generator_function(n):
    def gen():
        for i in range(n):
            yield i * i
        return "done"
    g = gen()
    return list(g), [x for x in gen() if x % 2]


def test_generator_function_defined_inside(backend):
    check(nested_generator_function, (4,), (0,), ("x",), backend=backend)


# --- classes defined inside ---------------------------------------------------------------------

def class_in_function(x):
    class K:
        attr = x
        doubled = attr * 2

        def method(self):
            return self.attr, x

        @property
        def prop(self):
            return self.doubled

        @classmethod
        def cm(cls):
            return cls.__name__

        @staticmethod
        def sm(v):
            return v, x

        def __repr__(self):
            return f"K({self.attr!r})"

    k = K()
    return (k.method(), k.prop, K.cm(), K.sm(1), repr(k), K.__qualname__, K.__module__,
            sorted(n for n in vars(K) if not n.startswith("__")), type(k).__name__)


def test_class_body_inside_function(backend):
    check(class_in_function, (1,), ("ab",), ([1],), backend=backend)


def class_scope_lookup():
    x = "function"

    class K:
        y = x
        x = "class"
        z = x

    return K.y, K.z, x


def test_class_body_name_assigned_in_class_is_not_the_closure(backend):
    check(class_scope_lookup, (), backend=backend)


class PreparedMeta(type):
    @classmethod
    def __prepare__(mcls, name, bases, **kw):
        return {"x": "prepared"} if kw.get("prepared") else {}

    def __new__(mcls, name, bases, ns, **kw):
        return super().__new__(mcls, name, bases, ns)


def class_free_variable_lookup(prepared):
    x = "function"

    class K(metaclass=PreparedMeta, prepared=prepared):
        y = x
        z = [x for _ in range(1)]

    return K.y, K.z, x


def test_class_body_free_variable_prefers_class_namespace(backend):
    check(class_free_variable_lookup, (False,), (True,), backend=backend)


def class_scope_comprehension():
    class K:
        items = [1, 2]
        doubled = [i * 2 for i in items]
        hidden = [items for _ in range(1)]
    return K.doubled


def test_class_body_comprehension_cannot_see_class_names(backend):
    check(class_scope_comprehension, (), backend=backend)


def class_with_super_and_hooks(log):
    class Base:
        def __init_subclass__(cls, tag=None, **kw):
            log.append(("init_subclass", cls.__name__, tag))
            super().__init_subclass__(**kw)

        def who(self):
            return "base"

    class Meta(type):
        def __new__(mcls, name, bases, ns, **kw):
            log.append(("meta", name, sorted(k for k in ns if not k.startswith("__"))))
            return super().__new__(mcls, name, bases, ns)

    def decorate(cls):
        log.append(("decorated", cls.__name__))
        cls.extra = 1
        return cls

    @decorate
    class Child(Base, tag="t", metaclass=Meta):
        def who(self):
            return "child+" + super().who()

        def klass(self):
            return __class__.__name__

    return Child().who(), Child().klass(), Child.extra, type(Child).__name__


def test_class_with_super_metaclass_init_subclass_decorator(backend):
    check(class_with_super_and_hooks, (LOG,), backend=backend)


def local_exception_class(x):
    class LocalError(ValueError):
        pass
    if x:
        raise LocalError(x)
    return LocalError.__qualname__


def test_locally_defined_exception_class(backend):
    check(local_exception_class, (0,), (1,), backend=backend)


# --- decorators applied inside ------------------------------------------------------------------

def decorators_inside(log, value):
    def deco(tag):
        log.append(("factory", tag))

        def wrap(f):
            log.append(("wrapping", f.__name__, tag))

            @functools.wraps(f)
            def wrapper(*a, **k):
                log.append(("call", tag))
                return f(*a, **k)
            return wrapper
        return wrap

    @deco("outer")
    @deco("inner")
    def target(x):
        """doc"""
        return x * 2

    return target(value), target.__name__, target.__doc__, target.__wrapped__.__name__


def test_decorators_evaluated_top_down_applied_bottom_up(backend):
    check(decorators_inside, (LOG, 21), (LOG, "ab"), (LOG, None), backend=backend)


def builtin_decorators_inside(x):
    @functools.lru_cache(maxsize=None)
    def square(v):
        return v * v

    calls = [square(x), square(x), square(2)]
    return calls, square.cache_info().hits, square.cache_info().misses


def test_lru_cache_applied_inside(backend):
    check(builtin_decorators_inside, (3,), (2,), ([1],), backend=backend)


async def _async_helper(x):
    return x * 2


def nested_async(x):
    async def coro(v):
        r = await _async_helper(v)
        return r + 1
    c = coro(x)
    try:
        c.send(None)
    except StopIteration as e:
        return e.value
    return "not finished"


def test_async_function_defined_inside(backend):
    check(nested_async, (1,), ("a",), (None,), backend=backend)


def keyword_call_of_nested(x):
    def inner(a, *, b):
        return a, b
    return inner(x, b=x), inner(a=1, b=2)


def test_keyword_calls_of_nested_functions(backend):
    check(keyword_call_of_nested, (1,), Call(x="k"), Call(y=1), backend=backend)


def closure_sees_later_assignment():
    def read():
        return value
    first = None
    try:
        first = read()
    except NameError as e:
        first = str(e)
    value = "assigned later"
    return first, read()


def test_closure_sees_assignment_after_definition(backend):
    check(closure_sees_later_assignment, (), backend=backend)


def fresh_closure_state(items):
    items.append("from jitted")

    def add(v):
        items.append(v)
    add("from closure")
    return len(items)


def test_closure_mutates_argument(backend):
    check(fresh_closure_state, (fresh(list),), ([1],), backend=backend)
