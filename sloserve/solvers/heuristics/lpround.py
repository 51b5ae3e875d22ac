"""LP-guided construction: round the LP relaxation (:mod:`.lp`) to an integer plan by a *dive*,
then improve it with *routing LPs* (y fixed, x and u free).

Dive. Solve the relaxation; repeatedly take the free configuration with the largest fractional
spend cost_c·y_c, fix y_c to ⌈y_c⌉ (or ⌊y_c⌋ when the fractional part is small), and re-solve warm:
the LP re-routes traffic into the spare capacity that rounding up created and away from the
configurations rounded down. Fixing a configuration open also fixes its deployment's other TP/PP
settings closed (one_parallelism), its model selected (s_j ≥ 1, fixed costs) and, once
``max_models`` models are selected, every other model closed. A fix that makes the LP infeasible
is replaced by the other rounding direction; if both fail the dive gives up (the greedy
constructions remain). After the dive every y is an integer and the LP's routing is feasible.

Trim. With all y fixed, the LP over (x, u) is the cheapest routing for those replicas, using all
spare capacity. For open configurations in order of rounding waste (idle replica share × cost),
try y_c − 1 (closing c at 0) and keep the change when the routing LP stays feasible and cheaper.

Both steps read the same compiled arrays as the MILP (through :class:`~.lp.RelaxedLP`), and the
resulting (x, u) is turned into a :class:`~.core.State` (y re-derived with
``Instance.replicas_needed``) for the local search of :mod:`.agh`.
"""
from __future__ import annotations

import time

import numpy as np

from ...checker import check_arrays
from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.routable import unroutable_types
from ..methods import PlanCheckFailed
from .core import EPS_FRACTION, Prepared, State, finish, reload_config
from .lp import LPResult, RelaxedLP, lower_bound
from .submip import candidate_configs, restricted_mip, route_subset

INT_TOL = 1e-6


def _is_int(v: np.ndarray) -> np.ndarray:
    return np.abs(v - np.round(v)) <= INT_TOL


class Dive:
    """Bound changes on a :class:`RelaxedLP` with undo (one record per fix)."""

    def __init__(self, P: Prepared, lp: RelaxedLP):
        self.P, self.lp = P, lp
        inst = P.inst
        self.fixed = np.zeros(inst.C, dtype=bool)
        self.selected = np.zeros(len(inst.model_ids), dtype=bool)

    def fix(self, c: int, v: int) -> list:
        """Fix y_c = v (and its implications); returns an undo record."""
        P, lp, inst = self.P, self.lp, self.P.inst
        rec = [("y", np.array([c]), lp.y_lo[[c]].copy(), lp.y_hi[[c]].copy(), self.fixed[[c]].copy())]
        lp.set_y_bounds([c], v, v)
        self.fixed[c] = True
        if v >= 1:
            if P.one_par:
                others = P.dep_configs[inst.config_deployment[c]]
                others = others[(others != c) & ~self.fixed[others]]
                if len(others):
                    rec.append(("y", others, lp.y_lo[others].copy(), lp.y_hi[others].copy(), self.fixed[others].copy()))
                    lp.set_y_bounds(others, 0.0, 0.0)
                    self.fixed[others] = True
            j = int(inst.config_model[c])
            if not self.selected[j]:
                rec.append(("s", j))
                self.selected[j] = True
                lp.set_s_lower(j, 1.0)
                if self.selected.sum() >= P.max_models:
                    rest = np.flatnonzero(~self.selected[inst.config_model] & ~self.fixed)
                    if len(rest):
                        rec.append(("y", rest, lp.y_lo[rest].copy(), lp.y_hi[rest].copy(), self.fixed[rest].copy()))
                        lp.set_y_bounds(rest, 0.0, 0.0)
                        self.fixed[rest] = True
        return rec

    def undo(self, rec: list) -> None:
        for item in reversed(rec):
            if item[0] == "y":
                _, cs, lo, hi, fx = item
                self.lp.set_y_bounds(cs, lo, hi)
                self.fixed[cs] = fx
            else:
                j = item[1]
                self.selected[j] = False
                self.lp.set_s_lower(j, 0.0)


