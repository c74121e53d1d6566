"""Hypothesis state machines: each policy against a small, plainly written reference model.

The references are deliberately naive (lists, loops, mutable fields) so that they read as the
specification: an OPEN breaker admits nothing until ``open_until``; HALF_OPEN admits only its
permitted probes at once; exponential blocks follow ``base * factor**cycle`` capped; closing
resets the cycles when ``reset_after`` is 0; stale results never move the breaker.
"""

from __future__ import annotations

import math
import random
from typing import Any

from breaker_helpers import T0
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from multiorg.breakers import (
    Admission,
    ConsecutiveBreaker,
    ExponentialBreaker,
    FailureRateBreaker,
    OutlierDetector,
    State,
)
from multiorg.breakers.common import FAIL, NEUTRAL, OK, TRIP
from multiorg.breakers.outlier import MULT, UNTIL
from multiorg.outcomes import Outcome

OUTCOMES = st.sampled_from(
    [
        Outcome.SUCCESS,
        Outcome.SUCCESS,
        Outcome.SERVER,
        Outcome.TIMEOUT,
        Outcome.SERVER,
        Outcome.RATE_LIMITED,
        Outcome.QUOTA,
        Outcome.SLOW,
    ]
)
STEPS = st.sampled_from([0.0, 0.25, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 200.0])
STATUS_OF = {"closed": "closed", "open": "open", "half": "half_open"}
SETTINGS = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- trip machine


class RefTrip:
    """consecutive / exponential, the naive way."""

    def __init__(self, p: Any, now: float) -> None:
        self.p = p
        self.status = "closed"
        self.gen = 0
        self.fails: list[float] = []
        self.open_until = 0.0
        self.block = 0.0
        self.cycle = 0
        self.next_cycle = 0
        self.closed_at = now
        self.leases: list[float] = []

    def block_for(self, cycle: int) -> float:
        p = self.p
        if isinstance(p, ConsecutiveBreaker):
            return p.open_time
        value = p.base_open_time * p.backoff_factor ** min(cycle, 200)
        return min(value, p.max_open_time)

    def permits(self) -> int:
        return getattr(self.p, "probe_permits", 1)

    def admit(self, now: float) -> tuple[bool, bool, int]:
        if self.status == "closed":
            return True, False, self.gen
        if self.status == "open":
            if now < self.open_until:
                return False, False, self.gen
            self.status, self.gen, self.leases = "half", self.gen + 1, [now]
            return True, True, self.gen
        self.leases = [at for at in self.leases if now < at + self.p.probe_timeout]
        if len(self.leases) < self.permits():
            self.leases.append(now)
            return True, True, self.gen
        return False, False, self.gen

    def open(self, now: float, cycle: int) -> None:
        self.status, self.gen, self.cycle = "open", self.gen + 1, cycle
        self.block = self.block_for(cycle)
        self.open_until = now + self.block
        self.fails, self.leases = [], []

    def record(self, t: Admission, kind: int, now: float) -> None:
        if t.generation != self.gen:
            return
        if self.status == "closed":
            if kind == OK:
                self.fails = []
            elif kind in (FAIL, TRIP):
                self.fails = [x for x in self.fails if x >= now - self.p.window] + [now]
                if kind == TRIP or len(self.fails) >= self.p.threshold:
                    remembered = now - self.closed_at < self.p.reset_after
                    self.open(now, self.next_cycle if remembered else 0)
        elif self.status == "half" and t.probe:
            if kind == NEUTRAL:
                if t.at in self.leases:
                    self.leases.remove(t.at)
            elif kind == OK:
                self.status, self.gen, self.leases, self.fails = "closed", self.gen + 1, [], []
                self.next_cycle, self.closed_at = self.cycle + 1, now
            else:
                self.open(now, self.cycle + 1)

    def release(self, t: Admission) -> None:
        if t.probe and t.generation == self.gen and self.status == "half" and t.at in self.leases:
            self.leases.remove(t.at)


trip_policies = st.one_of(
    st.builds(
        ConsecutiveBreaker,
        threshold=st.integers(1, 4),
        window=st.sampled_from([0.0, 5.0, 30.0, 60.0]),
        open_time=st.sampled_from([0.0, 10.0, 60.0]),
        probe_timeout=st.sampled_from([5.0, 30.0]),
        trip_immediately=st.sampled_from([frozenset(), frozenset({Outcome.QUOTA})]),
    ),
    st.builds(
        ExponentialBreaker,
        threshold=st.integers(1, 4),
        window=st.sampled_from([5.0, 30.0, 60.0]),
        base_open_time=st.sampled_from([10.0, 60.0]),
        max_open_time=st.sampled_from([60.0, 960.0]),
        backoff_factor=st.sampled_from([1.0, 2.0, 3.0]),
        probe_permits=st.integers(1, 3),
        probe_timeout=st.sampled_from([5.0, 30.0]),
        reset_after=st.sampled_from([0.0, 0.0, 100.0]),
        failure_outcomes=st.sampled_from(
            [
                frozenset({Outcome.SERVER, Outcome.TIMEOUT, Outcome.RATE_LIMITED}),
                frozenset({Outcome.SERVER}),
            ]
        ),
    ),
)


