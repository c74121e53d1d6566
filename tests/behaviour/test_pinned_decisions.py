"""Decisions pinned: every library scenario under each policy it lists, at its own seed and its
CI scale (``ci_scale``), in fast mode, hashed column by column (requests, attempts, breaker events).

A refactor must not change what the router decides. When a change is *meant* to change decisions
(a scenario edited, a policy fixed), regenerate the pins and say why in the commit:

    python tests/behaviour/test_pinned_decisions.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PINS = Path(__file__).with_name("pinned_decisions.json")


def _digest(table: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(table):
        col = np.ascontiguousarray(table[name])
        h.update(name.encode())
        h.update(str(col.dtype).encode())
        h.update(col.tobytes())
    return h.hexdigest()[:20]


def _cases() -> list[tuple[str, str]]:
    from sim.loader import load_scenario

    out = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        sc = load_scenario(path)
        for p in sc.policies:
            out.append((path.name, p.label or p.name))
    return out


def _run(file: str, policy_id: str) -> dict[str, str]:
    import sim
    from sim.loader import load_scenario

    sc = load_scenario(ROOT / "scenarios" / file)
    sc = sc.scaled(sc.ci_scale or 1.0)
    spec = next(p for p in sc.policies if (p.label or p.name) == policy_id)
    trace = sim.run(sc, spec, mode="fast")
    return {t: _digest(getattr(trace, t)) for t in ("requests", "attempts", "events")}


def _pins() -> dict[str, dict[str, str]]:
    return json.loads(PINS.read_text())


@pytest.mark.parametrize("case", sorted(_pins()), ids=str)
def test_decisions_unchanged(case: str) -> None:
    file, policy_id = case.split("::")
    assert _run(file, policy_id) == _pins()[case]


def test_every_library_case_is_pinned() -> None:
    assert sorted(f"{f}::{p}" for f, p in _cases()) == sorted(_pins())


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    sys.path.insert(0, str(ROOT))
    pins = {f"{f}::{p}": _run(f, p) for f, p in _cases()}
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    print(f"pinned {len(pins)} cases -> {PINS}")
