"""The checker rejects a plan that breaks each constraint (one golden test per constraint type),
accepts the hand optimum, and recomputes the objective."""
from __future__ import annotations

import dataclasses

import json

import numpy as np
import pytest

from sloserve.checker import CONSTRAINTS, check, check_arrays
from sloserve.problem.instance import build_instance
from sloserve.problem.plan import Plan, plan_from_arrays

from .factories import make_compiled, tiny_compiled

S, B = "small|g|bf16|tp1pp1", "big|g|bf16|tp1pp1"


def optimum_arrays(inst):
    """Hand optimum of tiny_compiled: big×1 takes q-hard and half of q-easy, small×1 the other half."""
    x = np.zeros(inst.R)
    x[inst.route_index[("q-easy", S)]] = 0.5
    x[inst.route_index[("q-easy", B)]] = 0.5
    x[inst.route_index[("q-hard", B)]] = 1.0
    return np.array([1, 1]), x, np.zeros(inst.I)


def names(inst, y, x, u):
    return {v.constraint for v in check_arrays(inst, y, x, u)}


def test_hand_optimum_is_feasible_and_costs_4():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    res = check(inst, plan_from_arrays(inst, y, x, u, method="hand"))
    assert res.ok, res.report()
    assert res.objective == pytest.approx(4.0)


# ---- one golden test per constraint type -----------------------------------------------------

def test_domain_unserved_above_allowed():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    x[inst.route_index[("q-hard", B)]] = 0.9
    u[1] = 0.1  # q-hard allows no unserved traffic
    assert "domain" in names(inst, y, x, u)


def test_domain_fraction_negative_and_fractional_replicas():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    x[inst.route_index[("q-hard", S)]] = -0.1
    x[inst.route_index[("q-hard", B)]] = 1.1
    assert "domain" in names(inst, y, x, u)
    y2, x2, u2 = optimum_arrays(inst)
    assert "domain" in names(inst, y2 + 0.5, x2, u2)


def test_demand():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    x[inst.route_index[("q-easy", S)]] = 0.4  # 0.9 routed, nothing unserved
    v = [v for v in check_arrays(inst, y, x, u) if v.constraint == "demand"]
    assert len(v) == 1 and v[0].index == "q-easy" and v[0].lhs == pytest.approx(0.9)


def test_capacity():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    x[inst.route_index[("q-easy", S)]] = 0.6
    x[inst.route_index[("q-easy", B)]] = 0.4
    v = [v for v in check_arrays(inst, y, x, u) if v.constraint == "capacity"]
    assert [w.index for w in v] == [S] and v[0].lhs == pytest.approx(1.2)


def test_capacity_respects_utilisation_cap():
    inst = build_instance(tiny_compiled(utilization_cap=0.8))
    y, x, u = optimum_arrays(inst)  # small runs at 100% busy: above the 80% cap
    assert "capacity" in names(inst, y, x, u)


def test_memory():
    c = make_compiled([{"query_type": "q", "rate_rps": 1.0}],
                      [{"config": "m|g|bf16|tp1pp1", "model": "m", "gpu": "g", "cost_per_hour": 1.0, "kv_bytes": 1e9}],
                      [{"query_type": "q", "config": "m|g|bf16|tp1pp1", "capacity_rps": 10.0, "kv_byte_seconds": 2e9}])
    inst = build_instance(c)
    v = check_arrays(inst, np.array([1]), np.array([1.0]), np.array([0.0]))
    assert [w.constraint for w in v] == ["memory"]
    assert not check_arrays(inst, np.array([2]), np.array([1.0]), np.array([0.0]))
    assert inst.replicas_needed(np.array([1.0]))[0] == 2


def test_error():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    x[inst.route_index[("q-hard", B)]] = 0.5
    x[inst.route_index[("q-hard", S)]] = 0.5  # mean error 0.24 > 0.1
    y = np.array([2, 1])
    v = [v for v in check_arrays(inst, y, x, u) if v.constraint == "error"]
    assert [w.index for w in v] == ["q-hard"] and v[0].lhs == pytest.approx(0.24)


def test_delay():
    c = tiny_compiled(slo_mode="mean")
    c.query_types.loc[c.query_types["query_type"] == "q-easy", "e2e_slo_s"] = 2.0
    c.routes["e2e_s"] = np.where(c.routes["config"] == S, 3.0, 1.0)
    inst = build_instance(c)
    y, x, u = optimum_arrays(inst)  # mean e2e of q-easy = 0.5·3 + 0.5·1 = 2.0: just within
    assert "delay" not in names(inst, y, x, u)
    x[inst.route_index[("q-easy", S)]] = 0.6
    x[inst.route_index[("q-easy", B)]] = 0.4
    assert "delay" in names(inst, np.array([2, 1]), x, u)


def test_budget():
    inst = build_instance(tiny_compiled(budget_per_hour=3.5))
    v = [v for v in check_arrays(inst, *optimum_arrays(inst)) if v.constraint == "budget"]
    assert len(v) == 1 and v[0].lhs == pytest.approx(4.0) and v[0].rhs == pytest.approx(3.5)


