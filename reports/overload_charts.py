"""The overload chart: offered load vs dedicated capacity over time, and the policies' recovery.

=========================  ==================================================================
``overload``                per dedicated capacity (a pool, a provisioned deployment), the load
                            every pod offered it per minute, retries included, as a share of
                            what it serves (one line per policy, 100 % = capacity); under it,
                            each policy's user success rate per minute: who recovers, and when
=========================  ==================================================================

Drawn only when the traces carry ``meta["capacity"]["dedicated"]`` (:mod:`sim.capacity`); it
uses :mod:`reports.charts`' helpers and conventions (policy colours, fault strips, PNG + SVG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .charts import (
    _RC,
    FORMATS,
    _duration,
    _fault_title_pad,
    _first,
    _mark_faults,
    _panels,
    _runs,
    _save,
    _scenario,
    _seed_note,
    _tick_duration,
    _time_axis,
    policy_colors,
)
from .dedicated import dedicated_load
from .metrics import timeseries, trace_fault_windows

__all__ = ["OVERLOAD_CHARTS", "overload_chart", "overload_charts"]


def _title(meta: Mapping[str, Any], name: str) -> str:
    org, _, model = name.partition("/")
    d = meta["capacity"]["dedicated"][org][model or "*"]
    if d["kind"] == "pool":
        what = f"pool of {d['replicas']} x {d['concurrency']} sequences"
    else:
        what = f"provisioned {d['tpm']:,} TPM"
    return f"{name}: {what} — load offered by every pod, retries included"


def overload_chart(traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    runs = _runs(traces)
    first = _first(runs)
    names = list(dedicated_load(first.meta))
    duration = _duration(runs)
    windows = trace_fault_windows(first)
    colors = policy_colors(list(runs))
    with plt.rc_context(_RC):
        fig, axes = _panels(len(names) + 1, 2.6)
        unit = _time_axis(axes[-1], duration)
        for k, (ax, name) in enumerate(zip(axes, names, strict=False)):
            top = 1.0
            for policy, rs in runs.items():
                loads = [dedicated_load(t.meta)[name] for t in rs]
                width = loads[0][0]
                load = np.mean([x for _, x in loads], axis=0) * 100.0  # per run
                edges = np.arange(len(load) + 1) * width
                ax.plot(
                    np.repeat(edges / unit, 2)[1:-1],
                    np.repeat(load, 2),
                    color=colors[policy],
                    lw=1.5,
                    label=policy,
                    alpha=0.9,
                )
                top = max(top, float(np.max(load, initial=0.0)))
            ax.axhline(100.0, color="black", lw=1.4, ls=(0, (4, 2)), label="capacity (100 %)", zorder=5)
            ax.set_ylim(0, top * 1.08 + 5)
            ax.set_ylabel("offered load\n(% of capacity)")
            ax.set_title(
                _title(first.meta, name), loc="left", fontweight="bold", pad=_fault_title_pad(windows) if k == 0 else 6
            )
            ax.grid(axis="y", alpha=0.3)
            _mark_faults(ax, windows, unit, duration, labels=k == 0)
        ax = axes[-1]
        width = 60.0
        for policy, rs in runs.items():
            s = timeseries(rs, width)
            ax.plot(
                np.repeat(s.edges / unit, 2)[1:-1],
                np.repeat(s.success_rate * 100.0, 2),
                color=colors[policy],
                lw=1.5,
                alpha=0.9,
            )
        ax.set_ylim(-3, 103)
        ax.set_ylabel("requests that\nsucceeded (%)")
        ax.set_title(f"user success rate per {_tick_duration(width)}: the recovery", loc="left", fontweight="bold")
        ax.grid(axis="y", alpha=0.3)
        _mark_faults(ax, windows, unit, duration, labels=False)
        fig.legend(*axes[0].get_legend_handles_labels(), title="policy", loc="outside right center")
        fig.suptitle(f"{_scenario(runs)} — overload: offered load vs capacity, and recovery ({_seed_note(runs)})")
        return _save(fig, Path(out_dir), "overload", formats)


#: the overload charts, in the order the report shows them
OVERLOAD_CHARTS = {"overload": overload_chart}


def overload_charts(
    traces: Mapping[str, Any], out_dir: str | Path, *, formats: Sequence[str] = FORMATS
) -> dict[str, list[Path]]:
    """``{"overload": [png, svg]}`` when the runs have dedicated capacity, else ``{}``."""
    runs = _runs(traces)
    if not dedicated_load(_first(runs).meta):
        return {}
    return {name: fn(runs, out_dir, formats=formats) for name, fn in OVERLOAD_CHARTS.items()}
