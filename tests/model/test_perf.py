"""Physical facts the performance model must respect (sloserve/perf.py)."""
from __future__ import annotations

import time
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from sloserve.model import perf

# Architectures (HF config.json): layers, hidden, heads, kv heads, head_dim, vocabulary, total / active params
MODELS = {
    "llama-3.1-8b": dict(total_params=8.03e9, active_params=8.03e9, layers=32, hidden_size=4096, num_attention_heads=32,
                         num_kv_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=False),
    "llama-3.1-70b": dict(total_params=70.6e9, active_params=70.6e9, layers=80, hidden_size=8192, num_attention_heads=64,
                          num_kv_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=False),
    "llama-3.1-405b": dict(total_params=405.9e9, active_params=405.9e9, layers=126, hidden_size=16384,
                           num_attention_heads=128, num_kv_heads=8, head_dim=128, vocab_size=128256,
                           tie_word_embeddings=False),
    "mixtral-8x7b": dict(total_params=46.7e9, active_params=12.9e9, layers=32, hidden_size=4096, num_attention_heads=32,
                         num_kv_heads=8, head_dim=128, vocab_size=32000, tie_word_embeddings=False),
}


def gpus() -> pd.DataFrame:
    with resources.files("sloserve.data").joinpath("gpus.csv").open() as f:
        return pd.read_csv(f).set_index("gpu")


def make_configs(rows) -> pd.DataFrame:
    """rows: iterable of (model, gpu, tp, pp[, overrides]) -> configs frame as the compile stage builds it (bf16)."""
    g = gpus()
    out = []
    for r in rows:
        model, gpu, tp, pp = r[:4]
        extra = r[4] if len(r) > 4 else {}
        s = g.loc[gpu]
        out.append({"config": f"{model}|{gpu}|bf16|tp{tp}pp{pp}", "model": model, "gpu": gpu, "precision": "bf16",
                    "tp": tp, "pp": pp, **MODELS[model], "memory_bytes": s.memory_gib * 2**30,
                    "peak_flops": s.bf16_tflops * 1e12, "hbm_bandwidth_Bps": s.hbm_bandwidth_gbps * 1e9,
                    "interconnect_Bps": s.interconnect_gbps * 1e9, "gpus_per_node": int(s.gpus_per_node),
                    "bytes_per_weight": 2.0, "kv_bytes_per_value": 2.0, "speed_factor": 1.0, **extra})
    return pd.DataFrame(out)


def qtypes(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["query_type", "input_tokens", "output_tokens", "ttft_slo_s", "tpot_slo_s",
                                       "e2e_slo_s"])


def cal_of(gpu):
    c = perf.load_calibration().set_index("gpu").loc[gpu]
    return {k: float(c[k]) for k in perf.CALIBRATION_COLUMNS}


def spec(cfg: pd.Series) -> dict:
    return {k: v[0] for k, v in perf.spec_from_configs(pd.DataFrame([cfg])).items()}


def tau(cfg: pd.Series, b, ctx):
    """decode_step_s for one configs row."""
    return perf.decode_step_s(b, ctx, spec(cfg), cal_of(cfg.gpu))


def loaded(cfg: pd.Series, b, h, f):
    """loaded_step_s (the planner's TPOT) for one configs row."""
    return perf.loaded_step_s(b, h, f, spec(cfg), cal_of(cfg.gpu))


def ttft(cfg: pd.Series, h):
    return perf.prefill_time_s(h, spec(cfg), cal_of(cfg.gpu))


NO_SLO = qtypes([("chat", 1000, 200, np.nan, np.nan, np.nan)])


def test_calibration_covers_catalog_and_is_physical():
    cal = perf.load_calibration()
    assert set(cal["gpu"]) == set(gpus().index)
    for c in perf.FRACTION_COLUMNS:
        assert ((cal[c] > 0.05) & (cal[c] <= 1.0)).all(), c
    assert (cal[[c for c in perf.CALIBRATION_COLUMNS if c.endswith("_s")]] >= 0).all().all()
    assert cal["source"].str.len().gt(10).all()
    # the planner's engine hides host work: no engine term is shipped (docs/perf_model.md, "Engines")
    assert (cal[list(perf.ENGINE_COLUMNS)] == 0).all().all()


def test_memory_arithmetic():
    assert perf.weight_bytes(8e9, 2) == 16e9
    # int4 with 16-bit embeddings and LM head: Llama-3.1-8B AWQ is 5.73 GB on Hugging Face
    e_all, e_in = perf.embedding_params(128256, 4096, False)
    assert float(e_all) == 2 * 128256 * 4096 and float(e_in) == 128256 * 4096
    assert float(perf.weight_bytes(8.03e9, 0.5195, e_all)) == pytest.approx(5.73e9, rel=0.01)
    # Llama-3.1-8B: 2 · 32 layers · 8 KV heads · 128 · 2 bytes = 128 KiB per token
    assert perf.kv_bytes_per_token(32, 8, 128, 2) == 131072
    # TP 16 > 8 KV heads: heads are replicated
    assert perf.kv_bytes_per_token(32, 8, 128, 2, tp=16) == 2 * 131072


