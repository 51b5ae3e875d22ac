"""Online traffic and offline jobs provisioned together: the MILP extended by batch components.

The online MILP (:mod:`sloserve.solvers.milp.model`) is built as always; :func:`add_batch` adds, in
Pyomo's names (``docs/offline_batching.md`` §7)::

    B                      jobs b;  BC: the (job, configuration) pairs priced (batch.price) — any feasible
                           configuration of the scenario's catalog, not only the online problem's C
    batch_work_h[b,c]      W_bc: replica-hours job b needs on c (simulated), h
    batch_fixed_h[b,c]     F_bc: one replica's warm-up + drain (paid once by every replica of a split job), h
    deadline_h[b]          D_b: the job's deadline, h
    batch_cost_per_hour, batch_gpus, batch_model, batch_gpu_type: c's $/h, GPUs, model j and GPU type k
    batch_ymax[b,c]        ceil((W_bc − F_bc)/(D_b − F_bc)): the most replicas b can use on c
    z[b,c] ∈ [0, 1]        share of job b run on c
    v[b,c] ∈ ℤ≥0           replicas of c dedicated to job b while it runs
    batch_assigned[b]      Σ_c z[b,c] = 1
    batch_deadline[b,c]    (W_bc − F_bc)·z[b,c] ≤ ((1 − μ)·D_b − F_bc)·v[b,c], μ = DEADLINE_MARGIN (5 %)
    batch_model_selected   v[b,c] ≤ batch_ymax[b,c]·s[j(c)]   (fixed costs and max_models count jobs too)
    availability_with_batch[k], budget_with_batch:
                           the online constraint's own expression + the jobs' GPUs (their $/h while
                           they run), replacing it (the online one is deactivated, not copied)
    cost_with_batch        the online objective + Σ cost_c·((W_bc − F_bc)·z_bc + F_bc·v_bc)/D_b: the
                           replica-hours a job's replicas work (its share, plus one drain each;
                           released when done), spread over its window, $/h

Offline work runs on its own replicas; the plan holds for the window of the jobs (their deadline);
``v`` is the peak the GPUs and the budget must allow, the objective pays only the hours worked (a
replica rented for the whole window would make slow, cheap replicas look best). Sharing spare capacity of online replicas is not modelled (the online SLOs would have to be
re-checked in simulation with the offline load; docs say so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from ..errors import InfeasibleError
from ..problem.instance import Instance, build_instance
from ..problem.plan import Plan
from ..problem.tables import Compiled
from ..vocab import Status
from .price import DEADLINE_MARGIN, usable_h

TOL = 1e-6
ALLOCATION_COLUMNS = ("job", "config", "gpu", "share", "replicas", "cost_per_hour", "work_h", "fixed_h", "deadline_h")


@dataclass
class JointPlan:
    """An online plan plus the jobs' dedicated replicas; ``objective`` = online + batch, $/h."""

    online: Plan
    batch: pd.DataFrame  # ALLOCATION_COLUMNS, one row per (job, configuration) with a share > 0
    objective: float
    status: str
    bound: float | None = None
    method: str = "milp"
    runtime_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def batch_cost_per_hour(self) -> float:
        """The jobs' replica-hours paid, spread over their windows, $/h."""
        return _alloc_cost(self.batch)

    @property
    def batch_cost_usd(self) -> float:
        """What the jobs' replicas work, in all (Σ cost·((W − F)·share + F·replicas)), $."""
        b = self.batch
        if not len(b):
            return 0.0
        return float((b["cost_per_hour"] * ((b["work_h"] - b["fixed_h"]) * b["share"] + b["fixed_h"] * b["replicas"])).sum())

    @property
    def gap(self) -> float | None:
        if self.bound is None or not math.isfinite(self.bound):
            return None
        return max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-9)


WORK_COLUMNS = ("job", "config", "model", "gpu", "gpus", "cost_per_hour", "work_h", "fixed_h", "deadline_h")


