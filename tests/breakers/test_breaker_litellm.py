"""``litellm``: the LiteLLM Router's cooldowns, each documented behaviour on a fake clock."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from breaker_helpers import MODEL, T0, Driver, make_board
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from multiorg.alerts import EventKind
from multiorg.breakers import Admission, BreakerBoard, LiteLLMCooldowns, State, make_policy
from multiorg.breakers.litellm import COUNTERS, FAIL_AT, FAILS
from multiorg.clock import ManualClock
from multiorg.errors import ConfigError
from multiorg.outcomes import Outcome
from multiorg.stores.codec import decode, encode
from multiorg.stores.memory import MemoryStore
from sim import Scenario

S, F = Outcome.SUCCESS, Outcome.SERVER


class Lite(Driver):
    """A Driver that passes the vendor's status and retry-after, as the router does."""

    def fail(
        self, org: str, outcome: Outcome = F, status: int = 0, retry_after: float | None = None
    ) -> Admission:
        adm = self.admit(org)
        assert adm.allowed, f"{org} refused at {self.now - T0}"
        self._apply(self.policy.record(self.state, org, adm, outcome, self.now, status, retry_after))
        return adm

    def ok(self, org: str, n: int = 1) -> None:
        for _ in range(n):
            self.call(S, org)

    def cooling(self, org: str) -> bool:
        return self.view(org).state is State.OPEN

    def fails(self, org: str) -> int:
        """The fails counters this minute, over every pod."""
        e = self.state.orgs[self.policy.orgs_in(self.state).index(org)]
        return sum(c[FAILS] for c in e[COUNTERS] if self.now <= c[FAIL_AT] + 60)


def group(*orgs: str, **params: Any) -> Lite:
    d = Lite(make_policy("litellm", params))
    for o in orgs:
        d.admit(o)
    return d


def test_defaults_are_litellms() -> None:
    p = LiteLLMCooldowns()
    assert (p.cooldown_time, p.allowed_fails, p.allowed_fails_policy) == (5.0, None, None)
    assert (p.failure_threshold_percent, p.failure_threshold_minimum_requests) == (50.0, 5)
    assert p.single_deployment_traffic_failure_threshold == 1000
    assert p.scope == "model" and not p.legacy


def test_a_single_429_in_a_two_deployment_group_cools_it_for_retry_after() -> None:
    d = group("a", "b")
    d.fail("a", Outcome.RATE_LIMITED, 429, retry_after=12.0)
    v = d.view("a")
    assert v.state is State.OPEN and v.open_until == T0 + 12 and v.block_duration == 12
    refused = d.admit("a")
    assert not refused.allowed and refused.retry_at == T0 + 12
    assert d.admit("b").allowed


def test_a_429_without_retry_after_cools_for_cooldown_time() -> None:
    d = group("a", "b", cooldown_time=7)
    d.fail("a", Outcome.RATE_LIMITED, 429)
    assert d.view("a").block_duration == 7


def test_the_deployments_own_cooldown_time_beats_retry_after() -> None:
    d = group("a", "b", deployment_cooldown_time=30)
    d.fail("a", Outcome.QUOTA, 429, retry_after=2.0)
    assert d.view("a").block_duration == 30


def test_a_single_deployment_group_never_cools_on_429() -> None:
    d = group("solo")
    for _ in range(50):
        d.fail("solo", Outcome.RATE_LIMITED, 429, retry_after=1.0)
    assert not d.cooling("solo")


def test_five_calls_three_failed_in_a_minute_cool_it() -> None:
    d = group("a", "b")
    d.ok("a", 2)
    d.advance(10)
    d.fail("a")
    d.advance(10)
    d.fail("a")  # 2 of 4: under the minimum of 5 calls
    assert not d.cooling("a")
    d.advance(10)
    d.fail("a")  # 3 of 5 > 50 %
    assert d.cooling("a") and d.view("a").failure_count == 3


def test_exactly_half_does_not_cool() -> None:
    d = group("a", "b")
    d.ok("a", 3)
    for _ in range(3):
        d.fail("a")  # 3 of 6 = 50 %: not more than 50 %
    assert not d.cooling("a")


def test_the_minute_counters_expire_with_their_window() -> None:
    d = group("a", "b")
    d.fail("a")
    d.fail("a")
    d.advance(60.01)  # the fails window (opened at the first failure) has expired
    d.ok("a", 2)
    d.fail("a")  # 1 fail of 3 this minute
    assert not d.cooling("a")


def test_a_single_deployment_cools_only_after_1000_calls_all_failed() -> None:
    d = group("solo")
    for _ in range(999):
        d.fail("solo")
    assert not d.cooling("solo")
    d.fail("solo")
    assert d.cooling("solo")


def test_a_connection_error_never_cools_but_counts() -> None:
    d = group("a", "b")
    for _ in range(20):
        d.fail("a", Outcome.CONNECTION)
    assert not d.cooling("a") and d.fails("a") == 20
    d.fail("a")  # the next 5xx finds 21 failures of 21 calls this minute
    assert d.cooling("a")


