"""The one progress display of every multi-run command (run, compare, sweep, search).

On a terminal: a rich bar per task (what it is, the bar, a note, elapsed time) on stderr. Not on a
terminal: one line on stderr per :meth:`Task.log` (logs and CI read these). Quiet: nothing.

    with Progress.for_stderr(quiet=args.quiet) as progress:
        task = progress.task("exponential · seed 1", total=86400)
        sim.run(..., progress=task.sim_time)     # bar: simulated hours done
        task.log("ran exponential seed 1: 1,000 requests")

Many jobs at once (a process pool): :meth:`Progress.jobs` gives a :class:`JobBoard` — one overall
bar (jobs done of all, with a wall-clock ETA from the work done so far, running jobs' simulated
time included) and a bar per running job while it runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from reports.format import fmt_duration

__all__ = ["JobBoard", "Progress", "Style", "Task"]

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

    def remove(self) -> None:
        """Take the bar off the display (a finished job's)."""
        bars = self._progress.bars
        if bars is not None:
            bars.remove_task(self._id)

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
                TimeElapsedColumn(), console=Console(stderr=True), refresh_per_second=4,
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

    def jobs(self, names: Sequence[str], title: str = "runs") -> JobBoard:
        """A board for ``names`` (one per job, in job order) run at once; see :class:`JobBoard`."""
        return JobBoard(self, names, title)


class JobBoard:
    """Progress of many jobs run at once: the overall bar (jobs done, elapsed, ETA) and a bar per
    running job. Thread-safe: a thread reading workers' messages calls :meth:`advance` while the
    caller calls :meth:`finish`."""

    def __init__(self, progress: Progress, names: Sequence[str], title: str) -> None:
        self._progress = progress
        self._names = list(names)
        self._title = title
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        #: per job: the fraction of it done (1.0 when finished)
        self._done = [0.0] * len(self._names)
        self._finished = 0
        self._running: dict[int, Task] = {}
        self._overall = progress.task(title, total=len(self._names))
        self._overall.update(0, self._note())

    def eta(self) -> float | None:
        """Wall-clock seconds left, from the work done so far (None before any)."""
        f = sum(self._done) / max(len(self._done), 1)
        if f <= 0:
            return None
        return (time.perf_counter() - self._t0) * (1 - f) / f

    def _note(self) -> str:
        eta = self.eta()
        left = "" if eta is None or self._finished == len(self._names) else f" · ETA {fmt_duration(eta)}"
        return f"{self._finished}/{len(self._names)} {self._title}{left}"

    def advance(self, i: int, done: float, total: float) -> None:
        """Job ``i`` has simulated ``done`` of ``total`` seconds (its bar appears on the first call)."""
        with self._lock:
            if self._done[i] >= 1.0:
                return  # a late message from a finished job
            task = self._running.get(i)
            if task is None:
                task = self._running[i] = self._progress.task(self._names[i], total=total)
            self._done[i] = min(done / total, 0.999) if total > 0 else 0.0
            task.sim_time(done, total)
            self._overall.update(sum(self._done), self._note())

    def finish(self, i: int, note: str = "") -> None:
        """Job ``i`` is done: its bar goes, the overall bar moves, a line is logged (with ``note``)."""
        with self._lock:
            task = self._running.pop(i, None)
            if task is not None:
                task.remove()
            self._done[i] = 1.0
            self._finished += 1
            self._overall.update(sum(self._done), self._note())
            n = len(self._names)
            self._progress.log(f"[{self._finished}/{n}] {self._names[i]}" + (f": {note}" if note else "")
                               + ("" if self._finished == n or self.eta() is None else
                                  f" (ETA {fmt_duration(self.eta())})"))
