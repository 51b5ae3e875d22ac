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
# # 01 · Calibrating a planning scenario from the Azure LLM inference trace
#
# A planner needs a **workload**: which kinds of requests arrive, how often, how many tokens they
# read and write, and what latency and accuracy they must get. This notebook builds that workload
# from a real production trace, step by step, and ends by planning GPUs for it.
#
# You will learn to load the trace and read its arrival pattern and token lengths; to split requests
# into query types and judge a split by the within-type spread of tokens; to choose the arrival rate
# a plan provisions for (mean, p95 or peak, over which window) and why it matters; and to compile,
# solve, check and read a plan. The sections:
#
# 1. **The data** — the Azure LLM Inference Trace 2023 (one hour of a code-completion service and
#    one hour of a chat service).
# 2. **Look at it** — arrivals over time and token-length distributions.
# 3. **Query types** — split requests into a few types by token shape, and why k-means on log
#    tokens is the default.
# 4. **The calibrated scenario** — arrival rates (mean vs p95 vs peak), token sizes, SLOs; it is
#    exactly the scenario shipped as sloserve's default.
# 5. **Plan it** — compile, solve with the MILP (and the AGH heuristic), check, and read the plan.
#
# Every number is computed by the library (`sloserve.trace`, `sloserve.calibrate`, …); the notebook
# only calls it and draws. The command-line equivalent of sections 1–4 is
# `sloserve calibrate azure-2023-code azure-2023-conv --window 5min --percentile p95 --out scenario.yaml`.
# Background and measured numbers: `docs/calibration.md`.

# %%
from dataclasses import asdict

import matplotlib.pyplot as plt
import pandas as pd

from sloserve.ui import plots
from sloserve.traces.calibrate import (arrivals_per_window, calibrate, calibration_table, label_query_types,
                                write_scenario_yaml)
from sloserve.checker import check
from sloserve.model.compile import compile_scenario
from sloserve.problem.instance import build_instance
from sloserve.solvers import load_methods, solve
from sloserve.problem.plan import replicas_frame, summary_frame
from sloserve.model.scenario import default_scenario, scenario_from_dict
from sloserve.traces.trace import azure_2023_samples, load_traces

pd.set_option("display.precision", 3)
pd.set_option("display.width", 160)

# %% [markdown]
# ## 1. Where the data comes from
#
# Microsoft published two one-hour samples of LLM inference requests served on Azure on
# 16 November 2023, collected for the Splitwise paper (Patel et al., *Splitwise: Efficient
# Generative LLM Inference Using Phase Splitting*, ISCA 2024, arXiv:2311.18677):
#
# | file | service | requests |
# |---|---|---|
# | `AzureLLMInferenceTrace_code.csv` | code completion | 8,819 |
# | `AzureLLMInferenceTrace_conv.csv` | conversation (chat) | 19,366 |
#
# Each row is one request: `TIMESTAMP` (arrival), `ContextTokens` (prompt length) and
# `GeneratedTokens` (completion length). No prompt text is included.
#
# **Licence and attribution.** *Azure LLM Inference Trace 2023, Microsoft Azure
# (github.com/Azure/AzurePublicDataset), CC BY 4.0
# ([licence](https://creativecommons.org/licenses/by/4.0/)); from Patel et al., "Splitwise",
# ISCA 2024.* sloserve never ships the trace files; the scenario it derives contains only
# aggregated statistics (a change to the data, which the scenario's header states along with this
# credit).
#
# **Finding the files.** `azure_2023_samples()` looks for local copies first — in
# `$SLOSERVE_TRACE_DIR` if it is set, else in the shared copy `../shared/data/azure_llm_trace` next
# to a source checkout — and checks their published sha256. Without local copies it downloads both
# files once (pooch, hash-checked) into your cache; if that fails too (no network), it says in one
# line where to put them.

# %%
# local copies if there are any ($SLOSERVE_TRACE_DIR, ../shared/data/azure_llm_trace), else a one-time download
paths = azure_2023_samples()
print("trace files:", *paths, sep="\n  ")
trace = load_traces(paths)  # services are inferred from the file names
print(f"{len(trace):,} requests; first arrival {trace.attrs['t0']}")
trace.head()

# %% [markdown]
# `load_traces` returns one tidy table for all files, sorted by arrival: `arrival_s` (seconds since
# the first request of *all* files — one clock), `input_tokens`, `output_tokens`, `service`. Token
# lengths per service:

# %%
trace.groupby("service", observed=True)[["input_tokens", "output_tokens"]].describe().T

