"""The LP relaxation of the MILP (docs/formulation.md §3) on the numpy ``Instance``, solved with ``highspy``.

Columns: x_r ∈ [0, 1] per route, u_i ∈ [0, ζ_i], y_c ∈ [0, Ymax_c] (continuous) and, when fixed
costs or ``max_models`` matter, s_j ∈ [0, 1]. Rows are the MILP's rows with the binaries o_c
eliminated through y_c ≤ Ymax_c·o_c (so o_c ≥ y_c/Ymax_c):

- demand       Σ_r x_r + u_i = 1
- capacity     Σ_r a_r x_r − y_c ≤ 0          (a_r = ``Instance.cap_load``/ρ̄)
- memory       Σ_r b_r x_r − y_c ≤ 0          (b_r = ``Instance.mem_load``/KV_c)
- error        Σ_r e_r x_r + ε_i u_i ≤ ε_i
- delay        Σ_r e2e_r x_r + E2E_i u_i ≤ E2E_i   (types with an e2e SLO)
- budget       Σ_c cost_c y_c + Σ_j F_j s_j ≤ B
- availability Σ_{c∈C_k} gpus_c y_c ≤ A_k
- one_parallelism Σ_{c∈C_d} y_c/Ymax_c ≤ 1
- model_selected  y_c/Ymax_c − s_j ≤ 0 ;  Σ_j s_j ≤ max_models
- model_routes    Σ_{c of model j} x_ic − s_j ≤ 0  (∀ i, j; a valid cut: in the MILP x_ic ≤ o_c ≤ s_j
                  and Σ_c x_ic ≤ 1; it makes the relaxation pay the fixed cost F_j in proportion to the
                  largest share of a type sent to model j, where y_c/Ymax_c ≤ s_j alone charges almost none)

Every coefficient is read from the same compiled tables the MILP reads (``Instance.cap_load``,
``mem_load``, ``ymax``, ``cost``, ``objective``'s penalty 3600·φ·λ), so the LP optimum is a valid
lower bound on the MILP optimum and LP infeasibility proves MILP infeasibility.

**Column generation.** The full LP has one column per route (≈ 35 000 on preset L, 90 000 on XL)
and takes seconds; its optimum uses a few dozen. :class:`RelaxedLP` starts from a small route
subset per type (cheapest per GPU type, most accurate, fastest) plus one artificial "uncovered"
column per type (demand, error and delay coefficients of u, cost ``BIG``), so the restricted LP
is always feasible, and adds the routes whose reduced cost c_r − A_rᵀπ is negative (computed for all
routes at once with numpy from the row duals π) until none is left: then the restricted optimum is
the optimum of the full LP. If an artificial column is still used at that point, the full LP is
solved to decide feasibility exactly (no big-M argument is relied on).

Bounds on y can be changed and the LP re-solved warm (dual simplex from the previous basis):
that is what the rounding dive of :mod:`.lpround` does.
"""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from ..highs import column_model, new_highs
from .core import Prepared

INF = highspy.kHighsInf
#: cost of an artificial "uncovered" unit fraction, relative to the largest $/h in the instance
BIG_FACTOR = 1e3
#: reduced-cost threshold for adding a column
RC_TOL = 1e-9


@dataclass
class LPResult:
    ok: bool  # optimal and no artificial column used
    status: str  # "optimal" | "infeasible" | HiGHS status text
    objective: float
    x: np.ndarray  # R (zeros outside the column subset)
    u: np.ndarray  # I
    y: np.ndarray  # C (continuous)
    route_rc: np.ndarray | None = None  # R: reduced cost of carrying all of i on c at pro-rata price


def initial_routes(P: Prepared, per_gpu: int = 2) -> np.ndarray:
    """A small starting column set: per type, the ``per_gpu`` cheapest routes on each GPU type
    (pro-rata cost), the most accurate, the fastest and the best anchor (error and delay together)."""
    inst = P.inst
    picks = []
    for i in range(inst.I):
        rt = P.type_routes[i]  # sorted by unit cost
        if len(rt) == 0:
            continue
        k = inst.config_gpu[inst.route_c[rt]]
        # first `per_gpu` routes of each GPU type in unit-cost order
        order = np.argsort(k, kind="stable")
        ks = k[order]
        first = np.searchsorted(ks, ks, side="left")
        rank = np.arange(len(ks)) - first
        picks.append(rt[order[rank < per_gpu]])
        picks.append(rt[[int(np.argmin(inst.error[rt])), int(np.argmin(inst.e2e[rt])),
                         int(np.argmin(P.anchor_value[rt]))]])
        # cheapest route that meets error and delay alone
        ok = rt[P.anchor_value[rt] <= 0]
        if len(ok):
            picks.append(ok[:1])
    if not picks:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(picks)).astype(np.int64)


