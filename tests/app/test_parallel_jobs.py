"""Every multi-run command runs its (policy, seed) jobs on an executor: the results are the same
bytes whatever the job count, a failed job is one line, and running jobs show on the board."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import sim
from breakerlab import jobs as jobs_mod
from breakerlab.cli import main
from breakerlab.executors import LocalExecutor, SerialExecutor
from breakerlab.jobs import JobError, SimJob, run_jobs, simulate
from breakerlab.judge import judge_policies
from breakerlab.progress import JobBoard, Progress

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios" / "all-openai-orgs-down.yaml"


def _files(out: Path) -> dict[str, bytes]:
    names = ["results.json", "summary.md", *sorted(str(p.relative_to(out)) for p in (out / "traces").rglob("*")
                                                   if p.is_file())]
    return {n: (out / n).read_bytes() for n in names}


def test_compare_writes_the_same_bytes_with_one_job_and_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outs = {}
    for jobs in ("1", "2"):
        outs[jobs] = tmp_path / f"jobs{jobs}"
        code = main(["compare", str(LIBRARY), "--policy", "exponential", "--policy", "none", "--seeds", "2",
                     "--mode", "fast", "--jobs", jobs, "--out", str(outs[jobs]), "--json"])
        assert code in (0, 1)
    capsys.readouterr()
    one, two = _files(outs["1"]), _files(outs["2"])
    assert len([n for n in one if n.startswith("traces")]) >= 4  # 2 policies x 2 seeds, saved
    assert one.keys() == two.keys()
    for name in one:
        assert one[name] == two[name], name


def test_judge_policies_orders_traces_by_policy_and_seed_not_by_completion() -> None:
    sc = sim.default_scenario(duration=900)
    with LocalExecutor(2) as ex:
        judged = judge_policies(sc, [("n", "none"), ("c", "consecutive")], seeds=[5, 6], executor=ex)
    assert [j.label for j in judged] == ["n", "c"]
    assert [[t.meta["seed"] for t in j.traces] for j in judged] == [[5, 6], [5, 6]]
    assert [t.meta["policy"] for t in judged[1].traces] == ["consecutive", "consecutive"]
    again = sim.run(sc, "consecutive", seed=6)
    for table in ("requests", "attempts"):
        for col, values in again.__dict__[table].items():
            assert (judged[1].traces[1].__dict__[table][col] == values).all(), (table, col)



def test_a_job_runs_with_the_heap_frozen_then_gives_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The objects from before a job are frozen while it runs (its full collections skip them)
    and given back after; a process that froze objects of its own keeps them as they were."""
    seen: list[int] = []
    run = sim.run

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.get_freeze_count())
        return run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs_mod.sim, "run", spy)
    job = SimJob("none", sim.default_scenario(duration=300), "none", 1, "fast")
    assert gc.get_freeze_count() == 0
    simulate(job)
    assert seen[0] > 0 and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        own = gc.get_freeze_count()
        simulate(job)
        assert seen[1] == own  # not frozen again by the job...
        assert gc.get_freeze_count() > 0  # ...nor unfrozen after it (a few may have been freed)
    finally:
        gc.unfreeze()

def test_a_failed_job_is_one_error_naming_it(tmp_path: Path) -> None:
    sc = sim.default_scenario(duration=600)
    jobs = [SimJob("ok", sc, "none", 1, "fast"), SimJob("bogus", sc, "no-such-policy", 2, "fast")]
    for ex in (SerialExecutor(), LocalExecutor(2)):
        with ex, pytest.raises(JobError) as e:
            run_jobs(jobs, ex)
        text = str(e.value)
        assert text.startswith("bogus · seed 2: ") and "no-such-policy" in text
        assert "\n" not in text and "Traceback" not in text


@pytest.mark.parametrize("style", ["bar", "lines"])
def test_running_jobs_report_simulated_time_from_the_pool(style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shown as bars or as lines (not a terminal: CI's logs), the board hears running jobs'
    simulated time: the ETA its lines print counts the work of the jobs still running."""
    seen: list[tuple[int, float, float]] = []
    advance = JobBoard.advance

    def record(self: JobBoard, i: int, done: float, total: float) -> None:
        seen.append((i, done, total))
        advance(self, i, done, total)

    monkeypatch.setattr(JobBoard, "advance", record)
    sc = sim.default_scenario(duration=7200)
    jobs = [SimJob("none", sc, "none", s, "fast") for s in (1, 2)]
    with LocalExecutor(2) as ex, Progress(style) as progress:  # type: ignore[arg-type]
        traces = run_jobs(jobs, ex, progress)
    assert [t.meta["seed"] for t in traces] == [1, 2]
    assert {i for i, _, _ in seen} == {0, 1}  # both jobs' bars moved, from the worker processes
    assert all(total == 7200 for _, _, total in seen)


def test_a_quiet_board_hears_nothing_from_running_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(JobBoard, "advance", lambda self, i, done, total: seen.append(i))
    sc = sim.default_scenario(duration=7200)
    with SerialExecutor() as ex, Progress("quiet") as progress:
        run_jobs([SimJob("none", sc, "none", 1, "fast")], ex, progress)
    assert seen == []


def test_the_board_estimates_the_time_left_from_work_done() -> None:
    with Progress("quiet") as progress:
        board = progress.jobs(["a", "b"])
        assert board.eta() is None
        board.advance(0, 450, 900)
        eta = board.eta()
        assert eta is not None and eta > 0  # a quarter done: three times the elapsed time left
        board.finish(0)
        board.finish(1)
        assert board.eta() == 0


@pytest.mark.parametrize("command", [["compare", str(LIBRARY)], ["sweep", str(LIBRARY), "--policy", "consecutive",
                                                                  "--grid", "threshold=2,3"]])
def test_a_bad_job_count_is_one_line_naming_the_flag(command: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--jobs", "0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "breakerlab: --jobs: must be >= 1 (got 0)\n"
