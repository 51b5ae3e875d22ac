"""Tidy summaries of sweep records, by registry (one per study; a generic one for the rest).

The rolling study's records are one row per (series, method, policy, window); :func:`rolling_windows`
adds what compares consecutive windows — churn (GPUs added plus removed) and the switching cost of
the replicas added (their $/h for ``params.switch_minutes`` of warm-up, default 10) — and
:func:`rolling_summary` gives, per volatility level, method and policy: cost mean and variance over
windows (infrastructure + penalties + switching, $/h), violations, unserved traffic, churn and
re-plan time. :func:`replanning_pays` puts each re-planning method beside the better static plan.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..registry import Registry
from .case import PARAM_FIELDS

SUMMARIES: Registry = Registry("summary")
NOT_AXES = {"case_id", "seed", "window.index", "row", "status", "error", "traceback", "worker"}


def is_option(col: str) -> bool:
    """A case option column (``group.name``), not a result that shares a group's name (``window``)."""
    head, dot, _ = col.partition(".")
    return bool(dot) and head in PARAM_FIELDS
DEFAULT_SWITCH_MINUTES = 10.0


def axes(records: pd.DataFrame) -> list[str]:
    """The case columns that vary across records (the grid's axes), seeds and windows aside."""
    cols = ["study", "scenario", "method"] + [c for c in records.columns if is_option(c)]
    return [c for c in cols if c in records.columns and c not in NOT_AXES and records[c].astype(str).nunique() > 1]


@SUMMARIES.register("generic", help="means of the numeric results per combination of the grid's axes")
def generic(records: pd.DataFrame) -> pd.DataFrame:
    ok = records[records["status"] == "ok"] if "status" in records else records
    from .run import TIMING_COLUMNS
    case_cols = {"case_id", "row", "seed", "window.index"}
    num = [c for c in ok.select_dtypes("number").columns
           if c not in case_cols and not is_option(c) and c not in TIMING_COLUMNS]
    by = axes(records) or ["study"]
    out = ok.groupby(by, dropna=False)[num].mean().reset_index() if len(ok) else pd.DataFrame(columns=by)
    n = records.groupby(by, dropna=False)["case_id"].nunique().rename("cases").reset_index()
    err = records[records["status"] == "error"].groupby(by, dropna=False)["case_id"].nunique().rename("failed")
    out = n.merge(out, on=by, how="left").merge(err.reset_index(), on=by, how="left")
    out["failed"] = out["failed"].fillna(0).astype(int)
    return out


@SUMMARIES.register("stress", help="per scenario, method, mode and s: means over draws")
def stress(records: pd.DataFrame) -> pd.DataFrame:
    ok = records[records["status"] == "ok"]
    by = [c for c in ("scenario", "params.slo_margin", "method", "mode", "s") if c in ok.columns]
    cols = [c for c in ("slo_violating", "beyond_capacity", "infra_cost_per_hour", "penalty_per_hour",
                        "total_cost_per_hour") if c in ok.columns]
    return ok.groupby(by, dropna=False)[cols].mean().reset_index()


def _churn(prev: dict, cur: dict, facts: dict, minutes: float) -> tuple[int, float]:
    gpus, switch = 0, 0.0
    for cfg in set(prev) | set(cur):
        d = cur.get(cfg, 0) - prev.get(cfg, 0)
        g, cost = facts.get(cfg, [0, 0.0])
        gpus += abs(d) * int(g)
        if d > 0:
            switch += d * float(cost) * minutes / 60.0
    return gpus, switch


def rolling_windows(records: pd.DataFrame) -> pd.DataFrame:
    """The rolling study's rows with ``churn_gpus``, ``switching_cost`` ($ for the replicas added
    since the window before) and ``total_cost_per_hour`` = infrastructure + penalties + switching
    spread over the window; the first window of a run is charged no switching (both policies start
    from the same empty fleet). Failed cases are left out."""
    r = records[(records["study"] == "rolling") & (records["status"] == "ok")].copy()
    if r.empty:
        return r
    chain = [c for c in r.columns if (is_option(c) or c in ("scenario", "method", "seed")) and c != "window.index"]
    r = r.sort_values(chain + ["window"], kind="stable").reset_index(drop=True)
    churn = np.zeros(len(r), dtype=np.int64)
    switch = np.zeros(len(r))
    for _, g in r.groupby([r[c].astype(str) for c in chain], sort=False):
        prev = None
        for i in g.index:
            cur = json.loads(r.at[i, "replicas"])
            if prev is not None:
                facts = {**json.loads(r.at[i, "config_facts"]), **prev[1]}
                minutes = float(r.at[i, "params.switch_minutes"]) if "params.switch_minutes" in r and \
                    pd.notna(r.at[i, "params.switch_minutes"]) else DEFAULT_SWITCH_MINUTES
                churn[i], switch[i] = _churn(prev[0], cur, facts, minutes)
            prev = (cur, json.loads(r.at[i, "config_facts"]))
    r["churn_gpus"] = churn
    r["switching_cost"] = switch
    wmin = pd.to_numeric(r["window.window_min"], errors="coerce").fillna(60.0) if "window.window_min" in r \
        else pd.Series(60.0, index=r.index)
    r["total_cost_per_hour"] = r["infra_cost_per_hour"] + r["penalty_per_hour"] + switch / (wmin / 60.0)
    return r


