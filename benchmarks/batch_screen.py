"""How well the batch-pricing screen ranks configurations, against the offline simulator.

    SLOSERVE_TRACE_DIR=... PYTHONPATH=.. ../.venv/bin/python batch_screen.py [--requests 10080] [--random 28] [--top 12]

One job (code 5000, MMLU-like 5000, video 80 requests; code error limit 0.15, the default scenario's)
on the default scenario's job tables (`sloserve.batch.job_tables`): the screen's cost of every eligible
configuration, then the simulated cost (DFS, overlap) of the screen's ``--top`` cheapest and ``--random``
others; prints Spearman's rank correlation and whether the screen's first choice is the cheapest
simulated. docs/offline_batching.md §7 quotes it.
"""
from __future__ import annotations

import argparse
import os

import pandas as pd
from scipy.stats import spearmanr

from sloserve import default_scenario
from sloserve.batch import BatchJob, job_tables
from sloserve.batch.price import eligible_configs, job_requests, job_work_h, screen
from sloserve.sim.offline import run_offline
from sloserve.sim.offline.tree import build_tree

from machine import describe  # benchmarks/machine.py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--random", type=int, default=28)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(describe(), f"load {os.getloadavg()[0]:.2f}")
    tables = job_tables(default_scenario())
    job = BatchJob(name="screen-check", deadline_h=4.0, mixture={"code": 5000, "mmlu": 5000, "video": 80},
                   seed=args.seed, family="code", max_error=0.15)
    req = job_requests(job)
    cf, dropped = eligible_configs(job, tables, req)
    tree = build_tree(req)
    sc = screen(job, tables, req, 1.0, cf, tree)
    top = sc.nsmallest(args.top, "screen_cost_usd")
    pick = pd.concat([top, sc.drop(top.index).sample(args.random, random_state=args.seed)])
    rows = []
    for _, c in pick.iterrows():
        trace = run_offline(req, tables, c["config"], "dfs", tree=tree)
        res = trace.result("overlap")
        rows.append({"config": c["config"], "screen_usd": c["screen_cost_usd"],
                     "simulated_usd": job_work_h(trace, res, 1.0) * c["cost_per_hour"]})
    d = pd.DataFrame(rows)
    print(f"{len(cf)} eligible configurations ({dropped}); {len(d)} simulated")
    print(d.sort_values("simulated_usd").head(8).round(3).to_string(index=False))
    rho = spearmanr(d["screen_usd"], d["simulated_usd"]).correlation
    first = top["config"].iloc[0]
    best = d.loc[d["simulated_usd"].idxmin(), "config"]
    print(f"Spearman(screen, simulated) = {rho:.3f}; screen's first choice {first}; cheapest simulated {best}")


if __name__ == "__main__":
    main()
