"""``failure-rate``: Resilience4j semantics on a fake clock."""

from __future__ import annotations

import pytest
from breaker_helpers import T0, Driver, F, S

from multiorg.breakers import FailureRateBreaker, State, make_policy
from multiorg.breakers.common import admit_unchanged
from multiorg.errors import ConfigError
from multiorg.outcomes import Outcome

SLOW = Outcome.SLOW


def calls(d: Driver, *outcomes: Outcome) -> None:
    for o in outcomes:
        d.call(o)


def opened(d: Driver) -> bool:
    return d.view().state is State.OPEN


# --------------------------------------------------------------------------- closed


def test_closed_admit_fast_path_and_full_window_of_successes_writes_nothing() -> None:
    p = FailureRateBreaker(window_size=5)
    d = Driver(p)
    assert p.admit(d.state, "a", d.now, None) is admit_unchanged(0)
    calls(d, S, S, S, S, S)
    assert d.writes == 5
    adm = d.admit()
    assert d.record(adm, S) is None


def test_rate_equal_to_threshold_opens() -> None:
    # Resilience4j: the breaker opens when the failure rate is >= the threshold
    d = Driver(FailureRateBreaker(window_size=10, minimum_calls=10, failure_rate_threshold=50))
    calls(d, S, S, S, S, S, F, F, F, F)
    assert not opened(d)  # 9 calls < minimum_calls
    d.call(F)  # 5 / 10 == 50 %
    assert opened(d)
    assert d.view().failure_count == 5

    d = Driver(FailureRateBreaker(window_size=10, minimum_calls=10, failure_rate_threshold=50))
    calls(d, S, S, S, S, S, S, F, F, F, F)  # 40 %
    assert not opened(d)


def test_low_traffic_never_reaches_minimum_calls() -> None:
    d = Driver(FailureRateBreaker(window_type="time", window_size=60, minimum_calls=10))
    for _ in range(50):  # 100 % failures, but only 5 per minute
        d.call(F)
        d.advance(12.5)
    assert d.view().state is State.CLOSED
    assert d.view().failure_count == 5


def test_minimum_calls_is_capped_by_a_count_window() -> None:
    d = Driver(FailureRateBreaker(window_size=4, minimum_calls=100))
    calls(d, F, F, F)
    assert not opened(d)
    d.call(F)
    assert opened(d)


def test_count_window_slides() -> None:
    d = Driver(FailureRateBreaker(window_size=4, minimum_calls=4, failure_rate_threshold=50))
    calls(d, F, S, S, S)  # 25 %
    d.call(F)  # the first F left the window: still 25 %
    assert not opened(d)
    assert d.state.ring == "ssof".replace("s", "o")  # oldest first
    d.call(F)  # 50 %
    assert opened(d)


def test_time_window_edges() -> None:
    p = FailureRateBreaker(
        window_type="time", window_size=10, bucket=1, minimum_calls=2, failure_rate_threshold=100
    )
    d = Driver(p)
    d.at(0.0)
    d.call(F)
    d.at(10.0)  # bucket of T0 is now out of the 10-bucket window
    d.call(F)
    assert not opened(d)
    assert d.state.calls == 1 and d.state.buckets == ((int(T0) + 10, 1, 1, 0),)

    d = Driver(p)
    d.at(0.0)
    d.call(F)
    d.at(9.999)  # still in the window (same 10 buckets)
    d.call(F)
    assert opened(d)


def test_time_window_state_stays_small() -> None:
    p = FailureRateBreaker(window_type="time", window_size=30, bucket=5, minimum_calls=10**6)
    d = Driver(p)
    for i in range(10_000):
        d.now = T0 + i * 0.05  # 500 seconds of traffic
        d.call(S if i % 3 else F)
    assert len(d.state.buckets) <= 6
    assert d.state.calls == sum(b[1] for b in d.state.buckets) == 600


def test_slow_call_rate() -> None:
    d = Driver(FailureRateBreaker(window_size=4, minimum_calls=4, slow_call_rate_threshold=50))
    calls(d, SLOW, S, S, SLOW)
    assert opened(d) and d.view().failure_count == 0

    d = Driver(FailureRateBreaker(window_size=4, minimum_calls=4))  # default 100 %: all slow
    calls(d, S, SLOW, SLOW, SLOW, SLOW)  # 75 % until the success leaves the window
    assert opened(d)
    d = Driver(FailureRateBreaker(window_size=4, minimum_calls=4))
    calls(d, S, SLOW, SLOW, SLOW)
    assert not opened(d)


def test_slow_is_failure_counts_in_both_rates() -> None:
    p = FailureRateBreaker(window_size=4, minimum_calls=4, slow_is_failure=True)
    d = Driver(p)
    calls(d, SLOW, SLOW, S, S)  # 50 % failures
    assert opened(d) and d.view().failure_count == 2


def test_neutral_results_are_not_recorded() -> None:
    p = FailureRateBreaker(window_size=4, minimum_calls=4, failure_outcomes=["server"])
    d = Driver(p)
    calls(d, Outcome.RATE_LIMITED, Outcome.RATE_LIMITED, Outcome.TIMEOUT)
    assert d.state.ring == ""


