"""The app layer's shared pieces: one run-and-judge, one progress display, errors that name
parameters (the CLI names flags), and imports that never point back at the CLI."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import sim
from breakerlab.errors import ParameterError, SweepError, flag_message
from breakerlab.executors import ExecutorError, make_executor
from breakerlab.judge import run_and_judge
from breakerlab.progress import Progress
from breakerlab.sweep import parse_axis, plan_sweep
from reports import evaluate_slo

APP = Path(__file__).resolve().parents[2] / "breakerlab"


def _scenario() -> sim.Scenario:
    return sim.default_scenario(duration=900).model_copy(update={"slo": {"success_rate": ">= 50%"}})


def test_run_and_judge_runs_each_seed_and_judges_like_evaluate_slo() -> None:
    sc = _scenario()
    judged = run_and_judge(sc, "consecutive", seeds=[3, 4], mode="fast")
    assert judged.label == "consecutive"
    assert [t.meta["seed"] for t in judged.traces] == [3, 4]
    direct = evaluate_slo(sc.slo, list(judged.traces), policy="consecutive")
    assert [c.as_dict() for c in judged.checks] == [c.as_dict() for c in direct]
    assert judged.passed == all(c.passed for c in direct)
    assert judged.result.seeds == [3, 4]


def test_run_and_judge_is_sim_run_and_takes_another_slo() -> None:
    sc = _scenario()
    judged = run_and_judge(sc, ("consecutive", {"threshold": 3}), label="c3", slo={"success_rate": ">= 100%"})
    again = sim.run(sc, ("consecutive", {"threshold": 3}), seed=sc.seed)
    assert judged.traces[0].n_requests == again.n_requests
    assert {c.policy for c in judged.checks} == {"c3"}
    assert judged.checks[0].threshold.startswith(">=")


def test_run_and_judge_logs_each_seeds_run_on_the_job_board(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("lines") as progress:
        judged = run_and_judge(_scenario(), "none", seeds=[1, 2], progress=progress)
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["[1/2] none · seed 1", "[2/2] none · seed 2"]
    assert f"{judged.traces[1].n_requests:,} requests" in lines[1]
    assert "ETA" in lines[0] and "ETA" not in lines[1]


def test_progress_lines_when_not_a_terminal_and_nothing_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("lines") as progress:
        task = progress.task("x", total=10)
        task.update(5, "half")
        task.sim_time(3600, 7200)
        task.log("ran x")
    with Progress("quiet") as progress:
        progress.task("y", total=1).log("not shown")
    assert capsys.readouterr().err == "ran x\n"


def test_api_errors_name_parameters_and_the_cli_names_flags() -> None:
    with pytest.raises(SweepError) as e:
        parse_axis("threshold=0..x", "exponential")
    assert str(e.value).startswith("grid: threshold=0..x: ")
    assert flag_message(e.value).startswith("--grid: threshold=0..x: ")
    with pytest.raises(SweepError, match=r"^seeds: must be at least 1"):
        plan_sweep([_scenario()], "exponential", seeds=0)
    with pytest.raises(ExecutorError) as x:
        make_executor("nope")
    assert flag_message(x.value, {"kind": "--executor"}).startswith("--executor: unknown executor 'nope'")
    with pytest.raises(ExecutorError) as x:
        make_executor("local", jobs=0)
    assert str(x.value) == "jobs: must be >= 1 (got 0)"
    assert flag_message(x.value) == "--jobs: must be >= 1 (got 0)"
    assert flag_message(ParameterError("min_duration", "must be > 0")) == "--min-duration: must be > 0"
    assert flag_message(ParameterError("", "a.yaml: bad")) == "a.yaml: bad"


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, inside a function) of each import in ``path`` (relative ones resolved)."""
    pkg = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        pkg += ".__init__"
    out = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(m) for f in funcs for m in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = pkg.rsplit(".", node.level)[0] if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            out += [(f"{mod}.{a.name}" if not node.module else mod, node.lineno, id(node) in inner) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in inner) for a in node.names]
    return out


def test_nothing_imports_the_cli_and_imports_sit_at_the_top() -> None:
    lazy_ok = {"distributed"}  # heavy and needed only by the dask executor
    for f in sorted(APP.rglob("*.py")):
        for mod, line, inside in _imports(f):
            # ``__main__`` is the CLI's second door (``python -m breakerlab``), not a user of it.
            cli_ok = f.name == "__main__.py" and f.parent == APP
            assert cli_ok or not mod.startswith("breakerlab.cli"), f"{f}:{line} imports the CLI"
            assert not inside or mod.split(".")[0] in lazy_ok, f"{f}:{line}: import {mod} inside a function"


def test_the_app_runs_scenarios_only_through_sim_run() -> None:
    for f in sorted(APP.rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        for banned in ("faults.run", "faults.runtime", "sim.engine", "evaluate_slo("):
            if banned == "evaluate_slo(" and f.name == "judge.py":
                continue
            assert banned not in text, f"{f} uses {banned}"


@pytest.mark.skipif(sys.platform == "win32", reason="paths")
def test_one_formatter_no_copies_in_the_app() -> None:
    for f in sorted(APP.rglob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not names & {"fmt_rate", "fmt_duration", "fmt_seconds", "fmt_count", "format_value"}, f
