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
    ``meta["org_vendors"][org]``.  31 bytes per attempt decoded.
``events`` (breaker transitions = alerts)
    time float64, pod int16, org int16, model int16 (index into meta["models"]), kind int8
    (0 OPENED, 1 HALF_OPEN, 2 CLOSED), failure_count int32, retry_cycles int16,
    block_duration float64.

``meta`` is a JSON-able dict: scenario name, policy name and parameters, seed, mode, orgs,
org_vendors, models, pods, duration, start_epoch (the epoch of sim time 0), fault windows
(list of {kind, target, start, end, label}), and anything a report needs to label a chart.

Columns are held as compressed chunks of :data:`CHUNK_ROWS` rows (the recorder writes them while
the run goes on, to a :class:`BlobSpool`: a temporary file past :data:`SPOOL_BYTES`; see
:class:`Table`) and decoded when read, so a run of millions of requests keeps a few MB in memory
whatever its volume. A column reads as one numpy array (``trace.attempts["start"]``);
:meth:`Table.chunks` hands out the rows piece by piece. A loaded format-3 trace reads its chunks
from its file when they are needed.

On disk (format 3) a trace is one zip of the very chunks — each column's float64 bits and int64
ids delta-coded (losslessly), byte-shuffled and deflated — stored with fixed zip timestamps, so
the same run gives a byte-identical file (~15 bytes per attempt). Format-2 (one deflated column
per entry) and format-1 traces (plain ``.npy`` columns) still load.
"""

from __future__ import annotations

import contextlib
import filecmp
import io
import itertools
import json
import os
import tempfile
import zipfile
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
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
#: rows per chunk: every column of a table is cut at the same rows (a delta-coded column
#: refers to another column's chunk with the same rows)
CHUNK_ROWS = 1 << 18
#: deflate level of a chunk: 1 costs ~0.35 µs CPU per request against ~1.25 µs at 6, for ~15.1 bytes
#: per attempt on disk instead of ~14.2 (benchmark world, 300k requests; 9 is ~4x slower than 6)
LEVEL = 1
#: compressed bytes a :class:`BlobSpool` keeps in memory before it moves them to a file
SPOOL_BYTES = 8 << 20
#: decoded columns a chunked table keeps ready, in bytes (the rest are decoded again when read). A
#: true-scale run's float column is 64 MB (8M rows): 160 MB keeps the two read last, so a report's
#: passes over the same columns decode them less often (64 MB kept no float column: 1-2 s of a ~14 s report)
CACHE_BYTES = 160 << 20


def _empty(columns: dict[str, str]) -> dict[str, np.ndarray]:
    return {name: np.zeros(0, dtype=dt) for name, dt in columns.items()}


class BlobSpool:
    """Compressed chunks kept on disk, not in memory: appended and read back by offset. The first
    :data:`SPOOL_BYTES` stay in memory (a small run opens no file); past that, every chunk goes
    to an anonymous temporary file (gone when closed or collected, even if the process dies).
    One spool serves any number of tables; :class:`SpooledBlobs` hold their places."""

    __slots__ = ("_buffer", "_end", "_file")

    def __init__(self) -> None:
        self._buffer: bytearray | None = bytearray()
        self._file: Any = None
        self._end = 0

    def put(self, blob: bytes) -> tuple[int, int]:
        """Append ``blob``; its (offset, length)."""
        where = (self._end, len(blob))
        if self._buffer is not None and self._end + len(blob) > SPOOL_BYTES:
            self._file = tempfile.TemporaryFile(prefix="breakerlab-trace-")  # noqa: SIM115 (lives with the spool)
            os.pwrite(self._file.fileno(), self._buffer, 0)
            self._buffer = None
        if self._buffer is not None:
            self._buffer += blob
        else:
            os.pwrite(self._file.fileno(), blob, self._end)
        self._end += len(blob)
        return where

    def get(self, offset: int, length: int) -> bytes:
        if self._buffer is not None:
            return bytes(self._buffer[offset:offset + length])
        return os.pread(self._file.fileno(), length, offset)

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    @property
    def nbytes(self) -> int:
        return self._end


class SpooledBlobs(Sequence[bytes]):
    """One column's chunks in a :class:`BlobSpool` (or a saved trace's file): reads like a list of
    bytes, holds two ints per chunk. Pickles as the bytes themselves (a worker's spool file is not
    the parent's)."""

    __slots__ = ("_at", "_spool")

    def __init__(self, spool: BlobSpool, blobs: Sequence[bytes] = ()) -> None:
        self._spool: Any = spool
        self._at: list[tuple[int, int]] = [spool.put(b) for b in blobs]

    @classmethod
    def at(cls, source: Any, places: Sequence[tuple[int, int]]) -> SpooledBlobs:
        """Chunks already written: ``source.get(offset, length)`` reads each of ``places``."""
        blobs = cls.__new__(cls)
        blobs._spool, blobs._at = source, list(places)
        return blobs

    def append(self, blob: bytes) -> None:
        self._at.append(self._spool.put(blob))

    def __len__(self) -> int:
        return len(self._at)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self._spool.get(*at) for at in self._at[k]]
        return self._spool.get(*self._at[k])

    def nbytes(self) -> int:
        return sum(n for _, n in self._at)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class _TraceFile:
    """A saved trace's chunks read from the file when needed (a :class:`SpooledBlobs` source).
    The file must stay as it was when loaded (a trace saved over it is another file: refused)."""

    __slots__ = ("identity", "path")

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.identity = _identity(path)

    def get(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            if _identity(f.fileno()) != self.identity:
                raise OSError("the file changed since it was loaded")
            blob = os.pread(f.fileno(), length, offset)
        if len(blob) != length:
            raise OSError("the file is shorter than when it was loaded")
        return blob


def _identity(file: Any) -> tuple[int, ...]:
    st = os.stat(file)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _stored_places(zf: zipfile.ZipFile, path: str | Path) -> dict[str, tuple[int, int]]:
    """Where each stored (not deflated) entry's bytes are in the file: (offset, length)."""
    places = {}
    with open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                continue
            f.seek(info.header_offset)
            local = f.read(30)  # the local header: its name and extra lengths end it
            if local[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"entry {info.filename}: bad local header")
            skip = int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
            places[info.filename] = (info.header_offset + 30 + skip, info.compress_size)
    return places


def _column_blobs(zf: zipfile.ZipFile, places: dict[str, tuple[int, int]], names: list[str]) -> Sequence[bytes]:
    """A column's chunks: read from the file when needed if stored, else read now."""
    if all(n in places for n in names):
        return SpooledBlobs.at(_TraceFile(zf.filename or ""), [places[n] for n in names])
    return [zf.read(n) for n in names]


def _nbytes(blobs: Sequence[bytes]) -> int:
    return blobs.nbytes() if isinstance(blobs, SpooledBlobs) else sum(len(b) for b in blobs)


class _DecodedColumns:
    """The columns chunked tables decoded last, for all of this process's tables together (a
    parent holding many runs' traces keeps :data:`CACHE_BYTES`, not that much per table); the
    least recently read go first."""

    def __init__(self) -> None:
        self._columns: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[int, str]) -> np.ndarray | None:
        hit = self._columns.get(key)
        if hit is not None:
            self._columns.move_to_end(key)
        return hit

    def put(self, key: tuple[int, str], column: np.ndarray) -> None:
        if column.nbytes > CACHE_BYTES:
            return
        while self._columns and self._bytes + column.nbytes > CACHE_BYTES:
            self._bytes -= self._columns.popitem(last=False)[1].nbytes
        self._columns[key] = column
        self._bytes += column.nbytes

    def drop(self, table: int) -> None:
        for key in [k for k in self._columns if k[0] == table]:
            self._bytes -= self._columns.pop(key).nbytes

    def held(self, table: int | None = None) -> dict[str, np.ndarray]:
        """The columns kept (of ``table``, by name; of every table: by ``"key.name"``)."""
        return {(name if table is not None else f"{key}.{name}"): a for (key, name), a in self._columns.items()
                if table is None or key == table}


