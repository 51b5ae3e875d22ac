"""Budgeted uncertainty (Bertsimas–Sim) on the compiled tables: plans that stay feasible when delays
and error rates turn out worse than modelled.

Uncertainty set U(s_max, Γ): for each query type i, on at most Γ of the routes it uses, delays (TTFT,
TPOT, E2E) and the error rate inflate by a factor in [1, s_max] (errors by their own factor when
``s_error`` is given — ``s_error=1``: delays only); on such a route the replica's
capacity falls by the factor and KV residency grows by it (the physics of
:mod:`sloserve.evaluate.stress`). A plan is *robust* when every constraint holds for every
realisation in U (constraint-wise, as in Bertsimas & Sim 2004):

- per-route SLOs (TTFT, TPOT; E2E in ``per_route`` mode): a route in use may be one of the Γ, so
  only routes with delay · s_max within the SLO may carry traffic (Γ ≥ 1);
- capacity at 100 % busy and KV memory of configuration c: each type has one route to c and may
  spend its budget there, so the worst case inflates every route on c: Σ λ/μ · x ≤ min(ρ̄, 1/s_max) · y
  and Σ λ ω s_max/KV · x ≤ y;
- mean error (and mean E2E in ``mean`` mode) of type i: Σ e x + max_{|S| ≤ Γ} Σ_{r∈S} (s_max − 1) e_r x_r
  ≤ ε_i (1 − u_i) — the protection term the MILP linearises with z_i, p_ic
  (:mod:`sloserve.solvers.milp.robust`).

:func:`robust_tables` is the *box* counterpart as ordinary tables (every route of a type inflated,
Γ = ∞): route filter, scaled capacity and KV, errors and E2E × s_max. It equals the budgeted set when
Γ is at least the number of routes a type uses (one or two in most plans) and is more conservative
otherwise; every method that reads tables (GH, AGH, the MILP, the checker) can plan on it.
:func:`robust_violations` checks a plan against U(s_max, Γ) itself.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .instance import Instance, build_instance
from .tables import Compiled

TOL = 1e-6


@dataclass(frozen=True)
class Uncertainty:
    """Inflation up to ``s_max`` (≥ 1) on at most ``gamma`` (≥ 1) routes per query type.

    ``s_error`` is the error rates' own factor (≥ 1); ``None`` inflates them by ``s_max`` with the
    delays. ``s_error=1`` is the set of a provider who trusts the measured accuracy and not the
    latencies (contention, load): delays inflate, error rates stay as modelled."""

    s_max: float = 1.3
    gamma: int = 1
    s_error: float | None = None

    def __post_init__(self):
        if not self.s_max >= 1.0:
            raise ValueError(f"s_max must be >= 1, got {self.s_max}")
        if int(self.gamma) < 1:
            raise ValueError(f"gamma must be >= 1, got {self.gamma}")
        if self.s_error is not None and not self.s_error >= 1.0:
            raise ValueError(f"s_error must be >= 1 (or None: the same as s_max), got {self.s_error}")

    @property
    def error_factor(self) -> float:
        """The largest inflation of error rates: ``s_error``, or ``s_max`` when it is None."""
        return float(self.s_max if self.s_error is None else self.s_error)


def uncertainty_from(extra: dict | None, *, gamma: int | None = None) -> Uncertainty:
    """The :class:`Uncertainty` a method's ``SolveOptions.extra`` asks for: ``s_max`` (default 1.3),
    ``gamma`` (default 1; ``gamma=`` here overrides it, e.g. 1 for the box tables that ignore it) and
    ``s_error`` (default None: errors inflate with s_max)."""
    ex = extra or {}
    se = ex.get("s_error")
    return Uncertainty(s_max=float(ex.get("s_max", 1.3)), gamma=int(ex.get("gamma", 1)) if gamma is None else gamma,
                       s_error=None if se is None else float(se))


def robust_routes(inst: Instance, unc: Uncertainty) -> np.ndarray:
    """R bool: routes whose per-route SLOs still hold with delays × s_max."""
    qt = inst.compiled.query_types
    i = inst.route_i
    ttft = qt["ttft_slo_s"].to_numpy(float)[i]
    tpot = qt["tpot_slo_s"].to_numpy(float)[i]
    s = unc.s_max
    ok = (inst.ttft * s <= np.nan_to_num(ttft, nan=np.inf) * (1 + 1e-12)) & \
         (inst.tpot * s <= np.nan_to_num(tpot, nan=np.inf) * (1 + 1e-12))
    if inst.options.slo_mode == "per_route":
        e2e = pd.to_numeric(qt["e2e_slo_s"], errors="coerce").to_numpy(dtype=float)[i]
        ok &= inst.e2e * s <= np.nan_to_num(e2e, nan=np.inf) * (1 + 1e-12)
    return ok


def capacity_scale(inst: Instance, unc: Uncertainty) -> float:
    """Factor on capacity_rps that makes the planning cap ρ̄ also cover 100 % busy at s_max: min(1, 1/(ρ̄ s_max))."""
    return min(1.0, 1.0 / (inst.rho * unc.s_max))


def exact_tables(compiled: Compiled, unc: Uncertainty) -> Compiled:
    """The parts of the counterpart that are exact for any Γ ≥ 1, as tables: the route filter and the
    capacity and KV scaling (errors and delays as modelled; the MILP adds their protection terms)."""
    inst = build_instance(compiled)
    keep = robust_routes(inst, unc)
    rt = compiled.routes.loc[keep].copy()
    rt["capacity_rps"] = rt["capacity_rps"].to_numpy(float) * capacity_scale(inst, unc)
    rt["kv_byte_seconds"] = rt["kv_byte_seconds"].to_numpy(float) * unc.s_max
    extra = {**compiled.extra, "robust": {"s_max": unc.s_max, "s_error": unc.error_factor, "gamma": int(unc.gamma),
                                          "routes_dropped": int((~keep).sum())}}
    return replace(compiled, name=f"{compiled.name}-robust", routes=rt.reset_index(drop=True), extra=extra)


def robust_tables(compiled: Compiled, unc: Uncertainty) -> Compiled:
    """The box counterpart of U(s_max, ·) as ordinary tables (see the module docstring): :func:`exact_tables`
    with errors × ``unc.error_factor`` and E2E × s_max. Same configuration and route names, so a plan on
    them is read on the nominal tables unchanged."""
    c = exact_tables(compiled, unc)
    rt = c.routes.copy()
    rt["error"] = np.clip(rt["error"].to_numpy(float) * unc.error_factor, 0.0, 1.0)
    rt["e2e_s"] = rt["e2e_s"].to_numpy(float) * unc.s_max
    return replace(c, routes=rt, extra={**c.extra, "robust": {**c.extra["robust"], "gamma": "box"}})


def protection(values: np.ndarray, route_i: np.ndarray, x: np.ndarray, I: int, unc: Uncertainty,
               factor: float | None = None) -> np.ndarray:
    """Per type: the largest extra Σ_{r∈S} (s − 1)·values_r·x_r over at most Γ routes S (I,); s is
    ``factor``, by default ``unc.s_max`` (delays; errors pass ``unc.error_factor``)."""
    s = unc.s_max if factor is None else float(factor)
    dev = (s - 1.0) * values * x
    out = np.zeros(I)
    on = np.flatnonzero(dev > 0)
    if len(on) == 0:
        return out
    order = on[np.lexsort((-dev[on], route_i[on]))]  # by type, largest deviation first
    ri = route_i[order]
    rank = np.arange(len(order)) - np.searchsorted(ri, ri, side="left")
    top = rank < int(unc.gamma)
    np.add.at(out, ri[top], dev[order][top])
    return out


def robust_violations(inst: Instance, y, x, u, unc: Uncertainty, tol: float = TOL) -> list[str]:
    """What breaks in the worst case of U(s_max, Γ) for plan arrays on the *nominal* instance ([] = robust)."""
    y, x, u = (np.asarray(a, float) for a in (y, x, u))
    out = []
    used = x > tol
    bad = used & ~robust_routes(inst, unc)
    for r in np.flatnonzero(bad):
        out.append(f"route ({inst.query_types[inst.route_i[r]]}, {inst.configs[inst.route_c[r]]}) breaks a per-route SLO at s_max")
    busy = np.bincount(inst.route_c, weights=inst.cap_load * x, minlength=inst.C)
    lim = min(inst.rho, 1.0 / unc.s_max) * y
    for c in np.flatnonzero(busy > lim * (1 + tol) + tol):
        out.append(f"capacity of {inst.configs[c]}: {busy[c]:.4g} > {lim[c]:.4g} replicas' worth at s_max")
    kv = np.bincount(inst.route_c, weights=inst.mem_load * x * unc.s_max, minlength=inst.C) / np.maximum(inst.kv, 1e-300)
    for c in np.flatnonzero(kv > y * (1 + tol) + tol):
        out.append(f"KV memory of {inst.configs[c]}: {kv[c]:.4g} > {y[c]:.4g} replicas at s_max")
    err = np.bincount(inst.route_i, weights=inst.error * x, minlength=inst.I) + \
        protection(inst.error, inst.route_i, x, inst.I, unc, factor=unc.error_factor)
    for i in np.flatnonzero(err > inst.max_error * (1 - u) * (1 + tol) + tol):
        out.append(f"error of {inst.query_types[i]}: {err[i]:.4g} > {inst.max_error[i] * (1 - u[i]):.4g} in the worst case")
    if inst.options.slo_mode != "per_route":
        fin = np.isfinite(inst.e2e_slo)
        dl = np.bincount(inst.route_i, weights=inst.e2e * x, minlength=inst.I) + \
            protection(inst.e2e, inst.route_i, x, inst.I, unc)
        lim_d = np.where(fin, inst.e2e_slo, np.inf) * (1 - u)
        for i in np.flatnonzero(fin & (dl > lim_d * (1 + tol) + tol)):
            out.append(f"mean E2E of {inst.query_types[i]}: {dl[i]:.4g} s > {lim_d[i]:.4g} s in the worst case")
    return out
