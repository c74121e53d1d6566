"""The policies the lab compares: every ``multiorg`` breaker policy and preset, plus ``manual``
(no breaker; a simulated human flips the vendor switch — see :mod:`sim.operator`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from multiorg.breakers.registry import POLICIES, PRESETS, make_policy
from multiorg.config import format_validation_error
from multiorg.errors import ConfigError

from .operator import ManualOperator

LAB_ONLY: dict[str, type] = {"manual": ManualOperator}


def policy_names() -> list[str]:
    """Every name a scenario, ``--policy`` or a sweep may use: policies, presets, ``manual``."""
    return [*POLICIES, *PRESETS, *LAB_ONLY]


def make_lab_policy(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """``multiorg.breakers.make_policy``, or a lab-only policy; one-line ConfigError when bad."""
    cls = LAB_ONLY.get(name)
    if cls is None:
        return make_policy(name, params)
    try:
        return cls.model_validate(dict(params or {}))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"policy {name}")) from None
