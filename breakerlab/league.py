"""``breakerlab league``: every library scenario x the peers' defaults x the lab's recommendation.

    breakerlab league --jobs 2          # writes docs/league.md and docs/league.png

Each scenario (``scenarios/*.yaml``, each at its own ``ci_scale``) runs under every contender
(:data:`CONTENDERS`: no breaker, the seed's exponential, LiteLLM's, Portkey's, Resilience4j's and
Envoy's defaults, and the lab's recommendation) on ``seeds`` seeds (the scenario's ``seed``,
``seed + 1``, ... — what ``breakerlab compare --seeds N`` runs).

The lab's recommendation for a scenario is what ``breakerlab sweep`` recommends for it: the seed's
exponential (preset ``seed``) swept over :data:`DEFAULT_GRID` on ``tune_seeds`` *other* seeds
(:data:`TUNE_SEED`, ``TUNE_SEED + 1``, ...), so the league does not judge it on the runs it was tuned on.

Nothing is measured here: every run is a sweep run (:mod:`breakerlab.sweep`: planned, executed on
the executor, each result stored under ``WORK/runs/<key>.json`` so an interrupted or repeated
league reuses it), its metrics are the sweep's (:func:`breakerlab.sweep.run_metrics`) and each
run is judged on its own by the scenario's SLO (:func:`breakerlab.sweep.run_checks`, the sweep's
rule). Across seeds each figure is a :func:`reports.metrics.stat` (mean and 95 % t-interval),
shown by :func:`reports.format.fmt_stat`; the chart is a sweep heatmap
(:func:`reports.sweep_charts.heatmap`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.format import fmt_rate, fmt_stat
from reports.metrics import stat
from reports.ranking import check_text, verdict
from reports.schema import Stat
from reports.sweep_charts import SLO_PASS, heatmap
from sim.loader import ScenarioError, load_scenario
from sim.scenario import Scenario

from .command import executor_from_args, flag_error
from .errors import EXIT_OK, InputError, ParameterError
from .executors import ExecutorError, SerialExecutor, terminate_as_interrupt
from .progress import JobBoard, Progress
from .sweep import RULE, PlannedRun, SweepPlan, finish, plan_sweep, run_checks, run_plan
from .sweep.store import atomic_write

__all__ = [
    "CONTENDERS",
    "DEFAULT_GRID",
    "PEERS",
    "TUNE_SEED",
    "Cell",
    "Contender",
    "League",
    "LeagueError",
    "ScenarioRow",
    "cmd_league",
    "league_chart",
    "league_markdown",
    "library",
    "run_league",
]


class LeagueError(ParameterError):
    """Bad league input (a scenario, a contender, a grid) or failed runs: one line."""


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    #: a policy or preset name; None for the recommendation (its setting is per scenario)
    policy: str | None
    what: str


#: key → contender, in the table's column order
CONTENDERS: Mapping[str, Contender] = {
    c.key: c
    for c in (
        Contender("none", "none", "none", "no breaker: round robin, failover within the request only"),
        Contender("seed", "seed exponential", "seed",
                  "the talk's breaker (preset `seed`): 3 failures within 60 s, blocks of 1, 2, 4, 8, 16 min"),
        Contender("litellm", "litellm", "litellm", "LiteLLM Router cooldowns, its defaults (policy `litellm`)"),
        Contender("portkey", "portkey", "portkey", "Portkey gateway circuit breaker, its defaults (policy `portkey`)"),
        Contender("resilience4j-defaults", "resilience4j", "resilience4j-defaults",
                  "Resilience4j's published CircuitBreaker defaults (preset `resilience4j-defaults`)"),
        Contender("envoy-defaults", "envoy", "envoy-defaults",
                  "Envoy's published outlier-detection defaults (preset `envoy-defaults`)"),
        Contender("recommended", "lab recommendation", None,
                  "what `breakerlab sweep` recommends for this scenario (tuned on other seeds; below)"),
    )
}
#: the peers' defaults the recommendation is measured against
PEERS = ("litellm", "portkey", "resilience4j-defaults", "envoy-defaults")
#: the sweep behind the recommendation: the seed's exponential around its own numbers
TUNE_POLICY = "seed"
DEFAULT_GRID = ("threshold=2,3,5", "base_open_time=30s,60s,120s")
#: the first tuning seed (then +1, ...): far from every library scenario's own seeds, which the league runs
TUNE_SEED = 1000
DEFAULT_WORK = ".breakerlab/league"
COMMAND = "breakerlab league --jobs 2"
DASH = "\u2013"  # a figure that does not apply

#: (column, run_metrics key, fmt_stat kind)
FIGURES = (
    ("success", "success_rate", "rate"),
    ("session success", "session_success_rate", "rate"),
    ("time to shed", "shed_time", "duration"),
    ("wasted attempts", "wasted_attempts", "count"),
    ("alerts / day", "alerts_per_day", "count"),
)


@dataclass(frozen=True)
class Cell:
    """One contender on one scenario, over its seeds."""

    contender: str
    params: Mapping[str, Any]
    #: column → mean and 95 % t-interval over the seeds (None: the scenario has no org fault)
    stats: Mapping[str, Stat | None]
    runs: int
    runs_passed: int
    has_slo: bool
    #: the worst run's binding check, as text ("" without an SLO)
    binding: str = ""

    @property
    def passed(self) -> bool | None:
        return None if not self.has_slo else self.runs_passed == self.runs

    def verdict_text(self) -> str:
        if self.passed is None:
            return "no SLO"
        return f"{'PASS' if self.passed else 'FAIL'} {self.runs_passed}/{self.runs}"


@dataclass(frozen=True)
class ScenarioRow:
    name: str
    path: str
    scale: float
    seeds: tuple[int, ...]
    cells: Mapping[str, Cell]
    #: the recommendation: its setting's text, the sweep's one-sentence reason, whether it met the SLO in tuning
    recommended: str = ""
    reason: str = ""

    def beats(self, contender: str, other: str) -> str | None:
        """``win`` / ``tie`` / ``loss`` of ``contender`` against ``other`` (see :data:`BEATS`)."""
        a, b = self.cells.get(contender), self.cells.get(other)
        if a is None or b is None:
            return None
        if a.passed is not None and a.passed != b.passed:
            return "win" if a.passed else "loss"
        lo_a, hi_a = _interval(a.stats["success"])
        lo_b, hi_b = _interval(b.stats["success"])
        if lo_a > hi_b:
            return "win"
        if lo_b > hi_a:
            return "loss"
        return "tie"


BEATS = ("**Beats**: on a scenario, the recommendation beats a contender when it passes the scenario's "
         "SLO (every check, every one of the league's seeds) where the contender fails; with the same "
         "verdict, when its success rate's 95 % interval lies wholly above the contender's. The reverse is a "
         "loss; anything else a tie. It *beats every peer* on a scenario when it beats each of "
         + ", ".join(f"`{p}`" for p in PEERS) + ".")


def _interval(st: Stat | None) -> tuple[float, float]:
    if st is None or st.mean is None:
        return (-math.inf, -math.inf)
    lo = st.mean if st.ci_low is None else st.ci_low
    hi = st.mean if st.ci_high is None else st.ci_high
    return lo, hi


@dataclass
class League:
    rows: list[ScenarioRow]
    contenders: list[str]
    seeds: int
    tune_seeds: int
    grid: tuple[str, ...]
    #: distinct simulations: the league's, the recommendation's sweep's; how many this call computed
    runs: int = 0
    tuning_runs: int = 0
    computed: int = 0

    def wins(self, peers: Sequence[str] = PEERS) -> list[str]:
        """The scenarios on which the recommendation beats every one of ``peers``."""
        return [r.name for r in self.rows
                if all(r.beats("recommended", p) == "win" for p in peers if p in r.cells)
                and "recommended" in r.cells and any(p in r.cells for p in peers)]


# --------------------------------------------------------------------------- inputs


def library(paths: Sequence[str | Path] = (), scale: float | None = None) -> list[tuple[str, str, Scenario]]:
    """(name, file, scenario at its ``ci_scale`` — or at ``scale``) of each path; default: every
    ``scenarios/*.yaml``. A bad file raises :class:`LeagueError` (its one-line message)."""
    files = [Path(p) for p in paths] or sorted(_scenario_dir().glob("*.yaml"))
    if not files:
        raise LeagueError("scenarios", "no scenario file (scenarios/*.yaml) found")
    out = []
    for f in files:
        try:
            sc = load_scenario(f)
        except ScenarioError as e:
            raise LeagueError("", str(e)) from None
        factor = scale if scale is not None else (sc.ci_scale or sc.scale)
        try:
            out.append((f.stem, str(f), sc.scaled(factor)))
        except ValueError as e:
            raise LeagueError("scale", f"{f}: {e}") from None
    return out


def _scenario_dir() -> Path:
    here = Path("scenarios")  # relative: the doc names the files as a reader's checkout has them
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def check_contenders(keys: Sequence[str] | None) -> list[str]:
    """The contenders asked for, in table order (default: all); an unknown one raises :class:`LeagueError`."""
    if not keys:
        return list(CONTENDERS)
    for k in keys:
        if k not in CONTENDERS:
            raise LeagueError("contender", f"unknown contender {k!r} (known: {', '.join(CONTENDERS)})")
    return [k for k in CONTENDERS if k in keys]


# --------------------------------------------------------------------------- running


class _Shared:
    """The caller's executor lent to :func:`breakerlab.sweep.run_plan`, which closes what it is given:
    one pool (and its warm workers) serves every plan; the caller closes it."""

    def __init__(self, executor: Any) -> None:
        self._ex = executor

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        return self._ex.map_unordered(fn, items)

    def describe(self) -> str:
        return str(self._ex.describe())


class _Board:
    """run_plan's progress callback on one job board spanning several plans."""

    def __init__(self, progress: Progress | None, plans: Sequence[SweepPlan], title: str) -> None:
        self.index: dict[str, int] = {}
        names: list[str] = []
        for plan in plans:
            for r in plan.unique_runs():
                if r.key not in self.index:
                    self.index[r.key] = len(names)
                    names.append(f"{plan.scenarios[r.scenario][0]} · {plan.policy} "
                                 f"{plan.settings[r.setting].text()} · seed {r.seed}")
        self.board: JobBoard | None = progress.jobs(names, title) if progress is not None and names else None
        self.seen: set[str] = set()

    def __call__(self, done: int, total: int, r: PlannedRun, metrics: Mapping[str, Any] | None,
                 err: str | None, reused: bool = False) -> None:
        if self.board is None or r.key in self.seen:
            return
        self.seen.add(r.key)
        success = fmt_rate((metrics or {}).get("success_rate"))
        note = "stored" if reused else f"FAILED: {err}" if err else f"success {success}"
        self.board.finish(self.index[r.key], note)


def _execute(plans: Sequence[SweepPlan], work: Path, executor: Any, progress: Progress | None, title: str,
             league: League) -> tuple[list[dict[str, dict[str, Any]]], int]:
    """Every plan's runs on the one executor (stored ones reused): each plan's ``{key: metrics}``,
    and how many distinct runs the plans hold (two contenders with the same setting share runs)."""
    board = _Board(progress, plans, title)
    out = []
    for plan in plans:
        results, stats = run_plan(plan, work, _Shared(executor), progress=board)
        league.computed += stats.computed
        if stats.failed:
            raise LeagueError("", f"{stats.failed} run(s) failed (first: {stats.errors[0]}); finished runs are "
                              f"kept in {work}/runs")
        out.append(results)
    return out, len(board.index)


def _cell(plan: SweepPlan, si: int, results: Mapping[str, Mapping[str, Any]], contender: str) -> Cell:
    runs = [r for r in plan.runs if r.scenario == si and r.setting == 0]
    ms = [results[r.key] for r in runs]
    has_slo = bool(plan.scenarios[si][1].slo)
    verdicts = [verdict(run_checks(plan, si, m)) for m in ms] if has_slo else []
    stats: dict[str, Stat | None] = {}
    org_faults = bool(ms and ms[0].get("faults"))
    for col, key, kind in FIGURES:
        if key == "shed_time" and not org_faults:
            stats[col] = None
            continue
        values = [None if m.get(key) == "never" else m.get(key) for m in ms]
        stats[col] = stat(values, lower=0.0, upper=1.0 if kind == "rate" else None)
    worst = min(verdicts, key=lambda v: v.margin_key(), default=None)
    binding = check_text(worst.binding) if worst is not None and worst.binding is not None else ""
    return Cell(contender, dict(plan.full_params[0]), stats, len(ms), sum(v.passed for v in verdicts), has_slo, binding)


def run_league(
    scenarios: Sequence[tuple[str, str, Scenario]],
    contenders: Sequence[str] | None = None,
    *,
    seeds: int = 5,
    tune_seeds: int = 1,
    grid: Sequence[str] = DEFAULT_GRID,
    work: str | Path = DEFAULT_WORK,
    executor: Any = None,
    progress: Progress | None = None,
) -> League:
    """Run the league (see the module docstring): ``scenarios`` as :func:`library` gives them,
    ``contenders`` keys of :data:`CONTENDERS` (default all). ``executor``: where the runs go
    (default: here, one after another); the caller closes it."""
    keys = check_contenders(contenders)
    for name, n in (("seeds", seeds), ("tune_seeds", tune_seeds)):
        if n < 1:
            raise LeagueError(name, f"must be at least 1 (got {n})")
    if not scenarios:
        raise LeagueError("scenarios", "no scenario given")
    work = Path(work)
    executor = executor if executor is not None else SerialExecutor()
    named = [(name, sc) for name, _, sc in scenarios]
    league = League([], keys, seeds, tune_seeds, tuple(grid))
    try:
        # 1. the recommendation: one sweep over every scenario, then each scenario's own verdict
        recs: dict[int, tuple[str, str, list[str]]] = {}
        if "recommended" in keys:
            tune = plan_sweep(named, TUNE_POLICY, list(grid), seeds=tune_seeds, seed=TUNE_SEED)
            league.tuning_runs = _execute([tune], work, executor, progress, "tuning runs", league)[1]
            for si, (name, sc) in enumerate(named):
                one = plan_sweep([(name, sc)], TUNE_POLICY, list(grid), seeds=tune_seeds, seed=TUNE_SEED)
                stored, stats = run_plan(one, work, _Shared(executor))  # all stored: nothing runs
                swept = finish(one, stored, stats, work / "tuning" / name, charts=False)
                best = swept.recommended
                if swept.recommendation is None or best is None:
                    raise LeagueError("", f"{name}: the sweep made no recommendation")
                labels = [f"{k}={v}" for k, v in best["labels"].items()]
                recs[si] = (one.settings[swept.recommendation.index].text(), swept.recommendation.reason, labels)
        # 2. the league: every fixed contender over every scenario, the recommendation per scenario
        plans: list[tuple[str, int | None, SweepPlan]] = []
        for k in keys:
            policy = CONTENDERS[k].policy
            if policy is not None:
                plans.append((k, None, plan_sweep(named, policy, None, seeds=seeds)))
        for si, (name, sc) in enumerate(named):
            if si in recs:
                plans.append(("recommended", si, plan_sweep([(name, sc)], TUNE_POLICY, recs[si][2], seeds=seeds)))
        results, league.runs = _execute([p for _, _, p in plans], work, executor, progress, "league runs", league)
    except ParameterError as e:
        if isinstance(e, (LeagueError, ExecutorError)):
            raise
        raise LeagueError(e.param, e.detail) from None
    for si, (name, path, sc) in enumerate(scenarios):
        cells: dict[str, Cell] = {}
        for k in keys:
            for (ck, only, plan), res in zip(plans, results, strict=True):
                if ck == k and only in (None, si):
                    cells[k] = _cell(plan, 0 if only is not None else si, res, k)
        rec = recs.get(si)
        league.rows.append(ScenarioRow(
            name, path, float(sc.scale), tuple(sc.seed + i for i in range(seeds)), cells,
            recommended=rec[0] if rec else "", reason=rec[1] if rec else "",
        ))
    return league


# --------------------------------------------------------------------------- outputs


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def league_markdown(league: League, *, chart: str | None = None, command: str = COMMAND) -> str:
    """docs/league.md: the summary grid, the claim, how the recommendation was found, a table per scenario."""
    keys = league.contenders
    labels = [CONTENDERS[k].label for k in keys]
    has_rec = "recommended" in keys
    peers = [p for p in PEERS if p in keys]
    lines = [
        "# League table: the library's scenarios under the peers' defaults and the lab's recommendation",
        "",
        f"Regenerate from a clean checkout with one command: `{command}` (writes this file and "
        "its chart; every run is stored under `.breakerlab/league/runs/`, so a rerun reuses them — "
        "delete that folder for a run from scratch: the numbers are the same, runs are deterministic).",
        "",
        f"Every library scenario (`scenarios/*.yaml`), each at its CI scale (`ci_scale`), under {len(keys)} "
        f"contenders x {league.seeds} seeds (each scenario's `seed` to `seed + {league.seeds - 1}`, as "
        f"`breakerlab compare --seeds {league.seeds}` runs them), fast mode: {len(league.rows)} x {len(keys)} x "
        f"{league.seeds} = {len(league.rows) * len(keys) * league.seeds} results from {league.runs} distinct "
        "simulations (a recommendation equal to the seed's setting is the same run)"
        + (f", plus {league.tuning_runs} tuning runs for the recommendation." if has_rec else "."),
        "",
        "| contender | what |",
        "|---|---|",
        *[f"| {CONTENDERS[k].label} | {_md_cell(CONTENDERS[k].what)} |" for k in keys],
        "",
        "How to read the figures: each is the mean over the seeds ± half the width of its two-sided 95 % "
        "Student-t interval (`reports.metrics.stat`; clipped where the metric cannot go, then shown as the "
        "interval), as `breakerlab compare` reports them. **Success** and **session success**: requests (sessions) "
        "that ended 2xx. **Time to shed**: per run, the worst over the scenario's org faults of the fault's "
        "headline time (time to shed for a partial fault, failover for a hard one; 'never' in k/n: runs where "
        "traffic kept flowing to the faulted org; \u2013: the scenario has no org fault). **Wasted attempts**: "
        "attempts sent to a faulted org during its fault. **Alerts / day**: OPENED alerts per simulated day. "
        "Definitions: [metrics.md](metrics.md). **SLO**: each run judged on its own by the scenario's `slo` "
        "section (every check), as `breakerlab sweep` judges runs; PASS when all "
        f"{league.seeds} runs pass, with the count of runs that pass.",
        "",
    ]
    if has_rec:
        wins = league.wins(peers)
        vs_seed = [r.name for r in league.rows if r.beats("recommended", "seed") == "win"]
        losses = [r.name for r in league.rows if any(r.beats("recommended", p) == "loss" for p in peers)]
        lines += [
            "## The claim",
            "",
            BEATS,
            "",
            f"**The lab's recommendation beats every peer's defaults on {len(wins)} of {len(league.rows)} "
            f"scenarios**" + (f" ({', '.join(wins)})" if wins else "") + "; it loses to at least one peer on "
            f"{len(losses)}" + (f" ({', '.join(losses)})" if losses else "") + ". "
            + (f"It beats the seed's own exponential on {len(vs_seed)} "
               f"({', '.join(vs_seed) if vs_seed else 'none'})." if "seed" in keys else ""),
            "",
        ]
    lines += ["## Summary", "", "SLO verdict (runs that pass, of " + str(league.seeds) + ") and mean success rate.",
              ""]
    head = ["scenario", *labels]
    if has_rec and peers:
        head.append("recommendation vs peers")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in league.rows:
        cols = [f"[{r.name}](#{r.name})"]
        for k in keys:
            c = r.cells[k]
            cols.append(f"{c.verdict_text()} · {fmt_rate(c.stats['success'].mean if c.stats['success'] else None)}")
        if has_rec and peers:
            outcome = [r.beats("recommended", p) for p in peers]
            cols.append(f"{outcome.count('win')} win, {outcome.count('tie')} tie, {outcome.count('loss')} loss")
        lines.append("| " + " | ".join(cols) + " |")
    lines.append("")
    if chart:
        lines += [f"![SLO verdict per scenario and contender]({chart})", ""]
    if has_rec:
        lines += [
            "## How the recommendation was found",
            "",
            f"`breakerlab sweep` on each scenario (at its CI scale) with the seed's exponential (preset "
            f"`{TUNE_POLICY}`) over the grid `{' '.join(league.grid)}`, on {league.tune_seeds} seed(s) "
            f"{', '.join(str(TUNE_SEED + i) for i in range(league.tune_seeds))} — **not** the league's seeds, so "
            "the recommendation is not judged on the runs it was tuned on (tuned and judged on the same seeds, "
            "it would be overfitted to them). The sweep's rule: " + RULE,
            "",
            "| scenario | recommended | the sweep's reason |",
            "|---|---|---|",
            *[f"| {r.name} | {_md_cell(r.recommended)} | {_md_cell(r.reason)} |" for r in league.rows],
            "",
        ]
    lines += ["## Per scenario", ""]
    for r in league.rows:
        lines += [
            f"### {r.name}",
            "",
            f"`{Path(r.path).as_posix()}` at \u00d7{r.scale:g}, seeds {', '.join(map(str, r.seeds))}.",
            "",
            "| contender | SLO | " + " | ".join(c for c, _, _ in FIGURES) + " | binding check (worst run) |",
            "|---|---|" + "---|" * len(FIGURES) + "---|",
        ]
        for k in keys:
            c = r.cells[k]
            figs = [DASH if (st := c.stats[col]) is None else fmt_stat(st, kind) for col, _, kind in FIGURES]
            lines.append(f"| {CONTENDERS[k].label} | {c.verdict_text()} | " + " | ".join(map(_md_cell, figs))
                         + f" | {_md_cell(c.binding) or DASH} |")
        lines.append("")
    return "\n".join(lines)


def league_chart(league: League, path: str | Path) -> Path:
    """The SLO grid (scenario x contender; colour: share of seeds that pass; the mean success rate
    beneath), a sweep heatmap (:func:`reports.sweep_charts.heatmap`)."""
    path = Path(path)
    points = []
    for r in reversed(league.rows):  # the chart's rows run bottom-up: the first scenario on top
        for k in league.contenders:
            c = r.cells[k]
            share = c.runs_passed / c.runs if c.has_slo and c.runs else None
            success = c.stats["success"]
            points.append({
                "params": {"contender": CONTENDERS[k].label, "scenario": r.name},
                "labels": {"contender": CONTENDERS[k].label.replace(" ", "\n")},
                "metrics": {"slo_pass": share},
                "notes": {"slo_pass": f"{c.runs_passed}/{c.runs}\n{fmt_rate(success.mean if success else None)}"},
            })
    title = (f"League: SLO verdict per scenario (each at its CI scale) and contender, {league.seeds} seeds; "
             "beneath: runs that pass, then mean success rate")
    out = heatmap(points, "contender", "scenario", "slo_pass", path.parent, SLO_PASS, title=title, name=path.stem)
    return out[0]


# --------------------------------------------------------------------------- command


def _command(args: argparse.Namespace, out: Path, chart: Path | None) -> str:
    """The command that writes this doc again: :data:`COMMAND` plus every option that changes
    what is run or where it is written (not ``--jobs``, ``--work``: they change neither)."""
    parts = [COMMAND, *args.scenarios]
    parts += [f"--contender {c}" for c in args.contender or ()]
    if args.seeds != 5:
        parts.append(f"--seeds {args.seeds}")
    if args.tune_seeds != 1:
        parts.append(f"--tune-seeds {args.tune_seeds}")
    if args.grid:
        parts.append("--grid " + " ".join(args.grid))
    if args.scale is not None:
        parts.append(f"--scale {args.scale:g}")
    if out.as_posix() != "docs/league.md":
        parts.append(f"--out {out.as_posix()}")
    if chart is not None and chart.as_posix() != "docs/league.png":
        parts.append(f"--chart {chart.as_posix()}")
    return " ".join(parts)


def cmd_league(args: argparse.Namespace) -> int:
    """``breakerlab league``: run, then write the doc and the chart. Exit 0, or 2 for bad input / failed runs."""
    try:
        scenarios = library(args.scenarios, args.scale)
        keys = check_contenders(args.contender)
        grid = tuple(args.grid) if args.grid else DEFAULT_GRID
        with executor_from_args(args) as executor, terminate_as_interrupt(), \
                Progress.for_stderr(quiet=args.quiet) as progress:
            league = run_league(scenarios, keys, seeds=args.seeds, tune_seeds=args.tune_seeds, grid=grid,
                                work=args.work, executor=executor, progress=progress)
    except ExecutorError as e:
        raise flag_error(e) from None
    except LeagueError as e:
        flags = {"contender": "--contender", "seeds": "--seeds", "scale": "--scale", "grid": "--grid",
                 "scenarios": "SCENARIO"}
        msg = f"{flags.get(e.param, '--' + e.param.replace('_', '-'))}: {e.detail}" if e.param else e.detail
        raise InputError(f"breakerlab league: {' '.join(msg.split())}") from None
    out = Path(args.out)
    chart = Path(args.chart) if args.chart else None
    command = _command(args, out, chart)
    rel = None
    if chart is not None:
        league_chart(league, chart)
        try:
            rel = chart.resolve().relative_to(out.resolve().parent).as_posix()
        except ValueError:
            rel = chart.resolve().as_posix()
    atomic_write(out, league_markdown(league, chart=rel, command=command) + "\n")
    if not args.quiet:
        print(f"league: {league.runs + league.tuning_runs} runs ({league.computed} computed now, the rest were "
              f"stored in {args.work}/runs)",
              file=sys.stderr)
        print(f"league: {out}" + (f", {chart}" if chart else ""))
    return EXIT_OK
