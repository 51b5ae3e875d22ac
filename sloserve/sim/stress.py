"""The stress study in simulation: fixed plans replayed with slower steps, worse errors, more and
burstier demand — queueing, batching and KV limits included.

Per (method, s) the plan's replicas and routing stay fixed while every iteration takes s× as long
(``EngineOptions.step_scale``), every route's error rate is s× the model's, and the arrivals are
the scenario's rates × ``demand`` with Gamma inter-arrivals of coefficient of variation ``cv``
(1 = Poisson). A request is *violated* when it misses an SLO of its type, is still in flight at the
horizon, or belongs to a type whose mean error of served traffic (× s) exceeds its limit — the same
rule as the analytic study (:mod:`sloserve.evaluate.stress`); requests the plan leaves unserved are
violated too, but attainment (as in ``docs/metrics.md``) is the share of *served* requests meeting
every SLO and limit. Penalties: the type's
``unserved_penalty``, or ``violation_penalty`` ($/request) when that is 0, per violated request.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..problem.instance import build_instance
from ..problem.plan import Plan, arrays_from_plan
from ..problem.tables import Compiled
from ..vocab import DEFAULT_VIOLATION_PENALTY, SECONDS_PER_HOUR
from .arrivals import synthetic
from .engine import EngineOptions
from .metrics import meets_slos
from .simulator import simulate


def simulated_stress(compiled: Compiled, plans: dict[str, Plan | tuple[Compiled, Plan]], factors=(1.0, 1.2, 1.5), *,
                     demand: float = 1.0, cv: float = 1.0, duration_s: float = 600.0, seed: int = 0,
                     violation_penalty: float = DEFAULT_VIOLATION_PENALTY, errors: bool = True,
                     engine: EngineOptions = EngineOptions()) -> pd.DataFrame:
    """Tidy table: one row per (method, s) — attainment, violated share, costs with penalties ($/h).

    ``latency_attainment`` counts SLO misses only; ``attainment`` also counts every request of a type
    whose inflated mean error exceeds its limit (with ``errors=False`` error rates stay as modelled:
    the latency study alone). ``violated`` is the share of counted requests violated under that rule;
    ``violated_errors_as_modelled`` the same share with error rates as modelled (× 1) whatever
    ``errors`` says — one replay per (method, s) answers both the "delays and errors × s" and the
    "delays × s" question.

    ``plans`` maps a method name to a plan on ``compiled``, or to (tables, plan) when the plan was made
    on other beliefs (``sim.verify``: its routes and design batches), judged on ``compiled``'s SLOs."""
    from .verify import _judged_on

    arrivals = synthetic(compiled, duration_s, process="gamma" if cv != 1.0 else "poisson", cv=cv, seed=seed,
                         rate_scale=demand)
    horizon = 1.5 * duration_s + 60.0
    qt = compiled.query_types
    pen = np.where(qt["unserved_penalty"].to_numpy(float) > 0, qt["unserved_penalty"].to_numpy(float),
                   violation_penalty)
    rows = []
    for name, entry in plans.items():
        belief, plan = entry if isinstance(entry, tuple) else (compiled, entry)
        judged = _judged_on(belief, compiled)
        inst = build_instance(judged)
        a = arrays_from_plan(inst, plan)
        share = np.bincount(inst.route_i, weights=a.x, minlength=inst.I)
        err = np.bincount(inst.route_i, weights=a.x * inst.error, minlength=inst.I)
        infra = float(inst.cost @ a.y + inst.fixed_cost_of(a.y, a.x))
        nominal_err = np.divide(err, share, out=np.zeros(inst.I), where=share > 0)
        err_bad_1 = nominal_err > inst.max_error * (1 + 1e-9)  # types over their limit with errors as modelled
        for s in factors:
            err_bad = nominal_err * (s if errors else 1.0) > inst.max_error * (1 + 1e-9)
            res = simulate(judged, plan, arrivals, engine=dataclasses.replace(engine, step_scale=float(s)),
                           horizon_s=horizon, seed=seed)
            req = res.requests
            counted = (req["status"] != "after_horizon").to_numpy()
            served = counted & (req["status"] != "unserved").to_numpy()  # attainment: of the served (docs/metrics.md)
            slo_ok = meets_slos(req, judged)
            qi = pd.Index(qt["query_type"]).get_indexer(req["query_type"])
            ok = slo_ok & ~err_bad[qi]
            bad = counted & ~ok  # penalties: unserved requests too
            bad_1 = counted & ~(slo_ok & ~err_bad_1[qi])
            penalty = float((pen[qi] * bad).sum() / duration_s * SECONDS_PER_HOUR)
            rows.append({"method": name, "s": float(s), "demand": demand, "cv": cv,
                         "latency_attainment": float(slo_ok[served].mean()) if served.any() else np.nan,
                         "attainment": float(ok[served].mean()) if served.any() else np.nan,
                         "unserved": float(1 - served[counted].mean()) if counted.any() else np.nan,
                         "violated": float(bad[counted].mean()) if counted.any() else np.nan,
                         "violated_errors_as_modelled": float(bad_1[counted].mean()) if counted.any() else np.nan,
                         "error_violated_types": int(err_bad.sum()), "in_flight": res.counts()["in_flight"],
                         "infra_cost_per_hour": infra, "penalty_per_hour": penalty,
                         "total_cost_per_hour": infra + penalty})
    return pd.DataFrame(rows)
