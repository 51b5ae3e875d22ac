"""Compile a scenario into the tables of docs/formulation.md §2.2, once, for every solver.

``compile_scenario`` builds the candidate configurations (model × GPU × precision × TP × PP),
runs the performance model over the whole (query type × configuration) grid, attaches error
rates from the catalog, and returns a :class:`~sloserve.tables.Compiled`. Nothing is dropped
silently: ``compiled.extra["dropped"]`` counts infeasible configurations by reason and query
types left without any route.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import catalog, perf, pricing
from .scenario import Scenario, load_scenario
from ..problem.tables import Compiled, read_compiled



#: the catalog's model columns the performance model reads (``architecture=`` of :func:`sloserve.predict_latency`)
ARCHITECTURE_COLUMNS = ("total_params_b", "active_params_b", "layers", "hidden_size", "num_attention_heads",
                        "num_kv_heads", "head_dim", "vocab_size", "tie_word_embeddings")


def config_id(model: str, gpu: str, precision: str, tp: int, pp: int) -> str:
    return f"{model}|{gpu}|{precision}|tp{tp}pp{pp}"


def scenario_gpus(sc: Scenario) -> pd.DataFrame:
    """The scenario's GPU types: catalog rows with its overrides applied (price, and ``available``,
    NaN = unlimited), in the scenario's order."""
    g = catalog.gpus().loc[list(sc.gpus)].reset_index(drop=True)
    g["available"] = np.nan
    for gid, o in sc.gpu_overrides.items():
        if o.price_per_gpu_hour is not None:
            g.loc[g["gpu"] == gid, "price_per_gpu_hour"] = o.price_per_gpu_hour
        if o.available is not None:
            g.loc[g["gpu"] == gid, "available"] = float(o.available)
    return g


def candidate_configs(sc: Scenario, gpus: pd.DataFrame | None = None) -> pd.DataFrame:
    """All (model, gpu, precision, tp, pp) combinations with merged catalog attributes (SI units), each priced
    by the instances that hold it (:mod:`sloserve.model.pricing`; a scenario's per-GPU price replaces that)."""
    g = scenario_gpus(sc) if gpus is None else gpus
    m = catalog.models().loc[list(sc.models)].reset_index(drop=True)
    q = catalog.precisions().loc[list(sc.precisions)].reset_index(drop=True)
    par = pd.DataFrame([(t, p) for t in sc.options.tp_degrees for p in sc.options.pp_degrees], columns=["tp", "pp"])
    arch = [c for c in ARCHITECTURE_COLUMNS if c in m]
    df = (m[["model"] + arch]
          .merge(g[list(GPU_COLUMNS)], how="cross")
          .merge(q[list(PRECISION_COLUMNS)], how="cross")
          .merge(par, how="cross"))
    df = add_si_columns(df)
    overrides = {gid: o.price_per_gpu_hour for gid, o in sc.gpu_overrides.items() if o.price_per_gpu_hour is not None}
    df = pricing.price_configs(df, overrides, mode=sc.options.instance_pricing)
    df.insert(0, "config", [config_id(*r) for r in zip(df["model"], df["gpu"], df["precision"], df["tp"], df["pp"])])
    return df


