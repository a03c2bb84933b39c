"""The frontend (decode -> CFG -> stack-to-register -> verified IR) on every kind of statement,
its refusals, and the facts it relies on.

Golden CFG/IR text lives in tests/golden/frontend.test (tests/test_frontend_golden.py);
tests/test_frontend_interp.py runs the IR with a reference interpreter against CPython.
"""

import dis
import linecache
import textwrap
import types

import pytest

from justjit.errors import CompileError
from justjit.frontend import build_cfg_of, build_ir, explain_cfg
from justjit.frontend.cfg import build_cfg
from justjit.frontend.decode import decode, parse_exception_table
from justjit.ir import ops as ir
from justjit.ir.printer import format_function

G = 0


# ---------------------------------------------------------------------------------------------
# A broad set of functions: every statement kind must compile and verify.


def f_arith(a, b):
    c = a + b * 2 - a // 3 % 4 ** 2
    c += 1
    c -= a
    c *= -b
    return ~c, +c, not c, c / 2, c << 1, c >> 1, c & 3, c | 4, c ^ 5, a @ b if 0 else c


def f_if_elif(x):
    if x < 0:
        r = "neg"
    elif x == 0:
        r = "zero"
    else:
        r = "pos"
    return r


def f_while(n):
    total = 0
    i = 0
    while i < n:
        i += 1
        if i % 2:
            continue
        if i > 100:
            break
        total += i
    else:
        total = -total
    return total


def f_for_else(xs):
    for i, x in enumerate(xs):
        if x is None:
            break
    else:
        return -1
    return i


def f_nested_loops(n):
    out = []
    for i in range(n):
        for j in range(i):
            if j == 3:
                break
            out.append((i, j))
    return out


def f_try_except(f, x):
    try:
        y = f(x)
    except (ValueError, TypeError) as e:
        y = str(e)
    except KeyError:
        raise
    except Exception as e:
        raise RuntimeError("wrapped") from e
    else:
        y = y * 2
    finally:
        x = None
    return y


def f_try_finally_return(f):
    try:
        return f()
    finally:
        print("done")


def f_finally_break(xs):
    for x in xs:
        try:
            if x:
                break
            continue
        finally:
            xs = None
    return xs


def f_return_in_finally(f):
    try:
        f()
    finally:
        return 1


def f_with(cm, path):
    with cm as a, open(path) as b:
        data = a.read() + b.read()
    with cm:
        pass
    return data


def f_match(p):
    match p:
        case [x, y, *rest]:
            return x, y, rest
        case {"k": v, **kw}:
            return v, kw
        case complex(real=0, imag=i) if i > 1:
            return i
        case str() | bytes():
            return "text"
        case (1 | 2) as n:
            return n
        case None:
            return None
        case _:
            return -1


def f_comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: x for x in xs}
    c = {x for x in xs}
    d = (x for x in xs)
    return a, b, c, list(d)


def f_closure(a):
    b = 1

    def inner(c=3, *, d=4) -> int:
        nonlocal b
        b += a + c + d
        return b

    lam = lambda: a + b  # noqa: E731
    return inner, lam


def f_generator(n):
    x = yield 1
    for i in range(n):
        y = yield i + (x or 0)
    z = yield from range(3)
    return z


def f_fstrings(x, w):
    return f"{x}", f"{x!r:>{w}}", f"{x!s}-{x!a}", f"{x:.2f}" if isinstance(x, float) else ""


def f_calls(f, a, k, o):
    f(*a, **k)
    o.m(1, x=2)
    f(1, *a, 2, **k, z=3)
    o.m(*a)
    print(a, sep="")
    return f(**k)


def f_unpacking(t):
    a, b = t
    (c, d), e = t
    f, *g, h = t
    i, *j = t
    a, b = b, a
    first, *_ = t
    return a, b, c, d, e, f, g, h, i, j, [*t, *t], {**{}, "a": 1}, (*t,)


