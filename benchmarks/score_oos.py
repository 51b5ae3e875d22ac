"""Score the performance model out of sample against published serving-engine benchmarks, before and after.

    .venv/bin/python benchmarks/score_oos.py [--before REV] [--rows] [--csv OUT]

OUT-OF-SAMPLE ONLY. benchmarks/data/oos_serving_benchmarks.csv holds 702 published numbers (TensorRT-LLM
0.9/0.14/0.17/1.0, NVIDIA NIM, SGLang/vLLM, AMD's ROCm vLLM page, Oracle, Lambda, vLLM CI), each with its
URL in ``source``. sloserve is never fitted to them: no term of sloserve/data/perf_calibration.csv, no
catalog number and no choice in benchmarks/fit_perf.py may be tuned to this score. Changing the model and
re-running this script to see whether the score improved is tuning; the model is fitted by fit_perf.py on
../shared/validation and this script only reports how that fit carries to engines it never saw.

Each benchmark row is mapped to one output of ``sloserve.predict_latency`` (rows that cannot be mapped are
counted with their reason, never scored):

``ttft``              TTFT at concurrency/batch 1                         -> ttft_s
``decode (lone)``     ITL/TPOT at concurrency 1                          -> decode_step_s at batch 1
``decode (loaded)``   ITL/TPOT under load: closed-loop concurrency N (N ≤ 50, below saturation), or an online
                      rate λ with the decoding batch from Little's law, λ·(f − 1)·ITL (measured)  -> tpot_s
``static batch``      end-to-end time of a fixed batch b                 -> throughput_tok_s = b·f/(prefill + f·step)
``capacity``          offline maximum throughput (requests at infinite rate) -> capacity_rps·f at the planner's
                      batch: min(KV-limited batch, 256 = the default max_batch)

The "before" column runs the model of an earlier revision (default: sloserve 0.2.0, before the refit)
through the same mapping, with that revision's own catalog and calibration (its capacity charged every
request a batch-1 prefill, and it had no loaded TPOT, so its ``tpot_s`` is its decode step).
"""
from __future__ import annotations

import argparse
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline  # noqa: E402  benchmarks/baseline.py
from sloserve.model.predict import predict_latency_frame  # noqa: E402

OOS_CSV = REPO / "benchmarks" / "data" / "oos_serving_benchmarks.csv"
BASELINE_REV = "1360f6fd76157ccdabee734ffe00607d24158b8f"
PLANNER_MAX_BATCH = 256
SHAREGPT = (200.0, 180.0)  # mean input/output tokens of the ShareGPT runs, as the source pages state them (~)
KINDS = ("ttft", "decode (lone)", "decode (loaded)", "static batch", "capacity")
OUTPUT_OF = {"ttft": "ttft_s", "decode (lone)": "decode_step_s", "decode (loaded)": "tpot_s",
             "static batch": "throughput_tok_s", "capacity": "capacity_tok_s"}


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def requests(oos: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored, skipped): one prediction request per comparable row; the others with the reason."""
    o = oos.reset_index(drop=True).copy()
    o["row"] = np.arange(len(o))
    o["h"] = o["input_tokens"].map(_num)
    o["f"] = o["output_tokens"].map(_num)
    share = o["input_tokens"].astype(str).str.startswith("ShareGPT")
    o.loc[share, "h"], o.loc[share, "f"] = SHAREGPT
    o["prec"] = np.where(o["precision"].isin(["bf16", "fp16"]), "bf16", np.where(o["precision"] == "fp8", "fp8", ""))
    bc = o["batch_or_concurrency"].astype(str)
    conc = bc.str.extract(r"^(?:concurrency|batch) (\d+)$")[0].astype(float)
    rate = bc.str.extract(r"^(?:QPS|RPS) (\d+(?:\.\d+)?)$")[0].astype(float)
    out, skip = [], []
    for i, r in o.iterrows():
        why = None
        kind, batch = None, np.nan
        if r["prec"] == "":
            why = f"precision {r['precision']!r} is not a catalog precision"
        elif not (r["h"] > 0 and r["f"] > 0):
            why = "input/output lengths not stated"
        elif str(r["engine_version"]).startswith("0.5"):
            why = "pre-0.6 vLLM run of a dataset of unstated lengths"
        elif r["metric"] == "ttft_s":
            if conc[i] == 1:
                kind, batch = "ttft", 1.0
            else:
                why = "TTFT under load includes queueing"
        elif r["metric"] in ("itl_s", "tpot_s"):
            if "inflated" in str(r["notes"]):
                why = "ITL inflated by multi-step streaming (the page's TPOT row is scored instead)"
            elif conc[i] == 1:
                kind, batch = "decode (lone)", 1.0
            elif conc[i] > 1 and conc[i] <= 50:
                kind, batch = "decode (loaded)", conc[i]
            elif rate[i] > 0:
                kind, batch = "decode (loaded)", rate[i] * (r["f"] - 1.0) * r["value"]
            elif conc[i] > 50:
                why = "closed loop beyond 50 concurrent requests: saturated (TTFT of tens of seconds), batch unknown"
            else:
                why = "load not stated as a concurrency or a finite rate"
        elif r["metric"] == "e2e_s":
            if not np.isnan(conc[i]) and "batch" in bc[i]:
                kind, batch = "static batch", conc[i]
            else:
                why = "end-to-end latency under online load includes queueing"
        elif r["metric"] == "throughput_tok_s":
            if r["load"] == "offline-max":
                kind = "capacity"
            else:
                why = "online throughput equals the offered load, not a capacity"
        else:
            why = f"metric {r['metric']!r} has no counterpart"
        if why is not None:
            skip.append({"row": int(r["row"]), "reason": why})
            continue
        if kind == "static batch":
            value = batch * r["f"] / r["value"]  # e2e of the batch -> output tokens/s
        else:
            value = r["value"]
        out.append({"row": int(r["row"]), "kind": kind, "model": r["model"], "gpu": r["gpu"], "precision": r["prec"],
                    "tp": int(r["tp"]), "pp": 1, "input_tokens": r["h"], "output_tokens": r["f"],
                    "batch": batch, "measured": value, "engine": r["engine"], "engine_version": r["engine_version"]})
    return pd.DataFrame(out), pd.DataFrame(skip)


def _capacity_batch(req: pd.DataFrame, predict) -> pd.DataFrame:
    """Capacity rows take the planner's batch: min(KV-limited, 256), found with a batch-1 probe."""
    cap = req["kind"] == "capacity"
    probe = predict(req.loc[cap].assign(batch=1.0))
    req = req.copy()
    req.loc[cap, "batch"] = np.maximum(1.0, np.minimum(probe["max_batch_kv"].to_numpy(float), PLANNER_MAX_BATCH))
    return req


