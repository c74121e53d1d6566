"""Memory flat in volume: traffic drawn in pieces, traces recorded and kept as compressed column
chunks — and not one value changed by it (the digests below are of what breakerlab wrote before
it chunked anything), byte-identical files per seed, older files still load."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trace_worlds import ARRIVAL_COLUMNS, digests, run_world, traffic_world

import sim
import sim.recorder
from sim.rng import Seeds
from sim.trace import (
    ATTEMPT_COLUMNS,
    FORMAT_ENTRY,
    Trace,
    TraceFileError,
    _encode,
)
from sim.traffic import chunks, generate, join

#: the arrivals of :func:`traffic_world` (seed 11) before traffic went chunked
ARRIVALS = {"max_tokens": "5890c4b1c3e6c761", "model": "a6216864d5d9c050", "pod": "c057c981cfb2e20d",
            "prompt_tokens": "b7b1fe9961444fc9", "session": "f02e432395f25a00", "time": "a7916227452f54ed"}
#: the fast-mode trace columns of :func:`_world` (run_world, failing fast) under ``exponential``
#: (computed on main's code before waiting stopped counting a woken request's 429 — fail-fast
#: decisions are untouched by that — and equal to this branch's: chunking changes none)
REQUESTS = {"arrival": "950273009067ffcf", "attempts": "ad09978d41ccf02d", "cause": "01299d75c5d96283",
            "end": "104c96a9eb967406", "outcome": "d1a66c5dcf88e4cb", "pod": "ff9a47c77635f786",
            "session": "e0f8d82b6f55b9bb"}
ATTEMPTS = {"end": "e72391243b14d71c", "org": "853cdf8946f9ceb0", "outcome": "a5d5c2f25b364949",
            "probe": "68c502a5dda2d844", "request": "771ffa0f11ba1b56", "start": "048f0fd930e1aabc",
            "status": "3503c672739640fb"}
EVENTS = {"block_duration": "0947a342b9f3d336", "failure_count": "7f481dd6a35ea3c1",
          "kind": "2344a99ddae7c50c", "model": "6edd9f6f9cc92cde", "org": "b5ba27554e410210",
          "pod": "8c1922d8a47c7848", "retry_cycles": "32b8c8d5cb1b4fd7", "time": "931f25c79fb8c829"}
#: small chunks, so that a small run is many of them (requests, attempts; the events stay one)
SMALL = 1 << 11


def _world() -> Any:
    """:func:`run_world`, failing fast and not pacing: its squeeze then opens breakers and
    requests find no org (waiting, the default, no longer counts a woken request's 429 against a
    breaker, and the squeeze's requests wait instead). The digests above are of this world."""
    sc = run_world()
    return sc.model_copy(update={"router": sc.router.model_copy(update={"wait_for_capacity": False, "pacing": False})})


@pytest.fixture(scope="module")
def small_chunks() -> Trace:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim.recorder, "CHUNK_ROWS", SMALL)
        return sim.run(_world(), "exponential", mode="fast")


def test_pieces_of_traffic_are_the_whole_runs_arrivals() -> None:
    sc = traffic_world()
    whole = generate(sc, Seeds(11))
    assert digests({k: getattr(whole, k) for k in ARRIVAL_COLUMNS}) == ARRIVALS
    for span in (300.0, 1234.5):
        pieces = list(chunks(sc, Seeds(11), span))
        assert len(pieces) == int(np.ceil(sc.duration / span))
        assert [p.first for p in pieces] == np.cumsum([0] + [len(p) for p in pieces[:-1]]).tolist()
        for p in pieces[:-1]:
            assert len(p) == 0 or p.time[-1] < p.until
        joined = join(pieces)
        assert digests({k: getattr(joined, k) for k in ARRIVAL_COLUMNS}) == ARRIVALS
        assert joined.n_sessions == whole.n_sessions > 0


