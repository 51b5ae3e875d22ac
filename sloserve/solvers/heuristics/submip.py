"""A restricted MILP over a few candidate configurations (the LP-and-fix / RINS idea), solved with
``highspy`` directly on the ``Instance`` arrays.

Given a small set of candidate configurations (the LP relaxation's support, the configurations of
the heuristic plans, their deployments' other TP/PP settings), the MILP of docs/formulation.md §3 restricted
to them and to their routes has a few hundred columns instead of tens of thousands, and HiGHS
solves it in a fraction of a second. Its optimum is a feasible plan of the full problem (every
row of the full MILP is present; only columns are missing). The solve is bounded by a
deterministic node and LP-iteration budget; the wall-clock limit is a safety stop only.
"""
from __future__ import annotations

import highspy
import numpy as np

from .core import Prepared
from .lp import highs_model

INF = highspy.kHighsInf


def restricted_mip(P: Prepared, configs: np.ndarray, *, time_limit: float = 1.0, max_nodes: int = 2000,
                   incumbent: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   mip_gap: float = 1e-4, options: dict | None = None, routes: np.ndarray | None = None,
                   ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, dict]:
    """Solve the MILP restricted to ``configs`` (and, when given, to the route ids ``routes`` on them);
    returns ((y, x, u) or None, stats)."""
    inst = P.inst
    I = inst.I
    cfg = np.unique(np.asarray(configs, dtype=np.int64))
    nC = len(cfg)
    cpos = np.full(inst.C, -1, dtype=np.int64)
    cpos[cfg] = np.arange(nC)
    if routes is None:
        routes = np.concatenate([P.config_routes[c] for c in cfg]) if nC else np.zeros(0, dtype=np.int64)
    else:
        routes = np.unique(np.asarray(routes, dtype=np.int64))
        routes = routes[cpos[inst.route_c[routes]] >= 0]
    nR = len(routes)
    ri, rc = inst.route_i[routes], cpos[inst.route_c[routes]]
    models = np.unique(inst.config_model[cfg])
    nJ = len(models)
    jpos = np.full(len(inst.model_ids), -1, dtype=np.int64)
    jpos[models] = np.arange(nJ)
    ymax = inst.ymax[cfg].astype(float)
    # columns: x (nR) | u (I) | y (nC, integer) | o (nC, binary) | s (nJ, binary)
    ox, ou, oy, oo, os_ = 0, nR, nR + I, nR + I + nC, nR + I + 2 * nC
    ncol = os_ + nJ
    rows, cols, vals, lo, hi = [], [], [], [], []
    nrow = 0

    def block(r, c, v):
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.asarray(v, dtype=float))

    ar, xr, cr = np.arange(I), np.arange(nR), np.arange(nC)
    # demand
    block(ri, ox + xr, np.ones(nR)); block(ar, ou + ar, np.ones(I))
    lo.append(np.ones(I)); hi.append(np.ones(I)); nrow += I
    # capacity, memory
    for coef in (P.a[routes], P.b[routes]):
        block(nrow + rc, ox + xr, coef); block(nrow + cr, oy + cr, -np.ones(nC))
        lo.append(np.full(nC, -INF)); hi.append(np.zeros(nC)); nrow += nC
    # error
    block(nrow + ri, ox + xr, inst.error[routes]); block(nrow + ar, ou + ar, inst.max_error)
    lo.append(np.full(I, -INF)); hi.append(inst.max_error.astype(float)); nrow += I
    has = np.isfinite(inst.e2e_slo)
    if has.any():
        dm = np.full(I, -1)
        dm[has] = np.arange(has.sum())
        sel = has[ri]
        block(nrow + dm[ri[sel]], ox + xr[sel], inst.e2e[routes][sel])
        block(nrow + dm[has], ou + ar[has], inst.e2e_slo[has])
        lo.append(np.full(int(has.sum()), -INF)); hi.append(inst.e2e_slo[has].astype(float)); nrow += int(has.sum())
    if np.isfinite(inst.budget):
        block(np.full(nC, nrow), oy + cr, inst.cost[cfg]); block(np.full(nJ, nrow), os_ + np.arange(nJ), inst.fixed_cost[models])
        lo.append([-INF]); hi.append([inst.budget]); nrow += 1
    k = inst.config_gpu[cfg]
    lim = np.isfinite(inst.available[k])
    if lim.any():
        ks = np.unique(k[lim])
        km = np.full(len(inst.gpu_ids), -1)
        km[ks] = np.arange(len(ks))
        block(nrow + km[k[lim]], oy + cr[lim], inst.gpus[cfg][lim].astype(float))
        lo.append(np.full(len(ks), -INF)); hi.append(inst.available[ks].astype(float)); nrow += len(ks)
    # open_replicas: y − Ymax·o ≤ 0
    block(nrow + cr, oy + cr, np.ones(nC)); block(nrow + cr, oo + cr, -ymax)
    lo.append(np.full(nC, -INF)); hi.append(np.zeros(nC)); nrow += nC
    # one_parallelism
    if P.one_par:
        d = inst.config_deployment[cfg]
        ds = np.unique(d)
        dmp = np.full(len(P.dep_configs), -1)
        dmp[ds] = np.arange(len(ds))
        block(nrow + dmp[d], oo + cr, np.ones(nC))
        lo.append(np.full(len(ds), -INF)); hi.append(np.ones(len(ds))); nrow += len(ds)
    # model_selected: o − s ≤ 0; Σ s ≤ max_models
    block(nrow + cr, oo + cr, np.ones(nC)); block(nrow + cr, os_ + jpos[inst.config_model[cfg]], -np.ones(nC))
    lo.append(np.full(nC, -INF)); hi.append(np.zeros(nC)); nrow += nC
    if inst.options.max_models is not None:
        block(np.full(nJ, nrow), os_ + np.arange(nJ), np.ones(nJ))
        lo.append([-INF]); hi.append([float(inst.options.max_models)]); nrow += 1
    # model_routes (a valid cut, as in the LP of .lp): Σ_{c of model j} x_ic − s_j ≤ 0 for every (i, j) with routes
    if (inst.fixed_cost[models] > 0).any() or inst.options.max_models is not None:
        pair = ri * nJ + jpos[inst.config_model[inst.route_c[routes]]]
        pairs, prow = np.unique(pair, return_inverse=True)
        block(nrow + prow, ox + xr, np.ones(nR)); block(nrow + np.arange(len(pairs)), os_ + pairs % nJ, -np.ones(len(pairs)))
        lo.append(np.full(len(pairs), -INF)); hi.append(np.zeros(len(pairs))); nrow += len(pairs)
    # open_routes for routes that put no load on c (zero-rate types): x ≤ o
    free = (P.a[routes] <= 0) & (P.b[routes] <= 0)
    if free.any():
        fr = np.flatnonzero(free)
        block(nrow + np.arange(len(fr)), ox + fr, np.ones(len(fr))); block(nrow + np.arange(len(fr)), oo + rc[fr], -np.ones(len(fr)))
        lo.append(np.full(len(fr), -INF)); hi.append(np.zeros(len(fr))); nrow += len(fr)
    cost = np.zeros(ncol)
    cost[ou:ou + I] = P.pen
    cost[oy:oy + nC] = inst.cost[cfg]
    cost[os_:os_ + nJ] = inst.fixed_cost[models]
    clo = np.zeros(ncol)
    chi = np.ones(ncol)
    chi[ou:ou + I] = inst.max_unserved
    chi[oy:oy + nC] = ymax
    integ = np.zeros(ncol, dtype=bool)
    integ[oy:] = True
    h = highs_model(cost, clo, chi, lo, hi, rows, cols, vals, integer=integ, options={
        "time_limit": float(time_limit), "mip_max_nodes": int(max_nodes), "mip_rel_gap": float(mip_gap),
        "mip_feasibility_tolerance": 1e-8, "primal_feasibility_tolerance": 1e-9, **(options or {})})
    start = None
    if incumbent is not None:
        y0, x0, u0 = incumbent
        on = np.zeros(inst.R, dtype=bool)
        on[routes] = True
        if np.all(np.isin(np.flatnonzero(y0 > 0), cfg)) and not (x0[~on] > 0).any():
            start = np.zeros(ncol)
            start[ox:ox + nR] = x0[routes]
            start[ou:ou + I] = u0
            start[oy:oy + nC] = y0[cfg]
            start[oo:oo + nC] = (y0[cfg] > 0)
            start[os_:os_ + nJ] = np.bincount(jpos[inst.config_model[cfg]], weights=(y0[cfg] > 0), minlength=nJ) > 0
    info, col = _run(h, start)
    stats = {"configs": int(nC), "routes": int(nR), **_outcome(h, info), "presolve_off_rerun": False}
    if col is not None and not _consistent(cost, col, info) and (options or {}).get("presolve") != "off":
        # HiGHS said "optimal" at an objective its own solution does not have (HiGHS 1.16 with a MIP start and
        # presolve, docs/heuristics.md): its search cut off better plans, so solve again without presolve
        h.setOptionValue("presolve", "off")
        h.clearSolver()
        nodes = stats["nodes"]
        info, col = _run(h, start)
        stats.update(_outcome(h, info), presolve_off_rerun=True)
        stats["nodes"] += nodes
    if col is None:  # no feasible solution
        return None, stats
    x = np.zeros(inst.R)
    x[routes] = np.clip(col[ox:ox + nR], 0.0, 1.0)
    u = np.clip(col[ou:ou + I], 0.0, inst.max_unserved)
    y = np.zeros(inst.C, dtype=np.int64)
    y[cfg] = np.round(col[oy:oy + nC]).astype(np.int64)
    return (y, x, u), stats


