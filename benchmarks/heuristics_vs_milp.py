"""GH and AGH against the MILP on generated scenarios (issue #4).

    .venv/bin/python benchmarks/heuristics_vs_milp.py --presets S,M,L,XL --seeds 5 --milp-time-limit 300

The grid runs as a sweep (:mod:`sloserve.sweep`, study ``plan``; ``--executor dask`` spreads it over a
cluster, but the timings then share the machine); ``--sweep-out DIR`` keeps its records, resumable.
Writes ``docs/heuristics_vs_milp.csv``, the table between the ``heuristics_vs_milp`` markers of
``docs/benchmarks.md`` (other sections kept) and ``docs/heuristics_gap_vs_runtime.png``.
Gaps are relative to the MILP optimum, or to its best bound when it stops at the time limit.
"""
from __future__ import annotations

import argparse
import platform
import re
from pathlib import Path

import numpy as np
import pandas as pd

from machine import cpu_model  # benchmarks/machine.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN heuristics_vs_milp -->", "<!-- END heuristics_vs_milp -->"
#: MILP runs (cold and warm each) per instance, by preset: timings are noisy, the table uses the median
DEFAULT_REPEATS = "S:3,M:3,L:2,XL:1"


def cases(presets, seeds_of, milp_limit: float, repeats_of) -> list:
    """The benchmark as sweep cases (study ``plan``): per (preset, seed) GH, AGH (at its deterministic
    work budget) and the MILP cold and warm-started from AGH, ``repeats`` times each (HiGHS is
    deterministic: only wall times vary; the table uses their median)."""
    from sloserve.sweep import Case
    out = []
    for preset in presets:
        for seed in range(seeds_of(preset)):
            sc = f"gen:{preset}:{seed}"
            out += [Case.make("plan", scenario=sc, method=m, seed=seed) for m in ("gh", "agh")]
            for k in range(repeats_of(preset)):
                out.append(Case.make("plan", scenario=sc, method="milp", seed=seed, params={"repeat": k},
                                     method_options={"time_limit_s": milp_limit}))
                out.append(Case.make("plan", scenario=sc, method="milp", seed=seed, params={"repeat": k, "warm": True},
                                     method_options={"time_limit_s": milp_limit, "warm_start": "agh"}))
    return out


def parse_repeats(text: str) -> dict[str, int]:
    """``"S:3,M:3,L:2"`` -> {"S": 3, "M": 3, "L": 2} (presets not named: 1 run)."""
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition(":")
        out[k.strip()] = max(1, int(v))
    return out