def _pairs(work: pd.DataFrame, compiled: Compiled) -> pd.DataFrame:
    """One row per (job, configuration) the job can finish on by its deadline (its cheapest pricing),
    with ``batch_ymax`` = ceil((W − F)/(D − F)). A job's configurations need not be the online problem's
    (a job has no latency SLO); their model and GPU type must be the problem's."""
    missing = [c for c in WORK_COLUMNS if c not in work]
    if missing:
        raise ValueError(f"the work table lacks columns {missing} (sloserve.batch.price.work_table makes it)")
    w = (work.loc[work["fixed_h"] < usable_h(work["deadline_h"])].sort_values("work_h")
         .drop_duplicates(["job", "config"]).reset_index(drop=True)[list(WORK_COLUMNS)])
    for col, known in (("model", compiled.models["model"]), ("gpu", compiled.gpus["gpu"])):
        bad = ~w[col].isin(set(known))
        if bad.any():
            raise ValueError(f"batch work names {col}s the problem does not have: {sorted(set(w.loc[bad, col]))[:5]}")
    w["batch_ymax"] = (np.ceil((w["work_h"] - w["fixed_h"]) / (usable_h(w["deadline_h"]) - w["fixed_h"]) - 1e-9)
                       .astype(int).clip(lower=1))
    for job in work["job"].unique():
        if not (w["job"] == job).any():
            raise InfeasibleError(f"batch job {job!r}: on every configuration priced, one replica's warm-up and "
                                  f"drain alone take longer than the deadline (less its 5 % margin)", ["relax the job's deadline, or allow faster "
                                                                      "configurations (models, GPU types)"])
    return w


