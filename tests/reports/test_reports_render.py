"""Charts, the report files, the published schema, and re-rendering from saved traces."""

from __future__ import annotations

import html
import json
import os
import shutil

import jsonschema
import pytest

from multiorg.alerts import BreakerEvent, EventKind
from reports import charts
from reports.format import fmt_duration, fmt_rate
from reports.metrics import compute_results
from reports.render import report_from_dir, write_report
from reports.schema import SCHEMA_PATH, SCHEMA_VERSION, schema_text
from reports.trace_dir import load_traces, save_traces

OK, QUOTA = 0, 2
OPENED, HALF_OPEN, CLOSED = 0, 1, 2


@pytest.fixture(scope="module")
def report(traces, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(traces, out)


def test_report_files(report):
    for p in (report.html, report.markdown, report.json):
        assert p.is_file() and p.stat().st_size > 200
    # (the synthetic traces carry no capacity data: no why_capacity chart)
    assert set(report.charts) == set(charts.CHARTS) | {"why_causes"}
    assert len(report.traces) == 4
    assert (report.out_dir / "traces" / "exponential" / "seed-2.npz").is_file()
    assert (report.out_dir / "traces" / "manifest.json").is_file()
    assert report.passed is False  # 'none' misses the synthetic scenario's failover SLO


def test_results_json_validates_against_published_schema(report):
    schema = json.loads(SCHEMA_PATH.read_text())
    data = json.loads(report.json.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data["policies"]) == ["none", "exponential"]
    assert data["seeds"] == [1, 2]
    assert data["scenario"]["name"] == "lock-primary-before-launch"
    exp = data["policies"]["exponential"]
    assert set(exp["faults"][0]["phases"]) == {"before", "during", "after"}
    assert exp["faults"][0]["failover_time_max"]["n"] == 2
    assert data["slo"]["passed"] is False


def test_published_schema_matches_models():
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "reports/results.schema.json is stale: run python -c 'from reports.schema import write_schema; write_schema()'"
    )


def test_rerender_from_saved_traces_is_identical(report, tmp_path):
    again = report_from_dir(report.out_dir / "traces", tmp_path / "again")
    assert again.json.read_bytes() == report.json.read_bytes()
    assert again.markdown.read_bytes() == report.markdown.read_bytes()
    # the same page, except that it says where the traces are from where it lies
    rel = os.path.relpath(report.out_dir / "traces", again.out_dir) + "/"
    assert (again.out_dir / rel).resolve() == (report.out_dir / "traces").resolve()
    assert again.html.read_text() == report.html.read_text().replace("<code>traces/</code>", f"<code>{rel}</code>")


