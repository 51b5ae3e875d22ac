"""Figures of a simulated replay; every function takes ``ax=None`` and returns the ``Axes``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.tables import Compiled
from .metrics import latencies

_SLO = {"ttft": "ttft_slo_s", "tpot": "tpot_slo_s", "e2e": "e2e_slo_s"}
_LABEL = {"ttft": "time to first token (s)", "tpot": "time per output token (s)", "e2e": "end-to-end latency (s)"}


def _axes(ax, size=(6, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt
        ax = plt.subplots(figsize=size)[1]
    return ax


def plot_latency_cdf(requests: pd.DataFrame, compiled: Compiled, metric: str = "ttft", types=None, ax=None,
                     log: bool = True):
    """Empirical CDF of ``metric`` (ttft | tpot | e2e) per query type over completed requests, with
    each type's SLO as a dotted vertical line in the same colour."""
    if metric not in _SLO:
        raise ValueError(f"metric must be one of {sorted(_SLO)}, got {metric!r}")
    ax = _axes(ax)
    lat = latencies(requests)[f"{metric}_s"]
    done = requests["status"] == "completed"
    qt = compiled.query_types.set_index("query_type")
    for k, q in enumerate(types or list(qt.index)):
        v = np.sort(lat[done & (requests["query_type"] == q)].dropna().to_numpy())
        if not len(v):
            continue
        line, = ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=q)
        slo = qt.at[q, _SLO[metric]]
        if pd.notna(slo):
            ax.axvline(float(slo), color=line.get_color(), linestyle=":", linewidth=1)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(_LABEL[metric])
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{metric.upper()} per query type (dotted: SLO)")
    return ax


def plot_replica_series(timeseries: pd.DataFrame, column: str = "busy", ax=None):
    """One line per replica of ``column`` over time: ``busy`` (utilisation), ``queue`` (waiting requests),
    ``kv_utilization`` or ``batch``."""
    ax = _axes(ax, (7, 3.2))
    for (r, cfg), g in timeseries.groupby(["replica", "config"]):
        ax.step(g["t_s"], g[column], where="post", label=f"{r}: {cfg}", linewidth=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel({"busy": "utilisation", "queue": "waiting requests", "kv_utilization": "KV cache used",
                   "batch": "sequences per iteration"}.get(column, column))
    ax.legend(fontsize=6, loc="upper left")
    return ax


def plot_attainment(summary: pd.DataFrame, ax=None):
    """SLO attainment per query type (bars) against its target (dashes)."""
    ax = _axes(ax, (6, 3))
    x = np.arange(len(summary))
    ax.bar(x, summary["slo_attainment"], color="#4c72b0")
    tgt = summary["attainment_target"].to_numpy(dtype=float)
    ax.scatter(x[~np.isnan(tgt)], tgt[~np.isnan(tgt)], marker="_", s=400, color="black", label="target")
    ax.set_xticks(x)
    ax.set_xticklabels(summary["query_type"], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("requests within every SLO")
    if (~np.isnan(tgt)).any():
        ax.legend(fontsize=8)
    return ax
