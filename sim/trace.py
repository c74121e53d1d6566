"""The trace: what happened in one simulated run, as columnar numpy arrays.

Three tables plus metadata:

``requests`` (one row per user request, row index = request id)
    pod int16, session int64 (-1: not part of a fan-out session), arrival float64 (sim s),
    end float64, outcome int8 (code from ``multiorg.outcomes.OUTCOME_CODES``; -1 = no org
    was available), attempts int16. User latency = end - arrival.
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
turns them into numpy arrays. Saving writes one ``.npz`` with fixed zip timestamps, so the same
run gives a byte-identical file.
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
        """Write one ``.npz`` file; byte-identical for identical traces."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for table, cols in (("requests", self.requests), ("attempts", self.attempts), ("events", self.events)):
                for name in sorted(cols):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(cols[name]), allow_pickle=False)
                    zf.writestr(zipfile.ZipInfo(f"{table}.{name}.npy", _FIXED_DATE), buf.getvalue())
            meta = json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode()
            zf.writestr(zipfile.ZipInfo("meta.json", _FIXED_DATE), meta)
        tmp.replace(path)  # never leave a half-written trace behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        tables: dict[str, dict[str, np.ndarray]] = {"requests": {}, "attempts": {}, "events": {}}
        meta: dict[str, Any] = {}
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name == "meta.json":
                    meta = json.loads(zf.read(name))
                    continue
                table, col, _ = name.split(".")
                tables[table][col] = np.lib.format.read_array(io.BytesIO(zf.read(name)), allow_pickle=False)
        return cls(tables["requests"], tables["attempts"], tables["events"], meta)


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
