"""benchmarks/async_face.py still runs and prints what its docstring promises (figures never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_async_face_benchmark_prints_both_modes() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "async_face.py"), "--fast-requests", "300",
                          "--full-requests", "100", "--repeat", "1", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    for mode in ("fast", "full"):
        row = r[mode]
        assert row["requests"] > 0 and row["sync_us"] > 0 and row["async_us"] > 0
        assert abs(row["ratio"] - row["async_us"] / row["sync_us"]) < 0.01
        assert row["same_decisions"] is True
