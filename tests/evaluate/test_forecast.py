"""Forecasters: the registry's recipe, and Holt-Winters tied to statsmodels' recursions."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.evaluate.forecast import FORECASTERS, forecast, holt_winters_additive, holt_winters_init


def _seasonal_series(n=120, m=24, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = 10 + 0.02 * t + 3 * np.sin(2 * np.pi * t / m) + rng.normal(0, 0.3, n)
    b = 4 + 1 * np.cos(2 * np.pi * t / m) + rng.normal(0, 0.2, n)
    return np.column_stack([a, b])


def test_every_forecaster_gives_one_nonnegative_rate_per_type():
    h = _seasonal_series()
    for name in FORECASTERS.names():
        f = forecast(h, name, season=24)
        assert f.shape == (2,) and np.all(f >= 0) and np.all(np.isfinite(f)), name
    assert {"last", "ewma", "seasonal", "holt_winters", "holt_winters_fit"} <= set(FORECASTERS.names())


def test_holt_winters_equals_statsmodels_with_the_same_weights_and_initial_state():
    sm = pytest.importorskip("statsmodels.tsa.holtwinters")
    m = 24
    h = _seasonal_series(200, m)
    lvl, b, s0 = holt_winters_init(h, m)
    ours = holt_winters_additive(h[m:], m, 0.3, 0.02, 0.3, lvl, b, s0)
    for j in range(h.shape[1]):
        fit = sm.ExponentialSmoothing(h[m:, j], trend="add", seasonal="add", seasonal_periods=m,
                                      initialization_method="known", initial_level=lvl[j], initial_trend=b[j],
                                      initial_seasonal=s0[:, j]).fit(smoothing_level=0.3, smoothing_trend=0.02,
                                                                     smoothing_seasonal=0.3, optimized=False)
        assert ours[j] == pytest.approx(float(fit.forecast(1)[0]), rel=1e-12)


def test_holt_winters_follows_a_seasonal_pattern_that_last_value_misses():
    m = 24
    h = _seasonal_series(24 * 6, m, seed=1)[:, :1]
    errs = {name: [] for name in ("last", "holt_winters", "seasonal")}
    for t in range(24 * 3, len(h)):
        for name in errs:
            errs[name].append(abs(forecast(h[:t], name, season=m)[0] - h[t, 0]))
    assert np.mean(errs["holt_winters"]) < 0.6 * np.mean(errs["last"])  # noise sd 0.3 is the floor


def test_short_histories_fall_back_to_the_last_value():
    h = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert forecast(h, "holt_winters", season=24).tolist() == [3.0, 4.0]
    assert forecast(h, "holt_winters_fit", season=24).tolist() == [3.0, 4.0]
