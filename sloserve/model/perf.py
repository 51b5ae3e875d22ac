"""The two-phase performance model (docs/formulation.md §2.1), calibrated per GPU type.

Everything here is a pure function on numpy arrays (broadcasting), with SI units:
seconds, bytes, bytes/s, FLOP, FLOP/s, parameter COUNTS (not billions), tokens.
A configuration is described by a ``spec`` mapping (:func:`spec_from_configs`, :func:`spec_of`) and a GPU
by a ``cal`` mapping (a row of ``sloserve/data/perf_calibration.csv``). ``evaluate`` runs the model over
the whole (query type × configuration) grid in one vectorised pass; the fitter (``benchmarks/fit_perf.py``),
:func:`sloserve.predict_latency`, the tests and notebooks call the same building blocks, so no formula is
written twice. Equations and the calibration are documented in ``docs/perf_model.md``.

One forward pass of a replica (one micro-batch crossing all L layers) costs

    linear GEMMs   max( min(W, T·W_a)/n / (BW·η_w),  2·P_c·(T + T_k) / (n·F·sf·mfu) )
    elementwise    T · L · hidden · e / (BW·η_w)
    attention      pairs · 4·L·d_attn / (n·F·sf·mfu_attn)  +  ctx · κ/n / (BW·η_kv)
    communication  2L all-reduces of T·hidden·2 B  +  (m−1) pipeline hops
    fixed          L·(α_kernel + α_attn)  +  engine host terms

for T tokens in the pass (prompt tokens plus one per decoding sequence). Per-GPU calibration terms:

=========================  ===========================================================================
``mfu_gemm``               fraction of the dense peak FLOP/s large GEMMs reach (Vidur operator profiles)
``gemm_ramp_tokens``       T_k: a pass of T tokens computes as if it had T + T_k (GEMM under-utilisation)
``eta_weights``            fraction of peak HBM bandwidth a weight-streaming GEMM reaches
``kernel_latency_s``       fixed GPU time of one layer's linear, norm and activation kernels (s)
``elementwise_bytes``      HBM bytes per token per layer per hidden unit of the norm, residual and activation
                           kernels (replicated on every TP worker, so TP does not shorten them)
``eta_kv``                 fraction of peak HBM bandwidth the decode attention kernel reaches on the KV cache
``attention_latency_s``    fixed GPU time of one layer's attention kernel (s)
``mfu_attention``          fraction of the dense peak the prefill attention kernel reaches
``allreduce_latency_s``    per-call all-reduce latency (s)
``allreduce_bw_eff``       fraction of interconnect bandwidth a ring all-reduce reaches
``p2p_latency_s``          per-call point-to-point send/recv latency inside a node (s)
``p2p_bw_eff``             fraction of interconnect bandwidth a send/recv reaches
``internode_latency_s``    per-call send/recv latency between nodes (s)
``internode_Bps``          bytes/s of a send/recv between nodes (absolute)
``step_overhead_s``        host time of one pass the engine does not hide (s)
``tp_step_overhead_s``     extra host time per pass per additional TP worker (s)
``seq_overhead_s``         host time per decoding sequence per pass (s)
``prefill_overhead_s``     extra host time of a pass that prefills (s)
=========================  ===========================================================================

The last four are properties of a serving engine, not of a GPU. The shipped values are 0: the planner
models an engine that overlaps its host work with the GPU's (CUDA graphs, asynchronous scheduling), and the
terms fitted to the 2023 engine behind the Splitwise measurements are in
``benchmarks/data/splitwise_engine_terms.csv`` (docs/perf_model.md, "Engines").
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------------
# constants of the model (documented in docs/perf_model.md)
# ---------------------------------------------------------------------------------------------
ACTIVATION_BYTES = 2.0          # bytes per activation value on the wire (bf16)
ALLREDUCES_PER_LAYER = 2        # Megatron TP: one after attention, one after the MLP
EMBEDDING_BYTES = 2.0           # embeddings and LM head stay 16-bit in quantised checkpoints
ACT_RESERVE_FIXED_BYTES = 1.0e9  # per GPU: NCCL buffers, CUDA graphs, allocator slack (inside γ)
ACT_RESERVE_TOKENS = 8192       # tokens of one maximal batched forward pass (vLLM max_num_batched_tokens)
ACT_RESERVE_BYTES_PER_HIDDEN = 24.0  # live activation bytes per token per hidden unit at peak

#: GPU-side terms (hardware and kernels), then the engine's host terms
GPU_COLUMNS = ("mfu_gemm", "gemm_ramp_tokens", "eta_weights", "kernel_latency_s", "elementwise_bytes", "eta_kv", "attention_latency_s",
               "mfu_attention", "allreduce_latency_s", "allreduce_bw_eff", "p2p_latency_s", "p2p_bw_eff",
               "internode_latency_s", "internode_Bps")
ENGINE_COLUMNS = ("step_overhead_s", "tp_step_overhead_s", "seq_overhead_s", "prefill_overhead_s")
CALIBRATION_COLUMNS = GPU_COLUMNS + ENGINE_COLUMNS
#: calibration terms that are fractions of a datasheet peak (0, 1]
FRACTION_COLUMNS = ("mfu_gemm", "eta_weights", "eta_kv", "mfu_attention", "allreduce_bw_eff", "p2p_bw_eff")

ROUTE_COLUMNS = ("query_type", "config", "ttft_s", "tpot_s", "e2e_s", "capacity_rps", "kv_byte_seconds",
                 "design_batch")

#: the keys of a configuration ``spec`` (SI units; arrays broadcast against each other)
SPEC_KEYS = ("weight_bytes", "weight_read_bytes", "active_read_bytes", "compute_params", "kv_bytes_per_token",
             "layers", "hidden_size", "attention_width", "tp", "pp", "peak_flops", "hbm_bandwidth_Bps",
             "interconnect_Bps", "gpus_per_node", "node_gpus", "speed_factor")


# ---------------------------------------------------------------------------------------------
# calibration table
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _packaged_calibration() -> pd.DataFrame:
    with resources.files("sloserve.data").joinpath("perf_calibration.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def load_calibration() -> pd.DataFrame:
    """The packaged per-GPU calibration (one row per GPU id, columns ``gpu``, CALIBRATION_COLUMNS, ``source``)."""
    return _packaged_calibration().copy()


def roofline_calibration(gpus) -> pd.DataFrame:
    """A bare roofline "calibration": every efficiency = 1, no ramp, latency or overhead.

    ``internode_Bps`` is +inf (no inter-node cost); the baseline the fit must beat."""
    gpus = list(gpus)
    d = {"gpu": gpus}
    for c in CALIBRATION_COLUMNS:
        d[c] = np.inf if c == "internode_Bps" else (1.0 if c in FRACTION_COLUMNS else 0.0)
    d["source"] = "bare roofline"
    return pd.DataFrame(d)


def calibration_dict(row) -> dict[str, np.ndarray]:
    """A calibration row (mapping or Series) as ``{column: float array}``; missing engine terms are 0."""
    return {c: np.asarray(row[c] if c in row else 0.0, dtype=float) if c in ENGINE_COLUMNS
            else np.asarray(row[c], dtype=float) for c in CALIBRATION_COLUMNS}


# ---------------------------------------------------------------------------------------------
# memory arithmetic
# ---------------------------------------------------------------------------------------------
def weight_bytes(params, bytes_per_weight, embedding_params=0.0):
    """(P − E)·b_q + E·2  [bytes]: P parameters at b_q bytes each, of which E (embeddings, LM head) stay 16-bit."""
    p = np.asarray(params, dtype=float)
    e = np.asarray(embedding_params, dtype=float)
    return (p - e) * np.asarray(bytes_per_weight, dtype=float) + e * EMBEDDING_BYTES


def embedding_params(vocab_size, hidden_size, tied):
    """(E_all, E_in) [parameters]: 16-bit embedding + LM-head parameters stored, and the input embedding alone
    when it is a separate matrix (untied; it is looked up, never streamed or multiplied), else 0."""
    one = np.asarray(vocab_size, dtype=float) * np.asarray(hidden_size, dtype=float)
    t = np.asarray(tied, dtype=bool)
    return np.where(t, one, 2.0 * one), np.where(t, 0.0, one)


def kv_bytes_per_token(layers, num_kv_heads, head_dim, kv_bytes_per_value, tp=1):
    """κ = 2 (K and V) · L · n_kv_heads · head_dim · b_kv  [bytes per token of context, whole replica].

    When TP exceeds the number of KV heads each GPU still holds one head, so the heads are replicated:
    κ is multiplied by max(1, tp / n_kv_heads)."""
    kvh = np.asarray(num_kv_heads, dtype=float)
    rep = np.maximum(1.0, np.asarray(tp, dtype=float) / kvh)
    return 2.0 * np.asarray(layers, dtype=float) * kvh * np.asarray(head_dim, dtype=float) * \
        np.asarray(kv_bytes_per_value, dtype=float) * rep


def activation_reserve_bytes(hidden_size, tp, pp):
    """Memory kept free for activations of one maximal forward pass plus runtime buffers [bytes, replica].

    n·m·ACT_RESERVE_FIXED_BYTES + m·ACT_RESERVE_TOKENS·hidden·ACT_RESERVE_BYTES_PER_HIDDEN
    (each pipeline stage holds the activations of one layer of its own)."""
    n = np.asarray(tp, dtype=float)
    m = np.asarray(pp, dtype=float)
    return n * m * ACT_RESERVE_FIXED_BYTES + m * ACT_RESERVE_TOKENS * np.asarray(hidden_size, dtype=float) \
        * ACT_RESERVE_BYTES_PER_HIDDEN


def kv_budget_bytes(memory_bytes, tp, pp, weight_bytes_, hidden_size, memory_fraction=0.9):
    """KV_c = n·m·mem·γ − W − activation reserve  [bytes]; ≤ 0 means the configuration does not fit."""
    n = np.asarray(tp, dtype=float)
    m = np.asarray(pp, dtype=float)
    return n * m * np.asarray(memory_bytes, dtype=float) * memory_fraction - np.asarray(weight_bytes_, dtype=float) \
        - activation_reserve_bytes(hidden_size, tp, pp)


# ---------------------------------------------------------------------------------------------
# configuration specs
# ---------------------------------------------------------------------------------------------
def spec_of(*, total_params, active_params, layers, hidden_size, num_kv_heads, head_dim, tp, pp, peak_flops,
            hbm_bandwidth_Bps, interconnect_Bps=0.0, gpus_per_node=8, bytes_per_weight=2.0, kv_bytes_per_value=2.0,
            speed_factor=1.0, num_attention_heads=None, vocab_size=0.0, tied_embeddings=False,
            node_gpus=None) -> dict:
    """A configuration spec from architecture, hardware and precision numbers (SI units, broadcasting).

    ``num_attention_heads`` defaults to hidden/head_dim; ``vocab_size`` 0 treats every parameter as a weight
    at ``bytes_per_weight`` (no 16-bit embedding). ``gpus_per_node`` is the TP limit, ``node_gpus`` the GPUs
    of the instance a replica's stages are packed into (default: gpus_per_node); pipeline hops between
    instances use the inter-node link."""
    heads = np.asarray(hidden_size, dtype=float) / np.asarray(head_dim, dtype=float) \
        if num_attention_heads is None else np.asarray(num_attention_heads, dtype=float)
    e_all, e_in = embedding_params(vocab_size, hidden_size, tied_embeddings)
    P, Pa = np.asarray(total_params, dtype=float), np.asarray(active_params, dtype=float)
    return {
        "weight_bytes": weight_bytes(P, bytes_per_weight, e_all),
        "weight_read_bytes": weight_bytes(P - e_in, bytes_per_weight, e_all - e_in),
        "active_read_bytes": weight_bytes(Pa - e_in, bytes_per_weight, e_all - e_in),
        "compute_params": Pa - e_in,
        "kv_bytes_per_token": kv_bytes_per_token(layers, num_kv_heads, head_dim, kv_bytes_per_value, tp),
        "layers": np.asarray(layers, dtype=float), "hidden_size": np.asarray(hidden_size, dtype=float),
        "attention_width": heads * np.asarray(head_dim, dtype=float),
        "tp": np.asarray(tp, dtype=float), "pp": np.asarray(pp, dtype=float),
        "peak_flops": np.asarray(peak_flops, dtype=float), "hbm_bandwidth_Bps": np.asarray(hbm_bandwidth_Bps, dtype=float),
        "interconnect_Bps": np.asarray(interconnect_Bps, dtype=float),
        "gpus_per_node": np.asarray(gpus_per_node, dtype=float),
        "node_gpus": np.asarray(gpus_per_node if node_gpus is None else node_gpus, dtype=float),
        "speed_factor": np.asarray(speed_factor, dtype=float),
    }


def spec_from_configs(c: pd.DataFrame) -> dict:
    """The spec of every row of a configuration frame as built by ``compile.candidate_configs``."""
    f64 = lambda col: c[col].to_numpy(dtype=float)  # noqa: E731
    opt = lambda col, default: c[col].to_numpy(dtype=float) if col in c else np.full(len(c), default)  # noqa: E731
    tied = c["tie_word_embeddings"].to_numpy(dtype=bool) if "tie_word_embeddings" in c else np.zeros(len(c), bool)
    return spec_of(total_params=f64("total_params"), active_params=f64("active_params"), layers=f64("layers"),
                   hidden_size=f64("hidden_size"), num_kv_heads=f64("num_kv_heads"), head_dim=f64("head_dim"),
                   tp=f64("tp"), pp=f64("pp"), peak_flops=f64("peak_flops"), hbm_bandwidth_Bps=f64("hbm_bandwidth_Bps"),
                   interconnect_Bps=f64("interconnect_Bps"), gpus_per_node=f64("gpus_per_node"),
                   bytes_per_weight=f64("bytes_per_weight"), kv_bytes_per_value=f64("kv_bytes_per_value"),
                   speed_factor=opt("speed_factor", 1.0),
                   num_attention_heads=c["num_attention_heads"].to_numpy(dtype=float) if "num_attention_heads" in c
                   else None, vocab_size=opt("vocab_size", 0.0), tied_embeddings=tied,
                   node_gpus=np.where(np.isnan(opt("instance_gpus", np.nan)), f64("gpus_per_node"),
                                      opt("instance_gpus", np.nan)))


def _take(d: dict, idx) -> dict:
    """Every array of a spec or calibration mapping, broadcast to ``idx``'s shape and indexed by it."""
    return {k: np.asarray(v, dtype=float)[idx] if np.ndim(v) else np.asarray(v, dtype=float) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# time building blocks
# ---------------------------------------------------------------------------------------------
def compute_time_s(flop, tp, peak_flops, mfu, speed_factor=1.0):
    """flop / (n · F · speed_factor · mfu)  [s]; FLOP split evenly over n tensor-parallel GPUs."""
    return np.asarray(flop, dtype=float) / (np.asarray(tp, dtype=float) * np.asarray(peak_flops, dtype=float)
                                            * np.asarray(speed_factor, dtype=float) * np.asarray(mfu, dtype=float))


def memory_time_s(bytes_per_gpu, hbm_bandwidth_Bps, eta):
    """bytes / (BW · η)  [s]: time to stream ``bytes_per_gpu`` from HBM on one GPU."""
    return np.asarray(bytes_per_gpu, dtype=float) / (np.asarray(hbm_bandwidth_Bps, dtype=float)
                                                     * np.asarray(eta, dtype=float))


def allreduce_time_s(nbytes, tp, interconnect_Bps, latency_s, bw_eff):
    """One ring all-reduce of ``nbytes`` over n GPUs [s]: latency + 2(n−1)/n · bytes / (I · eff); 0 when n = 1."""
    n = np.asarray(tp, dtype=float)
    t = np.asarray(latency_s, dtype=float) + 2.0 * (n - 1.0) / n * np.asarray(nbytes, dtype=float) / (
        np.asarray(interconnect_Bps, dtype=float) * np.asarray(bw_eff, dtype=float))
    return np.where(n > 1, t, 0.0)


def p2p_time_s(nbytes, bandwidth_Bps, latency_s):
    """One point-to-point send/recv of ``nbytes`` [s]: latency + bytes / bandwidth (bandwidth already effective)."""
    return np.asarray(latency_s, dtype=float) + np.asarray(nbytes, dtype=float) / np.asarray(bandwidth_Bps, dtype=float)


def pipeline_hops_s(nbytes, tp, pp, gpus_per_node, interconnect_Bps, p2p_latency_s, p2p_bw_eff,
                    internode_latency_s, internode_Bps):
    """Time of the (m−1) activation hand-offs between pipeline stages of one token pass [s].

    Stages are packed into nodes; ceil(n·m / gpus_per_node) − 1 hops cross a node boundary (inter-node
    link), the rest stay on the intra-node interconnect."""
    n = np.asarray(tp, dtype=float)
    m = np.asarray(pp, dtype=float)
    nodes = np.ceil(n * m / np.asarray(gpus_per_node, dtype=float))
    inter = np.minimum(nodes - 1.0, m - 1.0)
    intra = (m - 1.0) - inter
    t_intra = p2p_time_s(nbytes, np.asarray(interconnect_Bps, dtype=float) * np.asarray(p2p_bw_eff, dtype=float),
                         p2p_latency_s)
    t_inter = p2p_time_s(nbytes, internode_Bps, internode_latency_s)
    return intra * t_intra + inter * t_inter


def prefill_flop(input_tokens, active_params, layers, hidden_size, batch=1):
    """FLOP of prefilling ``batch`` prompts of h tokens: batch · (2·P_active·h + 2·L·h²·hidden)  [FLOP].

    The second term is causal self-attention (QKᵀ and PV over h²/2 pairs, 4·hidden FLOP each)."""
    h = np.asarray(input_tokens, dtype=float)
    return np.asarray(batch, dtype=float) * (2.0 * np.asarray(active_params, dtype=float) * h
                                             + 2.0 * np.asarray(layers, dtype=float) * h * h
                                             * np.asarray(hidden_size, dtype=float))


def linear_memory_s(tokens, spec, cal):
    """Weight traffic of one pass of T tokens: min(W, T·W_active)/n / (BW·η_w)  [s] (0 for an empty pass).

    min() is a mixture-of-experts model's: a pass touches at most the experts its tokens route to; for a
    dense model W_active = W and the pass reads every weight once."""
    T = np.asarray(tokens, dtype=float)
    w = np.minimum(spec["weight_read_bytes"], T * spec["active_read_bytes"])
    return np.where(T > 0, memory_time_s(w / spec["tp"], spec["hbm_bandwidth_Bps"], cal["eta_weights"]), 0.0)


def linear_compute_s(tokens, spec, cal):
    """GEMM time of one pass of T tokens: 2·P_c·(T + T_k) / (n·F·sf·mfu)  [s] (0 for an empty pass).

    T_k (``gemm_ramp_tokens``) is the under-utilisation of skinny GEMMs: small passes run below mfu."""
    T = np.asarray(tokens, dtype=float)
    t = compute_time_s(2.0 * spec["compute_params"] * (T + cal["gemm_ramp_tokens"]), spec["tp"], spec["peak_flops"],
                       cal["mfu_gemm"], spec["speed_factor"])
    return np.where(T > 0, t, 0.0)


def linear_time_s(tokens, spec, cal):
    """The linear layers of one pass of T tokens: max(weight traffic, GEMM time)  [s].

    The max is the weight-streaming floor: no pass, however few tokens, is faster than reading its weights."""
    return np.maximum(linear_memory_s(tokens, spec, cal), linear_compute_s(tokens, spec, cal))


def elementwise_s(tokens, spec, cal):
    """Norm, residual and activation kernels of one pass of T tokens: T·L·hidden·e / (BW·η_w)  [s].

    Memory-bound elementwise traffic on hidden-sized vectors; every TP worker does it in full."""
    return memory_time_s(np.asarray(tokens, dtype=float) * spec["layers"] * spec["hidden_size"]
                         * cal["elementwise_bytes"], spec["hbm_bandwidth_Bps"], cal["eta_weights"])


def attention_compute_s(pairs, spec, cal):
    """Prefill attention over ``pairs`` (query token, earlier token) pairs: pairs · 4·L·d_attn / (n·F·sf·mfu_attn)."""
    return compute_time_s(np.asarray(pairs, dtype=float) * 4.0 * spec["layers"] * spec["attention_width"], spec["tp"],
                          spec["peak_flops"], cal["mfu_attention"], spec["speed_factor"])


def kv_read_s(context_tokens, spec, cal):
    """Decode attention reading ``context_tokens`` tokens of KV cache: tokens · κ/n / (BW·η_kv)  [s]."""
    return memory_time_s(np.asarray(context_tokens, dtype=float) * spec["kv_bytes_per_token"] / spec["tp"],
                         spec["hbm_bandwidth_Bps"], cal["eta_kv"])


def comm_s(tokens, spec, cal):
    """TP all-reduces (2 per layer) + pipeline hops for one micro-batch pass carrying ``tokens`` tokens [s]."""
    nbytes = np.asarray(tokens, dtype=float) * spec["hidden_size"] * ACTIVATION_BYTES
    ar = ALLREDUCES_PER_LAYER * spec["layers"] * allreduce_time_s(
        nbytes, spec["tp"], spec["interconnect_Bps"], cal["allreduce_latency_s"], cal["allreduce_bw_eff"])
    hops = pipeline_hops_s(nbytes, spec["tp"], spec["pp"], spec["node_gpus"], spec["interconnect_Bps"],
                           cal["p2p_latency_s"], cal["p2p_bw_eff"], cal["internode_latency_s"], cal["internode_Bps"])
    return ar + hops


def pass_overhead_s(spec, cal, decode_seqs=0.0, prefill=False):
    """Fixed time of one pass [s]: L·(kernel + attention latency) on the GPU, plus the engine's host terms
    step + (n−1)·per-TP-worker + per decoding sequence + (a pass that prefills) prefill overhead."""
    gpu = spec["layers"] * (np.asarray(cal["kernel_latency_s"], dtype=float) + cal["attention_latency_s"])
    host = np.asarray(cal["step_overhead_s"], dtype=float) + (spec["tp"] - 1.0) * cal["tp_step_overhead_s"] \
        + np.asarray(decode_seqs, dtype=float) * cal["seq_overhead_s"]
    return gpu + host + np.where(np.asarray(prefill, dtype=bool), cal["prefill_overhead_s"], 0.0)


def micro_batch(batch, pp):
    """Sequences per pipeline micro-batch: max(b/m, 1)."""
    return np.maximum(np.asarray(batch, dtype=float) / np.asarray(pp, dtype=float), 1.0)


def prefill_time_s(input_tokens, spec, cal, batch=1):
    """One pass prefilling ``batch`` prompts of h tokens together [s] (batch = 1: a lone request's TTFT).

    linear(b·h) + elementwise(b·h) + attention over b·h²/2 pairs + communication of b·h tokens + fixed terms. PP does not shorten
    one pass: the prompts cross every stage, one after another."""
    h = np.asarray(input_tokens, dtype=float)
    b = np.asarray(batch, dtype=float)
    T = b * h
    return linear_time_s(T, spec, cal) + elementwise_s(T, spec, cal) + attention_compute_s(b * h * h / 2.0, spec, cal) \
        + comm_s(T, spec, cal) + pass_overhead_s(spec, cal, 0.0, True)


def decode_step_s(batch, ctx, spec, cal):
    """τ(b): one decode iteration of b sequences of mean context ctx, nothing else in the pass [s].

    With b_mb = max(b/m, 1) sequences per micro-batch (PP keeps m micro-batches in flight; with fewer than m
    sequences a token still crosses every stage with one sequence):
    linear(b_mb) + elementwise(b_mb) + KV read of b_mb·ctx tokens + communication of b_mb tokens + fixed terms."""
    bmb = micro_batch(batch, spec["pp"])
    return linear_time_s(bmb, spec, cal) + elementwise_s(bmb, spec, cal) \
        + kv_read_s(bmb * np.asarray(ctx, dtype=float), spec, cal) + comm_s(bmb, spec, cal) \
        + pass_overhead_s(spec, cal, batch, False)


def loaded_step_s(batch, input_tokens, output_tokens, spec, cal):
    """One iteration of a replica in steady state with b sequences decoding and chunked prefill [s].

    Every request of h prompt and f output tokens spends f iterations decoding, so each iteration also
    prefills h/f prompt tokens per decoding sequence (b_mb·h/f per micro-batch, with their h²/(2f) attention
    pairs) in the same pass (vLLM/SGLang chunked prefill, TensorRT-LLM in-flight batching). This is the
    time between two output tokens under load (prefill–decode interference included) and the planner's
    TPOT; a replica completes b/f requests per iteration."""
    h = np.asarray(input_tokens, dtype=float)
    f = np.asarray(output_tokens, dtype=float)
    bmb = micro_batch(batch, spec["pp"])
    p = bmb * h / f
    T = bmb + p
    return linear_time_s(T, spec, cal) + elementwise_s(T, spec, cal) \
        + attention_compute_s(bmb * h * h / (2.0 * f), spec, cal) + kv_read_s(bmb * (h + f / 2.0), spec, cal) \
        + comm_s(T, spec, cal) + pass_overhead_s(spec, cal, batch, h > 0)


# ---------------------------------------------------------------------------------------------
# closed form of the loaded iteration in the batch, and the design batch
# ---------------------------------------------------------------------------------------------
#: for b ≥ m, loaded_step_s(b) = max(min(M0, Ma·b), Cc·b + C0) + Mk·b + c0
COEFFICIENTS = ("M0", "Ma", "Cc", "C0", "Mk", "c0")


def step_coefficients(input_tokens, output_tokens, spec, cal) -> dict[str, np.ndarray]:
    """The six coefficients of :func:`loaded_step_s` as a function of b (for b ≥ m) [s, s/sequence].

    Obtained by evaluating the building blocks themselves with unit inputs (one sequence per micro-batch
    carries r = 1 + h/f tokens), so the closed form cannot drift from the model. Below b = m the step is
    flat at its value at b = m (``micro_batch``)."""
    h = np.asarray(input_tokens, dtype=float)
    f = np.asarray(output_tokens, dtype=float)
    m = spec["pp"]
    r = (1.0 + h / f) / m  # tokens per micro-batch per decoding sequence
    zero = np.zeros_like(r)
    inf = {**spec, "weight_read_bytes": np.inf}
    C0 = compute_time_s(2.0 * spec["compute_params"] * cal["gemm_ramp_tokens"], spec["tp"], spec["peak_flops"],
                        cal["mfu_gemm"], spec["speed_factor"])
    return {
        "M0": memory_time_s(spec["weight_read_bytes"] / spec["tp"], spec["hbm_bandwidth_Bps"], cal["eta_weights"])
        + zero,
        "Ma": linear_memory_s(r, inf, cal),
        "Cc": linear_compute_s(r, spec, cal) - C0,
        "C0": C0 + zero,
        "Mk": kv_read_s((h + f / 2.0) / m, spec, cal) + attention_compute_s(h * h / (2.0 * f) / m, spec, cal)
        + elementwise_s(r, spec, cal) + comm_s(r, spec, cal) - comm_s(zero, spec, cal)
        + np.asarray(cal["seq_overhead_s"], dtype=float),
        "c0": comm_s(zero, spec, cal) + pass_overhead_s(spec, cal, 0.0, h > 0),
    }


def step_from_coefficients(batch, coef):
    """max(min(M0, Ma·b), Cc·b + C0) + Mk·b + c0 (valid for b ≥ m)."""
    b = np.asarray(batch, dtype=float)
    return np.maximum(np.minimum(coef["M0"], coef["Ma"] * b), coef["Cc"] * b + coef["C0"]) + coef["Mk"] * b + coef["c0"]


def max_batch_under(limit_s, coef, pp=1):
    """Largest real b with the loaded step ≤ limit (coefficients of :func:`step_coefficients`); −inf if none ≥ m.

    memory branch: min(M0, Ma·b) + Mk·b ≤ X  ⇔  b ≤ X/(Ma+Mk)  or  b ≤ (X−M0)/Mk      (X = limit − c0)
    compute branch: Cc·b + C0 + Mk·b ≤ X   ⇔  b ≤ (X−C0)/(Cc+Mk)
    Below b = m the step time is flat, so a limit below the step at b = m admits no batch at all."""
    X = np.asarray(limit_s, dtype=float) - coef["c0"]
    with np.errstate(divide="ignore", invalid="ignore"):
        b1 = _safe_div(X, coef["Ma"] + coef["Mk"])
        b2 = _safe_div(X - coef["M0"], coef["Mk"])
        b3 = _safe_div(X - coef["C0"], coef["Cc"] + coef["Mk"])
    b = np.minimum(np.maximum(b1, b2), b3)
    return np.where(b >= np.asarray(pp, dtype=float), b, -np.inf)


def _safe_div(num, den):
    """num/den with den == 0 meaning "no limit" (+inf if num ≥ 0, −inf otherwise)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num >= 0, np.inf, -np.inf))
    return np.where(np.isnan(num), np.inf, out)


def design_batch(kv_budget, seq_tokens, kv_per_token, b_tpot, b_e2e, max_batch=256):
    """b* = floor(min(KV_c / ((h+f)·κ), b_tpot, b_e2e, max_batch)); values < 1 mean "no route"  [sequences]."""
    b_kv = np.asarray(kv_budget, dtype=float) / (np.asarray(seq_tokens, dtype=float) * np.asarray(kv_per_token, dtype=float))
    b = np.minimum(np.minimum(b_kv, b_tpot), np.minimum(b_e2e, float(max_batch)))
    return np.floor(np.where(np.isnan(b), -1.0, b))


def capacity_rps(batch, output_tokens, loaded_step):
    """μ = b / (f · τ_load(b)): requests per second of one replica with b sequences decoding [requests/s]."""
    return np.asarray(batch, dtype=float) / (np.asarray(output_tokens, dtype=float) * np.asarray(loaded_step, dtype=float))


# ---------------------------------------------------------------------------------------------
# the grid
# ---------------------------------------------------------------------------------------------
def calibration_for(gpus, calibration: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """The calibration terms of each GPU id in ``gpus`` (one array per column, in order)."""
    gpus = np.asarray(gpus, dtype=object)
    cal = load_calibration() if calibration is None else calibration
    cal = cal.drop_duplicates("gpu", keep="last").set_index("gpu")
    missing = sorted(set(gpus) - set(cal.index))
    if missing:
        raise ValueError(f"perf calibration has no row for GPU(s) {missing}; known: {sorted(cal.index)}")
    idx = cal.index.get_indexer(gpus)
    return {c: (cal[c].to_numpy(dtype=float)[idx] if c in cal else np.zeros(len(gpus))) for c in CALIBRATION_COLUMNS}


def evaluate(configs: pd.DataFrame, query_types: pd.DataFrame, *, memory_fraction: float = 0.9,
             max_batch: int = 256, slo_mode: str = "per_route", calibration: pd.DataFrame | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the performance model over the (query type × configuration) grid (vectorised, no route loop).

    Returns ``(configs_out, routes)``: ``configs_out`` = ``configs`` plus ``weight_bytes``,
    ``kv_bytes_per_token``, ``kv_bytes``, ``feasible``, ``infeasible_reason``; ``routes`` = one row per
    route (i, c) with c feasible and a design batch b* ≥ 1 meeting every SLO, columns ROUTE_COLUMNS
    (seconds, requests/s, byte·seconds, sequences)."""
    if slo_mode not in ("per_route", "mean"):
        raise ValueError(f"slo_mode must be 'per_route' or 'mean', got {slo_mode!r}")
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    c = configs.reset_index(drop=True)
    spec = spec_from_configs(c)
    n, m = spec["tp"], spec["pp"]
    kv = kv_budget_bytes(c["memory_bytes"].to_numpy(dtype=float), n, m, spec["weight_bytes"], spec["hidden_size"],
                         memory_fraction)
    gpn = spec["gpus_per_node"]
    reasons = np.full(len(c), "", dtype=object)
    checks = [
        (m > spec["layers"], "pp exceeds the number of layers"),
        (n > gpn, "tp exceeds gpus per node"),
        ((n < 1) | (m < 1), "tp and pp must be >= 1"),
        (kv <= 0, "weights and activations exceed memory"),
    ]
    for bad, why in checks:
        reasons = np.where(bad & (reasons == ""), why, reasons)
    feasible = reasons == ""
    out = c.copy()
    out["weight_bytes"] = spec["weight_bytes"]
    out["kv_bytes_per_token"] = spec["kv_bytes_per_token"]
    out["kv_bytes"] = kv
    out["feasible"] = feasible
    out["infeasible_reason"] = reasons.astype(str)

    fidx = np.nonzero(feasible)[0]
    fc = c.loc[feasible].reset_index(drop=True)
    routes = _routes(fc, _take(spec, fidx), kv[fidx], query_types, max_batch=max_batch, slo_mode=slo_mode,
                     calibration=calibration)
    return out, routes


def _routes(fc: pd.DataFrame, spec: dict, kv, query_types: pd.DataFrame, *, max_batch: int, slo_mode: str,
            calibration: pd.DataFrame | None) -> pd.DataFrame:
    q = query_types.reset_index(drop=True)
    if len(fc) == 0 or len(q) == 0:
        return pd.DataFrame({col: pd.Series(dtype=float) for col in ROUTE_COLUMNS}).astype(
            {"query_type": object, "config": object, "design_batch": np.int64})
    col = lambda a: np.asarray(a, dtype=float)[None, :]  # noqa: E731  configs along axis 1
    row = lambda name: q[name].to_numpy(dtype=float)[:, None]  # noqa: E731  query types along axis 0
    cal = {k: col(v) for k, v in calibration_for(fc["gpu"].to_numpy(dtype=object), calibration).items()}
    sp = {k: col(v) for k, v in spec.items()}
    kv = col(kv)
    h, f = row("input_tokens"), row("output_tokens")
    ttft_slo, tpot_slo, e2e_slo = row("ttft_slo_s"), row("tpot_slo_s"), row("e2e_slo_s")
    m = sp["pp"]

    t_pre = prefill_time_s(h, sp, cal)
    coef = step_coefficients(h, f, sp, cal)
    b_tpot = np.where(np.isnan(tpot_slo), np.inf, max_batch_under(np.where(np.isnan(tpot_slo), 0.0, tpot_slo), coef,
                                                                  pp=m))
    if slo_mode == "per_route":
        with np.errstate(divide="ignore", invalid="ignore"):
            lim = (e2e_slo - t_pre) / f
        b_e2e = np.where(np.isnan(e2e_slo), np.inf, max_batch_under(np.nan_to_num(lim, nan=0.0), coef, pp=m))
    else:
        b_e2e = np.inf
    b = design_batch(kv, h + f, sp["kv_bytes_per_token"], b_tpot, b_e2e, max_batch)
    ok = (b >= 1) & ~(t_pre > ttft_slo)  # NaN SLO compares False: no TTFT limit
    qi, ci = np.nonzero(ok)
    bs = b[qi, ci]
    shape = ok.shape
    take = lambda a: np.broadcast_to(a, shape)[qi, ci]  # noqa: E731
    sp_r = {k: take(v) for k, v in sp.items()}
    cal_r = {k: take(v) for k, v in cal.items()}
    fo, ho = take(f), take(h)
    tau = loaded_step_s(bs, ho, fo, sp_r, cal_r)
    ttft = take(t_pre)
    e2e = ttft + fo * tau
    omega = e2e * (ho + fo / 2.0) * sp_r["kv_bytes_per_token"]
    return pd.DataFrame({
        "query_type": q["query_type"].to_numpy(dtype=object)[qi],
        "config": fc["config"].to_numpy(dtype=object)[ci],
        "ttft_s": ttft, "tpot_s": tau, "e2e_s": e2e, "capacity_rps": capacity_rps(bs, fo, tau),
        "kv_byte_seconds": omega, "design_batch": bs.astype(np.int64),
    })


# ---------------------------------------------------------------------------------------------
# step-time coefficients: the interchange a request-level simulator reads (config_perf table)
# ---------------------------------------------------------------------------------------------
#: columns of the ``config_perf`` table, in order (units in docs/formulation.md §2)
STEP_COLUMNS = ("weight_read_s", "active_weight_read_s", "kv_read_s_per_token", "decode_compute_s_per_seq",
                "prefill_compute_s_per_token", "compute_offset_s", "elementwise_s_per_token",
                "attention_compute_s_per_pair", "comm_s_per_pass",
                "comm_s_per_token", "step_overhead_s", "seq_overhead_s", "prefill_overhead_s")


def step_table(configs: pd.DataFrame, calibration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per configuration, the coefficients of one engine iteration [s, s/unit] (the ``config_perf`` table).

    Obtained by evaluating this module's own building blocks with unit inputs, so that
    :mod:`sloserve.problem.steptime` reproduces :func:`prefill_time_s`, :func:`decode_step_s` and
    :func:`loaded_step_s` from the table alone (a test checks every route's TTFT and TPOT):

    - ``weight_read_s``: streaming every weight once (W/n at BW·η_w), a pass's weight-traffic floor;
    - ``active_weight_read_s``: the active weights one token touches (MoE), per token in the pass;
    - ``kv_read_s_per_token``: reading one token of KV cache (κ/n at BW·η_kv);
    - ``decode_compute_s_per_seq``, ``prefill_compute_s_per_token``: 2·P_c FLOP per token at mfu_gemm;
    - ``compute_offset_s``: the GEMM ramp, 2·P_c·T_k FLOP at mfu_gemm, added to a pass's GEMM time;
    - ``elementwise_s_per_token``: norm, residual and activation traffic of one token through L layers;
    - ``attention_compute_s_per_pair``: 4·L·d_attn FLOP per (query token, earlier token) pair at mfu_attention
      (a prompt of h tokens has h²/2 pairs);
    - ``comm_s_per_pass``, ``comm_s_per_token``: TP all-reduces and PP hand-offs of one pass (latency, and
      per token carried);
    - ``step_overhead_s``: fixed time of a pass (kernel and attention latencies of L layers, engine host terms);
    - ``seq_overhead_s``: engine host time per decoding sequence per pass;
    - ``prefill_overhead_s``: extra fixed time of a pass that prefills.
    """
    c = configs.reset_index(drop=True)
    spec = spec_from_configs(c)
    cal = calibration_for(c["gpu"].to_numpy(dtype=object), calibration)
    zero, one = np.zeros(len(c)), np.ones(len(c))
    one_mb = {**spec, "pp": one}  # per-token terms of one micro-batch
    c_tok = linear_compute_s(one, spec, cal) - linear_compute_s(1e-300 * one, spec, cal)
    comm0 = comm_s(zero, spec, cal)
    return pd.DataFrame({
        "config": c["config"].to_numpy(dtype=object),
        "weight_read_s": linear_memory_s(np.inf * one, one_mb, cal),
        "active_weight_read_s": linear_memory_s(one, {**one_mb, "weight_read_bytes": np.inf}, cal),
        "kv_read_s_per_token": kv_read_s(one, spec, cal),
        "decode_compute_s_per_seq": c_tok,
        "prefill_compute_s_per_token": c_tok,
        "compute_offset_s": linear_compute_s(1e-300 * one, spec, cal),
        "elementwise_s_per_token": elementwise_s(one, spec, cal),
        "attention_compute_s_per_pair": attention_compute_s(one, spec, cal),
        "comm_s_per_pass": comm0,
        "comm_s_per_token": comm_s(one, spec, cal) - comm0,
        "step_overhead_s": pass_overhead_s(spec, cal, 0.0, False),
        "seq_overhead_s": np.asarray(cal["seq_overhead_s"], dtype=float) + zero,
        "prefill_overhead_s": np.asarray(cal["prefill_overhead_s"], dtype=float) + zero,
    })
