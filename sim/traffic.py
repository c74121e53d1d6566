"""Traffic: when requests arrive, how big they are, which pod takes them — vectorised, drawn in
pieces of :data:`CHUNK_SPAN` simulated seconds just before the loop needs them (:func:`chunks`),
so memory holds one piece whatever the volume; :func:`generate` joins them all.

Arrivals are a non-homogeneous Poisson process: a rate per second (flat or diurnal, times surge
factors) is integrated on a grid (one minute, plus every surge boundary, so the rate is exact per
cell) into the expected count Λ(t); a unit-rate Poisson process, drawn in time order, is mapped
through Λ's inverse (so a surge changes nothing before it). Fan-out sessions are a second such
process of user actions, each expanding into ``k`` requests at the same instant (a session
succeeds only if all of its requests do).

Separate named streams (traffic:requests, traffic:sessions, traffic:sessions:size,
traffic:tokens, traffic:models, traffic:pods) keep, for instance, the single requests' arrival
times unchanged when sessions are switched on. Each stream is drawn in the order a whole-run
draw takes it, so the pieces are the whole run's arrivals cut in time, value for value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .rng import Seeds
from .scenario import Scenario, Tokens, Traffic

DAY = 86400.0
_Z99 = 2.3263478740408408
#: simulated seconds of arrivals per piece (:func:`chunks`): a piece is small at any volume
CHUNK_SPAN = 300.0
#: most gaps drawn at once
MAX_BATCH = 1 << 18


@dataclass
class Arrivals:
    """One row per request, in arrival order (row index = request id)."""

    time: np.ndarray  # float64, sim seconds, non-decreasing
    session: np.ndarray  # int64, -1 = a single request
    pod: np.ndarray  # int16
    model: np.ndarray  # int16, index into ``models``
    prompt_tokens: np.ndarray  # int32
    max_tokens: np.ndarray  # int32
    models: list[str]
    n_sessions: int
    #: the request id of the first row (a piece of a run, :func:`chunks`)
    first: int = 0
    #: the piece holds the arrivals before this (sim s); inf: every arrival after its start
    until: float = math.inf

    def __len__(self) -> int:
        return len(self.time)


def _rate_grid(traffic: Traffic, per_day: float, duration: float, day_offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid times and the cumulative expected count at each (Λ)."""
    pts = [np.arange(0.0, duration, 60.0), np.array([duration])]
    for s in traffic.surges:
        pts.append(np.array([min(s.start, duration), min(s.end, duration)]))
    grid = np.unique(np.concatenate(pts))
    mid = (grid[:-1] + grid[1:]) / 2.0
    rate = np.full(len(mid), per_day / DAY)
    if traffic.shape == "diurnal":
        tod = (mid + day_offset) % DAY
        rate *= 1.0 + traffic.diurnal_amplitude * np.cos(2.0 * math.pi * (tod - traffic.peak_hour * 3600.0) / DAY)
    for s in traffic.surges:
        rate[(mid >= s.start) & (mid < s.end)] *= s.factor
    cum = np.concatenate([[0.0], np.cumsum(rate * np.diff(grid))])
    return grid, cum


