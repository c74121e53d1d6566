"""Heatmaps of a sweep: one metric over two swept parameters (matplotlib, headless Agg).

Input is plain data — one point per parameter setting::

    {"params": {"threshold": 3, "base_open_time": 60.0},
     "labels": {"threshold": "3", "base_open_time": "60s"},      # optional, for tick labels
     "metrics": {"success_rate": 0.9991, "slo_margin": 0.12, ...},
     "notes": {"slo_margin": "p99_latency"}}                     # optional, a second line in the cell

What a metric is comes with it as a :class:`HeatSpec` (title, direction, formatters, how a cell
reduces several settings): :func:`metric_spec` builds one for a plain metric, :data:`SLO_PASS`
and :data:`SLO_MARGIN` are the SLO's (pass/fail per setting: the share of its runs that meet
every check; the binding check's margin, worst setting in a cell). A cell shows the mean (or the
worst) of the metric over the settings that fall in it (when more than two parameters are
swept, over the other parameters). An infinite value ("never": failover that never happened, a
margin on a check that never held) makes the cell "never", in grey. A parameter with more than
:data:`MAX_CATEGORIES` distinct numeric values (random search) is binned into equal-width bins.
Colours: green is good, red is bad, whichever direction the metric is optimized in; the
recommended setting's cell (``highlight``) is outlined. Colourbar ticks are chosen so that no two
read the same (:func:`colorbar_ticks`).

    sweep_heatmaps(points, ["threshold", "base_open_time"], "out/charts",
                   specs={"slo_margin": SLO_MARGIN, "success_rate": metric_spec("success rate", "max", "rate")})
    # → {"slo_margin": [heatmap_slo_margin__threshold__base_open_time.png], ...}
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
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
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .format import fmt_count, fmt_duration, fmt_margin, fmt_param, fmt_rate, fmt_ratio

__all__ = [
    "MAX_CATEGORIES",
    "SLO_MARGIN",
    "SLO_PASS",
    "HeatSpec",
    "colorbar_ticks",
    "heatmap",
    "heatmap_figure",
    "metric_spec",
    "sweep_heatmaps",
]

#: most distinct values shown as their own row/column before binning
MAX_CATEGORIES = 12
BINS = 8
_RC = {"font.size": 9, "axes.titlesize": 10}


@dataclass(frozen=True)
class HeatSpec:
    """How one metric is drawn: title, "max"/"min" (which end is green), the cell and colourbar
    formatters, how a cell reduces several settings ("mean" or "worst"), and a fixed colour range."""

    title: str
    direction: str
    fmt: Callable[[float], str]
    tick_fmt: Callable[[float], str] | None = None
    reduce: str = "mean"
    vrange: tuple[float, float] | None = None
    #: the value where colour turns from red to green (a margin's 0: failing is never green)
    center: float | None = None


_KIND_FMT: dict[str, Callable[[float], str]] = {
    "rate": fmt_rate,
    "duration": partial(fmt_duration, compact=True),
    "count": fmt_count,
    "ratio": fmt_ratio,
    "margin": fmt_margin,
}


def metric_spec(title: str, direction: str, kind: str) -> HeatSpec:
    """A plain metric's spec: ``kind`` is rate, duration, count, ratio or margin."""
    better = "higher" if direction == "max" else "lower"
    return HeatSpec(f"{title} ({better} is better)", direction, _KIND_FMT[kind])


#: pass/fail per setting: the share of its runs that meet every SLO check
SLO_PASS = HeatSpec("SLO: PASS when every run meets every check (colour: share of runs that do)", "max",
                    lambda v: "PASS" if v >= 1.0 else "FAIL", tick_fmt=lambda v: f"{v:.0%} pass",
                    vrange=(0.0, 1.0))
