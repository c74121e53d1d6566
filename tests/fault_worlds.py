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


#: A three-org file whose first org browns out for six of its ten minutes (``none`` keeps about
#: 90 % success; a breaker takes the org out). Tests append their own ``slo:`` / ``policies:``.
BROWNOUT_YAML = """\
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
