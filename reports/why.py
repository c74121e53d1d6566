"""Why requests failed: by cause, by org and over time, against the capacity the pool had.

A failed request (not 2xx) has one cause: the outcome class of its last attempt (a 429 rate
limit, quota, auth, server, timeout, connection, client error), or, when it made no attempt,
why no org was available — every org held by a 429's retry-after, every breaker open, some of
each (the trace's ``requests.cause`` column, :data:`sim.trace.NO_ORG_CAUSES`). Its org is the
org of its last attempt ("no org" when it made none).

Capacity (``meta["capacity"]``, :func:`sim.recorder.capacity_meta`): the users' offered demand
(requests and tokens per minute, before retries) against the RPM and TPM each org enforced
(locked orgs count 0), summed over the pool — the orgs of the router's vendor and its standby.
Both are averaged over the report's time bin, so a burst inside a bin does not show.

:func:`trace_why` works one trace out; :func:`policy_why` sums a policy's seeds into the
``why`` block of ``results.json`` with two or three sentences naming the dominant cause, when
and where; :func:`attach_why` fills every policy's block; :func:`why_context` and
:func:`why_markdown` give the report's "Why" section. Charts: :mod:`reports.why_charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.trace import NO_ORG_CAUSES, request_causes

from .dedicated import dedicated_load, overload_sentence
from .format import fmt_clock, fmt_count, fmt_duration, fmt_share
from .metrics import FaultWindow, nice_bin_width, stat, trace_fault_windows
from .schema import CapacityResult, Results, Stat, WhyResult

__all__ = [
    "CAUSES",
    "NO_ORG_LABEL",
    "WHY_CHARTS",
    "Cause",
    "ModelCapacity",
    "TraceWhy",
    "attach_why",
    "policy_why",
    "trace_why",
    "why_context",
    "why_markdown",
]

NO_ORG_LABEL = "no org"


@dataclass(frozen=True)
class Cause:
    key: str
    label: str  # short, for legends and tables
    phrase: str  # "N % of the failed requests <phrase>"
    codes: tuple[int, ...]  # requests.cause codes
    color: str


_O = OUTCOME_CODES
_N = NO_ORG_CAUSES
#: every cause, in the order charts stack them: no org available first (reds), then the attempt
#: outcomes
CAUSES: tuple[Cause, ...] = (
    Cause("no_org_rate_limited", "no org: every org held by a 429",
          "found every org held by a 429's retry-after (no org available)", (_N["rate_limited"],), "#b2182b"),
    Cause("no_org_mixed", "no org: 429 holds and open breakers",
          "found every org held by a 429 or behind an open breaker (no org available)", (_N["mixed"],), "#e7298a"),
    Cause("no_org_breaker_open", "no org: every breaker open",
          "found every org's breaker open (no org available)", (_N["breaker_open"],), "#7b3294"),
    Cause("no_org_other", "no org: store busy / deadline / unknown model",
          "found no org available (breaker state too contended, the deadline passed, or no org serves the model)",
          (_N["store_busy"], _N["deadline"], _N["unknown_model"]), "#c2a5cf"),
    Cause("no_org_unknown", "no org: cause not recorded",
          "found no org available (the trace does not say why)", (_N["unknown"],), "#999999"),
    Cause("rate_limited", "429 rate limited", "ended on a 429 rate limit", (_O[Outcome.RATE_LIMITED],), "#fd8d3c"),
    Cause("quota", "quota / billing", "ended on a quota or billing error", (_O[Outcome.QUOTA],), "#8c510a"),
    Cause("auth", "auth (401/403)", "ended on an auth error (401/403)", (_O[Outcome.AUTH],), "#01665e"),
    Cause("server", "server error (5xx)", "ended on a server error (5xx)", (_O[Outcome.SERVER],), "#2166ac"),
    Cause("timeout", "timeout", "timed out", (_O[Outcome.TIMEOUT],), "#67a9cf"),
    Cause("connection", "connection", "lost the connection", (_O[Outcome.CONNECTION],), "#35978f"),
    Cause("client_error", "client error (400)", "were refused as the caller's own error (400)",
          (_O[Outcome.CLIENT_ERROR],), "#bababa"),
)
_BY_KEY = {c.key: c for c in CAUSES}
#: a cause's row in the by-cause arrays
_ROW = {c.key: i for i, c in enumerate(CAUSES)}
_OK = (_O[Outcome.SUCCESS], _O[Outcome.SLOW])
#: a code -> cause index table (codes are int8: index ``code + 128``)
_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(CAUSES):
    for _code in _c.codes:
        _INDEX[_code + 128] = _i
#: the causes that mean "a rate limit": their share decides whether capacity is the story
_RATE_CAUSES = ("no_org_rate_limited", "no_org_mixed", "rate_limited")
#: the causes where what tripped the breakers is part of the answer
_BREAKER_CAUSES = ("no_org_breaker_open", "no_org_mixed")
#: at most this many failures are listed, not analysed
FEW = 10


# --------------------------------------------------------------------------- one trace


@dataclass
class ModelCapacity:
    """Demand and limits per minute for one requested model, averaged over each time bin."""

    model: str
    rpm: np.ndarray  # (n_bins,) requests offered per minute
    tpm: np.ndarray  # (n_bins,) tokens offered per minute
    org_rpm: dict[str, np.ndarray]  # per pool org: the RPM it enforced (inf: unlimited)
    org_tpm: dict[str, np.ndarray]

    @property
    def pool_rpm(self) -> np.ndarray:
        return _pool(self.org_rpm, len(self.rpm))

    @property
    def pool_tpm(self) -> np.ndarray:
        return _pool(self.org_tpm, len(self.tpm))


def _pool(per_org: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    return np.sum(list(per_org.values()), axis=0) if per_org else np.full(n, np.inf)


@dataclass
class TraceWhy:
    """One trace's failed requests by cause, by org and by arrival bin, and its capacity."""

    edges: np.ndarray  # (n_bins + 1,) sim seconds
    orgs: list[str]  # the trace's orgs, then NO_ORG_LABEL
    vendors: list[str]  # the trace's orgs' vendors
    seed: Any
    requests: int
    by_bin: np.ndarray  # (n_causes, n_bins) failed requests by arrival bin
    by_org: np.ndarray  # (n_causes, n_orgs + 1) failed requests by their last attempt's org
    windows: list[FaultWindow]
    capacity: list[ModelCapacity]
    #: OPENED breaker events by the outcome code of the failed attempt on that org just before
    #: (what tripped it; index = outcome code)
    trips: np.ndarray
    #: per dedicated capacity, (bin seconds, offered load per bin / capacity) (:mod:`reports.dedicated`)
    dedicated: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict)
    #: attempts answered with a 429 rate limit, by their start bin — failed requests or not (a
    #: 429 retried elsewhere or waited out is load the vendor refused all the same)
    limited: np.ndarray | None = None
    attempts: int = 0

    @property
    def failures(self) -> int:
        return int(self.by_bin.sum())

    @property
    def bin(self) -> float:
        return float(self.edges[1] - self.edges[0])


