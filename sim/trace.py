"""The trace: what happened in one simulated run, as columnar numpy arrays.

Three tables plus metadata:

``requests`` (one row per user request, row index = request id)
    pod int16, session int64 (-1: not part of a fan-out session), arrival float64 (sim s),
    end float64, outcome int8 (code from ``multiorg.outcomes.OUTCOME_CODES``; -1 = no org
    was available), attempts int16. User latency = end - arrival. Optional: cause int8, why the
    request ended as it did — its outcome code, or for a request that found no org available the
    reason (:data:`NO_ORG_CAUSES`, all negative); a trace without it (older, or a team's own
    router) reads as its outcome, no-org requests as "cause unknown" (see :func:`request_causes`).
``attempts`` (one row per call to one org)
    request int64, org int16 (index into meta["orgs"]), start float64, end float64, outcome int8,
    status int16 (HTTP status; 0 = transport failure), probe bool. The vendor of an attempt is
    ``meta["org_vendors"][org]``.  31 bytes per attempt.
``events`` (breaker transitions = alerts)
    time float64, pod int16, org int16, model int16 (index into meta["models"]), kind int8
    (0 OPENED, 1 HALF_OPEN, 2 CLOSED), failure_count int32, retry_cycles int16,
    block_duration float64.

``meta`` is a JSON-able dict: scenario name, policy name and parameters, seed, mode, orgs,
org_vendors, models, pods, duration, start_epoch (the epoch of sim time 0), fault windows
(list of {kind, target, start, end, label}), and anything a report needs to label a chart.

While recording, columns are ``array.array`` (compact, fast appends); :meth:`TraceRecorder.finish`
turns them into numpy arrays. Saving writes one zip (``.npz``) of losslessly delta-encoded,
byte-shuffled, deflated columns with fixed zip timestamps (format 2, ~13 bytes per attempt), so
the same run gives a byte-identical file; format-1 traces (plain ``.npy`` columns) still load.
"""

from __future__ import annotations

import io
import json
import zipfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REQUEST_COLUMNS: dict[str, str] = {
    "pod": "int16",
    "session": "int64",
    "arrival": "float64",
    "end": "float64",
    "outcome": "int8",
    "attempts": "int16",
}
ATTEMPT_COLUMNS: dict[str, str] = {
    "request": "int64",
    "org": "int16",
    "start": "float64",
    "end": "float64",
    "outcome": "int8",
    "status": "int16",
    "probe": "bool",
}
EVENT_COLUMNS: dict[str, str] = {
    "time": "float64",
    "pod": "int16",
    "org": "int16",
    "model": "int16",
    "kind": "int8",
    "failure_count": "int32",
    "retry_cycles": "int16",
    "block_duration": "float64",
}
EVENT_KINDS = ("OPENED", "HALF_OPEN", "CLOSED")
NO_ORG = -1  # request outcome code when no org was available at all
#: ``requests.cause`` codes of a request that found no org available, by
#: ``multiorg.errors.NoOrgAvailable.cause`` (every org held by a 429's retry-after, every breaker
#: open, some of each, ...); -1 (= NO_ORG) when the cause is not known
NO_ORG_CAUSES: dict[str, int] = {
    "unknown": NO_ORG,
    "rate_limited": -2,
    "breaker_open": -3,
    "mixed": -4,
    "store_busy": -5,
    "deadline": -6,
    "unknown_model": -7,
}
CAUSE = "cause"  # the optional requests column

_TYPECODES = {"int8": "b", "int16": "h", "int32": "i", "int64": "q", "float64": "d", "bool": "b"}
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def _empty(columns: dict[str, str]) -> dict[str, np.ndarray]:
    return {name: np.zeros(0, dtype=dt) for name, dt in columns.items()}


