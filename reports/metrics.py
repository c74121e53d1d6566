"""Metrics from simulation traces: the numbers a policy comparison is judged on.

Everything here is computed from a :class:`sim.trace.Trace` (any object with ``requests``,
``attempts``, ``events`` column dicts and a ``meta`` dict) with vectorized numpy, so a trace of
a million requests takes about a second.

Definitions (the design contract's "Headline metrics", made precise)
--------------------------------------------------------------------

docs/metrics.md has them all, with the constants; :data:`METRIC_DOCS` their one-line forms, for
the report's footnotes.

A request **succeeds** when its outcome is 2xx (``success`` or ``slow``); every other outcome —
including ``client_error`` and -1 "no org available" — is a failure the user saw. A **session**
is the set of requests sharing a ``session`` id >= 0; it succeeds only if all its requests do. A
request with session -1 is a session of its own. A session belongs to the phase in which its
first request arrived.

**Fault windows.** A fault ``{kind, target, start, end, label}`` is active on ``[start, end)``;
a missing ``end`` (or one past the run) is clipped to the run's duration. The target resolves to
orgs: an org name → that org; a vendor name → all its orgs; ``"*"`` → every org;
``"store"`` or a pod (``pod-3``) → no org. ``vendor:NAME`` and ``org:NAME`` are understood,
and ``ORG/MODEL`` or ``ORG:MODEL`` count as the org (attempts carry no model).
A fault is an **org fault** (org metrics apply) when its target resolves to orgs and its kind
is not a traffic, clock or store fault (kinds containing ``surge``, ``traffic``, ``skew``,
``clock``, ``redis``, ``store``, ``partition``); a fault dict may say ``org_fault: true|false``
explicitly.

Traffic surges (``meta["surges"]``: start, end, factor, label) are appended as non-org windows
of kind ``surge`` unless a fault already covers the same window, so "during the launch" is a
phase an SLO can name.

**Phases** of a fault: ``before`` = [0, onset), ``during`` = [onset, end), ``after`` =
[end, run end). Requests belong to the phase in which they arrived; traffic share counts
attempts by their start.

Per org fault (each is **hard** — the target can serve nothing — or **partial**, by its kind and
parameters in ``meta["faults"][i]["params"]``: :func:`fault_shape`):

* **failover time** — per pod: take the pod's regular (non-probe) attempts on the target's orgs
  that started in the window; the failover moment is the start of the last one, and failover
  time = that moment - onset (0 when the pod sent none). It is **never** (``None``) when that
  last attempt is within the *tail tolerance* of the window's end, i.e. regular traffic kept
  flowing until the fault ended. Tail tolerance = max(1 % of the window clipped to [1 s, 60 s],
  3 x the median gap between the pod's regular target attempts in the window, the onset counting
  as the first point) — so a sparse pod still counts as "still sending". Pods considered: every
  pod with a request arriving in the window or an attempt on the target in it. Reported: max over
  pods and median over pods (a "never" pod counts as +∞; a result of +∞ is "never").
* **time to shed** — onset → the last *fed* regular attempt on the target: one at which the
  target's share of the regular attempts of the SHED_WINDOW (60 s) before it, within the window,
  is at least SHED_FRACTION (10 %) of its **healthy share** (its share in the HEALTHY_LOOKBACK,
  1 h, before onset; else its even share among its vendors' orgs); 0 when none is fed; never
  when the last is within the tail tolerance of the end. A flapping fault: the median over its
  sick spells. The **headline** (``shed_or_failover_time``) is failover for a hard fault and
  time to shed for a partial one; **share kept** is the target's regular share during the fault
  / its healthy share.
* **detection time** — onset → the first OPENED event on a target org in the window (any pod,
  any model); ``None`` = never.
* **recovery time** — fault end → the start of the first successful regular attempt on a target
  org at or after the end (any pod); ``None`` when none before the run ends (always for a fault
  that lasts until the end).
* **close time** — fault end → the moment every breaker of a target org is closed (0 when all
  already are); ``None`` when some breaker is not closed by the end of the run.
* **user-visible failures** — requests that failed (not 2xx, and not ``client_error``, which is
  the caller's own fault) and either made an attempt on a target org that started in the window,
  or arrived in the window and failed with "no org available". For a non-org fault: failed
  requests that arrived in the window (from that pod, for a pod fault).
* **wasted attempts** — attempts (probes included) on a target org that started in the window
  (``wasted_probes``: the probes among them). Per policy, ``wasted_attempts`` counts every attempt
  that falls in any org fault's window on its target once (``wasted_total``), and
  ``failures_total`` counts each request that is a user-visible failure of any fault once.

Per run: **alerts per day** = OPENED events / (duration / 86400 s).

Per phase: requests, failed requests, success rate, sessions, session success rate, no-org
failures, attempts and **retry amplification** (attempts made for the phase's requests / its
requests), **user latency** (end - arrival of every request, failures included) p50/p95/p99,
and each org's **traffic share** (share of the attempts started in the phase).

Breakers: a breaker is an (org, model) — per (pod, org, model) when breaker state is local to
each pod (``meta["state"] == "local"``). Its timeline starts CLOSED at 0; each event sets its
state (OPENED → open, HALF_OPEN → half-open, CLOSED → closed). **time open** / **time
half-open** are summed over the run; a **cycle** is a CLOSED event preceded (since the previous
CLOSED) by an OPENED one — the flapping count.

Across seeds each number becomes a :class:`reports.schema.Stat`: mean over seeds where defined
and a two-sided 95 % Student-t interval.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import numpy as np

from faults.models import FAULT_KINDS
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.slo import PHASES as SLO_PHASES
from sim.slo import SLO_METRICS, Threshold, canonical_metric, parse_threshold, slo_items

from .ranking import judged_policies
from .schema import (
    AlertCounts,
    BreakerResult,
    FaultInfo,
    FaultResult,
    PhaseResult,
    PolicyResult,
    Results,
    ScenarioInfo,
    Shape,
    SloCheckResult,
    SloResult,
    Stat,
)

__all__ = [
    "METRIC_DOCS",
    "BreakerKey",
    "FaultMetrics",
    "FaultWindow",
    "PhaseMetrics",
    "Series",
    "SloCheck",
    "TraceMetrics",
    "alerts_per_day",
    "breaker_timelines",
    "compute_results",
    "evaluate_slo",
    "fault_shape",
    "headline_name",
    "headline_time",
    "is_local_state",
    "nice_bin_width",
    "stat",
    "summarize_policy",
    "t_critical",
    "timeseries",
    "trace_fault_windows",
    "trace_metrics",
]

SUCCESS = OUTCOME_CODES[Outcome.SUCCESS]
SLOW = OUTCOME_CODES[Outcome.SLOW]
CLIENT_ERROR = OUTCOME_CODES[Outcome.CLIENT_ERROR]
NO_ORG = -1

# breaker states (same codes as multiorg.breakers.base.STATE_CODES)
CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}
# event kinds in a trace: 0 OPENED, 1 HALF_OPEN, 2 CLOSED
EV_OPENED, EV_HALF_OPEN, EV_CLOSED = 0, 1, 2
_STATE_AFTER = {EV_OPENED: OPEN, EV_HALF_OPEN: HALF_OPEN, EV_CLOSED: CLOSED}

DAY = 86400.0
HARD: Final = "hard"
PARTIAL: Final = "partial"
# time to shed: the target's regular share must stay below SHED_FRACTION of its healthy share
# (its share in the HEALTHY_LOOKBACK before onset), over the SHED_WINDOW before each target attempt
SHED_FRACTION = 0.10
SHED_WINDOW = 60.0
HEALTHY_LOOKBACK = 3600.0
# a modifier or unknown kind whose name says its target serves nothing
HARD_WORDS = ("lockout", "outage", "locked", "deactivated")
NON_ORG_KINDS = ("surge", "traffic", "skew", "clock", "redis", "store", "partition")
PHASES: tuple[Literal["before", "during", "after"], ...] = ("before", "during", "after")


# one line per metric: the report's footnotes and docs/metrics.md (which a test keeps in step)
METRIC_DOCS: dict[str, str] = {
    "success_rate": "user requests that ended 2xx (success or slow) / all user requests",
    "session_success_rate": "sessions whose requests all ended 2xx / sessions",
    "latency_p99": "user latency (arrival → answer, failed requests included), 99th percentile (nearest rank)",
    "retry_amplification": "attempts made for the requests / requests",
    "shape": "hard: the target can serve nothing (lockout, outage, every call failing or throttled); "
    "partial: it still serves some (error rate below 100 %, slowness, latency divergence, flapping)",
    "detection_time": "fault onset → the first breaker OPENED on the target (any pod, any model)",
    "failover_time": "fault onset → the last regular (non-probe) attempt sent to the target during the fault, "
    "worst pod; never if they kept coming until the fault ended",
    "healthy_share": f"the target's share of regular attempts in the {HEALTHY_LOOKBACK / 3600:g} h before onset "
    "(its even share among its vendor's orgs when it had none)",
    "shed_time": f"fault onset → the moment after which the target's regular share stays below "
    f"{SHED_FRACTION * 100:g} % of its healthy share (over the {SHED_WINDOW:g} s before each attempt) for the rest "
    "of the fault; "
    "a flapping fault: the median over its sick spells; never if it does not",
    "shed_or_failover_time": "the headline: failover time for a hard fault, time to shed for a partial one",
    "share_kept": "the target's regular share during the fault / its healthy share (0: all traffic moved away)",
    "recovery_time": "fault end → the first successful regular attempt on the target",
    "close_time": "fault end → every breaker of the target closed",
    "user_visible_failures": "per fault: requests that failed (not 2xx, not the caller's own 400) after an attempt "
    "on the target during the fault, or that found no org available during it",
    "failures_total": "run total: requests that are a user-visible failure of any fault, each counted once",
    "wasted_attempts": "per fault: attempts (probes included) sent to the target during the fault",
    "wasted_total": "run total: attempts sent to a target org while one of its faults was active, each counted once",
    "alerts_per_day": "OPENED alerts (every pod's, every breaker's) per simulated day: pager noise",
    "cycles": "open → closed cycles summed over every breaker (flapping)",
}


def headline_time(fault: FaultResult) -> Stat:
    """A fault's headline time: time to shed / failover (failover for a 1.0 result without it)."""
    return fault.shed_or_failover_time or fault.failover_time_max


