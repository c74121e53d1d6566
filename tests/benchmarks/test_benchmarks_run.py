"""The benchmark scripts still run and print what their docstrings promise.

Smoke tests only, on tiny sizes: the figures themselves are machine-dependent and are never
asserted (see benchmarks/); what is checked is that every promised key is there, with sane types,
so a refactor cannot silently break the scripts people use to measure the simulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_throughput_prints_every_promised_figure() -> None:
    r = _run("throughput.py", "--quick")
    for key in ("fast_rps", "bare_simpy_rps", "fast_ratio", "full_rps", "bare_respx_rps", "full_ratio",
                "peak_rss_mb", "router_core_us", "fast_ratio_ceiling", "fast_ratio_cpu",
                "fast_token_cpu_us_per_request", "token_latency_cpu_ratio"):
        assert isinstance(r[key], (int, float)) and r[key] > 0, key
    assert isinstance(r["sim_overhead_ratio"], (int, float))
    assert abs(r["sim_overhead_ratio"] - r["sim_overhead_cpu_us"] / r["router_core_us"]) < 0.01
    assert abs(r["fast_ratio"] - r["fast_rps"] / r["bare_simpy_rps"]) < 0.01
    assert abs(r["full_ratio"] - r["full_rps"] / r["bare_respx_rps"]) < 0.01
    assert "day_1m_seconds" not in r  # --quick skips the day
    assert set(r["targets"]) == {"fast_ratio>=0.4", "full_ratio>=0.5", "sim_overhead_ratio<=1.0",
                                 "day_1m_cpu_seconds<=15", "peak_rss_mb<=1024"}
    assert r["targets"]["day_1m_cpu_seconds<=15"] is False  # not measured is not met


def test_scaling_prints_a_row_per_size() -> None:
    r = _run("scaling.py", "--sizes", "1000,3000", "--repeat", "1")
    assert [row["requests"] for row in r["rows"]] == sorted(row["requests"] for row in r["rows"])
    assert len(r["rows"]) == 2 and r["rows"][0]["cpu_ratio_to_first"] == 1.0
    assert all(0 < row["bytes_per_attempt"] <= 100 for row in r["rows"])
    assert all(row["peak_rss_mb"] >= row["base_rss_mb"] > 0 for row in r["rows"])
    assert all(isinstance(row["rss_bytes_per_request"], (int, float)) for row in r["rows"])
    assert isinstance(r["flat_within_20pct"], bool)
    assert r["rss_flat_within_20pct"] is None  # too small to compare memory per request


def test_router_overhead_without_redis() -> None:
    r = _run("router_overhead.py", "--requests", "2000", "--repeat", "1", "--no-redis")
    assert r["memory"]["router_overhead_us_per_request"] > 0 and r["memory"]["target_us"] == 25.0
    assert r["redis"] == {"skipped": "--no-redis"}


def test_capacity_cost_prints_each_world() -> None:
    r = _run("capacity_cost.py", "--requests", "3000", "--repeat", "1")
    for key in ("plain_cpu_us", "provisioned_cpu_us", "pool_cpu_us", "provisioned_ratio", "pool_ratio"):
        assert isinstance(r[key], (int, float)) and r[key] > 0, key
    assert abs(r["pool_ratio"] - r["pool_cpu_us"] / r["plain_cpu_us"]) < 0.01
    assert r["requests"]["plain"] == r["requests"]["pool"] > 0  # the same traffic in every world
