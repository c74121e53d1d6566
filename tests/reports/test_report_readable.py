"""The report reads the same everywhere: PASS/FAIL as words, the alert log counted and folded with
the full log in a file, the seeds stated, wasted attempts labelled as what they are, and fault
windows that never tint the data."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import pytest
from matplotlib.colors import to_rgba

from breakerlab.command import paint_verdicts
from reports import charts
from reports.format import fmt_count, fmt_stat
from reports.metrics import compute_results, trace_fault_windows
from reports.render import (
    ALERT_LIMIT,
    WASTED_TOTAL,
    render_markdown,
    seeds_text,
    wasted_label,
    write_report,
)
from reports.why import attach_why
from sim.trace import EVENT_KINDS

OPENED, HALF_OPEN, CLOSED = 0, 1, 2


@pytest.fixture(scope="module")
def report(traces, tmp_path_factory):
    return write_report(traces, tmp_path_factory.mktemp("readable"), formats=("png",))


def _two_org_faults(trace):
    """The synthetic trace with a second org fault (secondary1 on day 0)."""
    extra = {"kind": "lockout", "target": "secondary1", "start": 3600.0, "end": 7200.0, "label": "early lock"}
    return dataclasses.replace(trace, meta={**trace.meta, "faults": [*trace.meta["faults"], extra]})


# --------------------------------------------------------------------------- PASS / FAIL


def test_verdicts_are_coloured_words_in_html(report):
    page = report.html.read_text()
    # the summary and the SLO checks: the word, in a class the stylesheet colours
    assert '<span class="verdict pass">PASS</span>' in page
    assert re.search(r'<span class="verdict fail">FAIL \(\d+ failed\)</span>', page)
    assert '<span class="verdict fail">FAIL</span>' in page
    assert ".pass{" in page and ".fail{" in page
    assert '<span class="badge fail">SLO FAILED</span>' in page
    assert "\u2705" not in page and "\u274c" not in page  # no emoji-only verdicts left


def test_markdown_keeps_the_word_beside_the_emoji(report):
    md = report.markdown.read_text()
    assert "\u2705 PASS |" in md and "\u274c FAIL (" in md
    crosses = [line.split("\u274c", 1)[1] for line in md.splitlines() if "\u274c" in line]
    assert crosses and all(rest.lstrip().startswith("FAIL") for rest in crosses)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_colours_verdicts_only_on_a_tty(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = "| `a` | \u2705 PASS |\n| `b` | \u274c FAIL (2 failed) |\nSLO FAILED: b"
    assert paint_verdicts(text, io.StringIO()) == text
    painted = paint_verdicts(text, _Tty())
    assert "\033[1;32mPASS\033[0m" in painted
    assert painted.count("\033[1;31m") == 2  # FAIL and FAILED
    assert re.sub(r"\033\[[0-9;]*m", "", painted) == text
    assert paint_verdicts("PASSWORD FAILOVER", _Tty()) == "PASSWORD FAILOVER"  # whole words only
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint_verdicts(text, _Tty()) == text


# --------------------------------------------------------------------------- alerts


def _posted_count(trace) -> int:
    return sum(EVENT_KINDS[int(k)] != "HALF_OPEN" for k in trace.events["kind"])


def test_alert_csv_is_written_and_complete(report, traces):
    assert sorted(p.name for p in report.alerts) == ["exponential.csv", "none.csv"]
    path = report.out_dir / "alerts" / "exponential.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    runs = traces["exponential"]
    assert len(rows) == sum(_posted_count(t) for t in runs) > ALERT_LIMIT
    assert {r["kind"] for r in rows} == {"OPENED", "CLOSED"}
    for t in runs:  # every seed, in time order, the trace's own times
        mine = [r for r in rows if r["seed"] == str(t.meta["seed"])]
        times = [float(r["sim_time_s"]) for r in mine]
        assert times == sorted(times) and len(mine) == _posted_count(t)
        kept = sorted(float(x) for x, k in zip(t.events["time"], t.events["kind"], strict=True) if k != HALF_OPEN)
        assert times == kept
    assert rows[0]["org"] == "primary" and rows[0]["message"].endswith("Circuit Breaker OPENED")
    none_rows = (report.out_dir / "alerts" / "none.csv").read_text().splitlines()
    assert len(none_rows) == 1  # the header only: no breaker, no alerts


def test_alert_log_is_counted_per_org_and_folded(report, traces):
    page = report.html.read_text()
    section = page[page.index("<h2>Alerts</h2>"):]
    assert section.count('<div class="msg">') == ALERT_LIMIT  # exponential's first 20; 'none' has none
    n = _posted_count(traces["exponential"][0])
    assert f"exponential — first {ALERT_LIMIT} of {n:,} alerts, seed 1" in section
    assert "none — no alerts, seed 1" in section
    assert "<details open" not in section  # folded
    assert '<a href="alerts/exponential.csv">alerts/exponential.csv</a>' in section
    # the counts table: OPENED / CLOSED per run, mean over the two seeds, for the one org that tripped
    res = compute_results(traces)
    opened = sum(b.opened.mean for b in res.policies["exponential"].breakers)
    closed = sum(b.closed.mean for b in res.policies["exponential"].breakers)
    assert '<th class="">primary</th>' in section
    assert f">{fmt_count(opened)} / {fmt_count(closed)}</td>" in section
    assert "mean per run over 2 seeds" in section


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    ("seeds", "text"),
    [
        ([7], "1 seed: 7"),
        ([1, 2, 3, 4, 5], "5 seeds: 1\u20135"),
        ([1, 2], "2 seeds: 1, 2"),
        ([9, 1, 2, 3], "4 seeds: 1\u20133, 9"),
        ([0, 5, 6, 7, 20], "5 seeds: 0, 5\u20137, 20"),
    ],
)
def test_seeds_text(seeds, text):
    assert seeds_text(seeds) == text


def test_facts_table_states_seed_count_and_values(report, traces, tmp_path):
    assert "<tr><td>seeds</td><td>2 seeds: 1, 2</td></tr>" in report.html.read_text()
    one = write_report({"exponential": [traces["exponential"][0]]}, tmp_path, formats=("png",), save=False)
    page = one.html.read_text()
    assert "<tr><td>seeds</td><td>1 seed: 1</td></tr>" in page
    assert "1 seed ·" in page  # the headline agrees


# --------------------------------------------------------------------------- wasted attempts


def _md_header(md: str) -> list[str]:
    line = next(x for x in md.splitlines() if x.startswith("| policy | success |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_wasted_attempts_labelled_alike_in_html_and_markdown(report):
    label = wasted_label("primary billing lock")
    page, md = report.html.read_text(), report.markdown.read_text()
    assert f">{label}</th>" in page and label in _md_header(md)
    assert WASTED_TOTAL not in page and WASTED_TOTAL not in md  # one org fault: no separate total
    assert ">wasted attempts</th>" not in page and "wasted attempts" not in _md_header(md)


def test_several_org_faults_show_the_first_and_the_total(traces, tmp_path):
    two = {k: [_two_org_faults(t) for t in v] for k, v in traces.items()}
    paths = write_report(two, tmp_path, formats=("png",), save=False)
    page, md = paths.html.read_text(), paths.markdown.read_text()
    res = compute_results(two)
    head = _md_header(md)
    # the summary in both: the first org fault's columns, then the run total, each named as such
    for label in (wasted_label("primary billing lock"), WASTED_TOTAL):
        assert label in head and f">{label}</th>" in page
    assert wasted_label("early lock") not in head and f">{wasted_label('early lock')}</th>" not in page
    assert "<h3>early lock</h3>" in page  # its own table, under Faults
    # the same figure under the same label in both
    total = fmt_stat(res.policies["none"].wasted_attempts, "count")
    row = next(x for x in md.splitlines() if x.startswith("| `none` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[head.index(WASTED_TOTAL)] == total
    html_row = page[page.index("<td class=\"l\"><b>none</b>"):]
    html_cells = re.findall(r"<td[^>]*>([^<]*)</td>", html_row[:html_row.index("</tr>")])
    assert html_cells[-2] == total  # before the breaker opens (and the verdict span)
    attach_why(res, two)  # (the report adds each policy's why block)
    assert render_markdown(res) == md


# --------------------------------------------------------------------------- charts


@pytest.fixture(scope="module")
def figures(traces, tmp_path_factory):
    """Every chart's figure, caught before it is closed."""
    caught = {}
    save = charts._save

    def keep(fig, out_dir, name, formats):
        fig.canvas.draw()
        caught[name] = (fig, [a.get_window_extent() for a in fig.axes])
        return save(fig, out_dir, name, formats)

    mp = pytest.MonkeyPatch()
    mp.setattr(charts, "_save", keep)
    try:
        charts.all_charts(traces, tmp_path_factory.mktemp("charts"), formats=("png",))
    finally:
        mp.undo()
    return caught


