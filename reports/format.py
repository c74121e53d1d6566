"""Every human-readable figure the lab prints — rates, durations, counts, ratios, clock times —
formatted in one place, for the CLI, Markdown, HTML, charts, sweeps, search and notebooks.

A success rate shows as many decimals as it has nines (``99.987 %``), a duration picks its unit
(``850 ms``, ``90.0 s``, ``2.5 min``), a count gets thousands separators. ``format_metric`` picks
the right one for an SLO metric's name.
"""

from __future__ import annotations

import math

from .schema import Stat

__all__ = [
    "fmt_clock",
    "fmt_count",
    "fmt_duration",
    "fmt_rate",
    "fmt_ratio",
    "fmt_stat",
    "format_metric",
]



def fmt_rate(v: float | None, extra: int = 0) -> str:
    """A success rate with enough decimals to show its nines: 0.99987 → ``99.987 %``
    (``extra`` more decimals: 0.99896 → ``99.90 %``, with ``extra=1`` ``99.896 %``)."""
    if v is None:
        return "\u2013"
    if v >= 1.0:
        return "100 %"
    if v <= 0.0:
        return "0 %"
    return f"{v * 100:.{_rate_digits(v) + extra}f} %"


def _rate_digits(v: float) -> int:
    if v >= 1.0 or v <= 0.0:
        return 0
    return min(4, max(2, math.ceil(-math.log10(1.0 - v)) - 1))


def _sig(x: float, n: int = 2) -> str:
    """``x`` with ``n`` significant digits, never in exponent notation."""
    if x == 0 or not math.isfinite(x):
        return "0"
    decimals = max(0, n - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def fmt_duration(v: float | None, never: str = "never", extra: int = 0) -> str:
    if v is None:
        return never
    a = abs(v)
    d = 1 + extra
    if a < 1:
        return f"{v * 1000:.{extra}f} ms"
    if a < 120:
        return f"{v:.{d}f} s"
    if a < 2 * 3600:
        return f"{v / 60:.{d}f} min"
    if a < 2 * 86400:
        return f"{v / 3600:.{d}f} h"
    return f"{v / 86400:.{d}f} d"


def fmt_count(v: float | None) -> str:
    if v is None:
        return "\u2013"
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 or abs(v) >= 100 else f"{v:,.1f}"


def fmt_clock(seconds: float) -> str:
    """Sim time as ``d1 02:00`` (day index, then time of day)."""
    d, rem = divmod(round(seconds), 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    t = f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    return f"d{d} {t}" if d or seconds >= 86400 else t


def fmt_stat(st: Stat, kind: str) -> str:
    """mean, ± half the 95 % interval when there are seeds to have one; 'never' when undefined."""
    f = {"rate": fmt_rate, "duration": fmt_duration, "count": fmt_count, "ratio": fmt_ratio}[kind]
    if st.mean is None:
        return "never" if kind == "duration" and st.n else "\u2013"
    text = f(st.mean)
    if st.ci_low is not None and st.ci_high is not None and st.ci_high > st.ci_low:
        half = (st.ci_high - st.ci_low) / 2
        if abs((st.ci_high - st.mean) - (st.mean - st.ci_low)) > 1e-9 * max(1.0, abs(st.mean)):
            # clipped where the metric cannot go (below 0, above 100 %): the interval, not a ±
            text += f" (95 %: {f(st.ci_low)} \u2013 {f(st.ci_high)})"
        elif kind == "rate":
            if half * 100 >= 0.5 * 10 ** -_rate_digits(st.mean):  # else below the shown precision
                text += f" ± {_sig(half * 100)} pp"
        elif kind == "duration":
            if half >= max(1e-3, 1e-4 * abs(st.mean)):
                text += f" ± {fmt_duration(half)}"
        elif kind == "ratio":
            if half >= 0.0005:
                text += f" ± {_sig(half)}"
        else:
            text += f" ± {fmt_count(half) if half >= 10 else _sig(half)}"
    if kind == "duration" and st.n_none:
        text += f" (never in {st.n_none}/{st.n})"
    return text


def fmt_ratio(v: float | None) -> str:
    return "\u2013" if v is None else f"{v:.3f}"


def format_metric(metric: str, value: float | None, *, precise: bool = False) -> str:
    """``value`` as the reports show ``metric``; ``precise``: one more digit, for a value judged
    against a threshold (99.896 % must not read as the 99.90 % that would pass ">= 99.9%")."""
    extra = 1 if precise else 0
    if value is None:
        return "never" if metric.endswith("_time") or "latency" in metric else "\u2013"
    if "rate" in metric and "amplification" not in metric:
        return fmt_rate(value, extra)
    if metric.endswith("_time") or "latency" in metric:
        return fmt_duration(value, extra=extra)
    if metric == "retry_amplification":
        return fmt_ratio(value)
    return fmt_count(value)
