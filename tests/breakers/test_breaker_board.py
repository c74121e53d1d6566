"""Every policy through :class:`BreakerBoard` and a real :class:`MemoryStore`: alerts, writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from breaker_helpers import MODEL, T0, F, S, make_board

from multiorg.alerts import EventKind
from multiorg.breakers import (
    AdaptiveThrottle,
    BreakerBoard,
    ConsecutiveBreaker,
    ExponentialBreaker,
    FailureRateBreaker,
    NoBreaker,
    OutlierDetector,
    State,
    make_policy,
)
from multiorg.clock import ManualClock
from multiorg.outcomes import Outcome
from multiorg.stores.memory import MemoryStore


def call(board: BreakerBoard, outcome: Outcome, org: str = "org1") -> bool:
    t = board.admit(org, MODEL)
    if t.allowed:
        board.record(org, MODEL, t, outcome)
    return t.allowed


def test_exponential_alerts_read_like_the_seed() -> None:
    board, clock, notes = make_board(make_policy("seed"))
    for _ in range(50):
        call(board, S)
    assert board.store.keys() == []  # steady success: not a single write
    for _ in range(3):
        call(board, F)
    [opened] = notes.events
    assert opened.kind is EventKind.OPENED and opened.org == "org1" and opened.model == MODEL
    text = opened.text()
    assert "- Failure count: 3" in text
    assert "- Block duration: 1 minute(s)" in text
    assert "- Retry cycles: 0" in text
    for minutes in (1, 2, 4, 8):
        assert not call(board, S)
        clock.advance(minutes * 60)
        assert call(board, F)  # the probe fails
    kinds = [e.kind for e in notes.events]
    assert kinds == [EventKind.OPENED] + [EventKind.HALF_OPEN, EventKind.OPENED] * 4
    last = notes.events[-1]
    assert (last.failure_count, last.block_duration, last.retry_cycles) == (7, 960, 4)
    assert "- Block duration: 16 minute(s)" in last.text()
    assert "- Retry cycles: 4" in last.text()
    clock.advance(960)
    assert call(board, S)
    assert notes.events[-1].kind is EventKind.CLOSED
    assert board.view("org1", MODEL).state is State.CLOSED


def test_consecutive_through_the_board() -> None:
    board, clock, notes = make_board(ConsecutiveBreaker(threshold=2, open_time=30))
    call(board, F)
    call(board, F)
    assert board.view("org1", MODEL).state is State.OPEN
    assert call(board, S, "org2")  # another target is untouched
    clock.advance(30)
    probe = board.admit("org1", MODEL)
    assert probe.probe
    assert not board.admit("org1", MODEL).allowed
    board.release("org1", MODEL, probe)  # cancelled: the permit comes back
    assert call(board, S)
    assert [e.kind for e in notes.events] == [
        EventKind.OPENED, EventKind.HALF_OPEN, EventKind.CLOSED
    ]


def test_failure_rate_through_the_board() -> None:
    board, clock, notes = make_board(
        FailureRateBreaker(window_size=10, minimum_calls=4, open_time=10, half_open_permits=2)
    )
    for o in (S, F, S, F):
        call(board, o)
    assert notes.events[-1].kind is EventKind.OPENED and notes.events[-1].failure_count == 2
    clock.advance(10)
    a, b = board.admit("org1", MODEL), board.admit("org1", MODEL)
    assert a.probe and b.probe and not board.admit("org1", MODEL).allowed
    board.record("org1", MODEL, a, S)
    board.record("org1", MODEL, b, S)
    assert notes.events[-1].kind is EventKind.CLOSED


def test_outlier_through_the_board_alerts_per_org() -> None:
    board, clock, notes = make_board(OutlierDetector(base_ejection_time=30))
    for org in ("org1", "org2", "org3"):
        call(board, S, org)
    assert board.store.keys() == [f"multiorg:breaker:outlier:{MODEL}"]  # one record per model
    for _ in range(5):
        call(board, F, "org2")
    [ejected] = notes.events
    assert (ejected.kind, ejected.org, ejected.block_duration) == (EventKind.OPENED, "org2", 30)
    assert not board.admit("org2", MODEL).allowed
    assert call(board, S, "org1")
    clock.advance(30)
    assert board.admit("org2", MODEL).allowed
    assert [(e.kind, e.org) for e in notes.events] == [
        (EventKind.OPENED, "org2"), (EventKind.CLOSED, "org2")
    ]


def test_adaptive_through_the_board() -> None:
    board, clock, notes = make_board(AdaptiveThrottle(), seed=7)
    for _ in range(20):
        call(board, S)
    assert board.view("org1", MODEL).state is State.CLOSED
    rejected = sum(not call(board, F) for _ in range(200))
    assert rejected > 50
    assert [e.kind for e in notes.events] == [EventKind.OPENED]
    clock.advance(300)
    for _ in range(10):
        call(board, S)
    assert [e.kind for e in notes.events] == [EventKind.OPENED, EventKind.CLOSED]


def test_none_through_the_board() -> None:
    board, _, notes = make_board(NoBreaker())
    for o in (F, Outcome.QUOTA, S) * 20:
        assert call(board, o)
    assert board.store.keys() == [] and notes.events == []


class LaggingStore:
    """A MemoryStore whose reads answer from a snapshot (a pod's stale cache)."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.snapshot: dict[str, Any] = {}

    def freeze(self, key: str) -> None:
        self.snapshot[key] = self.inner.read(key, lambda: None)

    def read(self, key: str, default: Callable[[], Any]) -> Any:
        if key in self.snapshot:
            return self.snapshot[key]
        return self.inner.read(key, default)

    def update(self, key: str, fn: Any, default: Callable[[], Any]) -> Any:
        return self.inner.update(key, fn, default)

    def get_flag(self, name: str) -> str | None:
        return self.inner.get_flag(name)

    def set_flag(self, name: str, value: str | None) -> None:
        self.inner.set_flag(name, value)


def test_a_stale_cache_never_drops_a_result_from_a_newer_generation() -> None:
    clock = ManualClock(T0)
    shared = MemoryStore(clock)
    policy = ExponentialBreaker()
    fresh = BreakerBoard(policy, shared, clock, rng=None)  # type: ignore[arg-type]
    lagging = LaggingStore(shared)
    stale = BreakerBoard(policy, lagging, clock, rng=None)  # type: ignore[arg-type]
    for _ in range(3):
        call(fresh, F)
    key = fresh.key("org1", MODEL)
    lagging.freeze(key)  # this pod still sees OPEN, generation 1
    clock.advance(60)
    call(fresh, S)  # the probe closes it: generation 3
    ticket = stale.admit("org1", MODEL)  # cached OPEN is over: goes to the store, admitted
    assert ticket.allowed and ticket.generation == 3
    stale.record("org1", MODEL, ticket, F)
    assert shared.read(key, lambda: None).failures == (T0 + 60,)


def test_a_random_admission_is_one_draw_through_the_board() -> None:
    """The board looks at the policy twice when it rejects (cached state, then inside the atomic
    update): both looks must see one draw, or SRE's probability p becomes p²."""
    import random

    from multiorg.breakers.adaptive import AdaptiveState

    policy = AdaptiveThrottle()
    clock = ManualClock(1000.0)
    cur = int(clock.now() // policy.bucket)
    state = AdaptiveState(buckets=((cur, 10, 2, 8),), requests=10, accepts=2, failures=8)
    p = policy.probability(10, 2)  # 6/11
    rng = random.Random(7)
    n, rejected = 4000, 0
    for _ in range(n):
        store = MemoryStore(clock)
        board = BreakerBoard(policy, store, clock, rng)
        store.seed(board.key("org1", MODEL), state)
        rejected += not board.admit("org1", MODEL).allowed
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(rejected / n - p) < 5 * sd  # p² would be ~0.30, 30 sd away
