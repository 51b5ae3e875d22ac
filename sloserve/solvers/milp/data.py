"""The one data adapter between the compiled tables and the Pyomo model, and back.

    compiled --pyomo_data--> data dict --create_pyomo_instance--> ConcreteModel
    solved model --solution_arrays / to_plan--> arrays / Plan;   Plan --set_values--> warm start
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyomo.environ as pyo

from ...problem.instance import Instance, build_instance
from ...problem.plan import Plan, arrays_from_plan
from ...problem.tables import Compiled
from .model import UNLIMITED, abstract_model


def _opt(value) -> float:
    return UNLIMITED if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def pyomo_data(compiled: Compiled, ymax: np.ndarray | None = None) -> dict[None, dict[str, Any]]:
    """Compiled tables -> the data dict of ``abstract_model().create_instance(data=...)`` (pure).

    Key columns become Sets, value columns Params of the same name (routes ``error`` becomes
    ``error_rate`` and option ``max_models`` becomes ``max_num_models``, because ``error`` and
    ``max_models`` name constraints). ``ymax`` defaults to :attr:`Instance.ymax`.
    """
    qt, cf, rt, gp, md, op = (compiled.query_types, compiled.configs, compiled.routes, compiled.gpus,
                              compiled.models, compiled.options)
    if ymax is None:
        ymax = build_instance(compiled).ymax
    I, C, K, J = (list(map(str, df[key])) for df, key in ((qt, "query_type"), (cf, "config"), (gp, "gpu"), (md, "model")))
    R = list(zip(rt["query_type"].astype(str), rt["config"].astype(str)))
    D = list(dict.fromkeys(zip(cf["model"], cf["gpu"], cf["precision"])))
    C_i: dict[str, list[str]] = {i: [] for i in I}
    I_c: dict[str, list[str]] = {c: [] for c in C}
    for i, c in R:
        C_i[i].append(c)
        I_c[c].append(i)
    C_k: dict[str, list[str]] = {k: [] for k in K}
    C_d: dict[tuple, list[str]] = {d: [] for d in D}
    for c, j, k, q in zip(C, cf["model"], cf["gpu"], cf["precision"]):
        C_k[k].append(c)
        C_d[(j, k, q)].append(c)
    e2e = qt["e2e_slo_s"].astype(float)
    I_e2e = [i for i, v in zip(I, e2e) if math.isfinite(v)]

    def col(df, keys, name):
        return dict(zip(keys, df[name].astype(float)))

    avail = {k: v for k, v in zip(K, gp["available"].astype(float)) if math.isfinite(v)}
    data = {
        "I": {None: I}, "C": {None: C}, "J": {None: J}, "K": {None: K}, "D": {None: D}, "R": {None: R},
        "I_e2e": {None: I_e2e}, "C_i": C_i, "I_c": I_c, "C_k": C_k, "C_d": C_d,
        "rate_rps": col(qt, I, "rate_rps"), "max_error": col(qt, I, "max_error"),
        "max_unserved": col(qt, I, "max_unserved"), "unserved_penalty": col(qt, I, "unserved_penalty"),
        "e2e_slo_s": {i: float(v) for i, v in zip(I, e2e) if math.isfinite(v)},
        "cost_per_hour": col(cf, C, "cost_per_hour"), "gpus": dict(zip(C, cf["gpus"].astype(int))),
        "kv_bytes": col(cf, C, "kv_bytes"), "ymax": dict(zip(C, np.asarray(ymax).astype(int).tolist())),
        "model_of": dict(zip(C, cf["model"].astype(str))),
        "capacity_rps": col(rt, R, "capacity_rps"), "kv_byte_seconds": col(rt, R, "kv_byte_seconds"),
        "error_rate": col(rt, R, "error"), "e2e_s": col(rt, R, "e2e_s"),
        "ttft_s": col(rt, R, "ttft_s"), "tpot_s": col(rt, R, "tpot_s"),
        "available": avail, "fixed_cost_per_hour": col(md, J, "fixed_cost_per_hour"),
        "budget_per_hour": {None: _opt(op.budget_per_hour)}, "utilization_cap": {None: float(op.utilization_cap)},
        "max_num_models": {None: _opt(op.max_models)},
        "one_parallelism_per_deployment": {None: bool(op.one_parallelism_per_deployment)},
    }
    return {None: data}


def create_pyomo_instance(compiled: Compiled | Instance, ymax: np.ndarray | None = None) -> pyo.ConcreteModel:
    """The Pyomo instance of the MILP for these tables; deactivate, change Params, add constraints, re-solve.

    Ymax_c is derived from the data (availability, budget, demand); after relaxing budget or
    availability on the instance, raise ``m.ymax[c]`` too, or it keeps the old limit.
    """
    inst = compiled if isinstance(compiled, Instance) else build_instance(compiled)
    m = abstract_model().create_instance(data=pyomo_data(inst.compiled, inst.ymax if ymax is None else ymax),
                                         name=inst.compiled.name)
    m._sloserve_instance = inst  # the numpy view, for to_plan and warm starts
    return m


def sloserve_instance(m: pyo.ConcreteModel) -> Instance:
    """The :class:`Instance` a Pyomo instance was created from."""
    return m._sloserve_instance


# ---- solution values <-> arrays ------------------------------------------------------------------

def solution_arrays(m: pyo.ConcreteModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y, x, u)`` in :class:`Instance` index order from the variable values (unset = 0)."""
    inst = sloserve_instance(m)

    def val(v) -> float:
        return 0.0 if v.value is None else float(v.value)

    y = np.round([val(m.y[c]) for c in inst.configs])
    x = np.array([val(m.x[inst.query_types[i], inst.configs[c]]) for i, c in zip(inst.route_i, inst.route_c)])
    u = np.array([val(m.u[i]) for i in inst.query_types])
    # traffic on a configuration without replicas is solver tolerance (capacity forces it to ~0)
    x = np.clip(x, 0.0, 1.0)
    if len(x):
        x[(y[inst.route_c] == 0) & (x < 1e-5)] = 0.0
    return y, x, np.clip(u, 0.0, 1.0)


