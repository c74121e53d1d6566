"""The fault catalogue: one pydantic model per fault kind, discriminated by ``kind``.

Every fault has an onset ``start``, an optional ``duration`` or ``end`` (neither: until the run
ends), a ``label`` (default ``"<kind> <target>"``; unique in a scenario, it names the fault in
reports and in SLO phases such as ``during:<label>``) and its own parameters. Faults compose:
several may overlap on one target (see :class:`sim.scenario.Modifier` for how modifiers
combine).

Targets (``target:`` a name or a list of names):

=====================  ==========================================================
``<org>``              one org (its name in ``vendors.<vendor>.orgs``)
``vendor:<name>``      every org of a vendor (``vendor:openai``)
``"*"``                every org
=====================  ==========================================================

Store, pod and clock faults name pods by index (``pod: 2``); traffic faults have no target.

This module is pure data: it imports pydantic, :mod:`faults.units` and ``multiorg`` only, so
:mod:`sim.scenario` can type ``Scenario.faults`` with :data:`Fault`. What each kind does to a
run is the engine's business: :mod:`sim.fault_effects` lowers faults into vendor-model
modifiers, traffic surges and runtime hooks.
"""

from __future__ import annotations

import math
from functools import reduce
from operator import or_
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .units import duration, factor, rate, signed_duration

__all__ = [
    "FAULT_KINDS",
    "FAULT_TYPES",
    "OUTAGE_MIX",
    "BrownoutFault",
    "ClockSkewFault",
    "ConnectionResetsFault",
    "Fault",
    "FaultBase",
    "FlappingFault",
    "LatencyFault",
    "LatencyPart",
    "LockoutFault",
    "ModelUnavailableFault",
    "OrgFault",
    "OutageFault",
    "PodPartitionFault",
    "RateLimitSqueezeFault",
    "RateLimitStormFault",
    "RedisDownFault",
    "RedisSlowFault",
    "SlowDripFault",
    "StoreFault",
    "TimeoutsFault",
    "TrafficSurgeFault",
    "VendorIncidentFault",
]

_NUM_OR_STR: Any = float | str

Seconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(gt=0)]
Rate = Annotated[float, BeforeValidator(rate, json_schema_input_type=_NUM_OR_STR), Field(ge=0, le=1)]
PositiveRate = Annotated[float, BeforeValidator(rate, json_schema_input_type=_NUM_OR_STR), Field(gt=0, le=1)]
Factor = Annotated[float, BeforeValidator(factor, json_schema_input_type=_NUM_OR_STR), Field(ge=0)]
PositiveFactor = Annotated[float, BeforeValidator(factor, json_schema_input_type=_NUM_OR_STR), Field(gt=0)]

#: the error kinds of a status mix (the same as :data:`sim.scenario.ErrorKind`)
ErrorKind = Literal["500", "502", "503", "529", "timeout", "reset"]
LockoutKind = Literal["quota", "auth", "deactivated"]
#: which part of a token-aware latency (:class:`sim.scenario.Latency`) a slowness acts on: time to
#: first token, time per output token, or the whole; a one-lognormal latency is always the whole
LatencyPart = Literal["both", "ttft", "tpot"]


SignedSeconds = Annotated[float, BeforeValidator(signed_duration, json_schema_input_type=_NUM_OR_STR)]


def _targets(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    return value


Targets = Annotated[tuple[Annotated[str, Field(min_length=1)], ...],
                    BeforeValidator(_targets, json_schema_input_type=str | list[str]), Field(min_length=1)]


def _mix(value: Any) -> Any:
    """An error mix: ``{503: 2, timeout: 1}`` (weights) or a list of kinds (equal weights)."""
    if isinstance(value, (list, tuple)):
        return {str(k): 1.0 for k in value}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (str, int)):
        return {str(value): 1.0}
    return value


Mix = Annotated[dict[ErrorKind, Annotated[float, Field(gt=0)]],
                BeforeValidator(_mix, json_schema_input_type=dict[str, float] | list[str] | str)]

#: a hard outage answers with these by default
OUTAGE_MIX: dict[str, float] = {"500": 0.4, "502": 0.2, "503": 0.4}


class FaultBase(BaseModel):
    """Fields every fault has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: what the fault kind does to the world; set per subclass
    scope: ClassVar[Literal["org", "traffic", "store", "pod"]] = "org"

    kind: str
    #: names the fault in reports and SLO phases (default ``"<kind> <target>"``)
    label: str = ""
    #: onset, from the run's start
    start: Seconds = 0.0
    #: how long it lasts (or give ``end``; neither: until the run ends)
    duration: PositiveSeconds | None = None
    #: when it stops, from the run's start
    end: Seconds | None = None

    @model_validator(mode="after")
    def _window(self) -> Any:
        if self.duration is not None and self.end is not None:
            raise ValueError("duration: give duration or end, not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end: must be after start ({self.end:g}s <= {self.start:g}s)")
        return self

    @property
    def stop(self) -> float | None:
        """The end of the window (None: until the run ends)."""
        if self.duration is not None:
            return self.start + self.duration
        return self.end

    def target_text(self) -> str:
        return ""

    def name(self) -> str:
        """The fault's label, or its default."""
        if self.label:
            return self.label
        t = self.target_text()
        return f"{self.kind} {t}" if t else self.kind


