"""AGH, the adaptive heuristic of ``docs/heuristics.md``: the best of several constructions, improved.

Starts: GH's plan (:mod:`.gh`); the LP-rounding dive + trim (:mod:`.lpround`). Then a restricted MILP
over candidate configurations and routes (:mod:`.submip`) warm-started from the best start, a second
one centred on its answer (every route of the configurations it opened), local search and, on small
instances, seeded greedy multi-starts (:mod:`.search`). The best checker-clean plan wins, so AGH never
costs more than GH for the same seed.

The work is fixed by the instance's size class (:func:`agh_budget`, :mod:`sloserve.problem.size`):
dive steps, candidates, routes, node and solution limits of HiGHS, starts and local-search passes —
counts, never the clock. So the plan depends on the instance and the seed only, not on how fast or
busy the machine is. The time cap (:attr:`AghBudget.time_cap_s`, or ``SolveOptions.time_limit_s``) is a
safety stop, several times what the budget takes on a quiet machine; when it fires,
``stats["stopped_by"] == "time_cap"`` and the plan may depend on machine speed.

Registered methods: ``agh`` and ``agh+milp`` (AGH, then the MILP warm-started from its plan).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.plan import Plan, plan_from_arrays, replace_plan, tidy
from ...problem.size import size_class
from ...vocab import Status
from ..methods import METHODS, SolveOptions, register_method
from .core import Prepared, State, finish, prepare
from .gh import greedy, lp_fallback
from .lp import RelaxedLP, lower_bound
from .lpround import candidate_configs, clean_state, dive, lp_infeasible, restricted_mip, trim, verified
from .search import adaptive
from .submip import route_subset


@dataclass(frozen=True)
class AghBudget:
    """AGH's deterministic work budget for one size class; ``time_cap_s`` is the safety stop only."""

    size: str
    target_s: float  # what the budget is sized for, on a quiet machine (docs/heuristics.md)
    time_cap_s: float  # safety stop: a multiple of the target
    dive_steps: int  # LP-rounding fixes before the rest is rounded up at once
    configs: int  # candidate configurations of the restricted MILP (all of them when there are fewer)
    per_type: int  # whole-replica picks per query type among the candidates
    routes_per_type: int  # LP-ranked routes per type (plus per-model / per-GPU best, the starts' routes); 0 = all
    nodes: int  # round 1: HiGHS mip_max_nodes
    sols: int | None  # round 1: HiGHS mip_max_improving_sols (the warm start counts), None = no limit
    polish_configs: int  # round 2: candidates around round 1's plan (all routes of its configurations)
    polish_nodes: int  # round 2: node limit (0 = no second round)
    starts: int  # seeded greedy multi-starts with local search (start 0 = the best plan so far)
    ls_passes: int  # local-search passes per start
    ls_trials: int  # local-search trial moves per start (each a ruin and re-insertion)
    certify_gap: float | None = None  # stop once the plan is within this of the LP bound (HiGHS mip_rel_gap, and no
    #                                   polish round): a proven gap, None = always polish, HiGHS's own 1e-4

    def as_dict(self) -> dict:
        return asdict(self)


#: the budget by size class (targets: S/M well under 1 s, L 1 s, XL 3 s on a quiet machine); on L and larger
#: the restricted MILPs stop at a quarter to a third of the gap target (certify_gap), a proven gap to their optimum
BUDGETS: dict[str, AghBudget] = {
    "S": AghBudget("S", 0.5, 10.0, dive_steps=25, configs=400, per_type=2, routes_per_type=0, nodes=500, sols=None,
                   polish_configs=150, polish_nodes=300, starts=3, ls_passes=4, ls_trials=400),
    "M": AghBudget("M", 0.8, 10.0, dive_steps=25, configs=160, per_type=2, routes_per_type=20, nodes=300, sols=None,
                   polish_configs=150, polish_nodes=200, starts=2, ls_passes=2, ls_trials=200),
    "L": AghBudget("L", 1.0, 10.0, dive_steps=5, configs=120, per_type=1, routes_per_type=8, nodes=50, sols=4,
                   polish_configs=120, polish_nodes=50, starts=0, ls_passes=1, ls_trials=100, certify_gap=0.005),
    "L+": AghBudget("L+", 2.0, 20.0, dive_steps=5, configs=120, per_type=1, routes_per_type=8, nodes=50, sols=4,
                    polish_configs=120, polish_nodes=50, starts=0, ls_passes=1, ls_trials=100, certify_gap=0.0075),
    "XL": AghBudget("XL", 3.0, 30.0, dive_steps=5, configs=140, per_type=1, routes_per_type=8, nodes=80, sols=4,
                    polish_configs=140, polish_nodes=80, starts=0, ls_passes=1, ls_trials=100, certify_gap=0.01),
}
#: HiGHS options of every restricted MILP (restarts off: faster on M and L at the same answers)
MIP_OPTIONS = {"mip_allow_restart": False}
#: the restricted MILPs also give every type its PER_HUB LP-best routes onto the LP's open configurations
#: (y > HUB_Y), what scarce GPUs need (docs/heuristics.md, "LP rounding and the restricted MILP")
HUB_Y = 1e-6
PER_HUB = 4


