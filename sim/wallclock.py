"""Wall-clock code in simulated time: a team's router reads the clock and sleeps as it always does.

While a :class:`WallClock` is active (a ``with`` block; the bring-your-own-router run holds one
around its factory calls and its run), code running *inside a simulated request* — the greenlet of
a request, or the factory building a pod — sees and spends simulated time through the functions
it already calls:

===============================================  ===============================================
reads / waits                                    how it is reached
===============================================  ===============================================
``time.time``, ``time.time_ns``,                 time-machine: it swaps the C function behind
``datetime.now/utcnow/today``, ``date.today``,   them (so names bound at import, ``from time
``time.gmtime/localtime/strftime`` (no args),    import time``, are reached too) and asks its
``time.clock_gettime(CLOCK_REALTIME)``           traveller for the time; ours answers per caller
``time.monotonic(_ns)``,                         the ``time`` module's attributes (time-machine
``time.perf_counter(_ns)``                       leaves them alone), and names bound to them at
                                                 import (``from time import monotonic``) per
                                                 ``patch_names``
``time.sleep``                                   the same: suspends the request in simulated time
``asyncio.sleep``                                ``asyncio.sleep`` / ``asyncio.tasks.sleep`` (and
                                                 bound names, per ``patch_names``)
===============================================  ===============================================

Everything else keeps the real clock: the lab itself (the simpy loop, progress, executors), other
threads, and code between runs. ``time.time()`` inside a request reads the pod's clock (skewed
during a ``clock_skew`` fault); ``monotonic``/``perf_counter`` read :data:`MONOTONIC_BASE` +
simulated seconds (never skewed, as a real monotonic clock is not).

**Escapes are loud.** While active, on the thread that runs the simulation, these fail the run
with one line naming the call and the caller's ``file:line`` (:class:`EscapeError`; the run
re-raises it even if the router catches it):

* a real socket connection (``socket.connect`` / ``connect_ex`` / ``sendto`` on an IP socket) or a
  DNS lookup (``getaddrinfo``, ``gethostbyname(_ex)``, ``gethostbyaddr``, ``getnameinfo``): no
  traffic leaves the machine;
* ``time.sleep`` of more than ``max_real_sleep`` (50 ms) outside a simulated request (it would
  block the wall clock and spend no simulated time);
* a ``threading.Lock`` (created while active) held across a simulated wait (the vendor call or a
  sleep): the next request to take it would block the one thread every request runs on.

``patch_names="auto"`` finds the names bound at import in every imported module outside the
standard library and the lab (:func:`bound_names`: circuitbreaker's ``monotonic``, redis-py's retry
``sleep``) at each activation and patches them too; a list patches exactly those names.

**What cannot be reached** (documented, not pretended): names bound at import in the standard
library (``threading``'s and ``queue``'s timeouts keep the real clock: they time real waits), or
in a module imported after the run started, or left out of an explicit ``patch_names`` (a real
``sleep`` called that way inside a request blocks the run silently: it never reaches the patch);
compiled extensions that read the OS clock themselves (LiteLLM >= 1.110 keeps its cooldowns in a
compiled core); ``threading.RLock``: every simulated request runs on one thread, so
a re-entrant lock held across a wait is *re-entered* by the next request instead of blocking it
(pybreaker's ``call`` holds one: in the simulation its calls overlap, as in an asyncio or
multi-process deployment, where a threaded server would serialize them); timers of an event loop
a sync handler starts itself (``asyncio.run`` inside the handler) other than ``asyncio.sleep``.
"""

from __future__ import annotations

import _thread
import asyncio
import asyncio.tasks
import importlib
import os
import signal
import socket
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import _time_machine  # time-machine's C half: the unpatched clock its own traveller reads
import time_machine
from greenlet import getcurrent

from .escapes import EscapeError

__all__ = ["MONOTONIC_BASE", "EscapeError", "SimTime", "WallClock", "Watchdog", "bound_names", "caller_location"]

#: what ``time.monotonic()`` reads at simulated t = 0 inside a request (any fixed value would do:
#: it must be deterministic and unlike the epoch, as a real monotonic clock is)
MONOTONIC_BASE = 10_000.0

