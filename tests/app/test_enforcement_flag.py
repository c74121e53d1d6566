"""``--enforcement``: a file's per-minute limits enforced per second without editing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakerlab.cli import main

#: a fan-out of 60 parallel requests every 10 minutes against one org of 600 RPM (10 a second):
#: per minute the burst fits, per second 50 of each burst meet a 429 at first
BURSTY = """\
name: bursty
seed: 3
duration: 1h
pods: 1
router: {max_attempts: 1, wait_for_capacity: false, pacing: false}
vendors:
  openai:
    orgs:
      - {name: a, enforcement: minute, limits: {gpt-4o-mini: {rpm: 600, tpm: 10M}}, error_rate: 0}
traffic:
  daily_volume: 0
  sessions: {per_day: 144, size: 60}
policies:
  - {name: none}
"""


def _run(tmp_path: Path, *extra: str) -> dict:
    f = tmp_path / "bursty.yaml"
    f.write_text(BURSTY, encoding="utf-8")
    out = tmp_path / ("out" + "".join(extra))
    assert main(["run", str(f), "--policy", "none", "--out", str(out), "-q", "--jobs", "1", *extra]) in (0, 1)
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _failed(results: dict) -> float:
    return float(results["policies"]["none"]["overall"]["failed_requests"]["mean"])


def test_per_second_enforcement_shows_the_bursts_429s_the_file_never_meets(tmp_path: Path) -> None:
    as_written = _run(tmp_path)
    per_second = _run(tmp_path, "--enforcement", "second")
    assert _failed(as_written) == 0
    assert _failed(per_second) > 0  # (one attempt, no waiting, no pacing: each refusal fails its request)
    assert per_second["scenario"]["name"] == "bursty (limits enforced per second)"
    assert as_written["scenario"]["name"] == "bursty"


def test_a_bad_window_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bursty.yaml"
    f.write_text(BURSTY, encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["run", str(f), "--policy", "none", "--enforcement", "hour"])
    assert e.value.code == 2
    assert "--enforcement" in capsys.readouterr().err
