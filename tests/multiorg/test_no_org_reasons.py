"""NoOrgAvailable says why: per org, a 429's retry-after hold or an open breaker (and its cause)."""

from __future__ import annotations

import pytest
from multiorg_fakes import MODEL, QUOTA, T0, ScriptedClient, chat, make_config, make_router, rate_limited

from multiorg import ManualClock, NoOrgAvailable, Outcome, UnknownModel
from multiorg.errors import BREAKER_OPEN, HELD

# retry-afters longer than the deadline: nothing to wait for, the request fails at once
LONG = "600"


def _router(script: dict, orgs=("a", "b"), **cfg):
    clock = ManualClock(T0)
    client = ScriptedClient(clock, script)
    return make_router(make_config(orgs, max_attempts=len(orgs), **cfg), client, clock), client


def _refusal(router) -> NoOrgAvailable:
    with pytest.raises(NoOrgAvailable) as info:
        router.send(chat())
    return info.value


def test_every_org_held_by_a_retry_after() -> None:
    router, client = _router({"a": rate_limited(LONG), "b": rate_limited(LONG)}, params={"threshold": 5})
    assert router.send(chat()).outcome is Outcome.RATE_LIMITED
    e = _refusal(router)
    assert e.reasons == {"a": HELD, "b": HELD}
    assert e.cause == "rate_limited"
    assert "2 rate_limited" in str(e)
    assert e.retry_at == pytest.approx(T0 + 600.0)
    assert len(client.calls) == 2  # the refused request sent nothing


def test_every_breaker_open() -> None:
    router, _ = _router({"a": QUOTA, "b": QUOTA}, params={"base_open_time": 60})
    assert router.send(chat()).outcome is Outcome.QUOTA
    e = _refusal(router)
    assert e.reasons == {"a": BREAKER_OPEN, "b": BREAKER_OPEN}
    assert e.cause == "breaker_open"


def test_held_and_open_is_mixed_in_the_order_asked() -> None:
    router, _ = _router({"a": rate_limited(LONG), "b": QUOTA}, params={"base_open_time": 60, "threshold": 1})
    router.send(chat())
    e = _refusal(router)
    assert e.reasons == {"a": HELD, "b": BREAKER_OPEN}
    assert e.cause == "mixed"
    assert "1 breaker_open, 1 rate_limited" in str(e)


def test_unknown_model_and_a_bare_refusal() -> None:
    unknown = UnknownModel("no-such-model")
    assert unknown.cause == "unknown_model" and unknown.reasons == {}
    bare = NoOrgAvailable(MODEL, None)  # raised by other code: no reasons recorded
    assert bare.cause == "unknown" and bare.reasons == {}
