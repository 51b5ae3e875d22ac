"""Fit the per-GPU terms of sloserve's performance model to public measurements.

    .venv/bin/python benchmarks/fit_perf.py [--validation-dir ../shared/validation] [--write]

Data (see <validation-dir>/PROVENANCE.md):
  * Vidur network profiles   vidur/data/profiling/network/<gpu>_*/{all_reduce,send_recv}.csv
        -> allreduce_latency_s, allreduce_bw_eff, p2p_latency_s, p2p_bw_eff, internode_latency_s, internode_Bps
  * Vidur operator profiles  vidur/data/profiling/compute/<gpu>/<org>/<model>/mlp.csv (per-layer kernel times)
        -> mfu_prefill (num_tokens > 512), mfu_decode and eta_decode (num_tokens <= 512)
  * Splitwise-sim end-to-end splitwise-sim/perf_model.csv (llama2-70b, bloom-176b; prompt and per-token time)
        -> jointly with the kernels: step_overhead_s, tp_step_overhead_s, prefill_overhead_s
Every prediction is made by sloserve.perf's own functions (no formula is copied here). The fit is a
Levenberg–Marquardt least squares on log(time) over log(parameters) (numpy only); every data set gets
the same total weight. GPUs without measurements inherit the terms of the closest measured GPU.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloserve import perf  # noqa: E402

import os  # noqa: E402
#: the measurement set: $SLOSERVE_VALIDATION_DIR, else ../shared/validation beside the checkout
DEFAULT_VALIDATION = Path(os.environ.get("SLOSERVE_VALIDATION_DIR") or REPO.parent / "shared" / "validation")
CALIBRATION_CSV = REPO / "sloserve" / "data" / "perf_calibration.csv"
GPUS_CSV = REPO / "sloserve" / "data" / "gpus.csv"

# ---------------------------------------------------------------------------------------------
# hardware of the measurements
# ---------------------------------------------------------------------------------------------
# A40 is measured by Vidur but not in the sloserve catalog; datasheet numbers:
A40 = dict(gpu="a40", memory_bytes=48 * 2**30, peak_flops=149.7e12, hbm_bandwidth_Bps=696e9, interconnect_Bps=56.25e9,
           gpus_per_node=8,
           source="NVIDIA A40 datasheet (nvidia.com/en-us/data-center/a40): 48 GB GDDR6 696 GB/s, BF16 149.7 TFLOPS "
                  "dense, NVLink bridge 112.5 GB/s bidirectional = 56.25 GB/s per direction")
# measurement folder name -> catalog gpu id
VIDUR_GPU = {"a100": "a100-80gb", "h100": "h100-sxm", "a40": "a40"}
NETWORK_DIR = {"a100-80gb": "a100_dgx", "h100-sxm": "h100_dgx", "a40": "a40_pairwise_nvlink"}
SPLITWISE_GPU = {"a100-80gb": "a100-80gb", "h100-80gb": "h100-sxm"}  # h100-80gb-pcap (power capped) is left out
# unmeasured catalog GPUs -> the measured GPU whose terms they inherit
TRANSFER = {"a100-40gb": "a100-80gb", "h200": "h100-sxm", "mi300x": "h100-sxm",
            "l40s": "a40", "l4": "a40", "a10g": "a40"}


# ---------------------------------------------------------------------------------------------
# model architectures of the measurements (HF config.json)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arch:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    gated: bool
    tied: bool
    url: str

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layer_params(self) -> float:
        return layer_params(self.hidden, self.heads, self.kv_heads, self.ffn, self.gated)

    @property
    def params(self) -> float:
        """Parameter count: L·(attention + MLP) + embeddings (+ untied LM head); norms/biases ignored (<0.1 %)."""
        return self.layers * self.layer_params + self.vocab * self.hidden * (1 if self.tied else 2)


def layer_params(hidden, heads, kv_heads, ffn, gated):
    """Weights of one transformer layer [parameters]: QKV + O projections + MLP (3 matrices if gated, else 2)."""
    hd = hidden / heads
    return hidden * (heads + 2 * kv_heads) * hd + hidden * hidden + np.where(gated, 3, 2) * hidden * ffn


ARCHS = {
    "llama2-70b": Arch("Llama-2-70B", 80, 8192, 64, 8, 28672, 32000, True, False,
                       "https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json"),
    "bloom-176b": Arch("BLOOM-176B", 70, 14336, 112, 112, 4 * 14336, 250880, False, True,
                       "https://huggingface.co/bigscience/bloom/blob/main/config.json"),
    # Vidur operator profiles carry their own per-layer dimensions (n_embd, n_head, n_kv_head, n_expanded_embd,
    # use_gated_mlp); the architectures they were profiled for, for reference:
    "Llama-2-7b-hf": Arch("Llama-2-7B", 32, 4096, 32, 32, 11008, 32000, True, False,
                          "https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json"),
    "Meta-Llama-3-8B": Arch("Llama-3-8B", 32, 4096, 32, 8, 14336, 128256, True, False,
                            "https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json"),
    "Meta-Llama-3-70B": Arch("Llama-3-70B", 80, 8192, 64, 8, 28672, 128256, True, False,
                             "https://huggingface.co/meta-llama/Meta-Llama-3-70B/blob/main/config.json"),
    "CodeLlama-34b-Instruct-hf": Arch("CodeLlama-34B", 48, 8192, 64, 8, 22016, 32000, True, False,
                                      "https://huggingface.co/codellama/CodeLlama-34b-Instruct-hf/blob/main/config.json"),
    "internlm-20b": Arch("InternLM-20B", 60, 5120, 40, 40, 13824, 103168, True, False,
                         "https://huggingface.co/internlm/internlm-20b/blob/main/config.json"),
    "Qwen-72B": Arch("Qwen-72B", 80, 8192, 64, 64, 24576, 152064, True, False,
                     "https://huggingface.co/Qwen/Qwen-72B/blob/main/config.json"),
    "phi-2": Arch("Phi-2", 32, 2560, 32, 32, 10240, 51200, False, False,
                  "https://huggingface.co/microsoft/phi-2/blob/main/config.json"),
}

FIT_KERNEL = ("mfu_prefill", "mfu_decode", "eta_decode")
FIT_OVERHEAD = ("step_overhead_s", "tp_step_overhead_s", "prefill_overhead_s")
DECODE_MAX_TOKENS = 512  # Vidur rows with num_tokens <= this are decode-like (weight-streaming) passes


def gpu_specs() -> pd.DataFrame:
    g = pd.read_csv(GPUS_CSV)
    spec = pd.DataFrame({"gpu": g["gpu"], "memory_bytes": g["memory_gib"] * 2**30, "peak_flops": g["bf16_tflops"] * 1e12,
                         "hbm_bandwidth_Bps": g["hbm_bandwidth_gbps"] * 1e9,
                         "interconnect_Bps": g["interconnect_gbps"] * 1e9, "gpus_per_node": g["gpus_per_node"]})
    spec = pd.concat([spec, pd.DataFrame([{k: v for k, v in A40.items() if k != "source"}])], ignore_index=True)
    return spec.set_index("gpu")


# ---------------------------------------------------------------------------------------------
# loading the measurements
# ---------------------------------------------------------------------------------------------
def load_network(vdir: Path) -> pd.DataFrame:
    """Rows: gpu, kind (allreduce | p2p | internode), n (workers), nbytes, t_s (median of the medians)."""
    rows = []
    for gpu, sub in NETWORK_DIR.items():
        for coll in ("all_reduce", "send_recv"):
            f = vdir / "vidur" / "data" / "profiling" / "network" / sub / f"{coll}.csv"
            if not f.exists():
                continue
            d = pd.read_csv(f)
            d["t_s"] = d[f"time_stats.{coll}.median"] * 1e-3
            if coll == "all_reduce":
                d = d[d["num_workers"] == d["devices_per_node"]].assign(kind="allreduce")  # one node only
            else:
                d = d.assign(kind=np.where(d["devices_per_node"] >= 2, "p2p", "internode"))
            g = d.groupby(["kind", "num_workers", "size"], as_index=False)["t_s"].median()
            rows.append(g.rename(columns={"num_workers": "n", "size": "nbytes"}).assign(gpu=gpu))
    return pd.concat(rows, ignore_index=True)


def load_kernels(vdir: Path) -> pd.DataFrame:
    """Per-layer kernel time (sum of every per-layer operator median, embedding excluded) vs tokens and TP."""
    rows = []
    for f in sorted((vdir / "vidur" / "data" / "profiling" / "compute").glob("*/*/*/mlp.csv")):
        gpu = VIDUR_GPU[f.parts[-4]]
        d = pd.read_csv(f)
        ops = [c for c in d.columns if c.startswith("time_stats.") and c.endswith(".median") and ".emb." not in c]
        d["t_s"] = d[ops].sum(axis=1) * 1e-3
        g = d.groupby(["n_embd", "n_head", "n_kv_head", "n_expanded_embd", "use_gated_mlp", "num_tokens",
                       "num_tensor_parallel_workers"], as_index=False)["t_s"].median()
        rows.append(g.assign(gpu=gpu, model=f.parts[-2]))
    k = pd.concat(rows, ignore_index=True).rename(columns={"num_tokens": "tokens", "num_tensor_parallel_workers": "n"})
    k["P_layer"] = layer_params(k["n_embd"].to_numpy(float), k["n_head"].to_numpy(float),
                                k["n_kv_head"].to_numpy(float), k["n_expanded_embd"].to_numpy(float),
                                k["use_gated_mlp"].astype(bool).to_numpy())
    k["phase"] = np.where(k["tokens"] <= DECODE_MAX_TOKENS, "decode", "prefill")
    return k


def load_e2e(vdir: Path, specs: pd.DataFrame) -> pd.DataFrame:
    """Splitwise-sim rows as (gpu, model, n, h, batch, ctx, phase, t_s), medians over repeats.

    prompt_time with batch_size b is the time to prefill b prompts of prompt_size tokens together (it grows ~b×
    at fixed prompt_size), token_time the mean time per output token at batch b. Rows whose KV cache cannot fit
    (perf.kv_budget_bytes < b·(prompt+tokens)·κ) are dropped: the run cannot have done what its row says."""
    d = pd.read_csv(vdir / "splitwise-sim" / "perf_model.csv")
    d = d[d["hardware"].isin(SPLITWISE_GPU)].copy()
    d["gpu"] = d["hardware"].map(SPLITWISE_GPU)
    keys = ["gpu", "model", "tensor_parallel", "prompt_size", "batch_size", "token_size"]
    d = d.groupby(keys, as_index=False)[["prompt_time", "token_time"]].median()
    a = d["model"].map(ARCHS)
    s = specs.loc[d["gpu"]]
    kappa = perf.kv_bytes_per_token([x.layers for x in a], [x.kv_heads for x in a], [x.head_dim for x in a], 2.0,
                                    d["tensor_parallel"].to_numpy(float))
    W = perf.weight_bytes([x.params for x in a], 2.0)
    kv = perf.kv_budget_bytes(s["memory_bytes"].to_numpy(), d["tensor_parallel"].to_numpy(float), 1, W,
                              [x.hidden for x in a])
    fits = d["batch_size"] * (d["prompt_size"] + d["token_size"]) * kappa <= kv
    d = d[fits.to_numpy()]
    base = d.rename(columns={"tensor_parallel": "n", "prompt_size": "h", "batch_size": "batch"})
    pre = base.drop_duplicates(["gpu", "model", "n", "h", "batch"]).assign(
        phase="prefill", ctx=np.nan, t_s=lambda x: x["prompt_time"] * 1e-3)
    # prompt_time does not depend on token_size: take the median over token sizes
    pre = pre.drop(columns="t_s").merge(
        base.groupby(["gpu", "model", "n", "h", "batch"], as_index=False)["prompt_time"].median()
        .rename(columns={"prompt_time": "pt"}), on=["gpu", "model", "n", "h", "batch"])
    pre["t_s"] = pre["pt"] * 1e-3
    dec = base.assign(phase="decode", ctx=base["h"] + base["token_size"] / 2.0, t_s=base["token_time"] * 1e-3)
    cols = ["gpu", "model", "n", "h", "batch", "ctx", "phase", "t_s"]
    return pd.concat([pre[cols], dec[cols]], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# predictions (all through sloserve.perf)
# ---------------------------------------------------------------------------------------------
def predict_network(net: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    ic = specs.loc[net["gpu"], "interconnect_Bps"].to_numpy()
    n = net["n"].to_numpy(float)
    b = net["nbytes"].to_numpy(float)
    kind = net["kind"].to_numpy()
    ar = perf.allreduce_time_s(b, n, ic, cal["allreduce_latency_s"], cal["allreduce_bw_eff"])
    p2 = perf.p2p_time_s(b, ic * cal["p2p_bw_eff"], cal["p2p_latency_s"])
    inter = perf.p2p_time_s(b, cal["internode_Bps"], cal["internode_latency_s"])
    return np.select([kind == "allreduce", kind == "p2p"], [ar, p2], inter)


def predict_kernels(k: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    s = specs.loc[k["gpu"]]
    F, BW = s["peak_flops"].to_numpy(), s["hbm_bandwidth_Bps"].to_numpy()
    T, n, P = k["tokens"].to_numpy(float), k["n"].to_numpy(float), k["P_layer"].to_numpy(float)
    dec = perf.decode_roofline_s(T, 0.0, 2.0 * P, 2.0 * P, 0.0, P, n, 1, F, BW, cal["eta_decode"], cal["mfu_decode"])
    pre = perf.compute_time_s(2.0 * P * T, n, F, cal["mfu_prefill"])
    return np.where(k["phase"].to_numpy() == "decode", dec, pre)


def predict_e2e(e: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    s = specs.loc[e["gpu"]]
    a = e["model"].map(ARCHS)
    L = np.array([x.layers for x in a], float)
    H = np.array([x.hidden for x in a], float)
    P = np.array([x.params for x in a], float)
    kappa = perf.kv_bytes_per_token(L, [x.kv_heads for x in a], [x.head_dim for x in a], 2.0, e["n"].to_numpy(float))
    W = perf.weight_bytes(P, 2.0)
    n, h, b = e["n"].to_numpy(float), e["h"].to_numpy(float), e["batch"].to_numpy(float)
    F, BW = s["peak_flops"].to_numpy(), s["hbm_bandwidth_Bps"].to_numpy()
    IC, gpn = s["interconnect_Bps"].to_numpy(), s["gpus_per_node"].to_numpy()
    pre = perf.prefill_time_s(h, P, L, H, n, 1, F, IC, gpn, cal, batch=b)
    dec = perf.decode_step_s(b, e["ctx"].fillna(0).to_numpy(float), W, W, kappa, P, L, H, n, 1, F, BW, IC, gpn, cal)
    return np.where(e["phase"].to_numpy() == "decode", dec, pre)


# ---------------------------------------------------------------------------------------------
# least squares
# ---------------------------------------------------------------------------------------------
def levenberg_marquardt(residuals, x0: np.ndarray, iters: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Minimise ||residuals(x)||² (numpy only; forward-difference Jacobian, adaptive damping)."""
    x = np.asarray(x0, float).copy()
    r = residuals(x)
    cost = r @ r
    lam = 1e-3
    for _ in range(iters):
        J = np.empty((r.size, x.size))
        for j in range(x.size):
            dx = np.zeros_like(x)
            dx[j] = 1e-6
            J[:, j] = (residuals(x + dx) - r) / 1e-6
        A, g = J.T @ J, J.T @ r
        improved = False
        for _ in range(20):
            step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
            r_new = residuals(x + step)
            c_new = r_new @ r_new
            if c_new < cost:
                improved = True
                x, r, lam = x + step, r_new, max(lam / 3.0, 1e-9)
                break
            lam *= 4.0
        if not improved or abs(cost - c_new) <= tol * max(cost, 1e-30):
            cost = min(cost, c_new) if improved else cost
            if not improved:
                break
        cost = r @ r
    return x


