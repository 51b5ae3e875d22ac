"""The robust MILP (Bertsimas–Sim budgeted uncertainty, :mod:`sloserve.problem.robust`) in Pyomo.

The nominal model of :mod:`.model` — same component names — built on
:func:`~sloserve.problem.robust.exact_tables` (routes whose per-route SLOs hold at s_max; capacity and
KV scaled for the worst case on every configuration), plus the robust counterparts of the mean-error
and mean-E2E rows of each query type i (Γ routes inflated by at most s_max):

- ``robust_error[i]``:  Σ_c e_ic x_ic + Γ z_error[i] + Σ_c p_error[i,c] ≤ ε_i (1 − u_i)
- ``robust_error_dev[i,c]``:  z_error[i] + p_error[i,c] ≥ (s_error − 1) e_ic x_ic (s_error = s_max
  unless the uncertainty gives the errors their own factor)
- ``robust_delay[i]``, ``robust_delay_dev[i,c]``: the same for E2E on types with an E2E SLO (``mean``
  SLO mode; in ``per_route`` mode the route filter covers E2E).

The nominal ``error`` and ``delay`` rows stay (implied by the robust ones). ``m.s_max``,
``m.s_error`` and ``m.gamma`` are mutable Params.
"""
from __future__ import annotations

import pyomo.environ as pyo

from ...problem.instance import Instance
from ...problem.robust import Uncertainty, exact_tables
from ...problem.tables import Compiled
from .data import create_pyomo_instance


def create_robust_instance(compiled: Compiled | Instance, unc: Uncertainty) -> pyo.ConcreteModel:
    """The robust MILP for these (nominal) tables under ``unc``."""
    c = compiled.compiled if isinstance(compiled, Instance) else compiled
    m = create_pyomo_instance(exact_tables(c, unc))
    m.s_max = pyo.Param(initialize=float(unc.s_max), mutable=True, doc="s_max: largest inflation of delays and errors")
    m.s_error = pyo.Param(initialize=unc.error_factor, mutable=True,
                          doc="s_error: largest inflation of error rates (s_max unless given)")
    m.gamma = pyo.Param(initialize=int(unc.gamma), mutable=True, doc="Γ: routes per type that may inflate")
    per_route = c.options.slo_mode == "per_route"

    def counterpart(name, coef, limit, types, factor):
        z = pyo.Var(types, within=pyo.NonNegativeReals, doc=f"z_{name}[i]: Bertsimas–Sim protection level")
        p = pyo.Var(m.R, within=pyo.NonNegativeReals, doc=f"p_{name}[i,c]: excess deviation of route (i, c)")
        setattr(m, f"z_{name}", z)
        setattr(m, f"p_{name}", p)
        tset = set(types)
        setattr(m, f"robust_{name}", pyo.Constraint(types, rule=lambda m, i: (
            sum(coef[i, cc] * m.x[i, cc] for cc in m.C_i[i]) + m.gamma * z[i] + sum(p[i, cc] for cc in m.C_i[i])
            <= limit(m, i) * (1 - m.u[i])), doc=f"Σ {name}·x + Γ z + Σ p ≤ limit (1 − u): worst case of Γ routes"))
        setattr(m, f"robust_{name}_dev", pyo.Constraint(m.R, rule=lambda m, i, cc: (
            z[i] + p[i, cc] >= (factor - 1) * coef[i, cc] * m.x[i, cc]) if i in tset else pyo.Constraint.Skip,
            doc=f"z_i + p_ic ≥ ({factor.local_name} − 1)·coef_ic·x_ic"))

    counterpart("error", m.error_rate, lambda m, i: m.max_error[i], m.I, m.s_error)
    if not per_route and len(m.I_e2e):
        counterpart("delay", m.e2e_s, lambda m, i: m.e2e_slo_s[i], m.I_e2e, m.s_max)
    return m
