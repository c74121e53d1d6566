"""A sweep's outputs: ``results.json`` (one row per run, one aggregate per setting, the frontier,
the recommendation), ``summary.md`` and the heatmaps (:mod:`reports.sweep_charts`). They depend only
on the runs' results, so a resumed sweep writes the same bytes as an uninterrupted one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.format import fmt_margin
from reports.ranking import check_text, verdict
from reports.sweep_charts import SLO_MARGIN, SLO_PASS, HeatSpec, metric_spec, sweep_heatmaps
from sim.slo import slo_items

from .execution import RunStats
from .pareto import (
    OBJECTIVES,
    RULE,
    Recommendation,
    SettingVerdict,
    aggregate,
    check_objectives,
    cost,
    inert_axes,
    objective_text,
    pareto_front,
    recommend,
    run_checks,
)
from .plan import SweepPlan
from .store import atomic_write, dumps

__all__ = ["FORMAT", "SweepResult", "finish", "summary_markdown"]

FORMAT = "breakerlab-sweep/2"


@dataclass
class SweepResult:
    plan: SweepPlan
    out: Path
    #: one row per planned run (scenario, setting, params, seed, key, metrics, slo)
    rows: list[dict[str, Any]]
    settings: list[dict[str, Any]]
    frontier: list[int]
    recommendation: Recommendation | None
    stats: RunStats
    #: the Pareto frontier's objectives
    objectives: tuple[str, ...] = ()
    results_path: Path | None = None
    summary_path: Path | None = None
    charts: list[Path] = field(default_factory=list)

    @property
    def recommended(self) -> dict[str, Any] | None:
        return None if self.recommendation is None else self.settings[self.recommendation.index]

    @property
    def has_slo(self) -> bool:
        return any(s["slo"] is not None for s in self.settings)


def _rows(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in plan.runs:
        if r.key not in results:
            continue
        s = plan.settings[r.setting]
        m = results[r.key]
        v = verdict(run_checks(plan, r.scenario, m)) if plan.scenarios[r.scenario][1].slo else None
        rows.append(
            {
                "scenario": plan.scenarios[r.scenario][0],
                "setting": r.setting,
                "params": dict(s.params),
                "seed": r.seed,
                "key": r.key,
                "metrics": {k: x for k, x in m.items() if k != "slo_result"},  # the result: in runs/<key>.json
                "slo": None if v is None else {
                    "passed": v.passed, "failed_checks": v.failed, "margin_text": fmt_margin(v.margin),
                    "binding": None if v.binding is None else check_text(v.binding),
                },
            }
        )
    return rows


def _verdicts(settings: Sequence[Mapping[str, Any]]) -> list[SettingVerdict | None]:
    out: list[SettingVerdict | None] = []
    for s in settings:
        d = s["slo"]
        if d is None:
            out.append(None)
            continue
        margin = d["margin"]
        if margin is None and d["binding"] is not None:
            margin = -math.inf  # "never"
        out.append(SettingVerdict(d["passed"], margin, d["binding"], d["runs"], d["runs_passed"], d["failed_checks"]))
    return out


def finish(
    plan: SweepPlan,
    results: Mapping[str, Mapping[str, Any]],
    stats: RunStats,
    out: str | Path,
    *,
    objectives: Sequence[str] | None = None,
    charts: bool = True,
) -> SweepResult:
    """Judge every run by its scenario's SLO, aggregate, find the frontier over ``objectives``
    and the recommendation; write results.json, summary.md and the heatmaps."""
    objs = check_objectives(objectives)
    out = Path(out)
    settings = aggregate(plan, results)
    have = [s for s in settings if s["runs"]]
    idx = [s["id"] for s in have]
    points = [s["objectives"] for s in have]
    front_local = pareto_front(points, objs)
    frontier = [idx[i] for i in front_local]
    rec_local = recommend(points, _verdicts(have), labels=[plan.settings[i].text() for i in idx])
    rec = None if rec_local is None else Recommendation(
        idx[rec_local.index], rec_local.reason, rec_local.rule, tuple(idx[c] for c in rec_local.candidates),
        rec_local.passed,
    )
    for s in settings:
        s["pareto"] = s["id"] in frontier
        s["recommended"] = rec is not None and s["id"] == rec.index
    result = SweepResult(plan, out, _rows(plan, results), settings, frontier, rec, stats, objs)
    if charts and len(have) >= 1:
        result.charts = _charts(result)
    doc = _results_json(result)
    result.results_path = atomic_write(out / "results.json", dumps(doc))
    result.summary_path = atomic_write(out / "summary.md", summary_markdown(result))
    return result


def _charts(result: SweepResult) -> list[Path]:
    """The SLO's heatmaps (pass/fail, the binding check's margin) first, then each objective's."""
    plan = result.plan
    specs: dict[str, HeatSpec] = {}
    if result.has_slo:
        specs = {"slo_pass": SLO_PASS, "slo_margin": SLO_MARGIN}
    for name in result.objectives:
        if name != "slo_margin":
            o = OBJECTIVES[name]
            specs[name] = metric_spec(name.replace("_", " "), o.direction, o.kind)
    pts = []
    for s in result.settings:
        if not s["runs"]:
            continue
        o = s["objectives"]
        metrics = {n: o.get(n) for n in specs if n in OBJECTIVES}
        for n in ("failover_time", "detection_time"):
            if n in metrics and o.get(f"{n}_never", 0) > 0:
                metrics[n] = math.inf  # any "never" run: shown as never
        notes = {}
        if s["slo"] is not None:
            v = s["slo"]
            metrics["slo_pass"] = v["runs_passed"] / v["runs"] if v["runs"] else None
            metrics["slo_margin"] = -math.inf if v["margin"] is None and v["binding"] else v["margin"]
            notes["slo_pass"] = f"{v['runs_passed']}/{v['runs']} runs pass"
            if v["binding"]:
                notes["slo_margin"] = v["binding"]["metric"]
        pts.append({"params": s["params"], "labels": s["labels"], "metrics": metrics, "notes": notes})
    highlight = result.recommended["params"] if result.recommended else None
    names = [a.name for a in plan.axes]
    title = f"{plan.policy} on {', '.join(n for n, _, _ in plan.scenarios)}"
    paths = sweep_heatmaps(pts, names, result.out / "charts", specs, highlight=highlight, title=title)
    return [p for ps in paths.values() for p in ps]