def add_si_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Catalog units -> the SI columns the performance model reads (parameters, bytes, FLOP/s, bytes/s),
    for a frame of merged model, GPU and precision rows with ``tp`` and ``pp``."""
    df = df.rename(columns={"kv_bytes": "kv_bytes_per_value"})
    df["total_params"] = df["total_params_b"] * 1e9
    df["active_params"] = df["active_params_b"] * 1e9
    df["memory_bytes"] = df["memory_gib"] * 2**30
    df["peak_flops"] = np.where(df["compute"] == "fp8", df["fp8_tflops"], df["bf16_tflops"]) * 1e12
    df["hbm_bandwidth_Bps"] = df["hbm_bandwidth_gbps"] * 1e9
    df["interconnect_Bps"] = df["interconnect_gbps"] * 1e9
    df["gpus"] = df["tp"] * df["pp"]
    return df


#: the catalog's GPU and precision columns a configuration carries
GPU_COLUMNS = ("gpu", "memory_gib", "bf16_tflops", "fp8_tflops", "hbm_bandwidth_gbps", "interconnect_gbps",
               "gpus_per_node")
PRECISION_COLUMNS = ("precision", "bytes_per_weight", "kv_bytes", "compute", "speed_factor")


def query_type_frame(sc: Scenario) -> pd.DataFrame:
    rows = [{
        "query_type": q.name, "rate_rps": q.rate_rps, "input_tokens": q.input_tokens, "output_tokens": q.output_tokens,
        "ttft_slo_s": q.ttft_slo_s, "tpot_slo_s": q.tpot_slo_s, "e2e_slo_s": q.e2e_slo_s,
        "max_error": q.max_error, "max_unserved": q.max_unserved, "unserved_penalty": q.unserved_penalty,
        "slo_attainment": q.slo_attainment,
        "family": q.family, "error_mode": q.error_mode,
    } for q in sc.query_types]
    df = pd.DataFrame(rows)
    for col in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s", "slo_attainment"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def route_errors(routes: pd.DataFrame, qt: pd.DataFrame, configs: pd.DataFrame) -> np.ndarray:
    """e_ic = 1 − accuracy(model, family_i) · recovery(model, precision), from the catalog (the recovery of a
    quantised precision depends on the model's size: ``catalog.accuracy_recovery``)."""
    acc = catalog.model_errors().set_index(["model", "family"])["accuracy"]
    fam = qt.set_index("query_type")["family"].reindex(routes["query_type"]).to_numpy()
    cfg = configs.set_index("config").loc[routes["config"], ["model", "precision"]]
    a = acc.reindex(pd.MultiIndex.from_arrays([cfg["model"].to_numpy(), fam])).to_numpy(dtype=float)
    r = catalog.accuracy_recovery(cfg["model"].to_numpy(), cfg["precision"].to_numpy()).to_numpy(dtype=float)
    return np.clip(1.0 - a * r, 0.0, 1.0)


def per_route_error_filter(routes: pd.DataFrame, qt: pd.DataFrame) -> np.ndarray:
    """True for the routes a query type's ``error_mode`` keeps: every route in ``mean`` mode (the error limit
    binds the traffic-weighted mean, as in the seed paper), only routes with e_ic ≤ ε_i in ``per_route`` mode
    (a route above the limit is not a route)."""
    q = qt.set_index("query_type")
    mode = q["error_mode"].reindex(routes["query_type"]).to_numpy() if "error_mode" in q else \
        np.full(len(routes), "mean")
    limit = q["max_error"].reindex(routes["query_type"]).to_numpy(dtype=float)
    return (mode != "per_route") | (routes["error"].to_numpy(dtype=float) <= limit * (1 + 1e-12))


def compile_scenario(sc: Scenario) -> Compiled:
    """Scenario -> compiled tables (pure; the performance model runs once here)."""
    t0 = time.perf_counter()
    opts = sc.options
    qt = query_type_frame(sc)
    gpu_rows = scenario_gpus(sc)
    cand = candidate_configs(sc, gpu_rows)
    cfg_out, routes = perf.evaluate(cand, qt, memory_fraction=opts.memory_fraction, max_batch=opts.max_batch,
                                    slo_mode=opts.slo_mode)
    infeasible = cfg_out.loc[~cfg_out["feasible"].astype(bool)]
    dropped = {"configs_infeasible": infeasible["infeasible_reason"].value_counts().to_dict(),
               "candidate_configs": int(len(cand)), "candidate_routes": int(len(cand) * len(qt))}
    routes.insert(5, "error", route_errors(routes, qt, cand))
    keep_err = per_route_error_filter(routes, qt)
    dropped["routes_above_error_limit"] = int((~keep_err).sum())
    best = routes.groupby("query_type")["error"].min()
    kept_types = set(routes.loc[keep_err, "query_type"])
    # query types whose routes within the SLOs are all above their error limit (per_route): the best error there was
    dropped["error_limited"] = {str(k): round(float(v), 4) for k, v in best.items() if k not in kept_types}
    routes = routes.loc[keep_err].reset_index(drop=True)
    used = set(routes["config"])
    feas = cfg_out.loc[cfg_out["feasible"].astype(bool) & cfg_out["config"].isin(used)].reset_index(drop=True)
    dropped["configs_without_route"] = int(cfg_out["feasible"].astype(bool).sum() - len(feas))

    a = feas["gpu"].map(gpu_rows.set_index("gpu")["available"]).to_numpy(dtype=float)
    maxrep = np.floor(a / feas["gpus"].to_numpy())  # NaN (an empty cell) = no limit
    configs = feas[["config", "model", "gpu", "precision", "tp", "pp", "gpus", "cost_per_hour", "kv_bytes"]].copy()
    configs["max_replicas"] = maxrep
    for extra_col in ("weight_bytes", "kv_bytes_per_token", "instance_type", "instance_gpus", "instances",
                      "spare_gpus"):
        if extra_col in feas:
            configs[extra_col] = feas[extra_col].to_numpy()
    # configurations that can never hold a replica (availability) go too, counted
    keep = ~(configs["max_replicas"] <= 0)
    dropped["configs_unavailable"] = int((~keep).sum())
    configs = configs.loc[keep].reset_index(drop=True)
    kept = feas.loc[keep.to_numpy()].reset_index(drop=True)
    config_perf = perf.step_table(kept)

    served_before = set(routes.loc[routes["config"].isin(set(feas["config"])), "query_type"])
    routes = routes.loc[routes["config"].isin(set(configs["config"]))].reset_index(drop=True)
    route_cols = ["query_type", "config", "ttft_s", "tpot_s", "e2e_s", "error", "capacity_rps", "kv_byte_seconds"]
    routes = routes[route_cols + [c for c in routes.columns if c not in route_cols]]
    without = sorted(set(qt["query_type"]) - set(routes["query_type"]))
    dropped["query_types_without_route"] = without
    # of those, the types some configuration meets the SLOs of, on GPUs that are not available
    dropped["query_types_unavailable"] = sorted(set(without) & served_before)

    gpus = gpu_rows[["gpu", "available", "price_per_gpu_hour"]].copy()
    models = pd.DataFrame({"model": list(sc.models), "fixed_cost_per_hour": [sc.model_fixed_cost.get(m, 0.0) for m in sc.models]})
    options = opts.planner_options()
    extra = {"dropped": dropped, "compile_seconds": round(time.perf_counter() - t0, 4), "source": sc.source,
             "tp_degrees": list(opts.tp_degrees), "pp_degrees": list(opts.pp_degrees), "max_batch": opts.max_batch,
             "memory_fraction": opts.memory_fraction, "instance_pricing": opts.instance_pricing}
    return Compiled(name=sc.name, query_types=qt, configs=configs, routes=routes, gpus=gpus, models=models,
                    options=options, extra=extra, config_perf=config_perf)


def load_problem(path: str | Path) -> Compiled:
    """A scenario YAML (compiled on the fly) or a compiled directory -> compiled tables."""
    p = Path(path)
    if p.is_dir():
        return read_compiled(p)
    return compile_scenario(load_scenario(p))


def dropped_report(c: Compiled) -> list[str]:
    """Human-readable lines on what compile left out and why."""
    d = c.extra.get("dropped", {})
    out = []
    if d:
        out.append(f"{d.get('candidate_configs', '?')} candidate configurations -> {len(c.configs)} kept")
        for reason, n in (d.get("configs_infeasible") or {}).items():
            out.append(f"  {n} infeasible: {reason}")
        if d.get("configs_without_route"):
            out.append(f"  {d['configs_without_route']} meet no query type's SLOs")
        if d.get("routes_above_error_limit"):
            out.append(f"  {d['routes_above_error_limit']} routes above their query type's error limit "
                       "(error_mode per_route)")
        if d.get("configs_unavailable"):
            out.append(f"  {d['configs_unavailable']} need more GPUs than are available")
        out.append(f"{d.get('candidate_routes', '?')} candidate routes -> {len(c.routes)} feasible")
        unavailable = set(d.get("query_types_unavailable") or [])
        slo = [q for q in d.get("query_types_without_route") or [] if q not in unavailable]
        if slo:
            out.append(f"  query types with NO feasible route (no configuration meets their SLOs): {', '.join(slo)}")
        if unavailable:
            out.append(f"  query types with NO feasible route (the configurations that meet their SLOs need more "
                       f"GPUs than are available): {', '.join(sorted(unavailable))}")
    return out
