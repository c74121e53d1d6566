"""``breakerlab sweep``: the command line of :func:`breakerlab.sweep.sweep` (argparse, progress,
printing; errors name flags here, parameters in the Python API)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reports.format import fmt_rate

from ..command import add_executor_options, executor_from_args, flag_error, subcommand_main
from ..errors import EXIT_OK, EXIT_SLO, InputError, SweepError, flag_message
from ..executors import ExecutorError, terminate_as_interrupt
from ..progress import Progress
from .execution import RunStats, run_plan
from .outputs import SweepResult, finish
from .pareto import DEFAULT_OBJECTIVES, OBJECTIVES, check_objectives
from .plan import PlannedRun, SweepPlan, plan_sweep
from .space import parse_grid

__all__ = ["EXAMPLES", "add_sweep_parser", "cmd_sweep", "main"]

EXAMPLES = (
    "  breakerlab sweep scenarios/one-org-diverges.yaml --policy exponential \\\n"
    "      --grid threshold=2..8 base_open_time=30s,60s,120s --seeds 5 --out sweep/\n"
    "  breakerlab sweep scenarios/*.yaml --policy consecutive --grid threshold=2..10:2 open_time=15s..2m \\\n"
    "      --random 20 --seeds 3 --objective success_rate --objective latency_p99\n"
    "  breakerlab sweep scenarios/lock-primary-before-launch.yaml --policy exponential \\\n"
    "      --grid threshold=2..8 --executor dask --scheduler tcp://scheduler:8786"
)


class _RunsProgress:
    """A sweep's ``progress`` callback on the one display's job board: runs done of all with the
    ETA (a bar on a terminal), else one line per computed run, after one line saying how many were
    already stored."""

    def __init__(self, progress: Progress, plan: SweepPlan, out: str) -> None:
        self.plan = plan
        self.out = out
        self.progress = progress
        runs = plan.unique_runs()
        self.index = {r.key: i for i, r in enumerate(runs)}
        self.board = progress.jobs([self._what(r) for r in runs])
        self._reused = 0

    def _what(self, r: PlannedRun) -> str:
        return f"{self.plan.scenarios[r.scenario][0]} {self.plan.settings[r.setting].text()} seed {r.seed}"

    def __call__(
        self, done: int, total: int, r: PlannedRun, metrics: Mapping[str, Any] | None, err: str | None,
        reused: bool = False,
    ) -> None:
        if reused:
            self._reused += 1
            self.board.finish(self.index[r.key], "already stored")
            return
        if self._reused:
            self.progress.log(f"resuming: {self._reused} of {total} runs already stored in {self.out}/runs")
            self._reused = 0
        res = f"FAILED: {err}" if err else f"success {fmt_rate((metrics or {}).get('success_rate'))}"
        self.board.finish(self.index[r.key], res)


def _split_scenarios(args: argparse.Namespace) -> None:
    """``--grid a=1..3 b.yaml``: argparse gives the file to ``--grid``; a token without "=" that
    names a scenario file is a scenario."""
    grid = []
    for tok in args.grid:
        if "=" not in tok and (tok.endswith((".yaml", ".yml", ".json")) or Path(tok).is_file()):
            args.scenarios.append(tok)
        else:
            grid.append(tok)
    args.grid = grid
    if not args.scenarios:
        raise InputError("breakerlab sweep: give at least one SCENARIO file")


#: the flags of the sweep's parameters whose names differ
_FLAGS = {"objectives": "--objective"}


def _prepare(args: argparse.Namespace) -> tuple[SweepPlan, Any, tuple[str, ...]]:
    """(plan, started executor, objectives); bad input fails before any worker starts."""
    executor = None
    try:
        objectives = check_objectives(args.objective)
        parse_grid(args.grid, args.policy)
        executor = executor_from_args(args)
        plan = plan_sweep(
            args.scenarios, args.policy, args.grid, seeds=args.seeds, seed=args.seed, random=args.random,
            sample_seed=args.sample_seed, mode=args.mode, save_traces=args.save_traces, scale=args.scale,
        )
    except SweepError as e:
        if executor is not None:
            executor.close()
        raise InputError(flag_message(e, _FLAGS)) from None
    return plan, executor, objectives


def _execute(args: argparse.Namespace, plan: SweepPlan, executor: Any) -> tuple[dict[str, Any], RunStats] | None:
    """Run the plan with the progress display; None when interrupted (finished runs are kept)."""
    quiet = args.quiet or args.json
    if not quiet:
        seeds = "/".join(str(n) for n in sorted({len(x) for x in plan.seeds}))
        print(f"sweep: {len(plan.unique_runs())} runs ({len(plan.scenarios)} scenario(s) x {len(plan.settings)} "
              f"setting(s) x {seeds} seed(s)) on {executor.describe()}; results in {args.out}/runs", file=sys.stderr)
    try:
        with terminate_as_interrupt(), Progress.for_stderr(quiet=quiet) as progress:
            return run_plan(plan, args.out, executor, progress=_RunsProgress(progress, plan, args.out))
    except KeyboardInterrupt:
        done = len(list(Path(args.out, "runs").glob("*.json")))
        print(f"interrupted: finished runs are kept in {args.out}/runs ({done} stored); "
              "rerun the same command to resume", file=sys.stderr)
        return None
    except ExecutorError as e:
        raise flag_error(e) from None


def _print_outcome(args: argparse.Namespace, result: SweepResult, stats: RunStats) -> None:
    if args.json:
        rec = result.recommendation
        recd = result.recommended
        print(json.dumps({
            "results": str(result.results_path), "summary": str(result.summary_path),
            "runs": {"total": stats.total, "computed": stats.computed, "reused": stats.reused, "failed": stats.failed},
            "objectives": list(result.objectives),
            "frontier": [result.settings[j]["params"] for j in result.frontier],
            "recommendation": None if rec is None or recd is None else {
                "params": recd["params"], "reason": rec.reason, "passed": rec.passed,
                "slo": recd["slo"], "objectives": recd["objectives"],
            },
            "errors": stats.errors,
        }, indent=2, sort_keys=True))
    else:
        assert result.summary_path is not None
        print(result.summary_path.read_text(encoding="utf-8"))
        print(f"summary: {result.summary_path}\nresults: {result.results_path}\nruns: {Path(args.out) / 'runs'}")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Exit 0 when the recommended setting meets every SLO check in every run (or no scenario has
    an SLO), 1 when no setting does, 2 for bad input or failed runs."""
    _split_scenarios(args)
    plan, executor, objectives = _prepare(args)
    outcome = _execute(args, plan, executor)
    if outcome is None:
        return 130
    results, stats = outcome
    result = finish(plan, results, stats, args.out, objectives=objectives)
    if not (args.quiet or args.json):
        print(f"sweep: {stats.computed} run(s) computed, {stats.reused} reused, {stats.failed} failed "
              f"in {stats.elapsed:.1f} s", file=sys.stderr)
    _print_outcome(args, result, stats)
    if stats.failed:
        raise InputError(f"sweep: {stats.failed} of {stats.total} runs failed (first: {stats.errors[0]}); "
                         f"finished runs are kept in {args.out}/runs — fix the cause and rerun to resume")
    rec = result.recommendation
    return EXIT_SLO if rec is not None and rec.passed is False else EXIT_OK


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``breakerlab sweep`` to ``build_parser()``'s subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "sweep",
        help="sweep a policy's parameters over scenarios and seeds, judged by each scenario's SLO; "
        "a recommendation, the Pareto frontier",
        description="Grid or random search over a breaker policy's parameters. Runs = scenarios x settings x "
        "seeds, in parallel; each run is stored under OUT/runs/<hash of its config>.json as it finishes, "
        "so an interrupted sweep resumes where it stopped. Every run is judged by its scenario's SLO; the "
        "recommendation is the setting that meets it in every run with the widest margin (or the closest, "
        "and the check that binds). Writes OUT/results.json, OUT/summary.md and heatmaps in OUT/charts/. "
        "Exit 0 when the recommended setting meets the SLO (or there is none), 1 when no setting does, "
        "2 for bad input.",
        epilog="grid syntax:\n"
        "  name=a..b          integers a to b, inclusive\n"
        "  name=a..b:step     a, a+step, ... up to b (numbers or durations: 30s..2m:30s)\n"
        "  name=v1,v2,v3      these values (human units allowed: 30s,1m,2m)\n"
        "\nexamples:\n" + EXAMPLES,
        formatter_class=fmt,
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario YAML file(s)")
    p.add_argument("--policy", required=True, help="policy or preset to tune (see `breakerlab list policies`)")
    p.add_argument("--grid", nargs="+", action="extend", default=[], metavar="NAME=VALUES",
                   help="parameters to sweep (see grid syntax below); repeatable")
    p.add_argument("--random", type=int, default=None, metavar="N",
                   help="random search: N settings drawn from the grid's ranges and lists")
    p.add_argument("--sample-seed", type=int, default=0, metavar="S", help="seed of the random search (default 0)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per setting and scenario (default 1)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: each scenario's)")
    p.add_argument("--mode", choices=("fast", "full"), default="fast", help="simulation mode (default fast)")
    p.add_argument("--scale", type=float, default=None, metavar="F",
                   help="run every scenario at F x its true volume: traffic, every RPM/TPM limit and count SLOs "
                   "together (default: each file's own scale; a scenario's ci_scale is what CI runs)")
    p.add_argument("--out", default="sweep", metavar="DIR", help="output directory (default sweep)")
    add_executor_options(p)
    p.add_argument("--save-traces", action="store_true", help="also keep each run's trace in OUT/traces/")
    p.add_argument("--objective", action="append", default=None, metavar="NAME",
                   help="an objective of the Pareto frontier (repeatable; default: "
                   f"{' '.join(DEFAULT_OBJECTIVES)}); valid: {', '.join(OBJECTIVES)}")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_sweep)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m breakerlab.sweep ...`` — the same as ``breakerlab sweep ...``."""
    return subcommand_main("sweep", add_sweep_parser, argv)
