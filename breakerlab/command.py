"""What every ``breakerlab`` subcommand shares: the parser that exits 2 on a usage error, the
runner that turns bad input into one line on stderr, the ``--out`` check, and
``python -m breakerlab.<command>`` for a command on its own."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import EXIT_INPUT, InputError

__all__ = ["Parser", "check_out_dir", "run_command", "subcommand_main"]


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


def subcommand_main(command: str, add_parser: Callable[[Any], Any], argv: Sequence[str] | None) -> int:
    """``python -m breakerlab.<command> ...``: one subcommand on its own, the same as
    ``breakerlab <command> ...``; ``add_parser(subparsers)`` adds it."""
    parser = Parser(prog="breakerlab")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_parser(sub)
    return run_command(parser.parse_args([command, *(sys.argv[1:] if argv is None else argv)]))
