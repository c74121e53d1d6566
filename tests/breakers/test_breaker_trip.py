"""``consecutive`` and ``exponential``: the shared trip machine, driven as pure functions."""

from __future__ import annotations

import pytest
from breaker_helpers import T0, Driver, F, S

from multiorg.breakers import ConsecutiveBreaker, ExponentialBreaker, State, TripState
from multiorg.breakers.common import admit_unchanged
from multiorg.errors import ConfigError
from multiorg.outcomes import Outcome

Q = Outcome.QUOTA


def trip(d: Driver, n: int = 3, outcome: Outcome = F) -> None:
    for _ in range(n):
        d.call(outcome)


# --------------------------------------------------------------------------- closed


@pytest.mark.parametrize("cls", [ConsecutiveBreaker, ExponentialBreaker])
def test_closed_fast_path_is_shared_and_writes_nothing(cls: type) -> None:
    p = cls()
    state = p.initial(T0)
    r1 = p.admit(state, "a", T0, None)
    r2 = p.admit(state, "b", T0 + 5, None)
    assert r1 is r2 is admit_unchanged(0)
    adm, new = r1
    assert adm.allowed and not adm.probe and new is None
    assert p.record(state, "a", adm, S, T0) is None  # steady-state success: no store write
    assert p.record(state, "a", adm, Outcome.SLOW, T0) is None


def test_threshold_failures_within_window_trip() -> None:
    d = Driver(ConsecutiveBreaker(threshold=3, window=60, open_time=30))
    trip(d, 2)
    assert d.view().state is State.CLOSED and d.view().failure_count == 2
    d.advance(10)
    d.call(F)
    v = d.view()
    assert v.state is State.OPEN and v.generation == 1
    assert v.failure_count == 3 and v.open_until == d.now + 30 and v.block_duration == 30
    assert v.retry_cycles == 0


def test_window_edge_is_inclusive() -> None:
    d = Driver(ConsecutiveBreaker(threshold=3, window=60))
    for t in (0.0, 30.0, 60.0):  # t3 - t1 == window: trips
        d.at(t)
        d.call(F)
    assert d.view().state is State.OPEN

    d = Driver(ConsecutiveBreaker(threshold=3, window=60))
    for t in (0.0, 30.0, 60.5):  # the first failure has left the window
        d.at(t)
        d.call(F)
    assert d.view().state is State.CLOSED
    assert d.state.failures == (T0 + 30.0, T0 + 60.5)
    d.at(90.0)  # 90 - 30 == 60: still inside
    d.call(F)
    assert d.view().state is State.OPEN


def test_success_resets_the_run_and_neutral_does_not() -> None:
    d = Driver(ConsecutiveBreaker())
    for o in (F, F, S, F, F):
        d.call(o)
    assert d.view().state is State.CLOSED and d.view().failure_count == 2

    no_429 = frozenset(ConsecutiveBreaker().failure_outcomes - {Outcome.RATE_LIMITED})
    d = Driver(ConsecutiveBreaker(failure_outcomes=no_429))
    for o in (F, F, Outcome.RATE_LIMITED):
        d.call(o)
    assert d.view().failure_count == 2  # a neutral 429 neither counts nor resets
    d.call(F)
    assert d.view().state is State.OPEN


@pytest.mark.parametrize("outcome", [Outcome.QUOTA, Outcome.AUTH])
def test_trip_immediately(outcome: Outcome) -> None:
    d = Driver(ExponentialBreaker())
    d.call(F)
    d.call(outcome)
    v = d.view()
    assert v.state is State.OPEN and v.failure_count == 2


def test_trip_immediately_is_configurable() -> None:
    d = Driver(ExponentialBreaker(trip_immediately=[]))
    d.call(Q)
    assert d.view().state is State.CLOSED and d.view().failure_count == 1
    d = Driver(ExponentialBreaker(trip_immediately=["server"], failure_outcomes=["timeout"]))
    d.call(F)  # counts as a failure although not listed in failure_outcomes
    assert d.view().state is State.OPEN


