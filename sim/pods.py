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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from multiorg.config import BreakerConfig
from multiorg.router import Router
from multiorg.stores.memory import MemoryStore

from .bridge import Hub
from .clock import SimClock
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
    #: full mode, shared state: the fakeredis server
    redis_server: Any = None


def build_pods(scenario: Scenario, policy: Any, mode: Mode, *, hub: Hub, clock: SimClock, world: VendorWorld,
               seeds: Seeds, observer: Any, notifier: Any) -> Pods:
    """``notifier(pod_index)`` → that pod's breaker-event notifier."""
    breaker = BreakerConfig(policy=policy.name, params=_params(policy))
    configs = [scenario.multiorg_config(i, breaker) for i in range(scenario.pods)]
    environ = scenario.environ()
    shared = scenario.state == "shared"
    stores: list[Any] = []
    vendors = None
    server = None
    if mode == "fast":
        from .fast import FastVendorClient

        client = FastVendorClient(hub, world, configs[0])
        clients = [client] * scenario.pods
        one = MemoryStore(clock)
        stores = [one if shared else MemoryStore(clock) for _ in range(scenario.pods)]
    elif mode == "full":
        from multiorg.client import HttpVendorClient

        from .full import MockedVendors

        vendors = MockedVendors(hub, world, configs[0])
        clients = [HttpVendorClient(c, vendors.client()) for c in configs]
        if shared:
            import fakeredis

            from multiorg.stores.redis import RedisStore

            server = fakeredis.FakeServer()
            staleness = scenario.store_staleness()
            ns = scenario.router.namespace
            stores = [RedisStore(fakeredis.FakeRedis(server=server, single_connection_client=True), clock,
                                 namespace=ns, staleness=staleness)
                      for _ in range(scenario.pods)]
        else:
            stores = [MemoryStore(clock) for _ in range(scenario.pods)]
    else:
        raise ValueError(f"mode must be 'fast' or 'full', not {mode!r}")
    routers = [
        Router(
            configs[i],
            client=clients[i],
            store=stores[i],
            clock=clock,
            rng=seeds.python_random(f"pod:{i}:router"),
            policy=policy,
            notifiers=[notifier(i)],
            observer=observer,
            environ=environ,
        )
        for i in range(scenario.pods)
    ]
    return Pods(routers, stores, vendors, server)


def _params(policy: Any) -> dict[str, Any]:
    from multiorg.breakers.base import params_summary

    return params_summary(policy)
