"""The MILP of FORMULATION §3 as a Pyomo ``AbstractModel``: data adapter, solver seam, plan.

The pipeline stages a notebook can stop between::

    compiled --pyomo_data--> data dict --create_pyomo_instance--> ConcreteModel
             --solve_instance--> SolveResult --to_plan--> Plan

Every component name equals its FORMULATION name and carries its symbol and unit in ``doc``;
the only input is the compiled tables, mapped to Sets and Params by :func:`pyomo_data`.
Infeasible instances are explained by :mod:`sloserve.diagnose`.
"""
from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo

from .errors import InfeasibleError, InputError
from .instance import Instance, build_instance
from .methods import SolveOptions, register_method
from .plan import Plan, arrays_from_plan, plan_from_arrays
from .tables import Compiled

SECONDS_PER_HOUR = 3600.0  # unit conversion of the penalty term: $/request · requests/s -> $/h
UNLIMITED = math.inf  # value of budget_per_hour, available and max_models that means "no limit"

#: The constraint components of the model, in FORMULATION §3 order (``max_models`` is the second
#: half of the formulation's ``model_selected`` row).
CONSTRAINTS = ("demand", "capacity", "memory", "error", "delay", "budget", "availability",
               "open_replicas", "open_routes", "one_parallelism", "model_selected", "max_models")


# ---- the abstract model -----------------------------------------------------------------------

def _limited(p) -> bool:
    return math.isfinite(pyo.value(p))


def _cost_rule(m):
    return (sum(m.cost_per_hour[c] * m.y[c] for c in m.C) + sum(m.fixed_cost_per_hour[j] * m.s[j] for j in m.J)
            + SECONDS_PER_HOUR * sum(m.unserved_penalty[i] * m.rate_rps[i] * m.u[i] for i in m.I))


def _demand_rule(m, i):
    return sum(m.x[i, c] for c in m.C_i[i]) + m.u[i] == 1


def _capacity_rule(m, c):
    return sum(m.rate_rps[i] / m.capacity_rps[i, c] * m.x[i, c] for i in m.I_c[c]) <= m.utilization_cap * m.y[c]


def _memory_rule(m, c):
    # both sides divided by KV_c: the same constraint with coefficients of order one (bytes are ~1e10)
    return sum(m.rate_rps[i] * m.kv_byte_seconds[i, c] / m.kv_bytes[c] * m.x[i, c] for i in m.I_c[c]) <= m.y[c]


def _error_rule(m, i):
    return sum(m.error_rate[i, c] * m.x[i, c] for c in m.C_i[i]) <= m.max_error[i] * (1 - m.u[i])


def _delay_rule(m, i):
    return sum(m.e2e_s[i, c] * m.x[i, c] for c in m.C_i[i]) <= m.e2e_slo_s[i] * (1 - m.u[i])


def _budget_rule(m):
    if not _limited(m.budget_per_hour) or (len(m.C) == 0 and len(m.J) == 0):
        return pyo.Constraint.Skip
    return (sum(m.cost_per_hour[c] * m.y[c] for c in m.C) + sum(m.fixed_cost_per_hour[j] * m.s[j] for j in m.J)
            <= m.budget_per_hour)


def _availability_rule(m, k):
    if not _limited(m.available[k]) or len(m.C_k[k]) == 0:
        return pyo.Constraint.Skip
    return sum(m.gpus[c] * m.y[c] for c in m.C_k[k]) <= m.available[k]


def _open_replicas_rule(m, c):
    return m.y[c] <= m.ymax[c] * m.o[c]


def _open_routes_rule(m, i, c):
    return m.x[i, c] <= m.o[c]


def _one_parallelism_rule(m, *d):
    if not pyo.value(m.one_parallelism_per_deployment) or len(m.C_d[d]) <= 1:
        return pyo.Constraint.Skip
    return sum(m.o[c] for c in m.C_d[d]) <= 1


