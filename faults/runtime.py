"""Store, pod and clock faults: hooks installed on a built simulation, and a run helper.

These faults act on the pods, not on the vendors, so no modifier can express them:

``redis_down`` / ``pod_partition``
    The pods' Redis client raises ``redis.ConnectionError`` on every command while the fault
    lasts (all pods, the listed ``pods``, or the partitioned pod). The real
    :class:`multiorg.stores.redis.RedisStore` falls back to local breaker state and comes back
    when Redis answers again — the production code path, not an imitation of it.
``redis_slow``
    Every command first spends ``delay`` of simulated time (the request greenlet sleeps); a delay
    of at least the client's ``timeout`` costs ``timeout`` and raises ``redis.TimeoutError``.
``clock_skew``
    The pod's breaker board reads a clock ``offset`` seconds off while the fault lasts, so the
    timestamps it writes into shared breaker state (trip times, open-until) are skewed for every
    pod. The pod's alerts are recorded at the true simulated time.

Store faults need breaker state in Redis: in full mode with ``state: shared`` the pods already
use ``RedisStore`` over one fakeredis server; in fast mode :func:`install` replaces the shared
``MemoryStore`` with one ``RedisStore`` per pod over a fakeredis server, so fast and full mode
run the same store code whenever a scenario has a store fault.

:func:`run` is ``sim.run`` plus these hooks and the traffic surges of ``traffic_surge`` faults
(:func:`faults.compile.prepare_scenario`); until the engine calls them itself (see
:func:`install`), run scenarios with faults through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .compile import fault_windows, prepare_scenario, runtime_faults, runtime_hooks
from .models import ClockSkewFault, PodPartitionFault, RedisDownFault, RedisSlowFault

__all__ = ["FaultyRedis", "SkewedClock", "install", "run", "runtime_hooks"]

Windows = Sequence[tuple[float, float | None]]


def _active(windows: Windows, now: float) -> bool:
    return any(s <= now and (e is None or now < e) for s, e in windows)


# --------------------------------------------------------------------------- Redis


class _Schedule:
    """When one pod's Redis client is down or slow."""

    def __init__(self) -> None:
        self.down: list[tuple[float, float | None]] = []
        #: (start, end, delay, timeout)
        self.slow: list[tuple[float, float | None, float, float]] = []

    def __bool__(self) -> bool:
        return bool(self.down or self.slow)


SkewWindows = list[tuple[float, float | None, float]]


def pod_schedules(found: Iterable[tuple[Any, Any]], n: int) -> tuple[list[_Schedule], list[SkewWindows]]:
    """Per pod of ``n``: when its Redis is down or slow, and its clock skews, from the
    ``(index, fault)`` pairs :func:`faults.compile.runtime_faults` finds."""
    schedules = [_Schedule() for _ in range(n)]
    skews: list[SkewWindows] = [[] for _ in range(n)]
    for _, f in found:
        window = (f.start, f.stop)
        if isinstance(f, RedisDownFault):
            for p in (f.pods if f.pods is not None else range(n)):
                schedules[p].down.append(window)
        elif isinstance(f, PodPartitionFault):
            schedules[f.pod].down.append(window)
        elif isinstance(f, RedisSlowFault):
            for p in (f.pods if f.pods is not None else range(n)):
                schedules[p].slow.append((*window, f.delay, f.timeout))
        elif isinstance(f, ClockSkewFault):
            skews[f.pod].append((*window, f.offset))
    return schedules, skews


class FaultyRedis:
    """A redis-py client proxy that fails or slows commands by a simulated-time schedule.

    ``now()`` gives simulated seconds; ``sleep(d)`` suspends the calling request greenlet
    (:meth:`sim.bridge.Hub.sleep`). Attributes that are not commands pass through.
    """

    COMMANDS = frozenset({"get", "set", "delete", "evalsha", "eval", "script_load", "execute_command",
                          "mget", "mset", "exists", "expire", "pexpire", "incr", "ping", "publish"})

    def __init__(self, inner: Any, schedule: _Schedule, now: Callable[[], float],
                 sleep: Callable[[float], None] | None) -> None:
        self._inner = inner
        self._schedule = schedule
        self._now = now
        self._sleep = sleep
        #: commands failed by the fault (connection errors and timeouts)
        self.failed = 0
        #: simulated seconds spent waiting on a slow Redis
        self.waited = 0.0

    def register_script(self, script: str) -> Any:
        from redis.commands.core import Script

        return Script(self, script)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.COMMANDS or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._before()
            return attr(*args, **kwargs)

        return call

    def _before(self) -> None:
        import redis

        now = self._now()
        sch = self._schedule
        if _active(sch.down, now):
            self.failed += 1
            raise redis.ConnectionError("simulated fault: Redis unreachable")
        for s, e, delay, timeout in sch.slow:
            if s <= now and (e is None or now < e):
                wait = min(delay, timeout)
                if self._sleep is not None and wait > 0:
                    self._sleep(wait)
                    self.waited += wait
                if delay >= timeout:
                    self.failed += 1
                    raise redis.TimeoutError("simulated fault: Redis timed out")
                return


