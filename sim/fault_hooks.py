"""Runtime faults: what store, pod and clock faults change in the pods, and the objects that do it.

These faults act on the pods, not on the vendors, so no vendor-model modifier can express them.
:func:`sim.fault_effects.runtime_effects` lowers them into a :class:`RuntimeEffects` value, and
the pod builders (:func:`sim.pods.build_pods`, :class:`sim.byo.OwnRouterSimulation`) apply it
when they build the pods:

``redis_down`` / ``pod_partition``
    The pod's Redis client (a :class:`FaultyRedis`) raises ``redis.ConnectionError`` on every
    command while the fault lasts. The real :class:`multiorg.stores.redis.RedisStore` falls back to
    local breaker state and comes back when Redis answers again — the production code path.
``redis_slow``
    Every command first spends ``delay`` of simulated time (the request greenlet sleeps); a delay
    of at least the client's ``timeout`` costs ``timeout`` and raises ``redis.TimeoutError``.
``clock_skew``
    The pod's breaker board reads a :class:`SkewedClock`, ``offset`` seconds off while the fault
    lasts, so the timestamps it writes into shared breaker state are skewed for every pod; its
    alerts are recorded at the true simulated time (:class:`UnskewNotifier`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.core import AsyncScript, Script

__all__ = ["NO_RUNTIME_EFFECTS", "AsyncFaultyRedis", "FaultyRedis", "RedisSchedule", "RuntimeEffects", "SkewedClock",
           "UnskewNotifier"]

#: ``(start, end)``: end None = until the run ends
Window = tuple[float, float | None]
#: ``(start, end, offset)`` of a clock skew
Skew = tuple[float, float | None, float]


def _active(windows: Sequence[Window], now: float) -> bool:
    return any(s <= now and (e is None or now < e) for s, e in windows)


@dataclass(frozen=True)
class RedisSchedule:
    """When one pod's Redis client is down or slow."""

    down: tuple[Window, ...] = ()
    #: ``(start, end, delay, timeout)``
    slow: tuple[tuple[float, float | None, float, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.down or self.slow)


@dataclass(frozen=True)
class RuntimeEffects:
    """The store, pod and clock faults of a run, per pod (index = pod)."""

    redis: tuple[RedisSchedule, ...] = ()
    skews: tuple[tuple[Skew, ...], ...] = ()

    def redis_schedule(self, pod: int) -> RedisSchedule | None:
        """Pod ``pod``'s Redis schedule; None when no pod's Redis has a fault (plain clients)."""
        if not any(self.redis):
            return None
        return self.redis[pod]

    def clock_skews(self, pod: int) -> tuple[Skew, ...]:
        return self.skews[pod] if pod < len(self.skews) else ()


#: a run without store, pod or clock faults
NO_RUNTIME_EFFECTS = RuntimeEffects()

#: redis-py client methods that are not commands (left alone by store faults)
_NOT_COMMANDS = frozenset({
    "pipeline", "register_script", "close", "connection", "connection_pool", "get_connection_kwargs",
    "get_encoder", "get_retry", "set_retry", "set_response_callback", "load_external_module", "lock",
    "monitor", "pubsub", "transaction", "client", "from_url", "from_pool", "initialize", "parse_response",
    "get_connection", "response_callbacks", "auto_close_connection_pool", "single_connection_client",
})


class FaultyRedis:
    """A redis-py client proxy that fails or slows every command (and a pipeline's ``execute``) by
    a simulated-time schedule.

    ``now()`` gives simulated seconds; ``sleep(d)`` suspends the calling request
    (:meth:`sim.bridge.Hub.sleep_in_request`). Attributes that are not commands pass through.
    """

    def __init__(self, inner: Any, schedule: RedisSchedule, now: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self._inner = inner
        self._schedule = schedule
        self._now = now
        self._sleep = sleep
        #: commands failed by the fault (connection errors and timeouts)
        self.failed = 0
        #: simulated seconds spent waiting on a slow Redis
        self.waited = 0.0

    def register_script(self, script: str) -> Any:
        return Script(self, script)  # its EVALSHA goes through this proxy

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "pipeline":
            def pipeline(*args: Any, **kwargs: Any) -> Any:
                pipe = attr(*args, **kwargs)
                pipe.execute = self._faulty(pipe.execute)
                return pipe

            return pipeline
        if name.startswith("_") or name in _NOT_COMMANDS or not callable(attr):
            return attr
        return self._faulty(attr)

    def _faulty(self, command: Callable[..., Any]) -> Callable[..., Any]:
        """``command`` (a client's command or a pipeline's ``execute``) behind the schedule."""

        def call(*args: Any, **kwargs: Any) -> Any:
            self._before()
            return command(*args, **kwargs)

        return call

    def _fault(self) -> tuple[float, Exception | None]:
        """What the schedule does to a command sent now: the simulated seconds it waits first,
        then the error it raises (None: it goes through)."""
        now = self._now()
        sch = self._schedule
        if _active(sch.down, now):
            self.failed += 1
            return 0.0, redis.ConnectionError("simulated fault: Redis unreachable")
        for s, e, delay, timeout in sch.slow:
            if s <= now and (e is None or now < e):
                wait = min(delay, timeout)
                self.waited += max(wait, 0.0)
                if delay >= timeout:
                    self.failed += 1
                    return wait, redis.TimeoutError("simulated fault: Redis timed out")
                return wait, None
        return 0.0, None

    def _before(self) -> None:
        wait, error = self._fault()
        if wait > 0:
            self._sleep(wait)
        if error is not None:
            raise error


class AsyncFaultyRedis(FaultyRedis):
    """:class:`FaultyRedis` for a ``redis.asyncio`` client (an async router's): a command's
    coroutine first awaits the fault's delay — ``asleep``, on the simulated loop
    (:mod:`sim.aio`) — then fails or runs the real command."""

    def __init__(self, inner: Any, schedule: RedisSchedule, now: Callable[[], float],
                 asleep: Callable[[float], Any]) -> None:
        super().__init__(inner, schedule, now, lambda d: None)
        self._asleep = asleep

    def register_script(self, script: str) -> Any:
        return AsyncScript(self, script)

    def _faulty(self, command: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._abefore()
            return await command(*args, **kwargs)

        return call

    async def _abefore(self) -> None:
        wait, error = self._fault()
        if wait > 0:
            await self._asleep(wait)
        if error is not None:
            raise error


class SkewedClock:
    """``base.now()`` plus the offsets of the skews whose window holds the simulated time."""

    __slots__ = ("_base", "_sim_now", "_skews")

    def __init__(self, base: Any, sim_now: Callable[[], float], skews: Sequence[Skew]) -> None:
        self._base = base
        self._sim_now = sim_now
        self._skews = tuple(skews)

    def offset(self) -> float:
        now = self._sim_now()
        return sum(o for s, e, o in self._skews if s <= now and (e is None or now < e))

    def now(self) -> float:
        return self._base.now() + self.offset()


class UnskewNotifier:
    """Records a skewed pod's breaker events at the true simulated time."""

    __slots__ = ("_clock", "_inner")

    def __init__(self, inner: Any, clock: SkewedClock) -> None:
        self._inner = inner
        self._clock = clock

    def notify(self, event: Any) -> None:
        off = self._clock.offset()
        if off and dataclasses.is_dataclass(event):
            event = dataclasses.replace(event, time=event.time - off)
        self._inner.notify(event)
