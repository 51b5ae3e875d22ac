"""1 vs 2 Dask workers on a 40-case sweep (rolling-horizon windows re-planned with AGH).

    .venv/bin/python benchmarks/sweep_speedup.py [--cases 40] [--workers 1,2] [--repeats 1]
        [--method agh | --method milp --time-limit 5]

Each worker count gets a fresh LocalCluster, warmed up first (every worker imports sloserve and
compiles the scenario), then times the same 40 cases; records of the runs must be identical (timing
columns aside). With ``--repeats N`` the worker counts alternate (1, 2, 1, 2, ...) so that a burst of
other jobs on a shared machine falls on both; every run is printed, and the speedup is computed from
each count's fastest run (the one least disturbed) and from its median. Prints and writes the table between the ``sweep_speedup`` markers of
docs/benchmarks.md, with the machine's load average before and after each run (the machine is
shared: re-run on a quiet one for clean numbers). ``--method milp --time-limit S`` re-plans each window with
the time-limited MILP instead (the week study's third method): cases of seconds, against which the client's
own work — receiving records and writing one Parquet partition per case, on the same two cores — is small.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd

from machine import cpu_model  # benchmarks/machine.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN sweep_speedup -->", "<!-- END sweep_speedup -->"


def spec(cases: int, method: str = "agh", time_limit: float | None = None) -> dict:
    opts = {} if time_limit is None else {"method_options": {"time_limit_s": time_limit}}
    return {"study": "rolling", "base": {"scenario": "default", "method": method, **opts,
                                         "window": {"hours": 168, "history_hours": 168, "window_min": 60,
                                                    "volatility": 0.75, "count": cases},
                                         "params": {"forecaster": "holt_winters"}}}


def timed(n_workers: int, cases: int, method: str = "agh", time_limit: float | None = None) -> tuple[float, pd.DataFrame, tuple, tuple, float, float]:
    from distributed import Client, LocalCluster

    from sloserve.sweep import run_sweep
    from sloserve.sweep.run import compiled_problem, instance
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="2GiB") as cluster, Client(cluster) as client:
        client.run(lambda: (compiled_problem("default"), instance("default"), __import__("sloserve.solvers")))
        load0 = os.getloadavg()
        cpu0 = sum(client.run(time.process_time).values())
        t0 = time.perf_counter()
        run = run_sweep(spec(cases, method, time_limit), client=client, progress=False)
        wall = time.perf_counter() - t0
        cpu = sum(client.run(time.process_time).values()) - cpu0
        load1 = os.getloadavg()
        rss = max(client.run(lambda: __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss)
                  .values()) / 1024.0
    return wall, run.records, load0, load1, rss, cpu / (wall * n_workers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeats", type=int, default=1, help="runs per worker count, alternating")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--method", default="agh", help="re-planning method of every window (agh, milp, ...)")
    ap.add_argument("--time-limit", type=float, default=None, help="the method's time_limit_s (MILP)")
    args = ap.parse_args()
    from sloserve.sweep import TIMING_COLUMNS
    rows, ref = [], None
    counts = list(map(int, args.workers.split(",")))
    for rep in range(args.repeats):
        for n in counts:
            wall, rec, l0, l1, rss, share = timed(n, args.cases, args.method, args.time_limit)
            comp = rec[sorted(c for c in rec.columns if c not in TIMING_COLUMNS)].sort_values("case_id").reset_index(drop=True)
            same = True if ref is None else comp.equals(ref)
            ref = comp if ref is None else ref
            rows.append({"run": rep + 1, "workers": n, "cases": args.cases, "wall_s": round(wall, 1),
                         "case_s_mean": round(float(rec["run_s"].mean()), 2), "worker_cpu_share": round(share, 2),
                         "peak_rss_mib": round(rss),
                         "load_before": f"{l0[0]:.2f}", "load_after": f"{l1[0]:.2f}", "records_identical": same})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    base = df[df["workers"] == counts[0]]["wall_s"]
    df["speedup"] = (base.min() / df["wall_s"]).round(2)
    print(df.to_string(index=False))
    g = df.groupby("workers")["wall_s"]
    best, med = g.min(), g.median()
    verdict = ", ".join(f"{n} workers: {best[counts[0]] / best[n]:.2f}x fastest-run, {med[counts[0]] / med[n]:.2f}x median"
                        for n in counts[1:])
    print(f"speedup vs {counts[0]} worker(s): {verdict}")
    if args.no_write:
        return
    begin, end = (BEGIN, END) if args.method == "agh" else (BEGIN.replace("sweep_speedup", f"sweep_speedup {args.method}"),
                                                           END.replace("sweep_speedup", f"sweep_speedup {args.method}"))
    method_text = ("AGH at its work budget" if args.method == "agh" else
                   f"{args.method}" + (f" limited to {args.time_limit:g} s" if args.time_limit else ""))
    flags = ("" if args.method == "agh" else f" --method {args.method}") + \
        ("" if args.time_limit is None else f" --time-limit {args.time_limit:g}")
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)]
    body = (f"{begin}\n## Sweeps: 1 vs 2 Dask workers ({method_text})\n\nMachine: {cpu_model()} ({platform.machine()}, "
            f"{os.cpu_count()} cores), **shared with other engineers' jobs**: the 1-minute load average before and "
            f"after each run is in the table, and `worker_cpu_share` is the CPU time the workers got per "
            f"worker and second of wall time (1.0 = a core each; below that, other processes had the cores). "
            f"{args.cases} rolling-horizon windows (default scenario, re-planned with {method_text}, "
            f"Holt-Winters forecast, volatility 0.75); each LocalCluster warmed up first. Command: "
            f"`.venv/bin/python benchmarks/sweep_speedup.py --cases {args.cases} --workers {args.workers} "
            f"--repeats {args.repeats}{flags}` (speedup column: against the fastest {counts[0]}-worker run).\n\n"
            + "\n".join(lines) + f"\n\nSpeedup against {counts[0]} worker(s): {verdict}.\n{end}")
    md = ROOT / "docs" / "benchmarks.md"
    text = md.read_text()
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    md.write_text(text)


if __name__ == "__main__":
    main()
