"""Offline plots draw on benchmark-shaped records and step frames and return their Axes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from sloserve.sim.offline import plots  # noqa: E402
from sloserve.sim.offline.engine import run_offline  # noqa: E402
from sloserve.sim.offline.workloads import mixture  # noqa: E402

from .conftest import CONFIG  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _records():
    rows = []
    for w, (rho, s) in {"a": (0.9, 0.05), "b": (1.4, 0.05), "c": (0.9, 0.45), "d": (1.4, 0.45)}.items():
        rows += [(w, "8b", "-", "-", "target_density", rho), (w, "8b", "-", "-", "target_sharing", s)]
        for o, v in {"dfs": 100.0, "blendserve": 100.0 * rho, "random": 90.0}.items():
            rows.append((w, "8b", o, "overlap", "throughput_tok_s", v))
    return pd.DataFrame(rows, columns=["workload", "model", "order", "step_model", "metric", "value"])


def test_relative_throughput_and_grid():
    rec = _records()
    rel = plots.relative_throughput(rec)
    assert rel.loc[("b", "8b", "overlap"), "blendserve"] == pytest.approx(1.4)
    ax = plots.plot_relative_throughput(rec, model="8b")
    assert isinstance(ax, Axes) and len(ax.patches) == 4 * 3
    ax = plots.plot_grid_gain(rec, model="8b")
    assert isinstance(ax, Axes) and len(ax.images) == 1 and len(ax.texts) == 4


def test_step_balance_from_an_engine_run(compiled):
    res = run_offline(mixture({"code": 100, "reasoning": 2}, seed=0), compiled, CONFIG, "dfs").result("overlap")
    b = plots.binned_balance(res.steps, bins=10)
    assert len(b) <= 10 and b["step_s"].sum() == pytest.approx(res.makespan_s)
    assert ((b["compute_s"] <= b["step_s"]) & (b["memory_s"] <= b["step_s"])).all()
    ax = plots.plot_step_balance(b, label="dfs")
    assert isinstance(ax, Axes) and len(ax.lines) == 2
