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
# # 02 · The MILP, interactively
#
# The planning MILP of `docs/formulation.md` is an ordinary Pyomo model: build it from the compiled
# tables, solve it, look at the plan — then add a constraint of your own and watch the plan move.
# Stages: `compile → create_pyomo_instance → solve_instance → to_plan → check`.
#
# You will learn to
#
# 1. build the Pyomo instance of the MILP from a scenario and read its components (every name is the
#    formulation's: `x[i, c]` routes, `y[c]` replicas, `capacity`, `error`, `budget`, …);
# 2. solve it with HiGHS and read the plan: what to rent, where each query type goes, which limits bind;
# 3. add a constraint of your own — *no configuration carries more than a share of any query type's
#    traffic* — see why it binds on the default scenario and what it costs;
# 4. change an SLO and re-compile, and see how the plan's hardware changes;
# 5. ask "what if?" with `what_if` and the slider panel, and read the diagnosis when no plan exists.

# %%
import dataclasses

import pandas as pd
import pyomo.environ as pyo

from sloserve.solvers import milp
from sloserve.checker import check
from sloserve.model.compile import compile_scenario
from sloserve.problem.plan import replicas_frame, summary_frame
from sloserve.model.scenario import default_scenario

pd.set_option("display.precision", 3)

# %% [markdown]
# ## 1. Compile the default scenario and build the Pyomo instance

# %%
scenario = default_scenario()
compiled = compile_scenario(scenario)
print(compiled.summary())
m = milp.create_pyomo_instance(compiled)
print([c.local_name for c in m.component_objects(pyo.Constraint)])

# %% [markdown]
# ## 2. Solve with HiGHS and read the plan

# %%
res = milp.solve_instance(m, solver="highs", time_limit_s=30)
base = milp.to_plan(m, res)
inst = milp.sloserve_instance(m)
print(base.status, f"{base.objective:.2f} $/h", "checker:", "ok" if check(inst, base).ok else "VIOLATED")
replicas_frame(inst, base)

# %%
summary_frame(inst, base)[["query_type", "rate_rps", "served", "tpot_s_max", "tpot_slo_s", "error_mean", "max_error"]]


# %% [markdown]
# ## 3. A constraint of your own: spread every query type over several configurations
#
# A configuration (one model at one precision on one GPU type, one TP/PP) is a **failure domain**:
# a bad model rollout, a driver bug or a GPU pool that is sold out takes all of its replicas down at
# once. An operator may therefore require that *no configuration carries more than a share
# `max_route_share` of any query type's traffic*, so that losing one configuration loses at most
# that share of each type. In the formulation's names it is one row per route (i, c):
#
# $$x_{ic} \le \texttt{max\_route\_share} \qquad \forall (i, c) \in R$$
#
# **Will it bind?** A constraint changes the plan only if the current optimum breaks it. Here is the
# largest share of each type that the cost-optimal plan puts on a single configuration:

# %%
def largest_share(m):
    """Per query type, the largest fraction of its traffic on one configuration (x_ic at the solution)."""
    return pd.Series({i: max(pyo.value(m.x[i, c]) for c in m.C_i[i]) for i in m.I}, name="largest share")

shares = largest_share(m)
shares.to_frame()

# %% [markdown]
# The cheapest plan sends most types **entirely** to one configuration: each type has one
# cheapest route per request, and splitting its traffic only buys a second pool of replicas that is
# rounded up to whole replicas on its own. So a cap below 1 cuts the optimum off, and the MILP has to
# pay for the spread. The cap is a mutable `Param`, so it can be moved without rebuilding the model.

# %%
m.max_route_share = pyo.Param(mutable=True, initialize=1.0, within=pyo.PercentFraction,
                              doc="largest share of a query type's traffic on one configuration, fraction")
m.spread = pyo.Constraint(m.R, rule=lambda m, i, c: m.x[i, c] <= m.max_route_share,
                          doc="x_ic ≤ max_route_share: no configuration carries more than that share of type i")

spread = {}
for share in (0.75, 0.5):
    m.max_route_share = share
    spread[share] = milp.to_plan(m, milp.solve_instance(m, time_limit_s=30))
    assert check(inst, spread[share]).ok  # the checker does not know the new row; it checks all the others
    print(f"at most {share:.0%} per configuration: {spread[share].objective:.2f} $/h "
          f"({spread[share].objective - base.objective:+.2f} $/h), status {spread[share].status}; "
          f"largest share now {largest_share(m).max():.2f}")
replicas_frame(inst, spread[0.5])

# %% [markdown]
# With at most half of each type on one configuration, every type now runs on at least two
# configurations. The plan changes hardware, not only counts: the cheapest *pair* of routes per
# type is not the cheapest route plus the second-cheapest. The cost difference is the price of the
# failure-domain rule — the number an operator would weigh against the cost of an outage.
#
# To remove the rule, deactivate it: `m.spread.deactivate()` (and `m.spread.activate()` to bring it back).

# %%
m.spread.deactivate()
again = milp.to_plan(m, milp.solve_instance(m, time_limit_s=30))
print(f"rule off again: {again.objective:.2f} $/h (the baseline was {base.objective:.2f})")

