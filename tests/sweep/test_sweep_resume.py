"""Atomic result files, and resuming an interrupted or killed sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sweep_helpers import small_scenario

from breakerlab.executors import SerialExecutor
from breakerlab.sweep import atomic_write, execute_run, main, plan_sweep, run_plan, sweep

ROOT = Path(__file__).resolve().parents[2]
GRID = ["threshold=1,3", "open_time=10s,30s"]


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "runs").iterdir())}


class InterruptAfter:
    """Serial executor that is 'killed' (KeyboardInterrupt) after ``n`` results."""

    name = "interrupt"
    workers = 1

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def describe(self) -> str:
        return "test"

    def map_unordered(self, fn: Any, items: Any) -> Any:
        for i, item in enumerate(items):
            if i == self.n:
                raise KeyboardInterrupt
            self.calls += 1
            yield i, fn(item)


class Counting(SerialExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []

    def map_unordered(self, fn: Any, items: Any) -> Any:
        self.ran += [t.key for t in items]
        yield from super().map_unordered(fn, items)


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "d" / "r.json"
    atomic_write(p, "old")
    atomic_write(p, b"new")
    assert p.read_bytes() == b"new"
    assert [x.name for x in p.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.json"
    atomic_write(p, "old")

    def boom(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(p, "new and longer")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]


# --------------------------------------------------------------------------- resume


def test_interrupted_sweep_resumes_without_recomputing(tmp_path: Path) -> None:
    sc = small_scenario()
    ref = sweep([sc], "consecutive", GRID, seeds=2, out=tmp_path / "ref", charts=False)
    assert ref.stats.computed == 8 and ref.stats.failed == 0

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        sweep([sc], "consecutive", GRID, seeds=2, out=out, executor=InterruptAfter(3), charts=False)
    first = _files(out)
    assert len(first) == 3
    assert not (out / "results.json").exists()

    counting = Counting()
    res = sweep([sc], "consecutive", GRID, seeds=2, out=out, executor=counting, charts=False)
    assert res.stats.reused == 3
    assert res.stats.computed == 5 == len(counting.ran)
    assert not set(counting.ran) & {n[:-5] for n in first}  # finished runs were not recomputed
    # identical to the sweep that was never interrupted: every run file and results.json
    assert _files(out) == _files(tmp_path / "ref")
    assert (out / "results.json").read_bytes() == (tmp_path / "ref" / "results.json").read_bytes()
    assert (out / "summary.md").read_bytes() == (tmp_path / "ref" / "summary.md").read_bytes()

    # a third run computes nothing
    again = Counting()
    res = sweep([sc], "consecutive", GRID, seeds=2, out=out, executor=again, charts=False)
    assert again.ran == [] and res.stats.reused == 8


def test_resume_skips_exactly_the_finished_runs(tmp_path: Path) -> None:
    plan = plan_sweep([small_scenario()], "consecutive", GRID, seeds=1)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, out, InterruptAfter(2))
    finished = {p.stem for p in (out / "runs").glob("*.json")}
    assert finished == {r.key for r in plan.runs[:2]}
    counting = Counting()
    _, stats = run_plan(plan, out, counting)
    assert set(counting.ran) == {r.key for r in plan.runs[2:]}
    assert (stats.reused, stats.computed) == (2, 2)


def test_corrupt_or_foreign_run_file_is_recomputed(tmp_path: Path) -> None:
    plan = plan_sweep([small_scenario()], "consecutive", ["threshold=2,3"])
    out = tmp_path / "out"
    run_plan(plan, out)
    k0, k1 = plan.runs[0].key, plan.runs[1].key
    (out / "runs" / f"{k0}.json").write_text("{not json")
    (out / "runs" / f"{k1}.json").write_text(json.dumps({"key": "someone-else", "metrics": {}}))
    (out / "runs" / f".{k0}.json.abc.tmp").write_text("half")  # left by a killed writer
    counting = Counting()
    _, stats = run_plan(plan, out, counting)
    assert sorted(counting.ran) == sorted([k0, k1]) and stats.reused == 0
    assert not list((out / "runs").glob("*.tmp"))
    assert json.loads((out / "runs" / f"{k0}.json").read_text())["key"] == k0


def test_failed_runs_are_reported_and_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_sweep([small_scenario()], "consecutive", ["threshold=2,3"])
    bad = plan.runs[1].key
    import sim

    real = sim.run

    def flaky(scenario: Any, policy: Any, **kw: Any) -> Any:
        if policy[1]["threshold"] == 3:
            raise RuntimeError("engine exploded\nsecond line")
        return real(scenario, policy, **kw)

    monkeypatch.setattr(sim, "run", flaky)
    results, stats = run_plan(plan, tmp_path)
    assert stats.failed == 1 and stats.computed == 1 and bad not in results
    assert not (tmp_path / "runs" / f"{bad}.json").exists()
    assert stats.errors == ["small-brownout threshold=3 seed 1: RuntimeError: engine exploded second line"]


def test_execute_run_never_raises() -> None:
    plan = plan_sweep([small_scenario()], "consecutive", ["threshold=2"])
    task = plan.task(plan.runs[0])
    bad = type(task)(task.key, None, task.policy, task.params, task.seed, task.mode)
    out = execute_run(bad)
    assert out["key"] == task.key and "error" in out


def test_saved_traces(tmp_path: Path) -> None:
    res = sweep([small_scenario()], "consecutive", ["threshold=2"], out=tmp_path, save_traces=True, charts=False)
    key = res.rows[0]["key"]
    from sim import Trace

    tr = Trace.load(tmp_path / "traces" / f"{key}.npz")
    assert tr.meta["policy"] == "consecutive" and tr.n_requests > 0


# --------------------------------------------------------------------------- a real kill


def test_killed_cli_sweep_keeps_finished_runs_and_resumes(
    small_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(small_yaml), "--policy", "consecutive", "--grid", "threshold=1..4", "open_time=10s,20s",
            "--jobs", "1", "--out", str(out), "-q"]
    cmd = [sys.executable, "-m", "breakerlab.sweep", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if runs.is_dir() and len(list(runs.glob("*.json"))) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    kept = {p.name: p.read_bytes() for p in runs.glob("*.json")}
    assert 3 <= len(kept) < 8
    for name, data in kept.items():  # no half-written result under a result's name
        assert json.loads(data)["key"] == name[:-5]

    assert main([*args[:-1], "--json"]) == 0  # the same command again (in this process)
    report = json.loads(capsys.readouterr().out)
    assert report["runs"]["reused"] == len(kept)
    assert report["runs"]["computed"] == 8 - len(kept)
    assert not list(runs.glob(".*.tmp"))
    for name, data in kept.items():  # finished results were not rewritten
        assert (runs / name).read_bytes() == data
