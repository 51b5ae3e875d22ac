"""sloserve.plots: every function draws on tiny frames and returns its Axes with the expected artists."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from sloserve import plots  # noqa: E402
from sloserve.traces.calibrate import arrivals_per_window, calibration_table  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def trace() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame({
        "arrival_s": np.sort(rng.uniform(0, 600, n)),
        "input_tokens": rng.integers(1, 5000, n),
        "output_tokens": rng.integers(1, 500, n),
        "service": pd.Categorical(np.where(np.arange(n) % 3 == 0, "code", "conversation")),
    })


@pytest.fixture
def replicas() -> pd.DataFrame:
    return pd.DataFrame({
        "config": ["a|l4|fp8|tp1pp1", "b|h100-sxm|bf16|tp2pp1", "a|h100-sxm|fp8|tp1pp1"],
        "model": ["a", "b", "a"], "gpu": ["l4", "h100-sxm", "h100-sxm"], "precision": ["fp8", "bf16", "fp8"],
        "tp": [1, 2, 1], "pp": [1, 1, 1], "replicas": [2, 1, 3], "gpus": [2, 2, 3],
        "cost_per_hour": [1.6, 8.0, 12.0], "utilization": [0.5, 0.8, 0.7], "kv_utilization": [0.1, 0.2, 0.3],
    })


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({
        "query_type": ["q1", "q2"], "rate_rps": [1.0, 2.0], "served": [1.0, 1.0], "unserved": [0.0, 0.0],
        "ttft_s_mean": [0.1, 0.2], "ttft_s_max": [0.2, 0.4], "ttft_slo_s": [1.0, 1.0],
        "tpot_s_mean": [0.04, 0.05], "tpot_s_max": [0.05, 0.05], "tpot_slo_s": [0.05, 0.1],
        "e2e_s_mean": [1.0, 2.0], "e2e_s_max": [1.5, 3.0], "e2e_slo_s": [2.0, np.nan],
        "error_mean": [0.1, 0.2], "max_error": [0.2, 0.2],
    })


def _bars(ax: Axes) -> int:
    return sum(len(c) for c in ax.containers if isinstance(c, BarContainer))


def test_plot_arrivals_one_line_per_service(trace):
    ax = plots.plot_arrivals(arrivals_per_window(trace, 60.0))
    assert isinstance(ax, Axes)
    assert len(ax.get_lines()) == 2
    assert ax.get_xlim()[1] >= 9.9  # minutes


def test_plot_arrivals_by_query_type_and_given_axes(trace):
    trace = trace.assign(query_type=np.where(trace["input_tokens"] > 2500, "big", "small"))
    fig, ax0 = plt.subplots()
    ax = plots.plot_arrivals(arrivals_per_window(trace, 120.0, by="query_type"), ax=ax0, y="count")
    assert ax is ax0
    assert len(ax.get_lines()) == 4  # 2 services x 2 types


@pytest.mark.parametrize("column", ["input_tokens", "output_tokens"])
def test_plot_token_hist_one_outline_per_service_log_x(trace, column):
    ax = plots.plot_token_hist(trace, column, bins=10)
    assert isinstance(ax, Axes)
    assert len(ax.patches) == 2  # histtype="step": one outline per service
    assert ax.get_xscale() == "log"


def test_plot_type_scatter_samples_and_colours_by_type(trace):
    labels = pd.Series(np.where(trace["output_tokens"] > 250, "long", "short"))
    ax = plots.plot_type_scatter(trace, labels, max_points=50)
    assert len(ax.collections) == 2
    assert sum(len(c.get_offsets()) for c in ax.collections) == 50
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_type_cv_and_rate_statistics(trace):
    tables = {"quantile": calibration_table(trace, types_per_service=2, method="quantile", window=60.0),
              "kmeans": calibration_table(trace, types_per_service=2, window=60.0)}
    cv = plots.type_cv_summary(tables)
    assert list(cv.columns) == ["service", "method", "input_cv", "output_cv"] and len(cv) == 4
    assert (cv[["input_cv", "output_cv"]] >= 0).all().all()
    ax = plots.plot_type_cv(cv)
    assert _bars(ax) == 8  # (2 services x 2 columns) x 2 methods
    ax = plots.plot_rate_statistics(tables["kmeans"])
    assert _bars(ax) == 6  # 2 services x (mean, p95, peak)
    heights = [b.get_height() for c in ax.containers for b in c]
    assert all(h >= 0 for h in heights)


def test_plot_gpus_by_type(replicas):
    ax = plots.plot_gpus_by_type(replicas)
    assert isinstance(ax, Axes)
    assert _bars(ax) == 2  # l4, h100-sxm
    assert sorted(b.get_height() for c in ax.containers for b in c) == [2, 5]
    ax = plots.plot_gpus_by_type({"p1": replicas, "p2": replicas.iloc[:1]})
    assert _bars(ax) == 4  # 2 GPU types x 2 plans, zeros included


def test_plot_cost_breakdown(replicas):
    ax = plots.plot_cost_breakdown(replicas)
    assert _bars(ax) == 3  # one per configuration
    widths = [b.get_width() for c in ax.containers for b in c]
    assert widths == sorted(widths) and sum(widths) == pytest.approx(21.6)


def test_plot_latency_vs_slo(summary):
    ax = plots.plot_latency_vs_slo(summary)
    assert _bars(ax) == 6  # 2 types x (TTFT, TPOT, E2E); a missing SLO gives a NaN-height bar
    assert len(ax.get_lines()) == 1  # the SLO line at 1
    assert ax.get_lines()[0].get_ydata()[0] == 1.0
    ax = plots.plot_latency_vs_slo(summary, stat="mean", metrics=("tpot", "error"))
    assert _bars(ax) == 4
