"""The shared machinery of GH and AGH: precomputed route arrays, a mutable partial plan and the
two primitives every heuristic move is made of — *insert* a query type's remaining traffic
greedily, and *remove* traffic from routes.

Units. A route r = (i, c) carries a fraction x_r of type i's traffic. ``a_r = λ_i/(ρ̄·μ_ic)`` and
``b_r = λ_i·ω_ic/KV_c`` are the replicas (compute, resp. KV memory) that the *whole* type would
need on c, so Σ_r a_r·x_r ≤ y_c and Σ_r b_r·x_r ≤ y_c are the capacity and memory rows of
docs/formulation.md §3 divided by ρ̄ resp. KV_c. ``s_r = e_ic − ε_i`` and ``g_r = e2e_ic − E2E_i`` turn the
error and delay rows into "credit" rows Σ_r s_r·x_r ≤ 0 and Σ_r g_r·x_r ≤ 0 (using
Σ_c x_ic = 1 − u_i). Costs are $/h, fractions are of a type's arrival rate.

Nothing here allocates per route in a loop: candidate evaluation for one query type is a handful
of numpy operations over that type's routes (a few hundred to a few thousand).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...problem.instance import Instance
from ...vocab import SECONDS_PER_HOUR

#: a type is fully placed when less than this fraction remains (checker tolerance is 1e-6)
EPS_FRACTION = 1e-9
#: slack kept on credit rows (error, delay) and on integer rounding, relative
EPS_CREDIT = 1e-9


class Stuck(str):
    """Why a placement got stuck: the one-line message (it *is* the ``str``), plus what ran out —
    ``gpus_out`` (availability of a GPU type the type could use), ``budget_out`` — for rules that act on
    it (GH's restarts) without reading the prose."""

    gpus_out: bool
    budget_out: bool

    def __new__(cls, text: str, gpus_out: bool = False, budget_out: bool = False) -> "Stuck":
        self = super().__new__(cls, text)
        self.gpus_out, self.budget_out = gpus_out, budget_out
        return self


def ceil_need(need: np.ndarray | float) -> np.ndarray:
    """Replicas for a load of ``need`` replica-equivalents, rounding as ``Instance.replicas_needed``."""
    return np.ceil(np.asarray(need, dtype=float) * (1 - 1e-9) - 1e-12).clip(min=0).astype(np.int64)


def ceil_need_1(need: float) -> int:
    """:func:`ceil_need` of one float, without numpy's per-call overhead (same rounding, same result)."""
    return max(math.ceil(float(need) * (1 - 1e-9) - 1e-12), 0)


@dataclass(frozen=True, eq=False)
class Prepared:
    """Per-instance arrays the heuristics read (pure function of the ``Instance``; built once)."""

    inst: Instance
    a: np.ndarray  # R, replicas of compute for the whole type on the route (λ/(ρ̄ μ))
    b: np.ndarray  # R, replicas of KV memory for the whole type on the route (λ ω / KV)
    s: np.ndarray  # R, error credit e − ε
    g: np.ndarray  # R, delay credit e2e − E2E (0 for types without an e2e SLO)
    unit: np.ndarray  # R, $/h to carry the whole type on the route at perfect packing
    anchor_value: np.ndarray  # R, max(s/ε, g/E2E): ≤ 0 when the route alone meets error and delay
    type_routes: list[np.ndarray]  # per type i: route ids sorted by (unit cost, GPUs per replica)
    config_routes: list[np.ndarray]  # per configuration c: route ids
    route_of: np.ndarray  # I×C route id or -1
    dep_configs: list[np.ndarray]  # per deployment d: configuration ids
    model_configs: list[np.ndarray]  # per model j: configuration ids
    pen: np.ndarray  # I, $/h per unit fraction unserved (3600 φ λ)
    max_models: int  # J when unlimited
    one_par: bool
    short: np.ndarray  # R bool: the route is on its type's short list (see SHORT_LIST)

    @property
    def I(self) -> int:  # noqa: E743
        return self.inst.I


def prepare(inst: Instance) -> Prepared:
    """Precompute the arrays of :class:`Prepared` (O(R log R))."""
    rho = inst.rho
    a = inst.cap_load / rho
    b = inst.mem_load / np.maximum(inst.kv[inst.route_c], 1e-300)
    eps = inst.max_error[inst.route_i]
    s = inst.error - eps
    slo = inst.e2e_slo[inst.route_i]
    has = np.isfinite(slo)
    g = np.where(has, inst.e2e - np.where(has, slo, 0.0), 0.0)
    unit = inst.cost[inst.route_c] * np.maximum(a, b)
    anchor_value = np.maximum(s / np.maximum(eps, 1e-3), np.where(has, g / np.maximum(np.where(has, slo, 1.0), 1e-3), -np.inf))
    gp = inst.gpus[inst.route_c]
    order = np.lexsort((gp, unit, inst.route_i))  # by type, then unit cost, then GPUs
    bounds = np.searchsorted(inst.route_i[order], np.arange(inst.I + 1))
    type_routes = [order[bounds[i]:bounds[i + 1]] for i in range(inst.I)]
    corder = np.argsort(inst.route_c, kind="stable")
    cb = np.searchsorted(inst.route_c[corder], np.arange(inst.C + 1))
    config_routes = [corder[cb[c]:cb[c + 1]] for c in range(inst.C)]
    route_of = np.full((inst.I, inst.C), -1, dtype=np.int64)
    route_of[inst.route_i, inst.route_c] = np.arange(inst.R)
    D = len(inst.deployments)
    dorder = np.argsort(inst.config_deployment, kind="stable")
    db = np.searchsorted(inst.config_deployment[dorder], np.arange(D + 1))
    dep_configs = [dorder[db[d]:db[d + 1]] for d in range(D)]
    J = len(inst.model_ids)
    morder = np.argsort(inst.config_model, kind="stable")
    mb = np.searchsorted(inst.config_model[morder], np.arange(J + 1))
    model_configs = [morder[mb[j]:mb[j + 1]] for j in range(J)]
    mm = inst.options.max_models
    short = _short_lists(inst, type_routes, unit, anchor_value)
    return Prepared(inst=inst, a=a, b=b, s=s, g=g, unit=unit, anchor_value=anchor_value, type_routes=type_routes,
                    config_routes=config_routes, route_of=route_of, dep_configs=dep_configs, model_configs=model_configs,
                    pen=SECONDS_PER_HOUR * inst.penalty * inst.lam, max_models=J if mm is None else int(mm),
                    one_par=bool(inst.options.one_parallelism_per_deployment), short=short)


#: insertion looks at a type's short list first: its SHORT_LIST cheapest routes (pro rata), its
#: SHORT_ANCHORS best on error and delay together, its most accurate and fastest route, its two
#: cheapest on each GPU type and its cheapest on each model — plus, at each call, every route to a
#: configuration already open. Only when that list gets stuck does it look at all the type's routes.
SHORT_LIST, SHORT_ANCHORS = 40, 8


def _short_lists(inst: Instance, type_routes: list[np.ndarray], unit: np.ndarray, anchor_value: np.ndarray) -> np.ndarray:
    short = np.zeros(inst.R, dtype=bool)
    cg, cm = inst.config_gpu[inst.route_c], inst.config_model[inst.route_c]
    for rt in type_routes:  # sorted by unit cost
        if len(rt) <= 2 * SHORT_LIST:
            short[rt] = True
            continue
        short[rt[:SHORT_LIST]] = True
        short[rt[np.argsort(anchor_value[rt], kind="stable")[:SHORT_ANCHORS]]] = True
        short[rt[int(np.argmin(inst.error[rt]))]] = True
        short[rt[int(np.argmin(inst.e2e[rt]))]] = True
        g = cg[rt]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        rank = np.arange(len(gs)) - np.searchsorted(gs, gs, side="left")
        short[rt[order[rank < 2]]] = True
        _, first = np.unique(cm[rt], return_index=True)
        short[rt[first]] = True
    return short


class State:
    """A partial plan with the running sums every move needs (copy before a tentative move).

    Invariant: ``y[c]`` is the smallest replica count carrying the load ``cu[c]``/``mu[c]``
    (at least 1 when c carries traffic), and ``spend``, ``gpu_used``, ``model_cnt``,
    ``dep_cnt`` agree with ``y``.
    """

    __slots__ = ("x", "u", "y", "cu", "mu", "serr", "sdel", "rem", "dep_cnt", "model_cnt", "n_models",
                 "gpu_used", "spend")

    def __init__(self, P: Prepared | None = None):
        if P is None:
            return
        inst = P.inst
        self.x = np.zeros(inst.R)
        self.u = np.zeros(inst.I)
        self.y = np.zeros(inst.C, dtype=np.int64)
        self.cu = np.zeros(inst.C)
        self.mu = np.zeros(inst.C)
        self.serr = np.zeros(inst.I)
        self.sdel = np.zeros(inst.I)
        self.rem = np.ones(inst.I)
        self.dep_cnt = np.zeros(len(inst.deployments), dtype=np.int64)
        self.model_cnt = np.zeros(len(inst.model_ids), dtype=np.int64)
        self.n_models = 0
        self.gpu_used = np.zeros(len(inst.gpu_ids))
        self.spend = 0.0

    def copy(self) -> "State":
        st = State()
        for k in self.__slots__:
            v = getattr(self, k)
            setattr(st, k, v.copy() if isinstance(v, np.ndarray) else v)
        return st

    def objective(self, P: Prepared) -> float:
        """Σ cost·y + Σ F·s + 3600 Σ φ λ u, $/h."""
        return float(self.spend + P.pen @ self.u)


# ---- bookkeeping -------------------------------------------------------------------------------

def _set_y(P: Prepared, st: State, c: int, new: int) -> None:
    inst = P.inst
    old = int(st.y[c])
    if new == old:
        return
    st.y[c] = new
    st.gpu_used[inst.config_gpu[c]] += inst.gpus[c] * (new - old)
    st.spend += inst.cost[c] * (new - old)
    j = inst.config_model[c]
    if old == 0:
        st.dep_cnt[inst.config_deployment[c]] += 1
        st.model_cnt[j] += 1
        if st.model_cnt[j] == 1:
            st.n_models += 1
            st.spend += inst.fixed_cost[j]
    elif new == 0:
        st.dep_cnt[inst.config_deployment[c]] -= 1
        st.model_cnt[j] -= 1
        if st.model_cnt[j] == 0:
            st.n_models -= 1
            st.spend -= inst.fixed_cost[j]


def reload_config(P: Prepared, st: State, c: int) -> None:
    """Recompute the load of configuration ``c`` from ``x`` exactly and set ``y[c]`` to what it needs."""
    rc = P.config_routes[c]
    xc = st.x[rc]
    st.cu[c] = float(P.a[rc] @ xc)
    st.mu[c] = float(P.b[rc] @ xc)
    need = ceil_need_1(max(st.cu[c], st.mu[c]))
    if need == 0 and (xc > 0).any():
        need = 1
    _set_y(P, st, c, need)


def remove_routes(P: Prepared, st: State, routes: np.ndarray, factor: float = 1.0) -> None:
    """Take the fraction ``factor`` of the traffic on ``routes`` off (it becomes remaining demand)."""
    routes = routes[st.x[routes] > 0]
    if len(routes) == 0:
        return
    amt = st.x[routes] * factor
    i = P.inst.route_i[routes]
    np.add.at(st.rem, i, amt)
    np.add.at(st.serr, i, -P.s[routes] * amt)
    np.add.at(st.sdel, i, -P.g[routes] * amt)
    st.x[routes] = st.x[routes] - amt if factor < 1.0 else 0.0
    for c in np.unique(P.inst.route_c[routes]):
        reload_config(P, st, int(c))


def remove_type(P: Prepared, st: State, i: int) -> None:
    """Take all of type ``i`` off, including its unserved share."""
    rt = P.type_routes[i]
    remove_routes(P, st, rt)
    st.rem[i] += st.u[i]
    st.u[i] = 0.0
    st.serr[i] = 0.0
    st.sdel[i] = 0.0


# ---- greedy insertion ----------------------------------------------------------------------------

@dataclass
class Knobs:
    """How insertion ranks candidates: ``noise`` multiplies ratios by exp(σ·N(0,1)) (AGH starts)."""

    noise: float = 0.0
    rng: np.random.Generator | None = None
    upgrades: bool = True
    linear: bool = False  # rank new replicas at their pro-rata cost (AGH diversification)
    #: rank by GPUs instead of dollars (new GPUs per absorbed fraction, cost breaks ties): when
    #: availability is so tight that the cheapest plan per type runs the GPUs out for the others
    frugal: bool = False
    #: take each type's allowed unserved share first: when the budget cannot pay for serving everyone
    unserved_first: bool = False
    short: bool = True  # look at the type's short list first (see SHORT_LIST)
    forbid: np.ndarray | None = None  # C bool: configurations this construction may not use


def _limits(P: Prepared, st: State, c: np.ndarray, fnew: np.ndarray) -> np.ndarray:
    """Replicas that may still be added to configurations ``c``: max_replicas, availability, budget.

    This and the other ``_insert`` helpers run under :func:`insert_type`'s ``np.errstate``."""
    inst = P.inst
    n = (inst.max_replicas[c] - st.y[c]).astype(float)
    k = inst.config_gpu[c]
    free = inst.available[k] - st.gpu_used[k]
    n = np.minimum(n, np.floor(free / inst.gpus[c] + 1e-9))
    if np.isfinite(inst.budget):
        left = inst.budget - st.spend - fnew
        nb = np.where(inst.cost[c] > 0, np.floor(left / np.where(inst.cost[c] > 0, inst.cost[c], 1.0) + 1e-9),
                      np.where(left >= -1e-9, np.inf, -1.0))
        n = np.minimum(n, nb)
    return np.maximum(n, 0.0)


def _fill(a, b, cu, mu, y, n):
    """Largest fraction that fits on ``y + n`` replicas already loaded with (cu, mu)."""
    return _fill_masked(a > 0, np.where(a > 0, a, 1.0), b > 0, np.where(b > 0, b, 1.0), cu, mu, y, n)


def _fill_masked(apos, aden, bpos, bden, cu, mu, y, n):
    """:func:`_fill` with the masks ``a > 0`` and denominators ``where(a > 0, a, 1)`` computed once
    (``_insert`` reuses them for every step of a type; same arithmetic, same result)."""
    ta = np.where(apos, (y + n - cu) / aden, np.inf)
    tb = np.where(bpos, (y + n - mu) / bden, np.inf)
    return np.maximum(np.minimum(ta, tb), 0.0)


def insert_type(P: Prepared, st: State, i: int, forbid: np.ndarray | None = None, knobs: Knobs | None = None,
                max_steps: int = 64) -> Stuck | None:
    """Place the remaining fraction ``st.rem[i]`` of type ``i``; ``None`` on success, else why it got stuck.

    Looks at the type's short list (plus every route to an open configuration) first and, only if
    that gets stuck, at all its routes (:func:`_insert` does the placing)."""
    knobs = knobs or Knobs()
    if forbid is None:
        forbid = knobs.forbid
    routes = P.type_routes[i]
    if knobs.unserved_first and st.rem[i] > EPS_FRACTION:
        t = min(max(P.inst.max_unserved[i] - st.u[i], 0.0), st.rem[i])
        if t > EPS_FRACTION:
            st.u[i] += t
            st.rem[i] -= t
    # one errstate for the whole placement (the helpers below divide by masked zeros and rely on it;
    # entering it once per type instead of per numpy expression is ~10 % of GH's time)
    with np.errstate(divide="ignore", invalid="ignore"):
        if knobs.short and len(routes) > 2 * SHORT_LIST:
            sub = routes[P.short[routes] | (st.y[P.inst.route_c[routes]] > 0)]
            why = _insert(P, st, i, sub, forbid, knobs, max_steps)
            if why is None:
                return None
        return _insert(P, st, i, routes, forbid, knobs, max_steps)


def _insert(P: Prepared, st: State, i: int, routes: np.ndarray, forbid: np.ndarray | None, knobs: Knobs,
            max_steps: int) -> Stuck | None:
    """Place the remaining fraction ``st.rem[i]`` of type ``i``; ``None`` on success, else why it got stuck.

    Each step ranks every allowed route of i (and leaving traffic unserved, when ζ_i allows) by
    *cost per effective coverage* — marginal $/h (new replicas, rounded up, plus the model's fixed
    cost if it is not yet selected) over the fraction absorbed, spare capacity on open replicas
    being free — and, for deployments already open, the TP/PP *upgrade* of the deployment (move its
    traffic to another setting) priced the same way. The error and delay rows are respected as a
    fractional knapsack: a route worse than the type's *anchor* (the available route best on both)
    takes at most as much as the anchor can still compensate for.
    """
    inst = P.inst
    rc = inst.route_c[routes]
    ra, rb, rs, rg = P.a[routes], P.b[routes], P.s[routes], P.g[routes]
    cost = inst.cost[rc]
    rj = inst.config_model[rc]
    rd = inst.config_deployment[rc]
    fixed = inst.fixed_cost[rj]
    base_ok = np.ones(len(routes), dtype=bool) if forbid is None else ~forbid[rc]
    zeta = inst.max_unserved[i]
    apos, bpos = ra > 0, rb > 0
    aden, bden = np.where(apos, ra, 1.0), np.where(bpos, rb, 1.0)
    for _ in range(max_steps):
        f = st.rem[i]
        if f <= EPS_FRACTION:
            st.rem[i] = 0.0
            return None
        y = st.y[rc]
        opened = y > 0
        model_ok = (st.model_cnt[rj] > 0) | (st.n_models < P.max_models)
        dep_ok = (st.dep_cnt[rd] == 0) if P.one_par else np.ones(len(routes), dtype=bool)
        allowed = base_ok & (opened | (dep_ok & model_ok))
        fnew = np.where(st.model_cnt[rj] > 0, 0.0, fixed)
        nmax = _limits(P, st, rc, fnew)
        cu, mu = st.cu[rc], st.mu[rc]
        spare = np.where(opened, _fill_masked(apos, aden, bpos, bden, cu, mu, y, 0), 0.0)
        usable = allowed & ((spare > EPS_FRACTION) | (nmax >= 1))
        # anchor: the usable route (or unserved room) best on error and delay together
        room_u = max(zeta - st.u[i], 0.0)
        av = np.where(usable, P.anchor_value[routes], np.inf)
        k_anchor = int(np.argmin(av)) if len(av) else -1
        if room_u >= f - EPS_FRACTION and (k_anchor < 0 or av[k_anchor] > 0):
            sa, ga = 0.0, 0.0
        elif k_anchor >= 0 and np.isfinite(av[k_anchor]):
            sa, ga = rs[k_anchor], rg[k_anchor]
        else:
            return _diagnose(P, st, i, routes, allowed, usable, room_u)
        ls = -st.serr[i] - sa * f
        lg = -st.sdel[i] - ga * f
        tol_s = EPS_CREDIT * max(1.0, abs(st.serr[i]) + abs(sa) * f)
        tol_g = EPS_CREDIT * max(1.0, abs(st.sdel[i]) + abs(ga) * f)
        if ls < -tol_s or lg < -tol_g:
            return _diagnose(P, st, i, routes, allowed, usable, room_u, credit=True)
        ls, lg = max(ls, 0.0), max(lg, 0.0)
        tcap = np.minimum(np.where(rs > sa, ls / (rs - sa), np.inf), np.where(rg > ga, lg / (rg - ga), np.inf))
        T = np.minimum(f, tcap)
        # spare capacity on open replicas is a free chunk of its own
        T = np.where(opened & (spare > EPS_FRACTION), np.minimum(T, spare), T)
        need = np.maximum(cu + T * ra, mu + T * rb)
        nreq = np.maximum(ceil_need(need) - y, np.where(opened, 0, 1))
        n = np.minimum(nreq, nmax)
        absorbed = np.where(n >= nreq, T, np.minimum(_fill_masked(apos, aden, bpos, bden, cu, mu, y, n), T))
        absorbed = np.where(opened | (n >= 1), absorbed, 0.0)
        marginal = n * cost + np.where(opened, 0.0, fnew)
        ok = usable & (absorbed > EPS_FRACTION)
        ratio = np.where(ok, marginal / np.where(ok, absorbed, 1.0), np.inf)
        if knobs.linear:  # price new replicas pro rata (LP-like) instead of rounded up
            lin = np.where(opened & (spare > EPS_FRACTION), 0.0,
                           P.unit[routes] + np.where(opened, 0.0, fnew) / np.where(ok, absorbed, 1.0))
            ratio = np.where(ok, lin, np.inf)
        unit = P.unit[routes]
        if knobs.frugal:  # GPUs first (new GPUs per absorbed fraction), dollars break ties
            w = _frugal_weight(P)
            gp = inst.gpus[rc]
            ratio = np.where(ok, w * n * gp / np.where(ok, absorbed, 1.0) + ratio, np.inf)
            unit = w * gp * np.maximum(ra, rb) + unit
        if knobs.noise > 0 and knobs.rng is not None:
            ratio = ratio * np.exp(knobs.noise * knobs.rng.standard_normal(len(ratio)))
        best, take = _knapsack_choice(st, i, f, ok, ratio, absorbed, unit, rs, rg, tol_s, tol_g)
        best_ratio = ratio[best] if best >= 0 else np.inf
        # leaving traffic unserved, priced at its penalty
        t_u = min(room_u, f, (ls / -sa) if sa < 0 else np.inf, (lg / -ga) if ga < 0 else np.inf)
        ratio_u = P.pen[i] if t_u > EPS_FRACTION else np.inf
        # TP/PP upgrade of an open deployment, only when the best plain move costs money
        upg = None
        if knobs.upgrades and not knobs.frugal and P.one_par and best_ratio > 0:
            upg = _best_upgrade(P, st, i, routes, base_ok, f, sa, ga, ls, lg, forbid)
        if upg is not None and upg[0] < min(best_ratio, ratio_u):
            _apply_upgrade(P, st, i, *upg[1:])
            continue
        if ratio_u < best_ratio or (ratio_u == best_ratio and not np.isfinite(best_ratio)):
            if not np.isfinite(ratio_u):
                return _diagnose(P, st, i, routes, allowed, usable, room_u)
            st.u[i] += t_u
            st.rem[i] -= t_u
            continue
        if not np.isfinite(best_ratio):
            return _diagnose(P, st, i, routes, allowed, usable, room_u)
        _add(P, st, int(routes[best]), float(take))
    return Stuck(f"query type {inst.query_types[i]}: no progress after {max_steps} placement steps")


def _frugal_weight(P: Prepared) -> float:
    """$/h that one GPU weighs in frugal ranking: ten times the dearest GPU-hour, so GPUs come first."""
    inst = P.inst
    return 10.0 * float(np.max(inst.cost / np.maximum(inst.gpus, 1), initial=1.0))


def _knapsack_choice(st: State, i: int, f: float, ok, ratio, absorbed, unit, rs, rg, tol_s, tol_g, top: int = 24):
    """(candidate index, fraction to take): the best single route, or the cheap half of the best pair.

    Candidates are valued at the cost of carrying all of ``f`` (this step's chunk at its ratio, the
    rest at the route's pro-rata price), so a small free chunk of spare capacity does not hide an
    expensive remainder. A route whose error (or e2e) is too high to carry ``f`` alone is valued as
    its LP-optimal mix with a compensating route — the fractional knapsack on the error row, whose
    optimum lies on the lower convex hull of (credit, price) and so is one route or a pair.
    """
    if not ok.any():
        return -1, 0.0

    def cost_of(idx, amt):
        """$/h to carry ``amt`` on candidates ``idx``: this step's chunk at its ratio, the rest pro rata."""
        ab = absorbed[idx]
        return ratio[idx] * np.minimum(amt, ab) + unit[idx] * np.maximum(amt - ab, 0.0)

    alone = ok & (st.serr[i] + rs * f <= tol_s) & (st.sdel[i] + rg * f <= tol_g)
    value = np.where(alone, cost_of(np.arange(len(ok)), f) / f, np.inf)
    k_best = int(np.argmin(value))
    best_value = value[k_best]
    needy = np.flatnonzero(ok & ~alone)
    comp = np.flatnonzero(alone)
    if len(needy) and len(comp):
        needy = needy[np.argsort(ratio[needy], kind="stable")[:top]]
        comp = comp[np.argsort(ratio[comp], kind="stable")[:top]]
        ds = rs[needy][:, None] - rs[comp][None, :]
        dg = rg[needy][:, None] - rg[comp][None, :]
        ts = np.where(ds > 0, (-st.serr[i] - rs[comp][None, :] * f) / np.where(ds > 0, ds, 1.0), np.inf)
        tg = np.where(dg > 0, (-st.sdel[i] - rg[comp][None, :] * f) / np.where(dg > 0, dg, 1.0), np.inf)
        t = np.clip(np.minimum(np.minimum(ts, tg), f), 0.0, None)
        pv = (cost_of(needy[:, None], t) + cost_of(comp[None, :], f - t)) / f
        pv = np.where(t > EPS_FRACTION, pv, np.inf)
        a, b = np.unravel_index(int(np.argmin(pv)), pv.shape)
        if pv[a, b] < best_value:
            r = int(needy[a])
            return r, float(min(absorbed[r], t[a, b]))
    if np.isfinite(best_value):
        return k_best, float(absorbed[k_best])
    k = int(np.argmin(ratio))
    return (k, float(absorbed[k])) if np.isfinite(ratio[k]) else (-1, 0.0)


def _add(P: Prepared, st: State, r: int, t: float) -> None:
    i = P.inst.route_i[r]
    st.x[r] += t
    st.rem[i] -= t
    st.serr[i] += P.s[r] * t
    st.sdel[i] += P.g[r] * t
    c = int(P.inst.route_c[r])
    st.cu[c] += P.a[r] * t
    st.mu[c] += P.b[r] * t
    need = ceil_need_1(max(st.cu[c], st.mu[c]))
    _set_y(P, st, c, max(need, 1))


def _best_upgrade(P: Prepared, st: State, i: int, routes, base_ok, f, sa, ga, ls, lg, forbid):
    """Cheapest (ratio, ...) move of an open deployment to another TP/PP setting that also takes type i.

    Only deployments whose open setting has no route for i are looked at (on the others the plain
    move, more replicas of the open setting, is available). Vectorised over the deployment's other
    settings (one numpy pass per open deployment)."""
    inst = P.inst
    rd = inst.config_deployment[inst.route_c[routes]]
    best = None
    budget = np.isfinite(inst.budget)
    for d in np.unique(rd[base_ok & (st.dep_cnt[rd] > 0)]):
        cfgs = P.dep_configs[d]
        open_c = cfgs[st.y[cfgs] > 0]
        if len(open_c) != 1:
            continue
        c0 = int(open_c[0])
        if (forbid is not None and forbid[c0]) or P.route_of[i, c0] >= 0:
            continue  # i can be routed to the open setting itself: adding replicas there is the plain move
        c1s = cfgs[(cfgs != c0) & (P.route_of[i, cfgs] >= 0)]
        if forbid is not None:
            c1s = c1s[~forbid[c1s]]
        if len(c1s) == 0:
            continue
        r0 = P.config_routes[c0]
        r0 = r0[st.x[r0] > 0]
        types = inst.route_i[r0]
        x0 = st.x[r0]
        R1 = P.route_of[types[:, None], c1s[None, :]]  # (types on c0) × (candidate settings)
        ok = (R1 >= 0).all(axis=0)
        if not ok.any():
            continue
        c1s, R1 = c1s[ok], R1[:, ok]
        ds = (P.s[R1] - P.s[r0][:, None]) * x0[:, None]
        dg = (P.g[R1] - P.g[r0][:, None]) * x0[:, None]
        mine = types == i
        # other types must stay within their error/delay credit
        bad = ((st.serr[types][:, None] + ds > EPS_CREDIT)[~mine]).any(axis=0) | \
              ((st.sdel[types][:, None] + dg > EPS_CREDIT)[~mine]).any(axis=0)
        ls1 = ls - ds[mine].sum(axis=0)
        lg1 = lg - dg[mine].sum(axis=0)
        bad |= (ls1 < -EPS_CREDIT) | (lg1 < -EPS_CREDIT)
        ls1, lg1 = np.maximum(ls1, 0.0), np.maximum(lg1, 0.0)
        rn = P.route_of[i, c1s]
        T = np.full(len(c1s), float(f))
        ps, pg = P.s[rn] - sa, P.g[rn] - ga
        T = np.where(ps > 0, np.minimum(T, ls1 / np.where(ps > 0, ps, 1.0)), T)
        T = np.where(pg > 0, np.minimum(T, lg1 / np.where(pg > 0, pg, 1.0)), T)
        cu1 = (P.a[R1] * x0[:, None]).sum(axis=0)
        mu1 = (P.b[R1] * x0[:, None]).sum(axis=0)
        k = inst.config_gpu[c1s]
        y0 = int(st.y[c0])
        free_gpu = inst.available[k] - st.gpu_used[k] + np.where(k == inst.config_gpu[c0], y0 * inst.gpus[c0], 0)
        nmax = np.minimum(inst.max_replicas[c1s], np.floor(free_gpu / inst.gpus[c1s] + 1e-9))
        if budget:
            cc = inst.cost[c1s]
            nb = np.floor((inst.budget - st.spend + y0 * inst.cost[c0]) / np.where(cc > 0, cc, 1.0) + 1e-9)
            nmax = np.where(cc > 0, np.minimum(nmax, nb), nmax)
        y1 = np.maximum(ceil_need(np.maximum(cu1 + T * P.a[rn], mu1 + T * P.b[rn])), 1).astype(float)
        over = y1 > nmax
        if over.any():
            y1 = np.where(over, nmax, y1)
            bad |= over & (y1 < 1)
            T = np.where(over, np.minimum(T, _fill(P.a[rn], P.b[rn], cu1, mu1, y1, 0)), T)
        bad |= T <= EPS_FRACTION
        if bad.all():
            continue
        ratio = np.where(bad, np.inf, (y1 * inst.cost[c1s] - y0 * inst.cost[c0]) / np.where(bad, 1.0, T))
        m = int(np.argmin(ratio))
        if best is None or ratio[m] < best[0]:
            best = (float(ratio[m]), c0, int(c1s[m]), int(rn[m]), float(T[m]))
    return best


def _apply_upgrade(P: Prepared, st: State, i: int, c0: int, c1: int, rn: int, T: float) -> None:
    inst = P.inst
    r0 = P.config_routes[c0]
    r0 = r0[st.x[r0] > 0]
    types = inst.route_i[r0]
    r1 = P.route_of[types, c1]
    x0 = st.x[r0].copy()
    np.add.at(st.serr, types, (P.s[r1] - P.s[r0]) * x0)
    np.add.at(st.sdel, types, (P.g[r1] - P.g[r0]) * x0)
    st.x[r0] = 0.0
    st.x[r1] += x0
    reload_config(P, st, c0)
    reload_config(P, st, c1)
    _add(P, st, rn, T)


def _diagnose(P: Prepared, st: State, i: int, routes, allowed, usable, room_u, credit: bool = False) -> Stuck:
    """One line saying where insertion of type ``i`` got stuck and which constraint blocks it."""
    inst = P.inst
    q = inst.query_types[i]
    f = st.rem[i]
    if len(routes) == 0:
        return Stuck(f"query type {q}: no configuration has a route meeting its SLOs and memory")
    if credit:
        best = routes[usable]
        e = inst.error[best].min() if len(best) else np.nan
        return Stuck(f"query type {q}: error limit {inst.max_error[i]:.4g} (or its mean e2e SLO) cannot be met for "
                     f"the remaining {f:.3g} of its traffic; the most accurate route with capacity left has error {e:.4g}")
    rc = inst.route_c[routes]
    why = []
    dep_busy = P.one_par & (st.dep_cnt[inst.config_deployment[rc]] > 0) & (st.y[rc] == 0)
    if dep_busy.any():
        why.append(f"{int(dep_busy.sum())} route(s) blocked by one_parallelism")
    mm = (st.model_cnt[inst.config_model[rc]] == 0) & (st.n_models >= P.max_models)
    if mm.any():
        why.append(f"{int(mm.sum())} route(s) blocked by max_models={P.max_models}")
    k = inst.config_gpu[rc]
    full = allowed & (inst.available[k] - st.gpu_used[k] < inst.gpus[rc])
    gpus_out = bool(full.any())
    if gpus_out:
        gp = sorted({str(inst.gpu_ids[kk]) for kk in k[full]})
        why.append(f"availability exhausted on GPU type(s) {', '.join(gp)}")
    budget_out = bool(np.isfinite(inst.budget) and (allowed & (inst.budget - st.spend < inst.cost[rc])).any())
    if budget_out:
        why.append(f"budget {inst.budget:.2f} $/h reached (spent {st.spend:.2f})")
    if (allowed & (st.y[rc] >= inst.max_replicas[rc])).any():
        why.append("max_replicas reached")
    txt = "; ".join(why) or "no route with capacity left"
    return Stuck(f"query type {q}: {f:.3g} of its traffic cannot be placed ({txt}; unserved room {room_u:.3g})",
                 gpus_out=gpus_out, budget_out=budget_out)


def finish(P: Prepared, st: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays (y, x, u) of a complete state: y re-derived with ``Instance.replicas_needed``."""
    inst = P.inst
    x = np.where(st.x > EPS_FRACTION, st.x, 0.0)
    y = inst.replicas_needed(x)
    carries = np.bincount(inst.route_c, weights=(x > 0).astype(float), minlength=inst.C) > 0
    y = np.where(carries, np.maximum(y, 1), 0)
    return y, x, st.u.copy()
