"""Golden tests for every stage of the pipeline: small functions with the text of each stage
(`justjit.pipeline.explain_stage`) checked in beside them, mypyc "data-driven" style.

Data: tests/golden/stages/*.test (a subdirectory, so the frontend's runner, which reads
tests/golden/*.test, does not see these files). Each file holds cases:

    [case NAME]
    <Python source that defines `f` (a function; `f = outer(1)` works too)>
    [cfg]      <expected explain_stage(f, "cfg")>
    [ir]       <expected explain_stage(f, "ir")>
    [shapes]   <expected explain_stage(f, "shapes")>
    [alloc]    <expected explain_stage(f, "alloc")>
    [pyx]      <expected explain_stage(f, "pyx")>

Each section starts on its own line; a case checks only the sections it has, so a case can
leave out a stage (the .pyx of a generator, say, while that emitter is changing), and may
have one for any other stage `explain_stage` knows (the LLVM backend's). Lines starting with
`--` before the first case are comments.

Sources are compiled with the file name `<golden:NAME>` and their lines count from the
`[case]` line (line 1 is the line after it), so nothing depends on where the repository lives
and the expected text does not move when other cases change. Any absolute path that still
shows up (the repository, the temp dir, the home dir) is replaced by a placeholder.

To regenerate after an intended change (the .pyx emitter is the usual reason), run

    JUSTJIT_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_stages.py

and read the diff before committing it. A case with no section at all gets every stage but
`pyx`; to start checking a stage of a case, add its empty section header and regenerate.
"""

from __future__ import annotations

import linecache
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from justjit.pipeline import STAGES, explain_stage

GOLDEN_DIR = Path(__file__).parent / "golden" / "stages"
UPDATE = os.environ.get("JUSTJIT_UPDATE_GOLDEN", "").strip() not in ("", "0")
# The stages of the Cython path; a case may also have a section for any other stage that
# explain_stage knows (the LLVM backend's, say).
CYTHON_PATH = ("cfg", "ir", "shapes", "alloc", "pyx")
DEFAULT_SECTIONS = ("cfg", "ir", "shapes", "alloc")
_HEADER = re.compile(r"^\[case ([A-Za-z0-9_]+)\]\s*$")
_SECTION = re.compile(r"^\[(" + "|".join(map(re.escape, STAGES)) + r")\]\s*$")


@dataclass
class Case:
    name: str
    path: Path
    source: str
    expected: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The .test format


def parse_test_file(path: Path) -> tuple[str, list[Case]]:
    """(preamble, cases) of a .test file; sections keep the order they have in the file."""
    preamble: list[str] = []
    cases: list[Case] = []
    current: list[str] = preamble
    case = None
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
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
            if section in case.expected:
                raise ValueError(f"{path.name} [case {case.name}]: two [{section}] sections")
            continue
        current.append(line)
    if case is not None:
        _close(case, section, current)
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"{path.name}: case names used twice: {sorted(duplicates)}")
    return _text(preamble), cases


def _close(case: Case, section, lines) -> None:
    if section == "source":
        case.source = _text(lines)
    else:
        case.expected[section] = _text(lines)


def _text(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines) + "\n" if lines else ""


