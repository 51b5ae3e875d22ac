"""AGH, the adaptive heuristic of ``docs/heuristics.md``: the best of several constructions, improved.

Starts: GH's plan (:mod:`.gh`); the LP-rounding dive + trim (:mod:`.lpround`); a restricted MILP
over the candidate configurations (:mod:`.submip`) warm-started from the best start; then seeded
greedy multi-starts with local search (:mod:`.search`). The best checker-clean plan wins, so AGH
never costs more than GH for the same seed. The work budget is deterministic by instance size
(:func:`agh_budget`); the time cap (:func:`default_time_cap`) is a safety stop only.

Registered methods: ``agh`` and ``agh+milp`` (AGH, then the MILP warm-started from its plan).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.plan import Plan, plan_from_arrays, replace_plan, tidy
from ...vocab import Status
from ..methods import METHODS, SolveOptions, register_method
from .core import Prepared, State, finish, prepare
from .gh import greedy
from .lp import RelaxedLP, lower_bound
from .lpround import candidate_configs, clean_state, dive, lp_infeasible, restricted_mip, trim, verified
from .search import adaptive

AGH_DEFAULT_TIME_S = 1.0
#: default cap on instances larger than preset L (the targets allow 3 s on XL)
AGH_LARGE_TIME_S = 3.0
#: "larger than L": more routes or configurations than this (L: ≈34 000 routes, ≈1 300 configurations)
XL_ROUTES, XL_CONFIGS = 50_000, 1500
#: "L-sized": from here on the restricted MILP stops at its first improving solutions (see agh_budget)
L_ROUTES = 20_000
#: restricted-MILP size: at most this many candidate configurations (all of them on small instances)
AGH_MIP_CONFIGS = 120


def default_time_cap(inst: Instance) -> float:
    """AGH's default safety cap: 1 s up to L-sized instances, 3 s beyond (R > 50 000 or C > 1500)."""
    return AGH_LARGE_TIME_S if inst.R > XL_ROUTES or inst.C > XL_CONFIGS else AGH_DEFAULT_TIME_S


def agh_budget(inst: Instance) -> dict:
    """The deterministic iteration budget of AGH's restricted MILP by instance size.

    Small/medium: up to 120 candidate configurations (2 whole-replica picks per type), 200 nodes, solved
    to optimality of the restriction; LP dive of 25 steps. L-sized instances (R > 20 000): the restricted
    MILP's root alone takes ≈ 1 s, so it stops after its third improving solution (HiGHS
    ``mip_max_improving_sols``, the warm start counts as the first) or 10 nodes, over 100 candidates
    with 1 pick per type — the budget, not the clock, ends it; the dive stops after 5 steps (then rounds
    the rest up at once): 8 LP solves instead of up to 28, and on L a start from which RINS finds better
    plans. Beyond L (3 s cap): 120 candidates, third improving solution, 50 nodes, 25 dive steps.
    No greedy multi-starts from L on (each costs more than the MILP's remaining time). HiGHS restarts
    are off everywhere (faster on M and L)."""
    opts = {"mip_allow_restart": False}
    if inst.R > XL_ROUTES or inst.C > XL_CONFIGS:  # 3 s default cap: one improving solution more
        return {"configs": 120, "per_type": 1, "nodes": 50, "starts": 0, "dive_steps": 25,
                "options": {**opts, "mip_max_improving_sols": 3}}
    if inst.R > L_ROUTES:  # short dive (5 steps): cheaper and, on L, a better RINS start than 25 steps
        return {"configs": 100, "per_type": 1, "nodes": 10, "starts": 0, "dive_steps": 5,
                "options": {**opts, "mip_max_improving_sols": 3}}
    return {"configs": AGH_MIP_CONFIGS, "per_type": 2, "nodes": 200, "starts": 3, "dive_steps": 25, "options": opts}