def f_chained(a, b, c):
    return a < b < c, a == b != c, a is b is not c, a in b not in c


def f_walrus(xs):
    if (n := len(xs)) > 3:
        return n
    return [y for x in xs if (y := x + 1)]


def f_del(a, d):
    b = a
    del a
    del d[0], d[1:2]
    del b.attr
    return b


def f_global_nonlocal():
    global G
    G = 1
    G += 1
    del G
    x = 0

    def g():
        nonlocal x
        x += 1
        del x

    return g


# pytest rewrites `assert` in test modules, so this one is compiled from text.
exec(compile(textwrap.dedent("""
    def f_assert_import(x):
        assert x, "message"
        assert x
        import os.path
        import os.path as p
        from os import sep, path as q
        from .. import x as y  # compiles; fails only when run
        return os.path, p, sep, q
    """), __file__ + ":f_assert_import", "exec"), globals())


def f_class_def(base):
    class K(base):
        attr = 1

        def m(self):
            return self.attr

    return K


def f_slices(x):
    return x[1:], x[:2], x[::3], x[1:2:3]


def f_boolean_ops(a, b, c):
    return (a and b) or c, a or b and c, not (a and b)


def f_ternary_none(a):
    return a if a is not None else 0, a if a is None else 1


def f_subscript_store(d, k, v):
    d[k] = v
    d[k] += v
    d.attr = v
    d.attr += v
    return d


def f_raise_forms(e):
    if e == 1:
        raise ValueError
    if e == 2:
        raise ValueError("x") from None
    raise


def f_except_star(g):
    try:
        g()
    except* ValueError as e:
        g(e)
    except* TypeError:
        pass


def f_many_locals_extended_arg(x):
    # Enough code for jumps and names to need EXTENDED_ARG.
    y = 0
    if x:
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
        y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x; y = y + x  # noqa
    return y


def f_varargs(*args, key=None, **kwargs):
    return args, key, kwargs


def f_cell_arg(self):
    def g():
        return self
    return g


class WithSuper(dict):
    def get(self, k):
        return super().get(k)

    def closure_over_self(self):
        def g():
            return self
        return super().__repr__(), g


def f_infinite_loop(it):
    while True:
        x = next(it)
        if x:
            return x


def f_yield_in_try(xs):
    try:
        for x in xs:
            try:
                yield x
            except ValueError:
                yield -1
    finally:
        yield "end"


def f_with_yield(cm):
    with cm:
        yield 1
    return 2


def f_stack_across_yield(f):
    return f(1, (yield 2), *(yield 3))


def f_lambda_defaults(a):
    return lambda x=a, *, y=a: x + y


def f_nested_try(f):
    try:
        try:
            return f(1)
        except ValueError:
            return f(2)
        finally:
            f(3)
    except Exception as e:
        return e


BROAD = [value for name, value in sorted(globals().items())
         if name.startswith("f_") and isinstance(value, types.FunctionType)]
BROAD += [WithSuper.get, WithSuper.closure_over_self]


def nested_code_objects(code):
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield const
            yield from nested_code_objects(const)


@pytest.mark.parametrize("func", BROAD, ids=lambda f: f.__qualname__)
def test_build_ir_and_verify(func):
    fn = build_ir(func)  # build_ir verifies
    assert fn.name == func.__name__
    assert fn.qualname == func.__qualname__
    assert fn.is_generator == bool(func.__code__.co_flags & 0x20)
    assert fn.entry in fn.blocks
    assert fn.args == [ir.Reg(n, "var") for n in
                       func.__code__.co_varnames[:len(fn.args)]]
    assert format_function(fn)  # prints
    if func.__code__.co_filename == __file__:
        assert fn.source_lines[fn.firstlineno].lstrip().startswith("def ")
    for code in nested_code_objects(func.__code__):  # comprehensions, lambdas, inner defs
        if "<locals>" in code.co_qualname and code.co_name[0].isalpha() and code.co_name == "K":
            continue  # class body: refused (LOAD_NAME)
        build_ir(code)


