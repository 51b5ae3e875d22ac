"""Plans (docs/formulation.md §4): the ``Plan`` dataclass, its JSON file, array form and DataFrame views."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..vocab import Status
from .instance import Instance

STATUSES = tuple(str(s) for s in Status)


@dataclass
class Plan:
    """A solution: replicas per configuration, routing fractions, unserved fractions.

    ``objective`` is always recomputed from replicas/unserved (never copied from a solver);
    ``bound`` is a proven lower bound on the optimum when the method has one (else None).
    """

    scenario: str
    method: str
    status: str
    objective: float | None
    replicas: dict[str, int]
    routing: list[dict[str, Any]]  # {"query_type", "config", "fraction"}
    unserved: dict[str, float]
    bound: float | None = None
    runtime_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- file -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "extra"}
        d.update(self.extra)
        return d

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, default=_plain) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any], file: str = "plan") -> "Plan":
        if not isinstance(d, dict):
            raise InputError(file, None, "a plan must be a JSON object")
        for key in ("replicas", "routing", "unserved"):
            if key not in d:
                raise InputError(file, key, "missing field; a plan needs replicas, routing and unserved")
        reps = d["replicas"]
        if not isinstance(reps, dict):
            raise InputError(file, "replicas", "must be an object {config: count}")
        for k, v in reps.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise InputError(file, f"replicas.{k}", f"must be a number, got {v!r}")
        routing = d["routing"]
        if not isinstance(routing, list):
            raise InputError(file, "routing", "must be a list of {query_type, config, fraction}")
        for n, r in enumerate(routing):
            if not isinstance(r, dict) or not {"query_type", "config", "fraction"} <= set(r):
                raise InputError(file, f"routing[{n}]", "must have query_type, config and fraction")
            if not isinstance(r["fraction"], (int, float)) or not math.isfinite(r["fraction"]):
                raise InputError(file, f"routing[{n}].fraction", f"must be a number, got {r['fraction']!r}")
        uns = d["unserved"]
        if not isinstance(uns, dict):
            raise InputError(file, "unserved", "must be an object {query_type: fraction}")
        for k, v in uns.items():
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(file, f"unserved.{k}", f"must be a number, got {v!r}")
        status = d.get("status", "feasible")
        if status not in STATUSES:
            raise InputError(file, "status", f"must be one of {list(STATUSES)}, got {status!r}")
        known = {"scenario", "method", "status", "objective", "bound", "runtime_s", "replicas", "routing", "unserved"}
        return cls(scenario=str(d.get("scenario", "")), method=str(d.get("method", "")), status=status,
                   objective=d.get("objective"), bound=d.get("bound"), runtime_s=float(d.get("runtime_s") or 0.0),
                   replicas=dict(reps), routing=list(routing), unserved=dict(uns),
                   extra={k: v for k, v in d.items() if k not in known})

    @classmethod
    def read(cls, path: str | Path) -> "Plan":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise InputError(str(p), None, "no such plan file") from None
        except json.JSONDecodeError as e:
            raise InputError(str(p), None, f"invalid JSON: {e}") from None
        return cls.from_dict(d, str(p))


def _plain(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


# ---- array form ---------------------------------------------------------------------------

def plan_from_arrays(inst: Instance, y, x, u, *, method: str, status: str = "feasible",
                     bound: float | None = None, runtime_s: float = 0.0, extra: dict | None = None,
                     tol: float = 1e-9) -> Plan:
    """Build a ``Plan`` from ``(y, x, u)`` arrays (C, R, I); tiny fractions below ``tol`` are dropped
    only when they are numerical noise (the checker tolerance is 1e-6)."""
    y = np.asarray(np.round(y), dtype=np.int64)
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    reps = {str(inst.configs[c]): int(y[c]) for c in np.flatnonzero(y > 0)}
    routing = [{"query_type": str(inst.query_types[inst.route_i[r]]), "config": str(inst.configs[inst.route_c[r]]),
                "fraction": float(x[r])} for r in np.flatnonzero(x > tol)]
    unserved = {str(q): float(max(u[i], 0.0)) for i, q in enumerate(inst.query_types)}
    return Plan(scenario=inst.compiled.name, method=method, status=status,
                objective=inst.objective(y, u, np.where(x > tol, x, 0.0)), bound=bound, runtime_s=float(runtime_s),
                replicas=reps, routing=routing, unserved=unserved, extra=dict(extra or {}))


@dataclass
class PlanArrays:
    y: np.ndarray
    x: np.ndarray
    u: np.ndarray
    unknown: list[str]  # references to routes/configs/types that are not in the instance


def arrays_from_plan(inst: Instance, plan: Plan) -> PlanArrays:
    """Map a plan onto the instance's index space; unknown names are reported, not dropped silently."""
    y = np.zeros(inst.C)
    x = np.zeros(inst.R)
    u = np.zeros(inst.I)
    unknown: list[str] = []
    for cfg, n in plan.replicas.items():
        c = inst.config_index.get(cfg)
        if c is None:
            unknown.append(f"replicas: unknown configuration {cfg!r}")
        else:
            y[c] += n
    for r in plan.routing:
        key = (r["query_type"], r["config"])
        idx = inst.route_index.get(key)
        if idx is None:
            if r["fraction"] != 0:
                unknown.append(f"routing: ({r['query_type']!r}, {r['config']!r}) is not a feasible route")
        else:
            x[idx] += r["fraction"]
    for q, v in plan.unserved.items():
        i = inst.query_type_index.get(q)
        if i is None:
            unknown.append(f"unserved: unknown query type {q!r}")
        else:
            u[i] = v
    return PlanArrays(y, x, u, unknown)


