"""Dedicated capacity in a trace (:mod:`sim.capacity`): the load offered to it over time.

``meta["capacity"]["dedicated"]`` counts, per minute, what every pod offered each pool or
provisioned deployment, retries included. :func:`dedicated_load` turns that into a share of the
capacity per bin (1 = exactly what it serves); :func:`overload_sentence` says in words how long
it was over, and whether it stayed over once the faults had ended (a retry storm). The overload
chart (:mod:`reports.overload_charts`) and the "Why" section (:mod:`reports.why`) read these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .format import fmt_clock, fmt_duration

__all__ = ["dedicated_load", "overload_sentence"]


def dedicated_load(meta: Mapping[str, Any]) -> dict[str, tuple[float, np.ndarray]]:
    """Per dedicated capacity (``org`` or ``org/model``), (bin seconds, offered load per bin as a
    share of the capacity): a pool's service demand / (slots x bin), a provisioned deployment's
    tokens / (TPM x bin / 60)."""
    out: dict[str, tuple[float, np.ndarray]] = {}
    for org, per in ((meta.get("capacity") or {}).get("dedicated") or {}).items():
        for model, d in per.items():
            name = org if model == "*" else f"{org}/{model}"
            width = float(d["bin"])
            if d["kind"] == "pool":
                load = np.asarray(d["offered_seconds"], np.float64) / (d["slots"] * width)
            else:
                load = np.asarray(d["offered_tokens"], np.float64) / (d["tpm"] * width / 60.0)
            out[name] = (width, load)
    return out


def overload_sentence(name: str, loads: Sequence[tuple[float, np.ndarray]], faults_end: float | None) -> str:
    """How long ``name`` was offered more than it serves (the mean over ``loads``, one per seed),
    its peak, and how much of that came after ``faults_end`` (the last fault's end, if any)."""
    width = loads[0][0]
    over = float(np.mean([np.count_nonzero(x > 1.0) for _, x in loads])) * width
    peaks = [int(np.argmax(x)) for _, x in loads]
    peak = float(np.mean([x[p] for (_, x), p in zip(loads, peaks, strict=True)]))
    at = float(np.mean(peaks)) * width
    head = f"{name}'s dedicated capacity"
    if over == 0.0:
        return f"{head} was never offered more than it serves (peak {peak * 100:.0f} % of it)."
    text = (
        f"{head} was offered more than it serves for {fmt_duration(over)}, retries included "
        f"(peak {peak * 100:.0f} % of it at {fmt_clock(at)})"
    )
    if faults_end is not None:
        first = math.ceil(faults_end / width)
        after = float(np.mean([np.count_nonzero(x[first:] > 1.0) for _, x in loads])) * width
        if after > 0.0:
            text += (
                f"; {fmt_duration(after)} of that after the last fault had ended: the retries kept it "
                "overloaded (a retry storm)"
            )
        else:
            text += "; it was back under its capacity once the faults had ended"
    return text + "."
