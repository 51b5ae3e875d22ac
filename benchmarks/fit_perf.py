"""Fit the per-GPU terms of sloserve's performance model to public measurements, and report its error.

    .venv/bin/python benchmarks/fit_perf.py [--validation-dir DIR] [--write] [--before REV]

Data (see <validation-dir>/PROVENANCE.md; the folder is $SLOSERVE_VALIDATION_DIR, else ../shared/validation):
  * Vidur operator profiles  vidur/data/profiling/compute/<gpu>/<org>/<model>/mlp.csv (per-layer kernel times)
        -> mfu_gemm, gemm_ramp_tokens, eta_weights, kernel_latency_s          (a100, h100, a40)
  * Vidur attention profile  vidur/at-e2d00e9/data/profiling/a100/attention.csv (per-layer attention kernel)
        -> eta_kv, attention_latency_s, mfu_attention                         (a100; transferred)
  * Vidur network profiles   vidur/data/profiling/network/<gpu>_*/{all_reduce,send_recv}.csv
        -> allreduce_latency_s, allreduce_bw_eff, p2p_*, internode_*        (a100, h100; PCIe from a100_pairwise)
  * Splitwise-sim end-to-end splitwise-sim/perf_model.csv (llama2-70b, bloom-176b on a100-80gb, h100-80gb)
        -> the host terms and the collective of the 2023 engine that produced them
           (benchmarks/data/splitwise_engine_terms.csv; the planner's engine has none, docs/perf_model.md)

Fit/validate split, by model (never by row): the terms are fitted on FIT_MODELS only and every data set is
reported on those rows (in-sample) and on HELD_OUT_MODELS (held out), per phase, GPU and TP; the shipped
calibration is this split's fit. Every prediction is made by sloserve.model.perf's own functions (no formula
is copied here). The fit is a Levenberg–Marquardt least squares on log(time) over log(parameters) (numpy
only); every data set gets the same total weight. GPUs without measurements get the terms named in TRANSFER,
with the public evidence that exists for them. Published serving-benchmark tables are never used here: they
are the out-of-sample score (benchmarks/score_oos.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloserve.model import perf  # noqa: E402

#: the measurement set: $SLOSERVE_VALIDATION_DIR, else ../shared/validation beside the checkout
DEFAULT_VALIDATION = Path(os.environ.get("SLOSERVE_VALIDATION_DIR") or REPO.parent / "shared" / "validation")
CALIBRATION_CSV = REPO / "sloserve" / "data" / "perf_calibration.csv"
ENGINE_CSV = REPO / "benchmarks" / "data" / "splitwise_engine_terms.csv"
GPUS_CSV = REPO / "sloserve" / "data" / "gpus.csv"
BASELINE_REV = "1360f6fd76157ccdabee734ffe00607d24158b8f"  # sloserve 0.2.0 before this refit

# ---------------------------------------------------------------------------------------------
# hardware of the measurements
# ---------------------------------------------------------------------------------------------
# A40 is measured by Vidur but not in the sloserve catalog; datasheet numbers:
A40 = dict(gpu="a40", memory_bytes=48 * 2**30, peak_flops=149.7e12, hbm_bandwidth_Bps=696e9, interconnect_Bps=56.25e9,
           gpus_per_node=8)
# measurement folder name -> catalog gpu id
VIDUR_GPU = {"a100": "a100-80gb", "h100": "h100-sxm", "a40": "a40"}
NETWORK_DIR = {"a100-80gb": "a100_dgx", "h100-sxm": "h100_dgx", "a40": "a40_pairwise_nvlink"}
# PCIe Gen4 all-reduce: 4 A100s linked in NVLink pairs, so a 4-GPU ring crosses PCIe (Vidur a100_pairwise_nvlink)
PCIE_NETWORK = ("a100_pairwise_nvlink", 4)
PCIE_LINK_Bps = 32e9  # PCIe Gen4 x16, per direction (the catalog's interconnect_gbps of l4, a10g, l40s)
SPLITWISE_GPU = {"a100-80gb": "a100-80gb", "h100-80gb": "h100-sxm"}  # h100-80gb-pcap (power capped) is left out

# the split: terms are fitted on these models only
HELD_OUT_MODELS = ("CodeLlama-34b-Instruct-hf", "Qwen-72B", "phi-2", "bloom-176b")

# ---------------------------------------------------------------------------------------------
# GPUs without measurements: the measured GPU whose terms they take, what is changed, and why
# ---------------------------------------------------------------------------------------------
# device-memory read bandwidth as a fraction of the datasheet peak, one public microbenchmark (pantheongpu
# memory_read, median of its published reports, as tabulated in a public GitHub file; decimal GB/s):
# A10 501.3/600, A10G 501.9 (no published peak), L40S 728.8/864, A100-SXM4-40GB 1496.2/1555, H100 SXM 3044.0/3350
DEVICE_READ = {"a10": 501.3 / 600, "a10g": 501.9 / 600, "l40s": 728.8 / 864, "a100-40gb": 1496.2 / 1555,
               "h100-sxm": 3044.0 / 3350}
READ_SOURCE = ("device read bandwidth (pantheongpu memory_read medians, tabulated in a public GitHub file, find_string "
               "id 69728328634): A10 83.5%, A10G 501.9 GB/s (83.6% of 600), L40S 84.4%, A100-40GB 96.2%, H100 SXM 90.9% "
               "of datasheet")
# MI300X: AMD's own max-achievable FLOPs (ROCm blog 'Measuring Max-Achievable FLOPs - Part 2',
# rocm.blogs.amd.com/software-tools-optimization/measuring-max-achievable-flops-part2, 750 W, ROCm 6.3.0, hipBLASLt
# 4096x4864x32896): BF16 708 TFLOPS of 1307.4 peak; and a third-party memcpy benchmark (ScalarLM, scalarlm.ghost.io/
# blog/scalarlm-benchmarking-mi300x-memcpy): plateau 2000-3000 GB/s of 5300 for 10 MB - 2.1 GB copies
MI300X_MAF = 708.0 / 1307.4
MI300X_COPY = 2500.0 / 5300.0
H100_COPY = (3044.0 + 3172.3) / 2 / 3350  # the same kind of number for H100 SXM (read and write mean, pantheongpu)

TRANSFER = {
    # gpu: (reference, {term: multiplier}, what the evidence is)
    "a100-40gb": ("a100-80gb", {}, "same GA100 silicon with HBM2 instead of HBM2e; its device read reaches 96.2% of "
                  "1555 GB/s (pantheongpu), so the A100-80GB fractions are kept (no LLM kernel measurement)"),
    "h200": ("h100-sxm", {}, "same GH100 silicon with HBM3e; no public kernel or memory microbenchmark found: H100 "
             "fractions of the H200 peaks (UNVERIFIED)"),
    "mi300x": ("h100-sxm", {"mfu_gemm": ("set", MI300X_MAF), "mfu_attention": ("as", "mfu_gemm"),
                            "eta_weights": ("scale", MI300X_COPY / H100_COPY), "eta_kv": ("scale", MI300X_COPY / H100_COPY)},
               "CDNA3, no LLM kernel measurement: GEMM efficiency = AMD's max-achievable BF16 FLOPs 708 of 1307.4 TFLOPS "
               "(ROCm blog, Measuring Max-Achievable FLOPs part 2); memory efficiency = H100's scaled by a third-party "
               "memcpy plateau of ~2.5 of 5.3 TB/s (ScalarLM blog) against H100's 93% device read/write (pantheongpu); "
               "latencies and collectives from H100 (UNVERIFIED; sensitivity in docs/perf_model.md)"),
    "l40s": ("a40", {"eta_weights": ("scale", DEVICE_READ["l40s"] / DEVICE_READ["a10"]),
                     "eta_kv": ("scale", DEVICE_READ["l40s"] / DEVICE_READ["a10"])},
             "Ada GDDR6, no LLM kernel measurement: A40 (Ampere GDDR6) kernel fractions; memory efficiency scaled by "
             "device read L40S 84.4% vs A10 (same die family as A40) 83.5% (pantheongpu)"),
    "a10g": ("a40", {"eta_weights": ("scale", DEVICE_READ["a10g"] / DEVICE_READ["a10"]),
                     "eta_kv": ("scale", DEVICE_READ["a10g"] / DEVICE_READ["a10"])},
             "Ampere GDDR6 like the A40: A40 kernel fractions; device read 501.9 GB/s = the A10's 501.3 (pantheongpu)"),
    "l4": ("a40", {}, "Ada GDDR6: no public measurement of any kind found: A40 fractions of the L4 peaks (UNVERIFIED)"),
}
PCIE_GPUS = ("l4", "a10g", "l40s")  # collectives from the PCIe all-reduce profile


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
# the attention profile's layer: Llama-2-70B-like (n_embd 8192, 64 query heads, 8 KV heads, head_dim 128), TP 2
ATTENTION_LAYER = dict(hidden=8192, heads=64, kv_heads=8, head_dim=128)

FIT_KERNEL = ("mfu_gemm", "gemm_ramp_tokens", "eta_weights", "kernel_latency_s", "elementwise_bytes")
FIT_ATTENTION = ("eta_kv", "attention_latency_s", "mfu_attention")
FIT_ENGINE = ("step_overhead_s", "tp_step_overhead_s", "seq_overhead_s", "prefill_overhead_s", "allreduce_latency_s",
              "allreduce_bw_eff")
#: kernel rows of at most this many tokens are reported as decode-like passes (a batch of up to 256 sequences)
DECODE_MAX_TOKENS = 256
ENGINE_TERMS = ("step_overhead_s", "tp_step_overhead_s", "seq_overhead_s", "prefill_overhead_s",
                "allreduce_latency_s", "allreduce_bw_eff")


def gpu_specs() -> pd.DataFrame:
    g = pd.read_csv(GPUS_CSV)
    spec = pd.DataFrame({"gpu": g["gpu"], "memory_bytes": g["memory_gib"] * 2**30, "peak_flops": g["bf16_tflops"] * 1e12,
                         "hbm_bandwidth_Bps": g["hbm_bandwidth_gbps"] * 1e9,
                         "interconnect_Bps": g["interconnect_gbps"] * 1e9, "gpus_per_node": g["gpus_per_node"]})
    spec = pd.concat([spec, pd.DataFrame([A40])], ignore_index=True)
    return spec.set_index("gpu")


# ---------------------------------------------------------------------------------------------
# loading the measurements
# ---------------------------------------------------------------------------------------------
def _network_file(vdir: Path, sub: str, coll: str) -> pd.DataFrame | None:
    f = vdir / "vidur" / "data" / "profiling" / "network" / sub / f"{coll}.csv"
    if not f.exists():
        return None
    d = pd.read_csv(f)
    d["t_s"] = d[f"time_stats.{coll}.median"] * 1e-3
    return d


def load_network(vdir: Path) -> pd.DataFrame:
    """Rows: gpu, kind (allreduce | p2p | internode), n (workers), nbytes, t_s (median of the medians)."""
    rows = []
    for gpu, sub in NETWORK_DIR.items():
        for coll in ("all_reduce", "send_recv"):
            d = _network_file(vdir, sub, coll)
            if d is None:
                continue
            if coll == "all_reduce":
                d = d[d["num_workers"] == d["devices_per_node"]].assign(kind="allreduce")  # one node only
            else:
                d = d.assign(kind=np.where(d["devices_per_node"] >= 2, "p2p", "internode"))
            g = d.groupby(["kind", "num_workers", "size"], as_index=False)["t_s"].median()
            rows.append(g.rename(columns={"num_workers": "n", "size": "nbytes"}).assign(gpu=gpu))
    sub, n = PCIE_NETWORK
    d = _network_file(vdir, sub, "all_reduce")
    d = d[(d["num_workers"] == n) & (d["devices_per_node"] == n)]
    g = d.groupby(["num_workers", "size"], as_index=False)["t_s"].median()
    rows.append(g.rename(columns={"num_workers": "n", "size": "nbytes"}).assign(gpu="pcie", kind="allreduce"))
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
    k["phase"] = np.where(k["tokens"] <= DECODE_MAX_TOKENS, "decode", "prefill")  # for the report only
    return k


def load_attention(vdir: Path) -> pd.DataFrame:
    """The A100 attention kernel per layer: decode (batch, KV tokens each) and prefill (chunk, KV tokens before it)."""
    d = pd.read_csv(vdir / "vidur" / "at-e2d00e9" / "data" / "profiling" / "a100" / "attention.csv")
    dec = d[~d["is_prefill"].astype(bool)].assign(phase="decode", t_s=lambda x: x["time_stats.attn_decode.median"] * 1e-3)
    pre = d[d["is_prefill"].astype(bool)].assign(phase="prefill", t_s=lambda x: x["time_stats.attn_prefill.median"] * 1e-3)
    cols = ["phase", "num_tensor_parallel_workers", "batch_size", "prefill_chunk_size", "kv_cache_size", "t_s"]
    a = pd.concat([dec[cols], pre[cols]], ignore_index=True).rename(columns={"num_tensor_parallel_workers": "n"})
    a = a.groupby(["phase", "n", "batch_size", "prefill_chunk_size", "kv_cache_size"], as_index=False)["t_s"].median()
    return a[a["t_s"] > 0].assign(gpu="a100-80gb", model="Llama-2-70b-hf")


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
    # prompt_time does not depend on token_size: take the median over token sizes
    pre = base.groupby(["gpu", "model", "n", "h", "batch"], as_index=False)["prompt_time"].median()
    pre = pre.assign(phase="prefill", ctx=np.nan, t_s=pre["prompt_time"] * 1e-3)
    dec = base.assign(phase="decode", ctx=base["h"] + base["token_size"] / 2.0, t_s=base["token_time"] * 1e-3)
    cols = ["gpu", "model", "n", "h", "batch", "ctx", "phase", "t_s"]
    return pd.concat([pre[cols], dec[cols]], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# predictions (all through sloserve.model.perf)
# ---------------------------------------------------------------------------------------------
def _cal(base: dict, **over) -> dict:
    """A full calibration mapping: the given terms, every other term neutral (efficiency 1, time 0)."""
    neutral = {c: (1.0 if c in perf.FRACTION_COLUMNS else (np.inf if c == "internode_Bps" else 0.0))
               for c in perf.CALIBRATION_COLUMNS}
    return {k: np.asarray(v, dtype=float) for k, v in {**neutral, **base, **over}.items()}


def predict_network(net: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    ic = np.where(net["gpu"].to_numpy() == "pcie", PCIE_LINK_Bps,
                  specs.reindex(net["gpu"])["interconnect_Bps"].to_numpy())
    n = net["n"].to_numpy(float)
    b = net["nbytes"].to_numpy(float)
    kind = net["kind"].to_numpy()
    ar = perf.allreduce_time_s(b, n, ic, cal["allreduce_latency_s"], cal["allreduce_bw_eff"])
    p2 = perf.p2p_time_s(b, ic * cal["p2p_bw_eff"], cal["p2p_latency_s"])
    inter = perf.p2p_time_s(b, cal["internode_Bps"], cal["internode_latency_s"])
    return np.select([kind == "allreduce", kind == "p2p"], [ar, p2], inter)


def _layer_spec(k: pd.DataFrame, specs: pd.DataFrame) -> dict:
    s = specs.loc[k["gpu"]]
    P = k["P_layer"].to_numpy(float)
    return perf.spec_of(total_params=P, active_params=P, layers=1, hidden_size=k["n_embd"].to_numpy(float),
                        num_kv_heads=k["n_kv_head"].to_numpy(float),
                        head_dim=k["n_embd"].to_numpy(float) / k["n_head"].to_numpy(float), tp=k["n"].to_numpy(float),
                        pp=1, peak_flops=s["peak_flops"].to_numpy(), hbm_bandwidth_Bps=s["hbm_bandwidth_Bps"].to_numpy())


def predict_kernels(k: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    """One layer's linear, norm and activation kernels (no attention, no host time): linear + elementwise + latency."""
    sp = _layer_spec(k, specs)
    c = _cal(cal, attention_latency_s=0.0, step_overhead_s=0.0, tp_step_overhead_s=0.0, seq_overhead_s=0.0,
             prefill_overhead_s=0.0)
    T = k["tokens"].to_numpy(float)
    return perf.linear_time_s(T, sp, c) + perf.elementwise_s(T, sp, c) + perf.pass_overhead_s(sp, c)


