"""Rich progress bars behind the library's `Progress` protocol."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress as RichProgress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from scones.cli._common import err


class Bar:
    """A `scones.progress.Progress` drawn as Rich bars on stderr, one per phase."""

    def __init__(self, rich: RichProgress) -> None:
        self._rich = rich
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None = None) -> None:
        if self._task is not None:
            task = self._rich.tasks[self._task]
            self._rich.update(self._task, total=task.completed or 1, completed=task.completed or 1)
        self._task = self._rich.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._rich.advance(self._task, n)

    def log(self, message: str) -> None:
        self._rich.console.print(message, markup=False, highlight=False)


@contextmanager
def progress_bar() -> Iterator[Bar]:
    """`with progress_bar() as bar: library_call(..., progress=bar)`."""
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=err, transient=False) as rich:
        yield Bar(rich)
