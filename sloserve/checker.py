"""The independent plan checker: every constraint of docs/formulation.md §3, no solver involved.

A plan is feasible when each constraint holds within ``TOL`` relative (1e-6). The checker
recomputes the objective from replicas and unserved fractions and reports each violation
with its numbers, so a user (or a test) sees exactly what breaks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .problem.instance import Instance
from .vocab import Constraint
from .problem.plan import Plan, arrays_from_plan

TOL = 1e-6

#: Every constraint the checker verifies; ``domain`` covers variable bounds and integrality.
CONSTRAINTS = tuple(str(c) for c in Constraint)


@dataclass(frozen=True)
class Violation:
    constraint: str  # one of CONSTRAINTS
    index: str  # which member of the constraint family (query type, configuration, GPU, ...)
    lhs: float
    rhs: float
    message: str

    def __str__(self) -> str:
        return f"{self.constraint}[{self.index}]: {self.message} (lhs {self.lhs:.6g} > rhs {self.rhs:.6g})"


@dataclass
class CheckResult:
    objective: float  # recomputed, $/h
    violations: list[Violation] = field(default_factory=list)
    objective_reported: float | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([v.__dict__ for v in self.violations],
                            columns=["constraint", "index", "lhs", "rhs", "message"])

    def report(self) -> str:
        head = f"objective (recomputed) = {self.objective:.4f} $/h"
        if self.objective_reported is not None and not _close(self.objective_reported, self.objective):
            head += f"; the plan file says {self.objective_reported:.4f}"
        if self.ok:
            return head + "\nplan is feasible: every constraint holds"
        lines = [head, f"plan is INFEASIBLE: {len(self.violations)} violated constraint(s)"]
        lines += [f"  {v}" for v in self.violations]
        return "\n".join(lines)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b))


def _leq(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Element-wise lhs <= rhs within TOL relative; mask of violations."""
    lhs = np.asarray(lhs, dtype=float)
    rhs = np.asarray(rhs, dtype=float)
    scale = np.maximum(1.0, np.maximum(np.abs(lhs), np.where(np.isfinite(rhs), np.abs(rhs), 0.0)))
    return lhs > rhs + TOL * scale