#: the binding check's margin (worst run, worst check; see reports.ranking), its metric beneath
SLO_MARGIN = HeatSpec("SLO margin of the binding check (worst run; + inside, - outside the threshold)", "max",
                      fmt_margin, reduce="worst", center=0.0)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _categories(points: Sequence[Mapping[str, Any]], name: str) -> tuple[list[str], list[int]]:
    """Tick labels of a parameter's rows/columns and each point's index among them."""
    values = [p["params"].get(name) for p in points]
    labels = [str((p.get("labels") or {}).get(name, fmt_param(p["params"].get(name)))) for p in points]
    keys = [repr(v) for v in values]
    distinct = list(dict.fromkeys(keys))
    numeric = all(_is_num(v) for v in values)
    if numeric and len(distinct) > MAX_CATEGORIES:
        arr = np.array(values, dtype=float)
        lo, hi = float(arr.min()), float(arr.max())
        edges = np.linspace(lo, hi, BINS + 1)
        idx = np.clip(np.searchsorted(edges, arr, side="right") - 1, 0, BINS - 1)
        ticks = [f"{fmt_param(float(edges[i]), 4)}-{fmt_param(float(edges[i + 1]), 4)}" for i in range(BINS)]
        return ticks, [int(i) for i in idx]
    order = sorted(distinct, key=lambda k: float(values[keys.index(k)])) if numeric else distinct
    pos = {k: i for i, k in enumerate(order)}
    ticks = [labels[keys.index(k)] for k in order]
    return ticks, [pos[k] for k in keys]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _cell_values(pts: Sequence[Mapping[str, Any]], metric: str, yi: Sequence[int], xi: Sequence[int],
                 shape: tuple[int, int], worst: bool, direction: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
    """(value per cell: mean, or the worst setting's; settings per cell; cells where some value is
    infinite: "never"; each cell's note, from its worst setting)."""
    sums = np.zeros(shape)
    counts = np.zeros(shape, dtype=int)
    never = np.zeros(shape, dtype=bool)
    worst_v = np.full(shape, np.nan)
    notes = [["" for _ in range(shape[1])] for _ in range(shape[0])]
    sign = 1.0 if direction == "max" else -1.0  # worst = lowest for "max" metrics
    for p, i, j in zip(pts, yi, xi, strict=True):
        v = (p.get("metrics") or {}).get(metric)
        if v is None:
            continue
        v = float(v)
        counts[i, j] += 1
        note = str((p.get("notes") or {}).get(metric, ""))
        if math.isinf(v):
            never[i, j] = True
            notes[i][j] = note
            continue
        sums[i, j] += v
        if not never[i, j] and (np.isnan(worst_v[i, j]) or sign * v < sign * worst_v[i, j]):
            worst_v[i, j] = v
            notes[i][j] = note
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where((counts > 0) & ~never, sums / np.maximum(counts, 1), np.nan)
    grid = np.where(~never, worst_v, np.nan) if worst else mean
    return grid, counts, never, notes


def _color_range(grid: np.ndarray, spec: HeatSpec) -> tuple[float, float]:
    if spec.vrange is not None:
        return spec.vrange
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax <= vmin:  # one value everywhere: a narrow band around it
        eps = max(abs(vmin) * 0.01, 1e-6)
        vmin, vmax = vmin - eps, vmax + eps
        if spec.fmt is fmt_rate:  # a rate stays within [0, 1]; 100 % everywhere shows as good
            vmin, vmax = max(0.0, vmin), min(1.0, vmax)
    return vmin, vmax


def colorbar_ticks(vmin: float, vmax: float, fmt: Callable[[float], str], most: int = 6) -> list[float]:
    """Colourbar ticks within ``[vmin, vmax]`` whose labels all differ: the most "nice" ticks (up
    to ``most``) that ``fmt`` tells apart, else the two ends, else the middle alone. (A compact
    duration shows 118.2 min and 118.6 min both as ``118 min``: ticks every 0.2 min repeated labels.)"""
    for n in range(most, 1, -1):
        ticks = [float(t) for t in MaxNLocator(nbins=n).tick_values(vmin, vmax)
                 if vmin - 1e-12 * abs(vmin) <= t <= vmax + 1e-12 * abs(vmax)]
        labels = [fmt(t) for t in ticks]
        if len(ticks) >= 2 and len(set(labels)) == len(labels):
            return ticks
    if fmt(vmin) != fmt(vmax):
        return [vmin, vmax]
    return [(vmin + vmax) / 2]


def _label_cells(ax: Any, im: Any, grid: np.ndarray, counts: np.ndarray, never: np.ndarray,
                 notes: Sequence[Sequence[str]], fmt: Any) -> None:
    """Each cell's value (and note), in black or white by the shade under it ("never", "-": no runs)."""
    rows, cols = grid.shape
    if rows > 16 or cols > 16:
        return
    for i in range(rows):
        for j in range(cols):
            if never[i, j]:
                text, color = "never", "#333333"
            elif counts[i, j] == 0:
                text, color = "-", "#777777"
            else:
                text = fmt(grid[i, j])
                color = "black" if 0.25 < float(im.norm(grid[i, j])) < 0.8 else "white"
            if notes[i][j] and counts[i, j]:
                text += "\n" + notes[i][j]
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)


def _save_figure(fig: Any, out_dir: str | Path, base: str, formats: Sequence[str]) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in formats:
        path = out / f"{base}.{f}"
        fig.savefig(path, format=f, dpi=110, metadata={"Date": None} if f == "svg" else {})
        paths.append(path)
    plt.close(fig)
    return paths


