"""Charts of a policy comparison (matplotlib, headless Agg; PNG and SVG).

Every chart function takes ``{policy name: Trace or list of Traces (seeds)}`` and an output
directory, writes ``<name>.png`` and ``<name>.svg`` and returns their paths. Seeds are pooled
(counts summed, latencies merged) for the time series; the breaker timeline shows the first seed.

=========================  ==================================================================
``success_rate``            request success rate over time, one line per policy, faults marked
``traffic_share``           per-org share of attempts over time (stacked), one panel per policy
``breaker_timeline``        closed / half-open / open bands per breaker, one panel per policy
``latency``                 user latency p50 line with p95 and p99 bands, one panel per policy
``comparison``              bars with 95 % intervals: success rate, failover time, wasted attempts
=========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.patheffects import withStroke
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from sim.slo import canonical_metric, parse_threshold, slo_items

from .format import duration_unit, fmt_clock, fmt_count, fmt_duration, fmt_rate
from .metrics import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    SHED_FRACTION,
    FaultWindow,
    Series,
    breaker_timelines,
    compute_results,
    headline_name,
    headline_time,
    is_local_state,
    nice_bin_width,
    timeseries,
    trace_fault_windows,
)
from .schema import FaultInfo, Results, Stat

__all__ = [
    "CHARTS",
    "all_charts",
    "breaker_timeline_chart",
    "comparison_chart",
    "latency_chart",
    "success_rate_chart",
    "traffic_share_chart",
]

FORMATS = ("png", "svg")
_RC = {
    "svg.hashsalt": "breakerlab",  # stable SVG ids: same data, same file
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
STATE_COLORS = {CLOSED: "#7fc97f", HALF_OPEN: "#fdb462", OPEN: "#e41a1c"}
STATE_LABELS = {
    CLOSED: "closed (traffic flows)",
    HALF_OPEN: "half-open (probing)",
    OPEN: "open (blocked)",
}
FAULT_COLORS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_POLICY_FIXED = {"none": "#4d4d4d", "manual": "#a6761d"}


# --------------------------------------------------------------------------- helpers


#: durations on axes, in titles and on bars: three significant digits (90 s, 1.5 min)
_tick_duration = partial(fmt_duration, compact=True)


def _runs(traces: Mapping[str, Any]) -> dict[str, list[Any]]:
    if not traces:
        raise ValueError("no traces to chart")
    return {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in traces.items()}


def _first(runs: dict[str, list[Any]]) -> Any:
    return next(iter(runs.values()))[0]


def _duration(runs: dict[str, list[Any]]) -> float:
    return max(float(t.meta.get("duration") or 0.0) for rs in runs.values() for t in rs) or max(
        float(np.max(t.requests["end"], initial=1.0)) for rs in runs.values() for t in rs
    )


def _time_axis(ax: Any, duration: float) -> float:
    unit, name = duration_unit(duration)
    ax.set_xlim(0, duration / unit)
    ax.set_xlabel(f"simulated time since start ({name})")
    return unit


def policy_colors(names: Sequence[str]) -> dict[str, str]:
    palette = [c for c in colormaps["tab10"].colors if c != (0.4980392156862745,) * 3]
    out, i = {}, 0
    for n in names:
        if n in _POLICY_FIXED:
            out[n] = _POLICY_FIXED[n]
        else:
            out[n] = matplotlib.colors.to_hex(palette[i % len(palette)])
            i += 1
    return out


_VENDOR_PALETTES = {
    "openai": (
        "#1f77b4",
        "#17becf",
        "#9467bd",
        "#2ca02c",
        "#aec7e8",
        "#98df8a",
        "#c5b0d5",
        "#7f7f7f",
    ),
    "anthropic": ("#ff7f0e", "#d62728", "#8c564b", "#e377c2", "#ffbb78"),
}
_OTHER_PALETTE = ("#bcbd22", "#7f7f7f", "#dbdb8d", "#c7c7c7")


def org_colors(orgs: Sequence[str], vendors: Sequence[str]) -> list[str]:
    """Distinct colours per org; OpenAI orgs in cool hues, Anthropic orgs in warm ones, so a
    vendor failover shows as the chart turning warm."""
    out = []
    for i, v in enumerate(vendors):
        k = [j for j, w in enumerate(vendors) if w == v].index(i)
        pal = _VENDOR_PALETTES.get(v, _OTHER_PALETTE)
        out.append(pal[k % len(pal)])
    return out


#: points above the plot area where the fault strips sit: one row per fault (up to 3 rows)
_STRIP_ROW, _STRIP_BASE, _STRIP_WIDTH = 22.0, 4.0, 5.0


def _mark_faults(ax: Any, windows: Sequence[FaultWindow], unit: float, duration: float, *, labels: bool) -> None:
    """Mark each fault window without recolouring the data: dashed lines at onset and end over
    the plot, and (``labels``: the top panel) a coloured strip above the plot area spanning the
    window, named. A translucent span over stacked areas would mix its colour into theirs."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    groups = fault_groups([(w.label, w.start, w.end) for w in windows])
    drawn: set[int] = set()
    for w, g in zip(windows, groups, strict=True):
        if g in drawn:  # one fault hitting several targets: one window on the chart
            continue
        drawn.add(g)
        color = FAULT_COLORS[g % len(FAULT_COLORS)]
        x0, x1 = w.start / unit, max(w.end, w.start + 1e-9) / unit
        for x, edge in ((x0, w.start), (x1, w.end)):
            if 0 < edge < duration:  # a line on the axis edge would only hide the spine
                # a white casing keeps the line visible on a band of its own colour
                ax.axvline(x, color=color, lw=1.2, ls="--", zorder=4.5, gid="fault-edge",
                           path_effects=[withStroke(linewidth=3.0, foreground="white")])
        if not labels:
            continue
        base = _STRIP_BASE + _STRIP_ROW * (g % 3)
        lift = ScaledTranslation(0, (base + _STRIP_WIDTH / 2) / 72, ax.figure.dpi_scale_trans)
        ax.plot([x0, x1], [1.0, 1.0], transform=trans + lift, color=color, lw=_STRIP_WIDTH,
                solid_capstyle="butt", clip_on=False, gid="fault-strip")
        right = duration > 0 and w.start / duration > 0.7  # a late fault: its name ends at its end
        ax.annotate(
            f"{w.label} ({fmt_clock(w.start)} \u2013 {fmt_clock(w.end)})",
            xy=(x1 if right else x0, 1.0),
            xycoords=trans,
            xytext=(0, base + _STRIP_WIDTH + 1.5),
            textcoords="offset points",
            color=color,
            fontsize=8.5,
            ha="right" if right else "left",
            va="bottom",
            fontweight="bold",
            annotation_clip=False,
        )


