"""What one offline job with a deadline costs, by GPU type and order, and the joint plan with online traffic.

    SLOSERVE_TRACE_DIR=... .venv/bin/python benchmarks/batch_job_cost.py [--job data/batch_jobs/nightly_eval.yaml]
        [--deadlines 4,1] [--json OUT]

Prices the job on the embedded default scenario's configurations (one configuration per GPU type after
the analytic screen; every order; both step models), then plans the default scenario's online traffic and
the job together (joint MILP, warm-started) for each deadline, and prints the times of each stage measured
in this run, with the machine's load. Numbers in docs/offline_batching.md §7 come from this script.
"""
from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from sloserve.batch import cost_by_gpu, job_tables, price_job
from sloserve.batch.check import check_joint
from sloserve.batch.joint import solve_joint
from sloserve.model.batch_job import load_jobs
from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.instance import build_instance
from sloserve.sim.offline import ORDERS

from machine import describe  # benchmarks/machine.py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", default="data/batch_jobs/nightly_eval.yaml")
    ap.add_argument("--deadlines", default="4,1", help="comma-separated deadlines to plan for, h")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(describe(), f"load {os.getloadavg()[0]:.2f}")
    job = load_jobs(args.job)[0]
    sc = default_scenario()
    c = compile_scenario(sc)
    tables = job_tables(sc)
    t0 = time.perf_counter()
    prices = price_job(job, tables, orders=tuple(ORDERS.names()), step_modes=("sum", "overlap"))
    t_price = time.perf_counter() - t0
    best = cost_by_gpu(prices)
    pd.set_option("display.width", 200)
    for mode, part in best.groupby("step_mode"):
        t = part.pivot(index="gpu", columns="order", values="job_cost_usd")
        t["blendserve/dfs throughput"] = (part.pivot(index="gpu", columns="order", values="throughput_tok_s")
                                          .eval("blendserve / dfs"))
        print(f"\n{job.name}: $ to finish ({job.num_requests:,} requests), cheapest configuration per GPU type, "
              f"step model {mode}\n{t.sort_values('blendserve').round(3).to_string()}")
    print(f"\npricing: {len(prices)} rows ({prices['config'].nunique()} configurations x {prices['order'].nunique()} "
          f"orders x 2 step models) in {t_price:.1f} s")
    inst = build_instance(c)
    own = prices.loc[(prices["order"] == job.order) & (prices["step_mode"] == job.step_mode)]
    rows = []
    for d in [float(x) for x in args.deadlines.split(",")]:
        w = own.assign(deadline_h=d)  # the same work, another deadline
        for method in ("greedy", "milp"):
            t0 = time.perf_counter()
            jp = solve_joint(c, w, method=method, inst=inst)
            dt = time.perf_counter() - t0
            assert not check_joint(inst, jp, w)
            alloc = "; ".join(f"{r.replicas}x {r.config} ({r.share:.2f})" for r in jp.batch.itertuples())
            rows.append({"deadline_h": d, "method": jp.method, "status": str(jp.status), "total_per_hour": jp.objective,
                         "online_per_hour": jp.objective - jp.batch_cost_per_hour,
                         "jobs_per_hour": jp.batch_cost_per_hour, "job_usd": jp.batch_cost_usd,
                         "allocation": alloc, "seconds": round(dt, 2)})
    print("\njoint plans (default scenario's online traffic + the job; checker clean):")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    if args.json:
        prices.to_json(args.json, orient="records", indent=1)


if __name__ == "__main__":
    main()
