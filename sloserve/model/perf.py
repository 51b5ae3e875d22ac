"""The two-phase performance model (docs/formulation.md §2.1), calibrated per GPU type.

Everything here is a pure function on numpy arrays (broadcasting), with SI units:
seconds, bytes, bytes/s, FLOP, FLOP/s, parameter COUNTS (not billions), tokens.
``evaluate`` runs the model over the whole (query type × configuration) grid in one
vectorised pass; the fitter (``benchmarks/fit_perf.py``), the tests and notebooks call the
same building blocks, so no formula is written twice. Equations and the calibration are
documented in ``docs/perf_model.md``.

Per-GPU calibration terms (``sloserve/data/perf_calibration.csv``, fitted by
``benchmarks/fit_perf.py``):

==========================  =========================================================
``mfu_prefill``             fraction of peak FLOP/s reached by prefill (large GEMMs)
``mfu_decode``              fraction of peak FLOP/s reached by decode (skinny GEMMs)
``eta_decode``              fraction of peak HBM bandwidth reached by decode
``step_overhead_s``         fixed host/launch time of one forward pass (s)
``tp_step_overhead_s``      extra per forward pass per additional TP worker (s)
``prefill_overhead_s``      extra fixed time of a prefill pass (s)
``allreduce_latency_s``     per-call all-reduce latency (s)
``allreduce_bw_eff``        fraction of interconnect bandwidth a ring all-reduce reaches
``p2p_latency_s``           per-call point-to-point send/recv latency inside a node (s)
``p2p_bw_eff``              fraction of interconnect bandwidth a send/recv reaches
``internode_latency_s``     per-call send/recv latency between nodes (s)
``internode_Bps``           bytes/s of a send/recv between nodes (absolute)
==========================  =========================================================
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
ACT_RESERVE_FIXED_BYTES = 1.0e9  # per GPU: NCCL buffers, CUDA graphs, allocator slack (inside γ)
ACT_RESERVE_TOKENS = 8192       # tokens of one maximal batched forward pass (vLLM max_num_batched_tokens)
ACT_RESERVE_BYTES_PER_HIDDEN = 24.0  # live activation bytes per token per hidden unit at peak

CALIBRATION_COLUMNS = (
    "mfu_prefill", "mfu_decode", "eta_decode", "step_overhead_s", "tp_step_overhead_s", "prefill_overhead_s",
    "allreduce_latency_s", "allreduce_bw_eff", "p2p_latency_s", "p2p_bw_eff", "internode_latency_s", "internode_Bps",
)

ROUTE_COLUMNS = ("query_type", "config", "ttft_s", "tpot_s", "e2e_s", "capacity_rps", "kv_byte_seconds",
                 "design_batch")


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
    """A bare roofline "calibration": mfu = eta = every efficiency = 1, no latency or overhead.

    ``internode_Bps`` is set to +inf (no inter-node cost); used as the baseline the fit must beat."""
    gpus = list(gpus)
    d = {"gpu": gpus}
    for c in CALIBRATION_COLUMNS:
        d[c] = np.inf if c == "internode_Bps" else (1.0 if c in ("mfu_prefill", "mfu_decode", "eta_decode",
                                                                   "allreduce_bw_eff", "p2p_bw_eff") else 0.0)
    d["source"] = "bare roofline"
    return pd.DataFrame(d)


# ---------------------------------------------------------------------------------------------
# memory arithmetic
# ---------------------------------------------------------------------------------------------
def weight_bytes(total_params, bytes_per_weight):
    """W = P_total · b_q  [bytes]; P_total a parameter count, b_q bytes per weight (2 / 1 / 0.5)."""
    return np.asarray(total_params, dtype=float) * np.asarray(bytes_per_weight, dtype=float)


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


def step_overhead_total_s(tp, step_overhead_s, tp_step_overhead_s):
    """Fixed framework time of one forward pass [s]: step_overhead + (n−1)·tp_step_overhead."""
    return np.asarray(step_overhead_s, dtype=float) + (np.asarray(tp, dtype=float) - 1.0) * \
        np.asarray(tp_step_overhead_s, dtype=float)


def prefill_flop(input_tokens, active_params, layers, hidden_size, batch=1):
    """FLOP of prefilling ``batch`` prompts of h tokens: batch · (2·P_active·h + 2·L·h²·hidden)  [FLOP].

    The second term is causal self-attention (QKᵀ and PV, half the h×h matrix each)."""
    h = np.asarray(input_tokens, dtype=float)
    return np.asarray(batch, dtype=float) * (2.0 * np.asarray(active_params, dtype=float) * h
                                             + 2.0 * np.asarray(layers, dtype=float) * h * h
                                             * np.asarray(hidden_size, dtype=float))


def _comm_per_pass_s(tokens, layers, hidden_size, tp, pp, gpus_per_node, interconnect_Bps, cal):
    """TP all-reduces (2 per layer) + pipeline hops for one pass of ``tokens`` tokens per micro-batch [s]."""
    nbytes = np.asarray(tokens, dtype=float) * np.asarray(hidden_size, dtype=float) * ACTIVATION_BYTES
    ar = ALLREDUCES_PER_LAYER * np.asarray(layers, dtype=float) * allreduce_time_s(
        nbytes, tp, interconnect_Bps, cal["allreduce_latency_s"], cal["allreduce_bw_eff"])
    hops = pipeline_hops_s(nbytes, tp, pp, gpus_per_node, interconnect_Bps, cal["p2p_latency_s"], cal["p2p_bw_eff"],
                           cal["internode_latency_s"], cal["internode_Bps"])
    return ar + hops


def prefill_time_s(input_tokens, active_params, layers, hidden_size, tp, pp, peak_flops, interconnect_Bps,
                   gpus_per_node, cal, speed_factor=1.0, batch=1):
    """T_pre: time to first token for ``batch`` prompts of h tokens prefilled together [s].

    T_pre = prefill_flop / (n·F·sf·mfu_prefill) + 2L all-reduces of batch·h·hidden·2 bytes
            + (m−1) stage hops + step overhead(n) + prefill_overhead.
    ``cal`` maps calibration column names to arrays (broadcast against the other arguments).
    PP does not shorten one request's prefill: all L layers still run, one stage after another."""
    flop = prefill_flop(input_tokens, active_params, layers, hidden_size, batch)
    t = compute_time_s(flop, tp, peak_flops, cal["mfu_prefill"], speed_factor)
    tokens = np.asarray(batch, dtype=float) * np.asarray(input_tokens, dtype=float)
    t = t + _comm_per_pass_s(tokens, layers, hidden_size, tp, pp, gpus_per_node, interconnect_Bps, cal)
    return t + step_overhead_total_s(tp, cal["step_overhead_s"], cal["tp_step_overhead_s"]) + \
        np.asarray(cal["prefill_overhead_s"], dtype=float)