def _fit(names, x0, build_cal, parts):
    """Fit log-parameters ``names``; ``parts`` = list of (predict(cal) -> array, measured array)."""
    def res(logx):
        cal = build_cal(dict(zip(names, np.exp(logx))))
        out = []
        for predict, meas in parts:
            out.append((np.log(predict(cal)) - np.log(meas)) / np.sqrt(len(meas)))
        return np.concatenate(out)
    return dict(zip(names, np.exp(levenberg_marquardt(res, np.log(np.asarray(x0, float))))))


def fit_network(net: pd.DataFrame, specs: pd.DataFrame, gpu: str) -> dict:
    out = {}
    for kind, names, x0 in (("allreduce", ("allreduce_latency_s", "allreduce_bw_eff"), (2e-5, 0.7)),
                            ("p2p", ("p2p_latency_s", "p2p_bw_eff"), (1e-5, 0.5)),
                            ("internode", ("internode_latency_s", "internode_Bps"), (2e-5, 1e10))):
        d = net[(net["gpu"] == gpu) & (net["kind"] == kind)]
        if len(d) == 0:
            continue
        base = {"allreduce_latency_s": 0.0, "allreduce_bw_eff": 1.0, "p2p_latency_s": 0.0, "p2p_bw_eff": 1.0,
                "internode_latency_s": 0.0, "internode_Bps": 1.0}
        out.update(_fit(names, x0, lambda c: {**base, **c},
                        [(lambda cal, d=d: predict_network(d, specs, cal), d["t_s"].to_numpy())]))
    if "allreduce_latency_s" not in out:  # a40: no all-reduce profile; a ring step is a send/recv on the same link
        out["allreduce_latency_s"], out["allreduce_bw_eff"] = out["p2p_latency_s"], out["p2p_bw_eff"]
    return out