def test_70b_bf16_does_not_fit_one_80gb_gpu():
    out, _ = perf.evaluate(make_configs([("llama-3.1-70b", "h100-sxm", 1, 1), ("llama-3.1-70b", "h200", 2, 1),
                                         ("llama-3.1-70b", "a100-80gb", 4, 1)]), NO_SLO)
    assert out["feasible"].tolist() == [False, True, True]  # 141 GB of weights
    assert out.loc[0, "kv_bytes"] < 0 and "memory" in out.loc[0, "infeasible_reason"]


def test_405b_bf16_needs_pp_across_nodes():
    out, routes = perf.evaluate(make_configs([("llama-3.1-405b", "h100-sxm", 8, 1), ("llama-3.1-405b", "h100-sxm", 8, 2),
                                              ("llama-3.1-405b", "h100-sxm", 16, 1)]), NO_SLO)
    assert out["feasible"].tolist() == [False, True, False]
    assert out.loc[2, "infeasible_reason"] == "tp exceeds gpus per node"
    assert routes["config"].tolist() == [out.loc[1, "config"]]


def test_decode_time_per_token_grows_with_batch_and_context():
    cfg = make_configs([("llama-3.1-8b", "h100-sxm", 1, 1)]).iloc[0]
    b = np.array([1, 2, 8, 32, 128, 512])
    t = tau(cfg, b, 1000)
    assert np.all(np.diff(t) > 0)
    assert tau(cfg, 32, 4000) > tau(cfg, 32, 1000)
    # ... but throughput b/τ(b) grows too (batching is why we batch)
    assert np.all(np.diff(b / t) > 0)


def test_8b_batch1_decode_on_h100_is_a_few_ms():
    """Vidur's H100 kernel profile of Llama-2-7B sums to 5.6 ms/token at batch 1 (docs/perf_model.md)."""
    cfg = make_configs([("llama-3.1-8b", "h100-sxm", 1, 1)]).iloc[0]
    t = float(tau(cfg, 1, 512))
    assert 3e-3 < t < 12e-3
    # and the bandwidth floor holds: never faster than streaming the weights at peak HBM bandwidth
    assert t > 16.06e9 / 3.35e12


def test_tp_lowers_latency_with_diminishing_returns():
    """Prefill and decode keep gaining up to TP 8, with diminishing returns: the kernel latencies of every
    layer and the all-reduce latency do not shrink with TP. (The 2023 engine behind the Splitwise data was no
    faster at TP 8 than at TP 4: host time, not the GPUs; docs/perf_model.md, "Engines".)"""
    cfgs = make_configs([("llama-3.1-70b", "h100-sxm", n, 1) for n in (2, 4, 8)])
    d = np.array([float(tau(cfgs.iloc[i], 1, 1000)) for i in range(3)])
    p = np.array([float(ttft(cfgs.iloc[i], 2000)) for i in range(3)])
    assert p[0] > p[1] > p[2]
    assert d[0] > d[1] > d[2]
    # 70B on 8 H100s at batch 1: ~15 ms per token (weights 17.6 GB/GPU, 160 all-reduces, 80 layers' latencies)
    assert 0.010 < d[2] < 0.020
    for t in (d, p):
        assert (t[0] - t[1]) > (t[1] - t[2])  # diminishing returns
        assert t[0] / t[2] < 4.0  # never the ideal 4x from 2 -> 8 GPUs


def test_pp_never_lowers_single_request_latency():
    cfgs = make_configs([("llama-3.1-70b", "h100-sxm", 2, m) for m in (1, 2, 4)])
    d = [float(tau(cfgs.iloc[i], 1, 1000)) for i in range(3)]
    p = [float(ttft(cfgs.iloc[i], 2000)) for i in range(3)]
    assert d[0] <= d[1] <= d[2]
    assert p[0] <= p[1] <= p[2]
    # but it adds memory for the KV cache
    out, _ = perf.evaluate(cfgs, NO_SLO)
    assert out["kv_bytes"].is_monotonic_increasing


def test_moe_uses_active_params_for_compute_total_for_memory():
    moe = make_configs([("mixtral-8x7b", "h100-sxm", 2, 1)]).iloc[0]
    dense = moe.copy()
    dense["active_params"] = dense["total_params"]
    assert float(ttft(moe, 2000)) < 0.5 * float(ttft(dense, 2000))
    assert float(tau(moe, 1, 500)) < float(tau(dense, 1, 500))  # batch 1 reads only the routed experts
    out, _ = perf.evaluate(pd.DataFrame([moe, dense]), NO_SLO)
    assert out["weight_bytes"].iloc[0] == out["weight_bytes"].iloc[1] == 46.7e9 * 2