def test_slow_is_success_unless_configured() -> None:
    d = Driver(ConsecutiveBreaker(threshold=2))
    d.call(F)
    d.call(Outcome.SLOW)
    assert d.state.failures == ()
    d = Driver(ConsecutiveBreaker(threshold=2, slow_is_failure=True))
    d.call(Outcome.SLOW)
    d.call(Outcome.SLOW)
    assert d.view().state is State.OPEN


# --------------------------------------------------------------------------- open / half-open


def test_open_refuses_until_open_until_then_one_probe() -> None:
    d = Driver(ConsecutiveBreaker(open_time=60, probe_timeout=20))
    trip(d)
    until = d.view().open_until
    assert until is not None
    d.now = until - 0.001
    a = d.admit()
    assert not a.allowed and a.retry_at == until
    d.now = until  # the edge: the block is over
    probe = d.admit()
    assert probe.allowed and probe.probe and probe.generation == 2 and probe.at == until
    assert d.view().state is State.HALF_OPEN
    other = d.admit()
    assert not other.allowed and other.retry_at == until + 20  # when the lease would expire


def test_probe_success_closes_probe_failure_reopens() -> None:
    d = Driver(ConsecutiveBreaker(open_time=60))
    trip(d)
    d.advance(60)
    d.record(d.admit(), S)
    v = d.view()
    assert v.state is State.CLOSED and v.generation == 3 and v.retry_cycles == 0

    trip(d)
    d.advance(60)
    d.record(d.admit(), F)
    v = d.view()
    assert v.state is State.OPEN and v.block_duration == 60  # consecutive: fixed blocks
    assert v.retry_cycles == 1 and v.failure_count == 4


def test_hung_probe_lease_expires() -> None:
    d = Driver(ConsecutiveBreaker(open_time=10, probe_timeout=30))
    trip(d)
    d.advance(10)
    hung = d.admit()
    assert hung.probe
    d.advance(29.999)
    assert not d.admit().allowed
    d.now = hung.at + 30  # lease expired exactly now: the permit is free
    second = d.admit()
    assert second.allowed and second.probe
    assert d.state.probes == (second.at,)
    # the hung probe answers at last: same generation, still news about the org
    d.record(hung, S)
    assert d.view().state is State.CLOSED


def test_cancelled_probe_gives_its_permit_back() -> None:
    d = Driver(ConsecutiveBreaker(open_time=10))
    trip(d)
    d.advance(10)
    probe = d.admit()
    assert not d.admit().allowed
    assert d.release(probe) is not None
    assert d.view().state is State.HALF_OPEN  # judged nothing
    assert d.release(probe) is None  # already given back
    assert d.admit().allowed


def test_release_ignores_regular_and_stale_tickets() -> None:
    p = ConsecutiveBreaker(open_time=10)
    d = Driver(p)
    regular = d.admit()
    assert d.release(regular) is None
    trip(d)
    d.advance(10)
    probe = d.admit()
    d.record(probe, F)  # re-opened: generation 3
    assert p.release(d.state, "a", probe, d.now) is None


def test_neutral_probe_result_only_frees_the_permit() -> None:
    d = Driver(ConsecutiveBreaker(failure_outcomes=["server"], trip_immediately=[], open_time=5))
    trip(d)
    d.advance(5)
    probe = d.admit()
    d.record(probe, Outcome.RATE_LIMITED)
    assert d.view().state is State.HALF_OPEN and d.state.probes == ()
    assert d.admit().probe


def test_results_from_an_earlier_generation_are_ignored() -> None:
    d = Driver(ExponentialBreaker(probe_permits=2))
    early = d.admit()  # admitted while closed, generation 0
    trip(d)
    assert d.record(early, F) is None  # arrives while open: stale
    d.advance(60)
    p1, p2 = d.admit(), d.admit()
    assert p1.probe and p2.probe and p1.generation == p2.generation == 2
    assert d.record(early, S) is None  # a stale success does not close a half-open breaker
    d.record(p1, F)
    assert d.view().state is State.OPEN and d.view().generation == 3
    assert d.record(p2, S) is None  # the second probe's success is from generation 2
    assert d.view().state is State.OPEN


