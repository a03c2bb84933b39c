"""Type inference (justjit/analyses/types.py): the lattice, the rules, and golden texts.

Golden data: tests/golden/types/*.test (a subdirectory: the frontend's golden runner reads
tests/golden/*.test). Each case is

    [case NAME TYPE...]
    <Python source defining `f`, compiled as <golden:NAME>; lines count from 1 after the header>
    ----
    <expected format_types(infer_types(build_ir(f), TYPES, its globals))>

TYPE is a class name (int, float, bool, str, bytes, list, tuple, dict, set, NoneType) or
`object`. To regenerate after an intended change: JUSTJIT_UPDATE_GOLDEN=1 pytest tests/test_types.py
and read the diff.
"""

from __future__ import annotations

import builtins
import linecache
import math
import os
import re
from pathlib import Path

import pytest

from justjit.analyses import types as T
from justjit.analyses.types import (BOOL, FLOAT, INT, LIST, NONE, OBJECT, TUPLE, UNBOUND,
                                    format_types, infer_types, join)
from justjit.frontend import build_ir

GOLDEN_DIR = Path(__file__).parent / "golden" / "types"
UPDATE = os.environ.get("JUSTJIT_UPDATE_GOLDEN", "").strip() not in ("", "0")
_HEADER = re.compile(r"^\[case ([A-Za-z0-9_]+)((?: [A-Za-z]+)*)\]\s*$")
_CLASSES = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes, "list": list,
            "tuple": tuple, "dict": dict, "set": set, "NoneType": type(None), "object": None}


# --------------------------------------------------------------------------------------------
# The lattice


def test_join_is_flat():
    assert join(INT, INT) is INT
    assert join(INT, FLOAT) == OBJECT
    assert join(INT, BOOL) == OBJECT  # a bool is not an int here: it is boxed differently
    assert join(INT, UNBOUND) == OBJECT  # "an int, or unbound" is what a plain local is
    assert join(OBJECT, INT) == OBJECT
    assert T.known(len) == T.known(len) and T.known(len) != T.known(abs)
    assert T.range_iter((1, 2)) != T.range_iter((3, 4))


def test_types_of_constants_and_classes():
    assert T.type_of_constant(1) is INT
    assert T.type_of_constant(True) is BOOL
    assert T.type_of_constant(2**63) is OBJECT  # does not fit int64
    assert T.type_of_constant(-2**63) is INT
    assert T.type_of_constant(1.5) is FLOAT
    assert T.type_of_constant(None) is NONE
    assert T.type_of_constant(("a",)) is TUPLE
    assert T.type_of_constant(frozenset()) is OBJECT
    assert T.type_of_class(int) is INT and T.type_of_class(list) is LIST
    assert T.type_of_class(type(True)) is BOOL
    assert T.type_of_class(range) is OBJECT  # only guarded types are argument types

    class Sub(int):
        pass

    assert T.type_of_class(Sub) is OBJECT


def test_membership_is_exact():
    assert T.in_type(3, INT) and not T.in_type(True, INT) and not T.in_type(2**63, INT)
    assert T.in_type(True, BOOL) and not T.in_type(1, BOOL)
    assert not T.in_type(1, FLOAT) and T.in_type(float("nan"), FLOAT)
    assert T.in_type(len, T.known(len)) and not T.in_type(abs, T.known(len))


# --------------------------------------------------------------------------------------------
# Rules


def types_at_return(func, arg_types, globals_=None):
    """Types of every register at the function's (first) Return."""
    from justjit.ir import ops as ir
    fn = build_ir(func)
    facts = infer_types(fn, arg_types, func.__globals__ if globals_ is None else globals_)
    for b in fn.ordered_blocks():
        if isinstance(b.terminator, ir.Return) and b.id in facts.reachable:
            env = facts.before[b.id][len(b.ops)]
            return {r.name: str(t) for r, t in env.items()}, env.get(b.terminator.value)
    raise AssertionError("no return")


def arith(a, b):
    c = a + b
    d = a / b
    e = a // b
    g = -a
    h = a < b
    return c, d, e, g, h


def test_arithmetic_rules():
    env, _ = types_at_return(arith, (int, int))
    assert (env["c"], env["d"], env["e"], env["g"], env["h"]) == ("int", "float", "int", "int",
                                                                 "bool")
    env, _ = types_at_return(arith, (int, float))
    assert (env["c"], env["d"], env["e"], env["g"], env["h"]) == ("float", "float", "float",
                                                                 "int", "bool")
    env, _ = types_at_return(arith, (bool, bool))
    assert (env["c"], env["d"], env["e"], env["g"]) == ("int", "float", "int", "int")
    env, _ = types_at_return(arith, (int, str))  # raises at run time: nothing is claimed
    assert env["c"] == env["d"] == "object"
    env, _ = types_at_return(arith, (str, str))
    assert env["c"] == "str" and env["h"] == "bool"
    env, _ = types_at_return(arith, (None, int))
    assert set(env[k] for k in "cdegh") == {"object"}


def powers(a, b):
    return a ** b


def test_power_is_typed_with_its_deopts():
    # int ** int is an int (a negative exponent, whose result is a float, deopts), and a
    # float on either side makes a float; str ** int stays generic.
    assert types_at_return(powers, (int, int))[1] == INT
    assert types_at_return(powers, (int, float))[1] == FLOAT
    assert types_at_return(powers, (float, bool))[1] == FLOAT
    assert types_at_return(powers, (str, int))[1] == OBJECT


def unknown_call(f, n):
    x = f(n)
    y = n + 1
    return x, y


