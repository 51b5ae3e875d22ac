"""Why is a planning problem infeasible? Lines a user can act on, never a bare solver status.

Two checks, cheapest first:

1. :func:`unroutable_types` — query types that no configuration can serve within their SLOs
   (no route in the compiled tables) and that may not be left unserved;
2. :func:`elastic_diagnosis` — the MILP with penalised slacks on the limits a user can change
   (budget, GPU availability, max_models, per-configuration replica caps, error limits, delay
   SLOs and allowed unserved traffic); the smallest relaxation that makes it feasible is
   reported, one line per relaxed limit, in the limit's own unit.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pyomo.environ as pyo

from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.routable import raise_if_unroutable, unroutable_types  # noqa: F401 (re-exported)
from .data import create_pyomo_instance, solution_arrays
from .seam import solve_instance

#: relative weight of each kind of slack in the elastic objective: relaxing a limit by 100% of
#: its value costs its weight; unserving traffic beyond the allowance is the last resort
WEIGHTS = {"budget": 1.0, "availability": 1.0, "max_models": 1.0, "max_replicas": 1.0, "error": 1.0,
           "delay": 1.0, "demand": 10.0}
_EPS = 1e-6  # a slack below this (relative) is numerical noise, not a relaxation



def relaxed_ymax(inst: Instance) -> np.ndarray:
    """Ymax without the limits the elastic model relaxes (budget, availability, max_replicas)."""
    free = dataclasses.replace(inst, available=np.full_like(inst.available, np.inf),
                               max_replicas=np.full(inst.C, np.inf),
                               options=dataclasses.replace(inst.options, budget_per_hour=None))
    return np.maximum(free.ymax, inst.ymax)


FAMILIES = ("budget", "availability", "max_models", "max_replicas", "error", "delay", "demand")


def _elasticize(m: pyo.ConcreteModel, inst: Instance, families=FAMILIES) -> dict[str, dict]:
    """Add a slack to every active constraint of the relaxable ``families``; new objective = weighted slacks."""
    slacks: dict[str, dict] = {}
    terms = []
    m.elastic_slack = pyo.VarList(domain=pyo.NonNegativeReals, doc="elastic slacks, in each limit's unit")
    m.elastic = pyo.ConstraintList(doc="relaxed copies of the constraints with slacks")

    def relax(family, key, body, upper, scale):
        s = m.elastic_slack.add()
        m.elastic.add(body - s <= upper)
        slacks.setdefault(family, {})[key] = s
        terms.append(WEIGHTS[family] * s / max(scale, 1e-9))

    for family, floor in (("budget", 1.0), ("availability", 1.0), ("max_models", 1.0), ("error", 0.01), ("delay", 1.0)):
        if family not in families:
            continue
        comp = getattr(m, family)
        for key, con in list(comp.items()):
            if con.active:
                up = pyo.value(con.upper)
                scale = max(abs(up), floor) if family in ("budget", "availability", "max_models") else None
                if family == "error":
                    scale = max(pyo.value(m.max_error[key]), floor)
                if family == "delay":
                    scale = pyo.value(m.e2e_slo_s[key])
                relax(family, key, con.body, up, scale)
                con.deactivate()
    for c, name in enumerate(inst.configs):  # the tables' per-configuration cap, if tighter than the need
        if "max_replicas" in families and inst.max_replicas[c] < m.ymax[name].value:
            relax("max_replicas", name, m.y[name], float(inst.max_replicas[c]), max(float(inst.max_replicas[c]), 1.0))
    for i, name in enumerate(inst.query_types):  # unserved beyond the allowance
        if "demand" in families and inst.max_unserved[i] < 1:
            m.u[name].setub(1.0)
            relax("demand", name, m.u[name], float(inst.max_unserved[i]), 1.0)
    if not terms:
        return {}
    m.cost.deactivate()
    m.elastic_objective = pyo.Objective(expr=sum(terms), sense=pyo.minimize)
    return slacks


def _lines(inst: Instance, slacks: dict[str, dict], y, x, u) -> list[str]:
    def relaxed(family):
        return {k: s.value for k, s in slacks.get(family, {}).items() if s.value is not None and s.value > _EPS}

    out = []
    served = 1.0 - u
    if relaxed("budget"):
        spend = inst.cost @ y + inst.fixed_cost_of(y, x)
        out.append(f"budget short by ${spend - inst.budget:,.2f}/h (a plan needs ${spend:,.2f}/h, "
                   f"budget ${inst.budget:,.2f}/h)")
    used = np.bincount(inst.config_gpu, weights=inst.gpus * y, minlength=len(inst.gpu_ids))
    for k in relaxed("availability"):
        n = list(inst.gpu_ids).index(k)
        out.append(f"GPU {k}: needs {used[n]:.0f} GPUs, {inst.available[n]:.0f} available")
    if relaxed("max_models"):
        out.append(f"needs {int(inst.models_selected(y, x).sum())} models, max_models is {inst.options.max_models}")
    for c in relaxed("max_replicas"):
        n = inst.config_index[c]
        out.append(f"configuration {c}: needs {y[n]:.0f} replicas, max_replicas is {inst.max_replicas[n]:.0f}")
    err = np.bincount(inst.route_i, weights=inst.error * x, minlength=inst.I)
    for q in relaxed("error"):
        i = inst.query_type_index[q]
        out.append(f"query type {q}: error limit needs {err[i] / max(served[i], 1e-12):.3g}, "
                   f"not {inst.max_error[i]:.3g}")
    dl = np.bincount(inst.route_i, weights=inst.e2e * x, minlength=inst.I)
    for q in relaxed("delay"):
        i = inst.query_type_index[q]
        out.append(f"query type {q}: mean end-to-end latency needs {dl[i] / max(served[i], 1e-12):.3g} s, "
                   f"SLO is {inst.e2e_slo[i]:.3g} s")
    for q in relaxed("demand"):
        i = inst.query_type_index[q]
        out.append(f"query type {q}: only {100 * served[i]:.1f}% of its traffic can be served; "
                   f"max_unserved must rise from {inst.max_unserved[i]:.3g} to {u[i]:.3g}")
    return out


def elastic_diagnosis(inst: Instance, solver: str = "highs", time_limit_s: float | None = None,
                      families=FAMILIES) -> list[str]:
    """Solve the elastic MILP (slacks on ``families`` only) and say which limits to relax, by how
    much; empty when relaxing those families cannot make the problem feasible."""
    m = create_pyomo_instance(inst, ymax=relaxed_ymax(inst))
    slacks = _elasticize(m, inst, families)
    if not slacks:
        return []
    res = solve_instance(m, solver=solver, time_limit_s=time_limit_s)
    if not res.has_solution:
        return []
    y, x, u = solution_arrays(m)
    return _lines(inst, slacks, y, x, u)


def alternatives(inst: Instance, solver: str = "highs", time_limit_s: float | None = None) -> list[str]:
    """Each single kind of limit whose relaxation alone makes the problem feasible, one line each
    ("budget short by $4.88/h", or "query type X: error limit needs 0.31, not 0.25; ..."): a user
    can pick the one they control. Falls back to the joint relaxation when no single kind suffices."""
    out = []
    for fam in ("budget", "availability", "max_models", "max_replicas", "error", "delay", "demand"):
        lines = elastic_diagnosis(inst, solver, time_limit_s, families=(fam,))
        if lines:
            out.append("; ".join(lines))
    return out or elastic_diagnosis(inst, solver, time_limit_s)


def infeasible_error(inst: Instance, solver: str = "highs", time_limit_s: float | None = None,
                     lines: list[str] | None = None) -> InfeasibleError:
    """The InfeasibleError for an infeasible MILP, with the elastic diagnosis (``lines``: the
    :func:`alternatives` already computed for ``inst``, so they are not solved again)."""
    unroutable = unroutable_types(inst)
    if unroutable:
        return InfeasibleError("no plan exists: some query types cannot be served at all", unroutable)
    lines = alternatives(inst, solver, time_limit_s) if lines is None else lines
    if not lines:
        lines = ["no single limit explains it; one TP/PP per deployment (one_parallelism_per_deployment) "
                 "may be what blocks it — try switching it off"]
    return InfeasibleError(f"no plan meets every constraint of {inst.compiled.name}; "
                           f"{'any one of these would make it feasible' if len(lines) > 1 else 'relax'}:", lines)
