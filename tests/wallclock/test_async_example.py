"""The async example (examples/async_router.py: AsyncOpenAI, a breaker on time.monotonic,
asyncio.sleep backoff, asyncio.gather sessions, redis.asyncio counters; no injected clock) on the
async face: its breaker opens on the billing lock, probes exactly its cooldown later on the
simulated monotonic clock, closes after the lock; the backoff and the fan-out run in simulated
time; time.sleep inside a task is an escape."""

from __future__ import annotations

import functools
import itertools
import time
from typing import Any

import numpy as np
import pytest

import sim
from examples.async_router import make_router, make_session_router
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.byo import EscapeError, run_own_router
from sim.trace import EVENT_KINDS
from tests.wallclock.worlds import LOCK_END, LOCK_START, lockout_world

OPENED, HALF_OPEN, CLOSED = (EVENT_KINDS.index(k) for k in ("OPENED", "HALF_OPEN", "CLOSED"))
COOLDOWN = 60.0
QUOTA = OUTCOME_CODES[Outcome.QUOTA]
router = functools.partial(make_router, threshold=3, cooldown=COOLDOWN)


@pytest.fixture(scope="module")
def trace() -> sim.Trace:
    return run_own_router(lockout_world(), router, name="async-router")


def test_the_monotonic_breaker_opens_probes_after_its_cooldown_and_closes(trace: sim.Trace) -> None:
    a, ev, r = trace.attempts, trace.events, trace.requests
    assert trace.meta["face"] == "async" and trace.meta["byo"]["exceptions"] == {}
    assert (r["outcome"] == OUTCOME_CODES[Outcome.SUCCESS]).all()
    assert trace.meta["max_in_flight"] >= 2  # tasks overlap

    for pod in (0, 1):  # each pod's own breaker (in memory, on its monotonic clock)
        mine = (ev["org"] == 0) & (ev["pod"] == pod)
        kinds, times = ev["kind"][mine].tolist(), ev["time"][mine]
        assert kinds[0] == OPENED and LOCK_START < times[0] < LOCK_START + 15
        assert kinds[-1] == CLOSED and LOCK_END < times[-1] < LOCK_END + COOLDOWN + 15
        for k in range(1, len(kinds)):
            if kinds[k] == HALF_OPEN:  # the first call allowed at least a cooldown after opening
                assert kinds[k - 1] == OPENED and COOLDOWN <= times[k] - times[k - 1] < COOLDOWN + 10
        assert kinds.count(HALF_OPEN) >= 3

    # asyncio.sleep backoff in simulated time: the try after a first failure starts 0.5 s after it ended
    failed = np.flatnonzero((a["org"] == 0) & (a["outcome"] == QUOTA))
    order = np.lexsort((a["start"], a["request"]))
    nxt = {int(i): int(j) for i, j in itertools.pairwise(order) if a["request"][i] == a["request"][j]}
    waits = [a["start"][nxt[i]] - a["end"][i] for i in failed.tolist() if i in nxt]
    assert len(waits) >= 3 and np.allclose(waits, 0.5)


def test_a_session_fans_out_with_gather_at_one_simulated_instant() -> None:
    t = run_own_router(lockout_world(duration=60.0, faults=[]), functools.partial(make_session_router, fan_out=3))
    a = t.attempts
    assert (t.requests["attempts"] == 3).all()
    for req in range(min(t.n_requests, 20)):
        starts = a["start"][a["request"] == req]
        assert len(starts) == 3 and np.ptp(starts) == 0  # all three sent at once, not one after another


def test_time_sleep_in_a_task_blocks_the_loop_and_fails_the_run() -> None:
    def factory(http):
        async def handler(body: dict[str, Any]) -> Any:
            time.sleep(0.5)  # a sync backoff inside async code: blocks every task on the loop
            return {"ok": True}
        return handler

    factory.face = "async"  # type: ignore[attr-defined]
    with pytest.raises(EscapeError) as e:
        run_own_router(lockout_world(duration=10.0, faults=[]), factory)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("time.sleep(0.5) in an asyncio task, from tests/wallclock/test_async_example.py:")
    assert "it blocks the event loop" in msg


def test_same_seed_same_bytes(tmp_path: Any) -> None:
    sc = lockout_world(duration=150.0)
    one = run_own_router(sc, router, seed=4).save(tmp_path / "one.npz")
    two = run_own_router(sc, router, seed=4).save(tmp_path / "two.npz")
    assert one.read_bytes() == two.read_bytes()


def test_store_faults_reach_the_async_redis_client() -> None:
    # the example counts requests in redis.asyncio and does not catch its errors: Redis down fails
    # every request in the window at its first INCR; Redis slow makes each command wait, in simulated time
    faults = [{"kind": "redis_down", "start": 100, "end": 200},
              {"kind": "redis_slow", "start": 300, "end": 400, "delay": 0.2, "timeout": 1.0}]
    t = run_own_router(lockout_world(duration=500.0, faults=faults), router)
    r = t.requests
    ok = r["outcome"] == OUTCOME_CODES[Outcome.SUCCESS]
    down = (r["arrival"] >= 100) & (r["arrival"] < 200)
    assert down.any() and not ok[down].any() and (r["attempts"][down] == 0).all()
    assert t.meta["byo"]["exceptions"] == {"redis.exceptions.ConnectionError": int((~ok).sum())}
    slow = (r["arrival"] >= 300) & (r["arrival"] < 399)
    calm = (r["arrival"] >= 400) & (r["arrival"] < 500)
    latency = r["end"] - r["arrival"]
    a = t.attempts
    # each request sends INCR requests before its attempt: the attempt starts 0.2 s after arrival
    # (trace times are float32: compare to a millisecond)
    first = {int(q): float(s) for q, s in zip(a["request"][::-1], a["start"][::-1], strict=True)}
    assert all(abs(first[int(q)] - r["arrival"][q] - 0.2) < 1e-3 for q in np.flatnonzero(slow & ok)[:50])
    assert all(abs(first[int(q)] - r["arrival"][q]) < 1e-3 for q in np.flatnonzero(calm & ok)[:50])
    assert np.median(latency[slow & ok]) > np.median(latency[calm & ok]) + 0.2
    assert sum(t.meta["redis_failed_commands"].values()) == int(down.sum())
