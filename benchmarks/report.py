"""The benchmark report: the Markdown tables, the PNG chart (matplotlib, optional) and the
JSON dump, from the rows that ``benchmarks/run.py`` measured.

A ratio is CPython's time over the column's time (the best or the median of the timed
calls, on the CPU or the wall clock, as the run chose: ``Cell.steady``), from the same
run. A
JustJIT column meets a row's targets when its ratio reaches the fixed target (if any) and,
where Numba compiled the kernel and matched CPython, Numba's ratio divided by
``NUMBA_SLACK`` ("at least Numba's speed, or within 1.25x of it").
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from benchmarks.run import Row

REPO = Path(__file__).resolve().parents[1]

COLUMN_TITLES = {
    "cpython": "CPython",
    "cython": "JustJIT cython",
    "llvm": "JustJIT llvm",
    "numba": "Numba njit",
}
JIT_COLUMNS = ("cython", "llvm")
NUMBA_SLACK = 1.25  # "at least Numba's speed, or within 1.25x of it"


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def ratio(row: Row, key: str) -> float | None:
    base = row.cells.get("cpython")
    cell = row.cells.get(key)
    if not base or not cell or base.status != "ok" or cell.status != "ok":
        return None
    return base.steady / cell.steady


@dataclass
class Target:
    text: str  # e.g. ">= 40x" or ">= Numba/1.25 (38x)"
    needed: float  # the ratio over CPython needed


def targets_for(row: Row) -> list[Target]:
    out = []
    if row.bench.target is not None:
        out.append(Target(f"≥ {row.bench.target:g}x", row.bench.target))
    numba_ratio = ratio(row, "numba")
    if numba_ratio is not None:
        needed = numba_ratio / NUMBA_SLACK
        out.append(Target(f"≥ Numba/{NUMBA_SLACK:g} ({_fmt_ratio(needed)})", needed))
    return out


def verdict(row: Row, key: str) -> tuple[str, list[tuple[Target, bool | None]]]:
    """('met' | 'missed' | 'none' | 'n/a', per-target outcomes) for one JustJIT column."""
    targets = targets_for(row)
    if not targets:
        return "none", []
    r = ratio(row, key)
    if r is None:
        return "n/a", [(t, None) for t in targets]
    outcomes = [(t, r >= t.needed) for t in targets]
    return ("met" if all(ok for _, ok in outcomes) else "missed"), outcomes


class Notes:
    """Footnotes: the reasons behind n/a, mismatches and errors, numbered once each."""

    def __init__(self):
        self.items: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def cell_text(row: Row, key: str, notes: Notes) -> str:
    cell = row.cells.get(key)
    if cell is None:
        return "-"
    if cell.status == "ok":
        if key == "cpython":
            return _fmt_time(cell.steady)
        r = ratio(row, key)
        text = f"{_fmt_ratio(r)} ({_fmt_time(cell.steady)})"
        if key in JIT_COLUMNS:
            v, outcomes = verdict(row, key)
            if v == "met":
                text += " — met"
            elif v == "missed":
                text += " — **missed**"
        return text
    if cell.status == "mismatch":
        return f"**MISMATCH** {notes.ref(f'{COLUMN_TITLES[key]}, {row.bench.title}: result differs from CPython: {cell.reason}')}"
    if cell.status == "error":
        return f"**ERROR** {notes.ref(f'{COLUMN_TITLES[key]}, {row.bench.title}: {cell.reason}')}"
    if cell.status == "skipped":
        return f"skipped {notes.ref(cell.reason)}"
    if cell.reason.startswith("numpy is not installed"):
        return f"n/a {notes.ref(cell.reason)}"  # one note for every column
    return f"n/a {notes.ref(f'{COLUMN_TITLES[key]}: {cell.reason}' if cell.reason else COLUMN_TITLES[key])}"


def build_report(rows, columns, *, command: str, started: _dt.datetime, elapsed: float, quick: bool,
                 repeats: int, cache_note: str, png_note: str) -> str:
    notes = Notes()
    col_keys = [c.key for c in columns]
    stat = "best (minimum)" if _statistic(rows) == "best" else "median"
    clock = _clock(rows)
    clock_text = ("this process's CPU time (time.process_time): the kernels are single-threaded, and "
                  "on this shared machine the wall clock also counts the time other processes hold "
                  "the core" if clock == "cpu" else "the wall clock (time.perf_counter)")
    lines = [
        "# JustJIT benchmark report",
        "",
        f"- Command: `{command}` (interpreter `{sys.executable}`)",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M:%S %Z')} (the run took {elapsed:.0f} s)",
        f"- Mode: {'--quick (small sizes)' if quick else 'full sizes'}; "
        f"each figure is the **{stat} of {repeats} timed calls** after a first call "
        "(which compiles), the columns' calls interleaved round by round; every ratio is "
        "CPython's figure / the column's figure, from this same run.",
        f"- Clock: {clock_text}. The raw table below has the wall-clock times too.",
        f"- Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores{_load()}; "
        + ", ".join(_versions(columns)),
        f"- {_git_state()}",
        f"- JustJIT: `jit(fn, backend=..., fallback=False)` on every function of the kernel module; {cache_note}",
    ]
    for c in columns:
        if c.warmup is not None and not c.unavailable and c.key != "cpython":
            what = "import" if c.key == "numba" else "first compile in the process (a 2-line probe; Cython's import and warm-up)"
            lines.append(f"- {c.title} one-off {what}: {_fmt_time(c.warmup)} (not in the table)")
    lines += [
        "- Result check: before timing, each column's result must equal CPython's in value AND type "
        "(deeply; numpy arrays in dtype and shape). A difference is shown as **MISMATCH** and not timed.",
        "",
        "## Speed-up over CPython (with targets)",
        "",
    ]
    header = ["kernel", "size", *[COLUMN_TITLES[k] for k in col_keys], "target (JustJIT)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---", *(["---:"] * len(col_keys)), "---"]) + "|")
    for row in rows:
        tgt = " and ".join(t.text for t in targets_for(row)) or "none set"
        cells = [cell_text(row, k, notes) for k in col_keys]
        lines.append(f"| {row.bench.title} | {row.bench.size(row.params)} | " + " | ".join(cells) + f" | {tgt} |")
    lines.append("")
    lines.append(f"Cells: speed-up over CPython (time: the {stat} of the timed calls). \"met\"/\"missed\": every target in the last "
                 f"column, for that backend. Numba targets apply where Numba compiled the kernel and matched "
                 f"CPython: JustJIT must be at least Numba's speed or within {NUMBA_SLACK:g}x of it.")

    # -- targets, one line each
    jit_cols = [k for k in col_keys if k in JIT_COLUMNS]
    if jit_cols:
        lines += ["", "## Targets", ""]
        lines.append("| kernel | target | " + " | ".join(COLUMN_TITLES[k] for k in jit_cols) + " |")
        lines.append("|---|---|" + "|".join(["---"] * len(jit_cols)) + "|")
        totals = {k: [0, 0, 0] for k in jit_cols}  # met, missed, n/a
        for row in rows:
            for t in targets_for(row):
                outs = []
                for k in jit_cols:
                    r = ratio(row, k)
                    if r is None:
                        cell = row.cells.get(k)
                        status = cell.status if cell else "-"
                        outs.append(status.upper() if status in ("mismatch", "error") else status)
                        totals[k][2] += 1
                    elif r >= t.needed:
                        outs.append(f"met ({_fmt_ratio(r)})")
                        totals[k][0] += 1
                    else:
                        outs.append(f"**missed** ({_fmt_ratio(r)}, needs {_fmt_ratio(t.needed)})")
                        totals[k][1] += 1
                lines.append(f"| {row.bench.title} | {t.text} | " + " | ".join(outs) + " |")
        lines.append("")
        for k in jit_cols:
            met, missed, na = totals[k]
            lines.append(f"- {COLUMN_TITLES[k]}: **{met} met, {missed} missed**, {na} not measurable "
                         "(n/a, mismatch or error).")

    # -- compile time
    compilers = [k for k in col_keys if k != "cpython"]
    if compilers:
        lines += ["", "## Compile time", "",
                  f"First call minus the {stat} steady call, both wall clock (includes compiling every function the "
                  "kernel reaches; for JustJIT the dispatcher's own compile-seconds are in brackets).", ""]
        lines.append("| kernel | " + " | ".join(COLUMN_TITLES[k] for k in compilers) + " |")
        lines.append("|---|" + "|".join(["---:"] * len(compilers)) + "|")
        for row in rows:
            outs = []
            for k in compilers:
                cell = row.cells.get(k)
                if cell is None or cell.compile is None:
                    outs.append("-")
                    continue
                text = _fmt_time(cell.compile)
                if k in JIT_COLUMNS and cell.backend_compile is not None:
                    if cell.backend_compile == 0:
                        text += " [none: already compiled]"
                    else:
                        text += f" [{_fmt_time(cell.backend_compile)}]"
                outs.append(text)
            lines.append(f"| {row.bench.title} | " + " | ".join(outs) + " |")

    # -- raw times
    lines += ["", "## Raw times", "",
              "CPU best / wall best / wall median / wall first call (the spread between wall best "
              "and median shows the machine's noise).", ""]
    lines.append("| kernel | " + " | ".join(COLUMN_TITLES[k] for k in col_keys) + " |")
    lines.append("|---|" + "|".join(["---:"] * len(col_keys)) + "|")
    for row in rows:
        outs = []
        for k in col_keys:
            cell = row.cells.get(k)
            if cell is None or cell.status != "ok":
                outs.append(cell.status if cell else "-")
            else:
                outs.append(f"{_fmt_time(cell.cpu_best)} / {_fmt_time(cell.best)} / {_fmt_time(cell.median)} / "
                            f"{_fmt_time(cell.first)}")
        lines.append(f"| {row.bench.title} | " + " | ".join(outs) + " |")

    # -- notes
    if notes.items:
        lines += ["", "## Notes", ""]
        lines += [f"{i}. {text}" for i, text in enumerate(notes.items, 1)]
    row_notes = [f"- {r.bench.title}: {r.bench.note}" for r in rows if r.bench.note]
    if row_notes:
        lines += ["", "Kernel notes:", ""] + row_notes
    lines += ["", png_note, ""]
    return "\n".join(lines)


def _clock(rows) -> str:
    for row in rows:
        for cell in row.cells.values():
            return type(cell).clock
    return "cpu"


def _statistic(rows) -> str:
    for row in rows:
        for cell in row.cells.values():
            return type(cell).statistic
    return "best"


def _load() -> str:
    """The 1-minute load average now (the machine may be shared: the columns' timed calls
    are interleaved so that load falls on all of them alike)."""
    try:
        return f" (load average {os.getloadavg()[0]:.1f} at the end of the run)"
    except (AttributeError, OSError):
        return ""


def _versions(columns) -> list[str]:
    out = [f"CPython {platform.python_version()}"]
    for mod in ("Cython", "llvmlite", "numpy"):
        try:
            m = importlib.import_module(mod)
            out.append(f"{mod} {m.__version__}")
        except Exception:  # noqa: BLE001
            out.append(f"{mod} not installed")
    for c in columns:
        if c.key == "numba":
            out.append(f"numba {c.version}" if not c.unavailable else "numba not installed")
    return out


def _git_state() -> str:
    """The commit measured (read-only git queries)."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return "Work tree: unknown (git not available)"
    if not head:
        return "Work tree: unknown (not a git checkout)"
    return f"Work tree: commit {head}" + (" with uncommitted changes" if dirty else "")


