"""The anchors' presets carry their published defaults; the lab's own policy defaults stay its own."""

from __future__ import annotations

from breaker_helpers import Driver, F, S

from multiorg.breakers import (
    PRESETS,
    FailureRateBreaker,
    OutlierDetector,
    State,
    make_policy,
)
from multiorg.outcomes import Outcome


def test_resilience4j_defaults() -> None:
    p = make_policy("resilience4j-defaults")
    assert isinstance(p, FailureRateBreaker)
    assert (p.window_type, p.window_size, p.minimum_calls) == ("count", 100, 100)
    assert (p.failure_rate_threshold, p.slow_call_rate_threshold) == (50.0, 100.0)
    assert (p.open_time, p.half_open_permits, p.max_half_open_wait) == (60.0, 10, 0.0)
    assert p.trip_immediately == frozenset()  # Resilience4j opens on rates only
    assert PRESETS["resilience4j"] == PRESETS["resilience4j-defaults"]  # one set of values


def test_envoy_defaults() -> None:
    p = make_policy("envoy-defaults")
    assert isinstance(p, OutlierDetector)
    assert (p.consecutive_failures, p.interval, p.base_ejection_time) == (5, 10.0, 30.0)
    assert (p.max_ejection_time, p.max_ejection_percent, p.always_eject_one) == (300.0, 10.0, False)
    assert (p.success_rate_minimum_hosts, p.success_rate_request_volume) == (5, 100)
    assert p.success_rate_stdev_factor == 1.9
    assert p.failure_percentage_threshold is None  # enforcing_failure_percentage defaults to 0
    assert p.failure_outcomes == {Outcome.SERVER, Outcome.TIMEOUT, Outcome.CONNECTION}
    assert p.trip_immediately == frozenset()
    assert PRESETS["envoy"] == PRESETS["envoy-defaults"]


def test_our_policies_defaults_stay_ours() -> None:
    assert make_policy("failure-rate").minimum_calls == 10
    assert make_policy("outlier").max_ejection_percent == 50.0
    assert make_policy("failure-rate").trip_immediately == {Outcome.QUOTA, Outcome.AUTH}


def test_resilience4j_defaults_need_100_calls() -> None:
    d = Driver(make_policy("resilience4j-defaults"))
    for _ in range(99):
        d.call(F)
    assert d.view().state is State.CLOSED  # 99 failures: under minimumNumberOfCalls
    d.call(Outcome.QUOTA)  # a billing lock is just one more failure here
    assert d.view().state is State.OPEN
    v = d.view()
    assert v.open_until == d.now + 60


def test_envoy_defaults_need_ten_hosts_to_eject_one() -> None:
    # max_ejection_percent 10 without always_eject_one: one of n orgs may go only if 100/n <= 10
    few = Driver(make_policy("envoy-defaults"))
    for o in "abcd":
        few.admit(o)
    for _ in range(5):
        few.call(F, "a")
    assert few.view("a").state is State.CLOSED
    many = Driver(make_policy("envoy-defaults"))
    orgs = [f"o{i}" for i in range(10)]
    for o in orgs:
        many.admit(o)
    many.call(Outcome.RATE_LIMITED, "o0")  # not a 5xx: not counted
    for _ in range(5):
        many.call(F, "o0")
    assert many.view("o0").state is State.OPEN
    many.call(S, "o1")
    assert many.view("o1").state is State.CLOSED