def test_401_cools_at_once_even_alone_but_403_never() -> None:
    d = group("solo")
    d.fail("solo", Outcome.AUTH, 401)
    assert d.cooling("solo")
    d = group("a", "b")
    for _ in range(10):
        d.fail("a", Outcome.AUTH, 403)
    assert not d.cooling("a")


def test_cooldown_expires_with_no_probe() -> None:
    d = group("a", "b")
    d.fail("a", Outcome.RATE_LIMITED, 429, retry_after=5.0)
    gen = d.view("a").generation
    d.advance(4.99)
    assert not d.admit("a").allowed
    d.advance(0.01)
    back = d.admit("a")
    assert back.allowed and not back.probe and back.generation == gen + 1
    assert d.view("a").state is State.CLOSED
    again = d.admit("a")
    assert again.allowed and not again.probe  # no half-open: every call goes through


def test_a_late_failure_restarts_the_cooldown() -> None:
    d = group("a", "b")
    before = d.admit("a")  # sent before the cooldown
    d.fail("a", Outcome.RATE_LIMITED, 429, retry_after=10.0)
    gen = d.view("a").generation
    d.advance(4)
    d._apply(d.policy.record(d.state, "a", before, Outcome.RATE_LIMITED, d.now, 429, 10.0))
    v = d.view("a")
    assert v.open_until == d.now + 10 and v.generation == gen


def test_zero_cooldown_time_disables_cooldowns() -> None:
    d = group("a", "b", deployment_cooldown_time=0)
    d.fail("a", Outcome.RATE_LIMITED, 429)
    d.fail("a", Outcome.AUTH, 401)
    assert not d.cooling("a")
    d = group("a", "b")
    d.fail("a", Outcome.RATE_LIMITED, 429, retry_after=0.0)  # retry-after: 0
    assert not d.cooling("a")


def test_allowed_fails_counts_in_a_cooldown_time_window() -> None:
    d = group("a", "b", allowed_fails=1, cooldown_time=10)
    assert d.policy.legacy
    d.fail("a", Outcome.RATE_LIMITED, 429)  # 1 allowed: no group rule on this path
    assert not d.cooling("a")
    d.advance(9)
    d.fail("a")
    assert d.cooling("a") and d.view("a").block_duration == 10
    d = group("a", "b", allowed_fails=1, cooldown_time=10)
    d.fail("a")
    d.advance(10.01)  # the counter's window (opened at the first failure) has expired
    d.fail("a")
    assert not d.cooling("a")


def test_allowed_fails_three_is_litellms_default_and_means_unset() -> None:
    assert not LiteLLMCooldowns(allowed_fails=3).legacy
    d = group("a", "b", allowed_fails=0)
    d.fail("a")  # allowed 0: the first failure cools
    assert d.cooling("a")


def test_allowed_fails_policy_per_error_class() -> None:
    d = group("a", "b", allowed_fails_policy={"RateLimitErrorAllowedFails": 2})
    for _ in range(2):
        d.fail("a", Outcome.RATE_LIMITED, 429)
    assert not d.cooling("a")
    d.fail("a", Outcome.RATE_LIMITED, 429)
    assert d.cooling("a")
    # a class the policy does not name falls back to allowed_fails (3 by default)
    d = group("a", "b", allowed_fails_policy={"RateLimitErrorAllowedFails": 0})
    for _ in range(3):
        d.fail("a")
    assert not d.cooling("a")
    d.fail("a")
    assert d.cooling("a")


def test_allowed_fails_policy_rejects_unknown_classes() -> None:
    with pytest.raises(ConfigError, match="unknown error class 'Oops'"):
        make_policy("litellm", {"allowed_fails_policy": {"Oops": 1}})


def test_status_stand_ins_without_a_router() -> None:
    d = group("a", "b")
    d.call(Outcome.RATE_LIMITED, "a")  # no status passed: a rate limit is a 429
    assert d.cooling("a")
    d.call(Outcome.TIMEOUT, "b")  # a timeout is a 408: retried, not cooled alone
    assert not d.cooling("b")


def test_group_size_is_the_orgs_asked_so_far() -> None:
    d = Lite(make_policy("litellm"))
    d.fail("a", Outcome.RATE_LIMITED, 429)  # only "a" known: a single-deployment group
    assert not d.cooling("a")
    d.admit("b")
    d.fail("a", Outcome.RATE_LIMITED, 429)
    assert d.cooling("a")


def test_board_alerts_once_and_passes_status_and_retry_after() -> None:
    board, clock, notes = make_board(make_policy("litellm"))
    for org in ("a", "b"):
        board.admit(org, MODEL)
    t = board.admit("a", MODEL)
    board.record("a", MODEL, t, Outcome.RATE_LIMITED, status=429, retry_after=9.0)
    assert [(e.kind, e.org, e.block_duration) for e in notes.events] == [(EventKind.OPENED, "a", 9.0)]
    assert not board.admit("a", MODEL).allowed
    clock.advance(9.0)
    assert board.admit("a", MODEL).allowed
    assert [e.kind for e in notes.events] == [EventKind.OPENED, EventKind.CLOSED]


