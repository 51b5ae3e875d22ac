"""Plots for notebooks: each function takes data (+ ``ax=None``) and returns the matplotlib ``Axes``.

Inputs are the library's own frames: a trace (:func:`sloserve.trace.load_traces`), per-window
arrivals (:func:`sloserve.calibrate.arrivals_per_window`), calibration tables
(:func:`sloserve.calibrate.calibration_table`) and plan views (:func:`sloserve.plan.replicas_frame`,
:func:`sloserve.plan.summary_frame`). When ``ax`` is None a new figure is created. Nothing here
selects a backend or calls ``plt.show()``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = [
    "plot_arrivals", "plot_token_hist", "plot_type_scatter", "type_cv_summary", "plot_type_cv",
    "plot_rate_statistics", "plot_gpus_by_type", "plot_cost_breakdown", "plot_latency_vs_slo",
    "rolling_volatility", "plot_demand_series",
]

#: the latency metrics of :func:`sloserve.plan.summary_frame`: label -> (column stem, SLO column)
LATENCY_METRICS = {"ttft": ("ttft_s", "ttft_slo_s"), "tpot": ("tpot_s", "tpot_slo_s"),
                   "e2e": ("e2e_s", "e2e_slo_s"), "error": ("error", "max_error")}


#: catalog GPU order; fixes each GPU type's colour in every plot (others follow, in order of appearance)
GPU_ORDER = ("l4", "a10g", "l40s", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "mi300x")


def _gpu_colours(gpus: Sequence[str]) -> dict[str, str]:
    extra = [g for g in dict.fromkeys(gpus) if g not in GPU_ORDER]
    order = list(GPU_ORDER) + extra
    return {g: f"C{order.index(g) % 10}" for g in gpus}


def _ax(ax: Axes | None, figsize=(7, 3.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _groups(df: pd.DataFrame, col: str) -> list:
    s = df[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [c for c in s.cat.categories if (s == c).any()]
    return list(dict.fromkeys(s))


def _grouped_bars(ax: Axes, values: pd.DataFrame, *, width: float = 0.8, **kw) -> None:
    """One group per row of ``values``, one bar (and legend entry) per column."""
    n = max(1, values.shape[1])
    x = np.arange(len(values))
    for k, col in enumerate(values.columns):
        ax.bar(x + (k - (n - 1) / 2) * width / n, values[col].to_numpy(float), width / n, label=str(col), **kw)
    ax.set_xticks(x, [str(i) for i in values.index])


# ---- the trace ------------------------------------------------------------------------------

def plot_arrivals(arrivals: pd.DataFrame, ax: Axes | None = None, *, y: str = "rate_rps") -> Axes:
    """Arrival rate over time, one step line per service (or query type if the frame has them).

    ``arrivals``: :func:`~sloserve.calibrate.arrivals_per_window` output. x axis: window start in
    minutes since the first request; y: ``rate_rps`` (requests/s, default) or ``count`` (requests
    per window). Windows that are not *full* (outside a service's observed span, so ignored by the
    p95/peak statistics) are shaded under the line.
    """
    ax = _ax(ax)
    by_type = "query_type" in arrivals.columns
    for g, d in arrivals.groupby(["service", "query_type"] if by_type else "service", observed=True):
        if by_type:  # sloserve type names start with their service; others get it prefixed
            g = g[1] if str(g[1]).startswith(str(g[0])) else f"{g[0]} {g[1]}"
        d = d.sort_values("start_s")
        t = np.append(d["start_s"].to_numpy(float), d["end_s"].to_numpy(float)[-1:]) / 60.0
        v = d[y].to_numpy(float)
        (line,) = ax.step(t, np.append(v, v[-1:]), where="post", label=str(g))
        full = d["full"].to_numpy(bool) if "full" in d else np.ones(len(d), bool)
        if not full.all():
            for i in np.flatnonzero(~full):
                ax.fill_between(t[i:i + 2], 0, v[i], step="post", color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("minutes since first request")
    ax.set_ylabel("requests / s" if y == "rate_rps" else "requests per window")
    ax.set_ylim(bottom=0)
    ax.legend(title="query type" if by_type else "service", fontsize="small")
    return ax


def _log_bins(v: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = max(1.0, float(np.min(v))), max(2.0, float(np.max(v)))
    return np.geomspace(lo, hi * 1.0001, bins + 1)


def plot_token_hist(trace: pd.DataFrame, column: str, ax: Axes | None = None, *, bins: int = 50,
                    by: str = "service", density: bool = True) -> Axes:
    """Histogram of a token column (``input_tokens`` or ``output_tokens``), one outline per ``by`` group.

    Logarithmic x axis (tokens) with log-spaced bins shared by all groups; zero counts are drawn
    at 1 token. y: share of the group's requests per bin (``density=True``, so groups of different
    size compare) or request counts.
    """
    ax = _ax(ax)
    v_all = np.clip(trace[column].to_numpy(float), 1, None)
    edges = _log_bins(v_all, bins)
    for g in _groups(trace, by):
        v = np.clip(trace.loc[trace[by] == g, column].to_numpy(float), 1, None)
        w = np.full(len(v), 1.0 / len(v)) if density and len(v) else None
        ax.hist(v, bins=edges, weights=w, histtype="step", lw=1.5, label=f"{g} (n={len(v):,})")
    ax.set_xscale("log")
    ax.set_xlabel(f"{column.replace('_', ' ')} (log scale)")
    ax.set_ylabel("share of requests per bin" if density else "requests per bin")
    ax.legend(fontsize="small")
    return ax


def plot_type_scatter(trace: pd.DataFrame, query_types: Sequence | pd.Series, ax: Axes | None = None, *,
                      max_points: int = 5000, seed: int = 0, s: float = 4.0) -> Axes:
    """Input vs output tokens (both log scale), one colour per query type.

    ``query_types``: one label per request (e.g. :func:`~sloserve.calibrate.label_query_types`).
    At most ``max_points`` requests are drawn, sampled uniformly with ``numpy.random.default_rng(seed)``.
    """
    ax = _ax(ax, figsize=(6, 4.5))
    labels = pd.Series(np.asarray(query_types), index=trace.index, name="query_type")
    if isinstance(query_types, pd.Series) and isinstance(query_types.dtype, pd.CategoricalDtype):
        labels = labels.astype(query_types.dtype)
    idx = np.arange(len(trace))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(trace), max_points, replace=False))
    sub = trace.iloc[idx]
    lab = labels.iloc[idx]
    for g in _groups(labels.to_frame(), "query_type"):
        m = (lab == g).to_numpy()
        ax.scatter(np.clip(sub["input_tokens"].to_numpy(float)[m], 1, None),
                   np.clip(sub["output_tokens"].to_numpy(float)[m], 1, None), s=s, alpha=0.5, label=str(g),
                   rasterized=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input tokens (log scale)")
    ax.set_ylabel("output tokens (log scale)")
    ax.legend(fontsize="small", markerscale=3, title=f"{len(idx):,} of {len(trace):,} requests")
    return ax


# ---- the calibration ------------------------------------------------------------------------

def type_cv_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Request-weighted mean within-type CV (std / mean) of input and output tokens, per service.

    ``tables``: ``{method name: calibration_table(...)}``. One row per (service, method) with
    columns ``input_cv``, ``output_cv`` (dimensionless): the measure of docs/calibration.md §2.
    """
    rows = []
    for name, t in tables.items():
        for svc, d in t.groupby("service", sort=False, observed=True):
            w = d["requests"].to_numpy(float)
            rows.append({"service": svc, "method": name,
                         "input_cv": float(np.average(d["input_cv"], weights=w)),
                         "output_cv": float(np.average(d["output_cv"], weights=w))})
    return pd.DataFrame(rows)


