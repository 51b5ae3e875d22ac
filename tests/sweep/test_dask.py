"""The sweep on Dask, like a cluster: a scheduler and two worker processes started here on 127.0.0.1
give the records of the local executor; killing a worker mid-sweep loses no finished case."""
from __future__ import annotations

import os
import signal
import sys

import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.sweep import SCHEDULER_ENV, TIMING_COLUMNS, load_spec, read_records, run_sweep

from .conftest import Cluster

pytest.importorskip("distributed")

#: real studies, small: rolling windows (GH and AGH at their deterministic budgets), a static plan,
#: plans of a generated scenario and an analytic stress draw
REAL = {"study": "rolling", "base": {"scenario": "default", "window": {"hours": 3, "history_hours": 24,
                                                                          "window_min": 60, "volatility": 1.0}}}
GRIDS = [
    {"study": "rolling", **{k: v for k, v in REAL.items() if k != "study"},
     "grid": {"method": ["gh", "agh"], "params.policy": ["rolling", "static_peak"]}},
    {"study": "plan", "grid": {"scenario": ["gen:S:1"], "method": ["gh", "agh"]}},
    {"study": "stress", "base": {"scenario": "gen:S:1", "stress": {"factors": [1.0, 1.3], "modes": ["uniform", "random"],
                                                                   "draws": 2}},
     "grid": {"method": ["gh", "agh"]}},
]


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    cols = sorted(c for c in df.columns if c not in TIMING_COLUMNS)
    return df[cols].sort_values(["case_id", "row"]).reset_index(drop=True)


def test_without_dask_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InputError, match=r"pip install 'sloserve\[dask\]'"):
        run_sweep({"study": "echo", "grid": {"seed": [0]}}, executor="dask", progress=False)


def test_a_separately_started_cluster_gives_the_records_of_the_local_executor(cluster, tmp_path):
    for n, spec in enumerate(GRIDS):
        local = run_sweep(spec, tmp_path / f"local{n}", executor="local", progress=False)
        remote = run_sweep(spec, tmp_path / f"dask{n}", executor="dask", scheduler=cluster.address, progress=False)
        assert local.failed == remote.failed == 0
        assert len(local.records) == len(remote.records) > 0
        pd.testing.assert_frame_equal(_comparable(local.records), _comparable(remote.records))
        ran_on = set(remote.records["worker"])
        assert all(str(os.getpid()) != w.rsplit(":", 1)[1] for w in ran_on)  # it ran on the workers, not here
    agh = read_records(tmp_path / "dask0")
    agh = agh[agh["method"] == "agh"]
    assert set(agh["agh_stopped_by"]) == {"budget"}  # the work budget, not a worker's clock, ended AGH


def test_the_scheduler_address_may_come_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, cluster.address)
    r = run_sweep({"study": "echo", "grid": {"seed": [0, 1, 2]}}, executor="dask", progress=False)
    assert sorted(r.records["value"]) == [0, 1, 4]
    assert set(r.records["worker"]) <= {f"{os.uname().nodename}:{p.pid}" for p in cluster.workers.values()}


def test_killing_a_worker_mid_sweep_loses_no_finished_case(tmp_path):
    c = Cluster(tmp_path)
    try:
        w1, w2 = c.add_worker("w1"), c.add_worker("w2")
        c.wait_for(2)
        spec = {"study": "echo", "base": {"params": {"sleep_s": 0.25}}, "grid": {"seed": {"range": [30]}}}
        out = tmp_path / "sw"
        before: dict[str, float] = {}

        def on_rows(case, rows):
            if len(before) < 6:
                before[case.key] = (out / "records" / f"{case.key}.parquet").stat().st_mtime_ns
                if len(before) == 6:
                    os.kill(w1.pid, signal.SIGKILL)  # mid-sweep: w1 dies with a case in hand

        r = run_sweep(spec, out, executor="dask", scheduler=c.address, progress=False, on_rows=on_rows)
        assert w1.poll() is not None  # it is dead
        assert r.failed == 0 and r.ran == 30 and len(r.records) == 30
        assert sorted(r.records["value"]) == [k * k for k in range(30)]
        for key, mtime in before.items():  # finished before the kill: kept as written, never rerun
            assert (out / "records" / f"{key}.parquet").stat().st_mtime_ns == mtime
        workers = r.records.set_index("case_id")["worker"].str.rsplit(":", n=1).str[1].astype(int)
        assert w1.pid in set(workers) and w2.pid in set(workers)  # both worked; the survivor finished the rest
        assert set(workers.drop(list(before))) <= {w1.pid, w2.pid}
        assert len(load_spec(spec).cases) == len(list((out / "records").glob("*.parquet")))
    finally:
        c.close()


def test_a_local_cluster_by_default(tmp_path):
    r = run_sweep({"study": "echo", "grid": {"seed": [0, 1, 2, 3]}}, executor="dask", workers=2, progress=False)
    assert sorted(r.records["value"]) == [0, 1, 4, 9] and r.records["worker"].nunique() <= 2