def write_png(rows, columns, path: Path, title: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("No PNG chart: matplotlib is not installed (`pip install matplotlib` or "
                "`pip install -e '.[bench]'`).")
    keys = [c.key for c in columns if c.key != "cpython"]
    colours = {"cython": "#1f77b4", "llvm": "#ff7f0e", "numba": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(rows) + 2), 5.5))
    width = 0.8 / max(len(keys), 1)
    ymin = 0.1
    labelled = set()
    for i, key in enumerate(keys):
        for j, row in enumerate(rows):
            x = j + (i - (len(keys) - 1) / 2) * width
            r = ratio(row, key)
            if r is not None:
                ax.bar(x, r, width, color=colours.get(key, "grey"))
                labelled.add(key)
            else:
                cell = row.cells.get(key)
                label = cell.status.upper() if cell and cell.status in ("mismatch", "error") else "n/a"
                ax.text(x, ymin * 1.15, label, rotation=90, ha="center", va="bottom", fontsize=7,
                        color="red" if label != "n/a" else "grey")
    for j, row in enumerate(rows):
        if row.bench.target is not None:
            ax.hlines(row.bench.target, j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylim(bottom=ymin)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r.bench.title for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("speed-up over CPython (log scale)")
    ax.set_title(title + "  (dashed: target)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colours.get(k, "grey"),
                             label=COLUMN_TITLES[k] + ("" if k in labelled else " (no bars: n/a)"))
                       for k in keys], fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"Chart: `{_rel(path)}` (speed-up over CPython, log scale; dashed lines are the fixed targets)."



def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def to_json(rows, columns, meta) -> dict:
    return {
        "meta": meta,
        "columns": {c.key: {"title": c.title, "version": c.version, "unavailable": c.unavailable,
                            "warmup_seconds": c.warmup} for c in columns},
        "rows": [
            {
                "kernel": r.bench.key, "title": r.bench.title, "size": r.bench.size(r.params),
                "targets": [{"text": t.text, "needed": t.needed} for t in targets_for(r)],
                "cells": {
                    k: {"status": c.status, "reason": c.reason, "first": c.first, "times": c.times,
                        "cpu_times": c.cpu_times, "median": c.median, "best": c.best, "steady": c.steady,
                        "compile": c.compile, "backend_compile": c.backend_compile,
                        "ratio": ratio(r, k)}
                    for k, c in r.cells.items()
                },
            }
            for r in rows
        ],
    }
