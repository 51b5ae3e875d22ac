"""What the fidelity changes do to plans: capacity of three workloads, the default plan step by step, and
the planner's sensitivity to the GPUs that have no measurement, before and after, in one run.

    .venv/bin/python benchmarks/fidelity_report.py [--before REV] [--skip-sensitivity]

"Before" is sloserve at REV (default: 0.2.0, the last revision before the refit), run from git through
benchmarks/baseline.py with its own catalog and calibration; "after" is this checkout. Each plan is the
MILP warm-started from AGH (agh+milp), proved optimal within 1e-4.
"""
from __future__ import annotations

import argparse
import json
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402
import sloserve as ss  # noqa: E402
from sloserve.model import pricing  # noqa: E402
from sloserve.model.scenario import loads_scenario  # noqa: E402

BASELINE_REV = "1360f6fd76157ccdabee734ffe00607d24158b8f"

# three workloads (max_error 1: accuracy plays no part here); the YAML is valid for both revisions
WORKLOADS = """
name: capacity
query_types:
  - {name: short-chat, family: conversation, rate_rps: 1, input_tokens: 256, output_tokens: 128,
     ttft_slo_s: 1.0, tpot_slo_s: 0.1, max_error: 1.0}
  - {name: long-prompt-code, family: code, rate_rps: 1, input_tokens: 4096, output_tokens: 64,
     ttft_slo_s: 2.0, tpot_slo_s: 0.05, max_error: 1.0}
  - {name: long-generation, family: conversation, rate_rps: 1, input_tokens: 512, output_tokens: 2048,
     tpot_slo_s: 0.05, max_error: 1.0}
catalog:
  models: [llama-3.1-8b, llama-3.1-70b]
  gpus: [l4, a100-80gb, h100-sxm, mi300x]
  precisions: [bf16, fp8]
options: {tp_degrees: [1, 2, 4, 8], pp_degrees: [1]}
"""
CONFIGS = ["llama-3.1-8b|l4|bf16|tp1pp1", "llama-3.1-8b|a100-80gb|bf16|tp1pp1", "llama-3.1-8b|h100-sxm|fp8|tp1pp1",
           "llama-3.1-70b|h100-sxm|bf16|tp4pp1", "llama-3.1-70b|h100-sxm|fp8|tp8pp1", "llama-3.1-70b|a100-80gb|bf16|tp8pp1",
           "llama-3.1-70b|mi300x|fp8|tp1pp1"]

ROUTES_CODE = r"""
import sys, pandas as pd, sloserve as ss
from sloserve.model.scenario import loads_scenario
c = ss.compile_scenario(loads_scenario(sys.stdin.read()))
r = c.routes.merge(c.configs[["config", "cost_per_hour"]], on="config")
r[["query_type", "config", "ttft_s", "tpot_s", "capacity_rps", "design_batch", "cost_per_hour"]].to_csv(sys.stdout, index=False)
"""

PLAN_CODE = r"""
import sys, json, sloserve as ss
from sloserve.model.scenario import loads_scenario
text = sys.stdin.read()
sc = ss.default_scenario() if not text.strip() else loads_scenario(text)
c = ss.compile_scenario(sc)
p = ss.solve(c, "agh+milp")
inst = ss.build_instance(c)
rep = ss.replicas_frame(inst, p)
rt = ss.routing_frame(inst, p)
print(json.dumps({"objective": p.objective, "status": str(p.status),
                  "replicas": rep[["config", "replicas", "gpus", "cost_per_hour"]].to_dict("records"),
                  "routing": rt[["query_type", "config", "fraction", "error"]].to_dict("records")}))
"""


def _run_before(rev: str, code: str, stdin: str = "") -> str | None:
    import os
    import subprocess
    root = baseline.tree(rev)
    if root is None:
        return None
    return subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                          input=stdin, check=True, capture_output=True, text=True).stdout


def capacity_table(rev: str | None) -> pd.DataFrame:
    c = ss.compile_scenario(loads_scenario(WORKLOADS))
    after = c.routes.merge(c.configs[["config", "cost_per_hour"]], on="config")
    after = after[["query_type", "config", "ttft_s", "tpot_s", "capacity_rps", "design_batch", "cost_per_hour"]]
    out = after.rename(columns={k: f"after_{k}" for k in after.columns if k not in ("query_type", "config")})
    if rev:
        text = _run_before(rev, ROUTES_CODE, WORKLOADS)
        if text is not None:
            before = pd.read_csv(StringIO(text))
            out = before.rename(columns={k: f"before_{k}" for k in before.columns if k not in ("query_type", "config")}) \
                .merge(out, on=["query_type", "config"], how="outer")
    out = out[out["config"].isin(CONFIGS)]
    out["config"] = pd.Categorical(out["config"], CONFIGS, ordered=True)
    return out.sort_values(["query_type", "config"]).reset_index(drop=True)


def plan_summary(p: dict) -> str:
    reps = ", ".join(f"{r['replicas']}x {r['config']}" for r in p["replicas"])
    return f"{p['objective']:.3f} $/h [{p['status']}]: {reps}"


def plan_after(sc) -> dict:
    c = ss.compile_scenario(sc)
    p = ss.solve(c, "agh+milp")
    inst = ss.build_instance(c)
    rep = ss.replicas_frame(inst, p)
    rt = ss.routing_frame(inst, p)
    return {"objective": p.objective, "status": str(p.status),
            "replicas": rep[["config", "replicas", "gpus", "cost_per_hour"]].to_dict("records"),
            "routing": rt[["query_type", "config", "fraction", "error"]].to_dict("records"),
            "instances": pricing.instance_summary(c.configs, p.replicas).to_dict("records")}


