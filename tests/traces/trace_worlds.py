"""Small runs for the trace tests, and the digests of their columns as breakerlab wrote them
before traffic and traces went chunked (pinned: chunking must change no value)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.scenario import Scenario, default_scenario


def traffic_world() -> Scenario:
    """Every traffic stream in use: diurnal, a surge, sessions of random size, weighted models,
    random pod assignment."""
    return default_scenario(
        duration=2 * 3600.0, pods=3, seed=11,
        traffic={"daily_volume": 400_000, "shape": "diurnal", "prompt_tokens": {"median": 500, "p99": 4000},
                 "max_tokens": {"median": 256, "p99": 1000}, "model": {"a": 3, "b": 1}, "assignment": "random",
                 "sessions": {"per_day": 2000, "size": 10, "size_max": 40},
                 "surges": [{"start": "50m", "end": "70m", "factor": 3}]})


def run_world() -> Scenario:
    """A run with failover, breaker events, requests that find no org, sessions and several pods
    (~12k requests)."""
    return default_scenario(
        duration=1800.0, pods=3, seed=5,
        traffic={"daily_volume": 500_000, "sessions": {"per_day": 3000, "size": 20, "size_max": 60}},
        faults=[{"kind": "lockout", "target": "secondary1", "reason": "quota", "start": "5m"},
                {"kind": "brownout", "target": "secondary2", "error_rate": 0.6, "start": "10m", "end": "20m"},
                {"kind": "rate_limit_squeeze", "target": "*", "rpm": 0.001, "start": "22m", "end": "25m"}])


def digests(cols: Mapping[str, Any]) -> dict[str, str]:
    """A short sha256 of each column's bytes."""
    return {k: hashlib.sha256(np.ascontiguousarray(cols[k]).tobytes()).hexdigest()[:16] for k in sorted(cols)}


ARRIVAL_COLUMNS = ("time", "session", "pod", "model", "prompt_tokens", "max_tokens")
