"""The one progress display of every multi-run command (run, compare, sweep, search).

On a terminal: a rich bar per task (what it is, the bar, a note, elapsed time) on stderr. Not on a
terminal: one line on stderr per :meth:`Task.log` (logs and CI read these). Quiet: nothing.

    with Progress.for_stderr(quiet=args.quiet) as progress:
        task = progress.task("exponential · seed 1", total=86400)
        sim.run(..., progress=task.sim_time)     # bar: simulated hours done
        task.log("ran exponential seed 1: 1,000 requests")
"""

from __future__ import annotations

import sys
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

__all__ = ["Progress", "Style", "Task"]

#: "bar": rich bars (a terminal); "lines": a line per logged event; "quiet": nothing
Style = Literal["bar", "lines", "quiet"]


class Task:
    """One thing being done: a bar (``update``) or lines (``log``), whichever the display shows."""

    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress = progress
        self._id = task_id

    def update(self, completed: float, note: str = "") -> None:
        """Move the bar to ``completed`` of its total; ``note`` shows beside it."""
        bars = self._progress.bars
        if bars is not None:
            bars.update(self._id, completed=completed, note=note)

    def sim_time(self, done: float, total: float) -> None:
        """``sim.run``'s progress callback: simulated seconds done of ``total``."""
        self.update(done, f"{done / 3600:.1f} h / {total / 3600:.1f} h simulated")

    def log(self, text: str) -> None:
        """A line on stderr — only when there is no bar to show it (not a terminal)."""
        self._progress.log(text)


class Progress:
    """A progress display (a context manager); see the module docstring."""

    def __init__(self, style: Style) -> None:
        self.style: Style = style
        self.bars: RichProgress | None = None

    @classmethod
    def for_stderr(cls, *, quiet: bool = False) -> Progress:
        """Quiet if asked, bars when stderr is a terminal, lines otherwise."""
        return cls("quiet" if quiet else "bar" if sys.stderr.isatty() else "lines")

    def __enter__(self) -> Progress:
        if self.style == "bar":
            self.bars = RichProgress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(), console=Console(stderr=True),
            )
            self.bars.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)
            self.bars = None

    def task(self, label: str, total: float | None) -> Task:
        """A new task: a bar of ``total`` steps on a terminal (``None``: no known end)."""
        task_id = None if self.bars is None else self.bars.add_task(label, total=total, note="")
        return Task(self, task_id)

    def log(self, text: str) -> None:
        """A line on stderr when not on a terminal (and not quiet)."""
        if self.style == "lines":
            print(text, file=sys.stderr)