def _last_attempt_org(trace: Any, n: int) -> np.ndarray:
    """Per request, the org index of its last attempt (by end time; -1: none)."""
    a = trace.attempts
    req = np.asarray(a["request"], np.int64)
    keep = (req >= 0) & (req < n)  # (untagged attempts are no request's)
    req = req[keep]
    org = np.asarray(a["org"], np.int64)[keep]
    # by end time, ties in row order (a stable sort; rows are recorded as attempts end, so nearly
    # sorted already: timsort's best case, several times a lexsort's speed at 8M rows)
    order = np.argsort(np.asarray(a["end"], np.float64)[keep], kind="stable")
    last = np.full(n, -1, np.int64)
    last[req[order]] = org[order]  # later rows overwrite earlier ones: the last attempt wins
    return last


def _trips(trace: Any) -> np.ndarray:
    """OPENED events counted by the outcome of the last failed attempt on their org that ended
    at or before them (what tripped the breaker)."""
    out = np.zeros(len(OUTCOME_CODES), np.int64)
    ev, a = trace.events, trace.attempts
    opened = np.asarray(ev["kind"]) == 0
    if not opened.any():
        return out
    ev_org, ev_time = np.asarray(ev["org"], np.int64)[opened], np.asarray(ev["time"], np.float64)[opened]
    outcome = np.asarray(a["outcome"], np.int64)
    bad = ~np.isin(outcome, _OK)
    org, end, outcome = np.asarray(a["org"], np.int64)[bad], np.asarray(a["end"], np.float64)[bad], outcome[bad]
    for o in np.unique(ev_org):
        mine = org == o
        order = np.argsort(end[mine], kind="stable")
        ends, outs = end[mine][order], outcome[mine][order]
        i = np.searchsorted(ends, ev_time[ev_org == o], side="right") - 1
        out += np.bincount(outs[i[i >= 0]], minlength=len(out))[: len(out)]
    return out


