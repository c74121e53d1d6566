"""What one simulated world looks like: orgs and their health, traffic, pods, router settings.

A :class:`Scenario` is a frozen pydantic model, buildable in Python; its field names are the
ones the YAML scenario format uses. Durations accept numbers of seconds or human units
(``"90s"``, ``"15m"``, ``"2d 6h"``). Times of day inside the run (a modifier's ``start``, an
error curve's points) are simulated seconds from the run's start (t = 0, the epoch ``start``).

    orgs (per vendor)      multiorg ``OrgConfig`` fields + the sim's model of the org's health:
                           latency (median, p99 — or token-aware: TTFT + output tokens x TPOT,
                           :class:`Latency`; per model if needed), an error-rate curve over
                           time with a status mix, the rate limits the vendor enforces (RPM/TPM per
                           model — by default the org's ``limits``; enforced per second unless
                           ``enforcement: minute``; Anthropic's ITPM/OTPM), lockouts (quota / auth /
                           deactivated) from a time, until a time or for ever.
    modifiers              time-windowed changes layered on the orgs (the engine lowers
                           vendor-side faults into these, :mod:`sim.fault_effects`): error
                           rate added or set, a status mix, latency factor/added (on the
                           whole, the TTFT or the TPOT), RPM/TPM factors, a lockout.

API keys: org ``X``'s key is ``sk-sim-X``; the sim hands the router an ``environ`` mapping each
org's ``api_key_env`` to it (the process environment is never read).
"""

from __future__ import annotations

import contextlib
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from faults.checks import FaultTargets, OrgTarget, check_faults
from faults.models import Fault, LatencyPart
from faults.units import count, duration, factor, rate, volume
from multiorg.config import (
    DEFAULT_BASE_URLS,
    AzureResource,
    BreakerConfig,
    Enforcement,
    ModelLimits,
    MultiOrgConfig,
    OrgConfig,
    RouterConfig,
    VendorConfig,
)
from multiorg.units import seconds

from .azure import availability_error
from .capacity import Capacity, Pool, Provisioned
from .clock import DEFAULT_START, parse_epoch
from .latency import FAMILIES, lognormal_sigma
from .slo import scaled_slo

# Human units (faults.units): the JSON Schema admits a number or a string such as "15m", "0.2%",
# "2M", "1M/day", "5x".
_NUM_OR_STR: Any = float | str
Seconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(gt=0)]
Count = Annotated[int, BeforeValidator(count, json_schema_input_type=int | str)]
Rate = Annotated[float, BeforeValidator(rate, json_schema_input_type=_NUM_OR_STR)]
Factor = Annotated[float, BeforeValidator(factor, json_schema_input_type=_NUM_OR_STR)]
Volume = Annotated[float, BeforeValidator(volume, json_schema_input_type=_NUM_OR_STR)]
VendorName = Literal["openai", "anthropic", "azure"]
LockoutKind = Literal["quota", "auth", "deactivated"]
#: error kinds of a status mix: HTTP statuses, a hung call (timeout), a connection reset
ErrorKind = Literal["500", "502", "503", "529", "timeout", "reset"]
#: what a status mix may name: an error kind or, at Azure orgs, a prompt the content filter
#: refuses (a 400 that is the caller's fault; not a fault kind: faults hit orgs, not prompts)
MixKind = Literal[ErrorKind, "content_filter"]

DEFAULT_MIX: dict[str, dict[str, float]] = {
    "openai": {"500": 0.4, "502": 0.15, "503": 0.3, "timeout": 0.1, "reset": 0.05},
    "anthropic": {"500": 0.3, "529": 0.5, "timeout": 0.1, "reset": 0.1},
    "azure": {"500": 0.4, "503": 0.4, "timeout": 0.15, "reset": 0.05},
}
#: Azure's default request limit of a deployment: 6 RPM per 1,000 TPM of its quota (Azure
#: OpenAI docs, "Manage Azure OpenAI quota")
AZURE_RPM_PER_TPM = 6 / 1000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _points(value: Any) -> Any:
    """A curve is a constant or a list of ``[time, value]`` points (times in any duration unit)."""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return factor(value)  # "0.2%", "1.5x", "0.002"
    if isinstance(value, (list, tuple)):
        out = []
        for p in value:
            if isinstance(p, dict):
                p = (p.get("t", p.get("at")), p.get("value", p.get("v")))
            try:
                t, v = p
                out.append((float(seconds(t)), float(factor(v))))
            except (TypeError, ValueError) as e:
                raise ValueError(f"a curve point is [time, value], e.g. [6h, 0.2%] (got {p!r}: {e})") from None
        return tuple(out)
    return value


