"""The "Why" section: failures by cause x org x time, capacity, sentences; the trace's cause column."""

from __future__ import annotations

import json

import numpy as np
import pytest
from markupsafe import escape

import sim
from multiorg.outcomes import OUTCOME_CODES, Outcome
from reports.format import fmt_count, fmt_share
from reports.render import write_report
from reports.why import CAUSES, policy_why, trace_why
from sim import Scenario
from sim.trace import CAUSE, NO_ORG, NO_ORG_CAUSES, Trace, request_causes

OK, RATE, SERVER = (OUTCOME_CODES[o] for o in (Outcome.SUCCESS, Outcome.RATE_LIMITED, Outcome.SERVER))
HELD, OPEN = NO_ORG_CAUSES["rate_limited"], NO_ORG_CAUSES["breaker_open"]


def _known(tb) -> Trace:
    """12 failed requests of 22 with known causes; 7 of them in the "launch" window [500, 700)."""
    b = tb(duration=1000.0)
    b.fault("*", 500.0, 700.0, kind="traffic_surge", label="launch")
    causes = []
    for i in range(10):
        b.request(10.0 + i, [("a", 10.0 + i, 11.0 + i, OK)])
        causes.append(OK)
    for t, org in ((100.0, "a"), (101.0, "a"), (102.0, "a"), (103.0, "b")):
        b.request(t, [("b" if org == "a" else "a", t, t + 0.5, RATE), (org, t + 0.5, t + 1.0, RATE)])
        causes.append(RATE)
    for t in (510.0, 520.0, 530.0, 540.0, 550.0):
        b.request(t, end=t + 0.01)
        causes.append(HELD)
    for t in (600.0, 601.0):
        b.request(t, end=t + 0.01)
        causes.append(OPEN)
    b.request(900.0, [("b", 900.0, 901.0, SERVER)])
    causes.append(SERVER)
    trace = b.build()
    trace.requests[CAUSE] = np.array(causes, np.int8)
    return trace


def _by(why, key: str) -> int:
    return int(why.by_bin[[c.key for c in CAUSES].index(key)].sum())


def test_failures_by_cause_org_and_time(tb):
    w = trace_why(_known(tb))
    assert w.failures == 12 and w.requests == 22
    assert {c.key: _by(w, c.key) for c in CAUSES if _by(w, c.key)} == {
        "no_org_rate_limited": 5, "no_org_breaker_open": 2, "rate_limited": 4, "server": 1}
    rate = [c.key for c in CAUSES].index("rate_limited")
    assert dict(zip(w.orgs, w.by_org[rate].tolist(), strict=True)) == {"a": 3, "b": 1, "no org": 0}
    held = [c.key for c in CAUSES].index("no_org_rate_limited")
    assert w.by_org[held].tolist() == [0, 0, 5]  # no attempt: no org
    # 5 s bins (1000 s run): the holds arrive at 510..550 s
    assert np.flatnonzero(w.by_bin[held]).tolist() == [102, 104, 106, 108, 110]
    assert w.capacity == []  # a trace recorded without capacity data


def test_sentences_name_the_dominant_cause_when_and_where(tb):
    why = policy_why([_known(tb)])
    assert why.failures.mean == 12
    assert why.by_cause["no_org_rate_limited"].mean == 5
    assert why.by_cause_org["rate_limited"] == {
        "a": why.by_cause_org["rate_limited"]["a"], "b": why.by_cause_org["rate_limited"]["b"]}
    assert why.by_cause_org["rate_limited"]["a"].mean == 3
    first, then, refused = why.sentences
    # every failed request made two 429 attempts: 8 of 19 attempts, 4 of them ending a request
    assert refused == (f"8 attempts were answered with a 429 rate limit ({fmt_share(8 / 19)} of attempts), most "
                       "between 00:01:40 and 00:01:45; 4 requests failed on one; the others were retried or "
                       "waited for capacity.")
    assert first == (
        f"launch (00:08:20 \u2013 00:11:40) saw 7 of the 12 failed requests ({fmt_share(12 / 22)} of all): "
        f"{fmt_share(5 / 7)} found every org held by a 429's retry-after (no org available), "
        "most between 00:08:30 and 00:09:15."
    )
    assert then == f"Then {fmt_share(2 / 7)} found every org's breaker open (no org available)."


