"""The clock bridge: the real, synchronous router runs in simulated time.

Each simulated request runs in its own greenlet. When the code under it needs simulated time to
pass — the mocked vendor answering after its sampled latency — it calls :meth:`Hub.sleep`, which
puts a wake-up for the calling greenlet on simpy's event queue at ``now + delay`` and hands
control on. Events are taken in simpy's order (time, priority, insertion id); a wake-up switches
back into its greenlet, which runs until its next sleep or its end. Many requests are therefore
in flight at once, and the router sees every outcome at the simulated moment it happens.

No simpy ``Process`` is created per request: arrivals are precomputed and merged into the loop
(:meth:`Hub.drive`): when the next arrival is due no later than the next queued event, the clock
is set to it and the request starts in a greenlet (arrivals go first on ties). The queue and
clock are the simpy ``Environment``'s, so ordinary simpy events, timeouts and processes
scheduled on ``hub.env`` run in the same loop, interleaved in the same order. Drive the loop with
:meth:`Hub.run`, never ``env.run()``: the wake-ups on the queue are greenlets, which only the hub
knows how to process.

Performance notes (this loop is the simulator's hot path):

* a wake-up is the greenlet itself on the queue (no event object, no callback list);
* request greenlets are reused, because on CPython 3.11+ starting a fresh greenlet allocates a
  new frame data stack (~10 µs);
* scheduling is done by whichever greenlet gives up control (:meth:`Hub._step`), not by a
  central loop: a request that sleeps switches straight to the next wake-up (or hands the next
  arrival to an idle greenlet), and a request that ends starts the next arrival itself, in the
  same greenlet. That is at most one switch per sleep and per request end, where a central loop
  costs two (out to the loop, in to the next greenlet). The order is the same as the central
  loop's — the choice is made by the same function — so results do not depend on it. The main
  greenlet is switched to only for what it alone does: ordinary simpy events (their callbacks
  run there, as ``at`` promises), the end of :meth:`run` (``until`` reached, nothing left), and
  :meth:`spawn`, which returns to its caller when the spawned request first sleeps or ends.
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


def _call(job: tuple[Callable[..., Any], Sequence[Any]]) -> Any:
    """A spawned job, ``(fn, args)``, as the worker's one-argument call."""
    fn, args = job
    return fn(*args)


