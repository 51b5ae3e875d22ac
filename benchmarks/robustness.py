"""Robustness study: stress tests of MILP, GH and AGH plans, and rolling horizon vs a static plan.

    .venv/bin/python benchmarks/robustness.py [--presets S,M] [--draws 5] [--trace-dir DIR]

1. For the embedded default scenario and generated ones, solve with each method, then evaluate
   each fixed plan with delays and error rates inflated by s in {1.0, 1.2, 1.5} (uniform, and
   random per route with 5 seeded draws): SLO-violating share of traffic, traffic beyond
   capacity, cost with penalties.
2. On the 2023 Azure trace (5-minute windows): rolling re-planning (AGH, and the MILP with a
   10 s limit) against a static plan for the peak window: cost mean and variance, violations,
   re-plan time, churn.

Writes docs/robustness.md (with the machine) and prints the same tables.
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd

from sloserve import build_instance, check, compile_scenario, default_scenario, generate_scenario, solve
from sloserve.evaluate import rolling, stress
from sloserve.errors import InfeasibleError

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

DOC = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"
FACTORS = (1.0, 1.2, 1.5)


def stress_study(name: str, sc, methods, draws: int, milp_limit: float) -> pd.DataFrame:
    c = compile_scenario(sc)
    inst = build_instance(c)
    plans = {}
    for m in methods:
        try:
            p = solve(inst, m, time_limit_s=milp_limit if m == "milp" else None)
        except InfeasibleError as e:
            print(f"{name}: {m} found no plan: {e}")
            continue
        assert check(inst, p).ok
        plans[m] = p
    t = stress.stress_table(inst, plans, FACTORS, draws=draws, seed=0)
    s = t.groupby(["method", "mode", "s"], as_index=False)[
        ["slo_violating", "beyond_capacity", "infra_cost_per_hour", "penalty_per_hour", "total_cost_per_hour"]].mean()
    s.insert(0, "scenario", name)
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="S,M")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--milp-time-limit", type=float, default=120.0)
    ap.add_argument("--trace-dir", default=None)
    args = ap.parse_args()
    methods = ("milp", "gh", "agh")

    frames = [stress_study("default", default_scenario(), methods, args.draws, args.milp_time_limit)]
    for p in filter(None, args.presets.split(",")):
        frames.append(stress_study(f"gen-{p}-s0", generate_scenario(p, 0), methods, args.draws, args.milp_time_limit))
    st = pd.concat(frames, ignore_index=True)

    from sloserve.traces.trace import default_trace_dir, load_traces
    tdir = Path(args.trace_dir) if args.trace_dir else default_trace_dir()
    trace = load_traces([tdir / "AzureLLMInferenceTrace_code.csv", tdir / "AzureLLMInferenceTrace_conv.csv"], progress=False)
    rates = rolling.rates_per_window(trace, "5min", types_per_service=3)
    c = compile_scenario(default_scenario())
    rows = []
    for method, limit, margin in (("agh", None, 1.0), ("agh", None, 1.2), ("milp", 30.0, 1.0)):
        r = rolling.rolling_horizon(c, rates[list(c.query_types["query_type"])],
                                    rolling.RollingOptions(method=method, forecast="ewma", time_limit_s=limit,
                                                           margin=margin), progress=False)
        h = rolling.horizon_summary(r)
        h.insert(0, "margin", margin)
        h.insert(0, "method", method)
        rows.append(h)
    rh = pd.concat(rows, ignore_index=True)

    # the SLO-margin knob: plan on SLOs x margin, judge against the real SLOs
    kn = []
    base = default_scenario()
    for margin in (1.0, 0.9, 0.8, 0.7):
        i = build_instance(compile_scenario(stress.with_slo_margin(base, margin)))
        p = solve(i, "milp", time_limit_s=args.milp_time_limit)
        for s in FACTORS:
            per = stress.evaluate(i, p, stress.Stress(s=s), slo_margin=1 / margin)
            kn.append({"slo_margin": margin, "s": s, **stress.summarize(i, p, per)})
    knob = pd.DataFrame(kn).drop(columns=["error_violated_types"])

    text = [
        "# Robustness: stress tests and rolling horizon",
        "",
        f"Produced by `python benchmarks/robustness.py --presets {args.presets} --draws {args.draws}` on "
        f"{dt.date.today()}, {describe()}.",
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
        "`static` = one plan for the peak window; `rolling` = re-planned every window with the method "
        "(AGH at its default cap; MILP with a 30 s limit), provisioning forecast × margin.",
        "",
        markdown(rh),
        "",
        "## Headroom: SLO margin (MILP on the default scenario, judged against the real SLOs)",
        "",
        markdown(knob),
        "",
    ]
    DOC.write_text("\n".join(text))
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