def headline_name(shape: str | None) -> str:
    """What :func:`headline_time` is for a fault of ``shape``."""
    return "time to shed" if shape == PARTIAL else "failover"


# --------------------------------------------------------------------------- statistics

_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t_critical(df: int) -> float:
    """Two-sided 95 % critical value of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile (error < 1e-5 for df > 30)
    z = 1.959963984540054
    v = float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def _clean(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def stat(values: Iterable[float | int | None], *, lower: float | None = None, upper: float | None = None) -> Stat:
    """Mean over the defined values and a 95 % t-interval of the mean (``None`` = undefined),
    clipped to ``[lower, upper]`` where the metric cannot go (no negative time, no rate above 1)."""
    vals = [_clean(v) for v in values]
    defined = [v for v in vals if v is not None]
    k = len(defined)
    mean = lo = hi = None
    if k:
        mean = math.fsum(defined) / k
        if k >= 2:
            var = math.fsum((x - mean) ** 2 for x in defined) / (k - 1)
            half = t_critical(k - 1) * math.sqrt(var) / math.sqrt(k)
            lo, hi = mean - half, mean + half
            if lower is not None:
                lo = max(lo, lower)
            if upper is not None:
                hi = min(hi, upper)
    return Stat(mean=mean, ci_low=lo, ci_high=hi, n=len(vals), n_none=len(vals) - k, values=vals)


# --------------------------------------------------------------------------- trace helpers


def is_local_state(meta: Mapping[str, Any]) -> bool:
    """Whether each pod keeps its own breaker state (then breakers are per pod)."""
    for key in ("state", "breaker_state", "store"):
        if str(meta.get(key, "")).lower() == "local":
            return True
    return meta.get("shared_state") is False


def _duration(trace: Any) -> float:
    d = trace.meta.get("duration")
    if d is not None:
        return float(d)
    cands = [0.0]
    for arr in (trace.requests["end"], trace.requests["arrival"], trace.attempts["end"]):
        if len(arr):
            cands.append(float(np.max(arr)))
    return max(cands)


def _orgs(trace: Any) -> list[str]:
    orgs = trace.meta.get("orgs")
    if orgs:
        return [str(o) for o in orgs]
    n = int(trace.attempts["org"].max()) + 1 if len(trace.attempts["org"]) else 0
    return [f"org{i}" for i in range(n)]


def _models(trace: Any) -> list[str]:
    models = trace.meta.get("models")
    if models:
        return [str(m) for m in models]
    n = int(trace.events["model"].max()) + 1 if len(trace.events["model"]) else 1
    return [f"model{i}" for i in range(n)]


def _n_pods(trace: Any) -> int:
    p = trace.meta.get("pods")
    if isinstance(p, int):
        return p
    if isinstance(p, list):
        return len(p)
    return int(trace.requests["pod"].max()) + 1 if len(trace.requests["pod"]) else 1


def pod_label(pod: int) -> str:
    return f"pod-{pod}"


_POD_RE = re.compile(r"pod[-_:]?(\d+)")


@dataclass(frozen=True)
class FaultWindow:
    """A fault of ``meta["faults"]`` with its window clipped to the run and its target resolved."""

    index: int
    label: str
    kind: str
    target: str
    start: float
    end: float
    orgs: tuple[int, ...]
    org_fault: bool
    pod: int | None
    ends_in_run: bool
    shape: Shape | None = None  # for an org fault
    spells: tuple[tuple[float, float], ...] = ()  # a flapping fault's sick periods, clipped to the window


def _resolve(target: Any, orgs: Sequence[str], vendors: Sequence[str]) -> tuple[set[int], int | None]:
    if isinstance(target, (list, tuple)):
        found: set[int] = set()
        pod = None
        for t in target:
            o, p = _resolve(t, orgs, vendors)
            found |= o
            pod = p if p is not None else pod
        return found, pod
    if isinstance(target, int) and not isinstance(target, bool):
        return set(), target
    t = str(target).strip()
    if t in ("*", "all"):
        return set(range(len(orgs))), None
    if t in orgs:
        return {orgs.index(t)}, None
    if t in vendors:
        return {i for i, v in enumerate(vendors) if v == t}, None
    m = _POD_RE.fullmatch(t)
    if m:
        return set(), int(m.group(1))
    prefix, sep, rest = t.partition(":")
    if sep and prefix == "vendor":  # "vendor:openai"
        return {i for i, v in enumerate(vendors) if v == rest}, None
    if sep and prefix == "org":  # "org:primary"
        return ({orgs.index(rest)} if rest in orgs else set()), None
    for sep in ("/", ":"):
        if sep in t:
            head = t.split(sep, 1)[0]
            if head in orgs or head in vendors:
                return _resolve(head, orgs, vendors)
    return set(), None


def _fault_specs(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``meta["faults"]``, then each traffic surge of ``meta["surges"]`` not already listed as a
    fault (same start and end; no end = the end of the run) as a non-org window of kind
    ``surge``: the launch is a phase too."""
    duration = meta.get("duration")

    def span(w: Mapping[str, Any]) -> tuple[Any, Any]:
        end = w.get("end")
        if end is None or (duration is not None and float(end) >= float(duration)):
            end = duration
        return w.get("start"), end

    faults = [f for f in meta.get("faults") or [] if isinstance(f, Mapping)]
    seen = {span(f) for f in faults}
    for s in meta.get("surges") or []:
        if not isinstance(s, Mapping) or span(s) in seen:
            continue
        factor = s.get("factor")
        label = s.get("label") or (f"traffic surge x{factor:g}" if factor else "traffic surge")
        faults.append(
            {"kind": "surge", "target": "*", "start": s.get("start"), "end": s.get("end"),
             "label": label, "org_fault": False}
        )  # fmt: skip
    return faults


