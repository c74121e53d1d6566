"""Policies by name, parameter presets, and :func:`make_policy` (config → policy value).

A scenario or a sweep names a policy (``"exponential"``) or a preset (``"seed"``), plus
parameter overrides::

    make_policy("exponential", {"threshold": 5, "base_open_time": "30s"})
    make_policy("seed")                          # exponential, the talk's numbers
    make_policy("resilience4j", {"window_type": "time"})

A bad name or parameter raises :class:`~multiorg.errors.ConfigError` with one line naming the
policy, the field and the offending value.

The anchors' presets against the lab's own defaults
    ``resilience4j-defaults`` and ``envoy-defaults`` carry the published defaults of those
    libraries, so a comparison can ask "is a tuned breaker better than just using theirs?". The
    ``failure-rate`` and ``outlier`` policies keep defaults sized for a handful of LLM orgs
    instead: ``failure-rate`` needs 10 calls, not 100, before a rate counts (an org serving a
    few requests a second would otherwise wait half a minute to trip) and opens at once on a
    billing lock or a revoked key (``trip_immediately``), which Resilience4j has no notion of;
    ``outlier`` may eject half the orgs, not 10 % (with fewer than ten orgs Envoy's 10 % ejects
    nothing without ``always_eject_one_host``), counts 429s and auth errors against an org
    (Envoy counts only 5xx and local errors) and keeps failure-percentage ejection on (Envoy
    enforces it at 0 % by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from ..config import format_validation_error
from ..errors import ConfigError
from .adaptive import AdaptiveThrottle
from .consecutive import ConsecutiveBreaker
from .exponential import ExponentialBreaker
from .failure_rate import FailureRateBreaker
from .litellm import LiteLLMCooldowns
from .none import NoBreaker
from .outlier import OutlierDetector
from .portkey import PortkeyBreaker

#: policy name → policy class (insertion order is the listing order)
POLICIES: dict[str, type[Any]] = {
    cls.name: cls
    for cls in (
        NoBreaker,
        ConsecutiveBreaker,
        ExponentialBreaker,
        FailureRateBreaker,
        OutlierDetector,
        AdaptiveThrottle,
        LiteLLMCooldowns,
        PortkeyBreaker,
    )
}

#: Resilience4j's CircuitBreakerConfig defaults (resilience4j.readme.io/docs/circuitbreaker):
#: failureRateThreshold 50 %, slowCallRateThreshold 100 %, slidingWindowType COUNT_BASED,
#: slidingWindowSize 100, minimumNumberOfCalls 100, waitDurationInOpenState 60 s,
#: permittedNumberOfCallsInHalfOpenState 10, maxWaitDurationInHalfOpenState 0 (wait forever).
#: Every exception is recorded as a failure (recordExceptions: all) and none opens the breaker
#: by itself, so no outcome trips at once.
RESILIENCE4J_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "window_type": "count",
        "window_size": 100,
        "minimum_calls": 100,
        "failure_rate_threshold": 50.0,
        "slow_call_rate_threshold": 100.0,
        "open_time": 60.0,
        "half_open_permits": 10,
        "max_half_open_wait": 0.0,
        "trip_immediately": [],
    }
)

#: Envoy's OutlierDetection defaults (envoyproxy.io, config.cluster.v3.OutlierDetection):
#: consecutive_5xx 5, interval 10 s, base_ejection_time 30 s, max_ejection_time 300 s,
#: max_ejection_percent 10, always_eject_one_host false; success rate (enforcing 100 %) with
#: minimum_hosts 5, request_volume 100, stdev_factor 1.9; failure percentage is off by default
#: (enforcing_failure_percentage 0). What Envoy counts is a 5xx or a locally originated error
#: (timeout, reset) mapped to one; a 429 or a 401 is not, and nothing ejects at once. (Envoy
#: counts such a response as a success, which also ends a run of 5xx; here it is neutral.)
ENVOY_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "consecutive_failures": 5,
        "interval": 10.0,
        "base_ejection_time": 30.0,
        "max_ejection_time": 300.0,
        "max_ejection_percent": 10.0,
        "always_eject_one": False,
        "success_rate_minimum_hosts": 5,
        "success_rate_request_volume": 100,
        "success_rate_stdev_factor": 1.9,
        "failure_percentage_threshold": None,
        "failure_outcomes": ["server", "timeout", "connection"],
        "trip_immediately": [],
    }
)

#: preset name → (policy name, parameters as plain JSON values, as a scenario would write them).
#: Overrides given to :func:`make_policy` win.
PRESETS: Mapping[str, tuple[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "seed": (
            "exponential",
            MappingProxyType(
                {"threshold": 3, "window": 60.0, "base_open_time": 60.0, "max_open_time": 960.0}
            ),
        ),
        "aggressive": (
            "exponential",
            MappingProxyType(
                {
                    "threshold": 2,
                    "window": 30.0,
                    "base_open_time": 30.0,
                    "max_open_time": 480.0,
                    "reset_after": 600.0,
                }
            ),
        ),
        "classic": (
            "consecutive",
            MappingProxyType({"threshold": 5, "window": 60.0, "open_time": 30.0}),
        ),
        # the older name of resilience4j-defaults (same values)
        "resilience4j": ("failure-rate", RESILIENCE4J_DEFAULTS),
        # a time-based Resilience4j breaker sized for a few requests per second per org
        "failure-rate-time": (
            "failure-rate",
            MappingProxyType(
                {
                    "window_type": "time",
                    "window_size": 60.0,
                    "minimum_calls": 20,
                    "failure_rate_threshold": 50.0,
                    "open_time": 60.0,
                    "half_open_permits": 3,
                    "max_half_open_wait": 120.0,
                }
            ),
        ),
        # the older name of envoy-defaults (same values)
        "envoy": ("outlier", ENVOY_DEFAULTS),
        # Google SRE book: K = 2 over two minutes
        "sre": ("adaptive", MappingProxyType({"k": 2.0, "window": 120.0})),
        # the anchors' published defaults (see RESILIENCE4J_DEFAULTS and ENVOY_DEFAULTS)
        "resilience4j-defaults": ("failure-rate", RESILIENCE4J_DEFAULTS),
        "envoy-defaults": ("outlier", ENVOY_DEFAULTS),
    }
)


#: preset name → what it is for (one sentence; the policy reference prints it)
PRESET_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "seed": "the talk's breaker: 3 failures within a minute; blocks of 1, 2, 4, 8, 16 minutes",
        "aggressive": "quicker to trip and to come back, with backoff memory for flapping orgs",
        "classic": "the textbook breaker: 5 failures in a row within a minute, 30 s open, one probe",
        "resilience4j": "the older name of resilience4j-defaults (same values)",
        "failure-rate-time": "a time-based Resilience4j breaker sized for a few requests per "
        "second per org",
        "envoy": "the older name of envoy-defaults (same values)",
        "sre": "Google SRE book client-side throttling: K = 2 over two minutes",
        "resilience4j-defaults": "Resilience4j's published defaults: a count window of 100 calls, all 100 "
        "needed, 50 % failure rate, 60 s open, 10 half-open calls",
        "envoy-defaults": "Envoy's published defaults: 5 consecutive 5xx, 10 s interval, 30 s base ejection "
        "up to 300 s, at most 10 % of the hosts ejected (so none of fewer than 10 orgs)",
    }
)


def list_policies() -> list[str]:
    """The policy names, in a stable order."""
    return list(POLICIES)


def list_presets() -> list[str]:
    """The preset names, in a stable order."""
    return list(PRESETS)


def make_policy(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """The policy called ``name`` (a policy or a preset), with ``params`` overriding defaults."""
    policy = name
    merged: dict[str, Any] = {}
    if name not in POLICIES and name in PRESETS:
        policy, preset = PRESETS[name]
        merged.update(preset)
    cls = POLICIES.get(policy)
    if cls is None:
        known = ", ".join([*POLICIES, *PRESETS])
        raise ConfigError(f"breaker policy {name!r} is unknown (known: {known})")
    if params is not None:
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"breaker {name}: params must be a mapping (got {type(params).__name__})"
            )
        merged.update(params)
    try:
        return cls.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"breaker {name}")) from None
