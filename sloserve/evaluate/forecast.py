"""Forecasters of the next window's arrival rates, by registry (``FORECASTERS``).

A forecaster is ``fn(history, **params) -> rates``: ``history`` is windows × query types (requests/s,
oldest first, at least one window), the result one rate per type for the next window.
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


def forecast(history: np.ndarray, how: str = "ewma", alpha: float = 0.5, season: int = 0) -> np.ndarray:
    """Next-window rate per type from ``history`` with the forecaster called ``how``."""
    return FORECASTERS.get(how, "forecast")(history, alpha=alpha, season=season)


#: names of the registered forecasters (kept for 0.1 callers)
FORECASTS = tuple(FORECASTERS.names())
