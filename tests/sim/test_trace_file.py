"""The trace on disk (format 3, chunks): lossless, byte-identical re-save, format-1 traces still load,
anything else fails with one line saying how to rerun."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.scenario import default_scenario
from sim.trace import Trace, TraceFileError


@pytest.fixture(scope="module")
def trace() -> Trace:
    return sim.run(default_scenario(duration=600.0, traffic={"daily_volume": 300_000}), "exponential", mode="fast")


def _same(a: Trace, b: Trace) -> None:
    for table in ("requests", "attempts", "events"):
        ta, tb = getattr(a, table), getattr(b, table)
        assert sorted(ta) == sorted(tb)
        for name in ta:
            assert ta[name].dtype == tb[name].dtype, (table, name)
            assert ta[name].tobytes() == tb[name].tobytes(), (table, name)
    assert a.meta == b.meta


def test_round_trip_is_exact_and_resave_is_byte_identical(trace: Trace, tmp_path: Path) -> None:
    assert trace.n_attempts > 1000
    first = trace.save(tmp_path / "a.npz")
    back = Trace.load(first)
    _same(trace, back)
    assert back.save(tmp_path / "b.npz").read_bytes() == first.read_bytes()
    # the encoding pays: deflated, delta-coded columns are a fraction of the raw 31 + 28 bytes
    assert first.stat().st_size / trace.n_attempts < 25


def test_odd_values_survive(tmp_path: Path) -> None:
    t = Trace()
    t.attempts["start"] = np.array([0.0, 1e-300, 3.5, -2.0, np.inf, 1e300])
    t.attempts["end"] = np.array([np.nan, 0.0, 3.25, 7.0, np.inf, -1e300])
    t.attempts["request"] = np.array([5, -1, 2**62, 0, 3, -(2**62)], dtype=np.int64)
    for name in ("org", "outcome", "status", "probe"):
        t.attempts[name] = np.zeros(6, dtype=t.attempts[name].dtype)
    _same(t, Trace.load(t.save(tmp_path / "odd.npz")))


def test_format_1_traces_still_load(trace: Trace, tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    with zipfile.ZipFile(path, "w") as zf:  # what Trace.save wrote before format 2
        for table in ("requests", "attempts", "events"):
            for name, col in getattr(trace, table).items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, col, allow_pickle=False)
                zf.writestr(f"{table}.{name}.npy", buf.getvalue())
        zf.writestr("meta.json", '{"scenario": "old"}')
    old = Trace.load(path)
    assert old.meta == {"scenario": "old"}
    assert old.attempts["end"].tobytes() == trace.attempts["end"].tobytes()


def test_an_unreadable_trace_says_how_to_rerun(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TraceFileError) as err:
        Trace.load(bad)
    msg = str(err.value)
    assert "\n" not in msg and "rerun" in msg and str(bad) in msg