def set_values(m: pyo.ConcreteModel, plan: Plan) -> None:
    """Set y, x, u, o, s from a plan (a warm start); names the plan cannot map are ignored."""
    inst = sloserve_instance(m)
    a = arrays_from_plan(inst, plan)
    y = np.minimum(np.round(a.y), inst.ymax)
    for c, name in enumerate(inst.configs):
        m.y[name].set_value(int(y[c]), skip_validation=True)
        m.o[name].set_value(int(y[c] > 0), skip_validation=True)
    for r, (i, c) in enumerate(zip(inst.route_i, inst.route_c)):
        m.x[inst.query_types[i], inst.configs[c]].set_value(float(a.x[r]) if y[c] > 0 else 0.0, skip_validation=True)
    for i, name in enumerate(inst.query_types):
        m.u[name].set_value(float(a.u[i]), skip_validation=True)
    s = inst.models_selected(y)
    for j, name in enumerate(inst.model_ids):
        m.s[name].set_value(int(s[j]), skip_validation=True)


def warm_cutoff(m: pyo.ConcreteModel, plan: Plan) -> float:
    """The objective of the start :func:`set_values` puts on ``m`` when the checker accepts it (an
    upper bound on the optimum, usable as a cutoff), else ``inf``. Recomputed from the instance, not
    taken from ``plan.objective`` (a plan of another instance must not cut off this one's optimum)."""
    from ...checker import check_arrays

    inst = sloserve_instance(m)
    a = arrays_from_plan(inst, plan)
    if a.unknown:
        return math.inf
    y = np.minimum(np.round(a.y), inst.ymax)
    x = np.where(y[inst.route_c] > 0, a.x, 0.0)
    if check_arrays(inst, y, x, a.u):
        return math.inf
    return float(inst.objective(y, a.u, x))
