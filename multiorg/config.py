"""Configuration as immutable values, validated by pydantic, loadable from a dict or YAML.

A bad config raises :class:`~multiorg.errors.ConfigError` with one line naming the source,
the field path and the offending value. API keys are never stored here: an org names the
environment variable that holds its key.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .units import seconds

#: a duration: ``90``, ``"90s"``, ``"15m"``; finite (``.inf`` is a typo here, never "forever")
Seconds = Annotated[float, BeforeValidator(seconds), Field(ge=0, allow_inf_nan=False)]
#: a strictly positive duration
PositiveSeconds = Annotated[float, BeforeValidator(seconds), Field(gt=0, allow_inf_nan=False)]
VendorName = Literal["openai", "anthropic", "azure"]
#: the Azure OpenAI data-plane API version sent when an org names none (the latest GA version)
AZURE_API_VERSION = "2024-10-21"


class _Frozen(BaseModel):
    # hide_input_in_errors: pydantic's own message would quote the input — a key pasted into the
    # wrong field, say. Our one-line messages show a redacted, bounded view of it instead.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


Enforcement = Literal["second", "minute"]


class ModelLimits(_Frozen):
    """Known per-model rate limits of one org (requests and tokens per minute)."""

    rpm: int = Field(gt=0)
    tpm: int = Field(gt=0)
    #: the window the vendor enforces them over: ``second`` (a sixtieth of the limit at a time —
    #: OpenAI: limits "can be quantized, meaning they are enforced over shorter periods of time",
    #: https://platform.openai.com/docs/guides/rate-limits) or ``minute`` (the whole limit as a
    #: burst). Pacing spends this window; per-second is the safe assumption (a client paced per
    #: second never bursts into a per-minute limit either, it only spreads its sends)
    enforcement: Enforcement = "second"


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
    # Azure has no global endpoint: every Azure org names its resource's (``azure.endpoint``)
    "azure": "https://openai.azure.com",
}


class AzureResource(_Frozen):
    """Where an Azure OpenAI org lives: one resource (its endpoint and key, in one region) and the
    deployments it holds. Azure's quota is per deployment, so each model's ``limits`` entry of
    the org is its deployment's; the breaker guards (org, model), i.e. one deployment.

    Requests go to ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…``
    with an ``api-key`` header (the URL shape of ``openai.AzureOpenAI``).
    """

    #: ``https://{resource}.openai.azure.com`` (or any host the resource answers on)
    endpoint: str = Field(pattern=r"^https?://[^/\s?#]+/?$", description="https://{resource}.openai.azure.com")
    #: the Azure region the resource is in (``eastus``, ``swedencentral``…): the router does not
    #: read it; it documents where the deployments live (and which models they may run)
    region: str = ""
    #: model (as the vendor names it) → deployment name. Empty: every model, each deployed under
    #: its own name (what the SDK assumes when it is given no deployment)
    deployments: dict[str, str] = Field(default_factory=dict)
    api_version: str = Field(default=AZURE_API_VERSION, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")

    @field_validator("deployments")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for model, dep in v.items():
            if not _DEPLOYMENT.match(dep):
                raise ValueError(f"deployment {dep!r} of model {model!r}: letters, digits, '-', '_', '.' only")
            if dep in seen:
                raise ValueError(f"deployment {dep!r} serves both {seen[dep]!r} and {model!r}")
            seen[dep] = model
        return v

    def deployment_for(self, model: str) -> str:
        return self.deployments.get(model, model)

    def model_of(self, deployment: str) -> str | None:
        """The model a deployment of this resource runs (``None``: no such deployment)."""
        if not self.deployments:
            return deployment
        for model, dep in self.deployments.items():
            if dep == deployment:
                return model
        return None

    def chat_url(self, model: str) -> str:
        return (f"{self.endpoint.rstrip('/')}/openai/deployments/{self.deployment_for(model)}"
                f"/chat/completions?api-version={self.api_version}")


class OrgConfig(_Frozen):
    name: str = Field(min_length=1)
    vendor: VendorName = "openai"
    org_id: str | None = None
    #: name of the environment variable holding the API key (the key itself never lives here)
    api_key_env: str = Field(min_length=1)
    tier: str = "tier-1"
    limits: dict[str, ModelLimits] = Field(default_factory=dict)
    weight: float = Field(default=1.0, gt=0)
    #: vendor ``azure``: the resource and its deployments (required there, refused elsewhere)
    azure: AzureResource | None = None

    @model_validator(mode="after")
    def _azure_where_it_belongs(self) -> OrgConfig:
        if self.vendor == "azure" and self.azure is None:
            raise ValueError(f"org {self.name}: vendor azure needs an 'azure' section (endpoint, deployments)")
        if self.vendor != "azure" and self.azure is not None:
            raise ValueError(f"org {self.name}: an 'azure' section belongs to vendor azure, not {self.vendor}")
        return self

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError("not an environment variable name: name the variable that holds the key, not the key")
        return v

    def api_key(self, environ: Mapping[str, str] | None = None) -> str:
        """The key, checked: printable ASCII without whitespace (what an HTTP header carries). A
        trailing newline or a zero-width space would otherwise fail every request — with the key
        quoted in the error and in transport logs. Errors name the org and variable, never the key."""
        env = os.environ if environ is None else environ
        key = env.get(self.api_key_env)
        name = redact(self.api_key_env) if looks_secret(self.api_key_env) else self.api_key_env
        if not key:
            raise ConfigError(f"org {self.name}: environment variable {name} is not set")
        if not _KEY_TEXT.fullmatch(key):
            raise ConfigError(
                f"org {self.name}: the key in environment variable {name} holds whitespace, a control "
                "or a non-ASCII character (a trailing newline? a pasted invisible character?)"
            )
        return key

    def serves(self, model: str) -> bool:
        """An org with no declared limits serves every model; otherwise the ones it lists. An
        Azure org that names its deployments serves their models only."""
        az = self.azure
        if az is not None and az.deployments:
            return model in az.deployments
        return not self.limits or model in self.limits


class Secret:
    """A key that never shows itself: ``repr``, ``str`` and formatting give ``***``, and containers
    holding it (a NamedTuple's ``_asdict()``, a log record's args) show the same. ``reveal()``
    returns it, for the one place that sends it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"


