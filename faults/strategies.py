"""Hypothesis strategies for fault schedules: property-based chaos tests of your own settings.

A *fault schedule* is a list of validated fault models (:mod:`faults.models`) that a
:class:`sim.scenario.Scenario` accepts as its ``faults``. Use them in your own tests::

    >>> from hypothesis import given, settings
    >>> import sim
    >>> from faults.strategies import fault_schedules
    >>> from reports.metrics import evaluate_slo
    >>> from sim.loader import load_scenario
    >>> base = load_scenario("scenarios/flapping-org.yaml")
    >>> @settings(max_examples=20, deadline=None)
    ... @given(fault_schedules(base.org_names(), base.duration, kinds=["brownout", "lockout"]))
    ... def test_exponential_survives(schedule):
    ...     scenario = base.model_copy(update={"faults": tuple(schedule)})
    ...     trace = sim.run(scenario, "exponential")
    ...     checks = evaluate_slo({"success_rate": ">= 99%"}, [trace], policy="exponential")
    ...     assert all(c.passed for c in checks), [c for c in checks if not c.passed]

The easiest start is ``for_scenario(base, kinds=[...])``: it reads the orgs, duration, pods and
models from the scenario and only draws what its cross-checks accept (RPM limits for squeezes
and 429 storms, shared state for store faults, labels distinct from the scenario's own).
(``model_copy`` skips validation; to validate, rebuild with
``Scenario.model_validate({**base.model_dump(), "faults": schedule})``.)
``breakerlab search`` (:mod:`breakerlab.search`) runs the same strategies to look for the schedule that
breaks a policy.

Shrinking. Hypothesis shrinks towards earlier choices and smaller numbers; the draws are laid
out so that a failing schedule shrinks towards

* fewer faults (at least ``min_faults``: each of ``max_faults`` slots has an on/off flag);
* milder kinds: ``kinds`` are tried in :data:`MILDNESS` order whatever order you give them
  (latency before brownout before ... outage and lockout);
* fewer targets, and the first orgs of ``orgs``;
* earlier onsets and shorter windows (down to ``min_duration``);
* milder parameters: lower error rates, smaller latency factors and surges, longer healthy
  periods while flapping, more of the rate limit kept, shorter ``retry-after``, smaller skews.

Every fault draws the same sequence whatever its kind — the kind, the target picks, the window,
three parameters in ``0..255`` read as a fraction of the kind's range (0: mildest) — so the
shrinker can swap a lockout for a milder kind without the rest of the draw falling apart.

Every window ends inside the run (``start`` + ``duration``; never open-ended). Times are
multiples of ``resolution`` (default 60 s, 1 s for runs shorter than 10 minutes), and
rates whole percent, so a shrunk schedule reads well as YAML (``start: 10m``, ``error_rate: 40%``).

Per kind: :func:`latency_faults`, :func:`brownouts`, :func:`timeouts`, :func:`connection_resets`,
:func:`flapping`, :func:`slow_drips`, :func:`rate_limit_squeezes`, :func:`rate_limit_storms`,
:func:`vendor_incidents`, :func:`model_unavailable`, :func:`outages`, :func:`lockouts`,
:func:`traffic_surges`, :func:`redis_slow`, :func:`redis_down`, :func:`pod_partitions`,
:func:`clock_skews`; :func:`fault_strategy` picks one by kind name.

Needs ``hypothesis`` (a test dependency of breakerlab); importing this module without it raises
``ImportError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .models import (
    FAULT_KINDS,
    BrownoutFault,
    ClockSkewFault,
    ConnectionResetsFault,
    FlappingFault,
    LatencyFault,
    LockoutFault,
    ModelUnavailableFault,
    OutageFault,
    PodPartitionFault,
    RateLimitSqueezeFault,
    RateLimitStormFault,
    RedisDownFault,
    RedisSlowFault,
    SlowDripFault,
    TimeoutsFault,
    TrafficSurgeFault,
    VendorIncidentFault,
)

__all__ = [
    "DEFAULT_KINDS",
    "MILDNESS",
    "OPTIONS",
    "ORG_KINDS",
    "POD_KINDS",
    "brownouts",
    "clock_skews",
    "connection_resets",
    "fault_schedules",
    "fault_strategy",
    "flapping",
    "for_scenario",
    "latency_faults",
    "lockouts",
    "model_unavailable",
    "outages",
    "pod_partitions",
    "rate_limit_squeezes",
    "rate_limit_storms",
    "redis_down",
    "redis_slow",
    "relabel",
    "resolve_kinds",
    "slow_drips",
    "timeouts",
    "traffic_surges",
    "vendor_incidents",
    "windows",
]

#: every kind, mildest first: the order schedules shrink towards
MILDNESS: tuple[str, ...] = (
    "latency",
    "brownout",
    "timeouts",
    "connection_resets",
    "flapping",
    "slow_drip",
    "rate_limit_squeeze",
    "rate_limit_storm",
    "vendor_incident",
    "model_unavailable",
    "outage",
    "lockout",
    "traffic_surge",
    "redis_slow",
    "redis_down",
    "pod_partition",
    "clock_skew",
)

#: kinds that hit orgs (``target``)
ORG_KINDS: tuple[str, ...] = MILDNESS[:12]
#: kinds that name pods (and need ``pods``); the store ones need shared state
POD_KINDS: tuple[str, ...] = ("redis_slow", "redis_down", "pod_partition", "clock_skew")
#: what :func:`fault_schedules` draws when ``kinds`` is not given: org faults that need nothing
#: but org names (no RPM limits, model names or pods)
DEFAULT_KINDS: tuple[str, ...] = (
    "latency",
    "brownout",
    "timeouts",
    "connection_resets",
    "flapping",
    "slow_drip",
    "outage",
    "lockout",
)

_S = st.SearchStrategy

#: parameter draws are integers 0.._R, read as a fraction of the kind's range (0: the mildest);
#: hypothesis draws integers up to 255 uniformly (beyond, it favours small ones)
_R = 255
#: parameter draws per fault, whatever its kind (see the module docstring)
_N_PARAMS = 3

#: each kind's options (the keyword arguments of its strategy) and their defaults
OPTIONS: dict[str, dict[str, Any]] = {
    "latency": {"max_factor": 10.0},
    "brownout": {"min_rate": 0.05, "max_rate": 1.0},
    "timeouts": {"min_rate": 0.05, "max_rate": 1.0},
    "connection_resets": {"min_rate": 0.05, "max_rate": 1.0},
    "flapping": {"min_period": 30.0, "max_period": 600.0, "min_rate": 0.5},
    "slow_drip": {"max_rate": 0.5, "max_latency_factor": 5.0},
    "rate_limit_squeeze": {"min_kept": 0.05},
    "rate_limit_storm": {"max_retry_after": 120.0},
    "vendor_incident": {"max_rate": 0.5},
    "model_unavailable": {"models": ()},
    "outage": {},
    "lockout": {"reasons": ("quota", "auth", "deactivated")},
    "traffic_surge": {"max_factor": 5.0},
    "redis_slow": {"max_delay": 2.0},
    "redis_down": {},
    "pod_partition": {},
    "clock_skew": {"max_offset": 600.0},
}


# --------------------------------------------------------------------------- reading the draws


def _index(f: float, n: int) -> int:
    return min(n - 1, int(f * n))


def _up(f: float, lo: float, hi: float, step: float) -> float:
    """``lo, lo + step, ... hi`` by ``f`` in [0, 1]: 0 → ``lo``."""
    n = max(0, math.floor((hi - lo) / step + 1e-9))
    return round(lo + round(f * n) * step, 9)


def _down(f: float, hi: float, lo: float, step: float) -> float:
    """``hi, hi - step, ... lo`` by ``f`` in [0, 1]: 0 → ``hi``."""
    n = max(0, math.floor((hi - lo) / step + 1e-9))
    return round(hi - round(f * n) * step, 9)


def _pct(f: float, lo: float, hi: float) -> float:
    """A rate in whole percent from ``lo`` to ``hi`` (fractions) by ``f``: 0 → ``lo``."""
    a = max(1, min(100, math.ceil(lo * 100 - 1e-9)))
    b = max(a, min(100, math.floor(hi * 100 + 1e-9)))
    return (a + round(f * (b - a))) / 100.0


def _pods_subset(f: float, pods: int) -> tuple[int, ...] | None:
    """The first k pods (0: pod 0 alone), or every pod (None) at the top of the range."""
    k = 1 + _index(f, pods)
    return None if k >= pods else tuple(range(k))


def _params(kind: str, f: Sequence[float], o: Mapping[str, Any], pods: int | None) -> dict[str, Any]:
    """A kind's parameters from its draws ``f`` (fractions) and options ``o``; all 0 → mildest."""
    if kind == "latency":
        return {"factor": _up(f[0], 1.5, max(1.5, o["max_factor"]), 0.5)}
    if kind in ("brownout", "timeouts", "connection_resets"):
        return {"error_rate": _pct(f[0], o["min_rate"], o["max_rate"])}
    if kind == "flapping":
        lo, hi = o["min_period"], max(o["min_period"], o["max_period"])
        return {"down": _up(f[0], lo, hi, lo), "up": _down(f[1], hi, lo, lo),
                "error_rate": _pct(f[2], o["min_rate"], 1.0)}
    if kind == "slow_drip":
        return {"error_rate": _pct(f[0], 0.01, o["max_rate"]),
                "latency_factor": _up(f[1], 1.0, max(1.0, o["max_latency_factor"]), 0.5)}
    if kind == "rate_limit_squeeze":
        return {"rpm": _down(f[0], 0.9, max(0.05, min(0.9, o["min_kept"])), 0.05)}
    if kind == "rate_limit_storm":
        return {"retry_after": _up(f[0], 5.0, max(5.0, o["max_retry_after"]), 5.0)}
    if kind == "vendor_incident":
        return {"error_rate": _pct(f[0], 0.01, o["max_rate"])}
    if kind == "model_unavailable":
        models = list(o["models"])
        return {"model": models[_index(f[0], len(models))]}
    if kind == "lockout":
        reasons = list(o["reasons"])
        return {"reason": reasons[_index(f[0], len(reasons))]}
    if kind == "traffic_surge":
        return {"factor": _up(f[0], 1.5, max(1.5, o["max_factor"]), 0.5)}
    if kind == "redis_slow":
        return {"delay": _up(f[0], 0.01, max(0.01, o["max_delay"]), 0.01), "pods": _pods_subset(f[1], pods or 1)}
    if kind == "redis_down":
        return {"pods": _pods_subset(f[0], pods or 1)}
    if kind == "pod_partition":
        return {"pod": _index(f[0], pods or 1)}
    if kind == "clock_skew":
        size = _up(f[1], 5.0, max(5.0, o["max_offset"]), 5.0)
        return {"pod": _index(f[0], pods or 1), "offset": size if f[2] < 0.5 else -size}
    return {}  # outage


