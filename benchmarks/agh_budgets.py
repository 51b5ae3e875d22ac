"""AGH budgets side by side: one budget field varied over the regime instances of one size, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/agh_budgets.py --size M --vary routes_per_type=10,20,30
        [--seeds 0-9] [--regimes tight_gpus,many_types] [--out /tmp/budgets.csv]

For each instance (``sloserve.model.regimes``) and each value of the field, AGH runs with its size's
budget (``agh.BUDGETS``) but that field replaced; the gap is against the reference in
``docs/regimes_milp.csv`` (``regimes.reference``: the MILP optimum, or its bound where it stopped at the
time limit — then the gap is an upper bound). Instances without a reference there, or whose tables no
longer have the fingerprint the reference was measured on, are skipped and listed. Prints per regime and value the
median / worst gap and the median time, the time as a ratio to the first value's on the same instances,
and every instance whose gap moved by more than 0.01 points. The values run back to back on each
instance, so the time ratios share the machine's load. This is where a budget is chosen: on tuning
seeds (0-9); held-out seeds (100+) belong to ``benchmarks/regimes.py``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import time
from dataclasses import fields, replace

import pandas as pd

from sloserve.model.regimes import REGIMES, regime_instance
from sloserve.problem.instance import build_instance

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)
from regimes import MILP_CSV, choices_arg, fingerprint, reference, seeds_arg  # benchmarks/regimes.py

agh = importlib.import_module("sloserve.solvers.heuristics.agh")  # the module, not the registered method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="M")
    ap.add_argument("--vary", required=True, help="FIELD=V1,V2,... (an integer AghBudget field)")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--regimes", default=",".join(REGIMES))
    ap.add_argument("--out", default=None, help="write the per-instance rows as CSV")
    args = ap.parse_args()
    field, _, values = args.vary.partition("=")
    names = {f.name for f in fields(agh.AghBudget) if str(f.type).startswith("int")}  # the integer counts
    if args.size not in agh.BUDGETS:
        ap.error(f"--size: unknown {args.size!r}; allowed: {', '.join(agh.BUDGETS)}")
    if field not in names or not values:
        ap.error(f"--vary: expected FIELD=V1,V2 with FIELD one of {', '.join(sorted(names))}; got {args.vary!r}")
    try:
        vals = [int(v) for v in values.split(",")]
    except ValueError:
        ap.error(f"--vary: the values of {field} must be integers, got {values!r}")
    seeds = seeds_arg(ap, args.seeds)
    regimes = choices_arg(ap, args.regimes, REGIMES, "--regimes")
    ref = pd.read_csv(MILP_CSV)
    print(f"machine: {describe()}; 1-minute load {os.getloadavg()[0]:.2f} at the start")
    rows, skipped = [], []
    for regime in regimes:
        for seed in seeds:
            ri = regime_instance(regime, args.size, seed)
            r = ref[(ref["regime"] == regime) & (ref["size"] == args.size) & (ref["seed"] == seed)
                    & (ref["fingerprint"] == fingerprint(ri.compiled))]
            target, kind = reference(r.iloc[0]) if len(r) else (float("nan"), "none")
            if kind == "none":
                skipped.append(f"{regime} s{seed}")
                continue
            inst = build_instance(ri.compiled)
            for v in vals:
                budget = replace(agh.agh_budget(inst), **{field: v})
                t0 = time.perf_counter()
                (y, x, u), st = agh.agh_arrays(inst, budget=budget)
                secs = time.perf_counter() - t0
                cost = inst.objective(y, u, x)
                rows.append({"regime": regime, "seed": seed, field: v, "reference": kind,
                             "gap": cost / target - 1, "agh_s": secs, "stopped_by": st["stopped_by"]})
            print(f"{regime} s{seed}: " + ", ".join(f"{field}={q[field]} {100 * q['gap']:.2f}% {q['agh_s']:.2f} s"
                                                   for q in rows[-len(vals):]), flush=True)
    if skipped:
        print(f"no reference in {MILP_CSV.name} for these tables (run benchmarks/regimes.py milp): {', '.join(skipped)}")
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    first = df[df[field] == vals[0]].set_index(["regime", "seed"])["agh_s"]
    df["time_ratio"] = df["agh_s"].to_numpy() / first.reindex(pd.MultiIndex.from_frame(df[["regime", "seed"]])).to_numpy()
    t = df.groupby(["regime", field]).agg(n=("gap", "size"), gap_median=("gap", "median"), gap_worst=("gap", "max"),
                                          s_median=("agh_s", "median"), time_ratio_median=("time_ratio", "median"))
    t[["gap_median", "gap_worst"]] *= 100
    print(f"\n{args.size}, seeds {args.seeds}: gap in % (median, worst), AGH s, time ratio to {field}={vals[0]}; "
          f"load {os.getloadavg()[0]:.2f} at the end")
    print(t.round(3).to_string())
    wide = df.pivot_table(index=["regime", "seed"], columns=field, values="gap")
    moved = wide[(wide.max(axis=1) - wide.min(axis=1)) > 1e-4]
    print(f"\ninstances whose gap (%) moved by more than 0.01 points ({len(moved)} of {len(wide)}):")
    print((100 * moved).round(2).to_string() if len(moved) else "none")
    stops = df[df["stopped_by"] != "budget"]
    if len(stops):
        print(f"\nstopped by the time cap ({len(stops)}): the plan may depend on machine speed")
        print(stops.to_string(index=False))


if __name__ == "__main__":
    main()