class Hub:
    """Owns the simpy environment and the main greenlet; request greenlets sleep through it."""

    __slots__ = (
        "_arrivals", "_eid", "_hold", "_idle", "_limit", "_n", "_next", "_pending", "_queue", "_start", "_ta", "env",
        "in_flight", "main", "max_in_flight", "started",
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
        self._n = 0
        self._next = 0
        #: the time of arrival ``_next`` (inf when none is left): read by every step, set once per arrival
        self._ta = inf
        self._start: Callable[[int], Any] | None = None
        #: the ``until`` of the :meth:`run` in progress (-inf outside one: nothing is taken)
        self._limit = -inf
        #: a request greenlet must give control back to main (set while :meth:`spawn` waits)
        self._hold = False
        #: an arrival already taken by :meth:`_step` that main must start in a new greenlet
        self._pending: int | None = None

    @property
    def now(self) -> float:
        return self.env._now

    # ------------------------------------------------------------------ scheduling

    def _step(self) -> int | greenlet | None:
        """Take the next thing due (at most ``_limit``) and set the clock to it.

        Returns an arrival's index (counted as started; the caller runs it), a woken greenlet
        (its wake-up popped; the caller switches to it), or None: the main greenlet must act —
        an ordinary simpy event is next, ``until`` is reached or nothing is left (nothing taken).
        """
        ta = self._ta
        queue = self._queue
        if queue:
            tq, _, _, ev = queue[0]
            if ta > tq:
                if tq > self._limit or type(ev) is not greenlet:
                    return None
                self.env._now = tq
                heappop(queue)
                return ev
        if ta > self._limit or ta == inf:
            return None
        self.env._now = ta
        i = self._next
        j = self._next = i + 1
        self._ta = self._arrivals[j] if j < self._n else inf
        self.started += 1
        k = self.in_flight = self.in_flight + 1
        if k > self.max_in_flight:
            self.max_in_flight = k
        return i

    def _hand_off(self, i: int) -> None:
        """Start arrival ``i`` in an idle greenlet; returns when the caller is switched back to.

        With no idle greenlet, main starts a new one: a greenlet inherits the recursion depth of
        the greenlet that first switches into it, so new greenlets started from sleeping
        requests would nest ever deeper (RecursionError after a few hundred in flight)."""
        idle = self._idle
        if idle:
            idle.pop().switch(self._start, i)
        elif getcurrent() is self.main:
            greenlet(self._worker, self.main).switch(self._start, i)
        else:
            self._pending = i
            self.main.switch()

    # ------------------------------------------------------------------ request side

    def sleep(self, delay: float) -> None:
        """Suspend the calling request greenlet for ``delay`` simulated seconds."""
        g = getcurrent()
        main = self.main
        if g is main:
            raise RuntimeError("Hub.sleep called outside a request greenlet")
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        heappush(self._queue, (self.env._now + delay, 1, next(self._eid), g))  # 1 = simpy's NORMAL
        # Hand control on. Whoever switches back into this greenlet does so because its
        # wake-up was taken: then the clock already reads its time.
        if self._hold:
            main.switch()
            return
        nxt = self._step()
        if nxt is g:  # our own wake-up is next (a zero delay, say)
            return
        if nxt is None:
            main.switch()
        elif type(nxt) is int:
            self._hand_off(nxt)
        else:
            nxt.switch()

    def _worker(self, fn: Callable[[Any], Any], arg: Any) -> None:
        """Run ``fn(arg)`` — ``start(i)`` for an arrival, :func:`_call` for a :meth:`spawn` — then
        the next request. (One argument, not ``*args``: a plain call runs in the same C frame.)"""
        main = self.main
        idle = self._idle
        me = getcurrent()
        step = self._step
        while True:
            fn(arg)  # an exception ends the greenlet and surfaces in the hub's loop (the run fails)
            self.in_flight -= 1
            nxt = None if self._hold else step()
            if type(nxt) is int:  # the next thing is an arrival: run it right here, no switch
                fn, arg = self._start, nxt
                continue
            idle.append(me)
            # switched back to with the next request to run
            fn, arg = (main if nxt is None else nxt).switch()

    def sleep_in_request(self, delay: float) -> None:
        """:meth:`sleep` inside a request greenlet; outside one (building pods, a router's
        factory) return at once: there is no simulated request to suspend."""
        if getcurrent() is not self.main:
            self.sleep(delay)

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
        self._hold = True  # the spawned request comes back here, not to the next event
        try:
            g.switch(_call, (fn, args))
        finally:
            self._hold = False

    def drive(self, times: Sequence[float], start: Callable[[int], Any]) -> None:
        """Start request ``i`` — ``start(i)`` in a request greenlet — at ``times[i]`` (non-decreasing).
        Once every arrival has started, the next piece of a run may be driven (indices from 0 again)."""
        if self._start is not None and self._next < self._n:
            raise RuntimeError("a hub drives one arrival sequence at a time")
        t = np.asarray(times, dtype=np.float64)
        if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
            raise ValueError("arrival times must be non-decreasing")
        if t.size and t[0] < self.env._now:
            raise ValueError(f"the first arrival ({t[0]}) is before now ({self.env._now})")
        self._arrivals = times
        self._n = len(times)
        self._next = 0
        self._ta = times[0] if len(times) else inf
        self._start = start

    @property
    def pending_arrivals(self) -> int:
        return self._n - self._next

    def run(self, until: float | None = None) -> None:
        """Process arrivals and events up to and including time ``until`` (None: until none are left)."""
        if getcurrent() is not self.main:
            raise RuntimeError("Hub.run must be called from the hub's main greenlet")
        limit = inf if until is None else until
        queue = self._queue
        env = self.env
        step = self._step
        self._limit = limit
        try:
            while True:
                nxt = self._pending
                if nxt is None:
                    nxt = step()
                else:
                    self._pending = None
                if nxt is None:
                    if not queue:
                        break
                    tq, _, _, ev = queue[0]
                    if tq > limit or type(ev) is greenlet:  # (a greenlet here: past ``limit``)
                        break
                    # an ordinary simpy event: what Environment.step does
                    env._now = tq
                    heappop(queue)
                    callbacks, ev.callbacks = ev.callbacks, None
                    for callback in callbacks:
                        callback(ev)
                    if not ev._ok and not hasattr(ev, "_defused"):
                        exc = type(ev._value)(*ev._value.args)
                        exc.__cause__ = ev._value
                        raise exc
                elif type(nxt) is int:
                    self._hand_off(nxt)  # returns when a request greenlet needs the main one
                else:
                    nxt.switch()
        finally:
            self._limit = -inf
        if until is not None and env._now < until:
            env._now = until  # like simpy's run(until): the clock stands at ``until``
