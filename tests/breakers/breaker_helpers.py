"""Helpers for the breaker tests: drive a pure policy on a fake clock, or a board on a store."""

from __future__ import annotations

import random
from typing import Any

from multiorg.alerts import MemoryNotifier
from multiorg.breakers import Admission, BreakerBoard, BreakerView
from multiorg.clock import ManualClock
from multiorg.outcomes import Outcome
from multiorg.stores.memory import MemoryStore

T0 = 1_700_000_000.0
MODEL = "gpt-4o-mini"

S = Outcome.SUCCESS
F = Outcome.SERVER


class Driver:
    """One policy's state on a fake clock; applies the states the policy returns."""

    def __init__(self, policy: Any, t0: float = T0, seed: int = 0) -> None:
        self.policy = policy
        self.now = t0
        self.rng = random.Random(seed)
        self.state = policy.initial(t0)
        self.writes = 0

    def _apply(self, new: Any) -> Any:
        if new is not None:
            self.state = new
            self.writes += 1
        return new

    def advance(self, dt: float) -> None:
        self.now += dt

    def at(self, offset: float) -> None:
        """Set the clock to ``T0 + offset``-style absolute offsets from the start."""
        self.now = T0 + offset

    def admit(self, org: str = "a") -> Admission:
        adm, new = self.policy.admit(self.state, org, self.now, self.rng)
        self._apply(new)
        return adm

    def record(self, ticket: Admission, outcome: Outcome, org: str = "a") -> Any:
        return self._apply(self.policy.record(self.state, org, ticket, outcome, self.now))

    def release(self, ticket: Admission, org: str = "a") -> Any:
        return self._apply(self.policy.release(self.state, org, ticket, self.now))

    def call(self, outcome: Outcome, org: str = "a") -> Admission:
        """Admit and, if allowed, record ``outcome`` at the same instant."""
        adm = self.admit(org)
        if adm.allowed:
            self.record(adm, outcome, org)
        return adm

    def view(self, org: str = "a") -> BreakerView:
        return self.policy.view(self.state, org, self.now)


def make_board(policy: Any, seed: int = 0) -> tuple[BreakerBoard, ManualClock, MemoryNotifier]:
    clock = ManualClock(T0)
    notifier = MemoryNotifier()
    board = BreakerBoard(policy, MemoryStore(clock), clock, random.Random(seed), [notifier])
    return board, clock, notifier
