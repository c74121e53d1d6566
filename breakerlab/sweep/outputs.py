"""A sweep's outputs: ``results.json`` (one row per run, one aggregate per setting, the frontier,
the recommendation), ``summary.md`` and the heatmaps (:mod:`reports.sweep_charts`). They depend only
on the runs' results, so a resumed sweep writes the same bytes as an uninterrupted one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.format import fmt_count, fmt_duration, fmt_rate
from reports.sweep_charts import sweep_heatmaps

from .execution import RunStats
from .pareto import (
    DEFAULT_FAILOVER_SLACK,
    DEFAULT_FLAPPING_SLACK,
    OBJECTIVES,
    RULE,
    Recommendation,
    aggregate,
    cost,
    inert_axes,
    pareto_front,
    recommend,
)
from .plan import SweepPlan
from .store import atomic_write, dumps

__all__ = ["FORMAT", "SweepResult", "finish", "summary_markdown"]

FORMAT = "breakerlab-sweep/1"


@dataclass
class SweepResult:
    plan: SweepPlan
    out: Path
    #: one row per planned run (scenario, setting, params, seed, key, metrics)
    rows: list[dict[str, Any]]
    settings: list[dict[str, Any]]
    frontier: list[int]
    recommendation: Recommendation | None
    stats: RunStats
    results_path: Path | None = None
    summary_path: Path | None = None
    charts: list[Path] = field(default_factory=list)

    @property
    def recommended(self) -> dict[str, Any] | None:
        return None if self.recommendation is None else self.settings[self.recommendation.index]


def _rows(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in plan.runs:
        if r.key not in results:
            continue
        s = plan.settings[r.setting]
        rows.append(
            {
                "scenario": plan.scenarios[r.scenario][0],
                "setting": r.setting,
                "params": dict(s.params),
                "seed": r.seed,
                "key": r.key,
                "metrics": results[r.key],
            }
        )
    return rows


def finish(
    plan: SweepPlan,
    results: Mapping[str, Mapping[str, Any]],
    stats: RunStats,
    out: str | Path,
    *,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
    charts: bool = True,
) -> SweepResult:
    """Aggregate, find the frontier and the recommendation, write results.json, summary.md, charts."""
    out = Path(out)
    settings = aggregate(plan, results)
    have = [s for s in settings if s["runs"]]
    idx = [s["id"] for s in have]
    points = [s["objectives"] for s in have]
    front_local = pareto_front(points)
    frontier = [idx[i] for i in front_local]
    rec_local = recommend(
        points, front_local, labels=[plan.settings[i].text() for i in idx],
        failover_slack=failover_slack, flapping_slack=flapping_slack,
    )
    rec = None if rec_local is None else Recommendation(
        idx[rec_local.index], rec_local.reason, rec_local.rule, tuple(idx[c] for c in rec_local.candidates)
    )
    for s in settings:
        s["pareto"] = s["id"] in frontier
        s["recommended"] = rec is not None and s["id"] == rec.index
    result = SweepResult(plan, out, _rows(plan, results), settings, frontier, rec, stats)
    if charts and len(have) >= 1:
        result.charts = _charts(result)
    doc = _results_json(result, failover_slack, flapping_slack)
    result.results_path = atomic_write(out / "results.json", dumps(doc))
    result.summary_path = atomic_write(out / "summary.md", summary_markdown(result, failover_slack, flapping_slack))
    return result


def _charts(result: SweepResult) -> list[Path]:
    plan = result.plan
    pts = []
    for s in result.settings:
        if not s["runs"]:
            continue
        o = s["objectives"]
        never = o["failover_never"]
        fo = math.inf if never > 0 else o["failover_time"]  # any "never" run: shown as never
        pts.append({"params": s["params"], "labels": s["labels"],
                    "metrics": {"success_rate": o["success_rate"], "failover_time": fo,
                                "wasted_attempts": o["wasted_attempts"], "flapping": o["flapping"]}})
    highlight = result.recommended["params"] if result.recommended else None
    names = [a.name for a in plan.axes]
    title = f"{plan.policy} on {', '.join(n for n, _, _ in plan.scenarios)}"
    paths = sweep_heatmaps(pts, names, result.out / "charts", highlight=highlight, title=title)
    return [p for ps in paths.values() for p in ps]


def _results_json(result: SweepResult, failover_slack: float, flapping_slack: float) -> dict[str, Any]:
    plan = result.plan
    rec = result.recommendation
    return {
        "format": FORMAT,
        "policy": plan.policy,
        "policy_class": plan.policy_class,
        "base_params": plan.base_params,
        "search": plan.search,
        "random": plan.random,
        "sample_seed": plan.sample_seed if plan.search == "random" else None,
        "axes": [
            {"name": a.name, "spec": a.spec, "kind": a.kind, "values": list(a.values), "labels": list(a.labels)}
            for a in plan.axes
        ],
        "scenarios": [{"name": n, "hash": h, "seeds": plan.seeds[i]} for i, (n, _, h) in enumerate(plan.scenarios)],
        "mode": plan.mode,
        "code_version": plan.code,
        "objectives": [{"name": n, "direction": d} for n, d in OBJECTIVES],
        "recommendation_rule": RULE.format(fo=fmt_duration(failover_slack), fl=f"{flapping_slack:g}"),
        "inert_params": inert_axes(result.settings, [a.name for a in plan.axes]),
        "runs_planned": len(plan.runs),
        "runs_failed": result.stats.failed,
        "rows": result.rows,
        "settings": result.settings,
        "frontier": result.frontier,
        "recommendation": None if rec is None else {
            "setting": rec.index,
            "params": dict(plan.settings[rec.index].params),
            "labels": dict(plan.settings[rec.index].labels),
            "full_params": plan.full_params[rec.index],
            "reason": rec.reason,
            "rule": rec.rule,
        },
        "charts": sorted(p.relative_to(result.out).as_posix() for p in result.charts),
    }


def _setting_cells(s: Mapping[str, Any]) -> list[str]:
    o = s["objectives"]
    fo = s["failover_time"]
    if fo["runs_with_fault"] == 0:
        fo_text = "n/a"
    elif fo["never"] == fo["runs_with_fault"]:
        fo_text = "never"
    else:
        fo_text = fmt_duration(fo["mean"]) + (f" (never in {fo['never']} runs)" if fo["never"] else "")
    return [fmt_rate(o["success_rate"]), fo_text, fmt_count(o["wasted_attempts"]), fmt_count(o["flapping"])]


def summary_markdown(result: SweepResult, failover_slack: float, flapping_slack: float) -> str:
    """``summary.md``: what was swept, the recommendation, the frontier, all settings, heatmaps."""
    lines = [
        *_summary_head(result),
        *_recommendation_section(result, failover_slack, flapping_slack),
        *_settings_sections(result),
        *_heatmaps_section(result),
        "Files: `results.json` (one row per run, one aggregate per setting), `runs/<key>.json` "
        "(each run's metrics, keyed by a hash of its config; rerun the same command to resume).",
        "",
    ]
    return "\n".join(lines)


def _summary_head(result: SweepResult) -> list[str]:
    plan = result.plan
    n_sc, n_set = len(plan.scenarios), len(plan.settings)
    n_seeds = sorted({len(s) for s in plan.seeds})
    lines = [
        f"# Sweep: {plan.policy} on {', '.join(n for n, _, _ in plan.scenarios)}",
        "",
        f"{plan.search.capitalize()} search over {', '.join(a.spec for a in plan.axes) or 'no parameter'}: "
        f"{len(plan.runs)} run(s) = {n_sc} scenario(s) x {n_set} setting(s) x "
        f"{'/'.join(map(str, n_seeds))} seed(s), {plan.mode} mode. Values are means over each setting's "
        "runs (all scenarios and seeds).",
        "",
    ]
    if result.stats.failed:
        lines += [f"**{result.stats.failed} run(s) failed** and are missing from the numbers below.", ""]
    return lines


def _recommendation_section(result: SweepResult, failover_slack: float, flapping_slack: float) -> list[str]:
    plan = result.plan
    rec = result.recommendation
    if rec is None:
        return ["## Recommendation", "", "No run finished: nothing to recommend.", ""]
    cells = _setting_cells(result.settings[rec.index])
    lines = [
        "## Recommendation",
        "",
        f"**{plan.settings[rec.index].text()}** — success rate {cells[0]}, failover time {cells[1]}, "
        f"wasted attempts {cells[2]}, flapping {cells[3]} cycles per run.",
        "",
        rec.reason,
        "",
        f"Rule: {RULE.format(fo=fmt_duration(failover_slack), fl=f'{flapping_slack:g}')}",
        "",
    ]
    inert = inert_axes(result.settings, [a.name for a in plan.axes])
    if inert:
        lines += [
            f"**No effect: {', '.join(inert)}.** Settings that differ only in "
            f"{'this parameter' if len(inert) == 1 else 'one of these'} scored the same on every "
            "objective, so the value recommended for it is arbitrary (the first in the grid): this "
            "sweep's scenarios do not exercise it.",
            "",
        ]
    return lines


def _settings_table(result: SweepResult, ids: Sequence[int]) -> list[str]:
    names = [a.name for a in result.plan.axes]
    header = ["#", *names, "success rate", "failover time", "wasted attempts", "flapping", ""]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for j in ids:
        s = result.settings[j]
        mark = ("✔ recommended" if s["recommended"] else "") or ("★ frontier" if s["pareto"] else "")
        labels = [s["labels"].get(n, "") for n in names]
        out.append("| " + " | ".join([str(j), *labels, *_setting_cells(s), mark]) + " |")
    return out


def _settings_sections(result: SweepResult) -> list[str]:
    """The frontier's table, then every finished setting's (the best 30 by success rate past 60)."""
    have = [s["id"] for s in result.settings if s["runs"]]
    lines = [f"## Pareto frontier ({len(result.frontier)} of {len(have)} settings)",
             "", "Objectives: success rate (max), failover time (min; never = worst), wasted attempts (min), "
             "flapping = open→close cycles per run (min).", ""]
    lines += [*_settings_table(result, result.frontier), ""]
    if len(have) > len(result.frontier):
        shown = have
        note = ""
        if len(have) > 60:
            shown = sorted(have, key=lambda j: cost(result.settings[j]["objectives"], "success_rate"))[:30]
            shown.sort()
            note = f" (the 30 with the best success rate of {len(have)})"
        lines += [f"## All settings{note}", "", *_settings_table(result, shown), ""]
    return lines


def _heatmaps_section(result: SweepResult) -> list[str]:
    if not result.charts:
        return []
    lines = ["## Heatmaps", ""]
    for p in sorted(result.charts):
        if p.suffix == ".png":
            lines.append(f"![{p.stem}]({p.relative_to(result.out).as_posix()})")
    return [*lines, ""]
