"""The ``simulate`` command: replay traffic against a plan, request by request."""
from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_INFEASIBLE, EXIT_OK, InputError
from . import flags
from .common import PROBLEM_HELP, load_problem, print_frame, registry_choice


def _schedulers():
    from ..sim.schedulers import SCHEDULERS
    return SCHEDULERS


def _predictors():
    from ..sim.predictors import PREDICTORS
    return PREDICTORS


def _routers():
    from ..sim.router import ROUTERS
    return ROUTERS


def max_num_seqs(text: str):
    """``--max-num-seqs``: a whole number >= 1, or 'plan' (the plan's design batch)."""
    if text == "plan":
        return text
    try:
        return flags.number(lo=1, hi=1_000_000, integer=True)(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e}; or 'plan' for the plan's design batch") from None


max_num_seqs.__name__ = "value"


def add_sim_flags(p: argparse.ArgumentParser) -> None:
    """The engine and traffic flags shared by ``simulate`` and ``plan --verify``."""
    g = p.add_argument_group("traffic")
    g.add_argument("--trace", nargs="+", default=None, metavar="FILE",
                   help="replay these trace files (requests labelled as the calibration labels them)")
    g.add_argument("--duration", type=flags.number(lo=0, lo_open=True, hi=1e8, why=" seconds"), default=600.0, metavar="S",
                   help="synthetic arrivals for S seconds at the scenario's rates (default 600; ignored with --trace)")
    g.add_argument("--arrivals", default="poisson", choices=("poisson", "gamma"), help="synthetic inter-arrival law")
    g.add_argument("--cv", type=flags.number(lo=0, lo_open=True, hi=100), default=1.0, help="coefficient of variation of gamma inter-arrivals (>1: bursts)")
    g.add_argument("--lengths", default="fixed", choices=("fixed", "lognormal", "trace"),
                   help="synthetic token lengths: the types' sizes, lognormal around them, or resampled from --lengths-from")
    g.add_argument("--length-cv", type=flags.number(lo=0, lo_open=True, hi=100), default=1.0, help="coefficient of variation for --lengths lognormal")
    g.add_argument("--lengths-from", nargs="+", default=None, metavar="FILE", help="trace(s) to resample lengths from")
    g.add_argument("--demand", type=flags.number(lo=0, lo_open=True, hi=1e3), default=1.0, help="multiply every synthetic rate (default 1)")
    g.add_argument("--types-per-service", type=flags.number(lo=1, hi=1000, integer=True), default=3, help="query types per service when labelling a trace")
    g.add_argument("--trace-dir", default=None)
    g.add_argument("--no-download", action="store_true")
    e = p.add_argument_group("engine")
    e.add_argument("--scheduler", default="fcfs", type=registry_choice(_schedulers),
                   help="a registered scheduler: fcfs, mcsf, amax, amin, hsf (default fcfs)")
    e.add_argument("--predictor", default=None, type=registry_choice(_predictors),
                   help="output-length predictor for the schedulers that use one: naive, binned, interval, oracle, bucket")
    e.add_argument("--predictor-train", nargs="+", default=None, metavar="FILE",
                   help="trace(s) the binned predictor learns its intervals from (a split other than the replayed one)")
    e.add_argument("--alpha", type=flags.number(lo=0, lo_open=True, hi=1), default=None, help="accuracy alpha of the interval predictor")
    e.add_argument("--router", default="plan", type=registry_choice(_routers), help="plan (default) or least_outstanding")
    e.add_argument("--max-num-batched-tokens", type=flags.number(lo=1, hi=10_000_000, integer=True), default=2048, help="token budget of an iteration (default 2048)")
    e.add_argument("--max-num-seqs", default="plan", type=max_num_seqs,
                   help="sequences per replica: a number, or 'plan' (the plan's design batch; default)")
    e.add_argument("--step-scale", type=flags.number(lo=0, lo_open=True, hi=1e3), default=1.0, help="every iteration takes this many times as long")
    e.add_argument("--horizon", type=flags.number(lo=0, lo_open=True, hi=1e9, why=" seconds"), default=None, metavar="S",
                   help="stop the clock at S seconds (default: when every request has completed)")


def engine_options(args):
    from ..sim.engine import EngineOptions
    return EngineOptions(max_num_batched_tokens=args.max_num_batched_tokens, max_num_seqs=args.max_num_seqs,
                         scheduler=args.scheduler, step_scale=args.step_scale)


