"""Small worlds for the sweep tests: each run simulates 10 minutes of ~1,400 requests (< 0.2 s)."""

from __future__ import annotations

from typing import Any

import sim
from sim import Scenario
from tests.fault_worlds import BROWNOUT_YAML

BROWNOUT = {
    "kind": "brownout",
    "label": "secondary1 brownout",
    "targets": ["secondary1"],
    "start": 120.0,
    "end": 480.0,
    "error_rate_set": 0.5,
}


def small_scenario(**overrides: Any) -> Scenario:
    """The default world (4 OpenAI orgs + Anthropic), 2 pods, 10 minutes, one org browning out
    for minutes 2-8, and no retries — so the breaker settings show in the success rate."""
    fields: dict[str, Any] = {
        "name": "small-brownout",
        "duration": 600.0,
        "pods": 2,
        "router": {"max_attempts": 1, "attempt_timeout": 30.0, "deadline": 60.0},
        "traffic": {"daily_volume": 200_000, "shape": "flat"},
        "modifiers": [BROWNOUT],
    }
    fields.update(overrides)
    return sim.default_scenario(**fields)


SMALL_YAML = BROWNOUT_YAML
