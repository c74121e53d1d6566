"""Shared data of the adversarial-search tests (a module of its own: every test folder has a
``conftest``, so tests import from here, not from ``conftest``).

A small world that runs in ~0.1 s per simulation: three OpenAI orgs in round robin, two pods
sharing breaker state, 24k requests/day for an hour, a retry budget of 20 % of requests (no
floor) — so a sick org that stays in rotation burns the budget and users see failures — and an
SLO of 99 % success. The scenario's own fault (org1 locked from 10 min, labelled) and its
labelled SLO phase exercise replace/add.
"""

from __future__ import annotations

SMALL_YAML = """\
name: small-pool
description: three OpenAI orgs, a retry budget of 20 % of requests, 99 % success over an hour
seed: 3
duration: 1h
pods: 2
state: shared
router:
  max_attempts: 3
  attempt_timeout: 20s
  deadline: 45s
  retry_budget_ratio: 0.2
  retry_budget_min_per_s: 0
  retry_budget_window: 5m
vendors:
  openai:
    orgs:
      - {name: org1, limits: {gpt-4o-mini: {rpm: 5000, tpm: 2M}}, error_rate: 0.05%}
      - {name: org2, limits: {gpt-4o-mini: {rpm: 5000, tpm: 2M}}, error_rate: 0.05%}
      - {name: org3, limits: {gpt-4o-mini: {rpm: 5000, tpm: 2M}}, error_rate: 0.05%}
traffic: {daily_volume: 24k/day}
faults:
  - {kind: lockout, label: org1 locked, target: org1, reason: quota, start: 10m}
slo:
  success_rate: {overall: ">= 99%", "during:org1 locked": ">= 99%"}
policies:
  - {name: consecutive, label: weak, params: {threshold: 50}}
  - {name: seed}
"""

#: the deliberately weak setting: 50 failures in a row before the breaker opens
WEAK = ("consecutive", {"threshold": 50})
