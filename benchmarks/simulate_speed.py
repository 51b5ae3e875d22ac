"""Speed and memory of the request-level simulator, measured in one run.

    .venv/bin/python benchmarks/simulate_speed.py [--quick]

1. Replays the one-hour 2023 Azure code + conversation traces (~28 k requests) against the default
   scenario's AGH plan (target: ≤ 10 s on one core).
2. Synthetic Poisson arrivals at the default scenario's rates × k, against the AGH plan for those
   rates (more traffic, more replicas), for 10 k, 100 k and 1 M requests (targets for 1 M: ≤ 5 minutes,
   ≤ 2 GB peak memory).

Each case runs in its own interpreter with one thread (OMP/BLAS pinned), so the peak resident
memory (``ru_maxrss``) is the case's own. Prints requests/s and simulated tokens/s, and how the cost
grows with requests and replicas.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]

CASE = r'''
import json, resource, sys, time
import numpy as np
import sloserve as ss
from sloserve.sim import arrivals as A
from sloserve.sim.simulator import simulate
kind, arg = sys.argv[1], float(sys.argv[2])
sc = ss.default_scenario()
t0 = time.perf_counter()
if kind == "trace":
    from sloserve.traces.trace import azure_2023_samples, load_traces
    c = ss.compile_scenario(sc)
    arr = A.from_trace(load_traces(azure_2023_samples(), progress=False), c)
else:
    scale = arg
    sc = sc.__class__(**{**sc.__dict__, "query_types": tuple(q.__class__(**{**q.__dict__, "rate_rps": q.rate_rps * scale})
                                                              for q in sc.query_types)})
    c = ss.compile_scenario(sc)
    n = int(sys.argv[3])
    rate = float(c.query_types["rate_rps"].sum())
    arr = A.synthetic(c, n / rate, seed=0, lengths="lognormal", length_cv=1.0)
plan = ss.solve(c, "agh")
prep = time.perf_counter() - t0
t = time.perf_counter()
res = simulate(c, plan, arr)
wall = time.perf_counter() - t
req = res.requests
tokens = int((req["input_tokens"] + req["output_tokens"])[req["status"] == "completed"].sum())
print(json.dumps({"requests": len(arr), "replicas": int(sum(plan.replicas.values())), "wall_s": wall, "prep_s": prep,
                  "simulated_s": res.horizon_s, "tokens": tokens, "counts": res.counts(),
                  "iterations": int(res.replicas["iterations"].sum()),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run(*args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CASE, *map(str, args)], capture_output=True, text=True, env=env,
                         cwd=REPO)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the 1 M-request case")
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    rows = [("2023 trace, default plan", run("trace", 1))]
    sizes = [(10_000, 1), (100_000, 4)] + ([] if args.quick else [(1_000_000, 10)])
    for n, scale in sizes:
        rows.append((f"synthetic {n:,}, rates x{scale}", run("synthetic", scale, n)))
    print(f"{'case':32} {'requests':>10} {'replicas':>8} {'sim. hours':>10} {'iterations':>11} {'wall s':>8} "
          f"{'req/s':>9} {'tokens/s':>11} {'peak MB':>8}")
    for name, r in rows:
        print(f"{name:32} {r['requests']:>10,} {r['replicas']:>8} {r['simulated_s'] / 3600:>10.2f} {r['iterations']:>11,} "
              f"{r['wall_s']:>8.1f} {r['requests'] / r['wall_s']:>9,.0f} {r['tokens'] / r['wall_s']:>11,.0f} "
              f"{r['peak_rss_mb']:>8.0f}")
    base = rows[1][1]
    print("\ncost growth against the 10 k case: wall time per request and per iteration")
    for name, r in rows[1:]:
        print(f"  {name:32} {1e6 * r['wall_s'] / r['requests']:7.1f} µs/request, "
              f"{1e6 * r['wall_s'] / max(r['iterations'], 1):6.1f} µs/iteration "
              f"({r['wall_s'] / base['wall_s']:.1f}x the time for {r['requests'] / base['requests']:.0f}x the requests, "
              f"{r['replicas'] / base['replicas']:.1f}x the replicas)")
    for name, r in rows:
        if sum(r["counts"].values()) != r["requests"]:
            raise SystemExit(f"{name}: requests not conserved: {r['counts']}")


if __name__ == "__main__":
    main()
