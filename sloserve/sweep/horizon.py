"""The rolling-horizon study as sweep cases: one case per (demand series, method, policy, window).

A rolling case re-plans one window: it rebuilds the demand series from its ``window`` settings
(seeded, so every worker builds the same one), forecasts the window from every window before it
(``params.forecaster``: any of :data:`~sloserve.evaluate.forecast.FORECASTERS`), plans for the
forecast × ``params.margin`` with the case's method, and evaluates the plan against the rates that
arrived — analytically (:func:`sloserve.evaluate.rolling.evaluate_window`) and, when
``sim.duration_s`` > 0, in the request-level simulator on a replay of that many seconds of the
window's demand. Windows do not depend on each other's plans, so a week of windows runs in
parallel; churn and switching costs, which compare consecutive plans, come from the stored
replicas afterwards (:func:`sloserve.sweep.summary.rolling_windows`).

A static case plans once from what is known before the evaluated span — ``static_peak``: the
per-type peak of the history (the seasonal-naive forecast of the coming span's peak, not the
oracle's), ``static_mean``: its mean, ``static_oracle``: the peak of the evaluated span itself (the
old study's baseline) — and evaluates that plan on every window (one row per window).

``window`` settings: ``source`` (``synthetic`` | ``azure2023``: the 2023 trace's 5-minute shape tiled
and scaled, times the synthetic envelope | ``trace``: the 2023 trace's own windows), ``volatility``
(0 flat .. 1 extreme), ``hours`` (evaluated span), ``history_hours``, ``window_min`` (5..60),
``index`` (the evaluated window; filled in by expansion), ``count`` (evaluate only the first n),
``stride`` (re-plan every k-th window only: a subsample for expensive methods; churn between
subsampled windows is then not a per-window churn).

Re-plans of the deterministic methods (GH, AGH at its work budget: no time limit in the case) are
memoised per worker on their exact input rates: the same inputs give the same plan, so this only
skips repeated work (flat demand re-plans the same rates every window).
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..errors import InfeasibleError, InputError
from .case import Case, freeze
from .run import compiled_problem, instance, plan_facts, scenario_families, scenario_inputs, solve_options, study

POLICIES = ("rolling", "static_peak", "static_mean", "static_oracle")


def _w(case: Case, name: str, default=None):
    return case.get("window", name, default)


def _p(case: Case, name: str, default=None):
    return case.get("params", name, default)


def _trace_paths() -> list[str]:
    """The 2023 Azure samples: local copies ($SLOSERVE_TRACE_DIR, ../shared beside a checkout), else
    downloaded once, hash-checked (:func:`sloserve.traces.trace.azure_2023_samples`)."""
    from ..traces.trace import azure_2023_samples
    return [str(p) for p in azure_2023_samples()]


@lru_cache(maxsize=1)
def _trace_rates(window_min: float):
    from ..evaluate.rolling import rates_per_window
    from ..traces.trace import load_traces
    trace = load_traces(_trace_paths(), progress=False)
    return rates_per_window(trace, f"{int(window_min)}min", types_per_service=3)


@lru_cache(maxsize=8)
def _series(scenario: str, source: str, volatility: float, hours: float, history_hours: float, window_min: float,
            seed: int):
    """(all windows as a windows × types array, index of the first evaluated window, window starts)."""
    from ..evaluate import demand
    c = compiled_problem(scenario)
    qt = c.query_types
    types = list(map(str, qt["query_type"]))
    base = qt["rate_rps"].to_numpy(float)
    fam = list(scenario_families(scenario))
    if source == "trace":
        r = _trace_rates(window_min)
        missing = [t for t in types if t not in r.columns]
        if missing:
            raise InputError(None, "window.source", f"the trace has no query types {missing}")
        arr = r[types].to_numpy(float)
        h0 = int(round(history_hours * 60 / window_min)) or 1
        return arr, h0, r.index.to_numpy(float) - r.index.to_numpy(float)[h0]
    if source == "synthetic":
        s = demand.synthetic_series(base, types, fam, hours=hours, history_hours=history_hours,
                                    volatility=volatility, seed=seed)
    elif source == "azure2023":
        shape = demand.trace_shape(_trace_rates(5), types)
        s = demand.trace_series(shape, base, types, fam, hours=hours, history_hours=history_hours,
                                volatility=volatility, seed=seed)
    else:
        raise InputError(None, "window.source", f"unknown source {source!r}; choose synthetic, azure2023 or trace")
    w = demand.windows(s, window_min)
    h0 = int(round(history_hours * 60 / window_min))
    return w.to_numpy(float), h0, w.index.to_numpy(float)


def series_of(case: Case):
    return _series(case.scenario, str(_w(case, "source", "synthetic")), float(_w(case, "volatility", 0.5)),
                   float(_w(case, "hours", 168.0)), float(_w(case, "history_hours", 168.0)),
                   float(_w(case, "window_min", 60.0)), int(_w(case, "seed", case.seed)))


def evaluated_windows(case: Case) -> int:
    R, h0, _ = series_of(case)
    n = len(R) - h0
    count = _w(case, "count")
    return n if count is None else min(n, int(count))


def _expand(case: Case) -> list[Case]:
    policy = _p(case, "policy", "rolling")
    if policy not in POLICIES:
        raise InputError(None, "params.policy", f"unknown policy {policy!r}; choose one of {list(POLICIES)}")
    if policy != "rolling" or _w(case, "index") is not None:
        return [case]
    win = case.group("window")
    stride = max(int(win.get("stride", 1)), 1)
    return [replace(case, window=freeze({**win, "index": t})) for t in range(0, evaluated_windows(case), stride)]


def _inputs(case: Case) -> list[str]:
    extra = _trace_paths() if _w(case, "source", "synthetic") in ("azure2023", "trace") else []
    return scenario_inputs(case.scenario) + extra


# ---- one window ----------------------------------------------------------------------------------

DETERMINISTIC = ("gh", "agh")
_MEMO: dict = {}
MEMO_SIZE = 32


def _plan(case: Case, rates: np.ndarray):
    """(plan or None, plan status, seconds, the compiled problem planned for) for the forecast
    ``rates``; None when no plan exists. Seconds are those of the solve that made the plan."""
    from ..evaluate.rolling import with_rates
    from ..solvers import solve
    c = with_rates(compiled_problem(case.scenario), rates)
    memo = case.method in DETERMINISTIC and case.get("method_options", "time_limit_s") is None
    key = (case.scenario, case.method, case.seed, case.method_options, np.asarray(rates, float).tobytes())
    if memo and key in _MEMO:
        return _MEMO[key] + (c,)
    t0 = time.perf_counter()
    try:
        plan = solve(c, case.method, solve_options(case))
        out = (plan, str(plan.status), time.perf_counter() - t0)
    except InfeasibleError:
        out = (None, "infeasible", time.perf_counter() - t0)
    if memo:
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = out
    return out + (c,)


def _window_row(case: Case, plan, planned_c, actual: np.ndarray, t: int, start_s: float, sim_on: bool) -> dict:
    from ..evaluate.rolling import evaluate_window
    from ..problem.plan import arrays_from_plan
    from ..vocab import DEFAULT_VIOLATION_PENALTY
    base = instance(case.scenario)
    pen = float(_p(case, "violation_penalty", DEFAULT_VIOLATION_PENALTY))
    if plan is None:  # nothing could be planned: nothing is deployed
        y, x, u = np.zeros(base.C), np.zeros(base.R), np.ones(base.I)
    else:
        a = arrays_from_plan(base, plan)
        y, x, u = a.y, a.x, a.u
    ev = evaluate_window(base, y, x, u, actual, violation_penalty=pen)
    used = np.flatnonzero(y > 0)
    row = {"window": t, "window_start_s": float(start_s), "actual_rps": float(actual.sum()), **ev,
           "replicas": json.dumps({str(base.configs[k]): int(y[k]) for k in used}, sort_keys=True),
           "config_facts": json.dumps({str(base.configs[k]): [int(base.gpus[k]), float(base.cost[k])] for k in used},
                                      sort_keys=True)}
    if sim_on and plan is not None:
        row.update(_simulate_window(case, plan, planned_c, actual, t, pen))
    return row


def _simulate_window(case: Case, plan, planned_c, actual: np.ndarray, t: int, pen: float) -> dict:
    """Replay ``sim.duration_s`` seconds of the window's demand against its plan; violated (charged a
    penalty) = a request missing an SLO, still in flight at the horizon, or left unserved by the plan;
    attainment, as in ``docs/metrics.md`` and ``sim.stress``, is the share of *served* requests meeting
    every SLO."""
    from ..evaluate.rolling import with_rates
    from ..sim.arrivals import synthetic
    from ..sim.metrics import meets_slos
    from ..sim.simulator import simulate
    from ..vocab import SECONDS_PER_HOUR
    sim = case.group("sim")
    dur = float(sim["duration_s"])
    cv = float(sim.get("cv", 1.0))
    t0 = time.perf_counter()
    arr = synthetic(with_rates(compiled_problem(case.scenario), actual), dur, process="gamma" if cv != 1.0 else "poisson",
                    cv=cv, seed=case.seed * 100_003 + t)
    res = simulate(planned_c, plan, arr, horizon_s=1.5 * dur + 60.0, seed=case.seed)
    req = res.requests
    qt = planned_c.query_types
    counted = (req["status"] != "after_horizon").to_numpy()
    ok = meets_slos(req, planned_c)
    qi = np.asarray(req["query_type"].map({q: i for i, q in enumerate(qt["query_type"])}), dtype=int)
    p = qt["unserved_penalty"].to_numpy(float)
    p = np.where(p > 0, p, pen)
    served = counted & (req["status"] != "unserved").to_numpy()  # attainment: of the served (docs/metrics.md)
    bad = counted & ~ok  # penalties: the plan's unserved requests too, as in sim.stress
    return {"sim_requests": int(counted.sum()), "sim_attainment": float(ok[served].mean()) if served.any() else np.nan,
            "sim_unserved": float(1 - served[counted].mean()) if counted.any() else np.nan,
            "sim_penalty_per_hour": float((p[qi] * bad).sum() / dur * SECONDS_PER_HOUR),
            "sim_wall_s": time.perf_counter() - t0}


def _sim_here(case: Case, t: int) -> bool:
    sim = case.group("sim")
    return float(sim.get("duration_s", 0) or 0) > 0 and t % max(int(sim.get("every", 1)), 1) == 0


@study("rolling", help="rolling-horizon re-planning per window vs static plans, on week-long demand series",
       expand=_expand, inputs=_inputs)
def rolling_study(case: Case) -> list[dict]:
    from ..evaluate.forecast import forecast
    R, h0, starts = series_of(case)
    policy = _p(case, "policy", "rolling")
    margin = float(_p(case, "margin", 1.0))
    n = evaluated_windows(case)
    if policy == "rolling":
        t = int(_w(case, "index"))
        if not 0 <= t < n:
            raise InputError(None, "window.index", f"must be in [0, {n}), got {t}")
        k = h0 + t
        wmin = float(_w(case, "window_min", 60.0))
        season = int(round(float(_p(case, "season_hours", 24.0)) * 60 / wmin))
        extra = {name: float(_p(case, name)) for name in ("hw_alpha", "hw_beta", "hw_gamma") if _p(case, name) is not None}
        fc = forecast(R[:k], str(_p(case, "forecaster", "seasonal")), float(_p(case, "alpha", 0.5)), season, **extra)
        plan, status, dt, pc = _plan(case, fc * margin)
        row = _window_row(case, plan, pc, R[k], t, starts[k], _sim_here(case, t))
        facts = {}
        if plan is not None:
            facts = plan_facts(plan)
        return [{**row, "forecast_rps": float(fc.sum()), **facts, "plan_status": status, "replan_s": dt}]
    history = R[:h0] if h0 > 0 else R[:1]
    target = {"static_peak": history.max(axis=0), "static_mean": history.mean(axis=0),
              "static_oracle": R[h0:h0 + n].max(axis=0)}[policy]
    plan, status, dt, pc = _plan(case, target * margin)
    facts = {}
    if plan is not None:
        facts = plan_facts(plan)
    rows = []
    for t in range(n):
        row = _window_row(case, plan, pc, R[h0 + t], t, starts[h0 + t], _sim_here(case, t))
        rows.append({**row, "forecast_rps": float(target.sum()), **facts, "plan_status": status,
                     "replan_s": dt if t == 0 else 0.0})
    return rows