def _model_selected_rule(m, c):
    return m.o[c] <= m.s[m.model_of[c]]


def _max_models_rule(m):
    if not _limited(m.max_num_models) or len(m.J) == 0:
        return pyo.Constraint.Skip
    return sum(m.s[j] for j in m.J) <= m.max_num_models


@functools.cache
def abstract_model() -> pyo.AbstractModel:
    """The MILP of FORMULATION §3, declared once (Pyomo abstract-model style)."""
    m = pyo.AbstractModel(name="sloserve")
    # -- sets
    m.I = pyo.Set(doc="I: query types i")
    m.C = pyo.Set(doc="C: configurations c = (model, gpu, precision, tp, pp)")
    m.J = pyo.Set(doc="J: models j")
    m.K = pyo.Set(doc="K: GPU types k")
    m.D = pyo.Set(dimen=3, doc="D: deployments d = (model, gpu, precision)")
    m.R = pyo.Set(dimen=2, within=m.I * m.C, doc="R ⊆ I×C: feasible routes (i, c)")
    m.I_e2e = pyo.Set(within=m.I, doc="query types with an end-to-end SLO")
    m.C_i = pyo.Set(m.I, within=m.C, doc="{c : (i, c) ∈ R}: configurations type i can be routed to")
    m.I_c = pyo.Set(m.C, within=m.I, doc="{i : (i, c) ∈ R}: query types configuration c can serve")
    m.C_k = pyo.Set(m.K, within=m.C, doc="C_k: configurations on GPU type k")
    m.C_d = pyo.Set(m.D, within=m.C, doc="C_d: configurations of deployment d (its TP/PP settings)")
    # -- query-type parameters
    m.rate_rps = pyo.Param(m.I, mutable=True, within=pyo.NonNegativeReals, doc="λ_i: arrival rate, requests/s")
    m.max_error = pyo.Param(m.I, mutable=True, within=pyo.NonNegativeReals, doc="ε_i: error limit, fraction")
    m.max_unserved = pyo.Param(m.I, mutable=True, within=pyo.UnitInterval, doc="ζ_i: allowed unserved fraction")
    m.unserved_penalty = pyo.Param(m.I, mutable=True, within=pyo.NonNegativeReals,
                                   doc="φ_i: penalty per unserved request, $/request")
    m.e2e_slo_s = pyo.Param(m.I_e2e, mutable=True, within=pyo.PositiveReals, doc="E2E_i: end-to-end SLO, s")
    # -- configuration parameters
    m.cost_per_hour = pyo.Param(m.C, mutable=True, within=pyo.NonNegativeReals, doc="cost_c: one replica, $/h")
    m.gpus = pyo.Param(m.C, within=pyo.PositiveIntegers, doc="gpus_c = n·m: GPUs per replica")
    m.kv_bytes = pyo.Param(m.C, within=pyo.PositiveReals, doc="KV_c: KV-cache budget per replica, bytes")
    m.ymax = pyo.Param(m.C, mutable=True, within=pyo.NonNegativeIntegers,
                       doc="Ymax_c: upper bound on replicas, replicas (sloserve.instance.Instance.ymax)")
    m.model_of = pyo.Param(m.C, within=m.J, doc="j(c): the model of configuration c")
    # -- route parameters
    m.capacity_rps = pyo.Param(m.R, mutable=True, within=pyo.PositiveReals,
                               doc="μ_ic: capacity of one replica serving only i, requests/s")
    m.kv_byte_seconds = pyo.Param(m.R, within=pyo.NonNegativeReals, doc="ω_ic: KV byte-seconds per request, byte·s")
    m.error_rate = pyo.Param(m.R, mutable=True, within=pyo.UnitInterval, doc="e_ic: error rate, fraction (routes.error)")
    m.e2e_s = pyo.Param(m.R, mutable=True, within=pyo.NonNegativeReals, doc="e2e_ic: end-to-end latency, s")
    m.ttft_s = pyo.Param(m.R, within=pyo.NonNegativeReals, doc="ttft_ic: time to first token, s (for user constraints)")
    m.tpot_s = pyo.Param(m.R, within=pyo.NonNegativeReals, doc="tpot_ic: time per output token, s (for user constraints)")
    # -- GPU, model and scalar parameters
    m.available = pyo.Param(m.K, mutable=True, within=pyo.NonNegativeReals, default=UNLIMITED,
                            doc="A_k: GPUs of type k that can be rented, GPUs (inf = unlimited)")
    m.fixed_cost_per_hour = pyo.Param(m.J, mutable=True, within=pyo.NonNegativeReals, doc="F_j: fixed cost of model j, $/h")
    m.budget_per_hour = pyo.Param(mutable=True, within=pyo.NonNegativeReals, default=UNLIMITED,
                                  doc="B: hourly budget, $/h (inf = none)")
    m.utilization_cap = pyo.Param(mutable=True, within=pyo.PositiveReals, doc="ρ̄: utilisation cap, fraction")
    m.max_num_models = pyo.Param(mutable=True, within=pyo.NonNegativeReals, default=UNLIMITED,
                                 doc="most models used at once, models (scenario max_models; inf = no limit)")
    m.one_parallelism_per_deployment = pyo.Param(within=pyo.Boolean, default=True,
                                                 doc="one TP/PP setting per deployment (switch)")
    # -- variables
    m.x = pyo.Var(m.R, within=pyo.UnitInterval, doc="x_ic: fraction of type-i traffic routed to c")
    m.u = pyo.Var(m.I, within=pyo.NonNegativeReals, bounds=lambda m, i: (0, m.max_unserved[i]),
                  doc="u_i: unserved fraction of type i, in [0, ζ_i]")
    m.y = pyo.Var(m.C, within=pyo.NonNegativeIntegers, bounds=lambda m, c: (0, m.ymax[c]),
                  doc="y_c: replicas of configuration c, in [0, Ymax_c]")
    m.o = pyo.Var(m.C, within=pyo.Binary, doc="o_c: configuration c is open")
    m.s = pyo.Var(m.J, within=pyo.Binary, doc="s_j: model j is selected")
    # -- objective
    m.cost = pyo.Objective(rule=_cost_rule, sense=pyo.minimize,
                           doc="Σ cost_c·y_c + Σ F_j·s_j + 3600·Σ φ_i·λ_i·u_i, $/h")
    # -- constraints (FORMULATION §3)
    m.demand = pyo.Constraint(m.I, rule=_demand_rule, doc="Σ_c x_ic + u_i = 1: all traffic routed or unserved")
    m.capacity = pyo.Constraint(m.C, rule=_capacity_rule,
                                doc="Σ_i λ_i·x_ic/μ_ic ≤ ρ̄·y_c: busy time within capacity, replicas")
    m.memory = pyo.Constraint(m.C, rule=_memory_rule,
                              doc="Σ_i λ_i·ω_ic·x_ic ≤ KV_c·y_c (divided by KV_c): KV cache fits, replicas")
    m.error = pyo.Constraint(m.I, rule=_error_rule,
                             doc="Σ_c e_ic·x_ic ≤ ε_i·(1 − u_i): mean error of served traffic, fraction")
    m.delay = pyo.Constraint(m.I_e2e, rule=_delay_rule,
                             doc="Σ_c e2e_ic·x_ic ≤ E2E_i·(1 − u_i): mean end-to-end latency of served traffic, s")
    m.budget = pyo.Constraint(rule=_budget_rule, doc="Σ cost_c·y_c + Σ F_j·s_j ≤ B: hourly budget, $/h")
    m.availability = pyo.Constraint(m.K, rule=_availability_rule, doc="Σ_{c∈C_k} gpus_c·y_c ≤ A_k: GPUs rentable, GPUs")
    m.open_replicas = pyo.Constraint(m.C, rule=_open_replicas_rule, doc="y_c ≤ Ymax_c·o_c: replicas only on open configurations")
    m.open_routes = pyo.Constraint(m.R, rule=_open_routes_rule, doc="x_ic ≤ o_c: traffic only to open configurations")
    m.one_parallelism = pyo.Constraint(m.D, rule=_one_parallelism_rule,
                                       doc="Σ_{c∈C_d} o_c ≤ 1: one TP/PP setting per deployment")
    m.model_selected = pyo.Constraint(m.C, rule=_model_selected_rule, doc="o_c ≤ s_j(c): open configurations select their model")
    m.max_models = pyo.Constraint(rule=_max_models_rule, doc="Σ_j s_j ≤ max_models: models used at once")
    return m