def trace_fault_windows(trace: Any) -> list[FaultWindow]:
    """The run's fault windows (``meta["faults"]`` then ``meta["surges"]``), resolved."""
    meta = trace.meta
    duration = _duration(trace)
    orgs = _orgs(trace)
    vendors = [str(v) for v in meta.get("org_vendors") or [""] * len(orgs)]
    out = []
    for i, f in enumerate(_fault_specs(meta)):
        kind = str(f.get("kind", "fault"))
        target = f.get("target", "*")
        tlabel = ",".join(map(str, target)) if isinstance(target, (list, tuple)) else str(target)
        start = float(f.get("start") or 0.0)
        raw_end = f.get("end")
        end = duration if raw_end is None else min(float(raw_end), duration)
        start = min(max(start, 0.0), duration)
        end = max(end, start)
        org_set, pod = _resolve(target, orgs, vendors)
        explicit = f.get("org_fault")
        if explicit is None:
            org_fault = bool(org_set) and not any(s in kind.lower() for s in NON_ORG_KINDS)
        else:
            org_fault = bool(explicit) and bool(org_set)
        label = str(f.get("label") or f"{kind} {tlabel}")
        org_ix = tuple(sorted(org_set))
        shape = fault_shape(f, [orgs[o] for o in org_ix], _models(trace)) if org_fault else None
        spells = tuple(
            (max(float(a), start), min(float(b), end))
            for a, b in f.get("periods") or ()
            if min(float(b), end) > max(float(a), start)
        )
        out.append(FaultWindow(i, label, kind, tlabel, start, end, org_ix, org_fault, pod, end < duration, shape,
                               spells))
    return out


def _param(spec: Mapping[str, Any], kind: str, name: str) -> Any:
    """A fault parameter from the window's ``params``, else the catalogue's default (None: none)."""
    params = spec.get("params")
    if isinstance(params, Mapping) and params.get(name) is not None:
        return params[name]
    model = FAULT_KINDS.get(kind)
    fld = model.model_fields.get(name) if model is not None else None
    if fld is None or fld.is_required():
        return None
    return fld.get_default(call_default_factory=True)


def fault_shape(spec: Mapping[str, Any], target_orgs: Sequence[str] = (), models: Sequence[str] = ()) -> Shape:
    """``"hard"`` when the fault leaves its target able to serve nothing (a lockout, an outage,
    every call failing or throttled), else ``"partial"`` (an error rate below 100 %, slowness,
    latency divergence, flapping, one model of several). ``spec`` is a ``meta["faults"]`` entry;
    its ``shape`` key, when given, decides; its ``serves`` (the models its target is called
    with) stands in for the run's ``models``."""
    explicit = spec.get("shape")
    if explicit in (HARD, PARTIAL):
        return HARD if explicit == HARD else PARTIAL
    models = [str(m) for m in spec.get("serves") or models]
    kind = str(spec.get("kind", "")).lower()
    only = _param(spec, kind, "models")
    if only and models and not set(models) <= {str(m) for m in only}:
        return PARTIAL  # the target still serves its other models
    if kind.startswith("lockout") or kind == "outage":
        return HARD
    if kind == "model_unavailable":
        return HARD if models and set(models) <= {str(_param(spec, kind, "model"))} else PARTIAL
    if kind in ("brownout", "timeouts", "connection_resets"):
        rate = _param(spec, kind, "error_rate")
        return HARD if rate is not None and float(rate) >= 1.0 else PARTIAL
    if kind == "rate_limit_storm":
        share = _param(spec, kind, "share")
        return HARD if share is not None and float(share) >= 1.0 else PARTIAL
    if kind == "vendor_incident":
        rate = float(_param(spec, kind, "error_rate") or 0.0)
        severity = _param(spec, kind, "severity") or {}
        default = float(_param(spec, kind, "default_severity") or 0.0)
        sev = [float(severity.get(o, default)) for o in target_orgs] or [default]
        spread = float(_param(spec, kind, "spread") or 0.0)
        return HARD if spread == 0.0 and rate * min(sev) >= 1.0 else PARTIAL
    if kind in FAULT_KINDS:
        return PARTIAL  # latency, slow drip, rate-limit squeeze, flapping
    # a scenario's own modifier or an unknown kind: by its name
    return HARD if any(w in kind for w in HARD_WORDS) else PARTIAL


# --------------------------------------------------------------------------- per-trace metrics


@dataclass
class PhaseMetrics:
    start: float
    end: float
    requests: int
    failed_requests: int
    success_rate: float | None
    sessions: int
    failed_sessions: int
    session_success_rate: float | None
    no_org_failures: int
    attempts: int
    retry_amplification: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    traffic_share: dict[str, float | None]


PHASE_SCALARS = (
    "requests", "failed_requests", "success_rate", "sessions", "failed_sessions",
    "session_success_rate", "no_org_failures", "attempts", "retry_amplification",
    "latency_p50", "latency_p95", "latency_p99",
)  # fmt: skip


@dataclass
class FaultMetrics:
    window: FaultWindow
    failover_time_max: float | None
    failover_time_median: float | None
    failover_time_by_pod: dict[int, float | None]
    detection_time: float | None
    recovery_time: float | None
    close_time: float | None
    user_visible_failures: int
    failed_in_window: int
    wasted_attempts: int
    wasted_probes: int
    opens: int
    phases: dict[str, PhaseMetrics]
    shape: Shape | None = None
    healthy_share: float | None = None
    shed_time: float | None = None
    shed_or_failover_time: float | None = None
    share_kept: float | None = None


