"""GH and AGH, the constraint-aware heuristics of FORMULATION §5, on the numpy ``Instance``.

Registered methods:

- ``"gh"``       one greedy pass (:mod:`.gh`), milliseconds; falls back to LP rounding
                 (:mod:`.lp`, :mod:`.lpround`) when the greedy gets stuck;
- ``"agh"``      GH ∪ LP-rounding dive ∪ restricted MILP (:mod:`.submip`) ∪ seeded multi-start +
                 local search (:mod:`.agh`), capped at ``SolveOptions.time_limit_s`` (default 1 s up
                 to L-sized instances, 3 s beyond: :func:`default_time_cap`); the restricted
                 MILP's node / improving-solution budget grows with size (:func:`agh_budget`);
- ``"agh+milp"`` AGH, then the MILP warm-started from the AGH plan.

``SolveOptions.extra`` knobs for AGH: ``starts`` (default 3 up to M-sized instances, 0 beyond),
``noise`` (0.15), ``max_passes`` (4).
Both heuristics return a plan that :func:`sloserve.check.check_arrays` accepts, or raise
:class:`~sloserve.errors.InfeasibleError` — only when the LP relaxation (hence the MILP) is
infeasible, or, never observed, when every rounding failed (the message says which).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..check import check_arrays
from ..errors import InfeasibleError, InputError
from ..instance import Instance
from ..methods import METHODS, PlanCheckFailed, SolveOptions, load_methods, register_method
from ..plan import Plan, plan_from_arrays
from ..diagnose import unroutable_types
from .agh import adaptive, local_search
from .core import Knobs, Prepared, State, finish, insert_type, prepare
from .gh import construct, greedy, hardest_first
from .lp import RelaxedLP, lower_bound
from .lpround import dive, state_from_arrays, trim
from .submip import candidate_configs, restricted_mip

__all__ = ["gh", "agh", "agh_arrays", "gh_arrays", "prepare", "Prepared", "State", "Knobs", "insert_type",
           "construct", "greedy", "hardest_first", "adaptive", "local_search", "AGH_DEFAULT_TIME_S",
           "AGH_LARGE_TIME_S", "default_time_cap", "agh_budget"]

AGH_DEFAULT_TIME_S = 1.0
#: default cap on instances larger than preset L (the targets allow 3 s on XL)
AGH_LARGE_TIME_S = 3.0
#: "larger than L": more routes or configurations than this (L: ≈34 000 routes, ≈1 300 configurations)
XL_ROUTES, XL_CONFIGS = 50_000, 1500
#: "L-sized": from here on the restricted MILP stops at its first improving solutions (see agh_budget)
L_ROUTES = 20_000
#: restricted-MILP size: at most this many candidate configurations (all of them on small instances)
AGH_MIP_CONFIGS = 120
#: GH's fallback restricted MILP (only when the greedy and the dive both got stuck)
FALLBACK_MIP_CONFIGS = 400


def _verified(inst: Instance, st: State, P: Prepared, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x, u = finish(P, st)
    bad = check_arrays(inst, y, x, u)
    if bad:  # a bug in the heuristic, never the user's fault
        raise PlanCheckFailed(f"{who} built a plan the checker rejects: " + "; ".join(map(str, bad[:5])))
    return y, x, u


def _clean_state(P: Prepared, x: np.ndarray, u: np.ndarray) -> State | None:
    """A complete State from LP/MIP arrays, or None when it is incomplete or the checker rejects it."""
    st = state_from_arrays(P, x, u)
    if (st.rem > 1e-7).any():
        return None
    y, xx, uu = finish(P, st)
    return None if check_arrays(P.inst, y, xx, uu) else st


def _lp_infeasible(P: Prepared, diagnosis: list[str], who: str) -> InfeasibleError:
    lines = list(diagnosis) + unroutable_types(P.inst)
    lines.append("the LP relaxation (the MILP with integrality dropped) is infeasible, so no plan exists: relax "
                 "error limits, SLOs, budget, GPU availability or max_models, or allow unserved traffic")
    return InfeasibleError(f"{who}: the problem has no feasible plan", diagnosis=lines)


def _lp_round(P: Prepared, root_lp: RelaxedLP | None = None, root=None, *, deadline: float = np.inf,
              max_configs: int = FALLBACK_MIP_CONFIGS, mip_nodes: int = 500,
              diagnosis: list[str] | None = None, who: str = "GH") -> tuple[State, dict]:
    """LP-rounding construction: dive + trim, else a restricted MILP; raises InfeasibleError only when
    the LP relaxation (hence the MILP) is infeasible, or when both roundings fail (then says so)."""
    info: dict = {}
    if root is None:
        root_lp = RelaxedLP(P)
        root = root_lp.solve()
    if not root.ok:
        exact = lower_bound(P)
        if not exact.ok:
            raise _lp_infeasible(P, diagnosis or [], who)
        root_lp, root = None, exact
    info["lp_bound"] = root.objective
    res, lp, dstats = dive(P, first=root if root_lp is not None else None, lp=root_lp, deadline=deadline)
    if res is not None:
        res, _ = trim(P, lp, res, deadline=deadline)
        st = _clean_state(P, res.x, res.u)
        if st is not None:
            info["rounding"] = "dive"
            return st, info
    cand = candidate_configs(P, [np.flatnonzero(root.y > 1e-9)], root.route_rc, max_configs)
    sol, mstats = restricted_mip(P, cand, time_limit=max(deadline - time.perf_counter(), 1.0)
                                 if np.isfinite(deadline) else 60.0, max_nodes=mip_nodes)
    if sol is not None:
        st = _clean_state(P, sol[1], sol[2])
        if st is not None:
            info["rounding"] = "restricted_mip"
            return st, info
    raise InfeasibleError(f"{who} found no plan although the LP relaxation is feasible",
                          diagnosis=(diagnosis or []) + [f"LP bound {root.objective:.4g} $/h; the rounding dive and a "
                                                         f"restricted MILP over {len(cand)} configurations failed; "
                                                         "try the MILP (--method milp)"])


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


def gh_arrays(inst: Instance, P: Prepared | None = None, info: dict | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GH as arrays (y: C replicas, x: R fractions, u: I fractions); raises ``InfeasibleError``.

    When the one-pass greedy gets stuck, GH falls back to LP rounding (``info["fallback"]``), so it
    reports infeasibility only when the LP relaxation — hence the MILP — has no solution."""
    P = P or prepare(inst)
    info = {} if info is None else info
    try:
        st = greedy(P)
        info["fallback"] = None
    except InfeasibleError as e:
        st, lp_info = _lp_round(P, diagnosis=e.diagnosis, who="GH")
        info["fallback"] = lp_info.get("rounding", "lp")
        info["greedy_stuck"] = e.diagnosis
    return _verified(inst, st, P, "GH")


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
            raise _lp_infeasible(P, diagnosis, "AGH")
        root_lp, root = None, exact
    stats["lp_bound"] = root.objective
    tm["lp"] = time.perf_counter() - t0
    # LP-rounding dive + trim
    res, lp, dstats = dive(P, first=root if root_lp is not None else None, lp=root_lp, deadline=deadline,
                           max_steps=budget["dive_steps"])
    stats["dive"] = dstats
    if res is not None:
        res, _ = trim(P, lp, res, deadline=deadline)
        st = _clean_state(P, res.x, res.u)
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
            st = _clean_state(P, sol[1], sol[2])
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
    return _verified(inst, best, P, "AGH"), stats


