"""Rolling-horizon re-planning against the demand that actually arrives.

Per window: forecast each query type's rate from the windows before it (last value, EWMA or a
seasonal profile), re-plan for the forecast (any registered method), then evaluate that plan
against the rates that actually arrived (:func:`sloserve.stress.evaluate_arrays`): cost of the
replicas, penalties for traffic beyond capacity or on SLO-breaking routes, re-plan time and
replica churn. A static plan provisioned once for the peak window is evaluated the same way.

Windows are appended to a CSV as they finish (``out=``), so a long run can be interrupted and
resumed without losing finished windows — by the same run only (:mod:`sloserve.resume`).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..problem.instance import Instance, build_instance
from ..solvers import SolveOptions, solve
from ..problem.plan import arrays_from_plan
from .forecast import forecast
from .stress import DEFAULT_VIOLATION_PENALTY, Stress, evaluate_arrays
from ..problem.tables import Compiled
from ..resume import ResumableCSV, fingerprint_data



@dataclass(frozen=True)
class RollingOptions:
    method: str = "agh"
    forecast: str = "ewma"  # last | ewma | seasonal
    alpha: float = 0.5  # EWMA smoothing weight of the newest window
    season: int = 0  # windows per season for the seasonal forecast (e.g. 24 for hourly windows over days)
    margin: float = 1.0  # provision forecast × margin
    time_limit_s: float | None = None  # per re-plan, s (None: the method's own default)
    switching_cost: float = 0.0  # $ per GPU added or removed between windows
    violation_penalty: float = DEFAULT_VIOLATION_PENALTY
    seed: int = 0


def with_rates(c: Compiled, rates: np.ndarray) -> Compiled:
    """The same compiled problem with other arrival rates (routes do not depend on rates)."""
    qt = c.query_types.copy()
    qt["rate_rps"] = np.asarray(rates, dtype=float)
    return replace(c, query_types=qt)


def _evaluate_window(base: Instance, y, x, u, actual: np.ndarray, ro: RollingOptions) -> dict:
    return evaluate_window(base, y, x, u, actual, violation_penalty=ro.violation_penalty)


def evaluate_window(base: Instance, y, x, u, actual: np.ndarray,
                    violation_penalty: float = DEFAULT_VIOLATION_PENALTY) -> dict:
    """One window's outcome of plan arrays against the rates that arrived: replica cost ($/h),
    penalties ($/h), the demand-weighted shares violating an SLO, beyond capacity and unserved
    (by plan or beyond capacity), and the GPUs deployed."""
    per = evaluate_arrays(base, y, x, u, Stress(), rates=actual, violation_penalty=violation_penalty)
    w = max(actual.sum(), 1e-300)
    infra = float(base.cost @ y + base.fixed_cost_of(y, x))
    return {"infra_cost_per_hour": infra, "penalty_per_hour": float(per["penalty_per_hour"].sum()),
            "slo_violating": float(actual @ per["slo_violating"] / w),
            "beyond_capacity": float(actual @ per["beyond_capacity"] / w),
            "unserved": float(actual @ np.clip(per["unserved_planned"] + per["beyond_capacity"], 0, 1) / w),
            "gpus": int(base.gpus @ y)}


#: the columns of a rolling-horizon record (one per policy and window), in file order
RECORD_COLUMNS = ("policy", "window", "window_start", "replan_s", "churn_gpus", "switching_cost", "infra_cost_per_hour",
                  "penalty_per_hour", "slo_violating", "beyond_capacity", "unserved", "gpus", "replicas")
_TEXT_COLUMNS = ("policy", "replicas")


def problem_fingerprints(c: Compiled, rates: pd.DataFrame) -> list[dict]:
    """Fingerprints of a rolling run's in-memory inputs: the compiled tables and the rates per window."""
    tables = "".join(c.table(t).to_csv(index=False, float_format="%.10g") for t in Compiled.TABLES)
    return [fingerprint_data("compiled tables", tables + repr(c.options)),
            fingerprint_data("rates per window", rates.to_csv(float_format="%.10g"))]


