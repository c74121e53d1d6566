"""Rate limits as vendors enforce them: quantized (per-second) buckets, the one-request floor,
Anthropic's separate input / output token limits."""

from __future__ import annotations

import numpy as np
import pytest

from sim.rng import Seeds
from sim.scenario import Scenario
from sim.vendor_model import VendorWorld


def org(spec: dict, vendor: str = "openai", modifiers: list[dict] | None = None):
    sc = Scenario.model_validate({"vendors": {vendor: {"orgs": [{"name": "a", **spec}]}},
                                  "modifiers": modifiers or []})
    return VendorWorld(sc, Seeds(3)).by_name["a"]


def statuses(o, n: int, now: float = 0.0, prompt: int = 10, max_tokens: int = 10, model: str = "m") -> list[int]:
    return [o.decide(model, prompt, max_tokens, 30.0, now).status for _ in range(n)]


@pytest.mark.parametrize("by", ["rpm", "tpm"])
def test_a_burst_at_half_the_minute_rate_meets_429s_above_the_per_second_allowance(by: str) -> None:
    # 6,000 RPM (or 120,000 TPM at 20 tokens a request) = 100 requests a second; a burst of half
    # a minute's allowance at once: per second, 100 pass and the other 2,900 are refused
    limits = {"rpm": 6000, "tpm": 10**9} if by == "rpm" else {"rpm": 10**9, "tpm": 120_000}
    got = statuses(org({"limits": {"m": limits}}), 3000)
    assert got.count(200) == 100 and got.count(429) == 2900
    assert got[:100] == [200] * 100  # the allowance goes first, then nothing
    # the per-minute bucket takes the whole burst
    assert statuses(org({"limits": {"m": limits}, "enforcement": "minute"}), 3000) == [200] * 3000


def test_the_same_volume_spread_over_the_minute_meets_no_429() -> None:
    o = org({"limits": {"m": {"rpm": 6000, "tpm": 10**9}}})
    # 3,000 requests evenly over 60 s: 50 a second, half the per-second allowance
    got = [o.decide("m", 10, 10, 30.0, i * 0.02).status for i in range(3000)]
    assert set(got) == {200}


def test_poisson_at_the_limit_meets_more_429s_per_second_than_per_minute() -> None:
    # at 90 % of the limit, a one-second bucket absorbs less of the Poisson noise than a minute's
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.exponential(1.0 / 0.9, size=20_000))  # 0.9 a second
    share = {}
    for window in ("second", "minute"):
        o = org({"limits": {"m": {"rpm": 60, "tpm": 10**9}}, "enforcement": window})
        share[window] = np.mean([o.decide("m", 10, 10, 30.0, float(t)).status == 429 for t in times])
    assert share["minute"] < 0.02 < 0.1 < share["second"]


def test_the_429_says_when_one_request_fits_again() -> None:
    o = org({"limits": {"m": {"rpm": 6000, "tpm": 10**9}}})
    statuses(o, 100)
    d = o.decide("m", 10, 10, 30.0, 0.0)
    assert d.status == 429 and d.headers["retry-after-ms"] == "10"  # 100 a second: 10 ms
    assert d.headers["x-ratelimit-limit-requests"] == "6000"  # the limit stays per minute
    assert o.decide("m", 10, 10, 30.0, 0.0101).status == 200


def test_a_bucket_below_one_request_a_second_still_admits_one() -> None:
    # 30 RPM: half a request a second; the floor holds one request, refilled in 2 s
    o = org({"limits": {"m": {"rpm": 30, "tpm": 10**9}}})
    assert statuses(o, 3) == [200, 429, 429]
    assert statuses(o, 1, now=1.9) == [429]
    assert statuses(o, 2, now=2.01) == [200, 429]
    # tokens: 600 TPM is 10 a second; a 400-token request fits the floor once per 40 s
    o = org({"limits": {"m": {"rpm": 10**9, "tpm": 600}}})
    assert statuses(o, 2, prompt=300, max_tokens=100) == [200, 429]
    assert statuses(o, 1, now=39.9, prompt=300, max_tokens=100) == [429]
    assert statuses(o, 1, now=40.01, prompt=300, max_tokens=100) == [200]
    # a request larger than the per-minute limit never fits, as before
    assert statuses(o, 1, now=1000.0, prompt=600, max_tokens=1) == [429]


