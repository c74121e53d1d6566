"""Who is judged, the exit code, and the ranking: the rule in reports.ranking, as `compare` applies
it, states it in summary.md / report.html, and exits by it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from breakerlab.cli import main
from reports.ranking import judged_policies, rank_policies
from reports.schema import SloCheckResult
from tests.fault_worlds import BROWNOUT_YAML

WORLD = BROWNOUT_YAML.replace("small-brownout-yaml", "judging-world") + 'slo: {success_rate: ">= 97%"}\n'
#: ``none`` keeps sending a third of the traffic to the browning-out org (about 90 % success);
#: ``consecutive`` takes it out
POLICIES = {
    "marked": "policies:\n  - {name: consecutive, expect_pass: true}\n  - {name: none}\n",
    "expect-fail-only": "policies:\n  - {name: consecutive}\n  - {name: none, expect_pass: false}\n",
    "unmarked": "policies:\n  - {name: none}\n  - {name: consecutive}\n",
}


def test_judged_rule() -> None:
    run = ["a", "b", "c"]
    assert judged_policies(run) == run  # nothing marked: all
    assert judged_policies(run, ["b"], ["c"]) == ["b"]  # marked true: only those
    assert judged_policies(run, [], ["c"]) == ["a", "b"]  # expected to fail: never judged
    assert judged_policies(run, ["x"], ["a"]) == ["b", "c"]  # the marked one did not run
    assert judged_policies(["a"], [], ["a"]) == []


def _check(policy: str, value: float, passed: bool, metric: str = "success_rate", th: str = ">= 99%") -> SloCheckResult:
    return SloCheckResult(policy=policy, metric=metric, phase="overall", fault=None, value=value, threshold=th,
                          passed=passed, note="")


def test_ranking_puts_passing_first_then_the_widest_margin() -> None:
    checks = [
        _check("wide-fail", 0.985, False),  # margin -50 %
        _check("narrow-pass", 0.991, True),  # +10 %
        _check("narrow-pass", 10.0, True, "p99_latency", "<= 30s"),  # +67 %: not the binding one
        _check("wide-pass", 0.999, True),  # +90 %
        _check("close-fail", 0.989, False),  # -10 %
    ]
    res = SimpleNamespace(policies={n: None for n in ("wide-fail", "narrow-pass", "wide-pass", "close-fail")},
                          slo=SimpleNamespace(judged=["wide-fail", "narrow-pass", "wide-pass", "close-fail"],
                                              checks=checks, passed=False))
    ranked = rank_policies(res)
    assert [r.policy for r in ranked] == ["wide-pass", "narrow-pass", "close-fail", "wide-fail"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4]
    assert ranked[1].verdict.binding.metric == "success_rate"
    assert ranked[1].verdict.margin == pytest.approx(0.1)


def _compare(tmp_path: Path, policies: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    path = tmp_path / "world.yaml"
    path.write_text(WORLD + policies, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["compare", str(path), "--out", str(out), "--jobs", "1", "-q"])
    printed = capsys.readouterr().out
    return code, printed, json.loads((out / "results.json").read_text())


def test_marked_policies_alone_decide_the_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, res = _compare(tmp_path, POLICIES["marked"], capsys)
    assert res["slo"]["judged"] == ["consecutive"]
    assert any(not c["passed"] for c in res["slo"]["checks"] if c["policy"] == "none")  # none fails, unjudged
    assert code == 0
    assert "Judged: consecutive; compared only: none" in printed
    assert "Exit code 0 — every judged policy met every check" in printed
    assert "Winner:" not in printed  # marks say who matters: no winner is named
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Judging and ranking" in html and "Judged: consecutive; compared only: none" in html


def test_policies_expected_to_fail_are_never_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, res = _compare(tmp_path, POLICIES["expect-fail-only"], capsys)
    assert res["slo"]["judged"] == ["consecutive"] and code == 0
    assert "Judged: consecutive; compared only: none" in printed


def test_unmarked_all_judged_ranked_and_a_winner_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, res = _compare(tmp_path, POLICIES["unmarked"], capsys)
    assert res["slo"]["judged"] == ["none", "consecutive"]
    assert code == 1  # none fails, and it is judged
    assert "Exit code 1 — a judged policy failed a check" in printed
    rows = [line for line in printed.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert rows[0].startswith("| 1 | `consecutive` | PASS") and rows[1].startswith("| 2 | `none` | FAIL")
    assert "**Winner: consecutive — meets every SLO check with the widest margin" in printed
