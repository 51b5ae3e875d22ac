"""Properties of the MILP on random instances: its plans are feasible, and brute force is never cheaper.

The brute force enumerates replicas y over a small grid, checks the y-only constraints (budget,
availability, one_parallelism, max_models) in numpy, and routes traffic with an LP written
directly against ``highspy`` from the :class:`Instance` arrays — independent of the Pyomo model.
"""
from __future__ import annotations

import itertools

import highspy
import numpy as np
from hypothesis import HealthCheck, assume, given, settings

from sloserve import solvers
from sloserve.checker import check, check_arrays
from sloserve.errors import InfeasibleError
from sloserve.problem.instance import Instance, build_instance
from tests.factories import compiled_instances

GRID = 3  # replicas per configuration tried by the brute force: 0..GRID
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def routing_lp(inst: Instance, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Cheapest routing (x, u) for fixed replicas y: min 3600 Σ φ λ u s.t. §3 with y fixed; None if none."""
    R, I = inst.R, inst.I
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    open_ = y[inst.route_c] > 0
    lb = np.zeros(R + I)
    ub = np.concatenate([np.where(open_, 1.0, 0.0), inst.max_unserved])
    cost = np.concatenate([np.zeros(R), 3600.0 * inst.penalty * inst.lam])
    h.addVars(R + I, lb, ub)
    h.changeColsCost(R + I, np.arange(R + I, dtype=np.int32), cost)

    def row(lo, hi, idx, val):
        h.addRow(lo, hi, len(idx), np.asarray(idx, dtype=np.int32), np.asarray(val, dtype=float))

    for i in range(I):
        rs = np.flatnonzero(inst.route_i == i)
        row(1.0, 1.0, [*rs, R + i], [*np.ones(len(rs)), 1.0])  # demand
        # error: Σ e x + ε u <= ε
        row(-inf, inst.max_error[i], [*rs, R + i], [*inst.error[rs], inst.max_error[i]])
        if np.isfinite(inst.e2e_slo[i]):  # delay
            row(-inf, inst.e2e_slo[i], [*rs, R + i], [*inst.e2e[rs], inst.e2e_slo[i]])
    for c in range(inst.C):
        rs = np.flatnonzero(inst.route_c == c)
        if len(rs):
            row(-inf, inst.rho * y[c], rs, inst.cap_load[rs])  # capacity
            row(-inf, y[c], rs, inst.mem_load[rs] / inst.kv[c])  # memory
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = np.array(h.getSolution().col_value)
    return float(h.getInfo().objective_function_value), sol[:R], sol[R:]


def y_feasible(inst: Instance, y: np.ndarray) -> bool:
    """The constraints on y alone: budget, availability, one_parallelism, max_models, max_replicas."""
    s = inst.models_selected(y)
    if inst.cost @ y + inst.fixed_cost @ s > inst.budget * (1 + 1e-9):
        return False
    if (np.bincount(inst.config_gpu, weights=inst.gpus * y, minlength=len(inst.gpu_ids)) > inst.available).any():
        return False
    if inst.options.one_parallelism_per_deployment and \
            (np.bincount(inst.config_deployment, weights=y > 0, minlength=len(inst.deployments)) > 1).any():
        return False
    if inst.options.max_models is not None and s.sum() > inst.options.max_models:
        return False
    return bool((y <= inst.max_replicas).all())


def brute_force(inst: Instance) -> float | None:
    """Cheapest plan with every y_c in 0..GRID (y-costs ascending, stop once they exceed the best)."""
    grid = np.array(list(itertools.product(range(GRID + 1), repeat=inst.C)), dtype=float)
    fixed = np.array([inst.cost @ y + inst.fixed_cost @ inst.models_selected(y) for y in grid])
    best = None
    for n in np.argsort(fixed, kind="stable"):
        if best is not None and fixed[n] >= best - 1e-9:
            break
        y = grid[n]
        if not y_feasible(inst, y):
            continue
        lp = routing_lp(inst, y)
        if lp is None:
            continue
        pen, x, u = lp
        if check_arrays(inst, y, x, u):  # the independent checker must agree it is feasible
            continue
        best = min(fixed[n] + pen, best if best is not None else np.inf)
    return best


@SETTINGS
@given(compiled_instances())
def test_milp_plans_pass_the_checker(compiled):
    assume(not compiled.routes.empty)  # the factory's empty routes frame has no columns
    inst = build_instance(compiled)
    try:
        plan = solvers.solve(inst, "milp")  # solvers.solve raises if the checker rejects the plan
    except InfeasibleError as e:
        assert e.diagnosis, "an infeasible instance must come with a diagnosis"
        return
    assert plan.status == "optimal"
    assert check(inst, plan).ok
    assert plan.bound <= plan.objective * (1 + 1e-6) + 1e-6


@SETTINGS
@given(compiled_instances(max_types=3, max_models=2, max_gpus=1))
def test_brute_force_is_never_cheaper(compiled):
    assume(not compiled.routes.empty)
    compiled.query_types["rate_rps"] *= 0.25  # so that a grid of 0..3 replicas holds real plans
    inst = build_instance(compiled)
    assert inst.C <= 4
    best = brute_force(inst)
    try:
        plan = solvers.solve(inst, "milp")
    except InfeasibleError:
        assert best is None, f"the MILP says infeasible, brute force found a plan at {best}"
        return
    if best is not None:
        assert plan.objective <= best + 1e-6 * max(1.0, best)
