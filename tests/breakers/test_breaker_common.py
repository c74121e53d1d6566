"""Shared pieces, the registry, the ``none`` policy, and codec round trips of every state."""

from __future__ import annotations

import json

import pytest
from breaker_helpers import T0, Driver, F, S

import multiorg.breakers as breakers
from multiorg.breakers import (
    POLICIES,
    PRESETS,
    AdaptiveThrottle,
    ConsecutiveBreaker,
    ExponentialBreaker,
    FailureRateBreaker,
    NoBreaker,
    OutlierDetector,
    State,
    list_policies,
    make_policy,
    params_summary,
)
from multiorg.breakers.common import (
    FAIL,
    NEUTRAL,
    OK,
    TRIP,
    add_to_bucket,
    admit_unchanged,
    lease_free_at,
    live_leases,
    release_lease,
    slide_buckets,
    ticket_age,
)
from multiorg.errors import ConfigError
from multiorg.outcomes import Outcome
from multiorg.stores.codec import decode, encode

# --------------------------------------------------------------------------- params


def test_default_kinds() -> None:
    k = ExponentialBreaker().kinds
    assert k[Outcome.SUCCESS] == OK and k[Outcome.SLOW] == OK
    assert k[Outcome.QUOTA] == TRIP and k[Outcome.AUTH] == TRIP
    for o in (Outcome.RATE_LIMITED, Outcome.SERVER, Outcome.TIMEOUT, Outcome.CONNECTION):
        assert k[o] == FAIL
    assert k[Outcome.CLIENT_ERROR] == NEUTRAL


def test_configured_kinds() -> None:
    p = ConsecutiveBreaker(
        failure_outcomes=["server", "timeout"], trip_immediately=[], slow_is_failure=True
    )
    k = p.kinds
    assert k[Outcome.RATE_LIMITED] == NEUTRAL and k[Outcome.QUOTA] == NEUTRAL
    assert k[Outcome.SLOW] == FAIL and k[Outcome.SERVER] == FAIL


@pytest.mark.parametrize("field", ["failure_outcomes", "trip_immediately"])
@pytest.mark.parametrize("bad", ["success", "client_error"])
def test_success_can_never_be_a_failure(field: str, bad: str) -> None:
    with pytest.raises(ConfigError, match=f"breaker consecutive: {field}: .*{bad}"):
        make_policy("consecutive", {field: [bad]})


def test_params_dump_is_stable_and_json() -> None:
    p = make_policy("exponential", {"failure_outcomes": ["timeout", "server", "rate_limited"]})
    dump = params_summary(p)
    assert dump["failure_outcomes"] == ["rate_limited", "server", "timeout"]
    assert dump["trip_immediately"] == ["quota", "auth"]
    json.dumps(dump)
    assert make_policy("exponential", dump) == p  # a dump is valid input


def test_params_are_frozen_and_strict() -> None:
    p = ConsecutiveBreaker()
    with pytest.raises(Exception, match="frozen"):
        p.threshold = 5  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"breaker consecutive: tresholds: .*\(got 4\)"):
        make_policy("consecutive", {"tresholds": 4})


# --------------------------------------------------------------------------- helpers


def test_admit_unchanged_is_cached() -> None:
    a = admit_unchanged(7)
    assert a is admit_unchanged(7)
    assert a[0].allowed and a[0].generation == 7 and not a[0].probe and a[1] is None
    big = admit_unchanged(10**9)  # beyond the cache: still correct
    assert big[0].generation == 10**9


def test_ticket_age() -> None:
    t = admit_unchanged(3)[0]
    assert (ticket_age(t, 4), ticket_age(t, 3), ticket_age(t, 2)) == (-1, 0, 1)


def test_leases() -> None:
    leases = (10.0, 20.0, 20.0)
    assert live_leases(leases, 39.99, 30) is leases  # nothing expired: no new tuple
    assert live_leases(leases, 40.0, 30) == (20.0, 20.0)  # expiry edge: at + timeout
    assert live_leases(leases, 50.0, 30) == ()
    assert release_lease(leases, 20.0) == (10.0, 20.0)
    assert release_lease(leases, 15.0) is None
    assert lease_free_at(leases, 30) == 40.0 and lease_free_at((), 30) is None


def test_buckets() -> None:
    b = add_to_bucket((), 5, 1, 0, 0)
    b = add_to_bucket(b, 5, 1, 1, 0)
    b = add_to_bucket(b, 7, 1, 0, 1)
    b = add_to_bucket(b, 6, 1, 0, 0)  # out of order: merged in place
    assert b == ((5, 2, 1, 0), (6, 1, 0, 0), (7, 1, 0, 1))
    kept, totals = slide_buckets(b, (4, 1, 1), 6)
    assert kept == ((6, 1, 0, 0), (7, 1, 0, 1)) and totals == (2, 0, 1)
    assert slide_buckets(b, (4, 1, 1), 5) == (b, (4, 1, 1))


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_policy() -> None:
    assert list_policies() == [
        "none", "consecutive", "exponential", "failure-rate", "outlier", "adaptive", "litellm",
        "portkey",
    ]
    for name, cls in POLICIES.items():
        p = make_policy(name)
        assert type(p) is cls and p.name == name
        assert p.scope == ("model" if name in ("outlier", "litellm", "portkey") else "target")


