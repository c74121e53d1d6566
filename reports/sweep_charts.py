"""Heatmaps of a sweep: one objective over two swept parameters (matplotlib, headless Agg).

Input is plain data — one point per parameter setting::

    {"params": {"threshold": 3, "base_open_time": 60.0},
     "labels": {"threshold": "3", "base_open_time": "60s"},      # optional, for tick labels
     "metrics": {"success_rate": 0.9991, "failover_time": 42.0, ...}}

A cell shows the mean of the metric over the settings that fall in it (when more than two
parameters are swept, that is the mean over the other parameters). ``failover_time`` may be
``inf`` ("never": traffic kept flowing to the faulted org): a cell with any "never" shows
"never" in grey. A parameter with more than :data:`MAX_CATEGORIES` distinct numeric values (random
search) is binned into equal-width bins. Colours: green is good, red is bad, whichever direction
the metric is optimized in. The recommended setting's cell (``highlight``) is outlined.

    sweep_heatmaps(points, ["threshold", "base_open_time"], "out/charts", highlight=rec_params)
    # → {"success_rate": [heatmap_success_rate__threshold__base_open_time.png], ...}
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .format import fmt_count, fmt_duration, fmt_param, fmt_rate

__all__ = ["MAX_CATEGORIES", "METRICS", "heatmap", "sweep_heatmaps"]

#: most distinct values shown as their own row/column before binning
MAX_CATEGORIES = 12
BINS = 8
_RC = {"font.size": 9, "axes.titlesize": 10}


#: metric → (title, direction, cell formatter)
METRICS: dict[str, tuple[str, str, Any]] = {
    "success_rate": ("success rate (higher is better)", "max", fmt_rate),
    "failover_time": ("failover time (lower is better)", "min", partial(fmt_duration, compact=True)),
    "wasted_attempts": ("wasted attempts per run (lower is better)", "min", fmt_count),
    "flapping": ("flapping: open→close cycles per run (lower is better)", "min", fmt_count),
}


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


def _cell_means(pts: Sequence[Mapping[str, Any]], metric: str, yi: Sequence[int], xi: Sequence[int],
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean per cell, runs per cell, cells where some run never got there: inf)."""
    sums = np.zeros(shape)
    counts = np.zeros(shape, dtype=int)
    never = np.zeros(shape, dtype=bool)
    for p, i, j in zip(pts, yi, xi, strict=True):
        v = (p.get("metrics") or {}).get(metric)
        if v is None:
            continue
        v = float(v)
        if math.isinf(v):
            never[i, j] = True
            counts[i, j] += 1
            continue
        sums[i, j] += v
        counts[i, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where((counts > 0) & ~never, sums / np.maximum(counts, 1), np.nan)
    return grid, counts, never


def _color_range(grid: np.ndarray, metric: str) -> tuple[float, float]:
    finite = grid[np.isfinite(grid)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax <= vmin:  # one value everywhere: a narrow band around it
        eps = max(abs(vmin) * 0.01, 1e-6)
        vmin, vmax = vmin - eps, vmax + eps
        if metric == "success_rate":  # a rate stays within [0, 1]; 100 % everywhere shows as good
            vmin, vmax = max(0.0, vmin), min(1.0, vmax)
    return vmin, vmax


def _label_cells(ax: Any, im: Any, grid: np.ndarray, counts: np.ndarray, never: np.ndarray, fmt: Any) -> None:
    """Each cell's value, in black or white by the shade under it ("never", "-": no runs)."""
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


def heatmap(
    points: Sequence[Mapping[str, Any]],
    x: str,
    y: str | None,
    metric: str,
    out_dir: str | Path,
    *,
    highlight: Mapping[str, Any] | None = None,
    title: str = "",
    name: str | None = None,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """Write one heatmap of ``metric`` over parameters ``x`` (columns) and ``y`` (rows; None: one
    row) and return the file paths."""
    if metric not in METRICS:
        raise ValueError(f"unknown sweep metric {metric!r} (known: {', '.join(METRICS)})")
    mtitle, direction, fmt = METRICS[metric]
    pts = [p for p in points if x in p["params"] and (y is None or y in p["params"])]
    if not pts:
        raise ValueError(f"no point has parameter {x!r}" + (f" and {y!r}" if y else ""))
    xt, xi = _categories(pts, x)
    yt, yi = ([""], [0] * len(pts)) if y is None else _categories(pts, y)
    grid, counts, never = _cell_means(pts, metric, yi, xi, (len(yt), len(xt)))
    cmap = colormaps["RdYlGn" if direction == "max" else "RdYlGn_r"].with_extremes(bad="#d9d9d9")
    vmin, vmax = _color_range(grid, metric)
    with plt.rc_context(_RC):
        w = min(16.0, max(6.0, 2.6 + 0.85 * len(xt)))
        h = min(12.0, 1.9 + 0.55 * len(yt))
        fig, ax = plt.subplots(figsize=(w, h), layout="constrained")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                       origin="lower", interpolation="nearest")
        ax.set_xticks(range(len(xt)), xt, rotation=45 if len(xt) > 8 else 0, ha="right" if len(xt) > 8 else "center")
        ax.set_yticks(range(len(yt)), yt)
        ax.set_xlabel(x)
        if y is not None:
            ax.set_ylabel(y)
        for spine in ax.spines.values():
            spine.set_visible(False)
        _label_cells(ax, im, grid, counts, never, fmt)
        if highlight is not None:
            sel = [k for k, p in enumerate(pts) if p["params"].get(x) == highlight.get(x)
                   and (y is None or p["params"].get(y) == highlight.get(y))]
            for k in sel[:1]:
                ax.add_patch(Rectangle((xi[k] - 0.5, yi[k] - 0.5), 1, 1, fill=False, lw=2.2, ec="#1f4e9c"))
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt(v)))
        sub = f"{mtitle} over {x}" + (f" x {y}" if y else "")
        others = "; mean over the other parameters" if _other_params(pts, x, y) else ""
        note = "; outlined: recommended" if highlight is not None else ""
        width = max(40, int(w * 11))
        ax.set_title("\n".join(textwrap.wrap(title, width) + textwrap.wrap(f"{sub}{others}{note}", width)))
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
    *,
    metrics: Sequence[str] = tuple(METRICS),
    highlight: Mapping[str, Any] | None = None,
    title: str = "",
    formats: Sequence[str] = ("png",),
    max_pairs: int = 6,
) -> dict[str, list[Path]]:
    """A heatmap of each metric over each pair of swept parameters (first ``max_pairs`` pairs);
    one swept parameter gives one-row heatmaps; none gives nothing."""
    varying = [n for n in params if len({repr(p["params"].get(n)) for p in points}) > 1] or list(params[:1])
    if not varying or not points:
        return {}
    pairs: list[tuple[str, str | None]] = (
        list(itertools.combinations(varying, 2))[:max_pairs] if len(varying) >= 2 else [(varying[0], None)]
    )
    out: dict[str, list[Path]] = {}
    for metric in metrics:
        if not any((p.get("metrics") or {}).get(metric) is not None for p in points):
            continue
        for x, y in pairs:
            out.setdefault(metric, []).extend(
                heatmap(points, x, y, metric, out_dir, highlight=highlight, title=title, formats=formats)
            )
    return out
