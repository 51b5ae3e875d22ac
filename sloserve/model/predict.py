"""A stable prediction API: what the performance model says about one configuration and workload.

    >>> import sloserve as ss
    >>> p = ss.predict_latency("llama-3.1-8b", "h100-sxm", "bf16", 1, 1, 512, 128, batch=16)
    >>> sorted(p)[:3]
    ['capacity_rps', 'decode_step_s', 'feasible']

``predict_latency`` answers for one row, ``predict_latency_frame`` for a DataFrame (one row per case,
same column names in, the inputs plus the outputs out). Both run the functions the planner runs
(:mod:`sloserve.model.perf`, the packaged calibration), so a score of these numbers against a
measurement is a score of the planner's model. Definitions (docs/perf_model.md, "Prediction API"):

``prefill_s``         one prefill pass over ``batch`` prompts of ``input_tokens`` tokens together
``ttft_s``            the prefill of a lone request (batch 1): time to first token without queueing
``decode_step_s``     one decode iteration of ``batch`` sequences at mean context input + output/2, nothing else
``tpot_s``            one iteration of a replica in steady state with ``batch`` sequences decoding and chunked
                      prefill of the next requests (the planner's TPOT: prefill–decode interference included)
``throughput_tok_s``  static batch: batch·output / (prefill_s + output·decode_step_s), output tokens/s
``capacity_rps``      the planner's capacity of one replica at this batch: batch / (output · tpot_s)
``kv_fits``           batch·(input + output) tokens of KV cache fit the replica's KV budget
``max_batch_kv``      the largest batch whose KV cache fits
``feasible``, ``infeasible_reason``  the compile stage's rules (tp ≤ GPUs per node, pp ≤ layers, weights fit)
``instance_type``, ``cost_per_hour``  the instances that hold one replica and their price, as the planner
                      prices it (``sloserve.model.pricing``, whole instances); pipeline hops between instances
                      use the inter-node link, as in the planner

``architecture`` takes the catalog's model columns (``compile.ARCHITECTURE_COLUMNS``: total_params_b,
active_params_b, layers, hidden_size, num_attention_heads, num_kv_heads, head_dim, vocab_size,
tie_word_embeddings) so that a model outside the catalog can be predicted; in the frame form those columns,
when present and filled, do the same per row.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import catalog, perf, pricing
from .compile import ARCHITECTURE_COLUMNS, GPU_COLUMNS, PRECISION_COLUMNS, add_si_columns
from ..errors import InputError

INPUT_COLUMNS = ("model", "gpu", "precision", "tp", "pp", "input_tokens", "output_tokens", "batch")
OUTPUT_COLUMNS = ("prefill_s", "ttft_s", "decode_step_s", "tpot_s", "throughput_tok_s", "capacity_rps", "kv_fits",
                  "max_batch_kv", "feasible", "infeasible_reason", "instance_type", "cost_per_hour")
#: architecture columns that may be omitted (defaults: dense model, head count = hidden/head_dim, no 16-bit embedding)
OPTIONAL_ARCHITECTURE = ("active_params_b", "num_attention_heads", "vocab_size", "tie_word_embeddings")


def predict_latency(model: str, gpu: str, precision: str, tp: int, pp: int, input_tokens: float,
                    output_tokens: float, batch: float = 1, architecture: Mapping[str, Any] | None = None, *,
                    memory_fraction: float = 0.9, calibration: pd.DataFrame | None = None) -> dict[str, Any]:
    """The performance model's prediction for one configuration and workload (seconds, tokens/s, requests/s).

    ``model`` is a catalog key, or any label when ``architecture`` gives the model's catalog columns."""
    row = {"model": model, "gpu": gpu, "precision": precision, "tp": tp, "pp": pp, "input_tokens": input_tokens,
           "output_tokens": output_tokens, "batch": batch}
    if architecture is not None:
        unknown = sorted(set(architecture) - set(ARCHITECTURE_COLUMNS))
        if unknown:
            raise InputError(None, f"architecture.{unknown[0]}", f"unknown column; allowed: {list(ARCHITECTURE_COLUMNS)}")
        row.update(architecture)
    out = predict_latency_frame(pd.DataFrame([row]), memory_fraction=memory_fraction, calibration=calibration)
    r = out.iloc[0]
    return {k: (bool(r[k]) if k in ("kv_fits", "feasible") else str(r[k]) if k in ("infeasible_reason", "instance_type")
                else float(r[k])) for k in OUTPUT_COLUMNS}


