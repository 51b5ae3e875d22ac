"""benchmarks/schedulers.py: tidy records with the agreed fields, on tiny sizes."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sloserve.sim.predictors import PREDICTORS

from .instances import tracelike

REPO = Path(__file__).resolve().parents[2]
FIELDS = ["study", "scheduler", "predictor", "alpha", "time_model", "metric", "value"]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "benchmarks"))  # the script imports its sibling machine.py
    try:
        spec = importlib.util.spec_from_file_location("bench_schedulers", REPO / "benchmarks" / "schedulers.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up there
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("bench_schedulers", None)
        sys.path.remove(str(REPO / "benchmarks"))


def test_model1_follows_the_paper(bench):
    for trial in range(20):
        f, M = bench.model1(0, trial)
        s, o = f["input_tokens"], f["output_tokens"]
        assert 30 <= M <= 50 and 40 <= len(f) <= 60
        assert s.between(1, 5).all() and (o >= 1).all() and (o <= M - s).all()
    pd.testing.assert_frame_equal(bench.model1(0, 3)[0], bench.model1(0, 3)[0])


def test_synthetic_study_records(bench):
    cfg = bench.Config(trials=2, ip_requests=3, jobs=1)
    recs, per_trial = bench.mcsf_synthetic(cfg)
    df = pd.DataFrame(recs)
    assert list(df.columns) == FIELDS
    assert (df["time_model"] == "unit").all()
    mcsf = df[(df["scheduler"] == "mcsf")].set_index("metric")["value"]
    assert mcsf["ratio_to_hsf_mean"] == 1.0  # exact lengths: MC-SF is H-SF
    assert 1.0 <= mcsf["ratio_to_opt_mean"] <= mcsf["ratio_to_opt_max"]
    assert set(per_trial) == {"mcsf", "fcfs", "amin", "amax"}
    table = bench.table_synthetic(df)
    assert "| MC-SF (exact lengths) = H-SF | 1.0" in table and "nan" not in table


def test_compare_records_ratios_against_hsf(bench):
    f = tracelike(0, n=80)
    recs = bench.compare("binned", f, 4000, {"naive": PREDICTORS.get("naive")(), "oracle": PREDICTORS.get("oracle")()}, 0)
    df = pd.DataFrame(recs)
    assert list(df.columns) == FIELDS
    r = df[df["metric"] == "ratio_to_hsf"]
    assert r.loc[r["scheduler"] == "hsf", "value"].item() == 1.0
    assert np.allclose(r.loc[r["predictor"] == "oracle", "value"], 1.0)  # oracle intervals: all equal H-SF
    assert (r["value"] > 0).all()
