"""Store backends for the contract suite: one fixture, three implementations.

``backend.make()`` returns a store instance — "a pod". For the Redis backends every call makes
a new :class:`RedisStore` (own cache, own client) over the same server, so two instances are
two pods sharing state. For :class:`MemoryStore` "another pod" can only be another user of the
same in-process store, so ``make()`` returns the one instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis

from multiorg.clock import ManualClock
from multiorg.stores import MemoryStore, RedisStore

STALENESS = 1.0
T0 = 1_700_000_000.0


class Backend:
    def __init__(
        self,
        name: str,
        clock: ManualClock,
        new_client: Callable[[], redis.Redis] | None = None,
        namespace: str = "multiorg",
    ) -> None:
        self.name = name
        self.clock = clock
        self.namespace = namespace
        self._new_client = new_client
        self._clients: list[redis.Redis] = []
        self._stores: list[RedisStore] = []
        #: separate instances share state through a server (and update by compare-and-set)
        self.shared = new_client is not None
        #: read cache bound in seconds (0: reads are live)
        self.staleness = STALENESS if self.shared else 0.0
        #: a raw client for peeking at keys (None for memory)
        self.client = self.new_client() if new_client is not None else None
        self._memory = MemoryStore(clock)

    def new_client(self) -> redis.Redis:
        assert self._new_client is not None
        c = self._new_client()
        self._clients.append(c)
        return c

    def close(self) -> None:
        for st in self._stores:
            st.close()  # the flag-notice subscriptions
        for c in self._clients:
            c.close()

    def make(self, **kwargs: Any) -> Any:
        """A new store instance (a pod) over this backend's shared state."""
        if self._new_client is None:
            return self._memory
        kwargs.setdefault("staleness", STALENESS)
        store = RedisStore(self.new_client(), self.clock, namespace=self.namespace, **kwargs)
        self._stores.append(store)
        return store


def _make_backend(request: pytest.FixtureRequest, name: str) -> Backend:
    clock = ManualClock(T0)
    if name == "memory":
        return Backend("memory", clock)
    if name == "fakeredis":
        server = fakeredis.FakeServer()
        return Backend("fakeredis", clock, lambda: fakeredis.FakeRedis(server=server))
    url: str = request.getfixturevalue("redis_url")
    ns: str = request.getfixturevalue("redis_namespace")
    request.getfixturevalue("redis_client")  # deletes the namespace's keys afterwards
    return Backend("redis", clock, lambda: redis.Redis.from_url(url), ns)


_REAL = pytest.param("redis", marks=pytest.mark.redis)


@pytest.fixture(params=["memory", "fakeredis", _REAL])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Every StateStore implementation."""
    b = _make_backend(request, request.param)
    yield b
    b.close()


@pytest.fixture(params=["fakeredis", _REAL])
def redis_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """RedisStore over fakeredis and over a real server."""
    b = _make_backend(request, request.param)
    yield b
    b.close()