def test_ticket_from_a_newer_generation_asks_for_the_fresh_state() -> None:
    p = ExponentialBreaker()
    d = Driver(p)
    cached = d.state
    trip(d)
    d.advance(60)
    probe = d.admit()
    d.record(probe, S)  # closed again: generation 3
    fresh_ticket = d.admit()
    # on a stale cached copy, the result must not be dropped as "nothing to do"
    assert p.record(cached, "a", fresh_ticket, F, d.now) is cached
    assert p.release(cached, "a", probe, d.now) is cached


# --------------------------------------------------------------------------- exponential


def test_exponential_blocks_double_up_to_the_cap() -> None:
    d = Driver(ExponentialBreaker())  # the seed: 1, 2, 4, 8, 16 minutes
    trip(d)
    blocks, cycles, counts = [], [], []
    for _ in range(7):
        v = d.view()
        blocks.append(v.block_duration)
        cycles.append(v.retry_cycles)
        counts.append(v.failure_count)
        assert v.open_until == d.now + v.block_duration
        d.now = v.open_until
        d.record(d.admit(), F)
    assert blocks == [60, 120, 240, 480, 960, 960, 960]
    assert cycles == [0, 1, 2, 3, 4, 5, 6]
    assert counts == [3, 4, 5, 6, 7, 8, 9]


def test_exponential_block_for_never_overflows() -> None:
    p = ExponentialBreaker(base_open_time=1, max_open_time=100, backoff_factor=3)
    assert [p.block_for(c) for c in range(6)] == [1, 3, 9, 27, 81, 100]
    assert p.block_for(10**6) == 100


def test_close_resets_cycles_by_default() -> None:
    d = Driver(ExponentialBreaker())
    trip(d)
    d.now = d.view().open_until or 0
    d.record(d.admit(), F)  # cycle 1
    d.now = d.view().open_until or 0
    d.record(d.admit(), S)  # closed
    assert d.view().retry_cycles == 0
    trip(d)
    assert d.view().block_duration == 60 and d.view().retry_cycles == 0


def test_reset_after_keeps_backoff_memory_across_close() -> None:
    d = Driver(ExponentialBreaker(reset_after=600))
    trip(d)
    d.now = d.view().open_until or 0
    d.record(d.admit(), F)  # cycle 1: 120 s
    d.now = d.view().open_until or 0
    d.record(d.admit(), S)
    closed_at = d.now
    assert d.view().state is State.CLOSED and d.view().retry_cycles == 2  # remembered
    d.advance(300)
    trip(d)  # within reset_after of the close: the sequence continues
    v = d.view()
    assert v.retry_cycles == 2 and v.block_duration == 240
    d.now = v.open_until or 0
    d.record(d.admit(), S)
    closed_at = d.now
    d.now = closed_at + 600  # stayed closed exactly reset_after: forgotten
    assert d.view().retry_cycles == 0
    trip(d)
    assert d.view().retry_cycles == 0 and d.view().block_duration == 60


def test_exponential_probe_permits() -> None:
    d = Driver(ExponentialBreaker(probe_permits=2))
    trip(d)
    d.advance(60)
    a, b, c = d.admit(), d.admit(), d.admit()
    assert a.probe and b.probe and not c.allowed
    d.record(b, S)  # the first result decides
    assert d.view().state is State.CLOSED
    assert d.record(a, F) is None  # stale now


def test_exponential_params_validation() -> None:
    with pytest.raises(ConfigError, match=r"breaker exponential: .*max_open_time"):
        from multiorg.breakers import make_policy

        make_policy("exponential", {"base_open_time": "10m", "max_open_time": "5m"})
    p = ExponentialBreaker(base_open_time="1m", max_open_time="16m", window="90s")
    assert (p.base_open_time, p.max_open_time, p.window) == (60, 960, 90)


def test_initial_state_is_closed_and_codec_friendly() -> None:
    s = ExponentialBreaker().initial(T0)
    assert s == TripState(closed_at=T0)
