"""The off-the-shelf example (examples/sdk_pybreaker_router.py: openai SDK, pybreaker on Redis,
tenacity backoff, no injected clock) in simulated time: its breaker trips on a billing-locked org,
keeps it out for its reset timeout (on the wall clock it reads, which is simulated), lets a trial
call through after it, closes once the lock is over, and reruns are byte-identical."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest

import sim
from examples.sdk_pybreaker_router import make_router
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.byo import run_own_router
from sim.trace import EVENT_KINDS
from tests.wallclock.worlds import LOCK_END, LOCK_START
from tests.wallclock.worlds import lockout_world as world

OPENED, HALF_OPEN, CLOSED = (EVENT_KINDS.index(k) for k in ("OPENED", "HALF_OPEN", "CLOSED"))
RESET = 60.0
QUOTA = OUTCOME_CODES[Outcome.QUOTA]


router = functools.partial(make_router, fail_max=3, reset_timeout=RESET)


@pytest.fixture(scope="module")
def trace() -> sim.Trace:
    return run_own_router(world(), router, name="sdk-pybreaker")


def test_pybreaker_on_redis_trips_waits_its_reset_timeout_and_closes(trace: sim.Trace) -> None:
    a, ev, r = trace.attempts, trace.events, trace.requests
    o1 = a["org"] == 0
    # every request succeeded: a failed try moved on to the next org
    assert (r["outcome"] == OUTCOME_CODES[Outcome.SUCCESS]).all()
    assert trace.meta["byo"]["exceptions"] == {}

    on_o1 = ev["org"] == 0
    opened = ev["time"][on_o1 & (ev["kind"] == OPENED)]
    closed = ev["time"][on_o1 & (ev["kind"] == CLOSED)]
    assert LOCK_START < opened[0] < LOCK_START + 10  # three quota answers in a row trip it
    assert len(closed) >= 1 and LOCK_END < closed[0] < LOCK_END + RESET + 10 and closed[0] > opened[-1]

    # during the lock o1 gets bursts of trial calls, each at least the reset timeout after the last
    # failure (pybreaker keeps opened_at in whole seconds: 1 s of slack)
    during = np.sort(a["start"][o1 & (a["start"] >= opened[0]) & (a["start"] < LOCK_END)])
    gaps = np.diff(during)
    assert len(during) >= 2 and not ((gaps > 5) & (gaps < RESET - 1)).any()
    assert (gaps >= RESET - 1).sum() >= 2  # it did let trial calls through, more than once
    assert set(a["outcome"][o1 & (a["start"] >= LOCK_START) & (a["start"] < LOCK_END)].tolist()) == {QUOTA}
    assert (ev["kind"][on_o1] == HALF_OPEN).sum() >= 2

    # tenacity's backoff (time.sleep) spent simulated time: the try after a first failure starts
    # exactly 0.5 s after it ended
    failed = np.flatnonzero(o1 & (a["outcome"] == QUOTA))
    order = np.lexsort((a["start"], a["request"]))
    nxt = {int(i): int(j) for i, j in itertools.pairwise(order) if a["request"][i] == a["request"][j]}
    waits = [a["start"][nxt[i]] - a["end"][i] for i in failed.tolist() if i in nxt]
    assert len(waits) >= 3 and np.allclose(waits, 0.5)

    # round robin again once it closed
    after = a["start"] >= closed[0] + 5
    assert np.bincount(a["org"][after], minlength=3) / after.sum() == pytest.approx([1 / 3] * 3, abs=0.05)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    sc = world(duration=200.0)
    one = run_own_router(sc, router, seed=4).save(tmp_path / "one.npz")
    two = run_own_router(sc, router, seed=4).save(tmp_path / "two.npz")
    assert one.read_bytes() == two.read_bytes()
