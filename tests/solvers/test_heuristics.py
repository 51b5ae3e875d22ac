"""GH and AGH on hand-built cases: the tiny optimum, a TP upgrade, a consolidation, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.checker import check_arrays
from sloserve.problem.instance import build_instance
from sloserve.solvers import METHODS, SolveOptions, load_methods, solve
from sloserve.solvers.heuristics import agh_arrays, gh_arrays, local_search, prepare, State
from sloserve.solvers.heuristics.core import _add, ceil_need, ceil_need_1
from sloserve.solvers.heuristics.gh import hardest_first

from ..factories import make_compiled, tiny_compiled


def test_scalar_replica_rounding_is_the_arrays_rounding():
    """``ceil_need_1`` (the greedy's per-placement scalar) rounds exactly as ``ceil_need`` (and so as
    ``Instance.replicas_needed``), including loads a hair above an integer, negatives and zero."""
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-2, 50, 2000), np.arange(0, 40) + 1e-10, np.arange(0, 40) * (1 + 1e-8),
                        np.arange(0, 40) * (1 - 1e-8), [0.0, -0.0, 1e-13, -1e-13, 1.0, 2.0]])
    assert [ceil_need_1(t) for t in v] == ceil_need(v).tolist()


def test_tiny_optimum_found():
    inst = build_instance(tiny_compiled())
    y, x, u = gh_arrays(inst)
    assert not check_arrays(inst, y, x, u)
    (y, x, u), stats = agh_arrays(inst, seed=0)
    assert not check_arrays(inst, y, x, u)
    assert inst.objective(y, u, x) == pytest.approx(4.0)


def test_registered_and_checked():
    methods = load_methods()
    assert {"gh", "agh", "agh+milp"} <= set(methods)
    for m in ("gh", "agh"):
        plan = solve(tiny_compiled(), m)
        assert plan.objective == pytest.approx(4.0)


@pytest.mark.skipif("milp" not in load_methods(), reason="sloserve.solvers.milp not available")
def test_agh_then_milp_warm_start():
    plan = METHODS.get("agh+milp")(build_instance(tiny_compiled()), SolveOptions(time_limit_s=30))
    assert plan.objective == pytest.approx(4.0)
    assert plan.extra["agh_objective"] == pytest.approx(4.0)


def upgrade_case():
    """A (1 rps) fits m|g at tp1 (half a replica, $1/h); B (1 rps) can use m|g only at tp2 ($2/h, 4 rps)
    or other models at $10/h. One TP setting per deployment: the cheap plan upgrades m|g to tp2."""
    T1, T2 = "m|g|bf16|tp1pp1", "m|g|bf16|tp2pp1"
    cfgs = [{"config": T1, "model": "m", "gpu": "g", "tp": 1, "cost_per_hour": 1.0},
            {"config": T2, "model": "m", "gpu": "g", "tp": 2, "cost_per_hour": 2.0},
            {"config": "m2|g|bf16|tp1pp1", "model": "m2", "gpu": "g", "tp": 1, "cost_per_hour": 10.0},
            {"config": "m3|g|bf16|tp1pp1", "model": "m3", "gpu": "g", "tp": 1, "cost_per_hour": 10.0}]
    routes = [{"query_type": "A", "config": T1, "capacity_rps": 2.0},
              {"query_type": "A", "config": T2, "capacity_rps": 4.0},
              {"query_type": "B", "config": T2, "capacity_rps": 4.0},
              {"query_type": "B", "config": "m2|g|bf16|tp1pp1", "capacity_rps": 4.0},
              {"query_type": "B", "config": "m3|g|bf16|tp1pp1", "capacity_rps": 4.0}]
    qts = [{"query_type": "A", "rate_rps": 1.0}, {"query_type": "B", "rate_rps": 1.0}]
    return make_compiled(qts, cfgs, routes, utilization_cap=1.0, one_parallelism_per_deployment=True)


def test_gh_makes_the_tp_upgrade():
    inst = build_instance(upgrade_case())
    assert list(hardest_first(prepare(inst))) == [0, 1]  # A is placed first, at tp1
    y, x, u = gh_arrays(inst)
    assert not check_arrays(inst, y, x, u)
    assert list(y) == [0, 1, 0, 0]  # upgraded to tp2, carrying both types
    assert inst.objective(y, u, x) == pytest.approx(2.0)


def consolidation_case():
    qts = [{"query_type": "A", "rate_rps": 1.0}, {"query_type": "B", "rate_rps": 1.0}]
    cfgs = [{"config": "x|g|bf16|tp1pp1", "model": "x", "gpu": "g", "cost_per_hour": 1.0},
            {"config": "y|g|bf16|tp1pp1", "model": "y", "gpu": "g", "cost_per_hour": 1.0}]
    routes = [{"query_type": q, "config": c["config"], "capacity_rps": 2.0} for q in ("A", "B") for c in cfgs]
    return make_compiled(qts, cfgs, routes, utilization_cap=1.0)


def test_agh_consolidates_two_half_empty_configurations():
    inst = build_instance(consolidation_case())
    P = prepare(inst)
    st = State(P)
    _add(P, st, inst.route_index[("A", "x|g|bf16|tp1pp1")], 1.0)
    _add(P, st, inst.route_index[("B", "y|g|bf16|tp1pp1")], 1.0)
    st.rem[:] = 0.0
    assert st.objective(P) == pytest.approx(2.0)
    best, kept = local_search(P, st, np.arange(inst.I))
    assert kept >= 1
    assert best.objective(P) == pytest.approx(1.0)
    assert (best.y > 0).sum() == 1


def test_agh_deterministic_for_a_seed():
    from ..factories import random_compiled
    inst = build_instance(random_compiled(np.random.default_rng(7), 4, 3, 2))
    (a, _), (b, _) = agh_arrays(inst, seed=3, time_cap_s=60), agh_arrays(inst, seed=3, time_cap_s=60)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def two_row_mix_case(max_error: float = 0.12):
    """One type whose error and mean-delay limits are met only by a mix: route a is exact but slow,
    route b fast but inaccurate; x_a ∈ [0.4, 0.6] meets both rows (max_error 0.12, e2e SLO 12 s)."""
    A, B = "a|g|bf16|tp1pp1", "b|g|bf16|tp1pp1"
    return make_compiled(
        [{"query_type": "q", "rate_rps": 1.0, "max_error": max_error, "e2e_slo_s": 12.0}],
        [{"config": A, "model": "a", "gpu": "g", "cost_per_hour": 2.0},
         {"config": B, "model": "b", "gpu": "g", "cost_per_hour": 1.0}],
        [{"query_type": "q", "config": A, "capacity_rps": 2.0, "error": 0.0, "e2e_s": 20.0},
         {"query_type": "q", "config": B, "capacity_rps": 2.0, "error": 0.2, "e2e_s": 0.5}],
        utilization_cap=1.0, slo_mode="mean")


def test_gh_falls_back_to_lp_rounding_when_the_greedy_is_stuck():
    from sloserve.errors import InfeasibleError
    from sloserve.solvers.heuristics import greedy
    inst = build_instance(two_row_mix_case())
    P = prepare(inst)
    with pytest.raises(InfeasibleError):
        greedy(P)  # neither route meets both rows alone: the one-pass greedy gets stuck
    info = {}
    y, x, u = gh_arrays(inst, info=info)
    assert not check_arrays(inst, y, x, u)
    assert info["fallback"] in ("dive", "restricted_mip")
    assert inst.objective(y, u, x) == pytest.approx(3.0)
    plan = solve(two_row_mix_case(), "gh")
    assert plan.extra["gh"]["fallback"] == info["fallback"]


def test_infeasible_when_the_lp_relaxation_is():
    from sloserve.errors import InfeasibleError
    from sloserve.solvers.heuristics.lp import lower_bound
    inst = build_instance(two_row_mix_case(max_error=0.05))  # x_a ≥ 0.75 for error, ≤ 0.6 for delay
    assert not lower_bound(prepare(inst)).ok
    for fn in (gh_arrays, lambda i: agh_arrays(i, seed=0)):
        with pytest.raises(InfeasibleError) as e:
            fn(inst)
        assert any("LP relaxation" in d for d in e.value.diagnosis)


def test_lp_relaxation_is_a_lower_bound_and_column_generation_is_exact():
    from sloserve.solvers.heuristics.lp import RelaxedLP
    from ..factories import random_compiled
    for seed in range(5):
        inst = build_instance(random_compiled(np.random.default_rng(seed), 4, 3, 2))
        P = prepare(inst)
        cg = RelaxedLP(P).solve()
        full = RelaxedLP(P, column_generation=False).solve()
        assert cg.ok == full.ok
        if not full.ok:
            continue
        assert cg.objective == pytest.approx(full.objective, rel=1e-7, abs=1e-9)
        (y, x, u), stats = agh_arrays(inst, seed=0, time_cap_s=60)
        assert stats["lp_bound"] <= inst.objective(y, u, x) + 1e-7


def test_budget_and_safety_cap_follow_the_size_class():
    """The work budget is chosen by routes and configurations alone (sloserve.problem.size); the time
    cap is a safety stop well above the budget's target."""
    from types import SimpleNamespace
    from sloserve.solvers.heuristics import agh_budget, default_time_cap
    small, large, xl = (SimpleNamespace(R=r, C=c) for r, c in ((2_000, 300), (34_000, 1_300), (89_000, 1_665)))
    assert (agh_budget(small).size, agh_budget(large).size, agh_budget(xl).size) == ("S", "L", "XL")
    assert agh_budget(SimpleNamespace(R=10_000, C=1_600)).size == "L+"  # many configurations
    for inst in (small, large, xl):
        b = agh_budget(inst)
        assert default_time_cap(inst) == b.time_cap_s >= 5 * b.target_s
    assert agh_budget(large).target_s == 1.0 and agh_budget(xl).target_s == 3.0
    # from L on: a short dive and the restricted MILP stopped by counts (solutions, nodes)
    assert agh_budget(large).dive_steps < agh_budget(small).dive_steps
    assert agh_budget(large).sols is not None and agh_budget(small).sols is None


