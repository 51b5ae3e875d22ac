"""The price of robustness: what each way of planning for a worse world costs, and what it saves.

    .venv/bin/python benchmarks/price_of_robustness.py [--instances default,tight_gpus:S:1,...] [--milp-time-limit 60]

Methods, each planning one fixed plan per instance:

- ``milp``, ``agh``, ``gh``: the nominal methods;
- ``slo_margin 0.8``: the MILP on SLOs × 0.8 (judged against the real SLOs, as in docs/robustness.md);
- ``util_cap 0.8``: the MILP with the utilisation cap × 0.8;
- ``milp-robust s Γ=1`` / ``milp-robust s box``: the Bertsimas–Sim MILP (:mod:`sloserve.solvers.milp.robust`)
  for s_max = s with Γ = 1, and with Γ = a type's route count (the box: every route inflated);
- ``agh-robust s box``: AGH on the box-robust tables (:func:`sloserve.problem.robust.robust_tables`).

The stress below inflates *every* route (uniform) or every route at random: that lies inside the box
set but outside U(s, Γ=1) whenever a plan splits a type over several routes, so Γ = 1 plans are not
protected against it by construction.

Each plan is then judged under stress (:mod:`sloserve.evaluate.stress`, analytic): delays and error
rates × s for s = 1.0 … 1.5, uniform on every route and random per route (3 draws, mean s). Violation
= share of traffic on a route breaking an SLO, beyond capacity, or of a type whose mean error breaks
its limit (rate-weighted, at most 1). Writes the tables into docs/robustness.md (between the
price-of-robustness markers), the raw rows to docs/price_of_robustness.csv and the Pareto figure
docs/price_of_robustness.png; prints the same tables.
"""
from __future__ import annotations

import argparse
import os
import re
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
from sloserve.solvers import SolveOptions, load_methods, solve

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "robustness.md"
CSV = ROOT / "docs" / "price_of_robustness.csv"
FIG = ROOT / "docs" / "price_of_robustness.png"
FACTORS = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
ROBUST_S = (1.1, 1.2)
BEGIN, END = "<!-- price-of-robustness:begin -->", "<!-- price-of-robustness:end -->"


def scenario_of(spec: str):
    """``default`` or ``regime:size:seed``."""
    if spec == "default":
        return "default", default_scenario()
    regime, size, seed = spec.split(":")
    return f"{regime}-{size}-s{seed}", regime_instance(regime, size, int(seed)).scenario


def plans_for(sc, milp_limit: float):
    """(method label, plan, the instance to judge it on, slo_margin to judge with, seconds)."""
    base = build_instance(compile_scenario(sc))
    out = []

    def run(label, inst, method, judge_inst, margin=1.0, **extra):
        t0 = time.perf_counter()
        try:
            p = solve(inst, method, SolveOptions(time_limit_s=milp_limit if "milp" in method else None, extra=extra))
        except InfeasibleError as e:
            print(f"  {label}: no plan ({str(e).splitlines()[0][:90]})", flush=True)
            out.append((label, None, judge_inst, margin, time.perf_counter() - t0))
            return
        out.append((label, p, judge_inst, margin, time.perf_counter() - t0))
        print(f"  {label}: {p.objective:.2f} $/h in {time.perf_counter() - t0:.1f} s", flush=True)

    for m in ("milp", "agh", "gh"):
        run(m, base, m, base)
    tight = build_instance(compile_scenario(stress.with_slo_margin(sc, 0.8)))
    run("slo_margin 0.8", tight, "milp", tight, margin=1 / 0.8)
    capped = build_instance(compile_scenario(replace(sc, options=replace(sc.options, utilization_cap=sc.options.utilization_cap * 0.8))))
    run("util_cap 0.8", capped, "milp", base)
    box = int(np.bincount(base.route_i, minlength=base.I).max())  # Γ = every route of a type: the box set
    for s in ROBUST_S:
        run(f"milp-robust {s:g} Γ=1", base, "milp-robust", base, s_max=s, gamma=1)
        run(f"milp-robust {s:g} box", base, "milp-robust", base, s_max=s, gamma=box)
        run(f"agh-robust {s:g} box", base, "agh-robust", base, s_max=s)
    return base, out


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
    ap.add_argument("--instances", default="default,regular:S:2,tight_gpus:S:1,mixed_slo:S:2")
    ap.add_argument("--milp-time-limit", type=float, default=60.0)
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()
    load_methods()
    rows = []
    l0 = os.getloadavg()[0]
    for spec in args.instances.split(","):
        name, sc = scenario_of(spec)
        print(name, flush=True)
        _, plans = plans_for(sc, args.milp_time_limit)
        for label, p, inst, margin, secs in plans:
            if p is None:
                rows.append({"instance": name, "method": label, "planned": False, "solve_s": secs})
                continue
            for mode in ("uniform", "random"):
                for s in FACTORS:
                    n = 1 if mode == "uniform" or s == 1.0 else args.draws
                    js = [judge(inst, p, margin, stress.Stress(s=s, mode=mode, seed=k)) for k in range(n)]
                    rows.append({"instance": name, "method": label, "planned": True, "solve_s": secs, "mode": mode, "s": s,
                                 **{k: float(np.mean([j[k] for j in js])) for k in js[0]}})
    df = pd.DataFrame(rows)
    df.to_csv(CSV, index=False)
    load = f"1-minute load average {l0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    write(df, f"Machine: {describe()}; {load}. MILP time limit {args.milp_time_limit:g} s. "
              f"Command: `.venv/bin/python benchmarks/price_of_robustness.py --instances {args.instances} "
              f"--milp-time-limit {args.milp_time_limit:g} --draws {args.draws}`.")