def rolling_horizon(c: Compiled, rates: pd.DataFrame, ro: RollingOptions = RollingOptions(), *,
                    warmup: int = 1, out: str | Path | None = None, progress: bool | None = None,
                    static: bool = True, overwrite: bool = False, inputs: list[dict] | None = None,
                    options: dict | None = None) -> pd.DataFrame:
    """Re-plan per window of ``rates`` (index: window start; columns: query types of ``c``; values: rps).

    Returns one row per (policy, window) with costs in $/h, violation fractions, re-plan time,
    churn and the replicas of the window's plan. The first ``warmup`` windows only feed the forecast.
    With ``out``, records are appended as windows finish (:class:`~sloserve.resume.ResumableCSV`) and a
    rerun skips the windows already there — only when it is the same run: the same options
    (``RollingOptions``, ``warmup``, ``static`` and the caller's ``options``) and the same inputs
    (``inputs``, default: fingerprints of ``c`` and ``rates``); anything else raises InputError unless
    ``overwrite``. Churn after a resume is computed from the stored replicas of the last window.
    """
    from tqdm import tqdm  # plain bar: tqdm.auto would need ipywidgets inside Jupyter
    types = list(c.query_types["query_type"])
    missing = [t for t in types if t not in rates.columns]
    if missing:
        raise InputError("rates", "columns", f"no rates for query types {missing}; have {list(rates.columns)}")
    R = rates[types].to_numpy(dtype=float)
    base = build_instance(c)
    store = None
    if out is not None:
        store = ResumableCSV(out, command="rolling", options={**asdict(ro), "warmup": warmup, "static": static,
                                                              **(options or {})},
                             inputs=inputs if inputs is not None else problem_fingerprints(c, rates),
                             columns=RECORD_COLUMNS, key=("policy", "window"), overwrite=overwrite)
    rows = list(store.records) if store is not None else []
    have = {(r["policy"], int(r["window"])) for r in rows}

    def emit(row):
        row = {**row, "replicas": json.dumps(row["replicas"], sort_keys=True)}
        rows.append(row)
        if store is not None:
            store.append(row)

    def replicas(y) -> dict:
        return {str(base.configs[k]): int(y[k]) for k in np.flatnonzero(y > 0)}

    opts = SolveOptions(time_limit_s=ro.time_limit_s, seed=ro.seed)
    if static and any(("static", t) not in have for t in range(warmup, len(R))):  # resumed runs skip it
        t0 = time.perf_counter()
        peak = R[warmup:].max(axis=0) if len(R) > warmup else R.max(axis=0)
        sp = solve(with_rates(c, peak * ro.margin), ro.method, opts)
        st_time = time.perf_counter() - t0
        a = arrays_from_plan(base, sp)
        for t in range(warmup, len(R)):
            if ("static", t) in have:
                continue
            emit({"policy": "static", "window": t, "window_start": rates.index[t], "replan_s": st_time if t == warmup else 0.0,
                  "churn_gpus": 0, "switching_cost": 0.0, **_evaluate_window(base, a.y, a.x, a.u, R[t], ro),
                  "replicas": replicas(a.y)})

    done_rolling = sorted(int(r["window"]) for r in rows if r["policy"] == "rolling")
    prev_y = None
    disable = None if progress is None else not progress  # None: show only on a terminal
    bar = tqdm(range(warmup, len(R)), desc="rolling horizon", disable=disable)
    for t in bar:
        if ("rolling", t) in have:
            continue
        if prev_y is None and done_rolling and done_rolling[-1] == t - 1:  # resumed: the previous plan is stored
            last = next(r for r in rows if r["policy"] == "rolling" and int(r["window"]) == t - 1)
            prev_y = np.zeros(base.C)
            for cfg, n in json.loads(last["replicas"]).items():
                prev_y[base.config_index[cfg]] = n
        fc = forecast(R[:t], ro.forecast, ro.alpha, ro.season) * ro.margin
        t0 = time.perf_counter()
        plan = solve(with_rates(c, fc), ro.method, opts)
        dt = time.perf_counter() - t0
        a = arrays_from_plan(base, plan)
        churn = 0 if prev_y is None else int(base.gpus @ np.abs(a.y - prev_y))
        prev_y = a.y
        ev = _evaluate_window(base, a.y, a.x, a.u, R[t], ro)
        sw = ro.switching_cost * churn
        ev["infra_cost_per_hour"] += sw  # one window of switching, charged in that window's $/h
        emit({"policy": "rolling", "window": t, "window_start": rates.index[t], "replan_s": dt,
              "churn_gpus": churn, "switching_cost": sw, **ev, "replicas": replicas(a.y)})
    df = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    for col in RECORD_COLUMNS:
        if col not in _TEXT_COLUMNS:
            df[col] = pd.to_numeric(df[col])
    df["total_cost_per_hour"] = df["infra_cost_per_hour"] + df["penalty_per_hour"]
    return df.sort_values(["policy", "window"]).reset_index(drop=True)


def horizon_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per policy: mean and variance of cost per window ($/h), mean violations, re-plan time, churn."""
    g = df.groupby("policy")
    return pd.DataFrame({
        "cost_mean": g["total_cost_per_hour"].mean(), "cost_var": g["total_cost_per_hour"].var(ddof=0),
        "infra_mean": g["infra_cost_per_hour"].mean(), "penalty_mean": g["penalty_per_hour"].mean(),
        "slo_violating_mean": g["slo_violating"].mean(), "beyond_capacity_mean": g["beyond_capacity"].mean(),
        "replan_s_mean": g["replan_s"].mean(), "churn_gpus_total": g["churn_gpus"].sum(),
        "windows": g.size(),
    }).reset_index()


def plot_rolling(df: pd.DataFrame, y: str = "total_cost_per_hour", ax=None):
    """Cost (or another column) per window over time, one line per policy; returns the Axes."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for p, g in df.groupby("policy"):
        ax.step(g["window"], g[y], where="post", label=p)
    ax.set_xlabel("window")
    ax.set_ylabel(y.replace("_", " "))
    ax.legend()
    return ax


# ---- trace -> per-window rates ------------------------------------------------------------------

def rates_per_window(trace: pd.DataFrame, window: str | float = "5min", *, types_per_service: int = 3,
                     method: str = "kmeans", seed: int = 0) -> pd.DataFrame:
    """Wide table of arrival rates (rps): one row per window (index: window start, s), one column per
    query type, typed exactly as :func:`sloserve.calibrate.calibrate` types them (same arguments ->
    same names), so the columns match a calibrated scenario's query types."""
    from ..traces.calibrate import arrivals_per_window, label_query_types
    t = trace.copy()
    t["query_type"] = label_query_types(t, types_per_service, method=method, seed=seed).astype(str)
    a = arrivals_per_window(t, window, by="query_type")
    return a.pivot_table(index="start_s", columns="query_type", values="rate_rps", aggfunc="sum").fillna(0.0)
