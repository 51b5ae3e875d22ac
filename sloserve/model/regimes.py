"""Instance regimes: seeded scenarios of a given kind and size class, each with a known feasible plan.

``generate_scenario`` (:mod:`.generate`) draws one kind of instance. Methods tuned on it can miss
instances of other kinds, so this module draws instances by *regime* and *size class*
(:mod:`sloserve.problem.size`, by routes and configurations):

============== ==========================================================================================
regime          what is different
============== ==========================================================================================
regular         trace-like shapes, SLO tiers, error limits between the best and a middling model; GPU
                availability limited on some GPU types at 1.5–3× what a feasible plan needs
tight_gpus      every GPU type limited to 1.00–1.12× what a GPU-frugal feasible plan uses (types that
                plan leaves out: 1–8 GPUs): counts near the minimum that can serve the load
tight_budget    every type may leave 10–30% unserved at a penalty 2–5× the cost of serving it; the
                budget is 1.00–1.05× the cost of a plan serving only the rest, so it binds
few_models      at most 1 or 2 models, each with a fixed cost of 30–100% of a feasible plan's cost
tight_error     error limits between the best and the third-best (model, precision) of the type's
                family: only large models at high precision qualify alone (SLOs relaxed so they can)
mixed_slo       half the types are code with a tight TTFT (long prompts) and a loose TPOT, half chat
                with a tight TPOT and a loose TTFT
many_types      100–260 query types of lower rates (the same shapes, clustered)
============== ==========================================================================================

*Feasible by construction.* Every instance comes with a *witness*: a plan built on the compiled
tables without any solver (each type on one route that meets its error and delay limits alone,
packed first-fit onto one TP/PP setting per deployment) that meets every constraint; the tightened
limits (availability, budget, max_models) are set from it, so an instance is never infeasible.

*Sized by routes.* The number of query types is adjusted (a prefix-stable stream of types, so more
types only append) until the compiled instance falls into the requested size class; where it cannot
(rare), the instance keeps the class it has, and benchmarks classify every instance by its own
routes and configurations, never by how it was made.

Entry points: :func:`generate_regime` (a :class:`~.scenario.Scenario`), :func:`regime_instance`
(scenario, compiled tables and the witness arrays).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from . import catalog
from .compile import compile_scenario
from .scenario import GpuOverride, QueryType, Scenario, ScenarioOptions
from ..errors import InputError
from ..problem.instance import Instance, build_instance
from ..problem.size import SIZE_CLASSES, route_range, size_class
from ..problem.tables import Compiled

REGIMES: dict[str, str] = {
    "regular": "trace-like shapes and SLO tiers; some GPU types limited at 1.5-3x what a feasible plan needs",
    "tight_gpus": "every GPU type limited near what a GPU-frugal feasible plan uses",
    "tight_budget": "unserved traffic allowed at a penalty; the budget binds",
    "few_models": "max_models 1-2 with high fixed costs per model",
    "tight_error": "error limits only large models at high precision meet alone",
    "mixed_slo": "TTFT-tight code beside TPOT-tight chat",
    "many_types": "100+ query types of lower rates",
}

#: (query types, models, GPU types) to start from, by size class; many_types has its own
_DIMS = {"S": (7, 4, 4), "M": (14, 6, 6), "L": (32, 8, 8), "L+": (50, 10, 8), "XL": (72, 11, 8)}
_DIMS_MANY = {"S": (100, 1, 2), "M": (120, 3, 3), "L": (150, 4, 4), "L+": (200, 4, 5), "XL": (260, 5, 6)}
#: upper end of the XL route range a generator aims for (XL itself is unbounded)
_XL_AIM = 140_000

#: shapes: family, log-uniform ranges of prompt and output tokens
PROFILES = {
    "chat": ("conversation", (150, 3000), (80, 800)),
    "code": ("code", (400, 7000), (20, 400)),
    "summary": ("conversation", (2000, 7000), (100, 400)),
    "math": ("math", (64, 800), (150, 1000)),
    "rag": ("conversation", (1000, 6000), (40, 300)),
}
TPOT_TIERS_S = (0.025, 0.04, 0.06, 0.1, 0.2)
TPOT_WEIGHTS = (0.15, 0.3, 0.3, 0.15, 0.1)


@dataclass(frozen=True)
class RegimeInstance:
    """A regime's scenario, its compiled tables and the witness plan (arrays in Instance order)."""

    regime: str
    size: str  # the size class asked for
    seed: int
    scenario: Scenario
    compiled: Compiled
    witness: tuple[np.ndarray, np.ndarray, np.ndarray]  # (y, x, u)

    @property
    def size_class(self) -> str:
        """The size class the instance has (by its routes and configurations)."""
        return size_class(len(self.compiled.routes), len(self.compiled.configs))