# ---- the one data adapter ------------------------------------------------------------------------

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
    from .check import check_arrays

    inst = sloserve_instance(m)
    a = arrays_from_plan(inst, plan)
    if a.unknown:
        return math.inf
    y = np.minimum(np.round(a.y), inst.ymax)
    x = np.where(y[inst.route_c] > 0, a.x, 0.0)
    if check_arrays(inst, y, x, a.u):
        return math.inf
    return float(inst.objective(y, a.u, x))


# ---- the solver seam ------------------------------------------------------------------------------

#: Every solver termination condition sloserve knows, by its enum name (legacy Pyomo, APPSI and
#: pyomo.contrib.solver), mapped to the plan status vocabulary. The ONE place for this mapping.
_TERMINATION = {
    "optimal": "optimal", "convergenceCriteriaSatisfied": "optimal", "globallyOptimal": "optimal",
    "locallyOptimal": "optimal",
    "maxTimeLimit": "time_limit", "maxIterations": "time_limit", "iterationLimit": "time_limit",
    "maxEvaluations": "time_limit", "interrupted": "time_limit", "userInterrupt": "time_limit",
    "objectiveLimit": "feasible", "feasible": "feasible",
    "infeasible": "infeasible", "provenInfeasible": "infeasible", "locallyInfeasible": "infeasible",
    "infeasibleOrUnbounded": "infeasible", "intermediateNonInteger": "infeasible",
}


