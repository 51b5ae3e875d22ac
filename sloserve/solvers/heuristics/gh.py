"""GH, the one-pass greedy heuristic of docs/formulation.md §5.

Two deterministic passes (new replicas priced rounded up, as the paper's marginal cost, and
pro rata, LP-like); the cheaper plan wins. In each, query types are placed hardest first (fewest routes that meet their error and delay limits on
their own, then the largest cheapest-possible cost); each is placed by
:func:`~sloserve.heuristics.core.insert_type` (cost per effective coverage, TP upgrade, error /
delay knapsack, budget, availability, max_models, one_parallelism checked as it goes).

If a type gets stuck (availability or budget taken by earlier types), GH restarts with that type
moved to the front ("squeaky wheel"), at most I times; it then raises
:class:`~sloserve.errors.InfeasibleError` with where each pass got stuck. Deterministic.
"""
from __future__ import annotations

import numpy as np

import time

from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.plan import Plan, plan_from_arrays
from ...vocab import Status
from ..methods import SolveOptions, register_method
from .core import Knobs, Prepared, State, Stuck, insert_type, prepare
from .lpround import lp_round, verified


def hardest_first(P: Prepared) -> np.ndarray:
    """Order of query types: fewest self-sufficient routes, then largest minimum cost ($/h) first."""
    inst = P.inst
    ok = (P.anchor_value <= 0).astype(float)
    n_ok = np.bincount(inst.route_i, weights=ok, minlength=inst.I)
    n_all = np.bincount(inst.route_i, minlength=inst.I)
    min_unit = np.array([P.unit[r].min() if len(r) else np.inf for r in P.type_routes])
    return np.lexsort((-min_unit, n_all, n_ok))


def construct(P: Prepared, order: np.ndarray, knobs: Knobs | None = None) -> tuple[State | None, Stuck, int]:
    """Place every type in ``order``; returns (state, Stuck(""), -1) or (None, why it got stuck, stuck type)."""
    st = State(P)
    for i in order:
        why = insert_type(P, st, int(i), knobs=knobs)
        if why is not None:
            return None, why, int(i)
    return st, Stuck(""), -1


#: GH's LP fallback, kept short: a 5-step dive (then the rest rounded up), else a restricted MILP
#: over 120 configurations (8 LP-ranked routes per type) stopped at its first solution
FALLBACK_DIVE_STEPS, FALLBACK_CONFIGS, FALLBACK_NODES = 5, 120, 50
#: squeaky-wheel restarts per pass (a stuck type moves to the front); more passes follow instead
MAX_RESTARTS = 4
#: a pass stuck because a GPU type ran out stops its restarts (the GPU-frugal rescue pass follows)
SKIP_RESTARTS_WHEN_GPUS_RUN_OUT = True


def model_cover(P: Prepared) -> np.ndarray | None:
    """When ``max_models`` is below the number of models: the models chosen up front, greedily by the
    query types they can serve alone (error and delay limits met by one route), then by what serving
    those types alone costs (pro rata, plus the fixed cost); returns the configurations of the other
    models (to forbid), or None when the limit does not bind."""
    inst = P.inst
    J = len(inst.model_ids)
    if P.max_models >= J:
        return None
    alone = P.anchor_value <= 0
    rj = inst.config_model[inst.route_c]
    best = np.full((inst.I, J), np.inf)
    np.minimum.at(best, (inst.route_i[alone], rj[alone]), P.unit[alone])
    covered = np.zeros(inst.I, dtype=bool)
    chosen: list[int] = []
    for _ in range(P.max_models):
        gain = (np.isfinite(best) & ~covered[:, None]).sum(axis=0)
        price = np.where(np.isfinite(best) & ~covered[:, None], best, 0.0).sum(axis=0) + inst.fixed_cost
        gain[chosen] = -1
        j = int(np.lexsort((price, -gain))[0])
        if gain[j] <= 0:
            break
        chosen.append(j)
        covered |= np.isfinite(best[:, j])
    if not chosen:
        return None
    return ~np.isin(inst.config_model, chosen)


def rescue_knobs(P: Prepared) -> list[Knobs]:
    """The passes GH tries when both plain pricings get stuck: the models chosen up front when
    max_models binds (:func:`model_cover`), GPU-frugal ranking when some GPU type is limited, each
    type's unserved allowance first when there is a budget, and both together."""
    inst = P.inst
    scarce = bool(np.isfinite(inst.available).any())
    budget = bool(np.isfinite(inst.budget)) and bool((inst.max_unserved > 0).any())
    out = []
    cover = model_cover(P)
    if cover is not None:
        out += [Knobs(forbid=cover, linear=True), Knobs(forbid=cover)]
    if budget:
        out += [Knobs(unserved_first=True, linear=True), Knobs(unserved_first=True)]
    if scarce:
        out.append(Knobs(frugal=True, upgrades=False))
    if scarce and budget:
        out.append(Knobs(frugal=True, upgrades=False, unserved_first=True))
    return out


