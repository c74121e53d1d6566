"""The shared rate-limit window (``pace``): the reference, its property, and every store's copy.

The property (hypothesis): whatever the requests, the window never lets more through than it
holds plus what it refills — over any interval [a, b] the tokens sent are at most
``ceiling + rate * (b - a)``. Every store (memory, fakeredis, a real Redis) must answer as the
reference :func:`multiorg.stores.window.spend`, share one window between pods, and fall back to
a local window — never an error — when Redis fails.
"""

from __future__ import annotations

import random

import pytest
import redis
from conftest import T0, Backend
from hypothesis import given, settings
from hypothesis import strategies as st

from multiorg.clock import ManualClock
from multiorg.stores import RedisStore
from multiorg.stores.window import Window, spend

RATE = 1000.0  # tokens a second (60k TPM)
CEILING = 1000.0  # what a per-second window holds

_ops = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=2.0, allow_nan=False),  # time since the previous request
        st.integers(min_value=1, max_value=int(CEILING)),  # its tokens (at most the window)
        st.booleans(),  # whether it reserves (waits) when the window cannot take it now
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_the_window_never_sends_more_than_it_holds_plus_its_refill(ops: list[tuple[float, int, bool]]) -> None:
    window: Window | None = None
    now = 0.0
    sends: list[tuple[float, int]] = []  # (when the request is sent, its tokens)
    for dt, tokens, reserve in ops:
        now += dt
        answer, new = spend(window, now, rate=RATE, ceiling=CEILING, take=tokens, reserve=reserve)
        if new is not None:
            window = new
        if answer.wait == 0.0 or reserve:
            sends.append((now + answer.wait, tokens))
    sends.sort()
    for i, (a, _) in enumerate(sends):
        total = 0
        for b, tokens in sends[i:]:
            total += tokens
            assert total <= CEILING + RATE * (b - a) + 1e-6


def test_a_reservation_queues_and_a_refund_gives_it_back() -> None:
    w, now = None, 0.0
    first, w = spend(w, now, rate=RATE, ceiling=CEILING, take=1000)
    assert first.wait == 0.0 and w == Window(0.0, 0.0)
    peek, unchanged = spend(w, now, rate=RATE, ceiling=CEILING, take=500)
    assert peek.wait == pytest.approx(0.5) and unchanged is None  # without reserve: nothing taken
    held, w = spend(w, now, rate=RATE, ceiling=CEILING, take=500, reserve=True)
    assert held.wait == pytest.approx(0.5) and w is not None and w.level == -500.0
    after, w = spend(w, now, rate=RATE, ceiling=CEILING, take=500, reserve=True)
    assert after.wait == pytest.approx(1.0)  # behind the first reservation
    back, w = spend(w, now, rate=RATE, ceiling=CEILING, take=-500)
    assert back.level == -500.0
    capped, w = spend(w, 1.0, rate=RATE, ceiling=CEILING, at_most=100.0)
    assert capped.level == 100.0  # the vendor's count (500 refilled, capped at 100)


def _reference_run(store: object, seed: int, key: str) -> None:
    rng = random.Random(seed)
    ref: Window | None = None
    now = T0
    for _ in range(200):
        now += rng.choice((0.0, 0.001, 0.05, 0.3, 1.5))
        kw = {
            "take": rng.choice((0.0, 120.0, 700.0, 1000.0, -300.0)),
            "reserve": rng.random() < 0.5,
            "at_most": rng.choice((None, None, 50.0, 900.0)),
        }
        want, new = spend(ref, now, rate=RATE, ceiling=CEILING, **kw)  # type: ignore[arg-type]
        if new is not None:
            ref = new
        got = store.pace(key, now, rate=RATE, ceiling=CEILING, **kw)  # type: ignore[attr-defined]
        assert got.wait == pytest.approx(want.wait, abs=1e-9)
        assert got.level == pytest.approx(want.level, abs=1e-6)


def test_every_store_answers_as_the_reference(backend: Backend) -> None:
    _reference_run(backend.make(), 3, "pace:a|m")


def test_pods_share_one_window(backend: Backend) -> None:
    a, b = backend.make(), backend.make()
    assert a.pace("pace:a|m", T0, rate=RATE, ceiling=CEILING, take=1000).wait == 0.0
    # the other pod sees the window spent: 400 tokens come back in 0.4 s
    assert b.pace("pace:a|m", T0, rate=RATE, ceiling=CEILING, take=400).wait == pytest.approx(0.4)
    # (one round trip per operation on Redis)
    if isinstance(b, RedisStore):
        before = b.round_trips
        b.pace("pace:a|m", T0, rate=RATE, ceiling=CEILING, take=400, reserve=True)
        assert b.round_trips == before + 1


def test_a_redis_failure_paces_against_a_local_window_and_never_raises() -> None:
    clock = ManualClock(T0)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05, socket_timeout=0.05)
    store = RedisStore(dead, clock, fallback_retry=60.0)
    first = store.pace("pace:a|m", T0, rate=RATE, ceiling=CEILING, take=1000)
    assert first.wait == 0.0 and store.degraded
    # the local window carries on (this pod's own estimate), without touching the network
    trips = store.round_trips
    assert store.pace("pace:a|m", T0, rate=RATE, ceiling=CEILING, take=500).wait == pytest.approx(0.5)
    assert store.round_trips == trips