# %% [markdown]
# ## 2. Looking at the trace
#
# ### Arrivals over time
#
# `arrivals_per_window(trace, "1min")` counts requests in one-minute windows per service, zeros
# included. Windows before a service's first or after its last request are not *full* (shaded):
# they would fake a lull, so the rate statistics of section 4 ignore them.

# %%
arrivals = arrivals_per_window(trace, "1min")
ax = plots.plot_arrivals(arrivals)
ax.set_title("Azure LLM inference trace 2023: arrivals per minute");

# %% [markdown]
# The two services behave very differently. Conversation traffic is steady, around 5–6 requests/s.
# Code traffic is **on/off**: minutes with no requests alternate with bursts several times the
# hourly mean. A deployment sized for the mean would fall behind in every burst; how much headroom
# to buy is the *provisioning statistic* of section 4.
#
# ### Token lengths
#
# Token counts span three to four orders of magnitude, so the histograms use a log x axis
# (log-spaced bins; the y axis is the share of each service's requests, so the two services compare
# despite their different sizes).

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
plots.plot_token_hist(trace, "input_tokens", ax=axes[0]).set_title("input (prompt) tokens")
plots.plot_token_hist(trace, "output_tokens", ax=axes[1]).set_title("output (generated) tokens");

# %% [markdown]
# Code prompts are long (median ~1,500 tokens, up to ~7,400) with very short completions (median 13
# tokens) and a long tail of long generations. Chat has shorter prompts and much longer answers,
# with a separate cluster of ~400-token answers. Both matter to the planner: prefill time and
# time-to-first-token (TTFT) grow with input tokens; decode time, end-to-end latency and KV-cache
# residency grow with output tokens.
#
# ## 3. Query types: splitting requests by token shape
#
# The planner works with a handful of **query types**, each with one arrival rate and one
# (input, output) size. A good split makes each type *homogeneous*, so its representative size is
# close to most of its members. We measure that with the within-type **coefficient of variation**
# (CV = std / mean) of input and output tokens, weighted by requests.
#
# Two data-driven methods are available in `label_query_types` / `calibration_table`:
#
# * `quantile` — equal-count buckets of log input tokens (the obvious first idea);
# * `kmeans` (default) — k-means on standardised (log(1+input), log(1+output)).
#
# Input and output lengths in these traces are nearly uncorrelated, so cutting on input alone leaves
# the output spread untouched. Compare with K = 3 types per service (and K = 1, no split):

# %%
tables = {
    "no split (K=1)": calibration_table(trace, types_per_service=1),
    "quantile (K=3)": calibration_table(trace, types_per_service=3, method="quantile"),
    "kmeans (K=3)": calibration_table(trace, types_per_service=3, method="kmeans"),
}
cv = plots.type_cv_summary(tables)
cv.pivot(index="method", columns="service", values=["input_cv", "output_cv"]).loc[list(tables)]

# %%
ax = plots.plot_type_cv(cv)
ax.set_title("within-type CV of token counts (lower = more homogeneous types)");

# %% [markdown]
# Quantile buckets reduce the *input* spread but leave the code service's *output* CV above 2 — a
# type's mean output would hide completions ten times longer. K-means cuts the output CV by about
# 3× for code and 2× for conversation while also reducing input spread. (Code input stays fairly
# wide at K = 3; `types_per_service=5` narrows it when TTFT of long code prompts matters.)
#
# The scatter shows what k-means found: the types are regions of the (input, output) plane, not
# slices along one axis. Types are named `{service}-s/m/l` by overall token footprint, so e.g.
# `code-l` (long completions) can have *shorter* prompts than `code-m`.

# %%
labels = {m: label_query_types(trace, 3, method=m) for m in ("quantile", "kmeans")}
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained", sharex=True, sharey=True)
for ax, (method, lab) in zip(axes, labels.items()):
    plots.plot_type_scatter(trace, lab, ax=ax, max_points=5000, seed=0).set_title(f"{method} types")

# %% [markdown]
# ## 4. The calibrated scenario
#
# `calibration_table` turns the k-means types into numbers the planner can use:
#
# * **token sizes** — the per-type **mean** (default). Compute time and KV-cache byte-seconds are
#   roughly linear in tokens, so the mean preserves each type's total prefill and decode work,
#   i.e. the capacity the plan has to buy;
# * **arrival rates** — statistics of the per-window request rate (5-minute windows by default):
#   `rate_mean` (requests / observed span), `rate_p95`, `rate_p99` and `rate_peak` over the full
#   windows. A type gets its service's statistic × its share of the service's requests, so a
#   service's types add up to the service's rate. `rate_rps` is the chosen one (p95 by default).