_real_time_ns = _time_machine.original_time_ns  # time.time_ns itself is patched at C level
_real_sleep = time.sleep
_real_monotonic = time.monotonic
_real_monotonic_ns = time.monotonic_ns
_real_perf_counter = time.perf_counter
_real_perf_counter_ns = time.perf_counter_ns
_real_asyncio_sleep = asyncio.sleep

_TIME_ATTRS = frozenset({"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep"})
_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_STDLIB = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_THIS = os.path.abspath(__file__)
#: one active WallClock per process: the patches are process-wide
_active: list[WallClock] = []


@dataclass(frozen=True)
class SimTime:
    """What the code running at one place of the simulation sees (a pod's request, or its factory)."""

    #: epoch seconds (the pod's clock)
    now: Callable[[], float]
    #: simulated seconds since t = 0
    elapsed: Callable[[], float]
    #: suspends the calling request in simulated time; None where nothing can be suspended (a factory)
    sleep: Callable[[float], None] | None
    #: where a blocking ``time.sleep`` would block more than the request ("in an asyncio task": the
    #: loop); None: outside any request
    blocking: str | None = None


def _library(filename: str) -> bool:
    return (filename.startswith(_STDLIB) and "site-packages" not in filename) or filename == _THIS


def caller_location(frame: FrameType | None = None) -> str:
    """``file:line (in function)`` of the code that made a call: the innermost frame outside the
    standard library and this module (a library's frame when the call came from one; the first
    frame outside site-packages as well, when there is one, since that is the team's code)."""
    f = frame if frame is not None else sys._getframe(1)
    lib: FrameType | None = None
    while f is not None:
        name = f.f_code.co_filename
        if not _library(name):
            if "site-packages" not in name:
                lib = f
                break
            if lib is None:
                lib = f
        f = f.f_back
    if lib is None:
        return "<unknown>"
    path = lib.f_code.co_filename
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:  # pragma: no cover - another drive (Windows)
        pass
    return f"{path}:{lib.f_lineno} (in {lib.f_code.co_name})"


#: the lab's own packages (they take time injected) and the tools it runs on (simpy's real-time
#: mode, rich's progress display): never inside a request, left alone
_SKIP = frozenset({"sim", "multiorg", "faults", "reports", "breakerlab", "simpy", "rich", "time_machine"})


def bound_names(modules: Iterable[str] | None = None) -> list[str]:
    """``"module.attr"`` names in the imported modules (or in ``modules``) bound at import to a
    clock or sleep function the patches do not reach (``from time import monotonic``): the
    candidates for ``patch_names``. The standard library and the lab itself are left out (their
    bound names are theirs: ``threading``'s timeouts must stay on the real clock)."""
    wanted = WallClock._ORIGINALS
    out = []
    names = sorted(sys.modules) if modules is None else list(modules)
    for mod_name in names:
        mod = sys.modules.get(mod_name)
        if mod is None or mod_name.split(".")[0] in _SKIP or mod_name.startswith("_"):
            continue
        path = getattr(mod, "__file__", None) or ""
        if not path or _library(os.path.abspath(path)):  # the standard library keeps its own
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:  # pragma: no cover - a module without a __dict__
            continue
        out.extend(f"{mod_name}.{attr}" for attr, value in items
                   if id(value) in wanted and not (mod is time and attr in _TIME_ATTRS) and mod is not asyncio)
    return out


class _Traveller:
    """Stands in for time-machine's traveller: its C patches call ``traveller.time_ns()``."""

    def __init__(self, clock: WallClock) -> None:
        self._where = clock.where

    def time_ns(self) -> int:
        at = self._where()
        if at is None:
            return _real_time_ns()
        return round(at.now() * 1e9)

    def time(self) -> float:  # time-machine < 3.3 calls this from Python
        return self.time_ns() / 1e9

    def _start(self) -> None:  # time-machine's traveller protocol (no time zone to set)
        pass

    def _stop(self) -> None:
        pass


