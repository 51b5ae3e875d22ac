"""The independent checker of a joint plan (online plan + the jobs' dedicated replicas), no solver.

The online part is checked by :func:`sloserve.checker.check_arrays` (every constraint of
docs/formulation.md §3); the batch part and the shared limits here, in numpy, from the plan's
numbers and the work table — not from the Pyomo model that produced them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..checker import TOL, Violation, _leq, check_arrays
from ..problem.instance import Instance
from ..problem.plan import arrays_from_plan
from .price import usable_h


def _over(lhs: float, rhs: float) -> bool:
    """lhs > rhs beyond the checker's tolerance (:func:`sloserve.checker._leq`, for one pair)."""
    return bool(_leq(np.array([lhs]), np.array([rhs]))[0])


def check_joint(inst: Instance, plan, work: pd.DataFrame) -> list[Violation]:
    """Violations of a :class:`~sloserve.batch.joint.JointPlan` (empty = feasible); ``work`` is the
    priced table (sloserve.batch.price) the plan was made from."""
    a = arrays_from_plan(inst, plan.online)
    V = list(check_arrays(inst, a.y, a.x, a.u))
    c = inst.compiled
    alloc = plan.batch
    row = {(r.job, r.config): r for r in work.sort_values("work_h", ascending=False).itertuples()}  # cheapest last wins
    deadline = work.groupby("job")["deadline_h"].first()
    for job in deadline.index:
        share = float(alloc.loc[alloc["job"] == job, "share"].sum())
        if abs(share - 1.0) > 1e-6:
            V.append(Violation("batch_assigned", str(job), share, 1.0, f"job {job!r} is {share:.6g} assigned, not 1"))
    gpus_batch: dict[str, float] = {}
    peak = cost = 0.0
    models = set(np.asarray(inst.model_ids)[inst.models_selected(a.y) > 0])
    for r in alloc.itertuples():
        w = row.get((r.job, r.config))
        if w is None:
            V.append(Violation("domain", f"{r.job},{r.config}", 1, 0, f"job {r.job!r} was not priced on {r.config}"))
            continue
        if r.replicas < 0 or r.replicas != int(r.replicas) or not -TOL <= r.share <= 1 + TOL:
            V.append(Violation("domain", f"{r.job},{r.config}", r.replicas, 0,
                               "replicas must be whole and >= 0, share in [0, 1]"))
        need = (w.work_h - w.fixed_h) * r.share
        have = (usable_h(w.deadline_h) - w.fixed_h) * r.replicas
        if w.fixed_h >= usable_h(w.deadline_h) or _over(need, have):
            V.append(Violation("batch_deadline", f"{r.job},{r.config}", need, have,
                               f"{need:.4g} replica-hours of work beyond the drain, {r.replicas} replicas × "
                               f"({usable_h(w.deadline_h):g} − {w.fixed_h:.3g}) h"))
        gpus_batch[w.gpu] = gpus_batch.get(w.gpu, 0.0) + r.replicas * w.gpus
        peak += r.replicas * w.cost_per_hour
        cost += w.cost_per_hour * ((w.work_h - w.fixed_h) * r.share + w.fixed_h * r.replicas) / w.deadline_h
        if r.replicas > 0:
            models.add(w.model)
    for k, online, avail in zip(inst.gpu_ids, inst.gpus_used(a.y), inst.available):
        tot = float(online + gpus_batch.get(k, 0.0))
        if math.isfinite(avail) and _over(tot, avail):
            V.append(Violation("availability", str(k), tot, avail, f"{tot:g} GPUs of {k} with the jobs', {avail:g} available"))
    fixed = c.models.set_index("model")["fixed_cost_per_hour"]
    fixed_all = float(sum(fixed.get(mm, 0.0) for mm in models))
    spend = float(inst.cost @ a.y) + fixed_all + peak
    if math.isfinite(inst.budget) and _over(spend, inst.budget):
        V.append(Violation("budget", "", spend, inst.budget, f"{spend:.4f} $/h with the jobs at their peak, budget {inst.budget:g}"))
    mm = c.options.max_models
    if mm is not None and len(models) > mm:
        V.append(Violation("max_models", "", len(models), mm, f"{len(models)} models with the jobs', at most {mm}"))
    expect = float(plan.online.objective) - float(inst.fixed_cost_of(a.y, a.x)) + fixed_all + cost
    if abs(expect - plan.objective) > 1e-6 * max(1.0, abs(expect)):
        V.append(Violation("objective", "", plan.objective, expect,
                           f"the plan says {plan.objective:.6g} $/h, its replicas, models and penalties cost {expect:.6g}"))
    return V
