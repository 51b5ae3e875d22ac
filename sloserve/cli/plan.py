"""Commands of the planning pipeline: ``compile``, ``solve``, ``check``, ``plan`` and ``methods``."""
from __future__ import annotations

import argparse
import sys
import time

from ..errors import EXIT_INFEASIBLE, EXIT_OK
from . import flags
from .common import PROBLEM_HELP, load_problem, methods_registry, print_frame, problem_path, registry_choice

METHOD_HELP = "solution method (`sloserve methods` lists them)"


#: ``sloserve plan`` answers with AGH at once, then proves (or improves) it with the MILP within this limit
PLAN_METHOD = "agh+milp"
PLAN_TIME_LIMIT_S = 60.0


def _solve_opts(args, progress=None, on_plan=None, problem_name: str | None = None):
    from ..problem.plan import Plan, check_plan_is_for
    from ..solvers.methods import SolveOptions
    warm = Plan.read(args.warm_start) if getattr(args, "warm_start", None) else None
    if warm is not None and problem_name is not None:
        check_plan_is_for(warm, problem_name, args.warm_start)
    return SolveOptions(time_limit_s=args.time_limit, mip_gap=args.gap, threads=args.threads, solver=args.solver,
                        seed=args.seed, log=args.log, warm_start=warm, on_progress=progress, on_plan=on_plan)


def _add_solve_flags(p: argparse.ArgumentParser, method: str = "milp", time_limit: float | None = None) -> None:
    p.add_argument("--method", default=method, type=registry_choice(methods_registry), help=METHOD_HELP + f" (default {method})")
    p.add_argument("--solver", default="highs", help="Pyomo solver name for MILP methods (default highs; e.g. scip, cbc, gurobi)")
    p.add_argument("--time-limit", type=flags.TIME_LIMIT, default=time_limit, metavar="S",
                   help="wall-clock limit in seconds, > 0" + (f" (default {time_limit:g})" if time_limit else " (default none)"))
    p.add_argument("--gap", type=flags.GAP, default=None, metavar="REL",
                   help="relative MIP gap to stop at, >= 0 (e.g. 0.01; above 1 stops at the first plan)")
    p.add_argument("--threads", type=flags.THREADS, default=None, help="solver threads, >= 1")
    p.add_argument("--seed", type=flags.SEED, default=0, help="random seed of the heuristics, >= 0")
    p.add_argument("--warm-start", default=None, metavar="PLAN", help="plan.json to warm-start from")
    p.add_argument("--log", action="store_true", help="show the solver log (on stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--out", default="plan.json", help="where to write the plan (default plan.json)")


def _report_plan(inst, plan, out=None) -> None:
    out = out or sys.stdout
    from ..problem.plan import replicas_frame, summary_frame
    gap = plan.extra.get("gap")
    print(f"{plan.method} on {plan.scenario}: status {plan.status}, cost {plan.objective:.2f} $/h"
          + (f", bound {plan.bound:.2f}" if plan.bound is not None else "")
          + (f", gap {gap:.2%}" if isinstance(gap, (int, float)) else "")
          + f", {plan.runtime_s:.2f} s", file=out)
    rep = replicas_frame(inst, plan)
    print_frame("replicas", rep.drop(columns=["config"]), out)
    s = summary_frame(inst, plan)
    cols = ["query_type", "rate_rps", "served", "unserved", "ttft_s_max", "ttft_slo_s", "tpot_s_max", "tpot_slo_s",
            "e2e_s_mean", "e2e_slo_s", "error_mean", "max_error"]
    print_frame("query types (latency of the worst route used, mean error of served traffic)", s[cols], out)
    print(f"\nGPUs: {int(rep['gpus'].sum()) if len(rep) else 0}  ({', '.join(f'{g}: {n}' for g, n in rep.groupby('gpu')['gpus'].sum().items())})", file=out)


