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
from multiorg.client import HttpVendorClient
from multiorg.config import BreakerConfig
from multiorg.router import Router
from multiorg.stores.memory import MemoryStore
from multiorg.stores.redis import RedisStore

from .bridge import Hub
from .clock import SimClock
from .fast import FastVendorClient
from .fault_hooks import NO_RUNTIME_EFFECTS, FaultyRedis, RuntimeEffects, SkewedClock, UnskewNotifier
from .full import MockedVendors
from .rng import Seeds
from .scenario import Scenario
from .vendor_model import VendorWorld

Mode = Literal["fast", "full"]


@dataclass
class Pods:
    routers: list[Router]
    stores: list[Any]
    #: full mode: the respx-mocked vendors
    vendors: Any = None
    #: the fakeredis server (full mode with shared state, or a store fault)
    redis_server: Any = None
    #: per pod, the Redis client a store fault acts on (empty without store faults)
    faulty_redis: list[FaultyRedis] | None = None


def build_pods(scenario: Scenario, policy: Any, mode: Mode, *, hub: Hub, clock: SimClock, world: VendorWorld,
               seeds: Seeds, observer: Any, notifier: Callable[[int], Any],
               runtime: RuntimeEffects = NO_RUNTIME_EFFECTS) -> Pods:
    """``scenario.pods`` routers over one vendor world.

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
    vendors = None
    if mode == "fast":
        clients: list[Any] = [FastVendorClient(hub, world, configs[0])] * scenario.pods
    else:
        vendors = MockedVendors(hub, world, configs[0])
        clients = [HttpVendorClient(c, vendors.client()) for c in configs]
    pods = Pods([], [], vendors)
    if runtime.redis_schedule(0) is not None:
        _faulty_stores(pods, scenario, hub, clock, runtime)
    else:
        _stores(pods, scenario, mode, clock)
    environ = scenario.environ()
    for i in range(scenario.pods):
        skews = runtime.clock_skews(i)
        board_clock = SkewedClock(clock, clock.elapsed, skews) if skews else None
        note = notifier(i)
        router = Router(
            configs[i],
            client=clients[i],
            store=pods.stores[i],
            clock=clock,
            rng=seeds.python_random(f"pod:{i}:router"),
            policy=policy,
            notifiers=[note if board_clock is None else UnskewNotifier(note, board_clock)],
            observer=observer,
            environ=environ,
        )
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


def _faulty_stores(pods: Pods, scenario: Scenario, hub: Hub, clock: SimClock, runtime: RuntimeEffects) -> None:
    """Every pod's store is a ``RedisStore`` over a :class:`FaultyRedis` on one fakeredis server."""
    pods.redis_server = server = fakeredis.FakeServer()
    pods.faulty_redis = []
    for i in range(scenario.pods):
        schedule = runtime.redis_schedule(i)
        assert schedule is not None
        client = FaultyRedis(fakeredis.FakeRedis(server=server), schedule, clock.elapsed, hub.sleep_in_request)
        pods.faulty_redis.append(client)
        pods.stores.append(RedisStore(client, clock, namespace=scenario.router.namespace,
                                      staleness=scenario.store_staleness()))
