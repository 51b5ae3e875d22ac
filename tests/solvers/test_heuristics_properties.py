"""Properties of GH and AGH on random compiled instances: checker-clean plans, AGH ≤ GH, determinism,
and GH failing only where the MILP also finds no plan."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from sloserve.checker import check_arrays
from sloserve.errors import InfeasibleError
from sloserve.problem.instance import build_instance
from sloserve.solvers import METHODS, SolveOptions, load_methods
from sloserve.solvers.heuristics import agh_arrays, gh_arrays

from ..factories import compiled_instances

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _milp_infeasible(inst) -> bool:
    if "milp" not in load_methods():
        return True  # cannot cross-check without the MILP
    try:
        METHODS.get("milp")(inst, SolveOptions(time_limit_s=60))
    except InfeasibleError:
        return True
    return False


@SETTINGS
@given(compiled_instances())
def test_gh_and_agh_plans_pass_the_checker(compiled):
    inst = build_instance(compiled)
    try:
        y, x, u = gh_arrays(inst)
    except InfeasibleError as e:
        assert e.diagnosis
        gh_obj = None
    else:
        assert not check_arrays(inst, y, x, u)
        gh_obj = inst.objective(y, u, x)
    try:
        (y, x, u), stats = agh_arrays(inst, seed=1, time_cap_s=60)
    except InfeasibleError:
        assert gh_obj is None
        return
    assert not check_arrays(inst, y, x, u)
    if gh_obj is not None:
        assert inst.objective(y, u, x) <= gh_obj + 1e-9 * max(1.0, gh_obj)


@SETTINGS
@given(compiled_instances())
def test_agh_is_deterministic_for_a_seed(compiled):
    inst = build_instance(compiled)
    try:
        (a, _) = agh_arrays(inst, seed=5, time_cap_s=60)
    except InfeasibleError:
        return
    (b, _) = agh_arrays(inst, seed=5, time_cap_s=60)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compiled_instances())
def test_agh_fails_only_when_the_milp_does(compiled):
    """AGH (multi-start) raises InfeasibleError only on instances the MILP also finds infeasible."""
    inst = build_instance(compiled)
    try:
        agh_arrays(inst, seed=0, time_cap_s=60)
    except InfeasibleError:
        assert _milp_infeasible(inst)
