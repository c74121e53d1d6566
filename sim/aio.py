"""The asyncio face in simulated time: an event loop whose clock is simpy's and whose queue is simpy's.

:class:`SimLoop` is a real ``asyncio`` event loop (a :class:`asyncio.BaseEventLoop`: real
``Task``, ``Future``, ``gather``, ``wait_for``, ``timeout``, locks and queues) with no selector and
no ``run_forever`` of its own. The simulation drives it:

* ``time()`` is the simulated clock (``env.now``, seconds since the run's start);
* ``call_at`` / ``call_later`` (so ``asyncio.sleep``, timeouts) put one event on simpy's queue at
  the due time — the same (time, priority, insertion id) order the greenlet requests of the sync
  face sleep in (:meth:`sim.bridge.Hub.sleep`), so sync and async requests share one ordering;
* when a timer fires (or a request arrives, or a simulated thread finishes), the loop runs its
  ready handles right there, at that simulated instant, until none is left (a *drain*): what a
  woken greenlet does on the sync face. Waits never block the wall clock: nothing ready means
  the simpy loop goes on to the next due event.

Where looptime (the pytest plugin) keeps asyncio's own loop in charge and makes its selector
fast-forward a fake clock, here simpy is in charge and the asyncio loop has no loop of its own:
that is what lets greenlet requests, simpy processes and asyncio tasks interleave in one order.

Blocking calls. Blocking code that spends simulated time belongs on :class:`SimThreads`:
``run_in_executor`` / ``asyncio.to_thread`` and any ``concurrent.futures`` executor handed to
the code under test (``AsyncRouter(executor=...)``) run there, in simulated threads (greenlets)
that wait in simulated time without holding the loop. (Called from a coroutine instead, such code
holds the loop when the drain runs in a request greenlet — a task's first step, from an arrival —
and fails loudly in ``Hub.sleep`` when it runs in the hub's main greenlet; docs/async.md.)

Determinism: everything runs in one OS thread; the order is simpy's. Calls from another OS thread
(``call_soon_threadsafe``) are refused with a clear error; DNS and sockets are refused too
(nothing leaves the machine).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from asyncio import events, futures
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from math import inf
from typing import Any, TypeVar

import httpx
from greenlet import getcurrent, greenlet

from multiorg.client import VendorResponse
from multiorg.config import MultiOrgConfig, OrgConfig
from multiorg.vendors import ChatRequest

from .bridge import Hub
from .escapes import EscapeError
from .fast import FastVendorClient
from .full import MockedVendors
from .vendor_model import VendorWorld

T = TypeVar("T")

_set_running_loop = events._set_running_loop
_get_running_loop = events._get_running_loop
_set_result_unless_cancelled = futures._set_result_unless_cancelled


class _Timer(events.TimerHandle):
    """A ``call_at`` handle; its simpy event calls :meth:`fire`."""

    __slots__ = ()

    def fire(self, _event: Any) -> None:
        if not self._cancelled:
            self._loop._fire(self)  # type: ignore[attr-defined]


class SimLoop(asyncio.BaseEventLoop):
    """An asyncio event loop driven by a :class:`~sim.bridge.Hub` (see the module docstring).

    Entry points (call them from the simulation, not from a coroutine): :meth:`spawn` starts a
    coroutine as a task now and runs it until it first waits; :meth:`run_until_complete` runs the
    hub until a coroutine is done (tests, scripts; from the hub's main greenlet).
    """

    def __init__(self, hub: Hub, *, threads: int | None = None) -> None:
        self.hub = hub
        self._env = hub.env
        self._at = hub.at
        #: a drain is running (or is held by a blocking call): new handles join it
        self._busy = False
        super().__init__()
        #: a drain event is on simpy's queue (for handles scheduled outside any drain)
        self._kicked = False
        #: an exception a task spawned with :meth:`spawn` raised (re-raised by the drain)
        self._crash: BaseException | None = None
        self._owner = threading.get_ident()
        #: simulated threads: ``run_in_executor(None, ...)``, ``asyncio.to_thread`` and any
        #: executor handed to the code under test
        self.threads = SimThreads(self, max_workers=threads)
        self._default_executor = self.threads  # (set_default_executor insists on real threads)
        #: tasks started by :meth:`spawn` not finished yet; the most at once; started in all
        self.in_flight = 0
        self.max_in_flight = 0
        self.spawned = 0

    def __repr__(self) -> str:
        return f"<SimLoop t={self._env._now} busy={self._busy} in_flight={self.in_flight}>"

    # ------------------------------------------------------------------ the clock and the queue

    def time(self) -> float:
        return self._env._now

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> events.Handle:
        handle = events.Handle(callback, args, self, context)
        self._ready.append(handle)  # type: ignore[attr-defined]
        if not self._busy and not self._kicked:
            self._kick()
        return handle

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any, context: Any = None) -> events.Handle:
        # (asyncio.wrap_future calls this from the loop's own thread: a simulated thread's result)
        if threading.get_ident() != self._owner:
            raise EscapeError(
                f"call_soon_threadsafe({getattr(callback, '__qualname__', callback)!r}) from another OS thread: "
                "real threads are not simulated (use run_in_executor / asyncio.to_thread: simulated threads)")
        return self.call_soon(callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> events.TimerHandle:
        timer = _Timer(when, callback, args, self, context)
        now = self._env._now
        self._at(when if when > now else now, timer.fire)
        return timer

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        pass  # a cancelled timer's simpy event stays queued and does nothing when it fires

    def sleep(self, delay: float) -> asyncio.Future[None]:
        """A future done ``delay`` simulated seconds from now. Unlike ``asyncio.sleep(0)``, a zero
        delay is a timer too: it waits behind what is already due now, as the sync face's
        ``Hub.sleep(0)`` does (so both faces order equal-time events alike)."""
        fut = self.create_future()
        self.call_at(self._env._now + delay, _set_result_unless_cancelled, fut, None)
        return fut

    # ------------------------------------------------------------------ running handles

    def _kick(self) -> None:
        self._kicked = True
        self._at(self._env._now, self._kicked_drain)

    def _kicked_drain(self, _event: Any) -> None:
        self._kicked = False
        if not self._busy and self._ready:  # type: ignore[attr-defined]
            self._busy = True
            try:
                self._drain()
            finally:
                self._busy = False

    def _fire(self, timer: _Timer) -> None:
        if self._busy:  # the loop is held by a blocking call: the timer waits for it
            self._ready.append(timer)  # type: ignore[attr-defined]
            return
        self._busy = True
        try:
            self._drain(timer)
        finally:
            self._busy = False

    def _enter(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` from the simulation's side, then the handles it made ready (unless
        the loop is held elsewhere: they wait for it)."""
        if self._busy:
            return fn(*args)
        self._busy = True
        try:
            out = fn(*args)
            if self._ready:  # type: ignore[attr-defined]
                self._drain()
            return out
        finally:
            self._busy = False

    def _drain(self, first: events.Handle | None = None) -> None:
        """Run ``first``, then ready handles until none is left — at this simulated instant."""
        ready = self._ready  # type: ignore[attr-defined]
        if first is not None:
            ready.appendleft(first)
        outer = _get_running_loop()
        _set_running_loop(self)
        try:
            while ready:
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
                if self._crash is not None:
                    crash, self._crash = self._crash, None
                    raise crash
        finally:
            _set_running_loop(outer)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        # An exception escaping a callback fails the run, as one escaping a sync request does
        # (asyncio would only log it). Leaks found at garbage collection are only logged.
        if "handle" in context and self._crash is None:
            exc = context.get("exception")
            self._crash = exc if exc is not None else RuntimeError(context.get("message", "callback failed"))
            return
        super().call_exception_handler(context)

    def is_running(self) -> bool:
        return self._busy

    # ------------------------------------------------------------------ entry points

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``coro`` as a task now; returns when it first waits (or ends). A task spawned here
        that raises fails the run (the exception leaves the hub's loop)."""
        self.spawned += 1
        n = self.in_flight = self.in_flight + 1
        if n > self.max_in_flight:
            self.max_in_flight = n
        return self._enter(self._start, coro)

    def _start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.create_task(coro)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.in_flight -= 1
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and self._crash is None:
                self._crash = exc

    def run_until_complete(self, future: Awaitable[T]) -> T:  # type: ignore[override]
        """Run the hub until ``future`` is done; its result. From the hub's main greenlet."""
        if getcurrent() is not self.hub.main:
            raise RuntimeError("SimLoop.run_until_complete must be called from the hub's main greenlet")
        fut = self._enter(lambda: asyncio.ensure_future(future, loop=self))
        env = self._env
        while not fut.done():
            t = env.peek()
            if t == inf and not self.hub.pending_arrivals:
                fut.cancel()
                raise RuntimeError("deadlock: the coroutine waits for something nothing in the simulation will do")
            self.hub.run(until=None if t == inf else t)
        return fut.result()

    def run_forever(self) -> None:
        raise RuntimeError("a SimLoop is driven by its hub: use SimLoop.spawn and Hub.run, or run_until_complete")

    # ------------------------------------------------------------------ the outside world

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        raise EscapeError(f"getaddrinfo({host!r}, {port!r}): a simulated request tried to resolve a real host")

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> Any:
        raise EscapeError(f"getnameinfo({sockaddr!r}): a simulated request tried to reach the network")


def new_loop(start: float = 0.0) -> SimLoop:
    """A loop on a fresh simpy environment and hub (clock at ``start``): for tests and scripts."""
    import simpy

    return SimLoop(Hub(simpy.Environment(initial_time=start)))


def run(coro: Coroutine[Any, Any, T], start: float = 0.0) -> T:
    """``asyncio.run`` in simulated time: ``coro``'s sleeps and timeouts cost no wall time."""
    loop = new_loop(start)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# ---------------------------------------------------------------------- simulated threads


class _Worker(greenlet):
    """A simulated thread: runs submitted calls; while ``attached`` it has not yet waited, and
    control goes back to the greenlet that submitted the call; after its first wait it is woken
    from (and returns to) the hub's main greenlet."""

    __slots__ = ("attached", "wake")

    attached: bool
    wake: Callable[[Any], None]


class SimThreads(concurrent.futures.Executor):
    """A ``concurrent.futures`` executor whose threads are greenlets in simulated time.

    ``submit`` starts the call at once, in a simulated thread, and returns when the call ends or
    first waits (:meth:`sleep`): the caller's own work is not interleaved with it, and a slow store
    call delays only what waits for its result. ``max_workers`` (None: a thread per call waiting)
    bounds the simulated threads as a real pool is bounded; calls beyond wait their turn, FIFO.

    Code in a simulated thread waits with :meth:`sleep` (sim/pods.py hands it to the store's fault
    hooks); :meth:`sleep` outside one is :meth:`Hub.sleep_in_request`.
    """

    def __init__(self, loop: SimLoop, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self._loop = loop
        self._hub = loop.hub
        self._max = max_workers
        self._idle: list[_Worker] = []
        self._queue: deque[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self._queue = deque()
        #: simulated threads busy now; the most at once; calls run in all
        self.busy = 0
        self.peak = 0
        self.calls = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._max is not None and self.busy >= self._max:
            self._queue.append((fut, fn, args, kwargs))
            return fut
        self.busy += 1
        if self.busy > self.peak:
            self.peak = self.busy
        idle = self._idle
        if idle:
            w = idle.pop()
        else:
            # (created from whichever greenlet submits; a worker never submits, so depth stays flat)
            w = _Worker(self._work)
            w.wake = self._waker(w)
        w.attached = True
        w.parent = getcurrent()
        w.switch(fut, fn, args, kwargs)
        return fut

    def _waker(self, w: _Worker) -> Callable[[Any], None]:
        loop = self._loop

        def wake(_event: Any) -> None:  # (main greenlet) the thread's wait is over: run it on
            loop._enter(w.switch)

        return wake

    def _work(self, fut: concurrent.futures.Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
        me: _Worker = getcurrent()  # type: ignore[assignment]
        while True:
            if fut.set_running_or_notify_cancel():
                self.calls += 1
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
            if self._queue:
                fut, fn, args, kwargs = self._queue.popleft()
                continue
            self.busy -= 1
            self._idle.append(me)
            fut, fn, args, kwargs = me.parent.switch()

    def sleep(self, delay: float) -> None:
        """Spend ``delay`` simulated seconds in the calling simulated thread (elsewhere:
        :meth:`Hub.sleep_in_request`)."""
        me = getcurrent()
        if type(me) is not _Worker:
            self._hub.sleep_in_request(delay)
            return
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        hub = self._hub
        hub.at(hub.env._now + delay, me.wake)
        back = me.parent
        if me.attached:  # the first wait: the submitter goes on; the hub wakes this thread
            me.attached = False
            me.parent = hub.main
        back.switch()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for fut, *_ in self._queue:
                fut.cancel()
            self._queue.clear()


# ---------------------------------------------------------------------- async vendors


class _Latency:
    """Stands in for the hub under the sync vendor mocks (:class:`~sim.fast.FastVendorClient`,
    :class:`~sim.full.MockedVendors`): they decide, then "sleep" the latency here — recorded, for
    the async face to await on the loop. One decision, two faces: no vendor logic is repeated."""

    __slots__ = ("delay", "env")

    def __init__(self, env: Any) -> None:
        self.env = env
        self.delay = 0.0

    def sleep(self, delay: float) -> None:
        self.delay = delay


class AsyncFastVendorClient:
    """Fast mode's in-process vendor, as an async ``send``: the decision of
    :class:`~sim.fast.FastVendorClient`, its latency spent on the loop (:meth:`SimLoop.sleep`)."""

    __slots__ = ("_latency", "_send", "_sleep")

    def __init__(self, loop: SimLoop, world: VendorWorld, config: MultiOrgConfig) -> None:
        self._latency = latency = _Latency(loop.hub.env)
        self._send = FastVendorClient(latency, world, config).send  # type: ignore[arg-type]
        self._sleep = loop.sleep

    async def send(self, org: OrgConfig, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        latency = self._latency
        try:
            reply = self._send(org, api_key, request, timeout)
        except httpx.TransportError:  # a timeout or a reset, raised after its latency
            await self._sleep(latency.delay)
            raise
        await self._sleep(latency.delay)
        return reply


class AsyncMockedVendors:
    """Full mode's respx-mocked vendors (:class:`~sim.full.MockedVendors`) behind an async
    transport: ``httpx.AsyncClient`` → respx → the vendor model; the latency spent on the loop."""

    def __init__(self, loop: SimLoop, world: VendorWorld, config: MultiOrgConfig) -> None:
        self._latency = latency = _Latency(loop.hub.env)
        self.vendors = MockedVendors(latency, world, config)  # type: ignore[arg-type]
        self._handler = self.vendors.mock.handler
        self._sleep = loop.sleep

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        latency = self._latency
        try:
            response = self._handler(request)
        except httpx.TransportError:
            await self._sleep(latency.delay)
            raise
        await self._sleep(latency.delay)
        return response

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle))


__all__ = ["AsyncFastVendorClient", "AsyncMockedVendors", "EscapeError", "SimLoop", "SimThreads", "new_loop", "run"]