def fault_groups(keys: Sequence[tuple[str, float, float]]) -> list[int]:
    """Group index per fault: faults with the same (label, start, end) are one incident."""
    seen: dict[tuple[str, float, float], int] = {}
    return [seen.setdefault(k, len(seen)) for k in keys]


def fault_names(labels: Sequence[str], targets: Sequence[str]) -> list[str]:
    """Display names: the label, with the target added where labels repeat."""
    return [
        lab if list(labels).count(lab) == 1 else f"{lab} \u00b7 {tgt}" for lab, tgt in zip(labels, targets, strict=True)
    ]


def _fault_title_pad(windows: Sequence[FaultWindow]) -> float:
    """Room between the top panel and its title for the fault strips and their names."""
    n = len(set(fault_groups([(w.label, w.start, w.end) for w in windows])))
    return 6 + _STRIP_ROW * min(n, 3)


def _save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        meta = {"Date": None} if fmt == "svg" else {}
        fig.savefig(path, format=fmt, dpi=110, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


#: requests per time bin (on average) the time-series charts aim for: a share or a p99 of a
#: handful of calls is noise, so a small run gets fewer, wider bins (24 to 240 of them)
_PER_BIN = 100


def _n_requests(trace: Any) -> int:
    """A trace's request count, without decoding a column of a :class:`sim.trace.Trace`."""
    n = getattr(trace, "n_requests", None)
    return int(n) if isinstance(n, int) else len(trace.requests["arrival"])


def _bin_width(runs: dict[str, list[Any]], duration: float) -> float:
    n = min(sum(_n_requests(t) for t in rs) for rs in runs.values())
    return nice_bin_width(duration, max_bins=int(np.clip(n // _PER_BIN, 24, 240)))


def _binned(runs: dict[str, list[Any]], width: float, series: Mapping[str, Series] | None) -> Mapping[str, Series]:
    """Each policy's binned series: ``series`` when given (:func:`all_charts` bins each policy's
    traces once for the three charts that plot them: at 8M requests a binning is seconds), else
    binned here."""
    return series if series is not None else {name: timeseries(rs, width) for name, rs in runs.items()}


def _scenario(runs: dict[str, list[Any]]) -> str:
    return str(_first(runs).meta.get("scenario", "scenario"))


def _seed_note(runs: dict[str, list[Any]]) -> str:
    n = max(len(v) for v in runs.values())
    return f"{n} seeds pooled" if n > 1 else f"seed {_first(runs).meta.get('seed', 0)}"


@dataclass(frozen=True)
class _SloLine:
    """One SLO threshold of a metric over the span of the run its phase covers."""

    start: float
    end: float
    value: float
    where: str  # "" for the whole run, else e.g. "during secondary3 slows"


def _slo_lines(meta: Mapping[str, Any], metric: str, windows: Sequence[FaultWindow],
               duration: float) -> list[_SloLine]:
    """The thresholds the scenario's SLO sets on ``metric`` (sim.slo walks it), each over its
    phase: the whole run, or before / during / after each fault (or the one its label names)."""
    slo = meta.get("slo")
    if not slo:
        return []
    try:
        items = slo_items(slo)
    except ValueError:
        return []
    out: list[_SloLine] = []
    for raw_metric, raw_phase, raw_th in items:
        if canonical_metric(raw_metric) != metric:
            continue
        try:
            value = parse_threshold(raw_th, metric).value
        except ValueError:
            continue
        phase, _, label = raw_phase.partition(":")
        if phase in ("overall", "fault"):
            out.append(_SloLine(0.0, duration, value, ""))
            continue
        seen = set()
        for w in windows:
            if (label and w.label != label) or (w.label, w.start, w.end) in seen:
                continue
            seen.add((w.label, w.start, w.end))
            span = {"before": (0.0, w.start), "during": (w.start, w.end), "after": (w.end, duration)}.get(phase)
            if span is not None and span[1] > span[0]:
                out.append(_SloLine(span[0], span[1], value, f"{phase} {w.label}"))
    return out


def _draw_slo(ax: Any, lines: Sequence[_SloLine], unit: float, scale: float = 1.0) -> None:
    for ln in lines:
        ax.hlines(ln.value * scale, ln.start / unit, ln.end / unit, colors="black", linestyles=":", lw=1.4, zorder=5)


def _slo_label(lines: Sequence[_SloLine], fmt: Callable[[float], str], prefix: str) -> str:
    """One legend entry for the thresholds: ``SLO ≥ 99.80 %``, ``p99 SLO ≤ 12 s during X``."""
    parts = sorted({fmt(ln.value) + (f" {ln.where}" if ln.where else "") for ln in lines})
    return f"{prefix} " + "; ".join(parts)


# --------------------------------------------------------------------------- charts


def success_rate_chart(
    traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS,
    series: Mapping[str, Series] | None = None,
) -> list[Path]:
    runs = _runs(traces)
    duration = _duration(runs)
    width = _bin_width(runs, duration)
    binned = _binned(runs, width, series)
    windows = trace_fault_windows(_first(runs))
    colors = policy_colors(list(runs))
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
        unit = _time_axis(ax, duration)
        lows = []
        for name, s in binned.items():
            rate = s.success_rate * 100
            x = np.repeat(s.edges / unit, 2)[1:-1]
            ax.plot(x, np.repeat(rate, 2), color=colors[name], lw=1.6, label=name, alpha=0.9)
            if np.isfinite(rate).any():
                lows.append(np.nanmin(rate))
        slo = _slo_lines(_first(runs).meta, "success_rate", windows, duration)
        _draw_slo(ax, slo, unit, 100)
        if slo:
            ax.plot([], [], color="black", ls=":", lw=1.4, label=_slo_label(slo, fmt_rate, "SLO \u2265"))
            lows += [ln.value * 100 for ln in slo]
        low = min(lows) if lows else 0.0
        span = max(100 - low, 0.05)
        ax.set_ylim(max(0.0, low - 0.12 * span), 100 + 0.06 * span)
        _mark_faults(ax, windows, unit, duration, labels=True)
        ax.set_ylabel("requests that succeeded (%)")
        width = next(iter(binned.values())).edges[1]
        ax.set_title(
            f"{_scenario(runs)} — user request success rate per {_tick_duration(width)} ({_seed_note(runs)})",
            pad=_fault_title_pad(windows),
        )
        ax.grid(axis="y", alpha=0.3)
        fig.legend(title="policy", loc="outside right center")  # outside: it hid low lines
        return _save(fig, Path(out_dir), "success_rate", formats)


def _panels(n: int, height: float) -> tuple[Figure, list[Any]]:
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.2 + height * n), sharex=True, squeeze=False, layout="constrained")
    return fig, [a[0] for a in axes]


def traffic_share_chart(
    traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS,
    series: Mapping[str, Series] | None = None,
) -> list[Path]:
    runs = _runs(traces)
    duration = _duration(runs)
    binned = _binned(runs, _bin_width(runs, duration), series)
    first = _first(runs)
    windows = trace_fault_windows(first)
    orgs = [str(o) for o in first.meta.get("orgs", [])]
    vendors = [str(v) for v in first.meta.get("org_vendors") or [""] * len(orgs)]
    colors = org_colors(orgs, vendors)
    with plt.rc_context(_RC):
        fig, axes = _panels(len(runs), 2.3)
        for k, (ax, (name, s)) in enumerate(zip(axes, binned.items(), strict=True)):
            unit, _ = duration_unit(duration)
            share = np.nan_to_num(s.share) * 100
            x = np.repeat(s.edges / unit, 2)[1:-1]
            ys = [np.repeat(share[:, j], 2) for j in range(len(s.orgs))]
            labels = [f"{o} ({v})" if v else o for o, v in zip(s.orgs, vendors, strict=False)]
            ax.stackplot(x, *ys, colors=colors, labels=labels, alpha=0.95, lw=0)
            ax.set_ylim(0, 100)
            ax.set_ylabel("share of\nattempts (%)")
            pad = _fault_title_pad(windows) if k == 0 else 6
            ax.set_title(f"policy: {name}", loc="left", fontweight="bold", pad=pad)
            _mark_faults(ax, windows, unit, duration, labels=k == 0)
        _time_axis(axes[-1], duration)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], title="org (vendor)", loc="outside right center")
        fig.suptitle(f"{_scenario(runs)} — where the attempts went: each org's share of attempts ({_seed_note(runs)})")
        return _save(fig, Path(out_dir), "traffic_share", formats)


