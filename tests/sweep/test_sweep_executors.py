"""The local process pool and dask.distributed give exactly the results of an in-process sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_helpers import small_scenario

from breakerlab.executors import DaskExecutor, ExecutorError, LocalExecutor, SerialExecutor, make_executor
from breakerlab.sweep import main, sweep

GRID = ["threshold=1,3", "open_time=10s,60s"]


def _runs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "runs").glob("*.json"))}


@pytest.fixture(scope="module")
def serial_ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial")
    res = sweep([small_scenario()], "consecutive", GRID, seeds=2, out=out, executor=SerialExecutor(), charts=False)
    assert res.stats.computed == 8
    return out


def test_make_executor() -> None:
    assert isinstance(make_executor("local", jobs=1), SerialExecutor)
    assert make_executor("local").workers >= 1
    assert isinstance(make_executor("local", jobs=2), LocalExecutor)
    with pytest.raises(ExecutorError, match="scheduler: needs the dask executor"):
        make_executor("local", scheduler="tcp://x:1")
    with pytest.raises(ExecutorError, match="jobs: must be >= 1"):
        make_executor("local", jobs=0)


def test_local_pool_equals_serial(serial_ref: Path, tmp_path: Path) -> None:
    res = sweep([small_scenario()], "consecutive", GRID, seeds=2, out=tmp_path, executor=LocalExecutor(2),
                charts=False)
    assert res.stats.computed == 8 and res.stats.failed == 0
    assert _runs(tmp_path) == _runs(serial_ref)
    assert (tmp_path / "results.json").read_bytes() == (serial_ref / "results.json").read_bytes()


def test_dask_local_cluster_equals_local_processes(serial_ref: Path, small_yaml: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        # the API with a client
        out = tmp_path / "api"
        ex = DaskExecutor(client=client)
        res = sweep([small_scenario()], "consecutive", GRID, seeds=2, out=out, executor=ex, charts=False)
        assert res.stats.computed == 8 and res.stats.failed == 0
        assert ex.workers == 2
        assert _runs(out) == _runs(serial_ref)  # exact equality of every run's metrics JSON
        assert (out / "results.json").read_bytes() == (serial_ref / "results.json").read_bytes()

        # the CLI with --executor dask --scheduler ADDRESS (local processes = serial, tested above)
        outs = {}
        for name, extra in (("dask", ["--executor", "dask", "--scheduler", cluster.scheduler_address]),
                            ("local", ["--executor", "serial"])):
            outs[name] = tmp_path / name
            code = main([str(small_yaml), "--policy", "exponential", "--grid", "threshold=2,4",
                         "--out", str(outs[name]), "--json", *extra])
            assert code == 0
        assert len(_runs(outs["dask"])) == 2
        assert _runs(outs["dask"]) == _runs(outs["local"])
        a = json.loads((outs["dask"] / "results.json").read_text())
        b = json.loads((outs["local"] / "results.json").read_text())
        assert a == b


def test_unreachable_scheduler_is_an_executor_error() -> None:
    pytest.importorskip("distributed")
    ex = DaskExecutor("tcp://127.0.0.1:1", timeout=1)
    with pytest.raises(ExecutorError, match=r"^scheduler: tcp://127.0.0.1:1: cannot connect"):
        ex.start()