FAULT_SCALARS = (
    "failover_time_max", "failover_time_median", "detection_time", "recovery_time", "close_time",
    "user_visible_failures", "failed_in_window", "wasted_attempts", "wasted_probes", "opens",
    "healthy_share", "shed_time", "shed_or_failover_time", "share_kept",
)  # fmt: skip


@dataclass(frozen=True, order=True)
class BreakerKey:
    org: int
    model: int
    pod: int | None  # None: state shared by all pods


@dataclass
class BreakerMetrics:
    key: BreakerKey
    time_open: float
    time_half_open: float
    opened: int
    closed: int
    cycles: int


@dataclass
class TraceMetrics:
    policy: str
    seed: int | None
    duration: float
    orgs: list[str]
    models: list[str]
    overall: PhaseMetrics
    faults: list[FaultMetrics]
    breakers: list[BreakerMetrics]
    alerts: dict[str, int]
    wasted_attempts: int
    local_state: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    alerts_per_day: float | None = None
    failures_total: int = 0
    wasted_total: int = 0


class _Prep:
    """Derived columns shared by every metric of one trace."""

    def __init__(self, trace: Any) -> None:
        r, a, e = trace.requests, trace.attempts, trace.events
        self.trace = trace
        self.duration = _duration(trace)
        self.orgs = _orgs(trace)
        self.vendors = [str(v) for v in trace.meta.get("org_vendors") or [""] * len(self.orgs)]
        self.models = _models(trace)
        self.n_pods = _n_pods(trace)
        self.local = is_local_state(trace.meta)

        self.arrival = np.asarray(r["arrival"], dtype=np.float64)
        outcome = np.asarray(r["outcome"])
        self.n_req = len(self.arrival)
        self.req_ok = (outcome == SUCCESS) | (outcome == SLOW)
        self.req_client = outcome == CLIENT_ERROR
        self.req_noorg = outcome == NO_ORG
        self.latency = np.asarray(r["end"], dtype=np.float64) - self.arrival
        # pods and orgs in their stored small ints: a trace of millions of rows is read whole here
        self.req_pod = _small_ints(r["pod"])

        # request ids as int32 when they fit (the column is int64): half the bytes, the same rows
        self.att_req = np.asarray(a["request"]).astype(np.int32 if self.n_req < 2**31 else np.int64)
        self.att_org = _small_ints(a["org"])
        self.att_start = np.asarray(a["start"], dtype=np.float64)
        att_out = np.asarray(a["outcome"])
        self.att_ok = (att_out == SUCCESS) | (att_out == SLOW)
        self.att_probe = np.asarray(a["probe"], dtype=bool)
        self.att_pod = self.req_pod[self.att_req] if self.n_req else np.zeros(0, np.int64)
        # int32: a trace of millions of requests keeps this whole (the sums below are int64)
        self.att_per_req = np.bincount(self.att_req, minlength=self.n_req)[: self.n_req].astype(np.int32)

        # sessions: fan-out ids >= 0 grouped; a request without a session is its own session
        sess = np.asarray(r["session"], dtype=np.int64)
        fan = sess >= 0
        n_fan, inv = _dense_ranks(sess[fan])
        del sess
        sid = np.empty(self.n_req, dtype=self.att_req.dtype)
        sid[fan] = inv
        del inv
        n_single = int(self.n_req - fan.sum())
        sid[~fan] = n_fan + np.arange(n_single, dtype=sid.dtype)
        del fan
        self.n_sess = n_fan + n_single
        start = np.full(self.n_sess, np.inf)
        np.minimum.at(start, sid, self.arrival)
        self.sess_start = start
        failed = np.zeros(self.n_sess, dtype=bool)
        failed[sid[~self.req_ok]] = True  # a session failed when any of its requests did
        self.sess_failed = failed

        ev = _events(e)
        self.ev_time, self.ev_org, self.ev_kind, self.ev_pod, self.ev_model = ev
        self.timelines = _timelines(ev, self.local, self.duration)

    def in_window(self, x: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """``t0 <= x < t1``; a window ending at the run's end also keeps what comes after."""
        if t1 >= self.duration:
            return x >= t0
        return (x >= t0) & (x < t1)


def _dense_ranks(ids: np.ndarray) -> tuple[int, np.ndarray]:
    """How many distinct ``ids`` (>= 0) and each one's rank among them: ``np.unique``'s count and
    inverse, without sorting millions of ids when they are few and small (a run's session ids)."""
    if not len(ids):
        return 0, np.zeros(0, np.int64)
    top = int(ids.max())
    if top > 4 * len(ids):
        uniq, inv = np.unique(ids, return_inverse=True)
        return len(uniq), inv
    present = np.zeros(top + 1, dtype=bool)
    present[ids] = True
    rank = np.cumsum(present) - 1
    return int(present.sum()), rank[ids]


def _small_ints(col: Any) -> np.ndarray:
    """An integer column as stored (int16 pods and orgs), any other as int64."""
    a = np.asarray(col)
    return a if a.dtype.kind in "iu" else a.astype(np.int64)


def _share(counts: np.ndarray, orgs: Sequence[str]) -> dict[str, float | None]:
    total = int(counts.sum())
    return {o: (float(counts[i]) / total if total else None) for i, o in enumerate(orgs)}


def _phase(p: _Prep, t0: float, t1: float) -> PhaseMetrics:
    whole = t0 <= 0.0 and t1 >= p.duration
    m: slice | np.ndarray
    if whole:
        m = slice(None)
        n = p.n_req
        sm_count = p.n_sess
        failed_s = int(p.sess_failed.sum())
        att_counts = np.bincount(p.att_org, minlength=len(p.orgs))
    else:
        m = p.in_window(p.arrival, t0, t1)
        n = int(np.count_nonzero(m))
        sm = p.in_window(p.sess_start, t0, t1)
        sm_count = int(sm.sum())
        failed_s = int((sm & p.sess_failed).sum())
        am = p.in_window(p.att_start, t0, t1)
        att_counts = np.bincount(p.att_org[am], minlength=len(p.orgs))
    ok = int(p.req_ok[m].sum())
    attempts = int(p.att_per_req[m].sum())
    lat = p.latency[m]
    p50: float | None
    p95: float | None
    p99: float | None
    if len(lat):
        # nearest rank (a latency some request had), as the latency chart's bins
        p50, p95, p99 = (float(x) for x in np.percentile(lat, [50, 95, 99], method="inverted_cdf"))
    else:
        p50 = p95 = p99 = None
    return PhaseMetrics(
        start=float(t0),
        end=float(t1),
        requests=n,
        failed_requests=n - ok,
        success_rate=ok / n if n else None,
        sessions=sm_count,
        failed_sessions=failed_s,
        session_success_rate=(sm_count - failed_s) / sm_count if sm_count else None,
        no_org_failures=int(p.req_noorg[m].sum()),
        attempts=attempts,
        retry_amplification=attempts / n if n else None,
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        traffic_share=_share(att_counts[: len(p.orgs)], p.orgs),
    )


def _tail_tolerance(window: float, starts: np.ndarray, onset: float) -> float:
    base = min(max(0.01 * window, 1.0), 60.0)
    gaps = np.diff(np.concatenate(([onset], starts)))
    return max(base, 3.0 * float(np.median(gaps))) if len(gaps) else base


def _failover(p: _Prep, w: FaultWindow, idx: np.ndarray) -> tuple[dict[int, float | None], float | None, float | None]:
    reg = idx[~p.att_probe[idx]]
    reg_pod = p.att_pod[reg]
    reg_start = p.att_start[reg]
    req_in = p.in_window(p.arrival, w.start, w.end)
    pods = np.union1d(np.unique(p.req_pod[req_in]), np.unique(reg_pod))
    by_pod: dict[int, float | None] = {}
    for pod in pods.tolist():
        starts = np.sort(reg_start[reg_pod == pod])
        if not len(starts):
            by_pod[int(pod)] = 0.0
            continue
        last = float(starts[-1])
        tol = _tail_tolerance(w.end - w.start, starts, w.start)
        by_pod[int(pod)] = None if w.end - last <= tol else last - w.start
    if not by_pod:
        return by_pod, 0.0, 0.0
    vals = np.array([np.inf if v is None else v for v in by_pod.values()])
    mx, med = float(vals.max()), float(np.median(vals))
    return by_pod, (None if math.isinf(mx) else mx), (None if math.isinf(med) else med)


def _healthy_share(p: _Prep, w: FaultWindow, on_target: np.ndarray, regular: np.ndarray) -> float:
    """The target's share of regular attempts in the HEALTHY_LOOKBACK before onset; when that is
    nothing (no traffic, or the target carried none), its even share among its vendors' orgs."""
    m = regular & (p.att_start >= w.start - HEALTHY_LOOKBACK) & (p.att_start < w.start)
    n = int(m.sum())
    if n:
        share = int((m & on_target).sum()) / n
        if share > 0:
            return share
    vendors = {p.vendors[o] for o in w.orgs}
    peers = sum(v in vendors for v in p.vendors)
    return len(w.orgs) / peers if peers else 1.0


def _shed_time(
    p: _Prep, t0: float, t1: float, on_target: np.ndarray, regular: np.ndarray, healthy: float
) -> float | None:
    """``t0`` → the moment after which the target's regular share stays below SHED_FRACTION of its
    healthy share until ``t1``. A regular target attempt at t is *fed* when the target's share of
    the regular attempts in [max(t0, t - SHED_WINDOW), t] is at or above that line; the moment is
    the last fed attempt (0 when none is), and never when it is within failover's tail tolerance
    of ``t1`` (fed attempts as the flow)."""
    m = regular & p.in_window(p.att_start, t0, t1)
    starts = np.sort(p.att_start[m])
    hits = np.sort(p.att_start[m & on_target])
    if not len(hits):
        return 0.0
    lo = np.maximum(t0, hits - SHED_WINDOW)
    n_all = np.searchsorted(starts, hits, side="right") - np.searchsorted(starts, lo, side="left")
    n_hit = np.searchsorted(hits, hits, side="right") - np.searchsorted(hits, lo, side="left")
    fed = hits[n_hit >= SHED_FRACTION * healthy * n_all]
    if not len(fed):
        return 0.0
    last = float(fed[-1])
    return None if t1 - last <= _tail_tolerance(t1 - t0, fed, t0) else last - t0


def _shedding(
    p: _Prep, w: FaultWindow, on_target: np.ndarray, regular: np.ndarray
) -> tuple[float, float | None, float | None]:
    """(healthy share, time to shed, share kept). A flapping fault is judged on its sick spells:
    time to shed is the median over spells (a 'never' spell counts as +inf), share kept counts
    the spells' attempts only."""
    healthy = _healthy_share(p, w, on_target, regular)
    spans = w.spells or ((w.start, w.end),)
    times = [_shed_time(p, a, b, on_target, regular, healthy) for a, b in spans]
    med = float(np.median([math.inf if t is None else t for t in times]))
    during = np.zeros(len(p.att_start), dtype=bool)
    for a, b in spans:
        during |= p.in_window(p.att_start, a, b)
    during &= regular
    n = int(during.sum())
    kept = int((during & on_target).sum()) / n / healthy if n else None
    return healthy, (None if math.isinf(med) else med), kept


def _close_time(p: _Prep, w: FaultWindow) -> float | None:
    if not w.ends_in_run:
        return None
    worst = 0.0
    for key, spans in p.timelines.items():
        if key.org not in w.orgs:
            continue
        at_end = [st for s, _, st in spans if s <= w.end][-1]
        if at_end == CLOSED:
            continue
        nxt = next((s for s, _, st in spans if s > w.end and st == CLOSED), None)
        if nxt is None:
            return None
        worst = max(worst, nxt - w.end)
    return worst


def _fault(p: _Prep, w: FaultWindow) -> tuple[FaultMetrics, np.ndarray]:
    """One fault's metrics, and which requests are its user-visible failures."""
    phases = {
        "before": _phase(p, 0.0, w.start),
        "during": _phase(p, w.start, w.end),
        "after": _phase(p, w.end, p.duration),
    }
    req_in = p.in_window(p.arrival, w.start, w.end)
    failed = ~p.req_ok
    failed_in_window = int((failed & req_in).sum())
    if not w.org_fault:
        caused = failed & req_in & ~p.req_client
        if w.pod is not None:
            caused &= p.req_pod == w.pod
        return FaultMetrics(w, None, None, {}, None, None, None, int(caused.sum()), failed_in_window, 0, 0, 0,
                            phases), caused
    orgs = np.array(w.orgs, dtype=np.int64)
    on_target = np.isin(p.att_org, orgs)
    idx = np.flatnonzero(on_target & p.in_window(p.att_start, w.start, w.end))
    by_pod, fo_max, fo_med = _failover(p, w, idx)

    ev = np.isin(p.ev_org, orgs)
    opened = ev & (p.ev_kind == EV_OPENED) & p.in_window(p.ev_time, w.start, w.end)
    detection = float(p.ev_time[opened].min() - w.start) if opened.any() else None

    recovery = None
    if w.ends_in_run:
        rec = on_target & ~p.att_probe & p.att_ok & (p.att_start >= w.end)
        if rec.any():
            recovery = float(p.att_start[rec].min() - w.end)

    touched = np.zeros(p.n_req, dtype=bool)
    touched[p.att_req[idx]] = True
    caused = failed & ~p.req_client & (touched | (p.req_noorg & req_in))
    regular = ~p.att_probe
    healthy, shed, kept = _shedding(p, w, on_target, regular)
    fm = FaultMetrics(
        window=w,
        failover_time_max=fo_max,
        failover_time_median=fo_med,
        failover_time_by_pod=by_pod,
        detection_time=detection,
        recovery_time=recovery,
        close_time=_close_time(p, w),
        user_visible_failures=int(caused.sum()),
        failed_in_window=failed_in_window,
        wasted_attempts=len(idx),
        wasted_probes=int(p.att_probe[idx].sum()),
        opens=int(opened.sum()),
        phases=phases,
        shape=w.shape,
        healthy_share=healthy,
        shed_time=shed,
        share_kept=kept,
        shed_or_failover_time=fo_max if w.shape == HARD else shed,
    )
    return fm, caused


class _Events(NamedTuple):
    """A trace's breaker events, as columns."""

    time: np.ndarray
    org: np.ndarray
    kind: np.ndarray
    pod: np.ndarray
    model: np.ndarray


def _events(e: Any) -> _Events:
    return _Events(
        np.asarray(e["time"], dtype=np.float64), np.asarray(e["org"], dtype=np.int64),
        np.asarray(e["kind"], dtype=np.int64), np.asarray(e["pod"], dtype=np.int64),
        np.asarray(e["model"], dtype=np.int64),
    )


def _timelines(ev: _Events, local: bool, end: float) -> dict[BreakerKey, list[tuple[float, float, int]]]:
    """Per breaker: contiguous (start, end, state) spans covering [0, ``end``]; one per pod when
    the pods keep ``local`` state."""
    if not len(ev.time):
        return {}
    pods = ev.pod if local else np.full(len(ev.time), -1)
    order = np.lexsort((np.arange(len(ev.time)), ev.time, ev.model, ev.org, pods))
    out: dict[BreakerKey, list[tuple[float, float, int]]] = {}
    cur_key: BreakerKey | None = None
    spans: list[tuple[float, float, int]] = []
    t0, state = 0.0, CLOSED

    def close(key: BreakerKey | None) -> None:
        if key is not None:
            spans.append((t0, max(end, t0), state))
            out[key] = [s for s in spans if s[1] > s[0]] or [spans[-1]]

    for i in order.tolist():
        pod = int(pods[i])
        key = BreakerKey(int(ev.org[i]), int(ev.model[i]), None if pod < 0 else pod)
        if key != cur_key:
            close(cur_key)
            cur_key, spans, t0, state = key, [], 0.0, CLOSED
        t = float(ev.time[i])
        new = _STATE_AFTER.get(int(ev.kind[i]), state)
        if new == state:
            continue
        if t > t0:
            spans.append((t0, t, state))
        t0, state = max(t, t0), new
    close(cur_key)
    return out


def breaker_timelines(trace: Any) -> dict[BreakerKey, list[tuple[float, float, int]]]:
    """Each breaker's state spans ``(start, end, state)``; state 0 closed, 1 open, 2 half-open.
    (From the events alone: a trace's requests and attempts are not read.)"""
    return _timelines(_events(trace.events), is_local_state(trace.meta), _duration(trace))


def _breakers(p: _Prep) -> list[BreakerMetrics]:
    pods = p.ev_pod if p.local else np.full(len(p.ev_time), -1)
    out = []
    for key, spans in sorted(p.timelines.items()):
        sel = (p.ev_org == key.org) & (p.ev_model == key.model)
        if key.pod is not None:
            sel &= pods == key.pod
        kinds = p.ev_kind[sel][np.lexsort((np.flatnonzero(sel), p.ev_time[sel]))]
        cycles, seen_open = 0, False
        for k in kinds.tolist():
            if k == EV_OPENED:
                seen_open = True
            elif k == EV_CLOSED:
                cycles += seen_open
                seen_open = False
        out.append(
            BreakerMetrics(
                key=key,
                time_open=math.fsum(e - s for s, e, st in spans if st == OPEN),
                time_half_open=math.fsum(e - s for s, e, st in spans if st == HALF_OPEN),
                opened=int((kinds == EV_OPENED).sum()),
                closed=int((kinds == EV_CLOSED).sum()),
                cycles=cycles,
            )
        )
    return out


def alerts_per_day(opened: int, duration: float) -> float | None:
    """OPENED alerts per simulated day (None for a run of no duration)."""
    return opened / (duration / DAY) if duration > 0 else None


def trace_metrics(trace: Any, policy: str | None = None) -> TraceMetrics:
    """Every metric of one trace (one policy, one seed)."""
    p = _Prep(trace)
    windows = trace_fault_windows(trace)
    per_fault = [_fault(p, w) for w in windows]
    faults = [fm for fm, _ in per_fault]
    caused_any = np.zeros(p.n_req, dtype=bool)
    for _, caused in per_fault:
        caused_any |= caused
    wasted = np.zeros(len(p.att_start), dtype=bool)
    for w in windows:
        if w.org_fault:
            wasted |= np.isin(p.att_org, np.array(w.orgs)) & p.in_window(p.att_start, w.start, w.end)
    breakers = _breakers(p)
    kinds = np.bincount(p.ev_kind, minlength=3) if len(p.ev_kind) else np.zeros(3, np.int64)
    seed = trace.meta.get("seed")
    return TraceMetrics(
        policy=policy or str(trace.meta.get("policy", "policy")),
        seed=int(seed) if seed is not None else None,
        duration=p.duration,
        orgs=p.orgs,
        models=p.models,
        overall=_phase(p, 0.0, p.duration),
        faults=faults,
        breakers=breakers,
        alerts={
            "opened": int(kinds[EV_OPENED]),
            "half_open": int(kinds[EV_HALF_OPEN]),
            "closed": int(kinds[EV_CLOSED]),
            "cycles": sum(b.cycles for b in breakers),
        },
        wasted_attempts=int(wasted.sum()),
        local_state=p.local,
        alerts_per_day=alerts_per_day(int(kinds[EV_OPENED]), p.duration),
        failures_total=int(caused_any.sum()),
        wasted_total=int(wasted.sum()),
    )


# --------------------------------------------------------------------------- time series

_NICE = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def nice_bin_width(duration: float, max_bins: int = 240) -> float:
    for w in _NICE:
        if duration / w <= max_bins:
            return float(w)
    return float(86400 * math.ceil(duration / 86400 / max_bins))


@dataclass
class Series:
    """Binned time series of one policy, pooled over its seeds."""

    edges: np.ndarray  # (n_bins + 1,) sim seconds
    orgs: list[str]
    requests: np.ndarray  # (n_bins,) requests that arrived in the bin
    ok: np.ndarray  # of those, 2xx
    latency: np.ndarray  # (n_bins, 3): p50, p95, p99 of user latency (nan: no request)
    attempts: np.ndarray  # (n_bins, n_orgs) attempts started in the bin
    ok_attempts: np.ndarray  # (n_bins, n_orgs) of those, 2xx

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def success_rate(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.requests > 0, self.ok / np.maximum(self.requests, 1), np.nan)

    @property
    def share(self) -> np.ndarray:
        tot = self.attempts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, self.attempts / np.maximum(tot, 1), np.nan)


