"""Plans (docs/formulation.md §4): the ``Plan`` dataclass, its JSON file, array form and DataFrame views."""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..paths import read_bytes, write_text
from ..safeload import load_json
from ..vocab import Status
from . import limits as L
from .instance import Instance
from .limits import name_problem, number_problem, show

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
            write_text(path, text, "plan file")
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any], file: str = "plan") -> "Plan":
        """A plan from its JSON form, validated against :data:`PLAN_SCHEMA` (types, ranges, no
        duplicate routes); constraint violations are the checker's to report, not this function's."""
        if not isinstance(d, dict):
            raise InputError(file, None, f"a plan must be a JSON object, got {show(d)}")
        for key in REQUIRED_KEYS:
            if key not in d:
                raise InputError(file, key, f"missing field; a plan needs {list(REQUIRED_KEYS)}")
        for key, check in PLAN_SCHEMA.items():
            if key in d:
                check(d[key], key, file)
        known = set(PLAN_SCHEMA)
        return cls(scenario=d["scenario"], method=d.get("method", ""), status=d.get("status", "feasible"),
                   objective=d.get("objective"), bound=d.get("bound"), runtime_s=float(d.get("runtime_s") or 0.0),
                   replicas=dict(d["replicas"]), routing=[dict(r) for r in d["routing"]], unserved=dict(d["unserved"]),
                   extra={k: v for k, v in d.items() if k not in known})

    @classmethod
    def read(cls, path: str | Path) -> "Plan":
        p = Path(path)
        if not p.exists():
            raise InputError(str(p), None, "no such plan file")
        return cls.from_dict(load_json(read_bytes(p, "plan file"), str(p)), str(p))


# ---- the plan file's schema -------------------------------------------------------------------

def _fail(file, fld, msg):
    raise InputError(file, fld, msg)


def _string(v, fld, file):
    if not isinstance(v, str):
        _fail(file, fld, f"must be a string, got {show(v)}")


def _name(v, fld, file):
    msg = name_problem(v, config_id=True)
    if msg:
        _fail(file, fld, msg)


def _number(nullable=False, **kw):
    def check(v, fld, file):
        if v is None and nullable:
            return
        msg = number_problem(v, **kw)
        if msg:
            _fail(file, fld, msg.replace("must be ", "must be null or ", 1) if nullable else msg)
    return check


def _status(v, fld, file):
    if not isinstance(v, str) or v not in STATUSES:
        _fail(file, fld, f"must be one of {list(STATUSES)}, got {show(v)}")


def _counts(what, value):
    def check(v, fld, file):
        if not isinstance(v, dict):
            _fail(file, fld, f"must be an object {{{what}: {value[0]}}}, got {show(v)}")
        for k, x in v.items():
            _name(k, f"{fld}.{k}", file)
            value[1](x, f"{fld}.{k}", file)
    return check


ROUTE_KEYS = ("query_type", "config", "fraction")


def _routing(v, fld, file):
    if not isinstance(v, list):
        _fail(file, fld, f"must be a list of {{query_type, config, fraction}}, got {show(v)}")
    seen: dict[tuple[str, str], int] = {}
    for n, r in enumerate(v):
        f = f"{fld}[{n}]"
        if not isinstance(r, dict):
            _fail(file, f, f"must be an object {{query_type, config, fraction}}, got {show(r)}")
        for k in r:
            if k not in ROUTE_KEYS:
                close = difflib.get_close_matches(str(k), ROUTE_KEYS, n=1)
                _fail(file, f"{f}.{k}", "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
                      + f"; a routing entry has {list(ROUTE_KEYS)}")
        for k in ROUTE_KEYS:
            if k not in r:
                _fail(file, f"{f}.{k}", f"missing field; a routing entry has {list(ROUTE_KEYS)}")
        _name(r["query_type"], f"{f}.query_type", file)
        _name(r["config"], f"{f}.config", file)
        _number()(r["fraction"], f"{f}.fraction", file)
        key = (r["query_type"], r["config"])
        if key in seen:
            _fail(file, f, f"the route ({key[0]}, {key[1]}) is listed twice (also {fld}[{seen[key]}]); "
                           "give each route one fraction")
        seen[key] = n


REQUIRED_KEYS = ("scenario", "replicas", "routing", "unserved")
#: every key a plan file's reader checks; any other key (a method's statistics) is kept in Plan.extra
PLAN_SCHEMA = {
    "scenario": _name,
    "method": _string,
    "status": _status,
    "objective": _number(nullable=True),
    "bound": _number(nullable=True),
    "runtime_s": _number(lo=0),
    "replicas": _counts("config", ("count", _number(hi=L.REPLICAS))),
    "routing": _routing,
    "unserved": _counts("query_type", ("fraction", _number())),
}


def check_plan_is_for(plan: Plan, problem_name: str, file: str = "plan") -> None:
    """A plan is checked (or warm-starts) only against the problem it was made for: its
    ``scenario`` must be the problem's name."""
    if plan.scenario != problem_name:
        raise InputError(file, "scenario", f"the plan is for {plan.scenario!r}, the problem is {problem_name!r}; "
                                           f"use the plan made for this problem (if the problem was only renamed, "
                                           f"set \"scenario\": \"{problem_name}\" in the plan file)")


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
        if idx is None:  # reported even with a zero fraction: a plan naming routes that do not exist is not this problem's
            unknown.append(f"routing: ({r['query_type']!r}, {r['config']!r}) is not a route of this problem")
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