def highs_model(cost, col_lower, col_upper, row_lower: list, row_upper: list, rows: list, cols: list, vals: list,
                integer=None, options: dict | None = None) -> highspy.Highs:
    """A silent, seeded ``highspy.Highs`` holding min cost·z s.t. row_lower ≤ A z ≤ row_upper, bounds.

    A is given as lists of COO triplet blocks (rows, cols, vals) (:func:`sloserve.solvers.highs.column_model`);
    ``integer`` marks integer columns (bool array), ``options`` are HiGHS options set before the model
    is passed.
    """
    h = new_highs()
    for k, val in (options or {}).items():
        h.setOptionValue(k, val)
    return column_model(h, cost, col_lower, col_upper, row_lower, row_upper, rows, cols, vals, integer=integer)


class RelaxedLP:
    """The LP relaxation, over a growing subset of route columns (column generation)."""

    def __init__(self, P: Prepared, routes: np.ndarray | None = None, *, column_generation: bool = True):
        inst = P.inst
        self.P = P
        I, C = inst.I, inst.C
        J = len(inst.model_ids)
        self.cg = column_generation
        if routes is None:
            routes = initial_routes(P) if column_generation else np.arange(inst.R)
        ymax = inst.ymax.astype(float)
        self.ymax = ymax
        self.use_s = bool((inst.fixed_cost > 0).any()
                          or (inst.options.max_models is not None and inst.options.max_models < J))
        self.big = BIG_FACTOR * max(1.0, float(inst.cost.max(initial=0.0)), float(P.pen.max(initial=0.0)),
                                    float(inst.fixed_cost.max(initial=0.0)))
        # column layout: u (I) | z artificial (I) | y (C) | s (J, optional) | x (routes, appended)
        self.ou, self.oz, self.oy = 0, I, 2 * I
        self.os = 2 * I + C
        self.ox = self.os + (J if self.use_s else 0)
        # row layout
        self.row_dem = 0
        self.row_cap = I
        self.row_mem = I + C
        self.row_err = I + 2 * C
        has = np.isfinite(inst.e2e_slo)
        self.has_delay = has
        self.dmap = np.full(I, -1, dtype=np.int64)
        self.dmap[has] = self.row_err + I + np.arange(has.sum())
        nrow = self.row_err + I + int(has.sum())
        rows, cols, vals, lo, hi = [], [], [], [], []

        def block(r, c, v):
            rows.append(np.asarray(r, dtype=np.int64))
            cols.append(np.asarray(c, dtype=np.int64))
            vals.append(np.asarray(v, dtype=float))

        ar = np.arange(I)
        lo += [np.ones(I), np.full(2 * C, -INF), np.full(I, -INF), np.full(int(has.sum()), -INF)]
        hi += [np.ones(I), np.zeros(2 * C), inst.max_error.astype(float), inst.e2e_slo[has].astype(float)]
        for off in (self.ou, self.oz):  # u and the artificial z have the same rows
            block(self.row_dem + ar, off + ar, np.ones(I))
            block(self.row_err + ar, off + ar, inst.max_error)
            block(self.dmap[has], off + ar[has], inst.e2e_slo[has])
        block(self.row_cap + np.arange(C), self.oy + np.arange(C), -np.ones(C))
        block(self.row_mem + np.arange(C), self.oy + np.arange(C), -np.ones(C))
        if np.isfinite(inst.budget):
            block(np.full(C, nrow), self.oy + np.arange(C), inst.cost)
            if self.use_s:
                block(np.full(J, nrow), self.os + np.arange(J), inst.fixed_cost)
            lo.append([-INF]); hi.append([inst.budget])
            nrow += 1
        lim = np.flatnonzero(np.isfinite(inst.available))
        if len(lim):
            kmap = np.full(len(inst.gpu_ids), -1)
            kmap[lim] = np.arange(len(lim))
            sel = kmap[inst.config_gpu] >= 0
            block(nrow + kmap[inst.config_gpu[sel]], self.oy + np.flatnonzero(sel), inst.gpus[sel].astype(float))
            lo.append(np.full(len(lim), -INF)); hi.append(inst.available[lim].astype(float))
            nrow += len(lim)
        inv = 1.0 / np.maximum(ymax, 1.0)
        if inst.options.one_parallelism_per_deployment:
            multi = [d for d, cf in enumerate(P.dep_configs) if len(cf) > 1]
            if multi:
                dm = np.full(len(P.dep_configs), -1)
                dm[multi] = np.arange(len(multi))
                sel = dm[inst.config_deployment] >= 0
                block(nrow + dm[inst.config_deployment[sel]], self.oy + np.flatnonzero(sel), inv[sel])
                lo.append(np.full(len(multi), -INF)); hi.append(np.ones(len(multi)))
                nrow += len(multi)
        self.row_mcut = -1
        if self.use_s:
            block(nrow + np.arange(C), self.oy + np.arange(C), inv)
            block(nrow + np.arange(C), self.os + inst.config_model, -np.ones(C))
            lo.append(np.full(C, -INF)); hi.append(np.zeros(C))
            nrow += C
            if inst.options.max_models is not None:
                block(np.full(J, nrow), self.os + np.arange(J), np.ones(J))
                lo.append([-INF]); hi.append([float(inst.options.max_models)])
                nrow += 1
            # model_routes (a valid cut, from open_routes and model_selected): Σ_{c of model j} x_ic ≤ s_j
            self.row_mcut = nrow
            block(nrow + np.arange(I * J), self.os + np.tile(np.arange(J), I), -np.ones(I * J))
            lo.append(np.full(I * J, -INF)); hi.append(np.zeros(I * J))
            nrow += I * J
        self.J = J
        ncol = self.ox
        cost = np.zeros(ncol)
        cost[self.ou:self.ou + I] = P.pen
        cost[self.oz:self.oz + I] = self.big
        cost[self.oy:self.oy + C] = inst.cost
        if self.use_s:
            cost[self.os:self.os + J] = inst.fixed_cost
        clo = np.zeros(ncol)
        chi = np.ones(ncol)
        chi[self.ou:self.ou + I] = inst.max_unserved
        chi[self.oy:self.oy + C] = ymax
        if not column_generation:  # the exact LP: no artificial columns
            chi[self.oz:self.oz + I] = 0.0
        self.h = highs_model(cost, clo, chi, lo, hi, rows, cols, vals)
        self.nrow = nrow
        self.col_of = np.full(inst.R, -1, dtype=np.int64)  # route -> column index (or -1)
        self.routes = np.zeros(0, dtype=np.int64)
        self.y_lo = np.zeros(C)
        self.y_hi = ymax.copy()
        self.pricing_rounds = 0
        self.add_routes(routes)

    # ---- columns -------------------------------------------------------------------------------
    def add_routes(self, routes: np.ndarray) -> None:
        routes = np.asarray(routes, dtype=np.int64)
        routes = np.unique(routes[self.col_of[routes] < 0])
        if len(routes) == 0:
            return
        P, inst = self.P, self.P.inst
        i, c = inst.route_i[routes], inst.route_c[routes]
        has = self.has_delay[i]
        n = len(routes)
        # rows per column: demand, capacity, memory, error, [delay]
        rr = [self.row_dem + i, self.row_cap + c, self.row_mem + c, self.row_err + i, np.where(has, self.dmap[i], -1)]
        vv = [np.ones(n), P.a[routes], P.b[routes], inst.error[routes], inst.e2e[routes]]
        if self.row_mcut >= 0:
            rr.append(self.row_mcut + i * self.J + inst.config_model[c])
            vv.append(np.ones(n))
        rr, vv = np.stack(rr, axis=1), np.stack(vv, axis=1)
        ok = (rr >= 0) & (vv != 0)
        cnt = ok.sum(axis=1)
        starts = np.concatenate(([0], np.cumsum(cnt)[:-1])).astype(np.int32)
        idx = rr[ok].astype(np.int32)
        val = vv[ok]
        first = self.h.getNumCol()
        self.h.addCols(n, np.zeros(n), np.zeros(n), np.ones(n), int(ok.sum()), starts, idx, val)
        self.col_of[routes] = first + np.arange(n)
        self.routes = np.concatenate([self.routes, routes])

    def reduced_costs(self, row_dual: np.ndarray, col_value: np.ndarray | None = None,
                      col_dual: np.ndarray | None = None) -> np.ndarray:
        """c_r − A_rᵀπ for every route (c_r = 0 for x).

        Closed configurations (y_c = 0) make the restricted LP dual-degenerate: their capacity and
        memory duals may sit anywhere between 0 and −(reduced cost of y_c) without losing optimality.
        When ``col_value``/``col_dual`` are given, that slack is spent on the rows of every closed
        configuration (split between capacity and memory to maximise its routes' smallest reduced
        cost) — still an optimal dual of the restricted LP, and it prices far fewer routes in.
        """
        P, inst = self.P, self.P.inst
        i, c = inst.route_i, inst.route_c
        d = (row_dual[self.row_dem + i] + P.a * row_dual[self.row_cap + c] + P.b * row_dual[self.row_mem + c]
             + inst.error * row_dual[self.row_err + i])
        if self.row_mcut >= 0:
            d = d + row_dual[self.row_mcut + i * self.J + inst.config_model[c]]
        if self.has_delay.any():
            dd = np.where(self.has_delay[i], row_dual[np.maximum(self.dmap[i], 0)], 0.0)
            d = d + inst.e2e * dd
        rc = -d
        if col_value is not None and col_dual is not None:
            C = inst.C
            yv = col_value[self.oy:self.oy + C]
            slack = np.where(yv <= 1e-12, np.maximum(col_dual[self.oy:self.oy + C], 0.0), 0.0)
            if (slack > 0).any():
                best = np.full(inst.R, -np.inf)
                best_min = np.full(C, -np.inf)
                for lam in (1.0, 0.5, 0.0, 0.9, 0.1):
                    cand = rc + slack[c] * (lam * P.a + (1 - lam) * P.b)
                    mn = np.full(C, np.inf)
                    np.minimum.at(mn, c, cand)
                    better = mn > best_min + 1e-15
                    best_min = np.where(better, mn, best_min)
                    best = np.where(better[c], cand, best)
                rc = best
        return rc

    # ---- bounds ---------------------------------------------------------------------------------
    def set_y_bounds(self, c, lo, hi) -> None:
        c = np.atleast_1d(np.asarray(c, dtype=np.int64))
        if len(c) == 0:
            return
        lo = np.broadcast_to(np.asarray(lo, dtype=float), c.shape).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=float), c.shape).copy()
        self.y_lo[c], self.y_hi[c] = lo, hi
        self.h.changeColsBounds(len(c), (self.oy + c).astype(np.int32), lo, hi)

    def set_s_lower(self, j: int, lo: float) -> None:
        if self.use_s:
            self.h.changeColBounds(int(self.os + j), float(lo), 1.0)

    # ---- solving --------------------------------------------------------------------------------
    def _run(self) -> tuple[bool, str]:
        self.h.run()
        ms = self.h.getModelStatus()
        return ms == highspy.HighsModelStatus.kOptimal, self.h.modelStatusToString(ms)

    def solve(self, max_rounds: int = 200, per_type: int = 4, price: bool = True) -> LPResult:
        """Optimise, pricing in routes until no reduced cost is negative (column generation);
        ``price=False`` optimises over the current columns only."""
        inst = self.P.inst
        for n in range(max_rounds + 1):
            ok, status = self._run()
            if not ok:
                return self._fail(status)
            if not (self.cg and price) or n == max_rounds:
                break
            sol = self.h.getSolution()
            rc = self.reduced_costs(np.asarray(sol.row_dual), np.asarray(sol.col_value), np.asarray(sol.col_dual))
            rc[self.col_of >= 0] = 0.0
            neg = np.flatnonzero(rc < -RC_TOL * max(1.0, self.big))
            if len(neg) == 0:
                break
            self.pricing_rounds += 1
            # the `per_type` most negative per type (keeps the restricted LP small)
            neg = neg[np.lexsort((rc[neg], inst.route_i[neg]))]
            ti = inst.route_i[neg]
            first = np.searchsorted(ti, ti, side="left")
            neg = neg[(np.arange(len(neg)) - first) < per_type]
            self.add_routes(neg)
        sol = self.h.getSolution()
        col = np.asarray(sol.col_value)
        I = inst.I
        z = col[self.oz:self.oz + I]
        if (z > 1e-9).any():
            return LPResult(False, "infeasible", np.inf, np.zeros(inst.R), np.zeros(I), np.zeros(inst.C))
        x = np.zeros(inst.R)
        x[self.routes] = np.clip(col[self.col_of[self.routes]], 0.0, 1.0)
        u = np.clip(col[self.ou:self.ou + I], 0.0, inst.max_unserved)
        y = np.clip(col[self.oy:self.oy + inst.C], 0.0, None)
        obj = float(self.h.getInfo().objective_function_value)
        pi = np.asarray(sol.row_dual)
        err = pi[self.row_err + inst.route_i] * inst.error
        dl = np.where(self.has_delay[inst.route_i], pi[np.maximum(self.dmap[inst.route_i], 0)] * inst.e2e, 0.0)
        value = pi[self.row_dem + inst.route_i] + err + dl  # what one unit fraction of i is worth on route r
        if self.row_mcut >= 0:
            value = value + pi[self.row_mcut + inst.route_i * self.J + inst.config_model[inst.route_c]]
        route_rc = self.P.unit - value
        return LPResult(True, "optimal", obj, x, u, y, route_rc)

    def _fail(self, status: str) -> LPResult:
        inst = self.P.inst
        return LPResult(False, status, np.inf, np.zeros(inst.R), np.zeros(inst.I), np.zeros(inst.C))


def lower_bound(P: Prepared) -> LPResult:
    """The LP relaxation's optimum over all routes (a valid lower bound; ``ok`` False ⇒ the MILP is
    infeasible). Column generation first; if it ends with uncovered traffic, the full LP decides."""
    res = RelaxedLP(P).solve()
    if res.ok:
        return res
    return RelaxedLP(P, column_generation=False).solve()
