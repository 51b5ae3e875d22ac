"""The metrics of ``docs/metrics.md``, computed once from the per-request records."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.tables import Compiled
from .engine import STATUS_NAMES

QUANTILES = (0.5, 0.9, 0.99)


def request_frame(table, arrivals, replica_configs: list[str]) -> pd.DataFrame:
    """One row per arrival: times (s from the start), tokens, type, where it ran, preemptions, status."""
    n = len(table)
    rep = table.replica
    cfg = np.asarray(replica_configs + [""], dtype=object)[np.where(rep >= 0, rep, len(replica_configs))] if n else []
    status = np.asarray([STATUS_NAMES[int(s)] for s in table.status], dtype=object) if n else np.zeros(0, dtype=object)
    return pd.DataFrame({
        "arrived_at": arrivals.arrived_at, "first_token_at": table.first_token_at, "completed_at": table.completed_at,
        "input_tokens": arrivals.input_tokens, "output_tokens": arrivals.output_tokens,
        "query_type": np.asarray(arrivals.types, dtype=object)[arrivals.query_type] if n else np.zeros(0, dtype=object),
        "config": cfg, "replica": rep, "preemptions": table.preemptions, "status": status,
    })


def latencies(requests: pd.DataFrame) -> pd.DataFrame:
    """TTFT, TPOT (mean inter-token time, NaN for one-token outputs) and E2E per request, seconds."""
    ttft = requests["first_token_at"] - requests["arrived_at"]
    e2e = requests["completed_at"] - requests["arrived_at"]
    o = requests["output_tokens"].to_numpy(dtype=float)
    tpot = (requests["completed_at"] - requests["first_token_at"]) / np.where(o > 1, o - 1, np.nan)
    return pd.DataFrame({"ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e})


def meets_slos(requests: pd.DataFrame, compiled: Compiled) -> np.ndarray:
    """Per request: completed with TTFT, TPOT and E2E within its type's SLOs (a missing SLO is met)."""
    lat = latencies(requests)
    qt = compiled.query_types.set_index("query_type")
    ok = (requests["status"] == "completed").to_numpy().copy()
    for col, slo in (("ttft_s", "ttft_slo_s"), ("tpot_s", "tpot_slo_s"), ("e2e_s", "e2e_slo_s")):
        lim = qt[slo].reindex(requests["query_type"]).to_numpy(dtype=float)
        v = lat[col].to_numpy(dtype=float)
        ok &= np.isnan(lim) | np.isnan(v) & (col == "tpot_s") | (v <= lim * (1 + 1e-9))
    return ok


def type_summary(requests: pd.DataFrame, compiled: Compiled, span_s: float) -> pd.DataFrame:
    """Per query type: counts by outcome, p50/p90/p99 of TTFT, TPOT, E2E, SLO attainment, goodput."""
    lat = latencies(requests)
    ok = meets_slos(requests, compiled)
    qt = compiled.query_types
    target = qt["slo_attainment"].to_numpy(dtype=float) if "slo_attainment" in qt else np.full(len(qt), np.nan)
    rows = []
    for q, tgt in zip(qt["query_type"].astype(str), target):
        m = (requests["query_type"] == q).to_numpy()
        done = m & (requests["status"] == "completed").to_numpy()
        row = {"query_type": q, "requests": int(m.sum()), "completed": int(done.sum()),
               "in_flight": int((m & (requests["status"] == "in_flight").to_numpy()).sum()),
               "unserved": int((m & (requests["status"] == "unserved").to_numpy()).sum()),
               "rejected": int((m & (requests["status"] == "rejected").to_numpy()).sum())}
        for col in ("ttft_s", "tpot_s", "e2e_s"):
            v = lat[col].to_numpy(dtype=float)[done]
            v = v[~np.isnan(v)]
            for p in QUANTILES:
                row[f"{col[:-2]}_p{int(round(p * 100))}_s"] = float(np.quantile(v, p)) if len(v) else np.nan
        # the requests the plan serves: not those it leaves unserved (u_i, bounded by max_unserved), nor
        # those arriving after the horizon; rejected (too long for the KV cache) and in flight count as misses
        counted = m & ~requests["status"].isin(("after_horizon", "unserved")).to_numpy()
        row["slo_attainment"] = float(ok[counted].mean()) if counted.any() else np.nan
        row["attainment_target"] = tgt
        row["goodput_rps"] = float(ok[m].sum() / span_s) if span_s > 0 else np.nan
        row["preemptions"] = int(requests["preemptions"].to_numpy()[m].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def replica_frame(replicas, span_s: float) -> pd.DataFrame:
    """Per replica: utilisation (busy share of the span), mean batch, mean KV utilisation, preemptions."""
    return pd.DataFrame([{
        "replica": r.index, "config": r.config, "busy_s": r.busy_s,
        "utilization": r.busy_s / span_s if span_s > 0 else np.nan,
        "iterations": r.iterations,
        "mean_batch": r.seq_iterations / r.iterations if r.iterations else 0.0,
        "kv_utilization": r.kv_block_s / (r.total_blocks * span_s) if span_s > 0 and r.total_blocks else np.nan,
        "kv_blocks": r.total_blocks, "max_num_seqs": r.max_seqs, "preemptions": r.preemption_count,
    } for r in replicas], columns=["replica", "config", "busy_s", "utilization", "iterations", "mean_batch",
                                   "kv_utilization", "kv_blocks", "max_num_seqs", "preemptions"])