class WallClock:
    """Process-wide clock, sleep, socket and lock patches, active inside ``with`` (re-enterable,
    not nestable); restored on exit whatever ends the block (an error, ``KeyboardInterrupt``).

    ``where()`` says, for the calling code, where in the simulation it runs (None: outside any
    simulated request, the real clock). ``on_escape(error)`` is told of every escape before it is
    raised (the run fails with the first even if the router catches it). ``patch_names``:
    ``"module.attr"`` names bound at import to a clock or sleep function (``"circuitbreaker.monotonic"``),
    swapped for the patched one while active; ``"auto"``: every such name :func:`bound_names` finds
    (rescanned at each activation when modules were imported since).
    """

    def __init__(
        self,
        where: Callable[[], SimTime | None],
        *,
        patch_names: Iterable[str] | str = (),
        max_real_sleep: float = 0.05,
        on_escape: Callable[[EscapeError], Any] | None = None,
    ) -> None:
        self.where = where
        self.max_real_sleep = float(max_real_sleep)
        self.on_escape = on_escape
        if isinstance(patch_names, str) and patch_names != "auto":
            raise ValueError(f"patch_names: {patch_names!r}: 'auto' or a list of 'module.attr' names")
        self.patch_names: tuple[str, ...] | str = patch_names if isinstance(patch_names, str) else tuple(patch_names)
        #: the "auto" scan, kept while no module is imported (len(sys.modules) unchanged)
        self._scanned: tuple[int, tuple[str, ...]] = (-1, ())
        self._thread = -1
        self._undo: list[tuple[Any, str, Any]] = []
        self._travel: Any = None
        #: request greenlet -> [(lock, where it was taken)] for the guarded locks it holds
        self.held: dict[Any, list[tuple[Any, str]]] = {}
        self._patched = self._build()
        self._resolve_names()  # bad names fail at construction, before anything is patched

    # ------------------------------------------------------------------ the patched functions

    def _build(self) -> dict[str, Callable[..., Any]]:
        where = self.where

        def monotonic() -> float:
            at = where()
            return _real_monotonic() if at is None else MONOTONIC_BASE + at.elapsed()

        def monotonic_ns() -> int:
            at = where()
            return _real_monotonic_ns() if at is None else round((MONOTONIC_BASE + at.elapsed()) * 1e9)

        def perf_counter() -> float:
            at = where()
            return _real_perf_counter() if at is None else MONOTONIC_BASE + at.elapsed()

        def perf_counter_ns() -> int:
            at = where()
            return _real_perf_counter_ns() if at is None else round((MONOTONIC_BASE + at.elapsed()) * 1e9)

        def sleep(seconds: float) -> None:
            at = where()
            if at is not None and at.sleep is not None:
                self.check_wait(f"time.sleep({seconds:g})")
                at.sleep(seconds)
                return
            if seconds > self.max_real_sleep and threading.get_ident() == self._thread:
                if at is not None and at.blocking is not None:
                    raise self._escape(
                        f"time.sleep({seconds:g}) {at.blocking}, from {caller_location()}: it blocks the event loop "
                        "and spends no simulated time (await asyncio.sleep instead)")
                raise self._escape(
                    f"time.sleep({seconds:g}) outside a simulated request, from {caller_location()}: it blocks the "
                    "wall clock and spends no simulated time (sleep inside the handler, not in the factory or at "
                    "import)")
            _real_sleep(seconds)

        async def asyncio_sleep(delay: float, result: Any = None) -> Any:
            at = where()
            if at is not None and at.sleep is not None:
                self.check_wait(f"asyncio.sleep({delay:g})")
                at.sleep(delay)
                return result
            return await _real_asyncio_sleep(delay, result)

        return {"monotonic": monotonic, "monotonic_ns": monotonic_ns, "perf_counter": perf_counter,
                "perf_counter_ns": perf_counter_ns, "sleep": sleep, "asyncio.sleep": asyncio_sleep}

    #: the original of each patched function, by identity (``patch_names`` targets)
    _ORIGINALS: dict[int, str] = {
        id(_real_monotonic): "monotonic", id(_real_monotonic_ns): "monotonic_ns",
        id(_real_perf_counter): "perf_counter", id(_real_perf_counter_ns): "perf_counter_ns",
        id(_real_sleep): "sleep", id(_real_asyncio_sleep): "asyncio.sleep",
    }
    #: reached through time-machine's C patch already (listing them in patch_names is harmless)
    _REACHED = frozenset(id(f) for f in (time.time, time.time_ns))

    def _names(self) -> tuple[str, ...]:
        if not isinstance(self.patch_names, str):
            return self.patch_names
        n = len(sys.modules)
        if self._scanned[0] != n:
            self._scanned = (n, tuple(bound_names()))
        return self._scanned[1]

    def _resolve_names(self) -> list[tuple[Any, str, str]]:
        out = []
        for name in self._names():
            mod_name, _, attr = name.rpartition(".")
            try:
                owner: Any = importlib.import_module(mod_name) if mod_name else None
            except ImportError:
                owner = None
            if owner is None or not hasattr(owner, attr):
                raise ValueError(f"patch_names: {name!r}: no such module attribute")
            value = getattr(owner, attr)
            if id(value) in self._REACHED:
                continue
            kind = self._ORIGINALS.get(id(value))
            if kind is None:
                raise ValueError(
                    f"patch_names: {name!r} is {value!r}, not one of time.monotonic(_ns), time.perf_counter(_ns), "
                    "time.sleep, asyncio.sleep")
            out.append((owner, attr, kind))
        return out

    # ------------------------------------------------------------------ escapes

    def _escape(self, message: str) -> EscapeError:
        err = EscapeError(message)
        if self.on_escape is not None:
            self.on_escape(err)
        return err

    def _on_sim_thread(self) -> bool:
        return threading.get_ident() == self._thread

    def check_wait(self, what: str) -> None:
        """Called before a simulated request waits (``what``: the call that waits): a guarded lock
        it holds fails the run."""
        held = self.held.get(getcurrent())
        if held:
            lock_where = held[-1][1]
            raise self._escape(
                f"a threading.Lock taken at {lock_where} is held across a simulated wait ({what}, from "
                f"{caller_location()}): the next request to take it would block every request; release it "
                "before the call")

    def _guard_network(self) -> None:
        wall = self
        sock_cls = socket.socket

        def net(name: str, real: Callable[..., Any], describe: Callable[..., str]) -> Callable[..., Any]:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                if wall._on_sim_thread():
                    raise wall._escape(
                        f"{name}({describe(*args)}) from {caller_location()}: a real network call during a "
                        "simulated run (no traffic leaves the machine); send HTTP through the client the factory "
                        "receives (http=, or httpx.Client(transport=transport)) and Redis through redis=")
                return real(*args, **kwargs)
            guarded.__name__ = real.__name__
            return guarded

        def host(*args: Any) -> str:
            return ", ".join(repr(a) for a in args[:2])

        for fn in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            self._set(socket, fn, net(f"socket.{fn}", getattr(socket, fn), host))

        def sock_method(meth: str) -> None:
            real = getattr(sock_cls, meth)

            def guarded(sock: socket.socket, *args: Any) -> Any:
                if sock.family in _IP_FAMILIES and wall._on_sim_thread():
                    addr = args[-1] if args else None
                    raise wall._escape(
                        f"socket.{meth}({addr!r}) from {caller_location()}: a real network call during a simulated "
                        "run (no traffic leaves the machine); send HTTP through the client the factory receives "
                        "(http=, or httpx.Client(transport=transport)) and Redis through redis=")
                return real(sock, *args)
            guarded.__name__ = meth
            self._set(sock_cls, meth, guarded)

        for meth in ("connect", "connect_ex", "sendto"):
            sock_method(meth)

    def _guard_locks(self) -> None:
        wall = self
        held = self.held
        allocate = threading._allocate_lock  # type: ignore[attr-defined]

        class GuardedLock:
            """``threading.Lock`` that knows which simulated request holds it (see :meth:`check_wait`)."""

            __slots__ = ("_lock", "_owner", "_where")

            def __init__(self) -> None:
                self._lock = allocate()
                self._owner: Any = None
                self._where = ""

            def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
                lock = self._lock
                if lock.acquire(False):
                    ok = True
                elif not blocking:
                    return False
                else:
                    owner = self._owner
                    if owner is not None and wall._on_sim_thread() and owner in held:
                        # the holder is a request suspended on this very thread: a real wait never ends
                        raise wall._escape(
                            f"a threading.Lock taken at {self._where} blocks {caller_location()}: it is held by a "
                            "simulated request that is waiting (the next request would block every request)")
                    ok = lock.acquire(True, timeout)
                if ok:
                    g = getcurrent()
                    self._owner = g
                    if wall._on_sim_thread() and wall.where() is not None:
                        self._where = caller_location(sys._getframe(1))
                        held.setdefault(g, []).append((self, self._where))
                return ok

            def release(self) -> None:
                owner = self._owner
                self._owner = None
                mine = held.get(owner)
                if mine:
                    for i in range(len(mine) - 1, -1, -1):
                        if mine[i][0] is self:
                            del mine[i]
                            break
                    if not mine:
                        del held[owner]
                self._lock.release()

            def locked(self) -> bool:
                return self._lock.locked()

            def __enter__(self) -> bool:
                return self.acquire()

            def __exit__(self, *exc: object) -> None:
                self.release()

            def _at_fork_reinit(self) -> None:
                self._lock = allocate()
                self._owner = None

        self._set(threading, "Lock", GuardedLock)

    # ------------------------------------------------------------------ activation

    def _set(self, owner: Any, attr: str, value: Any) -> None:
        self._undo.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def __enter__(self) -> WallClock:
        if _active:
            raise RuntimeError("a WallClock is already active in this process (its patches are process-wide)")
        _active.append(self)
        self._thread = threading.get_ident()
        try:
            p = self._patched
            for name in ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep"):
                self._set(time, name, p[name])
            self._set(asyncio, "sleep", p["asyncio.sleep"])
            self._set(asyncio.tasks, "sleep", p["asyncio.sleep"])
            for owner, attr, kind in self._resolve_names():
                self._set(owner, attr, p[kind])
            self._guard_network()
            self._guard_locks()
            travel = time_machine.travel(0.0, tick=False)
            traveller = travel.start()
            self._travel = travel
            # time-machine's C patch calls traveller_stack[-1].time_ns(): ours answers per caller
            time_machine.traveller_stack[-1] = _Traveller(self)
            del traveller
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._restore()

    def _restore(self) -> None:
        try:
            if self._travel is not None:
                travel, self._travel = self._travel, None
                travel.stop()
        finally:
            undo, self._undo = self._undo, []
            for owner, attr, value in reversed(undo):
                setattr(owner, attr, value)
            self.held.clear()
            self._thread = -1
            if self in _active:
                _active.remove(self)

    @property
    def active(self) -> bool:
        return self in _active


