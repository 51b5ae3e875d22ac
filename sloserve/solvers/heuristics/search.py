"""AGH's improvement phase: seeded multi-start construction + relocate / consolidation local search.

Start 0 is GH's own plan; start 1 is GH's order with new replicas priced pro rata (LP-like)
instead of rounded up; starts 2.. use a randomised type order and ranking noise drawn from
``numpy.random.default_rng(seed)``, alternating the two pricings. Every start is improved by :func:`local_search`, whose moves
are ruin-and-recreate steps built from the two primitives of :mod:`~sloserve.heuristics.core`:

- *close configuration* (GPU consolidation): take all traffic off the least-utilised open
  configuration and re-insert it elsewhere (spare capacity of open replicas is free; its
  deployment becomes free for another TP/PP setting);
- *drop a replica*: shed the share of a configuration's traffic that its last replica carries
  and re-insert it elsewhere;
- *close model*: empty every configuration of a model (saves its fixed cost, frees a max_models slot);
- *relocate type*: take one query type off entirely and re-insert it against everyone else.

A move is kept only when the objective falls, so the result never costs more than its start, and
AGH never more than GH. The iteration budget (starts, passes) is deterministic; the time cap is a
safety stop only (when it fires the result can depend on machine speed: ``extra["stopped_by"]``).
"""
from __future__ import annotations

import time

import numpy as np

from .core import Knobs, Prepared, State, insert_type, remove_routes, remove_type
from .gh import construct, hardest_first


def _improves(new: float, old: float) -> bool:
    return not np.isfinite(old) or new < old - 1e-9 * max(1.0, abs(old))


#: local-search re-insertion: plain cost per coverage, no TP upgrades (a closed configuration frees
#: its deployment for another TP/PP setting anyway); keeps a move at well under a millisecond
LS_KNOBS = Knobs(upgrades=False)


def _reinsert(P: Prepared, st: State, rank: np.ndarray, forbid: np.ndarray | None) -> bool:
    todo = np.flatnonzero(st.rem > 0)
    for i in todo[np.argsort(rank[todo], kind="stable")]:
        if insert_type(P, st, int(i), forbid=forbid, knobs=LS_KNOBS) is not None:
            return False
    return True


def close_config(P: Prepared, st: State, c: int, rank: np.ndarray) -> State | None:
    """Trial state with configuration ``c`` emptied and its traffic re-inserted elsewhere (or None)."""
    t = st.copy()
    remove_routes(P, t, P.config_routes[c])
    forbid = np.zeros(P.inst.C, dtype=bool)
    forbid[c] = True
    return t if _reinsert(P, t, rank, forbid) else None


def drop_replica(P: Prepared, st: State, c: int, rank: np.ndarray) -> State | None:
    """Trial state with one replica fewer on ``c``: the share it carried is re-inserted elsewhere."""
    y = int(st.y[c])
    need = max(st.cu[c], st.mu[c])
    if y < 2 or need <= 0:
        return None
    keep = min(1.0, (y - 1) / need * (1 - 1e-9))
    t = st.copy()
    remove_routes(P, t, P.config_routes[c], factor=1.0 - keep)
    if t.y[c] >= y:
        return None
    forbid = np.zeros(P.inst.C, dtype=bool)
    forbid[c] = True
    return t if _reinsert(P, t, rank, forbid) else None


def close_model(P: Prepared, st: State, j: int, rank: np.ndarray) -> State | None:
    """Trial state without model ``j`` at all."""
    t = st.copy()
    cfgs = P.model_configs[j]
    for c in cfgs[t.y[cfgs] > 0]:
        remove_routes(P, t, P.config_routes[int(c)])
    forbid = np.zeros(P.inst.C, dtype=bool)
    forbid[cfgs] = True
    return t if _reinsert(P, t, rank, forbid) else None


def relocate_type(P: Prepared, st: State, i: int, rank: np.ndarray) -> State | None:
    """Trial state with type ``i`` taken off and greedily re-inserted against all others."""
    t = st.copy()
    remove_type(P, t, i)
    return t if insert_type(P, t, i, knobs=LS_KNOBS) is None else None


