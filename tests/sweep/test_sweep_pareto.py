"""Pareto frontier and the recommendation rule, on hand-made points; aggregation of real runs."""

from __future__ import annotations

import math

from sweep_helpers import small_scenario

from breakerlab.sweep import dominates, pareto_front, recommend, sweep


def P(sr: float | None, fo: float | str | None, wasted: float, flap: float, **kw: float) -> dict:
    return {"success_rate": sr, "failover_time": fo, "wasted_attempts": wasted, "flapping": flap, **kw}


def test_dominance() -> None:
    a = P(0.99, 30.0, 10, 1)
    assert dominates(a, P(0.98, 30.0, 10, 1))
    assert dominates(a, P(0.99, 31.0, 10, 1))
    assert not dominates(a, a)  # equal is not better
    assert not dominates(a, P(1.0, 300.0, 10, 1))  # a trade-off


def test_frontier_keeps_trade_offs_and_ties_and_drops_dominated() -> None:
    pts = [
        P(0.999, 60.0, 50, 4),  # 0 best success, much flapping
        P(0.990, 20.0, 10, 0),  # 1 fast, calm, lower success
        P(0.990, 20.0, 10, 0),  # 2 tie with 1: both kept
        P(0.985, 25.0, 12, 1),  # 3 dominated by 1
        P(0.999, 60.0, 50, 5),  # 4 dominated by 0
        P(0.995, 40.0, 30, 2),  # 5 in between: kept
    ]
    assert pareto_front(pts) == [0, 1, 2, 5]


def test_never_failing_over_is_worse_than_any_time() -> None:
    pts = [P(0.99, "never", 5, 0), P(0.99, 5000.0, 5, 0), P(0.99, math.inf, 5, 0)]
    assert pareto_front(pts) == [1]
    # a share of "never" runs: fewer is better, whatever the mean of the others
    pts = [P(0.99, 10.0, 5, 0, failover_never=0.4), P(0.99, 900.0, 5, 0, failover_never=0.2)]
    assert pareto_front(pts) == [1]


def test_missing_success_is_worst_and_missing_failover_is_neutral() -> None:
    pts = [P(None, 10.0, 1, 0), P(0.5, 10.0, 1, 0)]
    assert pareto_front(pts) == [1]
    pts = [P(0.9, None, 1, 0), P(0.9, None, 1, 0)]  # no org fault: failover does not decide
    assert pareto_front(pts) == [0, 1]


def test_single_frontier_point_dominates_everything() -> None:
    pts = [P(0.9, 60.0, 10, 2), P(0.99, 30.0, 5, 0), P(0.95, 45.0, 8, 1)]
    rec = recommend(pts, labels=["a", "b", "c"])
    assert rec is not None and rec.index == 1 and rec.rule == "only-frontier"
    assert rec.reason.startswith("b dominates every other setting")


def test_a_single_setting_is_simply_the_only_one() -> None:
    rec = recommend([P(0.99, 30.0, 5, 0)], labels=["(policy defaults)"])
    assert rec is not None and rec.rule == "only-setting"
    assert rec.reason.startswith("(policy defaults) is the only setting in the sweep (success rate 99.00 %")
    assert recommend([]) is None


def test_best_success_within_failover_and_flapping_slack() -> None:
    pts = [
        P(0.9999, 400.0, 5, 0),  # 0 best success but slow failover (> 60 s above the best)
        P(0.9990, 30.0, 20, 6),  # 1 fastest failover, flaps a lot
        P(0.9980, 35.0, 30, 0.5),  # 2 calm, fast
        P(0.9985, 80.0, 25, 1.0),  # 3 within both slacks (80 <= 30 + 60, 1.0 <= 0 + 1) and best of those
    ]
    assert pareto_front(pts) == [0, 1, 2, 3]
    rec = recommend(pts, labels=["s0", "s1", "s2", "s3"])
    assert rec is not None and rec.rule == "within-slack"
    assert rec.index == 3 and set(rec.candidates) == {2, 3}
    assert rec.reason.startswith("s3 has the highest success rate (99.85 %) of the 2 Pareto-frontier")
    assert "within 60.0 s of the best (80.0 s vs 30.0 s)" in rec.reason
    assert "within 1 cycle(s) per run of the best (1 vs 0)" in rec.reason
    # one sentence
    assert rec.reason.count(". ") == 0 and rec.reason.endswith(".") and "\n" not in rec.reason
    # a wider failover slack admits the best success rate
    assert recommend(pts, failover_slack=400).index == 0  # type: ignore[union-attr]


def test_flapping_condition_is_dropped_when_nothing_meets_both() -> None:
    pts = [P(0.99, 10.0, 5, 5), P(0.999, 500.0, 5, 0)]  # fast but flappy / calm but slow
    rec = recommend(pts)
    assert rec is not None and rec.rule == "failover-slack" and rec.index == 0
    assert "none was also within 1 flapping cycle(s)" in rec.reason


def test_ties_go_to_fewer_wasted_attempts_then_order() -> None:
    pts = [P(0.99, 10.0, 9, 0, ), P(0.99, 10.0, 3, 0.5), P(0.99, 10.0, 3, 0.5)]
    # 1 and 2 are identical and both dominate nothing of each other; 0 trades wasted for flapping
    rec = recommend(pts)
    assert rec is not None and rec.index == 1
    assert rec.reason.endswith("tied on every objective with 1 other setting(s) (first in grid order).")


def test_a_real_sweep_recommends_a_frontier_setting(tmp_path) -> None:
    res = sweep([small_scenario()], "consecutive", ["threshold=1,2,4,8", "open_time=10s,60s"], out=tmp_path,
                charts=False)
    assert res.recommendation is not None
    rec = res.recommended
    assert rec is not None and rec["pareto"] and rec["recommended"]
    assert rec["id"] in res.frontier
    best = max(s["objectives"]["success_rate"] for s in res.settings if s["pareto"])
    assert rec["objectives"]["success_rate"] <= best
    # every setting off the frontier is dominated by one on it
    for s in res.settings:
        if not s["pareto"]:
            assert any(dominates(res.settings[j]["objectives"], s["objectives"]) for j in res.frontier)
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