def predict_latency_frame(cases: pd.DataFrame, *, memory_fraction: float = 0.9,
                          calibration: pd.DataFrame | None = None) -> pd.DataFrame:
    """``predict_latency`` for every row of ``cases`` (columns INPUT_COLUMNS; ``batch`` defaults to 1; optional
    architecture columns per row). Returns ``cases`` with OUTPUT_COLUMNS added, in the same row order."""
    c = _configs(cases)
    spec = perf.spec_from_configs(c)
    cal = perf.calibration_for(c["gpu"].to_numpy(dtype=object), calibration)
    h, f, b = (c[k].to_numpy(dtype=float) for k in ("input_tokens", "output_tokens", "batch"))
    prefill = perf.prefill_time_s(h, spec, cal, batch=b)
    ttft = perf.prefill_time_s(h, spec, cal)
    decode = perf.decode_step_s(b, h + f / 2.0, spec, cal)
    tpot = perf.loaded_step_s(b, h, f, spec, cal)
    kv = perf.kv_budget_bytes(c["memory_bytes"].to_numpy(dtype=float), spec["tp"], spec["pp"], spec["weight_bytes"],
                              spec["hidden_size"], memory_fraction)
    per_seq = (h + f) * spec["kv_bytes_per_token"]
    reasons = np.full(len(c), "", dtype=object)
    for bad, why in ((spec["pp"] > spec["layers"], "pp exceeds the number of layers"),
                     (spec["tp"] > spec["gpus_per_node"], "tp exceeds gpus per node"),
                     (kv <= 0, "weights and activations exceed memory")):
        reasons = np.where(bad & (reasons == ""), why, reasons)
    out = cases.reset_index(drop=True).copy()
    if "batch" not in out:
        out["batch"] = 1
    out["prefill_s"] = prefill
    out["ttft_s"] = ttft
    out["decode_step_s"] = decode
    out["tpot_s"] = tpot
    out["throughput_tok_s"] = b * f / (prefill + f * decode)
    out["capacity_rps"] = perf.capacity_rps(b, f, tpot)
    out["kv_fits"] = b * per_seq <= kv
    out["max_batch_kv"] = np.floor(np.maximum(kv, 0.0) / per_seq)
    out["feasible"] = reasons == ""
    out["infeasible_reason"] = reasons.astype(str)
    out["instance_type"] = c["instance_type"].to_numpy()
    out["cost_per_hour"] = c["cost_per_hour"].to_numpy(dtype=float)
    return out


def _configs(cases: pd.DataFrame) -> pd.DataFrame:
    """One configuration row per case, in the compile stage's columns and SI units."""
    missing = [k for k in INPUT_COLUMNS if k not in cases and k != "batch"]
    if missing:
        raise InputError(None, missing[0], f"missing column; a prediction needs {list(INPUT_COLUMNS)}")
    d = cases.reset_index(drop=True).copy()
    if "batch" not in d:
        d["batch"] = 1.0
    for k in ("tp", "pp", "input_tokens", "output_tokens", "batch"):
        v = pd.to_numeric(d[k], errors="coerce")
        bad = ~(v > 0) | (v.isna())
        if k in ("tp", "pp"):
            bad |= v != np.floor(v)
        if bad.any():
            i = int(np.nonzero(bad.to_numpy())[0][0])
            raise InputError(None, k, f"must be a positive {'whole ' if k in ('tp', 'pp') else ''}number, got "
                                      f"{d[k].iloc[i]!r}", row=i)
        d[k] = v
    gpus, precs, models = catalog.gpus(), catalog.precisions(), catalog.models()
    for k, known in (("gpu", gpus.index), ("precision", precs.index)):
        bad = ~d[k].isin(known)
        if bad.any():
            i = int(np.nonzero(bad.to_numpy())[0][0])
            raise InputError(None, k, f"unknown value {d[k].iloc[i]!r}; allowed: {sorted(known)}", row=i)
    arch = _architecture(d, models)
    g = gpus.loc[d["gpu"], list(GPU_COLUMNS)].reset_index(drop=True)
    q = precs.loc[d["precision"], list(PRECISION_COLUMNS)].reset_index(drop=True)
    c = pd.concat([d[["model", "tp", "pp", "input_tokens", "output_tokens", "batch"]], arch, g, q], axis=1)
    c = add_si_columns(c)
    c = pricing.price_configs(c)  # the instance sets the node size of the pipeline hops, as in the planner
    c["config"] = [f"case{i}" for i in range(len(c))]
    return c


def _architecture(d: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """The architecture columns per case: the row's own where given, else the catalog's for its model."""
    rows = []
    for i, r in d.iterrows():
        own = {k: r[k] for k in ARCHITECTURE_COLUMNS if k in d and not _empty(r[k])}
        if r["model"] in models.index:
            base = {k: models.loc[r["model"], k] for k in ARCHITECTURE_COLUMNS}
        else:
            need = [k for k in ARCHITECTURE_COLUMNS if k not in OPTIONAL_ARCHITECTURE and k not in own]
            if need:
                raise InputError(None, f"architecture.{need[0]}",
                                 f"model {r['model']!r} is not in the catalog ({sorted(models.index)}); give its "
                                 f"architecture: {[k for k in ARCHITECTURE_COLUMNS if k not in OPTIONAL_ARCHITECTURE]}",
                                 row=int(i))
            base = {"vocab_size": 0.0, "tie_word_embeddings": False}
        a = {**base, **own}
        a.setdefault("active_params_b", a["total_params_b"])
        a.setdefault("num_attention_heads", float(a["hidden_size"]) / float(a["head_dim"]))
        rows.append(a)
    out = pd.DataFrame(rows, columns=list(ARCHITECTURE_COLUMNS))
    out["tie_word_embeddings"] = out["tie_word_embeddings"].astype(bool)
    for k in ARCHITECTURE_COLUMNS:
        if k != "tie_word_embeddings":
            out[k] = pd.to_numeric(out[k], errors="coerce").astype(float)
    return out


def _empty(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))
