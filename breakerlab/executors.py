"""Where a sweep's runs execute: in this process, in a local process pool, or on a dask cluster.

Every executor has one method, :meth:`Executor.map_unordered`, which calls a module-level
function on each item and yields ``(index, result)`` as results come back — in completion
order, so the caller can store each result the moment it exists. The function must be
picklable (a module-level function) and should catch its own exceptions and return them as
data; an exception escaping it stops the iteration.

``serial``
    In-process, one run after another (``--jobs 1``; tests, benchmarks, debugging).
``local`` (the default)
    :class:`concurrent.futures.ProcessPoolExecutor` with every core (``os.cpu_count()``) unless
    ``jobs`` says otherwise. Workers start from a *forkserver* (``spawn`` where there is none), never by a
    bare ``fork`` of this process, so the parent's threads, greenlets and open files are not
    duplicated; the forkserver preloads the simulator once, so a worker costs a fork, not an
    import.
``dask``
    :class:`dask.distributed.Client` on a scheduler address (``--scheduler tcp://host:8786``), or,
    without one, a :class:`~dask.distributed.LocalCluster` of ``jobs`` single-threaded
    processes started here. The workers need ``breakerlab`` (same version) importable; results
    travel back to this process, which writes them, so workers need no shared filesystem.

Interrupting (Ctrl-C, SIGTERM via :func:`terminate_as_interrupt`) cancels the runs not yet
started and stops the local workers; results already yielded are the caller's to keep.

An executor is a context manager (``with make_executor(...) as ex:``) that closes it on the way out.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from .errors import ParameterError

__all__ = [
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "SerialExecutor",
    "make_executor",
    "terminate_as_interrupt",
]

#: modules the forkserver imports once, so each worker starts warm
PRELOAD = ("sim", "reports.metrics")


class ExecutorError(ParameterError):
    """The executor cannot be set up (scheduler unreachable, bad job count): names the
    parameter (``jobs``, ``scheduler``, ``kind``), or none when the pool itself fails."""


class _Closing:
    """``with executor:`` closes it on the way out."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]


