"""The clock bridge: the real, synchronous router runs in simulated time.

Each simulated request runs in its own greenlet. When the code under it needs simulated time to
pass — the mocked vendor answering after its sampled latency — it calls :meth:`Hub.sleep`, which
puts a wake-up for the calling greenlet on simpy's event queue at ``now + delay`` and switches to
the hub's (main) greenlet. The hub's loop pops events in simpy's order (time, priority, insertion
id); a wake-up switches back into its greenlet, which runs until its next sleep or its end. Many
requests are therefore in flight at once, and the router sees every outcome at the simulated
moment it happens.

No simpy ``Process`` is created per request: arrivals are precomputed and merged into the loop
(:meth:`Hub.drive`): when the next arrival is due no later than the next queued event, the hub
sets the clock to it and starts the request in a greenlet (arrivals go first on ties). The queue
and clock are the simpy ``Environment``'s, so ordinary simpy events, timeouts and processes
scheduled on ``hub.env`` run in the same loop, interleaved in the same order. Drive the loop with
:meth:`Hub.run`, never ``env.run()``: the wake-ups on the queue are greenlets, which only the hub
knows how to process.

Performance notes (this loop is the simulator's hot path): a wake-up is the greenlet itself on
the queue (no event object, no callback list); request greenlets are reused, because on
CPython 3.11+ starting a fresh greenlet allocates a new frame data stack (~10 µs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from itertools import count
from math import inf
from typing import Any

import numpy as np
import simpy
from greenlet import getcurrent, greenlet
from simpy.events import NORMAL


class _Wake:
    """A minimal event for the simpy queue (what ``Environment.step`` needs and nothing more)."""

    __slots__ = ("callbacks",)
    _ok = True

    def __init__(self, callback: Callable[[Any], Any]) -> None:
        self.callbacks = [callback]


class Hub:
    """Owns the simpy environment and the main greenlet; request greenlets sleep through it."""

    __slots__ = (
        "_arrivals", "_eid", "_idle", "_next", "_queue", "_start", "env", "in_flight", "main",
        "max_in_flight", "started",
    )

    def __init__(self, env: simpy.Environment | None = None) -> None:
        self.env = env or simpy.Environment()
        self.main = getcurrent()
        self._queue: list[tuple[float, int, int, Any]] = self.env._queue
        self._eid: count[int] = self.env._eid
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = 0
        #: finished request greenlets waiting for their next request (see :meth:`spawn`)
        self._idle: list[greenlet] = []
        self._arrivals: Sequence[float] = ()
        self._next = 0
        self._start: Callable[[int], Any] | None = None

    @property
    def now(self) -> float:
        return self.env._now

    # ------------------------------------------------------------------ request side

    def sleep(self, delay: float) -> None:
        """Suspend the calling request greenlet for ``delay`` simulated seconds."""
        g = getcurrent()
        if g is self.main:
            raise RuntimeError("Hub.sleep called outside a request greenlet")
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        heappush(self._queue, (self.env._now + delay, 1, next(self._eid), g))  # 1 = simpy's NORMAL
        self.main.switch()

    # ------------------------------------------------------------------ main side

    def at(self, when: float, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(event)`` in the main greenlet at absolute simulated time ``when``."""
        if when < self.env._now:
            raise ValueError(f"cannot schedule in the past: {when} < {self.env._now}")
        heappush(self._queue, (when, NORMAL, next(self._eid), _Wake(callback)))

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in a request greenlet from now; returns when it first sleeps or ends.

        Call it from the main greenlet (a simpy callback, or before :meth:`run`)."""
        if getcurrent() is not self.main:
            raise RuntimeError("Hub.spawn must be called from the hub's main greenlet")
        self.started += 1
        n = self.in_flight = self.in_flight + 1
        if n > self.max_in_flight:
            self.max_in_flight = n
        idle = self._idle
        g = idle.pop() if idle else greenlet(self._worker, self.main)
        g.switch(fn, args)

    def _worker(self, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        main_switch = self.main.switch
        idle = self._idle
        me = getcurrent()
        while True:
            fn(*args)  # an exception ends the greenlet and surfaces in the hub's loop (the run fails)
            self.in_flight -= 1
            idle.append(me)
            fn, args = main_switch()

    def drive(self, times: Sequence[float], start: Callable[[int], Any]) -> None:
        """Start request ``i`` — ``start(i)`` in a request greenlet — at ``times[i]`` (non-decreasing)."""
        if self._start is not None:
            raise RuntimeError("a hub drives one arrival sequence")
        t = np.asarray(times, dtype=np.float64)
        if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
            raise ValueError("arrival times must be non-decreasing")
        if t.size and t[0] < self.env._now:
            raise ValueError(f"the first arrival ({t[0]}) is before now ({self.env._now})")
        self._arrivals = times
        self._next = 0
        self._start = start

    @property
    def pending_arrivals(self) -> int:
        return len(self._arrivals) - self._next

    def run(self, until: float | None = None) -> None:
        """Process arrivals and events up to and including time ``until`` (None: until none are left)."""
        limit = inf if until is None else until
        queue = self._queue
        env = self.env
        times = self._arrivals
        n = len(times)
        i = self._next
        start = self._start
        idle = self._idle
        worker = self._worker
        main = self.main
        pop = heappop
        glet = greenlet
        ta = times[i] if i < n else inf
        try:
            while True:
                tq = queue[0][0] if queue else inf
                if ta <= tq:
                    if ta > limit or ta == inf:
                        break
                    env._now = ta
                    # spawn(start, i), inlined: this branch runs once per request
                    self.started += 1
                    k = self.in_flight = self.in_flight + 1
                    if k > self.max_in_flight:
                        self.max_in_flight = k
                    g = idle.pop() if idle else glet(worker, main)
                    i += 1
                    g.switch(start, (i - 1,))
                    ta = times[i] if i < n else inf
                    continue
                if tq > limit:
                    break
                env._now, _, _, ev = pop(queue)
                if type(ev) is glet:
                    ev.switch()
                    continue
                # an ordinary simpy event: what Environment.step does
                callbacks, ev.callbacks = ev.callbacks, None
                for callback in callbacks:
                    callback(ev)
                if not ev._ok and not hasattr(ev, "_defused"):
                    exc = type(ev._value)(*ev._value.args)
                    exc.__cause__ = ev._value
                    raise exc
        finally:
            self._next = i
        if until is not None and env._now < until:
            env._now = until  # like simpy's run(until): the clock stands at ``until``