def agh_budget(inst) -> AghBudget:
    """The work budget of AGH for ``inst``'s size class (by routes and configurations)."""
    return BUDGETS[size_class(inst.R, inst.C)]


def default_time_cap(inst) -> float:
    """AGH's default safety cap for ``inst`` (seconds): a multiple of what its budget takes."""
    return agh_budget(inst).time_cap_s


def agh_arrays(inst: Instance, *, seed: int = 0, time_cap_s: float | None = None, starts: int | None = None,
               noise: float = 0.15, max_passes: int | None = None, P: Prepared | None = None,
               budget: AghBudget | None = None,
               ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict]:
    """AGH as arrays plus stats; raises ``InfeasibleError`` (only when the LP relaxation is infeasible,
    or every construction failed).

    ``budget`` defaults to :func:`agh_budget`; ``starts`` and ``max_passes`` override its multi-starts
    and local-search passes; ``time_cap_s`` its safety stop. The best checker-clean plan wins, so AGH
    never costs more than GH for the same seed."""
    t0 = time.perf_counter()
    B = budget or agh_budget(inst)
    if starts is not None:
        B = replace(B, starts=int(starts))
    if max_passes is not None:
        B = replace(B, ls_passes=int(max_passes))
    cap = B.time_cap_s if time_cap_s is None else float(time_cap_s)
    deadline = t0 + cap

    def left() -> float:
        return deadline - time.perf_counter()

    P = P or prepare(inst)
    diagnosis: list[str] = []
    stats: dict = {"size_class": B.size, "starts": 0, "feasible_starts": 0, "moves": 0, "stopped_by": "budget",
                   "best_start": None}
    work = stats["work"] = {"lp_solves": 0, "mip_nodes": 0, "presolve_off_reruns": 0}
    tm = stats["timings"] = {}
    pool: list[tuple[str, State]] = []
    try:
        gh_state = greedy(P)
        pool.append(("gh", gh_state))
        stats["gh_objective"] = gh_state.objective(P)
    except InfeasibleError as e:
        stats["gh_objective"] = None
        diagnosis = e.diagnosis
    tm["gh"] = time.perf_counter() - t0
    root_lp = RelaxedLP(P)
    root = root_lp.solve()
    work["lp_solves"] += 1
    if not root.ok:
        exact = lower_bound(P)
        if not exact.ok:
            raise lp_infeasible(P, diagnosis, "AGH")
        root_lp, root = None, exact
    stats["lp_bound"] = root.objective
    tm["lp"] = time.perf_counter() - t0
    # LP-rounding dive + trim
    res, lp, dstats = dive(P, first=root if root_lp is not None else None, lp=root_lp, deadline=deadline,
                           max_steps=B.dive_steps)
    stats["dive"] = dstats
    work["lp_solves"] += dstats["lp_solves"]
    if res is not None:
        res, _ = trim(P, lp, res, deadline=deadline)
        st = clean_state(P, res.x, res.u)
        if st is not None:
            pool.append(("lp_dive", st))
    elif left() <= 0:
        stats["stopped_by"] = "time_cap"
    tm["dive"] = time.perf_counter() - t0

    def best_of(p):
        return min(p, key=lambda t: t[1].objective(P)) if p else (None, None)

    # round 1: the restricted MILP over LP-guided candidates
    supports = [np.flatnonzero(root.y > 1e-9)] + [np.flatnonzero(s.y > 0) for _, s in pool]
    cand = candidate_configs(P, supports, root.route_rc, B.configs, per_type=B.per_type)
    keep = [np.flatnonzero(root.x > 1e-9)] + [np.flatnonzero(s.x > 0) for _, s in pool]
    hubs = np.flatnonzero(root.y > HUB_Y)
    routes = (route_subset(P, cand, root.route_rc, B.routes_per_type, keep=keep, hubs=hubs, per_hub=PER_HUB)
              if B.routes_per_type else None)
    stats["candidates"] = int(len(cand))
    stats["mip_routes"] = None if routes is None else int(len(routes))
    mip_options = {**MIP_OPTIONS, **({} if B.sols is None else {"mip_max_improving_sols": B.sols})}

    def mip_round(name: str, configs, route_ids, nodes: int, start: State | None) -> None:
        """One restricted MILP from ``start``; its stats under ``name``, its checked plan into the pool."""
        sol, mstats = restricted_mip(P, configs, time_limit=max(left(), 0.05), max_nodes=nodes, routes=route_ids,
                                     mip_gap=B.certify_gap or 1e-4,
                                     incumbent=finish(P, start) if start is not None else None, options=mip_options)
        stats[name] = mstats
        work["mip_nodes"] += mstats["nodes"]
        work["presolve_off_reruns"] += int(mstats["presolve_off_rerun"])
        if mstats["status"] == "Time limit reached":
            stats["stopped_by"] = "time_cap"
        if sol is not None:
            st = clean_state(P, sol[1], sol[2])
            if st is not None:
                pool.append((name, st))

    _, best = best_of(pool)
    if left() > 0:
        mip_round("restricted_mip", cand, routes, B.nodes, best)
    tm["mip"] = time.perf_counter() - t0
    # round 2: centred on the best plan so far — every route of its configurations, LP-guided elsewhere
    best_name, best = best_of(pool)
    certified = (B.certify_gap is not None and best is not None and np.isfinite(root.objective)
                 and best.objective(P) <= root.objective * (1 + B.certify_gap) + 1e-9)
    stats["certified"] = bool(certified)  # within certify_gap of the LP bound after round 1: no polish round
    if best is not None and B.polish_nodes > 0 and left() > 0 and not certified:
        opened = np.flatnonzero(best.y > 0)
        cand2 = candidate_configs(P, [opened], root.route_rc, max(B.polish_configs, len(opened)), per_type=B.per_type)
        routes2 = (route_subset(P, cand2, root.route_rc, B.routes_per_type, keep=[np.flatnonzero(best.x > 0)],
                                full=opened, hubs=hubs, per_hub=PER_HUB) if B.routes_per_type else None)
        mip_round("polish_mip", cand2, routes2, B.polish_nodes, best)
    tm["polish"] = time.perf_counter() - t0
    # local search on the best so far, then seeded greedy multi-starts (small instances)
    ranked = sorted(pool, key=lambda t: t[1].objective(P))
    if ranked and left() > 0:
        best_ms, ms_stats = adaptive(P, ranked[0][1], seed=seed, starts=max(1, B.starts), noise=noise,
                                     max_passes=B.ls_passes, time_cap_s=max(left(), 0.0), max_trials=B.ls_trials)
        for k in ("starts", "feasible_starts", "moves"):
            stats[k] += ms_stats[k]
        work["insertions"] = ms_stats.get("insertions", 0)
        if ms_stats["stopped_by"] == "time_cap":
            stats["stopped_by"] = "time_cap"
        if best_ms is not None:
            pool.append(("multistart" if ms_stats["best_start"] not in (0, None) else (ranked[0][0] + "+ls"), best_ms))
    elif ranked:
        stats["stopped_by"] = "time_cap"
    tm["search"] = time.perf_counter() - t0
    if not pool:  # GH's own fallback (LP rounding, else a restricted MILP stopped at its first plan), so that
        # AGH never answers "no plan" where GH has one (tight_gpus XL seed 1: AGH's rounds found none)
        try:
            st, info = lp_fallback(P, diagnosis, "AGH", root_lp, root)
            pool.append(("gh_fallback", st))
            stats["gh_fallback"] = info
        except InfeasibleError:
            pass
    if not pool:
        raise InfeasibleError("AGH found no feasible plan", diagnosis=diagnosis or ["every construction got stuck"])
    best_name, best = min(pool, key=lambda t: t[1].objective(P))
    stats["best_start"] = best_name
    stats["runtime_s"] = time.perf_counter() - t0
    return verified(inst, best, P, "AGH"), stats