def test_budget_counts_fixed_cost():
    c = tiny_compiled(budget_per_hour=4.5)
    c.models.loc[c.models["model"] == "big", "fixed_cost_per_hour"] = 1.0
    inst = build_instance(c)
    assert "budget" in names(inst, *optimum_arrays(inst))


def test_availability():
    c = tiny_compiled()
    c.gpus["available"] = 1.0
    inst = build_instance(c)
    v = [v for v in check_arrays(inst, *optimum_arrays(inst)) if v.constraint == "availability"]
    assert len(v) == 1 and v[0].index == "g" and v[0].lhs == 2


def test_open_replicas():
    c = tiny_compiled()
    c.configs["max_replicas"] = [1, 1]
    inst = build_instance(c)
    y, x, u = optimum_arrays(inst)
    assert "open_replicas" in names(inst, np.array([1, 2]), x, u)


def test_open_routes():
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    assert "open_routes" in names(inst, np.array([0, 2]), x, u)


def test_one_parallelism():
    cfgs = [{"config": f"m|g|bf16|tp{n}pp1", "model": "m", "gpu": "g", "tp": n, "cost_per_hour": float(n)} for n in (1, 2)]
    routes = [{"query_type": "q", "config": c["config"], "capacity_rps": 1.0} for c in cfgs]
    for flag, expect in ((True, {"one_parallelism"}), (False, set())):
        inst = build_instance(make_compiled([{"query_type": "q", "rate_rps": 1.0}], cfgs, routes,
                                            one_parallelism_per_deployment=flag, utilization_cap=1.0))
        assert names(inst, np.array([1, 1]), np.array([0.5, 0.5]), np.array([0.0])) == expect


def test_max_models():
    inst = build_instance(tiny_compiled(max_models=1))
    v = [v for v in check_arrays(inst, *optimum_arrays(inst)) if v.constraint == "max_models"]
    assert len(v) == 1 and v[0].lhs == 2


def test_model_selected():
    """o_c <= s_j(c) holds by construction in the checker (s_j is derived from the open configurations),
    so what it guards in the MILP shows in the objective: every model with an open configuration pays
    its fixed cost, and a model with none pays nothing."""
    inst = build_instance(tiny_compiled())
    y, x, u = optimum_arrays(inst)
    s = inst.models_selected(y, x)
    assert s.tolist() == [float(any(y[c] > 0 for c in np.flatnonzero(inst.config_model == j)))
                          for j in range(len(inst.model_ids))]
    fixed = dataclasses.replace(inst, fixed_cost=np.full(len(inst.model_ids), 5.0))
    assert fixed.objective(y, u, x) == pytest.approx(inst.objective(y, u, x) + 5.0 * s.sum())


def test_every_constraint_has_a_golden_test():
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    missing = [c for c in CONSTRAINTS if not any(t == c or t.startswith(c + "_") for t in tested)]
    assert not missing, f"constraints without a golden checker test: {missing}"


# ---- plan files ---------------------------------------------------------------------------------

def test_unknown_names_in_plan_are_reported_not_dropped(tmp_path):
    inst = build_instance(tiny_compiled())
    plan = plan_from_arrays(inst, *optimum_arrays(inst), method="hand")
    plan.replicas["nope|g|bf16|tp1pp1"] = 1
    plan.routing.append({"query_type": "q-easy", "config": "nope|g|bf16|tp1pp1", "fraction": 0.1})
    plan.routing.append({"query_type": "q-easy", "config": "ghost|g|bf16|tp1pp1", "fraction": 0.0})  # zero, still named
    res = check(inst, plan)
    assert not res.ok
    assert sum("unknown configuration" in v.message or "not a route of this problem" in v.message
               for v in res.violations) == 3


def test_plan_round_trip_and_objective_recomputed(tmp_path):
    inst = build_instance(tiny_compiled())
    plan = plan_from_arrays(inst, *optimum_arrays(inst), method="hand")
    f = tmp_path / "plan.json"
    plan.to_json(f)
    d = json.loads(f.read_text())
    assert set(d) >= {"scenario", "method", "status", "objective", "bound", "runtime_s", "replicas", "routing", "unserved"}
    d["objective"] = 1.0  # a lying plan file
    f.write_text(json.dumps(d))
    res = check(inst, Plan.read(f))
    assert res.ok and res.objective == pytest.approx(4.0)
    assert "plan file says 1.0000" in res.report()


def test_open_routes_ignores_types_without_traffic():
    c = tiny_compiled()
    c.query_types.loc[c.query_types["query_type"] == "q-easy", "rate_rps"] = 0.0
    inst = build_instance(c)
    x = np.zeros(inst.R)
    x[inst.route_index[("q-easy", S)]] = 1.0  # zero requests/s routed to a configuration without replicas
    x[inst.route_index[("q-hard", B)]] = 1.0
    assert names(inst, np.array([0, 1]), x, np.zeros(inst.I)) == set()