def write_test_file(path: Path, preamble: str, cases: list[Case]) -> None:
    parts = [preamble.rstrip("\n") + "\n"] if preamble.strip() else []
    for case in cases:
        text = f"[case {case.name}]\n{case.source}"
        for section, expected in case.expected.items():
            text += f"[{section}]\n{expected}"
        parts.append(text)
    path.write_text("\n".join(parts), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Running a case


def load_function(case: Case):
    filename = f"<golden:{case.name}>"
    linecache.cache[filename] = (len(case.source), None, case.source.splitlines(True), filename)
    namespace: dict = {"__name__": "golden"}
    exec(compile(case.source, filename, "exec"), namespace)
    return namespace["f"]


def run_case(case: Case, sections) -> dict[str, str]:
    """The actual text of the given stages for a case."""
    func = load_function(case)
    return {s: normalize(explain_stage(func, s)) for s in sections}


def _machine_paths() -> list[tuple[str, str]]:
    repo = str(Path(__file__).resolve().parents[1])
    paths = [(repo, "<repo>"), (os.path.realpath(tempfile.gettempdir()), "<tmp>"),
             (tempfile.gettempdir(), "<tmp>"), (os.path.expanduser("~"), "<home>")]
    # Longest first, so that a path inside another is replaced by its own placeholder.
    return sorted({p for p in paths if len(p[0]) > 1}, key=lambda p: -len(p[0]))


_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


def normalize(text: str) -> str:
    """No trailing blanks, no machine paths, no object addresses."""
    for path, placeholder in _machine_paths():
        text = text.replace(path, placeholder)
    text = _ADDRESS.sub("at 0x...", text)
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines()) + "\n"


def _all_cases():
    for path in sorted(GOLDEN_DIR.glob("*.test")):
        for case in parse_test_file(path)[1]:
            yield pytest.param(case, id=f"{path.stem}::{case.name}")


@pytest.mark.parametrize("case", list(_all_cases()))
def test_golden(case: Case):
    sections = list(case.expected) or list(DEFAULT_SECTIONS)
    actual = run_case(case, sections)
    if UPDATE:
        # Re-read the file: earlier cases of this run may have rewritten it.
        preamble, cases = parse_test_file(case.path)
        for c in cases:
            if c.name == case.name:
                c.expected = {s: actual[s] for s in sections}
        write_test_file(case.path, preamble, cases)
        return
    for section in sections:
        assert actual[section] == case.expected[section], (
            f"{case.path.name} [case {case.name}] [{section}] differs "
            f"(JUSTJIT_UPDATE_GOLDEN=1 regenerates it)\n"
            f"--- actual ---\n{actual[section]}")


# --------------------------------------------------------------------------------------------
# The runner itself


def test_every_stage_is_covered():
    """Each stage of the Cython path has a golden somewhere."""
    seen: set[str] = set()
    for path in GOLDEN_DIR.glob("*.test"):
        for case in parse_test_file(path)[1]:
            seen.update(case.expected)
    assert set(CYTHON_PATH) <= seen


def test_parser_round_trip(tmp_path):
    text = ("-- comment\n\n[case a]\ndef f():\n    return 1\n[shapes]\nx\n\n\ny\n[cfg]\nz\n\n"
            "[case b]\ndef f():\n    pass\n")
    path = tmp_path / "t.test"
    path.write_text(text)
    preamble, cases = parse_test_file(path)
    assert preamble == "-- comment\n"
    assert [c.name for c in cases] == ["a", "b"]
    assert cases[0].source == "def f():\n    return 1\n"
    assert cases[0].expected == {"shapes": "x\n\n\ny\n", "cfg": "z\n"}
    assert list(cases[0].expected) == ["shapes", "cfg"]
    assert cases[1].expected == {}
    write_test_file(path, preamble, cases)
    assert path.read_text() == text
    assert parse_test_file(path)[1][0].expected == cases[0].expected


def test_parser_rejects_duplicates(tmp_path):
    path = tmp_path / "t.test"
    path.write_text("[case a]\ndef f(): pass\n[ir]\nx\n[ir]\ny\n")
    with pytest.raises(ValueError, match="two"):
        parse_test_file(path)
    path.write_text("[case a]\ndef f(): pass\n[case a]\ndef f(): pass\n")
    with pytest.raises(ValueError, match="twice"):
        parse_test_file(path)


def test_normalize_hides_the_machine():
    repo = str(Path(__file__).resolve().parents[1])
    text = f"# from {repo}/x.py:1  \n<object at 0x7f00aa>\n"
    assert normalize(text) == "# from <repo>/x.py:1\n<object at 0x...>\n"
