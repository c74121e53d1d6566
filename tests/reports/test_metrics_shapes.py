"""Metrics for every fault shape on hand-built traces with known answers: hard vs partial
faults, time to shed, the headline time, totals of failures and wasted attempts, alerts per day."""

from __future__ import annotations

from reports.metrics import DAY, summarize_policy, trace_metrics

OK, RATE, QUOTA, AUTH, SERVER, TIMEOUT, CONN, CLIENT, SLOW = range(9)
OPENED, HALF_OPEN, CLOSED = 0, 1, 2


# --------------------------------------------------------------------------- alerts per day


def test_alerts_per_day_counts_opened_alerts_per_simulated_day(tb):
    b = tb(duration=2 * DAY, pods=2)
    for t in (100.0, 5000.0, 90000.0):
        b.event(t, "a", OPENED, pod=0)
        b.event(t + 60, "a", CLOSED, pod=0)
    b.event(200.0, "b", OPENED, pod=1)  # another pod's alert counts too
    b.event(260.0, "b", HALF_OPEN, pod=1)  # not an OPENED alert
    m = trace_metrics(b.build())
    assert m.alerts["opened"] == 4
    assert m.alerts_per_day == 2.0  # 4 OPENED alerts in 2 simulated days


def test_alerts_per_day_over_seeds_and_short_runs(tb):
    runs = []
    for seed, n in ((1, 1), (2, 3)):
        b = tb(duration=DAY / 4, seed=seed)  # a 6-hour run: one alert is 4 per day
        for i in range(n):
            b.event(100.0 + i, "a", OPENED)
        runs.append(b.build())
    pr = summarize_policy("p", runs)
    assert pr.alerts_per_day is not None
    assert pr.alerts_per_day.values == [4.0, 12.0]
    assert pr.alerts_per_day.mean == 8.0
    assert trace_metrics(tb(duration=0.0).build()).alerts_per_day is None