def one(records: pd.DataFrame) -> dict:
    """The benchmark's row of one (preset, seed) from its sweep records."""
    r = records.set_index("case_id")
    first = r.iloc[0]
    preset, seed = first["scenario"].split(":")[1], int(first["seed"])
    row = {"preset": preset, "seed": seed, "query_types": int(first["query_types"]), "configs": int(first["configs"]),
           "routes": int(first["routes"])}
    warm_col = r["params.warm"] if "params.warm" in r else pd.Series(False, index=r.index)
    warm_mask = warm_col.fillna(False).astype(bool)
    pick = {"gh": r[r["method"] == "gh"], "agh": r[r["method"] == "agh"],
            "milp": r[(r["method"] == "milp") & ~warm_mask], "milp_warm": r[(r["method"] == "milp") & warm_mask]}
    for k in pick:
        pick[k] = pick[k].sort_values("params.repeat") if "params.repeat" in pick[k] else pick[k]
    colds, warms = pick["milp"], pick["milp_warm"]
    row["milp_runs"] = len(colds)
    row["milp_times_s"] = ";".join(f"{t:.3f}" for t in colds["solve_s"])
    row["milp_warm_times_s"] = ";".join(f"{t:.3f}" for t in warms["solve_s"])
    if len(warms) and "warm_start_accepted" in warms:
        row["milp_warm_start_accepted"] = warms["warm_start_accepted"].iloc[0]
        row["milp_warm_start_objective"] = warms["warm_start_objective"].iloc[0]
    for k, d in pick.items():
        f = d.iloc[0] if len(d) else pd.Series(dtype=object)
        row[f"{k}_cost"] = f.get("objective", np.nan)
        row[f"{k}_time_s"] = float(np.median(d["solve_s"])) if len(d) and d["solve_s"].notna().any() else np.nan
        row[f"{k}_status"] = f.get("plan_status", "n/a")
    g, a = pick["gh"].iloc[0], pick["agh"].iloc[0]
    row["gh_fallback"] = g.get("gh_fallback")
    row["agh_lp_bound"] = a.get("agh_lp_bound")
    row["agh_best_start"] = a.get("agh_best_start")
    row["agh_stopped_by"] = a.get("agh_stopped_by")
    milp = colds.iloc[0]
    row["milp_bound"] = milp.get("bound", np.nan)
    row["milp_warm_bound"] = warms.iloc[0].get("bound", np.nan) if len(warms) else np.nan
    ref = row["milp_cost"] if row["milp_status"] == "optimal" else row["milp_bound"]
    row["reference"] = ref
    row["reference_is"] = "optimum" if row["milp_status"] == "optimal" else "bound"
    for k in ("gh", "agh"):
        row[f"{k}_gap"] = (row[f"{k}_cost"] - ref) / ref if np.isfinite(ref) and ref > 0 else np.nan
        row[f"{k}_speedup"] = row["milp_time_s"] / row[f"{k}_time_s"]
    return row


def table(df: pd.DataFrame) -> str:
    g = df.groupby("preset", sort=False)
    out = pd.DataFrame({
        "runs": g.size(),
        "GH feasible": g["gh_status"].apply(lambda s: f"{(s != 'infeasible').sum()}/{len(s)}"),
        "AGH feasible": g["agh_status"].apply(lambda s: f"{(s != 'infeasible').sum()}/{len(s)}"),
        "MILP optimal": g["milp_status"].apply(lambda s: f"{(s == 'optimal').sum()}/{len(s)}"),
        "GH gap mean / max": g["gh_gap"].apply(lambda s: f"{100 * s.mean():.1f}% / {100 * s.max():.1f}%"),
        "AGH gap mean / max": g["agh_gap"].apply(lambda s: f"{100 * s.mean():.1f}% / {100 * s.max():.1f}%"),
        "GH time mean / max (s)": g["gh_time_s"].apply(lambda s: f"{s.mean():.3f} / {s.max():.3f}"),
        "AGH time mean / max (s)": g["agh_time_s"].apply(lambda s: f"{s.mean():.2f} / {s.max():.2f}"),
        "MILP time mean (s)": g["milp_time_s"].apply(lambda s: f"{s.mean():.2f}"),
        "MILP+AGH warm time mean (s)": g["milp_warm_time_s"].apply(lambda s: f"{s.mean():.2f}"),
        "warm faster": g.apply(lambda d: f"{(d['milp_warm_time_s'] < d['milp_time_s']).sum()}/{len(d)}"),
        "warm start accepted": g.apply(lambda d: f"{(d['milp_warm_start_accepted'] == True).sum()}/{len(d)}"  # noqa: E712
                                       if "milp_warm_start_accepted" in d else "n/a"),
        "GH speedup (median)": g["gh_speedup"].apply(lambda s: f"{s.median():.0f}x"),
        "AGH speedup (median)": g["agh_speedup"].apply(lambda s: f"{s.median():.0f}x"),
    })
    out = out.reset_index()
    lines = ["| " + " | ".join(map(str, out.columns)) + " |", "|" + "---|" * len(out.columns)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in out.itertuples(index=False)]
    return "\n".join(lines)