def test_time_limit_overrides_the_default_cap():
    plan = METHODS.get("agh")(build_instance(tiny_compiled()), SolveOptions(time_limit_s=60))
    assert plan.objective == pytest.approx(4.0)
    assert plan.extra["agh"]["stopped_by"] == "budget"


def test_candidates_include_the_cheapest_whole_replica_configuration():
    """Type B (0.1 rps) is served alone most cheaply in whole replicas by "big" ($3/h for one replica)
    although its pro-rata price ranks it last; the per-type pick puts it among the candidates."""
    from sloserve.solvers.heuristics.submip import candidate_configs
    qts = [{"query_type": "A", "rate_rps": 1.0}, {"query_type": "B", "rate_rps": 0.1}]
    cfgs = [{"config": f"m{k}|g|bf16|tp1pp1", "model": f"m{k}", "gpu": "g", "cost_per_hour": 1.0} for k in range(4)]
    cfgs.append({"config": "big|g|bf16|tp1pp1", "model": "big", "gpu": "g", "cost_per_hour": 3.0})
    routes = [{"query_type": "A", "config": c["config"], "capacity_rps": 1.0} for c in cfgs[:4]]
    routes += [{"query_type": "B", "config": c["config"], "capacity_rps": 0.01} for c in cfgs[:4]]  # 10 replicas
    routes.append({"query_type": "B", "config": "big|g|bf16|tp1pp1", "capacity_rps": 0.1})
    inst = build_instance(make_compiled(qts, cfgs, routes, utilization_cap=1.0))
    P = prepare(inst)
    big = inst.config_index["big|g|bf16|tp1pp1"]
    assert big in candidate_configs(P, [np.array([0])], None, 2, per_type=1)
    assert big not in candidate_configs(P, [np.array([0])], None, 2, per_type=0)


