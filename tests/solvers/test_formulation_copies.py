"""The heuristics restate the formulation on numpy arrays (their LP and restricted MILP); these tests
tie each copy to the Pyomo model, which is the reference.

- The heuristics' LP (:mod:`sloserve.solvers.heuristics.lp`) is the Pyomo model's LP relaxation with the
  binaries o_c eliminated through o_c ≥ y_c/Ymax_c: it has no ``open_routes`` rows (x_ic ≤ o_c), which
  the relaxation may tighten, and, when models are selected (fixed costs or max_models), the valid cut
  ``model_routes`` Σ_{c of model j} x_ic ≤ s_j. So its optimum equals the Pyomo relaxation's with
  ``open_routes`` deactivated and that cut added, and is never above the full relaxation's with the cut.
- The restricted MILP (:mod:`sloserve.solvers.heuristics.submip`) equals the Pyomo MILP with every
  configuration outside the candidate set closed (o_c = 0).
"""
from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from sloserve.model.compile import compile_scenario
from sloserve.model.generate import generate_scenario
from sloserve.problem.instance import build_instance
from sloserve.solvers.heuristics.core import prepare
from sloserve.solvers.heuristics.lp import lower_bound
from sloserve.solvers.heuristics.submip import candidate_configs, restricted_mip
from sloserve.solvers.milp import create_pyomo_instance, solve_instance

from ..factories import random_compiled

CASES = [("random", s) for s in range(6)] + [("S", 0), ("S", 3), ("M", 1)]


def _compiled(kind, seed):
    if kind == "random":
        return random_compiled(np.random.default_rng(100 + seed))
    return compile_scenario(generate_scenario(kind, seed=seed))


def _pyomo_lp(inst, open_routes: bool) -> float | None:
    m = create_pyomo_instance(inst)
    pyo.TransformationFactory("core.relax_integer_vars").apply_to(m)
    if not open_routes:
        m.open_routes.deactivate()
    if (inst.fixed_cost > 0).any() or inst.options.max_models is not None:
        m.model_routes = pyo.Constraint(m.I, m.J, rule=lambda m, i, j: sum(
            m.x[i, c] for c in m.C_i[i] if m.model_of[c] == j) <= m.s[j])
    res = solve_instance(m, mip_gap=0.0)
    return res.objective if res.has_solution else None


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}{s}" for k, s in CASES])
def test_heuristic_lp_is_the_pyomo_relaxation(kind, seed):
    inst = build_instance(_compiled(kind, seed))
    ours = lower_bound(prepare(inst))
    ref = _pyomo_lp(inst, open_routes=False)
    if ref is None:
        assert not ours.ok
        return
    assert ours.ok and ours.objective == pytest.approx(ref, rel=1e-6, abs=1e-6)
    full = _pyomo_lp(inst, open_routes=True)
    assert ours.objective <= full * (1 + 1e-6) + 1e-6


@pytest.mark.parametrize("kind,seed", CASES[:4] + [("S", 0)], ids=[f"{k}{s}" for k, s in CASES[:4] + [("S", 0)]])
def test_restricted_mip_is_the_pyomo_milp_on_its_candidates(kind, seed):
    inst = build_instance(_compiled(kind, seed))
    P = prepare(inst)
    lp = lower_bound(P)
    if not lp.ok:
        pytest.skip("infeasible instance")
    cand = candidate_configs(P, [np.flatnonzero(lp.y > 1e-9)], lp.route_rc, max_configs=40)
    sol, stats = restricted_mip(P, cand, time_limit=120, max_nodes=10**7, mip_gap=0.0)
    m = create_pyomo_instance(inst)
    keep = set(inst.configs[cand])
    for c in inst.configs:
        if c not in keep:
            m.o[c].fix(0)
    res = solve_instance(m, mip_gap=0.0)
    if not res.has_solution:
        assert sol is None
        return
    y, x, u = sol
    ours = inst.objective(y, u, x)
    assert ours == pytest.approx(res.objective, rel=1e-6, abs=1e-6)
