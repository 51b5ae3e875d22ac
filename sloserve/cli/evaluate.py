"""Commands that put fixed plans in another world: ``stress`` and ``rolling``."""
from __future__ import annotations

import argparse

from . import flags
from .common import load_problem, methods_registry, problem_path, registry_choice
from .traces import add_trace_flags


def add_commands(sub) -> None:
    _add_stress(sub)
    _add_rolling(sub)


def cmd_stress(args) -> int:
    import pandas as pd

    from ..evaluate.stress import stress_table
    from ..problem.instance import build_instance, check_smallest_load
    from ..paths import os_error, output_file
    from ..solvers import SolveOptions, solve
    problem_path(args.problem)
    if args.out:
        output_file(args.out, "--out CSV", inputs=[args.problem])
    c = load_problem(args.problem)
    inst = build_instance(c)
    check_smallest_load(inst)
    plans = {}
    for m in args.methods:
        plans[m] = solve(inst, m, SolveOptions(time_limit_s=args.time_limit, seed=args.seed))
    factors = args.factors
    if args.simulate:
        from ..sim.stress import simulated_stress
        if args.verify:
            from ..model.scenario import load_scenario
            from ..sim.verify import VerifyOptions, verify
            v = verify(load_scenario(args.problem), opts=VerifyOptions(target=args.attainment, seed=args.seed))
            plans[f"verified({v.plan.method})"] = (v.compiled, v.plan)
        t = simulated_stress(c, plans, factors, demand=args.demand, cv=args.cv, duration_s=args.duration,
                             seed=args.seed, errors=not args.latency_only)
        summary = t
    else:
        t = stress_table(inst, plans, factors, demand=args.demand, draws=args.draws, seed=args.seed)
        summary = t.groupby(["method", "mode", "s"], as_index=False)[
            ["slo_violating", "beyond_capacity", "infra_cost_per_hour", "penalty_per_hour", "total_cost_per_hour"]].mean()
    with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.4g}"):
        print(summary.to_string(index=False))
    if args.out:
        try:
            t.to_csv(args.out, index=False)
        except OSError as e:
            raise os_error(args.out, e, "write the --out CSV") from None
        print(f"\nwritten to {args.out}")
    return 0


def _add_stress(sub) -> None:
    p = sub.add_parser("stress", help="stress-test plans: inflate delays, errors and demand",
                       description="Solve with each method, then evaluate each fixed plan with route delays and "
                                   "error rates inflated by s (uniform and random per route) and demand by --demand.")
    p.add_argument("problem", help="a scenario YAML file or a compiled directory")
    p.add_argument("--methods", default="milp,gh,agh", type=flags.name_list(methods_registry, what="method"),
                   help="comma-separated methods (default milp,gh,agh)")
    p.add_argument("--factors", default="1.0,1.1,1.2,1.3,1.4,1.5", type=flags.number_list(lo=0, hi=1e3, what="factors"),
                   help="inflation factors s, each in [0, 1000]")
    p.add_argument("--demand", type=flags.number(lo=0, hi=1e3), default=1.0, help="demand factor d, in [0, 1000]")
    p.add_argument("--draws", type=flags.COUNT, default=5, help="random draws per factor, >= 1")
    p.add_argument("--seed", type=flags.SEED, default=0)
    p.add_argument("--time-limit", type=flags.TIME_LIMIT, default=60.0, help="solver time limit per method, s")
    p.add_argument("--out", default=None, help="CSV of every (method, mode, s, draw)")
    g = p.add_argument_group("in simulation (--simulate)")
    g.add_argument("--simulate", action="store_true",
                   help="replay each plan request by request (queueing, batching, KV limits) instead of the analytic test")
    g.add_argument("--duration", type=flags.number(lo=0, lo_open=True, hi=1e8, why=" seconds"), default=600.0, help="seconds of synthetic arrivals per replay (default 600)")
    g.add_argument("--cv", type=flags.number(lo=0, lo_open=True, hi=100), default=1.0, help="burstiness: coefficient of variation of inter-arrivals")
    g.add_argument("--latency-only", action="store_true", help="inflate step times only, not error rates")
    g.add_argument("--verify", action="store_true", help="add the percentile-verified plan (needs a scenario YAML)")
    g.add_argument("--attainment", type=flags.ATTAINMENT, default=0.9, help="its attainment target (default 0.9)")
    p.set_defaults(func=cmd_stress)


