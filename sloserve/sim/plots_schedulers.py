"""Plots of the scheduler studies (``benchmarks/schedulers.py``, ``docs/schedulers.md``).

Every function takes data (the benchmark's tidy records as a DataFrame, or a run's timeline) and an
optional ``ax``, draws, and returns the ``Axes``. Records have the columns ``study, scheduler,
predictor, alpha, time_model, metric, value``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

#: a fixed colour and label per scheduler, so every figure reads the same way
STYLE = {"hsf": ("k", "H-SF (hindsight)"), "amin": ("C0", "A_min"), "amax": ("C3", "A_max"),
         "mcsf": ("C2", "MC-SF (√(ℓu))"), "fcfs": ("C7", "FCFS (vLLM)")}


def _ax(ax: Axes | None, figsize=(6.5, 3.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _style(name: str) -> tuple[str, str]:
    return STYLE.get(name, (None, name))


def reference_curves(alpha: np.ndarray) -> dict[str, np.ndarray]:
    """The theory's growth rates as α falls, normalised to 1 at α = 1: A_min's O(log 1/α) as
    1 + ln(1/α), and A_max's ~α^-1.5 lower-bound order."""
    alpha = np.asarray(alpha, dtype=float)
    return {"1 + ln(1/α)": 1.0 + np.log(1.0 / alpha), "α^-1.5": alpha ** -1.5}


def plot_ratio_vs_alpha(records: pd.DataFrame, ax: Axes | None = None, *, study: str = "alpha_sweep",
                        metric: str = "ratio_to_hsf") -> Axes:
    """TEL / TEL(H-SF) against the interval accuracy α (log axes), one line per scheduler, with the
    reference curves of :func:`reference_curves` dashed."""
    ax = _ax(ax)
    d = records[(records["study"] == study) & (records["metric"] == metric)].dropna(subset=["alpha"])
    for name, g in d.groupby("scheduler", sort=False):
        g = g.sort_values("alpha")
        c, label = _style(str(name))
        ax.plot(g["alpha"], g["value"], "o-", color=c, label=label, ms=4)
    if len(d):
        a = np.geomspace(d["alpha"].min(), 1.0, 50)
        for (label, y), ls in zip(reference_curves(a).items(), ("--", ":")):
            ax.plot(a, y, ls, color="0.5", lw=1, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("interval accuracy α = ℓ/u")
    ax.set_ylabel("TEL / TEL(H-SF)")
    ax.legend(fontsize=8)
    return ax


def plot_ratio_hist(ratios: Mapping[str, Sequence[float]], ax: Axes | None = None, *, bins: int = 30,
                    xlabel: str = "TEL / optimal TEL") -> Axes:
    """Histogram of per-trial ratios, one step outline per scheduler, means marked."""
    ax = _ax(ax)
    vals = {k: np.asarray(v, dtype=float) for k, v in ratios.items() if len(v)}
    if vals:
        hi = max(float(v.max()) for v in vals.values())
        edges = np.linspace(1.0, max(hi, 1.0 + 1e-6) + 1e-9, bins + 1)
        for name, v in vals.items():
            c, label = _style(name)
            ax.hist(v, bins=edges, histtype="step", lw=1.5, color=c, label=f"{label}: mean {v.mean():.3f}")
            ax.axvline(v.mean(), color=c or "0.3", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("trials")
    ax.legend(fontsize=8)
    return ax


def plot_ratio_bars(records: pd.DataFrame, study: str, ax: Axes | None = None, *,
                    metric: str = "ratio_to_hsf") -> Axes:
    """Bars of ``metric`` per predictor (groups) and scheduler (bars) for one study."""
    ax = _ax(ax)
    d = records[(records["study"] == study) & (records["metric"] == metric)]
    table = d.pivot_table(index="predictor", columns="scheduler", values="value", aggfunc="mean", sort=False)
    n = max(1, table.shape[1])
    x = np.arange(len(table))
    for k, col in enumerate(table.columns):
        c, label = _style(str(col))
        ax.bar(x + (k - (n - 1) / 2) * 0.8 / n, table[col].to_numpy(float), 0.8 / n, color=c, label=label)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("TEL / TEL(H-SF)")
    ax.set_xlabel("predictor")
    ax.legend(fontsize=8)
    return ax


def plot_kv_timeline(timelines: Mapping[str, pd.DataFrame], capacity: float | None = None,
                     ax: Axes | None = None, *, every: int = 1) -> Axes:
    """KV tokens held per round for several runs (a unit-time ``timeline`` each), with the capacity."""
    ax = _ax(ax)
    for name, tl in timelines.items():
        c, label = _style(name)
        tl = tl.iloc[::max(1, every)]
        ax.plot(tl["t"], tl["kv_tokens"], color=c, lw=0.8, label=label)
    if capacity is not None:
        ax.axhline(capacity, color="k", ls="--", lw=0.8, label="capacity M")
    ax.set_xlabel("round")
    ax.set_ylabel("KV tokens held")
    ax.legend(fontsize=8)
    return ax
