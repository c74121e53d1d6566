"""The SLO vocabulary: metric names, phases, thresholds, and the one walker over a scenario's
``slo`` section. The loader checks an SLO with it, ``reports`` judges traces with it, the
pytest plugin and ``search`` read it; none of them walks an SLO section on its own.

An ``slo`` section has two accepted forms::

    slo: {success_rate: ">= 99.9%", detection_time: {fault: "<= 5m"}}      # mapping
    slo: [{metric: success_rate, phase: "during:launch", threshold: ">= 99%"}]   # list

Phases: ``overall``, ``fault`` (per-fault metrics), ``before``/``during``/``after`` a fault, each
optionally ``:<fault label>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from multiorg.units import seconds

__all__ = [
    "MISSING",
    "PHASES",
    "SLO_ALIASES",
    "SLO_METRICS",
    "SloEntry",
    "SloMetric",
    "Threshold",
    "canonical_metric",
    "parse_threshold",
    "scaled_slo",
    "slo_entries",
    "slo_items",
]

#: what a malformed list entry's threshold reads as in :func:`slo_entries`
MISSING: Any = object()

#: the phases an SLO check may name (before ``:<label>``)
PHASES = ("overall", "before", "during", "after", "fault")


@dataclass(frozen=True)
class Threshold:
    op: str
    value: float
    text: str

    def holds(self, x: float) -> bool:
        return {
            ">=": x >= self.value,
            "<=": x <= self.value,
            ">": x > self.value,
            "<": x < self.value,
            "==": x == self.value,
        }[self.op]


@dataclass(frozen=True)
class SloMetric:
    field: str  # the attribute of the reports' phase / fault results that holds the value
    where: str  # "phase" | "fault" | "wasted"
    unit: str  # "rate" | "duration" | "count"
    default_op: str
    #: a count of requests or attempts: it grows with traffic, so :func:`scaled_slo` scales it
    per_volume: bool = False


SLO_METRICS: dict[str, SloMetric] = {
    "success_rate": SloMetric("success_rate", "phase", "rate", ">="),
    "session_success_rate": SloMetric("session_success_rate", "phase", "rate", ">="),
    "p50_latency": SloMetric("latency_p50", "phase", "duration", "<="),
    "p95_latency": SloMetric("latency_p95", "phase", "duration", "<="),
    "p99_latency": SloMetric("latency_p99", "phase", "duration", "<="),
    "retry_amplification": SloMetric("retry_amplification", "phase", "count", "<="),
    "failed_requests": SloMetric("failed_requests", "phase", "count", "<=", per_volume=True),
    "failover_time": SloMetric("failover_time_max", "fault", "duration", "<="),
    "failover_time_median": SloMetric("failover_time_median", "fault", "duration", "<="),
    "detection_time": SloMetric("detection_time", "fault", "duration", "<="),
    "recovery_time": SloMetric("recovery_time", "fault", "duration", "<="),
    "close_time": SloMetric("close_time", "fault", "duration", "<="),
    "user_visible_failures": SloMetric("user_visible_failures", "fault", "count", "<=", per_volume=True),
    "wasted_attempts": SloMetric("wasted_attempts", "wasted", "count", "<=", per_volume=True),
}
SLO_ALIASES = {
    "latency_p50": "p50_latency",
    "latency_p95": "p95_latency",
    "latency_p99": "p99_latency",
    "breaker_close_time": "close_time",
    "breakers_closed_within": "close_time",
    "every_breaker_closes_within": "close_time",
    "failover_time_max": "failover_time",
    "amplification": "retry_amplification",
}


def canonical_metric(metric: str) -> str:
    """The metric's own name for an alias (``latency_p99`` → ``p99_latency``); else unchanged."""
    return SLO_ALIASES.get(metric, metric)


_THRESH = re.compile(r"^\s*(>=|<=|==|=|>|<|≥|≤)?\s*(.+?)\s*$")
_THRESH_HELP = "use e.g. '>= 99.9%', '<= 5m', '< 2s'"


