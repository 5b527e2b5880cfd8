"""The table of figures, each beside its anchor from the same run, and BENCHMARKS.md.

The harness rewrites only what lies between its two markers in BENCHMARKS.md;
notes, profiles and the before/after log of optimisations around them stay.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

def _markers(block: str) -> tuple[str, str]:
    return (f"<!-- bench:{block}:begin (written by `python -m tests.bench`; edit outside the markers) -->",
            f"<!-- bench:{block}:end -->")


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    anchor: str = ""
    anchor_value: float | None = None
    anchor_unit: str = ""
    # What the figure must reach, for phase 2:
    #   ("%", 0.5)       the ratio is at least 50%        ("x", 3)     the ratio is at least 3 times
    #   ("%max", 0.02)   the ratio is at most 2%          ("growth", 0.1)  value/anchor - 1 is under 10%
    #   ("<", 50)        the value is under 50 (its unit)  None         no target: a figure for orientation
    target: tuple[str, float] | None = None
    note: str = ""
    style: str = ""  # how to show the ratio when there is no target: "%", "x" or "growth"

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor_value:
            return None
        return self.value / self.anchor_value

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        kind, bound = self.target
        if kind == "<":
            return self.value < bound
        if self.ratio is None:
            return None
        return {"%": self.ratio >= bound, "x": self.ratio >= bound, "%max": self.ratio <= bound,
                "growth": self.ratio - 1 < bound}[kind]

    def cells(self) -> list[str]:
        kind, bound = self.target or (self.style or "%", 0.0)
        if self.ratio is None:
            ratio = "—"
        elif kind == "x":
            ratio = f"{self.ratio:.2f}×"
        elif kind == "growth":
            ratio = f"{(self.ratio - 1) * 100:+.1f}%"
        else:
            ratio = f"{self.ratio * 100:.0f}%"
        if self.target is None:
            target = "—"
        else:
            target = {"%": f"≥ {bound * 100:g}% of anchor", "x": f"≥ {bound:g}× anchor",
                      "%max": f"≤ {bound * 100:g}% of anchor", "growth": f"growth < {bound * 100:g}%",
                      "<": f"< {bound:g} {self.unit}"}[kind]
        met = {True: "yes", False: "**no**", None: "—"}[self.met]
        return [self.figure, _num(self.value, self.unit), self.anchor or "none",
                _num(self.anchor_value, self.anchor_unit), ratio, target, met, self.note]


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}".strip()


@dataclass
class Run:
    command: str
    mode: str
    load_generator: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    load_before: str = field(default_factory=lambda: _loadavg())
    seconds: float = 0.0


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        kib = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {memory} RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def commit() -> str:
    """The checked-out commit (read-only: `git rev-parse --short HEAD`)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def render(run: Run) -> str:
    head = ["figure", "value", "anchor (same run)", "anchor value", "ratio", "target", "met?", "how"]
    lines = [
        f"Run of {run.started:%Y-%m-%d %H:%M} UTC, {run.mode}, {run.seconds / 60:.1f} min.",
        "",
        f"- machine: {machine()}; load average before the run: {run.load_before}, after: {_loadavg()}",
        f"- commit: {commit()}",
        f"- command: `{run.command}`",
        f"- HTTP load: {run.load_generator}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in run.rows),
    ]
    if run.notes:
        lines += ["", *(f"- {note}" for note in run.notes)]
    return "\n".join(lines)


def write(path: Path, run: Run, block: str = "table") -> None:
    """Put this run's table between the `block` markers of `path`, keeping everything else in the file."""
    begin, end = _markers(block)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + f"{begin}\n{render(run)}\n{end}" + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n{begin}\n{render(run)}\n{end}\n"
    path.write_text(text)