def add_batch(m: pyo.ConcreteModel, work: pd.DataFrame, compiled: Compiled) -> None:
    """Add the batch components (module docstring) to an online MILP instance ``m``, in place."""
    w = _pairs(work, compiled)
    jobs = list(dict.fromkeys(w["job"]))
    pairs = list(zip(w["job"], w["config"]))

    def by_pair(col, cast=float):
        return dict(zip(pairs, w[col].map(cast)))

    m.B = pyo.Set(initialize=jobs, doc="B: offline jobs b")
    m.BC = pyo.Set(dimen=2, initialize=pairs, doc="BC: (job, configuration) pairs each job is priced on")
    m.BC_b = pyo.Set(m.B, initialize={b: [c for bb, c in pairs if bb == b] for b in jobs},
                     doc="the configurations job b can run on")
    m.batch_work_h = pyo.Param(m.BC, initialize=by_pair("work_h"), within=pyo.PositiveReals,
                               doc="W_bc: replica-hours job b needs on one replica of c (simulated), h")
    m.batch_fixed_h = pyo.Param(m.BC, initialize=by_pair("fixed_h"), within=pyo.NonNegativeReals,
                                doc="F_bc: one replica's warm-up and drain, paid once per replica, h")
    m.deadline_h = pyo.Param(m.B, initialize=dict(zip(w["job"], w["deadline_h"].astype(float))), within=pyo.PositiveReals,
                             doc="D_b: deadline of job b, h")
    m.deadline_margin = pyo.Param(initialize=DEADLINE_MARGIN, within=pyo.UnitInterval, mutable=True,
                                  doc="μ: share of a deadline kept free, fraction")
    m.batch_cost_per_hour = pyo.Param(m.BC, initialize=by_pair("cost_per_hour"), within=pyo.NonNegativeReals,
                                      doc="cost_c: one replica of c, $/h")
    m.batch_gpus = pyo.Param(m.BC, initialize=by_pair("gpus", int), within=pyo.PositiveIntegers, doc="gpus_c: GPUs per replica")
    m.batch_ymax = pyo.Param(m.BC, initialize=by_pair("batch_ymax", int), within=pyo.PositiveIntegers,
                             doc="ceil((W_bc − F_bc)/(D_b − F_bc)): most replicas job b can use on c, replicas")
    m.z = pyo.Var(m.BC, within=pyo.UnitInterval, doc="z_bc: share of job b run on c")
    m.v = pyo.Var(m.BC, within=pyo.NonNegativeIntegers, bounds=lambda m, b, c: (0, m.batch_ymax[b, c]),
                  doc="v_bc: replicas of c dedicated to job b while it runs")
    m.batch_assigned = pyo.Constraint(m.B, rule=lambda m, b: sum(m.z[b, c] for c in m.BC_b[b]) == 1,
                                      doc="Σ_c z_bc = 1: every job runs somewhere")
    m.batch_deadline = pyo.Constraint(
        m.BC, rule=lambda m, b, c: (m.batch_work_h[b, c] - m.batch_fixed_h[b, c]) * m.z[b, c]
        <= ((1 - m.deadline_margin) * m.deadline_h[b] - m.batch_fixed_h[b, c]) * m.v[b, c],
        doc="(W_bc − F_bc)·z_bc ≤ ((1 − μ)·D_b − F_bc)·v_bc: each replica's share and its drain fit the deadline, h")
    m.batch_model = pyo.Param(m.BC, initialize=dict(zip(pairs, w["model"])), within=m.J, doc="j(c): the model of c")
    m.batch_gpu_type = pyo.Param(m.BC, initialize=dict(zip(pairs, w["gpu"])), within=m.K, doc="k(c): the GPU type of c")
    m.batch_model_selected = pyo.Constraint(m.BC, rule=lambda m, b, c: m.v[b, c] <= m.batch_ymax[b, c] * m.s[m.batch_model[b, c]],
                                            doc="v_bc ≤ ymax_bc·s_j(c): a job's replicas select their model")
    batch_gpus = {k: [bc for bc in pairs if m.batch_gpu_type[bc] == k] for k in m.K}
    batch_peak = sum(m.batch_cost_per_hour[b, c] * m.v[b, c] for b, c in pairs)
    batch_cost = sum(m.batch_cost_per_hour[b, c] / m.deadline_h[b]
                     * ((m.batch_work_h[b, c] - m.batch_fixed_h[b, c]) * m.z[b, c] + m.batch_fixed_h[b, c] * m.v[b, c])
                     for b, c in pairs)

    limited = [k for k in m.K if math.isfinite(pyo.value(m.available[k])) and batch_gpus[k]]
    for k in limited:
        if k in m.availability:
            m.availability[k].deactivate()

    def availability(m, k):
        extra = sum(m.batch_gpus[b, c] * m.v[b, c] for b, c in batch_gpus[k])
        online = m.availability[k].body if k in m.availability else 0
        return online + extra <= m.available[k]

    m.availability_with_batch = pyo.Constraint(limited, rule=availability,
                                               doc="online GPUs + Σ gpus_c·v_bc ≤ A_k: GPUs rentable, GPUs")
    if math.isfinite(pyo.value(m.budget_per_hour)):
        online_budget = m.budget.body if m.budget.active and len(m.budget) else 0
        if len(m.budget):
            m.budget.deactivate()
        m.budget_with_batch = pyo.Constraint(expr=online_budget + batch_peak <= m.budget_per_hour,
                                             doc="online $/h + Σ cost_c·v_bc ≤ B: hourly budget at the jobs' peak, $/h")
    m.cost.deactivate()
    m.cost_with_batch = pyo.Objective(expr=m.cost.expr + batch_cost, sense=pyo.minimize,
                                      doc="the online cost + Σ cost_c·W_bc·z_bc/D_b, $/h over the jobs' window")


def allocation_frame(m: pyo.ConcreteModel) -> pd.DataFrame:
    """The jobs' shares and replicas from a solved (or warm-started) model, ALLOCATION_COLUMNS."""
    rows = []
    for b, c in m.BC:
        z = 0.0 if m.z[b, c].value is None else float(m.z[b, c].value)
        v = 0 if m.v[b, c].value is None else int(round(m.v[b, c].value))
        if z > TOL:  # the fewest replicas its share needs (the solver's v may exceed it within the tolerances)
            W, F, D = float(m.batch_work_h[b, c]), float(m.batch_fixed_h[b, c]), float(m.deadline_h[b])
            need = int(math.ceil(z * (W - F) / (float(usable_h(D)) - F) - 1e-9))
            rows.append({"job": b, "config": c, "gpu": m.batch_gpu_type[b, c], "share": z, "replicas": min(v, max(need, 1)),
                         "cost_per_hour": float(m.batch_cost_per_hour[b, c]), "work_h": W, "fixed_h": F, "deadline_h": D})
    return pd.DataFrame(rows, columns=list(ALLOCATION_COLUMNS))