def cmd_rolling(args) -> int:
    import pandas as pd

    from ..evaluate.rolling import RollingOptions, horizon_summary, rates_per_window, rolling_horizon
    from ..traces.calibrate import calibrate
    from ..model.compile import compile_scenario
    from ..model.scenario import load_scenario, scenario_from_dict
    from ..paths import input_dir, input_file, output_file
    from ..traces.trace import load_traces, resolve_trace
    if args.trace_dir:
        input_dir(args.trace_dir, "--trace-dir directory")
    if args.scenario:
        input_file(args.scenario, "--scenario file")
    paths = [resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.traces]
    if args.out:  # checked before a week-long trace is read (the resumable file's own rules come later)
        output_file(args.out, "--out CSV", inputs=[*paths, args.scenario])
    from .traces import parse_columns
    trace = load_traces(paths, progress=args.progress, columns=parse_columns(args.columns))
    rates = rates_per_window(trace, args.window, types_per_service=args.types_per_service, seed=args.seed)
    if args.scenario:
        sc = load_scenario(args.scenario)
    else:
        sc = scenario_from_dict(calibrate(trace, window=args.window, statistic="mean",
                                          types_per_service=args.types_per_service, seed=args.seed,
                                          name="rolling"), "calibrated from " + ", ".join(p.name for p in paths))
    ro = RollingOptions(method=args.method, forecast=args.forecast, alpha=args.alpha, season=args.season,
                        margin=args.margin, time_limit_s=args.time_limit, switching_cost=args.switching_cost,
                        seed=args.seed)
    from ..resume import fingerprint
    inputs = [fingerprint(p) for p in paths] + ([fingerprint(args.scenario)] if args.scenario else [])
    cli_opts = {"window": args.window, "types_per_service": args.types_per_service, "scenario": args.scenario,
                "columns": args.columns}
    df = rolling_horizon(compile_scenario(sc), rates, ro, warmup=args.warmup, out=args.out, progress=args.progress,
                         overwrite=args.overwrite, inputs=inputs, options=cli_opts)
    with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.4g}"):
        print(horizon_summary(df).to_string(index=False))
    if args.out:
        print(f"\nper-window results in {args.out}")
    return 0


def _forecasters():
    from ..evaluate.forecast import FORECASTERS
    return FORECASTERS


def _add_rolling(sub) -> None:
    p = sub.add_parser("rolling", help="rolling-horizon re-planning over a trace vs a static peak plan",
                       description="Per window: forecast each query type's rate, re-plan, and evaluate against the "
                                   "traffic that arrived; compare with a static plan provisioned for the peak window. "
                                   "Finished windows are appended to --out, and a rerun resumes from it.")
    p.add_argument("traces", nargs="+", metavar="TRACE", help="trace CSV files or known trace keys")
    p.add_argument("--scenario", default=None, help="scenario whose query types match the trace's (default: calibrate one)")
    p.add_argument("--window", default="5min", type=flags.duration, help="window length (default 5min)")
    p.add_argument("--types-per-service", type=flags.number(lo=1, hi=1000, integer=True), default=3)
    p.add_argument("--method", default="agh", type=registry_choice(methods_registry), help="re-planning method (default agh)")
    p.add_argument("--forecast", default="ewma", type=registry_choice(_forecasters),
                   help="a registered forecaster: last, ewma, seasonal, ... (default ewma)")
    p.add_argument("--alpha", type=flags.number(lo=0, lo_open=True, hi=1), default=0.5,
                   help="EWMA weight of the newest window, in (0, 1]")
    p.add_argument("--season", type=flags.number(lo=0, hi=1_000_000, integer=True), default=0,
                   help="windows per season for --forecast seasonal")
    p.add_argument("--margin", type=flags.number(lo=0, lo_open=True, hi=1e3), default=1.0,
                   help="provision forecast x margin, in (0, 1000]")
    p.add_argument("--time-limit", type=flags.TIME_LIMIT, default=None, help="seconds per re-plan (default: the method's own)")
    p.add_argument("--switching-cost", type=flags.number(lo=0, hi=1e9), default=0.0, help="$ per GPU added or removed, >= 0")
    p.add_argument("--warmup", type=flags.number(lo=0, hi=1_000_000, integer=True), default=1,
                   help="windows used only for the first forecast")
    p.add_argument("--seed", type=flags.SEED, default=0)
    p.add_argument("--trace-dir", default=None)
    p.add_argument("--no-download", action="store_true")
    add_trace_flags(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--out", default=None, help="CSV appended window by window; a rerun with the same options and "
                                               "inputs resumes from it, any other rerun stops (exit 2)")
    p.add_argument("--overwrite", action="store_true", help="start --out afresh instead of resuming it")
    p.set_defaults(func=cmd_rolling)
