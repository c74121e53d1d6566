"""The simulated clock the router is given: simpy's time, in epoch seconds.

The router reads time only through an injected ``Clock`` (``now() -> epoch seconds``). In the
simulation that is ``start_epoch + env.now``; traces store simulated seconds (``now - start_epoch``).
Its ``sleep`` (the router waiting for capacity) suspends the calling simulated request for that
many simulated seconds through the hub (:meth:`sim.bridge.Hub.sleep`): the sim provides the
injected clock, the router sleeps on it as it would on the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import simpy

DEFAULT_START = "2025-03-19T00:00:00Z"


def parse_epoch(value: str | float | int | datetime) -> float:
    """An ISO 8601 datetime (``Z`` or an offset; naive means UTC) or epoch seconds → epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class SimClock:
    """``now()`` = ``start_epoch + env.now``: what the router, its stores and breakers see."""

    __slots__ = ("env", "sleep", "start_epoch")

    def __init__(
        self, env: simpy.Environment, start_epoch: float, sleep: Callable[[float], None] | None = None
    ) -> None:
        self.env = env
        self.start_epoch = float(start_epoch)
        #: suspends the calling simulated request (the hub's ``sleep``); without a hub, an error
        self.sleep: Callable[[float], None] = sleep or _no_hub

    def now(self) -> float:
        return self.start_epoch + self.env._now

    def elapsed(self) -> float:
        """Simulated seconds since t = 0."""
        return self.env._now

    def sim_time(self, epoch: float) -> float:
        return epoch - self.start_epoch


def _no_hub(seconds: float) -> None:
    raise RuntimeError("this SimClock has no hub to sleep on: build it with SimClock(env, start, hub.sleep)")