def test_attempt_causes_name_their_org(tb):
    b = tb(duration=100.0)
    for i in range(12):
        b.request(float(i), [("a", float(i), i + 0.5, RATE)])
    for i in range(3):
        b.request(50.0 + i, [("b", 50.0 + i, 51.0 + i, RATE)])
    b.request(60.0, [("b", 60.0, 61.0, OK)])
    (s,) = policy_why([b.build()]).sentences
    assert s == (f"Of the 15 failed requests ({fmt_share(15 / 16)} of all), 100 % ended on a 429 rate limit, "
                 "mostly on a (80 %), most between 00:00:01 and 00:00:52.")  # the middle 80 %: 2nd to 14th


def test_429s_that_failed_no_request_are_still_said(tb):
    # quantized limits under waiting and pacing: the vendor refuses, the request succeeds later
    b = tb(duration=100.0)
    for i in range(6):
        b.request(float(10 * i), [("a", 10.0 * i, 10.0 * i + 0.1, RATE), ("b", 10.0 * i + 0.2, 10.0 * i + 1, OK)])
    assert policy_why([b.build()]).sentences == [
        "No request failed.",
        f"6 attempts were answered with a 429 rate limit ({fmt_share(6 / 12)} of attempts), most between "
        "00:00 and 00:00:51; none failed its request: each was retried or waited for capacity.",
    ]


def test_a_few_failures_are_listed(tb):
    b = tb(duration=100.0)
    b.request(1.0, [("a", 1.0, 2.0, SERVER)])
    b.request(2.0, [("b", 2.0, 3.0, SERVER)])
    b.request(3.0, [("b", 3.0, 4.0, RATE)])
    b.request(4.0, [("b", 4.0, 5.0, OK)])
    assert policy_why([b.build()]).sentences == [
        "Only 3 of 4 requests failed: 2 ended on a server error (5xx); 1 ended on a 429 rate limit."]


def _with_capacity(trace: Trace) -> Trace:
    """Two orgs of 100 RPM / 1,000 TPM; org a locked from 600 s; 1,500 TPM offered all along."""
    trace.meta["capacity"] = {
        "limits": {"a": {"gpt-4o-mini": [[0.0, 100.0, 1000.0], [600.0, 0.0, 0.0]]},
                   "b": {"gpt-4o-mini": [[0.0, 100.0, 1000.0]]}},
        "model_map": {"openai": {}},
        "demand": {"bin": 60.0, "models": {"gpt-4o-mini": {"requests": [10] * 20, "tokens": [1500] * 20}}},
    }
    trace.meta["duration"] = 1200.0
    return trace


def test_capacity_shortfall_in_numbers_and_words(tb):
    b = tb(duration=1200.0)
    b.request(700.0)  # one no-org failure
    why = policy_why([_with_capacity(b.build())])
    (cap,) = why.capacity
    assert (cap.peak_tpm.mean, cap.pool_tpm.mean, cap.peak_at.mean) == (1500.0, 1000.0, 600.0)
    assert (cap.peak_rpm.mean, cap.pool_rpm.mean) == (10.0, 100.0)
    assert cap.over_tpm_time.mean == 600.0 and cap.over_rpm_time.mean == 0.0
    assert why.sentences[-1] == (
        "Offered demand exceeded the pool's TPM limit for 10.0 min: peak TPM demand 1.5k vs 1k available "
        "(00:10, 5 s mean, gpt-4o-mini)."
    )


def test_capacity_within_limits_blames_bursts_for_429s(tb):
    b = tb(duration=1200.0)
    b.request(10.0, [("a", 10.0, 10.5, RATE)])
    t = _with_capacity(b.build())
    t.meta["capacity"]["limits"]["a"]["gpt-4o-mini"] = [[0.0, 100.0, 1000.0]]
    last = policy_why([t]).sentences[-1]
    assert last == ("Offered demand stayed within the pool's limits: peak TPM demand 1.5k vs 2k available, 75 % "
                    "(00:00, 5 s mean, gpt-4o-mini); the 429s came from bursts inside a 5 s bin, not from the "
                    "average load.")


def test_no_failure_says_so(tb):
    b = tb()
    b.request(1.0, [("a", 1.0, 2.0, OK)])
    why = policy_why([b.build()])
    assert why.sentences == ["No request failed."] and why.by_cause == {}


