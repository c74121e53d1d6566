"""Helpers for the simulator's tests: small scenarios built in Python (imported by the test modules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim import Scenario


def openai_orgs(n: int, **fields: Any) -> list[dict[str, Any]]:
    base = {"limits": {"gpt-4o-mini": {"rpm": 100_000, "tpm": 500_000_000}}, "latency": {"median": 0.5, "p99": 2.0}}
    base.update(fields)
    return [{"name": f"o{i}", "org_id": f"org-o{i}", **base} for i in range(1, n + 1)]


def scenario(**fields: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "test",
        "seed": 7,
        "duration": 600.0,
        "pods": 1,
        "vendors": {"openai": {"orgs": openai_orgs(2)}},
        "traffic": {"daily_volume": 86400.0, "prompt_tokens": {"median": 100}, "max_tokens": {"median": 50}},
    }
    data.update(fields)
    return Scenario.model_validate(data)


def max_overlap(start: np.ndarray, end: np.ndarray) -> int:
    """The largest number of [start, end) intervals open at one instant."""
    times = np.concatenate([start, end])
    delta = np.concatenate([np.ones(len(start), int), -np.ones(len(end), int)])
    order = np.lexsort((delta, times))  # at equal times, ends (-1) before starts (+1)
    return int(np.max(np.cumsum(delta[order]))) if len(order) else 0
