"""Simulation jobs on an executor: the (policy, seed) runs of ``compare``, ``run --seeds`` and
``search``, under :func:`breakerlab.judge.run_and_judge`.

    traces = run_jobs([SimJob("exponential", scenario, "exponential", seed, "fast") for seed in (1, 2)],
                      executor=make_executor(jobs=2), progress=display)

A worker runs ``sim.run`` and sends back the :class:`~sim.trace.Trace` (numpy columns and a meta
dict: cheap to pickle; the scenario stays behind). Results are collected by job index, never by
completion order, so the traces — and everything computed from them — are the same whatever the
executor or the number of jobs. Each trace's chunks go to one spool file of the batch as it
arrives (:meth:`~sim.trace.Trace.spool`), so this process holds one trace's bytes at a time, not
every job's. A job that raises comes back as a :class:`JobFailure`;
:func:`run_jobs` then stops the others and raises one :class:`JobError` naming the job.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sim
from sim.scenario import Scenario
from sim.trace import BlobSpool, Trace

from .errors import ParameterError
from .executors import Executor, SerialExecutor
from .progress import JobBoard, Progress

__all__ = ["JobError", "JobFailure", "SimJob", "frozen_heap", "run_jobs", "simulate"]


@dataclass(frozen=True)
class SimJob:
    """One simulation; picklable, sent to a worker."""

    label: str
    scenario: Scenario
    policy: Any
    seed: int
    mode: str
    #: this job's place in the batch (set by :func:`run_jobs`)
    index: int = 0
    #: where the worker puts ``(index, sim seconds done, duration)`` (the executor's channel), or None
    channel: Any = None
    #: the router face (``sim.run``'s ``face``)
    face: str = "sync"

    @property
    def name(self) -> str:
        return f"{self.label} · seed {self.seed}"


@dataclass(frozen=True)
class JobFailure:
    """What a job that raised sends back: the exception (as the worker saw it, if it pickles)."""

    error: BaseException


class JobError(ParameterError):
    """A job failed: one line naming it (``exponential · seed 3: ValueError: ...``); ``error`` is
    the worker's exception."""

    def __init__(self, job: SimJob, error: BaseException) -> None:
        self.error = error
        msg = " ".join(str(error).split()) or type(error).__name__
        super().__init__("", f"{job.name}: {type(error).__name__}: {msg}")


def _picklable(e: BaseException) -> BaseException:
    """``e`` if it survives the trip back from a worker, else a RuntimeError saying the same."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {' '.join(str(e).split())}")


def simulate(job: SimJob) -> Trace | JobFailure:
    """Run one job (in a worker): its trace, or the :class:`JobFailure` — never raises an Exception."""
    report = None
    if job.channel is not None:
        channel, index = job.channel, job.index

        def report(done: float, total: float) -> None:
            channel.put((index, done, total))

    try:
        with frozen_heap():
            return sim.run(job.scenario, job.policy, mode=job.mode, seed=job.seed, progress=report,
                           face=job.face)
    except Exception as e:
        return JobFailure(_picklable(e))


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While a job runs, the objects that existed before it (the imports, the scenario, ~100k) sit
    in the collector's permanent generation, so the run's full collections do not scan them again
    and again: at 1.7M requests, 25 full collections took 1.6 s (~4 % of the run), 0.2 s frozen.
    Only the collector's work changes, never what the run does. Not when the process already froze
    objects of its own (a pre-fork server, say): unfreezing would give those back too."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()  # back to the oldest generation: garbage among them is collected as before


@contextlib.contextmanager
def _live(executor: Executor, board: JobBoard | None) -> Iterator[Any]:
    """The executor's channel with a thread moving the board's per-job bars from it; None when
    the board is not shown (quiet) or the executor has no channel."""
    if board is None:
        yield None
        return
    with executor.channel() as channel:
        if channel is None:
            yield None
            return

        def drain() -> None:
            while (msg := channel.get()) is not None:
                board.advance(*msg)

        reader = threading.Thread(target=drain, name="breakerlab-progress", daemon=True)
        reader.start()
        try:
            yield channel
        finally:
            channel.put(None)
            reader.join(timeout=5)


def run_jobs(jobs: Sequence[SimJob], executor: Executor | None = None, progress: Progress | None = None,
             ) -> list[Trace]:
    """Run ``jobs`` on ``executor`` (default: in this process, one after another) and return their
    traces in job order. ``progress``: the display the jobs' board goes on. Raises
    :class:`JobError` for the first job (in completion order) that fails."""
    ex: Executor = executor or SerialExecutor()
    board = progress.jobs([j.name for j in jobs]) if progress is not None else None
    traces: list[Trace | None] = [None] * len(jobs)
    spool = BlobSpool()
    # running jobs report their simulated time whenever the board is shown, as bars or as lines:
    # the ETA the lines print counts the work of the jobs still running, not only the finished
    # ones' (with 2 workers and 4 equal jobs, that said ~12 min left when ~4 were)
    shown = progress is not None and progress.style != "quiet"
    with _live(ex, board if shown else None) as channel:
        items = [replace(j, index=i, channel=channel) for i, j in enumerate(jobs)]
        gen = ex.map_unordered(simulate, items)
        with contextlib.closing(gen):  # type: ignore[type-var]
            for i, out in gen:
                if isinstance(out, JobFailure):
                    raise JobError(jobs[i], out.error) from out.error
                traces[i] = out.spool(spool)
                if board is not None:
                    board.finish(i, f"{out.n_requests:,} requests")
    return [t for t in traces if t is not None]
