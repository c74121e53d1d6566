"""Time and randomness are injected: the router never reads the wall clock or global random.

A clock may also sleep: ``sleep(seconds)`` for the sync face, ``async asleep(seconds)`` for the
async one. The router waits for capacity (``router.wait_for_capacity``) only on a clock that can
sleep (a clock with ``now()`` alone fails fast, as before); the async face awaits ``asyncio.sleep``
when its clock has no ``asleep``.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now()`` returning UNIX epoch seconds as a float."""

    def now(self) -> float: ...


class SleepingClock(Clock, Protocol):
    """A clock the sync router can wait on: ``sleep`` spends ``seconds`` of this clock's time."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The production clock: the wall clock in epoch seconds."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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

    def sleep(self, seconds: float) -> None:
        """Sleeping on a manual clock moves it: the sleeper wakes exactly ``seconds`` later."""
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)  # a turn of the loop, as a real sleep gives


class Rng(Protocol):
    """The subset of ``random.Random`` the router uses."""

    def random(self) -> float: ...


def default_rng() -> random.Random:
    return random.Random()