@register_method("gh", "greedy heuristic (one constraint-aware pass, milliseconds)")
def gh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    info: dict = {}
    y, x, u = gh_arrays(inst, info=info)
    return plan_from_arrays(inst, y, x, u, method="gh", status="feasible", runtime_s=time.perf_counter() - t0,
                            extra={"gh": info})


@register_method("agh", "adaptive heuristic (GH + LP rounding + restricted MILP + multi-start local search, time-capped, seeded)")
def agh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    ex = opts.extra or {}
    cap = default_time_cap(inst) if opts.time_limit_s is None else float(opts.time_limit_s)
    starts = ex.get("starts")
    (y, x, u), stats = agh_arrays(inst, seed=opts.seed, time_cap_s=cap, starts=None if starts is None else int(starts),
                                  noise=float(ex.get("noise", 0.15)), max_passes=int(ex.get("max_passes", 4)))
    return plan_from_arrays(inst, y, x, u, method="agh", status="feasible", runtime_s=time.perf_counter() - t0,
                            extra={"agh": stats, "seed": opts.seed})


@register_method("agh+milp", "AGH, then the MILP warm-started from the AGH plan")
def agh_milp(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    load_methods()
    if "milp" not in METHODS:
        raise InputError(None, "method", "agh+milp needs the 'milp' method (sloserve.milp), which is not available")
    cap = default_time_cap(inst)
    cap = cap if opts.time_limit_s is None else min(cap, float(opts.time_limit_s))
    warm = agh(inst, replace(opts, time_limit_s=cap))
    left = None if opts.time_limit_s is None else max(float(opts.time_limit_s) - (time.perf_counter() - t0), 1.0)
    plan = METHODS["milp"].fn(inst, replace(opts, warm_start=warm, time_limit_s=left))
    plan.method = "agh+milp"
    plan.runtime_s = time.perf_counter() - t0
    plan.extra = {**plan.extra, "agh_objective": warm.objective, "agh_runtime_s": warm.runtime_s}
    return plan