def test_a_limit_below_one_request_a_minute_admits_none() -> None:
    # the rate_limit_storm fault's lever: the floor never lifts such a bucket to one request
    o = org({"limits": {"m": {"rpm": 60, "tpm": 10**9}}}, modifiers=[{"kind": "storm", "rpm_factor": 0.5 / 60}])
    assert set(statuses(o, 5)) == {429}
    assert set(o.decide("m", 10, 10, 30.0, t).status for t in (100.0, 1000.0)) == {429}


def test_a_model_overrides_the_orgs_enforcement() -> None:
    o = org({"limits": {"m": {"rpm": 600, "tpm": 10**9}, "n": {"rpm": 600, "tpm": 10**9}},
             "models": {"n": {"enforcement": "minute"}}})
    assert statuses(o, 20).count(200) == 10
    assert statuses(o, 20, model="n").count(200) == 20


def test_anthropic_input_and_output_token_limits_are_separate_buckets() -> None:
    # ITPM 6,000 (100/s), OTPM 1,200 (20/s): a request of 50 in, max_tokens 10
    o = org({"limits": {"claude": {"rpm": 10**6, "tpm": 10**9}},
             "models": {"claude": {"itpm": 6000, "otpm": 1200}}}, vendor="anthropic")
    got = statuses(o, 5, prompt=50, max_tokens=10, model="claude")
    assert got == [200, 200, 429, 429, 429]  # input: 2 x 50 fit in 100
    d = o.decide("claude", 50, 10, 30.0, 0.0)
    assert d.body["error"]["type"] == "rate_limit_error"
    assert d.headers["anthropic-ratelimit-input-tokens-limit"] == "6000"
    assert d.headers["anthropic-ratelimit-input-tokens-remaining"] == "0"
    assert "input tokens per minute" in d.body["error"]["message"]
    # output-bound: small prompts, max_tokens 10 against 20 a second
    o = org({"limits": {"claude": {"rpm": 10**6, "tpm": 10**9}},
             "models": {"claude": {"itpm": 6000, "otpm": 1200}}}, vendor="anthropic")
    assert statuses(o, 4, prompt=1, max_tokens=10, model="claude") == [200, 200, 429, 429]
    # the 429 names the limit that refused it (Anthropic's message says which: here OTPM)
    assert "output tokens per minute" in o.decide("claude", 1, 10, 30.0, 0.0).body["error"]["message"]
    # a refused request charges nothing: the input bucket kept its 98 tokens
    assert statuses(o, 1, now=0.5, prompt=98, max_tokens=10, model="claude") == [200]


def test_scaling_scales_input_and_output_limits() -> None:
    sc = Scenario.model_validate({"vendors": {"anthropic": {"orgs": [
        {"name": "a", "models": {"claude": {"itpm": 6000, "otpm": 1200}}}]}}})
    spec = sc.scaled(0.1).vendors["anthropic"].orgs[0].models["claude"]
    assert (spec.itpm, spec.otpm) == (600, 120)


def test_enforced_makes_every_org_and_model_enforce_per_the_window_asked() -> None:
    sc = Scenario.model_validate({"name": "w", "vendors": {"openai": {"orgs": [
        {"name": "a", "enforcement": "minute", "limits": {"m": {"rpm": 600, "tpm": 10**9}}},
        {"name": "b", "limits": {"m": {"rpm": 600, "tpm": 10**9}}, "models": {"m": {"enforcement": "minute"}}},
    ]}}})
    per_second = sc.enforced("second")
    assert per_second.name == "w (limits enforced per second)"
    world = VendorWorld(per_second, Seeds(3))
    for name in ("a", "b"):  # the org's window and a model's override alike
        assert statuses(world.by_name[name], 20).count(200) == 10
    world = VendorWorld(sc.enforced("minute"), Seeds(3))
    assert all(statuses(world.by_name[n], 20).count(200) == 20 for n in ("a", "b"))
    assert sc.enforced("second").scaled(0.5).name == per_second.name  # scaling keeps it
    with pytest.raises(ValueError, match="enforcement must be"):
        sc.enforced("hour")  # type: ignore[arg-type]