def dive(P: Prepared, *, rng: np.random.Generator | None = None, noise: float = 0.0, down_below: float = 0.2,
         deadline: float = np.inf, lp: RelaxedLP | None = None, first: LPResult | None = None,
         max_rounds: int = 20, tiny: float = 0.05, max_steps: int = 25) -> tuple[LPResult | None, RelaxedLP, dict]:
    """Round the LP relaxation by fixing one configuration at a time; returns (final LP result with
    integer y, the LP, stats) or (None, lp, stats) when it got stuck."""
    inst = P.inst
    lp = lp or RelaxedLP(P)
    res = first if first is not None else lp.solve()
    stats = {"lp_bound": res.objective if res.ok else None, "lp_solves": 1, "backtracks": 0}
    if not res.ok:
        return None, lp, stats
    D = Dive(P, lp)
    for step in range(4 * inst.C + 10):
        if time.perf_counter() > deadline:
            return None, lp, stats
        y = res.y
        free = ~D.fixed
        cand = np.flatnonzero(free & (y > INT_TOL))
        if len(cand) == 0:
            break
        frac = cand[~_is_int(y[cand])]
        if len(frac) == 0:  # all integral: fix them as they are
            rec = []
            for c in cand:
                if not D.fixed[c]:
                    rec += D.fix(int(c), int(round(y[c])))
            res = lp.solve(max_rounds=max_rounds)
            stats["lp_solves"] += 1
            if not res.ok:  # fixing implications broke it (should not happen): undo and stop
                D.undo(rec)
                return None, lp, stats
            continue
        if step >= max_steps:  # budget spent: round every remaining fractional configuration up at once
            rec = []
            for c in frac:
                if not D.fixed[c]:
                    rec += D.fix(int(c), int(np.ceil(y[c] - INT_TOL)))
            res = lp.solve(max_rounds=max_rounds)
            stats["lp_solves"] += 1
            if not res.ok:
                return None, lp, stats
            continue
        score = inst.cost[frac] * y[frac]
        if noise > 0 and rng is not None:
            score = score * np.exp(noise * rng.standard_normal(len(frac)))
        c = int(frac[np.argmax(score)])
        lo_v, hi_v = int(np.floor(y[c])), int(np.ceil(y[c]))
        f = y[c] - lo_v
        tries = (lo_v, hi_v) if f < down_below else (hi_v, lo_v)
        # configurations carrying a sliver (y < ``tiny``) are closed in the same step; without this
        # the LP keeps spreading slivers over fresh configurations and the dive takes ~C steps
        tiny_c = frac[(y[frac] < tiny) & (frac != c)]
        for n, v in enumerate(tries):
            rec = D.fix(c, v)
            if n == 0 and len(tiny_c):
                tiny_c = tiny_c[~D.fixed[tiny_c]]
                rec.append(("y", tiny_c, lp.y_lo[tiny_c].copy(), lp.y_hi[tiny_c].copy(), D.fixed[tiny_c].copy()))
                lp.set_y_bounds(tiny_c, 0.0, 0.0)
                D.fixed[tiny_c] = True
            res = lp.solve(max_rounds=max_rounds)
            stats["lp_solves"] += 1
            if res.ok:
                break
            D.undo(rec)
            stats["backtracks"] += 1
        else:
            return None, lp, stats
    # close everything still free (at y = 0) so the LP is a pure routing LP
    rest = np.flatnonzero(~D.fixed)
    if len(rest):
        lp.set_y_bounds(rest, 0.0, 0.0)
        D.fixed[rest] = True
        res = lp.solve(max_rounds=max_rounds)
        stats["lp_solves"] += 1
        if not res.ok:
            return None, lp, stats
    return res, lp, stats


def trim(P: Prepared, lp: RelaxedLP, res: LPResult, *, deadline: float = np.inf, max_tries: int | None = None
         ) -> tuple[LPResult, int]:
    """y_c − 1 trials with the routing LP (all y fixed); returns (result, replicas removed)."""
    inst = P.inst
    removed = 0
    y = np.round(lp.y_hi).astype(np.int64)
    # with y fixed only routes to open configurations matter: add them all, then no pricing is needed
    opened = np.flatnonzero(y > 0)
    if len(opened):
        lp.add_routes(np.concatenate([P.config_routes[c] for c in opened]))
    tried = np.zeros(inst.C, dtype=bool)
    n_tries = 0
    while True:
        load = np.maximum(np.bincount(inst.route_c, weights=P.a * res.x, minlength=inst.C),
                          np.bincount(inst.route_c, weights=P.b * res.x, minlength=inst.C))
        waste = (y - load) * inst.cost
        cand = np.flatnonzero((y >= 1) & ~tried)
        if len(cand) == 0 or time.perf_counter() > deadline or (max_tries is not None and n_tries >= max_tries):
            break
        c = int(cand[np.argmax(waste[cand])])
        tried[c] = True
        n_tries += 1
        lp.set_y_bounds([c], y[c] - 1, y[c] - 1)
        new = lp.solve(price=False)
        if new.ok and new.objective < res.objective - 1e-9 * max(1.0, abs(res.objective)):
            y[c] -= 1
            res = new
            removed += 1
            tried[:] = y < 1  # traffic moved: every open configuration may shrink again
        else:
            lp.set_y_bounds([c], y[c], y[c])
    res = lp.solve(price=False)  # the accepted bounds (the last trial may have failed)
    return res, removed


