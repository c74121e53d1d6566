"""The world the off-the-shelf examples run in: three OpenAI orgs, o1 billing-locked for a while."""

from __future__ import annotations

from typing import Any

from sim import Scenario

LOCK_START, LOCK_END = 120.0, 400.0


def lockout_world(**over: Any) -> Scenario:
    orgs = [{"name": f"o{i}", "limits": {"gpt-4o-mini": {"rpm": 100_000, "tpm": 500_000_000}},
             "latency": {"median": 0.5, "p99": 2.0}} for i in range(1, 4)]
    data: dict[str, Any] = {
        "name": "examples-lockout",
        "seed": 9,
        "duration": 600.0,
        "pods": 2,
        "state": "shared",
        "vendors": {"openai": {"orgs": orgs}},
        "faults": [{"kind": "lockout", "target": "o1", "start": LOCK_START, "end": LOCK_END}],
        "traffic": {"daily_volume": 86_400 * 1.5, "prompt_tokens": {"median": 100}, "max_tokens": {"median": 50}},
    }
    data.update(over)
    return Scenario.model_validate(data)
