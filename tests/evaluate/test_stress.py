"""Stress evaluation of fixed plans on a hand-checkable instance."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.problem.instance import build_instance
from sloserve.problem.plan import plan_from_arrays
from sloserve.evaluate.stress import Stress, evaluate, route_factors, stress_table, summarize

from ..factories import tiny_compiled
from ..test_checker import optimum_arrays


def _plan(c):
    inst = build_instance(c)
    return inst, plan_from_arrays(inst, *optimum_arrays(inst), method="hand")


def test_no_stress_no_penalty():
    inst, plan = _plan(tiny_compiled())
    per = evaluate(inst, plan)
    assert np.allclose(per["slo_violating"], 0) and np.allclose(per["beyond_capacity"], 0)
    assert per["error_ok"].all() and summarize(inst, plan, per)["total_cost_per_hour"] == pytest.approx(4.0)


def test_demand_beyond_capacity_by_hand():
    inst, plan = _plan(tiny_compiled())
    per = evaluate(inst, plan, Stress(d=1.5)).set_index("query_type")
    # both configurations run at 100% busy in the plan, so 1.5x demand overflows 1/3 of each
    assert per.loc["q-easy", "beyond_capacity"] == pytest.approx(1 / 3)
    assert per.loc["q-hard", "beyond_capacity"] == pytest.approx(1 / 3)
    # penalty: default $0.01/request on the overflowing requests: 3600 * 0.01 * (3 + 1.5) / 3
    assert per["penalty_per_hour"].sum() == pytest.approx(3600 * 0.01 * 4.5 / 3)


def test_delay_inflation_breaks_tight_slo_and_costs_capacity():
    c = tiny_compiled(utilization_cap=0.5)
    c.query_types.loc[c.query_types["query_type"] == "q-easy", "ttft_slo_s"] = 0.11  # routes have ttft 0.1
    inst = build_instance(c)
    y, x, u = optimum_arrays(inst)
    plan = plan_from_arrays(inst, y * 2, x, u, method="hand")  # 2x replicas: 50% busy
    ok = evaluate(inst, plan, Stress(s=1.05)).set_index("query_type")
    assert ok.loc["q-easy", "slo_violating"] == 0 and ok.loc["q-easy", "beyond_capacity"] == 0
    bad = evaluate(inst, plan, Stress(s=1.2)).set_index("query_type")
    assert bad.loc["q-easy", "slo_violating"] == pytest.approx(1.0)
    assert bad.loc["q-hard", "slo_violating"] == 0
    assert bad.loc["q-hard", "beyond_capacity"] == 0  # headroom absorbs a 1.2x slower service
    over = evaluate(inst, plan, Stress(s=2.5)).set_index("query_type")
    assert over.loc["q-hard", "beyond_capacity"] == pytest.approx(1 - 1 / 1.25)


def test_error_inflation():
    inst, plan = _plan(tiny_compiled())
    per = evaluate(inst, plan, Stress(s=1.3)).set_index("query_type")
    assert not per.loc["q-hard", "error_ok"]  # 0.08 * 1.3 = 0.104 > 0.1
    assert per.loc["q-easy", "error_ok"]


def test_random_factors_seeded_mean_s():
    inst = build_instance(tiny_compiled())
    a = route_factors(inst, Stress(s=1.5, mode="random", seed=1))
    assert np.array_equal(a, route_factors(inst, Stress(s=1.5, mode="random", seed=1)))
    assert a.min() >= 1.0 and a.max() <= 2.0
    assert np.array_equal(route_factors(inst, Stress(s=1.2)), np.full(inst.R, 1.2))


def test_stress_table_is_tidy_and_monotone_in_uniform_s():
    inst, plan = _plan(tiny_compiled())
    t = stress_table(inst, {"hand": plan}, factors=(1.0, 1.2, 1.5), draws=3)
    assert set(t.columns) >= {"method", "mode", "s", "draw", "total_cost_per_hour", "slo_violating", "beyond_capacity"}
    assert len(t) == 3 + 3 * 3
    u = t[t["mode"] == "uniform"].sort_values("s")["total_cost_per_hour"].to_numpy()
    assert np.all(np.diff(u) >= 0) and u[0] == pytest.approx(4.0)


def test_slo_margin_plans_with_headroom_and_judges_on_the_original():
    from sloserve import compile_scenario, default_scenario, solve
    from sloserve.evaluate.stress import with_slo_margin
    sc = default_scenario()
    tight = with_slo_margin(sc, 0.8)
    assert all(t.tpot_slo_s == pytest.approx(0.8 * q.tpot_slo_s) for t, q in zip(tight.query_types, sc.query_types))
    loose_inst = build_instance(compile_scenario(sc))
    tight_inst = build_instance(compile_scenario(tight))
    loose = evaluate(loose_inst, solve(loose_inst, "agh+milp"), Stress(s=1.2))
    # judged against the real SLOs (tight × 1/0.8), the tight plan's routes absorb a 1.2x slowdown
    per = evaluate(tight_inst, solve(tight_inst, "agh+milp"), Stress(s=1.2), slo_margin=1 / 0.8)
    assert np.allclose(per["slo_violating"], 0) and loose["slo_violating"].max() > 0
