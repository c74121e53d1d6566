"""The report: ``report.html``, ``summary.md``, ``results.json`` and the charts, from traces.

Output layout (``out_dir``)::

    out_dir/
      report.html          self-contained (charts embedded as PNG, no external assets)
      summary.md           a table for a PR comment
      results.json         numbers, schema reports/results.schema.json (see reports.schema)
      charts/<chart>.png   one PNG and one SVG per chart (see reports.charts)
      charts/<chart>.svg
      traces/              the traces, one per policy and seed (see reports.trace_dir)

Re-render without re-running the simulation: ``report_from_dir(out_dir)`` (or
``python -m reports.render OUT_DIR [NEW_OUT_DIR]``) loads ``traces/`` and writes the same
``results.json`` byte for byte. ``report_from_dir`` also accepts the ``traces`` directory
itself, and a directory of ``<policy>/*.npz`` without a manifest (policies then sorted by name).
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .charts import CHARTS, FORMATS, all_charts
from .format import fmt_clock, fmt_duration, fmt_stat, format_metric
from .metrics import compute_results
from .schema import SCHEMA_VERSION, FaultInfo, PolicyResult, Results
from .trace_dir import TRACE_DIR, load_traces, manifest_slo, save_traces, trace_root

__all__ = [
    "ReportPaths",
    "render_html",
    "render_markdown",
    "report_from_dir",
    "results_json",
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
    passed: bool | None = None  # SLO verdict; None when no SLO was given


# --------------------------------------------------------------------------- results.json


def results_json(results: Results) -> str:
    return json.dumps(results.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- markdown


def _org_faults(res: Results) -> list[FaultInfo]:
    return [f for f in res.faults if f.org_fault]


def _policy_verdict(res: Results, policy: str) -> str:
    if res.slo is None:
        return ""
    checks = [c for c in res.slo.checks if c.policy == policy]
    if not checks:
        return "\u2013"
    failed = sum(not c.passed for c in checks)
    return "✅ pass" if not failed else f"❌ {failed} failed"


def _headline(res: Results) -> str:
    sc = res.scenario
    state = f" ({sc.state} state)" if sc.state else ""
    n = len(res.seeds)
    return (
        f"{n} seed{'s' if n != 1 else ''} · {fmt_duration(sc.duration)} simulated · "
        f"{sc.pods} pod{'s' if sc.pods != 1 else ''}{state} · {len(sc.orgs)} orgs"
    )


def _fault_line(f: FaultInfo) -> str:
    return (
        f"{f.label} ({f.kind} → {f.target}, {fmt_clock(f.start)} \u2013 {fmt_clock(f.end)}, "
        f"{fmt_duration(f.end - f.start)})"
    )


def render_markdown(res: Results) -> str:
    sc = res.scenario
    verdict = ""
    if res.slo is not None:
        verdict = " — SLO ✅ passed" if res.slo.passed else " — SLO ❌ failed"
        if set(res.slo.judged) != set(res.policies):
            verdict += f" (judged: {', '.join(res.slo.judged)}; the others are compared only)"
    lines = [f"### breakerlab · {sc.name}{verdict}", "", _headline(res)]
    if res.faults:
        lines.append("")
        lines.append("Faults: " + "; ".join(_fault_line(f) for f in res.faults))
    first = _org_faults(res)[0] if _org_faults(res) else None
    lines.append("")
    head = ["policy", "success", "session success", "p99 latency", "attempts / request"]
    if first is not None:
        head += [f"failover ({first.label})", "detection", "recovery", "wasted attempts"]
    if res.slo is not None:
        head.append("SLO")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for name, pr in res.policies.items():
        o = pr.overall
        row = [
            f"`{name}`",
            fmt_stat(o.success_rate, "rate"),
            fmt_stat(o.session_success_rate, "rate"),
            fmt_stat(o.latency_p99, "duration"),
            fmt_stat(o.retry_amplification, "ratio"),
        ]
        if first is not None:
            fr = pr.faults[first.index]
            row += [
                fmt_stat(fr.failover_time_max, "duration"),
                fmt_stat(fr.detection_time, "duration"),
                fmt_stat(fr.recovery_time, "duration") if first.end < sc.duration else "n/a",
                fmt_stat(fr.wasted_attempts, "count"),
            ]
        if res.slo is not None:
            row.append(_policy_verdict(res, name))
        lines.append("| " + " | ".join(row) + " |")
    if len(res.faults) > 1 or (res.faults and first is None):
        lines += ["", "<details><summary>Per fault</summary>", ""]
        lines.append(
            "| fault | policy | success during | failover worst / median pod | detection | "
            "recovery | user-visible failures | wasted attempts |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for f in res.faults:
            for name, pr in res.policies.items():
                fr = pr.faults[f.index]
                org = f.org_fault
                ends = f.end < sc.duration
                lines.append(
                    f"| {f.label} | `{name}` | "
                    f"{fmt_stat(fr.phases['during'].success_rate, 'rate')} | "
                    + (
                        f"{fmt_stat(fr.failover_time_max, 'duration')} / "
                        f"{fmt_stat(fr.failover_time_median, 'duration')} | "
                        f"{fmt_stat(fr.detection_time, 'duration')} | "
                        f"{fmt_stat(fr.recovery_time, 'duration') if ends else 'n/a'} | "
                        if org
                        else "n/a | n/a | n/a | "
                    )
                    + f"{fmt_stat(fr.user_visible_failures, 'count')} | "
                    + (f"{fmt_stat(fr.wasted_attempts, 'count')} |" if org else "n/a |")
                )
        lines += ["", "</details>"]
    if res.slo is not None:
        failed = [c for c in res.slo.checks if not c.passed]
        lines.append("")
        if failed:
            judged = set(res.slo.judged)
            n_judged = sum(c.policy in judged for c in failed)
            whose = "" if n_judged == len(failed) else (
                f" ({n_judged} in judged policies)" if n_judged else " (none in judged policies)"
            )
            lines.append(f"**SLO: {len(failed)} of {len(res.slo.checks)} checks failed{whose}**")
            lines.append("")
            for c in failed:
                where = c.phase + (f" {c.fault}" if c.fault else "")
                note = f" ({c.note})" if c.note else ""
                lines.append(
                    f"- ❌ `{c.policy}` {c.metric} [{where}] = {format_metric(c.metric, c.value, precise=True)}, "
                    f"needs {c.threshold}{note}"
                )
        else:
            lines.append(f"**SLO: all {len(res.slo.checks)} checks passed**")
    n = max(len(p.seeds) for p in res.policies.values())
    lines += [
        "",
        f"<sub>± = half the 95 % t-interval over {n} seeds. " if n > 1 else "<sub>",
    ]
    lines[-1] += (
        f"Failover = onset → last regular attempt on the faulted target (worst pod). "
        f"results.json schema {SCHEMA_VERSION}.</sub>"
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- html

_CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
 color:#1d1d1f;max-width:1180px;margin:24px auto;padding:0 20px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #ddd;
 padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
.muted{color:#666}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;
 font-size:13px;margin-left:8px;vertical-align:middle}.pass{background:#e3f5e1;color:#1a7f37}
.fail{background:#fde7e9;color:#c21d2f}.none{background:#eee;color:#555}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}th,td{padding:5px 9px;
 border-bottom:1px solid #e5e5e5;text-align:right;vertical-align:top}th{background:#f6f8fa;
 text-align:right;font-weight:600}td:first-child,th:first-child{text-align:left}
td.l,th.l{text-align:left}tr.bad td{background:#fff5f5}code{background:#f3f3f3;padding:1px 4px;
 border-radius:3px;font-size:12px}figure{margin:16px 0 26px}figure img{max-width:100%;
 border:1px solid #eee}figcaption{color:#555;font-size:13px;margin-top:4px}
.facts td{text-align:left}.facts td:first-child{color:#666;padding-right:18px}
.slack{border:1px solid #e1e1e1;border-radius:8px;padding:4px 0;max-width:640px;background:#fff}
.msg{display:flex;gap:10px;padding:8px 14px}.msg:hover{background:#f8f8f8}
.avatar{width:36px;height:36px;border-radius:6px;background:#4a154b;color:#fff;font-weight:700;
 display:flex;align-items:center;justify-content:center;flex:none;font-size:13px}
.who{font-weight:700}.app{font-size:10px;background:#e8e8e8;color:#555;border-radius:3px;
 padding:1px 4px;margin:0 6px;font-weight:600}.when{color:#616061;font-size:12px}
.body{white-space:pre-wrap;font-size:14px;margin-top:2px;border-left:4px solid #ccc;
 padding-left:10px}.body.OPENED{border-color:#e01e5a}.body.CLOSED{border-color:#2eb67d}
.body.HALF_OPEN{border-color:#ecb22e}.body b{font-weight:700}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""

_CAPTIONS = {
    "success_rate": "Share of user requests that ended 2xx, per time bin. Shaded: fault windows. "
    "A policy that fails over keeps its line at the top through the fault.",
    "traffic_share": "Where the attempts went. When a breaker trips, the faulted org's band "
    "shrinks to nothing and its peers take over; 'none' keeps feeding it.",
    "breaker_timeline": "Each breaker's state over time: green closed, red open (blocked), "
    "amber ticks half-open probes.",
    "latency": "User latency from arrival to answer (failed requests included): median line, "
    "p50\u2013p95 and p95\u2013p99 bands. Retries and failovers show up as widening bands.",
    "comparison": "Headline numbers per policy with 95 % intervals over seeds. Failover time is "
    "onset → the last regular attempt on the faulted target (worst pod); hatched = never.",
}


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    classes: Sequence[str] = (),
    left: int = 1,
) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{classes[k]}"' if k < len(classes) and classes[k] else ""
        tds = "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _alerts_html(trace: Any, limit: int = 120) -> str:
    from multiorg.alerts import BreakerEvent, EventKind

    ev = trace.events
    n = len(ev["time"])
    if not n:
        return '<p class="muted">No breaker events.</p>'
    meta = trace.meta
    orgs = [str(o) for o in meta.get("orgs", [])]
    vendors = [str(v) for v in meta.get("org_vendors") or [""] * len(orgs)]
    models = [str(m) for m in meta.get("models") or ["model"]]
    epoch = float(meta.get("start_epoch", 0.0) or 0.0)
    kinds = ("OPENED", "HALF_OPEN", "CLOSED")
    order = np.lexsort((np.arange(n), ev["time"]))
    shown = [int(i) for i in order if int(ev["kind"][i]) != 1]
    half = n - len(shown)
    msgs = []
    for i in shown[:limit]:
        o, m, k = int(ev["org"][i]), int(ev["model"][i]), int(ev["kind"][i])
        event = BreakerEvent(
            kind=EventKind(kinds[k]),
            org=orgs[o] if o < len(orgs) else str(o),
            model=models[m] if m < len(models) else str(m),
            vendor=vendors[o] if o < len(vendors) else "",
            time=epoch + float(ev["time"][i]),
            failure_count=int(ev["failure_count"][i]),
            block_duration=float(ev["block_duration"][i]),
            retry_cycles=int(ev["retry_cycles"][i]),
            pod=f"pod-{int(ev['pod'][i])}",
        )
        first, _, rest = event.text().partition("\n")
        when = datetime.fromtimestamp(event.time, tz=UTC).strftime("%-I:%M %p")
        msgs.append(
            f'<div class="msg"><div class="avatar">AI</div><div><span class="who">AI Notifications'
            f'</span><span class="app">APP</span><span class="when">{_e(when)} · '
            f"{_e(event.pod)} · sim {_e(fmt_clock(float(ev['time'][i])))}</span>"
            f'<div class="body {kinds[k]}"><b>{_e(first)}</b>\n{_e(rest)}</div></div></div>'
        )
    more = []
    if len(shown) > limit:
        more.append(f"{len(shown) - limit} more OPENED/CLOSED alerts not shown")
    if half:
        more.append(f"{half} HALF_OPEN transitions (probes) not posted, as in production")
    tail = f'<p class="muted">{_e("; ".join(more))}.</p>' if more else ""
    return f'<div class="slack">{"".join(msgs)}</div>{tail}'


def _params_html(pr: PolicyResult) -> str:
    if not pr.params:
        return '<span class="muted">no parameters</span>'
    return "<br>".join(f"<code>{_e(k)}</code> = {_e(json.dumps(v))}" for k, v in pr.params.items())


def render_html(res: Results, charts: Mapping[str, Sequence[Path]], traces: Mapping[str, Any] | None = None,
                traces_at: str = TRACE_DIR + "/") -> str:
    sc = res.scenario
    if res.slo is None:
        badge = '<span class="badge none">no SLO</span>'
    elif res.slo.passed:
        badge = '<span class="badge pass">SLO passed</span>'
    else:
        badge = '<span class="badge fail">SLO failed</span>'
    if res.slo is not None and set(res.slo.judged) != set(res.policies):
        badge += f' <span class="muted">judged: {_e(", ".join(res.slo.judged))} (the others are compared only)</span>'
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>breakerlab · {_e(sc.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(sc.name)} {badge}</h1>",
        f'<p class="muted">breakerlab report · {_e(_headline(res))}</p>',
    ]
    if sc.description:
        parts.append(f"<p>{_e(sc.description)}</p>")
    start = datetime.fromtimestamp(sc.start_epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    orgs = ", ".join(f"{o} ({v})" if v else o for o, v in zip(sc.orgs, sc.org_vendors, strict=False))
    facts = [
        ("simulated", f"{fmt_duration(sc.duration)} from {start}"),
        ("pods", f"{sc.pods}" + (f", breaker state {sc.state}" if sc.state else "")),
        ("orgs", orgs),
        ("models", ", ".join(sc.models)),
        ("seeds", ", ".join(map(str, res.seeds))),
        ("mode", sc.mode or "\u2013"),
        ("policies", ", ".join(res.policies)),
    ]
    parts.append(
        '<table class="facts">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in facts) + "</table>"
    )

    # summary table
    parts.append("<h2>Summary</h2>")
    ofaults = _org_faults(res)
    head = ["policy", "success rate", "session success", "p50 / p99 latency", "attempts / request"]
    for f in ofaults:
        head += [f"failover: {f.label}", "detection", "recovery"]
    head += ["wasted attempts", "breaker opens"]
    if res.slo is not None:
        head.append("SLO")
    rows, classes = [], []
    for name, pr in res.policies.items():
        o = pr.overall
        row = [
            f"<b>{_e(name)}</b>",
            _e(fmt_stat(o.success_rate, "rate")),
            _e(fmt_stat(o.session_success_rate, "rate")),
            _e(f"{fmt_stat(o.latency_p50, 'duration')} / {fmt_stat(o.latency_p99, 'duration')}"),
            _e(fmt_stat(o.retry_amplification, "ratio")),
        ]
        for f in ofaults:
            fr = pr.faults[f.index]
            row += [
                _e(fmt_stat(fr.failover_time_max, "duration")),
                _e(fmt_stat(fr.detection_time, "duration")),
                _e(fmt_stat(fr.recovery_time, "duration") if f.end < sc.duration else "n/a"),
            ]
        row += [
            _e(fmt_stat(pr.wasted_attempts, "count")),
            _e(fmt_stat(pr.alerts.opened, "count")),
        ]
        verdict = _policy_verdict(res, name)
        if res.slo is not None:
            row.append(_e(verdict))
        rows.append(row)
        classes.append("bad" if verdict.startswith("❌") else "")
    parts.append(_table(head, rows, classes=classes))
    n = max(len(p.seeds) for p in res.policies.values())
    parts.append(
        '<p class="muted">'
        + ("± = half the 95 % t-interval of the mean over " + f"{n} seeds. " if n > 1 else "One seed. ")
        + "Failover = fault onset → the last regular (non-probe) attempt sent to the faulted "
        "target, worst pod; detection = onset → first breaker OPEN; recovery = fault end → first "
        "successful "
        "regular attempt on the target.</p>"
    )

    # SLO checks
    if res.slo is not None:
        parts.append("<h2>SLO checks</h2>")
        rows, classes = [], []
        for c in res.slo.checks:
            rows.append(
                [
                    _e(c.policy),
                    _e(c.metric),
                    _e(c.phase + (f": {c.fault}" if c.fault else "")),
                    _e(format_metric(c.metric, c.value, precise=True)),
                    _e(c.threshold),
                    "✅" if c.passed else "❌",
                    _e(c.note),
                ]
            )
            classes.append("" if c.passed else "bad")
        parts.append(
            _table(
                ["policy", "metric", "phase", "value", "threshold", "ok", "note"],
                rows,
                classes=classes,
                left=3,
            )
        )

    # charts
    parts.append("<h2>Charts</h2>")
    for name in CHARTS:
        paths = charts.get(name) or []
        png = next((p for p in paths if p.suffix == ".png"), None)
        if png is None or not png.exists():
            continue
        svg = next((p for p in paths if p.suffix == ".svg"), None)
        link = f' <a href="{CHART_DIR}/{_e(svg.name)}">SVG</a>' if svg else ""
        parts.append(f"<figure>{_img(png)}<figcaption>{_e(_CAPTIONS.get(name, ''))}{link}</figcaption></figure>")

    # faults
    parts.append("<h2>Faults</h2>")
    if res.faults:
        parts.append(
            _table(
                ["fault", "kind", "target", "orgs", "start", "end", "length", "org metrics"],
                [
                    [
                        _e(f.label),
                        _e(f.kind),
                        _e(f.target),
                        _e(", ".join(f.orgs) or "\u2013"),
                        _e(fmt_clock(f.start)),
                        _e(fmt_clock(f.end)),
                        _e(fmt_duration(f.end - f.start)),
                        "yes" if f.org_fault else "no",
                    ]
                    for f in res.faults
                ],
                left=4,
            )
        )
        for f in res.faults:
            parts.append(f"<h3>{_e(f.label)}</h3>")
            head = [
                "policy",
                "success before",
                "during",
                "after",
                "session success during",
                "user-visible failures",
            ]
            if f.org_fault:
                head += [
                    "failover worst pod",
                    "median pod",
                    "detection",
                    "recovery",
                    "all breakers closed",
                    "wasted attempts (probes)",
                    "opens",
                ]
            rows = []
            for name, pr in res.policies.items():
                fr = pr.faults[f.index]
                ph = fr.phases
                row = [
                    f"<b>{_e(name)}</b>",
                    _e(fmt_stat(ph["before"].success_rate, "rate")),
                    _e(fmt_stat(ph["during"].success_rate, "rate")),
                    _e(fmt_stat(ph["after"].success_rate, "rate")),
                    _e(fmt_stat(ph["during"].session_success_rate, "rate")),
                    _e(fmt_stat(fr.user_visible_failures, "count")),
                ]
                if f.org_fault:
                    ends = f.end < sc.duration
                    row += [
                        _e(fmt_stat(fr.failover_time_max, "duration")),
                        _e(fmt_stat(fr.failover_time_median, "duration")),
                        _e(fmt_stat(fr.detection_time, "duration")),
                        _e(fmt_stat(fr.recovery_time, "duration") if ends else "n/a"),
                        _e(fmt_stat(fr.close_time, "duration") if ends else "n/a"),
                        _e(f"{fmt_stat(fr.wasted_attempts, 'count')} ({fmt_stat(fr.wasted_probes, 'count')})"),
                        _e(fmt_stat(fr.opens, "count")),
                    ]
                rows.append(row)
            parts.append(_table(head, rows))
    else:
        parts.append('<p class="muted">The scenario injects no faults.</p>')

    # policies
    parts.append("<h2>Policies</h2>")
    parts.append(
        _table(
            [
                "policy",
                "parameters",
                "seeds",
                "requests / run",
                "alerts opened / closed",
                "open→closed cycles",
            ],
            [
                [
                    f"<b>{_e(n)}</b>",
                    _params_html(pr),
                    _e(", ".join(map(str, pr.seeds))),
                    _e(fmt_stat(pr.overall.requests, "count")),
                    _e(f"{fmt_stat(pr.alerts.opened, 'count')} / {fmt_stat(pr.alerts.closed, 'count')}"),
                    _e(fmt_stat(pr.alerts.cycles, "count")),
                ]
                for n, pr in res.policies.items()
            ],
            left=2,
        )
    )
    parts.append("<h3>Breakers</h3>")
    rows = []
    for name, pr in res.policies.items():
        for b in pr.breakers:
            rows.append(
                [
                    _e(name),
                    _e(b.org),
                    _e(b.model),
                    _e("shared" if b.pod is None else f"pod-{b.pod}"),
                    _e(fmt_stat(b.time_open, "duration")),
                    _e(fmt_stat(b.time_half_open, "duration")),
                    _e(fmt_stat(b.opened, "count")),
                    _e(fmt_stat(b.cycles, "count")),
                ]
            )
    if rows:
        parts.append(
            _table(
                [
                    "policy",
                    "org",
                    "model",
                    "state",
                    "time open",
                    "time half-open",
                    "opened",
                    "cycles",
                ],
                rows,
                left=4,
            )
        )
    else:
        parts.append('<p class="muted">No breaker ever left the closed state.</p>')

    # alert log
    if traces:
        parts.append("<h2>Alert log</h2>")
        parts.append(
            '<p class="muted">Breaker alerts as the Slack channel would have shown them '
            "(first seed of each policy).</p>"
        )
        first_open = True
        for name, runs in traces.items():
            runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
            n_ev = len(runs[0].events["time"])
            attr = " open" if n_ev and first_open else ""
            first_open = first_open and not n_ev
            parts.append(
                f"<details{attr}><summary>{_e(name)} — {n_ev} breaker event(s), seed "
                f"{_e(runs[0].meta.get('seed', 0))}</summary>"
            )
            parts.append(_alerts_html(runs[0]))
            parts.append("</details>")

    parts.append(
        '<p class="muted" style="margin-top:40px">Numbers: '
        '<a href="results.json">results.json</a> '
        f'(schema {SCHEMA_VERSION}) · <a href="summary.md">summary.md</a> · traces in '
        f"<code>{_e(traces_at)}</code> (re-render without re-running: "
        "<code>breakerlab report DIR</code>).</p>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)


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
    import sys

    if len(sys.argv) not in (2, 3):
        print("usage: python -m reports.render TRACE_DIR [OUT_DIR]", file=sys.stderr)
        raise SystemExit(2)
    paths = report_from_dir(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    print(paths.html)
    raise SystemExit(0 if paths.passed is not False else 1)