class Watchdog:
    """No silent hangs: a thread that notices the simulation blocked in a real wait it cannot
    reach (a ``threading.Lock`` from before the run taken twice, a real ``sleep`` bound where the
    patches do not look, a socket read) and fails the run with one line naming where.

    ``progress()`` is a token that changes whenever the simulation moves (simulated time, requests
    started). Every ``interval`` real seconds the watchdog compares it and the simulating thread's
    innermost frame and instruction; ``stall`` seconds' worth of samples with neither changing is
    a hang (samples, not elapsed time: a process the OS did not schedule takes none). Then
    ``on_stall(error)`` is told, and the main thread is interrupted (a blocked ``sleep`` or lock
    acquire returns with ``KeyboardInterrupt``, which the run turns into the error). Only on the
    main thread: from any other, nothing can interrupt the wait.
    """

    def __init__(self, progress: Callable[[], object], on_stall: Callable[[EscapeError], Any], *,
                 stall: float = 10.0, interval: float = 0.25) -> None:
        self.progress = progress
        self.on_stall = on_stall
        self.samples = max(2, round(stall / interval))
        self.stall = stall
        self.interval = interval
        self.fired: EscapeError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        if threading.current_thread() is threading.main_thread():
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, args=(threading.get_ident(),),
                                            name="breakerlab-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _watch(self, tid: int) -> None:
        last: object = None
        same = 0
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(tid)
            token = (self.progress(), id(frame.f_code) if frame else 0, frame.f_lasti if frame else 0,
                     frame.f_lineno if frame else 0)
            same = same + 1 if token == last else 0
            last = token
            if same >= self.samples and not self._stop.is_set():
                where = caller_location(frame) if frame is not None else "<unknown>"
                self.fired = err = EscapeError(
                    f"the run made no progress for {self.stall:g} s of wall time: blocked in a real wait at {where} "
                    "(a real sleep, a lock taken before the run, a socket: the simulation cannot reach it)")
                self.on_stall(err)
                # a real signal: it also wakes a blocked sleep or lock acquire (interrupt_main only sets a flag)
                if hasattr(signal, "pthread_kill"):
                    signal.pthread_kill(tid, signal.SIGINT)
                else:  # pragma: no cover - Windows: wakes Python code only
                    _thread.interrupt_main()
                return
