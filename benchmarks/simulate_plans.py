"""What sloserve's plans deliver request by request, and what a percentile guarantee costs — one run.

    .venv/bin/python benchmarks/simulate_plans.py [--quick] [--out docs/simulation_results.json]

1. The default scenario's cost-optimal plan (agh+milp) replayed on the 2023 Azure code +
   conversation traces it was calibrated from (one hour, ~28 k requests), and on Poisson arrivals at
   the scenario's rates (the p95 of 5-minute windows, above the hour's mean): per type p90/p99 TTFT
   and TPOT against the SLOs, SLO attainment, and the ceiling no plan can exceed (sim.ceiling).
2. The verify loop on the default scenario at 90 % and 99 % attainment (Poisson, 600 s, seed 0):
   every iteration's phase, cost and attainment; then the verified plans **out of sample** — on
   Poisson traffic with other seeds, and on the trace hour, none of which the loop saw.
3. The same loop verified on the trace's first half-hour and judged on its second.
4. Regimes: the loop on generated scenarios (presets S and M, seeds the project never tuned on):
   verified / analytic cost, iterations, and attainment out of sample.
5. Stress in simulation: MILP, GH, AGH and the 90 %-verified plan with step times and errors × s,
   s = 1.0, 1.2, 1.5, and with bursty arrivals (Gamma, CV 3): attainment, infrastructure cost,
   penalties.
"""
from __future__ import annotations

import argparse
import json
import time

import pandas as pd

from sloserve.model.compile import compile_scenario
from sloserve.model.generate import generate_scenario
from sloserve.model.scenario import default_scenario
from sloserve.sim import arrivals as A
from sloserve.sim.ceiling import attainable
from sloserve.sim.simulator import simulate
from sloserve.sim.stress import simulated_stress
from sloserve.sim.verify import VerifyOptions, verify
from sloserve.solvers import SolveOptions, solve
from sloserve.traces.trace import azure_2023_samples, load_traces

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)


def per_type(res) -> pd.DataFrame:
    s = res.summary
    return s[["query_type", "requests", "ttft_p90_s", "ttft_p99_s", "tpot_p90_s", "tpot_p99_s", "slo_attainment"]]


def slos(c) -> pd.DataFrame:
    return c.query_types[["query_type", "ttft_slo_s", "tpot_slo_s", "e2e_slo_s"]]


def out_of_sample(c, v, seeds, duration_s) -> list[float]:
    """Worst per-type attainment of the verified plan on Poisson traffic with each seed."""
    worst = []
    for s in seeds:
        res = simulate(v.compiled, v.plan, A.synthetic(c, duration_s, seed=s))
        worst.append(float(res.summary["slo_attainment"].min()))
    return worst


