"""Fixtures of the adversarial-search tests (data in ``search_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import SMALL_YAML, WEAK


@pytest.fixture(scope="session")
def small_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "small.yaml"
    path.write_text(SMALL_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def weak_result(small_yaml: Path, tmp_path_factory: pytest.TempPathFactory):
    """The acceptance search: consecutive N=50 against brownouts, seeded, written to a file."""
    from breakerlab.search import search

    out = tmp_path_factory.mktemp("counterexample") / "weak.yaml"
    return search(small_yaml, WEAK, kinds=["brownout"], budget=40, seed=0, out=out)
