"""The worked example (examples/my_router.py) through the simulator: its naive Redis breaker trips on
a billing-locked org and visibly keeps it out of rotation; the trace feeds the reports; reruns are
byte-identical; it compares with multiorg's own policies in one report."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import sim
from examples.my_router import AllOrgsFailed, make_router
from multiorg.outcomes import OUTCOME_CODES, Outcome
from reports import compute_results, trace_metrics, write_report
from sim import Scenario
from sim.byo import run_own_router
from sim.trace import EVENT_KINDS

OPENED, CLOSED = EVENT_KINDS.index("OPENED"), EVENT_KINDS.index("CLOSED")
SUCCESS = OUTCOME_CODES[Outcome.SUCCESS]
LOCK_START, LOCK_END = 240.0, 960.0
COOLDOWN = 120.0


def world(**over) -> Scenario:
    orgs = [
        {"name": f"o{i}", "org_id": f"org-o{i}", "limits": {"gpt-4o-mini": {"rpm": 100_000, "tpm": 500_000_000}},
         "latency": {"median": 0.5, "p99": 2.0}, "error_rate": 0.001}
        for i in range(1, 5)
    ]
    orgs[0]["lockouts"] = [{"kind": "quota", "label": "o1 billing lock", "start": LOCK_START, "end": LOCK_END}]
    data = {
        "name": "byo-lockout",
        "seed": 5,
        "duration": 1200.0,
        "pods": 2,
        "state": "shared",
        "vendors": {"openai": {"orgs": orgs}},
        "traffic": {"daily_volume": 86_400 * 1.5, "prompt_tokens": {"median": 100}, "max_tokens": {"median": 50}},
    }
    data.update(over)
    return Scenario.model_validate(data)


naive = functools.partial(make_router, threshold=3, cooldown=COOLDOWN, timeout=10.0)


@pytest.fixture(scope="module")
def trace() -> sim.Trace:
    return run_own_router(world(), naive, params={"threshold": 3, "cooldown": COOLDOWN})


def shares(trace: sim.Trace, lo: float, hi: float) -> np.ndarray:
    a = trace.attempts
    m = (a["start"] >= lo) & (a["start"] < hi)
    counts = np.bincount(a["org"][m], minlength=len(trace.meta["orgs"]))
    return counts / counts.sum()


def test_the_naive_breaker_trips_and_skips_the_locked_org(trace) -> None:
    a, ev = trace.attempts, trace.events
    assert trace.meta["mode"] == "byo" and trace.meta["policy"] == "make_router"
    assert trace.meta["policy_params"] == {"threshold": 3, "cooldown": COOLDOWN}
    # round robin: an even split before the lock
    assert shares(trace, 0.0, LOCK_START) == pytest.approx([0.25] * 4, abs=0.03)
    # during it, o1 only gets the few calls that re-trip the breaker after each cooldown
    during = shares(trace, LOCK_START, LOCK_END)
    assert 0.0 < during[0] < 0.05
    # the locked org's attempts are classed as the vendor's billing answer
    o1 = (a["org"] == 0) & (a["start"] >= LOCK_START) & (a["start"] < LOCK_END)
    assert set(a["outcome"][o1].tolist()) == {OUTCOME_CODES[Outcome.QUOTA]}
    assert set(a["status"][o1].tolist()) == {429}

    # the router's alerts became breaker events: first OPENED soon after the lock ...
    opened = ev["time"][(ev["org"] == 0) & (ev["kind"] == OPENED)]
    closed = ev["time"][(ev["org"] == 0) & (ev["kind"] == CLOSED)]
    assert len(opened) >= 4 and len(closed) >= 3
    assert LOCK_START < opened[0] < LOCK_START + 30.0
    # ... and while a trip lasts (cooldown, shared through Redis), no pod sends o1 anything
    starts = a["start"][a["org"] == 0]
    for t in opened:
        assert not np.any((starts > t) & (starts < t + COOLDOWN)), t
    # CLOSED only once the cooldown is over (the open_until timestamp from the injected clock)
    for t in closed:
        assert t >= opened[opened < t][-1] + COOLDOWN
    # users barely notice: failed attempts on o1 are retried on the next org
    assert np.mean(trace.requests["outcome"] == SUCCESS) > 0.999
    assert trace.meta["byo"]["exceptions"] == {}


def test_attempts_and_requests_are_consistent(trace) -> None:
    r, a = trace.requests, trace.attempts
    assert np.all(r["end"] >= r["arrival"])
    assert np.all(r["attempts"] >= 1)
    assert np.array_equal(np.bincount(a["request"], minlength=trace.n_requests), r["attempts"])
    assert trace.n_attempts == trace.meta["byo"]["vendor_calls"]
    assert not a["probe"].any()
    assert set(np.unique(r["pod"]).tolist()) == {0, 1}


def test_trace_metrics_read_the_trace(trace) -> None:
    m = trace_metrics(trace)
    assert m.policy == "make_router"
    (lock,) = m.faults
    assert lock.window.label == "o1 billing lock"
    assert lock.detection_time is not None and lock.detection_time < 30.0
    # the naive breaker lets o1 back in after every cooldown: it never fails over for good
    assert lock.failover_time_max is None
    assert 0 < lock.wasted_attempts < 0.05 * lock.phases["during"].attempts
    assert lock.phases["during"].traffic_share["o1"] < 0.05
    assert m.overall.success_rate > 0.999
    assert m.alerts["opened"] >= 4


def test_same_seed_same_bytes_other_seed_other_trace(tmp_path) -> None:
    sc = world(duration=400.0)
    one = run_own_router(sc, naive, seed=11).save(tmp_path / "one.npz")
    two = run_own_router(sc, naive, seed=11).save(tmp_path / "two.npz")
    assert one.read_bytes() == two.read_bytes()
    other = run_own_router(sc, naive, seed=12)
    assert not np.array_equal(other.requests["arrival"], sim.Trace.load(one).requests["arrival"])


def test_compared_with_multiorg_policies_in_one_report(tmp_path, trace) -> None:
    sc = world()
    exponential = sim.run(sc, "exponential", mode="full")
    res = compute_results({"my-router": trace, "exponential": exponential})
    assert set(res.policies) == {"my-router", "exponential"}
    paths = write_report({"my-router": trace, "exponential": exponential}, tmp_path / "report",
                         formats=("svg",), save=False)
    assert paths.html.exists() and "my-router" in paths.markdown.read_text()


def test_a_redis_outage_fails_the_naive_router(tmp_path) -> None:
    sc = world(duration=600.0, faults=[{"kind": "redis_down", "start": 300, "end": 400}])
    t = run_own_router(sc, naive)
    r = t.requests
    failed = r["outcome"] != SUCCESS
    in_window = (r["arrival"] >= 300) & (r["arrival"] < 400)
    # no Redis → the router's first GET raises: every request in the window fails; outside it, only
    # those in flight when Redis went away (their success or failure is not written down)
    assert failed[in_window].all() and r["attempts"][in_window].max() == 0
    caught = (r["arrival"] < 300) & (r["end"] >= 300)
    assert not failed[~in_window & ~caught].any()
    assert t.meta["byo"]["exceptions"] == {"redis.exceptions.ConnectionError": int(failed.sum())}
    assert [w["kind"] for w in t.meta["faults"]] == ["lockout:quota", "redis_down"]


def test_the_router_reports_exhaustion_as_its_own_exception() -> None:
    # every org locked: the router tries max_attempts orgs, then raises; the breaker then skips them all
    sc = world(duration=240.0, modifiers=[{"kind": "lock", "targets": ["*"], "start": 60, "lockout": "auth"}])
    t = run_own_router(sc, naive, failures=(AllOrgsFailed,))
    r = t.requests
    late = r["arrival"] >= 60
    assert (r["outcome"][late] != SUCCESS).all()
    codes = set(r["outcome"][late].tolist())
    assert codes <= {OUTCOME_CODES[Outcome.AUTH], -1} and len(codes) == 2  # tried and failed / all open
    assert t.meta["byo"]["exceptions"] == {"examples.my_router.AllOrgsFailed": int(late.sum())}
