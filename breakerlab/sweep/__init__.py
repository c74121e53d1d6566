"""Threshold sweeps: grid and random search over a policy's parameters, with resume.

    breakerlab sweep scenarios/one-org-diverges.yaml --policy exponential \\
        --grid threshold=2..8 base_open_time=30s,60s,120s --seeds 5 --out sweep/

or from Python::

    from breakerlab.sweep import sweep
    result = sweep([scenario], "exponential", ["threshold=2..8", "base_open_time=30s,60s,120s"],
                   seeds=5, out="sweep/")
    result.recommendation.reason

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

Objectives (per run, from :func:`breakerlab.judge.run_and_judge`'s metrics)
----------------------------------------------------------------
* **success rate** (max) — user requests that ended 2xx / all requests;
* **failover time** (min) — the worst over the run's org faults of the fault's failover time
  (max over pods); **"never"** when regular traffic kept flowing to a faulted org until the fault
  ended, which is worse than any time. Runs with no org fault have none (the objective is then
  neutral);
* **wasted attempts** (min) — attempts sent to a faulted org during its fault;
* **flapping** (min) — open → close cycles summed over every breaker (``alerts.cycles``).

A setting's value is the mean over its runs (all scenarios, all seeds). For failover time a
setting is compared by (share of its runs that never failed over, mean over the runs that did):
any "never" is worse than every time, fewer "never" runs beat more.

**Pareto frontier**: the settings no other setting dominates (at least as good on all four
objectives and better on one). Settings with identical objective values are all kept.

**Recommendation** (:func:`recommend`): among the frontier settings whose failover time is within
``failover_slack`` (default 60 s) of the best frontier failover time (and with no larger share of
"never" runs) and whose flapping is within ``flapping_slack`` (default 1 cycle per run) of the best
frontier flapping, the one with the highest success rate; ties go to fewer wasted attempts, then
less flapping, then faster failover, then the first in grid order. If no frontier setting is within
both slacks, the flapping condition is dropped. The reason is one sentence saying which rule
picked it, with the numbers.

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
skips every run whose file exists. Only metrics are stored; ``--save-traces`` also writes
``OUT/traces/<key>.npz``.

Outputs: ``OUT/results.json`` (one row per run: scenario, params, seed, metrics; one aggregate per
setting; the frontier; the recommendation), ``OUT/summary.md`` and heatmaps of each objective over
each pair of swept parameters in ``OUT/charts/`` (:mod:`reports.sweep_charts`). Both files depend
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
    DEFAULT_FAILOVER_SLACK,
    DEFAULT_FLAPPING_SLACK,
    OBJECTIVES,
    RULE,
    Recommendation,
    aggregate,
    dominates,
    inert_axes,
    objective_point,
    pareto_front,
    recommend,
)
from .plan import PlannedRun, RunTask, SweepPlan, plan_sweep
from .space import Axis, Setting, grid_settings, parse_axis, parse_grid, random_settings, resolve_param
from .store import atomic_write, code_version, load_run, run_key, scenario_hash

__all__ = [
    "DEFAULT_FAILOVER_SLACK",
    "DEFAULT_FLAPPING_SLACK",
    "FORMAT",
    "OBJECTIVES",
    "RULE",
    "Axis",
    "PlannedRun",
    "ProgressFn",
    "Recommendation",
    "RunStats",
    "RunTask",
    "Setting",
    "SweepError",
    "SweepPlan",
    "SweepResult",
    "add_sweep_parser",
    "aggregate",
    "atomic_write",
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
    out: str | Path = "sweep",
    executor: Any = None,
    save_traces: bool = False,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
    charts: bool = True,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Plan, run (skipping stored runs), aggregate and write a sweep. ``scenarios``: Scenario
    objects, scenario file paths or ``(label, Scenario)``; ``executor``: see :mod:`breakerlab.executors`
    (default: in-process)."""
    plan = plan_sweep(
        scenarios, policy, grid, seeds=seeds, seed=seed, random=random, sample_seed=sample_seed, mode=mode,
        save_traces=save_traces,
    )
    results, stats = run_plan(plan, out, executor, progress=progress)
    return finish(plan, results, stats, out, failover_slack=failover_slack, flapping_slack=flapping_slack,
                  charts=charts)