@dataclass
class Trace:
    requests: dict[str, np.ndarray] = field(default_factory=lambda: _empty(REQUEST_COLUMNS))
    attempts: dict[str, np.ndarray] = field(default_factory=lambda: _empty(ATTEMPT_COLUMNS))
    events: dict[str, np.ndarray] = field(default_factory=lambda: _empty(EVENT_COLUMNS))
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_requests(self) -> int:
        return len(self.requests["arrival"])

    @property
    def n_attempts(self) -> int:
        return len(self.attempts["start"])

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` file (format 2, see :func:`_encode`); byte-identical for identical traces."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        columns: dict[str, Any] = {}
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for table, cols in (("requests", self.requests), ("attempts", self.attempts), ("events", self.events)):
                for name in sorted(cols):
                    ref = _DELTA_REF.get((table, name))
                    raw, columns[f"{table}.{name}"] = _encode(cols[name], cols.get(ref) if ref else None, ref)
                    zf.writestr(_entry(f"{table}.{name}.bin"), raw)
            head = {"format": FORMAT, "columns": columns}
            zf.writestr(_entry(FORMAT_ENTRY), json.dumps(head, sort_keys=True).encode())
            meta = json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode()
            zf.writestr(_entry("meta.json"), meta)
        tmp.replace(path)  # never leave a half-written trace behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read what :meth:`save` wrote, or a format-1 trace (plain ``.npy`` columns)."""
        tables: dict[str, dict[str, np.ndarray]] = {"requests": {}, "attempts": {}, "events": {}}
        meta: dict[str, Any] = {}
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                head = json.loads(zf.read(FORMAT_ENTRY)) if FORMAT_ENTRY in names else {"format": 1}
                if head["format"] not in (1, FORMAT):
                    raise ValueError(f"trace format {head['format']} is newer than this breakerlab reads")
                if "meta.json" in names:
                    meta = json.loads(zf.read("meta.json"))
                if head["format"] == 1:
                    for name in names:
                        if name.endswith(".npy"):
                            table, col, _ = name.split(".")
                            tables[table][col] = np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                                          allow_pickle=False)
                else:
                    for key in sorted(head["columns"], key=_refs_last):
                        table, col = key.split(".")
                        spec = head["columns"][key]
                        ref = tables[table].get(spec["delta"]) if spec.get("delta") not in (None, "prev") else None
                        tables[table][col] = _decode(zf.read(f"{key}.bin"), spec, ref)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
            raise TraceFileError(f"{path}: not a readable breakerlab trace ({e}); rerun the scenario to "
                                 "write it again (breakerlab run SCENARIO --policy P)") from None
        return cls(tables["requests"], tables["attempts"], tables["events"], meta)


def request_causes(trace: Trace) -> np.ndarray:
    """The ``cause`` column of ``trace`` (int8, see :data:`NO_ORG_CAUSES`), or, for a trace
    recorded without it, the outcome column (no-org requests: cause unknown)."""
    col = trace.requests.get(CAUSE)
    return np.asarray(trace.requests["outcome"] if col is None else col, dtype=np.int8)


class TraceFileError(ValueError):
    """A trace file this version cannot read (one line, with how to rerun)."""


#: the on-disk format :meth:`Trace.save` writes (1: plain ``.npy`` columns, still read)
FORMAT = 2
FORMAT_ENTRY = "format.json"
#: float columns stored as the difference to another column of the row (else to the previous row)
_DELTA_REF = {("requests", "end"): "arrival", ("attempts", "end"): "start"}


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date (byte-identical files), deflated (a bare ZipInfo is stored)."""
    info = zipfile.ZipInfo(name, _FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _refs_last(key: str) -> int:
    return 1 if tuple(key.split(".")) in _DELTA_REF else 0


def _encode(col: np.ndarray, ref: np.ndarray | None, ref_name: str | None) -> tuple[bytes, dict[str, Any]]:
    """One column → bytes that deflate well, losslessly: a float64's bits as an int64, minus the
    previous row's (or the reference column's) — wrapping integer arithmetic, so exact — then the
    bytes shuffled (all first bytes, all second bytes, ...): times that grow slowly become runs
    of equal high bytes. ~13 bytes per attempt on disk instead of ~59 (format 1)."""
    a = np.ascontiguousarray(col)
    spec: dict[str, Any] = {"dtype": str(a.dtype), "n": int(a.size), "delta": None}
    # float64 times and int64 ids (request, session) grow slowly with the row
    if a.dtype == np.float64 or a.dtype == np.int64:
        bits = a.view(np.int64)
        if ref is not None and len(ref) == len(a):
            work, spec["delta"] = bits - np.ascontiguousarray(ref).view(np.int64), ref_name
        else:
            work, spec["delta"] = np.diff(bits, prepend=np.int64(0)), "prev"
        a = work
    shuffled = a.view(np.uint8).reshape(-1, a.dtype.itemsize).T
    return np.ascontiguousarray(shuffled).tobytes(), spec


def _decode(raw: bytes, spec: dict[str, Any], ref: np.ndarray | None) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    delta = spec.get("delta")
    width = 8 if delta else dtype.itemsize
    stored = np.dtype(np.int64) if delta else dtype
    a = np.frombuffer(raw, np.uint8).reshape(width, spec["n"]).T.copy().view(stored).reshape(spec["n"])
    if delta == "prev":
        a = np.cumsum(a, dtype=np.int64)
    elif delta:
        a = a + np.ascontiguousarray(ref).view(np.int64)
    return a.view(dtype) if delta else a


class _Table:
    __slots__ = ("arrays", "columns")

    def __init__(self, columns: dict[str, str]) -> None:
        self.columns = columns
        self.arrays = {name: array(_TYPECODES[dt]) for name, dt in columns.items()}

    def to_numpy(self) -> dict[str, np.ndarray]:
        out = {}
        for name, dt in self.columns.items():
            arr = self.arrays[name]
            raw = np.frombuffer(arr, dtype=np.dtype(arr.typecode)) if len(arr) else np.zeros(0, np.dtype(arr.typecode))
            out[name] = raw.astype(dt, copy=True)
        return out
