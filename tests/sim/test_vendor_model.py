"""The simulated vendors: analytic checks and the wire formats the classifier reads."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from sim_helpers import scenario

from multiorg.outcomes import Outcome, classify_response, parse_duration
from sim import wire
from sim.rng import Seeds
from sim.scenario import Latency
from sim.vendor_model import CONNECT, NONE, TIMEOUT, VendorWorld

EPOCH = datetime.fromisoformat("2025-03-19T00:00:00+00:00").timestamp()


def world(orgs: list[dict], vendor: str = "openai", modifiers: list[dict] | None = None, seed: int = 1) -> VendorWorld:
    sc = scenario(vendors={vendor: {"orgs": orgs}}, modifiers=modifiers or [])
    return VendorWorld(sc, Seeds(seed))


def classify(d, now: float = EPOCH):
    return classify_response(d.status, d.headers, d.body, now=now)


def test_token_bucket_fed_twice_its_rate_rejects_half() -> None:
    # r RPM, Poisson arrivals at lambda = 2r per minute: 429 share -> 1 - r/lambda
    r = 600
    w = world([{"name": "a", "limits": {"m": {"rpm": r, "tpm": 10**9}}}])
    org = w.by_name["a"]
    rng = np.random.default_rng(11)
    lam = 2 * r / 60.0
    times = np.cumsum(rng.exponential(1.0 / lam, size=int(lam * 3 * 3600)))
    statuses = np.array([org.decide("m", 10, 10, 30.0, float(t)).status for t in times])
    share = float(np.mean(statuses == 429))
    assert share == pytest.approx(1 - r / (2 * r), abs=0.02)
    assert set(np.unique(statuses)) == {200, 429}


def test_tpm_limits_consume_prompt_plus_max_tokens() -> None:
    w = world([{"name": "a", "limits": {"m": {"rpm": 10**6, "tpm": 6000}}, "enforcement": "minute"}])
    org = w.by_name["a"]
    # 6000 tokens of capacity: three 2000-token requests pass, the fourth is refused
    got = [org.decide("m", 1500, 500, 30.0, 0.0).status for _ in range(4)]
    assert got == [200, 200, 200, 429]
    d = org.decide("m", 1500, 500, 30.0, 0.0)
    assert d.body["error"]["type"] == "tokens" and d.body["error"]["code"] == "rate_limit_exceeded"
    # refill is continuous: 100 tokens/s, so 2000 tokens are back after 20 s
    assert org.decide("m", 1500, 500, 30.0, 19.9).status == 429
    assert org.decide("m", 1500, 500, 30.0, 20.01).status == 200


def test_lognormal_latency_reproduces_median_and_p99() -> None:
    w = world([{"name": "a", "latency": {"median": 0.8, "p99": 6.0}}])
    org = w.by_name["a"]
    lat = np.array([org.decide("m", 10, 10, 1e9, i * 0.001).latency for i in range(60_000)])
    assert np.median(lat) == pytest.approx(0.8, rel=0.03)
    assert np.quantile(lat, 0.99) == pytest.approx(6.0, rel=0.08)


def test_error_rate_follows_its_piecewise_linear_curve() -> None:
    curve = [[0, 0.0], ["1h", 0.4], ["2h", 0.0]]
    w = world([{"name": "a", "error_rate": curve, "error_mix": {"503": 1}}])
    org = w.by_name["a"]

    def share(t0: float) -> float:
        ds = [org.decide("m", 10, 10, 1e9, t0 + i * 1e-4) for i in range(8000)]
        return float(np.mean([d.status == 503 for d in ds]))

    assert share(0.0) == pytest.approx(0.0, abs=0.005)
    assert share(1800.0) == pytest.approx(0.2, abs=0.02)
    assert share(3600.0) == pytest.approx(0.4, abs=0.02)
    assert share(5400.0) == pytest.approx(0.2, abs=0.02)
    assert share(9000.0) == pytest.approx(0.0, abs=0.005)


def test_error_mix_proportions_and_transport_failures() -> None:
    mix = {"500": 2, "529": 1, "timeout": 1}
    spec = {"name": "a", "error_rate": 1.0, "error_mix": mix, "latency": {"median": 0.5, "p99": 1.0}}
    w = world([spec], vendor="anthropic")
    org = w.by_name["a"]
    ds = [org.decide("m", 10, 10, 10.0, i * 0.01) for i in range(8000)]
    kinds = [d.error for d in ds]
    assert kinds.count("500") / 8000 == pytest.approx(0.5, abs=0.03)
    assert kinds.count("529") / 8000 == pytest.approx(0.25, abs=0.03)
    hung = [d for d in ds if d.error == "timeout"]
    assert len(hung) / 8000 == pytest.approx(0.25, abs=0.03)
    assert all(d.exc == TIMEOUT and d.latency == 10.0 for d in hung)  # a hang costs the whole timeout
    d529 = next(d for d in ds if d.error == "529")
    assert d529.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert classify(d529).outcome is Outcome.SERVER
    reset = world([{"name": "b", "error_rate": 1.0, "error_mix": {"reset": 1}}]).by_name["b"]
    d = reset.decide("m", 10, 10, 30.0, 0.0)
    assert d.exc == CONNECT and d.latency == pytest.approx(0.01)


def test_a_latency_beyond_the_timeout_costs_the_timeout() -> None:
    org = world([{"name": "a", "latency": {"median": 20.0, "p99": 40.0}}]).by_name["a"]
    ds = [org.decide("m", 10, 10, 5.0, float(i)) for i in range(200)]
    assert all(d.exc == TIMEOUT and d.latency == 5.0 for d in ds)
    ok = [org.decide("m", 10, 10, 1000.0, float(i)) for i in range(200)]
    assert all(d.exc == NONE and d.status == 200 for d in ok)


def test_a_quick_refusal_beyond_the_timeout_costs_the_timeout() -> None:
    # lockout, 429, unknown model, org mismatch: all answer after reject_latency — unless the
    # client's timeout (what is left of the router's deadline) runs out first
    spec = {"name": "a", "org_id": "org-a", "reject_latency": 0.5, "limits": {"m": {"rpm": 1, "tpm": 10**6}}}
    org = world([spec, {**spec, "name": "b", "org_id": "org-b", "lockouts": [{"kind": "quota", "start": 0}]}]).by_name
    assert org["a"].decide("m", 10, 10, 1000.0, 0.0).status == 200  # the bucket's one request
    for d in (org["a"].decide("m", 10, 10, 0.3, 0.0), org["b"].decide("m", 10, 10, 0.3, 0.0),
              org["a"].decide("unknown-model", 10, 10, 0.3, 0.0), org["a"].refuse(wire.ORG_MISMATCH, "m", 0.3)):
        assert d.exc == TIMEOUT and d.latency == 0.3
    assert org["a"].decide("m", 10, 10, 0.6, 0.0).status == 429
    assert org["b"].decide("m", 10, 10, 0.6, 0.0).status == 429  # quota
    assert org["a"].refuse(wire.ORG_MISMATCH, "m", 0.6).status == 401


def test_openai_rate_limit_answer_as_the_vendor_sends_it() -> None:
    spec = {"name": "a", "org_id": "org-abc", "limits": {"gpt-4o-mini": {"rpm": 500, "tpm": 10**9}},
            "enforcement": "minute"}
    org = world([spec]).by_name["a"]
    for _ in range(500):
        assert org.decide("gpt-4o-mini", 10, 10, 30.0, 0.0).status == 200
    d = org.decide("gpt-4o-mini", 10, 10, 30.0, 0.0)
    h = d.headers
    assert d.status == 429
    assert d.body["error"]["code"] == "rate_limit_exceeded"
    assert d.body["error"]["param"] is None
    msg = d.body["error"]["message"]
    assert msg.startswith(
        "Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): "
        "Limit 500, Used 500, Requested 1."
    )
    assert "Please try again in 120ms." in msg
    assert h["x-ratelimit-limit-requests"] == "500"
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-reset-requests"] == "1m0s"  # until the budget is full again
    assert h["retry-after-ms"] == "120" and h["retry-after"] == "1"
    assert h["openai-organization"] == "org-abc" and h["x-request-id"].startswith("req_")
    c = classify(d)
    assert c.outcome is Outcome.RATE_LIMITED and c.retry_after == pytest.approx(0.12)
    assert c.remaining_requests == 0
    ok = org.decide("gpt-4o-mini", 10, 10, 30.0, 10.0)  # 10 s later: 83 requests refilled
    assert ok.status == 200 and ok.headers["x-ratelimit-remaining-requests"] == "82"
    full_again = (500 - (500 / 6 - 1)) * 0.12
    assert parse_duration(ok.headers["x-ratelimit-reset-requests"]) == pytest.approx(full_again, abs=0.002)
    assert ok.body["object"] == "chat.completion" and ok.body["usage"]["total_tokens"] == 10 + 6


def test_anthropic_rate_limit_answer_as_the_vendor_sends_it() -> None:
    org = world([{"name": "c", "limits": {"claude": {"rpm": 50, "tpm": 10**9}}, "enforcement": "minute"}],
                vendor="anthropic").by_name["c"]
    now = 30.0
    for _ in range(50):
        org.decide("claude", 10, 10, 30.0, now)
    d = org.decide("claude", 10, 10, 30.0, now)
    h = d.headers
    assert d.status == 429
    assert d.body["type"] == "error" and d.body["error"]["type"] == "rate_limit_error"
    assert h["retry-after"] == "2"  # 1.2 s until one request fits, in whole seconds
    assert h["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.fromisoformat(h["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00")).timestamp()
    assert reset == EPOCH + now + 60.0  # RFC 3339, when the budget is full again
    c = classify(d, now=EPOCH + now)
    assert c.outcome is Outcome.RATE_LIMITED and c.retry_after == 2.0
    ok = org.decide("claude", 10, 10, 30.0, now + 60.0)
    assert ok.status == 200 and ok.body["type"] == "message"
    assert ok.body["usage"] == {"input_tokens": 10, "output_tokens": 6}


@pytest.mark.parametrize(
    ("vendor", "kind", "status", "outcome"),
    [
        ("openai", "quota", 429, Outcome.QUOTA),
        ("openai", "auth", 401, Outcome.AUTH),
        ("openai", "deactivated", 401, Outcome.AUTH),
        ("anthropic", "quota", 400, Outcome.QUOTA),
        ("anthropic", "auth", 401, Outcome.AUTH),
        ("anthropic", "deactivated", 403, Outcome.AUTH),
    ],
)
def test_lockouts_hold_from_start_until_end(vendor: str, kind: str, status: int, outcome: Outcome) -> None:
    org = world([{"name": "a", "lockouts": [{"kind": kind, "start": 100, "end": 200}]}], vendor=vendor).by_name["a"]
    assert org.decide("m", 10, 10, 30.0, 99.9).status == 200
    d = org.decide("m", 10, 10, 30.0, 100.0)
    assert d.status == status and d.latency == pytest.approx(0.05)
    assert classify(d).outcome is outcome
    assert org.decide("m", 10, 10, 30.0, 199.9).status == status
    assert org.decide("m", 10, 10, 30.0, 200.0).status == 200


def test_openai_quota_and_deactivation_bodies() -> None:
    org = world([{"name": "a", "lockouts": [{"kind": "quota"}]}]).by_name["a"]
    d = org.decide("m", 10, 10, 30.0, 1e6)  # no end: for ever
    assert d.body["error"]["code"] == "insufficient_quota" and d.body["error"]["type"] == "insufficient_quota"
    dead = world([{"name": "a", "lockouts": [{"kind": "deactivated", "start": 0}]}]).by_name["a"]
    assert dead.decide("m", 10, 10, 30.0, 0.0).body["error"]["code"] == "account_deactivated"
    spec = {"name": "a", "quota_status": 402, "lockouts": [{"kind": "quota"}]}
    billing = world([spec], vendor="anthropic").by_name["a"]
    d = billing.decide("m", 10, 10, 30.0, 0.0)
    assert d.status == 402 and d.body["error"]["type"] == "billing_error" and classify(d).outcome is Outcome.QUOTA


def test_modifiers_layer_on_the_base_model() -> None:
    mods = [
        {"targets": ["a"], "start": 100, "end": 200, "latency_factor": 10.0},
        {"targets": ["vendor:openai"], "start": 150, "end": 200, "error_rate_set": 1.0, "error_mix": {"502": 1}},
        {"targets": "*", "start": 300, "end": 400, "rpm_factor": 0.5, "models": ["m"]},
        {"targets": ["a"], "start": 500, "lockout": "auth"},
    ]
    w = world([{"name": "a", "limits": {"m": {"rpm": 600, "tpm": 10**9}}, "latency": {"median": 1.0, "p99": 1.0001}}],
              modifiers=mods)
    org = w.by_name["a"]
    assert org.decide("m", 1, 1, 1e9, 50.0).latency == pytest.approx(1.0, rel=1e-3)
    assert org.decide("m", 1, 1, 1e9, 120.0).latency == pytest.approx(10.0, rel=1e-3)
    assert org.decide("m", 1, 1, 1e9, 160.0).status == 502
    d = org.decide("m", 1, 1, 1e9, 300.0)
    assert d.headers["x-ratelimit-limit-requests"] == "300"
    assert org.decide("m", 1, 1, 1e9, 450.0).headers["x-ratelimit-limit-requests"] == "600"
    assert org.decide("m", 1, 1, 1e9, 10_000.0).status == 401


def test_a_model_the_org_does_not_serve_is_a_client_error() -> None:
    org = world([{"name": "a", "limits": {"gpt-4o": {"rpm": 10, "tpm": 1000}}}]).by_name["a"]
    d = org.decide("gpt-4o-mini", 1, 1, 30.0, 0.0)
    assert d.status == 404 and d.body["error"]["code"] == "model_not_found"
    assert classify(d).outcome is Outcome.CLIENT_ERROR


def test_draws_per_decision_are_fixed_so_branches_never_shift_streams() -> None:
    # the same org with and without a lockout window draws the same numbers after the window
    a = world([{"name": "a"}]).by_name["a"]
    b = world([{"name": "a", "lockouts": [{"kind": "quota", "start": 0, "end": 10}]}]).by_name["a"]
    for t in range(10):
        a.decide("m", 1, 1, 30.0, float(t))
        b.decide("m", 1, 1, 30.0, float(t))
    assert [a.decide("m", 1, 1, 30.0, 20.0 + i).latency for i in range(5)] == [
        b.decide("m", 1, 1, 30.0, 20.0 + i).latency for i in range(5)
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0004, "1ms"), (0.12, "120ms"), (1, "1s"), (17.28, "17.28s"), (360, "6m0s"), (3723.5, "1h2m3.5s")],
)
def test_go_durations(seconds: float, text: str) -> None:
    assert wire.go_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(max(seconds, 0.001) if seconds else 0.0, abs=1e-3)


def test_sigma_from_median_and_p99() -> None:
    lat = Latency(median=1.0, p99=math.e ** 2.3263478740408408)
    assert lat.sigma == pytest.approx(1.0)


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_success_headers_served_lazily_equal_the_rendered_ones(vendor: str) -> None:
    spec = {"name": "a", "limits": {"m": {"rpm": 600, "tpm": 90_000}}}
    mods = [{"targets": ["a"], "start": 0, "rpm_factor": 0.5}]
    org = world([spec], vendor=vendor, modifiers=mods).by_name["a"]
    lazy = org.decide("m", 100, 50, 30.0, 1.5).headers
    eager = org.decide("m", 100, 50, 30.0, 1.5).headers
    rendered = dict(eager)  # renders everything
    assert len(rendered) >= 7
    for key in rendered:
        if "remaining" in key or "limit" in key:
            assert lazy.get(key) is not None
    for key in ("x-ratelimit-remaining-requests", "x-ratelimit-limit-requests", "x-ratelimit-remaining-tokens",
                "x-ratelimit-limit-tokens", "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-tokens-limit", "retry-after"):
        fresh = org.decide("m", 100, 50, 30.0, 1.5).headers
        served = fresh.get(key)
        assert served == dict(fresh).get(key), key
    assert ("x-ratelimit-limit-requests" in rendered) is (vendor == "openai")
    assert rendered.get("x-ratelimit-limit-requests", rendered.get("anthropic-ratelimit-requests-limit")) == "300"