def test_chunked_recording_changes_no_decision(small_chunks: Trace) -> None:
    t = small_chunks
    assert t.requests.is_chunked and t.attempts.is_chunked
    assert len(t.requests._rows) > 4 and len(t.attempts._rows) > 4
    assert (t.requests["cause"] < -1).sum() > 100  # requests that found no org: causes kept per chunk
    assert digests(t.requests) == REQUESTS
    assert digests(t.attempts) == ATTEMPTS
    assert digests(t.events) == EVENTS
    assert t.meta["sessions"] == 60


def test_same_seed_same_file_and_it_round_trips(small_chunks: Trace, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.recorder, "CHUNK_ROWS", SMALL)
    a = small_chunks.save(tmp_path / "a.npz")
    assert sim.run(_world(), "exponential", mode="fast").save(tmp_path / "b.npz").read_bytes() == a.read_bytes()
    back = Trace.load(a)
    assert back.save(tmp_path / "c.npz").read_bytes() == a.read_bytes()
    for table in ("requests", "attempts", "events"):
        assert digests(getattr(back, table)) == digests(getattr(small_chunks, table))
    assert back.meta == json.loads(json.dumps(small_chunks.meta, sort_keys=True))
    assert a.stat().st_size / back.n_attempts < 25


def test_a_chunked_table_reads_like_a_dict_of_arrays(small_chunks: Trace) -> None:
    a = small_chunks.attempts
    start = a["start"]
    assert list(a) == list(ATTEMPT_COLUMNS) and len(a) == len(ATTEMPT_COLUMNS) and "start" in a
    assert a.rows == len(start) == small_chunks.n_attempts
    with pytest.raises(ValueError):
        start[0] = 1.0  # a shared decoded copy: read-only
    pieces = list(a.chunks(["start", "end"]))
    assert len(pieces) == len(a._rows)
    assert np.concatenate([p["end"] for p in pieces]).tobytes() == a["end"].tobytes()
    # pickled (to and from workers) as chunks, not arrays
    raw = pickle.dumps(small_chunks)
    assert len(raw) < 0.6 * sum(a[k].nbytes for k in a)
    assert digests(pickle.loads(raw).attempts) == ATTEMPTS
    copy = pickle.loads(raw)
    copy.attempts["status"] = np.zeros(copy.n_attempts, np.int16)  # setting a column: plain arrays
    assert not copy.attempts.is_chunked and copy.attempts["start"].tobytes() == start.tobytes()


