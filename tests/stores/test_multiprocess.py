"""Acceptance: OS processes sharing breakers through a real Redis never lose or duplicate anything.

Four ``spawn``-ed processes (separate interpreters, separate clients, separate caches) hammer one
key or one breaker through :class:`RedisStore` — with :class:`BreakerBoard` and a real policy —
and the test checks what must hold across all of them:

(a) no lost update: N x M concurrent increments end at exactly N x M;
(b) exactly one alert per transition: each trip → one OPENED, each half-open → one HALF_OPEN,
    each close → one CLOSED, whichever process committed it;
(c) never more half-open probes out at once than the policy permits.

Time is a :class:`ManualClock` that every process sets to the same instants, so the breaker is
deterministically closed, open or half-open in each phase; the processes only race each other.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from multiorg.alerts import MemoryNotifier
from multiorg.breakers.board import BreakerBoard
from multiorg.breakers.registry import make_policy
from multiorg.clock import ManualClock
from multiorg.outcomes import Outcome
from multiorg.stores import RedisStore, register_state

pytestmark = pytest.mark.redis

PROCS = 4
T0 = 1_700_000_000.0
MODEL = "gpt-4o-mini"
TIMEOUT = 60.0


@register_state
@dataclass(frozen=True, slots=True)
class Hits:
    n: int = 0


def _hit(s: Hits) -> tuple[int, Hits]:
    return s.n, Hits(s.n + 1)


# ---------------------------------------------------------------------------- process plumbing


def _child(target: Callable[..., Any], results: Any, index: int, args: tuple[Any, ...]) -> None:
    try:
        results.put((index, "ok", target(index, *args)))
    except BaseException:
        results.put((index, "error", traceback.format_exc()))


def _run(target: Callable[..., Any], *args: Any, procs: int = PROCS) -> list[Any]:
    """Run ``target(index, barrier, *args)`` in ``procs`` spawned processes; their results."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(procs, timeout=TIMEOUT)
    ps = [
        ctx.Process(target=_child, args=(target, results, i, (barrier, *args)), daemon=True)
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    out: dict[int, Any] = {}
    try:
        for _ in ps:
            try:
                i, status, value = results.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"workers did not report within {TIMEOUT:g}s")
            if status != "ok":
                pytest.fail(f"worker {i} failed:\n{value}")
            out[i] = value
    finally:
        for p in ps:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()
    return [out[i] for i in range(procs)]


def _store(url: str, ns: str, clock: ManualClock) -> RedisStore:
    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    # Four processes on two busy cores: one descheduled at the wrong moments can lose 100 races in
    # a row without anything being wrong. These tests are about lost updates and single alerts,
    # not the give-up limit (tested on its own), so the limit is out of the way.
    return RedisStore(client, clock, namespace=ns, max_cas_retries=100_000)


def _board(
    url: str, ns: str, clock: ManualClock, policy: Any, index: int
) -> tuple[BreakerBoard, MemoryNotifier]:
    notifier = MemoryNotifier()
    store = _store(url, ns, clock)
    board = BreakerBoard(
        policy, store, clock, random.Random(index), [notifier], namespace=ns, pod=f"pod-{index}"
    )
    return board, notifier


# ---------------------------------------------------------------------------- workers


def _count_worker(index: int, barrier: Any, url: str, ns: str, key: str, m: int) -> tuple[int, int]:
    store = _store(url, ns, ManualClock(T0))
    barrier.wait()
    for _ in range(m):
        store.update(key, _hit, Hits)
    return m, store.round_trips


def _episode_worker(
    index: int,
    barrier: Any,
    url: str,
    ns: str,
    policy_name: str,
    params: dict[str, Any],
    orgs: Sequence[str],
    failures: int,
) -> dict[str, Any]:
    """Phase 1 trip, phase 2 failed probe (re-trip), phase 3 successful probe (close)."""
    policy = make_policy(policy_name, params)
    clock = ManualClock(T0)
    board, notifier = _board(url, ns, clock, policy, index)
    open_time = float(params["open_time"])
    probes: list[tuple[int, str]] = []
    regular: list[tuple[int, str]] = []

    barrier.wait()  # phase 1: every process fails the same breakers at T0
    for _ in range(failures):
        for org in orgs:
            ticket = board.admit(org, MODEL)
            if ticket.allowed:
                board.record(org, MODEL, ticket, Outcome.SERVER)

    for phase, (at, outcome) in enumerate(
        [(T0 + open_time, Outcome.SERVER), (T0 + 2 * open_time, Outcome.SUCCESS)], start=2
    ):
        barrier.wait()
        clock.set(at)  # the block has just expired: everyone races for the probe
        barrier.wait()
        for _ in range(failures):
            for org in orgs:
                ticket = board.admit(org, MODEL)
                if ticket.probe:
                    probes.append((phase, org))
                    board.record(org, MODEL, ticket, outcome)
                elif ticket.allowed:  # only once a successful probe has closed it
                    regular.append((phase, org))
                    board.record(org, MODEL, ticket, Outcome.SUCCESS)
    return {
        "events": [(e.kind.value, e.org, e.retry_cycles, e.pod) for e in notifier.events],
        "probes": probes,
        "regular": regular,
    }


