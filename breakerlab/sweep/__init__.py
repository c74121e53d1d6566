"""Threshold sweeps: grid and random search over a policy's parameters, with resume.

    breakerlab sweep scenarios/one-org-diverges.yaml --policy exponential \\
        --grid threshold=2..8 base_open_time=30s,60s,120s --seeds 5 --out sweep/ \\
        [--objective success_rate --objective alerts_per_day]

or from Python::

    from breakerlab.sweep import sweep
    result = sweep([scenario], "exponential", ["threshold=2..8", "base_open_time=30s,60s,120s"],
                   seeds=5, out="sweep/")
    result.recommendation.reason      # which setting, its margin, the check that binds

Search space
------------
``--grid`` takes one ``NAME=VALUES`` per parameter of the policy's pydantic model (a unique
prefix of the name is enough: ``base_open`` = ``base_open_time``):

* ``name=a..b`` — every integer from a to b, both included;
* ``name=a..b:step`` — a, a+step, … up to b (numbers or durations: ``30s..2m:30s``);
* ``name=v1,v2,v3`` — these values, human units allowed (``30s,1m,2m``; ``count,time``).

Every value is validated by the policy's own model: a bad name or value is one line naming the
parameter and the value (``SweepError``; exit 2 on the command line). **Grid search** runs the
cartesian product; **random search** (``--random N``) draws N distinct settings, each parameter
independently: uniformly from a range (integers for integer ranges, the step's points when a
step is given, any value otherwise) or from a list, with ``numpy.random.default_rng(sample_seed)``.

Runs = scenarios x settings x seeds (seeds ``seed, seed+1, …`` from each scenario's ``seed``
unless ``--seed`` gives the first one).

Judging: the scenario's SLO
----------------------------
Every run (each scenario, each seed on its own) is judged by its scenario's ``slo`` section —
every metric, phase and fault — with :func:`reports.evaluate_slo`, the walker the reports and the
pytest plugin use. Each check gets a signed margin (:func:`reports.ranking.check_margin`): how far
its value is inside (+) or outside (-) the threshold, relative to the threshold (upper bounds:
``(threshold - value) / threshold``; a rate's lower bound: ``(value - threshold) / (1 - threshold)``,
the share of the failure budget left; "never" = -inf), so checks of different metrics compare.

* A **setting passes** when every one of its runs meets every check.
* Its **margin** is its worst run's worst check's margin (worst seed, not a mean: a setting that
  passes on average but fails on one seed does not pass), and that check **binds**.
* **Recommendation** (:func:`recommend`): the passing setting with the widest margin; ties go to
  fewer wasted attempts, then fewer alerts per day, then grid order. When none passes: the closest
  (widest, least negative margin), how far it misses and on which check. Without an SLO in any
  scenario: the highest success rate, with the same tie-breaks. The reason is one sentence.

The terminal output, ``summary.md`` and ``results.json`` say which check binds (metric, phase,
fault, scenario, seed, value vs threshold, margin). ``breakerlab sweep`` exits 0 when the
recommended setting meets the SLO (or there is none), 1 when no setting does.

Objectives and the Pareto frontier
----------------------------------
Secondary objectives are the user's choice: ``--objective NAME`` (repeatable; ``objectives=`` in
Python), any of :data:`OBJECTIVES` — ``slo_margin``, ``success_rate``, ``session_success_rate``,
``latency_p99``, ``latency_p95``, ``retry_amplification``, ``wasted_attempts``,
``user_visible_failures``, ``alerts_per_day``, ``flapping``, ``detection_time``, ``shed_time`` (time to
shed / failover: the headline for partial and hard faults alike), ``failover_time``
(default :data:`DEFAULT_OBJECTIVES`: slo_margin, success_rate, wasted_attempts, alerts_per_day).
A setting's value is the mean over its runs (``slo_margin``: the worst run's; ``shed_time``, ``failover_time`` and
``detection_time``: "never" in any run is worse than any time, fewer "never" runs beat more). The
**Pareto frontier** is the settings no other setting dominates on the chosen objectives (at least
as good on all and better on one); settings with identical values are all kept.

Storage and resume
------------------
Each run's result is ``OUT/runs/<key>.json``, where the key hashes the run's whole config:
the scenario's content (:func:`scenario_hash`: everything that changes what is simulated — not its
name, description, SLO or policy list), the policy's class name and *all* its parameters after
validation (so ``60s`` and ``1m`` are one run, and a preset resolves to its values), the seed, the
mode and the code version (:func:`code_version`: a hash of the simulator, router, faults and
metrics sources plus numpy/simpy versions). A file is written atomically (temporary file in the
same directory, fsync, :func:`os.replace`) by this process as each run completes, so a killed
sweep loses no finished run and never leaves a half-written result; rerunning the same command
skips every run whose file exists. Only metrics and the run's own result (what its SLO is judged
on) are stored; ``--save-traces`` also writes
``OUT/traces/<key>.npz``.

Outputs: ``OUT/results.json`` (one row per run: scenario, params, seed, metrics, SLO verdict; one
aggregate per setting with its SLO verdict, margin and binding check; the frontier; the
recommendation), ``OUT/summary.md`` and heatmaps over each pair of swept parameters in
``OUT/charts/`` (:mod:`reports.sweep_charts`): SLO pass/fail and the binding check's margin first,
then each objective. Both files depend
only on the runs' results, not on which of them were reused: a resumed sweep writes the same
bytes as an uninterrupted one.

The package: :mod:`~breakerlab.sweep.space` (axes, settings), :mod:`~breakerlab.sweep.plan` (the
runs), :mod:`~breakerlab.sweep.store` (keys, resume, atomic files), :mod:`~breakerlab.sweep.execution`
(running on an executor), :mod:`~breakerlab.sweep.pareto` (frontier, recommendation),
:mod:`~breakerlab.sweep.outputs` (files, charts), :mod:`~breakerlab.sweep.command` (``breakerlab sweep``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SweepError
from .command import add_sweep_parser, cmd_sweep, main
from .execution import ProgressFn, RunStats, execute_run, run_metrics, run_plan
from .outputs import FORMAT, SweepResult, finish, summary_markdown
from .pareto import (
    DEFAULT_OBJECTIVES,
    OBJECTIVES,
    RULE,
    Objective,
    Recommendation,
    SettingVerdict,
    aggregate,
    check_objectives,
    dominates,
    inert_axes,
    objective_point,
    pareto_front,
    recommend,
    run_checks,
)
from .plan import PlannedRun, RunTask, SweepPlan, plan_sweep
from .space import Axis, Setting, grid_settings, parse_axis, parse_grid, random_settings, resolve_param
from .store import atomic_write, code_version, load_run, run_key, scenario_hash

__all__ = [
    "DEFAULT_OBJECTIVES",
    "FORMAT",
    "OBJECTIVES",
    "RULE",
    "Axis",
    "Objective",
    "PlannedRun",
    "ProgressFn",
    "Recommendation",
    "RunStats",
    "RunTask",
    "Setting",
    "SettingVerdict",
    "SweepError",
    "SweepPlan",
    "SweepResult",
    "add_sweep_parser",
    "aggregate",
    "atomic_write",
    "check_objectives",
    "cmd_sweep",
    "code_version",
    "dominates",
    "execute_run",
    "finish",
    "grid_settings",
    "inert_axes",
    "load_run",
    "main",
    "objective_point",
    "pareto_front",
    "parse_axis",
    "parse_grid",
    "plan_sweep",
    "random_settings",
    "recommend",
    "resolve_param",
    "run_checks",
    "run_key",
    "run_metrics",
    "run_plan",
    "scenario_hash",
    "summary_markdown",
    "sweep",
]


def sweep(
    scenarios: Iterable[Any],
    policy: str,
    grid: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    seeds: int = 1,
    seed: int | None = None,
    random: int | None = None,
    sample_seed: int = 0,
    mode: str = "fast",
    scale: float | None = None,
    out: str | Path = "sweep",
    executor: Any = None,
    save_traces: bool = False,
    objectives: Sequence[str] | None = None,
    charts: bool = True,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Plan, run (skipping stored runs), judge, aggregate and write a sweep. ``scenarios``: Scenario
    objects, scenario file paths or ``(label, Scenario)``; ``objectives``: the Pareto frontier's
    (default :data:`DEFAULT_OBJECTIVES`); ``executor``: see :mod:`breakerlab.executors`
    (default: in-process); ``scale``: run every scenario at that share of its true volume
    (:meth:`sim.scenario.Scenario.scaled`; default: each as given)."""
    check_objectives(objectives)  # before any run
    plan = plan_sweep(
        scenarios, policy, grid, seeds=seeds, seed=seed, random=random, sample_seed=sample_seed, mode=mode,
        save_traces=save_traces, scale=scale,
    )
    results, stats = run_plan(plan, out, executor, progress=progress)
    return finish(plan, results, stats, out, objectives=objectives, charts=charts)
