"""The report: ``report.html``, ``summary.md``, ``results.json`` and the charts, from traces.

Output layout (``out_dir``)::

    out_dir/
      report.html          self-contained (charts embedded as PNG, no external assets)
      summary.md           a table for a PR comment
      results.json         numbers, schema reports/results.schema.json (see reports.schema)
      charts/<chart>.png   one PNG and one SVG per chart (see reports.charts)
      charts/<chart>.svg
      alerts/<policy>.csv  every OPENED/CLOSED alert of every seed (the page shows the first 20)
      traces/              the traces, one per policy and seed (see reports.trace_dir)

Re-render without re-running the simulation: ``report_from_dir(out_dir)`` (or
``python -m reports.render OUT_DIR [NEW_OUT_DIR]``) loads ``traces/`` and writes the same
``results.json`` byte for byte. ``report_from_dir`` also accepts the ``traces`` directory
itself, and a directory of ``<policy>/*.npz`` without a manifest (policies then sorted by name).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from multiorg.alerts import BreakerEvent, EventKind
from sim.trace import EVENT_KINDS

from .charts import CHARTS, FORMATS, all_charts
from .format import fmt_clock, fmt_count, fmt_duration, fmt_stat, format_metric
from .metrics import METRIC_DOCS, compute_results, headline_name, headline_time
from .overload_charts import OVERLOAD_CHARTS, overload_charts
from .ranking import judging_lines, ranking_context
from .schema import SCHEMA_VERSION, FaultInfo, PolicyResult, Results, Stat
from .trace_dir import TRACE_DIR, load_traces, manifest_slo, safe_name, save_traces, trace_root
from .why import WHY_CHARTS, attach_why, why_context, why_markdown
from .why_charts import why_charts

__all__ = [
    "WASTED_TOTAL",
    "ReportPaths",
    "alerts_csv",
    "render_html",
    "render_markdown",
    "report_from_dir",
    "results_json",
    "seeds_text",
    "verdict_text",
    "wasted_label",
    "write_alert_logs",
    "write_report",
]

CHART_DIR = "charts"


@dataclass(frozen=True)
class ReportPaths:
    out_dir: Path
    html: Path
    markdown: Path
    json: Path
    charts: dict[str, list[Path]] = field(default_factory=dict)
    traces: list[Path] = field(default_factory=list)
    alerts: list[Path] = field(default_factory=list)  # alerts/<policy>.csv
    passed: bool | None = None  # SLO verdict; None when no SLO was given


# --------------------------------------------------------------------------- results.json


def results_json(results: Results) -> str:
    return json.dumps(results.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- markdown


def _org_faults(res: Results) -> list[FaultInfo]:
    return [f for f in res.faults if f.org_fault]


#: what the run-total wasted attempts are called wherever they are shown
WASTED_TOTAL = "wasted attempts, all faults"


def wasted_label(fault: str) -> str:
    """The heading of one fault's wasted attempts (attempts sent to its target during it)."""
    return f"wasted attempts: {fault}"


def seeds_text(seeds: Sequence[int]) -> str:
    """The seeds as a count and their values: ``1 seed: 7``, ``5 seeds: 1\u20135``,
    ``4 seeds: 1\u20133, 9`` (consecutive runs of three or more folded into a range)."""
    vals = sorted(set(int(s) for s in seeds))
    parts: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{vals[i]}\u2013{vals[j]}")
        else:
            parts.extend(str(v) for v in vals[i:j + 1])
        i = j + 1
    return f"{len(vals)} seed{'s' if len(vals) != 1 else ''}: {', '.join(parts)}"


def verdict_text(passed: bool, detail: str = "") -> str:
    """PASS / FAIL as a word (an emoji-less font shows \u2705/\u274c as empty boxes)."""
    return ("PASS" if passed else "FAIL") + (f" ({detail})" if detail else "")


def _verdict_cell(text: str) -> Markup:
    """A verdict for an HTML table: the word, coloured by its class (green pass, red fail)."""
    cls = "pass" if text.startswith("PASS") else "fail" if text.startswith("FAIL") else "none"
    return Markup('<span class="verdict {}">{}</span>').format(cls, text)