def test_trip_immediately_ignores_minimum_calls() -> None:
    d = Driver(FailureRateBreaker())
    d.call(Outcome.QUOTA)
    assert opened(d) and d.view().failure_count == 1
    d = Driver(FailureRateBreaker(window_type="time"))
    d.call(Outcome.AUTH)
    assert opened(d)


# --------------------------------------------------------------------------- half-open


def trip(d: Driver) -> None:
    d.call(Outcome.QUOTA)
    assert opened(d)


def test_open_waits_then_k_permits() -> None:
    d = Driver(FailureRateBreaker(open_time=30, half_open_permits=3))
    trip(d)
    until = d.view().open_until
    d.advance(29.9)
    refused = d.admit()
    assert not refused.allowed and refused.retry_at == until
    d.advance(0.1)
    probes = [d.admit() for _ in range(4)]
    assert [p.allowed for p in probes] == [True, True, True, False]
    assert all(p.probe for p in probes[:3])
    assert probes[3].retry_at == probes[0].at + 60  # probe_timeout


@pytest.mark.parametrize(
    ("results", "state"),
    [
        ((S, S, F), State.CLOSED),  # 33 % < 50 %
        ((F, S, F), State.OPEN),  # 66 %
        ((S, S, SLOW), State.CLOSED),
    ],
)
def test_decision_when_k_results_are_in(results: tuple[Outcome, ...], state: State) -> None:
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=3))
    trip(d)
    d.advance(10)
    probes = [d.admit() for _ in range(3)]
    for p, o in zip(probes[:2], results[:2], strict=True):
        d.record(p, o)
        assert d.view().state is State.HALF_OPEN  # undecided until K results
    assert not d.admit().allowed  # two results in, one probe out: no permit left
    d.record(probes[2], results[2])
    assert d.view().state is state


def test_half_open_threshold_is_inclusive_too() -> None:
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=2))
    trip(d)
    d.advance(10)
    a, b = d.admit(), d.admit()
    d.record(a, S)
    d.record(b, F)  # 50 % >= 50 %
    assert opened(d) and d.view().retry_cycles == 1


def test_released_and_abandoned_probes_free_permits() -> None:
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=2, probe_timeout=30))
    trip(d)
    d.advance(10)
    a, b = d.admit(), d.admit()
    assert not d.admit().allowed
    d.release(a)
    c = d.admit()
    assert c.allowed and c.probe
    d.advance(30)  # b and c are abandoned
    e, f = d.admit(), d.admit()
    assert e.probe and f.probe
    d.record(e, S)
    d.record(f, S)
    assert d.view().state is State.CLOSED
    assert d.record(b, F) is None  # stale


def test_neutral_probe_result_frees_its_permit() -> None:
    d = Driver(FailureRateBreaker(failure_outcomes=["server"], open_time=10, half_open_permits=1))
    trip(d)
    d.advance(10)
    a = d.admit()
    d.record(a, Outcome.RATE_LIMITED)
    assert d.view().state is State.HALF_OPEN and d.state.trial == ""
    assert d.admit().allowed


def test_trip_outcome_in_half_open_reopens_at_once() -> None:
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=3))
    trip(d)
    d.advance(10)
    a = d.admit()
    d.record(a, Outcome.AUTH)
    assert opened(d)


def test_max_half_open_wait() -> None:
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=3, max_half_open_wait=60))
    trip(d)
    d.advance(10)
    a = d.admit()
    d.record(a, S)
    d.advance(59.9)
    d.admit()
    d.admit()
    refused = d.admit()
    assert not refused.allowed and refused.retry_at == a.at + 60  # the wait ends first
    d.now = a.at + 60
    r = d.admit()
    assert not r.allowed and opened(d) and r.retry_at == d.now + 10

    # 0: wait forever (permits only come back by lease expiry)
    d = Driver(FailureRateBreaker(open_time=10, half_open_permits=1, probe_timeout=100))
    trip(d)
    d.advance(10)
    d.admit()
    d.advance(99)
    assert not d.admit().allowed and d.view().state is State.HALF_OPEN


def test_closing_forgets_the_window() -> None:
    d = Driver(FailureRateBreaker(window_size=10, open_time=10, half_open_permits=1))
    calls(d, F, F, F)
    d.call(Outcome.QUOTA)
    d.advance(10)
    d.record(d.admit(), S)
    assert d.view().state is State.CLOSED
    assert d.state.ring == "" and d.view().failure_count == 0


def test_stale_and_future_tickets() -> None:
    p = FailureRateBreaker()
    d = Driver(p)
    cached = d.state
    early = d.admit()
    trip(d)
    assert d.record(early, F) is None
    d.advance(60)
    probe = d.admit()
    assert p.record(cached, "a", probe, S, d.now) is cached


# --------------------------------------------------------------------------- params


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window_size": 2.5}, "window_size"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 101}, "failure_rate_threshold"),
        ({"half_open_permits": 0}, "half_open_permits"),
        ({"window_type": "sliding"}, "window_type"),
        ({"window_type": "time", "window_size": "2h", "bucket": 1}, "bucket"),
    ],
)
def test_bad_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"breaker failure-rate: .*{field}") as e:
        make_policy("failure-rate", params)
    assert "\n" not in str(e.value)


def test_time_params_accept_durations() -> None:
    p = make_policy(
        "failure-rate", {"window_type": "time", "window_size": "2m", "open_time": "30s"}
    )
    assert p.window_size == 120 and p.open_time == 30