def _slo_specs(plan: SweepPlan) -> list[dict[str, Any]]:
    return [{"scenario": n, "spec": sc.slo or None} for n, sc, _ in plan.scenarios]


def _results_json(result: SweepResult) -> dict[str, Any]:
    plan = result.plan
    rec = result.recommendation
    recd = result.recommended
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
        "slo": _slo_specs(plan),
        "mode": plan.mode,
        "code_version": plan.code,
        "objectives": [{"name": n, "direction": OBJECTIVES[n].direction, "meaning": OBJECTIVES[n].meaning}
                       for n in result.objectives],
        "recommendation_rule": RULE,
        "inert_params": inert_axes(result.settings, [a.name for a in plan.axes]),
        "runs_planned": len(plan.runs),
        "runs_failed": result.stats.failed,
        "rows": result.rows,
        "settings": result.settings,
        "frontier": result.frontier,
        "recommendation": None if rec is None or recd is None else {
            "setting": rec.index,
            "params": dict(plan.settings[rec.index].params),
            "labels": dict(plan.settings[rec.index].labels),
            "full_params": plan.full_params[rec.index],
            "passed": rec.passed,
            "margin": None if recd["slo"] is None else recd["slo"]["margin"],
            "margin_text": None if recd["slo"] is None else recd["slo"]["margin_text"],
            "binding": None if recd["slo"] is None else recd["slo"]["binding"],
            "binding_text": _binding_text(recd),
            "reason": rec.reason,
            "rule": rec.rule,
        },
        "charts": sorted(p.relative_to(result.out).as_posix() for p in result.charts),
    }


def _binding_text(s: Mapping[str, Any]) -> str | None:
    """The setting's binding check in words (which run, value vs threshold, margin); None without an SLO."""
    v = s["slo"]
    if v is None or v["binding"] is None:
        return None
    b = v["binding"]
    return f"{check_text(b)} (margin {v['margin_text']}; {b['scenario']}, seed {b['seed']})"


def _slo_cells(s: Mapping[str, Any]) -> list[str]:
    v = s["slo"]
    if v is None:
        return ["n/a", "n/a", "n/a"]
    verdict_text = "PASS" if v["passed"] else f"FAIL in {v['runs'] - v['runs_passed']} of {v['runs']} runs"
    b = v["binding"]
    return [verdict_text, v["margin_text"], "\u2013" if b is None else check_text(b)]