def _policy_verdict(res: Results, policy: str) -> str:
    if res.slo is None:
        return ""
    checks = [c for c in res.slo.checks if c.policy == policy]
    if not checks:
        return "\u2013"
    failed = sum(not c.passed for c in checks)
    return verdict_text(not failed, f"{failed} failed" if failed else "")


def _md_verdict(text: str) -> str:
    """Markdown keeps the emoji beside the word."""
    return ("\u2705 " if text.startswith("PASS") else "\u274c " if text.startswith("FAIL") else "") + text


def _headline(res: Results) -> str:
    sc = res.scenario
    state = f" ({sc.state} state)" if sc.state else ""
    n = len(res.seeds)
    return (
        f"{n} seed{'s' if n != 1 else ''} · {fmt_duration(sc.duration)} simulated · "
        f"{sc.pods} pod{'s' if sc.pods != 1 else ''}{state} · {len(sc.orgs)} orgs"
    )


def _scale_line(res: Results) -> str:
    """"scaled xF" and what scaling cannot keep; empty at true scale."""
    sc = res.scenario
    if sc.scale == 1.0:
        return ""
    return f"scaled \u00d7{sc.scale:g} of the true volume (traffic and limits together); not kept: " + "; ".join(
        sc.scale_caveats)


def _fault_line(f: FaultInfo) -> str:
    return (
        f"{f.label} ({f.kind} → {f.target}, {fmt_clock(f.start)} \u2013 {fmt_clock(f.end)}, "
        f"{fmt_duration(f.end - f.start)})"
    )


def _md_title(res: Results) -> str:
    verdict = ""
    if res.slo is not None:
        verdict = " — SLO ✅ PASSED" if res.slo.passed else " — SLO ❌ FAILED"  # words beside the emoji
        if set(res.slo.judged) != set(res.policies):
            verdict += f" (judged: {', '.join(res.slo.judged)}; the others are compared only)"
    return f"### breakerlab · {res.scenario.name}{verdict}"


def _md_summary(res: Results) -> list[str]:
    """The PR-comment table: one row per policy, the first org fault's failover columns (and the
    run total of wasted attempts when there are several org faults)."""
    sc = res.scenario
    ofaults = _org_faults(res)
    first = ofaults[0] if ofaults else None
    head = ["policy", "success", "session success", "p99 latency", "attempts / request", "alerts / day"]
    if first is not None:
        head += [f"{headline_name(first.shape)}: {first.label}", "detection", "recovery", wasted_label(first.label)]
    if len(ofaults) > 1:
        head.append(WASTED_TOTAL)
    if res.slo is not None:
        head.append("SLO")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for name, pr in res.policies.items():
        o = pr.overall
        row = [
            f"`{name}`",
            fmt_stat(o.success_rate, "rate"),
            fmt_stat(o.session_success_rate, "rate"),
            fmt_stat(o.latency_p99, "duration"),
            fmt_stat(o.retry_amplification, "ratio"),
            _opt(pr.alerts_per_day, "count"),
        ]
        if first is not None:
            fr = pr.faults[first.index]
            row += [
                fmt_stat(headline_time(fr), "duration"),
                fmt_stat(fr.detection_time, "duration"),
                fmt_stat(fr.recovery_time, "duration") if first.end < sc.duration else "n/a",
                fmt_stat(fr.wasted_attempts, "count"),
            ]
        if len(ofaults) > 1:
            row.append(fmt_stat(pr.wasted_attempts, "count"))
        if res.slo is not None:
            row.append(_md_verdict(_policy_verdict(res, name)))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _md_fault_row(res: Results, f: FaultInfo, name: str, pr: PolicyResult) -> str:
    fr = pr.faults[f.index]
    ends = f.end < res.scenario.duration
    if f.org_fault:
        org = (
            f"{fmt_stat(fr.failover_time_max, 'duration')} / "
            f"{fmt_stat(fr.failover_time_median, 'duration')} | "
            f"{_opt(fr.shed_time, 'duration')} | "
            f"{fmt_stat(fr.detection_time, 'duration')} | "
            f"{fmt_stat(fr.recovery_time, 'duration') if ends else 'n/a'} | "
        )
    else:
        org = "n/a | n/a | n/a | n/a | "
    return (
        f"| {f.label} | `{name}` | "
        f"{fmt_stat(fr.phases['during'].success_rate, 'rate')} | "
        + org
        + f"{fmt_stat(fr.user_visible_failures, 'count')} | "
        + (f"{fmt_stat(fr.wasted_attempts, 'count')} |" if f.org_fault else "n/a |")
    )