def iterations_table(v) -> pd.DataFrame:
    it = v.iterations
    att = [col for col in it.columns if col.endswith(":attainment")]
    t = it[["iteration", "phase", "cost_per_hour", "gpus", "met"] + att].rename(columns={c: c.split(":")[0] for c in att})
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter replays, fewer regimes (a smoke run)")
    ap.add_argument("--out", default=None, help="write the tables as JSON")
    args = ap.parse_args()
    dur = 300.0 if args.quick else 600.0
    oos_seeds = (101, 102) if args.quick else (101, 102, 103, 104, 105)
    t_start = time.perf_counter()
    print(f"machine: {describe()}\n")
    out: dict = {}

    sc = default_scenario()
    c = compile_scenario(sc)
    analytic = solve(c, "agh+milp", SolveOptions(time_limit_s=60))
    print(f"1. the default scenario's analytic plan: {analytic.method}, {analytic.objective:.2f} $/h, "
          f"status {analytic.status}, replicas {analytic.replicas}")
    print(slos(c).to_string(index=False))
    trace = load_traces(azure_2023_samples(), progress=False)
    tr_arr = A.from_trace(trace, c)
    res_trace = simulate(c, analytic, tr_arr)
    res_pois = simulate(c, analytic, A.synthetic(c, 3600.0, seed=0))
    ceil = attainable(c, tr_arr)
    print("\n   the ceiling: share of the trace's requests that could meet every SLO alone on their fastest "
          "configuration (sim.ceiling)")
    print(ceil[["query_type", "requests", "attainable", "e2e_attainable", "binding"]].to_string(index=False))
    out["ceiling_trace"] = ceil.to_dict("records")
    for name, res in (("2023 trace hour", res_trace), ("Poisson at the scenario's rates, 1 h", res_pois)):
        print(f"\n   replayed on the {name}: {res.counts()}")
        print(per_type(res).to_string(index=False))
    out["analytic"] = {"cost": analytic.objective, "trace": per_type(res_trace).to_dict("records"),
                       "poisson": per_type(res_pois).to_dict("records")}

    print("\n2. verify on Poisson arrivals (600 s, seed 0), then out of sample")
    out["verify"] = {}
    verified = {}
    for target in (0.9, 0.99):
        t0 = time.perf_counter()
        v = verify(sc, opts=VerifyOptions(target=target, duration_s=dur))
        wall = time.perf_counter() - t0
        verified[target] = v
        oos = out_of_sample(c, v, oos_seeds, dur)
        on_trace = simulate(v.compiled, v.plan, tr_arr)
        print(f"\n   target {target:.0%}: {'met' if v.met else 'NOT met'}, {v.plan.objective:.2f} $/h "
              f"({v.plan.objective / analytic.objective:.2f} x the analytic plan), {len(v.iterations)} replays, "
              f"{wall:.1f} s; plan {v.plan.replicas}")
        print(iterations_table(v).to_string(index=False))
        print(f"   out of sample, worst type's attainment on Poisson seeds {list(oos_seeds)}: "
              + ", ".join(f"{x:.3f}" for x in oos))
        print(f"   on the trace hour (bursty, never seen by the loop): worst type {on_trace.summary['slo_attainment'].min():.3f}")
        print(per_type(on_trace).to_string(index=False))
        out["verify"][str(target)] = {"met": v.met, "cost": v.plan.objective, "analytic_cost": analytic.objective,
                                      "replays": len(v.iterations), "wall_s": wall,
                                      "iterations": iterations_table(v).to_dict("records"),
                                      "oos_worst": oos, "trace_worst": float(on_trace.summary["slo_attainment"].min())}

    print("\n3. verify on the trace's first half-hour, judged on its second (a time split)")
    half = tr_arr.arrived_at < 1800.0
    first = A.Arrivals(tr_arr.arrived_at[half], tr_arr.input_tokens[half], tr_arr.output_tokens[half],
                       tr_arr.query_type[half], tr_arr.types, "trace, first half")
    t2 = tr_arr.arrived_at[~half]
    second = A.Arrivals(t2 - t2[0], tr_arr.input_tokens[~half], tr_arr.output_tokens[~half], tr_arr.query_type[~half],
                        tr_arr.types, "trace, second half")
    v = verify(sc, first, VerifyOptions(target=0.9))
    res2 = simulate(v.compiled, v.plan, second)
    print(f"   {'met' if v.met else 'NOT met'} on the first half at {v.plan.objective:.2f} $/h "
          f"({v.plan.objective / analytic.objective:.2f} x analytic, {len(v.iterations)} replays); second half: "
          f"worst type {res2.summary['slo_attainment'].min():.3f}")
    print(iterations_table(v).to_string(index=False))
    print(per_type(res2).to_string(index=False))
    out["trace_split"] = {"met": v.met, "cost": v.plan.objective, "second_half": per_type(res2).to_dict("records")}

    print("\n4. regimes: verify at 90 % on generated scenarios (Poisson, seed 0; out of sample: seeds "
          f"{list(oos_seeds)})")
    rows = []
    cases = [("S", 11), ("S", 12)] if args.quick else [("S", 11), ("S", 12), ("S", 13), ("M", 11), ("M", 12)]
    for preset, seed in cases:
        g = generate_scenario(preset, seed)
        gc = compile_scenario(g)
        t0 = time.perf_counter()
        try:
            base = solve(gc, "agh")
            v = verify(g, opts=VerifyOptions(target=0.9, duration_s=dur))
        except Exception as e:  # an infeasible generated scenario is a row, not a crash
            rows.append({"scenario": f"{preset}/{seed}", "note": f"{type(e).__name__}: {str(e).splitlines()[0]}"})
            continue
        oos = out_of_sample(gc, v, oos_seeds, dur)
        first_att = v.iterations.filter(like=":attainment").iloc[0]
        rows.append({"scenario": f"{preset}/{seed}", "types": len(gc.query_types), "analytic_cost": base.objective,
                     "analytic_worst_att": float(first_att.min()), "verified_cost": v.plan.objective,
                     "ratio": v.plan.objective / base.objective, "met": v.met, "replays": len(v.iterations),
                     "oos_worst_att": min(oos), "wall_s": time.perf_counter() - t0})
    reg = pd.DataFrame(rows)
    print(reg.to_string(index=False))
    out["regimes"] = reg.to_dict("records")

    print("\n5. stress in simulation (600 s Poisson; errors and step times x s)")
    methods = {}
    for m in ("milp", "gh", "agh"):
        methods[m] = solve(c, m, SolveOptions(time_limit_s=60))
    methods["verified(90%)"] = (verified[0.9].compiled, verified[0.9].plan)
    tables = []
    for cv in (1.0, 3.0):
        t = simulated_stress(c, methods, factors=(1.0, 1.2, 1.5), cv=cv, duration_s=dur)
        tables.append(t)
    st = pd.concat(tables, ignore_index=True)
    cols = ["method", "cv", "s", "latency_attainment", "attainment", "infra_cost_per_hour", "penalty_per_hour",
            "total_cost_per_hour"]
    print(st[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out["stress"] = st[cols].to_dict("records")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, default=float)


if __name__ == "__main__":
    main()
