"""``adaptive``: Google SRE client-side throttling with a seeded RNG."""

from __future__ import annotations

import random

from breaker_helpers import T0, Driver, F, S
from hypothesis import given, settings
from hypothesis import strategies as st

from multiorg.breakers import AdaptiveState, AdaptiveThrottle, State
from multiorg.outcomes import Outcome


class CountingRng:
    def __init__(self, seed: int = 0) -> None:
        self.r = random.Random(seed)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.r.random()


def test_probability_formula() -> None:
    p = AdaptiveThrottle(k=2.0)
    assert p.probability(0, 0) == 0.0
    assert p.probability(10, 5) == 0.0  # 10 - 2*5 = 0
    assert p.probability(10, 2) == 6 / 11
    assert p.probability(100, 0) == 100 / 101
    assert AdaptiveThrottle(k=1.5).probability(10, 2) == (10 - 3) / 11


def test_healthy_org_never_draws_and_admits_without_writes() -> None:
    rng = CountingRng()
    p = AdaptiveThrottle()
    s = p.initial(T0)
    for i in range(200):
        adm, new = p.admit(s, "a", T0 + i * 0.1, rng)
        assert adm.allowed and new is None
        s = p.record(s, "a", adm, S, T0 + i * 0.1)
    assert rng.draws == 0
    assert s.requests == s.accepts == 200


def test_in_flight_attempts_do_not_count_as_rejections() -> None:
    # a cold window with many attempts in flight: nothing is throttled before results arrive
    rng = CountingRng()
    p = AdaptiveThrottle()
    s = p.initial(T0)
    tickets = []
    for _ in range(100):
        adm, new = p.admit(s, "a", T0, rng)
        assert adm.allowed and new is None
        tickets.append(adm)
    for t in tickets:
        s = p.record(s, "a", t, S, T0 + 5)
    assert s.requests == 100 and rng.draws == 0


def test_rejections_follow_the_formula_with_a_seeded_rng() -> None:
    p = AdaptiveThrottle(k=2.0)
    s = AdaptiveState(((int(T0 / 5), 10, 2, 8),), 10, 2, 8)
    ref = random.Random(42)
    rng = random.Random(42)
    requests = 10
    rejected = 0
    for _ in range(50):
        prob = (requests - 2 * 2) / (requests + 1)
        expected = ref.random() >= prob
        adm, new = p.admit(s, "a", T0, rng)
        assert adm.allowed is expected
        if not adm.allowed:
            assert adm.retry_at is None
            requests += 1  # a local rejection counts as a request at once (SRE: all attempts)
            rejected += 1
            s = new
        else:
            assert new is None  # an admitted attempt is counted with its result
        assert s.requests == requests
    assert 0 < rejected < 50


def test_failures_raise_the_rejection_rate_and_the_view() -> None:
    d = Driver(AdaptiveThrottle(open_view_threshold=0.5), seed=1)
    for _ in range(10):
        d.call(S)
    assert d.view().state is State.CLOSED
    rejected = 0
    for _ in range(300):
        a = d.call(F)
        rejected += not a.allowed
    v = d.view()
    assert v.state is State.OPEN and v.generation == 1
    assert rejected > 150
    assert v.failure_count == 300 - rejected


def test_window_slides_and_view_closes_again() -> None:
    d = Driver(AdaptiveThrottle(window=120, bucket=5), seed=3)
    for _ in range(100):
        d.call(F)
    assert d.view().state is State.OPEN
    d.advance(125)  # all of that has left the window
    for _ in range(5):
        assert d.call(S).allowed
    assert d.view().state is State.CLOSED and d.view().generation == 2
    assert d.state.requests == 5 and len(d.state.buckets) == 1


def test_release_changes_nothing_and_results_are_never_stale() -> None:
    d = Driver(AdaptiveThrottle())
    a = d.admit()
    assert d.release(a) is None
    assert d.record(a, Outcome.TIMEOUT) is not None


def test_trip_immediately_forgets_accepts_when_configured() -> None:
    d = Driver(AdaptiveThrottle())
    for _ in range(20):
        d.call(S)
    d.call(Outcome.QUOTA)  # default (pure SRE): just a failure
    assert d.state.accepts == 20
    d = Driver(AdaptiveThrottle(trip_immediately=["quota"]))
    for _ in range(20):
        d.call(S)
    d.call(Outcome.QUOTA)
    assert d.state.accepts == 0 and d.state.requests == 21
    assert d.view().state is State.OPEN


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(0, 30), st.sampled_from([S, F, Outcome.SLOW, None])), max_size=60
    ),
    seed=st.integers(0, 2**16),
    k=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
)
def test_property_matches_reference_counts(steps: list, seed: int, k: float) -> None:
    """Admission decisions equal the SRE formula over a plainly kept window."""
    p = AdaptiveThrottle(k=k, window=60, bucket=5)
    s = p.initial(T0)
    rng, ref_rng = random.Random(seed), random.Random(seed)
    events: list[tuple[int, int, int]] = []  # (bucket, requests, accepts)
    now = T0
    for dt, outcome in steps:
        now += dt
        cur = int(now // 5)
        live = [e for e in events if e[0] > cur - 12]
        r = sum(e[1] for e in live)
        a = sum(e[2] for e in live)
        prob = max(0.0, (r - k * a) / (r + 1))
        expected = prob == 0.0 or ref_rng.random() >= prob
        adm, new = p.admit(s, "a", now, rng)
        assert adm.allowed is expected
        s = new or s
        if not adm.allowed:
            events.append((cur, 1, 0))
        elif outcome is not None:
            s = p.record(s, "a", adm, outcome, now)
            events.append((cur, 1, 0 if outcome is F else 1))
        assert p.window_counts(s, now) == (
            sum(e[1] for e in events if e[0] > cur - 12),
            sum(e[2] for e in events if e[0] > cur - 12),
        )
