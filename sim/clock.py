"""The simulated clock the router is given: simpy's time, in epoch seconds.

The router reads time only through an injected ``Clock`` (``now() -> epoch seconds``). In the
simulation that is ``start_epoch + env.now``; traces store simulated seconds (``now - start_epoch``).
"""

from __future__ import annotations

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

    __slots__ = ("env", "start_epoch")

    def __init__(self, env: simpy.Environment, start_epoch: float) -> None:
        self.env = env
        self.start_epoch = float(start_epoch)

    def now(self) -> float:
        return self.start_epoch + self.env._now

    def elapsed(self) -> float:
        """Simulated seconds since t = 0."""
        return self.env._now

    def sim_time(self, epoch: float) -> float:
        return epoch - self.start_epoch