def test_explain_cfg_prints_every_block():
    text = explain_cfg(f_try_except)
    cfg = build_cfg_of(f_try_except)
    for block in cfg.blocks:
        assert f"b{block.id}:" in text
    assert "except -> " in text and "lasti" in text


# ---------------------------------------------------------------------------------------------
# Facts the lowering relies on


def _all_codes():
    for func in BROAD:
        yield func.__code__
        yield from nested_code_objects(func.__code__)


def test_neutral_stack_effects_match_dis():
    """The net stack effect of every neutral instruction agrees with dis.stack_effect on the
    3.11 instruction it came from (both edges of a branch)."""
    checked = 0
    for code in _all_codes():
        if code.co_name == "K":
            continue  # class body
        raw = {i.offset: i for i in dis.get_instructions(code)}
        by_offset = {}
        for ins in decode(code):
            by_offset.setdefault(ins.offset, []).append(ins)
        for offset, group in by_offset.items():
            r = raw[offset]
            if group[0].opname == "YIELD_FROM":
                assert group[0].stack_effect() == 0  # LOAD_CONST None ... SEND: iter -> result
                continue
            expected = dis.stack_effect(r.opcode, r.arg, jump=False)
            if r.opname == "CALL":  # 3.11 counts the arguments' pops on PRECALL
                expected += dis.stack_effect(dis.opmap["PRECALL"], r.arg)
            assert sum(i.stack_effect() for i in group) == expected, (code.co_qualname, r)
            if group[-1].info.flow == "branch":
                assert group[-1].stack_effect(jump=True) == dis.stack_effect(
                    r.opcode, r.arg, jump=True), r
            checked += 1
    assert checked > 500


def test_exception_table_parser_matches_dis():
    for code in _all_codes():
        mine = [(s, e, h.target, h.depth, h.lasti) for s, e, h in parse_exception_table(code)]
        theirs = [(x.start, x.end, x.target, x.depth, x.lasti)
                  for x in dis._parse_exception_table(code)]
        assert mine == theirs


def test_decode_resolves_3_11_quirks():
    instrs = decode(f_calls.__code__)
    names = [i.opname for i in instrs]
    for gone in ("PRECALL", "KW_NAMES", "RESUME", "CACHE", "EXTENDED_ARG", "NOP"):
        assert gone not in names
    kw_calls = [i for i in instrs if i.opname == "CALL" and i.kwnames]
    assert [c.kwnames for c in kw_calls] == [("x",), ("sep",)]
    # LOAD_GLOBAL print (with the NULL bit) became PUSH_NULL + LOAD_GLOBAL.
    at = names.index("LOAD_GLOBAL")
    assert names[at - 1] == "PUSH_NULL" and instrs[at].argval == "print"


def test_decode_fuses_yield_from_and_drops_return_generator():
    instrs = decode(f_generator.__code__)
    names = [i.opname for i in instrs]
    assert "YIELD_FROM" in names and "SEND" not in names
    assert "RETURN_GENERATOR" not in names
    assert names[names.index("YIELD_FROM") - 1] == "GET_YIELD_FROM_ITER"
    assert names[0] != "POP_TOP"


def test_decode_extended_arg_jumps():
    assert any(i.opname == "EXTENDED_ARG"
               for i in dis.get_instructions(f_many_locals_extended_arg))
    cfg = build_cfg_of(f_many_locals_extended_arg)
    offsets = {b.offset for b in cfg.blocks}
    for b in cfg.blocks:
        for ins in b.instrs:
            if ins.target is not None:
                assert ins.target in offsets


# ---------------------------------------------------------------------------------------------
# CFG


def test_cfg_blocks_have_one_handler_and_consistent_depths():
    for code in _all_codes():
        if code.co_flags & 0x80 or "K" == code.co_name:
            continue
        cfg = build_cfg(code)
        for b in cfg.blocks:
            handlers = {i.handler for i in b.instrs}
            assert len(handlers) == 1
            if b.handler is not None:
                assert b.depth >= b.handler.depth
                target = cfg.blocks[b.handler.target]
                assert target.depth == b.handler.depth + b.handler.lasti + 1
            for s in b.succs():
                assert 0 <= s < len(cfg.blocks)