def test_old_trace_without_cause_column_loads_as_unknown(tb, tmp_path):
    t = _known(tb)
    del t.requests[CAUSE]
    t.save(tmp_path / "old.npz")
    old = Trace.load(tmp_path / "old.npz")
    assert CAUSE not in old.requests
    assert request_causes(old).tolist() == old.requests["outcome"].tolist()
    w = trace_why(old)
    assert _by(w, "no_org_unknown") == 7 and _by(w, "no_org_rate_limited") == 0
    assert int((request_causes(old) == NO_ORG).sum()) == 7


def _tight_world() -> Scenario:
    """Two small orgs and traffic above their RPM: 429 holds and open breakers, no org available.
    The router fails fast: waiting for capacity (its default) holds these requests instead of
    refusing them, and no longer counts their 429s against the breakers."""
    orgs = [{"name": f"o{i}", "org_id": f"org-o{i}", "limits": {"gpt-4o-mini": {"rpm": 40, "tpm": 40_000}},
             "latency": {"median": 0.5, "p99": 2.0}} for i in (1, 2)]
    return Scenario.model_validate({
        "name": "tight", "seed": 3, "duration": 240.0, "pods": 2,
        "router": {"wait_for_capacity": False},
        "vendors": {"openai": {"orgs": orgs}},
        "traffic": {"daily_volume": 200_000.0, "prompt_tokens": {"median": 100}, "max_tokens": {"median": 50}},
    })


@pytest.fixture(scope="module")
def tight_runs():
    sc = _tight_world()
    return {mode: sim.run(sc, "exponential", mode=mode) for mode in ("fast", "full")}


def test_fast_and_full_record_the_same_causes(tight_runs):
    fast, full = tight_runs["fast"], tight_runs["full"]
    assert np.array_equal(fast.requests[CAUSE], full.requests[CAUSE])
    causes = set(fast.requests[CAUSE].tolist())
    assert causes & {HELD, OPEN, NO_ORG_CAUSES["mixed"]}  # the world does refuse requests, with a reason
    assert NO_ORG not in causes  # ... and every refusal has one
    no_org = fast.requests["outcome"] == NO_ORG
    assert (fast.requests[CAUSE][no_org] < NO_ORG).all()
    assert np.array_equal(fast.requests[CAUSE][~no_org], fast.requests["outcome"][~no_org])
    assert fast.meta["capacity"] == full.meta["capacity"]


def test_capacity_meta_counts_every_request_and_token(tight_runs):
    t = tight_runs["fast"]
    cap = t.meta["capacity"]
    assert cap["limits"]["o1"] == {"gpt-4o-mini": [[0.0, 40.0, 40_000.0]]}
    d = cap["demand"]["models"]["gpt-4o-mini"]
    assert len(d["requests"]) == 4 and sum(d["requests"]) == t.n_requests
    assert min(d["tokens"]) > 0


def test_report_has_a_why_section(tight_runs, tmp_path):
    paths = write_report({"exponential": [tight_runs["fast"]]}, tmp_path, formats=("png",))
    why = json.loads(paths.json.read_text())["policies"]["exponential"]["why"]
    assert why["sentences"] and why["capacity"][0]["model"] == "gpt-4o-mini"
    assert why["capacity"][0]["over_rpm_time"]["mean"] > 0  # 140 RPM offered against 80
    assert "Offered demand exceeded the pool's RPM limit" in why["sentences"][-1]
    assert set(paths.charts) >= {"why_causes", "why_capacity"}
    html = paths.html.read_text()
    assert "<h2>Why requests failed</h2>" in html and str(escape(why["sentences"][0])) in html  # (as jinja escapes)
    assert why["sentences"][0] in paths.markdown.read_text()


def test_formats_for_the_sentences():
    assert [fmt_share(v) for v in (0.97, 0.033, 0.0041, 0.996, 1.0, 0.0)] == [
        "97 %", "3.3 %", "0.41 %", "99.6 %", "100 %", "0 %"]
    assert [fmt_count(v, compact=True) for v in (6.4e6, 850_000, 12_345, 999, 1.5e9)] == [
        "6.4M", "850k", "12k", "999", "1.5B"]
