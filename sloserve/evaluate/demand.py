"""Demand series for rolling-horizon studies: weeks of arrival rates per query type, seeded.

:func:`synthetic_series` builds, at a 5-minute step, each query type's rate as its base rate
(the scenario's ``rate_rps``) times a product of factors whose size grows with one ``volatility``
knob v from 0 (flat: every step equals the base rate) to 1 (extreme):

- a **diurnal** cycle ``1 + 0.6 v cos(2π (h − peak) / 24)``, the peak at 14:00 shifted per type by
  up to ±2 h (so types do not peak together);
- a **weekly** cycle: Saturday and Sunday at ``1 − 0.35 v``, with one-hour ramps;
- **noise**: an AR(1) process in log space with a 30-minute correlation time and standard deviation
  ``0.25 v`` (mean-one after exponentiation);
- **bursts**: ``3 v`` per day on average per service family (Poisson), each lasting 10–180 min
  (exponential, mean 45 min) with a fast rise and a linear decay, raising every type of the family by
  a factor ``1 + v · m``, m lognormal with median 1 (the same event hits a whole service);

then each type is rescaled so that the evaluated part (after ``history_hours``) has the base rate as
its mean *without* bursts (bursts add demand on top, as they do in life).

:func:`trace_series` tiles the 5-minute shape of a trace (the 2023 Azure hour: per-type rates per
5-minute window, each divided by its mean) over the same span, scaled to the base rates and
multiplied by the synthetic envelope at ``volatility`` (v = 0: the tiled trace alone).

:func:`windows` averages a series into windows of any multiple of its step (5 to 60 minutes).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

STEP_S = 300.0  # 5-minute resolution of every series
#: named volatility levels of the studies
VOLATILITY_LEVELS = {"flat": 0.0, "low": 0.25, "medium": 0.5, "high": 0.75, "extreme": 1.0}

DIURNAL_AMPLITUDE = 0.6
WEEKEND_DIP = 0.35
NOISE_SD = 0.25
NOISE_CORRELATION_S = 1800.0
BURSTS_PER_DAY = 3.0
BURST_MEAN_S, BURST_MIN_S, BURST_MAX_S = 2700.0, 600.0, 10800.0


def _check(volatility: float, hours: float, history_hours: float) -> None:
    if not 0.0 <= float(volatility) <= 1.0:
        raise InputError(None, "volatility", f"must be in [0, 1] (0 flat, 1 extreme), got {volatility!r}")
    if not hours > 0 or history_hours < 0:
        raise InputError(None, "hours", f"need hours > 0 and history_hours >= 0, got {hours!r}, {history_hours!r}")


def envelope(types: list[str], families: list[str], *, hours: float, history_hours: float, volatility: float,
             seed: int = 0, bursts: bool = True) -> np.ndarray:
    """The multiplicative factors (steps × types) of :func:`synthetic_series`, before rescaling."""
    _check(volatility, hours, history_hours)
    v = float(volatility)
    n = int(round((hours + history_hours) * 3600.0 / STEP_S))
    t = np.arange(n) * STEP_S  # seconds from the start (a Monday, 00:00)
    rng = np.random.default_rng(seed)
    I = len(types)
    out = np.ones((n, I))
    if v == 0.0:
        return out
    hour = (t / 3600.0) % 24.0
    peak = 14.0 + rng.uniform(-2.0, 2.0, I)
    out *= 1.0 + DIURNAL_AMPLITUDE * v * np.cos(2 * np.pi * (hour[:, None] - peak[None, :]) / 24.0)
    day = (t / 86400.0) % 7.0  # 0 = Monday; weekend = [5, 7), one-hour ramps at both ends
    ramp = 1.0 / 24.0
    weekend = np.clip(np.minimum((day - 5.0) / ramp, (7.0 - day) / ramp), 0.0, 1.0)
    out *= (1.0 - WEEKEND_DIP * v * weekend)[:, None]
    rho = np.exp(-STEP_S / NOISE_CORRELATION_S)
    sd = NOISE_SD * v
    x = np.empty((n, I))
    x[0] = rng.normal(0.0, sd, I)
    eps = rng.normal(0.0, sd * np.sqrt(1 - rho * rho), (n, I))
    for k in range(1, n):
        x[k] = rho * x[k - 1] + eps[k]
    out *= np.exp(x - sd * sd / 2.0)
    if bursts:
        span = n * STEP_S
        for fam in sorted(set(families)):
            cols = [i for i, f in enumerate(families) if f == fam]
            for _ in range(rng.poisson(BURSTS_PER_DAY * v * span / 86400.0)):
                start = rng.uniform(0.0, span)
                dur = float(np.clip(rng.exponential(BURST_MEAN_S), BURST_MIN_S, BURST_MAX_S))
                size = v * rng.lognormal(0.0, 0.5)
                rise = min(600.0, dur / 4)
                shape = np.where(t < start, 0.0, np.where(t < start + rise, (t - start) / rise,
                                                          np.clip(1 - (t - start - rise) / (dur - rise), 0.0, 1.0)))
                out[:, cols] *= (1.0 + size * shape)[:, None]
    return out


def _frame(rates: np.ndarray, types: list[str], history_hours: float) -> pd.DataFrame:
    start = np.arange(len(rates)) * STEP_S - history_hours * 3600.0  # 0 = the first evaluated step
    df = pd.DataFrame(rates, columns=list(types), index=pd.Index(start, name="start_s"))
    df.columns.name = "query_type"
    return df


def synthetic_series(base_rates, types, families=None, *, hours: float = 168.0, history_hours: float = 168.0,
                     volatility: float = 0.5, seed: int = 0, bursts: bool = True) -> pd.DataFrame:
    """Rates (rps) per 5-minute step: index ``start_s`` (seconds; 0 = the first evaluated step, the
    history before it is negative), one column per query type. Deterministic for a seed."""
    types = list(map(str, types))
    fam = list(families) if families is not None else types
    base = np.asarray(base_rates, dtype=float)
    env = envelope(types, fam, hours=hours, history_hours=history_hours, volatility=volatility, seed=seed,
                   bursts=False)
    full = envelope(types, fam, hours=hours, history_hours=history_hours, volatility=volatility, seed=seed,
                    bursts=bursts) if bursts else env
    h0 = int(round(history_hours * 3600.0 / STEP_S))
    scale = 1.0 / np.maximum(env[h0:].mean(axis=0), 1e-12)
    return _frame(base[None, :] * full * scale[None, :], types, history_hours)


def trace_shape(rates: pd.DataFrame, types) -> np.ndarray:
    """A trace's per-window rates (windows × types, 5-minute windows) divided by each type's mean; a
    type the trace lacks is flat. Windows whose span is cut by the trace's end are dropped."""
    r = rates.reindex(columns=list(types)).fillna(0.0).to_numpy(dtype=float)
    if len(r) > 2:
        r = r[:-1]  # the last window is usually partial
    m = r.mean(axis=0)
    return np.where(m > 0, r / np.where(m > 0, m, 1.0), 1.0)


