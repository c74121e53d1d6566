"""Fixtures of the sweep tests (helpers live in ``sweep_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import SMALL_YAML


@pytest.fixture
def small_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_YAML, encoding="utf-8")
    return path
