"""The prediction API (sloserve.predict_latency): its definitions hold, and it says what the planner says."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sloserve as ss
from sloserve.errors import InputError
from sloserve.model import catalog
from sloserve.model.compile import ARCHITECTURE_COLUMNS, compile_scenario
from sloserve.model.predict import OUTPUT_COLUMNS, predict_latency, predict_latency_frame
from sloserve.model.scenario import default_scenario


def test_outputs_keep_their_definitions():
    p = ss.predict_latency("llama-3.1-8b", "h100-sxm", "bf16", 1, 1, 1000, 200, batch=16)
    assert set(p) == set(OUTPUT_COLUMNS)
    assert p["throughput_tok_s"] == pytest.approx(16 * 200 / (p["prefill_s"] + 200 * p["decode_step_s"]))
    assert p["capacity_rps"] == pytest.approx(16 / (200 * p["tpot_s"]))
    assert p["ttft_s"] == pytest.approx(ss.predict_latency("llama-3.1-8b", "h100-sxm", "bf16", 1, 1, 1000, 200)["prefill_s"])
    assert p["prefill_s"] > p["ttft_s"]  # 16 prompts in one pass
    assert p["tpot_s"] > p["decode_step_s"]  # the loaded iteration also prefills the next requests
    assert p["kv_fits"] and p["feasible"] and p["max_batch_kv"] >= 16


def test_a_model_outside_the_catalog_is_its_architecture():
    m = catalog.models().loc["llama-3.1-70b"]
    arch = {k: m[k] for k in ARCHITECTURE_COLUMNS}
    a = predict_latency("my-70b", "h100-sxm", "fp8", 4, 1, 2048, 256, batch=8, architecture=arch)
    b = predict_latency("llama-3.1-70b", "h100-sxm", "fp8", 4, 1, 2048, 256, batch=8)
    for k in OUTPUT_COLUMNS:
        assert a[k] == b[k], k
    # the optional columns have defaults: a dense model with hidden/head_dim heads and no 16-bit embedding
    minimal = {k: arch[k] for k in ("total_params_b", "layers", "hidden_size", "num_kv_heads", "head_dim")}
    c = predict_latency("bare", "h100-sxm", "fp8", 4, 1, 2048, 256, batch=8, architecture=minimal)
    assert c["decode_step_s"] == pytest.approx(b["decode_step_s"], rel=0.05)


def test_frame_form_is_the_scalar_form_row_by_row():
    cases = pd.DataFrame({"model": ["llama-3.1-8b", "mixtral-8x7b", "qwen2.5-0.5b"], "gpu": ["l4", "a100-80gb", "h200"],
                          "precision": ["int4", "bf16", "fp8"], "tp": [1, 2, 1], "pp": [1, 2, 1],
                          "input_tokens": [300, 5000, 128], "output_tokens": [100, 500, 2048], "batch": [4, 32, 256]})
    out = predict_latency_frame(cases)
    assert list(out.columns) == list(cases.columns) + list(OUTPUT_COLUMNS)
    for i, r in cases.iterrows():
        one = predict_latency(r.model, r.gpu, r.precision, r.tp, r.pp, r.input_tokens, r.output_tokens, batch=r.batch)
        for k in OUTPUT_COLUMNS:
            assert one[k] == out.loc[i, k], (i, k)


def test_bad_input_names_the_field():
    with pytest.raises(InputError, match="architecture.total_params_b"):
        predict_latency("unknown-model", "h100-sxm", "bf16", 1, 1, 100, 10)
    with pytest.raises(InputError, match="gpu: unknown value 'h800'"):
        predict_latency("llama-3.1-8b", "h800", "bf16", 1, 1, 100, 10)
    with pytest.raises(InputError, match="tp"):
        predict_latency("llama-3.1-8b", "h100-sxm", "bf16", 3.5, 1, 100, 10)
    with pytest.raises(InputError, match="architecture.colour"):
        predict_latency("x", "h100-sxm", "bf16", 1, 1, 100, 10, architecture={"colour": 1})


def test_infeasible_configurations_say_why():
    p = predict_latency("llama-3.1-70b", "l4", "bf16", 1, 1, 100, 10)
    assert not p["feasible"] and p["infeasible_reason"] == "weights and activations exceed memory"


def test_the_planner_and_the_api_agree():
    """Every route of the default scenario: its TTFT is the API's ttft_s, its TPOT the API's tpot_s and its
    capacity the API's capacity_rps at the route's design batch."""
    c = compile_scenario(default_scenario())
    r = c.routes.merge(c.configs[["config", "model", "gpu", "precision", "tp", "pp"]], on="config").merge(
        c.query_types[["query_type", "input_tokens", "output_tokens"]], on="query_type")
    cases = r[["model", "gpu", "precision", "tp", "pp", "input_tokens", "output_tokens"]].assign(
        batch=r["design_batch"].to_numpy(float))
    out = predict_latency_frame(cases)
    np.testing.assert_allclose(out["ttft_s"], r["ttft_s"], rtol=1e-12)
    np.testing.assert_allclose(out["tpot_s"], r["tpot_s"], rtol=1e-12)
    np.testing.assert_allclose(out["capacity_rps"], r["capacity_rps"], rtol=1e-12)
    assert out["kv_fits"].all()
