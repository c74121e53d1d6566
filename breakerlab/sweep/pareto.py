"""Judging settings: each run judged by its scenario's SLO (:func:`reports.evaluate_slo`, the one
walker, through :func:`breakerlab.judge.judge_result`), each setting's verdict and margin over
its runs, its objective values (means over its runs), the Pareto frontier over the chosen
objectives, and the one recommendation with a one-sentence reason (rules in :mod:`breakerlab.sweep`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.format import fmt_count, fmt_duration, fmt_margin, fmt_rate, fmt_ratio
from reports.metrics import stat
from reports.ranking import check_text, verdict
from reports.schema import PolicyResult

from ..errors import SweepError
from ..judge import judge_result
from .plan import SweepPlan

__all__ = [
    "DEFAULT_OBJECTIVES",
    "NEVER_OBJECTIVES",
    "OBJECTIVES",
    "RULE",
    "Objective",
    "Recommendation",
    "SettingVerdict",
    "aggregate",
    "check_objectives",
    "cost",
    "dominates",
    "inert_axes",
    "objective_point",
    "objective_text",
    "pareto_front",
    "recommend",
    "run_checks",
]


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "max" | "min"
    kind: str  # how it prints: "rate" | "duration" | "count" | "ratio" | "margin"
    meaning: str


#: every objective ``--objective`` may name, in the order they are shown
OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("slo_margin", "max", "margin",
              "the worst run's margin on its scenario's SLO (see reports.ranking); none without an SLO"),
    Objective("success_rate", "max", "rate", "user requests that ended 2xx / all requests"),
    Objective("session_success_rate", "max", "rate", "sessions whose every request succeeded / all sessions"),
    Objective("latency_p99", "min", "duration", "user latency, 99th percentile over the run"),
    Objective("latency_p95", "min", "duration", "user latency, 95th percentile over the run"),
    Objective("retry_amplification", "min", "ratio", "attempts per user request"),
    Objective("wasted_attempts", "min", "count", "attempts sent to a faulted org during its fault, run total"),
    Objective("user_visible_failures", "min", "count", "failed user requests caused by the org faults"),
    Objective("alerts_per_day", "min", "count", "OPENED alerts per simulated day (pager noise)"),
    Objective("flapping", "min", "count", "open→close breaker cycles per run"),
    Objective("detection_time", "min", "duration", "fault onset → first breaker OPEN, worst fault; never = worst"),
    Objective("shed_time", "min", "duration",
              "time to shed / failover, worst fault: failover for a hard fault, time to shed (the "
              "target's regular share stays under 10 % of its healthy share) for a partial one; never = worst"),
    Objective("failover_time", "min", "duration",
              "onset → last regular attempt on the faulted org, worst fault and pod; never = worst "
              "(misleads on partial faults: a breaker that sheds most traffic still reads 'never')"),
)}

#: the Pareto frontier's objectives when ``--objective`` is not given
DEFAULT_OBJECTIVES = ("slo_margin", "success_rate", "wasted_attempts", "alerts_per_day")

#: duration objectives where a run may read "never" (worse than any time)
NEVER_OBJECTIVES = ("shed_time", "failover_time", "detection_time")


def check_objectives(names: Sequence[str] | None) -> tuple[str, ...]:
    """The objectives to use (default :data:`DEFAULT_OBJECTIVES`); a :class:`SweepError` naming
    ``objectives`` and every valid name for an unknown one."""
    if not names:
        return DEFAULT_OBJECTIVES
    for n in names:
        if n not in OBJECTIVES:
            raise SweepError("objectives", f"unknown objective {n!r} (valid: {', '.join(OBJECTIVES)})")
    return tuple(dict.fromkeys(names))


def _stat_dict(values: Sequence[Any]) -> dict[str, Any]:
    st = stat(values)
    return {"mean": st.mean, "ci_low": st.ci_low, "ci_high": st.ci_high, "n": st.n, "n_none": st.n_none}


def run_checks(plan: SweepPlan, scenario: int, metrics: Mapping[str, Any]) -> list[Any]:
    """One run's SLO checks against its scenario's SLO (empty without one): the run's own
    single-seed result, judged by :func:`breakerlab.judge.judge_result`."""
    slo = plan.scenarios[scenario][1].slo
    if not slo or metrics.get("slo_result") is None:
        return []
    return list(judge_result(slo, PolicyResult.model_validate(metrics["slo_result"]), plan.policy))


@dataclass(frozen=True)
class SettingVerdict:
    """A setting judged over its runs: it passes when every run meets every check; its margin is
    the worst run's margin and ``binding`` that run's binding check."""

    passed: bool
    margin: float | None
    #: the binding check (``SloCheck.as_dict()``) with its ``scenario``, ``seed`` and ``margin``
    binding: dict[str, Any] | None
    runs: int
    runs_passed: int
    failed_checks: int

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "margin": _finite(self.margin), "margin_text": fmt_margin(self.margin),
                "binding": self.binding, "runs": self.runs, "runs_passed": self.runs_passed,
                "failed_checks": self.failed_checks}

    def binding_text(self) -> str:
        b = self.binding
        if b is None:
            return ""
        return f"{check_text(b)} (margin {fmt_margin(self.margin)}; {b['scenario']}, seed {b['seed']})"


def _finite(v: float | None) -> float | None:
    """A margin as JSON holds it: ``-inf`` ("never") as None (``margin_text`` says never)."""
    return None if v is None or math.isinf(v) else v


def _setting_verdict(judged: Sequence[tuple[str, int, list[Any]]]) -> SettingVerdict | None:
    """From each run's (scenario, seed, checks); None when no run has a check (no SLO)."""
    if not any(cs for _, _, cs in judged):
        return None
    worst: tuple[float, int] | None = None
    binding = None
    runs_passed = failed = 0
    for k, (scenario, seed, cs) in enumerate(judged):
        v = verdict(cs)
        runs_passed += v.passed
        failed += v.failed
        if v.binding is not None and (worst is None or (v.margin_key(), k) < worst):
            worst = (v.margin_key(), k)
            binding = {**v.binding.as_dict(), "scenario": scenario, "seed": seed, "margin": _finite(v.margin)}
    margin = None
    if binding is not None:
        margin = -math.inf if binding["margin"] is None else float(binding["margin"])
    return SettingVerdict(runs_passed == len(judged), margin, binding, len(judged), runs_passed, failed)