def greedy_batch(inst: Instance, online: Plan, work: pd.DataFrame) -> pd.DataFrame:
    """Jobs on the GPUs and budget the online plan leaves (largest work first, each wholly on the
    configuration where its work costs least); raises :class:`InfeasibleError` for a job that
    fits nowhere. ALLOCATION_COLUMNS."""
    from ..problem.plan import arrays_from_plan
    c = inst.compiled
    w = _pairs(work, c)
    a = arrays_from_plan(inst, online)
    free = dict(zip(inst.gpu_ids, inst.available - inst.gpus_used(a.y)))  # inf where unlimited
    budget = inst.budget - float(inst.cost @ a.y + inst.fixed_cost_of(a.y, a.x)) if math.isfinite(inst.budget) else math.inf
    models_used = set(np.asarray(inst.model_ids)[inst.models_selected(a.y) > 0])
    fixed = c.models.set_index("model")["fixed_cost_per_hour"]
    max_models = c.options.max_models
    rows = []
    for job in w.groupby("job")["work_h"].min().sort_values(ascending=False).index:
        cand = w.loc[w["job"] == job].copy()
        cand["all_gpus"] = cand["gpus"] * cand["batch_ymax"]
        cand["cost"] = (cand["cost_per_hour"] * (cand["work_h"] + cand["fixed_h"] * (cand["batch_ymax"] - 1))
                        / cand["deadline_h"])  # what its replicas work, $/h over the window
        cand["peak"] = cand["cost_per_hour"] * cand["batch_ymax"]
        cand["extra_fixed"] = [0.0 if mm in models_used else float(fixed.get(mm, 0.0)) for mm in cand["model"]]
        ok = (cand["all_gpus"] <= cand["gpu"].map(free)) & (cand["peak"] + cand["extra_fixed"] <= budget + TOL)
        if max_models is not None:
            ok &= [mm in models_used or len(models_used) < max_models for mm in cand["model"]]
        cand = cand.loc[ok]
        if cand.empty:
            raise InfeasibleError(f"batch job {job!r}: no configuration has the GPUs and budget the online plan leaves",
                                  ["solve jointly with the MILP (method milp), raise availability or the budget, "
                                   "or relax the job's deadline"])
        best = cand.sort_values(["cost", "config"]).iloc[0]
        free[best["gpu"]] -= best["all_gpus"]
        budget -= best["peak"] + best["extra_fixed"]
        models_used.add(best["model"])
        rows.append({"job": job, "config": best["config"], "gpu": best["gpu"], "share": 1.0,
                     "replicas": int(best["batch_ymax"]), "cost_per_hour": float(best["cost_per_hour"]),
                     "work_h": float(best["work_h"]), "fixed_h": float(best["fixed_h"]),
                     "deadline_h": float(best["deadline_h"])})
    return pd.DataFrame(rows, columns=list(ALLOCATION_COLUMNS))


def _set_batch_values(m: pyo.ConcreteModel, alloc: pd.DataFrame) -> None:
    got = {(r.job, r.config): r for r in alloc.itertuples()}
    for b, c in m.BC:
        r = got.get((b, c))
        m.z[b, c].set_value(float(r.share) if r else 0.0, skip_validation=True)
        m.v[b, c].set_value(int(r.replicas) if r else 0, skip_validation=True)
        if r is not None and r.replicas > 0:
            m.s[m.batch_model[b, c]].set_value(1, skip_validation=True)