def cmd_compile(args) -> int:
    from ..model.compile import compile_scenario, dropped_report
    from ..model.scenario import load_scenario
    from ..paths import input_file, output_dir
    from ..problem.tables import write_compiled
    input_file(args.scenario, "scenario file")
    output_dir(args.out, "--out directory")
    t0 = time.perf_counter()
    c = compile_scenario(load_scenario(args.scenario))
    out = write_compiled(c, args.out)
    print(f"{c.summary()}; compiled in {time.perf_counter() - t0:.2f} s -> {out}/")
    for line in dropped_report(c):
        print(line)
    return EXIT_OK


def _headline(inst, plan) -> str:
    from ..problem.plan import replicas_frame
    rep = replicas_frame(inst, plan)
    return f"{plan.method}: {plan.objective:.2f} $/h on {int(rep['gpus'].sum()) if len(rep) else 0} GPUs ({plan.runtime_s:.2f} s)"


def stop_line(plan) -> str | None:
    """The one line that says a plan is not proven optimal (time or gap limit), else None."""
    from ..vocab import Status
    if plan.status not in (Status.TIME_LIMIT, Status.GAP_LIMIT):
        return None
    what = "the time limit" if plan.status == Status.TIME_LIMIT else "the gap limit"
    bound = "none" if plan.bound is None else f"{plan.bound:.2f} $/h"
    gap = plan.extra.get("gap")
    return (f"stopped at {what}: cost {plan.objective:.2f} $/h, best bound {bound}, "
            f"gap {'unknown' if gap is None else f'{100 * gap:.2f}%'}")


def _check_solve_paths(args, problem: str) -> None:
    """Every path of solve/plan, before the (possibly long) solve: a plan that cannot be written is
    known now, not after an hour of branch and bound."""
    from ..paths import input_file, output_file
    problem_path(problem)
    if args.warm_start:
        input_file(args.warm_start, "--warm-start plan file")
    output_file(args.out, "--out plan file", inputs=[problem, args.warm_start])


def _solve_and_write(args, path: str) -> int:
    from ..problem.instance import build_instance, check_smallest_load
    from ..solvers import solve
    from .progress import ProgressLine
    _check_solve_paths(args, path)
    c = load_problem(path)
    inst = build_instance(c)
    check_smallest_load(inst)
    opts = _solve_opts(args, problem_name=c.name)
    line = ProgressLine() if not args.quiet else None

    def first(plan):  # a method's intermediate plan (agh+milp: AGH's), printed at once
        limit = f"time limit {args.time_limit:g} s" if args.time_limit else "no time limit"
        print(f"{_headline(inst, plan)}; proving it with the MILP ({limit}; --time-limit S to change, "
              f"--method agh for the heuristic alone)", flush=True)

    from dataclasses import replace
    plan = solve(inst, args.method, replace(opts, on_progress=line, on_plan=first))  # checked there
    if line is not None:
        line.close()
    plan.to_json(args.out)
    _report_plan(inst, plan)
    print(f"\nchecker: every constraint holds; plan written to {args.out}")
    msg = stop_line(plan)
    if msg:
        print(msg, file=sys.stderr)
    return EXIT_OK


def cmd_solve(args) -> int:
    return _solve_and_write(args, args.problem)


def cmd_plan(args) -> int:
    from ..model.scenario import default_scenario_path
    path = args.scenario or str(default_scenario_path())
    print(f"scenario: {path}")
    if args.verify:
        return _verify_and_write(args, path)
    return _solve_and_write(args, path)


