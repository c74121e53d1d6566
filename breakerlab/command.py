"""What every ``breakerlab`` subcommand shares: the parser that exits 2 on a usage error, the
runner that turns bad input into one line on stderr, the ``--out`` check, the ``--jobs`` /
``--executor`` / ``--scheduler`` options of the multi-run commands, and
``python -m breakerlab.<command>`` for a command on its own."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from .errors import EXIT_INPUT, InputError, ParameterError, flag_message
from .executors import make_executor

__all__ = [
    "EXECUTOR_FLAGS",
    "Parser",
    "add_executor_options",
    "check_out_dir",
    "executor_from_args",
    "flag_error",
    "paint_verdicts",
    "run_command",
    "subcommand_main",
]

#: the flags of :func:`breakerlab.executors.make_executor`'s parameters whose names differ
EXECUTOR_FLAGS = {"kind": "--executor"}


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit :data:`EXIT_INPUT` (argparse's own code is 2
    too, but prints through ``exit``; this keeps the one-line shape)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command (``args.func``): its exit code, or :data:`EXIT_INPUT` with the message
    on stderr for bad input (``--seeds`` below 1, an :class:`InputError`)."""
    if getattr(args, "seeds", 1) < 1:
        print(f"breakerlab: --seeds: must be at least 1 (got {args.seeds})", file=sys.stderr)
        return EXIT_INPUT
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        print(f"breakerlab: --jobs: must be >= 1 (got {jobs})", file=sys.stderr)
        return EXIT_INPUT
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and seed < 0:
        print(f"breakerlab: --seed: must be >= 0 (got {seed})", file=sys.stderr)
        return EXIT_INPUT
    try:
        out = getattr(args, "out", None)
        if isinstance(out, str) and not getattr(args, "out_is_file", False):
            check_out_dir(out)  # before hours of simulation, not after
        return int(args.func(args))
    except InputError as e:
        print(str(e), file=sys.stderr)
        return EXIT_INPUT


_VERDICT = re.compile(r"\b(PASS(?:ED)?|FAIL(?:ED)?)\b")
_COLOUR = {"P": "\033[1;32m", "F": "\033[1;31m"}  # bold green, bold red


def paint_verdicts(text: str, stream: TextIO) -> str:
    """``text`` with PASS/PASSED in green and FAIL/FAILED in red when ``stream`` is a terminal
    (and ``NO_COLOR`` is unset); unchanged otherwise, so pipes and files get plain words."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()) or os.environ.get("NO_COLOR"):
        return text
    return _VERDICT.sub(lambda m: f"{_COLOUR[m.group(1)[0]]}{m.group(1)}\033[0m", text)


def check_out_dir(path: str) -> None:
    """Make sure ``path`` is (or can be made) a writable directory; an :class:`InputError` if not."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"breakerlab: --out: {path} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"breakerlab: --out: cannot create {path}: {e.strerror or e}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"breakerlab: --out: {path} is not writable")


def add_executor_options(p: argparse.ArgumentParser, what: str = "runs") -> None:
    """``--jobs``, ``--executor``, ``--scheduler``: where a multi-run command's ``what`` run."""
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help=f"{what} at once (default: every core, {os.cpu_count() or 1} here; 1: in this process, "
                   "one after another); dask without --scheduler: LocalCluster workers")
    p.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="local: a process pool on this machine (default); dask: a dask.distributed cluster; "
                   "serial: in this process")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster here)")


def executor_from_args(args: argparse.Namespace) -> Any:
    """The executor the options ask for, started (local workers import the simulator in the
    background while the caller loads and plans; dask connects now, so an unreachable scheduler
    fails before any work); bad values as an :class:`InputError` naming the flag."""
    try:
        return make_executor(args.executor, scheduler=args.scheduler, jobs=args.jobs).start()
    except ParameterError as e:
        raise flag_error(e) from None


def flag_error(e: ParameterError) -> InputError:
    """An API error (executor or job) as the command line says it: one line naming the flag."""
    return InputError("breakerlab: " + " ".join(flag_message(e, EXECUTOR_FLAGS).split()))


def subcommand_main(command: str, add_parser: Callable[[Any], Any], argv: Sequence[str] | None) -> int:
    """``python -m breakerlab.<command> ...``: one subcommand on its own, the same as
    ``breakerlab <command> ...``; ``add_parser(subparsers)`` adds it."""
    parser = Parser(prog="breakerlab")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_parser(sub)
    return run_command(parser.parse_args([command, *(sys.argv[1:] if argv is None else argv)]))