def _check_routes(cfg_out, routes, qt, max_batch, slo_mode="per_route"):
    assert (routes["design_batch"] >= 1).all() and (routes["design_batch"] <= max_batch).all()
    m = routes.merge(qt, on="query_type").merge(cfg_out, on="config")
    assert m["feasible"].all()
    b = m["design_batch"].to_numpy(float)
    h, f = m["input_tokens"].to_numpy(float), m["output_tokens"].to_numpy(float)
    assert np.all(b * (h + f) * m["kv_bytes_per_token"] <= m["kv_bytes"] * (1 + 1e-12))
    tol = 1 + 1e-9
    assert np.all(~(m["tpot_s"] > m["tpot_slo_s"] * tol))
    assert np.all(~(m["ttft_s"] > m["ttft_slo_s"] * tol))
    if slo_mode == "per_route":
        assert np.all(~(m["e2e_s"] > m["e2e_slo_s"] * tol))
    np.testing.assert_allclose(m["e2e_s"], m["ttft_s"] + f * m["tpot_s"], rtol=1e-12)
    np.testing.assert_allclose(m["capacity_rps"], b / (f * m["tpot_s"]), rtol=1e-12)
    np.testing.assert_allclose(m["kv_byte_seconds"], m["e2e_s"] * (h + f / 2) * m["kv_bytes_per_token"], rtol=1e-12)
    # b* is maximal: b*+1 breaks a constraint (or hits max_batch)
    for _, r in m.iterrows():
        cfg = r
        bb = r.design_batch + 1
        if r.design_batch == max_batch:
            continue
        t1 = float(loaded(cfg, bb, r.input_tokens, r.output_tokens))
        broken = (bb * (r.input_tokens + r.output_tokens) * r.kv_bytes_per_token > r.kv_bytes) or \
            (t1 > r.tpot_slo_s) or (slo_mode == "per_route" and r.ttft_s + r.output_tokens * t1 > r.e2e_slo_s)
        assert broken, r.to_dict()


def test_design_batch_respects_kv_and_slos():
    cfgs = make_configs([(mdl, g, n, m) for mdl in ("llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b")
                         for g in ("l4", "a100-80gb", "h100-sxm", "mi300x") for n in (1, 2, 4, 8) for m in (1, 2)])
    qt = qtypes([("chat", 1000, 250, 2.0, 0.05, 20.0), ("code", 4000, 500, 5.0, 0.03, np.nan),
                 ("batch", 8000, 1000, np.nan, np.nan, np.nan), ("tight", 500, 100, 0.3, 0.02, 2.5),
                 ("impossible", 2000, 100, 0.001, 0.001, 0.1)])
    for mode in ("per_route", "mean"):
        out, routes = perf.evaluate(cfgs, qt, max_batch=128, slo_mode=mode)
        assert list(routes.columns) == list(perf.ROUTE_COLUMNS)
        assert len(routes) > 20
        assert "impossible" not in set(routes["query_type"])
        assert set(routes["config"]) <= set(out.loc[out["feasible"], "config"])
        _check_routes(out, routes, qt, 128, mode)
    # per_route drops routes that the mean mode keeps (e2e filter), never the other way round
    _, r_pr = perf.evaluate(cfgs, qt, slo_mode="per_route")
    _, r_mean = perf.evaluate(cfgs, qt, slo_mode="mean")
    assert set(zip(r_pr.query_type, r_pr.config)) <= set(zip(r_mean.query_type, r_mean.config))


