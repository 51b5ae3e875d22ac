"""The simulator against physical facts and the planner's capacity, measured in one run.

    .venv/bin/python benchmarks/simulate_validation.py [--routes 60] [--requests 2000]

Prints (and writes the tables of ``docs/simulation.md`` from):

1. a lone request: simulated TTFT and TPOT against the compiled prefill and batch-1 step, the
   largest relative difference over routes of the default scenario;
2. Little's law on a long run (20 000 requests at 60 % of μ): time-average requests in the system
   against arrival rate × mean E2E;
3. above capacity (10 × μ): the queue's growth rate against λ − served, and the R² of a line;
4. the analytic capacity μ_ic of a route against what one simulated replica sustains when it is fed
   3 × μ (saturated), and how much of that meets the type's SLOs — per route kind, over routes
   sampled from the default scenario and a generated M scenario (seeded).
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sloserve.model.compile import compile_scenario
from sloserve.model.generate import generate_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.plan import Plan
from sloserve.problem.steptime import StepTime
from sloserve.sim.arrivals import Arrivals
from sloserve.sim.capacity import capacity_table, single_route, slo_capacity
from sloserve.sim.engine import EngineOptions
from sloserve.sim.simulator import simulate

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)


def _one(c, r):
    """The route alone, at half its capacity and with no error limit, so a one-replica plan is checked clean."""
    one = single_route(c, r.query_type, r.config)
    return one.__class__(**{**one.__dict__, "query_types": one.query_types.assign(max_error=1.0,
                                                                                 rate_rps=0.5 * r.capacity_rps)})


def _plan(c, cfg):
    q = str(c.query_types["query_type"].iloc[0])
    return Plan(scenario=c.name, method="one replica", status="feasible", objective=None, replicas={cfg: 1},
                routing=[{"query_type": q, "config": cfg, "fraction": 1.0}], unserved={q: 0.0})


def lone_requests(c) -> tuple[float, float, int]:
    worst_ttft = worst_tpot = 0.0
    n = 0
    for r in c.routes.sample(min(200, len(c.routes)), random_state=0).itertuples(index=False):
        one = _one(c, r)
        q = one.query_types.iloc[0]
        h, f = int(q.input_tokens), int(q.output_tokens)
        if h > EngineOptions().max_num_batched_tokens or f < 2:
            continue
        arr = Arrivals(np.zeros(1), np.array([h]), np.array([f]), np.zeros(1, dtype=np.int64), (q.query_type,))
        req = simulate(one, _plan(one, r.config), arr).requests.iloc[0]
        st = StepTime.from_table(one.config_perf, one.configs, config=r.config)
        worst_ttft = max(worst_ttft, abs(req.first_token_at / float(st.prefill_s(h)) - 1))
        tpot = (req.completed_at - req.first_token_at) / (f - 1)
        worst_tpot = max(worst_tpot, abs(tpot / float(st.decode_s(1, h + f / 2)) - 1))
        n += 1
    return worst_ttft, worst_tpot, n


def littles_law(c, r, n=20000) -> tuple[float, float]:
    one = _one(c, r)
    q = one.query_types.iloc[0]
    t = np.cumsum(np.random.default_rng(5).exponential(1 / (0.6 * r.capacity_rps), n))
    arr = Arrivals(t, np.full(n, int(q.input_tokens)), np.full(n, int(q.output_tokens)), np.zeros(n, dtype=np.int64),
                   (q.query_type,))
    req = simulate(one, _plan(one, r.config), arr).requests
    T0, T1 = float(t[n // 10]), float(t[-1])
    a, e = req["arrived_at"].to_numpy(), req["completed_at"].to_numpy()
    L = (np.minimum(e, T1) - np.maximum(a, T0)).clip(min=0).sum() / (T1 - T0)
    inside = (a >= T0) & (a < T1)
    return L, inside.sum() / (T1 - T0) * (e - a)[inside].mean()


def queue_growth(c, r, n=4000) -> tuple[float, float, float]:
    one = _one(c, r)
    q = one.query_types.iloc[0]
    t = np.cumsum(np.random.default_rng(6).exponential(1 / (10 * r.capacity_rps), n))
    arr = Arrivals(t, np.full(n, int(q.input_tokens)), np.full(n, int(q.output_tokens)), np.zeros(n, dtype=np.int64),
                   (q.query_type,))
    res = simulate(one, _plan(one, r.config), arr, horizon_s=float(t[-1]))
    req = res.requests
    grid = np.linspace(t[-1] * 0.2, t[-1] * 0.95, 40)
    queue = np.array([((req["arrived_at"] <= g) & ~(req["completed_at"] <= g)).sum() for g in grid])
    slope, icpt = np.polyfit(grid, queue, 1)
    r2 = 1 - ((queue - (slope * grid + icpt)) ** 2).sum() / ((queue - queue.mean()) ** 2).sum()
    return slope, n / t[-1] - res.counts()["completed"] / t[-1], r2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=60, help="routes sampled per scenario for the capacity table")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    c = compile_scenario(default_scenario())
    ttft, tpot, n = lone_requests(c)
    print(f"1. lone request, {n} sampled routes of the default scenario: largest relative difference TTFT {ttft:.1e}, TPOT {tpot:.1e}")
    r = c.routes.iloc[60]
    L, lw = littles_law(c, r)
    print(f"2. Little's law ({r.query_type} on {r.config}, 20 000 requests at 0.6 μ): L = {L:.3f}, λW = {lw:.3f}, "
          f"difference {abs(L / lw - 1):.2%}")
    slope, expect, r2 = queue_growth(c, c.routes.iloc[200])
    print(f"3. at 10 × μ the queue grows {slope:.2f} requests/s (λ − served = {expect:.2f}), R² of a line {r2:.4f}")
    rows = []
    for name, comp in (("default", c), ("generated M seed 1", compile_scenario(generate_scenario("M", seed=1)))):
        sample = comp.routes.sample(min(args.routes, len(comp.routes)), random_state=0)
        t = capacity_table(comp, sample, requests=args.requests)
        t["slo_capacity_over_mu"] = [slo_capacity(comp, q, cfg, requests=args.requests // 2)
                                     for q, cfg in zip(t["query_type"], t["config"])]
        t.insert(0, "scenario", name)
        rows.append(t)
    t = pd.concat(rows, ignore_index=True)
    by = t.groupby("kind").agg(routes=("ratio", "size"), saturated_over_mu=("ratio", "median"),
                               sat_p10=("ratio", lambda v: v.quantile(0.1)), sat_p90=("ratio", lambda v: v.quantile(0.9)),
                               slo90_over_mu=("slo_capacity_over_mu", "median"),
                               slo90_p10=("slo_capacity_over_mu", lambda v: v.quantile(0.1)),
                               below_cap=("slo_capacity_over_mu", lambda v: float((v < 0.8).mean())),
                               mean_batch=("mean_batch", "median")).reset_index()
    print("\n4. per route kind: one replica saturated (fed 3 × μ) — its throughput / μ (median, p10, p90); and the "
          "largest rate / μ at which 90 % of requests meet every SLO (median, p10), with the share of routes where "
          "that is below the planner's utilisation cap 0.8")
    with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.3g}"):
        print(by.to_string(index=False))
    print(f"\nall {len(t)} routes: saturated/μ median {t['ratio'].median():.2f}; 90 %-SLO capacity/μ median "
          f"{t['slo_capacity_over_mu'].median():.2f}, below 0.8 on {(t['slo_capacity_over_mu'] < 0.8).mean():.0%} of routes")


if __name__ == "__main__":
    main()