def write(df: pd.DataFrame, head: str) -> None:
    ok = df[df["planned"]]
    nom = ok[(ok["method"] == "milp") & (ok["mode"] == "uniform") & (ok["s"] == 1.0)].set_index("instance")["infra_cost_per_hour"]
    u = ok[ok["mode"] == "uniform"].copy()
    u["premium"] = u["infra_cost_per_hour"] / u["instance"].map(nom) - 1
    methods = list(dict.fromkeys(df["method"]))
    # per instance: cost and violation at each s
    lines = [head, "", "**Per instance** (uniform stress: every route × s; cost = infrastructure $/h of the fixed plan; "
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
    for m in methods:
        g = uf[uf["method"] == m]
        n = g["instance"].nunique()
        if g.empty:
            lines.append(f"| {m} | 0/{len(names)} | | " + " | ".join("" for _ in FACTORS) + " | |")
            continue
        v = g.groupby("s")["violation"].mean()
        t13 = g[g["s"] == 1.3]["total_cost_per_hour"].mean()
        lines.append(f"| {m} | {n}/{len(names)} | {100 * g[g['s'] == 1.0]['premium'].median():+.1f}% | "
                     + " | ".join(f"{100 * v.get(s, np.nan):.1f}%" for s in FACTORS) + f" | {t13:.1f} |")
    full = [i for i in names if df[(df["instance"] == i)]["planned"].all()]
    uf = u[u["instance"].isin(full)]
    lines += ["", f"The choices below compare methods on the same instances: those where every method found a "
              f"plan ({', '.join(full) or 'none'})."]
    # which to pick: at each s, the cheapest plan (by median premium) whose mean violation is at most 1%
    lines += ["", "**Which to pick** (from the summary): at each stress level the cheapest method whose mean "
              "violation is ≤ 1 %, and the method of lowest mean total cost with penalties:", ""]
    for s in FACTORS:
        g = uf[uf["s"] == s].groupby("method").agg(viol=("violation", "mean"), prem=("premium", "median"),
                                                   total=("total_cost_per_hour", "mean"))
        safe = g[g["viol"] <= 0.01].sort_values("prem")
        lines.append(f"- s = {s:g}: ≤ 1 % violation at least cost: "
                     f"{safe.index[0] + f' ({100 * safe.prem.iloc[0]:+.1f}%)' if len(safe) else 'none of the methods'}; "
                     f"lowest expected total: {g['total'].idxmin() if len(g) else '—'}")
    # Pareto front at s = 1.3 (uniform): premium vs violation, means over the full instances
    g = uf[uf["s"] == 1.3].groupby("method").agg(viol=("violation", "mean"), prem=("premium", "median"))
    front = [m for m in g.index if not ((g["viol"] <= g.loc[m, "viol"]) & (g["prem"] <= g.loc[m, "prem"])
                                        & ((g["viol"] < g.loc[m, "viol"]) | (g["prem"] < g.loc[m, "prem"]))).any()]
    lines += ["", f"Pareto front at s = 1.3 (median premium vs mean violation): {', '.join(sorted(front, key=lambda m: g.loc[m, 'prem']))}. "
              f"Figure: `docs/price_of_robustness.png`."]
    text = "\n".join(lines)
    print(text)
    plot(g, front)
    doc = DOC.read_text()
    block = f"{BEGIN}\n<!-- generated by benchmarks/price_of_robustness.py; do not edit by hand -->\n\n{text}\n\n{END}"
    if BEGIN in doc:
        doc = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n## Price of robustness (budgeted uncertainty)\n\n" + block + "\n"
    DOC.write_text(doc)


def plot(g: pd.DataFrame, front: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, r in g.iterrows():
        ax.scatter(100 * r["prem"], 100 * r["viol"], color="C3" if m in front else "C0")
        ax.annotate(m, (100 * r["prem"], 100 * r["viol"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    f = g.loc[front].sort_values("prem")
    ax.plot(100 * f["prem"], 100 * f["viol"], color="C3", lw=1)
    ax.set_xlabel("cost premium over the nominal MILP, % (median)")
    ax.set_ylabel("violated traffic at s = 1.3, % (mean)")
    ax.set_title("price of robustness (uniform stress s = 1.3)")
    fig.tight_layout()
    fig.savefig(FIG, dpi=120)


if __name__ == "__main__":
    main()