def _steps_at(steps: Sequence[Sequence[Any]], t: np.ndarray, col: int) -> np.ndarray:
    """A step series ``[[from, rpm, tpm], ...]`` sampled at times ``t`` (None -> inf)."""
    starts = np.array([float(s[0]) for s in steps])
    vals = np.array([np.inf if s[col] is None else float(s[col]) for s in steps])
    i = np.searchsorted(starts, t, side="right") - 1
    return np.where(i >= 0, vals[np.clip(i, 0, len(vals) - 1)], vals[0])


def _pool_orgs(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(org, vendor) of the orgs the router may use: its vendor's and the standby's."""
    orgs = [str(o) for o in meta.get("orgs", [])]
    vendors = [str(v) for v in meta.get("org_vendors") or [""] * len(orgs)]
    router = meta.get("router") or {}
    usable = {router.get("default_vendor"), router.get("standby_vendor")} - {None}
    return [(o, v) for o, v in zip(orgs, vendors, strict=False) if not usable or v in usable]


def _to_bins(per_minute: np.ndarray, width: float, edges: np.ndarray) -> np.ndarray:
    """A series sampled every ``width`` seconds as the mean over each bin of ``edges`` (bins
    narrower than a sample take the sample they fall in)."""
    n_bins = len(edges) - 1
    if not len(per_minute):
        return np.zeros(n_bins)
    bin_width = float(edges[1] - edges[0])
    if bin_width < width:
        return per_minute[np.minimum((edges[:-1] // width).astype(np.int64), len(per_minute) - 1)]
    b = np.clip((np.arange(len(per_minute)) * width // bin_width).astype(np.int64), 0, n_bins - 1)
    return np.bincount(b, weights=per_minute, minlength=n_bins) / np.maximum(np.bincount(b, minlength=n_bins), 1)


def _capacity(meta: Mapping[str, Any], edges: np.ndarray) -> list[ModelCapacity]:
    cap = meta.get("capacity")
    if not isinstance(cap, Mapping):
        return []
    demand = cap.get("demand") or {}
    width = float(demand.get("bin") or 60.0)
    scale = 60.0 / width  # counts per sample -> per minute
    limits, model_map = cap.get("limits") or {}, cap.get("model_map") or {}
    out = []
    for model, d in (demand.get("models") or {}).items():
        req = np.asarray(d.get("requests") or [], np.float64)
        tok = np.asarray(d.get("tokens") or [], np.float64)
        starts = np.arange(len(req)) * width
        org_rpm: dict[str, np.ndarray] = {}
        org_tpm: dict[str, np.ndarray] = {}
        for org, vendor in _pool_orgs(meta):
            steps = (limits.get(org) or {}).get((model_map.get(vendor) or {}).get(model, model))
            if not steps:
                continue  # this org does not serve the model (or enforces no limit on it)
            org_rpm[org] = _to_bins(_steps_at(steps, starts, 1), width, edges)
            org_tpm[org] = _to_bins(_steps_at(steps, starts, 2), width, edges)
        out.append(ModelCapacity(str(model), _to_bins(req * scale, width, edges), _to_bins(tok * scale, width, edges),
                                 org_rpm, org_tpm))
    return out


def trace_why(trace: Any, bin_width: float | None = None) -> TraceWhy:
    """Failed requests of ``trace`` by cause x org x arrival bin (the report's bin by default)."""
    meta = trace.meta
    duration = float(meta.get("duration") or 0.0) or float(np.max(trace.requests["end"], initial=1.0))
    width = bin_width or nice_bin_width(duration)
    n_bins = max(1, int(np.ceil(duration / width)))
    edges = np.arange(n_bins + 1) * width
    orgs = [str(o) for o in meta.get("orgs", [])]
    outcome = np.asarray(trace.requests["outcome"])
    n = len(outcome)
    failed = ~np.isin(outcome, _OK)
    cause = _INDEX[request_causes(trace).astype(np.int64) + 128][failed]
    known = cause >= 0  # (-2: never finished; not a failure anyone saw)
    cause = cause[known]
    arrival = np.asarray(trace.requests["arrival"], np.float64)[failed][known]
    b = np.clip((arrival // width).astype(np.int64), 0, n_bins - 1)
    org = _last_attempt_org(trace, n)[failed][known]
    org = np.where(org < 0, len(orgs), org)
    nc, no = len(CAUSES), len(orgs) + 1
    by_bin = np.bincount(cause * n_bins + b, minlength=nc * n_bins).reshape(nc, n_bins)
    by_org = np.bincount(cause * no + org, minlength=nc * no).reshape(nc, no)
    vendors = [str(v) for v in meta.get("org_vendors") or [""] * len(orgs)]
    a = trace.attempts
    rate = np.asarray(a["outcome"]) == _O[Outcome.RATE_LIMITED]
    started = np.asarray(a["start"], np.float64)[rate]
    limited = np.bincount(np.clip((started // width).astype(np.int64), 0, n_bins - 1), minlength=n_bins)
    return TraceWhy(edges, [*orgs, NO_ORG_LABEL], vendors, meta.get("seed"), n, by_bin, by_org,
                    trace_fault_windows(trace), _capacity(meta, edges), _trips(trace), dedicated_load(meta),
                    limited, len(rate))


# --------------------------------------------------------------------------- a policy's seeds


def _peak_bin(c: ModelCapacity) -> int:
    """The bin with the highest demand relative to the pool (TPM when limited, else RPM, else
    the highest TPM)."""
    for demand, pool in ((c.tpm, c.pool_tpm), (c.rpm, c.pool_rpm)):
        if np.isfinite(pool).any():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(pool > 0, demand / pool, np.where(demand > 0, np.inf, 0.0))
            return int(np.argmax(ratio))
    return int(np.argmax(c.tpm))


def _over(demand: np.ndarray, pool: np.ndarray) -> np.ndarray:
    return (demand > pool) & (demand > 0)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _capacity_result(model: str, whys: Sequence[TraceWhy]) -> CapacityResult:
    caps = [next(c for c in w.capacity if c.model == model) for w in whys if any(c.model == model for c in w.capacity)]
    peaks = [_peak_bin(c) for c in caps]
    width = whys[0].bin
    return CapacityResult(
        model=model,
        bin=width,
        peak_at=stat(p * width for p in peaks),
        peak_rpm=stat(float(c.rpm[p]) for c, p in zip(caps, peaks, strict=True)),
        peak_tpm=stat(float(c.tpm[p]) for c, p in zip(caps, peaks, strict=True)),
        pool_rpm=stat(_finite(c.pool_rpm[p]) for c, p in zip(caps, peaks, strict=True)),
        pool_tpm=stat(_finite(c.pool_tpm[p]) for c, p in zip(caps, peaks, strict=True)),
        over_rpm_time=stat(float(_over(c.rpm, c.pool_rpm).sum()) * width for c in caps),
        over_tpm_time=stat(float(_over(c.tpm, c.pool_tpm).sum()) * width for c in caps),
    )


def _span(counts: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """Where the middle 80 % of the counts fall: from the bin that reaches 10 % of the total to
    the bin that reaches 90 %."""
    cum = np.cumsum(counts) / max(float(counts.sum()), 1.0)
    lo = int(np.searchsorted(cum, 0.1 - 1e-12))
    hi = int(np.searchsorted(cum, 0.9 - 1e-12))
    return float(edges[lo]), float(edges[min(hi, len(counts) - 1) + 1])


def _window_of(by_bin: np.ndarray, edges: np.ndarray, windows: Sequence[FaultWindow]) -> FaultWindow | None:
    """The shortest fault window holding at least half of the failures (None: no such window)."""
    total = float(by_bin.sum())
    mid = (edges[:-1] + edges[1:]) / 2
    held = [w for w in windows
            if total and float(by_bin[:, (mid >= w.start) & (mid < max(w.end, w.start + 1e-9))].sum()) >= 0.5 * total]
    return min(held, key=lambda w: (w.end - w.start, w.index), default=None)


def _org_part(key: str, by_org: np.ndarray, orgs: Sequence[str]) -> str:
    row = by_org[_ROW[key]]
    tot = float(row.sum())
    if key.startswith("no_org") or not tot:
        return ""
    j = int(np.argmax(row))
    share = row[j] / tot
    if share >= 0.999:
        return f", all on {orgs[j]}"
    return f", {'mostly on' if share > 0.5 else 'most on'} {orgs[j]} ({fmt_share(share)})"


def _trip_part(trips: np.ndarray) -> str:
    """"; the breakers had opened on 429s (96 % of 1,527 opens)" — what tripped them, mostly."""
    total = int(trips.sum())
    if not total:
        return ""
    top = int(np.argmax(trips))
    what = {Outcome.RATE_LIMITED: "429 rate limits", Outcome.QUOTA: "quota errors", Outcome.AUTH: "auth errors",
            Outcome.SERVER: "server errors", Outcome.TIMEOUT: "timeouts", Outcome.CONNECTION: "connection errors"}
    name = what.get(list(OUTCOME_CODES)[top], list(OUTCOME_CODES)[top].value)
    return f"; the breakers had opened on {name} ({fmt_share(trips[top] / total)} of {fmt_count(total)} opens)"


def _sentences(whys: Sequence[TraceWhy], capacity: Sequence[CapacityResult]) -> list[str]:
    first = whys[0]
    edges, orgs = first.edges, first.orgs
    by_bin = np.sum([w.by_bin for w in whys], axis=0)
    by_org = np.sum([w.by_org for w in whys], axis=0)
    total = int(by_bin.sum())
    requests = sum(w.requests for w in whys)
    runs = "" if len(whys) == 1 else f" (over {len(whys)} seeds)"
    out = []
    if not total:
        out.append(f"No request failed{runs}.")
    elif total <= FEW:
        counts = by_bin.sum(axis=1)
        parts = [f"{int(counts[i])} {CAUSES[i].phrase}" for i in np.argsort(-counts, kind="stable") if counts[i]]
        out.append(f"Only {fmt_count(total)} of {fmt_count(requests)} requests failed{runs}: " + "; ".join(parts) + ".")
    else:
        window = _window_of(by_bin, edges, first.windows)
        mid = (edges[:-1] + edges[1:]) / 2
        inside = np.ones(len(mid), bool)
        if window is not None:
            inside = (mid >= window.start) & (mid < max(window.end, window.start + 1e-9))
        scope = by_bin[:, inside]
        counts = scope.sum(axis=1)
        n_scope = int(counts.sum())
        order = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
        top = CAUSES[order[0]]
        lo, hi = _span(np.where(inside, by_bin[order[0]], 0), edges)  # (within the window)
        failed = f"{fmt_count(total)} failed requests ({fmt_share(total / requests)} of all{runs})"
        if window is None:
            where = f"Of the {failed}, "
        else:
            held = "all" if n_scope == total else f"{fmt_count(n_scope)} of the"
            where = (f"{window.label} ({fmt_clock(window.start)} \u2013 {fmt_clock(window.end)}) saw {held} "
                     f"{failed}: ")
        trips = _trip_part(np.sum([w.trips for w in whys], axis=0)) if top.key in _BREAKER_CAUSES else ""
        out.append(
            f"{where}{fmt_share(counts[order[0]] / n_scope)} {top.phrase}{_org_part(top.key, by_org, orgs)}, "
            f"most between {fmt_clock(lo)} and {fmt_clock(hi)}{trips}."
        )
        rest = [i for i in order[1:] if counts[i] >= 0.05 * n_scope][:2]
        if rest:
            parts = [f"{fmt_share(counts[i] / n_scope)} {CAUSES[i].phrase}{_org_part(CAUSES[i].key, by_org, orgs)}"
                     for i in rest]
            out.append("Then " + "; ".join(parts) + ".")
    out.extend(_absorbed_429s(whys, by_bin, runs))
    rate_story = total and sum(
        int(by_bin[_ROW[k]].sum()) for k in _RATE_CAUSES) >= 0.5 * total
    for c in capacity:
        out.extend(_capacity_sentence(c, rate_story=bool(rate_story)))
    faults_end = max((w.end for w in first.windows), default=None)
    for name in first.dedicated:
        out.append(overload_sentence(name, [w.dedicated[name] for w in whys if name in w.dedicated], faults_end))
    return out


def _absorbed_429s(whys: Sequence[TraceWhy], by_bin: np.ndarray, runs: str) -> list[str]:
    """The 429s the vendors answered that did not fail a request (retried elsewhere, or waited out
    by waiting for capacity): invisible in the failures, yet the refused load quantized limits and
    bursts produce. Said only when some 429 did not end a request as its failure."""
    limited = [w.limited for w in whys if w.limited is not None]
    if not limited:
        return []
    per_bin = np.sum(limited, axis=0)
    n = int(per_bin.sum())
    ended = int(by_bin[_ROW["rate_limited"]].sum())
    if n <= ended:
        return []
    lo, hi = _span(per_bin, whys[0].edges)
    attempts = sum(w.attempts for w in whys)
    failed = ("none failed its request: each was retried or waited for capacity" if not ended else
              f"{fmt_count(ended)} requests failed on one; the others were retried or waited for capacity")
    return [f"{fmt_count(n)} attempts were answered with a 429 rate limit ({fmt_share(n / max(attempts, 1))} "
            f"of attempts{runs}), most between {fmt_clock(lo)} and {fmt_clock(hi)}; {failed}."]


def _capacity_sentence(c: CapacityResult, *, rate_story: bool) -> list[str]:
    def v(st: Stat) -> float | None:
        return st.mean

    width = fmt_duration(c.bin, compact=True)
    over_t, over_r = v(c.over_tpm_time) or 0.0, v(c.over_rpm_time) or 0.0
    kind, demand, pool, over = ("TPM", v(c.peak_tpm), v(c.pool_tpm), over_t)
    if pool is None or (over_r > over_t):
        kind, demand, pool, over = ("RPM", v(c.peak_rpm), v(c.pool_rpm), over_r)
    if demand is None or pool is None:
        return []
    peak = f"peak {kind} demand {fmt_count(demand, compact=True)} vs {fmt_count(pool, compact=True)} available"
    when = f"({fmt_clock(v(c.peak_at) or 0.0)}, {width} mean, {c.model})"
    if over > 0:
        return [f"Offered demand exceeded the pool's {kind} limit for {fmt_duration(over)}: {peak} {when}."]
    text = f"Offered demand stayed within the pool's limits: {peak}, {fmt_share(demand / pool)} {when}"
    if rate_story:
        text += f"; the 429s came from bursts inside a {width} bin, not from the average load"
    return [text + "."]


def policy_why(runs: Sequence[Any]) -> WhyResult:
    """The ``why`` block of one policy over its seeds (Traces, or their :class:`TraceWhy`)."""
    whys = [r if isinstance(r, TraceWhy) else trace_why(r) for r in runs]
    if not whys:
        raise ValueError("no traces")
    orgs = whys[0].orgs
    by_cause: dict[str, Stat] = {}
    by_cause_org: dict[str, dict[str, Stat]] = {}
    for i, c in enumerate(CAUSES):
        if not any(w.by_bin[i].sum() for w in whys):
            continue
        by_cause[c.key] = stat(float(w.by_bin[i].sum()) for w in whys)
        by_cause_org[c.key] = {
            o: stat(float(w.by_org[i, j]) for w in whys)
            for j, o in enumerate(orgs) if any(w.by_org[i, j] for w in whys)
        }
    models = list(dict.fromkeys(c.model for w in whys for c in w.capacity))
    capacity = [_capacity_result(m, whys) for m in models]
    return WhyResult(
        failures=stat(float(w.failures) for w in whys),
        by_cause=by_cause,
        by_cause_org=by_cause_org,
        capacity=capacity,
        sentences=_sentences(whys, capacity),
    )


def attach_why(res: Results, runs: Mapping[str, Sequence[Any]]) -> dict[str, list[TraceWhy]]:
    """Fill ``res.policies[p].why`` from each policy's traces; returns the per-trace data the
    charts draw (:func:`reports.why_charts.why_charts`)."""
    out = {}
    for name, traces in runs.items():
        if name not in res.policies:
            continue
        whys = out[name] = [trace_why(t) for t in traces]
        res.policies[name].why = policy_why(whys)
    return out


# --------------------------------------------------------------------------- the report


def _cause_rows(why: WhyResult, all_orgs: Sequence[str]) -> dict[str, Any]:
    """Causes, most failures first; a column per org that had any (in the scenario's order)."""
    seen = {o for per in why.by_cause_org.values() for o in per}
    orgs = [o for o in [*all_orgs, NO_ORG_LABEL] if o in seen]
    total = why.failures.mean or 0.0
    rows = []
    for key, st in sorted(why.by_cause.items(), key=lambda kv: -(kv[1].mean or 0.0)):
        per = why.by_cause_org.get(key, {})
        rows.append([
            _BY_KEY[key].label,
            fmt_count(st.mean),
            fmt_share((st.mean or 0.0) / total) if total else "\u2013",
            *[fmt_count(per[o].mean) if o in per else "" for o in orgs],
        ])
    return {"head": ["cause", "failed requests / run", "share", *orgs], "rows": rows}


def _capacity_rows(why: WhyResult) -> dict[str, Any] | None:
    if not why.capacity:
        return None
    rows = []
    for c in why.capacity:
        def f(st: Stat) -> str:
            return "unlimited" if st.mean is None else fmt_count(st.mean, compact=True)

        rows.append([
            c.model, fmt_clock(c.peak_at.mean or 0.0),
            f"{fmt_count(c.peak_rpm.mean, compact=True)} / {f(c.pool_rpm)}",
            f"{fmt_count(c.peak_tpm.mean, compact=True)} / {f(c.pool_tpm)}",
            fmt_duration(c.over_rpm_time.mean) if c.over_rpm_time.mean else "never",
            fmt_duration(c.over_tpm_time.mean) if c.over_tpm_time.mean else "never",
        ])
    width = fmt_duration(why.capacity[0].bin, compact=True)
    return {
        "head": ["model", "peak at", "RPM offered / pool", "TPM offered / pool", "RPM over the pool for",
                 "TPM over the pool for"],
        "rows": rows,
        "note": f"Per minute, averaged over {width} bins; offered = the users' requests before retries; pool = "
                "the orgs of the router's vendor and its standby, as the vendors enforce them (a locked org counts 0).",
    }


#: the "Why" charts (:mod:`reports.why_charts`), in the order the section shows them, with captions
WHY_CHARTS = {
    "why_causes": "Failed requests per time bin by cause, stacked, one panel per policy. 'no org' causes: "
    "the request made no attempt because every org was held by a 429's retry-after and/or its breaker was "
    "open; the others are the outcome of the request's last attempt.",
    "why_capacity": "Offered demand (black line: the users' requests and tokens per minute, before retries, "
    "averaged per bin) against the limits each org enforced (stacked; a locked org drops to 0; the top of the "
    "stack is the pool). Where the line rises above the stack, no router can serve everyone.",
}


def why_context(res: Results, charts: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """The "Why" section's template context: per policy, its sentences and tables; ``charts``:
    the embedded :data:`WHY_CHARTS` (``reports.render``'s chart dicts), captioned here."""
    policies = [
        {"name": name, "sentences": pr.why.sentences, "causes": _cause_rows(pr.why, res.scenario.orgs)}
        for name, pr in res.policies.items() if pr.why is not None
    ]
    if not policies:
        return None
    # the capacity does not depend on the policy: shown once
    first = next(pr.why for pr in res.policies.values() if pr.why is not None)
    charts = [{**c, "caption": WHY_CHARTS.get(c["name"], c.get("caption", ""))} for c in charts]
    return {"policies": policies, "capacity": _capacity_rows(first), "charts": charts}


def why_markdown(res: Results) -> list[str]:
    """summary.md's "Why" lines: each policy's sentences."""
    lines = []
    for name, pr in res.policies.items():
        if pr.why is not None and pr.why.sentences:
            lines.append(f"- `{name}`: " + " ".join(pr.why.sentences))
    return ["", "**Why requests failed**", "", *lines] if lines else []
