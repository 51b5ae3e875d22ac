"""How many of a type's requests could meet its SLOs at all: the attainment no plan can exceed.

A query type's SLOs are one number each, but its requests differ in length: a type whose E2E SLO
was set for its mean output cannot be met by its longest outputs, however many replicas a plan
rents. For every request, :func:`attainable` takes the fastest it could possibly be served — alone
on a replica of a configuration the type has a route to: its whole prompt in one pass (a lower
bound on chunked prefill), then batch-1 decode steps (the engine's exact lone-request times, from
the same ``config_perf`` table) — and counts the requests that meet every SLO on at least one
configuration. That share is an upper bound on the type's SLO attainment in any simulation of any
plan of these tables; a target above it is unattainable, and :func:`sloserve.sim.verify.verify`
says so before it rents anything.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.steptime import StepTime
from ..problem.tables import Compiled
from .arrivals import Arrivals

SLOS = (("ttft_s", "ttft_slo_s"), ("tpot_s", "tpot_slo_s"), ("e2e_s", "e2e_slo_s"))


def lone_latencies(st: StepTime, input_tokens: np.ndarray, output_tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Lower bounds on TTFT, TPOT (NaN for one-token outputs) and E2E of requests alone on a replica [s]."""
    h = np.asarray(input_tokens, dtype=float)
    f = np.asarray(output_tokens, dtype=float)
    ttft = np.asarray(st.prefill_s(h), dtype=float)
    steps = np.maximum(f - 1.0, 0.0)
    # batch-1 decode: the KV read grows by one token per step from h + 1; the mean context is h + f/2
    run = steps * np.asarray(st.decode_s(1.0, h + f / 2.0), dtype=float)
    tpot = np.divide(run, steps, out=np.full(len(h), np.nan), where=steps > 0)
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": ttft + run}


def attainable(compiled: Compiled, arrivals: Arrivals) -> pd.DataFrame:
    """Per query type: requests, the share that could meet every SLO (``attainable``), the share that
    could meet each SLO alone (``ttft_attainable``, ...), and the SLO that binds hardest (``binding``)."""
    qt = compiled.query_types.reset_index(drop=True)
    routes = compiled.routes
    steptimes: dict[str, StepTime] = {}
    rows = []
    for i, q in enumerate(qt["query_type"].astype(str)):
        m = arrivals.query_type == i
        n = int(m.sum())
        h, f = arrivals.input_tokens[m], arrivals.output_tokens[m]
        ok_all = np.zeros(n, dtype=bool)
        ok_each = {col: np.zeros(n, dtype=bool) for col, _ in SLOS}
        for cfg in routes.loc[routes["query_type"] == q, "config"].astype(str).unique():
            if cfg not in steptimes:
                steptimes[cfg] = StepTime.from_table(compiled.config_perf, compiled.configs, config=cfg)
            lat = lone_latencies(steptimes[cfg], h, f)
            ok = np.ones(n, dtype=bool)
            for col, slo in SLOS:
                lim = float(qt.at[i, slo]) if pd.notna(qt.at[i, slo]) else np.inf
                v = lat[col]
                this = np.isnan(v) | (v <= lim * (1 + 1e-9))
                ok_each[col] |= this
                ok &= this
            ok_all |= ok
        row = {"query_type": q, "requests": n, "attainable": float(ok_all.mean()) if n else np.nan}
        for col, _ in SLOS:
            row[f"{col[:-2]}_attainable"] = float(ok_each[col].mean()) if n else np.nan
        shares = {col[:-2]: row[f"{col[:-2]}_attainable"] for col, _ in SLOS}
        row["binding"] = min(shares, key=lambda k: shares[k]) if n and row["attainable"] < 1.0 else ""
        rows.append(row)
    return pd.DataFrame(rows)


def unattainable(ceilings: pd.DataFrame, targets: pd.Series, compiled: Compiled) -> list[str]:
    """One line per type whose target exceeds what its requests could attain (what to change)."""
    qt = compiled.query_types.set_index("query_type")
    lines = []
    for r in ceilings.itertuples(index=False):
        t = targets.get(r.query_type, np.nan)
        if np.isnan(t) or not r.requests or r.attainable >= t - 1e-12:
            continue
        slo = qt.at[r.query_type, f"{r.binding}_slo_s"]
        lines.append(f"query type {r.query_type}: at most {100 * r.attainable:.1f}% of its {r.requests:,} requests can "
                     f"meet every SLO, even alone on its fastest configuration ({r.binding.upper()} SLO {slo:g} s binds: "
                     f"{100 * getattr(r, r.binding + '_attainable'):.1f}% can meet it); a {100 * t:.0f}% target is "
                     f"unattainable: lower its slo_attainment or raise {r.binding}_slo_s")
    return lines