def _run(h: highspy.Highs, start: np.ndarray | None):
    """Run ``h`` from the MIP start ``start`` (if any); returns (info, column values or None without a solution)."""
    if start is not None:
        hs = highspy.HighsSolution()
        hs.col_value = start
        hs.value_valid = True
        h.setSolution(hs)
    h.run()
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return info, None
    return info, np.asarray(h.getSolution().col_value)


def _outcome(h: highspy.Highs, info) -> dict:
    """Status, nodes, objective and bound of the last run of ``h``."""
    return {"status": h.modelStatusToString(h.getModelStatus()), "nodes": int(info.mip_node_count),
            "objective": float(info.objective_function_value), "bound": float(info.mip_dual_bound)}


def _consistent(cost: np.ndarray, col: np.ndarray, info) -> bool:
    """Whether HiGHS's reported objective is the objective of the solution it returned (our arithmetic)."""
    ours = float(cost @ col)
    return abs(ours - float(info.objective_function_value)) <= 1e-6 * max(1.0, abs(ours))


def candidate_configs(P: Prepared, supports: list[np.ndarray], route_rc: np.ndarray | None,
                      max_configs: int, per_type: int = 2) -> np.ndarray:
    """Configurations for the restricted MILP: every configuration in ``supports`` (the LP support,
    heuristic plans), the other TP/PP settings of their deployments, per query type the ``per_type``
    configurations that serve it alone most cheaply *in whole replicas* (routes meeting its error and
    delay limits on their own, cost_c·⌈max(a_r, b_r)⌉ — what the LP, pricing replicas pro rata, cannot
    see when demands are small), then the configurations whose best route has the smallest LP
    reduced cost (``route_rc``), up to ``max_configs``."""
    inst = P.inst
    if inst.C <= max_configs:
        return np.arange(inst.C)
    base = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in supports] + [np.zeros(0, np.int64)]))
    chosen = np.zeros(inst.C, dtype=bool)
    chosen[base] = True
    if P.one_par and len(base):
        for d in np.unique(inst.config_deployment[base]):
            sib = P.dep_configs[d]
            if chosen.sum() + len(sib) > max_configs:
                break
            chosen[sib] = True
    if per_type > 0:
        whole = inst.cost[inst.route_c] * np.ceil(np.maximum(P.a, P.b) - 1e-9)
        whole = np.where(P.anchor_value <= 0, whole, np.inf)
        for rt in P.type_routes:  # each pre-sorted by unit cost: stable ties
            if chosen.sum() >= max_configs or len(rt) == 0:
                continue
            w = whole[rt]
            pick = rt[np.argsort(w, kind="stable")[:per_type]]
            pick = pick[np.isfinite(whole[pick])]
            cs = inst.route_c[pick]
            cs = cs[~chosen[cs]][:max(0, max_configs - int(chosen.sum()))]
            chosen[cs] = True
    if route_rc is not None and chosen.sum() < max_configs:
        score = np.full(inst.C, np.inf)
        np.minimum.at(score, inst.route_c, route_rc)
        score[chosen] = np.inf
        order = np.argsort(score, kind="stable")
        order = order[np.isfinite(score[order])]
        chosen[order[:max(0, max_configs - int(chosen.sum()))]] = True
    return np.flatnonzero(chosen)


