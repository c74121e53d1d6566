"""SLO thresholds: parsing and evaluation against a policy's results."""

from __future__ import annotations

import numpy as np
import pytest

from reports.metrics import compute_results, evaluate_slo, summarize_policy
from sim.slo import parse_threshold

OK, QUOTA, SERVER = 0, 2, 4
OPENED = 0


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        (">= 99.9%", "success_rate", ">=", 0.999),
        (">=99.9 %", None, ">=", 0.999),
        ("<= 5m", "failover_time", "<=", 300.0),
        ("< 2s", "p99_latency", "<", 2.0),
        ("<= 1h 30m", "recovery_time", "<=", 5400.0),
        ("<= 250ms", "p50_latency", "<=", 0.25),
        ("<= 500", "wasted_attempts", "<=", 500.0),
        ("> 0.5", None, ">", 0.5),
        ("== 0", "user_visible_failures", "==", 0.0),
        ("≥ 99%", "success_rate", ">=", 0.99),
        ("99.9", "success_rate", ">=", 0.999),  # a rate above 1 without % is a percentage
        ("0.995", "session_success_rate", ">=", 0.995),
        ("5m", "failover_time", "<=", 300.0),  # no operator: the metric's natural one
        (300, "detection_time", "<=", 300.0),
    ],
)
def test_parse_threshold(text, metric, op, value):
    th = parse_threshold(text, metric)
    assert th.op == op
    assert th.value == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", ">=", "abc", "<= 5 parsecs", ">= %", "<= nan"])
def test_parse_threshold_rejects(bad):
    with pytest.raises(ValueError, match=r"threshold|duration"):
        parse_threshold(bad, "failover_time")


def test_threshold_holds():
    assert parse_threshold(">= 99%").holds(0.99)
    assert not parse_threshold("> 99%").holds(0.99)
    assert parse_threshold("< 2s").holds(1.9) and not parse_threshold("< 2s").holds(2.0)


def _trace(tb, *, never=False, seed=0):
    """Fault on org a [100, 500): pod 0 fails over at 130 s (or never), opened at 125 s."""
    b = tb(seed=seed)
    b.fault("a", 100, 500, label="lock")
    for t in np.arange(0.0, 1000.0, 5.0):
        b.request(float(t), [("b", float(t), float(t) + 1, OK)])
    last = 500.0 if never else 131.0
    for t in np.arange(100.0, last, 10.0):
        b.request(float(t) + 0.5, [("a", t + 0.5, t + 1, QUOTA), ("b", t + 1, t + 2, SERVER)])
    b.event(125.0, "a", OPENED)
    b.request(600.0, [("a", 600.0, 601.0, OK)])
    return b.build()


def by(checks, metric, phase=None):
    return [c for c in checks if c.metric == metric and (phase is None or c.phase == phase)]


def test_evaluate_overall_and_per_fault(tb):
    pr = summarize_policy("exponential", [_trace(tb)])
    checks = evaluate_slo(
        {
            "success_rate": ">= 99%",
            "failover_time": "<= 1m",
            "detection_time": "<= 20s",
            "recovery_time": "<= 2m",
            "p99_latency": "<= 2s",
            "wasted_attempts": "<= 3",
        },
        pr,
    )
    (sr,) = by(checks, "success_rate")
    assert sr.phase == "overall" and sr.fault is None
    assert sr.value == pytest.approx(201 / 205) and not sr.passed  # 4 failures out of 205
    (fo,) = by(checks, "failover_time")
    assert fo.fault == "lock" and fo.phase == "fault" and fo.value == 30.5 and fo.passed
    (det,) = by(checks, "detection_time")
    assert det.value == 25.0 and not det.passed
    (rec,) = by(checks, "recovery_time")
    assert rec.value == 100.0 and rec.passed
    (lat,) = by(checks, "p99_latency")
    assert lat.passed
    (wa,) = by(checks, "wasted_attempts")
    assert wa.phase == "overall" and wa.value == 4 and not wa.passed
    assert {c.policy for c in checks} == {"exponential"}