_DECODED = _DecodedColumns()
_TABLE_KEYS = itertools.count()


class Table(MutableMapping[str, np.ndarray]):
    """One table's columns, read as numpy arrays: either plain arrays or compressed chunks.

    A chunked table (what a run records, what a format-3 file loads) holds each column as deflated
    chunks of :data:`CHUNK_ROWS` rows and decodes a column when it is read; the most recent reads
    of all tables together (up to :data:`CACHE_BYTES` in this process) are kept, read-only.
    Setting a column turns the table into plain arrays. ``len(table)`` is the number of columns;
    :attr:`rows` the number of rows."""

    __slots__ = ("_blobs", "_dense", "_key", "_rows", "_source", "_spec")

    def __init__(self, columns: Mapping[str, Any] | None = None) -> None:
        self._dense: dict[str, np.ndarray] | None = (
            {k: np.asarray(v) for k, v in columns.items()} if columns is not None else {})
        self._spec: dict[str, dict[str, Any]] = {}  # chunked: name -> {"dtype", "delta"}
        self._blobs: dict[str, Sequence[bytes]] = {}
        self._rows: list[int] = []
        self._key = next(_TABLE_KEYS)  # this table's decoded columns in the cache
        self._source = ""

    @classmethod
    def chunked(cls, spec: Mapping[str, Mapping[str, Any]], rows: Sequence[int],
                blobs: Mapping[str, Sequence[bytes]], source: str = "") -> Table:
        """A table of compressed chunks; ``source``: the file they came from (for errors)."""
        t = cls()
        t._source = source
        t._dense = None
        t._spec = {k: dict(v) for k, v in spec.items()}
        t._rows = list(rows)
        t._blobs = {k: blobs[k] if isinstance(blobs[k], SpooledBlobs) else list(blobs[k]) for k in spec}
        return t

    # ------------------------------------------------------------------ mapping

    @property
    def is_chunked(self) -> bool:
        return self._dense is None

    @property
    def rows(self) -> int:
        if self._dense is None:
            return sum(self._rows)
        return len(next(iter(self._dense.values()))) if self._dense else 0

    def __len__(self) -> int:
        return len(self._spec if self._dense is None else self._dense)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._spec if self._dense is None else self._dense))

    def __contains__(self, name: object) -> bool:
        return name in (self._spec if self._dense is None else self._dense)

    def __getitem__(self, name: str) -> np.ndarray:
        if self._dense is not None:
            return self._dense[name]
        hit = _DECODED.get((self._key, name))
        if hit is None:
            spec = self._spec[name]  # KeyError for an unknown column, as a dict
            parts = [self._chunk(name, k) for k in range(len(self._rows))]
            hit = np.concatenate(parts) if parts else np.zeros(0, dtype=spec["dtype"])
            hit.flags.writeable = False  # a shared, cached copy: changing it would change nothing stored
            _DECODED.put((self._key, name), hit)
        return hit

    def __del__(self) -> None:  # its decoded columns leave the process-wide cache with it
        with contextlib.suppress(Exception):
            _DECODED.drop(self._key)

    def __setitem__(self, name: str, value: Any) -> None:
        self._materialize()[name] = np.asarray(value)

    def __delitem__(self, name: str) -> None:
        del self._materialize()[name]

    def _materialize(self) -> dict[str, np.ndarray]:
        if self._dense is None:
            self._dense = {k: np.array(self[k]) for k in self._spec}
            self._spec, self._blobs, self._rows = {}, {}, []
            _DECODED.drop(self._key)
        return self._dense

    def __getstate__(self) -> dict[str, Any]:  # pickled to and from workers: no cache
        return {"dense": self._dense, "spec": self._spec, "blobs": self._blobs, "rows": self._rows,
                "source": self._source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._dense, self._spec, self._blobs, self._rows = state["dense"], state["spec"], state["blobs"], state["rows"]
        self._source = state.get("source", "")
        self._key = next(_TABLE_KEYS)

    def __repr__(self) -> str:
        kind = f"{len(self._rows)} chunks" if self._dense is None else "arrays"
        return f"Table({self.rows} rows x {list(self)}, {kind})"

    # ------------------------------------------------------------------ chunks

    def _chunk(self, name: str, k: int) -> np.ndarray:
        spec = self._spec[name]
        delta = spec.get("delta")
        ref = self._chunk(delta, k) if delta not in (None, "prev") else None
        try:
            return _decode(zlib.decompress(self._blobs[name][k]), {**spec, "n": self._rows[k]}, ref)
        except (zlib.error, ValueError, OSError) as e:
            raise TraceFileError(f"{self._source or 'trace'}: chunk {k} of column {name} is damaged ({e}); rerun "
                                 "the scenario to write it again (breakerlab run SCENARIO --policy P)") from None

    def chunks(self, names: Sequence[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """The rows piece by piece: per chunk, ``{name: array}`` of ``names`` (default: all).
        A plain table is one piece."""
        names = list(self) if names is None else list(names)
        if self._dense is not None:
            yield {n: self._dense[n] for n in names}
            return
        for k in range(len(self._rows)):
            yield {n: self._chunk(n, k) for n in names}

    def stored(self) -> Table:
        """This table as compressed chunks (itself if it already is)."""
        if self._dense is None:
            return self
        w = TableWriter({k: str(v.dtype) for k, v in self._dense.items()})
        n = self.rows
        for lo in range(0, n, CHUNK_ROWS):
            w.add({k: v[lo:lo + CHUNK_ROWS] for k, v in self._dense.items()})
        return w.table()

    def nbytes_stored(self) -> int:
        """Bytes of compressed chunks (0 for a plain table), in memory or spooled."""
        return sum(_nbytes(bs) for bs in self._blobs.values())

    def nbytes_in_memory(self) -> int:
        """Bytes of compressed chunks held in memory (not spooled to disk)."""
        return sum(_nbytes(bs) for bs in self._blobs.values() if not isinstance(bs, SpooledBlobs))

    def spool(self, spool: BlobSpool) -> None:
        """Move the chunks held in memory to ``spool`` (a plain table is left as it is)."""
        for name, bs in self._blobs.items():
            if not isinstance(bs, SpooledBlobs):
                self._blobs[name] = SpooledBlobs(spool, bs)


class TableWriter:
    """Builds a chunked :class:`Table` from pieces of rows (:meth:`add`), compressing as it goes."""

    __slots__ = ("_blobs", "_rows", "_spec", "columns")

    def __init__(self, columns: Mapping[str, str], spool: BlobSpool | None = None) -> None:
        """``spool``: where the chunks go as they are compressed (default: kept in memory)."""
        self.columns = dict(columns)
        self._spec: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, list[bytes] | SpooledBlobs] = {
            k: [] if spool is None else SpooledBlobs(spool) for k in self.columns}
        self._rows: list[int] = []

    def add(self, cols: Mapping[str, np.ndarray]) -> None:
        """One chunk: the same number of rows of every column."""
        n = len(next(iter(cols.values()))) if cols else 0
        if not n:
            return
        table = {k: np.ascontiguousarray(cols[k], dtype=dt) for k, dt in self.columns.items()}
        for name, a in table.items():
            ref = _ref(name, table)
            raw, spec = _encode(a, table[ref] if ref else None, ref)
            spec.pop("n")
            if self._spec.setdefault(name, spec) != spec:
                raise ValueError(f"column {name}: chunks encoded differently ({spec} vs {self._spec[name]})")
            self._blobs[name].append(zlib.compress(raw, LEVEL))
        self._rows.append(n)

    def table(self) -> Table:
        spec = {k: self._spec.get(k) or {"dtype": str(np.dtype(dt)), "delta": None} for k, dt in self.columns.items()}
        return Table.chunked(spec, self._rows, self._blobs)


class Recording:
    """A table recorded row by row: ``array.array`` columns (fast appends) whose full chunks of
    :data:`CHUNK_ROWS` rows go to a :class:`TableWriter` (:meth:`flush`), and from there to
    ``spool`` if given."""

    __slots__ = ("arrays", "chunk_rows", "columns", "writer")

    def __init__(self, columns: dict[str, str], chunk_rows: int = CHUNK_ROWS, spool: BlobSpool | None = None) -> None:
        self.columns = columns
        self.chunk_rows = chunk_rows
        self.arrays = {name: array(_TYPECODES[dt]) for name, dt in columns.items()}
        self.writer = TableWriter(columns, spool)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def flush(self, final: bool = False) -> None:
        """Compress the full chunks (and with ``final`` the rest); the arrays keep their identity
        (the recorder holds their bound ``append``)."""
        n = len(self)
        while n >= self.chunk_rows or (final and n):
            k = min(n, self.chunk_rows)
            cols = {}
            for name, arr in self.arrays.items():
                raw = np.frombuffer(arr, dtype=np.dtype(arr.typecode), count=k)
                cols[name] = raw.astype(self.columns[name], copy=True)
                del raw
                del arr[:k]
            self.writer.add(cols)
            n -= k

    def table(self) -> Table:
        self.flush(final=True)
        return self.writer.table()


@dataclass
class Trace:
    """One run's tables (:class:`Table`; a plain ``{name: array}`` is taken as one) and ``meta``."""

    requests: Table = field(default_factory=lambda: Table(_empty(REQUEST_COLUMNS)))
    attempts: Table = field(default_factory=lambda: Table(_empty(ATTEMPT_COLUMNS)))
    events: Table = field(default_factory=lambda: Table(_empty(EVENT_COLUMNS)))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _TABLES:
            t = getattr(self, name)
            if not isinstance(t, Table):
                setattr(self, name, Table(t))

    @property
    def n_requests(self) -> int:
        return self.requests.rows

    def spool(self, spool: BlobSpool | None = None) -> Trace:
        """Move the chunks this trace holds in memory to ``spool`` (default: a new one) — to disk
        once it is larger than :data:`SPOOL_BYTES`; itself."""
        spool = spool or BlobSpool()
        for name in _TABLES:
            getattr(self, name).spool(spool)
        return self

    @property
    def n_attempts(self) -> int:
        return self.attempts.rows

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` file (format 3: the chunks, see the module docstring); byte-identical
        for identical traces."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        head: dict[str, Any] = {"format": FORMAT, "tables": {}}
        with zipfile.ZipFile(tmp, "w") as zf:
            for name in _TABLES:
                t = getattr(self, name).stored()
                head["tables"][name] = {"rows": t._rows, "columns": {k: t._spec[k] for k in sorted(t._spec)}}
                for col in sorted(t._spec):
                    for k, blob in enumerate(t._blobs[col]):
                        zf.writestr(_entry(f"{name}.{col}.{k}.z", zipfile.ZIP_STORED), blob)
            zf.writestr(_entry(FORMAT_ENTRY), json.dumps(head, sort_keys=True).encode())
            meta = json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode()
            zf.writestr(_entry("meta.json"), meta)
        if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
            # the very bytes already there: keep that file, so that traces loaded from it (which
            # read their chunks from it when needed) stay readable
            tmp.unlink()
        else:
            tmp.replace(path)  # never leave a half-written trace behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read what :meth:`save` wrote (chunks stay compressed until read), or a format-2 or
        format-1 trace."""
        tables: dict[str, Any] = {"requests": {}, "attempts": {}, "events": {}}
        meta: dict[str, Any] = {}
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                head = json.loads(zf.read(FORMAT_ENTRY)) if FORMAT_ENTRY in names else {"format": 1}
                if head["format"] not in (1, 2, FORMAT):
                    raise ValueError(f"trace format {head['format']} is newer than this breakerlab reads")
                if "meta.json" in names:
                    meta = json.loads(zf.read("meta.json"))
                if head["format"] == 1:
                    for name in names:
                        if name.endswith(".npy"):
                            table, col, _ = name.split(".")
                            tables[table][col] = np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                                          allow_pickle=False)
                elif head["format"] == 2:
                    for key in sorted(head["columns"], key=_refs_last):
                        table, col = key.split(".")
                        spec = head["columns"][key]
                        ref = tables[table].get(spec["delta"]) if spec.get("delta") not in (None, "prev") else None
                        tables[table][col] = _decode(zf.read(f"{key}.bin"), spec, ref)
                else:
                    places = _stored_places(zf, path) if isinstance(path, (str, os.PathLike)) else {}
                    for table, th in head["tables"].items():
                        names = {col: [f"{table}.{col}.{k}.z" for k in range(len(th["rows"]))] for col in th["columns"]}
                        blobs = {col: _column_blobs(zf, places, names[col]) for col in th["columns"]}
                        tables[table] = Table.chunked(th["columns"], th["rows"], blobs, str(path))
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, zlib.error) as e:
            raise TraceFileError(f"{path}: not a readable breakerlab trace ({e}); rerun the scenario to "
                                 "write it again (breakerlab run SCENARIO --policy P)") from None
        return cls(tables["requests"], tables["attempts"], tables["events"], meta)


_TABLES = ("requests", "attempts", "events")


def request_causes(trace: Trace) -> np.ndarray:
    """The ``cause`` column of ``trace`` (int8, see :data:`NO_ORG_CAUSES`), or, for a trace
    recorded without it, the outcome column (no-org requests: cause unknown)."""
    col = trace.requests.get(CAUSE)
    return np.asarray(trace.requests["outcome"] if col is None else col, dtype=np.int8)


class TraceFileError(ValueError):
    """A trace file this version cannot read (one line, with how to rerun)."""


#: the on-disk format :meth:`Trace.save` writes (1: plain ``.npy`` columns, 2: one deflated entry
#: per column; both still read)
FORMAT = 3
FORMAT_ENTRY = "format.json"
#: float columns stored as the difference to another column of the row (else to the previous row)
_DELTA_REF = {("requests", "end"): "arrival", ("attempts", "end"): "start"}
#: the same, by column name: the first of these the table has
_REFS = {"end": ("arrival", "start")}


def _ref(name: str, table: Mapping[str, Any]) -> str | None:
    return next((r for r in _REFS.get(name, ()) if r in table), None)


def _entry(name: str, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A zip entry with a fixed date (byte-identical files); deflated unless told (a chunk is
    deflated already)."""
    info = zipfile.ZipInfo(name, _FIXED_DATE)
    info.compress_type = compress
    return info


def _refs_last(key: str) -> int:
    return 1 if tuple(key.split(".")) in _DELTA_REF else 0


def _encode(col: np.ndarray, ref: np.ndarray | None, ref_name: str | None) -> tuple[bytes, dict[str, Any]]:
    """One column → bytes that deflate well, losslessly: a float64's bits as an int64, minus the
    previous row's (or the reference column's) — wrapping integer arithmetic, so exact — then the
    bytes shuffled (all first bytes, all second bytes, ...): times that grow slowly become runs
    of equal high bytes. ~15 bytes per attempt on disk (deflate level 1) instead of ~59 (format 1)."""
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
