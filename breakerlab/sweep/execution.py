"""Executing a plan: every run not stored yet, on an executor, each result stored as it comes
back; a run's metrics are what :func:`breakerlab.judge.run_and_judge` measured, cut to the
numbers a sweep keeps."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.metrics import TraceMetrics

from ..executors import SerialExecutor
from ..jobs import JobError
from ..judge import run_and_judge
from .plan import PlannedRun, RunTask, SweepPlan
from .store import atomic_write, clean_temp, dumps, load_run, run_config

__all__ = ["ProgressFn", "RunStats", "alerts_per_day", "execute_run", "run_metrics", "run_plan"]


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v)
    f = float(v)
    return f if math.isfinite(f) else None


def _worst(values: Sequence[float | None]) -> float | str | None:
    """Max over faults of a duration where None is "never" (worse than any time)."""
    if not values:
        return None
    if any(v is None for v in values):
        return "never"
    return max(float(v) for v in values if v is not None)


def alerts_per_day(m: TraceMetrics) -> float | None:
    """OPENED alerts per simulated day."""
    # merge: use alerts_per_day from metrics
    return m.alerts["opened"] / (m.duration / 86400.0) if m.duration > 0 else None


def run_metrics(m: TraceMetrics) -> dict[str, Any]:
    """The numbers a sweep keeps of one run's metrics (see :mod:`breakerlab.sweep` for the objectives)."""
    o = m.overall
    org_faults = [f for f in m.faults if f.window.org_fault]
    return {
        "success_rate": _num(o.success_rate),
        "session_success_rate": _num(o.session_success_rate),
        "requests": int(o.requests),
        "failed_requests": int(o.failed_requests),
        "retry_amplification": _num(o.retry_amplification),
        "latency_p50": _num(o.latency_p50),
        "latency_p95": _num(o.latency_p95),
        "latency_p99": _num(o.latency_p99),
        "failover_time": _worst([_num(f.failover_time_max) for f in org_faults]),
        "detection_time": _worst([_num(f.detection_time) for f in org_faults]),
        "user_visible_failures": int(sum(f.user_visible_failures for f in org_faults)),
        "wasted_attempts": int(m.wasted_attempts),
        "flapping": int(m.alerts["cycles"]),
        "opened": int(m.alerts["opened"]),
        "alerts_per_day": _num(alerts_per_day(m)),
        "faults": [
            {
                "label": f.window.label,
                "failover_time_max": _num(f.failover_time_max),
                "failover_time_median": _num(f.failover_time_median),
                "detection_time": _num(f.detection_time),
                "recovery_time": _num(f.recovery_time),
                "user_visible_failures": int(f.user_visible_failures),
                "wasted_attempts": int(f.wasted_attempts),
            }
            for f in org_faults
        ],
    }


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one simulation and compute its metrics (in a worker). Never raises an Exception:
    a failure comes back as ``{"key", "error"}``."""
    try:
        judged = run_and_judge(task.scenario, (task.policy, dict(task.params)), seeds=[task.seed], mode=task.mode)
        metrics = run_metrics(judged.metrics[0])
        # the run's own result: finish() judges it by the scenario's SLO (which may change without a rerun)
        metrics["slo_result"] = judged.result.model_dump(mode="json")
        out: dict[str, Any] = {"key": task.key, "metrics": metrics}
        if task.save_trace:
            out["trace"] = judged.traces[0]
        return out
    except JobError as e:
        return {"key": task.key, "error": e.detail.split(": ", 1)[1]}  # without the job's name
    except Exception as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        return {"key": task.key, "error": f"{type(e).__name__}: {msg}"}


@dataclass
class RunStats:
    total: int = 0
    reused: int = 0
    computed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


#: ``progress(done, total, run, metrics, error, reused)``
ProgressFn = Callable[[int, int, PlannedRun, Mapping[str, Any] | None, str | None, bool], Any]


def _run_record(plan: SweepPlan, r: PlannedRun, metrics: Mapping[str, Any]) -> dict[str, Any]:
    name, _, sha = plan.scenarios[r.scenario]
    return {
        "key": r.key,
        "config": {**run_config(sha, plan.policy_class, plan.full_params[r.setting], r.seed, plan.mode, plan.code),
                   "scenario_name": name},
        "metrics": metrics,
    }


def run_plan(
    plan: SweepPlan,
    out: str | Path,
    executor: Any = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[dict[str, dict[str, Any]], RunStats]:
    """Execute the runs not stored yet under ``out/runs``; return ``{key: metrics}`` of every run.

    ``progress(done, total, run, metrics, error, reused)`` is called after each run (the reused
    ones first, with ``reused=True``).
    Results are written as they complete; an interruption (KeyboardInterrupt) propagates after
    the executor is shut down, with every finished run on disk.
    """
    out = Path(out)
    runs_dir = out / "runs"
    traces_dir = out / "traces"
    runs_dir.mkdir(parents=True, exist_ok=True)
    clean_temp(runs_dir)
    unique = plan.unique_runs()
    stats = RunStats(total=len(unique))
    results: dict[str, dict[str, Any]] = {}
    todo: list[PlannedRun] = []
    for r in unique:
        rec = load_run(runs_dir / f"{r.key}.json", r.key)
        if rec is not None and (not plan.save_traces or (traces_dir / f"{r.key}.npz").exists()):
            results[r.key] = rec["metrics"]
        else:
            todo.append(r)
    stats.reused = len(results)
    done = 0
    if progress is not None:
        for r in unique:
            if r.key in results:
                done += 1
                progress(done, stats.total, r, results[r.key], None, True)
    t0 = time.perf_counter()
    executor = executor or SerialExecutor()
    tasks = [plan.task(r) for r in todo]
    gen = executor.map_unordered(execute_run, tasks)
    try:
        with contextlib.closing(gen):  # type: ignore[type-var]
            for i, res in gen:
                r = todo[i]
                err = res.get("error")
                if err:
                    stats.failed += 1
                    name = plan.scenarios[r.scenario][0]
                    stats.errors.append(f"{name} {plan.settings[r.setting].text()} seed {r.seed}: {err}")
                else:
                    if plan.save_traces and res.get("trace") is not None:
                        res["trace"].save(traces_dir / f"{r.key}.npz")
                    atomic_write(runs_dir / f"{r.key}.json", dumps(_run_record(plan, r, res["metrics"])))
                    results[r.key] = res["metrics"]
                    stats.computed += 1
                done += 1
                if progress is not None:
                    progress(done, stats.total, r, res.get("metrics"), err, False)
    finally:
        stats.elapsed = time.perf_counter() - t0
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    return results, stats
