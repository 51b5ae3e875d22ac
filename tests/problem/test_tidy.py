"""The one clean-up step every method's plan goes through: no idle replica is paid for."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.checker import check
from sloserve.problem.instance import build_instance
from sloserve.problem.plan import plan_from_arrays, tidy
from sloserve.solvers import solve
from sloserve.solvers.heuristics import gh_arrays

from ..factories import random_compiled, tiny_compiled


def test_idle_replicas_and_configurations_are_removed_and_the_cost_recomputed():
    inst = build_instance(tiny_compiled())
    y, x, u = gh_arrays(inst)
    padded = y.copy()
    padded[0] += 3  # three idle replicas on a configuration
    plan = plan_from_arrays(inst, padded, x, u, method="test", bound=1.0)
    t = tidy(inst, plan)
    assert check(inst, t).ok
    assert t.objective == pytest.approx(inst.objective(y, u, x)) and t.objective < plan.objective
    assert t.extra["tidied"]["replicas_removed"] == 3 and t.extra["gap"] == pytest.approx((t.objective - 1) / t.objective)


@pytest.mark.parametrize("seed", range(8))
def test_tidy_keeps_feasible_plans_feasible(seed):
    rng = np.random.default_rng(seed)
    inst = build_instance(random_compiled(rng))
    try:
        y, x, u = gh_arrays(inst)
    except Exception:
        pytest.skip("infeasible instance")
    padded = y + rng.integers(0, 3, size=inst.C)
    t = tidy(inst, plan_from_arrays(inst, padded, x, u, method="test"))
    assert check(inst, t).ok and t.objective <= inst.objective(padded, u, x) + 1e-9


@pytest.mark.parametrize("method", ["gh", "agh", "milp"])
def test_no_traffic_costs_nothing(method):
    c = tiny_compiled()
    qt = c.query_types.copy()
    qt["rate_rps"] = 0.0
    c.query_types = qt
    plan = solve(c, method)
    assert plan.objective == 0.0 and plan.replicas == {}