def test_cfg_push_exc_info_ends_its_block():
    cfg = build_cfg_of(f_try_except)
    for b in cfg.blocks:
        for ins in b.instrs[:-1]:
            assert ins.opname != "PUSH_EXC_INFO"


def test_dominators_back_edges_loops():
    cfg = build_cfg_of(f_nested_loops)
    dom = cfg.dominators()
    for b in cfg.blocks:
        assert cfg.entry in dom[b.id] and b.id in dom[b.id]
    back = cfg.back_edges()
    loops = cfg.loops()
    assert len(loops) == 2  # the two FOR_ITER headers
    headers = sorted(loops)
    outer, inner = headers
    assert loops[inner] < loops[outer]
    for tail, head in back:
        assert head in dom[tail]
    for head, body in loops.items():
        assert cfg.blocks[head].instrs[0].opname == "FOR_ITER"


def test_unreachable_code_is_dropped():
    def f():
        return 1
        print("never")  # noqa
    cfg = build_cfg_of(f)
    assert len(cfg.blocks) == 1


# ---------------------------------------------------------------------------------------------
# Lowering details


def _ops(fn, cls):
    return [op for b in fn.ordered_blocks() for op in b.ops + [b.terminator]
            if isinstance(op, cls)]


def test_load_fast_checks_only_maybe_unbound_locals():
    def f(a, flag):
        if flag:
            b = 1
        c = a + 1
        return a, b, c, b
    fn = build_ir(f)
    checked = [op.var.name for op in _ops(fn, ir.CheckBound)]
    assert checked == ["b"]  # args and c are definitely bound; b is checked once


def test_delete_then_load_is_checked():
    def f(a):
        del a
        return a
    fn = build_ir(f)
    assert [op.var.name for op in _ops(fn, ir.CheckBound)] == ["a"]
    assert [op.var.name for op in _ops(fn, ir.DeleteLocal)] == ["a"]


def test_delete_in_a_loop_is_checked_on_the_next_iteration():
    def f(xs):
        x = 0
        for _ in xs:
            print(x)
            del x
    fn = build_ir(f)
    assert [op.var.name for op in _ops(fn, ir.CheckBound)] == ["x"]


def test_parallel_moves_break_cycles():
    # [a, b] at a join, swapped by SWAP before the jump: s0 <- s1 and s1 <- s0.
    def f(a, b, c):
        return (a, b) if c else (b, a)
    build_ir(f)
    from justjit.frontend.stack_to_reg import StackToReg
    lowering = StackToReg(build_cfg_of(f))
    lowering.block = ir.Block(99)
    lowering.line = None
    s0, s1 = ir.Reg("s0", "stack"), ir.Reg("s1", "stack")
    lowering._parallel_moves([(s0, s1), (s1, s0)])
    values = {s0: "A", s1: "B"}
    for op in lowering.block.ops:
        values[op.dest] = values[op.src]
    assert (values[s0], values[s1]) == ("B", "A")
    assert len(lowering.block.ops) == 3


def test_terminator_reads_values_from_before_the_block_end_moves():
    from justjit.frontend.stack_to_reg import StackToReg, _Val
    lowering = StackToReg(build_cfg_of(f_if_elif))
    lowering.block = ir.Block(99)
    lowering.line = None
    s0, s1 = ir.Reg("s0", "stack"), ir.Reg("s1", "stack")
    lowering.shapes = {1: (False, False), 2: (False, False)}
    # The stack holds [s1, s0] (swapped) and the branch tests the old s0.
    stack = [_Val(s1), _Val(s0)]
    lowering._finish(ir.CondBranch(s0, 1, 2), [(1, stack), (2, stack)])
    values = {s0: "A", s1: "B"}
    for op in lowering.block.ops:
        values[op.dest] = values[op.src]
    assert values[lowering.block.terminator.cond] == "A"
    assert (values[s0], values[s1]) == ("B", "A")