def greedy(P: Prepared, knobs: Knobs | None = None, order: np.ndarray | None = None,
           max_restarts: int | None = None, info: dict | None = None) -> State:
    """GH: the cheaper of two deterministic passes, new replicas priced rounded up (the paper's
    marginal cost) and pro rata (LP-like); when both get stuck, the rescue passes of
    :func:`rescue_knobs` in turn (the first that succeeds wins); raises ``InfeasibleError`` when
    every pass gets stuck. ``info["pass"]`` says which pass gave the plan."""
    if knobs is not None:
        return _greedy(P, knobs, order, max_restarts)
    info = {} if info is None else info
    best, err = None, None
    for name, kn in (("rounded", Knobs()), ("pro_rata", Knobs(linear=True))):
        try:
            st = _greedy(P, kn, order, max_restarts)
        except InfeasibleError as e:
            err = err or e
            continue
        if best is None or st.objective(P) < best.objective(P) - 1e-9:
            best, info["pass"] = st, name
    if best is None:
        for kn in rescue_knobs(P):
            try:
                best = _greedy(P, kn, order, max_restarts)
            except InfeasibleError:
                continue
            info["pass"] = "+".join(n for n, on in (("model_cover", kn.forbid is not None), ("frugal", kn.frugal),
                                                   ("unserved_first", kn.unserved_first)) if on)
            break
    if best is None:
        raise err
    return best


def _greedy(P: Prepared, knobs: Knobs | None, order: np.ndarray | None, max_restarts: int | None) -> State:
    """One pricing of GH with squeaky-wheel restarts; raises ``InfeasibleError`` when every pass gets stuck."""
    order = hardest_first(P) if order is None else np.asarray(order)
    max_restarts = min(P.I, MAX_RESTARTS) if max_restarts is None else max_restarts
    diagnosis: list[str] = []
    seen = set()
    for _ in range(max_restarts + 1):
        key = tuple(int(v) for v in order)
        if key in seen:
            break
        seen.add(key)
        st, why, stuck = construct(P, order, knobs)
        if st is not None:
            return st
        if why not in diagnosis:
            diagnosis.append(why)
        if why.budget_out and (knobs is None or not knobs.unserved_first) and (P.inst.max_unserved > 0).any():
            break  # the budget ran out: reordering rarely helps, the unserved-first passes do
        if SKIP_RESTARTS_WHEN_GPUS_RUN_OUT and why.gpus_out and (knobs is None or not knobs.frugal):
            break  # GPUs ran out: the frugal pass follows (see SKIP_RESTARTS_WHEN_GPUS_RUN_OUT)
        order = np.concatenate(([stuck], order[order != stuck]))
    raise InfeasibleError("GH found no feasible plan", diagnosis=diagnosis)


def lp_fallback(P: Prepared, diagnosis: list[str], who: str = "GH", root_lp=None, root=None) -> tuple[State, dict]:
    """GH's fallback when the greedy is stuck: LP rounding with a short dive, else a restricted MILP stopped
    at its first plan (:func:`~.lpround.lp_round` at the FALLBACK_* budget); ``root_lp``/``root`` reuse an
    LP relaxation already solved. Raises ``InfeasibleError`` only when the LP relaxation is infeasible."""
    return lp_round(P, root_lp, root, diagnosis=diagnosis, who=who, dive_steps=FALLBACK_DIVE_STEPS,
                    max_configs=FALLBACK_CONFIGS, mip_nodes=FALLBACK_NODES)


def gh_arrays(inst: Instance, P: Prepared | None = None, info: dict | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GH as arrays (y: C replicas, x: R fractions, u: I fractions); raises ``InfeasibleError``.

    When the one-pass greedy gets stuck, GH falls back to LP rounding (``info["fallback"]``), so it
    reports infeasibility only when the LP relaxation — hence the MILP — has no solution."""
    P = P or prepare(inst)
    info = {} if info is None else info
    try:
        st = greedy(P, info=info)
        info["fallback"] = None
    except InfeasibleError as e:
        st, lp_info = lp_fallback(P, e.diagnosis)
        info["fallback"] = lp_info.get("rounding", "lp")
        info["greedy_stuck"] = e.diagnosis
    return verified(inst, st, P, "GH")



@register_method("gh", "greedy heuristic (one constraint-aware pass, milliseconds)")
def gh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    info: dict = {}
    y, x, u = gh_arrays(inst, info=info)
    return plan_from_arrays(inst, y, x, u, method="gh", status=Status.FEASIBLE, runtime_s=time.perf_counter() - t0,
                            extra={"gh": info})
