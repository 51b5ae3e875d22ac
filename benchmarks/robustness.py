"""Robustness study: stress tests of MILP, GH and AGH plans, and rolling horizon vs a static plan.

    .venv/bin/python benchmarks/robustness.py [--presets S,M] [--draws 5] [--trace-dir DIR] [--executor dask]

1. For the embedded default scenario and generated ones, solve with each method, then evaluate
   each fixed plan with delays and error rates inflated by s in {1.0, 1.2, 1.5} (uniform, and
   random per route with 5 seeded draws): SLO-violating share of traffic, traffic beyond
   capacity, cost with penalties.
2. On the 2023 Azure trace (5-minute windows): rolling re-planning (AGH, and the MILP with a
   30 s limit) against static plans for the history and the peak window: cost mean and variance,
   violations, re-plan time, churn.

Both are sweeps (:mod:`sloserve.sweep`): the stress grid is :func:`stress_spec` (``--print-spec``),
the rolling one ``benchmarks/sweeps/rolling_azure_hour.yaml``.

Writes its block of docs/robustness.md (between the robustness markers, with the machine) and prints the same tables.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd

from sloserve.evaluate import stress

from docblock import write_block  # benchmarks/docblock.py (this script's folder is on sys.path)
from machine import describe  # benchmarks/machine.py

DOC = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"
BEGIN, END = "<!-- robustness:begin -->", "<!-- robustness:end -->"
FACTORS = (1.0, 1.2, 1.5)


def stress_spec(presets, draws: int, milp_limit: float) -> dict:
    """The stress part as one sweep spec (study ``stress``): GH and AGH (at its work budget) and the
    MILP on the default and generated scenarios, each plan fixed while delays and errors are × s;
    and the SLO-margin knob (the MILP planned on SLOs × margin, judged against the real ones)."""
    scen = ["default"] + [f"gen:{p}:0" for p in presets]
    st = {"factors": list(FACTORS), "modes": ["uniform", "random"], "draws": draws}
    milp = {"method": "milp", "method_options": {"time_limit_s": milp_limit}}
    return {"study": "stress", "base": {"stress": st}, "grids": [
        {"grid": {"scenario": scen, "method": ["gh", "agh"]}},
        {"base": milp, "grid": {"scenario": scen}},
        {"base": {**milp, "scenario": "default", "stress": {"factors": list(FACTORS), "modes": ["uniform"]}},
         "grid": {"params.slo_margin": [1.0, 0.9, 0.8, 0.7]}},
    ]}


def scenario_name(ref: str) -> str:
    return ref if ref == "default" else "gen-{}-s{}".format(*ref.split(":")[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="S,M")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--milp-time-limit", type=float, default=120.0)
    ap.add_argument("--trace-dir", default=None)
    ap.add_argument("--executor", default="local", help="local (default) or dask")
    ap.add_argument("--sweep-out", default=None, help="keep the sweeps' records under this directory (resumable)")
    ap.add_argument("--print-spec", action="store_true", help="print the stress spec as YAML (for sloserve sweep)")
    args = ap.parse_args()
    presets = list(filter(None, args.presets.split(",")))
    spec = stress_spec(presets, args.draws, args.milp_time_limit)
    if args.print_spec:
        import yaml
        import json
        print(yaml.safe_dump(json.loads(json.dumps(spec)), sort_keys=False))  # no YAML anchors
        return
    import os

    from sloserve.sweep import rolling_summary, run_sweep
    if args.trace_dir:
        os.environ["SLOSERVE_TRACE_DIR"] = args.trace_dir
    out = Path(args.sweep_out) if args.sweep_out else None
    run = run_sweep(spec, None if out is None else out / "stress", executor=args.executor)
    rec = run.records
    if run.failed:
        raise SystemExit(f"{run.failed} cases failed: {rec.loc[rec['status'] == 'error', 'error'].iloc[0]}")
    for m in rec.loc[rec["plan_status"] == "infeasible", "method"].unique():
        print(f"{m} found no plan on some scenarios")
    rec = rec[rec["plan_status"] != "infeasible"]
    cols = ["slo_violating", "beyond_capacity", "infra_cost_per_hour", "penalty_per_hour", "total_cost_per_hour"]
    margin = rec["params.slo_margin"] if "params.slo_margin" in rec else pd.Series(float("nan"), index=rec.index)
    plain = rec[margin.isna()]
    st = plain.groupby(["scenario", "method", "mode", "s"], as_index=False, sort=False)[cols].mean()
    order = {s: i for i, s in enumerate(["default"] + [f"gen:{p}:0" for p in presets])}
    st = st.sort_values(["scenario", "method", "mode", "s"], key=lambda c: c.map(order) if c.name == "scenario" else c)
    st["scenario"] = st["scenario"].map(scenario_name)
    knob = rec[margin.notna()].rename(columns={"params.slo_margin": "slo_margin"})
    knob = knob.sort_values(["slo_margin", "s"], ascending=[False, True])[["slo_margin", "s"] + cols]

    # the rolling horizon on the 2023 Azure hour, as the sweep spec rolling_azure_hour.yaml
    spec_r = Path(__file__).resolve().parent / "sweeps" / "rolling_azure_hour.yaml"
    rr = run_sweep(spec_r, None if out is None else out / "azure", executor=args.executor)
    rh = rolling_summary(rr.records)
    rh = rh[["method", "params.margin", "params.policy", "cost_mean", "cost_var", "infra_mean", "penalty_mean",
             "slo_violating_mean", "unserved_mean", "churn_gpus_total", "replan_s_mean", "windows"]]

    text = [
        f"Produced by `python benchmarks/robustness.py --presets {args.presets} --draws {args.draws}` on "
        f"{dt.date.today()}, {describe()}. The grids run as sweeps (`sloserve.sweep`; print the stress spec with "
        f"`--print-spec`, the rolling one is `benchmarks/sweeps/rolling_azure_hour.yaml`); AGH runs at its "
        f"deterministic work budget.",
        "",
        "## Stress: delays and error rates × s (plans fixed)",
        "",
        "`slo_violating` and `beyond_capacity` are shares of all traffic (rate-weighted); costs in $/h; "
        "`random` rows are means over the draws. Penalty: each type's unserved penalty per request, "
        f"or ${stress.DEFAULT_VIOLATION_PENALTY}/request when it has none.",
        "",
        markdown(st),
        "",
        "## Rolling horizon on the Azure LLM Inference Trace 2023 (5-minute windows, EWMA forecast)",
        "",
        "`static_peak` = one plan for the first (history) window; `static_oracle` = one plan for the true peak "
        "window (what the study used to compare against); `rolling` = re-planned every window with the method "
        "(AGH at its work budget; MILP with a 30 s limit), provisioning forecast × margin; cost includes switching "
        "(10 minutes of each added replica). The week-long study under volatile demand is docs/rolling_horizon.md.",
        "",
        markdown(rh),
        "",
        "## Headroom: SLO margin (MILP on the default scenario, judged against the real SLOs)",
        "",
        markdown(knob),
        "",
    ]
    # only this study's block: the robust-planning and price-of-robustness sections stay
    write_block(DOC, BEGIN, END, "\n".join(text).rstrip(), generator="benchmarks/robustness.py",
                new_doc="# Robustness: stress tests and rolling horizon\n\n")
    with pd.option_context("display.width", 200, "display.float_format", lambda v: f"{v:.4g}"):
        print(st.to_string(index=False))
        print()
        print(rh.to_string(index=False))
        print()
        print(knob.to_string(index=False))
    print(f"\nwritten to {DOC}")


def markdown(df: pd.DataFrame) -> str:
    """A markdown table (numbers to 4 significant digits) without the optional tabulate package."""
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
