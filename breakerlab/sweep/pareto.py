"""Judging settings: each setting's objectives (means over its runs), the Pareto frontier, and
the one recommendation with a one-sentence reason (rules in :mod:`breakerlab.sweep`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.format import fmt_count, fmt_duration, fmt_rate
from reports.metrics import stat

from .plan import SweepPlan

__all__ = [
    "DEFAULT_FAILOVER_SLACK",
    "DEFAULT_FLAPPING_SLACK",
    "OBJECTIVES",
    "RULE",
    "Recommendation",
    "aggregate",
    "cost",
    "dominates",
    "failover_text",
    "inert_axes",
    "objective_point",
    "pareto_front",
    "recommend",
]

#: (name, direction) of the objectives, in the order they are shown
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("success_rate", "max"),
    ("failover_time", "min"),
    ("wasted_attempts", "min"),
    ("flapping", "min"),
)


DEFAULT_FAILOVER_SLACK = 60.0


DEFAULT_FLAPPING_SLACK = 1.0


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _stat_dict(values: Sequence[Any]) -> dict[str, Any]:
    st = stat(values)
    return {"mean": st.mean, "ci_low": st.ci_low, "ci_high": st.ci_high, "n": st.n, "n_none": st.n_none}


def aggregate(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per setting: means over its runs (every scenario and seed) of each objective and more."""
    by_setting: dict[int, list[Mapping[str, Any]]] = {}
    for r in plan.runs:
        if r.key in results:
            by_setting.setdefault(r.setting, []).append(results[r.key])
    out = []
    for j, s in enumerate(plan.settings):
        ms = by_setting.get(j, [])
        fo = [m.get("failover_time") for m in ms]
        with_fault = [v for v in fo if v is not None]
        never = sum(1 for v in with_fault if v == "never")
        times = [float(v) for v in with_fault if v != "never"]
        agg: dict[str, Any] = {
            "id": j,
            "params": dict(s.params),
            "labels": dict(s.labels),
            "runs": len(ms),
            "success_rate": _stat_dict([m.get("success_rate") for m in ms]),
            "failover_time": {
                **_stat_dict(times),
                "never": never,
                "runs_with_fault": len(with_fault),
            },
            "wasted_attempts": _stat_dict([m.get("wasted_attempts") for m in ms]),
            "flapping": _stat_dict([m.get("flapping") for m in ms]),
            "session_success_rate": _stat_dict([m.get("session_success_rate") for m in ms]),
            "retry_amplification": _stat_dict([m.get("retry_amplification") for m in ms]),
            "latency_p99": _stat_dict([m.get("latency_p99") for m in ms]),
            "user_visible_failures": _stat_dict([m.get("user_visible_failures") for m in ms]),
            "opened": _stat_dict([m.get("opened") for m in ms]),
        }
        agg["objectives"] = objective_point(agg)
        out.append(agg)
    return out


def objective_point(agg: Mapping[str, Any]) -> dict[str, Any]:
    """The setting's objective values: success_rate, failover_time (mean over the runs that failed
    over; None when none did or no run had an org fault), failover_never (share of the runs with an
    org fault that never failed over), wasted_attempts, flapping."""
    fo = agg["failover_time"]
    n_fault = fo.get("runs_with_fault", 0)
    return {
        "success_rate": agg["success_rate"]["mean"],
        "failover_time": fo["mean"],
        "failover_never": (fo["never"] / n_fault) if n_fault else 0.0,
        "wasted_attempts": agg["wasted_attempts"]["mean"],
        "flapping": agg["flapping"]["mean"],
    }


def _failover_cost(p: Mapping[str, Any]) -> tuple[float, float]:
    v = p.get("failover_time")
    never = p.get("failover_never")
    if isinstance(v, str) or (isinstance(v, float) and math.isinf(v)):
        return (1.0 if never is None else float(never), 0.0)
    return (0.0 if never is None else float(never), 0.0 if v is None else float(v))


def cost(p: Mapping[str, Any], name: str) -> Any:
    """Lower is better."""
    if name == "failover_time":
        return _failover_cost(p)
    v = p.get(name)
    if name == "success_rate":
        return math.inf if v is None else -float(v)
    return math.inf if v is None else float(v)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Sequence[str] | None = None) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    names = objectives or [n for n, _ in OBJECTIVES]
    better = False
    for n in names:
        ca, cb = cost(a, n), cost(b, n)
        if ca > cb:
            return False
        if ca < cb:
            better = True
    return better