def test_plain_tables_save_in_chunks(tmp_path: Path) -> None:
    t = Trace(attempts={"start": np.arange(5.0), "end": np.arange(5.0) + 1, "org": np.arange(5, dtype=np.int16)})
    back = Trace.load(t.save(tmp_path / "p.npz"))
    assert back.attempts.is_chunked and back.attempts["end"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert back.requests.rows == 0 and back.requests["arrival"].dtype == np.float64


def _write_format_2(trace: Trace, path: Path) -> None:
    """What Trace.save wrote before chunks (format 2): one deflated, delta-coded entry per column."""
    refs = {("requests", "end"): "arrival", ("attempts", "end"): "start"}
    columns = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table in ("requests", "attempts", "events"):
            cols = getattr(trace, table)
            for name in sorted(cols):
                ref = refs.get((table, name))
                raw, columns[f"{table}.{name}"] = _encode(cols[name], cols[ref] if ref else None, ref)
                zf.writestr(f"{table}.{name}.bin", raw)
        zf.writestr(FORMAT_ENTRY, json.dumps({"format": 2, "columns": columns}))
        zf.writestr("meta.json", json.dumps(trace.meta))


def test_format_2_traces_still_load(small_chunks: Trace, tmp_path: Path) -> None:
    _write_format_2(small_chunks, tmp_path / "v2.npz")
    old = Trace.load(tmp_path / "v2.npz")
    assert digests(old.attempts) == ATTEMPTS and digests(old.requests) == REQUESTS
    assert old.n_requests == small_chunks.n_requests


@pytest.mark.parametrize("damage", ["newer", "truncated", "chunk"])
def test_a_trace_this_version_cannot_read_says_how_to_rerun(small_chunks: Trace, tmp_path: Path,
                                                            damage: str) -> None:
    good = small_chunks.save(tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    else:
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if damage == "newer" and info.filename == FORMAT_ENTRY:
                    data = json.dumps({**json.loads(data), "format": 99}).encode()
                if damage == "chunk" and info.filename == "attempts.start.0.z":
                    data = b"not deflated"
                dst.writestr(info, data)
    with pytest.raises(TraceFileError) as err:
        Trace.load(bad).attempts["start"]  # a chunk is inflated when its column is read
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "rerun" in msg


def test_a_chunked_table_keeps_few_decoded_columns(monkeypatch: pytest.MonkeyPatch, small_chunks: Trace) -> None:
    import sim.trace as trace_mod

    t = pickle.loads(pickle.dumps(small_chunks))
    other = pickle.loads(pickle.dumps(small_chunks))
    monkeypatch.setattr(trace_mod, "CACHE_BYTES", 3 * 8 * t.n_attempts)
    for name in ("request", "start", "end", "org", "outcome"):
        t.attempts[name]
    assert sum(a.nbytes for a in trace_mod._DECODED.held().values()) <= 3 * 8 * t.n_attempts
    assert "request" not in trace_mod._DECODED.held(t.attempts._key)  # the least recently read went first
    assert io.BytesIO(pickle.dumps(t)).getbuffer().nbytes < len(pickle.dumps(small_chunks)) * 1.01
    # one budget for every table of the process: reading another trace's columns evicts these
    for name in ("request", "start", "end"):
        other.attempts[name]
    assert not trace_mod._DECODED.held(t.attempts._key)
    assert sum(a.nbytes for a in trace_mod._DECODED.held().values()) <= 3 * 8 * t.n_attempts


def test_the_manual_operator_sees_the_same_errors_across_stored_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's dashboard reads recent outcomes, some of them in blocks already compressed."""
    sc = sim.default_scenario(
        duration=1800.0, pods=2, traffic={"daily_volume": 200_000},
        modifiers=[{"kind": "outage", "label": "openai down", "targets": ["vendor:openai"], "start": 600.0,
                    "error_rate_set": 1.0, "error_mix": {"503": 1.0}}])
    policy = ("manual", {"reaction_delay": "3m", "check_every": "1m", "alert_window": "2m"})
    whole = sim.run(sc, policy, seed=3)
    monkeypatch.setattr(sim.recorder, "CHUNK_ROWS", 1 << 8)
    small = sim.run(sc, policy, seed=3)
    assert len(small.requests._rows) > 10
    assert whole.meta["operator_flips"] and small.meta["operator_flips"] == whole.meta["operator_flips"]
    for table in ("requests", "attempts", "events"):
        assert digests(getattr(small, table)) == digests(getattr(whole, table))


def test_chunks_go_to_disk_while_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SPOOL_BYTES the recorder's chunks are in a temporary file, not in memory — and the
    columns read back are the very ones (the digests before chunking)."""
    import sim.trace as trace_mod

    monkeypatch.setattr(sim.recorder, "CHUNK_ROWS", SMALL)
    monkeypatch.setattr(trace_mod, "SPOOL_BYTES", 4096)
    before_the_end: list[tuple[bool, int]] = []
    real = sim.recorder.Recorder.trace

    def trace(rec: sim.recorder.Recorder, meta: dict) -> Trace:
        before_the_end.append((rec.spool.on_disk, rec.spool.nbytes))
        return real(rec, meta)

    monkeypatch.setattr(sim.recorder.Recorder, "trace", trace)
    t = sim.run(_world(), "exponential", mode="fast")
    # while the run went on: on disk, and most of the bytes, before the recorder was asked for the trace
    [(on_disk, written)] = before_the_end
    assert on_disk and written > 0.5 * sum(getattr(t, n).nbytes_stored() for n in ("requests", "attempts", "events"))
    for table in ("requests", "attempts", "events"):
        assert getattr(t, table).nbytes_in_memory() == 0
    assert digests(t.requests) == REQUESTS and digests(t.attempts) == ATTEMPTS and digests(t.events) == EVENTS
    # pickled (to the parent) as the bytes, read back the same
    assert digests(pickle.loads(pickle.dumps(t)).attempts) == ATTEMPTS


def test_a_loaded_trace_reads_its_chunks_from_the_file(small_chunks: Trace, tmp_path: Path) -> None:
    path = small_chunks.save(tmp_path / "a.npz")
    back = Trace.load(path)
    assert back.attempts.nbytes_in_memory() == 0 and back.attempts.nbytes_stored() > 0
    assert digests(back.attempts) == ATTEMPTS
    # a loaded trace saved elsewhere is the same file
    assert back.save(tmp_path / "b.npz").read_bytes() == path.read_bytes()
    # the file replaced since: refused in one line, with how to rerun (never other bytes read)
    again = Trace.load(path)
    sim.run(run_world(), "exponential", mode="fast", seed=2).save(path)
    with pytest.raises(TraceFileError) as err:
        again.requests["arrival"]
    assert "\n" not in str(err.value) and "rerun" in str(err.value)


def test_the_parent_of_many_jobs_keeps_their_chunks_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.trace as trace_mod
    from breakerlab.jobs import SimJob, run_jobs

    monkeypatch.setattr(trace_mod, "SPOOL_BYTES", 4096)
    sc = run_world()
    jobs = [SimJob("exp", sc, "exponential", seed, "fast") for seed in (1, 2)]
    traces = run_jobs(jobs)
    assert all(getattr(t, name).nbytes_in_memory() == 0 for t in traces for name in ("requests", "attempts"))
    assert digests(traces[0].attempts) == digests(sim.run(sc, "exponential", mode="fast", seed=1).attempts)


def test_time_series_read_chunk_by_chunk_are_those_of_the_whole_columns(small_chunks: Trace) -> None:
    from reports.metrics import timeseries

    whole = pickle.loads(pickle.dumps(small_chunks))
    for name in ("requests", "attempts", "events"):
        table = getattr(whole, name)
        table[next(iter(table))] = np.array(table[next(iter(table))])  # setting a column: plain arrays
        assert not table.is_chunked
    a, b = timeseries([small_chunks, small_chunks]), timeseries([whole, whole])
    assert len(small_chunks.requests._rows) > 4
    for field_ in ("edges", "requests", "ok", "attempts", "ok_attempts"):
        assert np.array_equal(getattr(a, field_), getattr(b, field_))
    assert np.array_equal(a.latency, b.latency, equal_nan=True)


@pytest.mark.parametrize("top", [50, 10**9])  # few small ids (no sort), and sparse ones (np.unique)
def test_session_ranks_are_np_uniques(top: int) -> None:
    from reports.metrics import _dense_ranks

    ids = np.random.default_rng(3).integers(0, top, 5000)
    uniq, inv = np.unique(ids, return_inverse=True)
    n, ranks = _dense_ranks(ids)
    assert n == len(uniq) and np.array_equal(ranks, inv)
    assert _dense_ranks(np.zeros(0, np.int64))[0] == 0


def test_a_loaded_trace_saved_over_its_own_file_stays_readable(small_chunks: Trace, tmp_path: Path) -> None:
    """write_report(load_traces(d), d) saves the traces where they were loaded from."""
    path = small_chunks.save(tmp_path / "a.npz")
    back = Trace.load(path)
    inode = path.stat().st_ino
    back.save(path)
    assert path.stat().st_ino == inode  # the same bytes: the file is kept
    assert digests(back.attempts) == ATTEMPTS