class OrgFault(FaultBase):
    """A fault on orgs: ``target`` plus an optional list of (vendor) model names."""

    #: org names, ``vendor:<name>`` or ``"*"``
    target: Targets
    #: vendor model names it hits (default: all)
    models: tuple[str, ...] | None = None

    def target_text(self) -> str:
        return ",".join(self.target)


class LockoutFault(OrgFault):
    """The account answers every call with a lockout: ``quota`` (billing: 429
    ``insufficient_quota``), ``auth`` (401 invalid key) or ``deactivated`` (403)."""

    kind: Literal["lockout"]
    reason: LockoutKind = "quota"


class OutageFault(OrgFault):
    """A hard outage: every call fails with a 5xx (``errors``: the mix, default 500/502/503)."""

    kind: Literal["outage"]
    errors: Mix | None = None


class BrownoutFault(OrgFault):
    """A share ``error_rate`` of calls fail (set, or added to the org's own rate with ``additive``)."""

    kind: Literal["brownout"]
    error_rate: Rate
    additive: bool = False
    errors: Mix | None = None


class TimeoutsFault(OrgFault):
    """Hangs: a share of calls never answer and cost the whole attempt timeout."""

    kind: Literal["timeouts"]
    error_rate: Rate = 1.0
    additive: bool = False


class ConnectionResetsFault(OrgFault):
    """Connection resets: a share of calls fail at connect time (``connect_latency``)."""

    kind: Literal["connection_resets"]
    error_rate: Rate = 1.0
    additive: bool = False


class LatencyFault(OrgFault):
    """Latency x ``factor`` + ``add``; with ``ramp`` it grows linearly from none to full over
    that long (compiled into ``steps`` steps), then holds. ``latency_part``: what it slows of a
    token-aware latency — ``ttft`` (time to first token), ``tpot`` (time per output token;
    ``add`` is then seconds per token, so long completions slow most) or ``both`` (the whole
    answer; a one-lognormal latency is always slowed whole)."""

    kind: Literal["latency"]
    factor: Factor = 1.0
    add: Seconds = 0.0
    latency_part: LatencyPart = "both"
    ramp: Seconds | None = None
    steps: int = Field(default=8, ge=1, le=1000)

    @model_validator(mode="after")
    def _something(self) -> LatencyFault:
        if self.factor == 1.0 and self.add == 0.0:
            raise ValueError("a latency fault needs factor != 1 or add > 0")
        return self


class SlowDripFault(OrgFault):
    """Errors and latency creep up over hours: the added error rate ramps from 0 to
    ``error_rate`` and the latency factor from 1 to ``latency_factor`` over ``ramp`` (default:
    the whole fault), in ``steps`` steps, then hold."""

    kind: Literal["slow_drip"]
    error_rate: Rate = 0.0
    latency_factor: Factor = 1.0
    #: what ``latency_factor`` slows of a token-aware latency (see :class:`LatencyFault`)
    latency_part: LatencyPart = "both"
    ramp: PositiveSeconds | None = None
    steps: int = Field(default=12, ge=1, le=1000)
    errors: Mix | None = None

    @model_validator(mode="after")
    def _ramped(self) -> SlowDripFault:
        if self.ramp is None and self.stop is None:
            raise ValueError("a slow drip until the end of the run needs a ramp duration")
        if self.error_rate == 0.0 and self.latency_factor == 1.0:
            raise ValueError("a slow drip needs error_rate > 0 or latency_factor != 1")
        return self


class RateLimitSqueezeFault(OrgFault):
    """The vendor cuts the org's limits: ``rpm`` / ``tpm`` are the share kept (``25%``)."""

    kind: Literal["rate_limit_squeeze"]
    rpm: PositiveFactor | None = None
    tpm: PositiveFactor | None = None

    @model_validator(mode="after")
    def _cut(self) -> RateLimitSqueezeFault:
        if self.rpm is None and self.tpm is None:
            raise ValueError("a rate-limit squeeze needs rpm or tpm (the share of the limit kept, e.g. 25%)")
        return self


class RateLimitStormFault(OrgFault):
    """A 429 storm: the org answers ``rate_limit_exceeded`` with ``retry-after: <retry_after>``
    to a share ``share`` of calls, whatever its usage."""

    kind: Literal["rate_limit_storm"]
    retry_after: PositiveSeconds = 30.0
    share: PositiveRate = 1.0