Curve = Annotated[float | tuple[tuple[float, float], ...],
                  BeforeValidator(_points, json_schema_input_type=float | str | list[tuple[float | str, float | str]])]


def curve_points(curve: float | tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    return ((0.0, float(curve)),) if isinstance(curve, (int, float)) else curve


class Lognormal(_Frozen):
    """A lognormal duration given by its median and 99th percentile (seconds)."""

    median: PositiveSeconds
    p99: PositiveSeconds

    @model_validator(mode="after")
    def _order(self) -> Lognormal:
        if self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99}) must be >= median ({self.median})")
        return self

    @property
    def sigma(self) -> float:
        return lognormal_sigma(self.median, self.p99)


class OutputShare(_Frozen):
    """How long a completion is, per request: a share of its ``max_tokens``, lognormal from its
    median and p99 (``p99`` = ``median``: always that share), capped at ``max_tokens``, at least 1."""

    median: Factor = Field(default=0.6, gt=0, le=1)
    p99: Factor = Field(default=1.0, gt=0)
    #: what a request without ``max_tokens`` may write (the model's own output limit)
    max_tokens: Count = Field(default=4096, gt=0)

    @model_validator(mode="after")
    def _order(self) -> OutputShare:
        if self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99}) must be >= median ({self.median})")
        return self


_TOKEN_KEYS = ("ttft", "tpot", "family", "output")


class Latency(_Frozen):
    """An attempt's latency, in one of two forms.

    - one lognormal (the shorthand, and the default): ``{median, p99}`` seconds, whatever the
      completion's length;
    - token-aware: ``{ttft: {median, p99}, tpot: {median, p99}, output: {median, p99}}`` — time
      to first token + output tokens x time per output token, each with its own noise; the output
      length is drawn per request as a share of its ``max_tokens`` (:class:`OutputShare`).
      ``family: gpt-4o-mini`` takes published ``ttft`` / ``tpot`` (:data:`sim.latency.FAMILIES`);
      an explicit ``ttft`` or ``tpot`` beside it wins.
    """

    #: the shorthand's (None when token-aware; default 0.8 s / 4 s)
    median: PositiveSeconds | None = None
    p99: PositiveSeconds | None = None
    #: token-aware: a model family's published TTFT / TPOT
    family: str | None = None
    #: token-aware: time to first token (seconds)
    ttft: Lognormal | None = None
    #: token-aware: time per output token (seconds per token: ``12ms``)
    tpot: Lognormal | None = None
    #: token-aware: the completion's length as a share of ``max_tokens`` (default 60 %, p99 100 %)
    output: OutputShare | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        """The shorthand's defaults when no token-aware key is given; a family's figures."""
        if not isinstance(data, dict):
            return data
        if not any(data.get(k) is not None for k in _TOKEN_KEYS):
            return {"median": 0.8, "p99": 4.0, **{k: v for k, v in data.items() if v is not None}}
        family = data.get("family")
        if family is None:
            return data
        if family not in FAMILIES:
            raise ValueError(f"family: unknown model family {family!r} (known: {', '.join(FAMILIES)})")
        published = FAMILIES[family]
        return {**data, **{k: published[k] for k in ("ttft", "tpot") if data.get(k) is None}}

    @model_validator(mode="after")
    def _check(self) -> Latency:
        if self.ttft is None and self.tpot is None:
            if self.output is not None:
                raise ValueError("output: the completion's length needs a token-aware latency (ttft and tpot)")
            if self.p99 < self.median:  # type: ignore[operator]
                raise ValueError(f"p99 ({self.p99}) must be >= median ({self.median})")
            return self
        if self.median is not None or self.p99 is not None:
            raise ValueError("give median/p99 (one lognormal) or ttft/tpot (token-aware), not both")
        for part in ("ttft", "tpot"):
            if getattr(self, part) is None:
                raise ValueError(f"{part}: a token-aware latency needs both ttft and tpot (or a family)")
        return self

    @property
    def token_aware(self) -> bool:
        return self.ttft is not None

    @property
    def sigma(self) -> float:
        """The shorthand's lognormal sigma."""
        return lognormal_sigma(self.median, self.p99)  # type: ignore[arg-type]


