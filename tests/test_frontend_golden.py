"""Golden tests: the CFG and the IR of small functions, checked in as text next to the source.

Data: tests/golden/*.test. Each file holds cases:

    [case NAME]
    <Python source defining `f` (a function; `f = C.m` works too)>
    [cfg]
    <expected explain_cfg(f)>
    [ir]
    <expected format_function(build_ir(f))>

Lines starting with `--` before the first case are comments. A case without a `[cfg]` (or
`[ir]`) section does not check that stage. Sources are compiled with the file name
`<golden:NAME>`, and their line numbers count from the `[case]` line (line 1 is the line after
it), so the expected text does not move when other cases change.

To regenerate the expected text after an intended change, run

    JUSTJIT_UPDATE_GOLDEN=1 python -m pytest tests/test_frontend_golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import linecache
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from justjit.frontend import build_ir, explain_cfg
from justjit.ir.printer import format_function

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("JUSTJIT_UPDATE_GOLDEN", "").strip() not in ("", "0")
SECTIONS = ("cfg", "ir")
_HEADER = re.compile(r"^\[case ([A-Za-z0-9_]+)\]\s*$")
_SECTION = re.compile(r"^\[(cfg|ir)\]\s*$")


@dataclass
class Case:
    name: str
    path: Path
    source: str
    expected: dict[str, str] = field(default_factory=dict)


def parse_test_file(path: Path) -> tuple[str, list[Case]]:
    """(preamble, cases) of a .test file."""
    preamble: list[str] = []
    cases: list[Case] = []
    current: list[str] = preamble
    case = None
    section = None
    for line in path.read_text().splitlines():
        m = _HEADER.match(line)
        if m:
            if case is not None:
                _close(case, section, current)
            case = Case(m.group(1), path, "")
            cases.append(case)
            section, current = "source", []
            continue
        m = _SECTION.match(line)
        if m and case is not None:
            _close(case, section, current)
            section, current = m.group(1), []
            continue
        current.append(line)
    if case is not None:
        _close(case, section, current)
    return _text(preamble), cases


def _close(case: Case, section, lines) -> None:
    if section == "source":
        case.source = _text(lines)
    elif section in SECTIONS:
        case.expected[section] = _text(lines)


def _text(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines) + "\n" if lines else ""


def run_case(case: Case) -> dict[str, str]:
    """The actual text of every stage for a case."""
    filename = f"<golden:{case.name}>"
    linecache.cache[filename] = (len(case.source), None, case.source.splitlines(True), filename)
    namespace: dict = {"__name__": "golden"}
    exec(compile(case.source, filename, "exec"), namespace)
    func = namespace["f"]
    return {"cfg": _clean(explain_cfg(func)), "ir": _clean(format_function(build_ir(func)))}


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines()) + "\n"


def write_test_file(path: Path, preamble: str, cases: list[Case]) -> None:
    parts = [preamble.rstrip("\n") + "\n"] if preamble.strip() else []
    for case in cases:
        text = f"[case {case.name}]\n{case.source}"
        for section in SECTIONS:
            if section in case.expected:
                text += f"[{section}]\n{case.expected[section]}"
        parts.append(text)
    path.write_text("\n".join(parts))


def _all_cases():
    for path in sorted(GOLDEN_DIR.glob("*.test")):
        for case in parse_test_file(path)[1]:
            yield pytest.param(case, id=f"{path.stem}::{case.name}")


@pytest.mark.parametrize("case", list(_all_cases()))
def test_golden(case: Case):
    actual = run_case(case)
    if UPDATE:
        preamble, cases = parse_test_file(case.path)
        for c in cases:
            if c.name == case.name:
                for section in [s for s in SECTIONS if s in c.expected] or SECTIONS:
                    c.expected[section] = actual[section]
        write_test_file(case.path, preamble, cases)
        return
    assert case.expected, f"case {case.name} has no expected output (set JUSTJIT_UPDATE_GOLDEN=1)"
    for section, expected in case.expected.items():
        assert actual[section] == expected, (
            f"{case.path.name} [case {case.name}] [{section}] differs "
            f"(JUSTJIT_UPDATE_GOLDEN=1 regenerates it)\n"
            f"--- actual ---\n{actual[section]}")


def test_parser_round_trip(tmp_path):
    text = ("-- comment\n\n[case a]\ndef f():\n    return 1\n[cfg]\nx\n[ir]\ny\n\n"
            "[case b]\ndef f():\n    pass\n")
    path = tmp_path / "t.test"
    path.write_text(text)
    preamble, cases = parse_test_file(path)
    assert preamble == "-- comment\n"
    assert [c.name for c in cases] == ["a", "b"]
    assert cases[0].source == "def f():\n    return 1\n"
    assert cases[0].expected == {"cfg": "x\n", "ir": "y\n"}
    assert cases[1].expected == {}
    write_test_file(path, preamble, cases)
    assert parse_test_file(path)[1][0].expected == cases[0].expected
