"""``breakerlab``: run, compare, validate and report breaker-policy simulations.

Exit codes: 0 when every judged policy meets its SLO, 1 when one fails, 2 for bad input (one
line on stderr, naming the file, field and value — never a traceback). Judged: the policies
marked ``expect_pass: true``, else all but those marked ``expect_pass: false``
(:func:`reports.ranking.judged_policies`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from faults import catalogue
from multiorg.breakers.registry import POLICIES, PRESETS
from reports import report_from_dir, write_report
from reports.format import format_metric
from sim.loader import ScenarioError, load_scenario
from sim.operator import ManualOperator
from sim.policies import policy_names

from . import league, search, sweep
from .command import Parser, add_executor_options, executor_from_args, paint_verdicts, run_command
from .errors import EXIT_INPUT, EXIT_OK, EXIT_SLO, InputError
from .executors import terminate_as_interrupt
from .jobs import JobError
from .judge import judge_policies
from .policy_reference import UnknownPolicy, reference, render_text
from .progress import Progress
from .routers import run_routers

EXAMPLES = {
    "run": "  breakerlab run scenarios/lock-primary-before-launch.yaml --policy exponential --out out/\n"
    "  breakerlab run scenarios/flapping-org.yaml --policy consecutive --seeds 3 --json",
    "compare": "  breakerlab compare scenarios/lock-primary-before-launch.yaml --out report/\n"
    "  breakerlab compare scenarios/flapping-org.yaml --policy none --policy exponential --seeds 5 --jobs 2\n"
    "  breakerlab compare scenarios/flapping-org.yaml --seeds 20 --executor dask --scheduler tcp://10.0.0.5:8786\n"
    "  breakerlab compare scenarios/lock-primary-before-launch.yaml --policy exponential \\\n"
    "      --router examples/sdk_pybreaker_router.py:make_router   # your own router, next to the lab's",
    "validate": "  breakerlab validate scenarios/*.yaml",
    "list": "  breakerlab list scenarios\n  breakerlab list policies\n  breakerlab list faults\n"
    "  breakerlab list policies --params               # every parameter of every policy\n"
    "  breakerlab list policies --params failure-rate  # one policy (or a preset: its values)",
    "league": "  breakerlab league --jobs 2      # every library scenario: docs/league.md, docs/league.png\n"
    "  breakerlab league scenarios/quiet-night.yaml --contender none --contender seed --seeds 2 --out league.md",
    "report": "  breakerlab report report/            # re-render report/ from report/traces/\n"
    "  breakerlab report report/traces --out other/",
}


def _fail(msg: str) -> NoReturn:
    raise InputError(msg)


# --------------------------------------------------------------------------- helpers


def _load(path: str, scale: float | None = None, enforcement: str | None = None) -> Any:
    """The scenario file, at ``scale`` x its true volume if given (else at the file's own scale),
    its limits enforced per ``enforcement`` window if given (else as the file says)."""
    try:
        sc = load_scenario(path)
    except (ScenarioError, ValueError) as e:
        _fail(str(e))
    if enforcement is not None:
        sc = sc.enforced(enforcement)  # (argparse checked the choice)
    try:
        return sc if scale is None else sc.scaled(scale)
    except ValueError as e:  # the API names its parameter; the CLI names the flag
        _fail(f"--scale: {e}")


def _policy_specs(scenario: Any, names: Sequence[str] | None, source: str) -> list[tuple[str, Any]]:
    """(label, policy argument for sim.run) for each policy to run."""
    known = set(policy_names())
    if names:
        out = []
        listed = {(p.label or p.name): p for p in scenario.policies}
        for n in names:
            if n in listed:
                out.append((n, listed[n]))
            elif n in known:
                out.append((n, n))
            else:
                _fail(f"{source}: --policy: unknown policy {n!r} (known: {', '.join(sorted(known))})")
        return out
    if scenario.policies:
        return [(p.label or p.name, p) for p in scenario.policies]
    return [(n, n) for n in POLICIES]


def _seeds(args: argparse.Namespace, scenario: Any) -> list[int]:
    base = scenario.seed if args.seed is None else args.seed
    return [base + i for i in range(args.seeds)]


def _simulate(args: argparse.Namespace, scenario: Any, specs: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    """Every (policy, seed) run, at once on the executor the options name; traces per policy."""
    seeds = _seeds(args, scenario)
    with executor_from_args(args) as executor, terminate_as_interrupt(), \
            Progress.for_stderr(quiet=args.json or args.quiet) as progress:
        try:
            judged = judge_policies(scenario, specs, seeds=seeds, mode=args.mode, face=args.face,
                                    executor=executor,
                                    progress=progress)
        except JobError as e:
            _fail(f"{args.scenario}: {e}")
    return {j.label: list(j.traces) for j in judged}


def _finish(args: argparse.Namespace, scenario: Any, traces: dict[str, list[Any]]) -> int:
    out = Path(args.out)
    paths = write_report(traces, out, slo=scenario.slo or {})
    results = json.loads(paths.json.read_text(encoding="utf-8"))
    failed = []
    slo = results.get("slo") or {}
    for check in slo.get("checks", []):
        if not check.get("passed") and check.get("policy") in slo.get("judged", ()):
            failed.append(check)
    if args.json:
        print(json.dumps({"report": str(paths.html), "results": results, "slo_failures": failed}, indent=2))
    else:
        print(paint_verdicts(paths.markdown.read_text(encoding="utf-8"), sys.stdout))
        print(f"report: {paths.html}\nsummary: {paths.markdown}\nresults: {paths.json}\ntraces: {out / 'traces'}")
        for c in failed:
            print(paint_verdicts(
                f"SLO FAILED: {c['policy']}: {c['metric']} ({c['phase']}) = "
                f"{format_metric(c['metric'], c['value'], precise=True)}"
                f" vs {c['threshold']}"
                f" — seeds {', '.join(map(str, _seeds(args, scenario)))}; traces in {out / 'traces'}",
                sys.stderr), file=sys.stderr)
    return EXIT_SLO if failed else EXIT_OK


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario, args.scale, args.enforcement)
    specs = _policy_specs(scenario, [args.policy], args.scenario)
    return _finish(args, scenario, _simulate(args, scenario, specs))


def cmd_compare(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario, args.scale, args.enforcement)
    specs = _policy_specs(scenario, args.policy, args.scenario)
    traces = _simulate(args, scenario, specs)
    if args.router:  # the teams' own routers, in this process (sim.byo), on the same seeds
        traces.update(run_routers(scenario, args.router, _seeds(args, scenario), args.scenario, taken=list(traces)))
    return _finish(args, scenario, traces)


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            sc = load_scenario(f)
        except ScenarioError as e:
            print(str(e), file=sys.stderr)
            bad += 1
            continue
        if not args.quiet:
            print(f"{f}: ok ({sc.name})")
    return EXIT_INPUT if bad else EXIT_OK


def _scenario_dir() -> Path:
    here = Path.cwd() / "scenarios"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if args.params is not None:
        if what != "policies":
            _fail(f"--params: only policies have parameters: breakerlab list policies --params (got list {what})")
        try:
            docs = reference(args.params or None)
        except UnknownPolicy as e:
            _fail(f"--params: {e}")
        sys.stdout.write(render_text(docs))
    elif what == "policies":
        for name, cls in POLICIES.items():
            doc = (cls.__doc__ or "").strip().splitlines()
            print(f"{name:14} {doc[0] if doc else ''}")
        for name, (pol, params) in _presets(PRESETS):
            print(f"{name:14} preset: {pol} {json.dumps(params, sort_keys=True)}")
        print(f"{'manual':14} {(ManualOperator.__doc__ or '').strip().splitlines()[0]}")
        print("\nparameters: breakerlab list policies --params [POLICY]; docs/policies.md")
    elif what == "faults":
        for name, doc in catalogue():
            print(f"{name:22} {doc}")
    else:
        for f in sorted(_scenario_dir().glob("*.yaml")):
            try:
                sc = load_scenario(f)
                desc = sc.description.strip().splitlines()[0] if sc.description.strip() else ""
                print(f"{f.stem:30} {desc}")
            except ScenarioError as e:
                print(f"{f.stem:30} INVALID: {e}")
    return EXIT_OK


def _presets(presets: Any) -> list[tuple[str, tuple[str, dict[str, Any]]]]:
    out = []
    for name, value in presets.items():
        if isinstance(value, tuple):
            out.append((name, (value[0], dict(value[1]))))
        else:
            out.append((name, (getattr(value, "name", "?"), dict(getattr(value, "params", {}) or {}))))
    return out


def cmd_report(args: argparse.Namespace) -> int:
    src = Path(args.trace_dir)
    if not src.is_dir():
        _fail(f"{src}: not a directory of saved traces")
    try:
        paths = report_from_dir(src, args.out)
    except (FileNotFoundError, ValueError, KeyError) as e:
        _fail(f"{src}: cannot re-render: {e}")
    if args.json:
        print(paths.json.read_text(encoding="utf-8"))
    else:
        print(f"report: {paths.html}\nsummary: {paths.markdown}\nresults: {paths.json}")
    return EXIT_OK if paths.passed in (None, True) else EXIT_SLO


# --------------------------------------------------------------------------- parser


def _sim_options(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="run N seeds (seed, seed+1, ...); default 1")
    p.add_argument("--scale", type=float, default=None, metavar="F",
                   help="run at F x the true volume: traffic and every RPM/TPM limit together "
                   "(default: the file's own scale, usually 1; the scenario's ci_scale is what CI runs)")
    p.add_argument("--enforcement", choices=("second", "minute"), default=None,
                   help="every org enforces its RPM/TPM limits per second (a sixtieth of the limit, "
                   "as OpenAI quantizes) or per minute (default: as the file says; the report's "
                   "scenario name says when overridden)")
    p.add_argument("--mode", choices=("fast", "full"), default="fast",
                   help="fast: in-process vendors; full: httpx → respx → vendors, state in fakeredis")
    p.add_argument("--face", choices=("sync", "async"), default="sync",
                   help="the router face: sync (multiorg.Router, default) or async (multiorg.AsyncRouter, "
                   "each request a task on a simulated-time asyncio loop); both decide alike")
    p.add_argument("--out", default=out_default, metavar="DIR", help=f"output directory (default {out_default})")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_executor_options(p, "(policy, seed) runs")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="breakerlab",
        description="Chaos testing and discrete-event simulation for multi-org LLM routing: "
        "drive the real multiorg breakers and router through simulated vendor failures.",
        epilog="examples:\n" + EXAMPLES["compare"] + "\n" + EXAMPLES["validate"]
        + "\n\nexit codes: 0 every judged policy meets its SLO, 1 a judged policy fails one, 2 bad input"
        "\n(judged: the policies marked expect_pass: true, else all but those marked expect_pass: false)",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("run", help="simulate one scenario under one policy and write the report",
                       epilog="examples:\n" + EXAMPLES["run"], formatter_class=fmt)
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--policy", required=True, help="policy or preset name (see `breakerlab list policies`)")
    _sim_options(p, "out")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="simulate a scenario under several policies and compare them",
                       epilog="examples:\n" + EXAMPLES["compare"], formatter_class=fmt)
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--policy", action="append", metavar="P",
                   help="policy to compare (repeatable; default: the scenario's policies, else all)")
    p.add_argument("--router", action="append", metavar="FILE.py:FACTORY",
                   help="your own router's factory (sim.byo), compared with the policies (repeatable)")
    _sim_options(p, "report")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("validate", help="check scenario files; one line per bad file, exit 2 if any",
                       epilog="examples:\n" + EXAMPLES["validate"], formatter_class=fmt)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("list", help="list scenarios, policies (and their parameters) or faults",
                       description="List the library's scenarios, the policies and presets, or the "
                       "fault kinds. With --params: every parameter of every policy (default, unit, "
                       "meaning, the Resilience4j / Envoy / LiteLLM equivalent, when it does nothing); "
                       "docs/policies.md is the same reference.",
                       epilog="examples:\n" + EXAMPLES["list"], formatter_class=fmt)
    p.add_argument("what", choices=("scenarios", "policies", "faults"))
    p.add_argument("--params", nargs="?", const="", default=None, metavar="POLICY",
                   help="with `policies`: the parameter reference, of every policy or of POLICY "
                   "(a preset shows its policy with the preset's values)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("report", help="re-render a report from saved traces (no rerun)",
                       epilog="examples:\n" + EXAMPLES["report"], formatter_class=fmt)
    p.add_argument("trace_dir", help="a report directory (or its traces/ folder)")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write (default: the report directory)")
    p.add_argument("--json", action="store_true", help="print results.json on stdout")
    p.set_defaults(func=cmd_report)

    sweep.add_sweep_parser(sub)
    search.add_search_parser(sub)

    p = sub.add_parser("league", help="every library scenario under the peers' defaults and the lab's "
                       "recommendation: docs/league.md and docs/league.png",
                       description="Run every scenario (default: scenarios/*.yaml, each at its ci_scale) under "
                       "each contender (" + ", ".join(league.CONTENDERS) + ") on --seeds seeds, the "
                       "recommendation tuned by a sweep on other seeds; write the league table and its chart. "
                       "Runs are stored under --work and reused by a rerun.",
                       epilog="examples:\n" + EXAMPLES["league"], formatter_class=fmt)
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario files (default: scenarios/*.yaml)")
    p.add_argument("--contender", action="append", metavar="C",
                   help=f"a contender (repeatable; default all: {', '.join(league.CONTENDERS)})")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="league seeds per scenario (default 5)")
    p.add_argument("--tune-seeds", type=int, default=1, metavar="N",
                   help=f"seeds of the recommendation's sweep, from {league.TUNE_SEED} (default 1)")
    p.add_argument("--grid", nargs="+", action="extend", default=[], metavar="NAME=VALUES",
                   help=f"the recommendation's sweep grid (default: {' '.join(league.DEFAULT_GRID)})")
    p.add_argument("--scale", type=float, default=None, metavar="F",
                   help="run every scenario at F x its true volume (default: each at its ci_scale)")
    p.add_argument("--work", default=league.DEFAULT_WORK, metavar="DIR",
                   help=f"where runs are stored and reused (default {league.DEFAULT_WORK})")
    p.add_argument("--out", default="docs/league.md", metavar="FILE", help="the table (default docs/league.md)")
    p.add_argument("--chart", default="docs/league.png", metavar="FILE", help="the chart (default docs/league.png)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_executor_options(p, "runs")
    p.set_defaults(func=league.cmd_league, out_is_file=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went away (`breakerlab ... | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