def local_search(P: Prepared, st: State, rank: np.ndarray, *, max_passes: int = 4,
                 deadline: float = np.inf, max_trials: int | None = None) -> tuple[State, int]:
    """First-improvement descent over the moves above; returns (state, moves kept).

    ``max_trials`` bounds the trial moves evaluated (a deterministic budget: each is a ruin and
    re-insertion); ``deadline`` is a safety stop."""
    inst = P.inst
    kept = 0
    obj = st.objective(P)
    trials = [0]

    def spent() -> bool:
        if max_trials is not None and trials[0] >= max_trials:
            return True
        trials[0] += 1
        return time.perf_counter() > deadline

    for _ in range(max_passes):
        improved = False
        # consolidation: least-utilised open configurations first
        opened = np.flatnonzero(st.y > 0)
        util = np.maximum(st.cu[opened], st.mu[opened]) / st.y[opened]
        for c in opened[np.lexsort((-inst.cost[opened] * st.y[opened], util))]:
            c = int(c)
            if st.y[c] == 0:
                continue
            for move in (close_config, drop_replica):
                if spent():
                    return st, kept
                t = move(P, st, c, rank)
                if t is not None and _improves(t.objective(P), obj):
                    st, obj, kept, improved = t, t.objective(P), kept + 1, True
                    break
        # model selection: fixed costs and max_models
        if (inst.fixed_cost > 0).any() or st.n_models >= P.max_models:
            for j in np.flatnonzero(st.model_cnt > 0):
                if spent():
                    return st, kept
                t = close_model(P, st, int(j), rank)
                if t is not None and _improves(t.objective(P), obj):
                    st, obj, kept, improved = t, t.objective(P), kept + 1, True
        # relocate each type against the rest
        for i in np.argsort(rank):
            if spent():
                return st, kept
            t = relocate_type(P, st, int(i), rank)
            if t is not None and _improves(t.objective(P), obj):
                st, obj, kept, improved = t, t.objective(P), kept + 1, True
        if not improved:
            break
    return st, kept


def perturbed_order(base: np.ndarray, rng: np.random.Generator, shuffle_prob: float = 0.3) -> np.ndarray:
    """A random type order: a full shuffle with probability ``shuffle_prob``, else random adjacent swaps of ``base``."""
    order = base.copy()
    if rng.random() < shuffle_prob:
        return rng.permutation(order)
    for _ in range(max(1, len(order) // 3)):
        k = int(rng.integers(0, max(len(order) - 1, 1)))
        if k + 1 < len(order):
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def adaptive(P: Prepared, gh_state: State | None, *, seed: int = 0, starts: int = 8, noise: float = 0.15,
             max_passes: int = 4, time_cap_s: float = 1.0, max_trials: int | None = None) -> tuple[State | None, dict]:
    """Multi-start + local search from ``gh_state`` (start 0); returns (best state or None, stats).
    ``max_trials`` bounds each start's local search (trial moves)."""
    t0 = time.perf_counter()
    deadline = t0 + time_cap_s
    rng = np.random.default_rng(seed)
    base = hardest_first(P)
    rank = np.empty(P.I, dtype=np.int64)
    rank[base] = np.arange(P.I)
    best, best_obj = None, np.inf
    stats = {"starts": 0, "feasible_starts": 0, "moves": 0, "stopped_by": "budget", "best_start": None}
    for k in range(starts):
        if k > 0 and time.perf_counter() > deadline:
            stats["stopped_by"] = "time_cap"
            break
        if k == 0:
            st = gh_state.copy() if gh_state is not None else None
        elif k == 1:  # the same order with new replicas priced pro rata (LP-like), no noise
            st, _, _ = construct(P, base, Knobs(linear=True))
        else:
            order = perturbed_order(base, rng)
            st, _, _ = construct(P, order, Knobs(noise=noise, rng=rng, linear=bool(k % 2)))
        stats["starts"] += 1
        if st is None:
            continue
        stats["feasible_starts"] += 1
        st, kept = local_search(P, st, rank, max_passes=max_passes, deadline=deadline, max_trials=max_trials)
        stats["moves"] += kept
        if _improves(st.objective(P), best_obj):
            best, best_obj, stats["best_start"] = st, st.objective(P), k
    if time.perf_counter() > deadline:
        stats["stopped_by"] = "time_cap"
    return best, stats
