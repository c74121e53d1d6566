"""Pods: N router instances, each with its own local cache and observations, sharing a store or not.

=========  ==========================================  ===================================
mode       ``state: shared``                           ``state: local``
=========  ==========================================  ===================================
fast       one ``MemoryStore`` for every pod           one ``MemoryStore`` per pod
full       one fakeredis server; per pod a ``FakeRedis``  one ``MemoryStore`` per pod
           client and a ``RedisStore``
=========  ==========================================  ===================================

Full mode's ``RedisStore`` reads fresh state on every read (``staleness=0``) unless the
scenario sets ``router.cache_staleness``: a stale cache in full mode has no counterpart in fast
mode's ``MemoryStore``, so with staleness > 0 the two modes may diverge.

The async face (``face="async"``) builds :class:`multiorg.AsyncRouter` pods over the same stores,
on the run's :class:`~sim.aio.SimLoop`: fast mode's vendor as an async client, full mode's over
``httpx.AsyncClient`` → respx. A store that does I/O (``RedisStore``) is driven by the router on
worker threads, as in production; here those are the loop's simulated threads
(:class:`~sim.aio.SimThreads`, unbounded: one per step waiting on the store, so the async face
waits for a slow store exactly as the sync one does).

A store fault (``redis_down``, ``redis_slow``, ``pod_partition``: shared state only) puts every
pod, in either mode, on a ``RedisStore`` over a :class:`~sim.fault_hooks.FaultyRedis` client of
one fakeredis server; a ``clock_skew`` gives its pod's breaker board a skewed clock. Both come
in through :func:`build_pods`'s ``runtime`` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import fakeredis

from multiorg.breakers.base import params_summary
from multiorg.client import AsyncHttpVendorClient, HttpVendorClient
from multiorg.config import BreakerConfig
from multiorg.router import AsyncRouter, Router
from multiorg.stores.memory import MemoryStore
from multiorg.stores.redis import RedisStore

from .aio import AsyncFastVendorClient, AsyncMockedVendors, SimLoop
from .bridge import Hub
from .clock import SimClock
from .fast import FastVendorClient
from .fault_hooks import NO_RUNTIME_EFFECTS, FaultyRedis, RuntimeEffects, SkewedClock, UnskewNotifier
from .full import MockedVendors
from .rng import Seeds
from .scenario import Scenario
from .vendor_model import VendorWorld

Mode = Literal["fast", "full"]
#: which face of the router the pods are: ``multiorg.Router`` or ``multiorg.AsyncRouter``
Face = Literal["sync", "async"]
FACES = ("sync", "async")


@dataclass
class Pods:
    routers: list[Router] | list[AsyncRouter]
    stores: list[Any]
    #: full mode: the respx-mocked vendors
    vendors: Any = None
    #: the fakeredis server (full mode with shared state, or a store fault)
    redis_server: Any = None
    #: per pod, the Redis client a store fault acts on (empty without store faults)
    faulty_redis: list[FaultyRedis] | None = None


def build_pods(scenario: Scenario, policy: Any, mode: Mode, *, hub: Hub, clock: SimClock, world: VendorWorld,
               seeds: Seeds, observer: Any, notifier: Callable[[int], Any],
               runtime: RuntimeEffects = NO_RUNTIME_EFFECTS, loop: SimLoop | None = None) -> Pods:
    """``scenario.pods`` routers over one vendor world: ``multiorg.Router``s, or with ``loop``
    (the async face) ``multiorg.AsyncRouter``s on that loop.

    ``notifier(pod_index)`` → that pod's breaker-event notifier. ``runtime``: the run's store,
    pod and clock faults (:func:`sim.fault_effects.runtime_effects`): when any pod's Redis has a
    fault, every pod keeps its breaker state in a ``RedisStore`` over a :class:`FaultyRedis`
    client on one fakeredis server (fast mode too, so both modes run the same store code); a
    pod with a clock skew gets a breaker board that reads a :class:`SkewedClock`.
    """
    if mode not in ("fast", "full"):
        raise ValueError(f"mode must be 'fast' or 'full', not {mode!r}")
    breaker = BreakerConfig(policy=policy.name, params=params_summary(policy))
    configs = [scenario.multiorg_config(i, breaker) for i in range(scenario.pods)]
    vendors: Any = None
    if loop is not None:
        if mode == "fast":
            clients: list[Any] = [AsyncFastVendorClient(loop, world, configs[0])] * scenario.pods
        else:
            mocked = AsyncMockedVendors(loop, world, configs[0])
            vendors = mocked.vendors
            clients = [AsyncHttpVendorClient(c, mocked.client()) for c in configs]
    elif mode == "fast":
        clients = [FastVendorClient(hub, world, configs[0])] * scenario.pods
    else:
        vendors = MockedVendors(hub, world, configs[0])
        clients = [HttpVendorClient(c, vendors.client()) for c in configs]
    pods = Pods([], [], vendors)
    if runtime.redis_schedule(0) is not None:
        # (a store step of the async face waits in a simulated thread, not in a request greenlet)
        _faulty_stores(pods, scenario, clock, runtime, hub.sleep_in_request if loop is None else loop.threads.sleep)
    else:
        _stores(pods, scenario, mode, clock)
    environ = scenario.environ()
    for i in range(scenario.pods):
        skews = runtime.clock_skews(i)
        board_clock = SkewedClock(clock, clock.elapsed, skews) if skews else None
        note = notifier(i)
        common: dict[str, Any] = dict(
            client=clients[i],
            store=pods.stores[i],
            clock=clock,
            rng=seeds.python_random(f"pod:{i}:router"),
            policy=policy,
            notifiers=[note if board_clock is None else UnskewNotifier(note, board_clock)],
            observer=observer,
            environ=environ,
        )
        router: Any = Router(configs[i], **common) if loop is None else \
            AsyncRouter(configs[i], executor=loop.threads, **common)
        if board_clock is not None:
            # multiorg's seam for a pod whose clock is off: the board may keep a clock of its
            # own (RoutingCore reads it when it is not the router's)
            router.core.board.clock = board_clock
        pods.routers.append(router)
    return pods


def _stores(pods: Pods, scenario: Scenario, mode: Mode, clock: SimClock) -> None:
    """The pods' stores: see the table at the top of this module."""
    n = scenario.pods
    if scenario.state == "local":
        pods.stores = [MemoryStore(clock) for _ in range(n)]
    elif mode == "fast":
        pods.stores = [MemoryStore(clock)] * n
    else:
        pods.redis_server = server = fakeredis.FakeServer()
        pods.stores = [RedisStore(fakeredis.FakeRedis(server=server, single_connection_client=True), clock,
                                  namespace=scenario.router.namespace, staleness=scenario.store_staleness())
                       for _ in range(n)]


def _faulty_stores(pods: Pods, scenario: Scenario, clock: SimClock, runtime: RuntimeEffects,
                   sleep: Callable[[float], None]) -> None:
    """Every pod's store is a ``RedisStore`` over a :class:`FaultyRedis` on one fakeredis server;
    a slow command waits with ``sleep``."""
    pods.redis_server = server = fakeredis.FakeServer()
    pods.faulty_redis = []
    for i in range(scenario.pods):
        schedule = runtime.redis_schedule(i)
        assert schedule is not None
        client = FaultyRedis(fakeredis.FakeRedis(server=server), schedule, clock.elapsed, sleep)
        pods.faulty_redis.append(client)
        pods.stores.append(RedisStore(client, clock, namespace=scenario.router.namespace,
                                      staleness=scenario.store_staleness()))