def _breaker_rows(trace: Any) -> list[tuple[str, list[tuple[float, float, int]]]]:
    """One row per breaker with events, plus one all-closed row per org that never tripped."""
    orgs = [str(o) for o in trace.meta.get("orgs", [])]
    models = [str(m) for m in trace.meta.get("models", [])]
    duration = float(trace.meta.get("duration") or 0.0)
    tl = breaker_timelines(trace)
    multi_model = len({k.model for k in tl}) > 1
    rows = []
    for oi, org in enumerate(orgs):
        keys = sorted(k for k in tl if k.org == oi)
        if not keys:
            suffix = " (all pods)" if is_local_state(trace.meta) else ""
            rows.append((f"{org}{suffix}", [(0.0, duration, CLOSED)]))
        for k in keys:
            label = org
            if multi_model and k.model < len(models):
                label += f" · {models[k.model]}"
            if k.pod is not None:
                label += f" · pod-{k.pod}"
            rows.append((label, tl[k]))
    return rows


def breaker_timeline_chart(
    traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS
) -> list[Path]:
    runs = _runs(traces)
    duration = _duration(runs)
    unit, _ = duration_unit(duration)
    windows = trace_fault_windows(_first(runs))
    rows_by = {name: _breaker_rows(rs[0]) for name, rs in runs.items()}
    heights = [max(1.0, 0.32 * len(r)) + 0.6 for r in rows_by.values()]
    min_w = duration / 700  # ≥ 1 px: a one-second probe stays visible at day scale
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(
            len(runs),
            1,
            figsize=(11, 1.2 + sum(heights)),
            sharex=True,
            squeeze=False,
            gridspec_kw={"height_ratios": heights},
            layout="constrained",
        )
        axes = [a[0] for a in axes]
        for k, (ax, (name, rows)) in enumerate(zip(axes, rows_by.items(), strict=True)):
            trace = runs[name][0]
            no_breaker = name == "none" or not len(trace.events["time"])
            for i, (_, spans) in enumerate(rows):
                y = len(rows) - 1 - i
                for state in (CLOSED, OPEN):
                    bars = [(s / unit, (e - s) / unit) for s, e, st in spans if st == state]
                    if bars:
                        ax.broken_barh(bars, (y - 0.38, 0.76), color=STATE_COLORS[state], lw=0)
                # half-open spans are often a second long: draw them as narrow ticks that stay
                # visible at day scale without hiding the open band around them
                bars = [(s / unit, max(e - s, min_w) / unit) for s, e, st in spans if st == HALF_OPEN]
                if bars:
                    # thousands of short probes (a locked org probed every minute for days) would
                    # merge into one band that reads as "half-open all along": draw them thinner
                    dense = sum(w for _, w in bars) > 0.25 * duration / unit
                    h = 0.08 if dense else 0.4
                    ax.broken_barh(bars, (y - h / 2, h), color=STATE_COLORS[HALF_OPEN], lw=0)
            ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1])
            ax.set_ylim(-0.6, len(rows) - 0.4)
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="y", length=0)
            title = f"policy: {name}  (seed {trace.meta.get('seed', 0)})"
            if no_breaker:
                title += " — no breaker events: every org stays in rotation"
            pad = _fault_title_pad(windows) if k == 0 else 6
            ax.set_title(title, loc="left", fontweight="bold", pad=pad)
            _mark_faults(ax, windows, unit, duration, labels=k == 0)
        _time_axis(axes[-1], duration)
        handles = [Patch(color=STATE_COLORS[s], label=STATE_LABELS[s]) for s in (CLOSED, HALF_OPEN, OPEN)]
        fig.legend(handles=handles, title="breaker state", loc="outside right center")
        local = is_local_state(_first(runs).meta)
        fig.suptitle(f"{_scenario(runs)} — breaker state per org{' and pod (local state)' if local else ''}")
        return _save(fig, Path(out_dir), "breaker_timeline", formats)