def test_swap_copies_on_write():
    def f(a, b):
        a, b = b, a
        return a, b
    fn = build_ir(f)
    moves = [(op.dest.name, op.src.name) for op in _ops(fn, ir.Move)]
    assert len(moves) == 3
    tmp = [d for d, s in moves if d.startswith("t")]
    assert len(tmp) == 1  # one saved copy, then two stores


def test_store_fast_writes_the_producing_op():
    def f(a, b):
        x = a + b
        return x
    fn = build_ir(f)
    (op,) = _ops(fn, ir.BinaryOp)
    assert op.dest == ir.Reg("x", "var")
    assert not _ops(fn, ir.Move)


def test_method_call_and_null_markers():
    def f(o, g):
        o.m(1)
        g(2)
        return len(o)
    fn = build_ir(f)
    calls = _ops(fn, ir.Call)
    attr = _ops(fn, ir.GetAttr)[0]
    assert calls[0].func == attr.dest and len(calls[0].args) == 1
    assert calls[1].func == ir.Reg("g", "var")
    loads = _ops(fn, ir.LoadGlobal)
    assert calls[2].func == loads[0].dest


def test_with_exit_call_passes_three_nones():
    def f(cm):
        with cm:
            pass
    fn = build_ir(f)
    before = _ops(fn, ir.BeforeWith)[0]
    exit_call = [c for c in _ops(fn, ir.Call) if len(c.args) == 3][0]
    assert exit_call.func.kind == "stack"  # the __exit__ bound method, kept in s0
    assert _ops(fn, ir.WithExceptStart)
    assert before.exit != before.result


def test_handler_entry_registers():
    def f(g):
        try:
            g()
        except ValueError:
            return 1
    fn = build_ir(f)
    first = fn.blocks[fn.entry]
    assert first.handler.exc_dest == ir.Reg("s0", "stack")
    assert first.handler.lasti_dest is None
    handler = fn.blocks[first.handler.target]
    assert isinstance(handler.ops[0], ir.PushExcInfo)
    assert handler.ops[0].exc == ir.Reg("s0", "stack")
    # Inside the handler, the cleanup handler expects [prev, lasti, exc].
    assert handler.handler.lasti_dest == ir.Reg("s1", "stack")
    assert handler.handler.exc_dest == ir.Reg("s2", "stack")


def test_zero_argument_super_becomes_two_argument_form_when_builtin():
    fn = build_ir(WithSuper.get)
    is_ops = _ops(fn, ir.IsOp)
    assert len(is_ops) == 1
    consts = [op.value for op in _ops(fn, ir.LoadConst)]
    assert super in consts
    calls = _ops(fn, ir.Call)
    two = [c for c in calls if len(c.args) == 2]
    assert two and two[0].args[1] == ir.Reg("self", "var")
    derefs = _ops(fn, ir.LoadDeref)
    assert derefs[0].name == "__class__" and derefs[0].is_free


def test_super_with_cell_self_reads_the_cell():
    fn = build_ir(WithSuper.closure_over_self)
    derefs = [op.name for op in _ops(fn, ir.LoadDeref)]
    assert derefs[:2] == ["__class__", "self"]


def test_make_cell_of_an_argument_starts_with_its_value():
    fn = build_ir(f_cell_arg)
    (mk,) = _ops(fn, ir.MakeCell)
    assert mk.cell == ir.Reg("self", "cell") and mk.initial == ir.Reg("self", "var")


def test_free_cells_loaded_at_entry():
    inner = f_closure(1)[0]
    fn = build_ir(inner)
    entry = fn.blocks[fn.entry]
    loads = [op for op in entry.ops if isinstance(op, ir.LoadFreeCell)]
    assert [(op.cell.name, op.index) for op in loads] == [("a", 0), ("b", 1)]