def predict_attention(a: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    """One layer's attention kernel: decode = latency + KV read of batch·kv tokens; prefill = latency + pairs FLOP."""
    s = specs.loc[a["gpu"]]
    L = ATTENTION_LAYER
    sp = perf.spec_of(total_params=0.0, active_params=0.0, layers=1, hidden_size=L["hidden"], num_kv_heads=L["kv_heads"],
                      head_dim=L["head_dim"], num_attention_heads=L["heads"], tp=a["n"].to_numpy(float), pp=1,
                      peak_flops=s["peak_flops"].to_numpy(), hbm_bandwidth_Bps=s["hbm_bandwidth_Bps"].to_numpy())
    c = _cal(cal)
    kv = a["kv_cache_size"].to_numpy(float)
    chunk = a["prefill_chunk_size"].to_numpy(float)
    dec = perf.kv_read_s(a["batch_size"].to_numpy(float) * kv, sp, c)
    pre = perf.attention_compute_s(chunk * kv + chunk * chunk / 2.0, sp, c)
    return c["attention_latency_s"] + np.where(a["phase"].to_numpy() == "decode", dec, pre)


def e2e_spec(e: pd.DataFrame, specs: pd.DataFrame) -> dict:
    s = specs.loc[e["gpu"]]
    a = e["model"].map(ARCHS)
    return perf.spec_of(total_params=[x.params for x in a], active_params=[x.params for x in a],
                        layers=[x.layers for x in a], hidden_size=[x.hidden for x in a],
                        num_kv_heads=[x.kv_heads for x in a], head_dim=[x.head_dim for x in a],
                        num_attention_heads=[x.heads for x in a], vocab_size=[x.vocab for x in a],
                        tied_embeddings=[x.tied for x in a], tp=e["n"].to_numpy(float), pp=1,
                        peak_flops=s["peak_flops"].to_numpy(), hbm_bandwidth_Bps=s["hbm_bandwidth_Bps"].to_numpy(),
                        interconnect_Bps=s["interconnect_Bps"].to_numpy(), gpus_per_node=s["gpus_per_node"].to_numpy())


def predict_e2e(e: pd.DataFrame, specs: pd.DataFrame, cal: dict) -> np.ndarray:
    """A whole forward pass of the model: prefill_time_s (batch prompts) or decode_step_s, with ``cal``'s engine."""
    sp = e2e_spec(e, specs)
    c = _cal(cal)
    h, b = e["h"].to_numpy(float), e["batch"].to_numpy(float)
    pre = perf.prefill_time_s(h, sp, c, batch=b)
    dec = perf.decode_step_s(b, e["ctx"].fillna(0).to_numpy(float), sp, c)
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
        out.update(_fit(names, x0, lambda c: _cal({"internode_Bps": 1.0}, **c),
                        [(lambda cal, d=d: predict_network(d, specs, cal), d["t_s"].to_numpy())]))
    if "p2p_latency_s" not in out:  # PCIe: a send/recv is one step of the ring all-reduce on the same link
        out["p2p_latency_s"], out["p2p_bw_eff"] = out["allreduce_latency_s"], out["allreduce_bw_eff"]
    return out


def fit_kernels(kern: pd.DataFrame, specs: pd.DataFrame, gpu: str) -> dict:
    k = kern[(kern["gpu"] == gpu) & ~kern["model"].isin(HELD_OUT_MODELS)]
    parts = [(lambda cal, d=k[k["phase"] == ph]: predict_kernels(d, specs, cal),
              k.loc[k["phase"] == ph, "t_s"].to_numpy())
             for ph in ("prefill", "decode")]
    return _fit(FIT_KERNEL, (0.65, 80.0, 0.85, 5e-5, 16.0), lambda c: _cal(c), parts)


def fit_attention(att: pd.DataFrame, specs: pd.DataFrame) -> dict:
    parts = [(lambda cal, d=att[att["phase"] == ph]: predict_attention(d, specs, cal),
              att.loc[att["phase"] == ph, "t_s"].to_numpy()) for ph in ("prefill", "decode")]
    return _fit(FIT_ATTENTION, (0.8, 1.5e-5, 0.5), lambda c: _cal(c), parts)


def fit_engine(e2e: pd.DataFrame, specs: pd.DataFrame, gpu: str, gpu_terms: dict) -> dict:
    """The 2023 engine's host terms and collective, with the GPU-side terms fixed (fit models only)."""
    e = e2e[(e2e["gpu"] == gpu) & ~e2e["model"].isin(HELD_OUT_MODELS)]
    parts = [(lambda cal, d=e[e["phase"] == ph]: predict_e2e(d, specs, cal), e.loc[e["phase"] == ph, "t_s"].to_numpy())
             for ph in ("prefill", "decode")]
    return _fit(FIT_ENGINE, (5e-3, 2e-3, 3e-4, 1e-3, 2e-5, 0.3), lambda c: _cal(gpu_terms, **c), parts)


def _transfer(ref: dict, rules: dict) -> dict:
    """The reference GPU's terms with ``rules`` applied: ("set", v) replaces a term, ("scale", k) multiplies it,
    ("as", other) scales it as ``other`` was scaled (after the other rules)."""
    out = dict(ref)
    for term, (how, v) in rules.items():
        if how == "set":
            out[term] = v
        elif how == "scale":
            out[term] = ref[term] * v
    for term, (how, v) in rules.items():
        if how == "as":
            out[term] = ref[term] * out[v] / ref[v]
    return out


def fit_all(vdir: Path) -> tuple[pd.DataFrame, dict]:
    specs = gpu_specs()
    net, kern, att, e2e = load_network(vdir), load_kernels(vdir), load_attention(vdir), load_e2e(vdir, specs)
    attn = fit_attention(att, specs)
    pcie = fit_network(net, specs, "pcie")
    terms, engines = {}, {}
    for gpu in ("a100-80gb", "h100-sxm", "a40"):
        terms[gpu] = {**fit_kernels(kern, specs, gpu), **attn, **fit_network(net, specs, gpu),
                      **{c: 0.0 for c in perf.ENGINE_COLUMNS}}
    for gpu in ("a100-80gb", "h100-sxm"):
        engines[gpu] = fit_engine(e2e, specs, gpu, terms[gpu])
    src = {
        "a100-80gb": "fitted: Vidur a100 kernels (mlp.csv) and attention (at-e2d00e9 attention.csv), a100_dgx network",
        "h100-sxm": "fitted: Vidur h100 kernels (mlp.csv), h100_dgx network; attention terms from the a100 attention "
                    "profile (no h100 attention profile is stored)",
        "a40": "fitted: Vidur a40 kernels (mlp.csv); attention terms from the a100 attention profile",
    }
    rows = []
    for gpu in pd.read_csv(GPUS_CSV)["gpu"]:
        if gpu in terms:
            t, source = terms[gpu], src[gpu]
        else:
            ref, rules, why = TRANSFER[gpu]
            t = _transfer(terms[ref], rules)
            source = f"transferred from {ref} ({src[ref]}): {why}"
        if gpu in PCIE_GPUS:
            t = {**t, **pcie}
            source += ("; collectives: Vidur a100_pairwise_nvlink all_reduce at 4 GPUs (a ring across PCIe Gen4), "
                       "internode from a40")
        source += "; engine host terms 0 (the planner's engine hides host work, docs/perf_model.md)"
        rows.append({"gpu": gpu, **{c: t[c] for c in perf.CALIBRATION_COLUMNS}, "source": source})
    cal = _round(pd.DataFrame(rows))
    eng = _round(pd.DataFrame([{"engine": "splitwise-2023", "gpu": g, **{c: engines[g][c] for c in ENGINE_TERMS},
                                "source": f"fitted to Splitwise perf_model.csv {g} llama2-70b (bloom-176b held out) with "
                                          f"the GPU terms of {g} fixed"} for g in engines]), ENGINE_TERMS)
    measured = {g: dict(terms[g]) for g in terms}
    return cal, {"specs": specs, "net": net, "kern": kern, "att": att, "e2e": e2e, "terms": measured,
                 "engines": engines, "pcie": pcie, "engine_table": eng}


def _round(df: pd.DataFrame, cols=perf.CALIBRATION_COLUMNS) -> pd.DataFrame:
    for c in cols:  # 6 significant digits; a time driven to ~0 by the log fit is written as 0
        df[c] = [0.0 if (c.endswith("_s") and v < 1e-7) else float(f"{v:.6g}") for v in df[c]]
    return df


# ---------------------------------------------------------------------------------------------
# error report
# ---------------------------------------------------------------------------------------------
def predictions(data: dict) -> pd.DataFrame:
    """Every validation row with its measured and predicted time: data, gpu, model, split, phase, tp, meas_s, pred_s."""
    specs, terms = data["specs"], data["terms"]
    out = []

    def add(d, name, fn, cal_of):
        for gpu, g in d.groupby("gpu"):
            pred = fn(g, specs, cal_of(gpu))
            out.append(pd.DataFrame({"data": name, "gpu": gpu, "model": g["model"].to_numpy(),
                                     "phase": g["phase"].to_numpy(), "tp": g["n"].to_numpy(int),
                                     "meas_s": g["t_s"].to_numpy(), "pred_s": pred}))
    add(data["kern"], "kernels (Vidur)", predict_kernels, lambda g: terms[g])
    add(data["att"], "attention (Vidur)", predict_attention, lambda g: terms[g])
    e2e = data["e2e"]
    add(e2e, "end-to-end (Splitwise)", predict_e2e, lambda g: {**terms[g], **data["engines"][g]})
    net = data["net"].assign(model="-", phase=data["net"]["kind"], t_s=data["net"]["t_s"])
    add(net, "network (Vidur)", predict_network, lambda g: _cal(data["pcie"] if g == "pcie" else terms[g]))
    p = pd.concat(out, ignore_index=True)
    p["split"] = np.where(p["model"].isin(HELD_OUT_MODELS), "held-out", "in-sample")
    p["err"] = p["pred_s"] / p["meas_s"] - 1.0
    return p


def summarise(p: pd.DataFrame, by) -> pd.DataFrame:
    """Median and p90 of |err|, and the median signed error (bias: < 0 optimistic, > 0 pessimistic)."""
    g = p.groupby(list(by))["err"]
    return pd.DataFrame({"n": g.size(), "median": g.apply(lambda e: np.median(np.abs(e))),
                         "p90": g.apply(lambda e: np.quantile(np.abs(e), 0.9)), "bias": g.median()}).reset_index()


def error_table(data: dict) -> pd.DataFrame:
    """Per data set × split × phase × GPU: n, median |err|, p90 |err|, bias (the test reads this)."""
    return summarise(predictions(data), ("data", "split", "phase", "gpu"))


def group_bias(p: pd.DataFrame) -> pd.DataFrame:
    """Bias per configuration group (data set, model, GPU, TP), the groups the optimism target is about."""
    return summarise(p, ("data", "split", "model", "gpu", "tp"))


def baseline_predictions(vdir: Path, rev: str = BASELINE_REV) -> pd.DataFrame | None:
    """The model before this refit (sloserve at ``rev``) on the same rows, for the before/after table."""
    import baseline  # benchmarks/baseline.py
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('fit_perf', 'benchmarks/fit_perf.py')\n"
        "fp = importlib.util.module_from_spec(spec); sys.modules['fit_perf'] = fp; spec.loader.exec_module(fp)\n"
        f"cal, data = fp.fit_all(__import__('pathlib').Path({str(vdir)!r}))\n"
        "specs, t = data['specs'], data['terms']\n"
        "out = []\n"
        "for name, d, fn in (('kernels (Vidur)', data['kern'], fp.predict_kernels),"
        " ('end-to-end (Splitwise)', data['e2e'], fp.predict_e2e)):\n"
        "    for gpu, g in d.groupby('gpu'):\n"
        "        out.append(pd.DataFrame({'data': name, 'gpu': gpu, 'model': g['model'].to_numpy(),"
        " 'phase': g['phase'].to_numpy(), 'tp': g['n'].to_numpy(int), 'tokens': g['tokens'].to_numpy() if 'tokens' in g"
        " else g['h'].to_numpy(), 'batch': g['batch'].to_numpy() if 'batch' in g else np.nan,"
        " 'meas_s': g['t_s'].to_numpy(), 'pred_s': fn(g, specs, t[gpu])}))\n"
        "pd.concat(out).to_csv(sys.stdout, index=False)\n")
    text = baseline.run(rev, code)
    if text is None:
        return None
    from io import StringIO
    b = pd.read_csv(StringIO(text))
    b["split"] = np.where(b["model"].isin(HELD_OUT_MODELS), "held-out", "in-sample")
    b["err"] = b["pred_s"] / b["meas_s"] - 1.0
    # the baseline labelled kernel rows prefill/decode at 512 tokens; relabel them as this report does
    k = b["data"] == "kernels (Vidur)"
    b.loc[k, "phase"] = np.where(b.loc[k, "tokens"] <= DECODE_MAX_TOKENS, "decode", "prefill")
    return b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--validation-dir", type=Path, default=DEFAULT_VALIDATION)
    ap.add_argument("--write", action="store_true",
                    help=f"write {CALIBRATION_CSV.relative_to(REPO)} and {ENGINE_CSV.relative_to(REPO)}")
    ap.add_argument("--before", nargs="?", const=BASELINE_REV, default=None, metavar="REV",
                    help="also score the model of git revision REV (default: the last one before this refit) "
                         "on the same rows, side by side")
    args = ap.parse_args(argv)
    cal, data = fit_all(args.validation_dir)
    p = predictions(data)
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_colwidth", 48,
                           "display.max_rows", 500):
        print("fitted terms per GPU (source column abbreviated):")
        print(cal.assign(source=cal["source"].str.slice(0, 44)).to_string(index=False))
        print("\nthe 2023 engine behind the Splitwise measurements (benchmarks/data/splitwise_engine_terms.csv):")
        print(data["engine_table"].drop(columns="source").to_string(index=False))
        print(f"\nsplit by model: held out {', '.join(HELD_OUT_MODELS)}; fitted on the others")
        print("\nerror |pred/meas - 1| per data set, split and phase (bias = median signed error; < 0 optimistic):")
        print(summarise(p, ("data", "split", "phase")).to_string(index=False, float_format=fmt))
        print("\nper GPU:")
        print(summarise(p, ("data", "split", "phase", "gpu")).to_string(index=False, float_format=fmt))
        print("\nper TP (kernels and end-to-end):")
        q = p[p["data"].isin(["kernels (Vidur)", "end-to-end (Splitwise)"])]
        print(summarise(q, ("data", "split", "phase", "tp")).to_string(index=False, float_format=fmt))
        gb = group_bias(p[p["data"] != "network (Vidur)"])
        print(f"\nconfiguration groups (data, model, GPU, TP): {len(gb)}; optimistic bias beyond 10%: "
              f"{int((gb['bias'] < -0.10).sum())}; pessimistic beyond 10%: {int((gb['bias'] > 0.10).sum())}")
        worst = gb.sort_values("bias")
        print(pd.concat([worst.head(5), worst.tail(5)]).to_string(index=False, float_format=fmt))
        print("\nbare roofline (every efficiency 1, no latency), for scale:")
        print(summarise_roof(data).to_string(index=False, float_format=fmt))
        if args.before:
            b = baseline_predictions(args.validation_dir, args.before)
            if b is None:
                print(f"\n(--before {args.before}: that revision is not in this checkout's history)")
            else:
                print(f"\nbefore (sloserve at {args.before[:10]}, fitted on all rows) vs after (this fit), same rows:")
                before = summarise(b, ("data", "split", "phase", "gpu")).rename(
                    columns={"median": "before_median", "p90": "before_p90", "bias": "before_bias"})
                after = summarise(q, ("data", "split", "phase", "gpu")).rename(
                    columns={"median": "after_median", "p90": "after_p90", "bias": "after_bias"})
                both = before.drop(columns="n").merge(after, on=["data", "split", "phase", "gpu"], how="outer")
                print(both.to_string(index=False, float_format=fmt))
                before_tp = summarise(b, ("data", "split", "phase", "tp")).rename(
                    columns={"median": "before_median", "p90": "before_p90", "bias": "before_bias"})
                after_tp = summarise(q, ("data", "split", "phase", "tp")).rename(
                    columns={"median": "after_median", "p90": "after_p90", "bias": "after_bias"})
                print(before_tp.drop(columns="n").merge(after_tp, on=["data", "split", "phase", "tp"], how="outer")
                      .to_string(index=False, float_format=fmt))
    if args.write:
        cal.to_csv(CALIBRATION_CSV, index=False)
        ENGINE_CSV.parent.mkdir(parents=True, exist_ok=True)
        data["engine_table"].to_csv(ENGINE_CSV, index=False)
        print(f"\nwrote {CALIBRATION_CSV} and {ENGINE_CSV}")
    return 0


def summarise_roof(data: dict) -> pd.DataFrame:
    roof = _cal({})
    d = {**data, "terms": {g: roof for g in data["terms"]}, "engines": {g: {} for g in data["engines"]}, "pcie": roof}
    return summarise(predictions(d), ("data", "split", "phase"))


if __name__ == "__main__":
    raise SystemExit(main())
