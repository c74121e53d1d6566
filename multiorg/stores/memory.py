"""MemoryStore: breaker state in one process, for a single pod, tests and in-process drivers.

States are kept as the (immutable) objects themselves — no encoding — and ``read`` is one dict
lookup: this store can sit on a hot path of millions of calls. ``update`` holds a ``threading.Lock`` while
it applies ``fn``, so concurrent threads never lose an update. ``read`` is never stale.

It is also :class:`~multiorg.stores.redis.RedisStore`'s local fallback while Redis is down
(:meth:`seed` and :meth:`clear` exist for that).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..clock import Clock
from .window import Spent, Window, spend

S = TypeVar("S")
R = TypeVar("R")

_MISSING: Any = object()


class MemoryStore:
    """An in-process :class:`~multiorg.stores.base.StateStore`.

    ``clock`` is accepted for symmetry with the shared stores; a memory store is never stale,
    so it does not need one.
    """

    __slots__ = ("_clock", "_data", "_flags", "_lock", "_windows")

    #: network round trips (always 0; mirrors :attr:`RedisStore.round_trips` for benchmarks)
    round_trips = 0
    #: no I/O: an async face calls it on its event loop
    blocking = False
    #: ``read`` returns the freshest value (no cache): a result that changes nothing on what it
    #: reads needs no confirming ``update`` (see :class:`~multiorg.breakers.board.BreakerBoard`)
    fresh_reads = True

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock
        self._data: dict[str, Any] = {}
        self._flags: dict[str, str] = {}
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(keys={len(self._data)}, flags={len(self._flags)})"

    # ------------------------------------------------------------------ state

    def read(self, key: str, default: Callable[[], S]) -> S:
        value = self._data.get(key, _MISSING)
        # default() is called per read, not stored: initial states may depend on ``now``.
        return default() if value is _MISSING else value

    def update(
        self, key: str, fn: Callable[[S], tuple[R, S | None]], default: Callable[[], S]
    ) -> tuple[R, S, S | None]:
        with self._lock:
            value = self._data.get(key, _MISSING)
            current = default() if value is _MISSING else value
            result, new = fn(current)
            if new is not None:
                self._data[key] = new
            return result, current, new

    # ------------------------------------------------------------------ rate-limit windows

    def pace(
        self,
        key: str,
        now: float,
        *,
        rate: float,
        ceiling: float,
        take: float = 0.0,
        reserve: bool = False,
        at_most: float | None = None,
    ) -> Spent:
        """One operation on the shared window at ``key`` (see :mod:`multiorg.stores.window`)."""
        with self._lock:
            answer, new = spend(
                self._windows.get(key), now, rate=rate, ceiling=ceiling, take=take, reserve=reserve, at_most=at_most
            )
            if new is not None:
                self._windows[key] = new
            return answer

    # ------------------------------------------------------------------ flags

    def get_flag(self, name: str) -> str | None:
        return self._flags.get(name)

    def set_flag(self, name: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._flags.pop(name, None)
            else:
                self._flags[name] = value

    # ------------------------------------------------------------------ maintenance

    def seed(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` unless it already holds one (a fallback's starting point)."""
        with self._lock:
            self._data.setdefault(key, value)

    def seed_flag(self, name: str, value: str | None) -> None:
        """Set flag ``name`` unless it was already set here (``None`` seeds nothing)."""
        if value is None:
            return
        with self._lock:
            self._flags.setdefault(name, value)

    def clear(self) -> None:
        """Forget every state and flag."""
        with self._lock:
            self._data.clear()
            self._flags.clear()
            self._windows.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        """The keys holding a state, sorted (deterministic for reports)."""
        return sorted(self._data)
