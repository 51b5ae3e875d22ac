"""Forecasters of the next window's arrival rates, by registry (``FORECASTERS``).

A forecaster is ``fn(history, **params) -> rates``: ``history`` is windows × query types (requests/s,
oldest first, at least one window), the result one rate per type for the next window (never negative).

Holt–Winters comes twice: ``holt_winters`` is a small implementation of additive Holt–Winters with
fixed smoothing weights (the recursions of Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, §8.3; a test ties it to statsmodels' ``ExponentialSmoothing`` with the same weights and
initial state), vectorised over query types and cheap enough for thousands of windows;
``holt_winters_fit`` fits the weights per window and type with statsmodels (optional:
``pip install 'sloserve[forecast]'``).
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry

FORECASTERS: Registry = Registry("forecaster")


@FORECASTERS.register("last", help="the last window's rate")
def last(history: np.ndarray, **_) -> np.ndarray:
    return np.asarray(history, dtype=float)[-1].copy()


@FORECASTERS.register("ewma", help="exponentially weighted moving average (alpha = weight of the newest window)")
def ewma(history: np.ndarray, alpha: float = 0.5, **_) -> np.ndarray:
    h = np.asarray(history, dtype=float)
    f = h[0].copy()
    for row in h[1:]:
        f = alpha * row + (1 - alpha) * f
    return f


@FORECASTERS.register("seasonal", help="seasonal naive: the mean of the same window in past seasons (season = windows per season)")
def seasonal(history: np.ndarray, season: int = 0, **_) -> np.ndarray:
    h = np.asarray(history, dtype=float)
    if season <= 0 or len(h) < season:
        return h[-1].copy()
    return h[-season::-season].mean(axis=0) if len(h) >= 2 * season else h[-season].copy()


def holt_winters_init(h: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial level, trend and seasonal state (per column) from the first one or two seasons:
    level = mean of the first season, trend = (mean of the second − mean of the first) / season
    (0 with one season), seasonal = the first season − level."""
    first = h[:season].mean(axis=0)
    trend = (h[season:2 * season].mean(axis=0) - first) / season if len(h) >= 2 * season else np.zeros(h.shape[1])
    return first, trend, h[:season] - first


def holt_winters_additive(h: np.ndarray, season: int, alpha: float, beta: float, gamma: float,
                          level: np.ndarray, trend: np.ndarray, seasonal: np.ndarray) -> np.ndarray:
    """One-step forecast after running additive Holt–Winters over every row of ``h`` from the given
    initial state (``seasonal``: season × columns, the state before the first row)::

        l_t = α (y_t − s_{t−m}) + (1 − α)(l_{t−1} + b_{t−1})
        b_t = β (l_t − l_{t−1}) + (1 − β) b_{t−1}
        s_t = γ (y_t − l_{t−1} − b_{t−1}) + (1 − γ) s_{t−m}
        ŷ_{T+1} = l_T + b_T + s_{T+1−m}
    """
    lvl, b = level.astype(float).copy(), trend.astype(float).copy()
    s = [row.astype(float).copy() for row in seasonal]
    for y in h:
        s_old = s[-season]
        new_l = alpha * (y - s_old) + (1 - alpha) * (lvl + b)
        s.append(gamma * (y - lvl - b) + (1 - gamma) * s_old)
        b = beta * (new_l - lvl) + (1 - beta) * b
        lvl = new_l
    return lvl + b + s[-season]


@FORECASTERS.register("holt_winters", help="additive Holt-Winters, fixed weights (alpha level, beta trend, gamma "
                                           "season; season = windows per season), initialised on the first seasons")
def holt_winters(history: np.ndarray, season: int = 0, hw_alpha: float = 0.3, hw_beta: float = 0.02,
                 hw_gamma: float = 0.3, **_) -> np.ndarray:
    h = np.asarray(history, dtype=float)
    if season <= 1 or len(h) < season + 1:  # not one season to initialise from: the last value
        return h[-1].copy()
    lvl, b, s0 = holt_winters_init(h, season)
    return np.maximum(holt_winters_additive(h[season:], season, hw_alpha, hw_beta, hw_gamma, lvl, b, s0), 0.0)


@FORECASTERS.register("holt_winters_fit", help="additive Holt-Winters with weights fitted per window and type "
                                               "(statsmodels; pip install 'sloserve[forecast]')")
def holt_winters_fit(history: np.ndarray, season: int = 0, **_) -> np.ndarray:
    h = np.asarray(history, dtype=float)
    if season <= 1 or len(h) < 2 * season:
        return holt_winters(h, season=season)
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        from ..errors import InputError
        raise InputError(None, "forecast", "holt_winters_fit needs statsmodels: pip install 'sloserve[forecast]' "
                                           "(or use the built-in holt_winters)") from None
    out = np.empty(h.shape[1])
    for j in range(h.shape[1]):
        y = h[:, j]
        if np.ptp(y) == 0:  # a constant series: nothing to fit (statsmodels would warn)
            out[j] = y[-1]
            continue
        m = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=season,
                                 initialization_method="heuristic" if len(y) >= 2 * season + 10 else "estimated")
        out[j] = float(m.fit().forecast(1)[0])
    return np.maximum(out, 0.0)


def forecast(history: np.ndarray, how: str = "ewma", alpha: float = 0.5, season: int = 0, **params) -> np.ndarray:
    """Next-window rate per type from ``history`` with the forecaster called ``how`` (``params``: the
    forecaster's own knobs, e.g. ``hw_gamma``)."""
    return FORECASTERS.get(how, "forecast")(history, alpha=alpha, season=season, **params)


#: names of the registered forecasters (kept for 0.1 callers)
FORECASTS = tuple(FORECASTERS.names())
