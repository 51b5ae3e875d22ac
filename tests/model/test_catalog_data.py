"""Sanity checks of the packaged catalog data (sloserve/data/*.csv); see docs/catalog.md."""
from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from sloserve.model import catalog

FAMILIES = ("conversation", "code", "math")
SLUG = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")

COLUMNS = {
    "models.csv": ["model", "family_name", "total_params_b", "active_params_b", "layers", "hidden_size",
                   "num_attention_heads", "num_kv_heads", "head_dim", "max_context_tokens", "vocab_size",
                   "tie_word_embeddings", "source"],
    "model_errors.csv": ["model", "family", "benchmark", "metric", "accuracy", "source"],
    "precisions.csv": ["precision", "bytes_per_weight", "kv_bytes", "compute", "speed_factor",
                       "accuracy_recovery", "source"],
    "gpus.csv": ["gpu", "memory_gib", "bf16_tflops", "fp8_tflops", "hbm_bandwidth_gbps", "interconnect_gbps",
                 "gpus_per_node", "price_per_gpu_hour", "source_specs", "source_price"],
    "instances.csv": ["cloud", "region", "instance_type", "gpu", "gpus", "price_per_hour", "source"],
    "quantization.csv": ["model", "precision", "accuracy_recovery", "source"],
}
SOURCE_COLUMNS = {"models.csv": ["source"], "model_errors.csv": ["source"], "precisions.csv": ["source"],
                  "gpus.csv": ["source_specs", "source_price"], "instances.csv": ["source"],
                  "quantization.csv": ["source"]}
GPU_KEYS = ["l4", "a10g", "l40s", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "mi300x"]

# Models whose head_dim * num_attention_heads deliberately differs from hidden_size (the attention
# output projection maps heads*head_dim back to hidden_size). Gemma 2 27B: 32 heads x 128 = 4096 != 4608.
HEAD_DIM_EXCEPTIONS = {"gemma-2-27b"}


def _csv(name: str) -> pd.DataFrame:
    with resources.files("sloserve.data").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


@pytest.fixture(scope="module")
def models() -> pd.DataFrame:
    return _csv("models.csv")


@pytest.fixture(scope="module")
def errors() -> pd.DataFrame:
    return _csv("model_errors.csv")


@pytest.fixture(scope="module")
def precisions() -> pd.DataFrame:
    return _csv("precisions.csv")


@pytest.fixture(scope="module")
def gpus() -> pd.DataFrame:
    return _csv("gpus.csv")


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_columns_exact(name):
    assert list(_csv(name).columns) == COLUMNS[name]


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_no_missing_values_and_numbers_are_numeric(name):
    df = _csv(name)
    assert not df.isna().any().any(), df.columns[df.isna().any()].tolist()
    text = {"model", "family_name", "source", "family", "benchmark", "metric", "precision", "compute", "gpu",
            "source_specs", "source_price", "cloud", "region", "instance_type"}
    for col in df.columns:
        if pd.api.types.is_bool_dtype(df[col]):
            continue
        if col not in text:
            assert pd.api.types.is_numeric_dtype(df[col]), f"{name}:{col} is not numeric"
            assert np.isfinite(df[col].to_numpy(float)).all()


@pytest.mark.parametrize("name", sorted(SOURCE_COLUMNS))
def test_every_row_has_a_source(name):
    df = _csv(name)
    for col in SOURCE_COLUMNS[name]:
        s = df[col].astype(str).str.strip()
        assert (s.str.len() > 10).all(), f"{name}:{col} has an empty or trivial source"


# ---------------------------------------------------------------- models

def test_model_ids_are_unique_lowercase_slugs(models):
    assert models["model"].is_unique
    assert all(SLUG.match(m) for m in models["model"]), models["model"].tolist()


def test_enough_models_and_size_range(models):
    assert len(models) >= 11
    assert models["total_params_b"].min() <= 1.5
    assert models["total_params_b"].max() >= 400


def test_active_not_more_than_total(models):
    assert (models["active_params_b"] > 0).all()
    assert (models["active_params_b"] <= models["total_params_b"]).all()