def _with(sc, **qt_fields):
    return sc.__class__(**{**sc.__dict__, "query_types": tuple(q.__class__(**{**q.__dict__, **qt_fields})
                                                              for q in sc.query_types)})


def default_plans(rev: str | None) -> list[tuple[str, dict]]:
    steps = []
    if rev:
        t = _run_before(rev, PLAN_CODE, "")
        if t is not None:
            steps.append(("0.2.0 as it was", json.loads(t)))
        import yaml
        d = ss.default_scenario().to_dict()  # in 0.2.0's schema: no error_mode, no instance_pricing
        for q in d["query_types"]:
            q.pop("error_mode", None)
        d["options"].pop("instance_pricing", None)
        d["gpus"] = {"a100-40gb": {"price_per_gpu_hour": 2.7447}, "a100-80gb": {"price_per_gpu_hour": 3.4309}}
        text = yaml.safe_dump(d, sort_keys=False)
        t = _run_before(rev, PLAN_CODE, text)
        if t is not None:
            steps.append(("0.2.0 with the June 2025 A100 prices", json.loads(t)))
    d = ss.default_scenario()
    steps.append(("new model and catalog, error_mode mean, instance_pricing per_gpu",
                  plan_after(_with(d, error_mode="mean").with_options(instance_pricing="per_gpu"))))
    steps.append(("... and whole-instance pricing (the default)", plan_after(_with(d, error_mode="mean"))))
    steps.append(("... and error_mode per_route (the default): the shipped default plan", plan_after(d)))
    return steps


UNMEASURED = ("a100-40gb", "h200", "mi300x", "l4", "a10g", "l40s")
# a large deployment that needs a >= 70B model (MMLU-redux >= 0.86): replicas fill their instances
BIG = """
name: big-models
query_types:
  - {name: chat, family: conversation, rate_rps: 40, input_tokens: 1000, output_tokens: 250,
     ttft_slo_s: 1.5, tpot_slo_s: 0.06, max_error: 0.14}
  - {name: code, family: code, rate_rps: 16, input_tokens: 2500, output_tokens: 60,
     ttft_slo_s: 1.5, tpot_slo_s: 0.05, max_error: 0.14}
catalog:
  models: [qwen2.5-32b, llama-3.1-70b, qwen2.5-72b, llama-3.1-405b]
options: {instance_pricing: per_gpu}
"""


def sensitivity() -> pd.DataFrame:
    """Plans with the unmeasured GPUs' efficiency fractions scaled (and MI300X given H100's, the old transfer)."""
    from sloserve.model import perf
    base = perf.load_calibration()
    h100 = base.set_index("gpu").loc["h100-sxm"]
    cases = {"as shipped": base}
    for s in (0.75, 1.25):
        cal = base.copy()
        sel = cal["gpu"].isin(UNMEASURED)
        for c in perf.FRACTION_COLUMNS:
            cal.loc[sel, c] = np.minimum(cal.loc[sel, c] * s, 1.0)
        cases[f"unmeasured GPUs' efficiencies x{s}"] = cal
    old = base.copy()
    for c in perf.GPU_COLUMNS:
        old.loc[old["gpu"] == "mi300x", c] = h100[c]
    cases["MI300X with H100's fractions (0.2.0's transfer)"] = old
    rows = []
    orig = perf.load_calibration
    for label, cal in cases.items():
        perf.load_calibration = lambda cal=cal: cal.copy()  # the compile stage reads the packaged table
        try:
            for name, sc in (("default", ss.default_scenario()), ("big-models", loads_scenario(BIG))):
                p = plan_after(sc)
                gpus = {}
                for r in p["replicas"]:
                    g = r["config"].split("|")[1]
                    gpus[g] = gpus.get(g, 0) + r["gpus"]  # replicas_frame's gpus: all replicas' GPUs
                rows.append({"calibration": label, "scenario": name, "cost_per_hour": round(p["objective"], 3),
                             "gpus": ", ".join(f"{k} {v}" for k, v in sorted(gpus.items()))})
        finally:
            perf.load_calibration = orig
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BASELINE_REV, metavar="REV", help="revision to compare ('' = none)")
    ap.add_argument("--skip-sensitivity", action="store_true")
    args = ap.parse_args(argv)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_rows", 200):
        print("capacity of one replica (requests/s) at its design batch, before -> after:")
        t = capacity_table(args.before or None)
        cols = [c for c in ("query_type", "config", "before_design_batch", "before_capacity_rps", "after_design_batch",
                            "after_capacity_rps", "before_tpot_s", "after_tpot_s", "before_cost_per_hour",
                            "after_cost_per_hour") if c in t]
        print(t[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print("\nthe default plan, step by step:")
        for label, p in default_plans(args.before or None):
            print(f"  {label}: {plan_summary(p)}")
            for r in p.get("routing", []):
                print(f"      {r['query_type']:<16} {r['fraction']:.3f} -> {r['config']} (error {r['error']:.3f})")
            for r in p.get("instances", []):
                if r["idle_gpus"] > 0:
                    print(f"      {r['instance_type']}: {r['instances']} instance(s), {r['idle_gpus']:g} idle GPUs "
                          f"({r['idle_cost_per_hour']:.2f} $/h)")
        if not args.skip_sensitivity:
            print("\nsensitivity of the plan to the GPUs without measurements:")
            print(sensitivity().to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