def latency_chart(
    traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS,
    series: Mapping[str, Series] | None = None,
) -> list[Path]:
    runs = _runs(traces)
    duration = _duration(runs)
    series = _binned(runs, _bin_width(runs, duration), series)
    unit, _ = duration_unit(duration)
    windows = trace_fault_windows(_first(runs))
    colors = policy_colors(list(runs))
    with plt.rc_context(_RC):
        fig, axes = _panels(len(runs), 2.1)
        finite = np.concatenate([s.latency[np.isfinite(s.latency)] for s in series.values()])
        p99_slo = _slo_lines(_first(runs).meta, "p99_latency", windows, duration)
        lo = max(float(finite.min()) * 0.8, 1e-3) if len(finite) else 0.1
        hi = float(finite.max()) * 1.3 if len(finite) else 10.0
        hi = max([hi, *[ln.value * 1.3 for ln in p99_slo]])
        for k, (ax, (name, s)) in enumerate(zip(axes, series.items(), strict=True)):
            x = np.repeat(s.edges / unit, 2)[1:-1]
            p50, p95, p99 = (np.repeat(s.latency[:, j], 2) for j in range(3))
            c = colors[name]
            ax.fill_between(x, p95, p99, color=c, alpha=0.18, lw=0, label="p95 \u2013 p99")
            ax.fill_between(x, p50, p95, color=c, alpha=0.38, lw=0, label="p50 \u2013 p95")
            ax.plot(x, p50, color=c, lw=1.4, label="p50 (median)")
            _draw_slo(ax, p99_slo, unit)
            ax.set_yscale("log")
            ax.set_ylim(lo, hi)
            ax.set_ylabel("user latency (log scale)")
            pad = _fault_title_pad(windows) if k == 0 else 6
            ax.set_title(f"policy: {name}", loc="left", fontweight="bold", pad=pad)
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_duration(v)))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.grid(axis="y", which="major", alpha=0.3)
            _mark_faults(ax, windows, unit, duration, labels=k == 0)
        _time_axis(axes[-1], duration)
        handles = [
            Line2D([], [], color="#333", lw=1.4, label="p50 (median)"),
            Patch(color="#333", alpha=0.38, lw=0, label="p50 \u2013 p95"),
            Patch(color="#333", alpha=0.18, lw=0, label="p95 \u2013 p99"),
        ]
        if p99_slo:
            label = _slo_label(p99_slo, _tick_duration, "p99 SLO \u2264")
            handles.append(Line2D([], [], color="black", ls=":", lw=1.4, label=label))
        fig.legend(handles=handles, title="percentile", loc="outside right center")
        width = next(iter(series.values())).edges[1]
        fig.suptitle(
            f"{_scenario(runs)} — user latency percentiles per {_tick_duration(width)}\n"
            f"(arrival → answer, failures included; {_seed_note(runs)})"  # (two lines: a long name overflowed)
        )
        return _save(fig, Path(out_dir), "latency", formats)