def micro_batch(batch, pp):
    """Sequences per pipeline micro-batch: max(b/m, 1)."""
    return np.maximum(np.asarray(batch, dtype=float) / np.asarray(pp, dtype=float), 1.0)


def decode_roofline_s(batch, ctx, weight_bytes_, active_weight_bytes, kv_per_token, active_params, tp, pp,
                      peak_flops, hbm_bandwidth_Bps, eta, mfu, speed_factor=1.0):
    """Roofline part of one decode step (kernels only, no communication or overhead) [s].

    With b_mb = max(b/m, 1) sequences per micro-batch (PP keeps m micro-batches in flight; with fewer
    than m sequences a token still crosses every stage with one sequence):
      memory  = (min(W, b_mb·W_active) + b_mb·ctx·κ) / n / (BW·η)
      compute = 2·P_active·b_mb / (n·F·sf·mfu)
    and the step is max(memory, compute). min(W, b_mb·W_active) is the weight traffic of a MoE model
    (a step touches at most the experts its tokens route to); it equals W for a dense model."""
    bmb = micro_batch(batch, pp)
    n = np.asarray(tp, dtype=float)
    wread = np.minimum(np.asarray(weight_bytes_, dtype=float), bmb * np.asarray(active_weight_bytes, dtype=float))
    mem = memory_time_s((wread + bmb * np.asarray(ctx, dtype=float) * np.asarray(kv_per_token, dtype=float)) / n,
                        hbm_bandwidth_Bps, eta)
    cmp_ = compute_time_s(2.0 * np.asarray(active_params, dtype=float) * bmb, tp, peak_flops, mfu, speed_factor)
    return np.maximum(mem, cmp_)


