"""The attainment ceiling: lone-request times tie to the engine, and no simulated plan exceeds it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sloserve.errors import InfeasibleError
from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.plan import Plan
from sloserve.problem.steptime import StepTime
from sloserve.sim.arrivals import Arrivals, synthetic
from sloserve.sim.capacity import single_route
from sloserve.sim.ceiling import attainable, lone_latencies
from sloserve.sim.simulator import simulate
from sloserve.sim.verify import VerifyOptions, verify
from sloserve.solvers import solve


@pytest.fixture(scope="module")
def compiled():
    return compile_scenario(default_scenario())


@pytest.mark.parametrize("k", [3, 77, 150])
def test_lone_latencies_are_the_engines_for_prompts_within_one_pass(compiled, k):
    r = compiled.routes.iloc[k]
    one = single_route(compiled, r.query_type, r.config)
    one = dataclasses.replace(one, query_types=one.query_types.assign(max_error=1.0))
    q = one.query_types.iloc[0]
    st = StepTime.from_table(one.config_perf, one.configs, config=r.config)
    for h, f in ((100, 30), (1500, 200), (int(q.input_tokens) % 2048 + 1, 2)):
        plan = Plan(scenario=one.name, method="one", status="feasible", objective=None, replicas={r.config: 1},
                    routing=[{"query_type": q.query_type, "config": r.config, "fraction": 1.0}],
                    unserved={q.query_type: 0.0})
        req = simulate(one, plan, Arrivals(np.zeros(1), np.array([h]), np.array([f]), np.zeros(1, dtype=np.int64),
                                           (q.query_type,))).requests.iloc[0]
        lat = lone_latencies(st, np.array([h]), np.array([f]))
        assert lat["ttft_s"][0] == pytest.approx(req.first_token_at, rel=1e-9)
        assert lat["e2e_s"][0] == pytest.approx(req.completed_at, rel=1e-6)


def test_no_simulated_plan_beats_the_ceiling(compiled):
    """Heavy-tailed lengths put some outputs beyond what the E2E SLOs allow; attainment stays below the bound."""
    plan = solve(compiled, "agh")
    for scale in (0.3, 1.0):  # light and nominal load
        arr = synthetic(compiled, 600.0, lengths="lognormal", length_cv=3.0, seed=8, rate_scale=scale)
        bound = attainable(compiled, arr).set_index("query_type")["attainable"]
        assert (bound < 1).any()  # the case is not vacuous
        got = simulate(compiled, plan, arr).summary.set_index("query_type")["slo_attainment"]
        assert (got <= bound + 1e-12).all()


def test_verify_refuses_an_unattainable_target_naming_the_slo():
    sc = default_scenario()
    c = compile_scenario(sc)
    q = sc.query_types[0]
    # an E2E SLO just above the type's own lone-request time: long outputs cannot make it
    sc = dataclasses.replace(sc, query_types=(dataclasses.replace(q, e2e_slo_s=q.e2e_slo_s * 0.5),) + sc.query_types[1:])
    arr = synthetic(c, 600.0, lengths="lognormal", length_cv=3.0, seed=1)
    ceil = attainable(compile_scenario(sc), arr).set_index("query_type").at[q.name, "attainable"]
    assert ceil < 0.99
    with pytest.raises(InfeasibleError) as e:
        verify(sc, arr, VerifyOptions(target=(1 + ceil) / 2))
    assert f"query type {q.name}: at most" in str(e.value) and "e2e_slo_s" in str(e.value)
    assert e.value.diagnosis and all("unattainable" in d for d in e.value.diagnosis)
