"""Out-of-sample stress evaluation of a fixed plan.

The plan's replicas ``y`` and routing ``x`` stay fixed while the world turns out worse than the
performance model said: route delays (TTFT/TPOT/E2E) and error rates are inflated by a factor
``s`` — uniformly, or per route with seeded random factors of the same mean — and demand by its
own factor ``d``. Inflated delays also mean proportionally longer service: capacity μ falls by
the route's factor and KV residency ω grows by it (same physics as the performance model).

Per query type we report the fraction of its traffic whose route now breaks an SLO, the
fraction beyond the physical capacity (100% busy, not the planning cap ρ̄, which is headroom),
whether the error limit still holds, and the cost including penalties for violated and
unserved traffic. Everything reads the shared :class:`~sloserve.instance.Instance` arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..problem.instance import Instance
from ..problem.plan import Plan, arrays_from_plan
from ..vocab import DEFAULT_VIOLATION_PENALTY, SECONDS_PER_HOUR  # noqa: F401 (re-exported)



@dataclass(frozen=True)
class Stress:
    """One stress case: delay/error inflation ``s``, demand factor ``d``, per-route randomness."""

    s: float = 1.0  # inflation of delays and error rates (1.0 = as modelled)
    s_error: float | None = None  # error rates' own factor on every route (None: the same factors as the delays)
    d: float = 1.0  # demand factor on every rate
    mode: str = "uniform"  # uniform | random (per-route factors in [1, 2s-1], mean s)
    seed: int = 0


def route_factors(inst: Instance, st: Stress) -> np.ndarray:
    """Inflation factor per route (R,)."""
    if st.mode == "uniform" or st.s == 1.0:
        return np.full(inst.R, float(st.s))
    if st.mode != "random":
        raise ValueError(f"mode must be 'uniform' or 'random', got {st.mode!r}")
    rng = np.random.default_rng(st.seed)
    return rng.uniform(1.0, 2.0 * st.s - 1.0, inst.R) if st.s > 1 else np.full(inst.R, float(st.s))


def evaluate_arrays(inst: Instance, y: np.ndarray, x: np.ndarray, u: np.ndarray, st: Stress = Stress(),
                    violation_penalty: float = DEFAULT_VIOLATION_PENALTY, slo_margin: float = 1.0,
                    rates: np.ndarray | None = None) -> pd.DataFrame:
    """Per-query-type outcome of plan arrays under stress; one row per type plus nothing hidden.

    ``rates`` (I,) replaces λ·d when given (the rolling horizon passes the demand that arrived).
    ``slo_margin`` < 1 tightens the SLOs the outcome is judged against (a robustness knob).
    Columns: query_type, rate_rps, slo_violating (fraction of demand on a route breaking an SLO),
    beyond_capacity (fraction of demand the replicas cannot absorb), unserved_planned,
    error_served, max_error, error_ok, penalty_per_hour ($/h).
    """
    f = route_factors(inst, st)
    lam = inst.lam * st.d if rates is None else np.asarray(rates, dtype=float)
    qt = inst.compiled.query_types
    ttft_slo = qt["ttft_slo_s"].to_numpy(float) * slo_margin
    tpot_slo = qt["tpot_slo_s"].to_numpy(float) * slo_margin
    e2e_slo = qt["e2e_slo_s"].to_numpy(float) * slo_margin
    i = inst.route_i
    per_route = inst.options.slo_mode == "per_route"
    with np.errstate(invalid="ignore"):
        broken = (inst.ttft * f > np.nan_to_num(ttft_slo[i], nan=np.inf)) | (inst.tpot * f > np.nan_to_num(tpot_slo[i], nan=np.inf))
        if per_route:
            broken |= inst.e2e * f > np.nan_to_num(e2e_slo[i], nan=np.inf)
    served = np.bincount(i, weights=x, minlength=inst.I)  # routed fraction per type
    slo_viol = np.bincount(i, weights=x * broken, minlength=inst.I)
    late = np.zeros(inst.I, dtype=bool)
    if not per_route:  # mean mode: a type whose mean e2e now exceeds its SLO has all its served traffic late
        mean_e2e = np.bincount(i, weights=x * inst.e2e * f, minlength=inst.I) / np.maximum(served, 1e-300)
        late = np.isfinite(e2e_slo) & (mean_e2e > e2e_slo)
        slo_viol = np.where(late, served, slo_viol)

    # capacity and KV memory at 100% busy: overflow fraction per configuration, shared by its routes
    busy = np.bincount(inst.route_c, weights=lam[i] * x * f / inst.mu, minlength=inst.C)
    kv = np.bincount(inst.route_c, weights=lam[i] * x * inst.omega * f, minlength=inst.C)
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(np.where(busy > 0, busy / np.maximum(y, 0), 0.0), np.where(kv > 0, kv / (inst.kv * np.maximum(y, 0)), 0.0))
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
    over = ratio > 1 + 1e-9  # tolerance as the checker's: exact packing is not overflow
    overflow_c = np.zeros_like(ratio)
    overflow_c[over] = 1 - 1 / ratio[over]
    beyond = np.bincount(i, weights=x * overflow_c[inst.route_c], minlength=inst.I)

    fe = f if st.s_error is None else float(st.s_error)
    err_served = np.bincount(i, weights=x * np.clip(inst.error * fe, 0, 1), minlength=inst.I)
    mean_err = np.divide(err_served, served, out=np.zeros(inst.I), where=served > 0)
    err_ok = mean_err <= inst.max_error * (1 + 1e-9)

    pen = np.where(inst.penalty > 0, inst.penalty, violation_penalty)
    # a request is penalised once: unserved by plan, beyond capacity, or served late on a broken route
    oc = overflow_c[inst.route_c]
    late_r = broken if per_route else late[i]
    bad = np.minimum(1.0, np.asarray(u, float) + np.bincount(i, weights=x * (oc + (1 - oc) * late_r), minlength=inst.I))
    penalty = SECONDS_PER_HOUR * pen * lam * bad
    return pd.DataFrame({
        "query_type": inst.query_types, "rate_rps": lam, "slo_violating": slo_viol, "beyond_capacity": beyond,
        "unserved_planned": np.asarray(u, float), "error_served": mean_err, "max_error": inst.max_error,
        "error_ok": err_ok, "penalty_per_hour": penalty,
    })


def with_slo_margin(sc, margin: float):
    """The scenario with every latency SLO multiplied by ``margin`` (< 1 = plan with headroom).

    Plan on the tightened scenario and judge the plan with that scenario's route numbers (its
    design batches are smaller, so its routes run faster) against the real SLOs:
    ``evaluate(tight_inst, plan, st, slo_margin=1 / margin)``.
    """
    from dataclasses import replace as _replace
    qts = tuple(_replace(q, **{f: (None if getattr(q, f) is None else getattr(q, f) * margin)
                               for f in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")}) for q in sc.query_types)
    return _replace(sc, query_types=qts)


def evaluate(inst: Instance, plan: Plan, st: Stress = Stress(), **kw) -> pd.DataFrame:
    """:func:`evaluate_arrays` for a :class:`Plan`."""
    a = arrays_from_plan(inst, plan)
    return evaluate_arrays(inst, a.y, a.x, a.u, st, **kw)


def summarize(inst: Instance, plan: Plan, per_type: pd.DataFrame) -> dict:
    """Totals over query types: demand-weighted violation and overflow fractions, costs in $/h."""
    a = arrays_from_plan(inst, plan)
    w = per_type["rate_rps"].to_numpy(float)
    tot = max(w.sum(), 1e-300)
    infra = float(inst.cost @ a.y + inst.fixed_cost_of(a.y, a.x))
    pen = float(per_type["penalty_per_hour"].sum())
    return {"slo_violating": float(w @ per_type["slo_violating"] / tot),
            "beyond_capacity": float(w @ per_type["beyond_capacity"] / tot),
            "error_violated_types": int((~per_type["error_ok"]).sum()),
            "infra_cost_per_hour": infra, "penalty_per_hour": pen, "total_cost_per_hour": infra + pen}


def stress_table(inst: Instance, plans: dict[str, Plan], factors=(1.0, 1.1, 1.2, 1.3, 1.4, 1.5), *,
                 demand: float = 1.0, modes=("uniform", "random"), draws: int = 5, seed: int = 0,
                 violation_penalty: float = DEFAULT_VIOLATION_PENALTY) -> pd.DataFrame:
    """Tidy table: one row per (method, mode, s, draw) with :func:`summarize`'s columns."""
    rows = []
    for name, plan in plans.items():
        for mode in modes:
            for s in factors:
                n = 1 if mode == "uniform" else draws
                for k in range(n):
                    st = Stress(s=s, d=demand, mode=mode, seed=seed + k)
                    per = evaluate(inst, plan, st, violation_penalty=violation_penalty)
                    rows.append({"method": name, "mode": mode, "s": s, "demand": demand, "draw": k,
                                 **summarize(inst, plan, per)})
    return pd.DataFrame(rows)


def plot_stress(table: pd.DataFrame, y: str = "total_cost_per_hour", mode: str = "uniform", ax=None):
    """Lines of ``y`` against the inflation factor, one per method (mean over draws); returns the Axes."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    t = table[table["mode"] == mode].groupby(["method", "s"], as_index=False)[y].mean()
    for m, g in t.groupby("method"):
        ax.plot(g["s"], g[y], marker="o", label=m)
    ax.set_xlabel("inflation of delays and error rates, s")
    ax.set_ylabel(y.replace("_", " "))
    ax.set_title(f"stress ({mode})")
    ax.legend()
    return ax
