"""The price of robustness: what each way of planning for a worse world costs, and what it saves.

    .venv/bin/python benchmarks/price_of_robustness.py [--instances default,tight_gpus:S:1,...] [--milp-time-limit 60]
        [--worlds both,delays]

Methods, each planning one fixed plan per instance:

- ``milp``, ``agh``, ``gh``: the nominal methods;
- ``slo_margin 0.9`` / ``0.8``: the MILP on SLOs × 0.9 / 0.8, recompiled — design batches chosen for the
  tighter SLOs, so the routes run faster (judged against the real SLOs, as in docs/robustness.md);
- ``util_cap 0.8``: the MILP with the utilisation cap × 0.8;
- ``milp-robust s Γ=1`` / ``milp-robust s box``: the Bertsimas–Sim MILP (:mod:`sloserve.solvers.milp.robust`)
  for s_max = s with Γ = 1, and with Γ = a type's route count (the box: every route inflated);
- ``agh-robust s box``: AGH on the box-robust tables (:func:`sloserve.problem.robust.robust_tables`).

The stress below inflates *every* route (uniform) or every route at random: that lies inside the box
set but outside U(s, Γ=1) whenever a plan splits a type over several routes, so Γ = 1 plans are not
protected against it by construction.

Two worlds, each planned for and judged in by its own rule: ``both`` — delays and error rates inflate
together (the set of issue #16); ``delays`` — delays inflate, error rates stay as measured
(``s_error=1`` for the robust methods and the stress), the provider who trusts the accuracy benchmarks
but not the latencies under contention.

Each plan is then judged under stress (:mod:`sloserve.evaluate.stress`, analytic): delays (and, in the
``both`` world, error rates) × s for s = 1.0 … 1.5, uniform on every route and random per route (3 draws, mean s). Violation
= share of traffic on a route breaking an SLO, beyond capacity, or of a type whose mean error breaks
its limit (rate-weighted, at most 1). Writes the tables into docs/robustness.md (between the
price-of-robustness markers), the raw rows to docs/price_of_robustness.csv and the Pareto figure
docs/price_of_robustness.png; prints the same tables.

Then, unless ``--sim-duration 0``, the same plans in simulation (:func:`simulate_all`): each replayed
request by request at s = 1.0 … 1.3, beside ``verified 0.9`` (the plan ``sloserve.sim.verify`` makes for
90 % attainment), into docs/price_of_robustness_sim.csv and the "In simulation" tables and figure row.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sloserve.errors import InfeasibleError
from sloserve.evaluate import stress
from sloserve.model.compile import compile_scenario
from sloserve.model.regimes import regime_instance
from sloserve.model.scenario import default_scenario
from sloserve.problem.instance import build_instance
from sloserve.problem.robust import Uncertainty, robust_routes
from sloserve.sim.stress import simulated_stress
from sloserve.sim.verify import VerifyOptions, verify
from sloserve.solvers import SolveOptions, load_methods, solve

from docblock import write_block  # benchmarks/docblock.py (this script's folder is on sys.path)
from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "robustness.md"
CSV = ROOT / "docs" / "price_of_robustness.csv"
FIG = ROOT / "docs" / "price_of_robustness.png"
FACTORS = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
ROBUST_S = (1.1, 1.2, 1.3)
SLO_MARGINS = (0.9, 0.8)
PLOT_S = 1.2  # the figure's stress level
SIM_FACTORS = (1.0, 1.1, 1.2, 1.3)  # stress levels replayed in simulation
SIM_SEED = 1  # the replays' Poisson seed; verify plans on seed 0
SIM_TARGET = 0.9  # attainment the simulation-verified plan is made for
SIM_SAFE = 1 - SIM_TARGET  # in simulation a plan is "safe" at ≤ 10 % violated requests
VERIFIED = f"verified {SIM_TARGET:g}"
SIM_CSV = ROOT / "docs" / "price_of_robustness_sim.csv"
WORLDS = {"both": None, "delays": 1.0}  # world -> s_error of the robust methods and of the stress (None: = s)
WORLD_TITLE = {"both": "Delays and error rates × s", "delays": "Delays × s, error rates as measured"}
BEGIN, END = "<!-- price-of-robustness:begin -->", "<!-- price-of-robustness:end -->"


def scenario_of(spec: str):
    """``default`` or ``regime:size:seed``."""
    if spec == "default":
        return "default", default_scenario()
    regime, size, seed = spec.split(":")
    return f"{regime}-{size}-s{seed}", regime_instance(regime, size, int(seed)).scenario


def plans_for(sc, base_tables, base, milp_limit: float, s_error: float | None = None, nominal: list | None = None):
    """(method label, plan, the instance to judge it on, slo_margin to judge with, seconds, the tables it was
    planned on) for scenario ``sc`` compiled as ``base_tables`` (instance ``base``), and the nominal part of
    that list; the robust methods with ``s_error``; ``nominal`` (the non-robust plans of another world) is
    reused, not re-solved."""
    out = []

    def run(label, inst, method, judge_inst, margin=1.0, belief=base_tables, **extra):
        t0 = time.perf_counter()
        try:
            p = solve(inst, method, SolveOptions(time_limit_s=milp_limit if "milp" in method else None, extra=extra))
        except InfeasibleError as e:
            print(f"  {label}: no plan ({str(e).splitlines()[0][:90]})", flush=True)
            out.append((label, None, judge_inst, margin, time.perf_counter() - t0, belief))
            return
        out.append((label, p, judge_inst, margin, time.perf_counter() - t0, belief))
        print(f"  {label}: {p.objective:.2f} $/h in {time.perf_counter() - t0:.1f} s", flush=True)

    if nominal is not None:
        out.extend(nominal)
    else:
        for m in ("milp", "agh", "gh"):
            run(m, base, m, base)
        for mg in SLO_MARGINS:
            tight_tables = compile_scenario(stress.with_slo_margin(sc, mg))
            tight = build_instance(tight_tables)
            run(f"slo_margin {mg:g}", tight, "milp", tight, margin=1 / mg, belief=tight_tables)
        capped_tables = compile_scenario(replace(sc, options=replace(sc.options, utilization_cap=sc.options.utilization_cap * 0.8)))
        run("util_cap 0.8", build_instance(capped_tables), "milp", base, belief=capped_tables)
    n_nominal = len(out)
    box = int(np.bincount(base.route_i, minlength=base.I).max())  # Γ = every route of a type: the box set
    for s in ROBUST_S:
        run(f"milp-robust {s:g} Γ=1", base, "milp-robust", base, s_max=s, gamma=1, s_error=s_error)
        run(f"milp-robust {s:g} box", base, "milp-robust", base, s_max=s, gamma=box, s_error=s_error)
        run(f"agh-robust {s:g} box", base, "agh-robust", base, s_max=s, s_error=s_error)
    return out, out[:n_nominal]


def simulate_all(name: str, sc, tables, replays: dict, listed: dict, duration_s: float) -> list[dict]:
    """Every plan of one instance replayed request by request (:func:`sloserve.sim.stress.simulated_stress`,
    Poisson at the scenario's rates, seed SIM_SEED) at each of SIM_FACTORS, plus the plan ``verify`` makes for
    SIM_TARGET attainment on seed 0 (so it is judged on traffic it never saw); one row per (world, method, s)."""
    t0 = time.perf_counter()
    try:
        v = verify(sc, opts=VerifyOptions(target=SIM_TARGET, duration_s=duration_s, seed=0))
        replays = {**replays, VERIFIED: (v.compiled, v.plan)}
        met = bool(v.met)
        print(f"  {VERIFIED}: {v.plan.objective:.2f} $/h, {'met' if met else 'NOT met'} on seed 0 after "
              f"{len(v.iterations)} replays ({time.perf_counter() - t0:.0f} s)", flush=True)
    except InfeasibleError as e:
        met = False
        print(f"  {VERIFIED}: no plan ({str(e).splitlines()[0][:90]})", flush=True)
    t1 = time.perf_counter()
    t = simulated_stress(tables, replays, SIM_FACTORS, duration_s=duration_s, seed=SIM_SEED)
    print(f"  {len(replays)} plans replayed at s = {', '.join(f'{x:g}' for x in SIM_FACTORS)} "
          f"({time.perf_counter() - t1:.0f} s)", flush=True)
    out = []
    for world, entries in listed.items():
        if VERIFIED in replays:
            entries = entries + [(VERIFIED, VERIFIED)]
        for label, key in entries:
            if key is None:
                out.append({"world": world, "instance": name, "method": label, "planned": False})
                continue
            # the "both" world inflates error rates with the delays; the "delays" world keeps them as measured
            col = "violated" if WORLDS[world] is None else "violated_errors_as_modelled"
            for r in t[t["method"] == key].itertuples():
                out.append({"world": world, "instance": name, "method": label, "planned": True, "s": r.s,
                            "violated": getattr(r, col), "latency_attainment": r.latency_attainment,
                            "in_flight": r.in_flight, "infra_cost_per_hour": r.infra_cost_per_hour,
                            "verified_met": met if label == VERIFIED else np.nan})
    return out


def judge(inst, plan, margin: float, st: stress.Stress) -> dict:
    per = stress.evaluate(inst, plan, st, slo_margin=margin)
    w = per["rate_rps"].to_numpy(float)
    tot = max(w.sum(), 1e-300)
    bad = np.minimum(1.0, per["slo_violating"].to_numpy(float) + per["beyond_capacity"].to_numpy(float)
                     + (~per["error_ok"].to_numpy(bool)))
    s = stress.summarize(inst, plan, per)
    return {"violation": float(w @ bad / tot), "slo_violating": s["slo_violating"], "beyond_capacity": s["beyond_capacity"],
            "error_violating": float(w @ (~per["error_ok"].to_numpy(bool)) / tot),
            "infra_cost_per_hour": s["infra_cost_per_hour"], "total_cost_per_hour": s["total_cost_per_hour"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default="default,regular:S:2,regular:S:5,tight_gpus:S:1,mixed_slo:S:2,tight_error:S:0,few_models:S:3")
    ap.add_argument("--milp-time-limit", type=float, default=60.0)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--worlds", default=",".join(WORLDS), help=f"comma-separated, of {', '.join(WORLDS)}")
    ap.add_argument("--sim-duration", type=float, default=600.0,
                    help="seconds of Poisson traffic per replay in the simulated study (0: analytic only)")
    args = ap.parse_args()
    worlds = args.worlds.split(",")
    bad = [w for w in worlds if w not in WORLDS]
    if bad:
        ap.error(f"--worlds: unknown {', '.join(bad)}; allowed: {', '.join(WORLDS)}")
    if not args.sim_duration >= 0:
        ap.error(f"--sim-duration: must be >= 0 seconds (0: analytic only), got {args.sim_duration:g}")
    load_methods()
    rows, kept, sim_rows = [], [], []
    l0 = os.getloadavg()[0]
    for spec in args.instances.split(","):
        name, sc = scenario_of(spec)
        tables = compile_scenario(sc)
        base = build_instance(tables)
        for s in ROBUST_S:  # what the route filter of the robust counterpart leaves
            ok = robust_routes(base, Uncertainty(s_max=s))
            per = np.bincount(base.route_i[ok], minlength=base.I)
            kept.append({"instance": name, "s_max": s, "routes": int(ok.sum()), "of": int(base.R),
                         "fewest_per_type": int(per.min()), "types_without": int((per == 0).sum()), "types": int(base.I)})
        nominal = None
        replays, listed = {}, {w: [] for w in worlds}  # replay key -> (tables, plan); world -> [(label, key)]
        for world in worlds:
            se = WORLDS[world]
            print(f"{name} [{world}]", flush=True)
            plans, nominal = plans_for(sc, tables, base, args.milp_time_limit, s_error=se, nominal=nominal)
            nominal_labels = {t[0] for t in nominal}
            for label, p, inst, margin, secs, belief in plans:
                key = label if label in nominal_labels else f"{label} [{world}]"  # a nominal plan is replayed once
                listed[world].append((label, key if p is not None else None))
                if p is None:
                    rows.append({"world": world, "instance": name, "method": label, "planned": False, "solve_s": secs})
                    continue
                replays[key] = (belief, p)
                for mode in ("uniform", "random"):
                    for s in FACTORS:
                        n = 1 if mode == "uniform" or s == 1.0 else args.draws
                        js = [judge(inst, p, margin, stress.Stress(s=s, s_error=se, mode=mode, seed=k)) for k in range(n)]
                        rows.append({"world": world, "instance": name, "method": label, "planned": True, "solve_s": secs,
                                     "mode": mode, "s": s, **{k: float(np.mean([j[k] for j in js])) for k in js[0]}})
        if args.sim_duration > 0:
            sim_rows += simulate_all(name, sc, tables, replays, listed, args.sim_duration)
    df = pd.DataFrame(rows)
    df.to_csv(CSV, index=False)
    load = f"1-minute load average {l0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    head = (f"Machine: {describe()}; {load}. MILP time limit {args.milp_time_limit:g} s. "
            f"Command: `.venv/bin/python benchmarks/price_of_robustness.py --instances {args.instances} "
            f"--milp-time-limit {args.milp_time_limit:g} --draws {args.draws} --worlds {args.worlds} "
            f"--sim-duration {args.sim_duration:g}`.")
    kt = pd.DataFrame(kept)
    head += ("\n\n**Routes whose delays × s_max still meet their SLOs** (the robust counterpart's route filter on the "
             "nominal tables; routes are compiled at the largest batch that meets the SLO, so most sit near it):\n\n"
             "| instance | " + " | ".join(f"s_max {s:g}: routes kept / all (fewest per type; types with none)" for s in ROBUST_S)
             + " |\n|---|" + "---|" * len(ROBUST_S) + "\n")
    for name, g in kt.groupby("instance", sort=False):
        head += f"| {name} | " + " | ".join(f"{r.routes:,} / {r.of:,} ({r.fewest_per_type}; {r.types_without} of {r.types})"
                                             for r in g.itertuples()) + " |\n"
    texts, fronts = [], []
    for world in worlds:
        text, g, front = section(df[df["world"] == world], world)
        texts.append(text)
        fronts.append((world, g, front))
    sim_fronts = []
    if sim_rows:
        sd = pd.DataFrame(sim_rows)
        sd.to_csv(SIM_CSV, index=False)
        texts.append(f"### In simulation\n\nThe same plans replayed request by request (`sloserve.sim.stress.simulated_stress`: "
                     f"{args.sim_duration:g} s of Poisson arrivals at the scenario's rates, seed {SIM_SEED}; every "
                     f"iteration's step time × s, continuous batching, paged KV cache, queueing), plus `{VERIFIED}`: the "
                     f"plan `sloserve.sim.verify` makes for {SIM_TARGET:.0%} attainment per type on seed 0 (AGH per "
                     f"iteration), so it is judged on traffic it did not see. Violated = share of requests missing an SLO "
                     f"of their type, unserved, still in flight at the horizon, or of a type over its error limit. "
                     f"Raw rows: `docs/price_of_robustness_sim.csv`.")
        for world in worlds:
            text, g, front = sim_section(sd[sd["world"] == world], world)
            texts.append(text)
            sim_fronts.append((world, g, front))
    write_block(DOC, BEGIN, END, head + "\n\n" + "\n\n".join(texts), generator="benchmarks/price_of_robustness.py",
                heading="Price of robustness (budgeted uncertainty)")
    plot(fronts, sim_fronts)


def cheapest(g: pd.DataFrame, rank: dict, by: str = "infra_cost_per_hour", within: tuple[str, float] | None = None) -> str:
    """The method of ``g`` (one instance, one s) lowest in ``by`` among the rows whose column ``within[0]`` is at
    most ``within[1]``; ties (the same plan) go to the method ranked first; "none" when no row qualifies."""
    if within is not None:
        g = g[g[within[0]] <= within[1]]
    if g.empty:
        return "none"
    return g.assign(order=g["method"].map(rank)).sort_values([by, "order"])["method"].iloc[0]


def tally(picks: list[str]) -> str:
    """"method count" for each method picked, most picked first."""
    return ", ".join(f"{m} {k}" for m, k in pd.Series(picks).value_counts().items())


def pareto(g: pd.DataFrame) -> list[str]:
    """The methods of ``g`` (columns prem, viol) that no other method beats on both, cheapest first."""
    front = [m for m in g.index if not ((g["viol"] <= g.loc[m, "viol"]) & (g["prem"] <= g.loc[m, "prem"])
                                        & ((g["viol"] < g.loc[m, "viol"]) | (g["prem"] < g.loc[m, "prem"]))).any()]
    return sorted(front, key=lambda m: g.loc[m, "prem"])


def sim_section(sd: pd.DataFrame, world: str) -> tuple[str, pd.DataFrame, list[str]]:
    """The simulated study of one world as Markdown: per method premium and violated requests at each s, the
    per-instance pick at ≤ SIM_SAFE and ≤ 1 % violated, the Pareto front at PLOT_S."""
    ok = sd[sd["planned"]].copy()
    nom = ok[(ok["method"] == "milp") & (ok["s"] == 1.0)].set_index("instance")["infra_cost_per_hour"]
    ok["premium"] = ok["infra_cost_per_hour"] / ok["instance"].map(nom) - 1
    methods = list(dict.fromkeys(sd["method"]))
    names = list(dict.fromkeys(sd["instance"]))
    lines = [f"#### In simulation: {WORLD_TITLE[world]} (world `{world}`)", "",
             "| method | planned | premium (median) | " + " | ".join(f"violated s={s:g} (mean)" for s in SIM_FACTORS)
             + f" | instances ≤ {100 * SIM_SAFE:g} % at s=1.0 |", "|---|---|---|" + "---|" * len(SIM_FACTORS) + "---|"]
    for m in methods:
        g = ok[ok["method"] == m]
        if g.empty:
            lines.append(f"| {m} | 0/{len(names)} | | " + " | ".join("" for _ in SIM_FACTORS) + " | |")
            continue
        v = g.groupby("s")["violated"].mean()
        safe1 = int((g[g["s"] == 1.0]["violated"] <= SIM_SAFE).sum())
        lines.append(f"| {m} | {g['instance'].nunique()}/{len(names)} | {100 * g[g['s'] == 1.0]['premium'].median():+.1f}% | "
                     + " | ".join(f"{100 * v.get(s, np.nan):.1f}%" for s in SIM_FACTORS) + f" | {safe1} |")
    ver = sd[(sd["method"] == VERIFIED) & sd["planned"] & (sd["s"] == 1.0)]
    met = ver[ver["verified_met"].astype(bool)]
    unmet = ver[~ver["verified_met"].astype(bool)]
    listing = lambda g: ", ".join(f"{r.instance} {r.infra_cost_per_hour:.2f}" for r in g.itertuples()) or "none"
    lines += ["", f"`{VERIFIED}` (infrastructure $/h) met its target on seed 0 on {len(met)} of {len(names)} instances "
              f"({listing(met)}); not met within its iterations: {listing(unmet)}"
              + (f"; no plan: {len(names) - len(ver)}" if len(ver) < len(names) else "") + ".",
              "", f"**Which to pick in simulation**, instance by instance: the cheapest plan with ≤ {100 * SIM_SAFE:g} % and "
              "with ≤ 1 % violated requests (how many instances each method wins; \"none\" = no plan stays within):", "",
              f"| s | cheapest with ≤ {100 * SIM_SAFE:g} % violated | cheapest with ≤ 1 % violated |", "|---|---|---|"]
    rank = {m: k for k, m in enumerate(methods)}
    for s in SIM_FACTORS:
        picks = {SIM_SAFE: [], 0.01: []}
        for inst in names:
            g = ok[(ok["instance"] == inst) & (ok["s"] == s)]
            if g.empty:
                continue
            for lim, out in picks.items():
                out.append(cheapest(g, rank, within=("violated", lim)))
        lines.append(f"| {s:g} | {tally(picks[SIM_SAFE])} | {tally(picks[0.01])} |")
    everywhere = [m for m in methods if ok[ok["method"] == m]["instance"].nunique() == len(names)]
    at = ok[ok["s"] == PLOT_S]
    g = at[at["method"].isin(everywhere)].groupby("method").agg(viol=("violated", "mean"), prem=("premium", "median"))
    front = pareto(g)
    lines += ["", f"Pareto front in simulation at s = {PLOT_S:g} (median premium vs mean violated): {', '.join(front)} "
              f"(among the methods with a plan on every instance: {', '.join(everywhere)})."]
    text = "\n".join(lines)
    print(text)
    fig_g = at.groupby("method", sort=False).agg(viol=("violated", "mean"), prem=("premium", "median"),
                                                 n=("instance", "nunique"))
    return text, fig_g.assign(total=len(names)), front


def section(df: pd.DataFrame, world: str) -> tuple[str, pd.DataFrame, list[str]]:
    """The tables of one world as Markdown, with the methods' (premium, violation) at s = 1.3 and the Pareto front."""
    ok = df[df["planned"]]
    nom = ok[(ok["method"] == "milp") & (ok["mode"] == "uniform") & (ok["s"] == 1.0)].set_index("instance")["infra_cost_per_hour"]
    u = ok[ok["mode"] == "uniform"].copy()
    u["premium"] = u["infra_cost_per_hour"] / u["instance"].map(nom) - 1
    methods = list(dict.fromkeys(df["method"]))
    # per instance: cost and violation at each s
    lines = [f"### {WORLD_TITLE[world]} (world `{world}`)", "", "**Per instance** (uniform stress: every route × s; cost = infrastructure $/h of the fixed plan; "
             "violation = share of traffic breaking an SLO, beyond capacity or of a type over its error limit; "
             "in brackets without the error part, SLO and capacity only):", "",
             "| instance | method | $/h | vs MILP | " + " | ".join(f"viol. s={s:g}" for s in FACTORS) + " | random s=1.3 |",
             "|---|---|---|---|" + "---|" * len(FACTORS) + "---|"]
    for inst in dict.fromkeys(df["instance"]):
        for m in methods:
            g = u[(u["instance"] == inst) & (u["method"] == m)].set_index("s")
            if g.empty:
                lines.append(f"| {inst} | {m} | no plan | | " + " | ".join("" for _ in FACTORS) + " | |")
                continue
            r13 = ok[(ok["instance"] == inst) & (ok["method"] == m) & (ok["mode"] == "random") & (ok["s"] == 1.3)]["violation"]
            lines.append(f"| {inst} | {m} | {g['infra_cost_per_hour'].iloc[0]:.2f} | {100 * g['premium'].iloc[0]:+.1f}% | "
                         + " | ".join(f"{100 * g.loc[s, 'violation']:.0f}% ({100 * min(1.0, g.loc[s, 'slo_violating'] + g.loc[s, 'beyond_capacity']):.0f}%)" for s in FACTORS)
                         + f" | {100 * float(r13.iloc[0]):.1f}% |")
    # summary: each method over the instances where it found a plan (robust ones may have none)
    names = list(dict.fromkeys(df["instance"]))
    lines += ["", "**Summary** (each method over the instances where it found a plan — a robust plan does not "
              "exist where the worst case breaks an error limit no route meets at s_max): median cost premium over "
              "the nominal MILP, mean violation under uniform stress, mean total cost with penalties at s = 1.3:", "",
              "| method | planned | premium (median) | " + " | ".join(f"viol. s={s:g}" for s in FACTORS)
              + " | total $/h at 1.3 (mean) |", "|---|---|---|" + "---|" * len(FACTORS) + "---|"]
    uf = u
    for m in methods:  # the summary: each method over the instances it planned
        g = uf[uf["method"] == m]
        n = g["instance"].nunique()
        if g.empty:
            lines.append(f"| {m} | 0/{len(names)} | | " + " | ".join("" for _ in FACTORS) + " | |")
            continue
        v = g.groupby("s")["violation"].mean()
        t13 = g[g["s"] == 1.3]["total_cost_per_hour"].mean()
        lines.append(f"| {m} | {n}/{len(names)} | {100 * g[g['s'] == 1.0]['premium'].median():+.1f}% | "
                     + " | ".join(f"{100 * v.get(s, np.nan):.1f}%" for s in FACTORS) + f" | {t13:.1f} |")
    # which to pick, per instance: at each s the cheapest plan whose violation is at most 1 % (a method
    # without a plan on an instance cannot be picked there), and the plan of lowest total cost with penalties
    lines += ["", "**Which to pick**, instance by instance: at each stress level the cheapest plan whose "
              "violation is ≤ 1 % (how many instances each method wins; \"none\" = no method's plan stays "
              "within 1 %), and the plan of lowest total cost with penalties (equal costs go to the method listed first):", "",
              "| s | cheapest with ≤ 1 % violation | lowest total $/h with penalties |", "|---|---|---|"]
    rank = {m: k for k, m in enumerate(methods)}
    for s in FACTORS:
        at = u[u["s"] == s]
        safe, total = [], []
        for inst in names:
            g = at[at["instance"] == inst]
            if g.empty:
                continue
            safe.append(cheapest(g, rank, within=("violation", 0.01)))  # ties (the same plan): the method listed first
            total.append(cheapest(g, rank, by="total_cost_per_hour"))
        lines.append(f"| {s:g} | {tally(safe)} | {tally(total)} |")
    # Pareto front at s = 1.3 (uniform): premium vs violation, over the methods that planned every instance
    everywhere = [m for m in methods if u[u["method"] == m]["instance"].nunique() == len(names)]
    uf = u[u["method"].isin(everywhere)]
    g = uf[uf["s"] == 1.3].groupby("method").agg(viol=("violation", "mean"), prem=("premium", "median"))
    front = pareto(g)
    lines += ["", f"Pareto front at s = 1.3 (median premium vs mean violation): {', '.join(front)} "
              f"(among the methods with a plan on every instance: {', '.join(everywhere)}). "
              f"Figure: `docs/price_of_robustness.png` (every method at s = {PLOT_S:g}, over the instances it planned)."]
    text = "\n".join(lines)
    print(text)
    # the figure: every method at PLOT_S over the instances it planned (robust plans exist on few)
    at = u[u["s"] == PLOT_S]
    fig_g = at.groupby("method", sort=False).agg(viol=("violation", "mean"), prem=("premium", "median"),
                                                 n=("instance", "nunique"))
    return text, fig_g.assign(total=len(names)), front


def plot(fronts: list[tuple[str, pd.DataFrame, list[str]]], sim_fronts: list | None = None) -> None:
    """One panel per world and study (analytic; in simulation when run): each method's (median premium, mean
    violation) at s = PLOT_S over the instances it planned (k/n in its label); the Pareto fronts of the text in red
    (analytic: methods planned everywhere at s = 1.3; simulation: at PLOT_S)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("analytic", f) for f in fronts] + [("in simulation", f) for f in (sim_fronts or [])]
    ncol = len(fronts)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(7 * ncol, 4.5 * nrow), squeeze=False)
    for ax, (study, (world, g, front)) in zip(axes.flat, panels):
        for m, r in g.iterrows():
            ax.scatter(100 * r["prem"], 100 * r["viol"], color="C3" if m in front else "C0")
            ax.annotate(f"{m} ({int(r['n'])}/{int(r['total'])})", (100 * r["prem"], 100 * r["viol"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("cost premium over the nominal MILP, % (median over the instances planned)")
        ax.set_ylabel(f"violated {'requests' if study != 'analytic' else 'traffic'} at s = {PLOT_S:g}, % (mean)")
        ax.set_title(f"{study}: {WORLD_TITLE[world]}, uniform stress s = {PLOT_S:g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(FIG, dpi=120)


if __name__ == "__main__":
    main()