def write_markdown(df: pd.DataFrame, args) -> None:
    md = ROOT / "docs" / "benchmarks.md"
    reps = ", ".join(f"{p} {n}" for p, n in parse_repeats(args.milp_repeats).items())
    body = (f"{BEGIN}\n## GH / AGH vs the MILP\n\nMachine: {cpu_model()} ({platform.machine()}), run alone; GH and AGH "
            f"one run each; MILP cold and AGH-warm-started interleaved, times = median of runs per instance ({reps}; "
            f"1 elsewhere); "
            f"command: `.venv/bin/python benchmarks/heuristics_vs_milp.py --presets {args.presets} --seeds {args.seeds} "
            f"--milp-time-limit {args.milp_time_limit:g}"
            f"{'' if args.xl_seeds is None else f' --xl-seeds {args.xl_seeds}'}"
            f"{'' if args.milp_repeats == DEFAULT_REPEATS else f' --milp-repeats {args.milp_repeats}'}`. "
            f"Gap = (cost − reference)/reference, reference = MILP "
            f"optimum (or best bound at the limit). Raw rows: `docs/heuristics_vs_milp.csv`.\n\n{table(df)}\n{END}")
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    md.write_text(text)


def plot(df: pd.DataFrame, ax=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for k, mk in (("gh", "o"), ("agh", "s")):
        for preset, d in df.groupby("preset", sort=False):
            ax.scatter(d[f"{k}_time_s"], 100 * d[f"{k}_gap"].clip(lower=1e-3), marker=mk, label=f"{k.upper()} {preset}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runtime (s)")
    ax.set_ylabel("gap to MILP optimum / bound (%)")
    ax.legend(fontsize=7, ncol=2)
    return ax


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="S,M,L,XL")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--milp-time-limit", type=float, default=300.0)
    ap.add_argument("--xl-seeds", type=int, default=None, help="seeds for XL (default: --seeds)")
    ap.add_argument("--milp-repeats", default=DEFAULT_REPEATS,
                    help=f"MILP cold/warm runs per instance by preset, median reported (default {DEFAULT_REPEATS})")
    ap.add_argument("--out", default=str(ROOT / "docs" / "heuristics_vs_milp.csv"))
    ap.add_argument("--sweep-out", default=None, help="keep the sweep's records here (resumable)")
    ap.add_argument("--executor", default="local",
                    help="local (default: timings need the machine to themselves) or dask")
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler address (with --executor dask)")
    args = ap.parse_args()
    from sloserve.sweep import run_sweep
    repeats = parse_repeats(args.milp_repeats)
    presets = args.presets.split(",")
    seeds_of = lambda p: args.xl_seeds if p == "XL" and args.xl_seeds is not None else args.seeds  # noqa: E731
    todo = cases(presets, seeds_of, args.milp_time_limit, lambda p: repeats.get(p, 1))

    def on_rows(case, rows):
        r = rows[0]
        print(f"{case.scenario} {case.method}{' warm' if case.get('params', 'warm') else ''}: "
              f"{r.get('objective', float('nan')):.2f} [{r.get('plan_status')}] {r.get('solve_s', float('nan')):.2f}s",
              flush=True)

    run = run_sweep(todo, args.sweep_out, executor=args.executor, scheduler=args.scheduler, on_rows=on_rows)
    if run.failed:
        raise SystemExit(f"{run.failed} cases failed: {run.records.loc[run.records['status'] == 'error', 'error'].iloc[0]}")
    rec = run.records
    rows = [one(g) for _, g in sorted(rec.groupby("scenario"), key=lambda kv: (presets.index(kv[0].split(":")[1]),
                                                                                int(kv[0].split(":")[2])))]
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False, float_format="%.6g")
    write_markdown(df, args)
    import matplotlib.pyplot as plt
    ax = plot(df)
    ax.figure.tight_layout()
    ax.figure.savefig(ROOT / "docs" / "heuristics_gap_vs_runtime.png", dpi=120)
    plt.close(ax.figure)


if __name__ == "__main__":
    main()