ROLLING_KEYS = ("window.source", "window.volatility", "window.window_min", "params.forecaster", "params.margin",
                "method", "params.policy")


@SUMMARIES.register("rolling", help="per volatility, window, method and policy: cost mean and variance, "
                                    "violations, unserved, churn, re-plan time")
def rolling_summary(records: pd.DataFrame) -> pd.DataFrame:
    w = rolling_windows(records)
    if w.empty:
        return w
    by = [c for c in ROLLING_KEYS if c in w.columns]
    w = w.assign(**{c: w[c].fillna("-") if w[c].dtype == object else w[c] for c in by})
    g = w.groupby(by, dropna=False)
    out = pd.DataFrame({
        "windows": g.size(),
        "cost_mean": g["total_cost_per_hour"].mean(), "cost_var": g["total_cost_per_hour"].var(ddof=0),
        "infra_mean": g["infra_cost_per_hour"].mean(), "penalty_mean": g["penalty_per_hour"].mean(),
        "switching_total": g["switching_cost"].sum(),
        "slo_violating_mean": g["slo_violating"].mean(), "unserved_mean": g["unserved"].mean(),
        "windows_with_unserved": g["unserved"].apply(lambda s: int((s > 1e-9).sum())),
        "churn_gpus_total": g["churn_gpus"].sum(), "gpus_mean": g["gpus"].mean(),
        "replan_s_mean": g["replan_s"].apply(lambda s: s[s > 0].mean() if (s > 0).any() else 0.0),
        "replan_s_max": g["replan_s"].max(),
    })
    if "sim_attainment" in w.columns:
        out["sim_attainment_mean"] = g["sim_attainment"].mean()
        out["sim_penalty_mean"] = g["sim_penalty_per_hour"].mean()
        if "sim_unserved" in w.columns:
            out["sim_unserved_mean"] = g["sim_unserved"].mean()
    return out.reset_index()


#: the static plans a planner can make (the oracle's peak is a reference, never "the better static plan")
REALISABLE_STATIC = ("static_peak", "static_mean")


def replanning_pays(summary: pd.DataFrame) -> pd.DataFrame:
    """Per series (source, volatility, window, forecaster, margin) and re-planning method: its cost
    mean and variance against the better realisable static plan of the same method (peak or mean of
    the history, whichever costs less on average), as relative changes (negative = re-planning is
    cheaper / steadier)."""
    keys = [c for c in ("window.source", "window.volatility", "window.window_min", "params.forecaster",
                        "params.margin", "method") if c in summary.columns]
    s = summary.copy()
    stat = s[s["params.policy"].isin(REALISABLE_STATIC)]
    roll = s[s["params.policy"] == "rolling"]
    static_keys = [k for k in keys if k != "params.forecaster"]
    best = stat.sort_values("cost_mean").groupby(static_keys, dropna=False).head(1)
    best = best[static_keys + ["params.policy", "cost_mean", "cost_var", "unserved_mean"]].rename(
        columns={"params.policy": "best_static", "cost_mean": "static_cost_mean", "cost_var": "static_cost_var",
                 "unserved_mean": "static_unserved_mean"})
    out = roll.merge(best, on=static_keys, how="left")
    out["cost_change"] = out["cost_mean"] / out["static_cost_mean"] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out["var_change"] = np.where(out["static_cost_var"] > 0, out["cost_var"] / out["static_cost_var"] - 1, np.nan)
    cols = keys + ["cost_mean", "static_cost_mean", "best_static", "cost_change", "cost_var", "static_cost_var",
                   "var_change", "unserved_mean", "static_unserved_mean", "churn_gpus_total", "replan_s_mean"]
    return out[[c for c in cols if c in out.columns]]


def summarize(records: pd.DataFrame, study: str | None = None) -> pd.DataFrame:
    """The tidy summary of the records of one study (its own summary, else the generic one)."""
    if records.empty:
        return records
    study = study or str(records["study"].iloc[0])
    fn = SUMMARIES.get(study) if study in SUMMARIES else generic
    return fn(records[records["study"] == study])
