"""Faults → what the engine runs: vendor-model modifiers, traffic surges, runtime hooks, windows.

======================  ==========================================================================
kind                    lowered into
======================  ==========================================================================
lockout                 a modifier with ``lockout``
outage                  ``error_rate_set: 1`` with a 5xx mix
brownout                ``error_rate_set`` (or ``_add``) with the fault's mix
timeouts                an error rate with the mix ``{timeout: 1}`` (the call hangs to its timeout)
connection_resets       an error rate with the mix ``{reset: 1}``
latency                 ``latency_factor`` / ``latency_add`` on its ``latency_part``; a ramp → ``steps``
                        stepped modifiers
slow_drip               stepped modifiers: ``error_rate_add`` and ``latency_factor`` growing
rate_limit_squeeze      ``rpm_factor`` / ``tpm_factor``
rate_limit_storm        per (org, model): ``rpm_factor`` so small that the RPM bucket never holds one
                        request and refills one every ``retry_after`` s — every call gets a 429
                        with ``retry-after`` ≈ ``retry_after`` (``share < 1`` needs engine support)
flapping                one modifier per sick period; periods jittered from the run's seed
vendor_incident         one modifier per target org, scaled by its severity
model_unavailable       ``models: [model]`` with ``error_rate_set: 1`` and the mix ``{503: 1}``
traffic_surge           a :class:`~sim.scenario.Surge` in ``traffic.surges`` (:func:`with_surges`)
redis_down, redis_slow,
pod_partition,          a :class:`~sim.fault_hooks.RuntimeEffects` the pods are built with
clock_skew              (:func:`runtime_effects`)
======================  ==========================================================================

:func:`lower_faults` does all of it for one run; the engine (:mod:`sim.engine`) and the
bring-your-own-router runner (:mod:`sim.byo`) both call it, so a fault means the same thing
whoever routes. :func:`fault_windows` is the one description of a run's faults in
``trace.meta["faults"]``.

Randomness (flapping jitter, incident spread) comes from the seed's own named streams
(``fault:<label>:…``, :class:`sim.rng.Seeds`), so adding or changing a fault never reshuffles
traffic or any org's draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from faults.checks import FaultNeedsEngine, FaultTargets
from faults.models import (
    OUTAGE_MIX,
    BrownoutFault,
    ClockSkewFault,
    ConnectionResetsFault,
    FaultBase,
    FlappingFault,
    LatencyFault,
    LockoutFault,
    ModelUnavailableFault,
    OrgFault,
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

from .fault_hooks import RedisSchedule, RuntimeEffects
from .rng import Seeds
from .scenario import Modifier, Scenario, Surge

__all__ = [
    "LoweredFaults",
    "fault_modifiers",
    "fault_windows",
    "flap_periods",
    "incident_severities",
    "lower_faults",
    "runtime_effects",
    "with_surges",
]

#: faults that act on the pods (store, pod and clock), not on the vendors
RUNTIME_KINDS = (RedisDownFault, RedisSlowFault, PodPartitionFault, ClockSkewFault)


@dataclass(frozen=True)
class LoweredFaults:
    """One run's faults, lowered: what the engine builds the run from."""

    #: the scenario with its traffic surges in ``traffic.surges``
    scenario: Scenario
    #: the scenario's own modifiers, then the faults' (fault order)
    modifiers: tuple[Modifier, ...]
    #: store, pod and clock faults, per pod
    runtime: RuntimeEffects
    #: ``trace.meta["faults"]``
    windows: list[dict[str, Any]]


def lower_faults(scenario: Scenario, seed: int) -> LoweredFaults:
    """Everything the scenario's faults do to a run at ``seed`` (the run's seed, which may
    differ from ``scenario.seed``)."""
    prepared = with_surges(scenario)
    modifiers = (*prepared.modifiers, *fault_modifiers(prepared, seed))
    return LoweredFaults(prepared, modifiers, runtime_effects(prepared), fault_windows(prepared, seed))


# --------------------------------------------------------------------------- helpers


def _stop(fault: FaultBase, duration: float) -> float:
    s = fault.stop
    return duration if s is None else min(s, duration)


