"""The notebooks run top to bottom and show their charts.

* ``test_notebook_executes`` (marked ``notebooks``): runs each notebook in a fresh Jupyter
  kernel of this interpreter (nbclient, ``MPLBACKEND=Agg``, 300 s per cell) from the
  ``notebooks/`` directory, like a reader opening it. No cell may raise, at least one chart must
  come out as an ``image/png`` output, and nothing may be written next to the notebooks: files go
  to ``BREAKERLAB_NB_OUT`` (a temporary directory). Each notebook takes ~20 s on 2 cores.
* ``test_saved_notebook_has_outputs``: the committed notebooks carry their outputs (charts
  visible on GitHub), from one clean top-to-bottom run and without errors. It needs no kernel.

Deselect the slow part with ``pytest -m "not notebooks"``. After editing a notebook, re-execute
it in a fresh kernel and save it with its outputs (nbclient's command)::

    MPLBACKEND=Agg jupyter execute --inplace notebooks/NAME.ipynb
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["policy-comparison.ipynb", "threshold-tuning.ipynb"]
CELL_TIMEOUT = 300  # seconds per cell
MIN_CHARTS = 4  # image/png outputs each notebook shows


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _pngs(nb: Any) -> int:
    return sum(1 for o in _outputs(nb) if "image/png" in (o.get("data") or {}))


def _errors(nb: Any) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in _outputs(nb) if o.get("output_type") == "error"]


def _listing(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


@pytest.mark.notebooks
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name: str, notebook_env: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    before = _listing(NOTEBOOKS)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        allow_errors=False,  # a failing cell raises CellExecutionError with its traceback
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel's working directory
    )
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started

    assert not _errors(nb), _errors(nb)
    assert _pngs(nb) >= MIN_CHARTS, f"{name}: {_pngs(nb)} image/png outputs, expected >= {MIN_CHARTS}"
    assert _listing(NOTEBOOKS) == before, f"{name} wrote into {NOTEBOOKS}"
    assert any(notebook_env.iterdir()), f"{name} wrote nothing to BREAKERLAB_NB_OUT"
    print(f"{name}: executed in {elapsed:.1f} s")


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_has_outputs(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{name} has no code cells"
    # one clean run, top to bottom: execution counts 1, 2, 3, ... in cell order
    assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1)), (
        f"{name} was not saved from one top-to-bottom run (re-execute it and save with outputs)"
    )
    assert not _errors(nb), f"{name} was saved with errors: {_errors(nb)}"
    assert _pngs(nb) >= MIN_CHARTS, f"{name} was saved with {_pngs(nb)} charts, expected >= {MIN_CHARTS}"
