"""``--router FILE.py:FACTORY``: a team's own router next to the lab's policies in one report.

The factory is loaded from a Python file (or a module name) and run through
:func:`sim.byo.run_own_router` for every seed, in this process, unmodified: wall-clock code runs in
simulated time and escapes fail the run (:mod:`sim.wallclock`). Its label in the report is the
file's stem (``stem:factory`` when the factory is not called ``make_router``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sim.byo import ByoError, EscapeError, run_own_router

from .errors import InputError

__all__ = ["load_factory", "router_label", "run_routers"]


def router_label(spec: str) -> str:
    where, _, name = spec.rpartition(":")
    stem = Path(where).stem if where.endswith(".py") else where.rpartition(".")[2]
    return stem if name == "make_router" else f"{stem}:{name}"


def load_factory(spec: str) -> Callable[..., Any]:
    """``path/to/file.py:factory`` or ``package.module:factory`` → the factory; an
    :class:`InputError` naming the flag and the value otherwise."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise InputError(f"breakerlab: --router: {spec!r}: expected FILE.py:FACTORY (or module:FACTORY)")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise InputError(f"breakerlab: --router: {where}: no such file")
            mod_name = f"breakerlab_router_{path.stem}"
            spec_ = importlib.util.spec_from_file_location(mod_name, path)
            if spec_ is None or spec_.loader is None:
                raise InputError(f"breakerlab: --router: {where}: cannot load it as Python")
            module = importlib.util.module_from_spec(spec_)
            sys.modules[mod_name] = module  # dataclasses and pickling look modules up by name
            spec_.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except InputError:
        raise
    except Exception as e:  # the file's own error at import: one line, as any bad input
        raise InputError(f"breakerlab: --router: {where}: {type(e).__name__}: {e}") from e
    factory = getattr(module, name, None)
    if not callable(factory):
        raise InputError(f"breakerlab: --router: {where} has no factory {name!r}")
    return factory


def run_routers(scenario: Any, specs: Sequence[str], seeds: Sequence[int], source: str,
                taken: Sequence[str] = ()) -> dict[str, list[Any]]:
    """Every router of ``specs`` for every seed: traces by label."""
    out: dict[str, list[Any]] = {}
    for spec in specs:
        label = router_label(spec)
        if label in out or label in taken:
            raise InputError(f"breakerlab: --router: {spec}: the label {label!r} is taken (a policy or another router)")
        factory = load_factory(spec)
        traces = []
        for seed in seeds:
            try:
                traces.append(run_own_router(scenario, factory, seed=seed, name=label))
            except (ByoError, EscapeError, TypeError, ValueError) as e:
                raise InputError(f"{source}: --router {spec}: {e}") from e
        out[label] = traces
    return out
