"""The rolling-horizon study under volatile demand, on the sweep (docs/rolling_horizon.md).

    SLOSERVE_TRACE_DIR=... .venv/bin/python benchmarks/rolling_volatility.py [--specs week,milp,sim,windows,azure]
        [--out-dir out/rolling] [--workers N] [--scheduler ADDRESS] [--report-only]

Runs each spec of benchmarks/sweeps/ (``week`` = rolling_week.yaml, ...) on Dask into OUT-DIR/NAME —
resumable: a rerun skips finished cases, so an interrupted study continues where it stopped — and
records each run's wall time and the machine's load average in OUT-DIR/NAME/runs.json. Then writes
docs/rolling_horizon.md (the volatility table, where re-planning starts to pay, window length and
headroom, the simulator's view, the MILP, wall times) and docs/rolling_volatility.png.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"week": "rolling_week", "milp": "rolling_week_milp", "sim": "rolling_week_sim",
         "windows": "rolling_windows", "azure": "rolling_azure_hour"}
DOC = ROOT / "docs" / "rolling_horizon.md"
FIG = ROOT / "docs" / "rolling_volatility.png"
LEVELS = {0.0: "flat", 0.25: "low", 0.5: "medium", 0.75: "high", 1.0: "extreme"}


def run(name: str, out: Path, workers: int | None, scheduler: str | None) -> dict:
    from sloserve.sweep import run_sweep
    spec = ROOT / "benchmarks" / "sweeps" / f"{SPECS[name]}.yaml"
    l0 = os.getloadavg()
    t0 = time.perf_counter()
    r = run_sweep(spec, out / name, executor="dask", workers=workers, scheduler=scheduler, progress=True)
    info = {"spec": spec.name, "started": dt.datetime.now().isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - t0, 1), "ran": r.ran, "skipped": r.skipped, "failed": r.failed,
            "cases": r.ran + r.skipped, "workers": workers or os.cpu_count(), "load_before": [round(x, 2) for x in l0],
            "load_after": [round(x, 2) for x in os.getloadavg()], "machine": describe()}
    runs = out / name / "runs.json"
    old = json.loads(runs.read_text()) if runs.exists() else []
    runs.write_text(json.dumps(old + [info], indent=2) + "\n")
    print(info, flush=True)
    return info


def markdown(df: pd.DataFrame) -> str:
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.4g}"
        return str(v)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def pct(v) -> str:
    return "" if v is None or not np.isfinite(v) else f"{100 * v:+.0f}%"


def volatility_table(summary: pd.DataFrame) -> pd.DataFrame:
    s = summary.copy()
    s["level"] = s["window.volatility"].map(lambda v: f"{LEVELS.get(float(v), v)} ({float(v):g})")
    s["policy"] = np.where(s["params.policy"] == "rolling", "re-plan " + s["method"].str.upper(),
                           s["params.policy"].str.replace("static_", "static ", regex=False) + " (" +
                           s["method"].str.upper() + ")")
    cols = {"level": "volatility", "policy": "policy", "cost_mean": "cost mean $/h", "cost_var": "cost var",
            "infra_mean": "GPUs $/h", "penalty_mean": "penalty $/h", "switching_total": "switching $",
            "slo_violating_mean": "SLO-violating", "unserved_mean": "unserved", "windows_with_unserved":
            "windows short", "churn_gpus_total": "churn GPUs", "replan_s_mean": "re-plan s (mean)",
            "replan_s_max": "re-plan s (max)"}
    s = s.sort_values(["window.volatility", "params.policy", "method"])
    return s[list(cols)].rename(columns=cols)


def pays_table(summary: pd.DataFrame) -> pd.DataFrame:
    from sloserve.sweep import replanning_pays
    p = replanning_pays(summary)
    p = p[p["params.forecaster"].notna()] if "params.forecaster" in p else p
    out = pd.DataFrame({
        "volatility": p["window.volatility"].map(lambda v: f"{LEVELS.get(float(v), v)} ({float(v):g})"),
        "method": p["method"].str.upper(), "re-plan cost $/h": p["cost_mean"], "best static": p["best_static"],
        "static cost $/h": p["static_cost_mean"], "cost change": p["cost_change"].map(pct),
        "re-plan var": p["cost_var"], "static var": p["static_cost_var"], "var change": p["var_change"].map(pct),
        "unserved re-plan / static": [f"{a:.2%} / {b:.2%}" for a, b in zip(p["unserved_mean"], p["static_unserved_mean"])],
    })
    return out


def figure(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sloserve.ui.plots import rolling_volatility
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rolling_volatility(summary, "cost_mean", ax=axes[0])
    rolling_volatility(summary, "cost_var", ax=axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(out: Path) -> None:
    from sloserve.sweep import read_records, rolling_summary
    sections = [f"# Rolling horizon under volatile demand\n\nProduced by `benchmarks/rolling_volatility.py` on "
                f"{dt.date.today()}, {describe()}. Specs: `benchmarks/sweeps/rolling_*.yaml`; records: one Parquet "
                f"partition per case (`sloserve sweep --summary DIR` prints these tables again).\n"]
    runs = {}
    for name in SPECS:
        f = out / name / "runs.json"
        if f.exists():
            runs[name] = json.loads(f.read_text())
    summaries = {}
    for name in SPECS:
        if (out / name / "records").is_dir():
            summaries[name] = rolling_summary(read_records(out / name))
    if "week" in summaries:
        s = summaries["week"]
        sections += ["## The week (168 hourly windows, Holt-Winters forecast, margin 1.0)\n",
                     "Cost = GPUs + penalties (the type's unserved penalty, else $0.01 per request unserved or late) "
                     "+ switching (each replica added costs its $/h for 10 minutes of warm-up), per window in $/h; "
                     "variance over the 168 windows. `static peak` plans once for the per-type peak of the history "
                     "week (the forecast peak), `static mean` for its mean, `static oracle` for the true peak of "
                     "the evaluated week (not available to a real planner).\n",
                     markdown(volatility_table(s)), "",
                     "### Where re-planning starts to pay\n",
                     "Each re-planning method against the cheaper of its own static peak and mean plans:\n",
                     markdown(pays_table(s)), ""]
        figure(s, FIG)
        sections.append(f"![cost mean and variance by volatility]({FIG.name})\n")
    if "milp" in summaries:
        s = summaries["milp"]
        sections += ["## The time-limited MILP (every 7th window)\n", markdown(volatility_table(s)), ""]
    if "sim" in summaries:
        s = summaries["sim"]
        t = volatility_table(s)
        t["sim attainment"] = s.sort_values(["window.volatility", "params.policy", "method"])["sim_attainment_mean"].values
        t["sim penalty $/h"] = s.sort_values(["window.volatility", "params.policy", "method"])["sim_penalty_mean"].values
        sections += ["## The same plans in the simulator (60 s of every 6th window)\n", markdown(t), ""]
    if "windows" in summaries:
        s = summaries["windows"]
        cols = ["window.source", "window.volatility", "window.window_min", "params.margin", "params.policy", "windows",
                "cost_mean", "cost_var", "infra_mean", "penalty_mean", "switching_total", "unserved_mean",
                "churn_gpus_total", "replan_s_mean"]
        sections += ["## Window length and headroom (one day, AGH)\n", markdown(s[[c for c in cols if c in s]]), ""]
    if "azure" in summaries:
        s = summaries["azure"]
        cols = ["method", "params.margin", "params.policy", "windows", "cost_mean", "cost_var", "infra_mean",
                "penalty_mean", "unserved_mean", "churn_gpus_total", "replan_s_mean"]
        sections += ["## The 2023 Azure hour itself (5-minute windows)\n", markdown(s[[c for c in cols if c in s]]), ""]
    if runs:
        rows = [{"spec": v[-1]["spec"], "cases": v[-1]["cases"], "wall_s (first full run)":
                 next((r["wall_s"] for r in v if r["skipped"] == 0), v[0]["wall_s"]),
                 "workers": v[-1]["workers"], "load before/after": f"{v[0]['load_before'][0]} / {v[0]['load_after'][0]}"}
                for v in runs.values()]
        sections += ["## Wall times\n", "Dask LocalCluster, one single-threaded worker per core, on a machine shared "
                     "with other engineers' jobs (1-minute load average before / after):\n",
                     markdown(pd.DataFrame(rows)), ""]
    DOC.write_text("\n".join(sections) + "\n")
    print(f"written to {DOC}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--out-dir", default=str(ROOT / "out" / "rolling"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for name in filter(None, args.specs.split(",")):
            run(name, out, args.workers, args.scheduler)
    report(out)


if __name__ == "__main__":
    main()