def decode_step_s(batch, ctx, weight_bytes_, active_weight_bytes, kv_per_token, active_params, layers, hidden_size,
                  tp, pp, peak_flops, hbm_bandwidth_Bps, interconnect_Bps, gpus_per_node, cal, speed_factor=1.0):
    """τ(b): time between two output tokens of a request at batch b and mean context ctx [s].

    τ(b) = decode_roofline_s(...) + 2L all-reduces of b_mb·hidden·2 bytes + (m−1) stage hops
           + step overhead(n)."""
    t = decode_roofline_s(batch, ctx, weight_bytes_, active_weight_bytes, kv_per_token, active_params, tp, pp,
                          peak_flops, hbm_bandwidth_Bps, cal["eta_decode"], cal["mfu_decode"], speed_factor)
    bmb = micro_batch(batch, pp)
    t = t + _comm_per_pass_s(bmb, layers, hidden_size, tp, pp, gpus_per_node, interconnect_Bps, cal)
    return t + step_overhead_total_s(tp, cal["step_overhead_s"], cal["tp_step_overhead_s"])


def decode_step_coefficients(ctx, weight_bytes_, active_weight_bytes, kv_per_token, active_params, layers,
                             hidden_size, tp, pp, peak_flops, hbm_bandwidth_Bps, interconnect_Bps, gpus_per_node, cal,
                             speed_factor=1.0):
    """For b ≥ m, τ(b) = max(min(M0, Ma·b) + Mk·b, Cc·b) + c0 + c1·b; returns (M0, Ma, Mk, Cc, c0, c1) [s, s/seq].

    For b < m, τ(b) = τ(m) (see ``micro_batch``). The coefficients are obtained by evaluating
    ``decode_roofline_s`` and the communication/overhead terms of ``decode_step_s`` themselves at b = m
    (one sequence per micro-batch) with the other terms switched off, so the closed form cannot drift."""
    kw = dict(ctx=ctx, weight_bytes_=weight_bytes_, active_weight_bytes=active_weight_bytes, active_params=active_params,
              tp=tp, pp=pp, peak_flops=peak_flops, hbm_bandwidth_Bps=hbm_bandwidth_Bps, speed_factor=speed_factor)
    zero = np.zeros_like(np.asarray(ctx, dtype=float))
    inf = zero + np.inf
    eta, mfu = cal["eta_decode"], cal["mfu_decode"]
    m = np.asarray(pp, dtype=float)
    one_each = m  # b = m: one sequence per micro-batch
    M0 = decode_roofline_s(one_each, **{**kw, "ctx": zero, "active_weight_bytes": inf}, kv_per_token=0.0, eta=eta,
                           mfu=inf)
    Ma = decode_roofline_s(one_each, **{**kw, "ctx": zero, "weight_bytes_": inf}, kv_per_token=0.0, eta=eta,
                           mfu=inf) / m
    Mk = decode_roofline_s(one_each, **{**kw, "weight_bytes_": zero, "active_weight_bytes": zero},
                           kv_per_token=kv_per_token, eta=eta, mfu=inf) / m
    Cc = decode_roofline_s(one_each, **{**kw, "weight_bytes_": zero, "active_weight_bytes": zero, "ctx": zero},
                           kv_per_token=0.0, eta=inf, mfu=mfu) / m
    rest = dict(layers=layers, hidden_size=hidden_size, tp=tp, pp=pp, gpus_per_node=gpus_per_node,
                interconnect_Bps=interconnect_Bps, cal=cal)
    c0 = _comm_per_pass_s(0.0, **rest) + step_overhead_total_s(tp, cal["step_overhead_s"], cal["tp_step_overhead_s"])
    c1 = _comm_per_pass_s(1.0, **rest) - _comm_per_pass_s(0.0, **rest)
    return M0, Ma, Mk, Cc, c0, c1 / m


