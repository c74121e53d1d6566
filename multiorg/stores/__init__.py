"""State stores: where breaker state and the vendor switch live.

:class:`MemoryStore` keeps them in one process (a single pod, tests, in-process drivers);
:class:`RedisStore` shares them between pods and processes through Redis with a bounded-staleness
read cache, one-round-trip optimistic compare-and-set updates, and a local fallback while Redis
is down. Both implement the :class:`StateStore` protocol; states are frozen dataclasses
registered with :func:`register_state` and encoded by :func:`encode` / :func:`decode`.
"""

from .base import StateStore
from .codec import decode, encode, register_state
from .memory import MemoryStore
from .redis import RedisStore, StoreContentionError

__all__ = [
    "MemoryStore",
    "RedisStore",
    "StateStore",
    "StoreContentionError",
    "decode",
    "encode",
    "register_state",
]
