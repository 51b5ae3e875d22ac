"""The rolling study as cases: flat demand makes re-planning and static plans equal; churn and
switching come from consecutive windows' replicas; static plans see only the history."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sloserve.sweep import Case, rolling_summary, rolling_windows, run_case, run_sweep
from sloserve.sweep.horizon import series_of
from sloserve.sweep.summary import _churn, replanning_pays

BASE = {"scenario": "default", "method": "gh", "window": {"hours": 4, "history_hours": 24, "window_min": 60}}


def test_on_flat_demand_rolling_and_static_plans_cost_the_same():
    spec = {"study": "rolling", "base": {**BASE, "window": {**BASE["window"], "volatility": 0.0}},
            "grid": {"params.policy": ["rolling", "static_peak", "static_mean"]}}
    s = rolling_summary(run_sweep(spec, progress=False).records)
    assert s["cost_mean"].nunique() == 1 and (s["cost_var"] == 0).all() and (s["churn_gpus_total"] == 0).all()
    assert s["windows"].tolist() == [4, 4, 4]


def test_static_peak_plans_for_the_history_peak_not_the_oracle():
    c = Case.make("rolling", **{**BASE, "window": {**BASE["window"], "volatility": 1.0}, "params": {"policy": "static_peak"}})
    R, h0, _ = series_of(c)
    rows = run_case(c)
    assert len(rows) == 4 and all(r["forecast_rps"] == pytest.approx(R[:h0].max(axis=0).sum()) for r in rows)
    oracle = run_case(Case.make("rolling", **{**BASE, "window": {**BASE["window"], "volatility": 1.0},
                                              "params": {"policy": "static_oracle"}}))
    assert oracle[0]["forecast_rps"] == pytest.approx(R[h0:h0 + 4].max(axis=0).sum())


def test_churn_counts_gpus_added_and_removed_and_charges_warmup_for_added_ones():
    facts = {"a": [2, 4.0], "b": [1, 1.0]}
    gpus, switch = _churn({"a": 1}, {"a": 2, "b": 3}, facts, minutes=15)
    assert gpus == 2 + 3 and switch == pytest.approx((1 * 4.0 + 3 * 1.0) * 0.25)
    assert _churn({"a": 2, "b": 3}, {"a": 1}, facts, 15) == (5, 0.0)  # removing is free


def test_rolling_windows_charge_switching_in_the_window_it_happens():
    spec = {"study": "rolling", "base": {**BASE, "window": {**BASE["window"], "volatility": 1.0},
                                         "params": {"switch_minutes": 30}}}
    w = rolling_windows(run_sweep(spec, progress=False).records)
    assert w["window"].tolist() == [0, 1, 2, 3] and w["churn_gpus"].iloc[0] == 0
    for i in range(1, 4):
        prev, cur = json.loads(w["replicas"].iloc[i - 1]), json.loads(w["replicas"].iloc[i])
        facts = {**json.loads(w["config_facts"].iloc[i]), **json.loads(w["config_facts"].iloc[i - 1])}
        assert (w["churn_gpus"].iloc[i], w["switching_cost"].iloc[i]) == _churn(prev, cur, facts, 30)
    assert np.allclose(w["total_cost_per_hour"], w["infra_cost_per_hour"] + w["penalty_per_hour"] + w["switching_cost"])


def test_a_window_can_be_replayed_in_the_simulator():
    c = Case.make("rolling", **{**BASE, "window": {**BASE["window"], "volatility": 0.5, "index": 1},
                                "sim": {"duration_s": 20}})
    r = run_case(c)[0]
    assert r["sim_requests"] > 0 and 0 <= r["sim_attainment"] <= 1 and r["sim_penalty_per_hour"] >= 0
    assert 0 <= r["sim_unserved"] <= 1 and (r["unserved"] > 0 or r["sim_unserved"] == 0)  # attainment: of the served


def test_replanning_pays_compares_with_the_better_static_plan():
    s = pd.DataFrame({"window.volatility": [1.0] * 3, "method": ["agh"] * 3,
                      "params.policy": ["rolling", "static_peak", "static_mean"], "cost_mean": [8.0, 10.0, 12.0],
                      "cost_var": [1.0, 0.0, 4.0], "unserved_mean": [0.0] * 3, "churn_gpus_total": [3, 0, 0],
                      "replan_s_mean": [0.1] * 3})
    p = replanning_pays(s)
    assert p["best_static"].tolist() == ["static_peak"] and p["cost_change"].iloc[0] == pytest.approx(-0.2)