def _binned_percentiles(b: np.ndarray, x: np.ndarray, n_bins: int, qs: Sequence[float]) -> np.ndarray:
    """Per bin, the nearest-rank ``qs`` quantiles of ``x`` (row: bin; nan where a bin is empty):
    the value of rank ``max(ceil(q * n) - 1, 0)`` among the bin's ``n`` values, sorted.

    Grouped by bin with a stable sort (``b`` comes in arrival order, so nearly sorted: timsort's
    best case), then each bin's ranks selected with ``np.partition`` — the same values a full
    ``(bin, x)`` sort would pick, in linear time: at 8M requests this was 2.8 s of a report, as a
    lexsort."""
    out = np.full((n_bins, len(qs)), np.nan)
    if not len(x):
        return out
    order = np.argsort(b, kind="stable")
    xs = x[order]
    counts = np.bincount(b, minlength=n_bins)
    ends = np.cumsum(counts)
    for i in np.flatnonzero(counts):
        n = int(counts[i])
        ranks = [max(math.ceil(q * n) - 1, 0) for q in qs]
        part = np.partition(xs[ends[i] - n:ends[i]], sorted(set(ranks)))
        out[i] = part[ranks]
    return out


def _pieces(table: Any, names: Sequence[str]) -> Iterator[Mapping[str, Any]]:
    """``table``'s columns ``names`` chunk by chunk (:meth:`sim.trace.Table.chunks`), or whole
    for a plain mapping of arrays."""
    if hasattr(table, "chunks"):
        yield from table.chunks(list(names))
    else:
        yield {n: table[n] for n in names}


