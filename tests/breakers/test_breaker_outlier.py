"""``outlier``: Envoy-style ejection over one record per model."""

from __future__ import annotations

import pytest
from breaker_helpers import T0, Driver, F, S

from multiorg.breakers import OutlierDetector, State
from multiorg.breakers.outlier import MULT, UNTIL
from multiorg.outcomes import Outcome

ORGS = ("a", "b", "c", "d")


def pool(policy: OutlierDetector, orgs: tuple[str, ...] = ORGS) -> Driver:
    d = Driver(policy)
    for o in orgs:
        d.admit(o)
    return d


def fail(d: Driver, org: str, n: int, outcome: Outcome = F) -> None:
    for _ in range(n):
        d.call(outcome, org)


def ejected(d: Driver) -> list[str]:
    return [o for o in d.policy.orgs_in(d.state) if d.view(o).state is State.OPEN]


def test_orgs_join_at_first_admission_sorted() -> None:
    d = Driver(OutlierDetector())
    for o in ("c", "a", "b"):
        assert d.admit(o).allowed
    assert d.policy.orgs_in(d.state) == ("a", "b", "c")
    assert d.view("zzz").state is State.CLOSED


def test_consecutive_failures_eject_at_once() -> None:
    d = pool(OutlierDetector(consecutive_failures=5, base_ejection_time=30))
    fail(d, "a", 4)
    d.call(S, "a")  # a success resets the run
    fail(d, "a", 4)
    assert ejected(d) == []
    d.call(F, "a")
    assert ejected(d) == ["a"]
    v = d.view("a")
    assert v.open_until == d.now + 30 and v.block_duration == 30 and v.failure_count == 5
    refused = d.admit("a")
    assert not refused.allowed and refused.retry_at == d.now + 30
    assert d.admit("b").allowed


def test_trip_immediately_ejects() -> None:
    d = pool(OutlierDetector())
    d.call(Outcome.QUOTA, "b")
    assert ejected(d) == ["b"]


def test_returns_at_expiry_with_a_new_generation() -> None:
    d = pool(OutlierDetector(base_ejection_time=30))
    fail(d, "a", 5)
    gen = d.view("a").generation
    d.advance(29.99)
    assert not d.admit("a").allowed
    d.advance(0.01)
    back = d.admit("a")
    assert back.allowed and back.generation == gen + 1
    assert d.view("a").state is State.CLOSED


def test_never_eject_all_orgs() -> None:
    d = pool(OutlierDetector(), ("solo",))
    fail(d, "solo", 50)
    d.call(Outcome.QUOTA, "solo")
    assert ejected(d) == []

    d = pool(OutlierDetector(max_ejection_percent=100), ("a", "b"))
    fail(d, "a", 5)
    fail(d, "b", 5)
    d.call(Outcome.AUTH, "b")
    assert ejected(d) == ["a"]


def test_max_ejection_percent() -> None:
    d = pool(OutlierDetector(max_ejection_percent=50))
    for o in ORGS:
        fail(d, o, 5)
    assert ejected(d) == ["a", "b"]  # 2 of 4 = 50 %

    d = pool(OutlierDetector(max_ejection_percent=10, always_eject_one=False))
    fail(d, "a", 5)
    assert ejected(d) == []  # 1 of 4 = 25 % > 10 %: Envoy would not eject

    d = pool(OutlierDetector(max_ejection_percent=10, always_eject_one=True))
    fail(d, "a", 5)
    fail(d, "b", 5)
    assert ejected(d) == ["a"]  # one is always allowed, not two


def test_ejection_time_grows_and_is_capped() -> None:
    p = OutlierDetector(base_ejection_time=30, max_ejection_time=100, interval=10)
    d = pool(p)
    blocks = []
    for _ in range(6):
        fail(d, "a", 5)
        v = d.view("a")
        blocks.append(v.block_duration)
        d.now = v.open_until or 0
        assert d.admit("a").allowed  # back, and failing again at once
    assert blocks == [30, 60, 90, 100, 100, 100]
    mult = d.state.orgs[0][MULT]
    assert (mult - 1) * 30 < 100 + 30 <= mult * 30  # Envoy's bound on the multiplier


def test_multiplier_decays_after_healthy_intervals() -> None:
    p = OutlierDetector(base_ejection_time=30, interval=10)
    d = pool(p)
    d.at(1.0)
    fail(d, "a", 5)  # ejected until T0 + 31
    d.at(31.0)
    d.admit("a")  # returned at T0 + 31
    fail(d, "a", 5)  # ejected again straight away: multiplier 2, 60 s
    assert d.view("a").block_duration == 60
    d.now = d.view("a").open_until or 0  # T0 + 91
    d.admit("a")
    assert d.state.orgs[0][MULT] == 2
    d.at(100.0)  # boundary at 100: only 9 s since the return, no decay yet
    d.admit("b")
    assert d.state.orgs[0][MULT] == 2
    d.at(110.0)  # boundary at 110: 19 s since the return
    d.admit("b")
    assert d.state.orgs[0][MULT] == 1
    d.at(500.0)  # many healthy intervals later
    d.admit("b")
    assert d.state.orgs[0][MULT] == 0


