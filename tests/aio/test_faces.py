"""The async face: multiorg.AsyncRouter in simulated time decides exactly as multiorg.Router does.

Every library scenario (its first policy, at a small share of its CI scale) runs on both faces
in fast mode, and a few in full mode (httpx.AsyncClient → respx, breaker state in fakeredis);
the traces must agree column by column: requests, attempts, breaker events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from breakerlab.cli import build_parser
from breakerlab.judge import judge_policies
from multiorg.router import AsyncRouter, Router
from reports.metrics import compute_results
from sim.engine import Simulation, resolve_policy
from sim.fault_effects import lower_faults
from sim.loader import load_scenario
from sim.policies import policy_names
from sim.rng import Seeds
from sim.scenario import Scenario
from sim.traffic import generate

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))
#: full mode costs ~20x fast mode: these cover shared state in fakeredis, a store fault, failover
FULL = ("lock-primary-before-launch.yaml", "redis-down.yaml", "rate-limit-squeeze-at-peak.yaml")
#: requests per run, about (the equality holds at any scale; small keeps the suite fast)
FAST_REQUESTS = 1500
FULL_REQUESTS = 300


def _small(name: str, requests: int) -> Scenario:
    """The library scenario scaled to about ``requests`` requests (at most its CI scale)."""
    sc = load_scenario(ROOT / "scenarios" / name)
    sc = sc.scaled(sc.ci_scale or 1.0)
    n = generate(lower_faults(sc, sc.seed).scenario, Seeds(sc.seed)).time.size  # (surges included)
    return sc.scaled(min(1.0, requests / max(n, 1)) * sc.scale)


def assert_same_decisions(a: Any, b: Any) -> None:
    for table in ("requests", "attempts", "events"):
        ta, tb = getattr(a, table), getattr(b, table)
        assert sorted(ta) == sorted(tb)
        for col in ta:
            assert np.array_equal(ta[col], tb[col], equal_nan=ta[col].dtype.kind == "f"), (table, col)


@pytest.mark.parametrize("name", LIBRARY)
def test_library_scenarios_decide_alike_on_both_faces_fast(name: str) -> None:
    sc = _small(name, FAST_REQUESTS)
    sync = sim.run(sc, sc.policies[0], mode="fast", face="sync")
    asyn = sim.run(sc, sc.policies[0], mode="fast", face="async")
    assert sync.n_attempts > 0
    assert (sync.meta["face"], asyn.meta["face"]) == ("sync", "async")
    assert_same_decisions(sync, asyn)


def test_every_policy_decides_alike_on_both_faces() -> None:
    """The lab's policies (presets and the manual operator too), on the launch scenario."""
    sc = _small("lock-primary-before-launch.yaml", 300)
    for policy in policy_names():
        sync = sim.run(sc, policy, face="sync")
        assert_same_decisions(sync, sim.run(sc, policy, face="async"))


@pytest.mark.parametrize("name", FULL)
def test_library_scenarios_decide_alike_on_both_faces_full(name: str) -> None:
    sc = _small(name, FULL_REQUESTS)
    sync = sim.run(sc, sc.policies[0], mode="full", face="sync")
    asyn = sim.run(sc, sc.policies[0], mode="full", face="async")
    assert sync.n_attempts > 0
    assert_same_decisions(sync, asyn)


def _redis_slow_world() -> Scenario:
    orgs = [{"name": n, "limits": {"gpt-4o-mini": {"rpm": 300, "tpm": "1M"}}} for n in ("a", "b", "c")]
    return Scenario.model_validate({
        "name": "slow store", "seed": 5, "duration": "25m", "pods": 3,
        "vendors": {"openai": {"orgs": orgs}},
        "traffic": {"daily_volume": 86_400 / 3, "sessions": {"per_day": 400, "size": 6}},
        "faults": [
            {"kind": "outage", "target": "b", "start": "5m", "duration": "10m"},
            {"kind": "redis_slow", "start": "8m", "duration": "10m", "delay": "40ms", "timeout": "250ms"},
            {"kind": "redis_slow", "label": "past timeout", "start": "20m", "duration": "2m", "delay": "1s",
             "timeout": "100ms"},
        ],
    })


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_a_slow_store_delays_the_async_face_as_the_sync_one(mode: str) -> None:
    """Store steps of the async face wait for a slow Redis in simulated threads; the waits and so
    the decisions are the sync face's."""
    sc = _redis_slow_world()
    sync = sim.run(sc, "exponential", mode=mode, face="sync")
    run = Simulation(sc, resolve_policy("exponential"), mode, sc.seed, "async")
    asyn = run.run()
    assert_same_decisions(sync, asyn)
    assert run.loop is not None and run.loop.threads.calls > 0  # the store was driven off the loop
    assert asyn.meta["redis_failed_commands"] == sync.meta["redis_failed_commands"]
    assert any(int(n) > 0 for n in asyn.meta["redis_failed_commands"].values())


def test_async_pods_wait_for_capacity_with_asyncio_sleep() -> None:
    """The WaitPlan path: when every org is held by a 429's retry-after, requests wait (the async
    face awaits ``asyncio.sleep`` on the loop, the sync face sleeps on the simulated clock)."""
    orgs = [{"name": n, "limits": {"gpt-4o-mini": {"rpm": 30, "tpm": "1M"}}} for n in ("a", "b")]
    sc = Scenario.model_validate({
        "name": "squeeze", "seed": 7, "duration": "10m", "pods": 2,
        "vendors": {"openai": {"orgs": orgs}},
        "traffic": {"daily_volume": 86_400 * 1.2, "sessions": {"per_day": 1500, "size": 8}},
    })
    faces = {}
    for face in ("sync", "async"):
        run = Simulation(sc, resolve_policy("exponential"), "fast", sc.seed, face)
        faces[face] = (run, run.run())
    (srun, strace), (arun, atrace) = faces["sync"], faces["async"]
    assert all(type(r) is Router for r in srun.pods.routers)
    assert all(type(r) is AsyncRouter for r in arun.pods.routers)
    waits = [r.core.waits for r in arun.pods.routers]
    assert sum(waits) > 0
    assert waits == [r.core.waits for r in srun.pods.routers]
    assert_same_decisions(strace, atrace)
    assert atrace.meta["max_in_flight"] == strace.meta["max_in_flight"] > 5


def test_the_async_face_is_deterministic(tmp_path: Path) -> None:
    sc = _small("flapping-org.yaml", FAST_REQUESTS)
    a, b = (sim.run(sc, "exponential", face="async") for _ in range(2))
    a.save(tmp_path / "a.npz")
    b.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_an_unknown_face_is_refused() -> None:
    with pytest.raises(ValueError, match="face must be one of sync, async, not 'threads'"):
        sim.run(_small("quiet-night.yaml", 100), "exponential", face="threads")  # type: ignore[arg-type]


def test_the_face_flag_reaches_the_runs_and_results_json() -> None:
    args = build_parser().parse_args(["compare", "x.yaml", "--face", "async"])
    assert args.face == "async"
    assert build_parser().parse_args(["run", "x.yaml", "--policy", "exponential"]).face == "sync"
    sc = _small("quiet-night.yaml", 300)
    [judged] = judge_policies(sc, [("exponential", "exponential")], face=args.face)
    [trace] = judged.traces
    assert trace.meta["face"] == "async"
    assert compute_results({"exponential": [trace]}).scenario.face == "async"
