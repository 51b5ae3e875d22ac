"""The studies of sloserve's benchmarks as sweep runners: ``echo`` (a test of executors), ``plan``
(one scenario, one method: the heuristics-vs-MILP benchmark), ``stress`` (a fixed plan with delays,
errors and demand inflated) and ``simulate`` (a fixed plan replayed request by request). The rolling
horizon is :mod:`.horizon`."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import InfeasibleError
from .case import Case
from .run import compiled_problem, instance, plan_facts, scenario_inputs, solve_case, study


def _scenario_only(case: Case) -> list[str]:
    return scenario_inputs(case.scenario)


@study("echo", help="a test of executors: sleeps params.sleep_s, fails when params.fail, returns its inputs")
def echo(case: Case) -> list[dict]:
    p = case.group("params")
    if p.get("sleep_s"):
        time.sleep(float(p["sleep_s"]))
    if p.get("fail"):
        raise RuntimeError(f"case asked to fail (seed {case.seed})")
    return [{"value": case.seed * case.seed + float(p.get("offset", 0.0))}]


@study("plan", help="solve one scenario with one method (the heuristics-vs-MILP benchmark)", inputs=_scenario_only)
def plan_study(case: Case) -> list[dict]:
    inst = instance(case.scenario)
    row: dict[str, Any] = {"query_types": inst.I, "configs": inst.C, "routes": inst.R}
    try:
        plan, dt = solve_case(case, inst)
    except InfeasibleError as e:
        return [{**row, "plan_status": "infeasible", "objective": np.nan, "bound": np.nan,
                 "infeasible": str(e).splitlines()[0]}]
    return [{**row, **plan_facts(plan), "solve_s": dt}]


@study("stress", help="a fixed plan with delays, errors and demand inflated (analytic)", inputs=_scenario_only)
def stress_study(case: Case) -> list[dict]:
    from ..evaluate.stress import Stress, evaluate, summarize
    st = case.group("stress")
    margin = float(case.get("params", "slo_margin", 1.0))
    inst = instance(case.scenario, margin)
    try:
        plan, dt = solve_case(case, inst)
    except InfeasibleError as e:
        return [{"plan_status": "infeasible", "infeasible": str(e).splitlines()[0]}]
    facts = plan_facts(plan)
    rows = []
    factors = st.get("factors", (st.get("s", 1.0),))
    modes = st.get("modes", (st.get("mode", "uniform"),))
    draws = int(st.get("draws", 1))
    demand = float(st.get("d", 1.0))
    for mode in modes:
        for s in factors:
            for k in range(1 if mode == "uniform" else draws):
                per = evaluate(inst, plan, Stress(s=float(s), d=demand, mode=mode, seed=case.seed + k),
                               slo_margin=1.0 / margin)
                rows.append({"mode": mode, "s": float(s), "d": demand, "draw": k, **summarize(inst, plan, per),
                             **facts, "solve_s": dt})
    return rows


@study("simulate", help="a fixed plan replayed request by request with slower steps, worse errors, more and "
                        "burstier demand", inputs=_scenario_only)
def simulate_study(case: Case) -> list[dict]:
    from ..sim.stress import simulated_stress
    c = compiled_problem(case.scenario)
    sim = case.group("sim")
    st = case.group("stress")
    try:
        plan, dt = solve_case(case, c)
    except InfeasibleError as e:
        return [{"plan_status": "infeasible", "infeasible": str(e).splitlines()[0]}]
    t0 = time.perf_counter()
    t = simulated_stress(c, {case.method: plan}, tuple(st.get("factors", (st.get("s", 1.0),))),
                         demand=float(st.get("d", 1.0)), cv=float(sim.get("cv", 1.0)),
                         duration_s=float(sim.get("duration_s", 600.0)), seed=case.seed,
                         errors=not sim.get("latency_only", False))
    wall = time.perf_counter() - t0
    facts = plan_facts(plan)
    return [{**{k: v for k, v in r.items() if k != "method"}, **facts, "solve_s": dt, "sim_wall_s": wall}
            for r in t.to_dict("records")]