class TripMachine(RuleBasedStateMachine):
    tickets = Bundle("tickets")

    @initialize(policy=trip_policies)
    def setup(self, policy: Any) -> None:
        self.p = policy
        self.now = T0
        self.state = policy.initial(T0)
        self.ref = RefTrip(policy, T0)
        self.rng = random.Random(0)

    @rule(dt=STEPS)
    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.ref.status == "open")
    @rule()
    def to_the_end_of_the_block(self) -> None:
        self.now = max(self.now, self.ref.open_until)

    @precondition(lambda self: bool(self.ref.leases))
    @rule()
    def to_a_lease_expiry(self) -> None:
        self.now = max(self.now, min(self.ref.leases) + self.p.probe_timeout)

    @rule(outcome=OUTCOMES, n=st.integers(1, 4))
    def calls(self, outcome: Outcome, n: int) -> None:
        """Traffic: ``n`` attempts admitted and answered at once."""
        for _ in range(n):
            adm = self._admit()
            if adm.allowed:
                self._record(adm, outcome)

    @rule(target=tickets)
    def admit(self) -> Admission:
        return self._admit()

    @rule(ticket=consumes(tickets), outcome=OUTCOMES)
    def record(self, ticket: Admission, outcome: Outcome) -> None:
        if ticket.allowed:
            self._record(ticket, outcome)

    def _admit(self) -> Admission:
        was_open = self.state.status is State.OPEN
        until = self.state.open_until
        adm, new = self.p.admit(self.state, "a", self.now, self.rng)
        if new is not None:
            self.state = new
        assert (adm.allowed, adm.probe, adm.generation) == self.ref.admit(self.now)
        if was_open and self.now < until:
            assert not adm.allowed and adm.retry_at == until
        return adm

    def _record(self, ticket: Admission, outcome: Outcome) -> None:
        new = self.p.record(self.state, "a", ticket, outcome, self.now)
        if new is not None:
            self.state = new
        self.ref.record(ticket, self.p.kinds[outcome], self.now)

    @rule(ticket=consumes(tickets))
    def release(self, ticket: Admission) -> None:
        new = self.p.release(self.state, "a", ticket, self.now)
        if new is not None:
            self.state = new
        self.ref.release(ticket)

    @invariant()
    def matches_the_reference(self) -> None:
        if not hasattr(self, "p"):
            return
        ref, s = self.ref, self.state
        assert s.status.value == STATUS_OF[ref.status]
        assert s.generation == ref.gen
        v = self.p.view(s, "a", self.now)
        if ref.status == "open":
            assert v.open_until == ref.open_until and v.block_duration == ref.block
            assert v.retry_cycles == ref.cycle
            assert v.block_duration == ref.block_for(ref.cycle)
        if ref.status == "half":
            timeout = self.p.probe_timeout
            live = sorted(at for at in s.probes if self.now < at + timeout)
            assert live == sorted(at for at in ref.leases if self.now < at + timeout)
            assert len(live) <= ref.permits()
        if ref.status == "closed" and self.p.reset_after == 0:
            assert v.retry_cycles == 0


TestTripMachine = TripMachine.TestCase
TestTripMachine.settings = SETTINGS


# --------------------------------------------------------------------------- failure rate