# --------------------------------------------------------------------------- clock skew


class SkewedClock:
    """``base.now()`` plus ``offset`` while simulated time is inside one of the windows."""

    __slots__ = ("_base", "_sim_now", "_skews")

    def __init__(self, base: Any, sim_now: Callable[[], float],
                 skews: Sequence[tuple[float, float | None, float]]) -> None:
        self._base = base
        self._sim_now = sim_now
        self._skews = tuple(skews)

    def offset(self) -> float:
        now = self._sim_now()
        return sum(o for s, e, o in self._skews if s <= now and (e is None or now < e))

    def now(self) -> float:
        return self._base.now() + self.offset()


class _UnskewNotifier:
    """Records a skewed pod's alerts at the true simulated time."""

    __slots__ = ("_clock", "_inner")

    def __init__(self, inner: Any, clock: SkewedClock) -> None:
        self._inner = inner
        self._clock = clock

    def notify(self, event: Any) -> None:
        off = self._clock.offset()
        if off and dataclasses.is_dataclass(event):
            event = dataclasses.replace(event, time=event.time - off)
        self._inner.notify(event)


# --------------------------------------------------------------------------- install


def _swap_store(router: Any, store: Any) -> None:
    core = router.core
    core.store = store
    core.board.store = store
    core.switch._store = store


def install(simulation: Any) -> dict[str, Any]:
    """Install the scenario's store, pod and clock faults on a built :class:`sim.engine.Simulation`
    (before it runs). Returns what was installed (``clients``: the per-pod :class:`FaultyRedis`,
    ``clocks``: the per-pod :class:`SkewedClock`).

    The engine needs, to do this itself: in ``Simulation.__init__``, ``scenario =
    faults.prepare_scenario(scenario)`` first, ``compile_faults(scenario, seed, runtime=True)``,
    and ``faults.runtime.install(self)`` right after ``build_pods`` — or, more cleanly,
    ``build_pods`` taking a ``redis_client(pod, client)`` wrapper and a ``board_clock(pod, clock)``
    hook that call :class:`FaultyRedis` / :class:`SkewedClock`.
    """
    sc = simulation.scenario
    found = runtime_faults(sc)
    installed: dict[str, Any] = {"clients": {}, "clocks": {}}
    if not found:
        return installed
    hub = simulation.hub
    routers = simulation.pods.routers
    schedules, skews = pod_schedules(found, len(routers))

    def sim_now() -> float:
        return hub.env._now

    if any(schedules):
        import fakeredis

        from multiorg.stores.redis import RedisStore

        server = getattr(simulation.pods, "redis_server", None)
        if server is None:  # fast mode (or local state, refused by validation): Redis it is
            server = fakeredis.FakeServer()
            simulation.pods.redis_server = server
        staleness = sc.store_staleness()
        for i, router in enumerate(routers):
            client = FaultyRedis(fakeredis.FakeRedis(server=server), schedules[i], sim_now, _sleeper(hub))
            store = RedisStore(client, simulation.clock, namespace=sc.router.namespace, staleness=staleness)
            _swap_store(router, store)
            simulation.pods.stores[i] = store
            installed["clients"][i] = client
    for i, sk in enumerate(skews):
        if not sk:
            continue
        board = routers[i].core.board
        clock = SkewedClock(board.clock, sim_now, sk)
        board.clock = clock
        board.notifiers = [_UnskewNotifier(nt, clock) for nt in board.notifiers]
        installed["clocks"][i] = clock
    return installed


def _sleeper(hub: Any) -> Callable[[float], None]:
    from greenlet import getcurrent

    def sleep(delay: float) -> None:
        if getcurrent() is not hub.main:  # store calls outside a request (none today) do not wait
            hub.sleep(delay)

    return sleep


def run(scenario: Any, policy: Any = None, mode: str = "fast", seed: int | None = None,
        progress: Callable[[float, float], Any] | None = None) -> Any:
    """``sim.run`` with every fault of the catalogue in effect; ``trace.meta["faults"]`` holds one
    window per fault (:func:`faults.compile.fault_windows`)."""
    from sim.engine import Simulation, resolve_policy

    if policy is None:
        policy = scenario.policies[0] if scenario.policies else "exponential"
    pol = resolve_policy(policy)
    seed = scenario.seed if seed is None else int(seed)
    prepared = prepare_scenario(scenario)
    with runtime_hooks(seed):
        simulation = Simulation(prepared, pol, mode, seed)  # type: ignore[arg-type]
    installed = install(simulation)
    trace = simulation.run(progress)
    trace.meta["faults"] = fault_windows(prepared, seed)  # declared lockouts/modifiers included
    if installed["clients"]:
        trace.meta["redis_failed_commands"] = {str(i): c.failed for i, c in installed["clients"].items()}
    return trace