@register_method("agh", "adaptive heuristic (GH + LP rounding + restricted MILPs + local search; deterministic work budget by size)")
def agh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    ex = opts.extra or {}
    starts, passes = ex.get("starts"), ex.get("max_passes")
    (y, x, u), stats = agh_arrays(inst, seed=opts.seed, time_cap_s=opts.time_limit_s,
                                  starts=None if starts is None else int(starts),
                                  noise=float(ex.get("noise", 0.15)),
                                  max_passes=None if passes is None else int(passes))
    lb = stats.get("lp_bound")  # the LP relaxation's optimum: a valid lower bound on the MILP's
    return plan_from_arrays(inst, y, x, u, method="agh", status=Status.FEASIBLE, runtime_s=time.perf_counter() - t0,
                            bound=float(lb) if lb is not None and np.isfinite(lb) else None,
                            extra={"agh": stats, "seed": opts.seed})


@register_method("agh+milp", "AGH, then the MILP warm-started from the AGH plan")
def agh_milp(inst: Instance, opts: SolveOptions) -> Plan:
    """AGH's plan at once (``opts.on_plan``), then the MILP warm-started from it within the rest of the
    time limit. Returns the better of the two plans, with the MILP's status and bound: a MILP stopped
    before it found anything better (or anything at all) still answers with AGH's plan."""
    t0 = time.perf_counter()
    cap = default_time_cap(inst)
    cap = cap if opts.time_limit_s is None else min(cap, float(opts.time_limit_s))
    try:
        warm = tidy(inst, agh(inst, replace(opts, time_limit_s=cap)))
    except InfeasibleError:  # the MILP decides, and its elastic diagnosis says what to relax
        return METHODS.get("milp")(inst, opts)
    if opts.on_plan is not None:
        opts.on_plan(warm)
    left = None if opts.time_limit_s is None else max(float(opts.time_limit_s) - (time.perf_counter() - t0), 1.0)
    try:
        plan = tidy(inst, METHODS.get("milp")(inst, replace(opts, warm_start=warm, time_limit_s=left)))
    except InfeasibleError as e:  # the MILP stopped without a plan of its own: AGH's stands, unproven
        plan = replace_plan(warm, status=Status.TIME_LIMIT, bound=warm.bound,
                            extra={**warm.extra, "milp": str(e).splitlines()[0]})
    if warm.objective < plan.objective - 1e-9 * max(1.0, abs(plan.objective)):
        plan = replace_plan(warm, status=plan.status, bound=plan.bound, extra={**warm.extra, **plan.extra})
    plan.method = "agh+milp"
    plan.runtime_s = time.perf_counter() - t0
    plan.extra = {**plan.extra, "agh_objective": warm.objective, "agh_runtime_s": warm.runtime_s}
    return plan


@register_method("agh-robust", "AGH on the box-robust tables: delays and errors × s_max on every route "
                               "(extra s_max, default 1.3; s_error, default s_max)")
def agh_robust(inst: Instance, opts: SolveOptions) -> Plan:
    """AGH on :func:`~sloserve.problem.robust.robust_tables`; its plan is read on the nominal tables (same names)."""
    from ...problem.instance import build_instance
    from ...problem.robust import robust_tables, uncertainty_from
    unc = uncertainty_from(opts.extra, gamma=1)  # the box tables inflate every route: Γ plays no part
    rob = build_instance(robust_tables(inst.compiled, unc))
    plan = agh(rob, opts)
    plan.method = "agh-robust"
    plan.extra["robust"] = {"s_max": unc.s_max, "s_error": unc.error_factor, "gamma": "box"}
    return plan
