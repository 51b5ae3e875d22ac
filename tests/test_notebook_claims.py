"""What notebooks 01-03 tell the reader holds: each claim of their text, computed with the library
directly (not by executing the notebooks; tests/test_notebooks.py runs them)."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import sloserve as ss
from sloserve.evaluate import stress
from sloserve.evaluate.stress import with_slo_margin
from sloserve.ui.explore import what_if

S = 1.3  # notebook 03's stress factor


@pytest.fixture(scope="module")
def milp_base():
    """Notebook 02 sections 1-2: the Pyomo instance of the default scenario, solved."""
    pyo = pytest.importorskip("pyomo.environ")
    from sloserve.solvers import milp
    m = milp.create_pyomo_instance(ss.compile_scenario(ss.default_scenario()))
    base = milp.to_plan(m, milp.solve_instance(m, time_limit_s=60))
    assert base.status == "optimal"
    return pyo, milp, m, base


def _with_qt(sc, service, **fields):
    """``sc`` with ``fields`` set on every query type of ``service`` (names ``service-…``)."""
    return dataclasses.replace(sc, query_types=tuple(dataclasses.replace(q, **fields) if q.name.startswith(service + "-")
                                                     else q for q in sc.query_types))


def _cost(sc, method="agh"):
    return ss.solve(ss.compile_scenario(sc), method, time_limit_s=30).objective


# ---- notebook 01 ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trace():
    from sloserve.traces.trace import azure_2023_samples, load_traces
    try:
        return load_traces(azure_2023_samples(download=False), progress=False)
    except ss.InputError as e:
        pytest.skip(f"no local Azure trace: {e}")


def test_01_kmeans_types_are_more_homogeneous_than_quantile_buckets(trace):
    from sloserve.traces.calibrate import calibration_table
    from sloserve.ui.plots import type_cv_summary
    cv = type_cv_summary({m: calibration_table(trace, types_per_service=k, method=m)
                          for m, k in (("quantile", 3), ("kmeans", 3))} |
                         {"none": calibration_table(trace, types_per_service=1)}).set_index(["service", "method"])
    out = cv["output_cv"]
    assert out["code", "quantile"] > 2  # "leave the code service's output CV above 2"
    assert out["code", "none"] / out["code", "kmeans"] > 2.5  # "about 3x for code"
    assert out["conversation", "none"] / out["conversation", "kmeans"] > 1.8  # "and 2x for conversation"
    assert (cv.xs("kmeans", level="method")["input_cv"] < cv.xs("none", level="method")["input_cv"]).all()


def test_01_one_minute_windows_cost_more(trace):
    from sloserve.model.scenario import scenario_from_dict
    from sloserve.traces.calibrate import calibrate
    one_min = scenario_from_dict(calibrate(trace, window="1min", statistic="p95", types_per_service=3,
                                           slo_defaults={"code": {"max_error": 0.15}, "conversation": {"max_error": 0.2}}))
    assert _cost(one_min) > _cost(ss.default_scenario())  # exercise 1: 1-minute windows provision for bursts


def test_01_ttft_has_slack_and_tpot_binds():
    base = ss.default_scenario()
    base_cost = _cost(base)
    assert _cost(_with_qt(base, "code", ttft_slo_s=0.5)) == pytest.approx(base_cost)  # exercise 4
    assert _cost(_with_qt(base, "code", tpot_slo_s=0.025)) > base_cost


# ---- notebook 02 ------------------------------------------------------------------------------

def test_02_own_constraint_binds_and_changes_plan_and_cost(milp_base):
    pyo, milp, m, base = milp_base
    from sloserve.problem.plan import replicas_frame
    largest = {i: max(pyo.value(m.x[i, c]) for c in m.C_i[i]) for i in m.I}
    assert max(largest.values()) > 0.5 + 1e-6  # the optimum breaks the new row: it must bind
    m.max_route_share = pyo.Param(mutable=True, initialize=0.5, within=pyo.PercentFraction)
    m.spread = pyo.Constraint(m.R, rule=lambda m, i, c: m.x[i, c] <= m.max_route_share)
    half = milp.to_plan(m, milp.solve_instance(m, time_limit_s=60))  # the other tests read only ``base``
    assert all(pyo.value(m.x[r]) <= 0.5 + 1e-6 for r in m.R)
    inst = milp.sloserve_instance(m)
    assert ss.check(inst, half).ok
    assert half.objective > base.objective + 0.01  # the cost changes ...
    before, after = (replicas_frame(inst, p).set_index("config")["replicas"] for p in (base, half))
    assert not before.equals(after)  # ... and so does the plan


@pytest.mark.parametrize("method", ["agh", "milp"])
def test_02_a_5_dollar_budget_is_diagnosed_as_the_budget(method, milp_base):
    base = milp_base[3]
    r = what_if(budget_per_hour=5, method=method)
    assert r.plan is None and r.diagnosis
    first = r.diagnosis[0]
    assert first.startswith("budget short by")
    needs = float(re.search(r"a plan needs \$([\d,.]+)/h", first).group(1).replace(",", ""))
    assert needs == pytest.approx(base.objective, abs=0.01)  # short by the cheapest plan's cost - 5
    assert len(set(r.diagnosis)) == len(r.diagnosis)
    assert not any(line in r.headline() for line in r.diagnosis)  # shown once, below the headline


def test_02_strict_slo_experiment(milp_base):
    base = milp_base[3]
    r3, r2 = what_if(slo_scale=0.3), what_if(slo_scale=0.2)
    assert r3.plan is not None and r3.plan.objective > 2 * base.objective  # feasible, but dear
    assert r2.plan is None and any("code-m" in line and "error limit" in line for line in r2.diagnosis)


# ---- notebook 03 ------------------------------------------------------------------------------

def _stressed(sc, slo_margin=1.0):
    base = ss.default_scenario()
    real = np.array([q.max_error for q in base.query_types])
    inst = ss.build_instance(ss.compile_scenario(sc))
    plan = ss.solve(inst, "agh", time_limit_s=30)
    per = stress.evaluate(inst, plan, stress.Stress(s=S), slo_margin=1 / slo_margin)
    return {**stress.summarize(inst, plan, per),
            "error_violated_types": int((per["error_served"].to_numpy() > real * (1 + 1e-9)).sum())}


def _error_margin(sc, margin):
    return dataclasses.replace(sc, query_types=tuple(dataclasses.replace(q, max_error=q.max_error * margin)
                                                      for q in sc.query_types))


def test_03_each_headroom_knob_protects_against_its_own_failure():
    base = ss.default_scenario()
    cap = {v: _stressed(base.with_options(utilization_cap=v)) for v in (0.9, 0.7)}
    slo = {v: _stressed(with_slo_margin(base, v), v) for v in (1.0, 0.8, 0.7)}
    err = _stressed(_error_margin(base, 0.8))
    # the cap clears the overflow once cap * s <= 1, not the latency violations
    assert cap[0.9]["beyond_capacity"] > 0 and cap[0.7]["beyond_capacity"] == 0
    assert min(c["slo_violating"] for c in cap.values()) > 0.5
    # the SLO margin does nothing while margin * s > 1, and clears them at 0.7
    assert slo[0.8]["slo_violating"] > 0.5 and slo[0.7]["slo_violating"] == 0
    # error headroom helps part of the way, and 0.75 has no plan at all
    assert 0 < err["error_violated_types"] < slo[1.0]["error_violated_types"]
    with pytest.raises(ss.InfeasibleError):
        ss.solve(ss.compile_scenario(_error_margin(base, 0.75)), "agh")
    # both knobs together: no penalty, and a lower total than either knob alone
    both = _stressed(with_slo_margin(base.with_options(utilization_cap=0.7), 0.7), 0.7)
    assert both["penalty_per_hour"] == 0
    singles = [*cap.values(), *slo.values(), err]
    assert both["total_cost_per_hour"] < min(r["total_cost_per_hour"] for r in singles)