def test_kv_limits_design_batch():
    cfgs = make_configs([("llama-3.1-8b", "l4", 1, 1)])
    out, routes = perf.evaluate(cfgs, qtypes([("long", 14000, 1000, np.nan, np.nan, np.nan)]))
    kv = out.loc[0, "kv_bytes"]
    assert routes.loc[0, "design_batch"] == int(kv // (15000 * out.loc[0, "kv_bytes_per_token"])) >= 1


def test_closed_form_matches_the_loaded_step():
    cfg = make_configs([("mixtral-8x7b", "h100-sxm", 4, 2)]).iloc[0]
    sp, cal = spec(cfg), cal_of(cfg.gpu)
    h, f = 1200.0, 600.0
    coef = perf.step_coefficients(h, f, sp, cal)
    b = np.arange(2, 600, dtype=float)  # b >= m; below, the step is flat at its value at b = m
    np.testing.assert_allclose(loaded(cfg, 1.0, h, f), loaded(cfg, 2.0, h, f), rtol=1e-12)
    np.testing.assert_allclose(perf.step_from_coefficients(b, coef), loaded(cfg, b, h, f), rtol=1e-12)
    for lim in (0.01, 0.03, 0.1):
        bmax = perf.max_batch_under(lim, coef, pp=cfg.pp)
        if np.isneginf(bmax):
            assert loaded(cfg, 2, h, f) > lim
            continue
        assert loaded(cfg, np.floor(bmax), h, f) <= lim * (1 + 1e-12)
        assert loaded(cfg, np.floor(bmax) + 1, h, f) > lim


def test_prefill_never_beats_reading_the_weights():
    """The weight-streaming floor: a short prompt still streams every weight once; 128 tokens of an 8B model on
    an H100 take a few ms (no fixed prefill constant: TensorRT-LLM measures ~6-7 ms for 128 tokens of a 7B)."""
    cfg = make_configs([("llama-3.1-8b", "h100-sxm", 1, 1)]).iloc[0]
    floor = perf.linear_memory_s(1.0, spec(cfg), cal_of(cfg.gpu))
    for h in (1, 16, 64, 128):
        assert float(ttft(cfg, h)) >= float(floor)
    assert 0.004 < float(ttft(cfg, 128)) < 0.012
    # and long prompts are compute-bound: 8x the tokens cost more than 6x the time
    assert float(ttft(cfg, 8192)) > 6 * float(ttft(cfg, 1024))


def test_loaded_step_carries_the_prefills_of_the_next_requests():
    """Prefill-decode interference: at 5000-token prompts and 500 outputs the loaded iteration of 50 sequences
    is far above the pure decode step (NVIDIA NIM measures 1.6x for Llama-3.3-70B on 2 H100 at concurrency 50),
    and it vanishes as prompts shrink."""
    cfg = make_configs([("llama-3.1-70b", "h100-sxm", 2, 1)]).iloc[0]
    dec = float(tau(cfg, 50, 5250))
    assert float(loaded(cfg, 50, 5000, 500)) > 1.3 * dec
    assert float(loaded(cfg, 50, 10, 500)) == pytest.approx(float(tau(cfg, 50, 260)), rel=0.02)


def test_kv_reads_are_not_hidden_behind_the_gemms():
    """Decode attention is its own kernel: at a large batch of long contexts its KV traffic adds to the GEMM
    time instead of hiding under it (the cause of the old model's over-promise on long generations)."""
    cfg = make_configs([("llama-3.1-70b", "h100-sxm", 8, 1)]).iloc[0]
    sp, cal = spec(cfg), cal_of(cfg.gpu)
    b, ctx = 512.0, 4000.0
    gemm = perf.linear_time_s(b, sp, cal)
    kv = perf.kv_read_s(b * ctx, sp, cal)
    assert float(tau(cfg, b, ctx)) > float(gemm + kv)


def test_unknown_gpu_in_calibration_raises():
    cfgs = make_configs([("llama-3.1-8b", "h100-sxm", 1, 1)])
    cal = perf.load_calibration()
    with pytest.raises(ValueError, match="h100-sxm"):
        perf.evaluate(cfgs, NO_SLO, calibration=cal[cal["gpu"] != "h100-sxm"])


def test_roofline_is_faster_than_calibrated():
    cfgs = make_configs([("llama-3.1-8b", "h100-sxm", 2, 1)])
    _, r_cal = perf.evaluate(cfgs, NO_SLO, max_batch=1)
    _, r_roof = perf.evaluate(cfgs, NO_SLO, max_batch=1, calibration=perf.roofline_calibration(gpus().index))
    assert (r_roof["ttft_s"].to_numpy() < r_cal["ttft_s"].to_numpy()).all()
    assert (r_roof["tpot_s"].to_numpy() < r_cal["tpot_s"].to_numpy()).all()


def test_evaluate_is_fast_on_a_large_grid():
    rng = np.random.default_rng(0)
    rows = [(mdl, g, n, m) for mdl in MODELS for g in gpus().index for n in (1, 2, 4, 8) for m in (1, 2, 4)]
    cfgs = make_configs(rows * 8)  # 4 models · 8 GPUs · 12 parallelisms · 8 = 3072 configurations
    cfgs["config"] = [f"{c}#{i}" for i, c in enumerate(cfgs["config"])]
    qt = qtypes([(f"q{i}", int(rng.integers(50, 8000)), int(rng.integers(10, 2000)), float(rng.uniform(0.2, 10)),
                  float(rng.uniform(0.01, 0.2)), float(rng.uniform(5, 120))) for i in range(60)])
    perf.evaluate(cfgs.head(50), qt)  # warm up (calibration file read)
    t0 = time.perf_counter()
    _, routes = perf.evaluate(cfgs, qt)
    assert time.perf_counter() - t0 < 1.0
    assert len(routes) > 1000
