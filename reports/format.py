"""Every human-readable figure the lab prints — rates, durations, counts, ratios, clock times —
formatted in one place, for the CLI, Markdown, HTML, charts, sweeps, search and notebooks.

A success rate shows as many decimals as it has nines (``99.987 %``), a duration picks its unit
(``850 ms``, ``90.0 s``, ``2.5 min``; compact for charts, ``90 s``; or spelled as a scenario file
writes it, ``1m30s``), a count gets thousands separators. ``format_metric`` picks the right one
for an SLO metric's name. One function per kind of figure: a variant is a parameter, not a copy.
"""

from __future__ import annotations

import math

from .schema import Stat

__all__ = [
    "duration_unit",
    "fmt_clock",
    "fmt_count",
    "fmt_duration",
    "fmt_margin",
    "fmt_param",
    "fmt_rate",
    "fmt_ratio",
    "fmt_share",
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


#: (the unit's size in seconds, its symbol), largest first: a duration shows in the largest unit
#: it spans twice (90 s, 2.5 min, 3.0 h), below a second in milliseconds
_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))
#: the scenario-file spelling (``multiorg.units.seconds`` reads it back): 1h30m, 250ms
_SPEC_UNITS = ((86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


def duration_unit(seconds: float) -> tuple[float, str]:
    """(seconds per unit, symbol) in which :func:`fmt_duration` shows ``seconds``; charts scale
    an axis by it."""
    a = abs(seconds)
    for size, symbol in _UNITS:
        if a >= 2 * size or (size == 1.0 and a >= 1):
            return size, symbol
    return 0.001, "ms"


def fmt_duration(
    v: float | None,
    never: str = "never",
    extra: int = 0,
    *,
    compact: bool = False,
    spec: bool = False,
) -> str:
    """A duration in the unit that reads best: 90 → ``90.0 s``, 0.85 → ``850 ms``, 150 → ``2.5 min``
    (``extra`` more decimals). ``compact``: three significant digits, for chart labels and ticks
    (``90 s``, ``1.5 min``). ``spec``: as a scenario file writes it, exact (``1m30s``, ``250ms``).
    ``None`` (the thing never happened) → ``never``."""
    if v is None:
        return never
    if spec:
        if not math.isfinite(v):
            return str(v)
        if 0 < abs(v) < 1:
            return f"{v * 1000:g}ms"
        if v != int(v) or v < 60:
            return f"{v:g}s"
        parts, rest = [], int(v)
        for size, unit in _SPEC_UNITS:
            if rest >= size:
                parts.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(parts)
    size, symbol = duration_unit(v)
    x = v / size
    if compact:
        text = f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    else:
        text = f"{x:.{extra if symbol == 'ms' else 1 + extra}f}"
    return f"{text} {symbol}"


def fmt_count(v: float | None, *, compact: bool = False) -> str:
    """A count with thousands separators (``12,345``); ``compact``: two significant digits
    with a k/M/B suffix, for rates and axis ticks (``6.4M``, ``850k``, ``120``)."""
    if v is None:
        return "\u2013"
    if compact and abs(v) >= 1000:
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= size * 0.9995:
                x = v / size
                return f"{x:.2g}{suffix}" if abs(x) < 10 else f"{x:,.0f}{suffix}"
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 or abs(v) >= 100 else f"{v:,.1f}"


def fmt_share(v: float | None) -> str:
    """A part of a whole, to two significant digits: ``97 %``, ``3.3 %``, ``0.41 %``
    (:func:`fmt_rate` is for success rates, which need their nines)."""
    if v is None:
        return "\u2013"
    if v >= 1.0 or v <= 0.0:
        return f"{round(max(0.0, min(v, 1.0)) * 100)} %"
    x = v * 100
    if x >= 99.5:  # 99.6 %, not a 100 % that is not all
        return f"{x:.{min(3, max(1, math.ceil(-math.log10(100 - x))))}f} %"
    return f"{x:.0f} %" if x >= 9.95 else f"{_sig(x)} %"


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


def fmt_param(v: object, digits: int = 6, *, flow: bool = False) -> str:
    """A parameter's value as a grid or a scenario writes it: ``true``, ``0.25``, ``null``,
    ``a+b`` (a list; a set in sorted order); floats to ``digits`` significant digits (a chart's
    bin edges: fewer). ``flow``: a list as a YAML flow sequence, ``[a, b]`` (``[]`` when empty),
    as a scenario file writes it."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, (list, tuple, set, frozenset)):
        items = [fmt_param(x, digits, flow=flow) for x in v]
        if isinstance(v, (set, frozenset)):
            items.sort()  # set order is hash order, which varies between runs
        return f"[{', '.join(items)}]" if flow else "+".join(items)
    return str(v)


def fmt_ratio(v: float | None) -> str:
    return "\u2013" if v is None else f"{v:.3f}"


def fmt_margin(v: float | None) -> str:
    """A signed SLO margin (a share of the threshold, see :mod:`reports.ranking`): ``+12 %``,
    ``-35 %``, ``+3.4 %``; ``-inf`` (a duration that never happened) → ``never``; None → an en dash."""
    if v is None:
        return "\u2013"
    if math.isinf(v):
        return "never" if v < 0 else "+inf"
    pct = abs(v) * 100
    text = f"{pct:,.0f}" if pct >= 10 else f"{pct:.2g}"
    return ("+" if v > 0 else "-" if v < 0 else "") + text + " %"


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