def test_at_least_one_mixture_of_experts(models):
    moe = models.loc[models["active_params_b"] < models["total_params_b"]]
    assert len(moe) >= 1
    assert "mixtral-8x7b" in set(moe["model"])


def test_integer_architecture_fields(models):
    for col in ("layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "max_context_tokens"):
        assert pd.api.types.is_integer_dtype(models[col]), col
        assert (models[col] > 0).all(), col


def test_gqa_heads_divide(models):
    assert (models["num_kv_heads"] <= models["num_attention_heads"]).all()
    assert (models["num_attention_heads"] % models["num_kv_heads"] == 0).all()


def test_head_dim_times_heads_matches_hidden_size(models):
    prod = models["head_dim"] * models["num_attention_heads"]
    close = np.isclose(prod, models["hidden_size"], rtol=0.01)
    mismatched = set(models.loc[~close, "model"])
    assert mismatched == HEAD_DIM_EXCEPTIONS & set(models["model"]), mismatched


def test_kv_bytes_per_token_is_plausible(models):
    # 2 (K and V) * layers * kv_heads * head_dim * 2 bytes: Llama-3.1-8B is 131072 B/token (128 KiB)
    kv = 2 * models["layers"] * models["num_kv_heads"] * models["head_dim"] * 2
    m = models.assign(kv=kv).set_index("model")
    assert m.loc["llama-3.1-8b", "kv"] == 131072
    assert (kv >= 10_000).all() and (kv <= 2_000_000).all()


# ---------------------------------------------------------------- model errors

def test_accuracies_are_fractions(errors):
    assert ((errors["accuracy"] > 0) & (errors["accuracy"] <= 1)).all()


def test_every_model_has_all_three_families(models, errors):
    assert set(errors["family"]) == set(FAMILIES)
    assert not errors.duplicated(["model", "family"]).any()
    assert set(errors["model"]) == set(models["model"])
    counts = errors.groupby("model")["family"].nunique()
    assert (counts == len(FAMILIES)).all(), counts[counts != len(FAMILIES)]


def test_one_benchmark_per_family(errors):
    """One benchmark per family where the sources allow: MMLU-redux (Qwen team evaluation) for every model
    but Mixtral, for which that evaluator reports MMLU only (docs/catalog.md)."""
    allowed = {"conversation": {"MMLU-redux"}, "code": {"HumanEval"}, "math": {"GSM8K"}}
    for m, fam, bench in zip(errors["model"], errors["family"], errors["benchmark"]):
        assert bench in allowed[fam] or (m, fam, bench) == ("mixtral-8x7b", "conversation", "MMLU"), (m, fam, bench)


# ---------------------------------------------------------------- precisions

def test_precisions(precisions):
    p = precisions.set_index("precision")
    assert list(p.index) == ["bf16", "fp8", "int4"]
    assert set(p["compute"]) <= {"bf16", "fp8"}
    assert p.loc["bf16", "bytes_per_weight"] == 2 and p.loc["fp8", "bytes_per_weight"] == 1
    # int4: 4-bit weights + a 16-bit scale and a 4-bit zero per group of 128 = 4.156 bits
    assert p.loc["int4", "bytes_per_weight"] == pytest.approx(4.156 / 8, abs=1e-4)
    assert p.loc["bf16", "kv_bytes"] == 2 and p.loc["fp8", "kv_bytes"] == 1 and p.loc["int4", "kv_bytes"] == 2
    assert p.loc["bf16", "accuracy_recovery"] == 1.0 and p.loc["bf16", "speed_factor"] == 1.0
    assert ((p["accuracy_recovery"] > 0) & (p["accuracy_recovery"] <= 1)).all()
    assert ((p["speed_factor"] > 0) & (p["speed_factor"] <= 1)).all()
    assert p.loc["fp8", "accuracy_recovery"] >= p.loc["int4", "accuracy_recovery"]
    # fp8 prefill runs 1.5-1.7x faster than bf16, not the 2x of the peaks (TensorRT-LLM FP8 case study)
    assert 0.75 <= p.loc["fp8", "speed_factor"] <= 0.85


def test_int4_recovery_grows_with_model_size(models):
    q = catalog.quantization().reset_index(drop=True)
    assert set(q["precision"]) == {"int4"} and set(q["model"]) == set(models["model"])
    assert ((q["accuracy_recovery"] > 0.8) & (q["accuracy_recovery"] <= 1)).all()
    qwen = q[q["model"].str.startswith("qwen")].merge(models[["model", "total_params_b"]], on="model")
    assert qwen.sort_values("total_params_b")["accuracy_recovery"].is_monotonic_increasing
    r = catalog.accuracy_recovery(["qwen2.5-0.5b", "qwen2.5-0.5b", "qwen2.5-72b"], ["int4", "fp8", "bf16"])
    assert r.tolist() == [0.863, 0.99, 1.0]  # per-model row, else the precision's value


# ---------------------------------------------------------------- gpus

def test_gpu_keys_and_sanity(gpus):
    g = gpus.set_index("gpu")
    assert list(g.index) == GPU_KEYS
    for col in ("memory_gib", "bf16_tflops", "fp8_tflops", "hbm_bandwidth_gbps", "interconnect_gbps",
                "gpus_per_node", "price_per_gpu_hour"):
        assert (g[col] > 0).all(), col
    assert (g["fp8_tflops"] >= g["bf16_tflops"]).all()
    assert (g["memory_gib"] >= 16).all() and (g["memory_gib"] <= 300).all()
    # memory is what the driver reports: GDDR6 parts lose ~6.7% to ECC (L4 23034 MiB, L40S 46068 MiB)
    assert g.loc["l4", "memory_gib"] == pytest.approx(23034 / 1024, abs=1e-3)
    assert g.loc["l40s", "memory_gib"] == pytest.approx(46068 / 1024, abs=1e-3)
    assert g.loc["h100-sxm", "memory_gib"] == pytest.approx(81559 / 1024, abs=1e-3)
    # newer / bigger parts cost more per hour than the L4
    assert (g["price_per_gpu_hour"] >= g.loc["l4", "price_per_gpu_hour"]).all()
    # A100 prices after the June 2025 AWS cut (p4d $21.957642/h, p4de $27.44705/h for 8 GPUs)
    assert g.loc["a100-40gb", "price_per_gpu_hour"] == pytest.approx(21.957642 / 8, abs=1e-4)
    assert g.loc["a100-80gb", "price_per_gpu_hour"] == pytest.approx(27.44705 / 8, abs=1e-4)


def test_instances_hold_every_gpu_and_match_its_price(gpus):
    inst = catalog.instances()
    g = gpus.set_index("gpu")
    assert set(inst["gpu"]) == set(g.index)
    assert inst["instance_type"].is_unique
    assert ((inst["gpus"] >= 1) & (inst["price_per_hour"] > 0)).all()
    per_gpu = (inst["price_per_hour"] / inst["gpus"]).groupby(inst["gpu"]).min()
    # gpus.csv's price is the cheapest GPU-hour among the instances of that GPU
    np.testing.assert_allclose(per_gpu.reindex(g.index), g["price_per_gpu_hour"], rtol=1e-3)
    # every GPU has an instance holding its largest TP group
    assert (inst.groupby("gpu")["gpus"].max().reindex(g.index) >= g["gpus_per_node"]).all()


# ---------------------------------------------------------------- loaders

def test_catalog_loaders_read_the_files(models):
    assert list(catalog.models().index) == models["model"].tolist()
    et = catalog.error_table()
    assert set(et.columns) == set(FAMILIES)
    assert et.notna().all().all()
    assert ((et >= 0) & (et < 1)).all().all()
    assert set(catalog.precisions().index) == {"bf16", "fp8", "int4"}
    assert set(catalog.gpus().index) == set(GPU_KEYS)


def test_embedding_columns(models):
    m = models.set_index("model")
    assert pd.api.types.is_bool_dtype(m["tie_word_embeddings"])
    # the 16-bit embeddings + LM head of Llama-3.1-8B are 2 x 128256 x 4096 = 1.05 B parameters
    assert 2 * m.loc["llama-3.1-8b", "vocab_size"] * m.loc["llama-3.1-8b", "hidden_size"] == pytest.approx(1.05e9, rel=0.01)
    assert m.loc["qwen2.5-0.5b", "tie_word_embeddings"] and not m.loc["qwen2.5-72b", "tie_word_embeddings"]