def plan_status(termination: str, has_solution: bool) -> str | None:
    """Map a solver's termination condition to ``optimal | feasible | infeasible | time_limit``.

    None means the solver stopped for another reason (an error) without a usable plan.
    """
    s = _TERMINATION.get(termination)
    if s in ("optimal", "feasible") and not has_solution:
        return None
    if s is None:
        return "feasible" if has_solution else None
    return s


@dataclass
class SolveResult:
    """What a solve returned, in sloserve's words (the solution is loaded into the model)."""

    status: str | None  # optimal | feasible | infeasible | time_limit; None = solver error, no plan
    solver: str
    termination: str  # the solver's own condition name, for logs
    has_solution: bool
    objective: float | None  # incumbent objective the solver reports, $/h
    bound: float | None  # proven lower bound, $/h
    runtime_s: float
    #: HiGHS only: whether the warm start was accepted as the first incumbent (None: no warm start /
    #: not observable with this solver), and that incumbent's objective
    warm_start_accepted: bool | None = None
    warm_start_objective: float | None = None

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None or not math.isfinite(self.bound):
            return None
        return max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-9)


def _finite(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


#: a warm start's objective is also given to HiGHS as a cutoff (``objective_bound``), slightly relaxed
#: so that a plan of the same cost is never cut off
WARM_CUTOFF = True
WARM_CUTOFF_SLACK = 1e-6
_MIP_START = re.compile(r"MIP start solution is feasible, objective value is\s+(\S+)")


def _solve_appsi_highs(m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    """HiGHS via APPSI. A warm start (``warm`` = its checked objective, :func:`warm_cutoff`; None = no
    start) is passed as a MIP start (``Highs.setSolution`` of the values :func:`set_values` put on the
    variables) and, with ``WARM_CUTOFF`` and a finite ``warm``, as ``objective_bound``; whether HiGHS
    accepted the start is read from its log."""
    import tempfile
    from pyomo.contrib.appsi.solvers import Highs

    opt = Highs()
    opt.config.load_solution = False
    opt.config.stream_solver = bool(log)
    opt.config.warmstart = warm is not None
    if time_limit_s is not None:
        opt.config.time_limit = float(time_limit_s)
    if mip_gap is not None:
        opt.config.mip_gap = float(mip_gap)
    options: dict[str, Any] = {}
    if threads is not None:
        options["threads"] = int(threads)
    if warm is not None and WARM_CUTOFF and math.isfinite(warm):
        options["objective_bound"] = float(warm) + WARM_CUTOFF_SLACK * max(1.0, abs(float(warm)))
    opt.highs_options = options
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if warm is not None:  # HiGHS says in its log whether it accepted the start
            opt.config.logfile = str(Path(tmp) / "highs.log")
        res = opt.solve(m)
        if warm is not None:
            opt._solver_model.setOptionValue("log_file", "")  # closes the file
            hit = _MIP_START.search(Path(opt.config.logfile).read_text(errors="replace"))
            extra["warm_start_accepted"] = hit is not None
            extra["warm_start_objective"] = float(hit.group(1)) if hit else None
    has = res.best_feasible_objective is not None
    if has:
        res.solution_loader.load_vars()
    return (res.termination_condition.name, has, _finite(res.best_feasible_objective),
            _finite(res.best_objective_bound), extra)


def _solve_contrib(name, m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus

    opt = SolverFactory(name)
    kw: dict[str, Any] = {"tee": bool(log), "load_solutions": False, "raise_exception_on_nonoptimal_result": False}
    if time_limit_s is not None:
        kw["time_limit"] = float(time_limit_s)
    if mip_gap is not None:
        kw["rel_gap"] = float(mip_gap)
    if threads is not None:
        kw["threads"] = int(threads)
    if warm is not None and "warmstart_discrete_vars" in opt.config:
        kw["warmstart_discrete_vars"] = True
    res = opt.solve(m, **kw)
    has = res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    if has:
        res.solution_loader.load_vars()
    return res.termination_condition.name, has, _finite(res.incumbent_objective), _finite(res.objective_bound), {}


#: option names of the legacy (executable) interfaces: time limit, relative gap, threads
_LEGACY_OPTIONS = {"gurobi": ("TimeLimit", "MIPGap", "Threads"), "cplex": ("timelimit", "mipgap", "threads"),
                   "cbc": ("seconds", "ratioGap", "threads"), "glpk": ("tmlim", "mipgap", None)}


def _solve_legacy(name, m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    opt = pyo.SolverFactory(name)
    names = _LEGACY_OPTIONS.get(name.split("_")[0], (None, None, None))
    options = {k: v for k, v in zip(names, (time_limit_s, mip_gap, threads)) if k is not None and v is not None}
    kw: dict[str, Any] = {"tee": bool(log), "load_solutions": False, "options": options}
    if warm is not None and opt.warm_start_capable():
        kw["warmstart"] = True
    res = opt.solve(m, **kw)
    has = len(res.solution) > 0
    if has:
        m.solutions.load_from(res)
    return (res.solver.termination_condition.name, has, _finite(res.problem.upper_bound),
            _finite(res.problem.lower_bound), {})


def _backend(solver: str):
    """Which interface solves ``solver``: HiGHS via APPSI (it warm-starts), SCIP via pyscipopt
    (``pyomo.contrib.solver`` 'scip_direct'), new-style interfaces by their name, else the legacy factory."""
    from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory

    name = {"scip": "scip_direct"}.get(solver, solver)
    if name in ("highs", "appsi_highs"):
        from pyomo.contrib.appsi.solvers import Highs
        return (lambda *a: _solve_appsi_highs(*a)), bool(Highs().available())
    if name in ContribFactory:
        return (lambda *a: _solve_contrib(name, *a)), bool(ContribFactory(name).available())
    opt = pyo.SolverFactory(name)
    return (lambda *a: _solve_legacy(name, *a)), bool(opt.available(exception_flag=False))


def solve_instance(instance: pyo.ConcreteModel, solver: str = "highs", time_limit_s: float | None = None,
                   mip_gap: float | None = None, threads: int | None = None, log: bool = False,
                   warm_start: Plan | None = None) -> SolveResult:
    """Solve a Pyomo instance of the MILP (or any model) and load the best solution found.

    ``solver``: 'highs' (default), 'scip' (pyscipopt), or any Pyomo solver name ('gurobi',
    'cplex', 'cbc', ...). ``time_limit_s`` seconds; ``mip_gap`` relative; ``warm_start`` a plan
    whose values are set on the variables and passed to solvers that accept a start.
    """
    fn, available = _backend(solver)
    if not available:
        raise InputError(None, "solver", f"solver {solver!r} is not available here; 'highs' and 'scip' "
                                         f"(pyscipopt) ship with sloserve's test extras")
    warm = None
    if warm_start is not None:
        set_values(instance, warm_start)
        warm = warm_cutoff(instance, warm_start)
    t0 = time.perf_counter()
    termination, has, objective, bound, extra = fn(instance, time_limit_s, mip_gap, threads, log, warm)
    status = plan_status(termination, has)
    if status == "optimal" and bound is None:
        bound = objective
    return SolveResult(status=status, solver=solver, termination=termination, has_solution=has,
                       objective=objective, bound=bound, runtime_s=time.perf_counter() - t0,
                       warm_start_accepted=extra.get("warm_start_accepted"),
                       warm_start_objective=extra.get("warm_start_objective"))


# ---- plan --------------------------------------------------------------------------------------------

def to_plan(instance: pyo.ConcreteModel, result: SolveResult, method: str = "milp") -> Plan:
    """The loaded solution as a :class:`Plan`; the objective is recomputed from replicas and unserved."""
    if not result.has_solution:
        raise InfeasibleError(f"{result.solver} returned no plan (status {result.status or result.termination})")
    inst = sloserve_instance(instance)
    y, x, u = solution_arrays(instance)
    plan = plan_from_arrays(inst, y, x, u, method=method, status=result.status or "feasible", bound=result.bound,
                            runtime_s=result.runtime_s,
                            extra={"solver": result.solver, "termination": result.termination})
    if result.warm_start_accepted is not None:
        plan.extra["warm_start_accepted"] = result.warm_start_accepted
        plan.extra["warm_start_objective"] = result.warm_start_objective
    if result.bound is not None and plan.objective is not None:
        plan.extra["gap"] = max(0.0, plan.objective - result.bound) / max(abs(plan.objective), 1e-9)
    return plan


@register_method("milp", "exact MILP (Pyomo; HiGHS by default, --solver scip|gurobi|cplex|...)")
def solve_milp(inst: Instance, opts: SolveOptions) -> Plan:
    """Build, solve and extract; infeasible instances raise InfeasibleError with a diagnosis."""
    from . import diagnose

    diagnose.raise_if_unroutable(inst)
    m = create_pyomo_instance(inst)
    res = solve_instance(m, solver=opts.solver, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                         threads=opts.threads, log=opts.log, warm_start=opts.warm_start)
    if res.status == "infeasible":
        raise diagnose.infeasible_error(inst, solver=opts.solver, time_limit_s=opts.time_limit_s)
    if not res.has_solution:
        if res.status == "time_limit":
            raise InfeasibleError(f"the MILP found no plan within the time limit of {opts.time_limit_s:g} s",
                                  ["raise --time-limit, or warm-start from a heuristic plan (--method agh)"])
        raise InfeasibleError(f"solver {opts.solver!r} stopped without a plan (its status: {res.termination})",
                              ["try another solver (--solver highs or scip), or check the solver log with --log"])
    return to_plan(m, res)