def max_batch_under(limit_s, M0, Ma, Mk, Cc, c0, c1, pp=1):
    """Largest real b with τ(b) ≤ limit (τ from ``decode_step_coefficients``); −inf when no b ≥ 1 qualifies.

    memory branch: min(M0, Ma·b) + Mk·b + c0 + c1·b ≤ L  ⇔  b ≤ (L−c0)/(Ma+Mk+c1)  or  b ≤ (L−c0−M0)/(Mk+c1)
    compute branch: Cc·b + c0 + c1·b ≤ L  ⇔  b ≤ (L−c0)/(Cc+c1).
    Below b = m the step time is flat at τ(m), so a limit below τ(m) admits no batch at all."""
    lim = np.asarray(limit_s, dtype=float) - c0
    with np.errstate(divide="ignore", invalid="ignore"):
        b1 = _safe_div(lim, Ma + Mk + c1)
        b2 = _safe_div(lim - M0, Mk + c1)
        b3 = _safe_div(lim, Cc + c1)
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


# ---------------------------------------------------------------------------------------------
# the grid
# ---------------------------------------------------------------------------------------------
def _calibration_for(gpus: np.ndarray, calibration: pd.DataFrame | None) -> dict[str, np.ndarray]:
    cal = load_calibration() if calibration is None else calibration
    cal = cal.drop_duplicates("gpu", keep="last").set_index("gpu")
    missing = sorted(set(gpus) - set(cal.index))
    if missing:
        raise ValueError(f"perf calibration has no row for GPU(s) {missing}; known: {sorted(cal.index)}")
    idx = cal.index.get_indexer(gpus)
    return {c: cal[c].to_numpy(dtype=float)[idx] for c in CALIBRATION_COLUMNS}


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
    f64 = lambda col: c[col].to_numpy(dtype=float)  # noqa: E731
    n, m = f64("tp"), f64("pp")
    W = weight_bytes(f64("total_params"), f64("bytes_per_weight"))
    Wa = weight_bytes(f64("active_params"), f64("bytes_per_weight"))
    kappa = kv_bytes_per_token(f64("layers"), f64("num_kv_heads"), f64("head_dim"), f64("kv_bytes_per_value"), n)
    kv = kv_budget_bytes(f64("memory_bytes"), n, m, W, f64("hidden_size"), memory_fraction)
    gpn = f64("gpus_per_node")
    reasons = np.full(len(c), "", dtype=object)
    checks = [
        (m > f64("layers"), "pp exceeds the number of layers"),
        (n > gpn, "tp exceeds gpus per node"),
        ((n < 1) | (m < 1), "tp and pp must be >= 1"),
        (kv <= 0, "weights and activations exceed memory"),
    ]
    for bad, why in checks:
        reasons = np.where(bad & (reasons == ""), why, reasons)
    feasible = reasons == ""
    out = c.copy()
    out["weight_bytes"] = W
    out["kv_bytes_per_token"] = kappa
    out["kv_bytes"] = kv
    out["feasible"] = feasible
    out["infeasible_reason"] = reasons.astype(str)

    fc = c.loc[feasible].reset_index(drop=True)
    routes = _routes(fc, W[feasible], Wa[feasible], kappa[feasible], kv[feasible], query_types,
                     max_batch=max_batch, slo_mode=slo_mode, calibration=calibration)
    return out, routes


