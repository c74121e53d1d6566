"""Checks of a fault list against the world it runs in, on plain data.

A fault may name orgs, vendors, models and pods that the scenario must have. The scenario
describes what it offers as a :class:`FaultTargets` (``sim.scenario.Scenario.fault_targets``
builds one), so this module never sees the scenario type and ``faults`` imports no ``sim``.

:func:`check_faults` raises :class:`FaultCheckError` (a ``ValueError``) whose message starts
with the field path, ``faults.<i>.<field>: ...``, as every scenario error does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .models import (
    ClockSkewFault,
    FaultBase,
    ModelUnavailableFault,
    OrgFault,
    PodPartitionFault,
    RateLimitSqueezeFault,
    RateLimitStormFault,
    RedisDownFault,
    RedisSlowFault,
    VendorIncidentFault,
)

__all__ = ["FaultCheckError", "FaultNeedsEngine", "FaultTargets", "OrgTarget", "check_faults"]


class FaultCheckError(ValueError):
    """A fault that does not fit its scenario; the message starts with ``faults.<i>.<field>:``."""


class FaultNeedsEngine(NotImplementedError):
    """A fault (or one of its options) that the simulator cannot run yet; the message says what
    the engine needs."""


@dataclass(frozen=True)
class OrgTarget:
    """One org a fault may aim at."""

    name: str
    vendor: str
    #: the RPM the vendor enforces, per (vendor) model
    rpm: Mapping[str, int]
    #: whether the org has any RPM / TPM limit (in its limits or its model specs)
    has_rpm: bool
    has_tpm: bool


@dataclass(frozen=True)
class FaultTargets:
    """What a scenario offers faults: its orgs (declaration order), models, pods, length, state."""

    orgs: tuple[OrgTarget, ...]
    #: every model name a fault may name
    models: frozenset[str]
    pods: int
    duration: float
    shared_state: bool

    def org(self, name: str) -> OrgTarget:
        for o in self.orgs:
            if o.name == name:
                return o
        raise KeyError(name)

    def resolve(self, targets: Iterable[str]) -> list[str]:
        """Target names (``org``, ``vendor:<name>``, ``"*"``) → org names in declaration order."""
        chosen: set[str] = set()
        for t in targets:
            if t == "*":
                chosen.update(o.name for o in self.orgs)
            elif t.startswith("vendor:"):
                chosen.update(o.name for o in self.orgs if o.vendor == t[7:])
            else:
                chosen.add(t)
        return [o.name for o in self.orgs if o.name in chosen]


def check_faults(faults: Sequence[FaultBase], targets: FaultTargets) -> None:
    """Checks that need the world: unknown orgs, vendors, models and pods, store faults without
    shared state, faults starting after the run, duplicate labels, squeezes and 429 storms on
    orgs without the limits they cut. Raises :class:`FaultCheckError` for the first problem."""
    labels: dict[str, int] = {}
    for i, f in enumerate(faults):
        p = f"faults.{i}"
        if f.start >= targets.duration:
            raise FaultCheckError(f"{p}.start: the fault starts at {f.start:g}s, after the run ends "
                                  f"({targets.duration:g}s)")
        name = f.name()
        if name in labels:
            raise FaultCheckError(f"{p}.label: duplicate fault label {name!r} (also faults.{labels[name]}; "
                                  "set distinct labels)")
        labels[name] = i
        if isinstance(f, OrgFault):
            _check_org_fault(p, f, targets)
        _check_pods(p, f, targets)


def _check_org_fault(p: str, f: OrgFault, targets: FaultTargets) -> None:
    org_names = [o.name for o in targets.orgs]
    vendors = {o.vendor for o in targets.orgs}
    for t in f.target:
        if t.startswith("vendor:"):
            if t[7:] not in vendors:
                raise FaultCheckError(f"{p}.target: unknown vendor {t[7:]!r} (vendors with orgs: "
                                      f"{', '.join(sorted(vendors))})")
        elif t != "*" and t not in org_names:
            raise FaultCheckError(f"{p}.target: unknown org {t!r} (orgs: {', '.join(org_names)})")
    unavailable = isinstance(f, ModelUnavailableFault)
    for m in (*(f.models or ()), *([f.model] if unavailable else [])):
        if m not in targets.models:
            field = "model" if unavailable and m == f.model else "models"
            raise FaultCheckError(f"{p}.{field}: unknown model {m!r} "
                                  f"(models: {', '.join(sorted(targets.models))})")
    orgs = targets.resolve(f.target)
    if isinstance(f, VendorIncidentFault):
        for o in f.severity:
            if o not in orgs:
                raise FaultCheckError(f"{p}.severity: {o!r} is not one of the incident's orgs ({', '.join(orgs)})")
    if isinstance(f, RateLimitSqueezeFault):
        for o in orgs:
            spec = targets.org(o)
            for what, cut, has in (("rpm", f.rpm, spec.has_rpm), ("tpm", f.tpm, spec.has_tpm)):
                if cut is not None and not has:
                    raise FaultCheckError(f"{p}.{what}: org {o!r} has no {what} limits to squeeze (add limits: "
                                          f"{{<model>: {{rpm: ..., tpm: ...}}}} to the org)")
    if isinstance(f, RateLimitStormFault) and f.share >= 1.0:
        for o in orgs:
            limits = targets.org(o).rpm
            if not any(m in limits for m in (f.models or tuple(limits))):
                raise FaultCheckError(f"{p}.target: a 429 storm on org {o!r} needs an rpm limit for "
                                      "the model in its limits")


def _check_pods(p: str, f: FaultBase, targets: FaultTargets) -> None:
    one_pod = isinstance(f, (PodPartitionFault, ClockSkewFault))
    pods: tuple[int, ...] = ()
    if one_pod:
        pods = (f.pod,)  # type: ignore[attr-defined]
    elif isinstance(f, (RedisDownFault, RedisSlowFault)):
        pods = f.pods or ()
    for pod in pods:
        if pod >= targets.pods:
            raise FaultCheckError(f"{p}.{'pod' if one_pod else 'pods'}: no pod {pod} (the scenario has "
                                  f"{targets.pods} pods: 0..{targets.pods - 1})")
    if isinstance(f, (RedisDownFault, RedisSlowFault, PodPartitionFault)) and not targets.shared_state:
        raise FaultCheckError(f"{p}.kind: {f.kind} needs state: shared (with local state there is no Redis)")