def route_subset(P: Prepared, configs: np.ndarray, route_rc: np.ndarray | None, per_type: int,
                 keep: list[np.ndarray] = (), full: np.ndarray | None = None,
                 hubs: np.ndarray | None = None, per_hub: int = 0) -> np.ndarray:
    """Route ids for the restricted MILP, on the candidate ``configs``: per query type the ``per_type``
    routes of smallest LP reduced cost (``route_rc``), its cheapest route (pro rata) on each model and on
    each GPU type, its most accurate route and its best anchor (error and delay together); every route in
    ``keep`` (the starts' routes, so that their plans stay feasible); and every route of the
    configurations in ``full``; and, with ``per_hub``, its ``per_hub`` LP-best routes onto the ``hubs``
    (the configurations the LP relaxation opens). The per-model and per-GPU picks are what LP reduced
    costs miss when fixed costs make the relaxation a poor guide; the hub picks what they miss when GPUs
    are scarce: the integer optimum fills the spare capacity that rounding a hub up creates with types
    whose own LP-best routes lie elsewhere."""
    inst = P.inst
    on = np.zeros(inst.C, dtype=bool)
    on[np.asarray(configs, dtype=np.int64)] = True
    chosen = np.zeros(inst.R, dtype=bool)
    for k in keep:
        chosen[np.asarray(k, dtype=np.int64)] = True
    if full is not None:
        for c in np.asarray(full, dtype=np.int64):
            chosen[P.config_routes[c]] = True
    score = P.unit if route_rc is None else route_rc
    hub = np.zeros(inst.C, dtype=bool)
    if hubs is not None:
        hub[np.asarray(hubs, dtype=np.int64)] = True
    cm, cg = inst.config_model, inst.config_gpu
    for rt in P.type_routes:  # each sorted by unit cost: the first route of a group is its cheapest
        rt = rt[on[inst.route_c[rt]]]
        if len(rt) <= per_type:
            chosen[rt] = True
            continue
        chosen[rt[np.argsort(score[rt], kind="stable")[:per_type]]] = True
        if per_hub > 0:
            hr = rt[hub[inst.route_c[rt]]]
            chosen[hr[np.argsort(score[hr], kind="stable")[:per_hub]]] = True
        chosen[rt[int(np.argmin(inst.error[rt]))]] = True
        chosen[rt[int(np.argmin(P.anchor_value[rt]))]] = True
        for grp in (cm[inst.route_c[rt]], cg[inst.route_c[rt]]):
            _, first = np.unique(grp, return_index=True)
            chosen[rt[first]] = True
    chosen &= on[inst.route_c]
    return np.flatnonzero(chosen)