def flap_periods(fault: FlappingFault, duration: float, seed: int) -> list[tuple[float, float]]:
    """The sick periods ``[(start, end), ...]`` of a flapping fault in a run of ``duration``."""
    stop = _stop(fault, duration)
    j = fault.jitter
    gen = Seeds(seed).generator(f"fault:{fault.name()}:flapping") if j > 0 else None
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


def incident_severities(fault: VendorIncidentFault, targets: FaultTargets, seed: int) -> dict[str, float]:
    """Each target org's severity (declaration order) for a vendor incident."""
    gen = Seeds(seed).generator(f"fault:{fault.name()}:spread") if fault.spread > 0 else None
    out = {}
    for name in targets.resolve(fault.target):
        sev = fault.severity.get(name, fault.default_severity)
        if gen is not None:
            sev *= gen.uniform(1 - fault.spread, 1 + fault.spread)
        out[name] = sev
    return out


def surge_label(fault: TrafficSurgeFault) -> str:
    return f"fault:{fault.name()}"


# --------------------------------------------------------------------------- traffic


def with_surges(scenario: Scenario) -> Scenario:
    """The scenario with its ``traffic_surge`` faults added to ``traffic.surges`` (idempotent)."""
    surges = [f for f in scenario.faults if isinstance(f, TrafficSurgeFault)]
    have = {x.label for x in scenario.traffic.surges}
    duration = float(scenario.duration)
    new = [Surge(start=f.start, end=_stop(f, duration), factor=f.factor, label=surge_label(f))
           for f in surges if surge_label(f) not in have]
    if not new:
        return scenario
    traffic = scenario.traffic.model_copy(update={"surges": (*scenario.traffic.surges, *new)})
    return scenario.model_copy(update={"traffic": traffic})


# --------------------------------------------------------------------------- runtime hooks


def runtime_effects(scenario: Scenario) -> RuntimeEffects:
    """The store, pod and clock faults, per pod: when its Redis is down or slow, its clock skewed."""
    n = scenario.pods
    down: list[list[Any]] = [[] for _ in range(n)]
    slow: list[list[Any]] = [[] for _ in range(n)]
    skews: list[list[Any]] = [[] for _ in range(n)]
    for f in scenario.faults:
        window = (f.start, f.stop)
        if isinstance(f, RedisDownFault):
            for p in (f.pods if f.pods is not None else range(n)):
                down[p].append(window)
        elif isinstance(f, PodPartitionFault):
            down[f.pod].append(window)
        elif isinstance(f, RedisSlowFault):
            for p in (f.pods if f.pods is not None else range(n)):
                slow[p].append((*window, f.delay, f.timeout))
        elif isinstance(f, ClockSkewFault):
            skews[f.pod].append((*window, f.offset))
    return RuntimeEffects(
        tuple(RedisSchedule(tuple(d), tuple(s)) for d, s in zip(down, slow, strict=True)),
        tuple(tuple(s) for s in skews),
    )


# --------------------------------------------------------------------------- modifiers

#: modifier field dicts of one fault (without kind/label/targets/models/start/end unless they differ)
Fields = list[dict[str, Any]]


def _error_fields(fault: BrownoutFault | TimeoutsFault | ConnectionResetsFault) -> Fields:
    key = "error_rate_add" if fault.additive else "error_rate_set"
    if isinstance(fault, BrownoutFault):
        mix = dict(fault.errors) if fault.errors else None
    else:
        mix = {"timeout": 1.0} if isinstance(fault, TimeoutsFault) else {"reset": 1.0}
    return [{key: fault.error_rate, "error_mix": mix}]


def _latency_fields(fault: LatencyFault) -> Fields:
    part = fault.latency_part
    if fault.ramp is None or fault.ramp == 0:
        return [{"latency_factor": fault.factor, "latency_add": fault.add, "latency_part": part}]
    return _steps(fault.start, fault.stop, fault.ramp, fault.steps, lambda x: {
        "latency_factor": 1.0 + (fault.factor - 1.0) * x, "latency_add": fault.add * x, "latency_part": part})


