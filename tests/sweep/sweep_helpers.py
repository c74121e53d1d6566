"""Small worlds for the sweep tests: each run simulates 10 minutes of ~1,400 requests (< 0.2 s)."""

from __future__ import annotations

from typing import Any

import sim
from sim import Scenario

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


SMALL_YAML = """\
name: small-brownout-yaml
seed: 5
duration: 10m
pods: 2
router: {max_attempts: 1, attempt_timeout: 30s, deadline: 60s}
vendors:
  openai:
    orgs:
      - {name: o1, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}, error_rate: 0.1%}
      - {name: o2, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}, error_rate: 0.1%}
      - {name: o3, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}, error_rate: 0.1%}
traffic:
  daily_volume: 150k/day
  prompt_tokens: {median: 100}
  max_tokens: {median: 50}
modifiers:
  - {kind: brownout, label: o1 brownout, targets: [o1], start: 2m, end: 8m, error_rate_set: 0.5}
"""