def test_unknown_calls_give_objects():
    env, _ = types_at_return(unknown_call, (None, int))
    assert env["x"] == "object" and env["y"] == "int"


def loop_join(n, x):
    t = 0
    for i in range(n):
        t = t + x
    return t


def test_loop_carried_types_join():
    _, t = types_at_return(loop_join, (int, int))
    assert t == INT
    _, t = types_at_return(loop_join, (int, float))
    assert t == OBJECT  # int before the loop, float after one iteration


def maybe_unbound(n):
    if n:
        y = 1
    return y


def test_maybe_unbound_local_is_object():
    _, t = types_at_return(maybe_unbound, (int,))
    assert t == OBJECT


def known_globals(xs, n):
    a = len(xs)
    b = abs(n)
    c = min(n, 3)
    d = max(1.5, 2.5)
    e = int(2.5)
    f = float(n)
    g = math.sqrt(n)
    h = math.floor(2.5)
    i = len(n)
    return a, b, c, d, e, f, g, h, i


def test_known_globals():
    env, _ = types_at_return(known_globals, (list, int))
    assert [env[k] for k in "abcdefghi"] == ["int", "int", "int", "float", "int", "float",
                                            "float", "int", "int"]
    facts = infer_types(build_ir(known_globals), (list, int), globals())
    guards = sorted(set(facts.guards().values()))
    assert "%t0 is builtins.len" in guards


def test_shadowed_builtins_are_not_known():
    env, _ = types_at_return(known_globals, (list, int),
                             dict(globals(), len=lambda v: 0, math=None))
    assert env["a"] == "object" and env["g"] == "object" and env["b"] == "int"


def comprehension(n):
    return [i * 2 for i in range(n)]


def test_a_range_iterator_given_to_other_code_stays_an_object():
    fn = build_ir(comprehension)
    facts = infer_types(fn, (int,), globals())
    text = format_types(facts)
    assert "range_iterator" not in text
    assert "%t2: range; typed" in text and "%t3: object; generic" in text


def truthiness(x, y):
    if x:
        return 1
    if y is None:
        return 2
    return 3


def test_typed_branches():
    facts = infer_types(build_ir(truthiness), (float, type(None)), globals())
    hows = [t.how for (b, i), t in sorted(facts.typing.items())
            if type(facts.fn.blocks[b].terminator).__name__ == "CondBranch"
            and i == len(facts.fn.blocks[b].ops)]
    assert hows == ["typed", "typed"]


def test_inference_is_pure():
    from justjit.ir.printer import format_function
    fn = build_ir(loop_join)
    before = format_function(fn)
    infer_types(fn, (int, int), globals())
    assert format_function(fn) == before


def test_argument_types_for_star_args():
    def f(a, *args, b=1, **kw):
        return a, args, b, kw
    facts = infer_types(build_ir(f), (int,))
    assert [str(t) for t in facts.arg_types] == ["int", "object", "tuple", "dict"]


# --------------------------------------------------------------------------------------------
# Golden texts


def _parse(path: Path):
    cases, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADER.match(line)
        if m:
            current = {"name": m.group(1), "types": m.group(2).split(), "source": [],
                       "expected": [], "part": "source"}
            cases.append(current)
        elif current is None:
            continue
        elif line == "----" and current["part"] == "source":
            current["part"] = "expected"
        else:
            current[current["part"]].append(line)
    return cases


def _render(case) -> str:
    source = "\n".join(case["source"]) + "\n"
    filename = f"<golden:{case['name']}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__builtins__": builtins, "__name__": "golden_" + case["name"]}
    exec(compile(source, filename, "exec"), namespace)
    func = namespace["f"]
    arg_types = tuple(_CLASSES[t] for t in case["types"])
    return format_types(infer_types(build_ir(func), arg_types, namespace))


def _files():
    return sorted(GOLDEN_DIR.glob("*.test"))


def _write(path: Path, cases) -> None:
    text = path.read_text(encoding="utf-8").splitlines()
    preamble = []
    for line in text:
        if _HEADER.match(line):
            break
        preamble.append(line)
    out = preamble[:]
    for case in cases:
        out.append(f"[case {case['name']}{''.join(' ' + t for t in case['types'])}]")
        out += case["source"]
        out.append("----")
        out += case["actual"].rstrip("\n").splitlines()
        out.append("")
    path.write_text("\n".join(out).rstrip("\n") + "\n", encoding="utf-8")


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_golden_types(path):
    cases = _parse(path)
    assert cases, f"no cases in {path}"
    failures = []
    for case in cases:
        case["actual"] = _render(case)
        expected = "\n".join(case["expected"]).strip("\n") + "\n"
        if case["actual"] != expected:
            failures.append(case["name"])
    if UPDATE and failures:
        _write(path, cases)
        return
    for case in cases:
        expected = "\n".join(case["expected"]).strip("\n") + "\n"
        assert case["actual"] == expected, f"case {case['name']} differs"


def test_profile_type_of_argument_values():
    from justjit.analyses.types import (INT, LIST, LIST_OF_FLOAT, LIST_OF_INT, OBJECT,
                                        profile_type)
    assert profile_type([1.0] * 20) is LIST_OF_FLOAT
    assert profile_type([1, 2, -3]) is LIST_OF_INT
    assert profile_type([1, 2.0]) is LIST
    assert profile_type([True, 1]) is LIST  # bools are not ints of the element profile
    assert profile_type([1, 2**64]) is LIST
    assert profile_type([]) is LIST
    assert profile_type(2**63) is OBJECT and profile_type(2**63 - 1) is INT
    assert profile_type(object()) is OBJECT