def _slow_drip_fields(fault: SlowDripFault, duration: float) -> Fields:
    ramp = fault.ramp if fault.ramp is not None else (_stop(fault, duration) - fault.start)
    mix = dict(fault.errors) if fault.errors else None
    return _steps(fault.start, fault.stop, ramp, fault.steps, lambda x: {
        "error_rate_add": fault.error_rate * x, "error_mix": mix,
        "latency_factor": 1.0 + (fault.latency_factor - 1.0) * x, "latency_part": fault.latency_part})


def _flapping_fields(fault: FlappingFault, duration: float, seed: int) -> Fields:
    mix = dict(fault.errors) if fault.errors else None
    return [{"start": s, "end": e, "error_rate_set": fault.error_rate, "error_mix": mix}
            for s, e in flap_periods(fault, duration, seed)]


def _incident_fields(fault: VendorIncidentFault, targets: FaultTargets, seed: int) -> Fields:
    mix = dict(fault.errors) if fault.errors else None
    return [{"targets": (org,), "error_rate_add": min(1.0, fault.error_rate * sev),
             "latency_factor": max(0.0, 1.0 + (fault.latency_factor - 1.0) * sev),
             "latency_part": fault.latency_part,
             "error_mix": mix if fault.error_rate > 0 else None}
            for org, sev in incident_severities(fault, targets, seed).items()]


def _unavailable_fields(fault: ModelUnavailableFault) -> Fields:
    if fault.status == 404:
        raise FaultNeedsEngine(
            f"fault {fault.name()!r}: model_unavailable with status 404 needs a Modifier field "
            "'unavailable: bool' that makes sim.vendor_model answer 404 model_not_found "
            "(use status: 503 meanwhile)")
    return [{"models": (fault.model,), "error_rate_set": 1.0, "error_mix": {"503": 1.0}}]


def _storm_fields(fault: RateLimitStormFault, targets: FaultTargets) -> Fields:
    if fault.share < 1.0:
        raise FaultNeedsEngine(
            f"fault {fault.name()!r}: a 429 storm with share < 1 needs Modifier fields "
            "'rate_limit_share: float' and 'retry_after: seconds' that make sim.vendor_model answer "
            "429 rate_limit_exceeded with that retry-after to that share of calls (share: 100% works now)")
    # Bucket capacity c = limit x factor < 1 never admits a request; its wait is
    # (1 - level) x 60 / c, and at the full level c that is retry_after exactly.
    # (a hair above, so float rounding never makes the header say retry_after + 1)
    cap = 60.0 / (fault.retry_after + 60.0) * (1.0 + 1e-9)
    out = []
    for org in targets.resolve(fault.target):
        limits = targets.org(org).rpm
        for model in (fault.models or tuple(limits)):
            if model in limits:
                out.append({"targets": (org,), "models": (model,), "rpm_factor": cap / limits[model]})
    return out


def _fields(fault: OrgFault, targets: FaultTargets, seed: int) -> Fields:
    """What one vendor-side fault does, as modifier field dicts."""
    if isinstance(fault, LockoutFault):
        return [{"lockout": fault.reason}]
    if isinstance(fault, OutageFault):
        return [{"error_rate_set": 1.0, "error_mix": dict(fault.errors or OUTAGE_MIX)}]
    if isinstance(fault, (BrownoutFault, TimeoutsFault, ConnectionResetsFault)):
        return _error_fields(fault)
    if isinstance(fault, LatencyFault):
        return _latency_fields(fault)
    if isinstance(fault, SlowDripFault):
        return _slow_drip_fields(fault, targets.duration)
    if isinstance(fault, RateLimitSqueezeFault):
        return [{"rpm_factor": fault.rpm if fault.rpm is not None else 1.0,
                 "tpm_factor": fault.tpm if fault.tpm is not None else 1.0}]
    if isinstance(fault, RateLimitStormFault):
        return _storm_fields(fault, targets)
    if isinstance(fault, FlappingFault):
        return _flapping_fields(fault, targets.duration, seed)
    if isinstance(fault, VendorIncidentFault):
        return _incident_fields(fault, targets, seed)
    if isinstance(fault, ModelUnavailableFault):
        return _unavailable_fields(fault)
    raise FaultNeedsEngine(f"fault kind {fault.kind!r} lowers into no modifier")