def test_presets() -> None:
    seed = make_policy("seed")
    assert isinstance(seed, ExponentialBreaker)
    assert (seed.threshold, seed.window, seed.base_open_time, seed.max_open_time) == (
        3, 60, 60, 960
    )
    assert make_policy("seed", {"threshold": 5}).threshold == 5  # overrides win
    for name, (policy, params) in PRESETS.items():
        p = make_policy(name)
        assert p.name == policy
        dumped = p.model_dump(mode="json")
        for k, v in params.items():
            assert dumped[k] == v
        json.dumps(dict(params))  # plain values: the CLI lists them


def test_make_policy_errors_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"breaker policy 'bogus' is unknown \(known: none, "):
        make_policy("bogus")
    with pytest.raises(ConfigError) as e:
        make_policy("exponential", {"threshold": 0})
    msg = str(e.value)
    assert msg.startswith("breaker exponential: threshold: ") and "(got 0)" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match=r"breaker outlier: interval: .*\(got 'soon'\)"):
        make_policy("outlier", {"interval": "soon"})
    with pytest.raises(ConfigError, match="params must be a mapping"):
        make_policy("adaptive", ["k", 2])  # type: ignore[arg-type]


def test_package_exports() -> None:
    for name in breakers.__all__:
        assert hasattr(breakers, name)


# --------------------------------------------------------------------------- none


def test_no_breaker() -> None:
    p = NoBreaker()
    d = Driver(p)
    for o in (F, Outcome.QUOTA, Outcome.AUTH, S) * 10:
        assert d.call(o).allowed
    assert d.writes == 0
    assert d.view() == breakers.BreakerView(State.CLOSED)
    assert d.release(admit_unchanged(0)[0]) is None


# --------------------------------------------------------------------------- codec


def driven_states() -> list[object]:
    """A few states of every policy, reached by driving them."""
    out: list[object] = []
    for policy in (NoBreaker(), ConsecutiveBreaker(), ExponentialBreaker(probe_permits=2)):
        d = Driver(policy)
        out.append(d.state)
        d.call(F)
        out.append(d.state)
        d.call(Outcome.QUOTA)
        out.append(d.state)
        d.advance(60)
        d.admit()
        out.append(d.state)
    for policy in (FailureRateBreaker(), FailureRateBreaker(window_type="time")):
        d = Driver(policy)
        for o in (S, F, Outcome.SLOW, S):
            d.call(o)
            d.advance(1.5)
        out.append(d.state)
        d.call(Outcome.AUTH)
        out.append(d.state)
        d.advance(60)
        d.record(d.admit(), S)
        d.admit()
        out.append(d.state)
    d = Driver(OutlierDetector())
    for org in "abc":
        d.admit(org)
    for _ in range(5):
        d.call(F, "b")
    d.call(S, "a")
    out.append(d.state)
    d.advance(31)
    d.admit("b")
    out.append(d.state)
    d = Driver(AdaptiveThrottle(), seed=5)
    for _ in range(50):
        d.call(F)
        d.advance(0.7)
    out.append(d.state)
    return out


def test_every_state_round_trips_through_the_codec() -> None:
    states = driven_states()
    assert len({type(s) for s in states}) == 5  # consecutive and exponential share TripState
    for s in states:
        text = encode(s)
        back = decode(text)
        assert back == s and type(back) is type(s)
        assert encode(back) == text
    # enum fields come back as their enum
    tripped = [s for s in states if getattr(s, "status", None) is State.OPEN]
    assert tripped and all(decode(encode(s)).status is State.OPEN for s in tripped)


def test_decoded_states_drive_like_the_originals() -> None:
    p = ExponentialBreaker()
    d = Driver(p)
    for _ in range(3):
        d.call(F)
    s = decode(encode(d.state))
    adm, new = p.admit(s, "a", T0 + 60, None)
    assert adm.probe and new is not None and new.status is State.HALF_OPEN


def test_model_copy_revalidates_and_recomputes_derived_values() -> None:
    p = FailureRateBreaker(window_size=20, minimum_calls=50)
    assert p._min_calls == 20 and p.kinds[Outcome.SLOW] == OK
    q = p.model_copy(update={"window_size": 5, "slow_is_failure": True, "open_time": "2m"})
    assert q._min_calls == 5 and q.kinds[Outcome.SLOW] == FAIL and q.open_time == 120
    assert p.model_copy() == p
