"""GH and AGH against the MILP on generated scenarios (issue #4).

    .venv/bin/python benchmarks/heuristics_vs_milp.py --presets S,M,L,XL --seeds 5 --milp-time-limit 300

Writes ``docs/heuristics_vs_milp.csv``, the table between the ``heuristics_vs_milp`` markers of
``docs/benchmarks.md`` (other sections kept) and ``docs/heuristics_gap_vs_runtime.png``.
Gaps are relative to the MILP optimum, or to its best bound when it stops at the time limit.
"""
from __future__ import annotations

import argparse
import platform
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sloserve.model.compile import compile_scenario
from sloserve.errors import InfeasibleError
from sloserve.model.generate import generate_scenario
from sloserve.problem.instance import build_instance
from sloserve.solvers import METHODS, SolveOptions, load_methods

from machine import cpu_model  # benchmarks/machine.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN heuristics_vs_milp -->", "<!-- END heuristics_vs_milp -->"
#: MILP runs (cold and warm each) per instance, by preset: timings are noisy, the table uses the median
DEFAULT_REPEATS = "S:3,M:3,L:2,XL:1"


def run_method(name: str, inst, opts: SolveOptions) -> dict:
    t0 = time.perf_counter()
    try:
        p = METHODS.get(name)(inst, opts)
    except InfeasibleError:
        return {"objective": np.nan, "bound": np.nan, "status": "infeasible", "time_s": time.perf_counter() - t0}
    return {"objective": p.objective, "bound": p.bound if p.bound is not None else np.nan, "status": p.status,
            "time_s": time.perf_counter() - t0, "plan": p}


def parse_repeats(text: str) -> dict[str, int]:
    """``"S:3,M:3,L:2"`` -> {"S": 3, "M": 3, "L": 2} (presets not named: 1 run)."""
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition(":")
        out[k.strip()] = max(1, int(v))
    return out


def one(preset: str, seed: int, milp_limit: float, repeats: int = 1) -> dict:
    inst = build_instance(compile_scenario(generate_scenario(preset, seed)))
    row = {"preset": preset, "seed": seed, "query_types": inst.I, "configs": inst.C, "routes": inst.R}
    base = SolveOptions(seed=seed)
    gh = run_method("gh", inst, base)
    agh = run_method("agh", inst, base)
    # MILP cold and warm-started from the AGH plan, interleaved, `repeats` times each (HiGHS is
    # deterministic, so only the wall time varies): times are the median, the rest from the first run
    colds, warms = [], []
    for _ in range(repeats):
        colds.append(run_method("milp", inst, replace(base, time_limit_s=milp_limit)))
        warms.append(run_method("milp", inst, replace(base, time_limit_s=milp_limit, warm_start=agh["plan"]))
                     if "plan" in agh else {"objective": np.nan, "bound": np.nan, "status": "n/a", "time_s": np.nan})
    milp, warm = dict(colds[0]), dict(warms[0])
    milp["time_s"] = float(np.median([r["time_s"] for r in colds]))
    warm["time_s"] = float(np.median([r["time_s"] for r in warms]))
    row["milp_runs"] = repeats
    row["milp_times_s"] = ";".join(f"{r['time_s']:.3f}" for r in colds)
    row["milp_warm_times_s"] = ";".join(f"{r['time_s']:.3f}" for r in warms)
    if "plan" in warm:
        row["milp_warm_start_accepted"] = warm["plan"].extra.get("warm_start_accepted")
        row["milp_warm_start_objective"] = warm["plan"].extra.get("warm_start_objective")
    ref = milp["objective"] if milp["status"] == "optimal" else milp["bound"]
    for k, r in (("gh", gh), ("agh", agh), ("milp", milp), ("milp_warm", warm)):
        row[f"{k}_cost"] = r["objective"]
        row[f"{k}_time_s"] = r["time_s"]
        row[f"{k}_status"] = r["status"]
    if "plan" in gh:
        row["gh_fallback"] = (gh["plan"].extra.get("gh") or {}).get("fallback")
    if "plan" in agh:
        st = agh["plan"].extra.get("agh", {})
        row["agh_lp_bound"] = st.get("lp_bound")
        row["agh_best_start"] = st.get("best_start")
        row["agh_stopped_by"] = st.get("stopped_by")
    row["milp_bound"] = milp["bound"]
    row["milp_warm_bound"] = warm["bound"]
    row["reference"] = ref
    row["reference_is"] = "optimum" if milp["status"] == "optimal" else "bound"
    for k in ("gh", "agh"):
        row[f"{k}_gap"] = (row[f"{k}_cost"] - ref) / ref if np.isfinite(ref) and ref > 0 else np.nan
        row[f"{k}_speedup"] = milp["time_s"] / row[f"{k}_time_s"]
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
    args = ap.parse_args()
    load_methods()
    rows = []
    repeats = parse_repeats(args.milp_repeats)
    for preset in args.presets.split(","):
        for seed in range(args.xl_seeds if preset == "XL" and args.xl_seeds is not None else args.seeds):
            r = one(preset, seed, args.milp_time_limit, repeats.get(preset, 1))
            rows.append(r)
            print(f"{preset} s{seed}: GH {r['gh_cost']:.2f} ({r['gh_time_s']:.3f}s) AGH {r['agh_cost']:.2f} "
                  f"({r['agh_time_s']:.2f}s) MILP {r['milp_cost']:.2f} [{r['milp_status']}, bound {r['milp_bound']:.2f}, "
                  f"{r['milp_time_s']:.1f}s] warm {r['milp_warm_time_s']:.1f}s "
                  f"(cold {r['milp_times_s']}, warm {r['milp_warm_times_s']}, start accepted "
                  f"{r.get('milp_warm_start_accepted')})", flush=True)
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