class FlappingFault(OrgFault):
    """The org goes sick for ``down`` and healthy for ``up``, again and again, each period
    stretched by a seeded random factor in ``[1 - jitter, 1 + jitter]``. While sick, a share
    ``error_rate`` of its calls fail (default: all)."""

    kind: Literal["flapping"]
    down: PositiveSeconds
    up: PositiveSeconds
    jitter: Annotated[float, BeforeValidator(rate, json_schema_input_type=_NUM_OR_STR), Field(ge=0, lt=1)] = 0.0
    error_rate: Rate = 1.0
    errors: Mix | None = None


class VendorIncidentFault(OrgFault):
    """A vendor-wide incident that hits orgs unequally: each target org gets ``error_rate`` x
    its severity and latency x (1 + (``latency_factor`` - 1) x severity). Severities: the
    ``severity`` map (org → factor), else ``default_severity``; ``spread`` multiplies each by a
    seeded random factor in ``[1 - spread, 1 + spread]``."""

    kind: Literal["vendor_incident"]
    error_rate: Rate = 0.0
    latency_factor: Factor = 1.0
    #: what ``latency_factor`` slows of a token-aware latency (see :class:`LatencyFault`)
    latency_part: LatencyPart = "both"
    severity: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    default_severity: float = Field(default=1.0, ge=0)
    spread: Rate = 0.0
    errors: Mix | None = None

    @model_validator(mode="after")
    def _something(self) -> VendorIncidentFault:
        if self.error_rate == 0.0 and self.latency_factor == 1.0:
            raise ValueError("a vendor incident needs error_rate > 0 or latency_factor != 1")
        return self


class ModelUnavailableFault(OrgFault):
    """One model stops working in the target org(s): calls for ``model`` fail with ``status``
    (503 "model unavailable"; 404 ``model_not_found`` needs engine support)."""

    kind: Literal["model_unavailable"]
    model: str = Field(min_length=1)
    status: Literal[503, 404] = 503


class TrafficSurgeFault(FaultBase):
    """Traffic x ``factor`` (requests and sessions) during the window: a launch, a retry storm."""

    scope: ClassVar[Literal["org", "traffic", "store", "pod"]] = "traffic"
    kind: Literal["traffic_surge"]
    factor: PositiveFactor

    def target_text(self) -> str:
        return "traffic"


class StoreFault(FaultBase):
    scope: ClassVar[Literal["org", "traffic", "store", "pod"]] = "store"

    def target_text(self) -> str:
        return "store"


class RedisDownFault(StoreFault):
    """The shared store (Redis) is unreachable: every command fails with a connection error
    (for every pod, or only ``pods``). Pods fall back to local breaker state."""

    kind: Literal["redis_down"]
    pods: tuple[Annotated[int, Field(ge=0)], ...] | None = None

    def target_text(self) -> str:
        return "store" if self.pods is None else ",".join(f"pod-{p}" for p in self.pods)


class RedisSlowFault(StoreFault):
    """Redis answers after ``delay``; a command slower than the client's ``timeout`` fails with
    a timeout after ``timeout`` (and the pod falls back to local state)."""

    kind: Literal["redis_slow"]
    delay: PositiveSeconds
    timeout: PositiveSeconds = 0.25
    pods: tuple[Annotated[int, Field(ge=0)], ...] | None = None


class PodPartitionFault(FaultBase):
    """One pod loses its network path to Redis (the others keep theirs)."""

    scope: ClassVar[Literal["org", "traffic", "store", "pod"]] = "pod"
    kind: Literal["pod_partition"]
    pod: int = Field(ge=0)

    def target_text(self) -> str:
        return f"pod-{self.pod}"


class ClockSkewFault(FaultBase):
    """One pod's clock is off by ``offset`` (``+90s``, ``-2m``) while the fault lasts: the
    timestamps it writes into shared breaker state (open until …) are skewed for every pod."""

    scope: ClassVar[Literal["org", "traffic", "store", "pod"]] = "pod"
    kind: Literal["clock_skew"]
    pod: int = Field(ge=0)
    offset: SignedSeconds

    @field_validator("offset")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0 or not math.isfinite(v):
            raise ValueError("a clock skew needs a non-zero, finite offset")
        return v

    def target_text(self) -> str:
        return f"pod-{self.pod}"


FAULT_TYPES: tuple[type[FaultBase], ...] = (
    LockoutFault,
    OutageFault,
    BrownoutFault,
    LatencyFault,
    SlowDripFault,
    RateLimitSqueezeFault,
    RateLimitStormFault,
    TimeoutsFault,
    ConnectionResetsFault,
    FlappingFault,
    VendorIncidentFault,
    ModelUnavailableFault,
    TrafficSurgeFault,
    RedisDownFault,
    RedisSlowFault,
    PodPartitionFault,
    ClockSkewFault,
)

#: fault kind → model, in catalogue order
FAULT_KINDS: dict[str, type[FaultBase]] = {
    t.model_fields["kind"].annotation.__args__[0]: t for t in FAULT_TYPES  # type: ignore[union-attr]
}

#: one fault of a scenario's ``faults:`` list, chosen by its ``kind``
Fault = Annotated[reduce(or_, FAULT_TYPES), Field(discriminator="kind")]  # type: ignore[valid-type]
