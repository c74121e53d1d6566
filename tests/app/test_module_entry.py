"""``python -m breakerlab`` is the ``breakerlab`` command: same parser, same exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "breakerlab", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_help_lists_the_commands() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: breakerlab")
    for command in ("run", "compare", "sweep", "league"):
        assert command in proc.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _run("validate", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing.yaml" in proc.stderr