def _objective_cells(result: SweepResult, s: Mapping[str, Any]) -> list[str]:
    return [objective_text(s["objectives"], n) for n in result.objectives if n != "slo_margin"]


def summary_markdown(result: SweepResult) -> str:
    """``summary.md``: what was swept and judged, the recommendation (and the check that binds),
    the frontier, all settings, heatmaps."""
    lines = [
        *_summary_head(result),
        *_recommendation_section(result),
        *_settings_sections(result),
        *_heatmaps_section(result),
        "Files: `results.json` (one row per run, one aggregate per setting), `runs/<key>.json` "
        "(each run's metrics and result, keyed by a hash of its config; rerun the same command to resume).",
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
        f"{'/'.join(map(str, n_seeds))} seed(s), {plan.mode} mode.",
        "",
    ]
    for n, sc, _ in plan.scenarios:
        if sc.slo:
            checks = "; ".join(f"{m} [{ph}] {th}" for m, ph, th in slo_items(sc.slo))
            lines.append(f"Judged by the SLO of {n}, every run (each seed) on its own: {checks}.")
        else:
            lines.append(f"{n} states no SLO: its runs are not judged.")
    lines.append("")
    if result.stats.failed:
        lines += [f"**{result.stats.failed} run(s) failed** and are missing from the numbers below.", ""]
    return lines


def _recommendation_section(result: SweepResult) -> list[str]:
    plan = result.plan
    rec = result.recommendation
    recd = result.recommended
    if rec is None or recd is None:
        return ["## Recommendation", "", "No run finished: nothing to recommend.", ""]
    objs = ", ".join(f"{n.replace('_', ' ')} {objective_text(recd['objectives'], n)}"
                     for n in result.objectives if n != "slo_margin")
    if rec.passed is None:
        head = f"**{plan.settings[rec.index].text()}** — {objs} (no SLO to judge by)."
    elif rec.passed:
        head = (f"**{plan.settings[rec.index].text()}** — meets the SLO in every run, margin "
                f"{recd['slo']['margin_text']}; {objs}.")
    else:
        head = (f"**No setting meets the SLO. Closest: {plan.settings[rec.index].text()}** — margin "
                f"{recd['slo']['margin_text']}; {objs}.")
    lines = ["## Recommendation", "", head, ""]
    bind = _binding_text(recd)
    if bind:
        lines += [f"**Binding check:** {bind}.", ""]
    lines += [rec.reason, "", f"Rule: {RULE}", ""]
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
    objs = [n.replace("_", " ") for n in result.objectives if n != "slo_margin"]
    header = ["#", *names, "SLO", "margin", "binding check (worst run)", *objs, ""]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for j in ids:
        s = result.settings[j]
        mark = ("✔ recommended" if s["recommended"] else "") or ("★ frontier" if s["pareto"] else "")
        labels = [s["labels"].get(n, "") for n in names]
        out.append("| " + " | ".join([str(j), *labels, *_slo_cells(s), *_objective_cells(result, s), mark]) + " |")
    return out


def _settings_sections(result: SweepResult) -> list[str]:
    """The frontier's table, then every finished setting's (the best 30 by SLO margin, then
    success rate, past 60)."""
    have = [s["id"] for s in result.settings if s["runs"]]
    objs = ", ".join(f"{n} ({OBJECTIVES[n].direction})" for n in result.objectives)
    lines = [f"## Pareto frontier ({len(result.frontier)} of {len(have)} settings)", "",
             f"Objectives (`--objective`): {objs}. Values are means over each setting's runs (all scenarios "
             "and seeds); the SLO margin is the worst run's.", ""]
    lines += [*_settings_table(result, result.frontier), ""]
    if len(have) > len(result.frontier):
        shown = have
        note = ""
        if len(have) > 60:
            shown = sorted(have, key=lambda j: (cost(result.settings[j]["objectives"], "slo_margin"),
                                                cost(result.settings[j]["objectives"], "success_rate")))[:30]
            shown.sort()
            note = f" (the 30 with the widest SLO margin, then best success rate, of {len(have)})"
        lines += [f"## All settings{note}", "", *_settings_table(result, shown), ""]
    return lines


def _heatmaps_section(result: SweepResult) -> list[str]:
    if not result.charts:
        return []
    lines = ["## Heatmaps", ""]
    for p in result.charts:
        if p.suffix == ".png":
            lines.append(f"![{p.stem}]({p.relative_to(result.out).as_posix()})")
    return [*lines, ""]
