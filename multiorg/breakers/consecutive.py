"""``consecutive``: N failures within T seconds open the breaker for a fixed time, then one probe.

The classic breaker, and the ``exponential`` machine with a constant block: see
:mod:`multiorg.breakers.exponential` for the exact rules (window edges, trip-immediately
outcomes, probe leases, stale results). Here every block lasts ``open_time``; half-open admits
exactly one probe at a time; its success closes the breaker, its failure re-opens it for
another ``open_time``. Nothing is remembered across a close (``reset_after`` is 0). The view
still counts ``retry_cycles`` (blocks in a row without a clean close) for the alert.
"""

from __future__ import annotations

from typing import ClassVar

from .common import Seconds, param
from .exponential import TripBreaker, TripState

__all__ = ["ConsecutiveBreaker", "TripState"]


class ConsecutiveBreaker(TripBreaker):
    """``threshold`` failures within ``window`` → OPEN for ``open_time`` → one probe."""

    name: ClassVar[str] = "consecutive"
    probe_permits: ClassVar[int] = 1
    reset_after: ClassVar[float] = 0.0

    open_time: Seconds = param(60.0, "how long the breaker stays open after each trip", "s")

    def block_for(self, cycle: int) -> float:
        return self.open_time
