"""Sweeps judged by the scenario's SLO: margins, the recommendation rule, the binding check,
``--objective``, the SLO heatmaps and colourbar ticks that read apart."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
from sweep_helpers import SMALL_YAML, small_scenario

from breakerlab.sweep import SettingVerdict, main, recommend, sweep
from reports.format import fmt_duration
from reports.ranking import check_margin
from reports.sweep_charts import SLO_MARGIN, colorbar_ticks, heatmap_figure, metric_spec

#: recovery within a minute of the brownout's end: a 10 s open time recovers, a 10 min one never does
RECOVERY_SLO = {"success_rate": ">= 50%", "recovery_time": {"fault": "<= 60s"}}
GRID = ["threshold=2", "open_time=10s,10m"]


def test_the_slo_passing_setting_wins_though_it_loses_on_every_old_objective(tmp_path: Path) -> None:
    res = sweep([small_scenario(slo=RECOVERY_SLO)], "consecutive", GRID, out=tmp_path, charts=False)
    fast, slow = res.settings  # open_time 10s, 10m
    # the 10-minute breaker keeps the browning-out org away: better success, fewer wasted attempts...
    assert slow["objectives"]["success_rate"] > fast["objectives"]["success_rate"]
    assert slow["objectives"]["wasted_attempts"] < fast["objectives"]["wasted_attempts"]
    # ...but never lets it back after the fault: the SLO's recovery check fails
    assert slow["slo"]["passed"] is False and slow["slo"]["binding"]["metric"] == "recovery_time"
    assert slow["slo"]["margin_text"] == "never"
    assert fast["slo"]["passed"] is True and fast["slo"]["margin"] > 0
    rec = res.recommendation
    assert rec is not None and rec.index == fast["id"] and rec.rule == "slo-pass" and rec.passed is True
    assert "binding check: success_rate [overall]" in rec.reason
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["recommendation"]["passed"] is True
    assert doc["recommendation"]["binding"]["metric"] == "success_rate"
    assert doc["recommendation"]["binding_text"].startswith("success_rate [overall] = ")
    assert [r["slo"]["passed"] for r in doc["rows"]] == [True, False]
    summary = (tmp_path / "summary.md").read_text()
    assert "**Binding check:** success_rate [overall]" in summary
    assert "Judged by the SLO of small-brownout" in summary


def test_none_passing_names_the_closest_by_how_much_and_the_binding_check(small_yaml: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "strict.yaml"
    path.write_text(SMALL_YAML + 'slo: {success_rate: ">= 99.99%"}\n', encoding="utf-8")
    out = tmp_path / "out"
    code = main([str(path), "--policy", "consecutive", "--grid", "threshold=1,50", "--out", str(out),
                 "--executor", "serial", "-q"])
    printed = capsys.readouterr().out
    assert code == 1  # no setting meets the SLO
    doc = json.loads((out / "results.json").read_text())
    rec = doc["recommendation"]
    margins = {s["params"]["threshold"]: s["slo"]["margin"] for s in doc["settings"]}
    assert all(m < 0 for m in margins.values())
    assert rec["params"]["threshold"] == max(margins, key=lambda k: margins[k])  # the closest
    assert rec["passed"] is False and rec["binding"]["metric"] == "success_rate"
    assert rec["reason"].startswith("No setting meets every SLO check in every run; the closest is threshold=")
    assert f"misses by {rec['margin_text'].lstrip('-')} on success_rate [overall]" in rec["reason"]
    assert "No setting meets the SLO. Closest:" in printed and "**Binding check:** success_rate" in printed


def test_unknown_objective_is_one_line_naming_the_valid_ones(small_yaml: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1,2", "--objective", "speed",
                 "--out", str(tmp_path / "o"), "--executor", "serial", "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("--objective: unknown objective 'speed' (valid: slo_margin, success_rate,")
    assert "alerts_per_day" in err
    assert not (tmp_path / "o" / "runs").exists() or not list((tmp_path / "o" / "runs").iterdir())


def test_chosen_objectives_make_the_frontier(small_yaml: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1,4,50", "--objective",
                 "alerts_per_day", "--out", str(out), "--executor", "serial", "-q"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert [o["name"] for o in doc["objectives"]] == ["alerts_per_day"]
    alerts = [s["objectives"]["alerts_per_day"] for s in doc["settings"]]
    best = min(alerts)
    assert [doc["settings"][j]["objectives"]["alerts_per_day"] for j in doc["frontier"]] == \
        [a for a in alerts if a == best]
    assert alerts[0] > alerts[2]  # a threshold of 1 trips (and pages) more than 50
    assert doc["rows"][0]["metrics"]["alerts_per_day"] == pytest.approx(
        doc["rows"][0]["metrics"]["opened"] / (600 / 86400))


def _verdict(passed: bool, margin: float, metric: str = "p99_latency") -> SettingVerdict:
    binding = {"metric": metric, "phase": "overall", "fault": None, "value": 1.0, "threshold": "<= 2s",
               "passed": passed, "scenario": "s", "seed": 1, "margin": margin}
    return SettingVerdict(passed, margin, binding, 3, 3 if passed else 0, 0 if passed else 1)


def test_recommend_widest_margin_then_wasted_then_alerts() -> None:
    pts = [{"success_rate": 1.0, "wasted_attempts": w, "alerts_per_day": a} for w, a in ((1, 1), (9, 9), (5, 9),
                                                                                       (5, 3), (0, 0))]
    vs = [_verdict(True, 0.10), _verdict(True, 0.30), _verdict(True, 0.30), _verdict(True, 0.30),
          _verdict(False, -0.01)]
    rec = recommend(pts, vs, labels=list("abcde"))
    assert rec is not None and rec.index == 3  # widest margin; of the tie, fewer wasted, then fewer alerts
    assert "2 other setting(s) tie on margin" in rec.reason
    assert rec.candidates == (0, 1, 2, 3)


def test_check_margins_are_relative_to_the_threshold() -> None:
    def C(metric: str, value: float | None, threshold: str, passed: bool = True) -> SimpleNamespace:
        return SimpleNamespace(metric=metric, value=value, threshold=threshold, passed=passed)

    assert check_margin(C("p99_latency", 9.0, "<= 12s")) == pytest.approx(0.25)
    assert check_margin(C("p99_latency", 18.0, "<= 12s", False)) == pytest.approx(-0.5)
    # a rate's lower bound: the share of the failure budget left
    assert check_margin(C("success_rate", 0.999, ">= 99.8%")) == pytest.approx(0.5)
    assert check_margin(C("success_rate", 0.996, ">= 99.8%", False)) == pytest.approx(-1.0)
    assert check_margin(C("failover_time", None, "<= 5m", False)) == -math.inf  # never
    assert check_margin(C("recovery_time", None, "<= 5m")) is None  # n/a: binds nothing
    assert check_margin(C("failed_requests", 3, "<= 0", False)) == pytest.approx(-3.0)  # a floor of 1


def test_colourbar_ticks_read_apart() -> None:
    compact = partial(fmt_duration, compact=True)
    lo, hi = 118.2 * 60, 119.1 * 60
    ticks = colorbar_ticks(lo, hi, compact)
    labels = [compact(t) for t in ticks]
    assert len(ticks) >= 2 and len(set(labels)) == len(labels)
    assert colorbar_ticks(7100.0, 7101.0, compact) == [7100.5]  # nothing tells them apart: one tick
    # the drawn heatmap: every colourbar label distinct
    pts = [{"params": {"threshold": t}, "metrics": {"failover_time": v * 60}}
           for t, v in ((2, 118.2), (3, 118.5), (4, 119.1))]
    fig = heatmap_figure(pts, "threshold", None, "failover_time", metric_spec("failover time", "min", "duration"))
    try:
        fig.canvas.draw()
        cbar_ax = fig.axes[-1]
        drawn = [t.get_text() for t in cbar_ax.get_yticklabels() if t.get_text()]
    finally:
        plt.close(fig)
    assert len(drawn) >= 2 and len(set(drawn)) == len(drawn)


def test_margin_heatmap_is_red_below_zero_and_names_the_binding_metric() -> None:
    pts = [{"params": {"t": t}, "metrics": {"slo_margin": m}, "notes": {"slo_margin": "p99_latency"}}
           for t, m in ((1, -0.09), (2, 0.015), (3, -math.inf))]
    fig = heatmap_figure(pts, "t", None, "slo_margin", SLO_MARGIN)
    try:
        ax = fig.axes[0]
        texts = [t.get_text() for t in ax.texts]
        im = ax.images[0]
        failing, passing = float(im.norm(-0.09)), float(im.norm(0.015))
    finally:
        plt.close(fig)
    assert texts == ["-9 %\np99_latency", "+1.5 %\np99_latency", "never\np99_latency"]
    assert failing < 0.5 < passing  # the colour turns at 0 however lopsided the values


def test_a_never_margin_prints_never_and_no_slo_prints_n_a() -> None:
    from breakerlab.sweep.pareto import objective_text

    assert objective_text({"slo_margin": None, "slo_margin_never": True}, "slo_margin") == "never"
    assert objective_text({"slo_margin": None}, "slo_margin") == "n/a"
    assert objective_text({"slo_margin": 0.015}, "slo_margin").startswith("+1.5")