# %%
table = calibration_table(trace, window="5min", statistic="p95")
table[["service", "query_type", "requests", "share_of_service", "rate_mean", "rate_p95", "rate_peak", "rate_rps",
       "input_tokens", "input_p95", "input_cv", "output_tokens", "output_p95", "output_cv"]]

# %% [markdown]
# ### Which rate to provision for: mean, p95 or peak?
#
# A plan provisions a fixed number of replicas for a rate. With the **mean** it keeps up on
# average but queues in every burst; with the **peak** it pays for capacity that is idle most of
# the hour; **p95** of the window rate is the usual compromise — the plan meets its SLOs in
# 19 windows out of 20, and the utilisation cap (ρ̄ = 0.8 in the scenario options) absorbs
# smaller fluctuations.
#
# The answer also depends on the **window length**: the statistic should match how fast the
# deployment can react. With 1-minute windows the bursty code service's p95 is far above its mean;
# over 5-minute windows bursts are averaged out. (With only ~11 full 5-minute windows in an hour,
# p95 and peak are close.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained", sharey=True)
for ax, window in zip(axes, ("1min", "5min")):
    plots.plot_rate_statistics(calibration_table(trace, window=window), ax=ax).set_title(f"{window} windows")

# %% [markdown]
# ### From the table to a scenario
#
# `calibrate` wraps the table into a scenario (the YAML schema of `docs/scenario.md`): each type
# gets its rate and token sizes plus an error family, SLOs and an accuracy bound from
# `SERVICE_DEFAULTS` — TTFT 1 s for both services, TPOT (time per output token) 50 ms for code and
# 100 ms for chat, an end-to-end SLO derived as TTFT + output tokens × TPOT. These are planning
# choices, not trace facts (`docs/calibration.md` explains them), so they can be overridden. The
# scenario shipped with sloserve uses the accuracy bounds `max_error` 0.15 for code and 0.2 for
# conversation (the defaults, spelled out below), bound per route (`error_mode: per_route`: a
# configuration whose benchmark error is above a type's limit gets none of its traffic), i.e.
#
# `sloserve calibrate ... --slo code.max_error=0.15 --slo conversation.max_error=0.2 --name default`

# %%
slo_overrides = {"code": {"max_error": 0.15}, "conversation": {"max_error": 0.2}}
scenario_dict = calibrate(trace, window="5min", statistic="p95", types_per_service=3,
                          slo_defaults=slo_overrides, name="default")
sc = scenario_from_dict(scenario_dict)
pd.DataFrame([asdict(q) for q in sc.query_types]).set_index("name")

# %% [markdown]
# Is it the scenario sloserve ships as its default (`sloserve plan` with no argument)? The query
# types — rates, token sizes, SLOs, accuracy bounds — and the options must be identical:

# %%
shipped = default_scenario()
assert sc.query_types == shipped.query_types, "calibration no longer reproduces the default scenario"
assert sc.options == shipped.options
print(f"identical: {len(sc.query_types)} query types, total {sum(q.rate_rps for q in sc.query_types):.2f} req/s; "
      f"same options; catalog: {len(sc.models)} models x {len(sc.gpus)} GPU types x {len(sc.precisions)} precisions")

# %% [markdown]
# To keep it, write it as YAML. The header carries the CC BY 4.0 credit and the licence link the
# trace requires (the file goes to the current directory).

# %%
text = write_scenario_yaml(scenario_dict, "azure-2023.yaml", command="notebooks/01_calibrate_azure_trace.ipynb")
print("\n".join(text.splitlines()[:14]), "\n...")

# %% [markdown]
# ## 5. Plan it
#
# The rest of sloserve takes over. `compile_scenario` runs the performance model once and produces
# the tables every solver reads: candidate **configurations** (model × GPU × precision × TP × PP)
# and **routes** (query type → configuration, with their TTFT, TPOT, end-to-end latency, error and
# capacity; routes that miss an SLO or the accuracy bound are dropped). `solve(..., "milp")` finds
# the cheapest plan exactly; `agh` is the fast constraint-aware heuristic. `solve` verifies every
# plan with the independent checker; we call `check` again to see it.

# %%
compiled = compile_scenario(sc)
inst = build_instance(compiled)
print(compiled.summary())

plans = {"milp": solve(compiled, "milp")}
if "agh" in load_methods():
    plans["agh"] = solve(compiled, "agh")
for name, p in plans.items():
    assert check(inst, p).ok, name
    print(f"{name:5s} {p.status:9s} {p.objective:8.3f} $/h   solved in {p.runtime_s:.2f} s   checker: ok")

