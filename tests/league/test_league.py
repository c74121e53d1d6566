"""``breakerlab league`` on a tiny league: two library scenarios trimmed to a twentieth of their
true volume, two contenders, two seeds (each run well under a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakerlab.cli import main
from breakerlab.judge import run_and_judge
from breakerlab.league import CONTENDERS, Cell, LeagueError, ScenarioRow, league_markdown, library, run_league
from reports.metrics import stat

ROOT = Path(__file__).resolve().parents[2]
TINY = [str(ROOT / "scenarios" / "quiet-night.yaml"), str(ROOT / "scenarios" / "recovery-herd.yaml")]
SCALE = 0.05


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> object:
    work = tmp_path_factory.mktemp("league")
    return run_league(library(TINY, SCALE), ["none", "seed"], seeds=2, work=work)


def test_tiny_league_has_a_row_per_scenario_and_a_cell_per_contender(tiny: object) -> None:
    league = tiny
    assert [r.name for r in league.rows] == ["quiet-night", "recovery-herd"]
    for r in league.rows:
        assert list(r.cells) == ["none", "seed"]
        assert all(c.runs == 2 for c in r.cells.values())
        assert r.recommended == ""  # not a contender here: no sweep ran
    assert league.runs == 2 * 2 * 2 and league.tuning_runs == 0
    md = league_markdown(league)
    for r in league.rows:
        section = md.split(f"### {r.name}\n", 1)[1].split("### ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
        assert [line.split(" | ")[0][2:] for line in rows] == ["contender", "none", "seed exponential"]
    assert "How the recommendation was found" not in md
    assert "seeds 31, 32" in md and "seeds 37, 38" in md


def test_cells_are_the_runs_own_metrics(tiny: object) -> None:
    """A cell's figures are what a direct run of the scenario measures, seed by seed."""
    league = tiny
    _, _, sc = library(TINY[:1], SCALE)[0]
    judged = run_and_judge(sc, "seed", seeds=[31, 32])
    cell = league.rows[0].cells["seed"]
    assert cell.stats["success"].values == [m.overall.success_rate for m in judged.metrics]
    assert cell.stats["wasted attempts"].values == [float(m.wasted_attempts) for m in judged.metrics]
    assert cell.runs_passed == sum(
        run_and_judge(sc, "seed", seeds=[s]).passed for s in (31, 32))


def _cell(key: str, success: list[float], passed: int, runs: int = 3) -> Cell:
    st = stat(success, lower=0.0, upper=1.0)
    return Cell(key, {}, {"success": st}, runs, passed, True)


def test_beats_is_slo_first_then_non_overlapping_success_intervals() -> None:
    row = ScenarioRow("s", "s.yaml", 1.0, (1, 2, 3), {
        "recommended": _cell("recommended", [0.99, 0.991, 0.992], 3),
        "litellm": _cell("litellm", [0.999, 0.999, 0.999], 2),      # fails: the SLO decides
        "portkey": _cell("portkey", [0.95, 0.951, 0.952], 3),       # both pass, clearly lower
        "envoy-defaults": _cell("envoy-defaults", [0.98, 0.991, 0.999], 3),  # overlapping
        "seed": _cell("seed", [0.999, 0.9991, 0.9992], 3),           # both pass, clearly higher
    })
    assert row.beats("recommended", "litellm") == "win"
    assert row.beats("recommended", "portkey") == "win"
    assert row.beats("recommended", "envoy-defaults") == "tie"
    assert row.beats("recommended", "seed") == "loss"
    assert row.beats("recommended", "resilience4j-defaults") is None


def test_recommendation_is_tuned_on_other_seeds(tmp_path: Path) -> None:
    league = run_league(library(TINY[:1], SCALE), ["recommended"], seeds=1, tune_seeds=1,
                        grid=["threshold=2,3"], work=tmp_path)
    row = league.rows[0]
    assert row.recommended.startswith("threshold=")
    tuned = (tmp_path / "tuning" / "quiet-night" / "results.json").read_text(encoding="utf-8")
    assert '"seeds": [\n    1000\n   ]' in tuned  # the tuning seed, not the league's 31
    assert row.seeds == (31,)
    md = league_markdown(league)
    assert "How the recommendation was found" in md and "1000" in md


def _league(tmp: Path, work: str) -> tuple[int, bytes, bytes]:
    out = tmp / "docs" / "league.md"
    rc = main(["league", *TINY, "--scale", str(SCALE), "--contender", "none", "--contender", "seed",
               "--seeds", "2", "--jobs", "1", "-q", "--work", str(tmp / work), "--out", str(out),
               "--chart", str(tmp / "docs" / "league.png")])
    return rc, out.read_bytes(), (tmp / "docs" / "league.png").read_bytes()


def test_cli_writes_the_same_bytes_on_a_rerun_from_scratch(tmp_path: Path) -> None:
    rc1, md1, png1 = _league(tmp_path, "work-a")
    rc2, md2, png2 = _league(tmp_path, "work-b")  # nothing stored: every run again
    assert rc1 == rc2 == 0
    assert md1 == md2 and png1 == png2
    text = md1.decode("utf-8")
    assert "![SLO verdict per scenario and contender](league.png)" in text
    # the header names the command that wrote it
    assert "--contender none --contender seed --seeds 2 --scale 0.05 --out " in text


@pytest.mark.parametrize(("args", "needle"), [
    (["league", "scenarios/no-such-scenario.yaml"], "no-such-scenario.yaml"),
    (["league", TINY[0], "--contender", "hystrix"], "--contender: unknown contender 'hystrix'"),
    (["league", TINY[0], "--tune-seeds", "0"], "--tune-seeds: must be at least 1"),
    (["league", TINY[0], "--grid", "nonsense=1"], "--grid"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([*args, "--work", str(tmp_path / "w"), "--out", str(tmp_path / "l.md"), "--chart",
               str(tmp_path / "l.png"), "--jobs", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "l.md").exists()


def test_contender_names_are_checked_before_anything_runs() -> None:
    with pytest.raises(LeagueError, match="unknown contender"):
        run_league(library(TINY[:1], SCALE), ["none", "nope"])
    assert next(iter(CONTENDERS)) == "none" and "recommended" in CONTENDERS