def aggregate(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per setting: its SLO verdict over its runs (``slo``; None without an SLO), means over its
    runs (every scenario and seed) of each objective, and the objective point."""
    by_setting: dict[int, list[tuple[int, int, Mapping[str, Any]]]] = {}
    for r in plan.runs:
        if r.key in results:
            by_setting.setdefault(r.setting, []).append((r.scenario, r.seed, results[r.key]))
    out = []
    for j, s in enumerate(plan.settings):
        runs = by_setting.get(j, [])
        ms = [m for _, _, m in runs]
        sv = _setting_verdict([(plan.scenarios[si][0], seed, run_checks(plan, si, m)) for si, seed, m in runs])
        agg: dict[str, Any] = {
            "id": j,
            "params": dict(s.params),
            "labels": dict(s.labels),
            "runs": len(ms),
            "slo": None if sv is None else sv.as_dict(),
        }
        for name in OBJECTIVES:
            if name == "slo_margin":
                continue
            if name in NEVER_OBJECTIVES:
                vals = [m.get(name) for m in ms]
                with_fault = [v for v in vals if v is not None]
                agg[name] = {
                    **_stat_dict([float(v) for v in with_fault if v != "never"]),
                    "never": sum(1 for v in with_fault if v == "never"),
                    "runs_with_fault": len(with_fault),
                }
            else:
                agg[name] = _stat_dict([m.get(name) for m in ms])
        agg["objectives"] = objective_point(agg, sv)
        out.append(agg)
    return out


def objective_point(agg: Mapping[str, Any], sv: SettingVerdict | None = None) -> dict[str, Any]:
    """The setting's value of every objective: means over its runs; ``slo_margin`` the worst
    run's (None without an SLO); for ``failover_time`` and ``detection_time`` the mean over the
    runs where it happened plus ``<name>_never``, the share of runs with an org fault where it never did."""
    out: dict[str, Any] = {"slo_margin": None if sv is None else _finite(sv.margin)}  # never: worst
    if sv is not None and sv.margin is not None and math.isinf(sv.margin):
        out["slo_margin_never"] = True  # the binding check read "never" (JSON has no -inf)
    for name in OBJECTIVES:
        if name == "slo_margin":
            continue
        a = agg[name]
        out[name] = a["mean"]
        if name in NEVER_OBJECTIVES:
            n_fault = a.get("runs_with_fault", 0)
            out[f"{name}_never"] = (a["never"] / n_fault) if n_fault else 0.0
    return out


def _never_cost(p: Mapping[str, Any], name: str) -> tuple[float, float]:
    v = p.get(name)
    never = p.get(f"{name}_never")
    if isinstance(v, str) or (isinstance(v, float) and math.isinf(v)):
        return (1.0 if never is None else float(never), 0.0)
    return (0.0 if never is None else float(never), 0.0 if v is None else float(v))


def cost(p: Mapping[str, Any], name: str) -> Any:
    """Lower is better. None is worst, except where no setting can have a value (no fault for
    ``failover_time``: neutral)."""
    if name in NEVER_OBJECTIVES:
        return _never_cost(p, name)
    v = p.get(name)
    if v is None:
        return math.inf
    return -float(v) if OBJECTIVES[name].direction == "max" else float(v)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Sequence[str] | None = None) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for n in objectives or DEFAULT_OBJECTIVES:
        ca, cb = cost(a, n), cost(b, n)
        if ca > cb:
            return False
        if ca < cb:
            better = True
    return better


def pareto_front(points: Sequence[Mapping[str, Any]], objectives: Sequence[str] | None = None) -> list[int]:
    """Indices of the points no other point dominates on ``objectives`` (default
    :data:`DEFAULT_OBJECTIVES`), in input order. Points with identical values are all kept."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, objectives) for q in points if q is not p)]


def objective_text(p: Mapping[str, Any], name: str) -> str:
    """One objective's value as the sweep prints it (the reports' formatters)."""
    kind = OBJECTIVES[name].kind
    if name in NEVER_OBJECTIVES:
        never, mean = _never_cost(p, name)
        if p.get(name) is None and not never:
            return "n/a"
        if never >= 1.0:
            return "never"
        return fmt_duration(mean) + (f" (never in {never:.0%} of runs)" if never > 0 else "")
    v = p.get(name)
    if kind == "margin":
        if v is None:
            return "never" if p.get("slo_margin_never") else "n/a"
        return fmt_margin(v)
    fmt: dict[str, Callable[[float | None], str]] = {
        "rate": fmt_rate, "duration": fmt_duration, "count": fmt_count, "ratio": fmt_ratio,
    }
    return fmt[kind](v)


@dataclass(frozen=True)
class Recommendation:
    index: int  # into the points / settings
    reason: str
    rule: str  # "slo-pass" | "slo-closest" | "no-slo"
    candidates: tuple[int, ...] = ()
    #: whether the recommended setting meets every SLO check in every run (None: no SLO)
    passed: bool | None = None


RULE = (
    "Each run is judged by its scenario's SLO (every metric, phase and fault; each seed on its own). "
    "A setting passes when all its runs pass; its margin is its worst run's worst check's margin "
    "(relative to the threshold; for rates, to the failure budget 1 - threshold), and that check binds. "
    "Recommended: the passing setting with the widest margin; ties go to fewer wasted attempts, then "
    "fewer alerts per day, then grid order. When none passes: the closest (widest margin), and by how much "
    "and on which check it misses. Without an SLO: the highest success rate, with the same tie-breaks."
)


def _tie_key(p: Mapping[str, Any], i: int) -> tuple[Any, ...]:
    return (cost(p, "wasted_attempts"), cost(p, "alerts_per_day"), i)


def recommend(
    points: Sequence[Mapping[str, Any]],
    verdicts: Sequence[SettingVerdict | None] | None = None,
    *,
    labels: Sequence[str] | None = None,
) -> Recommendation | None:
    """The recommended point (see :data:`RULE`) and the reason, in one sentence. ``verdicts``:
    each point's SLO verdict (None everywhere, or not given: no SLO)."""
    if not points:
        return None
    names = list(labels) if labels is not None else [f"setting {i}" for i in range(len(points))]
    vs = list(verdicts) if verdicts is not None else [None] * len(points)
    if all(v is None for v in vs):
        i = min(range(len(points)), key=lambda k: (cost(points[k], "success_rate"), *_tie_key(points[k], k)))
        p = points[i]
        return Recommendation(i, (
            f"No scenario states an SLO, so {names[i]} is recommended for the highest success rate "
            f"({fmt_rate(p.get('success_rate'))}; wasted attempts {fmt_count(p.get('wasted_attempts'))}, "
            f"alerts per day {fmt_count(p.get('alerts_per_day'))}) of {len(points)} setting(s)."
        ), "no-slo", tuple(range(len(points))), None)

    def key(k: int) -> tuple[Any, ...]:
        v = vs[k]
        return (-(v.margin if v is not None and v.margin is not None else -1e300), *_tie_key(points[k], k))

    passing = [k for k, v in enumerate(vs) if v is not None and v.passed]
    cands = passing or [k for k, v in enumerate(vs) if v is not None]
    i = min(cands, key=key)
    v = vs[i]
    assert v is not None
    ties = [k for k in cands if k != i and key(k)[0] == key(i)[0]]
    tie = (f"; {len(ties)} other setting(s) tie on margin, so fewer wasted attempts then fewer alerts per day "
           "decided") if ties else ""
    bind = v.binding_text() or "no check with data"
    if passing:
        reason = (
            f"{names[i]} meets every SLO check in all {v.runs} run(s) with the widest margin of the "
            f"{len(passing)} of {len(points)} setting(s) that do; binding check: {bind}{tie}."
        )
        return Recommendation(i, reason, "slo-pass", tuple(passing), True)
    if v.margin is None or math.isinf(v.margin):
        miss = f"never meets {bind}"
    else:
        miss = f"misses by {fmt_margin(-v.margin).lstrip('+')} on {bind}"
    reason = (
        f"No setting meets every SLO check in every run; the closest is {names[i]} ({v.runs_passed} of "
        f"{v.runs} run(s) pass), which {miss}{tie}."
    )
    return Recommendation(i, reason, "slo-closest", tuple(cands), False)


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
