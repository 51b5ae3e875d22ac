"""What a configuration costs: the cloud instances that hold its GPUs (sloserve/data/instances.csv).

A replica's tensor-parallel group must sit inside one instance (NVLink, or one PCIe host); its pipeline
stages may span instances (the hops between them use the inter-node link). Two ways to price a replica
(scenario option ``instance_pricing``):

``whole`` (default)  the cheapest set of whole instances of one type that holds the replica: a TP-1
                     L4 replica is a g6.xlarge ($0.80/h), a TP-2 L4 replica a g6.12xlarge ($4.60/h, two
                     of its four GPUs spare), TP-1 PP-2 two g6.xlarge, a TP-1 A100 replica a whole
                     p4de.24xlarge. The spare GPUs are paid for and idle (``spare_gpus`` in the configs
                     table): the planner sees what the bill will be, and prefers configurations that fill
                     their instances.
``per_gpu``          the per-GPU price of the cheapest instance type that holds one TP group, times the
                     replica's GPUs: replicas are assumed to share instances (a p5.48xlarge holding two
                     TP-4 replicas). Right for large deployments; for a small one the GPUs a plan leaves
                     unfilled are paid for and idle, which :func:`instance_summary` counts.

A scenario's ``gpus: {<id>: {price_per_gpu_hour: ...}}`` replaces the instance catalog for that GPU:
every configuration then costs that price per GPU.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import catalog

PRICING_MODES = ("whole", "per_gpu")
SCENARIO_PRICE = "scenario price_per_gpu_hour"


def _options(gpu: str, tp: float, pp: float, by_gpu: dict, mode: str) -> dict:
    names, k_all, price_all = by_gpu.get(gpu, (np.array([], dtype=object), np.array([]), np.array([])))
    sel = k_all >= tp
    if not sel.any():
        return {"instance_type": "", "instance_gpus": np.nan, "instances": np.nan, "cost_per_hour": np.nan}
    names, k, price = names[sel], k_all[sel], price_all[sel]
    if mode == "whole":
        count = np.ceil(pp / np.floor(k / tp))
        cost = count * price
    else:
        count = tp * pp / k
        cost = price / k * tp * pp
    order = np.lexsort((-k, cost))  # cheapest; ties: the larger instance (fewer inter-node hops)
    i = int(order[0])
    return {"instance_type": names[i], "instance_gpus": float(k[i]), "instances": float(count[i]),
            "cost_per_hour": float(cost[i])}


def price_configs(df: pd.DataFrame, overrides: dict[str, float] | None = None, mode: str = "whole",
                  instances: pd.DataFrame | None = None) -> pd.DataFrame:
    """``df`` (columns gpu, tp, pp, gpus, gpus_per_node) with instance_type, instance_gpus, instances (per
    replica), spare_gpus, cost_per_hour and price_per_gpu_hour (= cost_per_hour / gpus); a GPU in
    ``overrides`` costs its override per GPU-hour."""
    if mode not in PRICING_MODES:
        raise ValueError(f"instance pricing must be one of {PRICING_MODES}, got {mode!r}")
    inst = catalog.instances() if instances is None else instances
    by_gpu = {g: (d["instance_type"].to_numpy(dtype=object), d["gpus"].to_numpy(dtype=float),
                  d["price_per_hour"].to_numpy(dtype=float)) for g, d in inst.groupby("gpu")}
    out = df.copy()
    keys = out[["gpu", "tp", "pp"]].drop_duplicates()
    table = pd.DataFrame([{"gpu": g, "tp": n, "pp": m, **_options(g, float(n), float(m), by_gpu, mode)}
                          for g, n, m in keys.itertuples(index=False)])
    out = out.drop(columns=[c for c in ("instance_type", "instance_gpus", "instances", "cost_per_hour") if c in out])
    out = out.merge(table, on=["gpu", "tp", "pp"], how="left")
    for gid, price in (overrides or {}).items():
        sel = out["gpu"] == gid
        out.loc[sel, "instance_type"] = SCENARIO_PRICE
        out.loc[sel, "instance_gpus"] = out.loc[sel, "gpus"].astype(float)
        out.loc[sel, "instances"] = 1.0
        out.loc[sel, "cost_per_hour"] = float(price) * out.loc[sel, "gpus"].astype(float)
    out["spare_gpus"] = np.where(out["instance_type"] == SCENARIO_PRICE, 0.0,
                                 np.maximum(out["instances"] * out["instance_gpus"] - out["gpus"], 0.0))
    out["price_per_gpu_hour"] = out["cost_per_hour"] / out["gpus"]
    return out


def instance_summary(configs: pd.DataFrame, replicas: dict[str, int]) -> pd.DataFrame:
    """The instances a plan rents, per (gpu, instance type): GPUs the replicas use, whole instances, idle GPUs
    and their cost ($/h). With ``whole`` pricing the plan's objective already pays the idle GPUs; with
    ``per_gpu`` pricing the replicas are packed and the idle remainder is on top of the objective."""
    c = configs.set_index("config")
    rows = []
    for cfg, y in replicas.items():
        if y <= 0:
            continue
        r = c.loc[cfg]
        k = float(r["instance_gpus"]) if "instance_gpus" in c else float(r["gpus"])
        n_inst = float(r["instances"]) if "instances" in c else float(r["gpus"]) / k
        rows.append({"gpu": r["gpu"], "instance_type": r["instance_type"] if "instance_type" in c else "",
                     "instance_gpus": k, "gpus_used": float(r["gpus"]) * y, "instances": n_inst * y,
                     "instance_cost_per_hour": float(r["cost_per_hour"]) / n_inst if n_inst else np.nan})
    cols = ["gpu", "instance_type", "instance_gpus", "gpus_used", "instances", "idle_gpus", "idle_cost_per_hour"]
    if not rows:
        return pd.DataFrame(columns=cols)
    d = pd.DataFrame(rows).groupby(["gpu", "instance_type", "instance_gpus"], as_index=False).agg(
        gpus_used=("gpus_used", "sum"), instances=("instances", "sum"), cost=("instance_cost_per_hour", "first"))
    d["instances"] = np.ceil(d["instances"] - 1e-9).astype(int)
    d["idle_gpus"] = d["instances"] * d["instance_gpus"] - d["gpus_used"]
    d["idle_cost_per_hour"] = d["idle_gpus"] * d["cost"] / d["instance_gpus"]
    return d[cols]