class SimLimits(ModelLimits):
    """An org's known limits in a scenario. How the vendor enforces them is the org's (or its
    model's) ``enforcement`` — one place — which :meth:`Scenario.org_configs` tells the router."""

    enforcement: Enforcement = Field(default="second", exclude=True)

    @field_validator("enforcement", mode="before")
    @classmethod
    def _not_here(cls, v: Any) -> Any:
        raise ValueError("set enforcement on the org (or under its models), not in its limits")


class ModelSpec(_Frozen):
    """Per-model overrides of one org: latency and the limits the vendor enforces."""

    latency: Latency | None = None
    rpm: Count | None = Field(default=None, gt=0)
    tpm: Count | None = Field(default=None, gt=0)
    #: Anthropic's separate input / output token limits (ITPM / OTPM), beside or instead of ``tpm``
    itpm: Count | None = Field(default=None, gt=0)
    otpm: Count | None = Field(default=None, gt=0)
    #: None: the org's ``enforcement``
    enforcement: Enforcement | None = None
    #: dedicated capacity of this model alone (:mod:`sim.capacity`); None: the org's
    capacity: Capacity | None = None


class Lockout(_Frozen):
    kind: LockoutKind
    start: Seconds = 0.0
    #: None: for ever
    end: Seconds | None = None
    label: str = ""