def heatmap_figure(
    points: Sequence[Mapping[str, Any]],
    x: str,
    y: str | None,
    metric: str,
    spec: HeatSpec,
    *,
    highlight: Mapping[str, Any] | None = None,
    title: str = "",
) -> Any:
    """The matplotlib figure of one heatmap of ``metric`` over parameters ``x`` (columns) and
    ``y`` (rows; None: one row); the caller saves and closes it."""
    pts = [p for p in points if x in p["params"] and (y is None or y in p["params"])]
    if not pts:
        raise ValueError(f"no point has parameter {x!r}" + (f" and {y!r}" if y else ""))
    xt, xi = _categories(pts, x)
    yt, yi = ([""], [0] * len(pts)) if y is None else _categories(pts, y)
    grid, counts, never, notes = _cell_values(pts, metric, yi, xi, (len(yt), len(xt)), spec.reduce == "worst",
                                              spec.direction)
    cmap = colormaps["RdYlGn" if spec.direction == "max" else "RdYlGn_r"].with_extremes(bad="#d9d9d9")
    vmin, vmax = _color_range(grid, spec)
    norm = Normalize(vmin, vmax)
    if spec.center is not None:  # both sides of the centre, however lopsided the values
        span = max(vmax - vmin, 1e-9) * 0.05
        vmin, vmax = min(vmin, spec.center - span), max(vmax, spec.center + span)
        norm = TwoSlopeNorm(spec.center, vmin, vmax)
    with plt.rc_context(_RC):
        w = min(16.0, max(6.0, 2.6 + 0.85 * len(xt)))
        h = min(12.0, 1.9 + 0.55 * len(yt) * (1.4 if any(any(r) for r in notes) else 1.0))
        fig, ax = plt.subplots(figsize=(w, h), layout="constrained")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto",
                       origin="lower", interpolation="nearest")
        ax.set_xticks(range(len(xt)), xt, rotation=45 if len(xt) > 8 else 0, ha="right" if len(xt) > 8 else "center")
        ax.set_yticks(range(len(yt)), yt)
        ax.set_xlabel(x)
        if y is not None:
            ax.set_ylabel(y)
        for spine in ax.spines.values():
            spine.set_visible(False)
        _label_cells(ax, im, grid, counts, never, notes, spec.fmt)
        if highlight is not None:
            sel = [k for k, p in enumerate(pts) if p["params"].get(x) == highlight.get(x)
                   and (y is None or p["params"].get(y) == highlight.get(y))]
            for k in sel[:1]:
                ax.add_patch(Rectangle((xi[k] - 0.5, yi[k] - 0.5), 1, 1, fill=False, lw=2.2, ec="#1f4e9c"))
        tick_fmt = spec.tick_fmt or spec.fmt
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        ticks = colorbar_ticks(vmin, vmax, tick_fmt)
        if spec.center is not None:  # each side of the centre gets its own ticks (the norm stretches them)
            both = colorbar_ticks(vmin, spec.center, tick_fmt, 4) + colorbar_ticks(spec.center, vmax, tick_fmt, 3)
            ticks = list({tick_fmt(t): t for t in sorted(both)}.values())
        cb.set_ticks(ticks)
        cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: tick_fmt(v)))
        sub = f"{spec.title} over {x}" + (f" x {y}" if y else "")
        others = ""
        if _other_params(pts, x, y):
            others = f"; {'worst' if spec.reduce == 'worst' else 'mean'} over the other parameters"
        note = "; outlined: recommended" if highlight is not None else ""
        width = max(40, int(w * 11))
        ax.set_title("\n".join(textwrap.wrap(title, width) + textwrap.wrap(f"{sub}{others}{note}", width)))
        return fig


def heatmap(
    points: Sequence[Mapping[str, Any]],
    x: str,
    y: str | None,
    metric: str,
    out_dir: str | Path,
    spec: HeatSpec,
    *,
    highlight: Mapping[str, Any] | None = None,
    title: str = "",
    name: str | None = None,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Write one heatmap (:func:`heatmap_figure`) and return the file paths."""
    fig = heatmap_figure(points, x, y, metric, spec, highlight=highlight, title=title)
    base = name or f"heatmap_{metric}__{_slug(x)}" + (f"__{_slug(y)}" if y else "")
    return _save_figure(fig, out_dir, base, formats)


def _other_params(points: Sequence[Mapping[str, Any]], x: str, y: str | None) -> bool:
    for p in points:
        for k in p["params"]:
            if k not in (x, y) and len({repr(q["params"].get(k)) for q in points}) > 1:
                return True
    return False


def sweep_heatmaps(
    points: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    out_dir: str | Path,
    specs: Mapping[str, HeatSpec],
    *,
    highlight: Mapping[str, Any] | None = None,
    title: str = "",
    formats: Sequence[str] = ("png",),
    max_pairs: int = 6,
) -> dict[str, list[Path]]:
    """A heatmap of each metric of ``specs`` (in order) over each pair of swept parameters (first
    ``max_pairs`` pairs); one swept parameter gives one-row heatmaps; none gives nothing."""
    varying = [n for n in params if len({repr(p["params"].get(n)) for p in points}) > 1] or list(params[:1])
    if not varying or not points:
        return {}
    pairs: list[tuple[str, str | None]] = (
        list(itertools.combinations(varying, 2))[:max_pairs] if len(varying) >= 2 else [(varying[0], None)]
    )
    out: dict[str, list[Path]] = {}
    for metric, spec in specs.items():
        if not any((p.get("metrics") or {}).get(metric) is not None for p in points):
            continue
        for x, y in pairs:
            out.setdefault(metric, []).extend(
                heatmap(points, x, y, metric, out_dir, spec, highlight=highlight, title=title, formats=formats)
            )
    return out
