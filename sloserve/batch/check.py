"""The independent checker of a joint plan (online plan + the jobs' dedicated replicas), no solver.

The online part is checked by :func:`sloserve.checker.check_arrays` (every constraint of
docs/formulation.md §3); the batch part and the shared limits here, in numpy, from the plan's
numbers and the work table — not from the Pyomo model that produced them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..checker import TOL, Violation, check_arrays
from ..problem.instance import Instance
from ..problem.plan import arrays_from_plan


def _over(lhs: float, rhs: float) -> bool:
    return lhs > rhs + TOL * max(1.0, abs(lhs), abs(rhs) if math.isfinite(rhs) else 0.0)


def check_joint(inst: Instance, plan, work: pd.DataFrame) -> list[Violation]:
    """Violations of a :class:`~sloserve.batch.joint.JointPlan` (empty = feasible)."""
    a = arrays_from_plan(inst, plan.online)
    V = list(check_arrays(inst, a.y, a.x, a.u))
    c = inst.compiled
    cf = c.configs.set_index("config")
    alloc = plan.batch
    w = work.groupby(["job", "config"])["work_h"].min()
    deadline = work.groupby("job")["deadline_h"].first()
    for job in deadline.index:
        share = float(alloc.loc[alloc["job"] == job, "share"].sum())
        if abs(share - 1.0) > 1e-6:
            V.append(Violation("batch_assigned", str(job), share, 1.0, f"job {job!r} is {share:.6g} assigned, not 1"))
    for r in alloc.itertuples():
        if (r.job, r.config) not in w.index:
            V.append(Violation("domain", f"{r.job},{r.config}", 1, 0, f"job {r.job!r} was not priced on {r.config}"))
            continue
        if r.replicas < 0 or r.replicas != int(r.replicas) or not -TOL <= r.share <= 1 + TOL:
            V.append(Violation("domain", f"{r.job},{r.config}", r.replicas, 0, "replicas must be whole and >= 0, share in [0, 1]"))
        need = float(w[(r.job, r.config)]) * r.share
        have = float(deadline[r.job]) * r.replicas
        if _over(need, have):
            V.append(Violation("batch_deadline", f"{r.job},{r.config}", need, have,
                               f"{need:.4g} replica-hours of work, {r.replicas} replicas × {deadline[r.job]:g} h"))
    gpus_online = pd.Series(a.y * cf.loc[list(inst.configs), "gpus"].to_numpy(),
                            index=cf.loc[list(inst.configs), "gpu"].to_numpy()).groupby(level=0).sum()
    gpus_batch = (alloc.assign(g=alloc["replicas"] * cf.loc[alloc["config"], "gpus"].to_numpy())
                  .groupby("gpu")["g"].sum()) if len(alloc) else pd.Series(dtype=float)
    for k, avail in c.gpus.set_index("gpu")["available"].astype(float).items():
        tot = float(gpus_online.get(k, 0.0) + gpus_batch.get(k, 0.0))
        if math.isfinite(avail) and _over(tot, avail):
            V.append(Violation("availability", str(k), tot, avail, f"{tot:g} GPUs of {k} with the jobs', {avail:g} available"))
    batch_peak = float((alloc["replicas"] * alloc["cost_per_hour"]).sum()) if len(alloc) else 0.0
    batch_cost = float(sum(r.share * float(w[(r.job, r.config)]) * r.cost_per_hour / float(deadline[r.job])
                           for r in alloc.itertuples() if (r.job, r.config) in w.index))
    y_models = inst.models_selected(a.y) > 0
    models = set(np.asarray(inst.model_ids)[y_models]) | set(cf.loc[alloc.loc[alloc["replicas"] > 0, "config"], "model"])
    fixed = c.models.set_index("model")["fixed_cost_per_hour"]
    fixed_all = float(sum(fixed.get(mm, 0.0) for mm in models))
    spend = float(inst.cost @ a.y) + fixed_all + batch_peak
    if math.isfinite(inst.budget) and _over(spend, inst.budget):
        V.append(Violation("budget", "", spend, inst.budget, f"{spend:.4f} $/h with the jobs, budget {inst.budget:g}"))
    mm = c.options.max_models
    if mm is not None and len(models) > mm:
        V.append(Violation("max_models", "", len(models), mm, f"{len(models)} models with the jobs', at most {mm}"))
    online_fixed = float(inst.fixed_cost_of(a.y, a.x))
    expect = float(plan.online.objective) - online_fixed + fixed_all + batch_cost
    if abs(expect - plan.objective) > 1e-6 * max(1.0, abs(expect)):
        V.append(Violation("objective", "", plan.objective, expect,
                           f"the plan says {plan.objective:.6g} $/h, its replicas, models and penalties cost {expect:.6g}"))
    return V