def solve_joint(compiled: Compiled, work: pd.DataFrame, *, method: str = "milp", time_limit_s: float | None = 60.0,
                warm_start: bool = True, inst: Instance | None = None) -> JointPlan:
    """Provision online traffic and offline jobs together.

    ``method="milp"``: the extended MILP (warm-started from AGH's online plan and :func:`greedy_batch`
    when ``warm_start``); ``method="greedy"``: AGH's online plan, then the jobs greedily on what is
    left (fast; not joint). Every plan returned has passed :func:`sloserve.batch.check.check_joint`."""
    import time

    from ..solvers import SolveOptions, solve
    from .check import check_joint
    inst = build_instance(compiled) if inst is None else inst
    t0 = time.perf_counter()
    if method == "greedy":
        online = solve(inst, "agh", SolveOptions())
        alloc = greedy_batch(inst, online, work)
        jp = JointPlan(online=online, batch=alloc, objective=joint_objective(inst, online, alloc, work),
                       status=Status.FEASIBLE, method="agh+greedy", runtime_s=time.perf_counter() - t0)
    elif method == "milp":
        from ..solvers.milp.data import create_pyomo_instance, set_values
        from ..solvers.milp.seam import solve_instance, to_plan
        m = create_pyomo_instance(inst)
        add_batch(m, work, compiled)
        start = None
        if warm_start:
            try:
                online0 = solve(inst, "agh", SolveOptions())
                alloc0 = greedy_batch(inst, online0, work)
                set_values(m, online0)
                _set_batch_values(m, alloc0)
                start = joint_objective(inst, online0, alloc0, work)
                if check_joint(inst, JointPlan(online0, alloc0, start, Status.FEASIBLE), work):
                    start = None
            except InfeasibleError:
                start = None
        res = solve_instance(m, time_limit_s=time_limit_s, start_objective=start)
        if not res.has_solution:
            if res.status == Status.INFEASIBLE:
                raise InfeasibleError("no plan serves the online traffic and finishes every batch job by its deadline",
                                      ["relax a job's deadline, allow it more models or GPU types, raise GPU "
                                       "availability or the budget; `sloserve batch JOB.yaml` shows each job's "
                                       "replicas per configuration"])
            raise InfeasibleError(f"the joint MILP found no plan (status {res.status or res.termination})",
                                  ["raise the time limit"])
        online = to_plan(m, res)
        alloc = allocation_frame(m)
        jp = JointPlan(online=online, batch=alloc, objective=joint_objective(inst, online, alloc, work),
                       status=res.status, bound=res.bound, method="milp", runtime_s=time.perf_counter() - t0,
                       extra={"warm_start": res.warm_start})
    else:
        raise ValueError(f"method must be 'milp' or 'greedy', got {method!r}")
    bad = check_joint(inst, jp, work)
    if bad:
        raise AssertionError("the joint plan fails the checker: " + "; ".join(map(str, bad[:5])))
    return jp


def _alloc_cost(alloc: pd.DataFrame) -> float:
    """Σ cost·((W − F)·share + F·replicas)/D over the allocation rows: the replica-hours worked, $/h."""
    if not len(alloc):
        return 0.0
    a = alloc
    return float((a["cost_per_hour"] * ((a["work_h"] - a["fixed_h"]) * a["share"] + a["fixed_h"] * a["replicas"])
                  / a["deadline_h"]).sum())


def joint_objective(inst: Instance, online: Plan, alloc: pd.DataFrame, work: pd.DataFrame) -> float:
    """$/h of online plan + jobs: the online objective with the fixed cost of every model either uses
    (a model only a job uses pays its fixed cost too), plus the jobs' replicas."""
    from ..problem.plan import arrays_from_plan
    a = arrays_from_plan(inst, online)
    model_of = dict(zip(work["config"], work["model"]))
    models = set(np.asarray(inst.model_ids)[inst.models_selected(a.y) > 0])
    models |= {model_of[c] for c in alloc.loc[alloc["replicas"] > 0, "config"]}
    fixed = inst.compiled.models.set_index("model")["fixed_cost_per_hour"]
    return (float(online.objective) - float(inst.fixed_cost_of(a.y, a.x)) + float(sum(fixed.get(m, 0.0) for m in models))
            + _alloc_cost(alloc))