def check_arrays(inst: Instance, y: np.ndarray, x: np.ndarray, u: np.ndarray) -> list[Violation]:
    """Check a solution in array form (C, R, I); returns the violations (empty = feasible)."""
    V: list[Violation] = []
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    qn, cn = inst.query_types, inst.configs

    def add(name, mask, idx_names, lhs, rhs, what):
        for n in np.flatnonzero(mask):
            V.append(Violation(name, str(idx_names(n) if callable(idx_names) else idx_names[n]),
                               float(lhs[n]), float(rhs[n]), what(n)))

    # domain: 0 <= x <= 1, 0 <= u <= ζ, y integer >= 0 and <= max_replicas
    def rname(r):  # route names only for violations: the checker runs inside the heuristics' loops
        return f"{qn[inst.route_i[r]]},{cn[inst.route_c[r]]}"
    add(Constraint.DOMAIN, x < -TOL, rname, -x, np.zeros_like(x), lambda n: "routing fraction is negative")
    add(Constraint.DOMAIN, _leq(x, np.ones_like(x)), rname, x, np.ones_like(x), lambda n: "routing fraction exceeds 1")
    add(Constraint.DOMAIN, u < -TOL, qn, -u, np.zeros_like(u), lambda n: "unserved fraction is negative")
    add(Constraint.DOMAIN, _leq(u, inst.max_unserved), qn, u, inst.max_unserved,
        lambda n: f"unserved fraction above the allowed {inst.max_unserved[n]:.4g}")
    add(Constraint.DOMAIN, np.abs(y - np.round(y)) > TOL, cn, y, np.round(y), lambda n: "replicas must be a whole number")
    add(Constraint.DOMAIN, y < 0, cn, -y, np.zeros_like(y), lambda n: "replicas must be >= 0")

    # demand: Σ_c x_ic + u_i = 1
    routed = np.bincount(inst.route_i, weights=x, minlength=inst.I)
    lhs = routed + u
    bad = np.abs(lhs - 1.0) > TOL
    add(Constraint.DEMAND, bad, qn, lhs, np.ones(inst.I), lambda n: f"routed {routed[n]:.6g} + unserved {u[n]:.6g} must equal 1")

    # capacity: Σ_i λ_i x_ic / μ_ic <= ρ̄ y_c
    busy = np.bincount(inst.route_c, weights=inst.cap_load * x, minlength=inst.C)
    add(Constraint.CAPACITY, _leq(busy, inst.rho * y), cn, busy, inst.rho * y,
        lambda n: f"needs {busy[n] / inst.rho:.4g} replicas at utilisation cap {inst.rho:g}, has {y[n]:g}")

    # memory: Σ_i λ_i ω_ic x_ic <= KV_c y_c
    kv = np.bincount(inst.route_c, weights=inst.mem_load * x, minlength=inst.C)
    add(Constraint.MEMORY, _leq(kv, inst.kv * y), cn, kv, inst.kv * y,
        lambda n: f"in-flight KV cache {kv[n] / 1e9:.4g} GB exceeds {inst.kv[n] * y[n] / 1e9:.4g} GB on {y[n]:g} replica(s)")

    # error: Σ_c e_ic x_ic <= ε_i (1 - u_i)
    err = np.bincount(inst.route_i, weights=inst.error * x, minlength=inst.I)
    rhs = inst.max_error * (1 - u)
    add(Constraint.ERROR, _leq(err, rhs), qn, err, rhs, lambda n: f"mean error of served traffic above {inst.max_error[n]:.4g}")

    # delay: Σ_c e2e_ic x_ic <= E2E_i (1 - u_i), types with an e2e SLO
    dl = np.bincount(inst.route_i, weights=inst.e2e * x, minlength=inst.I)
    has = np.isfinite(inst.e2e_slo)
    rhs = np.where(has, inst.e2e_slo * (1 - u), np.inf)
    add(Constraint.DELAY, has & _leq(dl, rhs), qn, dl, rhs, lambda n: f"mean end-to-end latency above the SLO {inst.e2e_slo[n]:.4g} s")

    # budget: Σ cost y + Σ F s <= B
    o = inst.open_configs(y, x)
    s = inst.models_selected(y, x)
    spend = float(inst.cost @ y + inst.fixed_cost @ s)
    if np.isfinite(inst.budget) and _leq(np.array([spend]), np.array([inst.budget]))[0]:
        V.append(Violation(Constraint.BUDGET, "total", spend, inst.budget, f"spends {spend:.2f} $/h, budget {inst.budget:.2f} $/h"))

    # availability: Σ_{c∈C_k} gpus_c y_c <= A_k
    used = inst.gpus_used(y)
    add(Constraint.AVAILABILITY, _leq(used, inst.available), inst.gpu_ids, used, inst.available,
        lambda n: f"uses {used[n]:g} GPUs, {inst.available[n]:g} available")

    # open_replicas: y_c <= Ymax_c o_c, with o_c implied by the plan (open iff y_c > 0) and the
    # table's own limit max_replicas_c (the MILP's tighter derived Ymax is a bound, not a rule)
    add(Constraint.OPEN_REPLICAS, _leq(y, inst.max_replicas), cn, y, inst.max_replicas,
        lambda n: f"more replicas than the configuration allows ({inst.max_replicas[n]:.0f})")

    # open_routes: x_ic <= o_c, traffic only to configurations with replicas (a route of a type
    # with zero arrival rate carries no requests, so its fraction puts nothing on c)
    traffic_on = np.bincount(inst.route_c, weights=(x > TOL) & (inst.lam[inst.route_i] > 0), minlength=inst.C) > 0
    closed = traffic_on & (y <= 0)
    add(Constraint.OPEN_ROUTES, closed, cn, traffic_on.astype(float), (y > 0).astype(float),
        lambda n: "traffic routed to a configuration with no replicas")

    # one_parallelism: Σ_{c∈C_d} o_c <= 1
    if inst.options.one_parallelism_per_deployment:
        per_d = np.bincount(inst.config_deployment, weights=o, minlength=len(inst.deployments))
        dn = np.array(["|".join(d) for d in inst.deployments], dtype=object)
        add(Constraint.ONE_PARALLELISM, per_d > 1, dn, per_d, np.ones_like(per_d),
            lambda n: f"{int(per_d[n])} TP/PP settings open for one deployment")

    # model_selected: Σ_j s_j <= max_models
    if inst.options.max_models is not None and s.sum() > inst.options.max_models:
        V.append(Violation(Constraint.MAX_MODELS, "total", float(s.sum()), float(inst.options.max_models),
                           f"{int(s.sum())} models used, at most {inst.options.max_models} allowed"))
    return V


def check(inst: Instance, plan: Plan) -> CheckResult:
    """Verify ``plan`` against every constraint of docs/formulation.md §3 and recompute its objective."""
    a = arrays_from_plan(inst, plan)
    V = [Violation(Constraint.DOMAIN, "plan", 1.0, 0.0, msg) for msg in a.unknown]
    V += check_arrays(inst, a.y, a.x, a.u)
    return CheckResult(objective=inst.objective(a.y, a.u, a.x), violations=V,
                       objective_reported=None if plan.objective is None else float(plan.objective))