def test_route_subset_gives_every_type_its_best_routes_onto_the_lp_hubs():
    """Type A's route onto "hub" (a configuration the LP relaxation opens for other types) ranks last
    for A by price, beyond the per-type picks; the per-hub pick puts it in the restricted MILP, so A
    can share the hub's rounded-up spare capacity (what scarce GPUs make the integer optimum do)."""
    from sloserve.solvers.heuristics.submip import route_subset
    qts = [{"query_type": "A", "rate_rps": 1.0}]
    cfgs = [{"config": f"m|g|bf16|tp{t}pp1", "model": "m", "gpu": "g", "cost_per_hour": 1.0 + t} for t in (1, 2, 4)]
    cfgs.append({"config": "m|g|bf16|tp8pp1", "model": "m", "gpu": "g", "cost_per_hour": 20.0})
    routes = [{"query_type": "A", "config": c["config"], "capacity_rps": 1.0} for c in cfgs]
    inst = build_instance(make_compiled(qts, cfgs, routes, utilization_cap=1.0))
    P = prepare(inst)
    hub = inst.config_index["m|g|bf16|tp8pp1"]
    r_hub = inst.route_index[("A", "m|g|bf16|tp8pp1")]
    every = np.arange(inst.C)
    assert r_hub not in route_subset(P, every, None, 1)
    assert r_hub not in route_subset(P, every, None, 1, hubs=np.array([hub]), per_hub=0)
    assert r_hub in route_subset(P, every, None, 1, hubs=np.array([hub]), per_hub=1)