# %% [markdown]
# ### What to rent
#
# `replicas_frame` lists the configurations with replicas: GPUs, $/h, and utilisation (the share of
# a replica's capacity the routed traffic uses, at most ρ̄ = 0.8) and KV-cache utilisation.

# %%
plan = plans["milp"]
replicas = {name: replicas_frame(inst, p) for name, p in plans.items()}
replicas["milp"]

# %%
ax = plots.plot_gpus_by_type(replicas)
ax.set_title("GPUs by type, per plan")
ax.figure.set_size_inches(5, 3.2)

# %%
fig, axes = plt.subplots(len(replicas), 1, figsize=(9, 1.2 + 0.55 * sum(len(df) for df in replicas.values())),
                         layout="constrained", sharex=True, squeeze=False,
                         gridspec_kw={"height_ratios": [len(df) for df in replicas.values()]})
for ax, (name, df) in zip(axes[:, 0], replicas.items()):
    plots.plot_cost_breakdown(df, ax=ax)
    ax.set_title(f"{name}: cost by configuration, total {df['cost_per_hour'].sum():.2f} $/h", fontsize="medium")

# %% [markdown]
# Each configuration is a model at a precision on a GPU type, chosen because it can serve some
# query types within their SLOs *and* accuracy bounds at a low $/h per request. The exact optimum and
# the heuristic's plan can pick quite different hardware for similar cost; a heuristic can never
# beat a proven MILP optimum, and its gap is what `docs/benchmarks.md` measures over many
# scenarios.
#
# ### Does every type meet its SLOs?
#
# `summary_frame` gives, per query type, the served fraction and the traffic-weighted mean and worst
# (over the routes used) TTFT, TPOT and end-to-end latency next to their SLOs, plus the mean model
# error vs `max_error`.

# %%
summary = summary_frame(inst, plan)
summary

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 3.6), layout="constrained", sharey=True)
plots.plot_latency_vs_slo(summary, ax=axes[0], stat="max").set_title("worst route per type / SLO")
plots.plot_latency_vs_slo(summary, ax=axes[1], stat="mean").set_title("traffic-weighted mean / SLO");

# %% [markdown]
# Every bar is at or below 1: the plan meets each SLO on every route it uses
# (`slo_mode: per_route`). Bars *at* 1 are the binding constraints. Typically that is TPOT: a
# replica's design batch grows until the per-token latency budget is used up (bigger batches mean
# more requests per GPU, hence lower cost), while TTFT keeps slack. The `error_mean` column of the
# table above is the accuracy side: with `error_mode: per_route` every route used is within its
# type's `max_error`, and the plan uses the cheapest models that qualify — which may sit well
# below the limit when the next cheaper model is just above it.
#
# ## Exercises
#
# Each one changes one argument of section 4 and re-plans (`compile_scenario`, then `solve(..., "agh")`,
# about a second); predict the answer before you run it.
#
# 1. **The window.** Calibrate with `window="1min"` instead of `"5min"`. The bursty code service's p95
#    rate is now far above its mean (the figure of section 4): how much dearer is the plan, and which
#    query types need the extra replicas?
# 2. **Peak instead of p95.** Calibrate with `statistic="peak"` over 5-minute windows. With only ~11
#    full windows p95 and peak are close: does the plan change at all? Why can a small rise in rate
#    leave the cost unchanged (hint: whole replicas and the utilisation cap)?
# 3. **Twice the traffic.** Calibrate with `scale=2`. Is the plan twice as dear? Look at
#    `replicas_frame` for what is shared.
# 4. **Which SLO binds.** The latency figure of section 5 shows TTFT with slack and TPOT at its
#    SLO. Confirm it: `slo_defaults={"code": {"max_error": 0.15, "ttft_slo_s": 0.5}, "conversation":
#    {"max_error": 0.2}}` should leave the cost unchanged, while halving the code TPOT SLO
#    (`"tpot_slo_s": 0.025`) should not. Find the tightest code TTFT SLO that still costs nothing.
# 5. **More types.** With `types_per_service=5`, how much do the within-type CVs of section 3 fall,
#    and does the plan's cost move?
# 6. `02_milp_interactive.ipynb` opens the MILP itself: add your own constraint and re-solve.
#
# *Data: Azure LLM Inference Trace 2023, Microsoft Azure (github.com/Azure/AzurePublicDataset),
# CC BY 4.0; Patel et al., "Splitwise", ISCA 2024, arXiv:2311.18677. Figures and tables here are derived (aggregated)
# from it.*
