"""Progress of long commands: a rich bar on a terminal, silence when piped, and what Ctrl-C says.

Usage in a command (``simulate``, ``verify``, ``repair``, ``ingest``)::

    with progress(total=len(slots), what="slots settled") as advance:
        for slot in slots:
            settle(slot)
            advance(1)

``advance(n)`` adds ``n`` completed units. ``total=None`` counts without an end (``ingest``).
The bar is drawn on stderr only when stderr is a terminal; piped or captured output stays clean.
Each open progress is recorded, so when Ctrl-C ends the command the group's handler can say what
was completed (:func:`completed_summary`), e.g. ``12 of 96 slots settled``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class Tracker:
    """What one progress has completed so far: ``completed`` of ``total`` units of ``what``."""

    what: str
    total: int | None
    completed: int = 0

    def __str__(self) -> str:
        if self.total is None:
            return f"{self.completed} {self.what}"
        return f"{self.completed} of {self.total} {self.what}"


# open progresses, innermost last (a command may nest them: regions > slots)
_ACTIVE: list[Tracker] = []
# progresses that Ctrl-C ended, outermost first; read by the group's interrupt handler
_INTERRUPTED: list[Tracker] = []


def reset() -> None:
    """Forget interrupted progresses (the group calls it as each command starts)."""
    _INTERRUPTED.clear()


def completed_summary() -> str | None:
    """What the open or interrupted progresses completed, outermost first; ``None`` if none."""
    trackers = _INTERRUPTED + _ACTIVE
    if not trackers:
        return None
    return ", ".join(str(t) for t in trackers)


@contextmanager
def progress(
    total: int | None, what: str, *, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """Track ``total`` units of ``what`` (e.g. ``"slots settled"``); yield ``advance(n)``.

    ``console`` defaults to one on stderr; a bar is drawn only if it is a terminal.
    """
    if total is not None and total < 0:
        raise ValueError(f"progress total must be >= 0 or None, got {total}")
    tracker = Tracker(what, total)
    console = console or Console(stderr=True)
    _ACTIVE.append(tracker)
    try:
        if not console.is_terminal:

            def count(n: int = 1) -> None:
                tracker.completed += n

            yield count
            return
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if total is not None:
            columns += [TaskProgressColumn(), TimeRemainingColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(what, total=total)

            def advance(n: int = 1) -> None:
                tracker.completed += n
                bar.advance(task, n)

            yield advance
    except KeyboardInterrupt:
        # the inner progress exits first: inserting at 0 keeps the outermost first
        _INTERRUPTED.insert(0, tracker)
        raise
    finally:
        _ACTIVE.remove(tracker)