# ---- query types ----------------------------------------------------------------------------------

def _query_type(k: int, rng: np.random.Generator, regime: str, err_range: dict[str, tuple[float, float]]) -> QueryType:
    """The k-th query type of a stream (every draw from ``rng``, a fixed number per type)."""
    u = rng.random(12)  # a fixed number of draws per type keeps the stream prefix-stable
    if regime == "mixed_slo":
        prof = "code" if u[0] < 0.5 else "chat"
    else:
        prof = list(PROFILES)[min(int(u[0] * len(PROFILES)), len(PROFILES) - 1)]
    fam, (hlo, hhi), (flo, fhi) = PROFILES[prof]
    h = int(round(np.exp(np.log(hlo) + u[1] * (np.log(hhi) - np.log(hlo)))))
    f = int(round(np.exp(np.log(flo) + u[2] * (np.log(fhi) - np.log(flo)))))
    if regime == "many_types":
        rate = float(np.exp(np.log(0.02) + u[3] * (np.log(3.0) - np.log(0.02))))
    else:
        rate = float(np.exp(np.log(0.1) + u[3] * (np.log(25.0) - np.log(0.1))))
    tier = int(np.searchsorted(np.cumsum(TPOT_WEIGHTS), u[4] * 0.999999))
    tpot = TPOT_TIERS_S[tier]
    ttft = (0.2 + h / 2500.0) * (1.2 + 2.8 * u[5])
    e2e: float | None = (ttft + f * tpot) * (1.05 + 0.45 * u[6])
    if regime == "mixed_slo":
        if prof == "code":  # the first token fast on a long prompt; decoding may be slow
            ttft = max(0.12, h / 9000.0) * (1.0 + 1.5 * u[5])
            tpot = 0.1 + 0.1 * u[4]
        else:  # streaming chat: every token fast, the first one may wait
            tpot = (0.015, 0.02, 0.03)[min(int(u[4] * 3), 2)]
            ttft = 2.0 + 3.0 * u[5]
        e2e = (ttft + f * tpot) * (1.3 + 0.5 * u[6])
    elif regime in ("tight_error", "few_models"):  # large models must be able to meet the SLOs
        tpot = max(tpot, 0.06) * 1.5
        ttft *= 2.0
        e2e = (ttft + f * tpot) * (1.3 + 0.5 * u[6])
    if u[7] < 0.25 and regime != "mixed_slo":
        e2e = None
    lo, hi = err_range[fam]
    max_error = lo + (0.1 + 0.9 * u[8]) * (hi - lo) + 0.005
    allow = u[9] < 0.25
    zeta = (0.02, 0.05, 0.1)[min(int(u[10] * 3), 2)] if allow else 0.0
    penalty = float(np.exp(np.log(0.001) + u[11] * (np.log(0.05) - np.log(0.001)))) if allow else 0.0
    return QueryType(name=f"q{k:03d}-{prof}", family=fam, rate_rps=round(rate, 4), input_tokens=h, output_tokens=f,
                     ttft_slo_s=round(ttft, 3), tpot_slo_s=round(tpot, 4),
                     e2e_slo_s=None if e2e is None else round(e2e, 3), max_error=round(min(max_error, 1.0), 4),
                     max_unserved=zeta, unserved_penalty=round(penalty, 5))


# ---- the witness: a feasible plan without a solver -------------------------------------------------

def _route_arrays(inst: Instance):
    a = inst.cap_load / inst.rho
    b = inst.mem_load / np.maximum(inst.kv[inst.route_c], 1e-300)
    slo = inst.e2e_slo[inst.route_i]
    ok = (inst.error <= inst.max_error[inst.route_i]) & ~(np.isfinite(slo) & (inst.e2e > np.where(np.isfinite(slo), slo, 0)))
    return a, b, ok


