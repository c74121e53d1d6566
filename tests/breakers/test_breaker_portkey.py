"""``portkey``: the Portkey gateway's circuit breaker, each documented behaviour on a fake clock.
(Its fast/full-mode run in the simulator is in test_breaker_litellm.py, beside litellm's.)"""

from __future__ import annotations

from typing import Any

import pytest
from breaker_helpers import MODEL, T0, Driver, make_board
from hypothesis import given, settings
from hypothesis import strategies as st

from multiorg.alerts import EventKind
from multiorg.breakers import PortkeyBreaker, State, make_policy
from multiorg.breakers.portkey import FIRST
from multiorg.errors import ConfigError
from multiorg.outcomes import Outcome
from multiorg.stores.codec import decode, encode

S, F = Outcome.SUCCESS, Outcome.SERVER


class Gate(Driver):
    def send(self, org: str, outcome: Outcome = F, status: int = 0) -> bool:
        adm = self.admit(org)
        if adm.allowed:
            self._apply(self.policy.record(self.state, org, adm, outcome, self.now, status))
        return adm.allowed

    def is_open(self, org: str) -> bool:
        return self.view(org).state is State.OPEN


def targets(*orgs: str, **params: Any) -> Gate:
    d = Gate(make_policy("portkey", params))
    for o in orgs:
        d.admit(o)
    return d


def test_defaults() -> None:
    p = PortkeyBreaker()
    assert p.failure_threshold is None and p.failure_threshold_percentage == 20
    assert (p.minimum_requests, p.cooldown_interval, p.failure_status_codes) == (5, 60, None)
    assert p.scope == "model"


def test_failure_threshold_trips() -> None:
    d = targets("a", "b", failure_threshold=3)
    d.send("a")
    d.send("a")
    assert not d.is_open("a")
    d.send("a")  # failure_count >= failure_threshold
    v = d.view("a")
    assert v.state is State.OPEN and v.failure_count == 3 and v.open_until == T0 + 60
    refused = d.admit("a")
    assert not refused.allowed and refused.retry_at == T0 + 60
    assert d.admit("b").allowed


def test_percentage_waits_for_minimum_requests() -> None:
    d = targets("a", "b", failure_threshold_percentage=50, minimum_requests=4)
    d.send("a")  # the first failure opens the window
    d.send("a", S)
    d.send("a")  # 2 of 3: 67 %, but under 4 results
    assert not d.is_open("a")
    d.send("a", S)  # 2 of 4 = 50 % >= 50 %
    assert d.is_open("a")


def test_successes_before_the_first_failure_do_not_count() -> None:
    d = targets("a", "b", failure_threshold_percentage=50, minimum_requests=2)
    for _ in range(10):
        d.send("a", S)
    d.send("a")  # the first failure zeroes the successes: 1 of 1, under 2 results
    assert not d.is_open("a")
    d.send("a")
    assert d.is_open("a")


def test_successes_can_close_a_percentage_trip_early() -> None:
    d = targets("a", failure_threshold_percentage=50, minimum_requests=2)
    d.send("a")
    d.send("a")
    assert d.is_open("a")
    assert d.send("a", S)  # the only target: bypassed, and its result counted
    assert d.is_open("a")  # 2 of 3 still >= 50 %
    d.send("a", S)  # 2 of 4 >= 50 %
    d.send("a", S)  # 2 of 5 = 40 %
    assert not d.is_open("a")


def test_every_target_open_bypasses_the_breaker() -> None:
    d = targets("a", "b", failure_threshold=2)
    d.send("a")
    d.send("a")
    assert not d.admit("a").allowed
    d.send("b")
    d.send("b")
    assert d.is_open("a") and d.is_open("b")
    assert d.admit("a").allowed and d.admit("b").allowed  # all OPEN: bypassed
    assert d.is_open("a")  # still open: a closed target would be preferred again


def test_closes_on_a_timer_counted_from_the_first_failure() -> None:
    d = targets("a", "b", failure_threshold=2, cooldown_interval=30)
    d.send("a")
    d.advance(20)
    d.send("a")  # opens 20 s after the first failure
    gen = d.view("a").generation
    assert d.view("a").block_duration == 10
    d.advance(10)  # now - first == cooldown: not yet passed
    assert not d.admit("a").allowed
    d.advance(0.001)
    back = d.admit("a")
    assert back.allowed and not back.probe and back.generation == gen + 1
    v = d.view("a")
    assert v.state is State.CLOSED and v.failure_count == 0