def plot_type_cv(cv: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Grouped bars of within-type CV: groups = service x token column, one bar per method.

    ``cv``: :func:`type_cv_summary` output. Lower is better (types are more homogeneous).
    """
    ax = _ax(ax)
    long = cv.melt(id_vars=["service", "method"], value_vars=["input_cv", "output_cv"], var_name="tokens")
    long["group"] = long["service"].astype(str) + "\n" + long["tokens"].str.replace("_cv", "")
    wide = long.pivot(index="group", columns="method", values="value")
    wide = wide.loc[list(dict.fromkeys(long["group"])), list(dict.fromkeys(cv["method"]))]
    _grouped_bars(ax, wide)
    ax.set_ylabel("within-type CV (std / mean)")
    ax.legend(title="method", fontsize="small")
    return ax


def plot_rate_statistics(table: pd.DataFrame, ax: Axes | None = None, *,
                         statistics: Sequence[str] = ("mean", "p95", "peak"), by: str = "service") -> Axes:
    """Grouped bars of the provisioning statistics (requests/s) per service (or per query type).

    ``table``: :func:`~sloserve.calibrate.calibration_table` output; its ``rate_<statistic>``
    columns are summed over the types of each ``by`` group (exact for ``type_rates="share"``).
    """
    ax = _ax(ax)
    cols = [f"rate_{s}" for s in statistics]
    vals = table.groupby(by, sort=False, observed=True)[cols].sum()
    vals.columns = list(statistics)
    _grouped_bars(ax, vals)
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%.1f", fontsize="x-small", padding=1)
    ax.set_ylabel("arrival rate (requests / s)")
    ax.legend(title="statistic", fontsize="small")
    return ax


# ---- plans ----------------------------------------------------------------------------------

def _frames(data: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"plan": data} if isinstance(data, pd.DataFrame) else dict(data)


def plot_gpus_by_type(replicas: pd.DataFrame | Mapping[str, pd.DataFrame], ax: Axes | None = None) -> Axes:
    """GPUs rented per GPU type (bars; count of GPUs, not replicas).

    ``replicas``: a :func:`~sloserve.plan.replicas_frame`, or ``{plan name: frame}`` for grouped
    bars comparing plans (one bar per plan and GPU type).
    """
    ax = _ax(ax)
    frames = _frames(replicas)
    gpus = list(dict.fromkeys(g for df in frames.values() for g in df["gpu"]))
    wide = pd.DataFrame({name: df.groupby("gpu")["gpus"].sum().reindex(gpus, fill_value=0)
                         for name, df in frames.items()}, index=gpus)
    _grouped_bars(ax, wide)
    ax.set_xlabel("GPU type")
    ax.set_ylabel("GPUs")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if len(frames) > 1:
        ax.legend(fontsize="small")
    return ax


def plot_cost_breakdown(replicas: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cost of each configuration in a plan, $/h (horizontal bars, largest at the top).

    ``replicas``: a :func:`~sloserve.plan.replicas_frame`. Bars are coloured by GPU type (same
    colour for a GPU type in every call) and
    labelled with the replica count and GPU utilisation; the title gives the total $/h.
    """
    ax = _ax(ax)
    df = replicas.sort_values("cost_per_hour").reset_index(drop=True)
    gpus = list(dict.fromkeys(replicas["gpu"]))
    colours = _gpu_colours(gpus)
    y = np.arange(len(df))
    bars = ax.barh(y, df["cost_per_hour"].to_numpy(float), color=[colours[g] for g in df["gpu"]])
    util = df["utilization"] if "utilization" in df else pd.Series(np.nan, index=df.index)
    labels = [f"{r} replica{'s' * (r != 1)}, {g} GPU{'s' * (g != 1)}" + (f", {u:.0%} busy" if pd.notna(u) else "")
              for r, g, u in zip(df["replicas"], df["gpus"], util)]
    ax.bar_label(bars, labels, padding=3, fontsize="small")
    ax.set_yticks(y, [f"{m} {p} tp{t}pp{q}" for m, p, t, q in zip(df["model"], df["precision"], df["tp"], df["pp"])])
    ax.set_xlabel("$ / hour")
    ax.set_xlim(0, max(1e-9, float(df["cost_per_hour"].max())) * 1.6)
    ax.set_title(f"total {df['cost_per_hour'].sum():.2f} $/h", fontsize="medium")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[g]) for g in gpus]
    ax.legend(handles, gpus, title="GPU", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_latency_vs_slo(summary: pd.DataFrame, ax: Axes | None = None, *, stat: str = "max",
                        metrics: Sequence[str] = ("ttft", "tpot", "e2e")) -> Axes:
    """Latency / SLO per query type (grouped bars, dimensionless; the dashed line at 1 is the SLO).

    ``summary``: :func:`~sloserve.plan.summary_frame`. ``stat="max"`` uses the worst route serving
    each type (what ``slo_mode: per_route`` constrains), ``"mean"`` the traffic-weighted mean.
    ``metrics`` are among ``ttft``, ``tpot``, ``e2e`` (seconds) and ``error`` (vs ``max_error``).
    A metric without an SLO for a type has no bar.
    """
    ax = _ax(ax, figsize=(8, 3.5))
    cols = {}
    for m in metrics:
        stem, slo = LATENCY_METRICS[m]
        obs = summary["error_mean"] if m == "error" else summary[f"{stem}_{stat}"]
        cols[m if m == "error" else m.upper()] = (obs / summary[slo]).to_numpy(float)
    ratios = pd.DataFrame(cols, index=summary["query_type"].astype(str).to_numpy())
    _grouped_bars(ax, ratios)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_ylabel(f"{stat} / SLO")
    top = float(np.nanmax(ratios.to_numpy())) if ratios.notna().any().any() else 0.0
    ax.set_ylim(0, max(1.15, 1.1 * top))
    ax.tick_params(axis="x", labelsize="small")
    ax.legend(fontsize="small", ncols=len(cols), loc="upper left")
    return ax


def _policy_label(method: str, policy: str) -> str:
    return f"re-plan {method.upper()}" if policy == "rolling" else f"{policy.replace('_', ' ')} ({method.upper()})"


def rolling_volatility(summary: pd.DataFrame, y: str = "cost_mean", ax: Axes | None = None, *,
                       policies: Sequence[str] | None = None) -> Axes:
    """A rolling-horizon summary (:func:`sloserve.sweep.rolling_summary`) against volatility: ``y``
    (cost_mean, cost_var, unserved_mean, ...) per method and policy, one line each."""
    ax = _ax(ax)
    s = summary.copy()
    if policies is not None:
        s = s[s["params.policy"].isin(policies)]
    for (m, p), g in s.groupby(["method", "params.policy"], sort=True):
        g = g.sort_values("window.volatility")
        ax.plot(g["window.volatility"].astype(float), g[y], marker="o" if p == "rolling" else "s",
                linestyle="-" if p == "rolling" else "--", label=_policy_label(m, p))
    ax.set_xlabel("volatility (0 flat, 1 extreme)")
    ax.set_ylabel(y.replace("_", " ").replace("cost mean", "cost, mean over windows ($/h)")
                  .replace("cost var", "cost variance over windows"))
    ax.legend(fontsize=7)
    return ax


def plot_demand_series(series: Mapping[str, pd.DataFrame], ax: Axes | None = None) -> Axes:
    """Total arrival rate over time of several demand series (name -> windows × query types, index in s)."""
    ax = _ax(ax, figsize=(9, 3))
    for name, df in series.items():
        ax.plot(df.index.to_numpy() / 3600.0, df.sum(axis=1).to_numpy(), label=name, linewidth=0.9)
    ax.set_xlabel("hours from the start of the evaluated span")
    ax.set_ylabel("total arrival rate (rps)")
    ax.legend(fontsize=7)
    return ax