def _err(st: Stat, scale: float) -> tuple[float, float]:
    if st.mean is None or st.ci_low is None or st.ci_high is None:
        return 0.0, 0.0
    return (st.mean - st.ci_low) * scale, (st.ci_high - st.mean) * scale


def _grouped(
    ax: Any,
    policies: Sequence[str],
    groups: Sequence[str],
    stats: dict[tuple[str, str], Stat],
    *,
    scale: float,
    fmt: Callable[[float], str],
    colors: Sequence[str],
    never: bool = False,
    inside: bool = False,
) -> None:
    n = max(1, len(groups))
    width = 0.8 / n
    tops = [(st.ci_high if st.ci_high is not None else st.mean) * scale for st in stats.values() if st.mean is not None]
    top = max(tops, default=1.0) or 1.0
    for gi, g in enumerate(groups):
        for pi, p in enumerate(policies):
            st = stats.get((p, g))
            x = pi + (gi - (n - 1) / 2) * width
            if st is None:
                continue
            if st.mean is None or (never and st.n_none):
                ax.bar(
                    x,
                    top * 1.08,
                    width * 0.92,
                    color="white",
                    edgecolor=colors[gi],
                    hatch="///",
                    lw=1,
                )
                label = "never" if st.n_none == st.n or st.mean is None else f"never in {st.n_none}/{st.n}"
                ax.text(
                    x,
                    top * 1.1,
                    label,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="#b00",
                    rotation=90 if n > 2 else 0,
                )
                continue
            lo, hi = _err(st, scale)
            ax.bar(
                x,
                st.mean * scale,
                width * 0.92,
                color=colors[gi],
                yerr=[[lo], [hi]] if hi or lo else None,
                capsize=3,
                ecolor="black",
                label=g if pi == 0 else None,
            )
            y0, y1 = ax.get_ylim()
            if inside and st.mean * scale - y0 > 0.3 * (y1 - y0):  # room for the label inside
                ax.text(
                    x,
                    st.mean * scale - 0.02 * (y1 - y0),
                    fmt(st.mean),
                    ha="center",
                    va="top",
                    fontsize=8,
                    rotation=90,
                    color="white",
                    fontweight="bold",
                )
            else:
                ax.text(
                    x,
                    max(st.mean * scale + hi, y0) if inside else st.mean * scale + hi,
                    fmt(st.mean),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    rotation=90 if n > 2 or inside else 0,
                )
    ax.set_xticks(range(len(policies)), policies)
    ax.set_xlim(-0.6, len(policies) - 0.4)