def test_minute_counters_are_per_pod_cooldowns_shared() -> None:
    d = group("a", "b")

    def on(pod: str, outcome: Outcome) -> None:
        adm = d.admit("a")
        d._apply(d.policy.record(d.state, "a", adm, outcome, d.now, 0, None, pod))

    for pod in ("p1", "p2"):
        on(pod, S)
        on(pod, F)
        on(pod, F)  # 2 of 3 in each process: under the minimum of 5 calls
    assert not d.cooling("a") and d.fails("a") == 4
    on("p1", S)
    on("p1", F)  # p1: 3 of 5
    assert d.cooling("a") and d.view("a").failure_count == 3


def test_two_boards_on_one_store_share_the_cooldown_not_the_counters() -> None:
    policy = make_policy("litellm")
    clock = ManualClock(T0)
    store = MemoryStore(clock)
    boards = [
        BreakerBoard(policy, store, clock, random.Random(0), pod=pod) for pod in ("p1", "p2")
    ]
    for b in boards:
        for org in ("a", "b"):
            b.admit(org, MODEL)
    for b in boards:
        for outcome in (S, F, F):
            b.record("a", MODEL, b.admit("a", MODEL), outcome)
    assert boards[0].view("a", MODEL).state is State.CLOSED  # 4 of 6 overall, 2 of 3 each
    for outcome in (S, F):
        boards[1].record("a", MODEL, boards[1].admit("a", MODEL), outcome)
    assert not boards[0].admit("a", MODEL).allowed  # p2's cooldown holds for p1 too


# --------------------------------------------------------------------------- in the simulator


def _world() -> Scenario:
    orgs = [
        {"name": f"o{i}", "org_id": f"org-o{i}",
         "limits": {"gpt-4o-mini": {"rpm": 100_000, "tpm": 500_000_000}},
         "latency": {"median": 0.4, "p99": 2.0}}
        for i in (1, 2, 3)
    ]
    orgs[1]["limits"] = {"gpt-4o-mini": {"rpm": 60, "tpm": 60_000}}  # 429s with retry-after
    return Scenario.model_validate({
        "name": "peers", "seed": 5, "duration": 300.0, "pods": 2,
        "vendors": {"openai": {"orgs": orgs}},
        "router": {"max_attempts": 3, "attempt_timeout": 5.0, "deadline": 12.0},
        "traffic": {"daily_volume": 86_400 * 4, "prompt_tokens": {"median": 200},
                    "max_tokens": {"median": 100}},
        "modifiers": [{"kind": "errors", "targets": ["o3"], "start": 60, "end": 180,
                       "error_rate_set": 0.8}],
    })


@pytest.mark.parametrize("name", ["litellm", "portkey"])
def test_fast_and_full_decide_identically(name: str) -> None:
    sc = _world()
    fast, full = sim.run(sc, name, mode="fast"), sim.run(sc, name, mode="full")
    assert len(fast.events["time"]) > 0  # the breaker acted
    for table in ("requests", "attempts", "events"):
        a, b = getattr(fast, table), getattr(full, table)
        assert sorted(a) == sorted(b)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)


# --------------------------------------------------------------------------- properties

OUTCOMES = [S, S, F, Outcome.RATE_LIMITED, Outcome.QUOTA, Outcome.AUTH, Outcome.TIMEOUT,
            Outcome.CONNECTION, Outcome.SLOW]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(OUTCOMES),
        st.sampled_from([0, 403, 429, 503]),
        st.sampled_from([None, 0.0, 2.0, 30.0]),
        st.sampled_from([0.0, 0.5, 3.0, 20.0, 61.0]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, legacy=st.booleans())
def test_cooldowns_are_what_the_view_says_and_round_trip(ops: list[Any], legacy: bool) -> None:
    d = Lite(make_policy("litellm", {"allowed_fails": 1} if legacy else {}))
    for org, outcome, status, retry_after, dt in ops:
        d.advance(dt)
        adm = d.admit(org)
        v = d.view(org)
        if adm.allowed:
            assert v.state is State.CLOSED
            code = status if outcome in (F, Outcome.RATE_LIMITED) else 0
            d._apply(d.policy.record(d.state, org, adm, outcome, d.now, code, retry_after))
        else:
            assert v.state is State.OPEN and v.open_until == adm.retry_at > d.now
            assert v.block_duration in (5.0, 2.0, 30.0)  # cooldown_time or a retry-after
        assert decode(encode(d.state)) == d.state
        assert d.policy.orgs_in(d.state) == tuple(sorted(d.policy.orgs_in(d.state)))