def witness(inst: Instance, *, score: str = "cost", served: np.ndarray | None = None,
            models: np.ndarray | None = None) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A plan from the tables alone; returns ((y, x, u), types it could not place).

    Each type goes whole onto one route that meets its error and delay limits alone (``models``: a
    mask of allowed models), types with the fewest such routes first (then the largest): the route
    whose marginal whole-replica ``score`` is smallest (``"cost"`` $/h or ``"gpus"``; spare capacity
    of replicas already placed is free), ties broken by the pro-rata score. The first type placed on a
    deployment fixes its TP/PP setting (one_parallelism). ``served`` (I) is the routed fraction per
    type, the rest unserved. Availability, budget and max_models are not looked at: the regimes set
    them from the witness."""
    a, b, ok = _route_arrays(inst)
    if models is not None:
        ok &= np.asarray(models, dtype=bool)[inst.config_model[inst.route_c]]
    served = np.ones(inst.I) if served is None else np.asarray(served, dtype=float)
    w = (inst.cost if score == "cost" else inst.gpus.astype(float))
    pro = w[inst.route_c] * np.maximum(a, b)
    cu, mu = np.zeros(inst.C), np.zeros(inst.C)
    y = np.zeros(inst.C, dtype=np.int64)
    x = np.zeros(inst.R)
    chosen = np.full(len(inst.deployments), -1, dtype=np.int64)  # the setting each deployment uses
    one_par = bool(inst.options.one_parallelism_per_deployment)
    missing = []
    need = np.full(inst.I, np.inf)
    np.minimum.at(need, inst.route_i[ok], pro[ok])
    n_ok = np.bincount(inst.route_i, weights=ok.astype(float), minlength=inst.I)
    for i in np.lexsort((-np.where(np.isfinite(need), need * served, 0.0), n_ok)):
        rs = np.flatnonzero((inst.route_i == i) & ok)
        c = inst.route_c[rs]
        if one_par and len(rs):
            d = chosen[inst.config_deployment[c]]
            keep = (d < 0) | (d == c)
            rs, c = rs[keep], c[keep]
        if len(rs) == 0:
            missing.append(int(i))
            continue
        s = served[i]
        new = np.ceil(np.maximum(cu[c] + a[rs] * s, mu[c] + b[rs] * s) * (1 - 1e-9) - 1e-12).clip(min=1)
        marginal = w[c] * (new - y[c])
        k = int(np.lexsort((pro[rs], marginal))[0])
        r, cc = int(rs[k]), int(c[k])
        x[r] = s
        cu[cc] += a[r] * s
        mu[cc] += b[r] * s
        y[cc] = int(new[k])
        chosen[inst.config_deployment[cc]] = cc
    u = 1.0 - served
    return (y, x, u), np.array(sorted(missing), dtype=np.int64)


# ---- the regimes ----------------------------------------------------------------------------------

def _rng(regime: str, size: str, seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([list(REGIMES).index(regime), SIZE_CLASSES.index(size), int(seed), stream, 7919])


def _catalog_choice(regime: str, n_models: int, n_gpus: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    cm, cg = catalog.models(), catalog.gpus()
    ids = list(cm.index)
    params = cm["total_params_b"].to_numpy(float)
    n_models = min(n_models, len(ids))
    if regime == "tight_error":  # at least two large models, so that the tight limits can be met
        large = [m for m, p in zip(ids, params) if p >= 27]
        pick = list(rng.choice(large, size=min(2, len(large)), replace=False))
        rest = [m for m in ids if m not in pick]
        pick += list(rng.choice(rest, size=max(0, n_models - len(pick)), replace=False))
    elif regime == "many_types":  # models that can serve most shapes (the largest serve few types at all)
        small = [m for m, p in zip(ids, params) if p <= 35]
        pick = list(rng.choice(small, size=min(n_models, len(small)), replace=False))
    else:
        pick = list(rng.choice(ids, size=n_models, replace=False))
    gpus = list(rng.choice(list(cg.index), size=min(n_gpus, len(cg)), replace=False))
    order = {m: k for k, m in enumerate(ids)}
    return sorted(pick, key=order.get), sorted(gpus, key=list(cg.index).index)


def _err_range(models: list[str]) -> dict[str, tuple[float, float]]:
    """Per family: the best and a middling model's bf16 error among ``models``."""
    err = catalog.error_table().loc[models]
    out = {}
    for fam in catalog.FAMILIES:
        fe = np.sort(err[fam].to_numpy(float))
        out[fam] = (float(fe[0]), float(fe[min(len(fe) - 1, len(fe) // 2)]))
    return out


def _repair(sc: Scenario, rounds: int = 3) -> tuple[Scenario, Compiled]:
    """Compile; a type with no route meeting its limits alone gets its error limit raised to its most
    accurate route (+0.002) or, without any route, its SLOs ×1.5; types still unserved are dropped."""
    c = compile_scenario(sc)
    for _ in range(rounds + 1):
        inst = build_instance(c)
        _, _, ok = _route_arrays(inst)
        has_ok = np.bincount(inst.route_i, weights=ok.astype(float), minlength=inst.I) > 0
        if has_ok.all():
            return sc, c
        has_any = np.bincount(inst.route_i, minlength=inst.I) > 0
        best = np.full(inst.I, np.inf)
        slo = inst.e2e_slo[inst.route_i]
        dl_ok = ~(np.isfinite(slo) & (inst.e2e > np.where(np.isfinite(slo), slo, 0)))
        np.minimum.at(best, inst.route_i[dl_ok], inst.error[dl_ok])
        qts, last = [], _ is rounds
        for i, q in enumerate(sc.query_types):
            if has_ok[i]:
                qts.append(q)
            elif last:
                continue  # dropped
            elif has_any[i] and np.isfinite(best[i]):
                qts.append(replace(q, max_error=round(min(1.0, float(best[i]) + 0.002), 4)))
            else:
                qts.append(replace(q, **{k: (None if getattr(q, k) is None else round(getattr(q, k) * 1.5, 4))
                                         for k in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")}))
        if not qts:
            raise InputError(None, "regime", f"no query type of {sc.name} can be served")
        sc = replace(sc, query_types=tuple(qts))
        c = compile_scenario(sc)
    return sc, c


def _tighten_error(sc: Scenario, c: Compiled, rng: np.random.Generator) -> Scenario:
    """Error limits between the best and the third-best route error of each type (distinct values)."""
    inst = build_instance(c)
    qts = []
    for i, q in enumerate(sc.query_types):
        e = np.unique(inst.error[inst.route_i == i])
        if len(e) == 0:
            qts.append(q)
            continue
        hi = e[min(2, len(e) - 1)]
        eps = e[0] + rng.uniform(0.05, 0.6) * (hi - e[0]) + 1e-4
        qts.append(replace(q, max_error=round(float(eps), 5)))
    return replace(sc, query_types=tuple(qts))


def _build(regime: str, size: str, seed: int, n_types: int, n_models: int, n_gpus: int
           ) -> tuple[Scenario, Compiled, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    crng = _rng(regime, size, seed, 0)
    models, gpus = _catalog_choice(regime, n_models, n_gpus, crng)
    trng = _rng(regime, size, seed, 1)
    er = _err_range(models)
    qts = tuple(_query_type(k, trng, regime, er) for k in range(n_types))
    orng = _rng(regime, size, seed, 2)  # the regime's own draws (limits)
    cap = float(orng.choice([0.7, 0.8, 0.9]))
    sc = Scenario(name=f"{regime}-{size}-s{seed}", query_types=qts, models=tuple(models), gpus=tuple(gpus),
                  precisions=tuple(catalog.precisions().index), options=ScenarioOptions(utilization_cap=cap),
                  description=f"regime {regime} ({REGIMES[regime]}), size class {size}, seed {seed}",
                  source=f"generate_regime({regime!r}, {size!r}, {seed})")
    if regime == "tight_budget":  # everyone may leave some traffic unserved
        sc = replace(sc, query_types=tuple(replace(q, max_unserved=round(float(orng.uniform(0.1, 0.3)), 3))
                                           for q in sc.query_types))
    sc, c = _repair(sc)
    if regime == "tight_error":
        sc, c = _repair(_tighten_error(sc, c, orng))
    allowed = None
    if regime == "few_models":
        sc, c, allowed = _few_models(sc, c, orng)
    score = "gpus" if regime == "tight_gpus" else "cost"
    sc, c, w = _placeable(sc, c, score=score, allowed=allowed, partial=regime == "tight_budget")
    inst = build_instance(c)
    y, x, u = w
    if regime == "few_models":  # fixed costs of 30-100% of the witness's cost per model, larger for larger models
        base = float(inst.cost @ y)
        params = catalog.models().loc[list(sc.models), "total_params_b"].to_numpy(float)
        fixed = {m: round(base * float(orng.uniform(0.3, 1.0)) * float((p / params.max()) ** 0.25), 2)
                 for m, p in zip(sc.models, params)}
        sc = replace(sc, model_fixed_cost=fixed)
    elif regime == "tight_budget":  # penalties 2-5x the pro-rata cost of serving; budget 1.00-1.05x the witness
        a, b, ok = _route_arrays(inst)
        unit = inst.cost[inst.route_c] * np.maximum(a, b)
        umin = np.full(inst.I, np.inf)
        np.minimum.at(umin, inst.route_i[ok], unit[ok])
        qts = tuple(replace(q, unserved_penalty=float(f"{float(orng.uniform(2.0, 5.0)) * umin[i] / (3600.0 * max(q.rate_rps, 1e-9)):.4g}"))
                    for i, q in enumerate(sc.query_types))
        budget = float(np.ceil(float(inst.cost @ y) * orng.uniform(1.0, 1.05) * 100) / 100)
        sc = replace(sc, query_types=qts, options=replace(sc.options, budget_per_hour=budget))
    elif regime in ("regular", "tight_gpus"):
        used = np.bincount(inst.config_gpu, weights=inst.gpus * y, minlength=len(inst.gpu_ids))
        over = {}
        for k, g in enumerate(inst.gpu_ids):
            if regime == "tight_gpus":
                over[str(g)] = GpuOverride(available=int(np.ceil(used[k] * orng.uniform(1.0, 1.12))) if used[k] > 0
                                           else int(orng.integers(1, 9)))
            elif used[k] > 0 and orng.random() < 0.4:
                over[str(g)] = GpuOverride(available=int(np.ceil(used[k] * orng.uniform(1.5, 3.0))))
        sc = replace(sc, gpu_overrides=over)
    c2 = compile_scenario(sc)
    return sc, c2, _carry(inst, build_instance(c2), w)


def _placeable(sc: Scenario, c: Compiled, *, score: str, allowed, partial: bool, rounds: int = 3):
    """Drop the types the witness cannot place (recompile) until it places all; returns (sc, c, witness)."""
    for _ in range(rounds + 1):
        inst = build_instance(c)
        w, missing = witness(inst, score=score, served=1.0 - inst.max_unserved if partial else None,
                             models=None if allowed is None else np.isin(inst.model_ids, allowed))
        if len(missing) == 0:
            return sc, c, w
        drop = set(inst.query_types[missing])
        sc = replace(sc, query_types=tuple(q for q in sc.query_types if q.name not in drop))
        if not sc.query_types:
            raise InputError(None, "regime", f"no query type of {sc.name} can be served")
        c = compile_scenario(sc)
    raise InputError(None, "regime", f"{sc.name}: the witness could not place every query type")


def _few_models(sc: Scenario, c: Compiled, rng: np.random.Generator):
    """max_models 1 or 2: the model set covering most types alone (then the cheapest witness); the
    other types' error limits are raised to what that set offers, types it cannot serve are dropped.
    Returns (scenario, compiled, the set's model names)."""
    inst = build_instance(c)
    mm = int(rng.choice([1, 2]))
    J = len(inst.model_ids)
    _, _, ok = _route_arrays(inst)
    best = None
    for S in itertools.combinations(range(J), min(mm, J)):
        mask = np.zeros(J, dtype=bool)
        mask[list(S)] = True
        on = mask[inst.config_model[inst.route_c]]
        covered = int((np.bincount(inst.route_i, weights=(ok & on).astype(float), minlength=inst.I) > 0).sum())
        served = int((np.bincount(inst.route_i, weights=on.astype(float), minlength=inst.I) > 0).sum())
        (y, _, _), miss = witness(inst, models=mask)
        key = (-covered, -served, len(miss), float(inst.cost @ y))
        if best is None or key < best[0]:
            best = (key, mask)
    mask = best[1]
    on = mask[inst.config_model[inst.route_c]]
    slo = inst.e2e_slo[inst.route_i]
    dl_ok = ~(np.isfinite(slo) & (inst.e2e > np.where(np.isfinite(slo), slo, 0)))
    emin = np.full(inst.I, np.inf)
    np.minimum.at(emin, inst.route_i[on & dl_ok], inst.error[on & dl_ok])
    qts = []
    for i, q in enumerate(sc.query_types):
        if not np.isfinite(emin[i]):
            continue  # the chosen models cannot serve it at all
        qts.append(q if emin[i] <= q.max_error else replace(q, max_error=round(min(1.0, float(emin[i]) + 0.002), 4)))
    names = [str(inst.model_ids[j]) for j in np.flatnonzero(mask)]
    sc = replace(sc, query_types=tuple(qts), options=replace(sc.options, max_models=mm))
    return sc, compile_scenario(sc), names


def _carry(old: Instance, new: Instance, plan):
    """The witness on recompiled tables (same routes, fewer configurations when availability dropped some)."""
    y, x, u = plan
    y2 = np.zeros(new.C, dtype=np.int64)
    x2 = np.zeros(new.R)
    for c in np.flatnonzero(y > 0):
        y2[new.config_index[old.configs[c]]] = y[c]
    for r in np.flatnonzero(x > 0):
        x2[new.route_index[(old.query_types[old.route_i[r]], old.configs[old.route_c[r]])]] = x[r]
    return y2, x2, u


def regime_instance(regime: str, size: str, seed: int = 0) -> RegimeInstance:
    """A seeded instance of ``regime`` in size class ``size`` (or the nearest class reachable), with its witness."""
    if regime not in REGIMES:
        raise InputError(None, "regime", f"unknown regime {regime!r}; choose one of {list(REGIMES)}")
    if size not in SIZE_CLASSES:
        raise InputError(None, "size", f"unknown size class {size!r}; choose one of {list(SIZE_CLASSES)}")
    n_types, n_models, n_gpus = (_DIMS_MANY if regime == "many_types" else _DIMS)[size]
    lo, hi = route_range(size)
    hi = min(hi, _XL_AIM)
    aim = np.sqrt(max(lo, 500) * hi)
    lo_types = 100 if regime == "many_types" else 1
    best = None
    tried = set()
    for _ in range(8):
        tried.add((n_types, n_models, n_gpus))
        sc, c, w = _build(regime, size, seed, n_types, n_models, n_gpus)
        R, C = len(c.routes), len(c.configs)
        short = lo_types - len(c.query_types)  # many_types: types the catalog could not serve were dropped
        dist = (0 if size_class(R, C) == size else abs(np.log(R / aim))) + max(short, 0)
        if best is None or dist < best[0]:
            best = (dist, sc, c, w)
        if dist == 0:
            break
        if short > 0:
            n_types = int(np.ceil(n_types * lo_types / max(len(c.query_types), 1) * 1.05))
            continue
        want = int(round(n_types * aim / max(R, 1)))
        if want < lo_types and n_gpus > 1:  # the type count is at its floor: fewer GPU types instead
            n_gpus -= 1
        elif want < lo_types and n_models > 1:
            n_models -= 1
        else:
            n_types = int(np.clip(want, lo_types, 400))
        if (n_types, n_models, n_gpus) in tried:
            break
    _, sc, c, w = best
    return RegimeInstance(regime=regime, size=size, seed=seed, scenario=sc, compiled=c, witness=w)


def generate_regime(regime: str, size: str = "S", seed: int = 0) -> Scenario:
    """A seeded scenario of ``regime`` (one of :data:`REGIMES`) in size class ``size`` (S, M, L, L+, XL)."""
    return regime_instance(regime, size, seed).scenario