def _success_panel(ax: Any, res: Results, firsts: Sequence[FaultInfo], colors: Sequence[str]) -> None:
    """Success rate per policy, whole run and during each incident, on a truncated axis."""
    groups = ["whole run", *[f"during {f.label}" for f in firsts]]
    stats: dict[tuple[str, str], Stat] = {}
    for p, pr in res.policies.items():
        stats[(p, "whole run")] = pr.overall.success_rate
        for f in firsts:
            stats[(p, f"during {f.label}")] = pr.faults[f.index].phases["during"].success_rate
    lows = [(st.ci_low if st.ci_low is not None else st.mean) * 100 for st in stats.values() if st.mean is not None]
    low = min(lows, default=0.0)
    span = max(100 - low, 0.05)
    ax.set_ylim(max(0.0, low - 0.6 * span), 100 + 0.04 * span)
    _grouped(ax, list(res.policies), groups, stats, scale=100, fmt=fmt_rate, colors=colors, inside=True)
    ax.set_ylabel("requests that succeeded (%) — axis truncated")
    ax.set_title("Success rate (higher is better)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)


def _failover_panel(ax: Any, res: Results, faults: Sequence[FaultInfo], names: Sequence[str],
                    colors: Sequence[str]) -> None:
    """Each org fault's headline time per policy — failover (worst pod) for a hard fault, time to
    shed for a partial one; hatched where it never happened."""
    fo = {(p, names[f.index]): headline_time(pr.faults[f.index]) for p, pr in res.policies.items() for f in faults}
    longest = max((st.ci_high or st.mean or 0.0 for st in fo.values() if st.mean is not None), default=0.0)
    unit, uname = duration_unit(longest)
    fnames = [names[f.index] for f in faults]
    _grouped(ax, list(res.policies), fnames, fo, scale=1 / unit, fmt=_tick_duration, colors=colors, never=True)
    kinds = list(dict.fromkeys(headline_name(f.shape) for f in faults)) or ["failover"]
    means = {"failover": "failover: no more regular traffic",
             "time to shed": f"shed: share below {SHED_FRACTION * 100:g} % of healthy"}
    what = " / ".join(kinds)
    ax.set_ylabel(f"{what} ({uname})")
    ax.set_title(f"{what[0].upper()}{what[1:]} (lower is better; hatched = never)\n"
                 + "; ".join(means[k] for k in kinds))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    if not any(st.mean is not None for st in fo.values()):  # all hatched: a time axis means nothing
        ax.set_yticks([])
        ax.set_ylabel(f"{what}: never")


def _wasted_panel(ax: Any, res: Results, faults: Sequence[FaultInfo], names: Sequence[str],
                  colors: Sequence[str]) -> None:
    """Attempts sent to each org fault's target while it was faulted."""
    wa = {(p, names[f.index]): pr.faults[f.index].wasted_attempts for p, pr in res.policies.items() for f in faults}
    fnames = [names[f.index] for f in faults]
    _grouped(ax, list(res.policies), fnames, wa, scale=1.0, fmt=fmt_count, colors=colors)
    ax.set_ylabel("attempts sent to the target during the fault")
    ax.set_title("Wasted attempts, per fault (lower is better)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)


def comparison_chart(
    traces: Mapping[str, Any],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    results: Results | None = None,
) -> list[Path]:
    runs = _runs(traces)
    res = results or compute_results(runs, slo={})
    org_faults = [f for f in res.faults if f.org_fault]
    names = fault_names([f.label for f in res.faults], [f.target for f in res.faults])
    gid = fault_groups([(f.label, f.start, f.end) for f in res.faults])
    firsts = [f for f in res.faults if gid.index(gid[f.index]) == f.index]  # one per incident
    pcolors = ["#4d4d4d", *[FAULT_COLORS[gid[f.index] % len(FAULT_COLORS)] for f in firsts]]
    fcolors = [FAULT_COLORS[gid[f.index] % len(FAULT_COLORS)] for f in org_faults]
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), layout="constrained")
        _success_panel(axes[0], res, firsts, pcolors)
        _failover_panel(axes[1], res, org_faults, names, fcolors)
        _wasted_panel(axes[2], res, org_faults, names, fcolors)
        if org_faults:
            handles = [Patch(color=c, label=names[f.index]) for c, f in zip(fcolors, org_faults, strict=True)]
            axes[1].legend(handles=handles, title="fault", fontsize=8, loc="upper right")
        else:
            for ax in axes[1:]:
                ax.text(0.5, 0.5, "no org fault in this scenario", transform=ax.transAxes, ha="center",
                        va="center", color="#666")
        for ax in axes:
            ax.grid(axis="y", alpha=0.3)
            ax.tick_params(axis="x", rotation=20)
        n = max(len(p.seeds) for p in res.policies.values())
        note = f"mean of {n} seeds, bars = 95 % interval" if n > 1 else "one seed"
        fig.suptitle(f"{res.scenario.name} — policy comparison ({note})", fontsize=12)
        return _save(fig, Path(out_dir), "comparison", formats)


CHARTS: dict[str, Callable[..., list[Path]]] = {
    "success_rate": success_rate_chart,
    "traffic_share": traffic_share_chart,
    "breaker_timeline": breaker_timeline_chart,
    "latency": latency_chart,
    "comparison": comparison_chart,
}


#: the charts that plot each policy's binned series (:func:`reports.metrics.timeseries`)
_BINNED = frozenset({"success_rate", "traffic_share", "latency"})


def all_charts(
    traces: Mapping[str, Any],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    results: Results | None = None,
) -> dict[str, list[Path]]:
    """Every chart; ``{chart name: [png path, svg path]}``."""
    out: dict[str, list[Path]] = {}
    runs = _runs(traces)
    series = _binned(runs, _bin_width(runs, _duration(runs)), None)
    for name, fn in CHARTS.items():
        if name == "comparison":
            out[name] = fn(traces, out_dir, formats=formats, results=results)
        elif name in _BINNED:
            out[name] = fn(traces, out_dir, formats=formats, series=series)
        else:
            out[name] = fn(traces, out_dir, formats=formats)
    return out
