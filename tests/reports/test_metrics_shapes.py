"""Metrics for every fault shape on hand-built traces with known answers: hard vs partial
faults, time to shed, the headline time, totals of failures and wasted attempts, alerts per day."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.metrics import (
    DAY,
    HEALTHY_LOOKBACK,
    METRIC_DOCS,
    SHED_FRACTION,
    SHED_WINDOW,
    compute_results,
    fault_shape,
    summarize_policy,
    trace_fault_windows,
    trace_metrics,
)
from reports.render import render_html, render_markdown
from sim.fault_effects import fault_windows
from sim.scenario import default_scenario
from tests.fault_worlds import world

OK, RATE, QUOTA, AUTH, SERVER, TIMEOUT, CONN, CLIENT, SLOW = range(9)
OPENED, HALF_OPEN, CLOSED = 0, 1, 2


# --------------------------------------------------------------------------- alerts per day


def test_alerts_per_day_counts_opened_alerts_per_simulated_day(tb):
    b = tb(duration=2 * DAY, pods=2)
    for t in (100.0, 5000.0, 90000.0):
        b.event(t, "a", OPENED, pod=0)
        b.event(t + 60, "a", CLOSED, pod=0)
    b.event(200.0, "b", OPENED, pod=1)  # another pod's alert counts too
    b.event(260.0, "b", HALF_OPEN, pod=1)  # not an OPENED alert
    m = trace_metrics(b.build())
    assert m.alerts["opened"] == 4
    assert m.alerts_per_day == 2.0  # 4 OPENED alerts in 2 simulated days


def test_alerts_per_day_over_seeds_and_short_runs(tb):
    runs = []
    for seed, n in ((1, 1), (2, 3)):
        b = tb(duration=DAY / 4, seed=seed)  # a 6-hour run: one alert is 4 per day
        for i in range(n):
            b.event(100.0 + i, "a", OPENED)
        runs.append(b.build())
    pr = summarize_policy("p", runs)
    assert pr.alerts_per_day is not None
    assert pr.alerts_per_day.values == [4.0, 12.0]
    assert pr.alerts_per_day.mean == 8.0
    assert trace_metrics(tb(duration=0.0).build()).alerts_per_day is None


# --------------------------------------------------------------------------- hard or partial


@pytest.mark.parametrize(
    ("kind", "params", "shape"),
    [
        ("lockout", {"reason": "quota"}, "hard"),
        ("lockout:quota", None, "hard"),  # an org's own lockout (no params in meta)
        ("outage", {}, "hard"),
        ("brownout", {"error_rate": 0.3}, "partial"),
        ("brownout", {"error_rate": 1.0}, "hard"),
        ("brownout", None, "partial"),  # a modifier named brownout: its rate is unknown
        ("timeouts", {}, "hard"),  # the catalogue's default rate is 100 %
        ("timeouts", {"error_rate": 0.5}, "partial"),
        ("connection_resets", {"error_rate": 1.0}, "hard"),
        ("latency", {"factor": 4.0}, "partial"),
        ("slow_drip", {"error_rate": 0.5}, "partial"),
        ("rate_limit_squeeze", {"rpm": 0.25}, "partial"),
        ("rate_limit_storm", {}, "hard"),
        ("rate_limit_storm", {"share": 0.5}, "partial"),
        ("flapping", {"down": 60, "up": 60, "error_rate": 1.0}, "partial"),  # healthy between spells
        ("vendor_incident", {"error_rate": 1.0}, "hard"),
        ("vendor_incident", {"error_rate": 1.0, "spread": 0.5}, "partial"),
        ("vendor_incident", {"error_rate": 1.0, "severity": {"b": 0.5}}, "partial"),
        ("vendor_incident", {"error_rate": 0.4, "latency_factor": 3}, "partial"),
        ("model_unavailable", {"model": "gpt-4o-mini"}, "hard"),  # the only model the run uses
        ("custom-outage", None, "hard"),
        ("my-modifier", None, "partial"),
    ],
)
def test_fault_shape_from_the_spec(kind, params, shape):
    spec = {"kind": kind, "target": "a"} | ({"params": params} if params is not None else {})
    assert fault_shape(spec, ["a", "b"], ["gpt-4o-mini"]) == shape


def test_fault_shape_of_one_model_among_several_is_partial():
    models = ["gpt-4o-mini", "gpt-4o"]
    assert fault_shape({"kind": "model_unavailable", "params": {"model": "gpt-4o"}}, ["a"], models) == "partial"
    assert fault_shape({"kind": "outage", "params": {"models": ["gpt-4o"]}}, ["a"], models) == "partial"
    assert fault_shape({"kind": "outage", "params": {"models": models}}, ["a"], models) == "hard"
    assert fault_shape({"kind": "brownout", "shape": "hard"}, ["a"], models) == "hard"  # explicit wins
    # what the target is called with, when the window says, stands in for the run's models
    one = {"kind": "model_unavailable", "params": {"model": "gpt-4o"}}
    assert fault_shape({**one, "serves": ["gpt-4o"]}, ["a"], models) == "hard"


def test_scenario_faults_carry_their_params_into_the_trace_meta(tb):
    sc = world([
        {"kind": "brownout", "target": "a", "error_rate": "30%", "start": "10m", "end": "1h"},
        {"kind": "timeouts", "target": "b", "start": "10m", "end": "20m"},
        {"kind": "latency", "target": "c", "factor": 5, "start": "1h"},
        {"kind": "traffic_surge", "factor": 2, "start": "1h"},
    ])  # fmt: skip
    windows = fault_windows(sc)
    assert windows[0]["params"]["error_rate"] == 0.3
    assert windows[0]["serves"] == ["gpt-4o-mini"] and "serves" not in windows[3]
    b = tb(orgs=("a", "b", "c"), duration=7200.0, faults=windows)
    assert [(w.shape, w.org_fault) for w in trace_fault_windows(b.build())] == [
        ("partial", True), ("hard", True), ("partial", True), (None, False),
    ]  # fmt: skip


# --------------------------------------------------------------------------- time to shed

ORGS4 = ("a", "b", "c", "d")


def round_robin(b, start, end, *, to_a=lambda t: True, a_outcome=SERVER):
    """One request a second, org by round robin; when the turn is a's and ``to_a(t)`` is false the
    request goes to b instead (a breaker keeping a out). During the trace's first fault a answers
    ``a_outcome`` and a failed attempt is retried on b."""
    f0 = b.meta["faults"][0]
    for t in range(int(start), int(end)):
        org = ORGS4[t % 4]
        out = a_outcome if f0["start"] <= t < f0["end"] else OK
        if org == "a" and to_a(t):
            b.request(float(t), [("a", t, t + 0.5, out)] + ([("b", t + 0.5, t + 1, OK)] if out != OK else []))
        else:
            b.request(float(t), [("b" if org == "a" else org, t, t + 0.5, OK)])


def test_partial_fault_detected_in_31s_reports_a_shed_time_not_never(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.meta["faults"].append({"kind": "brownout", "target": "a", "start": 600, "end": 3600, "label": "brownout a",
                             "params": {"error_rate": 0.3}})
    b.event(631.0, "a", OPENED)
    # before 631 a gets its round-robin quarter; then only one regular attempt per 100 s (the
    # breaker closing for a moment): 1/60 of a 60 s bin, below 10 % of 25 %, until the end
    round_robin(b, 0, 4000, to_a=lambda t: t < 631 or t >= 3600 or t % 100 == 0)
    f = trace_metrics(b.build()).faults[0]
    assert f.shape == "partial"
    assert f.detection_time == 31.0
    assert f.healthy_share == 0.25
    assert f.failover_time_max is None  # regular attempts kept reaching a until the end
    assert f.shed_time == 28.0  # a's last round-robin turn before the breaker opened: t = 628
    assert f.shed_or_failover_time == 28.0  # the headline of a partial fault is its time to shed


def test_target_keeping_its_share_never_sheds(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.meta["faults"].append({"kind": "latency", "target": "a", "start": 600, "end": 3600, "params": {"factor": 5}})
    round_robin(b, 0, 4000, a_outcome=OK)
    f = trace_metrics(b.build()).faults[0]
    assert f.shape == "partial" and f.shed_time is None and f.shed_or_failover_time is None


def test_hard_fault_headline_is_failover(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.fault("a", 600, 3600, kind="lockout")
    round_robin(b, 0, 4000, to_a=lambda t: t < 700 or t >= 3600 or t % 100 == 0, a_outcome=QUOTA)
    f = trace_metrics(b.build()).faults[0]
    assert f.shape == "hard"
    assert f.failover_time_max is None and f.shed_time == 100.0  # its last turn in an above-line bin: 700
    assert f.shed_or_failover_time is None  # hard: the headline is failover, and a still got traffic

    b = tb(orgs=ORGS4, duration=4000.0)
    b.fault("a", 600, 3600, kind="lockout")
    round_robin(b, 0, 4000, to_a=lambda t: t < 700 or t >= 3600, a_outcome=QUOTA)
    f = trace_metrics(b.build()).faults[0]
    assert f.failover_time_max == 96.0 and f.shed_or_failover_time == 96.0


def test_shed_time_zero_when_the_target_gets_no_regular_traffic(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.fault("a", 600, 3600, kind="outage")
    round_robin(b, 0, 4000, to_a=lambda t: t < 600 or t >= 3600)
    b.request(1000.0, [("a", 1000.0, 1000.1, SERVER, True), ("b", 1000.1, 1001, OK)])  # a probe: ignored
    f = trace_metrics(b.build()).faults[0]
    assert f.shed_time == 0.0 and f.failover_time_max == 0.0


def test_shed_threshold_is_ten_percent_of_the_healthy_share(tb):
    assert SHED_FRACTION == 0.10 and SHED_WINDOW == 60.0
    # healthy 25 %: a's attempt at 659 s with 40 regular attempts in [600, 659] (its own
    # included) is at the line (2.5 %): fed, so a was shed only after it; with 41, below the line
    for n, expected in ((40, 59.0), (41, 0.0)):
        b = tb(orgs=ORGS4, duration=2000.0)
        b.fault("a", 600, 1000, kind="brownout")
        round_robin(b, 0, 600)
        for i in range(n - 1):
            t = 600.0 + i * 58.0 / n
            b.request(t, [("c", t, t + 1, OK)])
        b.request(659.0, [("a", 659, 660, SERVER)])
        assert trace_metrics(b.build()).faults[0].shed_time == expected


def test_shed_window_looks_back_a_minute_within_the_fault(tb):
    # a fed for the fault's first 20 s (last turn 616), then one stray attempt at 652: its last
    # minute holds a's first turns, so it is fed too; a stray at 712 is alone in its minute
    for stray, expected in ((652, 52.0), (712, 16.0)):
        b = tb(orgs=ORGS4, duration=2000.0)
        b.fault("a", 600, 1500, kind="brownout")
        round_robin(b, 0, 2000, to_a=lambda t, stray=stray: t < 620 or t >= 1500 or t == stray)
        assert trace_metrics(b.build()).faults[0].shed_time == expected


def test_never_when_the_target_is_fed_until_the_fault_ends(tb):
    # fed at its full share until the end of a 140 s fault: the last turn, 4 s before the end, is
    # within the tail tolerance (3 x the 4 s gap between turns): never
    b = tb(orgs=ORGS4, duration=2000.0)
    b.fault("a", 600, 740, kind="brownout")
    round_robin(b, 0, 2000)
    assert trace_metrics(b.build()).faults[0].shed_time is None
    # fed until 40 s before the end: shed then
    b = tb(orgs=ORGS4, duration=2000.0)
    b.fault("a", 600, 740, kind="brownout")
    round_robin(b, 0, 2000, to_a=lambda t: t < 700 or t >= 740)
    assert trace_metrics(b.build()).faults[0].shed_time == 96.0


def test_healthy_share_without_traffic_before_onset_is_the_even_share_of_the_vendor(tb):
    b = tb(orgs=("a", "b", "c"), vendors=("openai", "openai", "anthropic"), duration=1000.0)
    b.fault("a", 0, 500, kind="brownout")  # from the start: no traffic before onset
    b.fault("c", 100, 500, kind="outage")  # the standby carries nothing: its vendor has one org
    for t in range(0, 1000, 2):
        b.request(float(t), [("a" if t % 4 == 0 else "b", t, t + 1, OK)])
    fa, fc = trace_metrics(b.build()).faults
    assert fa.healthy_share == 0.5 and fa.shed_time is None
    assert fc.healthy_share == 1.0 and fc.shed_time == 0.0


# --------------------------------------------------------------------------- totals


def test_failures_and_wasted_attempts_per_fault_and_in_total(tb):
    b = tb(orgs=("a", "b", "c"), duration=1000.0)
    b.fault("a", 100, 300, kind="lockout")
    b.fault("a", 200, 400, kind="brownout", label="brownout a")  # overlaps the lockout on a
    b.request(150.0, [("a", 150, 151, QUOTA)])  # failed, first fault only
    b.request(250.0, [("a", 250, 251, QUOTA)])  # failed, both faults: counted once in the total
    b.request(260.0, [("a", 260, 261, QUOTA), ("b", 261, 262, OK)])  # wasted on both, not a failure
    b.request(350.0, [("a", 350, 351, SERVER), ("c", 351, 352, SERVER)])  # failed, second fault only
    b.request(360.0, [("b", 360, 361, SERVER)])  # failed, touched no target: not caused
    b.request(700.0, [("a", 700, 701, SERVER)])  # after every fault
    m = trace_metrics(b.build())
    assert [f.user_visible_failures for f in m.faults] == [2, 2]
    assert [f.wasted_attempts for f in m.faults] == [3, 3]
    assert m.failures_total == 3
    assert m.wasted_total == 4 == m.wasted_attempts
    pr = summarize_policy("p", [b.build()])
    assert pr.failures_total is not None and pr.failures_total.mean == 3
    assert pr.wasted_total is not None and pr.wasted_total.mean == 4


def test_results_carry_shapes_and_headlines(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.fault("a", 600, 3600, kind="lockout")
    b.meta["faults"].append({"kind": "traffic_surge", "target": "*", "start": 0, "end": 100, "label": "surge"})
    round_robin(b, 0, 4000, to_a=lambda t: t < 700 or t >= 3600, a_outcome=QUOTA)
    res = compute_results({"p": [b.build()]}, slo={})
    assert [f.shape for f in res.faults] == ["hard", None]
    fr = res.policies["p"].faults[0]
    assert fr.shape == "hard" and fr.shed_or_failover_time is not None
    assert fr.shed_or_failover_time.mean == fr.failover_time_max.mean == 96.0
    assert res.policies["p"].faults[1].shed_time is not None and res.policies["p"].faults[1].shed_time.mean is None
    assert res.schema_version == "1.1"


def test_flapping_fault_is_judged_on_its_sick_spells(tb):
    b = tb(orgs=ORGS4, duration=2000.0)
    spells = [[600.0, 720.0], [960.0, 1080.0]]
    b.meta["faults"].append({"kind": "flapping", "target": "a", "start": 600, "end": 1200, "label": "flaps",
                             "params": {"down": 120, "up": 240}, "periods": spells})
    for t in range(2000):
        sick = next((s for s, e in spells if s <= t < e), None)
        # while sick, a gets its turns for the first 20 s of the spell only; healthy between spells
        org = ORGS4[t % 4] if sick is None or t - sick < 20 or t % 4 else "b"
        b.request(float(t), [(org, t, t + 0.5, OK)])
    f = trace_metrics(b.build()).faults[0]
    assert f.shape == "partial"
    assert f.failover_time_max is None  # a is fed between spells: failover reads "never"
    assert f.shed_time == 16.0  # each spell: a's last turn 16 s in, then nothing
    assert f.shed_or_failover_time == 16.0
    assert f.share_kept == pytest.approx((10 / 240) / 0.25)  # 5 turns of 60 in each 120 s spell


def test_share_kept_is_the_target_share_during_the_fault_over_its_healthy_share(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.meta["faults"].append({"kind": "latency", "target": "a", "start": 600, "end": 3600, "params": {"factor": 5}})
    round_robin(b, 0, 4000, to_a=lambda t: t < 600 or t >= 3600 or t % 8 == 0, a_outcome=OK)  # half its turns
    f = trace_metrics(b.build()).faults[0]
    assert f.healthy_share == 0.25 and f.share_kept == 0.5


# --------------------------------------------------------------------------- the definitions


def test_every_footnote_metric_is_defined_in_docs_with_its_constants():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    missing = [name for name in METRIC_DOCS if f"`{name}`" not in doc]
    assert not missing, f"docs/metrics.md does not define {missing}"
    assert f"**{SHED_FRACTION * 100:g} %** (`SHED_FRACTION` = {SHED_FRACTION:g})" in doc
    assert f"**{SHED_WINDOW:g} s** (`SHED_WINDOW` = {SHED_WINDOW:g} s)" in doc
    assert f"**{HEALTHY_LOOKBACK / 3600:g} h before onset** (`HEALTHY_LOOKBACK` = {HEALTHY_LOOKBACK:g} s)" in doc
    assert f"{SHED_FRACTION * 100:g} %" in METRIC_DOCS["shed_time"]
    assert f"{SHED_WINDOW:g} s" in METRIC_DOCS["shed_time"]


# --------------------------------------------------------------------------- in the report


def _two_fault_results(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.fault("a", 600, 1800, kind="lockout", label="a locked")
    b.meta["faults"].append({"kind": "brownout", "target": "c", "start": 2000, "end": 3600, "label": "c errors",
                             "params": {"error_rate": 0.3}})
    round_robin(b, 0, 4000, to_a=lambda t: t < 700 or t >= 1800, a_outcome=QUOTA)
    b.event(650.0, "a", OPENED)
    b.event(2500.0, "c", OPENED)
    return compute_results({"p": [b.build()]}, slo={})


def test_summary_shows_alerts_per_day_and_the_headline_time_by_shape(tb):
    res = _two_fault_results(tb)
    md = render_markdown(res)
    head = next(line for line in md.splitlines() if line.startswith("| policy"))
    assert "alerts / day" in head and "failover: a locked" in head  # the first org fault is hard
    row = next(line for line in md.splitlines() if line.startswith("| `p`"))
    assert "| 43.2 |" in row  # 2 OPENED alerts in 4000 s
    assert METRIC_DOCS["alerts_per_day"] in md and METRIC_DOCS["failover_time"] in md
    assert METRIC_DOCS["shed_time"] in md  # the per-fault table's time to shed is defined too
    html = render_html(res, {})
    assert "failover: a locked" in html and "alerts / day" in html
    assert "time to shed" in html and "share kept" in html and html.count("partial") >= 1


def test_a_partial_first_fault_heads_the_summary_with_its_time_to_shed(tb):
    b = tb(orgs=ORGS4, duration=4000.0)
    b.meta["faults"].append({"kind": "latency", "target": "a", "start": 600, "end": 3600, "label": "a slows",
                             "params": {"factor": 5}})
    round_robin(b, 0, 4000, to_a=lambda t: t < 631 or t >= 3600 or t % 100 == 0, a_outcome=OK)
    res = compute_results({"p": [b.build()]}, slo={})
    md = render_markdown(res)
    head = next(line for line in md.splitlines() if line.startswith("| policy"))
    row = next(line for line in md.splitlines() if line.startswith("| `p`"))
    assert "time to shed: a slows" in head and "| 28.0 s |" in row
    assert METRIC_DOCS["shed_time"] in md and METRIC_DOCS["failover_time"] not in md
    assert "time to shed: a slows" in render_html(res, {})


def test_summary_of_a_results_file_without_the_new_fields_shows_dashes(tb):
    res = _two_fault_results(tb)
    pr = res.policies["p"].model_copy(update={"alerts_per_day": None, "failures_total": None, "wasted_total": None})
    old = res.model_copy(update={"policies": {"p": pr}})
    row = next(line for line in render_markdown(old).splitlines() if line.startswith("| `p`"))
    assert "| \u2013 |" in row


def test_a_model_fault_is_judged_on_the_models_its_target_serves():
    # the run uses gpt-4o-mini and, through Anthropic's model_map, claude-3-5-haiku-latest; an
    # OpenAI org is only ever called with gpt-4o-mini, so losing that model leaves it nothing
    sc = default_scenario(faults=[
        {"kind": "model_unavailable", "target": "secondary1", "model": "gpt-4o-mini", "start": 600},
        {"kind": "outage", "target": "*", "models": ["gpt-4o-mini"], "start": 600},
    ])  # fmt: skip
    w0, w1 = fault_windows(sc)
    assert sc.models() == ["gpt-4o-mini", "claude-3-5-haiku-latest"]
    assert w0["serves"] == ["gpt-4o-mini"]
    assert fault_shape(w0, ["secondary1"], sc.models()) == "hard"
    assert w1["serves"] == ["claude-3-5-haiku-latest", "gpt-4o-mini"]
    assert fault_shape(w1, ["secondary1", "anthropic1"], sc.models()) == "partial"  # Anthropic still serves
