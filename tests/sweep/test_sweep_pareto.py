"""Pareto frontier and the recommendation rule, on hand-made points; aggregation of real runs."""

from __future__ import annotations

import math

from sweep_helpers import small_scenario

from breakerlab.sweep import dominates, pareto_front, recommend, sweep


def P(sr: float | None, fo: float | str | None, wasted: float, flap: float, **kw: float) -> dict:
    return {"success_rate": sr, "failover_time": fo, "wasted_attempts": wasted, "flapping": flap, **kw}


#: the objectives these hand-made points are compared on (``--objective`` each)
OBJ = ("success_rate", "failover_time", "wasted_attempts", "flapping")


def test_dominance() -> None:
    a = P(0.99, 30.0, 10, 1)
    assert dominates(a, P(0.98, 30.0, 10, 1), OBJ)
    assert dominates(a, P(0.99, 31.0, 10, 1), OBJ)
    assert not dominates(a, a, OBJ)  # equal is not better
    assert not dominates(a, P(1.0, 300.0, 10, 1), OBJ)  # a trade-off
    # only the chosen objectives count: on success rate alone, the trade-off is a win
    assert dominates(P(1.0, 300.0, 10, 1), a, ["success_rate"])


def test_frontier_keeps_trade_offs_and_ties_and_drops_dominated() -> None:
    pts = [
        P(0.999, 60.0, 50, 4),  # 0 best success, much flapping
        P(0.990, 20.0, 10, 0),  # 1 fast, calm, lower success
        P(0.990, 20.0, 10, 0),  # 2 tie with 1: both kept
        P(0.985, 25.0, 12, 1),  # 3 dominated by 1
        P(0.999, 60.0, 50, 5),  # 4 dominated by 0
        P(0.995, 40.0, 30, 2),  # 5 in between: kept
    ]
    assert pareto_front(pts, OBJ) == [0, 1, 2, 5]
    assert pareto_front(pts, ["success_rate"]) == [0, 4]


def test_never_failing_over_is_worse_than_any_time() -> None:
    pts = [P(0.99, "never", 5, 0), P(0.99, 5000.0, 5, 0), P(0.99, math.inf, 5, 0)]
    assert pareto_front(pts, OBJ) == [1]
    # a share of "never" runs: fewer is better, whatever the mean of the others
    pts = [P(0.99, 10.0, 5, 0, failover_time_never=0.4), P(0.99, 900.0, 5, 0, failover_time_never=0.2)]
    assert pareto_front(pts, OBJ) == [1]


def test_missing_success_is_worst_and_missing_failover_is_neutral() -> None:
    pts = [P(None, 10.0, 1, 0), P(0.5, 10.0, 1, 0)]
    assert pareto_front(pts, OBJ) == [1]
    pts = [P(0.9, None, 1, 0), P(0.9, None, 1, 0)]  # no org fault: failover does not decide
    assert pareto_front(pts, OBJ) == [0, 1]


def test_without_an_slo_the_best_success_rate_is_recommended_ties_by_wasted_then_alerts() -> None:
    pts = [P(0.99, 10.0, 9, 0, alerts_per_day=1), P(0.999, 10.0, 3, 0, alerts_per_day=50),
           P(0.999, 10.0, 3, 0, alerts_per_day=20), P(0.999, 10.0, 2, 0, alerts_per_day=90)]
    rec = recommend(pts, labels=["a", "b", "c", "d"])
    assert rec is not None and rec.rule == "no-slo" and rec.passed is None
    assert rec.index == 3  # fewest wasted among the best success rate
    assert rec.reason.startswith("No scenario states an SLO, so d is recommended for the highest success rate")
    pts[3]["wasted_attempts"] = 3
    assert recommend(pts).index == 2  # type: ignore[union-attr]  # then fewer alerts per day
    assert recommend([]) is None


def test_a_real_sweep_recommends_a_frontier_setting(tmp_path) -> None:
    res = sweep([small_scenario()], "consecutive", ["threshold=1,2,4,8", "open_time=10s,60s"], out=tmp_path,
                charts=False)
    assert res.recommendation is not None
    rec = res.recommended
    assert rec is not None and rec["pareto"] and rec["recommended"]
    assert rec["id"] in res.frontier
    best = max(s["objectives"]["success_rate"] for s in res.settings)
    assert rec["objectives"]["success_rate"] == best  # no SLO: the best success rate
    # every setting off the frontier is dominated by one on it (on the default objectives)
    for s in res.settings:
        if not s["pareto"]:
            assert any(dominates(res.settings[j]["objectives"], s["objectives"], res.objectives)
                       for j in res.frontier)
    # the success rate varies with the threshold in this world (no retries)
    rates = {s["params"]["threshold"]: s["objectives"]["success_rate"] for s in res.settings}
    assert rates[1] > rates[8]


def test_a_parameter_that_changed_nothing_is_named() -> None:
    from breakerlab.sweep import inert_axes

    def S(th: int, ot: str, sr: float) -> dict:
        return {"runs": 2, "labels": {"threshold": str(th), "open_time": ot}, "objectives": P(sr, 30.0, 10, 1)}

    # the threshold never matters; the open time does
    settings = [S(th, ot, 0.99 if ot == "30s" else 0.98) for th in (2, 5, 8) for ot in ("30s", "60s")]
    assert inert_axes(settings, ["threshold", "open_time"]) == ["threshold"]
    settings[0] = S(2, "30s", 0.995)  # once it matters somewhere, it is not inert
    assert inert_axes(settings, ["threshold", "open_time"]) == []
    # no pair differs in one parameter alone (a random search, say): nothing is claimed
    assert inert_axes([S(2, "30s", 0.99), S(5, "60s", 0.99)], ["threshold", "open_time"]) == []
