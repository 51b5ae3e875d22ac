"""Percentile SLOs in the planner: plan, simulate, tighten what the planner believes, re-plan.

The planner promises means (a capacity under a utilisation cap, the latency of a design batch); a
scenario may ask, per query type, for an attainment target (``slo_attainment: 0.9`` — 90 % of the
type's requests meet every SLO). :func:`verify` closes the gap: it plans, replays the plan in the
simulator, and for every type that misses its target tightens the planner's beliefs about that
type's routes, then re-plans, until every target holds in simulation or ``max_iterations`` is reached:

- a type that misses gets its routes' capacity μ_ic derated by a factor (more replicas: less
  queueing, and fewer other requests' prefill chunks sharing its decode iterations): the effective
  utilisation cap of the configurations it uses;
- a type whose misses are mostly **slow decoding** (TPOT) — or whose misses did not shrink by 30 %
  after the last change — gets its latency SLOs scaled down for the planner (smaller design batches,
  faster configurations: a TTFT that a lone prefill nearly exhausts cannot be fixed by more replicas).

When a tightening leaves the planner no plan (the beliefs became infeasible), the knobs go half-way
back, geometrically, towards the last ones that gave a plan, and the loop goes on.

Synthetic arrivals (when none are given) last ``duration_s`` or until the rarest type expects
``min_requests`` requests (extended to at most ``max_duration_s``): an attainment judged on a few dozen
requests would be met by luck and missed out of sample.

The knobs only tighten, by fixed steps, so the first plan that meets every target may have
overshot. A refinement phase then bisects between the last failing knobs and the meeting ones
(geometric interpolation per type, ``refine_iterations`` times): a point that still meets every
target becomes the new upper end, one that misses the new lower end.

Last, a trim phase walks down from the cheapest plan that met every target: one replica fewer of
the most expensive configuration that has two or more, kept when the checker still accepts it on
the plan's tables without the derating (capacity at its design batches under the utilisation cap,
KV memory, SLOs, error) and it still meets every target in
simulation (``trim_iterations`` replays at most). Routing fractions are per configuration, so a
configuration that keeps a replica keeps its routes.

Before any of this, :func:`sloserve.sim.ceiling.attainable` bounds each type's attainment by what
its requests could reach alone on their fastest configuration; a target above that bound is
reported as infeasible (which SLO binds, what to change) instead of looping.

Each iteration's plan is judged against the original SLOs. The result keeps every iteration's cost
and attainment, and returns the cheapest plan that met every target (or, when none did, the last).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError, InputError
from ..model.compile import compile_scenario
from ..model.scenario import Scenario
from ..checker import CheckResult, check
from ..problem.instance import build_instance
from ..problem.plan import Plan
from ..problem.tables import Compiled
from ..solvers import SolveOptions, solve
from .arrivals import Arrivals, synthetic
from .ceiling import attainable, unattainable
from .engine import EngineOptions
from .metrics import latencies
from .simulator import SimResult, simulate


@dataclass(frozen=True)
class VerifyOptions:
    method: str = "agh"  # the planning method of every iteration
    target: float | None = 0.9  # attainment target of types whose scenario states none (None: unchecked)
    max_iterations: int = 8
    duration_s: float = 600.0  # synthetic arrivals per iteration (when no arrivals are given), s
    min_requests: int = 500  # synthetic arrivals last until the rarest type expects this many ...
    max_duration_s: float = 4 * 3600.0  # ... extending duration_s to at most this, s
    process: str = "poisson"
    cv: float = 1.0
    lengths: str = "fixed"
    seed: int = 0
    derate_step: float = 0.85  # capacity factor applied to a type that misses by waiting
    slo_step: float = 0.85  # latency-SLO factor applied to a type that misses by slow decoding
    min_factor: float = 0.2  # neither knob goes below this
    time_limit_s: float | None = None  # per plan
    refine_iterations: int = 3  # bisection steps after the first plan that meets every target
    trim_iterations: int = 6  # replays spent removing replicas from the cheapest plan that met

    def __post_init__(self):
        def bad(field: str, allowed: str):
            raise InputError(None, f"VerifyOptions.{field}", f"must be {allowed}, got {getattr(self, field)!r}")
        if self.target is not None and not 0 < self.target <= 1:
            bad("target", "in (0, 1] or None")
        if not self.duration_s > 0:
            bad("duration_s", "> 0 seconds")
        if not self.max_duration_s > 0:
            bad("max_duration_s", "> 0 seconds")
        if not self.min_requests >= 0:
            bad("min_requests", ">= 0")
        if not self.max_iterations >= 1:
            bad("max_iterations", ">= 1")
        for f in ("refine_iterations", "trim_iterations"):
            if not getattr(self, f) >= 0:
                bad(f, ">= 0")
        for f in ("derate_step", "slo_step", "min_factor"):
            if not 0 < getattr(self, f) < 1:
                bad(f, "in (0, 1)")


@dataclass
class VerifyResult:
    plan: Plan  # the cheapest plan that met every target in simulation (else the last one)
    compiled: Compiled  # the tables it was replayed on: its beliefs' routes and design batches, the true SLOs
    result: SimResult  # its simulation
    met: bool
    iterations: pd.DataFrame  # iteration, phase, cost, GPUs, and per type: attainment, target, knobs
    checked: CheckResult | None = None  # the checker's verdict on the scenario's own tables
    ceilings: pd.DataFrame | None = None  # per type, the attainment no plan can exceed (sim.ceiling)
    arrivals: Arrivals | None = None  # the traffic every iteration replayed


def _with_beliefs(sc: Scenario, slo_factor: dict[str, float], derate: dict[str, float]) -> Compiled:
    """The scenario compiled with per-type SLO factors, then its routes' capacity derated per type."""
    qts = tuple(dataclasses.replace(q, **{f: (None if getattr(q, f) is None else getattr(q, f) * slo_factor.get(q.name, 1.0))
                                          for f in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")}) for q in sc.query_types)
    c = compile_scenario(dataclasses.replace(sc, query_types=qts))
    if any(v != 1.0 for v in derate.values()):
        rt = c.routes.copy()
        f = rt["query_type"].map(derate).fillna(1.0).to_numpy(dtype=float)
        rt["capacity_rps"] = rt["capacity_rps"].to_numpy(dtype=float) * f
        c = dataclasses.replace(c, routes=rt)
    return c


def _judged_on(belief: Compiled, truth: Compiled) -> Compiled:
    """The belief's tables (the plan's routes, design batches) with the true SLOs and targets."""
    cols = ["ttft_slo_s", "tpot_slo_s", "e2e_slo_s", "slo_attainment"]
    qt = belief.query_types.copy()
    src = truth.query_types.set_index("query_type")
    for col in cols:
        if col in src:
            qt[col] = src[col].reindex(qt["query_type"]).to_numpy()
    return dataclasses.replace(belief, query_types=qt)


def _trim(k: int, tried: list, sc: Scenario, truth: Compiled, attempt, budget: int) -> int:
    """Remove replicas one at a time from the cheapest plan that met (module doc); returns the next iteration."""
    ok = [t for t in tried if t[3]]
    if not ok or budget <= 0:
        return k
    plan, _belief, _res, _met, knobs = min(ok, key=lambda t: t[0].objective)
    # the plan's routes and design batches (what its engines run) without the derated capacity
    belief = _judged_on(_with_beliefs(sc, knobs[0], {}), truth)
    inst = build_instance(belief)
    cost = dict(zip(belief.configs["config"].astype(str), inst.cost))
    method = plan.method + "+trim"
    extra = {key: v for key, v in plan.extra.items() if key != "gap"}  # no bound, so no gap
    blocked: set[str] = set()
    while budget > 0:
        cands = sorted((c for c, n in plan.replicas.items() if n >= 2 and c not in blocked), key=lambda c: -cost[c])
        if not cands:
            break
        c = cands[0]
        trial = dataclasses.replace(plan, replicas={**plan.replicas, c: plan.replicas[c] - 1}, method=method,
                                    bound=None, extra={**extra, "trimmed_from": extra.get("trimmed_from", plan.objective)})
        verdict = check(inst, trial)
        trial.objective = verdict.objective
        if verdict.violations:  # the plan's own constraints come first
            blocked.add(c)
            continue
        budget -= 1
        miss, _ = attempt(k, "trim", *knobs, trial, belief)
        k += 1
        if miss is not None and not any(v > 0 for v in miss.values()):
            plan = trial
        else:
            blocked.add(c)
    return k


def verify(sc: Scenario, arrivals: Arrivals | None = None, opts: VerifyOptions = VerifyOptions(), *,
           engine: EngineOptions = EngineOptions(), predictor=None, progress=None) -> VerifyResult:
    """Plan ``sc`` until every query type meets its attainment target when replayed (see module doc).

    ``arrivals``: what to replay (default: synthetic arrivals at the scenario's rates, ``opts``'
    process and duration, one seed for every iteration so that plans are compared on the same
    traffic). ``engine``: the replica engines (scheduler, token budget)."""
    truth = compile_scenario(sc)
    targets = truth.query_types["slo_attainment"].to_numpy(dtype=float) if "slo_attainment" in truth.query_types \
        else np.full(len(truth.query_types), np.nan)
    if opts.target is not None:
        targets = np.where(np.isnan(targets), opts.target, targets)
    truth = dataclasses.replace(truth, query_types=truth.query_types.assign(slo_attainment=targets))
    if arrivals is None:
        rates = truth.query_types["rate_rps"].to_numpy(dtype=float)
        rarest = float(rates[rates > 0].min()) if (rates > 0).any() else 1.0
        duration = max(opts.duration_s, min(opts.max_duration_s, opts.min_requests / rarest))
        arrivals = synthetic(truth, duration, process=opts.process, cv=opts.cv, lengths=opts.lengths,
                             seed=opts.seed)
    names = list(truth.query_types["query_type"].astype(str))
    lim = truth.query_types.set_index("query_type")
    ceilings = attainable(truth, arrivals)
    impossible = unattainable(ceilings, lim["slo_attainment"], truth)
    if impossible:  # no plan of these tables can meet them: say so before renting anything
        raise InfeasibleError(f"verify: no plan can meet these attainment targets on {arrivals.source or 'this traffic'}",
                              impossible)
    rows, tried = [], []

    def attempt(k: int, phase: str, slo_factor: dict, derate: dict, plan: Plan | None = None, belief=None):
        """Plan under these beliefs (or replay ``plan`` made on ``belief``), replay, record; the
        per-type shortfall (None: no plan)."""
        if plan is None:
            belief = _with_beliefs(sc, slo_factor, derate)
            try:
                plan = solve(belief, opts.method, SolveOptions(time_limit_s=opts.time_limit_s, seed=opts.seed))
            except InfeasibleError as e:  # the beliefs became too tight to plan
                rows.append({"iteration": k, "phase": phase, "cost_per_hour": math.nan, "gpus": 0, "met": False,
                             "note": "no plan: " + str(e).splitlines()[0]})
                return None, None
        judged = _judged_on(belief, truth)
        res = simulate(judged, plan, arrivals, engine=engine, predictor=predictor, progress=progress)
        s = res.summary.set_index("query_type")
        miss = {q: float(s.at[q, "attainment_target"] - s.at[q, "slo_attainment"]) for q in names
                if not math.isnan(s.at[q, "attainment_target"])}
        met = not any(m > 0 for m in miss.values())
        gpus = sum(int(n) * int(g) for cfg, n in plan.replicas.items()
                   for g in belief.configs.loc[belief.configs["config"] == cfg, "gpus"])
        row = {"iteration": k, "phase": phase, "cost_per_hour": plan.objective, "gpus": gpus, "met": met, "note": ""}
        for q in names:
            row[f"{q}:attainment"] = float(s.at[q, "slo_attainment"])
            row[f"{q}:slo_factor"] = slo_factor[q]
            row[f"{q}:capacity_factor"] = derate[q]
        rows.append(row)
        tried.append((plan, judged, res, met, (dict(slo_factor), dict(derate))))
        return miss, res

    slo_factor = {q: 1.0 for q in names}
    derate = {q: 1.0 for q in names}
    last_miss: dict[str, float] = {}
    failed_knobs = None  # the knobs of the last iteration that missed, once one has met
    prev_knobs = None  # the knobs of the last iteration that produced a plan
    k = 0
    while k < opts.max_iterations:
        miss, res = attempt(k, "tighten", slo_factor, derate)
        k += 1
        if miss is None:  # the last tightening left no plan: go half-way back (geometrically) and retry
            if prev_knobs is None:
                break
            slo_factor = {q: float((slo_factor[q] * prev_knobs[0][q]) ** 0.5) for q in names}
            derate = {q: float((derate[q] * prev_knobs[1][q]) ** 0.5) for q in names}
            continue
        prev_knobs = (dict(slo_factor), dict(derate))
        failing = [q for q, m in miss.items() if m > 0]
        if not failing:
            break
        failed_knobs = (dict(slo_factor), dict(derate))
        lat = latencies(res.requests)
        for q in failing:
            m = (res.requests["query_type"] == q).to_numpy()
            row = lim.loc[q]
            bad_tpot = np.nanmean(lat["tpot_s"].to_numpy()[m] > row["tpot_slo_s"]) if pd.notna(row["tpot_slo_s"]) else 0.0
            bad_wait = np.nanmean(lat["ttft_s"].to_numpy()[m] > row["ttft_slo_s"]) if pd.notna(row["ttft_slo_s"]) else 0.0
            stuck = q in last_miss and miss[q] > 0.7 * last_miss[q]  # the last change did not help enough
            if bad_tpot > bad_wait or stuck:  # smaller batches, faster configurations
                slo_factor[q] = max(opts.min_factor, slo_factor[q] * opts.slo_step)
            # always: fewer requests per replica — less queueing, and fewer other requests' prefills
            # sharing this type's decode iterations (chunked prefill interferes with decoding)
            derate[q] = max(opts.min_factor, derate[q] * opts.derate_step ** (1 + int(miss[q] > 0.2)))
            last_miss[q] = miss[q]
    if tried and tried[-1][3] and failed_knobs is not None:
        # bisect between the last failing knobs (t = 0) and the meeting ones (t = 1)
        lo, hi = 0.0, 1.0
        met_knobs = (dict(slo_factor), dict(derate))
        for _ in range(opts.refine_iterations):
            t = 0.5 * (lo + hi)
            knobs = [{q: float(f[q] ** (1 - t) * m[q] ** t) for q in names} for f, m in zip(failed_knobs, met_knobs)]
            miss, _res = attempt(k, "refine", *knobs)
            k += 1
            if miss is not None and not any(v > 0 for v in miss.values()):
                hi = t
            else:
                lo = t
    k = _trim(k, tried, sc, truth, attempt, opts.trim_iterations)
    it = pd.DataFrame(rows)
    ok = [t for t in tried if t[3]]
    plan, belief, res, met, _knobs = min(ok, key=lambda t: t[0].objective) if ok else tried[-1] if tried else (None,) * 5
    if plan is None:
        raise InfeasibleError("verify: no plan could be made", [r["note"] for r in rows if r.get("note")])
    return VerifyResult(plan=plan, compiled=belief, result=res, met=bool(met), iterations=it,
                        checked=check(build_instance(truth), plan), ceilings=ceilings, arrivals=arrivals)