def test_make_function_takes_code_from_constant():
    fn = build_ir(f_closure)
    makes = _ops(fn, ir.MakeFunction)
    assert [m.code.co_name for m in makes] == ["inner", "<lambda>"]
    inner = makes[0]
    assert inner.defaults and inner.kwdefaults and inner.annotations and inner.closure
    # The code object never becomes a register.
    assert not any(isinstance(op.value, types.CodeType) for op in _ops(fn, ir.LoadConst))


def test_generator_flags_and_yields():
    fn = build_ir(f_generator)
    assert fn.is_generator
    assert len(_ops(fn, ir.Yield)) == 2 and len(_ops(fn, ir.YieldFrom)) == 1


# ---------------------------------------------------------------------------------------------
# Refusals: CompileError naming the construct and file:line


def compile_source(source, name="f"):
    source = textwrap.dedent(source)
    filename = f"<refusal-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    marked = [n for n, line in enumerate(source.splitlines(), 1) if "# <-" in line]
    return namespace[name], filename, (marked[0] if marked else None)


REFUSALS = {
    "locals()": """
        def f():
            x = 1
            return locals()  # <-
        """,
    "vars() without an argument": """
        def f():
            return vars()  # <-
        """,
    "globals()": """
        def f():
            return globals()  # <-
        """,
    "eval() without explicit namespaces": """
        def f(s):
            return eval(s)  # <-
        """,
    "exec() without explicit namespaces": """
        def f(s):
            exec(s)  # <-
        """,
    "sys._getframe": """
        import sys
        def f():
            return sys._getframe(0)  # <-
        """,
    "inspect.currentframe": """
        import inspect
        def f():
            return inspect.currentframe()  # <-
        """,
    "async function": """
        async def f():  # <-
            return 1
        """,
    "async generator": """
        async def f():  # <-
            yield 1
        """,
    "super()": """
        def f():
            return super().x  # <-
        """,
}


@pytest.mark.parametrize("construct", sorted(REFUSALS))
def test_refusals_name_construct_and_line(construct):
    func, filename, line = compile_source(REFUSALS[construct])
    with pytest.raises(CompileError) as info:
        build_ir(func)
    err = info.value
    assert err.construct == construct
    assert err.filename == filename
    assert err.lineno == line
    assert f"{filename}:{line}" in str(err)
    assert construct.split("(")[0].split()[0] in err.message


@pytest.mark.parametrize("source, mode, opcode, line", [
    ("x = 1\nprint(x)\n", "exec", "STORE_NAME", 1),
    ("from os import *\n", "exec", "IMPORT_STAR", 1),
    ("\nx: int = 1\n", "exec", "SETUP_ANNOTATIONS", None),
    ("1 + 2\n", "single", "PRINT_EXPR", 1),
])
def test_module_and_interactive_code_is_refused(source, mode, opcode, line):
    code = compile(source, "<module-body>", mode)
    with pytest.raises(CompileError) as info:
        build_ir(code)
    err = info.value
    assert opcode in err.construct and opcode in err.message
    assert err.filename == "<module-body>"
    if line is not None:
        assert err.lineno == line


def test_class_body_is_refused():
    class_body = next(c for c in nested_code_objects(f_class_def.__code__) if c.co_name == "K")
    with pytest.raises(CompileError) as info:
        build_ir(class_body)
    assert "class body" in info.value.construct


def test_allowed_lookalikes():
    func, _, _ = compile_source("""
        def f(x, g, ns):
            return vars(x), dir(x), eval("1", ns), exec("pass", ns, ns), g(locals=1)
        """)
    build_ir(func)


def test_call_ex_of_frame_builtin_is_refused():
    func, filename, line = compile_source("""
        def f(args):
            return vars(*args)  # <-
        """)
    with pytest.raises(CompileError) as info:
        build_ir(func)
    assert info.value.lineno == line


def test_non_function_argument():
    with pytest.raises(TypeError):
        build_ir(42)