def _routes(fc: pd.DataFrame, W, Wa, kappa, kv, query_types: pd.DataFrame, *, max_batch: int, slo_mode: str,
            calibration: pd.DataFrame | None) -> pd.DataFrame:
    q = query_types.reset_index(drop=True)
    if len(fc) == 0 or len(q) == 0:
        return pd.DataFrame({col: pd.Series(dtype=float) for col in ROUTE_COLUMNS}).astype(
            {"query_type": object, "config": object, "design_batch": np.int64})
    cal_c = _calibration_for(fc["gpu"].to_numpy(dtype=object), calibration)
    col = lambda a: np.asarray(a, dtype=float)[None, :]  # noqa: E731  configs along axis 1
    row = lambda name: q[name].to_numpy(dtype=float)[:, None]  # noqa: E731  query types along axis 0
    cal = {k: col(v) for k, v in cal_c.items()}
    n, m = col(fc["tp"]), col(fc["pp"])
    L, H = col(fc["layers"]), col(fc["hidden_size"])
    Pa = col(fc["active_params"])
    F, BW, IC = col(fc["peak_flops"]), col(fc["hbm_bandwidth_Bps"]), col(fc["interconnect_Bps"])
    gpn = col(fc["gpus_per_node"])
    sf = col(fc["speed_factor"]) if "speed_factor" in fc else 1.0
    W, Wa, kappa, kv = col(W), col(Wa), col(kappa), col(kv)
    h, f = row("input_tokens"), row("output_tokens")
    ttft_slo, tpot_slo, e2e_slo = row("ttft_slo_s"), row("tpot_slo_s"), row("e2e_slo_s")
    ctx = h + f / 2.0

    t_pre = prefill_time_s(h, Pa, L, H, n, m, F, IC, gpn, cal, sf)
    coef = decode_step_coefficients(ctx, W, Wa, kappa, Pa, L, H, n, m, F, BW, IC, gpn, cal, sf)
    b_tpot = np.where(np.isnan(tpot_slo), np.inf, max_batch_under(np.where(np.isnan(tpot_slo), 0.0, tpot_slo), *coef, pp=m))
    if slo_mode == "per_route":
        with np.errstate(divide="ignore", invalid="ignore"):
            lim = np.where(f > 0, (e2e_slo - t_pre) / np.where(f > 0, f, 1.0), np.where(t_pre <= e2e_slo, np.inf, -np.inf))
        b_e2e = np.where(np.isnan(e2e_slo), np.inf, max_batch_under(np.nan_to_num(lim, nan=0.0, posinf=1e300), *coef,
                                                                    pp=m))
    else:
        b_e2e = np.inf
    b = design_batch(kv, h + f, kappa, b_tpot, b_e2e, max_batch)
    ok = (b >= 1) & ~(t_pre > ttft_slo)  # NaN SLO compares False: no TTFT limit
    qi, ci = np.nonzero(ok)
    bs = b[qi, ci]
    take = lambda a: np.broadcast_to(a, ok.shape)[qi, ci]  # noqa: E731
    tau = decode_step_s(bs, take(ctx), take(W), take(Wa), take(kappa), take(Pa), take(L), take(H), take(n), take(m),
                        take(F), take(BW), take(IC), take(gpn), {k: take(v) for k, v in cal.items()},
                        take(sf) if not np.isscalar(sf) else sf)
    ttft = take(t_pre)
    fo = take(f)
    e2e = ttft + fo * tau
    cap = 1.0 / (ttft + fo * tau / bs)
    omega = e2e * take(ctx) * take(kappa)
    return pd.DataFrame({
        "query_type": q["query_type"].to_numpy(dtype=object)[qi],
        "config": fc["config"].to_numpy(dtype=object)[ci],
        "ttft_s": ttft, "tpot_s": tau, "e2e_s": e2e, "capacity_rps": cap, "kv_byte_seconds": omega,
        "design_batch": bs.astype(np.int64),
    })


# ---------------------------------------------------------------------------------------------
# step-time coefficients: the interchange a request-level simulator reads (config_perf table)
# ---------------------------------------------------------------------------------------------
#: columns of the ``config_perf`` table, in order (units in docs/formulation.md §2)
STEP_COLUMNS = ("weight_read_s", "active_weight_read_s", "kv_read_s_per_token", "decode_compute_s_per_seq",
                "prefill_compute_s_per_token", "attention_compute_s_per_pair", "comm_s_per_pass",
                "comm_s_per_token", "step_overhead_s", "prefill_overhead_s")