def _md_per_fault(res: Results) -> list[str]:
    """Every fault and policy, folded: shown when the summary's one fault column is not enough."""
    if not (len(res.faults) > 1 or (res.faults and not _org_faults(res))):
        return []
    lines = [
        "",
        "<details><summary>Per fault</summary>",
        "",
        "| fault | policy | success during | failover worst / median pod | time to shed | detection | "
        "recovery | user-visible failures | wasted attempts in the fault |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in res.faults:
        lines += [_md_fault_row(res, f, name, pr) for name, pr in res.policies.items()]
    return [*lines, "", "</details>"]


def _md_slo(res: Results) -> list[str]:
    """The SLO verdict; each failed check with its value and threshold."""
    if res.slo is None:
        return []
    failed = [c for c in res.slo.checks if not c.passed]
    if not failed:
        return ["", f"**SLO: all {len(res.slo.checks)} checks passed**"]
    judged = set(res.slo.judged)
    n_judged = sum(c.policy in judged for c in failed)
    whose = "" if n_judged == len(failed) else (
        f" ({n_judged} in judged policies)" if n_judged else " (none in judged policies)"
    )
    lines = ["", f"**SLO: {len(failed)} of {len(res.slo.checks)} checks failed{whose}**", ""]
    for c in failed:
        where = c.phase + (f" {c.fault}" if c.fault else "")
        note = f" ({c.note})" if c.note else ""
        value = format_metric(c.metric, c.value, precise=True)
        lines.append(f"- {_md_verdict(verdict_text(False))} `{c.policy}` {c.metric} [{where}] = {value}, "
                     f"needs {c.threshold}{note}")
    return lines


#: a summary column's name → its METRIC_DOCS key
_COLUMN_DOCS = {"failover": "failover_time", "time to shed": "shed_time", "detection": "detection_time",
                "recovery": "recovery_time", "wasted attempts": "wasted_attempts",
                WASTED_TOTAL: "wasted_total", "alerts / day": "alerts_per_day"}


def _definitions(res: Results, more: Sequence[str] = ()) -> str:
    """The summary's footnote: the columns it shows for the first org fault, its wasted attempts
    and alerts (and ``more`` columns), defined (reports.metrics.METRIC_DOCS)."""
    ofaults = _org_faults(res)
    cols = [headline_name(ofaults[0].shape), "detection", "recovery", "wasted attempts"] if ofaults else []
    cols += [WASTED_TOTAL] if len(ofaults) > 1 else []
    cols = list(dict.fromkeys([*cols, *more, "alerts / day"]))
    return " ".join(f"{c[0].upper()}{c[1:]} = {METRIC_DOCS[_COLUMN_DOCS[c]]}." for c in cols)


def _opt(st: Stat | None, kind: str) -> str:
    """A field results.json 1.0 did not have: a dash where it is missing."""
    return "\u2013" if st is None else fmt_stat(st, kind)


def _md_footnote(res: Results) -> str:
    n = max(len(p.seeds) for p in res.policies.values())
    return (
        (f"<sub>± = half the 95 % t-interval over {n} seeds. " if n > 1 else "<sub>")
        + _definitions(res, ["time to shed"] if _md_per_fault(res) and _org_faults(res) else [])
        + f" results.json schema {SCHEMA_VERSION}.</sub>"
    )


def render_markdown(res: Results) -> str:
    """``summary.md``: title and verdict, the run, its faults, the summary table, the SLO."""
    lines = [_md_title(res), "", _headline(res)]
    if _scale_line(res):
        lines += ["", f"**{_scale_line(res)}**"]
    if res.faults:
        lines += ["", "Faults: " + "; ".join(_fault_line(f) for f in res.faults)]
    lines += ["", *_md_summary(res), *_md_per_fault(res), *_md_slo(res), *judging_lines(res), *why_markdown(res),
              "", _md_footnote(res)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- html

#: the page's templates (reports/templates/*.html.j2); every value a section passes is escaped
_TEMPLATES = Environment(
    loader=PackageLoader("reports", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

_CAPTIONS = {
    "success_rate": "Share of user requests that ended 2xx, per time bin. Fault windows: the coloured "
    "strips above the plot, dashed lines at onset and end; dotted: the SLO's threshold over its phase. "
    "A policy that fails over keeps its line at the top through the fault.",
    "traffic_share": "Where the attempts went. When a breaker trips, the faulted org's band "
    "shrinks to nothing and its peers take over; 'none' keeps feeding it.",
    "breaker_timeline": "Each breaker's state over time: green closed, red open (blocked), "
    "amber ticks half-open probes.",
    "latency": "User latency from arrival to answer (failed requests included): median line, "
    "p50\u2013p95 and p95\u2013p99 bands. Retries and failovers show up as widening bands. Dotted: "
    "the SLO's p99 threshold over the phase it covers (judged on the whole phase, not per bin).",
    "overload": "Dedicated capacity (docs/capacity.md): the load every pod offered it per minute, retries "
    "included, as a share of what it serves (dashed: 100 %), one line per policy; under it each policy's "
    "success rate per minute. A policy whose load stays over 100 % after the fault ended is in a retry "
    "storm (a metastable failure); one whose success comes back has recovered.",
    "comparison": "Headline numbers per policy with 95 % intervals over seeds. The middle panel is each "
    "fault's headline time: failover (onset → the last regular attempt on the target, worst pod) for a "
    "hard fault, time to shed for a partial one; hatched = never.",
}
ALERT_LIMIT = 20  # OPENED/CLOSED messages shown per policy; every one is in alerts/<policy>.csv
ALERT_DIR = "alerts"


def _header(res: Results) -> dict[str, Any]:
    """Title, SLO badge, the run in one line, the scenario's description and its facts."""
    sc = res.scenario
    if res.slo is None:
        badge_class, badge = "none", "no SLO"
    else:
        badge_class, badge = ("pass", "SLO PASSED") if res.slo.passed else ("fail", "SLO FAILED")
    judged = res.slo is not None and set(res.slo.judged) != set(res.policies)
    start = datetime.fromtimestamp(sc.start_epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    orgs = ", ".join(f"{o} ({v})" if v else o for o, v in zip(sc.orgs, sc.org_vendors, strict=False))
    return {
        "name": sc.name,
        "badge_class": badge_class,
        "badge": badge,
        "judged": ", ".join(res.slo.judged) if judged and res.slo is not None else "",
        "headline": _headline(res),
        "scale": _scale_line(res),
        "description": sc.description,
        "facts": [
            ("simulated", f"{fmt_duration(sc.duration)} from {start}"),
            ("pods", f"{sc.pods}" + (f", breaker state {sc.state}" if sc.state else "")),
            ("orgs", orgs),
            ("models", ", ".join(sc.models)),
            ("seeds", seeds_text(res.seeds)),
            ("mode", sc.mode or "\u2013"),
            ("policies", ", ".join(res.policies)),
        ],
    }


def _summary_row(res: Results, pr: PolicyResult, ofaults: Sequence[FaultInfo], *, total: bool) -> list[str]:
    o = pr.overall
    row = [
        fmt_stat(o.success_rate, "rate"),
        fmt_stat(o.session_success_rate, "rate"),
        f"{fmt_stat(o.latency_p50, 'duration')} / {fmt_stat(o.latency_p99, 'duration')}",
        fmt_stat(o.retry_amplification, "ratio"),
        _opt(pr.alerts_per_day, "count"),
    ]
    for f in ofaults:
        fr = pr.faults[f.index]
        row += [
            fmt_stat(headline_time(fr), "duration"),
            fmt_stat(fr.detection_time, "duration"),
            fmt_stat(fr.recovery_time, "duration") if f.end < res.scenario.duration else "n/a",
            fmt_stat(fr.wasted_attempts, "count"),
        ]
    if total:
        row.append(fmt_stat(pr.wasted_attempts, "count"))
    return [*row, fmt_stat(pr.alerts.opened, "count")]


def _summary(res: Results) -> dict[str, Any]:
    """One row per policy: the headline numbers, the first org fault's headline time (failover or
    time to shed) and columns (as in summary.md; every fault has its own table under Faults), the
    SLO verdict."""
    all_ofaults = _org_faults(res)
    ofaults = all_ofaults[:1]
    head = ["policy", "success rate", "session success", "p50 / p99 latency", "attempts / request", "alerts / day"]
    for f in ofaults:
        head += [f"{headline_name(f.shape)}: {f.label}", "detection", "recovery", wasted_label(f.label)]
    if len(all_ofaults) > 1:
        head.append(WASTED_TOTAL)
    head.append("breaker opens")
    if res.slo is not None:
        head.append("SLO")
    rows, classes = [], []
    for name, pr in res.policies.items():
        verdict = _policy_verdict(res, name)
        cells = [_verdict_cell(verdict)] if res.slo is not None else []
        rows.append([name, *_summary_row(res, pr, ofaults, total=len(all_ofaults) > 1), *cells])
        classes.append("bad" if verdict.startswith("FAIL") else "")
    n = max(len(p.seeds) for p in res.policies.values())
    note = (
        ("± = half the 95 % t-interval of the mean over " + f"{n} seeds. " if n > 1 else "One seed. ")
        + _definitions(res)
        + (" Every fault's own numbers: Faults, below." if len(all_ofaults) > 1 else "")
    )
    return {"head": head, "rows": rows, "classes": classes, "note": note}


def _slo_checks(res: Results) -> dict[str, Any] | None:
    """Every SLO check: policy, metric, phase, measured value, threshold, verdict."""
    if res.slo is None:
        return None
    rows = [
        [
            c.policy,
            c.metric,
            c.phase + (f": {c.fault}" if c.fault else ""),
            format_metric(c.metric, c.value, precise=True),
            c.threshold,
            _verdict_cell(verdict_text(c.passed)),
            c.note,
        ]
        for c in res.slo.checks
    ]
    return {
        "head": ["policy", "metric", "phase", "value", "threshold", "verdict", "note"],
        "rows": rows,
        "classes": ["" if c.passed else "bad" for c in res.slo.checks],
    }


def _charts(charts: Mapping[str, Sequence[Path]], names: Sequence[str] = CHARTS) -> list[dict[str, str]]:
    """Each chart of ``names`` as an embedded PNG with its caption and a link to its SVG."""
    out = []
    for name in names:
        paths = charts.get(name) or []
        png = next((p for p in paths if p.suffix == ".png"), None)
        if png is None or not png.exists():
            continue
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        out.append({
            "name": png.stem,
            "png_base64": base64.b64encode(png.read_bytes()).decode("ascii"),
            "caption": _CAPTIONS.get(name, ""),
            "svg": f"{CHART_DIR}/{svg.name}" if svg else "",
        })
    return out


def _fault_rows(res: Results, f: FaultInfo) -> list[list[str]]:
    rows = []
    ends = f.end < res.scenario.duration
    for name, pr in res.policies.items():
        fr = pr.faults[f.index]
        ph = fr.phases
        row = [
            name,
            fmt_stat(ph["before"].success_rate, "rate"),
            fmt_stat(ph["during"].success_rate, "rate"),
            fmt_stat(ph["after"].success_rate, "rate"),
            fmt_stat(ph["during"].session_success_rate, "rate"),
            fmt_stat(fr.user_visible_failures, "count"),
        ]
        if f.org_fault:
            row += [
                fmt_stat(fr.failover_time_max, "duration"),
                fmt_stat(fr.failover_time_median, "duration"),
                _opt(fr.shed_time, "duration"),
                _opt(fr.share_kept, "rate"),
                fmt_stat(fr.detection_time, "duration"),
                fmt_stat(fr.recovery_time, "duration") if ends else "n/a",
                fmt_stat(fr.close_time, "duration") if ends else "n/a",
                f"{fmt_stat(fr.wasted_attempts, 'count')} ({fmt_stat(fr.wasted_probes, 'count')})",
                fmt_stat(fr.opens, "count"),
            ]
        rows.append(row)
    return rows


#: the per-fault tables' footnote: column → its METRIC_DOCS key
_FAULT_DOCS = (("Shape", "shape"), ("Time to shed", "shed_time"), ("Share kept", "share_kept"),
               ("User-visible failures", "user_visible_failures"), ("Wasted attempts", "wasted_attempts"))
_FAULT_HEAD = ["policy", "success before", "during", "after", "session success during", "user-visible failures"]
_ORG_FAULT_HEAD = [
    "failover worst pod",
    "median pod",
    "time to shed",
    "share kept",
    "detection",
    "recovery",
    "all breakers closed",
    "wasted attempts in the fault (probes)",
    "opens",
]


def _faults(res: Results) -> dict[str, Any]:
    """The fault list, then one table per fault: each policy before, during and after it."""
    if not res.faults:
        return {"table": None, "each": [], "note": ""}
    table = {
        "head": ["fault", "kind", "target", "orgs", "start", "end", "length", "shape"],
        "rows": [
            [
                f.label,
                f.kind,
                f.target,
                ", ".join(f.orgs) or "\u2013",
                fmt_clock(f.start),
                fmt_clock(f.end),
                fmt_duration(f.end - f.start),
                f.shape or ("org fault" if f.org_fault else "not an org fault"),
            ]
            for f in res.faults
        ],
    }
    each = [
        {
            "label": f.label,
            "head": _FAULT_HEAD + (_ORG_FAULT_HEAD if f.org_fault else []),
            "rows": _fault_rows(res, f),
        }
        for f in res.faults
    ]
    note = " ".join(f"{label} = {METRIC_DOCS[key]}." for label, key in _FAULT_DOCS)
    return {"table": table, "each": each, "note": note}


def _policies(res: Results) -> dict[str, Any]:
    """Each policy's parameters, seeds and alert counts; then every breaker that left closed."""
    rows = [
        {
            "name": name,
            "params": [(k, json.dumps(v)) for k, v in pr.params.items()],
            "cells": [
                seeds_text(pr.seeds),
                fmt_stat(pr.overall.requests, "count"),
                f"{fmt_stat(pr.alerts.opened, 'count')} / {fmt_stat(pr.alerts.closed, 'count')}",
                fmt_stat(pr.alerts.cycles, "count"),
            ],
        }
        for name, pr in res.policies.items()
    ]
    breakers = [
        [
            name,
            b.org,
            b.model,
            "shared" if b.pod is None else f"pod-{b.pod}",
            fmt_stat(b.time_open, "duration"),
            fmt_stat(b.time_half_open, "duration"),
            fmt_stat(b.opened, "count"),
            fmt_stat(b.cycles, "count"),
        ]
        for name, pr in res.policies.items()
        for b in pr.breakers
    ]
    return {
        "head": ["policy", "parameters", "seeds", "requests / run", "alerts opened / closed", "open→closed cycles"],
        "rows": rows,
        "breakers": {
            "head": ["policy", "org", "model", "state", "time open", "time half-open", "opened", "cycles"],
            "rows": breakers,
        },
    }


def _alert_event(trace: Any, i: int) -> BreakerEvent:
    """Breaker event ``i`` of ``trace`` as the production notifier sees it."""
    ev, meta = trace.events, trace.meta
    orgs = [str(o) for o in meta.get("orgs", [])]
    vendors = [str(v) for v in meta.get("org_vendors") or [""] * len(orgs)]
    models = [str(m) for m in meta.get("models") or ["model"]]
    o, m, k = int(ev["org"][i]), int(ev["model"][i]), int(ev["kind"][i])
    return BreakerEvent(
        kind=EventKind(EVENT_KINDS[k]),
        org=orgs[o] if o < len(orgs) else str(o),
        model=models[m] if m < len(models) else str(m),
        vendor=vendors[o] if o < len(vendors) else "",
        time=float(meta.get("start_epoch", 0.0) or 0.0) + float(ev["time"][i]),
        failure_count=int(ev["failure_count"][i]),
        block_duration=float(ev["block_duration"][i]),
        retry_cycles=int(ev["retry_cycles"][i]),
        pod=f"pod-{int(ev['pod'][i])}",
    )


def _posted(trace: Any) -> list[int]:
    """The events posted as alerts (OPENED, CLOSED), in time order; HALF_OPEN transitions are
    not posted, as in production."""
    ev = trace.events
    n = len(ev["time"])
    order = np.lexsort((np.arange(n), ev["time"]))
    return [int(i) for i in order if EVENT_KINDS[int(ev["kind"][i])] != "HALF_OPEN"]


def _alert_message(trace: Any, i: int) -> dict[str, str]:
    """Breaker event ``i`` of ``trace`` as the Slack message the production notifier posts."""
    event = _alert_event(trace, i)
    title, _, rest = event.text().partition("\n")
    return {
        "when": datetime.fromtimestamp(event.time, tz=UTC).strftime("%-I:%M %p"),
        "pod": event.pod,
        "sim_time": fmt_clock(float(trace.events["time"][i])),
        "kind": event.kind.value,
        "title": title,
        "rest": rest,
    }


ALERT_CSV_COLUMNS = (
    "seed", "sim_time_s", "sim_clock", "time_utc", "pod", "kind", "org", "vendor", "model",
    "failure_count", "block_duration_s", "retry_cycles", "message",
)


def alert_csv_path(policy: str) -> str:
    """Where a policy's full alert log lies, relative to the report directory."""
    return f"{ALERT_DIR}/{safe_name(policy)}.csv"


def alerts_csv(runs: Sequence[Any]) -> str:
    """Every alert (OPENED, CLOSED) of every seed's run, one row each, seed by seed in time order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ALERT_CSV_COLUMNS)
    for i, t in enumerate(runs):
        seed = t.meta.get("seed", i)
        for k in _posted(t):
            e = _alert_event(t, k)
            sim = float(t.events["time"][k])
            w.writerow([
                seed, repr(sim), fmt_clock(sim),
                datetime.fromtimestamp(round(e.time), tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e.pod, e.kind.value, e.org, e.vendor, e.model, e.failure_count,
                repr(e.block_duration), e.retry_cycles, e.text().partition("\n")[0],
            ])
    return buf.getvalue()


def write_alert_logs(runs: Mapping[str, Sequence[Any]], out_dir: str | Path) -> list[Path]:
    """``out_dir/alerts/<policy>.csv``: each policy's full alert log (:func:`alerts_csv`)."""
    paths = []
    for name, rs in runs.items():
        path = Path(out_dir) / alert_csv_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(alerts_csv(rs), encoding="utf-8")
        paths.append(path)
    return paths


def _alert_pair(breakers: Sequence[Any]) -> str:
    """``OPENED / CLOSED`` over some breakers (means over seeds add up)."""
    opened = sum(b.opened.mean or 0.0 for b in breakers)
    closed = sum(b.closed.mean or 0.0 for b in breakers)
    return f"{fmt_count(opened)} / {fmt_count(closed)}"


def _alert_counts(res: Results) -> dict[str, Any]:
    """OPENED / CLOSED alerts per org and policy (per run; the mean when there are several seeds)."""
    orgs = [o for o in res.scenario.orgs if any(b.org == o for pr in res.policies.values() for b in pr.breakers)]
    rows = []
    for name, pr in res.policies.items():
        link = Markup('<a href="{0}">{0}</a>').format(alert_csv_path(name))
        per_org = [_alert_pair([b for b in pr.breakers if b.org == o]) for o in orgs]
        rows.append([name, *per_org, _alert_pair(pr.breakers), link])
    n = max(len(p.seeds) for p in res.policies.values())
    return {
        "head": ["policy", *orgs, "all orgs", "full log (every seed)"],
        "rows": rows,
        "basis": f"mean per run over {n} seeds" if n > 1 else "one run",
    }


def _alert_log(policy: str, trace: Any) -> dict[str, Any]:
    """One policy's first alerts (of its first seed), in time order."""
    shown = _posted(trace)
    n_half = len(trace.events["time"]) - len(shown)
    return {
        "policy": policy,
        "n_posted": len(shown),
        "summary": (f"first {min(len(shown), ALERT_LIMIT)} of {fmt_count(len(shown))} alert"
                    f"{'s' if len(shown) != 1 else ''}" if shown else "no alerts"),
        "seed": trace.meta.get("seed", 0),
        "messages": [_alert_message(trace, i) for i in shown[:ALERT_LIMIT]],
        "half_open": f"{fmt_count(n_half)} HALF_OPEN transitions (probes) not posted, as in production. "
        if n_half else "",
        "csv": alert_csv_path(policy),
    }


def _alerts(res: Results, traces: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Alert counts per org, then each policy's first alerts folded; None without traces."""
    if not traces:
        return None
    logs = [
        _alert_log(name, (list(runs) if isinstance(runs, (list, tuple)) else [runs])[0])
        for name, runs in traces.items()
    ]
    return {"counts": _alert_counts(res), "logs": logs, "limit": ALERT_LIMIT}


def render_html(
    res: Results,
    charts: Mapping[str, Sequence[Path]],
    traces: Mapping[str, Any] | None = None,
    traces_at: str = TRACE_DIR + "/",
) -> str:
    """``report.html``: one section per template in reports/templates, charts embedded."""
    return _TEMPLATES.get_template("report.html.j2").render(
        header=_header(res),
        summary=_summary(res),
        slo=_slo_checks(res),
        ranking=ranking_context(res),
        charts=_charts(charts, (*CHARTS, *OVERLOAD_CHARTS)),
        why=why_context(res, _charts(charts, tuple(WHY_CHARTS))),
        faults=_faults(res),
        policies=_policies(res),
        alerts=_alerts(res, traces),
        footer={"schema": SCHEMA_VERSION, "traces_at": traces_at},
    )


# --------------------------------------------------------------------------- entry points


def write_report(
    traces: Mapping[str, Any],
    out_dir: str | Path,
    slo: Any = None,
    *,
    save: bool = True,
    formats: Sequence[str] = FORMATS,
    traces_at: str | None = None,
) -> ReportPaths:
    """Compute, chart and render a comparison. ``traces``: ``{policy: [Trace per seed]}``.

    ``slo`` defaults to the first trace's ``meta["slo"]`` (pass ``{}`` for none). With ``save``
    the traces are written to ``out_dir/traces/`` so :func:`report_from_dir` can re-render;
    ``traces_at``: where the report says they are, when not there.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in traces.items()}
    res = compute_results(runs, slo=slo)
    trace_paths = save_traces(runs, out, slo=slo) if save else []
    charts = all_charts(runs, out / CHART_DIR, formats=formats, results=res)
    charts.update(overload_charts(runs, out / CHART_DIR, formats=formats))  # (only with dedicated capacity)
    charts.update(why_charts(attach_why(res, runs), out / CHART_DIR, formats=formats))
    alert_paths = write_alert_logs(runs, out)
    json_path = out / "results.json"
    json_path.write_text(results_json(res), encoding="utf-8")
    md_path = out / "summary.md"
    md_path.write_text(render_markdown(res), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(render_html(res, charts, runs, traces_at or TRACE_DIR + "/"), encoding="utf-8")
    return ReportPaths(
        out_dir=out,
        html=html_path,
        markdown=md_path,
        json=json_path,
        charts=charts,
        traces=trace_paths,
        alerts=alert_paths,
        passed=None if res.slo is None else res.slo.passed,
    )


def report_from_dir(
    trace_dir: str | Path,
    out_dir: str | Path | None = None,
    slo: Any = None,
    *,
    formats: Sequence[str] = FORMATS,
) -> ReportPaths:
    """Re-render a report from saved traces (see the module docstring for the layout).

    ``out_dir`` defaults to the report directory the traces live in.
    """
    root = trace_root(trace_dir)
    traces = load_traces(root)
    if slo is None:
        slo = manifest_slo(root)
    if out_dir is None:
        out_dir = root.parent if root.name == TRACE_DIR else root
    traces_at = os.path.relpath(root, out_dir) + "/"
    return write_report(traces, out_dir, slo=slo, save=False, formats=formats, traces_at=traces_at)


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) not in (2, 3):
        print("usage: python -m reports.render TRACE_DIR [OUT_DIR]", file=sys.stderr)
        raise SystemExit(2)
    paths = report_from_dir(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    print(paths.html)
    raise SystemExit(0 if paths.passed is not False else 1)