def predict_after(req: pd.DataFrame) -> pd.DataFrame:
    cols = ["model", "gpu", "precision", "tp", "pp", "input_tokens", "output_tokens", "batch"]
    f = lambda d: predict_latency_frame(d[cols].reset_index(drop=True))  # noqa: E731
    req = _capacity_batch(req, f)
    p = f(req)
    p["capacity_tok_s"] = p["capacity_rps"] * p["output_tokens"]
    return pd.concat([req.reset_index(drop=True)[["row", "kind", "measured", "batch"]],
                      p[["ttft_s", "decode_step_s", "tpot_s", "throughput_tok_s", "capacity_tok_s"]]], axis=1)


#: the same five outputs from the 0.2.0 API (perf.prefill_time_s / decode_step_s, capacity 1/(ttft + f·τ/b))
BEFORE_CODE = r"""
import sys, numpy as np, pandas as pd
from sloserve.model import perf, catalog
req = pd.read_csv(sys.stdin)
G, M, Q = catalog.gpus(), catalog.models(), catalog.precisions()
cal = perf.load_calibration().set_index("gpu")
rows = []
for _, r in req.iterrows():
    g, m, q = G.loc[r.gpu], M.loc[r.model], Q.loc[r.precision]
    c = {k: np.asarray(float(cal.loc[r.gpu, k])) for k in perf.CALIBRATION_COLUMNS}
    n, L, H = float(r.tp), float(m.layers), float(m.hidden_size)
    P, Pa = m.total_params_b * 1e9, m.active_params_b * 1e9
    W, Wa = P * q.bytes_per_weight, Pa * q.bytes_per_weight
    kappa = float(perf.kv_bytes_per_token(L, m.num_kv_heads, m.head_dim, q.kv_bytes, n))
    F = (g.fp8_tflops if q.compute == "fp8" else g.bf16_tflops) * 1e12
    BW, IC, gpn, sf = g.hbm_bandwidth_gbps * 1e9, g.interconnect_gbps * 1e9, g.gpus_per_node, q.speed_factor
    h, f = float(r.input_tokens), float(r.output_tokens)
    kv = float(perf.kv_budget_bytes(g.memory_gib * 2**30, n, 1, W, H, 0.9))
    b = float(r.batch) if r.kind != "capacity" else max(1.0, min(np.floor(max(kv, 0) / ((h + f) * kappa)), 256.0))
    pre = lambda bb: float(perf.prefill_time_s(h, Pa, L, H, n, 1, F, IC, gpn, c, sf, batch=bb))
    dec = lambda bb: float(perf.decode_step_s(bb, h + f / 2, W, Wa, kappa, Pa, L, H, n, 1, F, BW, IC, gpn, c, sf))
    tau = dec(b)
    rows.append({"ttft_s": pre(1.0), "decode_step_s": tau, "tpot_s": tau,
                 "throughput_tok_s": b * f / (pre(b) + f * tau),
                 "capacity_tok_s": f / (pre(1.0) + f * tau / b), "batch": b})
pd.DataFrame(rows).to_csv(sys.stdout, index=False)
"""


