"""Faults → what the simulator runs: vendor-model modifiers, traffic surges, runtime hooks.

======================  ==========================================================================
kind                    compiled into
======================  ==========================================================================
lockout                 a modifier with ``lockout``
outage                  ``error_rate_set: 1`` with a 5xx mix
brownout                ``error_rate_set`` (or ``_add``) with the fault's mix
timeouts                an error rate with the mix ``{timeout: 1}`` (the call hangs to its timeout)
connection_resets       an error rate with the mix ``{reset: 1}``
latency                 ``latency_factor`` / ``latency_add``; a ramp → ``steps`` stepped modifiers
slow_drip               stepped modifiers: ``error_rate_add`` and ``latency_factor`` growing
rate_limit_squeeze      ``rpm_factor`` / ``tpm_factor``
rate_limit_storm        per (org, model): ``rpm_factor`` so small that the RPM bucket never holds one
                        request and refills one every ``retry_after`` s — every call gets a 429
                        with ``retry-after`` ≈ ``retry_after`` (``share < 1`` needs engine support)
flapping                one modifier per sick period; periods jittered from the run's seed
vendor_incident         one modifier per target org, scaled by its severity
model_unavailable       ``models: [model]`` with ``error_rate_set: 1`` and the mix ``{503: 1}``
traffic_surge           a :class:`sim.scenario.Surge` in ``traffic.surges`` (:func:`prepare_scenario`)
redis_down, redis_slow,
pod_partition,          hooks installed on the built simulation (:mod:`faults.runtime`)
clock_skew
======================  ==========================================================================

Randomness (flapping jitter, incident spread) comes from the seed's own named streams
(``fault:<label>:…``, numpy ``SeedSequence`` keyed by name, as :mod:`sim.rng` does), so adding
or changing a fault never reshuffles traffic or any org's draws.

Import direction: ``sim`` imports ``faults`` (:mod:`sim.scenario` types its ``faults`` with
:data:`faults.Fault`); ``faults`` never imports ``sim`` at import time. The functions here build
``sim`` objects (:class:`~sim.scenario.Modifier`, :class:`~sim.scenario.Surge`) and use
:class:`sim.rng.Seeds`, importing them when called — by then ``sim`` is loaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from .models import (
    OUTAGE_MIX,
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
    _Fault,
    _OrgFault,
)

__all__ = [
    "FaultNeedsEngine",
    "check_faults",
    "compile_faults",
    "fault_windows",
    "flap_periods",
    "incident_severities",
    "prepare_scenario",
    "runtime_faults",
    "runtime_hooks",
    "surge_label",
]

RUNTIME_KINDS = (RedisDownFault, RedisSlowFault, PodPartitionFault, ClockSkewFault)


class FaultNeedsEngine(NotImplementedError):
    """A fault (or one of its options) that the simulator cannot run yet; the message says what
    the engine needs."""


#: while a simulation that will get :func:`faults.runtime.install` is built: ``(seed,)``
_RUNTIME: ContextVar[tuple[int | None] | None] = ContextVar("faults_runtime", default=None)


@contextlib.contextmanager
def runtime_hooks(seed: int | None = None) -> Iterator[None]:
    """Inside, :func:`compile_faults` leaves store/pod/clock faults to :func:`faults.runtime.install`
    and seeds jitter from ``seed`` (the run's seed, which may differ from ``scenario.seed``)."""
    token = _RUNTIME.set((seed,))
    try:
        yield
    finally:
        _RUNTIME.reset(token)


# --------------------------------------------------------------------------- helpers


def _stop(fault: _Fault, duration: float) -> float:
    s = fault.stop
    return duration if s is None else min(s, duration)


def _seed(scenario: Any, seed: int | None) -> int:
    return int(scenario.seed if seed is None else seed)


def _generator(seed: int, name: str) -> Any:
    from sim.rng import Seeds

    return Seeds(seed).generator(name)


def _resolve_orgs(scenario: Any, targets: Iterable[str]) -> list[str]:
    """Target names → org names in declaration order."""
    pairs = scenario.orgs()
    chosen: set[str] = set()
    for t in targets:
        if t == "*":
            chosen.update(o.name for _, o in pairs)
        elif t.startswith("vendor:"):
            chosen.update(o.name for v, o in pairs if v == t[7:])
        else:
            chosen.add(t)
    return [o.name for _, o in pairs if o.name in chosen]


def _org_spec(scenario: Any, name: str) -> tuple[str, Any]:
    for v, o in scenario.orgs():
        if o.name == name:
            return v, o
    raise KeyError(name)


def _rpm_limits(org: Any) -> dict[str, int]:
    """The RPM the vendor enforces per (vendor) model of one org."""
    out: dict[str, int] = {}
    for m, lim in org.limits.items():
        out[m] = lim.rpm
    for m, spec in org.models.items():
        if spec.rpm is not None:
            out[m] = spec.rpm
        elif m not in org.limits:
            out.pop(m, None)
    return out


def flap_periods(fault: FlappingFault, duration: float, seed: int) -> list[tuple[float, float]]:
    """The sick periods ``[(start, end), ...]`` of a flapping fault in a run of ``duration``."""
    stop = _stop(fault, duration)
    j = fault.jitter
    gen = _generator(seed, f"fault:{fault.name()}:flapping") if j > 0 else None
    out: list[tuple[float, float]] = []
    t = fault.start
    while t < stop:
        down = fault.down * (gen.uniform(1 - j, 1 + j) if gen is not None else 1.0)
        up = fault.up * (gen.uniform(1 - j, 1 + j) if gen is not None else 1.0)
        out.append((t, min(t + down, stop)))
        t += down + up
        if len(out) > 100_000:
            raise ValueError(f"fault {fault.name()!r}: more than 100000 flapping periods")
    return out


def incident_severities(fault: VendorIncidentFault, scenario: Any, seed: int) -> dict[str, float]:
    """Each target org's severity (declaration order) for a vendor incident."""
    orgs = _resolve_orgs(scenario, fault.target)
    gen = _generator(seed, f"fault:{fault.name()}:spread") if fault.spread > 0 else None
    out = {}
    for name in orgs:
        sev = fault.severity.get(name, fault.default_severity)
        if gen is not None:
            sev *= gen.uniform(1 - fault.spread, 1 + fault.spread)
        out[name] = sev
    return out


def surge_label(fault: TrafficSurgeFault) -> str:
    return f"fault:{fault.name()}"


def runtime_faults(scenario: Any) -> list[tuple[int, _Fault]]:
    """``(index, fault)`` of the faults :mod:`faults.runtime` runs (store, pod and clock)."""
    return [(i, f) for i, f in enumerate(scenario.faults) if isinstance(f, RUNTIME_KINDS)]


# --------------------------------------------------------------------------- modifiers


def _modifier_fields() -> set[str]:
    from sim.scenario import Modifier

    return set(Modifier.model_fields)


def _mods_for(fault: _OrgFault, scenario: Any, seed: int) -> list[dict[str, Any]]:
    """Modifier field dicts (without kind/label/targets/models/start/end unless they differ)."""
    duration = float(scenario.duration)
    start, stop = fault.start, fault.stop
    if isinstance(fault, LockoutFault):
        return [{"lockout": fault.reason}]
    if isinstance(fault, OutageFault):
        return [{"error_rate_set": 1.0, "error_mix": dict(fault.errors or OUTAGE_MIX)}]
    if isinstance(fault, BrownoutFault):
        key = "error_rate_add" if fault.additive else "error_rate_set"
        return [{key: fault.error_rate, "error_mix": dict(fault.errors) if fault.errors else None}]
    if isinstance(fault, (TimeoutsFault, ConnectionResetsFault)):
        key = "error_rate_add" if fault.additive else "error_rate_set"
        mix = {"timeout": 1.0} if isinstance(fault, TimeoutsFault) else {"reset": 1.0}
        return [{key: fault.error_rate, "error_mix": mix}]
    if isinstance(fault, LatencyFault):
        if fault.ramp is None or fault.ramp == 0:
            return [{"latency_factor": fault.factor, "latency_add": fault.add}]
        return _steps(start, stop, fault.ramp, fault.steps, lambda x: {
            "latency_factor": 1.0 + (fault.factor - 1.0) * x, "latency_add": fault.add * x})
    if isinstance(fault, SlowDripFault):
        ramp = fault.ramp if fault.ramp is not None else (_stop(fault, duration) - start)
        mix = dict(fault.errors) if fault.errors else None
        return _steps(start, stop, ramp, fault.steps, lambda x: {
            "error_rate_add": fault.error_rate * x, "error_mix": mix,
            "latency_factor": 1.0 + (fault.latency_factor - 1.0) * x})
    if isinstance(fault, RateLimitSqueezeFault):
        return [{"rpm_factor": fault.rpm if fault.rpm is not None else 1.0,
                 "tpm_factor": fault.tpm if fault.tpm is not None else 1.0}]
    if isinstance(fault, RateLimitStormFault):
        return _storm(fault, scenario)
    if isinstance(fault, FlappingFault):
        mix = dict(fault.errors) if fault.errors else None
        return [{"start": s, "end": e, "error_rate_set": fault.error_rate, "error_mix": mix}
                for s, e in flap_periods(fault, duration, seed)]
    if isinstance(fault, VendorIncidentFault):
        mix = dict(fault.errors) if fault.errors else None
        out = []
        for org, sev in incident_severities(fault, scenario, seed).items():
            out.append({"targets": (org,), "error_rate_add": min(1.0, fault.error_rate * sev),
                        "latency_factor": max(0.0, 1.0 + (fault.latency_factor - 1.0) * sev),
                        "error_mix": mix if fault.error_rate > 0 else None})
        return out
    if isinstance(fault, ModelUnavailableFault):
        models = (fault.model,)
        if fault.status == 404:
            if "unavailable" not in _modifier_fields():
                raise FaultNeedsEngine(
                    f"fault {fault.name()!r}: model_unavailable with status 404 needs a Modifier field "
                    "'unavailable: bool' that makes sim.vendor_model answer 404 model_not_found "
                    "(use status: 503 meanwhile)")
            return [{"models": models, "unavailable": True}]
        return [{"models": models, "error_rate_set": 1.0, "error_mix": {"503": 1.0}}]
    raise FaultNeedsEngine(f"fault kind {fault.kind!r} compiles into no modifier")


def _steps(start: float, stop: float | None, ramp: float, n: int, value: Any) -> list[dict[str, Any]]:
    """``n`` steps over ``ramp`` from ``start``: step k (1..n) holds ``value(k/n)``; the last one
    holds until ``stop``. Steps that would begin at or after ``stop`` are dropped."""
    out = []
    width = ramp / n
    for k in range(1, n + 1):
        s = start + (k - 1) * width
        if stop is not None and s >= stop:
            break
        e = stop if k == n else start + k * width
        if stop is not None and e is not None:
            e = min(e, stop)
        out.append({"start": s, "end": e, **value(k / n)})
    return out


def _storm(fault: RateLimitStormFault, scenario: Any) -> list[dict[str, Any]]:
    if fault.share < 1.0:
        if not {"rate_limit_share", "retry_after"} <= _modifier_fields():
            raise FaultNeedsEngine(
                f"fault {fault.name()!r}: a 429 storm with share < 1 needs Modifier fields "
                "'rate_limit_share: float' and 'retry_after: seconds' that make sim.vendor_model answer "
                "429 rate_limit_exceeded with that retry-after to that share of calls (share: 100% works now)")
        return [{"rate_limit_share": fault.share, "retry_after": fault.retry_after}]
    # Bucket capacity c = limit x factor < 1 never admits a request; its wait is
    # (1 - level) x 60 / c, and at the full level c that is retry_after exactly.
    # (a hair above, so float rounding never makes the header say retry_after + 1)
    cap = 60.0 / (fault.retry_after + 60.0) * (1.0 + 1e-9)
    out = []
    for org in _resolve_orgs(scenario, fault.target):
        limits = _rpm_limits(_org_spec(scenario, org)[1])
        for model in (fault.models or tuple(limits)):
            if model in limits:
                out.append({"targets": (org,), "models": (model,), "rpm_factor": cap / limits[model]})
    return out


def compile_faults(scenario: Any, seed: int | None = None, *, runtime: bool = False) -> list[Any]:
    """The scenario's faults as :class:`sim.scenario.Modifier` objects, in fault order.

    ``seed`` (default ``scenario.seed``) seeds flapping jitter and incident spread. Traffic
    surges must already be in ``scenario.traffic`` (:func:`prepare_scenario`), and store, pod
    and clock faults need :func:`faults.runtime.install` on the built simulation — say so with
    ``runtime=True`` (or build the simulation inside :func:`runtime_hooks`); otherwise they
    raise :class:`FaultNeedsEngine` rather than being dropped silently.
    """
    from sim.scenario import Modifier

    ctx = _RUNTIME.get()
    if ctx is not None:
        runtime = True
        seed = ctx[0] if seed is None else seed
    s = _seed(scenario, seed)
    surges = {x.label for x in scenario.traffic.surges}
    out = []
    for fault in scenario.faults:
        if isinstance(fault, TrafficSurgeFault):
            if surge_label(fault) not in surges:
                raise FaultNeedsEngine(
                    f"fault {fault.name()!r}: traffic_surge needs faults.prepare_scenario(scenario) before "
                    "the traffic is generated (sim.engine does not call it yet)")
            continue
        if isinstance(fault, RUNTIME_KINDS):
            if not runtime:
                raise FaultNeedsEngine(
                    f"fault {fault.name()!r}: {fault.kind} needs faults.runtime.install(simulation) after "
                    "the pods are built (run with faults.run, or wire it into sim.engine)")
            continue
        assert isinstance(fault, _OrgFault)
        base = {"kind": fault.kind, "label": fault.name(), "targets": fault.target, "models": fault.models,
                "start": fault.start, "end": fault.stop}
        for fields in _mods_for(fault, scenario, s):
            out.append(Modifier.model_validate({**base, **{k: v for k, v in fields.items() if v is not None}}))
    return out


def prepare_scenario(scenario: Any) -> Any:
    """The scenario with its ``traffic_surge`` faults added to ``traffic.surges`` (idempotent)."""
    faults = [f for f in scenario.faults if isinstance(f, TrafficSurgeFault)]
    if not faults:
        return scenario
    from sim.scenario import Surge

    have = {x.label for x in scenario.traffic.surges}
    duration = float(scenario.duration)
    new = [Surge(start=f.start, end=_stop(f, duration), factor=f.factor, label=surge_label(f))
           for f in faults if surge_label(f) not in have]
    if not new:
        return scenario
    traffic = scenario.traffic.model_copy(update={"surges": (*scenario.traffic.surges, *new)})
    return scenario.model_copy(update={"traffic": traffic})


# --------------------------------------------------------------------------- windows for reports


def _report_target(targets: Iterable[str]) -> str | list[str]:
    out = [t[7:] if t.startswith("vendor:") else t for t in targets]
    return out[0] if len(out) == 1 else out


def fault_windows(scenario: Any, seed: int | None = None) -> list[dict[str, Any]]:
    """One window per fault for ``trace.meta["faults"]`` (what :mod:`reports.metrics` reads):
    ``{kind, target, start, end, label}`` — the org lockouts and modifiers of the scenario first
    (as :func:`sim.engine.fault_windows` lists them), then each fault once, however many
    modifiers it compiled into. A vendor target ``vendor:x`` is written ``x`` (the form the
    reports resolve); a flapping fault also lists its sick ``periods``."""
    out: list[dict[str, Any]] = []
    for _, org in scenario.orgs():
        for lo in org.lockouts:
            out.append({"kind": f"lockout:{lo.kind}", "target": org.name, "start": lo.start, "end": lo.end,
                        "label": lo.label or f"{org.name} {lo.kind} lockout"})
    for m in scenario.modifiers:
        out.append({"kind": m.kind, "target": _report_target(m.targets), "start": m.start, "end": m.end,
                    "label": m.label or f"{m.kind} {','.join(m.targets)}"})
    s = _seed(scenario, seed)
    for fault in scenario.faults:
        w: dict[str, Any] = {"kind": fault.kind, "start": fault.start, "end": fault.stop, "label": fault.name()}
        if isinstance(fault, _OrgFault):
            w["target"] = _report_target(fault.target)
        elif isinstance(fault, (PodPartitionFault, ClockSkewFault)):
            w["target"] = f"pod-{fault.pod}"
        elif isinstance(fault, (RedisDownFault, RedisSlowFault)) and fault.pods is not None:
            w["target"] = [f"pod-{p}" for p in fault.pods] if len(fault.pods) > 1 else f"pod-{fault.pods[0]}"
        else:
            w["target"] = fault.target_text()
        if isinstance(fault, FlappingFault):
            w["periods"] = [list(p) for p in flap_periods(fault, float(scenario.duration), s)]
        out.append(w)
    return out


# --------------------------------------------------------------------------- cross-checks


def check_faults(scenario: Any) -> None:
    """Checks that need the whole scenario; raises ``ValueError("faults.<i>.<field>: ...")``.

    Called by :class:`sim.scenario.Scenario`'s validator: unknown orgs, vendors, models and
    pods, store faults without shared state, faults starting after the run, duplicate labels,
    429 storms on orgs without an RPM limit.
    """
    pairs = scenario.orgs()
    org_names = [o.name for _, o in pairs]
    vendors = {v for v, _ in pairs}
    known_models = set(scenario.models())
    for _, o in pairs:
        known_models.update(o.limits)
        known_models.update(o.models)
    labels: dict[str, int] = {}
    for i, f in enumerate(scenario.faults):
        p = f"faults.{i}"
        if f.start >= scenario.duration:
            raise ValueError(f"{p}.start: the fault starts at {f.start:g}s, after the run ends "
                             f"({scenario.duration:g}s)")
        name = f.name()
        if name in labels:
            raise ValueError(f"{p}.label: duplicate fault label {name!r} (also faults.{labels[name]}; "
                             "set distinct labels)")
        labels[name] = i
        if isinstance(f, _OrgFault):
            for t in f.target:
                if t.startswith("vendor:"):
                    if t[7:] not in vendors:
                        raise ValueError(f"{p}.target: unknown vendor {t[7:]!r} (vendors with orgs: "
                                         f"{', '.join(sorted(vendors))})")
                elif t != "*" and t not in org_names:
                    raise ValueError(f"{p}.target: unknown org {t!r} (orgs: {', '.join(org_names)})")
            for m in (*(f.models or ()), *([f.model] if isinstance(f, ModelUnavailableFault) else [])):
                if m not in known_models:
                    field = "model" if isinstance(f, ModelUnavailableFault) and m == f.model else "models"
                    raise ValueError(f"{p}.{field}: unknown model {m!r} (models: {', '.join(sorted(known_models))})")
            orgs = _resolve_orgs(scenario, f.target)
            if isinstance(f, VendorIncidentFault):
                for o in f.severity:
                    if o not in orgs:
                        raise ValueError(f"{p}.severity: {o!r} is not one of the incident's orgs "
                                         f"({', '.join(orgs)})")
            if isinstance(f, RateLimitSqueezeFault):
                for o in orgs:
                    spec = _org_spec(scenario, o)[1]
                    for what, cut in (("rpm", f.rpm), ("tpm", f.tpm)):
                        has = any(getattr(lim, what) for lim in spec.limits.values()) or any(
                            getattr(ms, what) for ms in spec.models.values())
                        if cut is not None and not has:
                            raise ValueError(f"{p}.{what}: org {o!r} has no {what} limits to squeeze (add limits: "
                                             f"{{<model>: {{rpm: ..., tpm: ...}}}} to the org)")
            if isinstance(f, RateLimitStormFault) and f.share >= 1.0:
                for o in orgs:
                    limits = _rpm_limits(_org_spec(scenario, o)[1])
                    if not any(m in limits for m in (f.models or tuple(limits))):
                        raise ValueError(f"{p}.target: a 429 storm on org {o!r} needs an rpm limit for "
                                         "the model in its limits")
        pods: tuple[int, ...] = ()
        if isinstance(f, (PodPartitionFault, ClockSkewFault)):
            pods = (f.pod,)
        elif isinstance(f, (RedisDownFault, RedisSlowFault)):
            pods = f.pods or ()
        for pod in pods:
            if pod >= scenario.pods:
                field = "pod" if isinstance(f, (PodPartitionFault, ClockSkewFault)) else "pods"
                raise ValueError(f"{p}.{field}: no pod {pod} (the scenario has {scenario.pods} pods: "
                                 f"0..{scenario.pods - 1})")
        if isinstance(f, (RedisDownFault, RedisSlowFault, PodPartitionFault)) and scenario.state != "shared":
            raise ValueError(f"{p}.kind: {f.kind} needs state: shared (with local state there is no Redis)")