# --------------------------------------------------------------------------- the fault space


def _step(duration: float, resolution: float | None) -> float:
    if resolution is not None:
        if not resolution > 0:
            raise ValueError(f"resolution must be > 0 (got {resolution!r})")
        return float(resolution)
    return 60.0 if duration >= 600 else 1.0


def windows(
    duration: float,
    *,
    min_duration: float = 60.0,
    max_duration: float | None = None,
    resolution: float | None = None,
) -> _S[tuple[float, float]]:
    """``(start, length)`` of a fault window inside a run of ``duration`` seconds: both multiples
    of ``resolution``, ``length`` in ``[min_duration, max_duration]`` and the window inside the
    run. Shrinks towards an onset at 0 and the shortest window."""
    if not duration > 0 or not math.isfinite(duration):
        raise ValueError(f"duration must be a positive number of seconds (got {duration!r})")
    if not min_duration > 0:
        raise ValueError(f"min_duration must be > 0 (got {min_duration!r})")
    step = _step(duration, resolution)
    total = max(1, math.floor(duration / step + 1e-9))
    lo = min(total, max(1, math.ceil(min(min_duration, duration) / step - 1e-9)))
    hi = total if max_duration is None else max(lo, min(total, math.floor(max_duration / step + 1e-9)))

    # Positions are drawn uniformly: one integer up to 255 (hypothesis draws those uniformly), or
    # two (coarse, fine) for longer runs — the same number of draws for every window of the run.
    top = max(total - lo, hi - lo)
    wide = top > _R
    unit = (_R + 1) ** 2 - 1 if wide else top

    def position(draw: Callable[..., Any], n: int) -> int:
        """0..n, shrinking towards 0."""
        u = draw(st.integers(0, _R)) * (_R + 1) + draw(st.integers(0, _R)) if wide else draw(st.integers(0, top))
        return min(n, u * (n + 1) // (unit + 1))

    @st.composite
    def draw_window(draw: Callable[..., Any]) -> tuple[float, float]:
        start = position(draw, total - lo)
        length = lo + position(draw, max(lo, min(hi, total - start)) - lo)
        return start * step, length * step

    return draw_window()


def resolve_kinds(kinds: Sequence[str] | str | None) -> list[str]:
    """The kinds a schedule draws, mildest first (:data:`MILDNESS`): ``None`` →
    :data:`DEFAULT_KINDS`; a list or ``"a,b"``. Raises ``ValueError`` for an unknown kind."""
    if kinds is None:
        return list(DEFAULT_KINDS)
    if isinstance(kinds, str):
        kinds = kinds.split(",")
    wanted = [k.strip() for k in kinds if k.strip()]
    if not wanted:
        raise ValueError("kinds: give at least one fault kind")
    for k in wanted:
        if k not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {k!r} (known: {', '.join(FAULT_KINDS)})")
        if k not in MILDNESS:
            raise ValueError(f"fault kind {k!r} has no strategy yet (faults.strategies.MILDNESS)")
    return [k for k in MILDNESS if k in wanted]


def _check_pods(pods: int | None) -> int:
    if pods is None or int(pods) < 1:
        raise ValueError("store, pod and clock faults need pods= (the scenario's number of pods, >= 1)")
    return int(pods)


def _options(kinds: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    out = {k: dict(OPTIONS[k]) for k in kinds}
    for k, given_opts in (options or {}).items():
        if k not in FAULT_KINDS:
            raise ValueError(f"options: unknown fault kind {k!r}")
        for name, value in given_opts.items():
            if name not in OPTIONS[k]:
                known = ", ".join(OPTIONS[k]) or "none"
                raise ValueError(f"options.{k}: unknown option {name!r} (known: {known})")
            if k in out:
                out[k][name] = value
    if "model_unavailable" in out and not out["model_unavailable"]["models"]:
        raise ValueError("model_unavailable needs models= (the vendor model names the orgs serve)")
    if "lockout" in out and not out["lockout"]["reasons"]:
        raise ValueError("lockout needs at least one reason")
    return out


class _Space:
    """What one fault draws, the same for every kind (so the shrinker can swap kinds): the kind,
    ``n_picks`` target picks, the window, :data:`_N_PARAMS` parameters in ``0.._R``."""

    def __init__(
        self,
        kinds: Sequence[str],
        orgs: Sequence[str],
        duration: float,
        *,
        min_duration: float,
        max_duration: float | None,
        max_targets: int | None,
        resolution: float | None,
        pods: int | None,
        orgs_by_kind: Mapping[str, Sequence[str]] | None,
        options: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        self.kinds = resolve_kinds(kinds)
        self.opts = _options(self.kinds, options)
        self.window = windows(duration, min_duration=min_duration, max_duration=max_duration, resolution=resolution)
        self.pods = _check_pods(pods) if any(k in POD_KINDS for k in self.kinds) else pods
        self.targets: dict[str, list[str]] = {}
        self.n_targets: dict[str, int] = {}
        for k in self.kinds:
            if k not in ORG_KINDS:
                continue
            names = list(dict.fromkeys((orgs_by_kind or {}).get(k, orgs)))
            if not names:
                raise ValueError(f"{k}: org faults need at least one org to target")
            default = len(names) if k == "vendor_incident" else 1
            n = default if max_targets is None else int(max_targets)
            self.targets[k] = names
            self.n_targets[k] = max(1, min(n, len(names)))
        self.n_picks = max(self.n_targets.values(), default=0)

    def build(self, kind: str, picks: Sequence[int], window: tuple[float, float], params: Sequence[int]) -> Any:
        model = FAULT_KINDS[kind]
        fields = _params(kind, [p / _R for p in params], self.opts[kind], self.pods)
        if kind in self.targets:
            names = self.targets[kind]
            chosen = {names[_index(picks[0] / _R, len(names))]}
            for p in picks[1:self.n_targets[kind]]:
                if p > 0:
                    chosen.add(names[_index((p - 1) / _R, len(names))])
            fields["target"] = tuple(n for n in names if n in chosen)
        return model(kind=kind, start=window[0], duration=window[1], **fields)

    def strategy(self) -> _S[Any]:
        @st.composite
        def one_fault(draw: Callable[..., Any]) -> Any:
            kind = self.kinds[draw(st.integers(0, len(self.kinds) - 1))]
            picks = [draw(st.integers(0, _R)) for _ in range(self.n_picks)]
            window = draw(self.window)
            params = [draw(st.integers(0, _R)) for _ in range(_N_PARAMS)]
            return self.build(kind, picks, window, params)

        return one_fault()


def _kind_strategy(kind: str, orgs: Sequence[str], duration: float, *, min_duration: float,
                   max_duration: float | None, max_targets: int | None = None, resolution: float | None,
                   pods: int | None = None, **opts: Any) -> _S[Any]:
    return _Space([kind], orgs, duration, min_duration=min_duration, max_duration=max_duration,
                  max_targets=max_targets, resolution=resolution, pods=pods, orgs_by_kind=None,
                  options={kind: opts}).strategy()


# --------------------------------------------------------------------------- one kind each
#
# Org faults: (orgs, duration, *, min_duration=60, max_duration=None, max_targets=None,
# resolution=None, <kind options>); max_targets None: one org per fault (every given org for
# vendor incidents). Store, pod and clock faults: (pods, duration, ...). Traffic: (duration, ...).


def latency_faults(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
                   max_duration: float | None = None, max_targets: int | None = None,
                   resolution: float | None = None, max_factor: float = 10.0) -> _S[LatencyFault]:
    """Latency x ``factor`` from 1.5x to ``max_factor`` in steps of 0.5 (shrinks towards 1.5x)."""
    return _kind_strategy("latency", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, max_factor=max_factor)


def brownouts(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
              max_duration: float | None = None, max_targets: int | None = None,
              resolution: float | None = None, min_rate: float = 0.05, max_rate: float = 1.0) -> _S[BrownoutFault]:
    """A share ``error_rate`` of calls fail, in whole percent from ``min_rate`` to ``max_rate``
    (shrinks towards ``min_rate``)."""
    return _kind_strategy("brownout", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, min_rate=min_rate, max_rate=max_rate)


def timeouts(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
             max_duration: float | None = None, max_targets: int | None = None,
             resolution: float | None = None, min_rate: float = 0.05, max_rate: float = 1.0) -> _S[TimeoutsFault]:
    """A share of calls hang to the attempt timeout (whole percent, shrinks towards ``min_rate``)."""
    return _kind_strategy("timeouts", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, min_rate=min_rate, max_rate=max_rate)


def connection_resets(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
                      max_duration: float | None = None, max_targets: int | None = None,
                      resolution: float | None = None, min_rate: float = 0.05,
                      max_rate: float = 1.0) -> _S[ConnectionResetsFault]:
    """A share of calls fail at connect time (whole percent, shrinks towards ``min_rate``)."""
    return _kind_strategy("connection_resets", orgs, duration, min_duration=min_duration,
                          max_duration=max_duration, max_targets=max_targets, resolution=resolution,
                          min_rate=min_rate, max_rate=max_rate)


def flapping(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
             max_duration: float | None = None, max_targets: int | None = None,
             resolution: float | None = None, min_period: float = 30.0, max_period: float = 600.0,
             min_rate: float = 0.5) -> _S[FlappingFault]:
    """Sick for ``down``, healthy for ``up``, again and again (no jitter); periods in steps of
    ``min_period`` up to ``max_period``, ``error_rate`` while sick from ``min_rate`` to 100 %.
    Shrinks towards short sick periods, long healthy ones and ``min_rate``."""
    return _kind_strategy("flapping", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, min_period=min_period,
                          max_period=max_period, min_rate=min_rate)


def slow_drips(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
               max_duration: float | None = None, max_targets: int | None = None,
               resolution: float | None = None, max_rate: float = 0.5,
               max_latency_factor: float = 5.0) -> _S[SlowDripFault]:
    """Errors (1 % up to ``max_rate``) and latency (1x up to ``max_latency_factor``) creep up
    over the whole window. Shrinks towards 1 % and no extra latency."""
    return _kind_strategy("slow_drip", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, max_rate=max_rate,
                          max_latency_factor=max_latency_factor)


def rate_limit_squeezes(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
                        max_duration: float | None = None, max_targets: int | None = None,
                        resolution: float | None = None, min_kept: float = 0.05) -> _S[RateLimitSqueezeFault]:
    """The org's RPM cut to a share kept: 90 % down to ``min_kept`` in 5 % steps (shrinks towards
    90 % kept). The target orgs need RPM limits (:func:`for_scenario` picks those)."""
    return _kind_strategy("rate_limit_squeeze", orgs, duration, min_duration=min_duration,
                          max_duration=max_duration, max_targets=max_targets, resolution=resolution,
                          min_kept=min_kept)


def rate_limit_storms(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
                      max_duration: float | None = None, max_targets: int | None = None,
                      resolution: float | None = None, max_retry_after: float = 120.0) -> _S[RateLimitStormFault]:
    """Every call gets a 429 with ``retry-after`` from 5 s to ``max_retry_after`` in 5 s steps
    (shrinks towards 5 s). The target orgs need RPM limits (:func:`for_scenario` picks those)."""
    return _kind_strategy("rate_limit_storm", orgs, duration, min_duration=min_duration,
                          max_duration=max_duration, max_targets=max_targets, resolution=resolution,
                          max_retry_after=max_retry_after)


def vendor_incidents(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
                     max_duration: float | None = None, max_targets: int | None = None,
                     resolution: float | None = None, max_rate: float = 0.5) -> _S[VendorIncidentFault]:
    """Several orgs at once get ``error_rate`` (1 % up to ``max_rate``, equal severity); up to
    ``max_targets`` of ``orgs`` (default all). Shrinks towards the first org alone and 1 %."""
    return _kind_strategy("vendor_incident", orgs, duration, min_duration=min_duration,
                          max_duration=max_duration, max_targets=max_targets, resolution=resolution,
                          max_rate=max_rate)


def model_unavailable(orgs: Sequence[str], duration: float, *, models: Sequence[str],
                      min_duration: float = 60.0, max_duration: float | None = None,
                      max_targets: int | None = None, resolution: float | None = None) -> _S[ModelUnavailableFault]:
    """One (vendor) model of ``models`` fails with 503 in the target orgs (shrinks towards the
    first model)."""
    return _kind_strategy("model_unavailable", orgs, duration, min_duration=min_duration,
                          max_duration=max_duration, max_targets=max_targets, resolution=resolution,
                          models=tuple(models))


def outages(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
            max_duration: float | None = None, max_targets: int | None = None,
            resolution: float | None = None) -> _S[OutageFault]:
    """Every call fails with a 5xx (the default 500/502/503 mix)."""
    return _kind_strategy("outage", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution)


def lockouts(orgs: Sequence[str], duration: float, *, min_duration: float = 60.0,
             max_duration: float | None = None, max_targets: int | None = None,
             resolution: float | None = None,
             reasons: Sequence[str] = ("quota", "auth", "deactivated")) -> _S[LockoutFault]:
    """The account is locked: ``reason`` from ``reasons`` (quota: 429 insufficient_quota,
    auth: 401, deactivated: 403); shrinks towards the first reason."""
    return _kind_strategy("lockout", orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, reasons=tuple(reasons))


def traffic_surges(duration: float, *, min_duration: float = 60.0, max_duration: float | None = None,
                   resolution: float | None = None, max_factor: float = 5.0) -> _S[TrafficSurgeFault]:
    """Traffic x ``factor`` from 1.5x to ``max_factor`` in steps of 0.5 (shrinks towards 1.5x)."""
    return _kind_strategy("traffic_surge", (), duration, min_duration=min_duration, max_duration=max_duration,
                          resolution=resolution, max_factor=max_factor)


def redis_slow(pods: int, duration: float, *, min_duration: float = 60.0, max_duration: float | None = None,
               resolution: float | None = None, max_delay: float = 2.0) -> _S[RedisSlowFault]:
    """Redis answers after ``delay`` (10 ms up to ``max_delay``) for the first k pods or all
    (needs shared state). Shrinks towards 10 ms on pod 0."""
    return _kind_strategy("redis_slow", (), duration, min_duration=min_duration, max_duration=max_duration,
                          resolution=resolution, pods=pods, max_delay=max_delay)


def redis_down(pods: int, duration: float, *, min_duration: float = 60.0, max_duration: float | None = None,
               resolution: float | None = None) -> _S[RedisDownFault]:
    """Redis unreachable for the first k pods or all (needs shared state); shrinks towards pod 0."""
    return _kind_strategy("redis_down", (), duration, min_duration=min_duration, max_duration=max_duration,
                          resolution=resolution, pods=pods)


def pod_partitions(pods: int, duration: float, *, min_duration: float = 60.0, max_duration: float | None = None,
                   resolution: float | None = None) -> _S[PodPartitionFault]:
    """One pod loses Redis (needs shared state); shrinks towards pod 0."""
    return _kind_strategy("pod_partition", (), duration, min_duration=min_duration, max_duration=max_duration,
                          resolution=resolution, pods=pods)


def clock_skews(pods: int, duration: float, *, min_duration: float = 60.0, max_duration: float | None = None,
                resolution: float | None = None, max_offset: float = 600.0) -> _S[ClockSkewFault]:
    """One pod's clock off by 5 s up to ``max_offset`` either way (5 s steps); shrinks towards
    +5 s on pod 0."""
    return _kind_strategy("clock_skew", (), duration, min_duration=min_duration, max_duration=max_duration,
                          resolution=resolution, pods=pods, max_offset=max_offset)


# --------------------------------------------------------------------------- schedules


def fault_strategy(
    kind: str,
    orgs: Sequence[str],
    duration: float,
    *,
    min_duration: float = 60.0,
    max_duration: float | None = None,
    max_targets: int | None = None,
    resolution: float | None = None,
    pods: int | None = None,
    **options: Any,
) -> _S[Any]:
    """The strategy for one fault ``kind`` by name; ``options`` are the kind's (:data:`OPTIONS`),
    e.g. ``fault_strategy("brownout", orgs, 3600, min_rate=0.2)``."""
    (kind,) = resolve_kinds([kind])
    return _kind_strategy(kind, orgs, duration, min_duration=min_duration, max_duration=max_duration,
                          max_targets=max_targets, resolution=resolution, pods=pods, **options)


def relabel(schedule: Sequence[Any], taken: Sequence[str] = ()) -> list[Any]:
    """Order faults by onset (then kind and target) and give duplicate names distinct labels
    (``"brownout org1 #2"``) so the schedule is a valid ``faults:`` list; ``taken`` are labels
    already used (the scenario's own faults)."""
    ordered = sorted(schedule, key=lambda f: (f.start, f.kind, f.target_text(), f.duration or 0.0))
    used = set(taken)
    out = []
    for f in ordered:
        name = f.name()
        if name in used:
            n = 2
            while f"{name} #{n}" in used:
                n += 1
            name = f"{name} #{n}"
            f = f.model_copy(update={"label": name})
        used.add(name)
        out.append(f)
    return out


def fault_schedules(
    orgs: Sequence[str],
    duration: float,
    *,
    kinds: Sequence[str] | str | None = None,
    max_faults: int = 3,
    min_faults: int = 1,
    min_duration: float = 60.0,
    max_duration: float | None = None,
    max_targets: int | None = None,
    resolution: float | None = None,
    pods: int | None = None,
    models: Sequence[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    orgs_by_kind: Mapping[str, Sequence[str]] | None = None,
    taken_labels: Sequence[str] = (),
) -> _S[list[Any]]:
    """Lists of ``min_faults`` to ``max_faults`` valid fault models for a run of ``duration``
    seconds over the orgs ``orgs`` — a scenario's ``faults:``. Faults may overlap and compose.

    ``kinds``: the fault kinds to draw (default :data:`DEFAULT_KINDS`; a list or ``"a,b"``);
    store, pod and clock kinds need ``pods``, ``model_unavailable`` needs ``models``.
    ``max_targets``: orgs per fault (default one; every org for vendor incidents).
    Windows are ``min_duration`` to ``max_duration`` long (default: up to the end of the run) on
    a grid of ``resolution`` seconds. ``options``: per kind, e.g. ``{"brownout": {"min_rate":
    0.2}}`` (:data:`OPTIONS`). ``orgs_by_kind`` narrows some kinds' targets. The list comes
    ordered by onset with unique labels, none of them in ``taken_labels`` (:func:`relabel`).

        @given(fault_schedules(["primary", "secondary1"], 6 * 3600, kinds=["lockout", "brownout"]))
        def test_something(schedule): ...
    """
    if min_faults < 0 or max_faults < max(1, min_faults):
        raise ValueError(f"need 0 <= min_faults <= max_faults and max_faults >= 1 "
                         f"(got min_faults={min_faults}, max_faults={max_faults})")
    opts = {k: dict(v) for k, v in (options or {}).items()}
    if models is not None:
        opts.setdefault("model_unavailable", {}).setdefault("models", tuple(models))
    space = _Space(resolve_kinds(kinds), orgs, duration, min_duration=min_duration, max_duration=max_duration,
                   max_targets=max_targets, resolution=resolution, pods=pods, orgs_by_kind=orgs_by_kind,
                   options=opts)
    taken = tuple(taken_labels)
    one = space.strategy()
    flags = max_faults > min_faults

    @st.composite
    def schedule(draw: Callable[..., Any]) -> list[Any]:
        # A fixed number of slots, each with an "on" flag that shrinks to off: the shrinker drops
        # any fault by flipping one choice (deleting a whole fault from a list would take more
        # consecutive deletions than it tries).
        faults = []
        for _ in range(max_faults):
            on = draw(st.booleans()) if flags else True
            fault = draw(one)
            if on:
                faults.append(fault)
        assume(len(faults) >= min_faults)
        return relabel(faults, taken)

    return schedule()


def for_scenario(
    scenario: Any,
    *,
    kinds: Sequence[str] | str | None = None,
    targets: Sequence[str] | None = None,
    max_faults: int = 3,
    min_faults: int = 1,
    min_duration: float = 60.0,
    max_duration: float | None = None,
    max_targets: int | None = None,
    resolution: float | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> _S[list[Any]]:
    """:func:`fault_schedules` fitted to a :class:`sim.scenario.Scenario`: its orgs (or the
    subset ``targets``), duration, pods and models; squeezes and 429 storms only on orgs with
    RPM limits; labels distinct from the scenario's own faults. Raises ``ValueError`` naming
    what the scenario cannot take (store faults without shared state, no org with RPM limits).

    The scenario is read through what it offers faults (``scenario.fault_targets()``, the
    :class:`~faults.checks.FaultTargets` that :func:`~faults.checks.check_faults` checks against)."""
    offered = scenario.fault_targets()
    names = [o.name for o in offered.orgs]
    chosen = list(dict.fromkeys(targets)) if targets else list(names)
    for t in chosen:
        if t not in names:
            raise ValueError(f"targets: unknown org {t!r} (orgs: {', '.join(names)})")
    ks = resolve_kinds(kinds)
    specs = {o.name: o for _, o in scenario.orgs()}
    orgs_by_kind: dict[str, list[str]] = {}
    for k in ("rate_limit_squeeze", "rate_limit_storm"):
        if k in ks:
            ok = [o for o in chosen if offered.org(o).has_rpm]
            if not ok:
                raise ValueError(f"{k} needs an org with rpm limits (among {', '.join(chosen)})")
            orgs_by_kind[k] = ok
    store = [k for k in ks if k in ("redis_slow", "redis_down", "pod_partition")]
    if store and not offered.shared_state:
        raise ValueError(f"{', '.join(store)} need state: shared (with local state there is no Redis)")
    models: list[str] = []
    if "model_unavailable" in ks:
        known: list[str] = list(scenario.models())
        for o in chosen:
            known += [*specs[o].limits, *specs[o].models]
        models = list(dict.fromkeys(known))
    return fault_schedules(
        chosen, offered.duration, kinds=ks, max_faults=max_faults, min_faults=min_faults,
        min_duration=min_duration, max_duration=max_duration, max_targets=max_targets, resolution=resolution,
        pods=offered.pods, models=models or None, options=options, orgs_by_kind=orgs_by_kind,
        taken_labels=[f.name() for f in scenario.faults],
    )
