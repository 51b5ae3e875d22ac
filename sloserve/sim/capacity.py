"""What one replica really serves: simulated throughput of a route against the planner's capacity μ.

The planner's capacity μ_ic (``routes.capacity_rps``) is an analytic figure: one request costs a
batch-1 prefill plus its share of decode steps at the design batch. :func:`route_throughput` feeds one
replica of configuration c with requests of type i (at their mean sizes) at a given rate and measures
what the engine (continuous batching, chunked prefill, paged KV) completes, and how many of those
meet the type's SLOs — the ratio to μ, per kind of route, is the table of ``docs/simulation.md``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..errors import InputError
from ..problem.plan import Plan
from ..problem.tables import Compiled
from .arrivals import Arrivals
from .engine import EngineOptions
from .metrics import meets_slos
from .simulator import SimResult, simulate


def single_route(compiled: Compiled, query_type: str, config: str) -> Compiled:
    """The problem cut down to one query type, one configuration and the route between them."""
    qt = compiled.query_types[compiled.query_types["query_type"] == query_type].reset_index(drop=True)
    cf = compiled.configs[compiled.configs["config"] == config].reset_index(drop=True)
    rt = compiled.routes[(compiled.routes["query_type"] == query_type) & (compiled.routes["config"] == config)]
    if len(qt) != 1 or len(cf) != 1 or len(rt) != 1:
        raise InputError(None, "route", f"({query_type!r}, {config!r}) is not a route of {compiled.name!r}")
    cp = None if compiled.config_perf is None else \
        compiled.config_perf[compiled.config_perf["config"] == config].reset_index(drop=True)
    gp = compiled.gpus[compiled.gpus["gpu"] == cf["gpu"].iloc[0]].reset_index(drop=True)
    md = compiled.models[compiled.models["model"] == cf["model"].iloc[0]].reset_index(drop=True)
    return dataclasses.replace(compiled, query_types=qt, configs=cf, routes=rt.reset_index(drop=True),
                               config_perf=cp, gpus=gp, models=md)


def route_throughput(compiled: Compiled, query_type: str, config: str, *, load: float = 3.0, requests: int = 2000,
                     engine: EngineOptions = EngineOptions(), seed: int = 0) -> tuple[dict, SimResult]:
    """One replica of ``config`` fed Poisson arrivals of ``query_type`` at ``load`` × μ (mean sizes).

    Returns (row, result): the row has μ, the simulated throughput over the middle half of the
    completions (steady state; with ``load`` > 1 the replica is saturated, so this is its capacity),
    the throughput of requests that met every SLO, their ratios to μ, and the mean batch."""
    one = single_route(compiled, query_type, config)
    r = one.routes.iloc[0]
    q = one.query_types.iloc[0]
    mu = float(r["capacity_rps"])
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / (load * mu), requests))
    arr = Arrivals(t - t[0], np.full(requests, int(round(q["input_tokens"]))),
                   np.full(requests, int(round(q["output_tokens"]))), np.zeros(requests, dtype=np.int64),
                   (str(q["query_type"]),), f"poisson {load:g} x capacity")
    # the checker judges the plan at the planner's rate; the arrivals carry the load
    checked = dataclasses.replace(one, query_types=one.query_types.assign(rate_rps=mu * 0.5, max_error=1.0,
                                                                        max_unserved=0.0))
    plan = Plan(scenario=one.name, method="one replica", status="feasible", objective=None, replicas={config: 1},
                routing=[{"query_type": str(q["query_type"]), "config": config, "fraction": 1.0}],
                unserved={str(q["query_type"]): 0.0})
    res = simulate(checked, plan, arr, engine=engine, seed=seed)
    req = res.requests
    done = req[req["status"] == "completed"].sort_values("completed_at")
    mid = done.iloc[len(done) // 4: 3 * len(done) // 4]
    span = float(mid["completed_at"].max() - mid["completed_at"].min()) if len(mid) > 1 else np.nan
    thr = (len(mid) - 1) / span if span and span > 0 else np.nan
    ok = meets_slos(req, checked)
    in_mid = req.index.isin(mid.index)
    good = (ok & in_mid).sum() / span if span and span > 0 else np.nan
    row = {"query_type": query_type, "config": config, "input_tokens": int(q["input_tokens"]),
           "output_tokens": int(q["output_tokens"]), "design_batch": int(r.get("design_batch", 0)),
           "capacity_rps": mu, "simulated_rps": thr, "ratio": thr / mu, "within_slo_rps": good,
           "within_slo_ratio": good / mu, "mean_batch": float(res.replicas["mean_batch"].iloc[0])}
    return row, res


def route_kind(input_tokens: float, output_tokens: float) -> str:
    """A coarse kind of route by request shape (for the capacity table)."""
    p = "long prompt" if input_tokens >= 1000 else "short prompt"
    o = "long output" if output_tokens >= 100 else "short output"
    return f"{p}, {o}"


def capacity_table(compiled: Compiled, routes: pd.DataFrame | None = None, *, load: float = 3.0, requests: int = 2000,
                   engine: EngineOptions = EngineOptions(), seed: int = 0) -> pd.DataFrame:
    """:func:`route_throughput` for every route of ``routes`` (default: all routes of ``compiled``)."""
    routes = compiled.routes if routes is None else routes
    rows = [route_throughput(compiled, str(r.query_type), str(r.config), load=load, requests=requests, engine=engine,
                             seed=seed)[0] for r in routes.itertuples(index=False)]
    df = pd.DataFrame(rows)
    df["kind"] = [route_kind(a, b) for a, b in zip(df["input_tokens"], df["output_tokens"])]
    return df


def slo_capacity(compiled: Compiled, query_type: str, config: str, *, attainment: float = 0.9, requests: int = 1500,
                 engine: EngineOptions = EngineOptions(), seed: int = 0, lo: float = 0.02, hi: float = 4.0,
                 steps: int = 7) -> float:
    """The largest Poisson arrival rate, as a multiple of μ, at which one replica of ``config`` still
    serves ``query_type`` with at least ``attainment`` of its requests within every SLO (bisection
    over [lo, hi] × μ, ``steps`` halvings; 0 when even ``lo`` × μ misses). The planner assumes the
    utilisation cap ρ̄ × μ is safe: a value below ρ̄ says that route is over-committed."""
    one = single_route(compiled, query_type, config)
    r = one.routes.iloc[0]
    q = one.query_types.iloc[0]
    mu = float(r["capacity_rps"])
    checked = dataclasses.replace(one, query_types=one.query_types.assign(rate_rps=mu * 0.5, max_error=1.0,
                                                                        max_unserved=0.0))
    plan = Plan(scenario=one.name, method="one replica", status="feasible", objective=None, replicas={config: 1},
                routing=[{"query_type": str(q["query_type"]), "config": config, "fraction": 1.0}],
                unserved={str(q["query_type"]): 0.0})
    base = np.random.default_rng(seed).exponential(1.0, requests)  # unit-rate gaps, rescaled per load

    def ok(load: float) -> bool:
        t = np.cumsum(base / (load * mu))
        arr = Arrivals(t - t[0], np.full(requests, int(round(q["input_tokens"]))),
                       np.full(requests, int(round(q["output_tokens"]))), np.zeros(requests, dtype=np.int64),
                       (str(q["query_type"]),))
        res = simulate(checked, plan, arr, engine=engine, seed=seed)
        return float(res.summary["slo_attainment"].iloc[0]) >= attainment

    if not ok(lo):
        return 0.0
    if ok(hi):
        return hi
    a, b = lo, hi
    for _ in range(steps):
        m = (a * b) ** 0.5  # geometric bisection: loads span two orders of magnitude
        a, b = (m, b) if ok(m) else (a, m)
    return a
