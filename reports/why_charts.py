"""The "Why" charts (matplotlib, as :mod:`reports.charts`, whose helpers they use).

=========================  ==================================================================
``why_causes``              failed requests per time bin, stacked by cause, one panel per policy
``why_capacity``            offered RPM and TPM (line) vs each org's enforced limit (stacked)
=========================  ==================================================================

Both take ``{policy: [TraceWhy per seed]}`` (:func:`reports.why.attach_why`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from .charts import _RC, FORMATS, _fault_title_pad, _mark_faults, _panels, _save, _tick_duration, _time_axis, org_colors
from .format import duration_unit, fmt_count
from .why import CAUSES, ModelCapacity, TraceWhy

__all__ = ["why_capacity_chart", "why_causes_chart", "why_charts"]

_COMPACT = FuncFormatter(lambda v, _pos: fmt_count(v, compact=True))


def _steps(edges: np.ndarray, y: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """A per-bin series as a step line over the bins' edges."""
    return np.repeat(edges / unit, 2)[1:-1], np.repeat(y, 2)


def why_causes_chart(
    whys: Mapping[str, Sequence[TraceWhy]], out_dir: str | Path, *, formats: Sequence[str] = FORMATS
) -> list[Path]:
    first = next(iter(whys.values()))[0]
    edges, windows = first.edges, first.windows
    duration = float(edges[-1])
    unit, _ = duration_unit(duration)
    width = first.bin
    present = [i for i, _ in enumerate(CAUSES) if any(w.by_bin[i].sum() for ws in whys.values() for w in ws)]
    with plt.rc_context(_RC):
        fig, axes = _panels(len(whys), 2.3)
        for k, (ax, (name, ws)) in enumerate(zip(axes, whys.items(), strict=True)):
            mean = np.mean([w.by_bin for w in ws], axis=0)  # per run
            bottom = np.zeros(len(edges) - 1)
            for i in present:
                c = CAUSES[i]
                ax.bar(edges[:-1] / unit, mean[i], width=width / unit, bottom=bottom, align="edge", color=c.color,
                       label=c.label, lw=0)
                bottom += mean[i]
            ax.yaxis.set_major_formatter(_COMPACT)
            ax.set_ylabel(f"failed requests\nper {_tick_duration(width)}")
            total = float(mean.sum())
            title = f"policy: {name} — {fmt_count(total)} failed requests" + (" per run" if len(ws) > 1 else "")
            ax.set_title(title, loc="left", fontweight="bold", pad=_fault_title_pad(windows) if k == 0 else 6)
            _mark_faults(ax, windows, unit, duration, labels=k == 0)
            if not total:
                ax.text(0.5, 0.5, "no request failed", transform=ax.transAxes, ha="center", va="center", color="0.4")
        _time_axis(axes[-1], duration)
        if present:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles[::-1], labels[::-1], title="cause", loc="outside right center")
        seeds = max(len(ws) for ws in whys.values())
        fig.suptitle("Why requests failed: failed requests by cause over time"
                     + (f" (mean of {seeds} seeds)" if seeds > 1 else ""))
        return _save(fig, Path(out_dir), "why_causes", formats)


def _capacity_panel(ax: Any, cap: ModelCapacity, edges: np.ndarray, unit: float, kind: str,
                    colors: Mapping[str, str]) -> None:
    per_org = cap.org_rpm if kind == "RPM" else cap.org_tpm
    demand = cap.rpm if kind == "RPM" else cap.tpm
    finite = {o: v for o, v in per_org.items() if np.isfinite(v).all()}
    x, _ = _steps(edges, demand, unit)
    if finite:
        ax.stackplot(x, *[np.repeat(v, 2) for v in finite.values()], colors=[colors[o] for o in finite],
                     labels=list(finite), alpha=1.0, lw=0)
    ax.plot(x, np.repeat(demand, 2), color="black", lw=1.4, label="offered demand")
    pool = cap.pool_rpm if kind == "RPM" else cap.pool_tpm
    if np.isfinite(pool).all():
        over = demand > pool
        # hatched, not filled: a fill would read as one more org's band
        ax.fill_between(x, np.repeat(pool, 2), np.repeat(demand, 2), where=np.repeat(over, 2), facecolor="white",
                        edgecolor="#b2182b", hatch="////", lw=0, label="demand over the pool")
    top = max(float(np.max(demand, initial=0.0)), float(np.max(np.where(np.isfinite(pool), pool, 0.0), initial=0.0)))
    ax.set_ylim(0, top * 1.08 or 1.0)
    ax.yaxis.set_major_formatter(_COMPACT)
    ax.set_ylabel(f"{kind}")
    ax.grid(axis="y", alpha=0.3)


def why_capacity_chart(
    whys: Mapping[str, Sequence[TraceWhy]], out_dir: str | Path, *, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Capacity does not depend on the policy: the first policy's first seed is drawn."""
    first = next(iter(whys.values()))[0]
    edges, windows, caps = first.edges, first.windows, first.capacity
    duration = float(edges[-1])
    unit, _ = duration_unit(duration)
    orgs = first.orgs[:-1]
    vendors = first.vendors
    colors = dict(zip(orgs, org_colors(orgs, vendors), strict=True))
    with plt.rc_context(_RC):
        fig, axes = _panels(2 * len(caps), 2.2)
        for j, cap in enumerate(caps):
            for k, kind in enumerate(("RPM", "TPM")):
                ax = axes[2 * j + k]
                _capacity_panel(ax, cap, edges, unit, kind, colors)
                ax.set_title(f"{cap.model}: {'requests' if kind == 'RPM' else 'tokens'} per minute", loc="left",
                             fontweight="bold", pad=_fault_title_pad(windows) if j == k == 0 else 6)
                _mark_faults(ax, windows, unit, duration, labels=j == k == 0)
        _time_axis(axes[-1], duration)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], title="limit per org / demand", loc="outside right center")
        fig.suptitle(f"Capacity: offered demand vs the limits the pool's orgs enforced, per minute "
                     f"(means per {_tick_duration(first.bin)}, seed {first.seed})")
        return _save(fig, Path(out_dir), "why_capacity", formats)


def why_charts(
    whys: Mapping[str, Sequence[TraceWhy]], out_dir: str | Path, *, formats: Sequence[str] = FORMATS
) -> dict[str, list[Path]]:
    """The "Why" charts; ``{chart name: [png path, svg path]}`` (no capacity chart without capacity data)."""
    if not whys:
        return {}
    out = {"why_causes": why_causes_chart(whys, out_dir, formats=formats)}
    if next(iter(whys.values()))[0].capacity:
        out["why_capacity"] = why_capacity_chart(whys, out_dir, formats=formats)
    return out
