"""Fast and full mode make the same decisions; reruns are byte-identical; seeds matter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sim_helpers import openai_orgs

import sim
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim import Scenario
from sim.engine import Simulation
from sim.full import CALL_LOG_LIMIT


def busy_world(**over) -> Scenario:
    orgs = openai_orgs(4, latency={"median": 0.6, "p99": 3.0}, error_rate=0.01)
    orgs[1] = {**orgs[1], "limits": {"gpt-4o-mini": {"rpm": 40, "tpm": 40_000}}}  # 429s
    orgs[0] = {**orgs[0], "lockouts": [{"kind": "quota", "start": 120, "end": 420}]}
    data = {
        "name": "modes",
        "seed": 21,
        "duration": 600.0,
        "pods": 3,
        "vendors": {
            "openai": {"orgs": orgs},
            "anthropic": {
                "model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"},
                "orgs": [{"name": "c1", "limits": {"claude-3-5-haiku-latest": {"rpm": 1000, "tpm": 10**7}},
                          "latency": {"median": 1.0, "p99": 4.0}}],
            },
        },
        "router": {"max_attempts": 3, "attempt_timeout": 5.0, "deadline": 12.0, "standby_vendor": "anthropic"},
        "traffic": {"daily_volume": 86_400 * 3, "sessions": {"per_day": 86_400 / 60, "size": 8},
                    "prompt_tokens": {"median": 300, "p99": 1500}, "max_tokens": {"median": 200}},
        "modifiers": [
            {"kind": "errors", "targets": ["o3"], "start": 200, "end": 320, "error_rate_set": 0.7},
            {"kind": "slow", "targets": ["o4"], "start": 300, "end": 400, "latency_factor": 8.0},
            {"kind": "outage", "targets": ["vendor:openai"], "start": 500, "end": 530, "error_rate_set": 1.0,
             "error_mix": {"503": 1, "reset": 1}},
        ],
    }
    data.update(over)
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def fast_and_full():
    sc = busy_world()
    policy = ("exponential", {"threshold": 3, "window": 60, "base_open_time": 20})
    return sim.run(sc, policy, mode="fast"), sim.run(sc, policy, mode="full")


def test_the_world_is_eventful(fast_and_full) -> None:
    fast, _ = fast_and_full
    outcomes = set(fast.attempts["outcome"].tolist())
    for o in (Outcome.SUCCESS, Outcome.RATE_LIMITED, Outcome.QUOTA, Outcome.SERVER, Outcome.TIMEOUT,
              Outcome.CONNECTION):
        assert OUTCOME_CODES[o] in outcomes, o
    assert fast.n_attempts > fast.n_requests  # failover happened
    assert len(fast.events["time"]) > 5
    assert np.any(fast.attempts["probe"])
    assert "c1" in fast.meta["orgs"] and np.any(fast.attempts["org"] == fast.meta["orgs"].index("c1"))
    assert np.any(fast.requests["session"] >= 0)
    assert set(fast.requests["pod"].tolist()) == {0, 1, 2}


def test_fast_and_full_decide_identically(fast_and_full) -> None:
    fast, full = fast_and_full
    assert fast.meta["mode"] == "fast" and full.meta["mode"] == "full"
    for table in ("requests", "attempts", "events"):
        a, b = getattr(fast, table), getattr(full, table)
        assert sorted(a) == sorted(b)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)


def test_same_seed_same_bytes_different_seed_different_trace(tmp_path) -> None:
    sc = busy_world(duration=300.0)
    p1 = sim.run(sc, "seed").save(tmp_path / "a.npz")
    p2 = sim.run(sc, "seed").save(tmp_path / "b.npz")
    assert p1.read_bytes() == p2.read_bytes()
    other = sim.run(sc, "seed", seed=22)
    base = sim.Trace.load(p1)
    assert other.meta["seed"] == 22 and base.meta["seed"] == 21
    assert other.n_requests != base.n_requests or not np.array_equal(
        other.requests["arrival"], base.requests["arrival"]
    )
    assert not np.array_equal(
        other.attempts["end"][: min(other.n_attempts, base.n_attempts)],
        base.attempts["end"][: min(other.n_attempts, base.n_attempts)],
    )


def test_adding_a_fault_never_reshuffles_traffic() -> None:
    sc = busy_world(duration=300.0, modifiers=[])
    plain = Simulation(sc, sim.resolve_policy("seed"), "fast", 5).arrivals
    sc2 = busy_world(duration=300.0)
    faulted = Simulation(sc2, sim.resolve_policy("seed"), "fast", 5).arrivals
    assert np.array_equal(plain.time, faulted.time) and np.array_equal(plain.prompt_tokens, faulted.prompt_tokens)


def test_local_state_keeps_pods_apart() -> None:
    sc = busy_world(duration=300.0, state="local")
    trace = sim.run(sc, "seed", mode="fast")
    ev = trace.events
    # the quota lockout of o1 is detected by every pod on its own
    o1 = trace.meta["orgs"].index("o1")
    first_trip = (ev["org"] == o1) & (ev["kind"] == 0) & (ev["time"] >= 120) & (ev["time"] < 150)
    assert sorted(ev["pod"][first_trip].tolist()) == [0, 1, 2]
    shared = sim.run(busy_world(duration=300.0), "seed", mode="fast")
    se = shared.events
    first_trip = (se["org"] == o1) & (se["kind"] == 0) & (se["time"] >= 120) & (se["time"] < 150)
    assert int(first_trip.sum()) == 1  # one shared breaker, one alert


def test_full_mode_local_state_matches_fast_mode() -> None:
    sc = busy_world(duration=200.0, state="local", pods=2)
    fast = sim.run(sc, "consecutive", mode="fast")
    full = sim.run(sc, "consecutive", mode="full")
    for col in ("org", "start", "end", "outcome", "status", "probe"):
        assert np.array_equal(fast.attempts[col], full.attempts[col]), col


def test_full_mode_keeps_respx_call_log_bounded() -> None:
    sc = busy_world(duration=400.0, pods=2, modifiers=[])
    run = Simulation(sc, sim.resolve_policy("seed"), "full", 3)
    trace = run.run()
    vendors = run.pods.vendors
    assert vendors.calls == trace.n_attempts > CALL_LOG_LIMIT
    assert len(vendors.mock.calls) < CALL_LOG_LIMIT
    assert all(len(route.calls) < CALL_LOG_LIMIT for route in vendors.mock.routes)
    # every pod shares one fakeredis server: the breaker keys live there, under the namespace
    keys = run.pods.stores[0]._client.keys("*")
    assert keys and all(k.startswith(b"multiorg:") for k in keys)


def test_byte_identical_across_processes_and_hash_seeds(tmp_path) -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); sys.path.insert(0, sys.argv[3]);"
        "import sim; from test_modes import busy_world;"
        "sim.run(busy_world(duration=120.0), 'seed', mode='full').save(sys.argv[1])"
    )
    paths = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"t{hash_seed}.npz"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(out), str(root), str(Path(__file__).parent)],
                       check=True, env=env, cwd=root)
        paths.append(out)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    here = sim.run(busy_world(duration=120.0), "seed", mode="fast").save(tmp_path / "here.npz")
    fast, full = sim.Trace.load(here), sim.Trace.load(paths[0])
    assert np.array_equal(fast.attempts["end"], full.attempts["end"])


def test_vendor_switch_flips_are_seen_alike_in_fast_and_full_mode() -> None:
    """The operator flips the real vendor switch; in full mode every pod learns of it from a
    change notice (fakeredis pub/sub), not a GET per request, and still at the same moment as
    fast mode's shared MemoryStore shows it: the traces are identical."""
    sc = sim.default_scenario(
        duration=3600.0, pods=3, traffic={"daily_volume": 100_000},
        modifiers=[{"kind": "outage", "targets": ["vendor:openai"], "start": 600.0, "end": 2400.0,
                    "error_rate_set": 1.0, "error_mix": {"503": 1.0}}],
    )
    policy = ("manual", {"reaction_delay": "5m", "check_every": "1m"})
    fast = sim.run(sc, policy, mode="fast", seed=4)
    run = Simulation(sc, sim.resolve_policy(policy), "full", 4)
    full = run.run()
    assert fast.meta["operator_flips"] and fast.meta["operator_flips"] == full.meta["operator_flips"]
    assert fast.meta["operator_flips"][0][1] == "anthropic"
    for table in ("requests", "attempts"):
        a, b = getattr(fast, table), getattr(full, table)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)
    # each attempt costs its two state reads (admit, record) and pacing's one window operation,
    # plus the rare write (a trip, the flip, the subscriptions); a GET of the switch on every
    # request would add n_requests more
    trips = sum(s.round_trips for s in run.pods.stores)
    assert trips <= 3 * full.n_attempts + full.n_requests // 5
    assert trips > full.n_attempts  # (the reads do go to Redis: staleness 0)
