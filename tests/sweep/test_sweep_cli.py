"""``breakerlab sweep`` end to end: outputs, JSON, progress lines, SIGTERM, the main CLI hook."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from breakerlab.sweep import main

ROOT = Path(__file__).resolve().parents[2]


def test_sweep_writes_results_summary_and_heatmaps(small_yaml: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main([str(small_yaml), "--policy", "exponential", "--grid", "threshold=1..3", "base_open=30s,2m",
                 "--seeds", "2", "--out", str(out), "--executor", "serial"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    # non-TTY progress: one line per run on stderr
    assert sum(1 for line in cap.err.splitlines() if line.startswith("[")) == 12
    assert "## Recommendation" in cap.out

    res = json.loads((out / "results.json").read_text())
    assert res["format"] == "breakerlab-sweep/2"
    assert len(res["rows"]) == 12 and len(res["settings"]) == 6
    row = res["rows"][0]
    assert set(row) == {"scenario", "setting", "params", "seed", "key", "metrics", "slo"}
    assert row["slo"] is None and "slo_result" not in row["metrics"]  # no SLO in this scenario
    assert row["scenario"] == "small-brownout-yaml" and row["params"] == {"threshold": 1, "base_open_time": 30.0}
    assert {"success_rate", "failover_time", "wasted_attempts", "flapping", "alerts_per_day"} <= set(row["metrics"])
    assert (out / "runs" / f"{row['key']}.json").is_file()
    rec = res["recommendation"]
    assert rec["setting"] in res["frontier"]
    assert rec["reason"].endswith(".") and "\n" not in rec["reason"]
    assert res["settings"][rec["setting"]]["recommended"] is True
    agg = res["settings"][0]
    assert agg["runs"] == 2 and agg["success_rate"]["n"] == 2

    charts = res["charts"]
    assert "charts/heatmap_success_rate__threshold__base_open_time.png" in charts
    assert len(charts) == 3  # the default objectives but the SLO margin (no SLO: no SLO heatmaps)
    for c in charts:
        assert (out / c).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert "## Pareto frontier" in summary and "✔ recommended" in summary
    assert "charts/heatmap_alerts_per_day__threshold__base_open_time.png" in summary


def test_json_output_and_one_parameter(small_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main([str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1,3,8", "--out", str(out),
                 "--executor", "serial", "--json"])
    cap = capsys.readouterr()
    assert code == 0 and cap.err == ""
    doc = json.loads(cap.out)
    assert doc["runs"] == {"total": 3, "computed": 3, "reused": 0, "failed": 0}
    assert doc["recommendation"]["params"]["threshold"] in (1, 3, 8)
    # one swept parameter: one-row heatmaps
    assert (out / "charts" / "heatmap_success_rate__threshold.png").is_file()
    # rerun: everything reused
    assert main([str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1,3,8", "--out", str(out),
                 "--executor", "serial", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"]["reused"] == 3


def test_random_search_cli(small_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = [str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1..20", "open_time=5s..2m",
            "--random", "4", "--sample-seed", "9", "--out", str(out), "--executor", "serial", "-q"]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["search"] == "random" and res["sample_seed"] == 9 and len(res["settings"]) == 4
    assert all(5.0 <= s["params"]["open_time"] <= 120.0 for s in res["settings"])


def test_sigterm_stops_and_says_how_to_resume(small_yaml: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "breakerlab.sweep", str(small_yaml), "--policy", "consecutive", "--grid",
           "threshold=1..5", "open_time=10s,20s", "--executor", "serial", "--out", str(out), "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "runs").glob("*.json"))) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err
    assert "Traceback" not in err


def test_main_cli_has_the_sweep_command() -> None:
    from breakerlab.cli import build_parser

    try:
        args = build_parser().parse_args(["sweep", "x.yaml", "--policy", "exponential", "--grid", "threshold=2..3"])
    except SystemExit:
        pytest.skip("breakerlab.cli.build_parser() does not call breakerlab.sweep.add_sweep_parser yet")
    assert args.func.__name__ == "cmd_sweep"
