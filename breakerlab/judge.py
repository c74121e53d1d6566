"""Run a scenario under a policy and judge it: the one way the CLI (``run``, ``compare``), the
pytest plugin, ``search`` and ``sweep`` do it.

    judged = run_and_judge(scenario, "exponential", seeds=[1, 2, 3], mode="fast")
    judged.traces          # one per seed (``sim.run``)
    judged.result          # reports' PolicyResult: means and intervals over the seeds
    judged.checks          # the SLO checks (reports.evaluate_slo), judged.passed
    judge_result(slo, result, "exponential")   # the checks of a result measured before (a sweep's run)

    # several policies at once, every (policy, seed) run a job on a process pool:
    with make_executor(jobs=4) as ex:
        by_policy = judge_policies(scenario, [("none", "none"), ("exp", "exponential")], seeds=[1, 2],
                                   executor=ex, progress=display)

The runs go through :func:`breakerlab.jobs.run_jobs`: in this process by default, else on the
``executor`` (:mod:`breakerlab.executors`); the traces come back in (policy, seed) order whatever
the executor, so the verdicts are too.

The metrics, the result and the checks are computed on first use, so a caller that needs only
the traces (``compare`` hands them to ``reports.write_report``) or only per-run metrics (a sweep)
pays for nothing more.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reports import SloCheck, evaluate_slo, summarize_policy, trace_metrics
from reports.metrics import TraceMetrics
from reports.schema import PolicyResult
from sim.scenario import Scenario
from sim.trace import Trace

from .executors import Executor
from .jobs import SimJob, run_jobs
from .progress import Progress

__all__ = ["Judged", "judge_policies", "judge_result", "policy_label", "run_and_judge"]


@dataclass(frozen=True)
class Judged:
    """One policy's runs of one scenario (one per seed) and their verdict against ``slo``."""

    label: str
    scenario: Scenario
    traces: tuple[Trace, ...]
    #: the SLO judged (the scenario's unless the caller gave another)
    slo: Any

    @functools.cached_property
    def metrics(self) -> tuple[TraceMetrics, ...]:
        """Per-run metrics (:func:`reports.trace_metrics`), one per seed."""
        return tuple(trace_metrics(t, self.label) for t in self.traces)

    @functools.cached_property
    def result(self) -> PolicyResult:
        """The policy over its seeds, as ``results.json`` holds it."""
        return summarize_policy(self.label, list(self.metrics))

    @functools.cached_property
    def checks(self) -> tuple[SloCheck, ...]:
        """One check per SLO entry (per fault for per-fault metrics); empty with no SLO."""
        return judge_result(self.slo, self.result, self.label)

    @property
    def failed(self) -> list[SloCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failed


def judge_result(slo: Any, result: PolicyResult, label: str) -> tuple[SloCheck, ...]:
    """The checks of ``slo`` on a result already measured (a sweep judges each stored run's own
    result this way, so an edited SLO needs no rerun); empty with no SLO."""
    return tuple(evaluate_slo(slo, result, policy=label)) if slo else ()


def run_and_judge(
    scenario: Scenario,
    policy: Any,
    *,
    seeds: Sequence[int] | None = None,
    mode: str = "fast",
    label: str | None = None,
    slo: Any = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> Judged:
    """Run ``scenario`` under ``policy`` once per seed (``sim.run``) and judge the runs against
    ``slo`` (default: the scenario's). ``policy``: anything ``sim.run`` takes (a name,
    ``(name, params)``, a scenario's policy entry); ``seeds``: default ``[scenario.seed]``;
    ``label``: the policy's name in results and checks (default: its name); ``executor``: where the
    seeds run (default: here, one after another); ``progress``: the display their board goes on.
    A failed run raises :class:`breakerlab.jobs.JobError`."""
    return judge_policies(scenario, [(label or policy_label(policy), policy)], seeds=seeds, mode=mode, slo=slo,
                          executor=executor, progress=progress)[0]


def judge_policies(
    scenario: Scenario,
    policies: Sequence[tuple[str, Any]],
    *,
    seeds: Sequence[int] | None = None,
    mode: str = "fast",
    slo: Any = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    face: str = "sync",
) -> list[Judged]:
    """:func:`run_and_judge` for each ``(label, policy)``, every (policy, seed) run one job on
    ``executor`` at once; one :class:`Judged` per policy, in order. ``face``: the router face
    (``sim.run``'s)."""
    seeds = [scenario.seed] if seeds is None else [int(s) for s in seeds]
    jobs = [SimJob(label, scenario, pol, seed, mode, face=face) for label, pol in policies for seed in seeds]
    traces = run_jobs(jobs, executor, progress)
    n = len(seeds)
    return [
        Judged(label, scenario, tuple(traces[k * n:(k + 1) * n]), scenario.slo if slo is None else slo)
        for k, (label, _) in enumerate(policies)
    ]


def policy_label(policy: Any) -> str:
    """A policy argument's name: the name itself, ``(name, params)``'s name, an entry's label or name."""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, tuple) and policy and isinstance(policy[0], str):
        return policy[0]
    return str(getattr(policy, "label", None) or getattr(policy, "name", None) or policy)