class BreakerConfig(_Frozen):
    """Which policy guards each (org, model), with its parameters (see ``multiorg.breakers``)."""

    policy: str = "exponential"
    params: dict[str, Any] = Field(default_factory=dict)


Strategy = Literal["round_robin", "weighted", "least_in_flight", "headroom", "p2c_latency"]
#: what ``weighted`` weighs by: each org's ``weight``, or its rate limit (TPM) for the model
Weights = Literal["configured", "capacity"]


class RouterConfig(_Frozen):
    """How requests are routed (deadline >= attempt_timeout: a deadline below it silently cuts
    every attempt short, so it is refused)."""

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
    #: when every org is held only by 429 retry-afters and one ends before the request's deadline,
    #: wait for it (plus jitter) instead of failing with NoOrgAvailable (see docs/waiting.md)
    wait_for_capacity: bool = True
    #: requests waiting at once in one router (pod); beyond it a request fails fast
    max_waiting: int = Field(default=1000, ge=0)
    #: a waiter wakes up to this much after the retry-after ends (from the injected RNG), so the
    #: requests waiting for one org do not all call it in the same instant
    wait_jitter: Seconds = 0.05
    #: ``capacity``: weigh orgs by their rate limits — the one setting that makes the router
    #: capacity-aware (it implies ``strategy: weighted``); ``configured``: by each org's ``weight``
    weights: Weights = "configured"
    #: pace before the 429: every org's token window (its limit's ``enforcement`` window, spent
    #: by the sends as the vendor counts them — prompt + max_tokens — capped by the
    #: remaining-tokens headers) is kept in the store, one per org and model shared by every pod
    #: (a store without windows: one per pod), and a request an org cannot take yet is held: it
    #: reserves the org's next free tokens and waits for them, so the requests held for one org
    #: leave one after another at the window's rate instead of all at once. A 429 that meets a
    #: paced request sends it back to wait, bounded by its deadline rather than ``max_attempts``.
    #: Orgs without known limits are never held. On by default: measured on every library
    #: scenario, no judged verdict is worse with it (docs/waiting.md)
    pacing: bool = True
    namespace: str = "multiorg"
    pod: str = "pod-0"

    @model_validator(mode="after")
    def _deadline_fits_an_attempt(self) -> RouterConfig:
        if self.deadline < self.attempt_timeout:
            raise ValueError(
                f"deadline {self.deadline:g}s is below attempt_timeout {self.attempt_timeout:g}s "
                "(raise the deadline or lower the attempt timeout)"
            )
        if self.weights == "capacity" and "strategy" in self.model_fields_set and self.strategy != "weighted":
            raise ValueError(
                f"weights: capacity weighs the 'weighted' strategy, not strategy {self.strategy!r} "
                "(drop the strategy or set it to weighted)"
            )
        return self

    @property
    def selection(self) -> Strategy:
        """The strategy in effect: ``weights: capacity`` alone selects ``weighted``."""
        return "weighted" if self.weights == "capacity" else self.strategy


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


