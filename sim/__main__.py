"""``python -m sim schema``: the scenario format's JSON Schema (``scenarios/schema.json``);
``python -m sim FILE...``: validate scenario files, one line per bad file, exit 2 if any.

(``breakerlab validate`` is the app's command for the same check.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from .loader import ScenarioError, load_scenario, scenario_json_schema


def main(argv: Sequence[str]) -> int:
    if list(argv[:1]) == ["schema"]:
        sys.stdout.write(json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n")
        return 0
    if not argv:
        print("usage: python -m sim schema | FILE...", file=sys.stderr)
        return 2
    bad = 0
    for f in argv:
        try:
            sc = load_scenario(f)
        except ScenarioError as e:
            print(e, file=sys.stderr)
            bad += 1
        else:
            print(f"{f}: ok ({sc.name})")
    return 2 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