def pareto_front(points: Sequence[Mapping[str, Any]], objectives: Sequence[str] | None = None) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    A point maps objective names to values: ``success_rate`` (higher is better),
    ``failover_time`` (seconds; ``"never"``/``inf`` is worst; optional ``failover_never`` share),
    ``wasted_attempts`` and ``flapping`` (lower is better). None is worst, except for
    ``failover_time`` where None means "no fault" (neutral).
    """
    return [i for i, p in enumerate(points) if not any(dominates(q, p, objectives) for q in points if q is not p)]


@dataclass(frozen=True)
class Recommendation:
    index: int  # into the points / settings
    reason: str
    rule: str  # "only-setting" | "only-frontier" | "within-slack" | "failover-slack"
    candidates: tuple[int, ...] = ()


RULE = (
    "Among the Pareto-frontier settings whose failover time is within {fo} of the best frontier "
    "failover time (with no larger share of 'never' runs) and whose flapping is within {fl} open→close "
    "cycle(s) per run of the best frontier flapping, the one with the highest success rate; ties go to "
    "fewer wasted attempts, less flapping, faster failover, then grid order. If no frontier setting is "
    "within both, the flapping condition is dropped."
)


def failover_text(p: Mapping[str, Any], runs: int | None = None) -> str:
    never, mean = _failover_cost(p)
    if p.get("failover_time") is None and not never:
        return "n/a"
    if never >= 1.0:
        return "never"
    if never > 0:
        return f"{fmt_duration(mean)} (never in {never:.0%} of runs)"
    return fmt_duration(mean)


def recommend(
    points: Sequence[Mapping[str, Any]],
    frontier: Sequence[int] | None = None,
    *,
    labels: Sequence[str] | None = None,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
) -> Recommendation | None:
    """The recommended point (see :data:`RULE`) and the reason, in one sentence."""
    if not points:
        return None
    front = list(pareto_front(points) if frontier is None else frontier)
    names = list(labels) if labels is not None else [f"setting {i}" for i in range(len(points))]

    def rank(i: int) -> tuple[Any, ...]:
        p = points[i]
        return (cost(p, "success_rate"), cost(p, "wasted_attempts"), cost(p, "flapping"), _failover_cost(p), i)

    if len(points) == 1:
        p = points[0]
        reason = (
            f"{names[0]} is the only setting in the sweep (success rate {fmt_rate(p.get('success_rate'))}, "
            f"failover time {failover_text(p)}, wasted attempts {fmt_count(p.get('wasted_attempts'))}, flapping "
            f"{fmt_count(p.get('flapping'))} cycles per run)."
        )
        return Recommendation(0, reason, "only-setting", (0,))
    if len(front) == 1:
        i = front[0]
        p = points[i]
        reason = (
            f"{names[i]} dominates every other setting: it is at least as good on success rate "
            f"({fmt_rate(p.get('success_rate'))}), failover time ({failover_text(p)}), wasted attempts "
            f"({fmt_count(p.get('wasted_attempts'))}) and flapping ({fmt_count(p.get('flapping'))} cycles per run)"
            f" and better on at least one."
        )
        return Recommendation(i, reason, "only-frontier", (i,))
    best_fo = min((_failover_cost(points[i]) for i in front), default=(0.0, 0.0))
    best_fl = min((cost(points[i], "flapping") for i in front), default=0.0)

    def fo_ok(i: int) -> bool:
        never, mean = _failover_cost(points[i])
        return never <= best_fo[0] + 1e-12 and mean <= best_fo[1] + failover_slack + 1e-9

    def fl_ok(i: int) -> bool:
        return cost(points[i], "flapping") <= best_fl + flapping_slack + 1e-9

    cands = [i for i in front if fo_ok(i) and fl_ok(i)]
    rule = "within-slack"
    if not cands:
        cands = [i for i in front if fo_ok(i)]
        rule = "failover-slack"
    i = min(cands, key=rank)
    p = points[i]
    best_p = {"failover_time": best_fo[1], "failover_never": best_fo[0]}
    fo_part = (
        f"failover time is within {fmt_duration(failover_slack)} of the best "
        f"({failover_text(p)} vs {failover_text(best_p)})"
    )
    fl_part = (
        f"flapping is within {flapping_slack:g} cycle(s) per run of the best "
        f"({fmt_count(p.get('flapping'))} vs {fmt_count(best_fl)})"
    )
    head = (
        f"{names[i]} has the highest success rate ({fmt_rate(p.get('success_rate'))}) of the "
        f"{len(cands)} Pareto-frontier setting(s) (of {len(front)}) whose "
    )
    objectives = [n for n, _ in OBJECTIVES]
    ties = [j for j in front if j != i and all(cost(points[j], n) == cost(points[i], n) for n in objectives)]
    tie = f", tied on every objective with {len(ties)} other setting(s) (first in grid order)" if ties else ""
    if rule == "within-slack":
        reason = f"{head}{fo_part} and whose {fl_part}{tie}."
    else:
        reason = f"{head}{fo_part} (none was also within {flapping_slack:g} flapping cycle(s) of the best){tie}."
    return Recommendation(i, reason, rule, tuple(cands))


def inert_axes(settings: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """The swept parameters that changed nothing: every pair of finished settings that differ in
    that parameter alone scored the same on every objective (and at least one such pair exists).
    A quota lockout, say, trips any breaker at once — whatever its threshold."""
    done = [s for s in settings if s["runs"]]
    out = []
    for name in names:
        groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        for s in done:
            rest = tuple(s["labels"].get(n) for n in names if n != name)
            groups.setdefault(rest, []).append(s)
        pairs = [g for g in groups.values() if len({s["labels"].get(name) for s in g}) > 1]
        if pairs and all(all(s["objectives"] == g[0]["objectives"] for s in g) for g in pairs):
            out.append(name)
    return out