def success_rate_pool(rates: dict[str, int], volume: int = 100, **params: object) -> Driver:
    p = OutlierDetector(consecutive_failures=0, failure_percentage_threshold=None, **params)
    d = pool(p, tuple(rates))
    for org, ok in rates.items():
        for i in range(volume):
            d.call(S if i < ok * volume // 100 else F, org)
    return d


def test_success_rate_ejection_envoy_example() -> None:
    # Envoy's own example: {50, 100, 100, 100, 100} -> mean 90, stdev 20, threshold 52
    rates = {"a": 100, "b": 100, "c": 100, "d": 100, "e": 50}
    d = success_rate_pool(rates, success_rate_minimum_hosts=5, success_rate_stdev_factor=1.9)
    assert ejected(d) == []  # judged only at the end of the interval
    d.at(10.0)
    d.admit("a")
    assert ejected(d) == ["e"]
    assert d.view("e").failure_count == 50


def test_success_rate_needs_volume_and_hosts() -> None:
    rates = {"a": 100, "b": 100, "c": 100, "d": 100, "e": 50}
    d = success_rate_pool(rates, success_rate_request_volume=101, success_rate_minimum_hosts=5)
    d.at(10.0)
    d.admit("a")
    assert ejected(d) == []
    d = success_rate_pool(rates, success_rate_minimum_hosts=6)
    d.at(10.0)
    d.admit("a")
    assert ejected(d) == []


def test_success_rate_is_strictly_below_threshold() -> None:
    # all equal: stdev 0, threshold == mean, nobody is below it
    d = success_rate_pool({"a": 90, "b": 90, "c": 90})
    d.at(10.0)
    d.admit("a")
    assert ejected(d) == []


@pytest.mark.parametrize(("failed", "out"), [(85, True), (84, False)])
def test_failure_percentage_is_inclusive(failed: int, out: bool) -> None:
    p = OutlierDetector(
        consecutive_failures=0,
        success_rate_stdev_factor=None,
        failure_percentage_threshold=85,
        failure_percentage_request_volume=100,
        failure_percentage_minimum_hosts=1,
    )
    d = pool(p, ("a", "b"))
    for i in range(100):
        d.call(F if i < failed else S, "a")
        d.call(S, "b")
    d.at(10.0)
    d.admit("b")
    assert ejected(d) == (["a"] if out else [])


def test_results_after_a_boundary_count_in_the_next_interval() -> None:
    p = OutlierDetector(
        consecutive_failures=0,
        success_rate_stdev_factor=None,
        failure_percentage_request_volume=10,
        failure_percentage_minimum_hosts=1,
    )
    d = pool(p, ("a", "b"))
    d.at(9.0)
    for _ in range(5):
        d.call(F, "a")
    d.at(10.0)  # boundary: only 5 results, below the volume; then 10 in the new interval
    assert ejected(d) == []
    for _ in range(10):
        d.call(F, "a")
    d.at(19.99)
    d.admit("b")
    assert ejected(d) == []
    d.at(20.0)
    d.admit("b")
    assert ejected(d) == ["a"]


def test_stale_results_are_ignored() -> None:
    d = pool(OutlierDetector())
    early = d.admit("a")
    fail(d, "a", 5)
    assert d.record(early, F, "a") is None or d.view("a").failure_count == 5
    d.advance(30)
    d.admit("a")  # returned
    before = d.state
    d.record(early, F, "a")
    assert d.state.orgs[0][:7] == before.orgs[0][:7]  # no failure counted


def test_long_idle_gap_is_cheap_and_aligned() -> None:
    p = OutlierDetector(interval=10)
    d = pool(p)
    fail(d, "a", 5)
    d.at(86_400.5)  # a day later
    assert d.admit("a").allowed
    assert d.state.interval_end == T0 + 86_410.0
    assert all(e[UNTIL] is None and e[MULT] == 0 for e in d.state.orgs)


def test_rolled_state_is_returned_even_for_admits() -> None:
    d = pool(OutlierDetector(interval=10))
    d.call(S, "a")
    d.at(10.0)
    adm, new = d.policy.admit(d.state, "a", d.now, d.rng)
    assert adm.allowed and new is not None and new.interval_end == T0 + 20
    assert d.policy.admit(new, "a", d.now, d.rng)[1] is None


def test_result_for_an_org_not_yet_in_the_record() -> None:
    p = OutlierDetector()
    d = Driver(p)
    ticket = p.admit(d.state, "new", d.now, d.rng)[0]  # admitted on a copy without "new"
    assert d.record(ticket, F, "new") is not None
    assert p.orgs_in(d.state) == ("new",) and d.view("new").failure_count == 1
    cached = p.initial(T0)
    future = ticket.__class__(True, False, 3)
    assert p.record(cached, "x", future, F, d.now) is cached  # stale copy: ask for the fresh one
