"""Seeded synthetic scenarios of any size, for benchmarks and property tests.

Presets (query types, models, GPU types): S (6,4,4), M (12,6,6), L (30,8,8), XL (60,10,8).
Models and GPUs are drawn from the packaged catalog; query-type shapes are drawn on log
scales around the token sizes of public traces (prompts 64–8k tokens, outputs 16–1k), with
SLO tiers of the kind production services publish. Error limits are drawn between the best
and a middling model's error for the type's family so that the accuracy constraint binds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from ..errors import InputError
from .scenario import GpuOverride, QueryType, Scenario, ScenarioOptions


@dataclass(frozen=True)
class Preset:
    query_types: int
    models: int
    gpus: int


PRESETS: dict[str, Preset] = {
    "S": Preset(6, 4, 4),
    "M": Preset(12, 6, 6),
    "L": Preset(30, 8, 8),
    "XL": Preset(60, 10, 8),
}

TPOT_TIERS_S = (0.03, 0.05, 0.08, 0.15)  # interactive .. relaxed time per output token


def _spread(ids: list[str], sizes: np.ndarray, n: int, rng: np.random.Generator) -> list[str]:
    """Pick ``n`` ids spread over the size range (one per size stratum, random within it)."""
    if n >= len(ids):
        return list(ids)
    order = np.argsort(sizes)
    strata = np.array_split(order, n)
    return [ids[int(rng.choice(s))] for s in strata]


def generate_scenario(preset: str = "S", seed: int = 0, *, query_types: int | None = None, models: int | None = None,
                      gpus: int | None = None, rate_scale: float = 1.0) -> Scenario:
    """A reproducible synthetic scenario; sizes from ``preset`` unless given explicitly."""
    if preset not in PRESETS:
        raise InputError(None, "preset", f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    p = PRESETS[preset]
    n_q, n_m, n_g = query_types or p.query_types, models or p.models, gpus or p.gpus
    rng = np.random.default_rng([seed, n_q, n_m, n_g])
    cm, cg = catalog.models(), catalog.gpus()
    model_ids = _spread(list(cm.index), cm["total_params_b"].to_numpy(float), n_m, rng)
    gpu_ids = _spread(list(cg.index), cg["bf16_tflops"].to_numpy(float), n_g, rng)
    err = catalog.error_table().loc[model_ids]

    qts = []
    for i in range(n_q):
        fam = str(rng.choice(catalog.FAMILIES))
        h = int(round(np.exp(rng.uniform(np.log(64), np.log(8192)))))
        f = int(round(np.exp(rng.uniform(np.log(16), np.log(1024)))))
        tpot = float(rng.choice(TPOT_TIERS_S))
        ttft = float(np.round(max(0.25, h / 2000.0) * rng.uniform(1.5, 4.0), 3))
        e2e = float(np.round((ttft + f * tpot) * rng.uniform(1.1, 1.6), 3))
        fe = np.sort(err[fam].to_numpy(float))
        lo, hi = fe[0], fe[min(len(fe) - 1, len(fe) // 2)]
        max_err = float(np.round(lo + rng.uniform(0.15, 1.0) * (hi - lo) + 0.01, 4))
        allow = rng.random() < 0.3
        qts.append(QueryType(
            name=f"q{i:02d}-{fam}", family=fam,
            rate_rps=float(np.round(np.exp(rng.uniform(np.log(0.2), np.log(20.0))) * rate_scale, 4)),
            input_tokens=h, output_tokens=f, ttft_slo_s=ttft, tpot_slo_s=tpot, e2e_slo_s=e2e,
            max_error=min(max_err, 1.0),
            max_unserved=0.05 if allow else 0.0,
            unserved_penalty=float(np.round(rng.uniform(0.002, 0.02), 4)) if allow else 0.0))
    overrides = {g: GpuOverride(available=int(rng.choice([16, 32, 64]))) for g in gpu_ids if rng.random() < 0.4}
    return Scenario(name=f"gen-{preset}-s{seed}", query_types=tuple(qts), models=tuple(model_ids),
                    gpus=tuple(gpu_ids), precisions=tuple(catalog.precisions().index),
                    options=ScenarioOptions(), gpu_overrides=overrides,
                    description=f"synthetic scenario, preset {preset} ({n_q} query types, {n_m} models, {n_g} GPU types), seed {seed}",
                    source=f"generate_scenario({preset!r}, {seed})")
