"""The packaged catalog: GPU types, models, per-family model accuracies, precisions.

Every number in these tables carries its public source in a ``source*`` column; see
``docs/catalog.md``. Loaders return fresh DataFrames indexed by the catalog key.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

FAMILIES = ("conversation", "code", "math")


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    with resources.files("sloserve.data").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def gpus() -> pd.DataFrame:
    """GPU types, indexed by ``gpu``: memory_gib (binary GB: DRAM is sized in powers of two), bf16_tflops, fp8_tflops (dense), hbm_bandwidth_gbps,
    interconnect_gbps (GB/s per direction), gpus_per_node, price_per_gpu_hour ($), sources."""
    return _read("gpus.csv").set_index("gpu", drop=False).copy()


def models() -> pd.DataFrame:
    """Models, indexed by ``model``: total/active parameters (billions), layers, hidden size,
    attention and KV heads, head dimension, source."""
    return _read("models.csv").set_index("model", drop=False).copy()


def model_errors() -> pd.DataFrame:
    """Accuracy per (model, family) from public benchmarks; ``error = 1 - accuracy``."""
    df = _read("model_errors.csv").copy()
    df["error"] = 1.0 - df["accuracy"]
    return df


def precisions() -> pd.DataFrame:
    """Precisions, indexed by ``precision``: bytes_per_weight, kv_bytes, compute (which TFLOPS column),
    speed_factor, accuracy_recovery (fraction of bf16 accuracy kept), source."""
    return _read("precisions.csv").set_index("precision", drop=False).copy()


def error_table() -> pd.DataFrame:
    """Wide table model × family of bf16 error rates (1 − accuracy)."""
    return model_errors().pivot(index="model", columns="family", values="error")


def instances() -> pd.DataFrame:
    """Cloud instances that hold each GPU type: cloud, region, instance_type, gpu, gpus, price_per_hour ($/h
    for the whole instance), source; one row per instance type."""
    return _read("instances.csv").copy()


def quantization() -> pd.DataFrame:
    """Per-model accuracy recovery of a quantised precision, indexed by (model, precision); a model/precision
    without a row falls back to ``precisions().accuracy_recovery``."""
    return _read("quantization.csv").set_index(["model", "precision"], drop=False).copy()


def accuracy_recovery(models, precisions_) -> "pd.Series":
    """Fraction of the bf16 accuracy kept by each (model, precision) pair: the per-model value where the
    catalog has one (quantization.csv), else the precision's (precisions.csv)."""
    per_model = quantization()["accuracy_recovery"]
    flat = precisions()["accuracy_recovery"]
    keys = pd.MultiIndex.from_arrays([list(models), list(precisions_)])
    r = per_model.reindex(keys)
    return r.fillna(pd.Series(flat.reindex(list(precisions_)).to_numpy(), index=keys))