def _verify_and_write(args, path: str) -> int:
    """plan --verify: plan, simulate, tighten, re-plan until every attainment target holds."""
    from ..model.compile import compile_scenario
    from ..model.scenario import load_scenario
    from ..problem.instance import build_instance
    from ..sim.verify import VerifyOptions, verify
    from .simulate import engine_options, make_arrivals, make_predictor, report
    sc = load_scenario(path)
    method = "agh" if args.method == PLAN_METHOD else args.method  # every iteration re-plans: the heuristic
    opts = VerifyOptions(method=method, target=args.attainment, max_iterations=args.max_iterations,
                         duration_s=args.duration, process=args.arrivals, cv=args.cv, lengths=args.lengths,
                         seed=args.seed, time_limit_s=None if method == "agh" else args.time_limit)
    arrivals = make_arrivals(args, compile_scenario(sc)) if args.trace else None
    v = verify(sc, arrivals, opts, engine=engine_options(args), predictor=make_predictor(args))
    att = [c for c in v.iterations.columns if c.endswith(":attainment")]
    it = v.iterations[["iteration", "phase", "cost_per_hour", "gpus", "met"] + att].rename(
        columns={c: c.split(":")[0] for c in att})
    print_frame(f"verify: {method} plans replayed in simulation (attainment per query type)", it)
    v.plan.to_json(args.out)
    print()
    _report_plan(build_instance(compile_scenario(sc)), v.plan)  # on the scenario's own tables
    print()
    code = report(v.result)
    print(f"\nchecker: {v.checked.report()}" if not v.checked.ok else "\nchecker: every constraint holds")
    print(f"{'every target met' if v.met else 'not every target met'} in simulation; plan written to {args.out}")
    if not v.checked.ok:
        return EXIT_INFEASIBLE
    return code if v.met else EXIT_INFEASIBLE


def cmd_check(args) -> int:
    from ..checker import check
    from ..paths import input_file
    from ..problem.instance import build_instance
    from ..problem.plan import Plan, check_plan_is_for
    problem_path(args.problem)
    input_file(args.plan, "plan file")
    plan = Plan.read(args.plan)
    inst = build_instance(load_problem(args.problem))
    check_plan_is_for(plan, inst.compiled.name, args.plan)
    res = check(inst, plan)
    print(res.report())
    return EXIT_OK if res.ok else EXIT_INFEASIBLE


def cmd_methods(args) -> int:
    from ..solvers import load_methods
    for m in load_methods().entries():
        print(f"{m.name:10s} {m.help}")
    return EXIT_OK


def add_commands(sub) -> None:
    p = sub.add_parser("compile", help="compile a scenario into the tables every solver reads",
                       description="Run the performance model once and write query_types.csv, configs.csv, routes.csv, "
                                   "gpus.csv, models.csv and scenario.json (docs/formulation.md §2).")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("solve", help="solve a scenario or compiled directory and write plan.json",
                       description="Solve with a registered method; the plan is verified by the independent checker.")
    p.add_argument("problem", help=PROBLEM_HELP)
    _add_solve_flags(p)
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("check", help="verify a plan against every constraint (no solver)",
                       description="Verify every constraint of the formulation, recompute the objective, "
                                   "exit 1 listing each violated constraint with its numbers.")
    p.add_argument("problem", help=PROBLEM_HELP)
    p.add_argument("plan", help="plan.json")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("plan", help="the main job: compile, solve, check and print a plan (default: the embedded scenario)",
                       description="Compile, solve, check and print the plan of a scenario (default: the embedded "
                                   "Azure-calibrated scenario), writing plan.json.")
    p.add_argument("scenario", nargs="?", default=None, help="scenario YAML (default: the embedded default scenario)")
    _add_solve_flags(p, method=PLAN_METHOD, time_limit=PLAN_TIME_LIMIT_S)
    v = p.add_argument_group("percentile SLOs (--verify)")
    v.add_argument("--verify", action="store_true",
                   help="plan, replay in the simulator, tighten what the planner believes of the types that miss "
                        "their attainment target, re-plan; returns the cheapest plan meeting every target")
    v.add_argument("--attainment", type=flags.ATTAINMENT, default=0.9,
                   help="target for query types whose scenario states no slo_attainment (default 0.9)")
    v.add_argument("--max-iterations", type=flags.number(lo=1, hi=1000, integer=True), default=8,
                   help="at most this many simulate-and-add rounds (default 8)")
    from .simulate import add_sim_flags
    add_sim_flags(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("methods", help="list the registered solution methods")
    p.set_defaults(func=cmd_methods)