# ---- DataFrame views ----------------------------------------------------------------------

def routing_frame(inst: Instance, plan: Plan) -> pd.DataFrame:
    """One row per used route: query_type, config, fraction, rate_rps and the route's numbers."""
    a = arrays_from_plan(inst, plan)
    r = np.flatnonzero(a.x > 0)
    rt = inst.compiled.routes.iloc[r].reset_index(drop=True)
    df = rt[["query_type", "config", "ttft_s", "tpot_s", "e2e_s", "error", "capacity_rps"]].copy()
    df.insert(2, "fraction", a.x[r])
    df.insert(3, "rate_rps", a.x[r] * inst.lam[inst.route_i[r]])
    return df


def replicas_frame(inst: Instance, plan: Plan) -> pd.DataFrame:
    """One row per configuration with replicas: model, gpu, precision, tp, pp, replicas, GPUs, $/h, utilisation."""
    a = arrays_from_plan(inst, plan)
    c = np.flatnonzero(a.y > 0)
    cf = inst.compiled.configs.iloc[c].reset_index(drop=True)
    busy = np.bincount(inst.route_c, weights=inst.cap_load * a.x, minlength=inst.C)[c]
    kv = np.bincount(inst.route_c, weights=inst.mem_load * a.x, minlength=inst.C)[c]
    df = cf[["config", "model", "gpu", "precision", "tp", "pp"]].copy()
    df["replicas"] = a.y[c].astype(int)
    df["gpus"] = (a.y[c] * inst.gpus[c]).astype(int)
    df["cost_per_hour"] = a.y[c] * inst.cost[c]
    df["utilization"] = busy / a.y[c]
    df["kv_utilization"] = kv / (a.y[c] * inst.kv[c])
    return df


def summary_frame(inst: Instance, plan: Plan) -> pd.DataFrame:
    """Per query type: rate, served/unserved fraction, traffic-weighted mean and worst latencies and error vs SLOs."""
    a = arrays_from_plan(inst, plan)
    served = np.bincount(inst.route_i, weights=a.x, minlength=inst.I)
    w = np.where(served > 0, served, 1.0)

    def mean(v):
        return np.bincount(inst.route_i, weights=a.x * v, minlength=inst.I) / w

    def worst(v):
        out = np.full(inst.I, np.nan)
        used = a.x > 0
        np.fmax.at(out, inst.route_i[used], v[used])
        return out

    qt = inst.compiled.query_types
    df = pd.DataFrame({
        "query_type": inst.query_types,
        "rate_rps": inst.lam,
        "served": served,
        "unserved": a.u,
        "ttft_s_mean": mean(inst.ttft), "ttft_s_max": worst(inst.ttft), "ttft_slo_s": qt["ttft_slo_s"].to_numpy(float),
        "tpot_s_mean": mean(inst.tpot), "tpot_s_max": worst(inst.tpot), "tpot_slo_s": qt["tpot_slo_s"].to_numpy(float),
        "e2e_s_mean": mean(inst.e2e), "e2e_s_max": worst(inst.e2e), "e2e_slo_s": qt["e2e_slo_s"].to_numpy(float),
        "error_mean": mean(inst.error), "max_error": inst.max_error,
    })
    return df


def replace_plan(plan: Plan, **changes) -> Plan:
    """A copy of ``plan`` with some fields changed (``dataclasses.replace`` for plans)."""
    return dataclasses.replace(plan, **changes)


# ---- the one clean-up step ---------------------------------------------------------------------

def tidy(inst: Instance, plan: Plan) -> Plan:
    """The same plan without paying for idle capacity (pure; every method's plan goes through here).

    Each configuration keeps only the replicas its traffic needs (``Instance.replicas_needed``: the
    smallest whole number meeting capacity and KV memory), so a configuration that carries no
    traffic has none; routing entries with a zero fraction are dropped. Nothing a constraint needs is
    removed, so a feasible plan stays feasible; the objective and the gap to the plan's bound are
    recomputed. Names the instance does not know are left as they are, for the checker to report.
    """
    a = arrays_from_plan(inst, plan)
    if a.unknown:
        return plan
    y = np.minimum(np.round(a.y), inst.replicas_needed(a.x)).astype(np.int64)
    routing = [r for r in plan.routing if r["fraction"] != 0]
    reps = {str(inst.configs[c]): int(y[c]) for c in np.flatnonzero(y > 0)}
    objective = inst.objective(y, a.u, a.x)
    extra = dict(plan.extra)
    if plan.bound is not None and math.isfinite(plan.bound):
        extra["gap"] = max(0.0, objective - plan.bound) / max(abs(objective), 1e-9)
    if reps != plan.replicas:
        extra["tidied"] = {"replicas_removed": int(np.round(a.y).sum() - y.sum()),
                           "objective_before": plan.objective}
    return Plan(scenario=plan.scenario, method=plan.method, status=plan.status, objective=objective,
                replicas=reps, routing=routing, unserved=dict(plan.unserved), bound=plan.bound,
                runtime_s=plan.runtime_s, extra=extra)
