"""A small three-org world to hang faults on, shared by the catalogue's and the engine's tests."""

from __future__ import annotations

from typing import Any

from sim.scenario import Scenario

LIMITS = {"gpt-4o-mini": {"rpm": 600, "tpm": "1M"}}


def world(fault_list: list[Any], **over: Any) -> Scenario:
    base = {"name": "c", "seed": 3, "duration": "2h", "pods": 2,
            "vendors": {"openai": {"orgs": [{"name": n, "limits": LIMITS} for n in ("a", "b", "c")]}},
            "faults": fault_list}
    base.update(over)
    return Scenario.model_validate(base)