# %% [markdown]
# ## 4. Tighten an SLO: half the TPOT for every query type
#
# TPOT filters routes in the performance model (a route whose time per output token at its design
# batch misses the SLO is dropped at compile), so this one re-compiles. An end-to-end SLO in
# `slo_mode: mean` could instead be changed in place, `m.e2e_slo_s[i] = …`; so could the error
# limit of a type with `error_mode: mean`, `m.max_error[i] = …` — with `per_route`, the default, the
# limit filtered the routes at compile, and only a re-compile moves it.

# %%
tight = dataclasses.replace(scenario, query_types=tuple(
    dataclasses.replace(q, tpot_slo_s=q.tpot_slo_s / 2) for q in scenario.query_types))
m2 = milp.create_pyomo_instance(compile_scenario(tight))
tighter = milp.to_plan(m2, milp.solve_instance(m2, time_limit_s=30))
print(f"TPOT halved: {tighter.objective:.2f} $/h, checker:",
      "ok" if check(milp.sloserve_instance(m2), tighter).ok else "VIOLATED")
replicas_frame(milp.sloserve_instance(m2), tighter)

# %% [markdown]
# ## 5. How the plans differ: GPUs by type

# %%
def gpus_by_type(m, plan):
    return replicas_frame(milp.sloserve_instance(m), plan).groupby("gpu")["gpus"].sum()

plans = {f"baseline\n{base.objective:.2f} $/h": gpus_by_type(m, base),
         f"≤75% per config\n{spread[0.75].objective:.2f} $/h": gpus_by_type(m, spread[0.75]),
         f"≤50% per config\n{spread[0.5].objective:.2f} $/h": gpus_by_type(m, spread[0.5]),
         f"TPOT halved\n{tighter.objective:.2f} $/h": gpus_by_type(m2, tighter)}
table = pd.DataFrame(plans).fillna(0).astype(int)
ax = table.T.plot.bar(stacked=True, figsize=(8, 3.5), rot=0)
ax.set_ylabel("GPUs")
ax.set_title("GPUs by type, before and after")
table

# %% [markdown]
# ## 6. What if …? Knobs, and the diagnosis when no plan exists
#
# `sloserve.explore.what_if` edits the scenario (utilisation cap, a factor on every latency SLO, a
# factor on every error limit, an hourly budget), re-compiles and re-plans with a method (AGH by
# default, about a second; `milp` for the proven optimum). When no plan exists it returns the
# **diagnosis** instead: the MILP with a penalised slack on every limit a user can change, solved
# for the smallest relaxation (`sloserve/solvers/milp/diagnose.py`). A heuristic that finds no plan
# proves nothing, so `what_if` runs the same elastic diagnosis after it: every method gives the same
# answer.
#
# **A budget of $5/h.** The baseline costs more than that, so the budget must be what blocks:

# %%
from sloserve.ui.explore import what_if
from sloserve.ui.panel import plan_explorer

for method in ("agh", "milp"):
    r = what_if(budget_per_hour=5, method=method)
    print(f"{method} ({r.runtime_s:.1f} s): {r.headline()}")
    print("\n".join("  - " + line for line in r.diagnosis))

# %% [markdown]
# Both methods name the budget first, short by the cheapest plan's cost minus $5/h. The second
# line is the other way out the diagnosis found: keep the budget and leave traffic unserved (that
# needs `max_unserved` raised). The diagnosis solves one elastic MILP per kind of limit, so it takes a
# few seconds — about as long as proving the optimum itself.
#
# **Stricter SLOs.** Every latency SLO × 0.3 is still feasible, but only the fastest hardware meets
# it; × 0.2 leaves a query type with no configuration that is both fast enough and accurate enough
# (`error_mode: per_route`: only smaller, less accurate models are fast enough):

# %%
strict = {f: what_if(slo_scale=f) for f in (1.0, 0.3, 0.2)}
for f, r in strict.items():
    print(f"SLO x {f}: {r.headline()}")
    print("\n".join("  - " + line for line in r.diagnosis))

# %% [markdown]
# ### Your turn: move the knobs
#
# `plan_explorer` puts the same knobs on sliders and re-plans on every change (AGH by default).
# Set the budget to 5 and read the diagnosis; move the SLO factor to 0.3, then 0.2; switch the
# method to `milp` and compare.

# %%
plan_explorer()

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then solve.** Before re-solving with `m.spread.activate(); m.max_route_share = 0.34`
#    (every type on at least three configurations), write down whether the cost will rise more or
#    less than from 0.75 to 0.5, and why.
# 2. **At most N GPU types.** Add a binary `m.gpu_used = pyo.Var(m.K, within=pyo.Binary)`, link it
#    with `sum(m.y[c] for c in m.C_k[k]) <= sum(m.ymax[c] for c in m.C_k[k]) * m.gpu_used[k]`, and cap
#    `sum(m.gpu_used[k] for k in m.K)` with a mutable `Param`. Use `gpus_by_type` to find the
#    smallest N that does not bind, and the cost of N = 1.
# 3. **A TTFT target of your own.** `m.ttft_s[i, c]` holds every route's time to first token. Add
#    "the traffic-weighted mean TTFT of every type is at most 0.5 s" (mind the unserved share `u[i]`,
#    as `m.delay` does) and check whether it binds.
# 4. **Read the diagnosis.** With `what_if(budget_per_hour=…)`, find the smallest feasible budget by
#    bisection and compare it with the "a plan needs" figure of the $5/h diagnosis.
# 5. **Error limits.** Which `error_scale` is the smallest that still has a plan? Which query type
#    runs out of accurate-enough configurations first, and does the diagnosis say so?
