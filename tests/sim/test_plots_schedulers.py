"""Scheduler plots draw from tiny records and return their Axes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from sloserve.sim import plots_schedulers as P  # noqa: E402
from sloserve.sim.unit_time import run  # noqa: E402

from .instances import synthetic  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def records() -> pd.DataFrame:
    rows = []
    for a in (1.0, 0.1, 0.01):
        for s, v in (("amax", 1 / a ** 0.8), ("amin", 1 + 0.1 * np.log(1 / a))):
            rows.append(dict(study="alpha_sweep", scheduler=s, predictor="interval", alpha=a, time_model="unit",
                             metric="ratio_to_hsf", value=v))
    for p in ("naive", "binned"):
        for s in ("amax", "amin", "hsf"):
            rows.append(dict(study="binned", scheduler=s, predictor=p, alpha=None, time_model="unit",
                             metric="ratio_to_hsf", value=1.5))
    return pd.DataFrame(rows)


def test_reference_curves_are_one_at_alpha_one():
    for y in P.reference_curves(np.array([1.0, 0.1])).values():
        assert y[0] == pytest.approx(1.0) and y[1] > 1


def test_ratio_vs_alpha(records):
    ax = P.plot_ratio_vs_alpha(records)
    assert isinstance(ax, Axes)
    assert len(ax.get_lines()) == 2 + 2  # two schedulers, two reference curves
    assert ax.get_xscale() == "log"


def test_ratio_bars(records):
    ax = P.plot_ratio_bars(records, "binned")
    assert isinstance(ax, Axes) and len(ax.patches) == 6


def test_ratio_hist_and_kv_timeline():
    ax = P.plot_ratio_hist({"hsf": [1.0, 1.02, 1.1], "fcfs": [1.3, 1.5]})
    assert isinstance(ax, Axes) and len(ax.patches) == 2
    f, M = synthetic(0)
    tls = {s: run(f, s, M, "naive").timeline for s in ("amax", "amin")}
    fig, ax0 = plt.subplots()
    ax = P.plot_kv_timeline(tls, capacity=M, ax=ax0)
    assert ax is ax0 and len(ax.get_lines()) == 3