def make_predictor(args):
    if args.predictor is None:
        return None
    from ..sim.predictors import PREDICTORS
    cls = PREDICTORS.get(args.predictor)
    pred = cls(alpha=args.alpha) if args.predictor == "interval" and args.alpha is not None else cls()
    if args.predictor == "binned":
        if not args.predictor_train:
            raise InputError(None, "--predictor-train", "the binned predictor learns from a training trace: give "
                                                        "--predictor-train FILE (not the replayed requests)")
        from ..traces.label import label_query_types
        from ..traces.trace import load_traces, resolve_trace
        tr = load_traces([resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.predictor_train],
                         progress=False)
        tr = tr.assign(service=label_query_types(tr, args.types_per_service).astype(str))
        pred = pred.fit(tr)
    return pred


def make_arrivals(args, compiled):
    from ..sim import arrivals as A
    from ..traces.trace import load_traces, resolve_trace
    if args.trace:
        paths = [resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.trace]
        trace = load_traces(paths, progress=False)
        return A.from_trace(trace, compiled, types_per_service=args.types_per_service, source=", ".join(p.name for p in paths))
    trace = None
    if args.lengths == "trace":
        if not args.lengths_from:
            raise InputError(None, "--lengths-from", "--lengths trace needs the trace(s) to resample from")
        trace = load_traces([resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.lengths_from],
                            progress=False)
    return A.synthetic(compiled, args.duration, process=args.arrivals, cv=args.cv, seed=args.seed,
                       rate_scale=args.demand, lengths=args.lengths, length_cv=args.length_cv, trace=trace,
                       types_per_service=args.types_per_service)


def report(res, out=None) -> int:
    """Print the replay's summary; 1 when a query type misses its attainment target (one line each, on stderr)."""
    out = out or sys.stdout
    counts = res.counts()
    print(f"simulated {sum(counts.values()):,} requests over {res.horizon_s:,.0f} s in {res.wall_s:.1f} s: "
          + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items() if v), file=out)
    cols = ["query_type", "requests", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s",
            "tpot_p99_s", "e2e_p90_s", "slo_attainment", "attainment_target", "goodput_rps"]
    print_frame("query types (seconds; attainment = share of requests within every SLO)", res.summary[cols], out)
    print_frame("replicas", res.replicas[["replica", "config", "utilization", "mean_batch", "kv_utilization",
                                          "preemptions"]], out)
    missed = res.missed_targets()
    for r in missed.itertuples(index=False):
        print(f"query type {r.query_type}: {100 * r.slo_attainment:.1f}% of requests within every SLO, target "
              f"{100 * r.attainment_target:.1f}% ({100 * (r.attainment_target - r.slo_attainment):.1f} points short)",
              file=sys.stderr)
    return EXIT_INFEASIBLE if len(missed) else EXIT_OK


def cmd_simulate(args) -> int:
    from ..problem.plan import Plan
    from ..sim.simulator import simulate
    from ..paths import input_file, output_dir
    output_dir(args.out, "--out directory")  # before the work starts, not after
    input_file(args.plan, "plan file")
    compiled = load_problem(args.problem)
    plan = Plan.read(args.plan)
    arrivals = make_arrivals(args, compiled)
    res = simulate(compiled, plan, arrivals, router=args.router, engine=engine_options(args),
                   predictor=make_predictor(args), seed=args.seed, horizon_s=args.horizon,
                   progress=None if args.progress is None else args.progress)
    res.write(args.out)
    code = report(res)
    print(f"\nper-request records in {args.out}/requests.parquet; summaries in {args.out}/summary.csv, replicas.csv, "
          f"timeseries.csv")
    return code


def add_commands(sub) -> None:
    p = sub.add_parser("simulate", help="replay traffic against a plan, request by request",
                       description="Replay a trace (or synthetic arrivals at the scenario's rates) against a plan: "
                                   "continuous batching, chunked prefill, a paged KV cache and preemption on every "
                                   "replica the plan rents. Exit 1 when a query type misses its attainment target.")
    p.add_argument("problem", help=PROBLEM_HELP)
    p.add_argument("plan", help="plan.json")
    add_sim_flags(p)
    p.add_argument("--seed", type=flags.SEED, default=0)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on a terminal)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for requests.parquet and the summaries")
    p.set_defaults(func=cmd_simulate)