def state_from_arrays(P: Prepared, x: np.ndarray, u: np.ndarray) -> State:
    """A complete :class:`State` carrying routing ``x`` and unserved ``u`` (y = smallest integers)."""
    inst = P.inst
    x = np.where(x > EPS_FRACTION, x, 0.0)
    u = np.clip(np.where(u > EPS_FRACTION, u, 0.0), 0.0, inst.max_unserved)
    # exact demand: scale each type's routed share so that Σx + u = 1
    routed = np.bincount(inst.route_i, weights=x, minlength=inst.I)
    want = 1.0 - u
    scale = np.where(routed > 0, want / np.where(routed > 0, routed, 1.0), 1.0)
    x = x * scale[inst.route_i]
    st = State(P)
    st.x = x
    st.u = u.copy()
    st.rem = np.where(routed > 0, 0.0, want)
    st.serr = np.bincount(inst.route_i, weights=P.s * x, minlength=inst.I)
    st.sdel = np.bincount(inst.route_i, weights=P.g * x, minlength=inst.I)
    for c in np.unique(inst.route_c[x > 0]):
        reload_config(P, st, int(c))
    return st


#: GH's fallback restricted MILP (only when the greedy and the dive both got stuck)
FALLBACK_MIP_CONFIGS = 400


def verified(inst: Instance, st: State, P: Prepared, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x, u = finish(P, st)
    bad = check_arrays(inst, y, x, u)
    if bad:  # a bug in the heuristic, never the user's fault
        raise PlanCheckFailed(f"{who} built a plan the checker rejects: " + "; ".join(map(str, bad[:5])))
    return y, x, u


def clean_state(P: Prepared, x: np.ndarray, u: np.ndarray) -> State | None:
    """A complete State from LP/MIP arrays, or None when it is incomplete or the checker rejects it."""
    st = state_from_arrays(P, x, u)
    if (st.rem > 1e-7).any():
        return None
    y, xx, uu = finish(P, st)
    return None if check_arrays(P.inst, y, xx, uu) else st


def lp_infeasible(P: Prepared, diagnosis: list[str], who: str) -> InfeasibleError:
    lines = list(diagnosis) + unroutable_types(P.inst)
    lines.append("the LP relaxation (the MILP with integrality dropped) is infeasible, so no plan exists: relax "
                 "error limits, SLOs, budget, GPU availability or max_models, or allow unserved traffic")
    return InfeasibleError(f"{who}: the problem has no feasible plan", diagnosis=lines)


def lp_round(P: Prepared, root_lp: RelaxedLP | None = None, root=None, *, deadline: float = np.inf,
              max_configs: int = FALLBACK_MIP_CONFIGS, mip_nodes: int = 500, dive_steps: int = 25,
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
            raise lp_infeasible(P, diagnosis or [], who)
        root_lp, root = None, exact
    info["lp_bound"] = root.objective
    res, lp, dstats = dive(P, first=root if root_lp is not None else None, lp=root_lp, deadline=deadline,
                           max_steps=dive_steps)
    if res is not None:
        res, _ = trim(P, lp, res, deadline=deadline, max_tries=2 * dive_steps)
        st = clean_state(P, res.x, res.u)
        if st is not None:
            info["rounding"] = "dive"
            return st, info
    cand = candidate_configs(P, [np.flatnonzero(root.y > 1e-9)], root.route_rc, max_configs)
    routes = route_subset(P, cand, root.route_rc, 8, keep=[np.flatnonzero(root.x > 1e-9)])
    sol, mstats = restricted_mip(P, cand, time_limit=max(deadline - time.perf_counter(), 1.0)
                                 if np.isfinite(deadline) else 60.0, max_nodes=mip_nodes, routes=routes,
                                 options={"mip_max_improving_sols": 1})
    if sol is not None:
        st = clean_state(P, sol[1], sol[2])
        if st is not None:
            info["rounding"] = "restricted_mip"
            return st, info
    raise InfeasibleError(f"{who} found no plan although the LP relaxation is feasible",
                          diagnosis=(diagnosis or []) + [f"LP bound {root.objective:.4g} $/h; the rounding dive and a "
                                                         f"restricted MILP over {len(cand)} configurations failed; "
                                                         "try the MILP (--method milp)"])