def poisson_times(gen: np.random.Generator, grid: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """A unit-rate Poisson process in "expected count" time (exponential gaps, drawn in order),
    mapped through the inverse of Λ. Drawn in order, the points before any change of the rate
    are the same whatever comes after it: a surge at launch leaves the traffic before it intact."""
    return _PoissonStream(gen, grid, cum).take(math.inf)


class _PoissonStream:
    """:func:`poisson_times` in time order, a piece at a time (:meth:`take`). The gaps are drawn in
    batches and summed in one sequence (cumsum from the last point), so how the draws are cut
    changes no value: the pieces, joined, are the whole process, float for float."""

    __slots__ = ("cum", "done", "gen", "grid", "last", "pending", "total")

    def __init__(self, gen: np.random.Generator, grid: np.ndarray, cum: np.ndarray) -> None:
        self.gen, self.grid, self.cum = gen, grid, cum
        self.total = float(cum[-1])
        self.last = 0.0
        self.done = not self.total > 0
        self.pending = np.zeros(0)

    def take(self, until: float) -> np.ndarray:
        """The next points before ``until`` (sim seconds)."""
        parts = []
        while True:
            cut = int(np.searchsorted(self.pending, until, side="left"))
            parts.append(self.pending[:cut])
            self.pending = self.pending[cut:]
            if len(self.pending) or self.done:
                break
            # enough to pass ``until`` with overwhelming probability (rarely another batch), at most
            # a bounded batch: memory stays flat however long the run
            want = float(np.interp(min(until, float(self.grid[-1])), self.grid, self.cum)) - self.last
            k = int(min(max(want, 0.0) + 8.0 * math.sqrt(max(want, 0.0) + 1.0), float(MAX_BATCH))) + 16
            s = np.cumsum(np.concatenate([[self.last], self.gen.exponential(size=k)]))[1:]
            self.last = float(s[-1])
            if self.last >= self.total:
                s = s[: int(np.searchsorted(s, self.total, side="left"))]
                self.done = True
            self.pending = np.interp(s, self.cum, self.grid)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def token_counts(gen: np.random.Generator, spec: Tokens, n: int) -> np.ndarray:
    if spec.p99 is None or spec.p99 <= spec.median:
        return np.full(n, min(spec.median, spec.max), dtype=np.int32)
    sigma = math.log(spec.p99 / spec.median) / _Z99
    x = spec.median * np.exp(sigma * gen.standard_normal(n))
    return np.clip(np.rint(x), 1, spec.max).astype(np.int32)


def generate(scenario: Scenario, seeds: Seeds) -> Arrivals:
    """Every arrival of the run at once (the pieces of :func:`chunks`, joined)."""
    return join(list(chunks(scenario, seeds, span=math.inf)))


def join(pieces: list[Arrivals]) -> Arrivals:
    """Consecutive pieces of one run's arrivals as one."""
    if len(pieces) == 1:
        return pieces[0]
    cols = {k: np.concatenate([getattr(p, k) for p in pieces]) for k in _COLUMNS}
    return Arrivals(**cols, models=pieces[0].models, n_sessions=sum(p.n_sessions for p in pieces))


_COLUMNS = ("time", "session", "pod", "model", "prompt_tokens", "max_tokens")


def chunks(scenario: Scenario, seeds: Seeds, span: float = CHUNK_SPAN) -> Iterator[Arrivals]:
    """The run's arrivals in time order, one piece per ``span`` simulated seconds (the last one
    also takes whatever arrives at or after ``duration``), so memory holds one piece, not the run.

    Every column is drawn in the order a whole-run draw would take it, each from its own stream,
    so the pieces joined are the whole run's arrivals, value for value: piece ``k`` holds the
    rows ``first .. first + len - 1``; session ids and round-robin pods continue across pieces;
    ``n_sessions`` counts the sessions that start in the piece."""
    tr = scenario.traffic
    duration = scenario.duration
    day_offset = scenario.start_epoch % DAY
    grid, cum = _rate_grid(tr, tr.daily_volume, duration, day_offset)
    singles = _PoissonStream(seeds.generator("traffic:requests"), grid, cum)
    ss = tr.sessions
    starts = None
    if ss.per_day > 0:
        sgrid, scum = _rate_grid(tr, ss.per_day, duration, day_offset)
        starts = _PoissonStream(seeds.generator("traffic:sessions"), sgrid, scum)
        # sizes from a stream of their own: the start times drew as many numbers as they needed
        sizer = seeds.generator("traffic:sessions:size")
        hi = max(ss.size, ss.size_max or ss.size)
    tok = seeds.generator("traffic:tokens")
    tok_s = seeds.generator("traffic:tokens:sessions")
    mx = seeds.generator("traffic:max_tokens")
    mx_s = seeds.generator("traffic:max_tokens:sessions")
    if isinstance(tr.model, str):
        models, weights = [tr.model], None
    else:
        models = list(tr.model)
        w = np.array([tr.model[m] for m in models], dtype=float)
        weights = w / w.sum()
        model_gen = seeds.generator("traffic:models")
    pods = scenario.pods
    pod_gen = seeds.generator("traffic:pods") if pods > 1 and tr.assignment != "round_robin" else None

    first = 0  # the piece's first request id
    n_sess = 0  # sessions so far
    units = 0  # units of pod assignment so far
    t0 = 0.0
    while True:
        t1 = t0 + span if t0 + span < duration else math.inf
        one = singles.take(t1)
        members = np.zeros(0)
        member_session = np.zeros(0, dtype=np.int64)
        k = 0
        if starts is not None:
            st = starts.take(t1)
            k = len(st)
            sizes = sizer.integers(ss.size, hi + 1, size=k) if hi > ss.size else np.full(k, ss.size)
            members = np.repeat(st, sizes)
            member_session = np.repeat(np.arange(n_sess, n_sess + k, dtype=np.int64), sizes)

        times = np.concatenate([one, members])
        session = np.concatenate([np.full(len(one), -1, dtype=np.int64), member_session])
        order = np.argsort(times, kind="stable")
        times = times[order]
        session = session[order]
        n = len(times)
        prompt = np.concatenate([token_counts(tok, tr.prompt_tokens, len(one)),
                                 token_counts(tok_s, tr.prompt_tokens, len(members))])[order]
        maxtok = np.concatenate([token_counts(mx, tr.max_tokens, len(one)),
                                 token_counts(mx_s, tr.max_tokens, len(members))])[order]
        if weights is None:
            model = np.zeros(n, dtype=np.int16)
        else:
            model = model_gen.choice(len(models), size=n, p=weights).astype(np.int16)

        # pods: a single request or a whole session is one unit of assignment (a session's
        # requests share one instant, so a unit never spans two pieces)
        new_unit = np.ones(n, dtype=bool)
        if n > 1:
            new_unit[1:] = (session[1:] < 0) | (session[1:] != session[:-1])
        unit = np.cumsum(new_unit) - 1
        n_units = int(unit[-1]) + 1 if n else 0
        if pods == 1 or n == 0:
            pod = np.zeros(n, dtype=np.int16)
        elif pod_gen is None:
            pod = ((units + unit) % pods).astype(np.int16)
        else:
            pod = pod_gen.integers(0, pods, size=n_units).astype(np.int16)[unit]
        units += n_units
        n_sess += k
        yield Arrivals(times, session, pod, model, prompt, maxtok, models, k, first, t1)
        first += n
        if t1 == math.inf:
            return
        t0 = t1