def timeseries(traces: Any, bin_width: float | None = None) -> Series:
    """Bin one policy's traces (a Trace or a list of seeds, pooled) over the run's time."""
    runs = list(traces) if isinstance(traces, (list, tuple)) else [traces]
    duration = max(_duration(t) for t in runs)
    orgs = _orgs(runs[0])
    width = bin_width or nice_bin_width(duration)
    n_bins = max(1, math.ceil(duration / width))
    edges = np.arange(n_bins + 1) * width
    req = np.zeros(n_bins, np.int64)
    ok = np.zeros(n_bins, np.int64)
    att = np.zeros((n_bins, len(orgs)), np.int64)
    okatt = np.zeros((n_bins, len(orgs)), np.int64)
    size = n_bins * len(orgs)
    # bin index fits an int32: half the memory of the (bin, latency) pairs kept for the percentiles
    bin_dtype = np.int32 if n_bins < 2**31 else np.int64
    all_b, all_lat = [], []
    for t in runs:  # chunk by chunk (a chunked trace is never decoded whole here)
        for piece in _pieces(t.requests, ("arrival", "end", "outcome")):
            arrival = np.asarray(piece["arrival"], np.float64)
            b = np.clip((arrival // width).astype(np.int64), 0, n_bins - 1)
            outcome = np.asarray(piece["outcome"])
            good = (outcome == SUCCESS) | (outcome == SLOW)
            req += np.bincount(b, minlength=n_bins)
            ok += np.bincount(b[good], minlength=n_bins)
            all_b.append(b.astype(bin_dtype))
            all_lat.append(np.asarray(piece["end"], np.float64) - arrival)
        for piece in _pieces(t.attempts, ("start", "org", "outcome")):
            ab = np.clip((np.asarray(piece["start"]) // width).astype(np.int64), 0, n_bins - 1)
            org = np.asarray(piece["org"], np.int64)
            flat = ab * len(orgs) + org
            att += np.bincount(flat, minlength=size)[:size].reshape(n_bins, len(orgs))
            aout = np.asarray(piece["outcome"])
            agood = (aout == SUCCESS) | (aout == SLOW)
            okatt += np.bincount(flat[agood], minlength=size)[:size].reshape(n_bins, len(orgs))
    if not all_b:
        all_b, all_lat = [np.zeros(0, bin_dtype)], [np.zeros(0)]
    lat = _binned_percentiles(np.concatenate(all_b), np.concatenate(all_lat), n_bins, (0.50, 0.95, 0.99))
    return Series(edges, orgs, req, ok, lat, att, okatt)


# --------------------------------------------------------------------------- multi-seed summary


def _phase_result(ps: Sequence[PhaseMetrics], orgs: Sequence[str]) -> PhaseResult:
    # every summarised metric is a count, a time, a ratio or a rate: none is negative
    fields: dict[str, Any] = {
        k: stat((getattr(p, k) for p in ps), lower=0.0, upper=1.0 if k.endswith("rate") else None)
        for k in PHASE_SCALARS
    }
    fields["traffic_share"] = {o: stat((p.traffic_share.get(o) for p in ps), lower=0.0, upper=1.0) for o in orgs}
    return PhaseResult(start=ps[0].start, end=ps[0].end, **fields)


_ALWAYS = ("user_visible_failures", "failed_in_window")


def _as_metrics(policy: str, runs: Any) -> list[TraceMetrics]:
    runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
    return [r if isinstance(r, TraceMetrics) else trace_metrics(r, policy) for r in runs]


def summarize_policy(policy: str, runs: Any, params: Mapping[str, Any] | None = None) -> PolicyResult:
    """One policy over its seeds: ``runs`` are Traces (or TraceMetrics), one per seed."""
    ms = _as_metrics(policy, runs)
    if not ms:
        raise ValueError(f"policy {policy!r}: no traces")
    orgs, models = ms[0].orgs, ms[0].models
    faults = []
    for i, f0 in enumerate(ms[0].faults):
        fs = [m.faults[i] for m in ms if i < len(m.faults)]
        pods = sorted({pod for f in fs for pod in f.failover_time_by_pod})
        org_fault = f0.window.org_fault
        scalars = {k: stat((getattr(f, k) if org_fault or k in _ALWAYS else None for f in fs), lower=0.0)
                   for k in FAULT_SCALARS}
        faults.append(
            FaultResult(
                index=i,
                label=f0.window.label,
                org_fault=org_fault,
                ends_in_run=f0.window.ends_in_run,
                shape=f0.window.shape,
                failover_time_by_pod={
                    str(pod): stat((f.failover_time_by_pod.get(pod, 0.0) for f in fs), lower=0.0) for pod in pods
                },
                phases={ph: _phase_result([f.phases[ph] for f in fs], orgs) for ph in PHASES},
                **scalars,
            )
        )
    keys = sorted({b.key for m in ms for b in m.breakers})
    breakers = []
    for key in keys:
        per = [next((b for b in m.breakers if b.key == key), None) for m in ms]
        breakers.append(
            BreakerResult(
                org=orgs[key.org] if key.org < len(orgs) else str(key.org),
                model=models[key.model] if key.model < len(models) else str(key.model),
                pod=key.pod,
                **{
                    k: stat(getattr(b, k) if b is not None else 0 for b in per)
                    for k in ("time_open", "time_half_open", "opened", "closed", "cycles")
                },
            )
        )
    if params is None:
        params = {}
    return PolicyResult(
        policy=policy,
        params=dict(params),
        seeds=[m.seed if m.seed is not None else i for i, m in enumerate(ms)],
        overall=_phase_result([m.overall for m in ms], orgs),
        wasted_attempts=stat(m.wasted_attempts for m in ms),
        wasted_total=stat(m.wasted_total for m in ms),
        failures_total=stat(m.failures_total for m in ms),
        faults=faults,
        breakers=breakers,
        alerts=AlertCounts(**{k: stat(m.alerts[k] for m in ms) for k in ("opened", "half_open", "closed", "cycles")}),
        alerts_per_day=stat((m.alerts_per_day for m in ms), lower=0.0),
    )


def _scenario_info(trace: Any) -> ScenarioInfo:
    meta = trace.meta
    state = meta.get("state")
    orgs = _orgs(trace)
    return ScenarioInfo(
        name=str(meta.get("scenario", "scenario")),
        description=str(meta.get("description", "") or ""),
        duration=_duration(trace),
        start_epoch=float(meta.get("start_epoch", 0.0) or 0.0),
        pods=_n_pods(trace),
        state=str(state) if state is not None else ("local" if is_local_state(meta) else None),
        mode=str(meta["mode"]) if meta.get("mode") is not None else None,
        face=str(meta["face"]) if meta.get("face") is not None else None,
        orgs=orgs,
        org_vendors=[str(v) for v in meta.get("org_vendors") or [""] * len(orgs)],
        models=_models(trace),
        scale=float(meta.get("scale", 1.0)),
        scale_caveats=[str(c) for c in meta.get("scale_caveats", [])],
    )


def _canon(x: Any) -> Any:
    """JSON-safe, with mapping keys sorted (results must not depend on dict order)."""
    return json.loads(json.dumps(x, sort_keys=True, default=str))


def compute_results(traces: Mapping[str, Any], slo: Any = None) -> Results:
    """Everything ``results.json`` holds: ``traces`` maps a policy name to its seeds' traces.

    ``slo`` defaults to the first trace's ``meta["slo"]``; pass ``{}`` to skip evaluation.
    """
    if not traces:
        raise ValueError("no traces")
    runs = {name: (list(v) if isinstance(v, (list, tuple)) else [v]) for name, v in traces.items()}
    first = next(iter(runs.values()))[0]
    n_faults = len(_fault_specs(first.meta))
    for name, rs in runs.items():
        for t in rs:
            if len(_fault_specs(t.meta)) != n_faults:
                raise ValueError(
                    f"policy {name!r} seed {t.meta.get('seed')}: {len(_fault_specs(t.meta))} "
                    f"fault windows, the first trace has {n_faults}; compare runs of one scenario"
                )
    policies = {}
    for name, rs in runs.items():
        params = _canon(rs[0].meta.get("policy_params") or {})
        policies[name] = summarize_policy(name, [trace_metrics(r, name) for r in rs], params)
    seeds = sorted({s for p in policies.values() for s in p.seeds})
    faults = [
        FaultInfo(
            index=w.index,
            label=w.label,
            kind=w.kind,
            target=w.target,
            start=w.start,
            end=w.end,
            orgs=[_orgs(first)[i] for i in w.orgs],
            org_fault=w.org_fault,
            shape=w.shape,
        )
        for w in trace_fault_windows(first)
    ]
    if slo is None:
        slo = first.meta.get("slo")
    slo = _canon(slo)  # a saved trace's meta comes back with sorted keys: be order-independent
    slo_result = None
    if slo:
        checks = [c for name, pr in policies.items() for c in evaluate_slo(slo, pr, policy=name)]
        judged = judged_policies(list(policies), first.meta.get("expect_pass") or (),
                                 first.meta.get("expect_fail") or ())
        slo_result = SloResult(
            spec=slo,
            passed=all(c.passed for c in checks if c.policy in judged),
            judged=judged,
            checks=[SloCheckResult(**c.as_dict()) for c in checks],
        )
    return Results(
        scenario=_scenario_info(first),
        seeds=seeds,
        policies=policies,
        faults=faults,
        slo=slo_result,
    )


# --------------------------------------------------------------------------- SLOs


@dataclass(frozen=True)
class SloCheck:
    metric: str
    phase: str
    value: float | None
    threshold: str
    passed: bool
    policy: str = ""
    fault: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy, "metric": self.metric, "phase": self.phase, "fault": self.fault,
            "value": self.value, "threshold": self.threshold, "passed": self.passed,
            "note": self.note,
        }  # fmt: skip


def _judge(
    th: Threshold, st: Stat, unit: str, *, never_ok: bool = False, na: str = ""
) -> tuple[float | None, bool, str]:
    if na:
        return None, True, na
    if st.n_none and unit == "duration" and not never_ok:
        return None, False, f"never in {st.n_none} of {st.n} seed(s)"
    if st.mean is None:
        return None, True, "no data"
    return st.mean, th.holds(st.mean), ""


def evaluate_slo(slo: Any, result: Any, *, policy: str | None = None) -> list[SloCheck]:
    """Check a policy's results against an SLO spec.

    ``slo`` maps a metric to a threshold (``{"success_rate": ">= 99.9%"}``) or to thresholds per
    phase (``{"success_rate": {"overall": ">= 99.9%", "during": ">= 99%"}}``); a list of
    ``{metric, phase, threshold}`` works too. Phases: ``overall``, ``before``, ``during``,
    ``after`` (one check per fault), or ``during:<label>`` etc. for one fault. Per-fault metrics
    (failover, detection, recovery and close time, user-visible failures) give one check per org
    fault (a phase ``:<label>`` picks one); ``wasted_attempts`` with phase ``overall`` is the
    run's total, per fault otherwise. Values are means over seeds; a duration that is "never"
    in any seed fails. ``result`` is a PolicyResult, a Trace or a list of Traces.
    """
    if not isinstance(result, PolicyResult):
        name = policy or "policy"
        result = summarize_policy(name, result)
    pol = policy or result.policy
    labels = [f.label for f in result.faults]
    checks: list[SloCheck] = []
    for raw_metric, raw_phase, raw_th in slo_items(slo):
        metric = canonical_metric(raw_metric)
        spec = SLO_METRICS.get(metric)
        if spec is None:
            known = ", ".join(sorted(SLO_METRICS))
            raise ValueError(f"unknown SLO metric {raw_metric!r} (known: {known})")
        th = parse_threshold(raw_th, metric)
        phase, _, label = raw_phase.partition(":")
        if phase not in SLO_PHASES:
            raise ValueError(f"unknown SLO phase {raw_phase!r} for {raw_metric} (overall, before, during, after)")
        if label and label not in labels:
            raise ValueError(f"SLO phase {raw_phase!r}: no fault labelled {label!r} (faults: {labels})")
        faults = [f for f in result.faults if not label or f.label == label]

        def add(ph: str, st: Stat, fault: str | None, na: str = "", *, spec=spec, th=th, metric=metric) -> None:
            # a phase's latency is undefined only when the phase had no requests: no data, not "never"
            value, ok, note = _judge(th, st, spec.unit, na=na, never_ok=spec.where == "phase")
            checks.append(SloCheck(metric, ph, value, th.text, ok, pol, fault, note))

        if spec.where == "phase":
            if phase in ("overall", "fault"):
                add("overall", getattr(result.overall, spec.field), None)
            else:
                for f in faults:
                    add(phase, getattr(f.phases[phase], spec.field), f.label)
        elif spec.where == "wasted" and phase == "overall" and not label:
            add("overall", result.wasted_attempts, None)
        else:
            for f in faults:
                if not f.org_fault and metric not in _ALWAYS:
                    continue  # failover, detection, ... do not apply to a non-org fault
                na = ""
                if metric in ("recovery_time", "close_time") and not f.ends_in_run:
                    na = "n/a: the fault lasts until the end of the run"
                add(
                    "fault" if phase in ("overall", "fault") else phase,
                    getattr(f, spec.field),
                    f.label,
                    na,
                )
    return checks
