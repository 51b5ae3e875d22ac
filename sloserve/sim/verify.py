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

Each iteration's plan is judged against the original SLOs. The result keeps every iteration's cost
and attainment, and returns the cheapest plan that met every target (or, when none did, the last).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..model.compile import compile_scenario
from ..model.scenario import Scenario
from ..problem.plan import Plan
from ..problem.tables import Compiled
from ..solvers import SolveOptions, solve
from .arrivals import Arrivals, synthetic
from .engine import EngineOptions
from .metrics import latencies
from .simulator import SimResult, simulate


@dataclass(frozen=True)
class VerifyOptions:
    method: str = "agh"  # the planning method of every iteration
    target: float | None = 0.9  # attainment target of types whose scenario states none (None: unchecked)
    max_iterations: int = 8
    duration_s: float = 600.0  # synthetic arrivals per iteration (when no arrivals are given)
    process: str = "poisson"
    cv: float = 1.0
    lengths: str = "fixed"
    seed: int = 0
    derate_step: float = 0.85  # capacity factor applied to a type that misses by waiting
    slo_step: float = 0.85  # latency-SLO factor applied to a type that misses by slow decoding
    min_factor: float = 0.2  # neither knob goes below this
    time_limit_s: float | None = None  # per plan


@dataclass
class VerifyResult:
    plan: Plan  # the cheapest plan that met every target in simulation (else the last one)
    compiled: Compiled  # the tables that plan was made on (its beliefs)
    result: SimResult  # its simulation
    met: bool
    iterations: pd.DataFrame  # iteration, cost, GPUs, and per type: attainment, target, knobs


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
        arrivals = synthetic(truth, opts.duration_s, process=opts.process, cv=opts.cv, lengths=opts.lengths,
                             seed=opts.seed)
    names = list(truth.query_types["query_type"].astype(str))
    slo_factor = {q: 1.0 for q in names}
    derate = {q: 1.0 for q in names}
    rows, tried = [], []
    last_miss: dict[str, float] = {}
    for k in range(opts.max_iterations):
        belief = _with_beliefs(sc, slo_factor, derate)
        try:
            plan = solve(belief, opts.method, SolveOptions(time_limit_s=opts.time_limit_s, seed=opts.seed))
        except InfeasibleError as e:  # the beliefs became too tight to plan: report and stop
            rows.append({"iteration": k, "cost_per_hour": math.nan, "gpus": 0, "met": False,
                         "note": "no plan: " + str(e).splitlines()[0]})
            break
        judged = _judged_on(belief, truth)
        res = simulate(judged, plan, arrivals, engine=engine, predictor=predictor, progress=progress)
        s = res.summary.set_index("query_type")
        miss = {q: float(s.at[q, "attainment_target"] - s.at[q, "slo_attainment"]) for q in names
                if not math.isnan(s.at[q, "attainment_target"])}
        failing = [q for q, m in miss.items() if m > 0]
        gpus = sum(int(n) * int(g) for cfg, n in plan.replicas.items()
                   for g in belief.configs.loc[belief.configs["config"] == cfg, "gpus"])
        row = {"iteration": k, "cost_per_hour": plan.objective, "gpus": gpus, "met": not failing, "note": ""}
        for q in names:
            row[f"{q}:attainment"] = float(s.at[q, "slo_attainment"])
            row[f"{q}:slo_factor"] = slo_factor[q]
            row[f"{q}:capacity_factor"] = derate[q]
        rows.append(row)
        tried.append((plan, belief, res, not failing))
        if not failing:
            break
        lat = latencies(res.requests)
        for q in failing:
            m = (res.requests["query_type"] == q).to_numpy()
            lim = truth.query_types.set_index("query_type").loc[q]
            bad_tpot = np.nanmean(lat["tpot_s"].to_numpy()[m] > lim["tpot_slo_s"]) if pd.notna(lim["tpot_slo_s"]) else 0.0
            bad_wait = np.nanmean(lat["ttft_s"].to_numpy()[m] > lim["ttft_slo_s"]) if pd.notna(lim["ttft_slo_s"]) else 0.0
            stuck = q in last_miss and miss[q] > 0.7 * last_miss[q]  # the last change did not help enough
            if bad_tpot > bad_wait or stuck:  # smaller batches, faster configurations
                slo_factor[q] = max(opts.min_factor, slo_factor[q] * opts.slo_step)
            # always: fewer requests per replica — less queueing, and fewer other requests' prefills
            # sharing this type's decode iterations (chunked prefill interferes with decoding)
            derate[q] = max(opts.min_factor, derate[q] * opts.derate_step ** (1 + int(miss[q] > 0.2)))
            last_miss[q] = miss[q]
    it = pd.DataFrame(rows)
    ok = [t for t in tried if t[3]]
    plan, belief, res, met = min(ok, key=lambda t: t[0].objective) if ok else tried[-1] if tried else (None,) * 4
    if plan is None:
        raise InfeasibleError("verify: no plan could be made", [r["note"] for r in rows if r.get("note")])
    return VerifyResult(plan=plan, compiled=belief, result=res, met=bool(met), iterations=it)
