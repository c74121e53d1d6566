"""Scenarios validate; the trace records what happened in at most ~100 bytes per attempt."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sim_helpers import openai_orgs, scenario

import sim
from sim import default_scenario
from sim.trace import ATTEMPT_COLUMNS, NO_ORG


def test_default_scenario_builds_the_router_config() -> None:
    sc = default_scenario(pods=2)
    assert sc.org_names() == ["secondary1", "secondary2", "secondary3", "secondary4", "anthropic1"]
    cfg = sc.multiorg_config(1)
    assert cfg.router.pod == "pod-1"
    assert [o.vendor for o in cfg.orgs] == ["openai"] * 4 + ["anthropic"]
    env = sc.environ()
    assert env[cfg.orgs[0].api_key_env] == "sk-sim-secondary1"
    assert sc.models() == ["gpt-4o-mini", "claude-3-5-haiku-latest"]
    assert sc.start_epoch == 1742342400.0
    assert sc.store_staleness() == 0.0
    assert default_scenario(router={"cache_staleness": 0.5}).store_staleness() == 0.5


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"modifiers": [{"targets": ["nope"], "error_rate_add": 0.1}]}, "unknown org"),
        ({"vendors": {"openai": {"orgs": [{"name": "a", "latency": {"median": 2, "p99": 1}}]}}}, "p99"),
        ({"vendors": {"openai": {"orgs": [{"name": "a", "error_rate": [[0, 0.1], [60, 1.5]]}]}}}, "error rates"),
        ({"vendors": {"openai": {"orgs": openai_orgs(1) + openai_orgs(1)}}}, "duplicate"),
        ({"bogus": 1}, "bogus"),
        ({"duration": "soon"}, "duration"),
    ],
)
def test_bad_scenarios_are_refused(patch: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        scenario(**patch)


def test_durations_accept_human_units() -> None:
    sc = scenario(duration="2h", modifiers=[{"targets": "o1", "start": "15m", "end": "1h", "latency_add": "250ms"}])
    assert sc.duration == 7200.0
    m = sc.modifiers[0]
    assert (m.start, m.end, m.latency_add, m.targets) == (900.0, 3600.0, 0.25, ("o1",))


def test_trace_columns_meta_and_size(tmp_path) -> None:
    sc = scenario(
        duration=300.0, pods=2,
        vendors={"openai": {"orgs": openai_orgs(2, lockouts=[{"kind": "auth", "start": 100, "end": 200}])}},
        traffic={"daily_volume": 86_400 * 4, "sessions": {"per_day": 86_400 / 30, "size": 5}},
    )
    trace = sim.run(sc, "consecutive")
    r, at = trace.requests, trace.attempts
    assert trace.n_requests == len(r["arrival"]) and np.all(np.isfinite(r["end"]))
    assert np.all(r["end"] >= r["arrival"])
    # while both orgs are locked out (after their breakers trip) requests find no org at all
    no_org = r["outcome"] == NO_ORG
    assert np.any(no_org) and np.all(r["attempts"][no_org] == 0)
    assert np.all((r["arrival"][no_org] >= 100) & (r["arrival"][no_org] < 200 + 60))
    assert np.array_equal(np.bincount(at["request"], minlength=trace.n_requests), r["attempts"])
    assert np.all(at["end"] >= at["start"])
    per_attempt = sum(np.dtype(dt).itemsize for dt in ATTEMPT_COLUMNS.values())
    assert per_attempt <= 100
    meta = trace.meta
    assert meta["orgs"] == ["o1", "o2"] and meta["org_vendors"] == ["openai", "openai"]
    assert meta["policy"] == "consecutive" and meta["policy_params"]["threshold"] >= 1
    assert meta["faults"][0] == {"kind": "lockout:auth", "target": "o1", "start": 100.0, "end": 200.0,
                                 "label": "o1 auth lockout"}
    assert meta["pods"] == 2 and meta["seed"] == 7 and meta["mode"] == "fast"
    assert meta["models"][0] == "gpt-4o-mini"
    path = trace.save(tmp_path / "t.npz")
    back = sim.Trace.load(path)
    assert back.meta == trace.meta
    for col in r:
        assert np.array_equal(back.requests[col], r[col])


def test_progress_is_reported_per_simulated_hour() -> None:
    seen: list[tuple[float, float]] = []
    sim.run(scenario(duration=7300.0, traffic={"daily_volume": 8640}), "none",
            progress=lambda done, total: seen.append((done, total)))
    assert seen == [(3600.0, 7300.0), (7200.0, 7300.0), (7300.0, 7300.0)]


def test_policy_arguments() -> None:
    sc = scenario(duration=60.0, policies=["classic", {"name": "exponential", "params": {"threshold": 4}}])
    assert sim.run(sc).meta["policy_params"]["threshold"] == 5  # the first listed: the classic preset
    assert sim.resolve_policy(sc.policies[1]).threshold == 4
    pol = sim.resolve_policy(("consecutive", {"open_time": 5}))
    assert sim.run(sc, pol).meta["policy_params"]["open_time"] == 5.0
    with pytest.raises(TypeError):
        sim.resolve_policy(3.5)


def test_faults_from_the_catalogue_take_effect_in_sim_run() -> None:
    fault = {"kind": "lockout", "target": "o1", "reason": "quota", "start": 100, "end": 200}
    sc = scenario(duration=300.0, faults=[fault], router={"max_attempts": 1})
    trace = sim.run(sc, "none")
    at = trace.attempts
    o1 = at["org"] == trace.meta["orgs"].index("o1")
    during = o1 & (at["start"] >= 100.5) & (at["start"] < 199.5)
    assert np.any(during) and np.all(at["status"][during] == 429)
    assert np.all(at["status"][o1 & (at["start"] < 99.5)] == 200)
    assert any(w.get("target") == "o1" for w in trace.meta["faults"])