@pytest.mark.parametrize("name", ["success_rate", "traffic_share", "breaker_timeline", "latency"])
def test_fault_windows_do_not_tint_the_data(figures, name):
    fig, boxes = figures[name]
    strips, edges = [], []
    for ax, box in zip(fig.axes, boxes, strict=False):
        for patch in ax.patches:  # no translucent span over the plot area (it recoloured the data)
            ext = patch.get_window_extent()
            alpha = patch.get_alpha() if patch.get_alpha() is not None else to_rgba(patch.get_facecolor())[3]
            full_height = ext.y0 <= box.y0 + 1 and ext.y1 >= box.y1 - 1
            assert not (full_height and alpha < 1), f"{name}: a translucent span covers the plot"
        strips += [(line, box) for line in ax.lines if line.get_gid() == "fault-strip"]
        edges += [line for line in ax.lines if line.get_gid() == "fault-edge"]
    # the windows are still marked: strips above the top panel, dashed lines at onset and end
    assert len(strips) == 2  # the billing lock and the launch surge, named once, on the top panel
    for line, box in strips:
        assert line.get_window_extent().y0 >= box.y1
    assert edges and all(line.get_linestyle() == "--" for line in edges)
    assert {round(x, 3) for e in edges for x in e.get_xdata()} >= {round((86400 + 7200) / 86400, 3)}


def test_slo_thresholds_drawn_over_their_phase(traces):
    t = traces["exponential"][0]
    windows = trace_fault_windows(t)
    lock = next(w for w in windows if w.label == "primary billing lock")
    slo = {"p99_latency": {"during:primary billing lock": "<= 30s", "overall": "<= 1m"}, "success_rate": ">= 99%"}
    lines = charts._slo_lines({"slo": slo}, "p99_latency", windows, 1000.0 * 86400)
    assert {(ln.start, ln.end, ln.value, ln.where) for ln in lines} == {
        (0.0, 1000.0 * 86400, 60.0, ""),
        (lock.start, lock.end, 30.0, "during primary billing lock"),
    }
    assert [ln.value for ln in charts._slo_lines({"slo": slo}, "success_rate", windows, 1.0)] == [0.99]
    # "after" with no label: one span per fault, from its end to the run's end
    after = charts._slo_lines({"slo": {"success_rate": {"after": ">= 99%"}}}, "success_rate", windows, 3 * 86400.0)
    assert sorted((ln.start, ln.end) for ln in after) == sorted((w.end, 3 * 86400.0) for w in windows)