class RefRate:
    """failure-rate over a count window, the naive way."""

    def __init__(self, p: FailureRateBreaker) -> None:
        self.p = p
        self.status = "closed"
        self.gen = 0
        self.window: list[tuple[bool, bool]] = []  # (failed, slow)
        self.open_until = 0.0
        self.since = 0.0
        self.leases: list[float] = []
        self.trial: list[tuple[bool, bool]] = []

    def tripped(self, results: list[tuple[bool, bool]]) -> bool:
        n = len(results)
        fails = sum(f for f, _ in results)
        slows = sum(s for _, s in results)
        return (
            100 * fails >= self.p.failure_rate_threshold * n
            or 100 * slows >= self.p.slow_call_rate_threshold * n
        )

    def open(self, now: float) -> None:
        self.status, self.gen = "open", self.gen + 1
        self.open_until = now + self.p.open_time
        self.window, self.leases, self.trial = [], [], []

    def admit(self, now: float) -> tuple[bool, bool, int]:
        p = self.p
        if self.status == "closed":
            return True, False, self.gen
        if self.status == "open":
            if now < self.open_until:
                return False, False, self.gen
            self.status, self.gen, self.since, self.leases, self.trial = (
                "half", self.gen + 1, now, [now], []
            )
            return True, True, self.gen
        if p.max_half_open_wait > 0 and now >= self.since + p.max_half_open_wait:
            self.open(now)
            return False, False, self.gen
        self.leases = [at for at in self.leases if now < at + p.probe_timeout]
        if len(self.leases) + len(self.trial) < p.half_open_permits:
            self.leases.append(now)
            return True, True, self.gen
        return False, False, self.gen

    def record(self, t: Admission, outcome: Outcome, kind: int, now: float) -> None:
        if t.generation != self.gen:
            return
        result = (kind != OK, outcome is Outcome.SLOW)
        if self.status == "closed":
            if kind == NEUTRAL:
                return
            self.window = [*self.window, result][-int(self.p.window_size) :]
            need = min(self.p.minimum_calls, int(self.p.window_size))
            if kind == TRIP or (len(self.window) >= need and self.tripped(self.window)):
                self.open(now)
        elif self.status == "half" and t.probe:
            if kind == TRIP:
                self.open(now)
                return
            if t.at not in self.leases:
                return  # expired and handed on: a late result is not counted
            self.leases.remove(t.at)
            if kind == NEUTRAL:
                return
            self.trial.append(result)
            if len(self.trial) >= self.p.half_open_permits:
                if self.tripped(self.trial):
                    self.open(now)
                else:
                    self.status, self.gen, self.window = "closed", self.gen + 1, []

    def release(self, t: Admission) -> None:
        if t.probe and t.generation == self.gen and self.status == "half" and t.at in self.leases:
            self.leases.remove(t.at)


rate_policies = st.builds(
    FailureRateBreaker,
    window_size=st.integers(1, 8),
    minimum_calls=st.integers(1, 10),
    failure_rate_threshold=st.sampled_from([25.0, 50.0, 100.0]),
    slow_call_rate_threshold=st.sampled_from([50.0, 100.0]),
    open_time=st.sampled_from([0.0, 10.0, 60.0]),
    half_open_permits=st.integers(1, 3),
    max_half_open_wait=st.sampled_from([0.0, 30.0]),
    probe_timeout=st.sampled_from([5.0, 60.0]),
    slow_is_failure=st.booleans(),
    failure_outcomes=st.sampled_from(
        [
            frozenset({Outcome.SERVER, Outcome.TIMEOUT, Outcome.RATE_LIMITED}),
            frozenset({Outcome.SERVER}),
        ]
    ),
)


class RateMachine(RuleBasedStateMachine):
    tickets = Bundle("tickets")

    @initialize(policy=rate_policies)
    def setup(self, policy: FailureRateBreaker) -> None:
        self.p = policy
        self.now = T0
        self.state = policy.initial(T0)
        self.ref = RefRate(policy)
        self.rng = random.Random(0)

    @rule(dt=STEPS)
    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.ref.status == "open")
    @rule()
    def to_the_end_of_the_wait(self) -> None:
        self.now = max(self.now, self.ref.open_until)

    @rule(outcome=OUTCOMES, n=st.integers(1, 4))
    def calls(self, outcome: Outcome, n: int) -> None:
        """Traffic: ``n`` attempts admitted and answered at once."""
        for _ in range(n):
            adm = self._admit()
            if adm.allowed:
                self._record(adm, outcome)

    @rule(target=tickets)
    def admit(self) -> Admission:
        return self._admit()

    @rule(ticket=consumes(tickets), outcome=OUTCOMES)
    def record(self, ticket: Admission, outcome: Outcome) -> None:
        if ticket.allowed:
            self._record(ticket, outcome)

    def _admit(self) -> Admission:
        was_open = self.state.status is State.OPEN
        until = self.state.open_until
        adm, new = self.p.admit(self.state, "a", self.now, self.rng)
        if new is not None:
            self.state = new
        assert (adm.allowed, adm.probe, adm.generation) == self.ref.admit(self.now)
        if was_open and self.now < until:
            assert not adm.allowed and adm.retry_at == until
        return adm

    def _record(self, ticket: Admission, outcome: Outcome) -> None:
        new = self.p.record(self.state, "a", ticket, outcome, self.now)
        if new is not None:
            self.state = new
        self.ref.record(ticket, outcome, self.p.kinds[outcome], self.now)

    @rule(ticket=consumes(tickets))
    def release(self, ticket: Admission) -> None:
        new = self.p.release(self.state, "a", ticket, self.now)
        if new is not None:
            self.state = new
        self.ref.release(ticket)

    @invariant()
    def matches_the_reference(self) -> None:
        if not hasattr(self, "p"):
            return
        ref, s = self.ref, self.state
        assert s.status.value == STATUS_OF[ref.status]
        assert s.generation == ref.gen
        if ref.status == "closed":
            assert len(s.ring) == len(ref.window)
            assert [c in "fx" for c in s.ring] == [f for f, _ in ref.window]
        if ref.status == "half":
            assert len(s.trial) == len(ref.trial) < self.p.half_open_permits
            live = [at for at in s.probes if self.now < at + self.p.probe_timeout]
            assert len(live) + len(s.trial) <= self.p.half_open_permits


