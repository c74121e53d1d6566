"""A hard-down org under ``consecutive``: the user-visible cost is exactly what the policy says."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from sim_helpers import openai_orgs, scenario

import sim
from sim.trace import EVENT_KINDS, NO_ORG


def test_hard_down_org_costs_three_failures_then_one_per_probe() -> None:
    healthy, sick = openai_orgs(2)
    sick = {**sick, "error_rate": 1.0, "error_mix": {"500": 1}, "error_latency": 0.0}  # fails instantly
    sc = scenario(
        duration=1800.0,
        pods=1,
        vendors={"openai": {"orgs": [healthy, sick]}},
        traffic={"daily_volume": 86_400 * 2},  # 2 req/s
        router={"max_attempts": 1},
    )
    trace = sim.run(sc, ("consecutive", {"threshold": 3, "window": 600, "open_time": 60}), seed=11)
    r, at, ev = trace.requests, trace.attempts, trace.events
    assert not np.any(r["outcome"] == NO_ORG)  # the healthy org always takes the traffic
    failed = r["outcome"] != 0
    sick_i = trace.meta["orgs"].index("o2")
    # every user-visible failure is one attempt on the sick org
    assert np.all(at["org"][np.isin(at["request"], np.flatnonzero(failed))] == sick_i)
    opened = ev["time"][ev["kind"] == EVENT_KINDS.index("OPENED")]
    half = ev["time"][ev["kind"] == EVENT_KINDS.index("HALF_OPEN")]
    assert len(opened) >= 20  # ~one per minute after the first trip
    assert not np.any(ev["kind"] == EVENT_KINDS.index("CLOSED"))
    fail_end = r["end"][failed]
    # first trip: exactly three failures, the third one is the trip
    assert int(np.sum(fail_end <= opened[0])) == 3
    assert fail_end[2] == opened[0]
    # after it: one failed probe per re-open, nothing else fails
    for a, b in pairwise(opened):
        assert int(np.sum((fail_end > a) & (fail_end <= b))) == 1
    assert int(failed.sum()) == 3 + (len(opened) - 1) + int(np.sum(fail_end > opened[-1]))
    assert int(np.sum(fail_end > opened[-1])) <= 1
    # probes go out when the block ends (60 s), and are marked as such
    assert np.allclose(half[: len(opened) - 1] - opened[: len(half[: len(opened) - 1])], 60.0, atol=2.0)
    probes = at["probe"].astype(bool)
    assert np.all(at["org"][probes] == sick_i)
    assert int(probes.sum()) == len(half)
