"""Hand-built and randomly generated compiled tables for tests (no performance model involved).

``tiny_compiled`` is small enough to check the optimum by hand; ``random_compiled`` and the
hypothesis strategy ``compiled_instances`` generate small instances in the compiled-table
format for property tests of the MILP, the heuristics and the checker.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from sloserve.problem.tables import Compiled, Options


def make_compiled(query_types: list[dict], configs: list[dict], routes: list[dict], *, gpus: dict | None = None,
                  fixed_cost: dict | None = None, name: str = "test", **options) -> Compiled:
    """Compiled tables from lists of row dicts; missing optional columns get neutral defaults."""
    qt = pd.DataFrame(query_types)
    for col, d in (("ttft_slo_s", np.nan), ("tpot_slo_s", np.nan), ("e2e_slo_s", np.nan), ("max_error", 1.0),
                   ("max_unserved", 0.0), ("unserved_penalty", 0.0), ("input_tokens", 100.0), ("output_tokens", 100.0),
                   ("slo_attainment", np.nan)):
        if col not in qt:
            qt[col] = d
    qt = qt.astype({c: float for c in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")})
    cf = pd.DataFrame(configs)
    for col, d in (("precision", "bf16"), ("tp", 1), ("pp", 1), ("kv_bytes", 1e12), ("max_replicas", 1000)):
        if col not in cf:
            cf[col] = d
    if "gpus" not in cf:
        cf["gpus"] = cf["tp"] * cf["pp"]
    rt = pd.DataFrame(routes, columns=None if routes else ["query_type", "config", "capacity_rps"])
    for col, d in (("ttft_s", 0.1), ("tpot_s", 0.01), ("error", 0.0), ("kv_byte_seconds", 0.0)):
        if col not in rt:
            rt[col] = d
    if "e2e_s" not in rt:
        rt["e2e_s"] = rt["ttft_s"] + 100 * rt["tpot_s"]
    gpu_ids = list(dict.fromkeys(cf["gpu"]))
    gp = pd.DataFrame({"gpu": gpu_ids, "available": [float((gpus or {}).get(g, np.nan)) for g in gpu_ids]})
    model_ids = list(dict.fromkeys(cf["model"]))
    md = pd.DataFrame({"model": model_ids, "fixed_cost_per_hour": [float((fixed_cost or {}).get(m, 0.0)) for m in model_ids]})
    return Compiled(name=name, query_types=qt, configs=cf, routes=rt, gpus=gp, models=md, options=Options(**options))


def tiny_compiled(**options) -> Compiled:
    """Two query types, two models on one GPU type; optimum checkable by hand.

    q-easy (2 rps) can use the small model (capacity 1 rps/replica, $1/h) or the big one
    (capacity 2 rps, $3/h); q-hard (1 rps) needs the big model (error limit 0.1).
    With ρ̄ = 1: big×1 serves q-hard (1 rps of 2), spare 1 rps of big takes half of q-easy,
    small×1 takes the other half: cost 3 + 1 = $4/h (vs. big×2 = $6/h, or big×1 + small×2 = $5/h).
    """
    options.setdefault("utilization_cap", 1.0)
    return make_compiled(
        query_types=[{"query_type": "q-easy", "rate_rps": 2.0, "max_error": 0.3},
                     {"query_type": "q-hard", "rate_rps": 1.0, "max_error": 0.1}],
        configs=[{"config": "small|g|bf16|tp1pp1", "model": "small", "gpu": "g", "cost_per_hour": 1.0},
                 {"config": "big|g|bf16|tp1pp1", "model": "big", "gpu": "g", "cost_per_hour": 3.0}],
        routes=[{"query_type": "q-easy", "config": "small|g|bf16|tp1pp1", "capacity_rps": 1.0, "error": 0.2},
                {"query_type": "q-easy", "config": "big|g|bf16|tp1pp1", "capacity_rps": 2.0, "error": 0.05},
                {"query_type": "q-hard", "config": "small|g|bf16|tp1pp1", "capacity_rps": 1.0, "error": 0.4},
                {"query_type": "q-hard", "config": "big|g|bf16|tp1pp1", "capacity_rps": 2.0, "error": 0.08}],
        **options)


def random_compiled(rng: np.random.Generator, n_types: int = 3, n_models: int = 2, n_gpus: int = 2,
                    tps: tuple[int, ...] = (1, 2), route_prob: float = 0.8, name: str = "random") -> Compiled:
    """A random small instance in compiled-table form (numbers on realistic scales)."""
    models = [f"m{j}" for j in range(n_models)]
    gpus = [f"g{k}" for k in range(n_gpus)]
    price = rng.uniform(0.5, 5.0, n_gpus)
    quality = rng.uniform(0.05, 0.4, n_models)  # base error per model
    speed = rng.uniform(0.5, 4.0, (n_models, n_gpus))
    qts = [{"query_type": f"q{i}", "rate_rps": float(rng.uniform(0.2, 8.0)),
            "max_error": float(rng.uniform(0.1, 0.45)),
            "max_unserved": float(rng.choice([0.0, 0.0, 0.1])), "unserved_penalty": float(rng.uniform(0.0, 0.01)),
            "e2e_slo_s": float(rng.uniform(5, 30))} for i in range(n_types)]
    cfgs, routes = [], []
    for j, k, n in itertools.product(range(n_models), range(n_gpus), tps):
        c = f"{models[j]}|{gpus[k]}|bf16|tp{n}pp1"
        kv = float(rng.uniform(5e9, 5e10) * n)
        cfgs.append({"config": c, "model": models[j], "gpu": gpus[k], "tp": n, "pp": 1,
                     "cost_per_hour": float(price[k] * n), "kv_bytes": kv})
        for i in range(n_types):
            if rng.random() < route_prob:
                mu = float(speed[j, k] * n ** 0.8 * rng.uniform(0.7, 1.3))
                e2e = float(rng.uniform(1, 20) / n ** 0.5)
                routes.append({"query_type": f"q{i}", "config": c, "capacity_rps": mu,
                               "error": float(np.clip(quality[j] + rng.normal(0, 0.03), 0, 1)),
                               "e2e_s": e2e, "ttft_s": e2e / 10, "tpot_s": e2e / 200,
                               "kv_byte_seconds": float(rng.uniform(1e7, 5e9))})
    avail = {g: float(rng.choice([np.nan, 8.0, 16.0])) for g in gpus}
    return make_compiled(qts, cfgs, routes, gpus=avail, name=name,
                         fixed_cost={m: float(rng.choice([0.0, 0.0, 1.0])) for m in models},
                         utilization_cap=float(rng.choice([0.7, 0.8, 1.0])),
                         one_parallelism_per_deployment=bool(rng.random() < 0.7),
                         max_models=None if rng.random() < 0.7 else int(rng.integers(1, n_models + 1)),
                         slo_mode=str(rng.choice(["per_route", "mean"])))


@st.composite
def compiled_instances(draw, max_types: int = 4, max_models: int = 3, max_gpus: int = 2) -> Compiled:
    """Hypothesis strategy: a random small compiled instance (seeded numpy under the hood)."""
    seed = draw(st.integers(0, 2**31 - 1))
    n_types = draw(st.integers(1, max_types))
    n_models = draw(st.integers(1, max_models))
    n_gpus = draw(st.integers(1, max_gpus))
    return random_compiled(np.random.default_rng(seed), n_types, n_models, n_gpus)
