"""The robust methods (sloserve.problem.robust, milp-robust, agh-robust): the protection term is the
worst case of Γ routes, robust plans survive that worst case, and the box tables survive uniform stress."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from sloserve.errors import InfeasibleError
from sloserve.evaluate import stress
from sloserve.problem.instance import build_instance
from sloserve.problem.plan import arrays_from_plan
from sloserve.problem.robust import Uncertainty, protection, robust_tables, robust_violations
from sloserve.solvers import SolveOptions, load_methods, solve

from ..factories import random_compiled

UNC = Uncertainty(s_max=1.2, gamma=1)


def test_protection_is_the_worst_case_over_gamma_routes():
    rng = np.random.default_rng(3)
    route_i = rng.integers(0, 4, 30)
    vals = rng.uniform(0, 1, 30)
    x = np.where(rng.random(30) < 0.5, rng.uniform(0, 1, 30), 0.0)
    for gamma in (1, 2, 3):
        unc = Uncertainty(1.4, gamma)
        got = protection(vals, route_i, x, 4, unc)
        for i in range(4):
            rs = np.flatnonzero(route_i == i)
            best = max((sum(0.4 * vals[r] * x[r] for r in S) for k in range(gamma + 1)
                        for S in itertools.combinations(rs, min(k, len(rs)))), default=0.0)
            assert got[i] == pytest.approx(best)


def _instances():
    out = []
    for seed in range(12):
        c = random_compiled(np.random.default_rng(seed), 3, 2, 2)
        out.append(c)
    return out


@pytest.mark.skipif("milp" not in load_methods(), reason="sloserve.solvers.milp not available")
def test_robust_plans_survive_their_worst_case_and_cost_at_least_the_nominal():
    load_methods()
    found = {"milp-robust": 0, "nominal_breaks": 0}
    for c in _instances():
        inst = build_instance(c)
        try:
            nominal = solve(inst, "milp", SolveOptions(time_limit_s=30))
        except InfeasibleError:
            continue
        a = arrays_from_plan(inst, nominal)
        found["nominal_breaks"] += bool(robust_violations(inst, a.y, a.x, a.u, UNC))
        try:
            rob = solve(inst, "milp-robust", SolveOptions(time_limit_s=30, extra={"s_max": UNC.s_max, "gamma": UNC.gamma}))
        except InfeasibleError:
            continue
        found["milp-robust"] += 1
        r = arrays_from_plan(inst, rob)
        assert r.unknown == []
        assert robust_violations(inst, r.y, r.x, r.u, UNC) == []
        assert rob.objective >= nominal.objective - 1e-6 * max(1.0, nominal.objective)
    assert found["milp-robust"] >= 3 and found["nominal_breaks"] >= 3  # the test saw both kinds


@pytest.mark.parametrize("s_error", [None, 1.0])
def test_agh_on_the_box_tables_survives_uniform_stress_at_s_max(s_error):
    """With ``s_error=1`` (delays only) the plan survives delays × s_max with errors as modelled (on
    these instances 9 of 12 have a robust plan then, 8 when the errors inflate too)."""
    load_methods()
    n = 0
    for c in _instances():
        inst = build_instance(c)
        try:
            p = solve(inst, "agh-robust", SolveOptions(extra={"s_max": UNC.s_max, "s_error": s_error}))
        except InfeasibleError:
            continue
        n += 1
        a = arrays_from_plan(inst, p)
        box = Uncertainty(UNC.s_max, gamma=inst.R, s_error=s_error)
        assert robust_violations(inst, a.y, a.x, a.u, box) == []
        per = stress.evaluate(inst, p, stress.Stress(s=UNC.s_max, s_error=s_error))
        assert per["slo_violating"].max() <= 1e-9 and per["beyond_capacity"].max() <= 1e-9
        assert per["error_ok"].all()
    assert n >= 6


def test_errors_keep_their_modelled_rates_when_s_error_is_one():
    c = random_compiled(np.random.default_rng(1), 3, 2, 2)
    r = robust_tables(c, Uncertainty(1.5, 1, s_error=1.0))
    m = c.routes.merge(r.routes, on=["query_type", "config"], suffixes=("", "_r"))
    assert np.allclose(m["error_r"], m["error"]) and np.allclose(m["e2e_s_r"], 1.5 * m["e2e_s"])
    x = np.ones(4)
    unc = Uncertainty(1.5, 2, s_error=1.2)
    assert np.allclose(protection(np.ones(4), np.zeros(4, dtype=int), x, 1, unc, factor=unc.error_factor), 0.4)
    assert np.allclose(protection(np.ones(4), np.zeros(4, dtype=int), x, 1, unc), 1.0)
    with pytest.raises(ValueError, match="s_error"):
        Uncertainty(1.2, 1, s_error=0.9)


def test_robust_tables_keep_names_and_inflate():
    c = random_compiled(np.random.default_rng(1), 3, 2, 2)
    r = robust_tables(c, Uncertainty(1.5, 1))
    assert set(zip(r.routes["query_type"], r.routes["config"])) <= set(zip(c.routes["query_type"], c.routes["config"]))
    m = c.routes.merge(r.routes, on=["query_type", "config"], suffixes=("", "_r"))
    assert np.allclose(m["e2e_s_r"], 1.5 * m["e2e_s"]) and (m["capacity_rps_r"] <= m["capacity_rps"] + 1e-12).all()


@pytest.mark.skipif("milp" not in load_methods(), reason="sloserve.solvers.milp not available")
def test_robust_pyomo_model_has_the_nominal_components_and_the_counterparts():
    from sloserve.solvers.milp import CONSTRAINTS
    from sloserve.solvers.milp.robust import create_robust_instance
    c = random_compiled(np.random.default_rng(2), 3, 2, 2)
    m = create_robust_instance(c, UNC)
    for name in CONSTRAINTS:
        assert hasattr(m, name), name
    for name in ("robust_error", "robust_error_dev", "z_error", "p_error", "s_max", "s_error", "gamma"):
        assert hasattr(m, name), name
    assert m.s_error.value == UNC.s_max  # errors inflate with the delays unless told otherwise
    assert create_robust_instance(c, Uncertainty(1.2, 1, s_error=1.0)).s_error.value == 1.0
