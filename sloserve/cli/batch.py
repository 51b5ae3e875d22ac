"""``sloserve batch``: what an offline job costs per GPU type and order, and the joint plan."""
from __future__ import annotations

import sys

from ..errors import EXIT_INFEASIBLE, EXIT_OK
from . import flags
from .common import print_frame


def _orders():
    from ..sim.offline.orders import ORDERS
    return ORDERS


def cmd_batch(args) -> int:
    from pathlib import Path

    from ..model.batch_job import load_jobs
    from ..batch.price import cost_by_gpu, job_tables, price_job
    from ..model.compile import compile_scenario
    from ..model.scenario import default_scenario, load_scenario
    from ..paths import input_file, output_file
    from ..safeload import load_yaml

    input_file(args.job, "job file")
    for path, what in ((args.json, "--json file"), (args.out, "--out file")):
        if path:
            output_file(path, what)
    jobs = load_jobs(args.job)
    if args.scenario:
        sc = load_scenario(args.scenario)
        where = args.scenario
    else:
        d = load_yaml(Path(args.job).read_bytes(), args.job)
        sc = load_scenario(args.job) if isinstance(d, dict) and "query_types" in d else default_scenario()
        where = args.job if sc.source == args.job else "the embedded default scenario"
    print(f"batch jobs: {', '.join(j.name for j in jobs)} (from {args.job}); configurations and online traffic: {where}")
    tables = job_tables(sc)  # every feasible configuration of the scenario's catalog: a job has no latency SLO
    orders = tuple(args.orders) if args.orders else tuple(_orders().names())
    modes = tuple(args.step_modes) if args.step_modes else None
    frames = []
    for job in jobs:
        print(f"\npricing {job.name!r}: {job.num_requests:,} requests, deadline {job.deadline_h:g} h, orders "
              f"{', '.join(orders)} ...", file=sys.stderr, flush=True)
        p = price_job(job, tables, orders=orders, step_modes=modes, shortlist=args.shortlist)
        frames.append(p)
        best = cost_by_gpu(p)
        for mode, part in best.groupby("step_mode", sort=False):
            table = part.pivot(index="gpu", columns="order", values="job_cost_usd")[list(orders)]
            table = table.loc[table.min(axis=1).sort_values().index].reset_index()
            print_frame(f"{job.name}: cost to finish the job, $ (replica-hours x $/h), cheapest configuration per "
                        f"GPU type, step model {mode}", table)
        own = best.loc[(best["order"] == job.order) & (best["step_mode"] == job.step_mode)]
        print_frame(f"{job.name}: in its order ({job.order}, {job.step_mode}): configuration and replicas by the "
                    f"{job.deadline_h:g} h deadline", own[["gpu", "config", "throughput_tok_s", "sharing_ratio", "work_h",
                                                         "fixed_h", "replicas", "job_cost_usd", "window_cost_usd"]])
        print("(work_h: replica-hours; fixed_h: one replica's drain, paid by each replica; job_cost_usd: replicas "
              "paid while they work, what --plan charges; window_cost_usd: rented for the whole deadline window)")
    import pandas as pd
    prices = pd.concat(frames, ignore_index=True)
    if args.json:
        prices.to_json(args.json, orient="records", indent=1)
        print(f"\nprices (one row per job, configuration, order, step model) in {args.json}")
    if not args.plan:
        return EXIT_OK
    return _joint(args, compile_scenario(sc), prices, jobs)


def _joint(args, compiled, prices, jobs) -> int:
    from ..batch.check import check_joint
    from ..batch.joint import solve_joint
    from ..problem.instance import build_instance
    mine = {j.name: (j.order, j.step_mode) for j in jobs}  # each job in its own order and step model
    own = prices.loc[[mine[r.job] == (r.order, r.step_mode) for r in prices.itertuples()]]
    inst = build_instance(compiled)
    jp = solve_joint(compiled, own, method=args.method, time_limit_s=args.time_limit, inst=inst)
    bound = "" if jp.bound is None else f", bound {jp.bound:.2f}"
    print(f"\njoint plan ({jp.method}): status {jp.status}, {jp.objective:.2f} $/h while the jobs run{bound} = "
          f"online {jp.objective - jp.batch_cost_per_hour:.2f} + jobs {jp.batch_cost_per_hour:.2f} (their "
          f"{jp.batch_cost_usd:.2f} $ of replica-hours over the window); {jp.runtime_s:.2f} s")
    print_frame("jobs' dedicated replicas", jp.batch)
    bad = check_joint(inst, jp, own)
    print("\nchecker: every constraint holds" if not bad else "\nchecker: " + "; ".join(map(str, bad)))
    if args.out:
        jp.online.to_json(args.out)
        print(f"online plan written to {args.out}")
    return EXIT_OK if not bad else EXIT_INFEASIBLE


def add_commands(sub) -> None:
    p = sub.add_parser("batch", help="price offline batch jobs per GPU type and order; plan them with online traffic",
                       description="Simulate each offline job (all prompts known at t = 0) on the cheapest "
                                   "configurations of every GPU type in each admission order, and print what "
                                   "finishing it costs. With --plan, provision the scenario's online traffic and "
                                   "the jobs together (the MILP with the jobs' replicas; checked).")
    p.add_argument("job", help="a job file (one job, or batch_jobs: [...]) or a scenario with batch_jobs")
    p.add_argument("--scenario", help="scenario whose configurations (and online traffic) to use "
                                      "(default: the job file if it is a scenario, else the embedded default)")
    p.add_argument("--orders", type=flags.name_list(_orders, what="orders"),
                   help="comma-separated admission orders (default: all)")
    p.add_argument("--step-modes", type=flags.name_list(lambda: _modes(), what="step models"),
                   help="sum,overlap (default: each job's own)")
    p.add_argument("--shortlist", type=flags.number(lo=1, hi=100, integer=True), default=1,
                   help="configurations per GPU type simulated after the analytic screen (default 1)")
    p.add_argument("--plan", action="store_true", help="plan online traffic and the jobs together")
    p.add_argument("--method", choices=("milp", "greedy"), default="milp",
                   help="--plan: the joint MILP (warm-started) or AGH then the jobs greedily")
    p.add_argument("--time-limit", type=flags.number(lo=0, lo_open=True), default=60.0, help="--plan: MILP seconds")
    p.add_argument("--json", metavar="FILE", help="write the tidy prices as JSON records")
    p.add_argument("--out", metavar="FILE", help="--plan: write the online plan (plan.json)")
    p.set_defaults(func=cmd_batch)


def _modes():
    from ..problem.steptime import MODES
    from ..registry import Registry
    reg = Registry("step model")
    for m in MODES:
        reg.add(m, m)
    return reg
