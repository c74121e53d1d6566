"""Time and randomness are injected: the router never reads the wall clock or global random."""

from __future__ import annotations

import random
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning UNIX epoch seconds as a float."""

    def now(self) -> float: ...


class SystemClock:
    """The production clock: the wall clock in epoch seconds."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: for tests and sans-IO drivers."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"clock cannot go back: advance({seconds})")
        self._now += seconds

    def set(self, epoch_seconds: float) -> None:
        self._now = float(epoch_seconds)


class Rng(Protocol):
    """The subset of ``random.Random`` the router uses."""

    def random(self) -> float: ...


def default_rng() -> random.Random:
    return random.Random()
