"""The replica engine against physical facts, not tuned numbers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.plan import Plan
from sloserve.problem.steptime import StepTime
from sloserve.sim.arrivals import Arrivals
from sloserve.sim.capacity import route_throughput, single_route
from sloserve.sim.engine import EngineOptions
from sloserve.sim.simulator import simulate


@pytest.fixture(scope="module")
def compiled():
    return compile_scenario(default_scenario())


def _one(compiled, q, cfg, max_error=1.0):
    one = single_route(compiled, q, cfg)
    return dataclasses.replace(one, query_types=one.query_types.assign(max_error=max_error))


def _plan(c, cfg, replicas=1):
    q = str(c.query_types["query_type"].iloc[0])
    return Plan(scenario=c.name, method="test", status="feasible", objective=None, replicas={cfg: replicas},
                routing=[{"query_type": q, "config": cfg, "fraction": 1.0}], unserved={q: 0.0})


def _arrivals(t, h, f, types):
    n = len(t)
    return Arrivals(np.asarray(t, float), np.full(n, h), np.full(n, f), np.zeros(n, dtype=np.int64), types)


@pytest.mark.parametrize("k", [0, 37, 101, 250])
def test_a_lone_request_takes_the_compiled_prefill_and_batch_1_step(compiled, k):
    r = compiled.routes.iloc[k]
    c = _one(compiled, r.query_type, r.config)
    q = c.query_types.iloc[0]
    h, f = int(q.input_tokens), int(q.output_tokens)
    if h > EngineOptions().max_num_batched_tokens:
        pytest.skip("prompt longer than one iteration's token budget")
    res = simulate(c, _plan(c, r.config), _arrivals([0.0], h, f, (q.query_type,)))
    req = res.requests.iloc[0]
    st = StepTime.from_table(c.config_perf, c.configs, config=r.config)
    assert req.first_token_at == pytest.approx(float(st.prefill_s(h)), rel=1e-12)
    assert req.first_token_at == pytest.approx(r.ttft_s, rel=1e-9)  # the route's TTFT, exactly
    tpot = (req.completed_at - req.first_token_at) / (f - 1)
    assert tpot == pytest.approx(float(st.decode_s(1, h + f / 2)), rel=1e-9)


def test_decode_runs_change_nothing(compiled):
    r = compiled.routes.iloc[120]
    c = _one(compiled, r.query_type, r.config)
    q = c.query_types.iloc[0]
    t = np.cumsum(np.random.default_rng(1).exponential(1 / (0.7 * r.capacity_rps), 400))
    arr = Arrivals(t, np.random.default_rng(2).integers(50, 1500, 400), np.random.default_rng(3).integers(1, 400, 400),
                   np.zeros(400, dtype=np.int64), (q.query_type,))
    fast = simulate(c, _plan(c, r.config), arr)
    slow = simulate(c, _plan(c, r.config), arr, engine=EngineOptions(macro_steps=False))
    np.testing.assert_allclose(fast.requests["completed_at"], slow.requests["completed_at"], rtol=1e-9)
    np.testing.assert_allclose(fast.requests["first_token_at"], slow.requests["first_token_at"], rtol=1e-9)
    assert fast.replicas["iterations"].iloc[0] == slow.replicas["iterations"].iloc[0]


def test_every_arrival_completes_or_is_reported(compiled):
    r = compiled.routes.iloc[300]
    c = _one(compiled, r.query_type, r.config)
    q = c.query_types.iloc[0]
    n = 3000
    t = np.cumsum(np.random.default_rng(4).exponential(1 / (4 * r.capacity_rps), n))  # 4x overload
    arr = _arrivals(t, int(q.input_tokens), int(q.output_tokens), (q.query_type,))
    res = simulate(c, _plan(c, r.config), arr, horizon_s=float(t[n // 2]))
    counts = res.counts()
    assert sum(counts.values()) == n and counts["in_flight"] > 0 and counts["after_horizon"] > 0
    done = res.requests[res.requests["status"] == "completed"]
    assert done["completed_at"].max() <= res.horizon_s + 1e-9


def test_littles_law_on_a_long_run(compiled):
    r = compiled.routes.iloc[60]
    c = _one(compiled, r.query_type, r.config)
    q = c.query_types.iloc[0]
    lam = 0.6 * r.capacity_rps
    n = 20000
    t = np.cumsum(np.random.default_rng(5).exponential(1 / lam, n))
    res = simulate(c, _plan(c, r.config), _arrivals(t, int(q.input_tokens), int(q.output_tokens), (q.query_type,)))
    req = res.requests
    T0, T1 = float(t[n // 10]), float(t[-1])  # after the warm-up, before the drain
    a, e = req["arrived_at"].to_numpy(), req["completed_at"].to_numpy()
    in_system = (np.minimum(e, T1) - np.maximum(a, T0)).clip(min=0).sum() / (T1 - T0)  # time-average L
    inside = (a >= T0) & (a < T1)
    lam_hat = inside.sum() / (T1 - T0)
    w = (e - a)[inside].mean()
    assert in_system == pytest.approx(lam_hat * w, rel=0.02)


def test_above_capacity_the_queue_grows_linearly(compiled):
    r = compiled.routes.iloc[200]
    c = _one(compiled, r.query_type, r.config)
    q = c.query_types.iloc[0]
    n = 4000
    t = np.cumsum(np.random.default_rng(6).exponential(1 / (10 * r.capacity_rps), n))  # far above capacity
    res = simulate(c, _plan(c, r.config), _arrivals(t, int(q.input_tokens), int(q.output_tokens), (q.query_type,)),
                   horizon_s=float(t[-1]))
    req = res.requests
    grid = np.linspace(t[-1] * 0.2, t[-1] * 0.95, 40)
    queue = [((req["arrived_at"] <= g) & ~(req["completed_at"] <= g)).sum() for g in grid]
    slope, icpt = np.polyfit(grid, queue, 1)
    fit = slope * grid + icpt
    r2 = 1 - ((queue - fit) ** 2).sum() / ((queue - np.mean(queue)) ** 2).sum()
    served = res.counts()["completed"] / float(t[-1])
    assert r2 > 0.98 and slope == pytest.approx(n / t[-1] - served, rel=0.2)


def test_same_seed_same_results(compiled):
    from sloserve.sim.arrivals import synthetic
    from sloserve.solvers import solve
    plan = solve(compiled, "agh")
    a1 = synthetic(compiled, 120.0, process="gamma", cv=2.0, seed=3, lengths="lognormal")
    a2 = synthetic(compiled, 120.0, process="gamma", cv=2.0, seed=3, lengths="lognormal")
    r1, r2 = simulate(compiled, plan, a1), simulate(compiled, plan, a2)
    assert r1.requests.equals(r2.requests) and r1.summary.equals(r2.summary)
    a3 = synthetic(compiled, 120.0, process="gamma", cv=2.0, seed=4, lengths="lognormal")
    assert not a3.arrived_at[:50].tolist() == a1.arrived_at[:50].tolist()


def test_saturated_throughput_is_measured_against_mu(compiled):
    r = compiled.routes.iloc[10]
    row, res = route_throughput(compiled, r.query_type, r.config, requests=800)
    assert row["capacity_rps"] == r.capacity_rps and row["simulated_rps"] > 0 and row["mean_batch"] >= 1
    assert sum(res.counts().values()) == 800