def test_the_window_resets_even_without_a_trip() -> None:
    d = targets("a", "b", failure_threshold=3, cooldown_interval=30)
    d.send("a")
    d.send("a")
    d.advance(29)
    sent = d.admit("a")
    d.advance(1.5)
    d.record(sent, F, "a")  # too late for its window: dropped, the record wiped
    assert not d.is_open("a") and d.view("a").failure_count == 0
    d.send("a")  # a new window
    assert d.view("a").failure_count == 1


def test_default_failures_are_5xx_and_a_timeout_is_not() -> None:
    d = targets("a", "b", failure_threshold=2)
    for outcome in (Outcome.TIMEOUT, Outcome.RATE_LIMITED, Outcome.AUTH, Outcome.QUOTA):
        d.send("a", outcome)
    assert d.view("a").failure_count == 0
    d.send("a", F, 503)
    d.send("a", Outcome.CONNECTION)  # a fetch error: a 500
    assert d.is_open("a")


def test_failure_status_codes() -> None:
    d = targets("a", "b", failure_threshold=2, failure_status_codes=[429, 401])
    d.send("a", F, 503)
    d.send("a", Outcome.RATE_LIMITED, 429)
    assert not d.is_open("a")
    d.send("a", Outcome.AUTH, 401)
    assert d.is_open("a")
    assert PortkeyBreaker(failure_status_codes=[500, 429]).model_dump(mode="json")[
        "failure_status_codes"
    ] == [429, 500]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cooldown_interval": 10}, "cooldown_interval: .*Portkey's minimum"),
        ({"failure_threshold_percentage": None}, "set failure_threshold or"),
        ({"failure_status_codes": [42]}, "42 is not an HTTP status"),
    ],
)
def test_bad_config_is_one_line(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        make_policy("portkey", params)
    assert "\n" not in str(e.value)


def test_board_alerts_opened_and_closed() -> None:
    board, clock, notes = make_board(make_policy("portkey", {"failure_threshold": 1}))
    for org in ("a", "b"):
        board.admit(org, MODEL)
    t = board.admit("a", MODEL)
    board.record("a", MODEL, t, F, status=502)
    assert [(e.kind, e.org) for e in notes.events] == [(EventKind.OPENED, "a")]
    clock.advance(60.5)
    assert board.admit("b", MODEL).allowed  # any admission wipes the windows that passed
    assert [e.kind for e in notes.events] == [EventKind.OPENED, EventKind.CLOSED]


# --------------------------------------------------------------------------- properties

OPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([S, S, F, Outcome.RATE_LIMITED, Outcome.TIMEOUT, Outcome.CONNECTION]),
        st.sampled_from([0.0, 1.0, 10.0, 31.0]),
        st.booleans(),  # the result comes back later (after the next step's wait)
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, by_count=st.booleans())
def test_open_targets_are_skipped_unless_all_are_open(ops: list[Any], by_count: bool) -> None:
    params = {"failure_threshold": 2} if by_count else {"minimum_requests": 3}
    d = Gate(make_policy("portkey", {**params, "cooldown_interval": 30}))
    pending: list[tuple[str, Any, Outcome]] = []
    for org, outcome, dt, late in ops:
        d.advance(dt)
        for p_org, p_adm, p_out in pending:
            d.record(p_adm, p_out, p_org)
        pending = []
        orgs = d.policy.orgs_in(d.state)
        adm = d.admit(org)
        known = d.policy.orgs_in(d.state)
        all_open = bool(orgs) and org in orgs and all(d.is_open(o) for o in known)
        assert adm.allowed == (not d.is_open(org) or all_open)
        for e in d.state.orgs:  # no window outlives its cooldown
            assert e[FIRST] is None or d.now - e[FIRST] <= 30
        if adm.allowed:
            if late:
                pending.append((org, adm, outcome))
            else:
                d.record(adm, outcome, org)
        assert decode(encode(d.state)) == d.state
