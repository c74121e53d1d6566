"""The run store: each run's metrics in ``OUT/runs/<key>.json``, keyed by a hash of everything
that decides them — the scenario's content, the policy and all its parameters, the seed, the mode
and the code version — written atomically, so a killed sweep resumes where it stopped."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy
import simpy

__all__ = ["atomic_write", "clean_temp", "code_version", "dumps", "load_run", "run_config", "run_key", "scenario_hash"]

RUN_FORMAT = "breakerlab-sweep-run/2"  # 2: alerts per day, the run's result for SLO judging


#: the repository (or installed tree) holding ``multiorg``, ``faults``, ``sim``, ``reports``
ROOT = Path(__file__).resolve().parents[2]


def _canon_json(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


#: scenario fields that do not change what is simulated
_NOT_SIMULATED = ("name", "description", "slo", "policies")


def scenario_hash(scenario: Any) -> str:
    """sha256 of the scenario's content (canonical JSON), without name, description, SLO, policies."""
    data = scenario.model_dump(mode="json")
    for k in _NOT_SIMULATED:
        data.pop(k, None)
    return hashlib.sha256(_canon_json(data).encode()).hexdigest()


#: what decides a run's numbers (paths relative to the repo root): the layers below the app and
#: the metrics a sweep stores. ``breakerlab/`` itself never does, so editing it keeps saved runs.
_CODE_DIRS = ("multiorg", "faults", "sim")
_CODE_FILES = ("reports/metrics.py", "reports/schema.py")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version + a hash of the simulation, router, faults and metrics sources and the
    numpy and simpy versions: results computed by other code are not reused."""
    h = hashlib.sha256()
    files = []
    for d in _CODE_DIRS:
        files += sorted((ROOT / d).rglob("*.py"))
    files += [ROOT / f for f in _CODE_FILES]
    for f in sorted(set(files), key=lambda p: p.relative_to(ROOT).as_posix()):
        rel = f.relative_to(ROOT).as_posix()
        if not f.is_file():
            continue
        h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(f"numpy {numpy.__version__} simpy {getattr(simpy, '__version__', '?')}".encode())
    try:
        pkg = version("breakerlab")
    except PackageNotFoundError:  # running from a source tree that was never installed
        pkg = "0+src"
    return f"{pkg}+{h.hexdigest()[:16]}"


def run_config(scenario_sha: str, policy: str, params: Mapping[str, Any], seed: int, mode: str, code: str) -> dict:
    return {
        "format": RUN_FORMAT,
        "scenario": scenario_sha,
        "policy": policy,
        "params": json.loads(_canon_json(dict(params))),
        "seed": int(seed),
        "mode": mode,
        "code": code,
    }


def run_key(
    scenario_sha: str, policy: str, params: Mapping[str, Any], seed: int, mode: str, code: str | None = None
) -> str:
    """The run's file name: sha256 of its canonical config (first 32 hex digits)."""
    cfg = run_config(scenario_sha, policy, params, seed, mode, code_version() if code is None else code)
    return hashlib.sha256(_canon_json(cfg).encode()).hexdigest()[:32]


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one:
    temporary file in the same directory, fsync, :func:`os.replace`, fsync of the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def clean_temp(directory: Path) -> int:
    """Remove temporary files left by a killed writer (``.NAME.*.tmp``)."""
    n = 0
    if directory.is_dir():
        for f in directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                f.unlink()
                n += 1
    return n


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def load_run(path: Path, key: str) -> dict[str, Any] | None:
    """A stored run's record, or None if missing or not a valid record of this key."""
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("key") != key or not isinstance(rec.get("metrics"), dict):
        return None
    return rec
