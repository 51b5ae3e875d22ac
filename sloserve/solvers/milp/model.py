"""The MILP (``docs/formulation.md`` §3) as a Pyomo ``AbstractModel``, declared once.

Every component name equals its formulation name and carries its symbol and unit in ``doc``;
no rule holds a number of its own. Data enters only through :mod:`.data`.
"""
from __future__ import annotations

import functools
import math

import pyomo.environ as pyo

from ...vocab import MILP_CONSTRAINTS, SECONDS_PER_HOUR

UNLIMITED = math.inf  # value of budget_per_hour, available and max_models that means "no limit"

#: The constraint components of the model, in formulation order (``max_models`` is the second
#: half of the formulation's ``model_selected`` row).
CONSTRAINTS = tuple(str(c) for c in MILP_CONSTRAINTS)

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
    """The MILP of docs/formulation.md §3, declared once (Pyomo abstract-model style)."""
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
    # -- constraints (docs/formulation.md §3)
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

