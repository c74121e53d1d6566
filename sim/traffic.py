"""Traffic: when requests arrive, how big they are, which pod takes them — all precomputed, vectorised.

Arrivals are a non-homogeneous Poisson process: a rate per second (flat or diurnal, times surge
factors) is integrated on a grid (one minute, plus every surge boundary, so the rate is exact per
cell) into the expected count Λ(t); a unit-rate Poisson process, drawn in time order, is mapped
through Λ's inverse (so a surge changes nothing before it). Fan-out sessions are a second such
process of user actions, each expanding into ``k`` requests at the same instant (a session
succeeds only if all of its requests do).

Separate named streams (traffic:requests, traffic:sessions, traffic:sessions:size,
traffic:tokens, traffic:models, traffic:pods) keep, for instance, the single requests' arrival
times unchanged when sessions are switched on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .rng import Seeds
from .scenario import Scenario, Tokens, Traffic

DAY = 86400.0
_Z99 = 2.3263478740408408


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
    total = float(cum[-1])
    if not total > 0:
        return np.zeros(0)
    parts = []
    last = 0.0
    while last < total:
        # enough for the rest with overwhelming probability; rarely a second round. The gaps
        # are summed in one sequence (cumsum from the last point), so rounds do not change them.
        k = int(total - last + 8.0 * math.sqrt(total - last + 1.0)) + 16
        s = np.cumsum(np.concatenate([[last], gen.exponential(size=k)]))[1:]
        parts.append(s)
        last = float(s[-1])
    s = np.concatenate(parts)
    s = s[: int(np.searchsorted(s, total, side="left"))]
    return np.interp(s, cum, grid)


def token_counts(gen: np.random.Generator, spec: Tokens, n: int) -> np.ndarray:
    if spec.p99 is None or spec.p99 <= spec.median:
        return np.full(n, min(spec.median, spec.max), dtype=np.int32)
    sigma = math.log(spec.p99 / spec.median) / _Z99
    x = spec.median * np.exp(sigma * gen.standard_normal(n))
    return np.clip(np.rint(x), 1, spec.max).astype(np.int32)


def generate(scenario: Scenario, seeds: Seeds) -> Arrivals:
    tr = scenario.traffic
    duration = scenario.duration
    day_offset = scenario.start_epoch % DAY
    grid, cum = _rate_grid(tr, tr.daily_volume, duration, day_offset)
    singles = poisson_times(seeds.generator("traffic:requests"), grid, cum)

    ss = tr.sessions
    members = np.zeros(0)
    member_session = np.zeros(0, dtype=np.int64)
    n_sessions = 0
    if ss.per_day > 0:
        gen = seeds.generator("traffic:sessions")
        sgrid, scum = _rate_grid(tr, ss.per_day, duration, day_offset)
        starts = poisson_times(gen, sgrid, scum)
        n_sessions = len(starts)
        hi = max(ss.size, ss.size_max or ss.size)
        # sizes from a stream of their own: the start times drew as many numbers as they needed
        sizer = seeds.generator("traffic:sessions:size")
        sizes = sizer.integers(ss.size, hi + 1, size=n_sessions) if hi > ss.size else np.full(n_sessions, ss.size)
        members = np.repeat(starts, sizes)
        member_session = np.repeat(np.arange(n_sessions, dtype=np.int64), sizes)

    times = np.concatenate([singles, members])
    session = np.concatenate([np.full(len(singles), -1, dtype=np.int64), member_session])
    order = np.argsort(times, kind="stable")
    times = times[order]
    session = session[order]
    n = len(times)

    tok = seeds.generator("traffic:tokens")
    prompt = np.concatenate([
        token_counts(tok, tr.prompt_tokens, len(singles)),
        token_counts(seeds.generator("traffic:tokens:sessions"), tr.prompt_tokens, len(members)),
    ])[order]
    maxtok = np.concatenate([
        token_counts(seeds.generator("traffic:max_tokens"), tr.max_tokens, len(singles)),
        token_counts(seeds.generator("traffic:max_tokens:sessions"), tr.max_tokens, len(members)),
    ])[order]

    if isinstance(tr.model, str):
        models = [tr.model]
        model = np.zeros(n, dtype=np.int16)
    else:
        models = list(tr.model)
        w = np.array([tr.model[m] for m in models], dtype=float)
        model = seeds.generator("traffic:models").choice(len(models), size=n, p=w / w.sum()).astype(np.int16)

    # pods: a single request or a whole session is one unit of assignment
    new_unit = np.ones(n, dtype=bool)
    if n > 1:
        new_unit[1:] = (session[1:] < 0) | (session[1:] != session[:-1])
    unit = np.cumsum(new_unit) - 1
    pods = scenario.pods
    if pods == 1 or n == 0:
        pod = np.zeros(n, dtype=np.int16)
    elif tr.assignment == "round_robin":
        pod = (unit % pods).astype(np.int16)
    else:
        n_units = int(unit[-1]) + 1
        pod = seeds.generator("traffic:pods").integers(0, pods, size=n_units).astype(np.int16)[unit]
    return Arrivals(times, session, pod, model, prompt, maxtok, models, n_sessions)