class Executor(Protocol):
    name: str
    #: how many runs may execute at once
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``fn(item)`` for each item; yields ``(index into items, result)`` as they finish."""
        ...

    def describe(self) -> str: ...

    def channel(self) -> contextlib.AbstractContextManager[Any]:
        """A queue a running item can ``put`` progress messages on and this process can ``get``
        them from (while the block lasts), or None when the workers cannot reach this process."""
        ...

    def start(self) -> Any:
        """Get ready (start workers, connect); optional — the first map starts it."""
        ...

    def close(self) -> None:
        """Release workers / connections."""
        ...


class SerialExecutor(_Closing):
    """Run every item in this process, in order."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def describe(self) -> str:
        return "in-process (serial)"

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        yield queue.SimpleQueue()

    def start(self) -> SerialExecutor:
        return self

    def close(self) -> None:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a dead parent not yet reaped is a zombie
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _watch_parent(pid: int, every: float = 1.0) -> None:
    """Worker initializer: exit when the sweep's process is gone (killed with SIGKILL, say) —
    forkserver workers are not its children and would otherwise wait for work for ever."""

    def loop() -> None:
        while True:
            time.sleep(every)
            if not _alive(pid):
                os._exit(1)

    threading.Thread(target=loop, name="breakerlab-parent-watch", daemon=True).start()


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        with contextlib.suppress(Exception):
            ctx.set_forkserver_preload(list(PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


class LocalExecutor(_Closing):
    """A process pool on this machine: all cores unless ``jobs`` says otherwise.

    Starting forkserver workers takes a second or two (the forkserver imports the simulator);
    :meth:`start` does it in the background, so the CLI starts the pool before it loads the
    scenarios and plans the runs.
    """

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        _check_jobs(jobs)
        self.workers = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._used = False

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker(s)"

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        # a manager's queue proxy pickles, so it travels to the workers inside an item
        with _context().Manager() as manager:
            yield manager.Queue()

    def start(self) -> LocalExecutor:
        """Start the workers in the background: they import the simulator while the caller keeps
        planning (creating forkserver workers blocks until the forkserver has preloaded)."""
        if self._pool is None and self._starting is None:
            self._starting = threading.Thread(target=self._create, name="breakerlab-pool-start", daemon=True)
            self._starting.start()
        return self

    def _create(self) -> None:
        try:
            pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=_context(), initializer=_watch_parent, initargs=(os.getpid(),)
            )
            for _ in range(self.workers):
                pool.submit(os.getpid)  # returns once the workers exist
            self._pool = pool
        except BaseException as e:  # reported by _ready()
            self._start_error = e

    def _ready(self) -> ProcessPoolExecutor:
        if self._pool is None and self._starting is None:
            self.start()
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._start_error is not None:
            err, self._start_error = self._start_error, None
            raise ExecutorError("", f"cannot start the local process pool: {err}") from err
        assert self._pool is not None
        return self._pool

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not items:
            return
        pool = self._ready()
        self._used = True
        n = self.workers
        ok = False
        try:
            # at most 2 x workers items queued in the pool: an interrupted sweep stops quickly and
            # scenarios are pickled shortly before they run
            pending: dict[Future[Any], int] = {}
            todo = iter(enumerate(items))

            def fill() -> None:
                while len(pending) < 2 * n:
                    nxt = next(todo, None)
                    if nxt is None:
                        return
                    pending[pool.submit(fn, nxt[1])] = nxt[0]

            fill()
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=pending.__getitem__):
                    i = pending.pop(fut)
                    yield i, fut.result()
                fill()
            ok = True
        finally:
            if not ok:
                self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        """Shut the pool down; ``kill`` (or a pool that never got work, e.g. every run was
        stored already): drop queued runs and stop the running ones."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        self._start_error = None
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not kill and self._used:
            pool.shutdown(wait=True)
            return
        self._used = False
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)


class DaskExecutor(_Closing):
    """Runs on a dask.distributed cluster (``address``), or on a LocalCluster started here."""

    name = "dask"

    def __init__(
        self, address: str | None = None, jobs: int | None = None, *, client: Any = None, timeout: float = 20.0
    ) -> None:
        _check_jobs(jobs)
        self.address = address
        self.timeout = timeout
        self._client = client
        self._cluster: Any = None
        self._own_client = client is None
        self._n_workers = jobs
        self.workers = jobs or 0

    def describe(self) -> str:
        where = self.address or ("the given client" if not self._own_client else "a LocalCluster")
        return f"dask.distributed on {where}, {self.workers} worker thread(s)"

    def start(self) -> DaskExecutor:
        self._connect()
        return self

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        yield None  # remote workers: progress comes per finished item

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        # distributed is imported on first use: it is heavy (tornado, a scheduler, ...) and most
        # sweeps never touch it
        from distributed import Client, LocalCluster

        if self.address:
            try:
                self._client = Client(self.address, timeout=f"{self.timeout:g}s")
            except (OSError, TimeoutError) as e:
                raise ExecutorError("scheduler", f"{self.address}: cannot connect: {e}") from None
        else:
            n = self._n_workers or os.cpu_count() or 1
            self._cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self._client = Client(self._cluster)
        return self._client

    def _count_workers(self, client: Any) -> int:
        try:
            info = client.scheduler_info()
            return sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()) or 1
        except Exception:  # pragma: no cover - informational only
            return 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not items:
            return
        from distributed import as_completed  # lazy, as in _connect

        client = self._connect()
        self.workers = self._count_workers(client)
        futures = [client.submit(fn, item, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                yield index[fut.key], fut.result()
        finally:
            client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._own_client and self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ExecutorError("jobs", f"must be >= 1 (got {jobs!r})")


def make_executor(kind: str = "local", *, scheduler: str | None = None, jobs: int | None = None) -> Any:
    """The executor named on the command line (``local``, ``dask`` or ``serial``); ``jobs``: how many
    runs at once (default: every core; ``1`` is the in-process serial executor)."""
    _check_jobs(jobs)
    if scheduler and kind != "dask":
        raise ExecutorError("scheduler", "needs the dask executor")
    if kind == "local":
        if jobs == 1:
            return SerialExecutor()
        return LocalExecutor(jobs)
    if kind == "serial":
        return SerialExecutor()
    if kind == "dask":
        return DaskExecutor(scheduler, jobs)
    raise ExecutorError("kind", f"unknown executor {kind!r} (local, dask, serial)")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (so a killed sweep cleans up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
