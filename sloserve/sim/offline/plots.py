"""Plots of offline-batching results: each takes data (+ ``ax=None``) and returns the ``Axes``.

Inputs are the tidy records of ``benchmarks/blendserve.py`` (columns ``workload, model, order,
step_model, metric, value``) or an :class:`~sloserve.sim.offline.engine.OfflineResult`'s ``steps``
frame. Nothing here selects a backend or shows a figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["plot_relative_throughput", "plot_grid_gain", "plot_step_balance"]

ORDER_COLOURS = {"fcfs": "C7", "random": "C1", "dfs": "C0", "density": "C4", "blendserve": "C3"}


def _ax(ax: Axes | None, figsize=(7, 3.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def relative_throughput(records: pd.DataFrame, *, baseline: str = "dfs") -> pd.DataFrame:
    """throughput / the baseline order's, per (workload, model, step_model, order)."""
    t = records[records["metric"] == "throughput_tok_s"]
    wide = t.pivot_table(index=["workload", "model", "step_model"], columns="order", values="value")
    return wide.div(wide[baseline], axis=0)


def plot_relative_throughput(records: pd.DataFrame, *, model: str, step_model: str = "overlap",
                             baseline: str = "dfs", workloads=None, ax: Axes | None = None) -> Axes:
    """Bars: every order's throughput relative to ``baseline``, per workload (all, or ``workloads``),
    for one model and step model."""
    ax = _ax(ax)
    if workloads is not None:
        records = records[records["workload"].isin(list(workloads))]
    rel = relative_throughput(records, baseline=baseline).xs((model, step_model), level=("model", "step_model"))
    orders = [o for o in ORDER_COLOURS if o in rel.columns]
    x = np.arange(len(rel))
    w = 0.8 / max(len(orders), 1)
    for k, o in enumerate(orders):
        ax.bar(x + (k - (len(orders) - 1) / 2) * w, rel[o].to_numpy(float), w, label=o, color=ORDER_COLOURS[o])
    ax.axhline(1.0, color="k", lw=0.8)
    lo = float(np.nanmin(rel[orders].to_numpy(float)))
    ax.set_ylim(min(0.9, lo - 0.05), None)
    ax.set_xticks(x, [str(i) for i in rel.index])
    ax.set_ylabel(f"throughput / {baseline}")
    ax.set_title(f"{model} — {step_model}")
    ax.legend(ncols=len(orders), fontsize="small", loc="lower right")
    return ax


def plot_grid_gain(records: pd.DataFrame, *, model: str, step_model: str = "overlap", order: str = "blendserve",
                   baseline: str = "dfs", ax: Axes | None = None) -> Axes:
    """Heat map of ``order``/``baseline`` throughput over the (density, sharing) grid workloads.

    Grid workloads carry their targets in records with metric ``target_density`` / ``target_sharing``;
    pass only the grid's records (workloads sharing a target would be averaged into one cell)."""
    ax = _ax(ax, figsize=(7, 3.2))
    rel = relative_throughput(records, baseline=baseline).xs((model, step_model), level=("model", "step_model"))[order]
    tg = records[records["metric"].isin(["target_density", "target_sharing"])].pivot_table(
        index="workload", columns="metric", values="value", aggfunc="first")
    df = tg.join(rel.rename("gain"), how="inner")
    m = df.pivot_table(index="target_sharing", columns="target_density", values="gain")
    im = ax.imshow(m.to_numpy(float), origin="lower", aspect="auto", cmap="RdYlGn", vmin=0.8, vmax=1.4)
    ax.set_xticks(np.arange(m.shape[1]), [f"{v:.2f}" for v in m.columns], rotation=90, fontsize="small")
    ax.set_yticks(np.arange(m.shape[0]), [f"{v:.2f}" for v in m.index])
    ax.set_xlabel("target density ρ")
    ax.set_ylabel("target sharing")
    for (i, j), v in np.ndenumerate(m.to_numpy(float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.figure.colorbar(im, ax=ax, label=f"{order} / {baseline}")
    ax.set_title(f"{model} — {step_model}")
    return ax


def binned_balance(steps: pd.DataFrame, bins: int = 60) -> pd.DataFrame:
    """compute_s, memory_s and step_s summed over ``bins`` equal slices of the run's wall time."""
    start = steps["start_s"].to_numpy(float)
    total = float(start[-1] + steps["step_s"].iloc[-1]) if len(steps) else 0.0
    b = np.minimum((start / max(total, 1e-300) * bins).astype(int), bins - 1)
    g = steps.assign(bin=b).groupby("bin")[["compute_s", "memory_s", "step_s"]].sum()
    g["t_s"] = (g.index.to_numpy() + 0.5) * total / bins
    return g.reset_index(drop=True)


def plot_step_balance(binned: pd.DataFrame, *, label: str = "", ax: Axes | None = None) -> Axes:
    """Share of wall time the compute and the memory work of the steps would take alone (binned)."""
    ax = _ax(ax)
    t = binned["t_s"].to_numpy(float) / 3600.0
    ax.plot(t, binned["compute_s"] / binned["step_s"], label=f"{label} compute".strip(), lw=1.2)
    ax.plot(t, binned["memory_s"] / binned["step_s"], label=f"{label} memory".strip(), lw=1.2, ls="--")
    ax.set_xlabel("wall time [h]")
    ax.set_ylabel("work / wall time")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    return ax