def predict_before(req: pd.DataFrame, rev: str) -> pd.DataFrame | None:
    cols = ["kind", "model", "gpu", "precision", "tp", "input_tokens", "output_tokens", "batch"]
    buf = req[cols].to_csv(index=False)
    root = baseline.tree(rev)
    if root is None:
        return None
    import subprocess
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    text = subprocess.run([sys.executable, "-c", BEFORE_CODE], cwd=root, env=env, input=buf, check=True,
                          capture_output=True, text=True).stdout
    b = pd.read_csv(StringIO(text))
    return pd.concat([req.reset_index(drop=True)[["row", "kind", "measured"]], b], axis=1)


def errors(pred: pd.DataFrame) -> pd.DataFrame:
    """pred/measured − 1 for each row's own output (latencies: > 0 pessimistic; throughputs: > 0 optimistic)."""
    d = pred.copy()
    d["predicted"] = [r[OUTPUT_OF[r["kind"]]] for _, r in d.iterrows()]
    d["ratio"] = d["predicted"] / d["measured"]
    # one sign convention: > 0 means the model promises less than the engine delivers (pessimistic)
    thr = d["kind"].isin(["static batch", "capacity"])
    d["err"] = np.where(thr, d["measured"] / d["predicted"], d["ratio"]) - 1.0
    return d


def table(d: pd.DataFrame, by) -> pd.DataFrame:
    g = d.groupby(list(by))["err"]
    return pd.DataFrame({"n": g.size(), "median": g.apply(lambda e: np.median(np.abs(e))),
                         "p90": g.apply(lambda e: np.quantile(np.abs(e), 0.9)), "bias": g.median()}).reset_index()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BASELINE_REV, metavar="REV", help="revision to score side by side ('' = none)")
    ap.add_argument("--rows", action="store_true", help="print every scored row")
    ap.add_argument("--csv", type=Path, default=None, help="write the scored rows to this CSV")
    args = ap.parse_args(argv)
    oos = pd.read_csv(OOS_CSV)
    req, skipped = requests(oos)
    oos = oos.assign(row=np.arange(len(oos)))
    after = errors(predict_after(req))
    both = after.rename(columns={"err": "after_err", "predicted": "after_pred"})
    if args.before:
        b = predict_before(req, args.before)
        if b is not None:
            b = errors(b)
            both["before_pred"], both["before_err"] = b["predicted"].to_numpy(), b["err"].to_numpy()
    meta = oos.set_index("row").loc[both["row"], ["model", "gpu", "precision", "tp", "engine", "engine_version",
                                                  "input_tokens", "output_tokens", "metric", "value", "source"]]
    both = pd.concat([both.reset_index(drop=True), meta.reset_index(drop=True)], axis=1)
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    print(f"{len(oos)} published rows: {len(req)} scored, {len(skipped)} not comparable")
    print(skipped["reason"].value_counts().to_string())
    print("\nsign: err = pred/meas − 1 for latencies, meas/pred − 1 for throughputs; > 0 pessimistic (the model "
          "promises less than the engine delivers), < 0 optimistic")
    cols = ["after_err"] + (["before_err"] if "before_err" in both else [])

    def side(by):
        parts = []
        for c in cols:
            t = table(both.rename(columns={c: "err"}), by)
            parts.append(t.rename(columns={"median": f"{c[:-4]}_median", "p90": f"{c[:-4]}_p90",
                                           "bias": f"{c[:-4]}_bias"}))
        out = parts[0]
        for p in parts[1:]:
            out = out.merge(p.drop(columns="n"), on=list(by))
        order = [k for k in ("before_median", "after_median", "before_p90", "after_p90", "before_bias", "after_bias")
                 if k in out]
        return out[list(by) + ["n"] + order]
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 40):
        print("\nper kind:")
        print(side(["kind"]).to_string(index=False, float_format=fmt))
        print("\nper kind and GPU:")
        print(side(["kind", "gpu"]).to_string(index=False, float_format=fmt))
        print("\nper kind and TP:")
        print(side(["kind", "tp"]).to_string(index=False, float_format=fmt))
        grp = table(both.rename(columns={"after_err": "err"}), ["model", "gpu", "tp"])
        print(f"\nconfiguration groups (model, GPU, TP), after: {len(grp)}; optimistic bias beyond 10%: "
              f"{int((grp['bias'] < -0.10).sum())}")
        print(grp.sort_values("bias").head(8).to_string(index=False, float_format=fmt))
        if args.rows:
            show = ["kind", "model", "gpu", "precision", "tp", "engine", "input_tokens", "output_tokens", "batch",
                    "measured", "after_pred", "after_err"] + (["before_pred", "before_err"] if "before_err" in both else [])
            print(both[show].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        both.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
