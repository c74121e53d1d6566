"""A comparison's traces on disk: one ``.npz`` per policy and seed (sim.trace format 3, compressed column
chunks that stay compressed in memory until a column is read; format-2 and format-1 files still load,
anything unreadable raises a one-line ``TraceFileError`` saying how to rerun), and a manifest.

Layout (``out_dir/traces/``)::

    manifest.json            the policies in comparison order, each one's seed files, the SLO
    <policy>/seed-<n>.npz    one trace per policy and seed (sim.trace.Trace.save)

:func:`load_traces` also reads a directory of ``<policy>/*.npz`` without a manifest (policies
then sorted by name) and loose ``*.npz`` files (grouped by ``meta["policy"]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.trace import Trace

__all__ = ["MANIFEST", "TRACE_DIR", "load_traces", "manifest_slo", "safe_name", "save_traces", "trace_root"]

TRACE_DIR = "traces"
MANIFEST = "manifest.json"


def safe_name(name: str) -> str:
    """A policy name as a file or directory name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "policy"


def _seed_runs(runs: Any) -> list[Trace]:
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]


def save_traces(traces: Mapping[str, Any], out_dir: str | Path, *, slo: Any = None) -> list[Path]:
    """Write ``out_dir/traces/<policy>/seed-<n>.npz`` and ``traces/manifest.json`` (the policy
    order, each policy's files and the SLO the report was evaluated against, if given)."""
    root = Path(out_dir) / TRACE_DIR
    paths: list[Path] = []
    manifest: dict[str, Any] = {"format": 1, "policies": []}
    if slo is not None:
        manifest["slo"] = slo
    for name, runs in traces.items():
        files: list[str] = []
        for i, t in enumerate(_seed_runs(runs)):
            seed = t.meta.get("seed", i)
            fname = f"seed-{seed}.npz"
            if fname in files:
                fname = f"seed-{seed}-{i}.npz"
            paths.append(t.save(root / safe_name(name) / fname))
            files.append(fname)
        manifest["policies"].append({"name": name, "dir": safe_name(name), "files": files})
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return paths


def trace_root(trace_dir: str | Path) -> Path:
    """The ``traces/`` directory of a report directory, or ``trace_dir`` itself."""
    root = Path(trace_dir)
    return root / TRACE_DIR if (root / TRACE_DIR).is_dir() else root


def manifest_slo(trace_dir: str | Path) -> Any:
    """The SLO saved with the traces (``None``: no manifest, or none saved)."""
    manifest = trace_root(trace_dir) / MANIFEST
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("slo")


def _seed_key(p: Path) -> tuple[int, str]:
    m = re.match(r"seed-(-?\d+)", p.stem)
    return (int(m.group(1)) if m else 1 << 62, p.name)


def _load_listed(root: Path, manifest: Path) -> dict[str, list[Trace]]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {
        entry["name"]: [Trace.load(root / entry["dir"] / f) for f in entry["files"]]
        for entry in data["policies"]
    }


def _load_found(root: Path) -> dict[str, list[Trace]]:
    out: dict[str, list[Trace]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(d.glob("*.npz"), key=_seed_key)
        if files:
            out[d.name] = [Trace.load(f) for f in files]
    for f in sorted(root.glob("*.npz"), key=_seed_key):
        t = Trace.load(f)
        out.setdefault(str(t.meta.get("policy", f.stem)), []).append(t)
    return out


def load_traces(trace_dir: str | Path) -> dict[str, list[Trace]]:
    """Load what :func:`save_traces` wrote (``trace_dir`` = the report dir or its ``traces/``)."""
    root = trace_root(trace_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{trace_dir}: not a directory")
    manifest = root / MANIFEST
    out = _load_listed(root, manifest) if manifest.is_file() else _load_found(root)
    if not out:
        raise FileNotFoundError(f"{trace_dir}: no *.npz traces found")
    return out
