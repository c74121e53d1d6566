"""The state store protocol: the one place breaker state lives.

``update`` is the only way to change shared state: the store applies a pure function to the
freshest stored value atomically (compare-and-set on a version in Redis, a lock in memory), so
concurrent pods and processes never lose an update. ``read`` may answer from a local cache
up to ``staleness`` seconds old (by the injected clock) to keep round trips off the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

S = TypeVar("S")
R = TypeVar("R")


class StateStore(Protocol):
    """(A store may say ``blocking = False`` when no operation does I/O: then
    :class:`~multiorg.router.AsyncRouter` calls it on its event loop; otherwise off the loop.)"""

    def read(self, key: str, default: Callable[[], S]) -> S:
        """The value at ``key`` (possibly cached, bounded staleness), or ``default()`` if none."""
        ...

    def update(
        self, key: str, fn: Callable[[S], tuple[R, S | None]], default: Callable[[], S]
    ) -> tuple[R, S, S | None]:
        """Atomically apply ``fn`` to the freshest value at ``key``.

        ``fn(current)`` returns ``(result, new_value_or_None)``; ``None`` writes nothing. ``fn``
        may be called more than once (on conflict it is re-run on the newer value), so it must
        be pure. Returns ``(result, the value fn last saw, the value written or None)``.
        """
        ...

    def get_flag(self, name: str) -> str | None:
        """A small shared setting such as the active vendor (cached, bounded staleness)."""
        ...

    def set_flag(self, name: str, value: str | None) -> None: ...

    # Optional: ``pace(key, now, *, rate, ceiling, take=0.0, reserve=False, at_most=None) -> Spent``,
    # one atomic operation on a rate-limit window shared by every pod (multiorg.stores.window). A
    # store without it paces each pod against its own window (the router keeps one in memory).
