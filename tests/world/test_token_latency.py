"""Token-aware latency: TTFT + output tokens x TPOT, each with its own noise; the completion's
length drawn per request; slowness on either part; the one-lognormal shorthand unchanged."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import sim
from faults.models import LatencyFault
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim.fault_effects import fault_modifiers
from sim.latency import FAMILIES
from sim.loader import ScenarioError, parse_scenario
from sim.rng import Seeds
from sim.scenario import Scenario
from sim.vendor_model import TIMEOUT, VendorWorld

Z99 = 2.3263478740408408
TOKEN = {
    "ttft": {"median": 0.5, "p99": 2.0},
    "tpot": {"median": "20ms", "p99": "50ms"},
    "output": {"median": "30%", "p99": "90%"},
}


def org(spec: dict[str, Any], modifiers: list[dict] | None = None, others: list[dict] | None = None, seed: int = 3):
    sc = Scenario.model_validate(
        {"vendors": {"openai": {"orgs": [{"name": "a", **spec}, *(others or [])]}}, "modifiers": modifiers or []}
    )
    return VendorWorld(sc, Seeds(seed)).by_name["a"]


def p99(x: np.ndarray) -> float:
    return float(np.quantile(x, 0.99))


# --------------------------------------------------------------------------- faithfulness


def test_ttft_tpot_and_output_length_reproduce_their_configuration() -> None:
    # Same org, same seed, so the same draws: with every call failing (a 5xx comes after the time
    # to first token) the latency is the TTFT; with none failing it is TTFT + n x TPOT, n in the
    # body. So each part is recovered per request and compared with its configured lognormal.
    n_draws, max_tokens = 40_000, 1000
    failing = org({"latency": TOKEN, "error_rate": 1.0, "error_mix": {"500": 1}})
    healthy = org({"latency": TOKEN})
    ttft = np.array([failing.decide("m", 10, max_tokens, 1e9, 0.0).latency for _ in range(n_draws)])
    ok = [healthy.decide("m", 10, max_tokens, 1e9, 0.0) for _ in range(n_draws)]
    assert {d.status for d in ok} == {200}
    n = np.array([d.body["usage"]["completion_tokens"] for d in ok])
    tpot = (np.array([d.latency for d in ok]) - ttft) / n

    assert np.median(ttft) == pytest.approx(0.5, rel=0.03) and p99(ttft) == pytest.approx(2.0, rel=0.08)
    assert np.median(tpot) == pytest.approx(0.020, rel=0.03) and p99(tpot) == pytest.approx(0.050, rel=0.08)
    # the completion: 30 % of max_tokens at the median, 90 % at p99, never above max_tokens
    assert np.median(n) == pytest.approx(300, rel=0.03) and p99(n) == pytest.approx(900, rel=0.05)
    assert n.min() >= 1 and n.max() == max_tokens
    # TTFT and TPOT are independent noises
    assert abs(np.corrcoef(np.log(ttft), np.log(tpot))[0, 1]) < 0.03


def test_a_family_takes_its_published_figures() -> None:
    o = org(
        {"latency": {"family": "gpt-4o", "output": {"median": 1, "p99": 1}}, "error_rate": 1.0, "error_mix": {"500": 1}}
    )
    ttft = np.array([o.decide("m", 10, 100, 1e9, 0.0).latency for _ in range(20_000)])
    assert np.median(ttft) == pytest.approx(FAMILIES["gpt-4o"]["ttft"]["median"], rel=0.03)
    sc = Scenario.model_validate(
        {
            "vendors": {
                "openai": {
                    "orgs": [{"name": "a", "latency": {"family": "gpt-4o", "tpot": {"median": "5ms", "p99": "5ms"}}}]
                }
            }
        }
    )
    lat = sc.vendors["openai"].orgs[0].latency
    assert lat.tpot.median == 0.005  # an explicit part wins over the family's
    assert lat.ttft.median == FAMILIES["gpt-4o"]["ttft"]["median"]


def test_a_request_without_max_tokens_writes_up_to_the_models_output_limit() -> None:
    o = org({"latency": {**TOKEN, "output": {"median": 1, "p99": 1, "max_tokens": 321}}})
    assert o.decide("m", 10, 0, 1e9, 0.0).body["usage"]["completion_tokens"] == 321


# --------------------------------------------------------------------------- the shorthand


def test_the_shorthand_is_one_lognormal_from_the_latency_stream() -> None:
    o = org({"latency": {"median": 0.7, "p99": 3.5}})
    got = [o.decide("m", 10, 201, 1e9, 0.0) for _ in range(5000)]
    stream = Seeds(3).stream("org:a:latency")
    sigma = math.log(3.5 / 0.7) / Z99
    want = [0.7 * math.exp(sigma * stream.normal()) for _ in range(5000)]
    assert [d.latency for d in got] == want  # exactly: the same draws, the same formula
    assert {d.body["usage"]["completion_tokens"] for d in got} == {(201 * 3 + 4) // 5}  # 60 % of max_tokens


def test_latency_is_per_model_and_a_token_aware_model_leaves_the_orgs_shorthand_as_it_was() -> None:
    o = org({"latency": {"median": 0.7, "p99": 3.5}, "models": {"m": {}, "big": {"latency": FIXED}}})
    stream = Seeds(3).stream("org:a:latency")
    sigma = math.log(3.5 / 0.7) / Z99
    assert [o.decide("m", 10, 201, 1e9, 0.0).latency for _ in range(1000)] == [
        0.7 * math.exp(sigma * stream.normal()) for _ in range(1000)
    ]
    assert o.decide("big", 10, 100, 1e9, 0.0).latency == pytest.approx(0.3 + 100 * 0.02)


def test_a_token_aware_org_does_not_shift_another_orgs_draws() -> None:
    plain = {"name": "b", "latency": {"median": 1.0, "p99": 3.0}}
    tokens = {"name": "b", "latency": TOKEN}
    a1 = org({"latency": {"median": 0.7, "p99": 3.5}}, others=[plain])
    a2 = org({"latency": {"median": 0.7, "p99": 3.5}}, others=[tokens])
    assert [a1.decide("m", 10, 100, 1e9, i).latency for i in range(500)] == [
        a2.decide("m", 10, 100, 1e9, i).latency for i in range(500)
    ]


def test_token_draws_do_not_depend_on_the_branch_taken() -> None:
    # a 429 (or any early answer) still uses its draws: the next decisions are the same as if
    # the refused one had succeeded
    limited = org({"latency": TOKEN, "limits": {"m": {"rpm": 60, "tpm": 10**9}}})
    free = org({"latency": TOKEN})
    a = [limited.decide("m", 10, 100, 1e9, t) for t in (0.0, 0.0, 5.0, 10.0)]
    b = [free.decide("m", 10, 100, 1e9, t) for t in (0.0, 0.0, 5.0, 10.0)]
    assert a[1].status == 429
    assert [d.latency for i, d in enumerate(a) if i != 1] == [d.latency for i, d in enumerate(b) if i != 1]


# --------------------------------------------------------------------------- timeouts and faults

FIXED = {
    "ttft": {"median": 0.3, "p99": 0.3},
    "tpot": {"median": "20ms", "p99": "20ms"},
    "output": {"median": 1, "p99": 1},
}  # no noise: latency = 0.3 s + max_tokens x 20 ms


def test_a_long_completion_times_out_where_a_short_one_does_not() -> None:
    o = org({"latency": FIXED})
    short = o.decide("m", 10, 100, 5.0, 0.0)
    long = o.decide("m", 10, 500, 5.0, 0.0)
    assert short.status == 200 and short.latency == pytest.approx(2.3)
    assert long.exc == TIMEOUT and long.latency == 5.0  # 10.3 s would be needed: the client gives up at 5
    # the shorthand does not care how long the completion is
    plain = org({"latency": {"median": 2.3, "p99": 2.3}})
    assert plain.decide("m", 10, 100, 5.0, 0.0).status == plain.decide("m", 10, 500, 5.0, 0.0).status == 200


@pytest.mark.parametrize("part", ["tpot", "ttft", "both"])
def test_a_slowness_acts_on_the_part_it_names(part: str) -> None:
    mods = [{"kind": "slow", "targets": ["a"], "start": 10, "latency_factor": 3.0, "latency_part": part}]
    o = org({"latency": FIXED}, mods)
    before = {n: o.decide("m", 10, n, 1e9, 0.0).latency for n in (10, 1000)}
    after = {n: o.decide("m", 10, n, 1e9, 20.0).latency for n in (10, 1000)}
    ttft, tpot = 0.3, 0.02
    want = {
        "tpot": {n: ttft + n * tpot * 3 for n in (10, 1000)},
        "ttft": {n: ttft * 3 + n * tpot for n in (10, 1000)},
        "both": {n: (ttft + n * tpot) * 3 for n in (10, 1000)},
    }[part]
    assert before == pytest.approx({n: ttft + n * tpot for n in (10, 1000)})
    assert after == pytest.approx(want)
    slowed = {n: after[n] - before[n] for n in (10, 1000)}
    if part == "tpot":  # long completions slow most
        assert slowed[1000] > 50 * slowed[10]
    if part == "ttft":  # every answer alike
        assert slowed[1000] == pytest.approx(slowed[10])


def test_a_tpot_add_is_per_output_token_and_the_drift_acts_on_its_part() -> None:
    mods = [{"kind": "slow", "targets": ["a"], "latency_add": "10ms", "latency_part": "tpot"}]
    assert org({"latency": FIXED}, mods).decide("m", 10, 100, 1e9, 0.0).latency == pytest.approx(0.3 + 100 * 0.03)
    drifting = org({"latency": FIXED, "latency_drift": 2.0, "latency_drift_part": "ttft"})
    assert drifting.decide("m", 10, 100, 1e9, 0.0).latency == pytest.approx(0.6 + 100 * 0.02)
    # on a one-lognormal latency every part is the whole; a per-token add counts its nominal completion
    plain = org({"latency": {"median": 1.0, "p99": 1.0}}, mods)
    assert plain.decide("m", 10, 100, 1e9, 0.0).latency == pytest.approx(1.0 + 60 * 0.01)


def test_the_latency_faults_lower_their_part() -> None:
    sc = Scenario.model_validate(
        {
            "vendors": {"openai": {"orgs": [{"name": "a", "latency": FIXED}]}},
            "faults": [
                {"kind": "latency", "target": "a", "factor": 4, "latency_part": "tpot", "start": 10},
                {
                    "kind": "slow_drip",
                    "target": "a",
                    "latency_factor": 2,
                    "latency_part": "ttft",
                    "ramp": 60,
                    "steps": 2,
                    "start": 100,
                    "end": 200,
                },
                {
                    "kind": "vendor_incident",
                    "target": "a",
                    "latency_factor": 2,
                    "latency_part": "tpot",
                    "start": 300,
                    "end": 400,
                },
            ],
        }
    )
    mods = fault_modifiers(sc, 0)
    assert [m.latency_part for m in mods] == ["tpot", "ttft", "ttft", "tpot"]
    assert LatencyFault.model_validate({"kind": "latency", "target": "a", "factor": 2}).latency_part == "both"
    o = VendorWorld(sc, Seeds(1), mods).by_name["a"]
    assert o.decide("m", 10, 100, 1e9, 20.0).latency == pytest.approx(0.3 + 100 * 0.08)


# --------------------------------------------------------------------------- whole runs


def world(max_tokens: int, latency: dict, standby: dict | None = None, **over: Any) -> Scenario:
    data = {
        "name": "token-latency",
        "seed": 5,
        "duration": 120.0,
        "pods": 2,
        "vendors": {
            "openai": {
                "orgs": [
                    {
                        "name": f"o{i}",
                        "limits": {"gpt-4o-mini": {"rpm": 10**6, "tpm": 10**9}},
                        "latency": latency,
                        "error_rate": 0.02,
                    }
                    for i in (1, 2)
                ]
            },
            "anthropic": {
                "model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"},
                "orgs": [
                    {
                        "name": "c1",
                        "limits": {"claude-3-5-haiku-latest": {"rpm": 10**6, "tpm": 10**9}},
                        "latency": standby or {"family": "claude-3-5-haiku"},
                    }
                ],
            },
        },
        "router": {"max_attempts": 3, "attempt_timeout": 8.0, "deadline": 20.0, "standby_vendor": "anthropic"},
        "traffic": {
            "daily_volume": 86_400 * 4,
            "prompt_tokens": {"median": 300, "p99": 1500},
            "max_tokens": {"median": max_tokens},
        },
    }
    data.update(over)
    return Scenario.model_validate(data)


def timeouts(trace: Any) -> int:
    return int(np.sum(trace.attempts["outcome"] == OUTCOME_CODES[Outcome.TIMEOUT]))


def test_in_a_run_long_completions_time_out_and_short_ones_do_not() -> None:
    lat = {"ttft": {"median": 0.4, "p99": 1.5}, "tpot": {"median": "15ms", "p99": "30ms"}}
    short = sim.run(world(100, lat), "exponential", mode="fast")
    long = sim.run(world(1200, lat), "exponential", mode="fast")  # ~720 tokens at 15 ms: ~11 s > 8 s
    assert timeouts(short) < 0.01 * short.n_attempts
    assert timeouts(long) > 0.3 * long.n_attempts
    # one lognormal: the completion's length changes nothing (the same attempts time out)
    plain = {"median": 1.5, "p99": 9.0}
    a, b = (sim.run(world(m, plain, plain), "exponential", mode="fast") for m in (100, 1200))
    assert timeouts(a) > 0 and np.array_equal(a.attempts["outcome"], b.attempts["outcome"])


def test_fast_and_full_mode_decide_identically_with_token_aware_latency() -> None:
    lat = {"family": "gpt-4o-mini", "output": {"median": "50%", "p99": "100%"}}
    sc = world(
        400,
        lat,
        modifiers=[
            {"kind": "slow", "targets": ["o1"], "start": 40, "end": 80, "latency_factor": 3.0, "latency_part": "tpot"}
        ],
    )
    policy = ("exponential", {"threshold": 3, "window": 60, "base_open_time": 20})
    fast, full = sim.run(sc, policy, mode="fast"), sim.run(sc, policy, mode="full")
    assert fast.n_requests > 300 and timeouts(fast) > 0  # the slowed tpot times long answers out
    for table in ("requests", "attempts", "events"):
        a, b = getattr(fast, table), getattr(full, table)
        assert sorted(a) == sorted(b)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)


# --------------------------------------------------------------------------- bad input

BAD = [
    ("{median: 1, ttft: {median: 1, p99: 2}}", "latency: give median/p99 (one lognormal) or ttft/tpot"),
    ("{ttft: {median: 1, p99: 2}}", "latency.tpot: a token-aware latency needs both ttft and tpot"),
    ("{family: gpt-5}", "latency.family: unknown model family 'gpt-5' (known: gpt-4o,"),
    ("{output: {median: 50%}}", "latency.output: the completion's length needs a token-aware latency"),
    ("{ttft: {median: 1, p99: 0.5}, tpot: {median: 10ms, p99: 20ms}}", "latency.ttft: p99 (0.5) must be >= median"),
    ("{family: gpt-4o, output: {median: 150%}}", "latency.output.median: Input should be less than or equal to 1"),
    ("{family: gpt-4o, tpot: {median: -1ms, p99: 2ms}}", "latency.tpot.median: a duration must not be negative"),
    ("{family: gpt-4o, output: {median: 60%, p99: 40%}}", "latency.output: p99 (0.4) must be >= median (0.6)"),
]


@pytest.mark.parametrize(("latency", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_latency_is_one_line_naming_the_field(latency: str, message: str) -> None:
    text = f"vendors:\n  openai:\n    orgs:\n      - name: a\n        latency: {latency}\n"
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, "bad.yaml")
    got = str(e.value)
    assert "\n" not in got and got.startswith("bad.yaml:5: vendors.openai.orgs.0.")
    assert message in got


def test_a_bad_latency_part_is_one_line() -> None:
    text = (
        "vendors: {openai: {orgs: [{name: a}]}}\n"
        "faults:\n  - {kind: latency, target: a, factor: 2, latency_part: ttfb}\n"
    )
    with pytest.raises(
        ScenarioError,
        match=r"^bad\.yaml:3: faults\.0\.latency_part: Input should be 'both', "
        r"'ttft' or 'tpot' \(got 'ttfb'\)$",
    ):
        parse_scenario(text, "bad.yaml")