def parse_threshold(text: Any, metric: str | None = None) -> Threshold:
    """Parse ``">= 99.9%"``, ``"<= 5m"``, ``"< 2s"``, ``"<= 500"`` (or a bare number).

    Percentages become fractions. A rate written without ``%`` and above 1 is read as a
    percentage (``">= 99.9"`` = 99.9 %). Durations use :func:`multiorg.units.seconds`. Without an
    operator the metric's natural one is used (``>=`` for rates, ``<=`` otherwise).
    """
    spec = SLO_METRICS.get(canonical_metric(metric or ""))
    raw = str(text)
    m = _THRESH.match(raw)
    if not m or not m.group(2):
        raise ValueError(f"not a threshold: {raw!r} ({_THRESH_HELP})")
    op = {"=": "==", "≥": ">=", "≤": "<="}.get(m.group(1) or "", m.group(1) or "")
    if not op:
        op = spec.default_op if spec else "<="
    body = m.group(2).replace(" ", "").replace("_", "")
    try:
        if body.endswith("%"):
            value = float(body[:-1]) / 100.0
        else:
            try:
                value = float(body)
                if spec is not None and spec.unit == "rate" and value > 1.0:
                    value /= 100.0
            except ValueError:
                value = float(seconds(m.group(2)))
    except ValueError:
        raise ValueError(f"not a threshold: {raw!r} ({_THRESH_HELP})") from None
    if not math.isfinite(value):
        raise ValueError(f"not a threshold: {raw!r}")
    return Threshold(op, value, f"{op} {m.group(2).strip()}")


@dataclass(frozen=True)
class SloEntry:
    """One check of an ``slo`` section as written: where it is (for error messages), the metric
    and phase as written, and the threshold (:data:`MISSING` for a malformed list entry; ``None``
    for a metric mapped to an empty ``{}``, whose ``phase`` is then ``""``)."""

    path: tuple[Any, ...]
    metric: str
    phase: str
    threshold: Any


def slo_entries(slo: Any) -> Iterator[SloEntry]:
    """Every check of an ``slo`` section, in the order written — the one walker over SLOs.
    Raises ``ValueError`` when ``slo`` is neither a mapping nor a list."""
    if isinstance(slo, Mapping):
        for metric, spec in slo.items():
            if isinstance(spec, Mapping):
                if not spec:
                    yield SloEntry(("slo", metric), str(metric), "", None)
                for phase, th in spec.items():
                    yield SloEntry(("slo", metric, phase), str(metric), str(phase), th)
            else:
                yield SloEntry(("slo", metric), str(metric), "overall", spec)
    elif isinstance(slo, (list, tuple)):
        for i, entry in enumerate(slo):
            if not isinstance(entry, Mapping) or "metric" not in entry or "threshold" not in entry:
                yield SloEntry(("slo", i), "", "", MISSING)
                continue
            yield SloEntry(("slo", i), str(entry["metric"]), str(entry.get("phase", "overall")), entry["threshold"])
    else:
        raise ValueError(f"SLO must be a mapping or a list, got {type(slo).__name__}")


_PHASE_RANK = {"overall": 0, "fault": 1, "before": 2, "during": 3, "after": 4}


def slo_items(slo: Any) -> list[tuple[str, str, Any]]:
    """``(metric, phase, threshold)`` of every check, in one canonical order (by metric, then
    phase) whatever order the section was written in. Raises ``ValueError`` on a malformed entry."""
    items = []
    for e in slo_entries(slo):
        if e.threshold is MISSING:
            raise ValueError(f"SLO entry needs 'metric' and 'threshold': {slo[e.path[-1]]!r}")
        if e.phase:
            items.append((e.metric, e.phase, e.threshold))
    order = {m: i for i, m in enumerate(SLO_METRICS)}

    def key(item: tuple[str, str, Any]) -> tuple[int, str, int, str]:
        name = canonical_metric(item[0])
        base, _, label = item[1].partition(":")
        return (order.get(name, len(order)), name, _PHASE_RANK.get(base, 9), label)

    return sorted(items, key=key)


def scaled_slo(slo: Any, factor: float) -> Any:
    """``slo`` for a world with ``factor`` x the traffic: thresholds on counts of requests or
    attempts (:attr:`SloMetric.per_volume`: wasted attempts, failed requests, user-visible
    failures) are multiplied by ``factor`` (to 6 significant digits); rates, durations and
    ratios are kept. Same form as given (mapping or list); the input is not changed."""
    if factor == 1.0 or not slo:
        return slo

    def scale(metric: str, th: Any) -> Any:
        spec = SLO_METRICS.get(canonical_metric(metric))
        if spec is None or not spec.per_volume or th is None or th is MISSING:
            return th
        t = parse_threshold(th, metric)
        return f"{t.op} {float(f'{t.value * factor:.6g}'):g}"

    if isinstance(slo, Mapping):
        out: dict[str, Any] = {}
        for metric, spec in slo.items():
            if isinstance(spec, Mapping):
                out[metric] = {ph: scale(str(metric), th) for ph, th in spec.items()}
            else:
                out[metric] = scale(str(metric), spec)
        return out
    return [
        {**e, "threshold": scale(str(e["metric"]), e["threshold"])}
        if isinstance(e, Mapping) and "metric" in e and "threshold" in e else e
        for e in slo
    ]
