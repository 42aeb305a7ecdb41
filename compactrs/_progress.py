"""Progress reporting: a rich progress bar on stderr for the CLI, silence for library callers."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


class Progress:
    """The interface long loops report to; this base class ignores everything (library default)."""

    def start(self, key: str, description: str, total: int | None) -> None: ...

    def advance(self, key: str, steps: int = 1, **fields) -> None: ...

    def update(self, key: str, description: str) -> None: ...

    def finish(self, key: str) -> None: ...

    def log(self, message: str) -> None: ...


class RichProgress(Progress):
    def __init__(self, progress):
        self._progress = progress
        self._tasks: dict[str, int] = {}

    def start(self, key: str, description: str, total: int | None) -> None:
        if key in self._tasks:
            self._progress.reset(self._tasks[key], total=total, description=description, visible=True)
        else:
            self._tasks[key] = self._progress.add_task(description, total=total)

    def advance(self, key: str, steps: int = 1, **fields) -> None:
        if key in self._tasks:
            self._progress.advance(self._tasks[key], steps)

    def update(self, key: str, description: str) -> None:
        if key in self._tasks:
            self._progress.update(self._tasks[key], description=description)

    def finish(self, key: str) -> None:
        if key in self._tasks:
            self._progress.update(self._tasks[key], visible=False)

    def log(self, message: str) -> None:
        self._progress.console.print(message, highlight=False)


class StderrNotes(Progress):
    """No bar, but ``log`` messages still reach the user on stderr (stdout may carry JSON)."""

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(enabled: bool = True, notes: bool = False) -> Iterator[Progress]:
    """A progress reporter drawing on stderr when ``enabled``; else silent, or only printing ``log`` lines if ``notes``."""
    if not enabled:
        yield StderrNotes() if notes else Progress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as _RichProgress

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with _RichProgress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        yield RichProgress(bar)
