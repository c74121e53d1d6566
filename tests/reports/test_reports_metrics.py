"""Metric definitions on hand-built traces with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.metrics import (
    _binned_percentiles,
    breaker_timelines,
    stat,
    summarize_policy,
    t_critical,
    timeseries,
    trace_fault_windows,
    trace_metrics,
)

# outcome codes (multiorg.outcomes.OUTCOME_CODES) and event kinds (sim.trace.EVENT_KINDS)
OK, RATE, QUOTA, AUTH, SERVER, TIMEOUT, CONN, CLIENT, SLOW = range(9)
OPENED, HALF_OPEN, CLOSED = 0, 1, 2


def background(b, pods=(0,), start=0.0, end=1000.0, step=10.0, org="b"):
    """Steady successful traffic to ``org`` from every pod (keeps pods 'active')."""
    for pod in pods:
        for t in np.arange(start, end, step):
            b.request(float(t), [(org, float(t), float(t) + 1, OK)], pod=pod)


# --------------------------------------------------------------------------- failover


def test_failover_is_last_regular_attempt_after_onset_probes_ignored(tb):
    b = tb()
    b.fault("a", 100, 500)
    background(b)
    for t in (100.0, 110.0, 120.0):  # regular attempts to the locked org, then failover
        b.request(t + 0.5, [("a", t + 0.5, t + 1, QUOTA), ("b", t + 1, t + 2, OK)])
    for t in (200.0, 300.0, 490.0):  # probes keep going until the end: ignored
        b.request(t, [("a", t, t + 0.1, QUOTA, True), ("b", t + 0.1, t + 1, OK)])
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_max == pytest.approx(20.5)
    assert f.failover_time_median == pytest.approx(20.5)
    assert f.failover_time_by_pod == {0: pytest.approx(20.5)}
    assert f.wasted_attempts == 6 and f.wasted_probes == 3


def test_failover_max_and_median_over_pods(tb):
    b = tb(pods=3)
    b.fault("a", 100, 500)
    background(b, pods=(0, 1, 2))
    for pod, last in ((0, 120.0), (1, 150.0), (2, 190.0)):
        for t in np.arange(100.0, last + 1, 10.0):
            b.request(float(t), [("a", float(t), float(t) + 1, QUOTA), ("b", t + 1, t + 2, OK)], pod=pod)
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_by_pod == {0: 20.0, 1: 50.0, 2: 90.0}
    assert f.failover_time_max == 90.0
    assert f.failover_time_median == 50.0


def test_failover_never_when_regular_traffic_keeps_flowing(tb):
    b = tb(pods=3)
    b.fault("a", 100, 500)
    background(b, pods=(0, 1, 2))
    for t in np.arange(100.0, 500.0, 10.0):  # pod 0 never fails over
        b.request(float(t), [("a", float(t), float(t) + 1, QUOTA), ("b", t + 1, t + 2, OK)], pod=0)
    b.request(130.0, [("a", 130.0, 131.0, QUOTA), ("b", 131, 132, OK)], pod=1)  # pod 1: 30 s
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_by_pod == {0: None, 1: 30.0, 2: 0.0}  # pod 2 never sent to a
    assert f.failover_time_max is None  # the worst pod never failed over
    assert f.failover_time_median == 30.0  # never counts as +inf: median of (0, 30, inf)

    b.request(140.0, [("a", 140.0, 141.0, QUOTA)], pod=2)
    for t in np.arange(140.0, 500.0, 10.0):  # now pod 2 keeps sending too
        b.request(float(t), [("a", float(t), float(t) + 1, QUOTA), ("b", t + 1, t + 2, OK)], pod=2)
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_max is None and f.failover_time_median is None


def test_failover_never_for_sparse_pod_uses_its_own_pace(tb):
    # one attempt every 100 s until the end: the last one is 80 s before the end, but that is
    # within 3x the pod's own gap, so it is "still sending", not a failover at 380 s.
    b = tb()
    b.fault("a", 100, 500)
    for t in (120.0, 220.0, 320.0, 420.0):
        b.request(t, [("a", t, t + 1, QUOTA), ("b", t + 1, t + 2, OK)])
    assert trace_metrics(b.build()).faults[0].failover_time_max is None


def test_failover_zero_when_no_regular_attempt_in_window(tb):
    b = tb()
    b.fault("a", 100, 500)
    background(b)
    b.request(50.0, [("a", 50.0, 51.0, OK)])  # before the fault: irrelevant
    b.request(300.0, [("a", 300.0, 300.5, QUOTA, True), ("b", 300.5, 301, OK)])  # a probe only
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_max == 0.0 and f.failover_time_median == 0.0


def test_vendor_target_covers_all_its_orgs(tb):
    b = tb(orgs=("a", "b", "c"), vendors=("openai", "openai", "anthropic"))
    b.fault("openai", 100, 500, kind="outage")
    background(b, org="c")
    b.request(110.0, [("a", 110.0, 111.0, SERVER), ("b", 111.0, 112.0, SERVER), ("c", 112, 113, OK)])
    b.request(160.0, [("b", 160.0, 161.0, SERVER), ("c", 161, 162, OK)])
    b.event(150.0, "b", OPENED)
    w = trace_fault_windows(b.build())[0]
    assert w.orgs == (0, 1) and w.org_fault
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_max == 60.0
    assert f.detection_time == 50.0
    assert f.wasted_attempts == 3


def test_non_org_faults_have_no_org_metrics(tb):
    b = tb()
    b.fault("*", 100, 200, kind="traffic_surge")
    b.fault("store", 300, 400, kind="redis_outage")
    b.fault("pod-1", 500, 600, kind="partition")
    b.meta["pods"] = 2
    b.request(150.0, [("a", 150.0, 151.0, SERVER)])
    b.request(550.0, [("a", 550.0, 551.0, SERVER)], pod=1)
    b.request(560.0, [("a", 560.0, 561.0, SERVER)], pod=0)
    windows = trace_fault_windows(b.build())
    assert [w.org_fault for w in windows] == [False, False, False]
    assert windows[0].orgs == (0, 1) and windows[2].pod == 1
    fs = trace_metrics(b.build()).faults
    assert fs[0].failover_time_max is None and fs[0].detection_time is None
    assert fs[0].user_visible_failures == 1
    assert fs[2].user_visible_failures == 1  # only pod-1's failure
    assert fs[2].failed_in_window == 2


def test_explicit_org_fault_flag_overrides_kind(tb):
    b = tb()
    b.meta["faults"] = [{"kind": "traffic_surge", "target": "a", "start": 0, "end": 10, "org_fault": True}]
    assert trace_fault_windows(b.build())[0].org_fault


# --------------------------------------------------------------------------- detection, recovery


def test_detection_first_opened_on_target_in_window(tb):
    b = tb(pods=2)
    b.fault("a", 100, 500)
    b.event(50.0, "a", OPENED)  # before the fault
    b.event(110.0, "b", OPENED)  # another org
    b.event(140.0, "a", OPENED, pod=1)
    b.event(130.0, "a", OPENED, pod=0)  # events need not be sorted
    b.event(135.0, "a", HALF_OPEN)
    b.request(10.0, [("b", 10.0, 11.0, OK)])
    f = trace_metrics(b.build()).faults[0]
    assert f.detection_time == 30.0
    assert f.opens == 2


def test_detection_never(tb):
    b = tb()
    b.fault("a", 100, 500)
    b.request(10.0, [("a", 10.0, 11.0, OK)])
    assert trace_metrics(b.build()).faults[0].detection_time is None


def test_recovery_first_successful_regular_attempt_after_end(tb):
    b = tb()
    b.fault("a", 100, 500)
    b.request(490.0, [("a", 490.0, 491.0, QUOTA)])  # in the window
    b.request(505.0, [("a", 505.0, 506.0, OK, True)])  # a probe: ignored
    b.request(520.0, [("a", 520.0, 521.0, QUOTA)])  # regular, failed
    b.request(540.0, [("b", 540.0, 541.0, OK)])  # another org
    b.request(560.0, [("b", 560.0, 561.0, SERVER), ("a", 561.0, 570.0, SLOW)])  # slow is 2xx
    b.request(600.0, [("a", 600.0, 601.0, OK)])
    assert trace_metrics(b.build()).faults[0].recovery_time == 61.0


def test_recovery_none_when_fault_lasts_until_the_end(tb):
    b = tb(duration=1000.0)
    b.fault("a", 100, None)
    b.request(990.0, [("a", 990.0, 991.0, OK)])
    w = trace_fault_windows(b.build())[0]
    assert w.end == 1000.0 and not w.ends_in_run
    f = trace_metrics(b.build()).faults[0]
    assert f.recovery_time is None and f.close_time is None


def test_close_time(tb):
    b = tb(pods=2, state="local")
    b.fault("a", 100, 500)
    b.request(10.0, [("b", 10.0, 11.0, OK)])
    b.event(130.0, "a", OPENED, pod=0)
    b.event(530.0, "a", HALF_OPEN, pod=0)
    b.event(531.0, "a", CLOSED, pod=0)
    b.event(140.0, "a", OPENED, pod=1)
    b.event(545.0, "a", CLOSED, pod=1)
    assert trace_metrics(b.build()).faults[0].close_time == 45.0
    b.event(600.0, "a", OPENED, pod=1)  # re-opens later: still closed once at 545
    assert trace_metrics(b.build()).faults[0].close_time == 45.0


def test_close_time_zero_when_closed_before_end_and_none_when_never(tb):
    b = tb()
    b.fault("a", 100, 500)
    b.request(10.0, [("b", 10.0, 11.0, OK)])
    b.event(130.0, "a", OPENED)
    b.event(400.0, "a", CLOSED)
    assert trace_metrics(b.build()).faults[0].close_time == 0.0
    b.event(450.0, "a", OPENED)
    assert trace_metrics(b.build()).faults[0].close_time is None


# --------------------------------------------------------------------------- user-facing numbers


def test_success_rates_requests_and_sessions(tb):
    b = tb()
    b.request(1.0, [("a", 1, 2, OK)], session=7)
    b.request(1.5, [("a", 1.5, 2, SERVER), ("b", 2, 3, SERVER)], session=7)  # fails session 7
    b.request(2.0, [("b", 2, 3, SLOW)], session=7)  # slow is a success
    b.request(3.0, [("a", 3, 4, OK)], session=8)
    b.request(3.1, [("b", 3.1, 4, OK)], session=8)
    b.request(4.0, [("a", 4, 5, OK)])  # a session of its own
    b.request(5.0, [("a", 5, 6, CLIENT)])  # the caller's fault, still a failure the user saw
    b.request(6.0, [], outcome=-1, end=6.0)  # no org available
    m = trace_metrics(b.build()).overall
    assert m.requests == 8 and m.failed_requests == 3
    assert m.success_rate == pytest.approx(5 / 8)
    assert m.sessions == 5 and m.failed_sessions == 3  # s7, client error, no-org
    assert m.session_success_rate == pytest.approx(2 / 5)
    assert m.no_org_failures == 1


def test_retry_amplification(tb):
    b = tb()
    b.request(1.0, [("a", 1, 2, OK)])
    b.request(2.0, [("a", 2, 3, SERVER), ("b", 3, 4, OK)])
    b.request(3.0, [("a", 3, 4, SERVER), ("b", 4, 5, SERVER), ("a", 5, 6, OK)])
    b.request(4.0, [], outcome=-1, end=4.0)  # no attempt at all
    m = trace_metrics(b.build()).overall
    assert m.attempts == 6
    assert m.retry_amplification == pytest.approx(6 / 4)


def test_latency_percentiles(tb):
    b = tb()
    for i in range(1, 101):
        b.request(float(i), [("a", float(i), float(i) + i, OK)])  # latency i seconds
    m = trace_metrics(b.build()).overall
    # nearest rank: the smallest latency at or above which q of the requests lie
    assert (m.latency_p50, m.latency_p95, m.latency_p99) == (50.0, 95.0, 99.0)


def test_user_visible_failures_and_wasted_attempts(tb):
    b = tb(orgs=("a", "b", "c"))
    b.fault("a", 100, 500)
    b.request(50.0, [("a", 50, 51, SERVER)])  # before: not caused by the fault
    b.request(98.0, [("b", 98, 99, OK), ("a", 101, 102, QUOTA)])  # arrived before, touched a: caused
    b.request(110.0, [("a", 110, 111, QUOTA), ("b", 111, 112, OK)])  # touched a, recovered: fine
    b.request(120.0, [("b", 120, 121, SERVER)])  # failed, never touched a: not caused
    b.request(130.0, [], outcome=-1, end=130.0)  # no org available during the fault: caused
    b.request(140.0, [("a", 140, 141, CLIENT)])  # caller's fault: not caused
    b.request(150.0, [("a", 150, 151, QUOTA, True), ("c", 151, 152, SERVER)])  # probe then fail: caused
    b.request(600.0, [("a", 600, 601, SERVER)])  # after: not caused, not wasted
    f = trace_metrics(b.build()).faults[0]
    assert f.user_visible_failures == 3
    assert f.failed_in_window == 4  # arrivals in [100, 500) that failed: 120, 130, 140, 150
    assert f.wasted_attempts == 4  # a-attempts starting in the window: 101, 110, 140, 150
    assert f.wasted_probes == 1
    assert trace_metrics(b.build()).wasted_attempts == 4


def test_overall_wasted_counts_overlapping_faults_once(tb):
    b = tb(orgs=("a", "b"), vendors=("openai", "openai"))
    b.fault("a", 100, 300)
    b.fault("openai", 200, 400)
    for t in (150.0, 250.0, 350.0):
        b.request(t, [("a", t, t + 1, SERVER)])
    m = trace_metrics(b.build())
    assert [f.wasted_attempts for f in m.faults] == [2, 2]
    assert m.wasted_attempts == 3


def test_phases_before_during_after(tb):
    b = tb(duration=1000.0)
    b.fault("a", 100, 500)
    b.request(50.0, [("b", 50, 51, OK)], session=1)
    b.request(99.0, [("b", 99, 100, OK)])
    b.request(100.0, [("a", 100, 101, QUOTA)])  # the onset belongs to "during"
    b.request(499.0, [("a", 499, 500, QUOTA), ("b", 500, 501, OK)])
    b.request(600.0, [("b", 600, 601, OK)], session=1)  # session 1 started before the fault
    b.request(1000.0, [("b", 1000, 1001, OK)])  # at the very end: still "after"
    f = trace_metrics(b.build()).faults[0]
    before, during, after = (f.phases[p] for p in ("before", "during", "after"))
    assert (before.start, before.end, during.start, during.end, after.start, after.end) == (
        0.0, 100.0, 100.0, 500.0, 500.0, 1000.0,
    )  # fmt: skip
    assert (before.requests, during.requests, after.requests) == (2, 2, 2)
    assert during.success_rate == 0.5 and before.success_rate == 1.0 and after.success_rate == 1.0
    assert before.sessions == 2 and after.sessions == 1  # session 1 counted where it began
    assert during.retry_amplification == pytest.approx(3 / 2)
    assert during.traffic_share == {"a": 1.0, "b": 0.0}  # by attempt start: b@500 is after


def test_empty_phase_has_no_rates(tb):
    b = tb()
    b.fault("a", 0, 100)
    b.request(200.0, [("a", 200, 201, OK)])
    f = trace_metrics(b.build()).faults[0]
    assert f.phases["before"].requests == 0
    assert f.phases["before"].success_rate is None and f.phases["before"].latency_p99 is None


# --------------------------------------------------------------------------- breakers


def test_breaker_time_open_and_cycles(tb):
    b = tb(duration=1000.0)
    b.request(1.0, [("a", 1, 2, OK)])
    for t, k in ((100, OPENED), (160, HALF_OPEN), (161, OPENED), (281, HALF_OPEN), (282, CLOSED),
                 (600, OPENED), (700, CLOSED), (900, OPENED)):  # fmt: skip
        b.event(float(t), "a", k)
    m = trace_metrics(b.build())
    (br,) = m.breakers
    assert br.key.org == 0 and br.key.pod is None
    assert br.time_open == pytest.approx(60 + 120 + 100 + 100)  # the last one until the end
    assert br.time_half_open == pytest.approx(2)
    assert (br.opened, br.closed, br.cycles) == (4, 2, 2)
    assert m.alerts == {"opened": 4, "half_open": 2, "closed": 2, "cycles": 2}
    spans = breaker_timelines(b.build())[br.key]
    assert spans[0] == (0.0, 100.0, 0) and spans[-1] == (900.0, 1000.0, 1)


def test_breakers_are_per_pod_with_local_state(tb):
    b = tb(pods=2)
    b.request(1.0, [("a", 1, 2, OK)])
    b.event(100.0, "a", OPENED, pod=0)
    b.event(110.0, "a", OPENED, pod=1)
    b.event(200.0, "a", CLOSED, pod=0)
    shared = trace_metrics(b.build()).breakers
    assert len(shared) == 1 and shared[0].time_open == 100.0  # one shared breaker
    b.meta["state"] = "local"
    local = trace_metrics(b.build()).breakers
    assert [(x.key.pod, x.time_open) for x in local] == [(0, 100.0), (1, 890.0)]


# --------------------------------------------------------------------------- seeds, series


def test_t_critical_values():
    assert t_critical(1) == pytest.approx(12.7062)
    assert t_critical(2) == pytest.approx(4.3027)
    assert t_critical(30) == pytest.approx(2.0423)
    assert t_critical(40) == pytest.approx(2.0211, abs=1e-4)
    assert t_critical(100) == pytest.approx(1.9840, abs=1e-4)
    assert t_critical(10_000) == pytest.approx(1.96, abs=1e-3)


def test_stat_mean_and_t_interval():
    s = stat([1.0, 2.0, 3.0])
    half = 4.3027 * 1.0 / math.sqrt(3)
    assert s.mean == 2.0 and s.n == 3 and s.n_none == 0
    assert s.ci_low == pytest.approx(2 - half) and s.ci_high == pytest.approx(2 + half)
    one = stat([5.0])
    assert one.mean == 5.0 and one.ci_low is None and one.ci_high is None
    some = stat([10.0, None, 20.0])
    assert some.mean == 15.0 and some.n == 3 and some.n_none == 1 and some.values == [10.0, None, 20.0]
    none = stat([None, None])
    assert none.mean is None and none.n_none == 2
    same = stat([4.0, 4.0, 4.0])
    assert same.ci_low == same.ci_high == 4.0


def _seed_trace(tb, seed, last):
    b = tb(seed=seed)
    b.fault("a", 100, 500)
    background(b)
    b.request(last, [("a", last, last + 1, QUOTA), ("b", last + 1, last + 2, OK)])
    b.event(100.0 + (last - 100) / 2, "a", OPENED)
    return b.build()


def test_summarize_over_seeds(tb):
    traces = [_seed_trace(tb, s, last) for s, last in ((3, 110.0), (4, 120.0), (5, 130.0))]
    pr = summarize_policy("exponential", traces, {"base": "1m"})
    assert pr.seeds == [3, 4, 5] and pr.params == {"base": "1m"}
    fo = pr.faults[0].failover_time_max
    assert fo.values == [10.0, 20.0, 30.0] and fo.mean == 20.0
    assert fo.ci_high - fo.mean == pytest.approx(4.3027 * 10 / math.sqrt(3))
    assert pr.faults[0].detection_time.values == [5.0, 10.0, 15.0]
    assert pr.faults[0].failover_time_by_pod["0"].values == [10.0, 20.0, 30.0]
    assert pr.overall.requests.values == [101.0, 101.0, 101.0]
    assert pr.breakers[0].org == "a" and pr.breakers[0].opened.mean == 1.0


def test_timeseries_bins(tb):
    b = tb(duration=100.0)
    b.request(5.0, [("a", 5, 6, OK)])
    b.request(15.0, [("a", 15, 16, SERVER), ("b", 16, 17, OK)])
    b.request(16.0, [("a", 16, 18, SERVER)])
    s = timeseries(b.build(), bin_width=10.0)
    assert len(s.edges) == 11
    assert s.requests[:3].tolist() == [1, 2, 0]
    assert s.ok[:3].tolist() == [1, 1, 0]
    assert s.success_rate[1] == 0.5 and np.isnan(s.success_rate[2])
    assert s.attempts[1].tolist() == [2, 1]
    assert s.share[1].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert s.latency[1].tolist() == [2.0, 2.0, 2.0]  # nearest rank of (2, 2)
    pooled = timeseries([b.build(), b.build()], bin_width=10.0)
    assert pooled.requests[:2].tolist() == [2, 4]



@given(
    st.lists(st.tuples(st.integers(0, 6), st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e-9, 30.0, 7.25])), max_size=80),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
)
def test_binned_percentiles_are_nearest_ranks(rows, qs):
    """Each bin's quantile is the value of rank max(ceil(q * n) - 1, 0) among its n values sorted
    (ties and repeated values included); empty bins are nan."""
    b = np.array([r[0] for r in rows], np.int32)
    x = np.array([r[1] for r in rows], np.float64)
    got = _binned_percentiles(b, x, 7, qs)
    for i in range(7):
        vals = sorted(v for k, v in rows if k == i)
        for j, q in enumerate(qs):
            want = vals[max(math.ceil(q * len(vals)) - 1, 0)] if vals else math.nan
            assert got[i, j] == want or (math.isnan(want) and math.isnan(got[i, j]))

def test_target_spellings(tb):
    b = tb(orgs=("a", "b", "c"), vendors=("openai", "openai", "anthropic"))
    for target, orgs in (
        ("vendor:openai", (0, 1)),
        ("org:c", (2,)),
        ("anthropic", (2,)),
        ("a/gpt-4o-mini", (0,)),
        (["a", "c"], (0, 2)),
        ("*", (0, 1, 2)),
        ("store", ()),
        ("nobody", ()),
    ):
        b.meta["faults"] = [{"kind": "outage", "target": target, "start": 0, "end": 10}]
        (w,) = trace_fault_windows(b.build())
        assert w.orgs == orgs, target
        assert w.org_fault == bool(orgs)


def test_traffic_surges_become_non_org_windows(tb):
    b = tb()
    b.fault("a", 100, 200, label="lock")
    b.meta["surges"] = [
        {"start": 300, "end": 400, "factor": 5, "label": "launch"},
        {"start": 100, "end": 200, "factor": 2, "label": ""},  # same window as a fault: skipped
        {"start": 500, "end": 600, "factor": 3, "label": ""},
    ]
    b.request(350.0, [("a", 350, 351, OK)])
    ws = trace_fault_windows(b.build())
    assert [(w.label, w.kind, w.org_fault) for w in ws] == [
        ("lock", "lockout", True),
        ("launch", "surge", False),
        ("traffic surge x3", "surge", False),
    ]
    assert trace_metrics(b.build()).faults[1].phases["during"].requests == 1