def _probe_worker(
    index: int,
    barrier: Any,
    url: str,
    ns: str,
    policy_name: str,
    params: dict[str, Any],
    org: str,
    at: float,
    tries: int,
) -> dict[str, int]:
    policy = make_policy(policy_name, params)
    clock = ManualClock(at)
    board, _ = _board(url, ns, clock, policy, index)
    admitted = regular = 0
    barrier.wait()
    for _ in range(tries):
        ticket = board.admit(org, MODEL)  # never recorded: every admitted probe stays out
        if ticket.allowed:
            admitted += 1
            regular += not ticket.probe
    return {"admitted": admitted, "regular": regular}


# ---------------------------------------------------------------------------- tests


def test_no_lost_update_across_processes(
    redis_url: str, redis_namespace: str, redis_client: redis.Redis
) -> None:
    m = 250
    key = f"{redis_namespace}:counter"
    results = _run(_count_worker, redis_url, redis_namespace, key, m)
    reader = RedisStore(redis_client, ManualClock(T0), namespace=redis_namespace)
    assert reader.read(key, Hits) == Hits(PROCS * m)
    trips = sum(rt for _, rt in results)
    # Not a timing assertion: a CAS round trip per update plus one per lost race, bounded.
    assert PROCS * m <= trips <= PROCS * m * PROCS
    print(
        f"\n{PROCS} processes x {m} contended updates: {trips / (PROCS * m):.2f} round trips/update"
    )


def test_one_alert_per_transition_across_processes(
    redis_url: str, redis_namespace: str, redis_client: redis.Redis
) -> None:
    orgs = ("org-a", "org-b", "org-c")
    params = {"threshold": 5, "window": 60.0, "open_time": 30.0}
    results = _run(_episode_worker, redis_url, redis_namespace, "consecutive", params, orgs, 12)
    events = [e for r in results for e in r["events"]]
    for org in orgs:
        kinds = Counter(kind for kind, o, _, _ in events if o == org)
        # trip; half-open, failed probe re-trips; half-open, successful probe closes
        assert kinds == {"OPENED": 2, "HALF_OPEN": 2, "CLOSED": 1}, (org, events)
        cycles = [c for kind, o, c, _ in events if o == org and kind == "OPENED"]
        assert sorted(cycles) == [0, 1]
        probes = Counter(phase for r in results for phase, o in r["probes"] if o == org)
        assert probes == {2: 1, 3: 1}  # one probe per half-open, across all processes
        # nothing regular gets through while it is open or half-open (phase 2)
        assert all(phase == 3 for r in results for phase, o in r["regular"] if o == org)


@pytest.mark.parametrize(
    ("policy_name", "params", "permits"),
    [
        ("consecutive", {"threshold": 5, "window": 60.0, "open_time": 30.0}, 1),
        (
            "failure-rate",
            {"window_size": 10, "minimum_calls": 5, "open_time": 30.0, "half_open_permits": 3},
            3,
        ),
    ],
    ids=["consecutive", "failure-rate-3"],
)
def test_half_open_probes_never_exceed_permits(
    redis_url: str,
    redis_namespace: str,
    redis_client: redis.Redis,
    policy_name: str,
    params: dict[str, Any],
    permits: int,
) -> None:
    org = "org-a"
    policy = make_policy(policy_name, params)
    clock = ManualClock(T0)
    board = BreakerBoard(
        policy,
        RedisStore(redis_client, clock, namespace=redis_namespace),
        clock,
        random.Random(0),
        namespace=redis_namespace,
    )
    for _ in range(10):  # trip it
        ticket = board.admit(org, MODEL)
        if ticket.allowed:
            board.record(org, MODEL, ticket, Outcome.SERVER)
    view = board.view(org, MODEL)
    assert view.state.value == "open" and view.open_until is not None

    results = _run(
        _probe_worker, redis_url, redis_namespace, policy_name, params, org, view.open_until, 40
    )
    assert sum(r["regular"] for r in results) == 0
    assert sum(r["admitted"] for r in results) == permits