def fit_gpu(gpu: str, kern: pd.DataFrame, e2e: pd.DataFrame, specs: pd.DataFrame, net_terms: dict,
            fixed: dict | None = None) -> dict:
    """Kernel efficiencies (and, where end-to-end data exist, framework overheads) of one GPU."""
    k = kern[kern["gpu"] == gpu]
    e = e2e[e2e["gpu"] == gpu]
    parts = [(lambda cal, d=k[k["phase"] == ph]: predict_kernels(d, specs, cal),
              k.loc[k["phase"] == ph, "t_s"].to_numpy()) for ph in ("prefill", "decode")]
    parts += [(lambda cal, d=e[e["phase"] == ph]: predict_e2e(d, specs, cal),
               e.loc[e["phase"] == ph, "t_s"].to_numpy()) for ph in ("prefill", "decode") if (e["phase"] == ph).any()]
    names = FIT_KERNEL + (FIT_OVERHEAD if len(e) else ())
    x0 = (0.7, 0.5, 0.8, 5e-3, 1e-3, 1e-3)[:len(names)]
    base = {**net_terms, **(fixed or {})}
    return {**base, **_fit(names, x0, lambda c: {**base, **c}, parts)}


def fit_all(vdir: Path) -> tuple[pd.DataFrame, dict]:
    specs = gpu_specs()
    net, kern, e2e = load_network(vdir), load_kernels(vdir), load_e2e(vdir, specs)
    terms = {}
    for gpu in ("a100-80gb", "h100-sxm"):
        terms[gpu] = fit_gpu(gpu, kern, e2e, specs, fit_network(net, specs, gpu))
    # A40: kernels and network measured, no end-to-end runs -> framework overheads from the A100 fit
    over = {k: terms["a100-80gb"][k] for k in FIT_OVERHEAD}
    terms["a40"] = fit_gpu("a40", kern, e2e, specs, fit_network(net, specs, "a40"), fixed=over)
    sources = {
        "a100-80gb": "fitted: Vidur a100 kernels (mlp.csv) + a100_dgx network + Splitwise llama2-70b/bloom-176b "
                     "a100-80gb end-to-end",
        "h100-sxm": "fitted: Vidur h100 kernels (mlp.csv) + h100_dgx network + Splitwise llama2-70b/bloom-176b "
                    "h100-80gb end-to-end",
        "a40": "fitted: Vidur a40 kernels (mlp.csv) + a40_pairwise_nvlink send_recv; framework overheads from a100-80gb",
    }
    rows = []
    for gpu in pd.read_csv(GPUS_CSV)["gpu"]:
        src_gpu = gpu if gpu in terms else TRANSFER[gpu]
        src = sources[src_gpu] if src_gpu == gpu else f"transferred from {src_gpu} ({sources[src_gpu]})"
        rows.append({"gpu": gpu, **{c: terms[src_gpu][c] for c in perf.CALIBRATION_COLUMNS}, "source": src})
    cal = pd.DataFrame(rows)
    for c in perf.CALIBRATION_COLUMNS:  # 6 significant digits; a term driven to ~0 by the log fit is written as 0
        cal[c] = [0.0 if (c.endswith("_s") and v < 1e-7) else float(f"{v:.6g}") for v in cal[c]]
    measured = {g: {**{c: terms[g][c] for c in perf.CALIBRATION_COLUMNS}} for g in terms}
    return cal, {"specs": specs, "net": net, "kern": kern, "e2e": e2e, "terms": measured}