def _mix(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    return value


Mix = Annotated[dict[MixKind, float], BeforeValidator(_mix)]


class _LimitsInput(_Frozen):
    """What a ``limits`` entry may hold in a file: counts with units (``rpm: 10k``, ``tpm: 2M``)."""

    #: required, except at Azure orgs (6 per 1,000 TPM by default)
    rpm: int | str | None = None
    tpm: int | str


def _limit_units(value: Any) -> Any:
    """``{model: {rpm: "10k", tpm: "2M"}}`` → integers (unparseable values are left to pydantic)."""
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for model, lim in value.items():
        if isinstance(lim, dict):
            lim = dict(lim)
            for k in ("rpm", "tpm"):
                if k in lim:
                    with contextlib.suppress(ValueError):  # left to pydantic's message
                        lim[k] = count(lim[k])
        out[model] = lim
    return out


class SimOrg(_Frozen):
    """One org: multiorg ``OrgConfig`` fields (the vendor is its section's) + its simulated health."""

    name: str = Field(min_length=1)
    org_id: str | None = None
    #: default ``SIM_KEY_<NAME>``
    api_key_env: str | None = None
    tier: str = "tier-1"
    #: what the router knows; the vendor enforces these too unless ``models`` says otherwise
    limits: Annotated[dict[str, SimLimits],
                      BeforeValidator(_limit_units, json_schema_input_type=dict[str, _LimitsInput])] = Field(
        default_factory=dict)
    weight: float = Field(default=1.0, gt=0)

    latency: Latency = Latency()
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    #: the window the vendor enforces RPM/TPM over: ``second`` (limit/60 per second, as OpenAI
    #: documents: limits "can be quantized") or ``minute`` (the whole per-minute limit as a burst)
    enforcement: Enforcement = "second"
    #: share of attempts that fail, over time (piecewise-linear)
    error_rate: Curve = 0.0
    #: multiplier of latency over time (piecewise-linear): orgs drift apart
    latency_drift: Curve = 1.0
    #: what the drift multiplies of a token-aware latency: ``ttft``, ``tpot`` or ``both``
    latency_drift_part: LatencyPart = "both"
    #: how failures split between kinds (weights); default per vendor
    error_mix: Mix | None = None
    lockouts: tuple[Lockout, ...] = ()
    #: latency of answers that need no work: 429s, lockouts, 4xx
    reject_latency: Seconds = 0.05
    #: 5xx answers take the sampled latency times this
    error_latency: float = Field(default=1.0, ge=0)
    #: a connection reset fails after this long
    connect_latency: Seconds = 0.01
    #: Anthropic's quota lockout: 400 "credit balance is too low" or 402 billing_error
    quota_status: Literal[400, 402] = 400
    #: vendor azure: the resource (endpoint, region) and its deployments; each model's ``limits``
    #: entry is its deployment's quota, and ``rpm`` may be left out (6 per 1,000 TPM, as Azure sets it)
    azure: AzureResource | None = None
    #: dedicated capacity every model of the org shares (provisioned or a pool, :mod:`sim.capacity`),
    #: or the name of another org whose capacity this one shares (two endpoints or keys in front of
    #: one GPU pool: the router fails over between them, the load lands on the same slots)
    capacity: Capacity | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _azure_rpm(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("azure") is None or not isinstance(data.get("limits"), dict):
            return data
        limits = {}
        for model, lim in data["limits"].items():
            if isinstance(lim, dict) and "rpm" not in lim and "tpm" in lim:
                with contextlib.suppress(ValueError):  # a bad tpm is left to the field's message
                    lim = {**lim, "rpm": max(1, math.floor(count(lim["tpm"]) * AZURE_RPM_PER_TPM))}
            limits[model] = lim
        return {**data, "limits": limits}

    @field_validator("error_rate")
    @classmethod
    def _rates(cls, v: Any) -> Any:
        for _, r in curve_points(v):
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"error rates must be within [0, 1], got {r}")
        return v

    def key_env(self) -> str:
        return self.api_key_env or "SIM_KEY_" + "".join(c if c.isalnum() else "_" for c in self.name.upper())

    def api_key(self) -> str:
        return f"sk-sim-{self.name}"

    def enforcement_of(self, model: str) -> Enforcement:
        """The window the vendor enforces ``model``'s limits over: the model's, else the org's."""
        spec = self.models.get(model)
        return spec.enforcement if spec is not None and spec.enforcement is not None else self.enforcement

    def rpm_limits(self) -> dict[str, int]:
        """The RPM the vendor enforces per (vendor) model: ``limits``, overridden by ``models``."""
        out = {m: lim.rpm for m, lim in self.limits.items()}
        for m, spec in self.models.items():
            if spec.rpm is not None:
                out[m] = spec.rpm
            elif m not in self.limits:
                out.pop(m, None)
        return out


def _times(n: int, f: float) -> int:
    return max(1, round(n * f))


def _scaled_org(org: SimOrg, f: float) -> SimOrg:
    """``org`` with every RPM/TPM limit (known and enforced) and its dedicated capacity times ``f``."""
    limits = {m: SimLimits(rpm=_times(lim.rpm, f), tpm=_times(lim.tpm, f)) for m, lim in org.limits.items()}
    models = {
        m: spec.model_copy(update={k: None if getattr(spec, k) is None else _times(getattr(spec, k), f)
                                   for k in ("rpm", "tpm", "itpm", "otpm")} | _scaled_capacity(spec.capacity, f))
        for m, spec in org.models.items()
    }
    return org.model_copy(update={"limits": limits, "models": models} | _scaled_capacity(org.capacity, f))


def _scaled_capacity(capacity: Capacity | str | None, f: float) -> dict[str, Any]:
    """A ``model_copy`` update for a dedicated capacity at ``f`` x (none without one or for a shared one)."""
    return {} if capacity is None or isinstance(capacity, str) else {"capacity": capacity.scaled(f)}


class SimVendor(_Frozen):
    """multiorg ``VendorConfig`` fields + the vendor's orgs."""

    base_url: str | None = None
    system_prompt_suffix: str = ""
    system_prompt_override: str | None = None
    model_map: dict[str, str] = Field(default_factory=dict)
    anthropic_version: str = "2023-06-01"
    orgs: tuple[SimOrg, ...] = ()
    #: azure: region → the chat models it offers, replacing the built-in table's entry
    #: (:mod:`sim.azure`) — a newer region, or a model the table does not list yet
    regions: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: azure: the subscription's quota, region → {model: TPM}: the TPM of one model's deployments
    #: in one region add up to at most this (Azure's quota is per subscription, region and model)
    quota: dict[str, dict[str, Count]] = Field(default_factory=dict)


class Surge(_Frozen):
    start: Seconds
    end: Seconds
    factor: Factor = Field(gt=0)
    label: str = ""


class Sessions(_Frozen):
    """Fan-out sessions: one user action → ``size`` requests at the same instant (up to ``size_max``)."""

    per_day: Volume = Field(default=0.0, ge=0)
    size: Count = Field(default=10, ge=1)
    size_max: Count | None = Field(default=None, ge=1)


class Tokens(_Frozen):
    """A token count: lognormal from median and p99, or fixed when ``p99`` is None."""

    median: Count = Field(gt=0)
    p99: Count | None = Field(default=None, gt=0)
    max: Count = Field(default=100_000, gt=0)


class Traffic(_Frozen):
    #: single requests per day (sessions come on top)
    daily_volume: Volume = Field(default=1_000_000, ge=0)
    shape: Literal["flat", "diurnal"] = "flat"
    #: diurnal: rate ∝ 1 + amplitude * cos(2 pi (t - peak) / day)
    diurnal_amplitude: float = Field(default=0.6, ge=0, le=1)
    peak_hour: float = Field(default=15.0, ge=0, lt=24)
    surges: tuple[Surge, ...] = ()
    sessions: Sessions = Sessions()
    prompt_tokens: Tokens = Tokens(median=600, p99=3000)
    max_tokens: Tokens = Tokens(median=300)
    #: the model callers ask for, or {model: weight}
    model: str | dict[str, float] = "gpt-4o-mini"
    #: how requests (sessions: whole sessions) are spread over pods
    assignment: Literal["round_robin", "random"] = "round_robin"


class Modifier(_Frozen):
    """A time-windowed change layered on some orgs. Several may overlap; they combine:
    rates set (last wins) then added, factors multiply, additions add, the last lockout wins."""

    kind: str = "modifier"
    label: str = ""
    #: org names, ``"*"`` (every org) or ``"vendor:<name>"``
    targets: tuple[str, ...] = ("*",)
    #: vendor model names this applies to (None: all)
    models: tuple[str, ...] | None = None
    start: Seconds = 0.0
    #: None: for ever
    end: Seconds | None = None
    error_rate_set: Rate | None = Field(default=None, ge=0, le=1)
    error_rate_add: Rate = Field(default=0.0, ge=-1, le=1)
    error_mix: Mix | None = None
    latency_factor: Factor = Field(default=1.0, ge=0)
    #: seconds added (``latency_part: tpot``: seconds per output token)
    latency_add: Seconds = 0.0
    #: what ``latency_factor`` / ``latency_add`` act on: a token-aware latency's time to first
    #: token, its time per output token, or ``both`` (the whole, as on a one-lognormal latency)
    latency_part: LatencyPart = "both"
    rpm_factor: Factor = Field(default=1.0, gt=0)
    tpm_factor: Factor = Field(default=1.0, gt=0)
    lockout: LockoutKind | None = None

    @field_validator("targets", mode="before")
    @classmethod
    def _one_target(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


class PolicySpec(_Frozen):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    #: router settings this variant runs with instead of the scenario's (``retry_budget_ratio``, ...):
    #: one policy compared with and without a retry budget
    router: dict[str, Any] = Field(default_factory=dict)
    #: shown in reports and test ids instead of the name (one policy compared with two settings)
    label: str = ""
    #: whether CI expects this policy to meet the scenario's SLO (None: compared, not checked)
    expect_pass: bool | None = None


def _policy(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class Scenario(_Frozen):
    name: str = "scenario"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    duration: PositiveSeconds = 86400.0
    #: the wall-clock moment of simulated t = 0 (ISO 8601)
    start: str = DEFAULT_START
    pods: int = Field(default=1, ge=1)
    state: Literal["shared", "local"] = "shared"
    router: RouterConfig = RouterConfig()
    vendors: dict[VendorName, SimVendor]
    traffic: Traffic = Traffic()
    modifiers: tuple[Modifier, ...] = ()
    #: the faults catalogue (faults.models), lowered by the engine (sim.fault_effects)
    faults: tuple[Fault, ...] = ()
    slo: dict[str, Any] = Field(default_factory=dict)
    policies: tuple[Annotated[PolicySpec, BeforeValidator(_policy)], ...] = ()
    #: the share of the true system's volume these traffic figures and limits are (1: true scale).
    #: :meth:`scaled` sets it; in a file it asks the loader to scale the file's true figures
    scale: float = Field(default=1.0, gt=0)
    #: the scale CI runs this scenario at (the pytest plugin, the behaviour pins); None: 1
    ci_scale: float | None = Field(default=None, gt=0, le=1)

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        parse_epoch(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        names = self.org_names()
        if not names:
            raise ValueError("a scenario needs at least one org")
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"duplicate org name {n!r}")
        known = set(names)
        for i, m in enumerate(self.modifiers):
            for t in m.targets:
                if t != "*" and not t.startswith("vendor:") and t not in known:
                    raise ValueError(f"modifiers.{i}.targets: unknown org {t!r}")
        self._check_azure()
        self._check_capacity()
        for p in self.policies:
            if p.router:
                self.router_for(p)
        check_faults(self.faults, self.fault_targets())
        return self

    def _check_azure(self) -> None:
        """Azure orgs have a resource and deploy only what their region offers, within the quota;
        the content filter is Azure's."""
        used: dict[tuple[str, str], int] = {}
        for v, o in self.orgs():
            if v == "azure" and o.azure is None:
                raise ValueError(f"org {o.name}: an azure org needs an 'azure' section (endpoint, region, deployments)")
            if v != "azure" and o.azure is not None:
                raise ValueError(f"org {o.name}: an 'azure' section belongs to vendor azure, not {v}")
            mixes = [o.error_mix or {}] + [m.error_mix or {} for m in self.modifiers if m.error_mix and (
                "*" in m.targets or o.name in m.targets or f"vendor:{v}" in m.targets)]
            if v != "azure" and any(mix.get("content_filter") for mix in mixes):
                raise ValueError(f"org {o.name}: error kind content_filter is Azure's (vendor {v} has none)")
            if o.azure is None:
                continue
            spec = self.vendors["azure"]
            models = list(o.azure.deployments) or list(o.limits)
            why = availability_error(o.name, o.azure.region, models, spec.regions)
            if why:
                raise ValueError(why)
            for m, lim in o.limits.items():
                key = (o.azure.region, m)
                used[key] = used.get(key, 0) + lim.tpm
        quota = self.vendors["azure"].quota if "azure" in self.vendors else {}
        for (region, m), tpm in used.items():
            cap = quota.get(region, {}).get(m)
            if cap is not None and tpm > cap:
                raise ValueError(f"vendors.azure.quota: the {m} deployments in {region} hold {tpm} TPM, "
                                 f"over the subscription's quota of {cap} there")

    def _check_capacity(self) -> None:
        """A shared capacity names an org that declares one."""
        declared = {o.name: o.capacity for _, o in self.orgs()}
        for _, o in self.orgs():
            ref = o.capacity
            if isinstance(ref, str) and (ref not in declared or not isinstance(declared[ref], (Pool, Provisioned))):
                raise ValueError(f"org {o.name}: capacity {ref!r} is not an org that declares a capacity")

    def router_for(self, policy: Any) -> RouterConfig:
        """The router settings ``policy`` runs with: the scenario's, with a policy entry's ``router``
        overrides (validated like the scenario's own)."""
        overrides = getattr(policy, "router", None)
        if not overrides:
            return self.router
        unknown = sorted(set(overrides) - set(RouterConfig.model_fields))
        if unknown:
            raise ValueError(f"policies: router: unknown setting {unknown[0]!r}")
        return RouterConfig.model_validate({**self.router.model_dump(), **overrides})

    # ------------------------------------------------------------------ scale

    def scaled(self, scale: float) -> Scenario:
        """This world at ``scale`` x the true system's volume (``scale`` is absolute, not relative
        to :attr:`scale`): traffic (single requests and sessions per day), every RPM/TPM limit,
        the retry budget's floor and the router's ``max_waiting`` are multiplied together, so
        utilisation is kept; the retry budget's window is stretched so it still counts as many
        requests, and SLO thresholds on counts of requests or attempts scale with the traffic
        (:func:`sim.slo.scaled_slo`). Limits round to whole numbers (at least 1), so scale from
        the true scenario. ``scaled(self.scale)`` is ``self``."""
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        f = scale / self.scale
        if f == 1.0:
            return self
        t = self.traffic
        traffic = t.model_copy(update={
            "daily_volume": t.daily_volume * f,
            "sessions": t.sessions.model_copy(update={"per_day": t.sessions.per_day * f}),
        })
        r = self.router
        # (the waiting queue per pod holds as many seconds of traffic as at true scale)
        router = r.model_copy(update={"retry_budget_min_per_s": r.retry_budget_min_per_s * f,
                                      "retry_budget_window": r.retry_budget_window / f,
                                      "max_waiting": max(1, round(r.max_waiting * f)) if r.max_waiting else 0})
        vendors = {
            v: spec.model_copy(update={"orgs": tuple(_scaled_org(o, f) for o in spec.orgs),
                                       "quota": {r: {m: _times(q, f) for m, q in per.items()}
                                                 for r, per in spec.quota.items()}})
            for v, spec in self.vendors.items()
        }
        return self.model_copy(update={"scale": scale, "traffic": traffic, "router": router, "vendors": vendors,
                                       "slo": scaled_slo(self.slo, f)})

    def enforced(self, enforcement: Enforcement) -> Scenario:
        """This world with every org (and every model's override) enforcing its RPM/TPM limits
        per ``enforcement`` window — the question "what if the vendor quantizes?" asked of a file
        that says otherwise, without editing it. The name says so, so every report of the run does."""
        if enforcement not in ("second", "minute"):
            raise ValueError(f"enforcement must be 'second' or 'minute', got {enforcement!r}")
        vendors = {
            v: spec.model_copy(update={"orgs": tuple(
                o.model_copy(update={
                    "enforcement": enforcement,
                    "models": {m: s.model_copy(update={"enforcement": None}) for m, s in o.models.items()},
                }) for o in spec.orgs)})
            for v, spec in self.vendors.items()
        }
        return self.model_copy(update={"vendors": vendors, "name": f"{self.name} (limits enforced per {enforcement})"})

    def scale_caveats(self) -> list[str]:
        """What running at :attr:`scale` cannot keep (empty at true scale)."""
        f = self.scale
        if f == 1.0:
            return []
        n = 1.0 / f
        pools = [o.name for _, o in self.orgs()
                 if isinstance(o.capacity, Pool) or any(isinstance(m.capacity, Pool) for m in o.models.values())]
        pool_caveat = [
            f"a serving pool's replicas are whole GPUs ({', '.join(pools)}): scaled, they round, and fewer "
            "servers queue more at the same utilisation (Erlang C), so waits and timeouts differ"
        ] if pools else []
        return [
            f"count windows see {n:.3g}x {'fewer' if f < 1 else 'more'} calls: a breaker's failure "
            "threshold within its window, minimum calls and half-open permits fill "
            f"{n:.3g}x {'slower' if f < 1 else 'faster'}, so detection times stretch accordingly",
            f"the retry budget's window is stretched {n:.3g}x ({self.router.retry_budget_window:g} s) "
            "so it counts as many requests as at true scale",
            "a session keeps its size, so its burst is a larger share of the (scaled) limits",
            f"SLO thresholds on counts (wasted attempts, failed requests, user-visible failures) are "
            f"scaled {f:.3g}x with the traffic; rates, durations and ratios are kept",
            *pool_caveat,
        ]

    # ------------------------------------------------------------------ views

    @property
    def start_epoch(self) -> float:
        return parse_epoch(self.start)

    def orgs(self) -> list[tuple[str, SimOrg]]:
        """(vendor, org) in declaration order."""
        return [(v, o) for v, spec in self.vendors.items() for o in spec.orgs]

    def org_names(self) -> list[str]:
        return [o.name for _, o in self.orgs()]

    def org_vendors(self) -> list[str]:
        return [v for v, _ in self.orgs()]

    def environ(self) -> dict[str, str]:
        return {o.key_env(): o.api_key() for _, o in self.orgs()}

    def vendor_configs(self) -> tuple[VendorConfig, ...]:
        return tuple(
            VendorConfig(
                name=v,
                base_url=spec.base_url or DEFAULT_BASE_URLS[v],
                system_prompt_suffix=spec.system_prompt_suffix,
                system_prompt_override=spec.system_prompt_override,
                model_map=spec.model_map,
                anthropic_version=spec.anthropic_version,
            )
            for v, spec in self.vendors.items()
        )

    def org_configs(self) -> tuple[OrgConfig, ...]:
        return tuple(
            OrgConfig(
                name=o.name,
                vendor=v,
                org_id=o.org_id,
                api_key_env=o.key_env(),
                tier=o.tier,
                # the router knows the limits and the window the vendor enforces them over
                limits={m: ModelLimits(rpm=lim.rpm, tpm=lim.tpm, enforcement=o.enforcement_of(m))
                        for m, lim in o.limits.items()},
                weight=o.weight,
                azure=o.azure,
            )
            for v, o in self.orgs()
        )

    def multiorg_config(self, pod: int = 0, breaker: BreakerConfig | None = None) -> MultiOrgConfig:
        router = self.router.model_copy(update={"pod": f"pod-{pod}"})
        return MultiOrgConfig(
            vendors=self.vendor_configs(),
            orgs=self.org_configs(),
            router=router,
            breaker=breaker or BreakerConfig(),
        )

    def fault_targets(self) -> FaultTargets:
        """What this world offers faults to aim at (what :func:`faults.check_faults` checks against)."""
        models = set(self.models())
        orgs = []
        for v, o in self.orgs():
            models.update(o.limits)
            models.update(o.models)
            orgs.append(OrgTarget(
                o.name, v, o.rpm_limits(),
                has_rpm=any(lim.rpm for lim in o.limits.values()) or any(ms.rpm for ms in o.models.values()),
                has_tpm=any(lim.tpm for lim in o.limits.values()) or any(ms.tpm for ms in o.models.values()),
            ))
        return FaultTargets(tuple(orgs), frozenset(models), self.pods, float(self.duration), self.state == "shared")

    def store_staleness(self) -> float:
        """Cache staleness of the shared store in full mode: 0 unless the scenario sets it."""
        return self.router.cache_staleness if "cache_staleness" in self.router.model_fields_set else 0.0

    def models(self) -> list[str]:
        """Every model name involved: requested ones, then vendor names, in first-seen order."""
        out: list[str] = []
        req = self.traffic.model
        for m in [req] if isinstance(req, str) else list(req):
            if m not in out:
                out.append(m)
        for spec in self.vendors.values():
            for m in list(out):
                vm = spec.model_map.get(m, m)
                if vm not in out:
                    out.append(vm)
        return out


# --------------------------------------------------------------------------- a small default world


def default_scenario(**overrides: Any) -> Scenario:
    """Four OpenAI orgs (the seed's ``secondary1..4``) and one Anthropic org, flat traffic.

    Keyword overrides replace top-level fields (``duration=3600``, ``pods=4``, ...); nested
    values may be dicts.
    """
    limits = {"gpt-4o-mini": {"rpm": 30_000, "tpm": 150_000_000}}
    base: dict[str, Any] = {
        "name": "default",
        "description": "4 OpenAI orgs in round robin, Anthropic as the fallback vendor",
        "seed": 1,
        "duration": 3600.0,
        "pods": 4,
        "state": "shared",
        "router": {"max_attempts": 3, "attempt_timeout": 30.0, "deadline": 60.0,
                   "standby_vendor": "anthropic"},
        "vendors": {
            "openai": {
                "orgs": [
                    {"name": f"secondary{i}", "org_id": f"org-secondary{i}", "limits": limits,
                     "latency": {"median": 0.8, "p99": 4.0}, "error_rate": 0.002}
                    for i in range(1, 5)
                ]
            },
            "anthropic": {
                "model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"},
                "orgs": [
                    {"name": "anthropic1", "org_id": "anthropic-org-1",
                     "limits": {"claude-3-5-haiku-latest": {"rpm": 4000, "tpm": 400_000}},
                     "latency": {"median": 1.2, "p99": 6.0}, "error_rate": 0.003}
                ],
            },
        },
        "traffic": {"daily_volume": 1_000_000, "shape": "flat"},
    }
    base.update(overrides)
    return Scenario.model_validate(base)