def test_evaluate_per_phase(tb):
    pr = summarize_policy("p", [_trace(tb)])
    checks = evaluate_slo(
        {
            "success_rate": {"before": ">= 100%", "during": ">= 96%", "after:lock": ">= 100%"},
            "wasted_attempts": {"during": "<= 10"},
        },
        pr,
    )
    phases = {c.phase: c for c in by(checks, "success_rate")}
    assert phases["before"].passed and phases["after"].passed
    assert phases["during"].value == pytest.approx(80 / 84) and not phases["during"].passed
    assert all(c.fault == "lock" for c in phases.values())
    (wa,) = by(checks, "wasted_attempts")
    assert wa.phase == "during" and wa.fault == "lock" and wa.value == 4 and wa.passed


def test_never_fails_a_duration_slo(tb):
    pr = summarize_policy("none", [_trace(tb, never=True, seed=1), _trace(tb, seed=2)])
    (fo,) = evaluate_slo({"failover_time": "<= 1h"}, pr)
    assert not fo.passed and fo.value is None and "never in 1 of 2" in fo.note


def test_a_phase_without_requests_has_no_latency_not_a_never(tb):
    b = tb()
    b.fault("a", 100, 200, label="quiet")
    b.request(10.0, [("a", 10.0, 11.0, OK)])
    b.request(300.0, [("a", 300.0, 301.0, OK)])  # nothing arrives while the fault lasts
    checks = evaluate_slo({"p99_latency": {"during": "<= 2s", "after": "<= 2s"}}, summarize_policy("p", [b.build()]))
    during, after = by(checks, "p99_latency", "during")[0], by(checks, "p99_latency", "after")[0]
    assert during.passed and during.value is None and during.note == "no data"
    assert after.passed and after.value == pytest.approx(1.0)


def test_list_form_and_aliases(tb):
    pr = summarize_policy("p", [_trace(tb)])
    checks = evaluate_slo(
        [
            {"metric": "latency_p99", "threshold": "<= 20s"},
            {"metric": "breakers_closed_within", "phase": "after", "threshold": "<= 10m"},
        ],
        pr,
    )
    assert [c.metric for c in checks] == ["p99_latency", "close_time"]
    assert checks[1].value is None and not checks[1].passed  # the breaker never closes


def test_recovery_na_for_fault_until_end(tb):
    b = tb()
    b.fault("a", 100, None, label="forever")
    b.request(10.0, [("a", 10.0, 11.0, OK)])
    (rec,) = evaluate_slo({"recovery_time": "<= 1m"}, summarize_policy("p", [b.build()]))
    assert rec.passed and rec.note.startswith("n/a")


def test_non_org_fault_skips_org_metrics(tb):
    b = tb()
    b.fault("*", 100, 200, kind="traffic_surge", label="surge")
    b.request(150.0, [("a", 150.0, 151.0, OK)])
    pr = summarize_policy("p", [b.build()])
    assert evaluate_slo({"failover_time": "<= 1m"}, pr) == []
    (sr,) = evaluate_slo({"success_rate": {"during:surge": ">= 99%"}}, pr)
    assert sr.passed and sr.value == 1.0


@pytest.mark.parametrize(
    ("slo", "match"),
    [
        ({"succes_rate": ">= 99%"}, "unknown SLO metric"),
        ({"success_rate": {"launch": ">= 99%"}}, "unknown SLO phase"),
        ({"success_rate": {"during:nope": ">= 99%"}}, "no fault labelled"),
        ({"success_rate": "fast"}, "threshold"),
        ([{"metric": "success_rate"}], "needs 'metric' and 'threshold'"),
        ("success_rate >= 99%", "mapping or a list"),
    ],
)
def test_bad_slo_specs(tb, slo, match):
    pr = summarize_policy("p", [_trace(tb)])
    with pytest.raises(ValueError, match=match):
        evaluate_slo(slo, pr)


def test_compute_results_uses_meta_slo(tb):
    t = _trace(tb)
    t.meta["slo"] = {"failover_time": "<= 1m"}
    res = compute_results({"a": [t], "b": [_trace(tb, never=True)]})
    assert res.slo is not None and not res.slo.passed
    assert [(c.policy, c.passed) for c in res.slo.checks] == [("a", True), ("b", False)]
    assert compute_results({"a": [t]}, slo={}).slo is None
    assert evaluate_slo({"failover_time": "<= 1m"}, [t], policy="a")[0].passed  # from traces
