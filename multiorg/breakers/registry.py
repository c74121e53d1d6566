"""Policies by name, parameter presets, and :func:`make_policy` (config → policy value).

A scenario or a sweep names a policy (``"exponential"``) or a preset (``"seed"``), plus
parameter overrides::

    make_policy("exponential", {"threshold": 5, "base_open_time": "30s"})
    make_policy("seed")                          # exponential, the talk's numbers
    make_policy("resilience4j", {"window_type": "time"})

A bad name or parameter raises :class:`~multiorg.errors.ConfigError` with one line naming the
policy, the field and the offending value.
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
from .none import NoBreaker
from .outlier import OutlierDetector

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
    )
}

#: preset name → (policy name, parameters). Overrides given to :func:`make_policy` win.
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
        "resilience4j": (
            "failure-rate",
            MappingProxyType(
                {
                    "window_type": "count",
                    "window_size": 100,
                    "minimum_calls": 100,
                    "failure_rate_threshold": 50.0,
                    "slow_call_rate_threshold": 100.0,
                    "open_time": 60.0,
                    "half_open_permits": 10,
                }
            ),
        ),
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
        "envoy": (
            "outlier",
            MappingProxyType(
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
                    "failure_percentage_threshold": 85.0,
                    "failure_percentage_minimum_hosts": 5,
                    "failure_percentage_request_volume": 50,
                }
            ),
        ),
        "sre": ("adaptive", MappingProxyType({"k": 2.0, "window": 120.0})),
    }
)


#: preset name → what it is for (one sentence; the policy reference prints it)
PRESET_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "seed": "the talk's breaker: 3 failures within a minute; blocks of 1, 2, 4, 8, 16 minutes",
        "aggressive": "quicker to trip and to come back, with backoff memory for flapping orgs",
        "classic": "the textbook breaker: 5 failures in a row within a minute, 30 s open, one probe",
        "resilience4j": "Resilience4j's defaults: a count window of 100 calls, all 100 needed, "
        "10 half-open calls",
        "failure-rate-time": "a time-based Resilience4j breaker sized for a few requests per "
        "second per org",
        "envoy": "Envoy's defaults as they are: at most 10 % of the hosts ejected (so none of "
        "fewer than 10 orgs) and 5 hosts with 100 requests per 10 s for success-rate ejection",
        "sre": "Google SRE book client-side throttling: K = 2 over two minutes",
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