_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: what an API key may hold: printable ASCII, no space
_KEY_TEXT = re.compile(r"[!-~]+")
#: mapping keys whose string values are secrets whatever they look like
_SECRET_FIELD = re.compile(r"key|secret|token|password|passwd|webhook|authorization", re.IGNORECASE)
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


class _RedactingRepr(reprlib.Repr):
    """``reprlib``: bounded work and output whatever the value's size (an alias bomb expanded to
    millions of nodes costs microseconds), with secrets redacted at any depth — a string that
    looks like a key, or any string under a mapping key named like one (``api_key``, ``token``…)."""

    def __init__(self) -> None:
        super().__init__()  # (keyword limits only from Python 3.12)
        self.maxlevel, self.maxstring, self.maxother = 3, 40, 40
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = 4

    def repr_str(self, x: str, level: int) -> str:
        if looks_secret(x):
            return _SECRET_SHOWN
        return super().repr_str(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        parts = []
        for i, (k, v) in enumerate(x.items()):
            if i >= self.maxdict:
                parts.append("...")
                break
            secret = isinstance(k, str) and _SECRET_FIELD.search(k) and isinstance(v, str)
            parts.append(f"{self.repr1(k, level - 1)}: {_SECRET_SHOWN if secret else self.repr1(v, level - 1)}")
        return "{" + ", ".join(parts) + "}"


_SECRET_SHOWN = "'***' (redacted)"
_REPR = _RedactingRepr()


def redact(value: Any) -> str:
    """A bounded ``repr(value)`` for an error message, secrets redacted (see :class:`_RedactingRepr`):
    a key pasted in the wrong field must not reach a log, and a huge value must not cost time."""
    return _REPR.repr(value)


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


#: nodes a YAML document may expand to through aliases (a config has hundreds; a bomb, billions)
MAX_YAML_NODES = 100_000


class _RefusedYaml(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _ConfigYamlLoader(yaml.SafeLoader):
    """``safe_load`` that refuses a duplicate mapping key (YAML says keys are unique; PyYAML keeps
    the last silently) and an alias bomb (aliases expanding past :data:`MAX_YAML_NODES`), before
    building anything."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise _RefusedYaml(key_node.start_mark.line + 1, f"duplicate key {redact(key)}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> tuple[int, yaml.Node | None]:
    """How many nodes ``root`` expands to with every alias followed (each distinct node visited
    once: O(document)); stops past the limit and returns the node where it did."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        size = 1 + sum(sizes[id(c)] for c in children)
        if size > MAX_YAML_NODES:
            return size, node
        sizes[id(node)] = size
    return sizes[id(root)], None


def load_yaml(text: str) -> Any:
    """Parse one YAML document the way config files are read (see :class:`_ConfigYamlLoader`)."""
    loader = _ConfigYamlLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _, too_big = _expanded_size(root)
        if too_big is not None:
            raise _RefusedYaml(
                too_big.start_mark.line + 1,
                f"aliases expand past {MAX_YAML_NODES} nodes (an alias bomb?): refused",
            )
        return loader.construct_document(root)
    finally:
        loader.dispose()


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
            data = load_yaml(text)
        except _RefusedYaml as e:
            raise ConfigError(f"{label}: line {e.line}: {e.reason}") from None
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
