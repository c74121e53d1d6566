"""Configuration as immutable values, validated by pydantic, loadable from a dict or YAML.

A bad config raises :class:`~multiorg.errors.ConfigError` with one line naming the source,
the field path and the offending value. API keys are never stored here: an org names the
environment variable that holds its key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .units import seconds

Seconds = Annotated[float, BeforeValidator(seconds), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(seconds), Field(gt=0)]
VendorName = Literal["openai", "anthropic"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelLimits(_Frozen):
    """Known per-model rate limits of one org (requests and tokens per minute)."""

    rpm: int = Field(gt=0)
    tpm: int = Field(gt=0)


class VendorConfig(_Frozen):
    name: VendorName
    base_url: str = Field(pattern=r"^https?://[^/\s]+", description="http(s)://host[/path]")
    #: appended to the system prompt when this vendor serves (prompts need per-vendor tuning)
    system_prompt_suffix: str = ""
    #: replaces the system prompt entirely for this vendor, when set
    system_prompt_override: str | None = None
    #: model names as the caller asks for them → this vendor's model name
    model_map: dict[str, str] = Field(default_factory=dict)
    anthropic_version: str = "2023-06-01"

    def model_for(self, requested: str) -> str:
        return self.model_map.get(requested, requested)


DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
}


class OrgConfig(_Frozen):
    name: str = Field(min_length=1)
    vendor: VendorName = "openai"
    org_id: str | None = None
    #: name of the environment variable holding the API key (the key itself never lives here)
    api_key_env: str = Field(min_length=1)
    tier: str = "tier-1"
    limits: dict[str, ModelLimits] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0)

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError("not an environment variable name: name the variable that holds the key, not the key")
        return v

    def api_key(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        key = env.get(self.api_key_env)
        if not key:
            name = redact(self.api_key_env) if looks_secret(self.api_key_env) else self.api_key_env
            raise ConfigError(f"org {self.name}: environment variable {name} is not set")
        return key

    def serves(self, model: str) -> bool:
        """An org with no declared limits serves every model; otherwise the ones it lists."""
        return not self.limits or model in self.limits


class BreakerConfig(_Frozen):
    """Which policy guards each (org, model), with its parameters (see ``multiorg.breakers``)."""

    policy: str = "exponential"
    params: dict[str, Any] = Field(default_factory=dict)


Strategy = Literal["round_robin", "weighted", "least_in_flight", "headroom", "p2c_latency"]


class RouterConfig(_Frozen):
    strategy: Strategy = "round_robin"
    #: attempts per request, the first one included
    max_attempts: int = Field(default=3, ge=1)
    #: per-attempt timeout
    attempt_timeout: PositiveSeconds = 30.0
    #: whole-request deadline across attempts
    deadline: PositiveSeconds = 60.0
    #: retries may add at most this fraction of requests (plus ``retry_budget_min_per_s``)
    retry_budget_ratio: float = Field(default=0.2, ge=0)
    retry_budget_min_per_s: float = Field(default=10.0, ge=0)
    retry_budget_window: Seconds = 10.0
    #: a 2xx slower than this is classed ``slow`` (None: never)
    slow_call_threshold: Seconds | None = None
    #: the vendor serving when the store holds no switch value
    default_vendor: VendorName = "openai"
    #: when every org of the active vendor is blocked, try this vendor's orgs (None: raise)
    standby_vendor: VendorName | None = None
    #: bounded staleness of cached shared state reads — the value to give the store
    #: (``RedisStore(client, clock, staleness=config.router.cache_staleness)``): the router does not
    #: reconfigure a store it is handed
    cache_staleness: Seconds = 1.0
    namespace: str = "multiorg"
    pod: str = "pod-0"


class MultiOrgConfig(_Frozen):
    vendors: tuple[VendorConfig, ...] = ()
    orgs: tuple[OrgConfig, ...] = Field(min_length=1)
    router: RouterConfig = RouterConfig()
    breaker: BreakerConfig = BreakerConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_vendors(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("vendors"):
            used = []
            for org in data.get("orgs") or ():
                v = org.get("vendor", "openai") if isinstance(org, Mapping) else getattr(org, "vendor", "openai")
                # an unknown vendor is left out here: the org's own field reports it
                if isinstance(v, str) and v in DEFAULT_BASE_URLS and v not in used:
                    used.append(v)
            data = dict(data)
            data["vendors"] = [{"name": v, "base_url": DEFAULT_BASE_URLS[v]} for v in used]
        return data

    @model_validator(mode="after")
    def _check_refs(self) -> MultiOrgConfig:
        # Messages start with the field path: format_validation_error shows them as the path.
        seen: set[str] = set()
        for i, v in enumerate(self.vendors):
            if v.name in seen:
                raise ValueError(f"vendors.{i}.name: duplicate vendor {v.name!r}")
            seen.add(v.name)
        seen = set()
        for i, org in enumerate(self.orgs):
            if org.name in seen:
                raise ValueError(f"orgs.{i}.name: duplicate org name {org.name!r}")
            seen.add(org.name)
        vendors = {v.name for v in self.vendors}
        for i, org in enumerate(self.orgs):
            if org.vendor not in vendors:
                raise ValueError(f"orgs.{i}.vendor: {org.vendor!r} has no entry in vendors")
        with_orgs = {o.vendor for o in self.orgs}
        rc = self.router
        if rc.default_vendor not in with_orgs:
            raise ValueError(f"router.default_vendor: {rc.default_vendor!r} has no orgs")
        if rc.standby_vendor is not None and rc.standby_vendor not in with_orgs:
            raise ValueError(f"router.standby_vendor: {rc.standby_vendor!r} has no orgs")
        return self

    def vendor(self, name: str) -> VendorConfig:
        for v in self.vendors:
            if v.name == name:
                return v
        raise ConfigError(f"vendor {name!r} is not configured")

    def orgs_of(self, vendor: str) -> tuple[OrgConfig, ...]:
        return tuple(o for o in self.orgs if o.vendor == vendor)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what an API key or token looks like: a known prefix, or a long run of mixed-case key characters
_KEY_PREFIX = re.compile(r"^(sk|pk|rk|xox[abpr]|gh[pousr]|AKIA)[-_A-Za-z0-9]{8,}$")
_KEY_CHARS = re.compile(r"^[-_A-Za-z0-9+/=.]{32,}$")


def looks_secret(value: str) -> bool:
    v = value.strip()
    if _KEY_PREFIX.match(v):
        return True
    return bool(_KEY_CHARS.match(v)) and any(c.islower() for c in v) and any(c.isupper() for c in v) and any(
        c.isdigit() for c in v
    )


def redact(value: Any) -> str:
    """``repr(value)`` for an error message — unless it looks like a secret: then its first
    three characters and its length (a key pasted in the wrong field must not reach a log)."""
    if isinstance(value, str) and looks_secret(value):
        return f"'{value.strip()[:3]}…' ({len(value)} characters, redacted: it looks like a secret)"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line: source, dotted field path, offending value (redacted if it looks like a key), reason."""
    first = err.errors()[0]
    msg = first.get("msg", "invalid")
    if not first.get("loc"):
        # A cross-field check (duplicate name, dangling reference): its message starts with the
        # field path and names the value; the input here is the whole document, not worth showing.
        return f"{source}: {msg.removeprefix('Value error, ')}"
    loc = ".".join(str(p) for p in first["loc"])
    return f"{source}: {loc}: {msg.removeprefix('Value error, ')} (got {redact(first.get('input'))})".replace(
        "\n", " "
    )


def load_config(source: Mapping[str, Any] | str | Path, *, name: str | None = None) -> MultiOrgConfig:
    """Build a :class:`MultiOrgConfig` from a mapping or a YAML file path."""
    label = name or ("<dict>" if isinstance(source, Mapping) else str(source))
    if isinstance(source, Mapping):
        data: Any = source
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{label}: cannot read file ({e.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{label}:{where}: not valid YAML") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a mapping at the top level (got {type(data).__name__})")
    try:
        config = MultiOrgConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, label)) from None
    # A bad policy name or parameter is a config error too: report it now, naming the source,
    # not when the first router is built.
    from .breakers.registry import make_policy  # the registry imports this module

    try:
        make_policy(config.breaker.policy, config.breaker.params)
    except ConfigError as e:
        raise ConfigError(f"{label}: {e}") from None
    return config