def trace_series(shape: np.ndarray, base_rates, types, families=None, *, hours: float = 168.0,
                 history_hours: float = 168.0, volatility: float = 0.0, seed: int = 0,
                 bursts: bool = True) -> pd.DataFrame:
    """The trace's 5-minute shape tiled over the span, scaled to ``base_rates``, times the synthetic
    envelope at ``volatility`` (rescaled to mean one over the evaluated part)."""
    types = list(map(str, types))
    n = int(round((hours + history_hours) * 3600.0 / STEP_S))
    shape = np.asarray(shape, dtype=float)
    tiled = np.tile(shape, (int(np.ceil(n / len(shape))), 1))[:n]
    env = synthetic_series(np.ones(len(types)), types, families, hours=hours, history_hours=history_hours,
                           volatility=volatility, seed=seed, bursts=bursts).to_numpy()
    return _frame(np.asarray(base_rates, float)[None, :] * tiled * env, types, history_hours)


def windows(series: pd.DataFrame, window_min: float) -> pd.DataFrame:
    """Mean rate per window of ``window_min`` minutes (a multiple of the 5-minute step); index = window start."""
    k = window_min * 60.0 / STEP_S
    if k < 1 or abs(k - round(k)) > 1e-9:
        raise InputError(None, "window_min", f"must be a multiple of {STEP_S / 60:g} minutes, got {window_min!r}")
    k = int(round(k))
    n = len(series) // k
    a = series.to_numpy()[: n * k].reshape(n, k, -1).mean(axis=1)
    out = pd.DataFrame(a, columns=series.columns, index=pd.Index(series.index.to_numpy()[: n * k: k], name="start_s"))
    return out


def describe(series: pd.DataFrame) -> dict:
    """Peak-to-mean and coefficient of variation of the total rate (how volatile a series is)."""
    tot = series.sum(axis=1).to_numpy()
    return {"peak_to_mean": float(tot.max() / tot.mean()), "cv": float(tot.std() / tot.mean())}
