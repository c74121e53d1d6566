"""Fixtures of the simulator's tests (the helpers live in ``sim_helpers``)."""

from __future__ import annotations

import pytest
from sim_helpers import scenario


@pytest.fixture
def make_scenario():
    return scenario