TestRateMachine = RateMachine.TestCase
TestRateMachine.settings = SETTINGS


# --------------------------------------------------------------------------- outlier


outlier_policies = st.builds(
    OutlierDetector,
    consecutive_failures=st.sampled_from([0, 2, 3, 5]),
    interval=st.sampled_from([5.0, 10.0]),
    base_ejection_time=st.sampled_from([10.0, 30.0]),
    max_ejection_time=st.sampled_from([30.0, 100.0]),
    max_ejection_percent=st.sampled_from([0.0, 10.0, 50.0, 100.0]),
    always_eject_one=st.booleans(),
    success_rate_minimum_hosts=st.integers(1, 3),
    success_rate_request_volume=st.integers(1, 5),
    failure_percentage_threshold=st.sampled_from([None, 50.0, 85.0]),
    failure_percentage_minimum_hosts=st.integers(1, 3),
    failure_percentage_request_volume=st.integers(1, 5),
)


class OutlierMachine(RuleBasedStateMachine):
    """No full reference: the ejection rules as invariants."""

    tickets = Bundle("tickets")

    @initialize(policy=outlier_policies, n=st.integers(1, 4))
    def setup(self, policy: OutlierDetector, n: int) -> None:
        self.p = policy
        self.orgs = ["o1", "o2", "o3", "o4"][:n]
        self.now = T0
        self.state = policy.initial(T0)
        self.rng = random.Random(0)
        self.gens: dict[str, int] = {}

    @rule(dt=STEPS)
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(i=st.integers(0, 3), outcome=OUTCOMES, n=st.integers(1, 6))
    def calls(self, i: int, outcome: Outcome, n: int) -> None:
        """Traffic: ``n`` attempts on one org, admitted and answered at once."""
        for _ in range(n):
            org, adm = self._admit(i)
            if adm.allowed:
                new = self.p.record(self.state, org, adm, outcome, self.now)
                if new is not None:
                    self.state = new

    @rule(target=tickets, i=st.integers(0, 3))
    def admit(self, i: int) -> tuple[str, Admission]:
        return self._admit(i)

    def _admit(self, i: int) -> tuple[str, Admission]:
        org = self.orgs[i % len(self.orgs)]
        v = self.p.view(self.state, org, self.now)
        adm, new = self.p.admit(self.state, org, self.now, self.rng)
        if new is not None:
            self.state = new
        if v.state is State.OPEN and v.open_until is not None and self.now < v.open_until:
            assert not adm.allowed and adm.retry_at == v.open_until  # ejected: nothing
        if v.state is State.CLOSED and self.now < self.state.interval_end and new is None:
            assert adm.allowed  # (a boundary crossed here may eject it first)
        return org, adm

    @rule(item=consumes(tickets), outcome=OUTCOMES, repeat=st.integers(1, 6))
    def record(self, item: tuple[str, Admission], outcome: Outcome, repeat: int) -> None:
        org, ticket = item
        if not ticket.allowed:
            return
        for _ in range(repeat):  # several attempts admitted at once, same generation
            new = self.p.record(self.state, org, ticket, outcome, self.now)
            if new is not None:
                self.state = new

    @invariant()
    def ejection_rules_hold(self) -> None:
        if not hasattr(self, "p"):
            return
        p, s = self.p, self.state
        names = p.orgs_in(s)
        assert list(names) == sorted(set(names))
        n = len(names)
        active = [e for e in s.orgs if e[UNTIL] is not None and e[UNTIL] > self.now]
        if n:
            assert len(active) < n or n == 0  # never every org
            cap = math.floor(p.max_ejection_percent * n / 100 + 1e-9)
            assert len(active) <= max(cap, 1 if p.always_eject_one else 0)
        for e in s.orgs:
            v = p.view(s, e[0], self.now)
            assert v.generation >= self.gens.get(e[0], 0)
            self.gens[e[0]] = v.generation
            if e[UNTIL] is not None:
                mult = e[MULT]
                base = p.base_ejection_time
                assert mult >= 1 and (mult - 1) * base < p.max_ejection_time + base
                assert v.block_duration == min(p.base_ejection_time * mult, p.max_ejection_time)


TestOutlierMachine = OutlierMachine.TestCase
TestOutlierMachine.settings = SETTINGS