def step_coefficients(configs: pd.DataFrame, W, Wa, kappa, calibration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per configuration, the coefficients of the two-phase model for one engine iteration [s, s/unit].

    Obtained by evaluating this module's own building blocks with unit inputs, so that
    :mod:`sloserve.problem.steptime` reproduces :func:`prefill_time_s` and :func:`decode_step_s` from
    the table alone (a test checks every route's TTFT and TPOT):

    - ``weight_read_s``: streaming every weight once (W/n at BW·η_decode), one decode pass;
    - ``active_weight_read_s``: the active weights one micro-batch sequence touches (MoE), per sequence;
    - ``kv_read_s_per_token``: reading one token of KV cache (κ/n at BW·η_decode);
    - ``decode_compute_s_per_seq``: 2·P_active FLOP per decoded token at mfu_decode;
    - ``prefill_compute_s_per_token``: 2·P_active FLOP per prefilled token at mfu_prefill;
    - ``attention_compute_s_per_pair``: 4·L·hidden FLOP per (query token, earlier token) pair at mfu_prefill
      (a prompt of h tokens has h²/2 pairs);
    - ``comm_s_per_pass``, ``comm_s_per_token``: TP all-reduces and PP hand-offs of one pass (latency, and
      per token carried);
    - ``step_overhead_s``: fixed host/launch time of a pass (with the per-TP-worker term);
    - ``prefill_overhead_s``: extra fixed time of a pass that prefills.
    """
    c = configs.reset_index(drop=True)
    f64 = lambda col: c[col].to_numpy(dtype=float)  # noqa: E731
    cal = _calibration_for(c["gpu"].to_numpy(dtype=object), calibration)
    n, m = f64("tp"), f64("pp")
    L, H, Pa = f64("layers"), f64("hidden_size"), f64("active_params")
    F, BW, IC, gpn = f64("peak_flops"), f64("hbm_bandwidth_Bps"), f64("interconnect_Bps"), f64("gpus_per_node")
    sf = f64("speed_factor") if "speed_factor" in c else np.ones(len(c))
    W, Wa, kappa = (np.asarray(a, dtype=float) for a in (W, Wa, kappa))
    zero, inf = np.zeros(len(c)), np.full(len(c), np.inf)
    one = np.ones(len(c))
    roof = dict(tp=n, pp=one, peak_flops=F, hbm_bandwidth_Bps=BW, eta=cal["eta_decode"], speed_factor=sf)
    rest = dict(layers=L, hidden_size=H, tp=n, pp=m, gpus_per_node=gpn, interconnect_Bps=IC, cal=cal)
    comm0 = _comm_per_pass_s(zero, **rest)
    return pd.DataFrame({
        "config": c["config"].to_numpy(dtype=object),
        "weight_read_s": decode_roofline_s(one, zero, W, inf, 0.0, Pa, mfu=inf, **roof),
        "active_weight_read_s": decode_roofline_s(one, zero, inf, Wa, 0.0, Pa, mfu=inf, **roof),
        "kv_read_s_per_token": decode_roofline_s(one, one, zero, zero, kappa, Pa, mfu=inf, **roof),
        "decode_compute_s_per_seq": compute_time_s(2.0 * Pa, n, F, cal["mfu_decode"], sf),
        "prefill_compute_s_per_token": compute_time_s(2.0 * Pa, n, F, cal["mfu_prefill"], sf),
        "attention_compute_s_per_pair": compute_time_s(4.0 * L * H, n, F, cal["mfu_prefill"], sf),
        "comm_s_per_pass": comm0,
        "comm_s_per_token": _comm_per_pass_s(one, **rest) - comm0,
        "step_overhead_s": step_overhead_total_s(n, cal["step_overhead_s"], cal["tp_step_overhead_s"]),
        "prefill_overhead_s": np.asarray(cal["prefill_overhead_s"], dtype=float) + zero,
    })
