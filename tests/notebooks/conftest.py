"""Fixtures of the notebook tests: a Jupyter kernel of this interpreter, isolated from the repo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    # registered wherever this directory is collected (pyproject.toml's marker list may name it too)
    config.addinivalue_line(
        "markers",
        "notebooks: executes notebooks/*.ipynb in a Jupyter kernel (~20 s each; deselect with -m 'not notebooks')",
    )


def _require(module: str) -> None:
    """Import ``module`` or skip; under CI=true a missing package is a failure (CI must run them)."""
    try:
        __import__(module)
    except ImportError:
        msg = f"{module} is not installed (pip install -e '.[test]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"notebook tests need {msg}", pytrace=False)
        pytest.skip(msg)


@pytest.fixture
def notebook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for one notebook run; returns the directory the notebook writes to.

    * ``python3`` resolves to a kernelspec of *this* interpreter (``JUPYTER_PATH`` comes first in
      Jupyter's search path), so the kernel sees the same packages as the test;
    * the repo is on ``PYTHONPATH`` (``import sim`` works without ``pip install -e``);
    * matplotlib is headless (``MPLBACKEND=Agg``), IPython's profile and history go to the temp
      directory, and the notebooks write their files to ``BREAKERLAB_NB_OUT``, not the repo.
    """
    for module in ("nbformat", "nbclient", "ipykernel"):
        _require(module)
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (tests)",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("BREAKERLAB_NB_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return out
