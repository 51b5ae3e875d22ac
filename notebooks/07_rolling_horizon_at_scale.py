# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Rolling horizon at scale: sweeps on Dask, and re-planning under volatile demand
#
# The GH/AGH paper (Cheng & Nguyen, *Scalable Joint Resource Allocation for SLO-Constrained LLM
# Inference in Heterogeneous GPU Clouds*, arXiv:2604.07472) reports a rolling-horizon study — a synthetic volatility
# sweep and a real Azure workload — and a summary of it claims that re-planning cuts cost variance and
# cost by up to 48 % under high volatility against static allocations. sloserve's own first study
# (notebook 03) found the opposite on the 2023 Azure hour: re-planning every 5 minutes cost *more*
# than one static plan for the peak once penalties were counted. But that hour is nearly flat, and its
# static plan knew the true peak in advance.
#
# **What you will learn** — this notebook does the study properly, at a scale one laptop loop would
# not reach:
#
# 1. **week-long demand series** with diurnal and weekly cycles, bursts and one volatility knob from
#    flat to extreme (and the 2023 trace's shape tiled over the week);
# 2. **forecasters by registry** (last value, EWMA, seasonal naive, Holt–Winters);
# 3. the study as a **sweep**: a grid of frozen `Case`s, run by a pure `run_case`, in this process or on
#    **Dask**, with each finished case stored as a Parquet partition (a rerun skips it);
# 4. the week-long results of `benchmarks/rolling_volatility.py`: where re-planning starts to pay.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sloserve as ss
from sloserve.evaluate import demand
from sloserve.evaluate.forecast import FORECASTERS, forecast
from sloserve.ui.plots import plot_demand_series, rolling_volatility

sc = ss.default_scenario()
compiled = ss.compile_scenario(sc)
qt = compiled.query_types
families = [q.family for q in sc.query_types]
qt[["query_type", "rate_rps", "input_tokens", "output_tokens"]]

# %% [markdown]
# ## Demand: a week of history, then the week we plan for
#
# `demand.synthetic_series` multiplies each query type's base rate by a diurnal cycle (peak near
# 14:00, shifted per type), a weekend dip, AR(1) noise in log space and service-wide bursts; one knob,
# `volatility` v ∈ [0, 1], scales them all (v = 0 is perfectly flat). The first week is history (what
# forecasters and static plans may see); the second is evaluated.

# %%
levels = demand.VOLATILITY_LEVELS
series = {f"{name} ({v:g})": demand.windows(demand.synthetic_series(qt["rate_rps"], qt["query_type"], families,
                                                                    volatility=v, seed=0), 60)
          for name, v in levels.items()}
evaluated = {k: s[s.index >= 0] for k, s in series.items()}
fig, ax = plt.subplots(figsize=(11, 3.2))
plot_demand_series({k: evaluated[k] for k in list(evaluated)[::2]}, ax=ax)
pd.DataFrame({k: demand.describe(s) for k, s in evaluated.items()}).T.round(3)

# %% [markdown]
# The 2023 Azure trace covers one hour. `demand.trace_series` tiles its 5-minute shape (per type,
# divided by its mean) over the span and multiplies it by the synthetic envelope, so the real
# minute-scale texture rides on daily and weekly cycles:

# %%
from sloserve.evaluate.rolling import rates_per_window
from sloserve.traces.trace import azure_2023_samples, load_traces

# local copies if there are any ($SLOSERVE_TRACE_DIR, ../shared/data/azure_llm_trace), else a one-time download
trace = load_traces(azure_2023_samples(), progress=False)
shape = demand.trace_shape(rates_per_window(trace, "5min", types_per_service=3), qt["query_type"])
tiled = demand.trace_series(shape, qt["rate_rps"], qt["query_type"], families, hours=48, history_hours=0,
                            volatility=0.5, seed=0)