def agh_arrays(inst: Instance, *, seed: int = 0, time_cap_s: float | None = None, starts: int | None = None,
               noise: float = 0.15, max_passes: int = 4, P: Prepared | None = None,
               mip_configs: int | None = None, mip_nodes: int | None = None,
               ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict]:
    """AGH as arrays plus stats; raises ``InfeasibleError`` (only when the LP relaxation is infeasible,
    or every construction failed).

    Starts: GH's plan; the LP-rounding dive (+ trim); a restricted MILP over the candidate
    configurations (LP support, the starts' configurations and their deployments' TP/PP siblings,
    the configurations with the smallest LP reduced cost) warm-started from the best start; then
    seeded greedy multi-starts with local search while the iteration budget (and the safety time
    cap) allow. The best checker-clean plan wins, so AGH never costs more than GH for the same seed."""
    t0 = time.perf_counter()
    budget = agh_budget(inst)
    if time_cap_s is None:
        time_cap_s = default_time_cap(inst)
    if starts is None:
        starts = budget["starts"]
    deadline = t0 + time_cap_s
    P = P or prepare(inst)
    diagnosis: list[str] = []
    stats: dict = {"starts": 0, "feasible_starts": 0, "moves": 0, "stopped_by": "budget", "best_start": None}
    pool: list[tuple[str, State]] = []
    try:
        gh_state = greedy(P)
        pool.append(("gh", gh_state))
        gh_obj = gh_state.objective(P)
    except InfeasibleError as e:
        gh_state, gh_obj = None, None
        diagnosis = e.diagnosis
    stats["gh_objective"] = gh_obj
    tm = stats["timings"] = {"gh": time.perf_counter() - t0}
    root_lp = RelaxedLP(P)
    root = root_lp.solve()
    if not root.ok:
        exact = lower_bound(P)
        if not exact.ok:
            raise lp_infeasible(P, diagnosis, "AGH")
        root_lp, root = None, exact
    stats["lp_bound"] = root.objective
    tm["lp"] = time.perf_counter() - t0
    # LP-rounding dive + trim
    res, lp, dstats = dive(P, first=root if root_lp is not None else None, lp=root_lp, deadline=deadline,
                           max_steps=budget["dive_steps"])
    stats["dive"] = dstats
    if res is not None:
        res, _ = trim(P, lp, res, deadline=deadline)
        st = clean_state(P, res.x, res.u)
        if st is not None:
            pool.append(("lp_dive", st))
    tm["dive"] = time.perf_counter() - t0
    best_name, best = (min(pool, key=lambda t: t[1].objective(P)) if pool else (None, None))
    # restricted MILP over the candidate configurations
    if mip_configs is None:
        mip_configs = budget["configs"]
    cand = candidate_configs(P, [np.flatnonzero(root.y > 1e-9)] + [np.flatnonzero(s.y > 0) for _, s in pool],
                             root.route_rc, mip_configs, per_type=budget["per_type"])
    left = deadline - time.perf_counter()
    if left > 0:
        inc = finish(P, best) if best is not None else None
        sol, mstats = restricted_mip(P, cand, time_limit=max(left, 0.05),
                                     max_nodes=budget["nodes"] if mip_nodes is None else mip_nodes,
                                     incumbent=inc, options=budget["options"])
        stats["restricted_mip"] = mstats
        if mstats["status"] == "Time limit reached":
            stats["stopped_by"] = "time_cap"
        if sol is not None:
            st = clean_state(P, sol[1], sol[2])
            if st is not None:
                pool.append(("restricted_mip", st))
    tm["mip"] = time.perf_counter() - t0
    # seeded greedy multi-starts + local search on the best so far
    ranked = sorted(pool, key=lambda t: t[1].objective(P))
    seeds = [s for _, s in ranked[:1]]
    best_ms, ms_stats = adaptive(P, seeds[0] if seeds else None, seed=seed, starts=starts, noise=noise,
                                 max_passes=max_passes, time_cap_s=max(deadline - time.perf_counter(), 0.0))
    for k in ("starts", "feasible_starts", "moves"):
        stats[k] += ms_stats[k]
    if ms_stats["stopped_by"] == "time_cap":
        stats["stopped_by"] = "time_cap"
    if best_ms is not None:
        pool.append(("multistart" if ms_stats["best_start"] not in (0, None) else (ranked[0][0] + "+ls"), best_ms))
    if not pool:
        raise InfeasibleError("AGH found no feasible plan", diagnosis=diagnosis or ["every construction got stuck"])
    best_name, best = min(pool, key=lambda t: t[1].objective(P))
    stats["best_start"] = best_name
    stats["candidates"] = int(len(cand))
    stats["runtime_s"] = time.perf_counter() - t0
    return verified(inst, best, P, "AGH"), stats



@register_method("agh", "adaptive heuristic (GH + LP rounding + restricted MILP + multi-start local search, time-capped, seeded)")
def agh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    ex = opts.extra or {}
    cap = default_time_cap(inst) if opts.time_limit_s is None else float(opts.time_limit_s)
    starts = ex.get("starts")
    (y, x, u), stats = agh_arrays(inst, seed=opts.seed, time_cap_s=cap, starts=None if starts is None else int(starts),
                                  noise=float(ex.get("noise", 0.15)), max_passes=int(ex.get("max_passes", 4)))
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