def test_restricted_mip_solves_again_without_presolve_when_highs_reports_an_objective_its_solution_lacks(monkeypatch):
    """HiGHS 1.16 with a MIP start and presolve once said "Optimal, 653.55" for a solution worth 824.09 (the
    start) while the optimum was 806.25 (few_models M seed 7, docs/heuristics.md); the restricted MILP checks
    the reported objective against its own arithmetic and, when they differ, solves again with presolve off."""
    from sloserve.solvers.heuristics import submip
    inst = build_instance(tiny_compiled())
    P = prepare(inst)
    every = np.arange(inst.C)
    sol, st = submip.restricted_mip(P, every)
    assert sol is not None and st["presolve_off_rerun"] is False
    calls = []
    real = submip._consistent
    monkeypatch.setattr(submip, "_consistent", lambda *a: calls.append(1) or (len(calls) > 1 and real(*a)))
    sol2, st2 = submip.restricted_mip(P, every)
    assert st2["presolve_off_rerun"] is True and len(calls) == 1
    assert inst.objective(sol2[0], sol2[2], sol2[1]) == pytest.approx(inst.objective(sol[0], sol[2], sol[1]))


def test_agh_falls_back_to_ghs_lp_rounding_when_its_own_rounds_find_nothing(monkeypatch):
    """Where the greedy, the dive and both restricted MILPs find no plan (tight_gpus XL seed 1: AGH said
    "no plan" while GH had one), AGH answers with GH's fallback instead of raising."""
    import importlib

    from sloserve.errors import InfeasibleError
    agh_mod = importlib.import_module("sloserve.solvers.heuristics.agh")
    inst = build_instance(tiny_compiled())

    def stuck(*a, **k):
        raise InfeasibleError("stuck", diagnosis=["greedy stuck (test)"])

    monkeypatch.setattr(agh_mod, "greedy", stuck)
    monkeypatch.setattr(agh_mod, "dive", lambda P, **k: (None, None, {"lp_solves": 0}))
    monkeypatch.setattr(agh_mod, "restricted_mip", lambda *a, **k: (None, {"status": "Infeasible", "nodes": 0,
                                                                          "presolve_off_rerun": False}))
    (y, x, u), st = agh_arrays(inst, seed=0)
    assert st["best_start"] == "gh_fallback"
    assert check_arrays(inst, y, x, u) == []