def _steps(start: float, stop: float | None, ramp: float, n: int, value: Callable[[float], dict[str, Any]]) -> Fields:
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


def fault_modifiers(scenario: Scenario, seed: int) -> list[Modifier]:
    """The scenario's vendor-side faults as modifiers, in fault order (traffic, store, pod and
    clock faults lower elsewhere: :func:`with_surges`, :func:`runtime_effects`). ``seed`` seeds
    flapping jitter and incident spread."""
    targets = scenario.fault_targets()
    out = []
    for fault in scenario.faults:
        if not isinstance(fault, OrgFault):
            continue
        base = {"kind": fault.kind, "label": fault.name(), "targets": fault.target, "models": fault.models,
                "start": fault.start, "end": fault.stop}
        for fields in _fields(fault, targets, seed):
            out.append(Modifier.model_validate({**base, **{k: v for k, v in fields.items() if v is not None}}))
    return out


# --------------------------------------------------------------------------- windows for reports


def _report_target(targets: Iterable[str]) -> str | list[str]:
    out = [t[7:] if t.startswith("vendor:") else t for t in targets]
    return out[0] if len(out) == 1 else out


def _fault_target(fault: FaultBase) -> str | list[str]:
    if isinstance(fault, OrgFault):
        return _report_target(fault.target)
    if isinstance(fault, (PodPartitionFault, ClockSkewFault)):
        return f"pod-{fault.pod}"
    if isinstance(fault, (RedisDownFault, RedisSlowFault)) and fault.pods is not None:
        return [f"pod-{p}" for p in fault.pods] if len(fault.pods) > 1 else f"pod-{fault.pods[0]}"
    return fault.target_text()


def _served_models(scenario: Scenario, orgs: Iterable[str], targets: FaultTargets) -> list[str]:
    """The model names ``orgs`` are called with: the requested models through each vendor's model_map."""
    req = scenario.traffic.model
    wanted = [req] if isinstance(req, str) else list(req)
    vendors = {targets.org(o).vendor for o in orgs}
    return sorted({scenario.vendors[v].model_map.get(m, m) for v in vendors for m in wanted})


def fault_windows(scenario: Scenario, seed: int | None = None) -> list[dict[str, Any]]:
    """``trace.meta["faults"]``: ``{kind, target, start, end, label}`` for each org lockout, each
    of the scenario's own modifiers, then each fault once (however many modifiers it lowers
    into), in that order, whether or not the scenario has faults. A vendor target
    ``vendor:x`` is written ``x`` (the form reports resolve); several targets are a list; a
    fault of the catalogue adds its ``params`` (its other fields), an org fault the models its
    target orgs ``serves``; a flapping fault also lists its sick ``periods``. ``seed``: the
    run's (default the scenario's)."""
    out: list[dict[str, Any]] = []
    for _, org in scenario.orgs():
        for lo in org.lockouts:
            out.append({"kind": f"lockout:{lo.kind}", "target": org.name, "start": lo.start, "end": lo.end,
                        "label": lo.label or f"{org.name} {lo.kind} lockout"})
    for m in scenario.modifiers:
        out.append({"kind": m.kind, "target": _report_target(m.targets), "start": m.start, "end": m.end,
                    "label": m.label or f"{m.kind} {','.join(m.targets)}"})
    s = scenario.seed if seed is None else int(seed)
    targets = scenario.fault_targets()
    for fault in scenario.faults:
        w: dict[str, Any] = {"kind": fault.kind, "start": fault.start, "end": fault.stop, "label": fault.name(),
                             "target": _fault_target(fault)}
        # the fault's own parameters: reports tell a hard fault from a partial one by them
        w["params"] = fault.model_dump(mode="json", exclude={"kind", "label", "start", "duration", "end", "target"})
        if isinstance(fault, OrgFault):
            w["serves"] = _served_models(scenario, targets.resolve(fault.target), targets)
        if isinstance(fault, FlappingFault):
            w["periods"] = [list(p) for p in flap_periods(fault, float(scenario.duration), s)]
        out.append(w)
    return out