# ---------------------------------------------------------------------------------------------
# error report
# ---------------------------------------------------------------------------------------------
def _err(pred, meas):
    return np.abs(pred / meas - 1.0)


def error_table(data: dict) -> pd.DataFrame:
    """Median and p90 absolute relative error, calibrated vs bare roofline, per GPU × data set × phase."""
    specs, terms = data["specs"], data["terms"]
    roof = {c: (np.inf if c == "internode_Bps" else v) for c, v in
            perf.roofline_calibration(["x"]).iloc[0].items() if c in perf.CALIBRATION_COLUMNS}
    rows = []
    sets = [("kernels (Vidur)", data["kern"], predict_kernels), ("end-to-end (Splitwise)", data["e2e"], predict_e2e)]
    for gpu, t in terms.items():
        for name, d, fn in sets:
            for ph in ("prefill", "decode"):
                s = d[(d["gpu"] == gpu) & (d["phase"] == ph)]
                if len(s) == 0:
                    continue
                ec = _err(fn(s, specs, t), s["t_s"].to_numpy())
                er = _err(fn(s, specs, roof), s["t_s"].to_numpy())
                rows.append({"gpu": gpu, "data": name, "phase": ph, "n": len(s), "cal_median": np.median(ec),
                             "cal_p90": np.quantile(ec, 0.9), "roof_median": np.median(er),
                             "roof_p90": np.quantile(er, 0.9)})
        net = data["net"][data["net"]["gpu"] == gpu]
        for kind in ("allreduce", "p2p", "internode"):
            s = net[net["kind"] == kind]
            if len(s) == 0:
                continue
            ec = _err(predict_network(s, specs, t), s["t_s"].to_numpy())
            er = _err(predict_network(s, specs, {**roof, "internode_Bps": specs.loc[gpu, "interconnect_Bps"]}),
                      s["t_s"].to_numpy())
            rows.append({"gpu": gpu, "data": "network (Vidur)", "phase": kind, "n": len(s),
                         "cal_median": np.median(ec), "cal_p90": np.quantile(ec, 0.9),
                         "roof_median": np.median(er), "roof_p90": np.quantile(er, 0.9)})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--validation-dir", type=Path, default=DEFAULT_VALIDATION)
    ap.add_argument("--write", action="store_true", help=f"write {CALIBRATION_CSV.relative_to(REPO)}")
    args = ap.parse_args(argv)
    cal, data = fit_all(args.validation_dir)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        print("fitted terms per GPU (source column abbreviated):")
        print(cal.assign(source=cal["source"].str.slice(0, 40)).to_string(index=False))
        print()
        print("absolute relative error |pred/meas - 1|: calibrated (cal_*) vs bare roofline (roof_*)")
        print(error_table(data).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.write:
        cal.to_csv(CALIBRATION_CSV, index=False)
        print(f"\nwrote {CALIBRATION_CSV}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