def test_rerender_in_place_and_without_manifest(report, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(report.out_dir / "traces", copy / "traces")
    (copy / "traces" / "manifest.json").unlink()
    loaded = load_traces(copy)
    assert list(loaded) == ["exponential", "none"]  # no manifest: sorted by name
    assert [t.meta["seed"] for t in loaded["none"]] == [1, 2]
    again = report_from_dir(copy, formats=("png",))
    assert again.out_dir == copy
    a = json.loads(again.json.read_text())
    b = json.loads(report.json.read_text())
    assert a["policies"]["none"] == b["policies"]["none"]
    assert a["policies"]["exponential"] == b["policies"]["exponential"]


def test_explicit_slo_survives_rerender(traces, tmp_path):
    slo = {"success_rate": ">= 50%"}
    one = {"exponential": traces["exponential"][:1]}
    first = write_report(one, tmp_path / "a", slo=slo, formats=("png",))
    again = report_from_dir(tmp_path / "a", tmp_path / "b", formats=("png",))
    assert first.passed is True and again.passed is True
    assert again.json.read_bytes() == first.json.read_bytes()


def test_html_is_self_contained_with_alert_log(report, traces):
    text = report.html.read_text()
    assert text.count("data:image/png;base64,") == len(charts.CHARTS) + 1  # + why_causes
    assert "<script" not in text and 'src="http' not in text
    t = traces["exponential"][0]
    ev, meta = t.events, t.meta
    i = int(next(k for k in range(len(ev["kind"])) if ev["kind"][k] == OPENED))
    org = int(ev["org"][i])
    event = BreakerEvent(
        kind=EventKind.OPENED,
        org=meta["orgs"][org],
        model=meta["models"][int(ev["model"][i])],
        vendor=meta["org_vendors"][org],
        time=meta["start_epoch"] + float(ev["time"][i]),
        failure_count=int(ev["failure_count"][i]),
        block_duration=float(ev["block_duration"][i]),
        retry_cycles=int(ev["retry_cycles"][i]),
    )
    first, _, rest = event.text().partition("\n")
    assert f"<b>{html.escape(first)}</b>\n{html.escape(rest)}" in text
    assert "[Open AI Service] Circuit Breaker OPENED" in text
    assert "primary billing lock" in text  # the fault list
    assert '<span class="badge fail">SLO FAILED</span>' in text


def test_summary_markdown_table(report):
    md = report.markdown.read_text()
    assert md.startswith("### breakerlab · lock-primary-before-launch — SLO ❌ FAILED")
    assert "| policy | success | session success |" in md
    assert "| `none` |" in md and "| `exponential` |" in md
    assert "failover_time" in md  # the failed check is listed


def test_save_traces_layout(traces, tmp_path):
    paths = save_traces({"fail/rate": traces["none"]}, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "traces/fail_rate/seed-1.npz",
        "traces/fail_rate/seed-2.npz",
    ]
    assert list(load_traces(tmp_path)) == ["fail/rate"]


def test_every_chart_is_written_as_png_and_svg(report):
    for name, paths in report.charts.items():
        assert [p.suffix for p in paths] == [".png", ".svg"], name
        png, svg = paths
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert "<svg" in svg.read_text()[:2000] and svg.stat().st_size > 10_000


def _small(tb, *, state="shared", faults=True, events=True):
    b = tb(orgs=("a", "b", "c"), vendors=("openai", "openai", "anthropic"), pods=2, state=state)
    b.meta["duration"] = 3600.0
    if faults:
        b.fault("a", 600, 1800, label="a locked")
        b.fault("openai", 2400, 3000, kind="outage", label="openai down")
    for i in range(400):
        t = i * 9.0
        org = "abc"[i % 3]
        out = QUOTA if org == "a" and 600 <= t < 1800 else OK
        b.request(t, [(org, t, t + 1 + (i % 7), out)], pod=i % 2)
    if events:
        b.event(620.0, "a", OPENED, pod=0)
        b.event(680.0, "a", HALF_OPEN, pod=0)
        b.event(681.0, "a", OPENED, pod=0, retry_cycles=1, block=120.0)
        b.event(1900.0, "a", CLOSED, pod=0)
        b.event(650.0, "a", OPENED, pod=1)
    return b.build()


def test_charts_handle_local_state_single_seed_and_quiet_runs(tb, tmp_path):
    runs = {
        "exponential": _small(tb, state="local"),
        "none": [_small(tb, events=False)],
    }
    out = charts.all_charts(runs, tmp_path, formats=("png",))
    assert all(len(v) == 1 and v[0].stat().st_size > 5_000 for v in out.values())
    quiet = {"quiet": _small(tb, faults=False, events=False)}
    for name in ("success_rate", "traffic_share", "breaker_timeline", "latency", "comparison"):
        (png,) = charts.CHARTS[name](quiet, tmp_path / "quiet", formats=("png",))
        assert png.stat().st_size > 5_000



def test_all_charts_bins_each_policy_once_and_draws_what_each_chart_bins_alone(tb, tmp_path, monkeypatch):
    """The success-rate, traffic-share and latency charts share one binning per policy (at 8M
    requests a binning costs seconds), and draw the same picture as when each bins alone."""
    runs = {"exponential": _small(tb), "none": [_small(tb, events=False)]}
    alone = {name: charts.CHARTS[name](runs, tmp_path / "alone", formats=("png",))[0].read_bytes()
             for name in ("success_rate", "traffic_share", "latency")}
    calls = []
    binning = charts.timeseries
    monkeypatch.setattr(charts, "timeseries", lambda rs, width: calls.append(width) or binning(rs, width))
    out = charts.all_charts(runs, tmp_path / "all", formats=("png",))
    assert len(calls) == len(runs)
    for name, png in alone.items():
        assert out[name][0].read_bytes() == png, name

def test_runs_of_different_scenarios_are_refused(tb):
    with pytest.raises(ValueError, match="compare runs of one scenario"):
        compute_results({"a": _small(tb), "b": _small(tb, faults=False)})


def test_report_without_faults_or_slo(tb, tmp_path):
    t = _small(tb, faults=False, events=False)
    paths = write_report({"none": [t]}, tmp_path, formats=("png",))
    assert paths.passed is None
    data = json.loads(paths.json.read_text())
    assert data["faults"] == [] and data["slo"] is None
    assert "no faults" in paths.html.read_text()


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "\u2013"), (1.0, "100 %"), (0.5, "50.00 %"), (0.99987, "99.987 %"), (0.9, "90.00 %")],
)
def test_fmt_rate(value, text):
    assert fmt_rate(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "never"), (0.25, "250 ms"), (42.0, "42.0 s"), (600.0, "10.0 min"), (7200.0, "2.0 h")],
)
def test_fmt_duration(value, text):
    assert fmt_duration(value) == text


def test_a_judged_value_shows_one_more_digit() -> None:
    from reports.format import format_metric

    # 99.896 % fails ">= 99.9%": the usual 99.90 % would read as a pass
    assert format_metric("success_rate", 0.99896) == "99.90 %"
    assert format_metric("success_rate", 0.99896, precise=True) == "99.896 %"
    assert format_metric("failover_time", 122.4, precise=True) == "2.04 min"


def test_an_interval_stops_where_the_metric_does() -> None:
    from reports.format import fmt_stat as _fmt_stat
    from reports.metrics import stat

    rate = stat([0.9999, 1.0, 0.99], lower=0.0, upper=1.0)
    assert rate.ci_high == 1.0 and rate.ci_low > 0.9
    assert _fmt_stat(rate, "rate").endswith("\u2013 100 %)")
    time = stat([1.0, 300.0, 2.0], lower=0.0)
    assert time.ci_low == 0.0
    assert _fmt_stat(time, "duration") == "101.0 s (95 %: 0 ms \u2013 8.8 min)"
    assert _fmt_stat(stat([100.0, 101.0, 102.0], lower=0.0), "duration") == "101.0 s ± 2.5 s"