fig, ax = plt.subplots(figsize=(11, 3))
plot_demand_series({"2023 hour tiled x envelope (0.5), 5-min": tiled, "same, 1-hour windows": demand.windows(tiled, 60)}, ax=ax)


# %% [markdown]
# ## Forecasters
#
# Every forecaster is `fn(history, **params) -> next rates`, registered in `FORECASTERS`.
# `holt_winters` is a small additive Holt–Winters with fixed weights (its recursions are tested
# against statsmodels' `ExponentialSmoothing` with the same weights and initial state);
# `holt_winters_fit` fits the weights per window with statsmodels (`pip install 'sloserve[forecast]'`,
# slower: not run here). One-step errors over the evaluated week, hourly windows, daily season:

# %%
def one_step_errors(s: pd.DataFrame, names, season=24):
    R = s.to_numpy()
    h0 = int((s.index < 0).sum())
    out = {}
    for name in names:
        err = [np.abs(forecast(R[:t], name, 0.5, season) - R[t]).sum() / R[t].sum() for t in range(h0, len(R))]
        out[name] = np.mean(err)
    return out

names = [n for n in FORECASTERS.names() if n != "holt_winters_fit"]
pd.DataFrame({k: one_step_errors(s, names) for k, s in series.items()}).T.style.format("{:.1%}")

# %% [markdown]
# ## The study as a sweep
#
# A `Case` is a frozen, hashable description of one unit of work; its `key` (a SHA-256 of its
# content) names its result partition. The `rolling` study makes one case per (series, method, policy,
# window): a re-planning case forecasts its window from everything before it, plans with the method and
# is judged against the rates that arrived; windows do not depend on each other's plans, so a week runs
# in parallel. Churn and switching costs (each replica added pays 10 minutes of its $/h) come from
# consecutive windows' stored replicas afterwards. A static case plans once — for the **forecast peak**
# (the history week's per-type peak, not the oracle's) or the **mean** — and is judged on every window.
#
# A spec is a grid; here one day, GH (fast), three volatility levels:

# %%
from sloserve.sweep import Case, load_spec, replanning_pays, rolling_summary, run_sweep, TIMING_COLUMNS

spec = {"study": "rolling",
        "base": {"scenario": "default", "method": "gh",
                 "window": {"hours": 24, "history_hours": 168, "window_min": 60, "seed": 0},
                 "params": {"forecaster": "holt_winters", "season_hours": 24}},
        "grid": {"window.volatility": [0.0, 0.5, 1.0], "params.policy": ["rolling", "static_peak", "static_mean"]}}
s = load_spec(spec)
print(len(s.cases), "cases; the first:", s.cases[0].label(), s.cases[0].key)
local = run_sweep(spec, "sweep-day", progress=False)
summary = rolling_summary(local.records)
summary[["window.volatility", "params.policy", "cost_mean", "cost_var", "unserved_mean", "churn_gpus_total"]].round(3)

# %% [markdown]
# The output directory holds `manifest.json` (the spec and the fingerprints of every input file) and
# `records/<case key>.parquet`. Running the same spec again skips every finished case; a changed spec
# or input is refused naming what differs (`overwrite=True` starts fresh):

# %%
again = run_sweep(spec, "sweep-day", progress=False)
print(f"ran {again.ran}, skipped {again.skipped}")
try:
    run_sweep({**spec, "base": {**spec["base"], "method": "agh"}}, "sweep-day", progress=False)
except ss.InputError as e:
    print("refused:", str(e)[:160])

# %% [markdown]
# ### The same sweep on Dask
#
# `executor="dask"` starts a `LocalCluster` (one single-threaded worker process per core, 2 GiB each)
# — or attaches to any running cluster with `scheduler="tcp://host:8786"` (or the environment variable
# `SLOSERVE_DASK_SCHEDULER`; on the command line `sloserve sweep SPEC.yaml --out DIR --scheduler ADDRESS`).
# The records are the same as in-process ones, wall-clock columns aside:

# %%
import importlib.util

if importlib.util.find_spec("distributed"):
    on_dask = run_sweep(spec, executor="dask", workers=2, progress=False)
    cols = sorted(c for c in local.records.columns if c not in TIMING_COLUMNS)
    same = local.records[cols].sort_values(["case_id", "row"]).reset_index(drop=True).equals(
        on_dask.records[cols].sort_values(["case_id", "row"]).reset_index(drop=True))
    print("records identical:", same, "| workers used:", on_dask.records["worker"].nunique())
else:
    print("Dask is not installed: pip install 'sloserve[dask]'")

# %% [markdown]
# ## The week-long study
#
# `benchmarks/rolling_volatility.py` runs `benchmarks/sweeps/rolling_week.yaml` — 168 hourly windows,
# five volatility levels, GH and AGH re-planning against static plans for the forecast peak and the
# mean (and the oracle peak, for reference) — plus the time-limited MILP on a subsample, simulator
# replays, window lengths from 5 to 60 minutes and the real Azure hour. Its summary is kept in
# `docs/rolling_volatility.csv` and its report in `docs/rolling_horizon.md`:

# %%
docs = Path(ss.__file__).resolve().parents[1] / "docs"
week = pd.read_csv(docs / "rolling_volatility.csv") if (docs / "rolling_volatility.csv").exists() else None
if week is None:
    print("run benchmarks/rolling_volatility.py to produce docs/rolling_volatility.csv")
else:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    main = week[week["params.policy"] != "static_oracle"]
    rolling_volatility(main, "cost_mean", ax=axes[0])
    rolling_volatility(main, "cost_var", ax=axes[1])
    rolling_volatility(main, "unserved_mean", ax=axes[2])
    axes[2].set_ylabel("unserved share of traffic (mean over windows)")
    fig.tight_layout()

# %%
if week is not None:
    pays = replanning_pays(week)
    pays["cost_change"] = pays["cost_change"].map("{:+.0%}".format)
    pays["var_change"] = pays["var_change"].map(lambda v: "" if pd.isna(v) else f"{v:+.0%}")
    display(pays[["window.volatility", "method", "cost_mean", "static_cost_mean", "best_static", "cost_change",
                  "cost_var", "static_cost_var", "var_change", "unserved_mean"]].round(3))

# %% [markdown]
# How to read it: on flat demand every policy plans the same fleet. As volatility grows, a static plan
# for the history's peak pays for that peak all week (and still runs short when a burst beats it); a
# static plan for the mean is cheap but short for half of every day and pays penalties; re-planning
# follows the daily cycle and pays for its forecast errors (penalties when a window beats its forecast)
# and its switching. `docs/rolling_horizon.md` states, per level, by how much re-planning wins or loses
# against the better static plan, and what it costs in churn and re-plan time.

# %% [markdown]
# ## Exercises
#
# 1. In the one-day `spec` above, change `"forecaster"` to `"last"` (last value) and to `"seasonal"` (seasonal naive)
#    and re-run the sweep into a new directory: which forecaster gives the re-planning policy the
#    lowest cost at volatility 1.0, and which the least churn?
# 2. Add `"window.window_min": [15, 60]` to the grid. Shorter windows follow demand more closely but
#    re-plan more often: compare `cost_mean` and `churn_gpus_total` between the two.
# 3. Run the same spec with `method: "agh"` instead of `"gh"` into a fresh directory (the old one refuses
#    a changed spec — why is that the right behaviour?). Where does AGH's cheaper plan per window
#    change the verdict of `replanning_pays`?
# 4. Start a scheduler and two workers in a terminal (`dask scheduler`, `dask worker tcp://127.0.0.1:8786
#    --nthreads 1`) and pass `scheduler="tcp://127.0.0.1:8786"` to `run_sweep`: are the records the
#    same as in-process ones?