@pytest.mark.parametrize("regime", ["tight_gpus", "few_models"])
def test_agh_gives_the_same_plan_on_a_slow_machine(monkeypatch, regime):
    """AGH's budget is counts, not the clock: with every LP solve, restricted MILP and local-search
    move slowed down (a sleep each, as on a busy machine), it returns the same plan and says the budget
    stopped it; with a cap below what the slowed run needs, the cap fires and says so."""
    import importlib
    import time as _time

    from sloserve.model.regimes import regime_instance
    from sloserve.solvers.heuristics import search
    from sloserve.solvers.heuristics.lp import RelaxedLP

    agh_mod = importlib.import_module("sloserve.solvers.heuristics.agh")  # the package's `agh` is the method
    inst = build_instance(regime_instance(regime, "S", 1).compiled)
    (quick, s0) = agh_arrays(inst, seed=0)
    assert s0["stopped_by"] == "budget"

    def slow(fn, delay):
        def wrapped(*a, **k):
            _time.sleep(delay)
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(RelaxedLP, "solve", slow(RelaxedLP.solve, 0.01))
    monkeypatch.setattr(agh_mod, "restricted_mip", slow(agh_mod.restricted_mip, 0.2))
    for name in ("close_config", "drop_replica", "close_model", "relocate_type"):
        monkeypatch.setattr(search, name, slow(getattr(search, name), 0.002))
    (slowed, s1) = agh_arrays(inst, seed=0)
    assert s1["runtime_s"] > s0["runtime_s"] + 0.4  # the slowdown was real
    assert s1["stopped_by"] == "budget" and s1["work"] == s0["work"]
    for p, q in zip(quick, slowed):
        np.testing.assert_array_equal(p, q)
    (_, s2) = agh_arrays(inst, seed=0, time_cap_s=0.3)
    assert s2["stopped_by"] == "time_cap"


def test_gh_stops_restarting_a_pass_when_a_gpu_type_runs_out(monkeypatch):
    """On a scarce-GPU instance whose plain passes get stuck on availability (tight_gpus S seed 2), each
    plain pass is tried once (no squeaky-wheel reorderings: they never rescued one on the regime
    instances) and the GPU-frugal pass gives the plan; with the rule off the restarts come back and
    the plan is the same."""
    import importlib

    from sloserve.model.regimes import regime_instance

    gh_mod = importlib.import_module("sloserve.solvers.heuristics.gh")
    inst = build_instance(regime_instance("tight_gpus", "S", 2).compiled)
    calls: list[tuple[bool, bool, bool]] = []
    whys = []
    real = gh_mod.construct

    def counted(P, order, knobs=None):
        st, why, stuck = real(P, order, knobs)
        calls.append((bool(knobs and knobs.linear), bool(knobs and knobs.frugal), st is not None))
        whys.append(why)
        return st, why, stuck

    monkeypatch.setattr(gh_mod, "construct", counted)
    info: dict = {}
    fast = gh_mod.gh_arrays(inst, info=info)
    assert info["pass"] == "frugal" and info["fallback"] is None
    assert calls[:2] == [(False, False, False), (True, False, False)] and calls[2][1] and calls[-1][2]
    # the rule reads what ran out from the stuck reason's flags; its text says the same to a reader
    assert all(w.gpus_out and "availability exhausted" in w for w in whys[:2]) and whys[-1] == ""
    n_fast = len(calls)
    calls.clear()
    monkeypatch.setattr(gh_mod, "SKIP_RESTARTS_WHEN_GPUS_RUN_OUT", False)
    slow = gh_mod.gh_arrays(inst, info={})
    assert len(calls) > n_fast
    for p, q in zip(fast, slow):
        np.testing.assert_array_equal(p, q)
