"""Progress on the terminal for long runs (replay, export): a bar, a count and a rate, on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        rate = task.completed / task.elapsed if task.elapsed else 0.0
        return Text(f"{rate:,.0f} {self.unit}/s")


@dataclass
class Meter:
    _progress: Progress | None
    _task: int

    def total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)  # type: ignore[arg-type]

    def advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)  # type: ignore[arg-type]


@contextmanager
def meter(description: str, unit: str, *, enabled: bool = True) -> Iterator[Meter]:
    """A progress bar with count and rate; silent when not enabled (or not a terminal)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield Meter(None, 0)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(unit), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield Meter(progress, progress.add_task(description, total=None))
