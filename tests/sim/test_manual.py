"""The ``manual`` policy: no breaker; a simulated human flips the real vendor switch."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from multiorg.errors import ConfigError
from sim.policies import make_lab_policy

OK = (0, 8)  # success, slow


def _world(**over):
    base = dict(
        duration=7200.0, pods=2, traffic={"daily_volume": 200_000},
        modifiers=[{"kind": "outage", "label": "openai down", "targets": ["vendor:openai"], "start": 1800.0,
                    "error_rate_set": 1.0, "error_mix": {"503": 1.0}}],
    )
    base.update(over)
    return sim.default_scenario(**base)


def _success(trace, t0, t1):
    r = trace.requests
    m = (r["arrival"] >= t0) & (r["arrival"] < t1)
    return float(np.isin(r["outcome"][m], OK).mean())


def test_the_operator_flips_to_the_standby_vendor_after_the_reaction_delay():
    sc = _world()
    trace = sim.run(sc, ("manual", {"reaction_delay": "10m", "check_every": "1m"}), seed=3)
    flips = trace.meta["operator_flips"]
    assert flips and flips[0][1] == "anthropic"
    # paged at the first dashboard check that sees the outage, flipped 10 minutes later
    assert 1800 + 600 <= flips[0][0] <= 1800 + 600 + 2 * 60 + 300
    # before the flip the outage hurts (no breaker); after it, traffic goes to Anthropic
    assert _success(trace, 1800, flips[0][0]) < 0.9
    assert _success(trace, flips[0][0] + 60, 7200) > 0.99
    anthropic = trace.meta["orgs"].index("anthropic1")
    a = trace.attempts
    assert np.all(a["org"][a["start"] > flips[0][0] + 60] == anthropic)


def test_a_healthy_world_never_pages_anyone():
    trace = sim.run(_world(modifiers=[]), "manual", seed=3)
    assert trace.meta["operator_flips"] == []
    assert trace.meta["policy"] == "manual"


def test_a_slower_human_loses_more_requests():
    sc = _world()
    fast = sim.run(sc, ("manual", {"reaction_delay": "2m"}), seed=3)
    slow = sim.run(sc, ("manual", {"reaction_delay": "30m"}), seed=3)
    assert _success(fast, 0, 7200) > _success(slow, 0, 7200)


def test_bad_manual_params_are_one_line_errors():
    with pytest.raises(ConfigError) as e:
        make_lab_policy("manual", {"alert_error_rate": 2})
    assert "alert_error_rate" in str(e.value) and "\n" not in str(e.value)
