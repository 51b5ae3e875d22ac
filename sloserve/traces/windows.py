"""Arrivals per time window (zeros included) and the window arithmetic of the calibration."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..problem.limits import WINDOWS

from .label import check_trace_frame, factorize


def window_seconds(window: str | float | int | pd.Timedelta) -> float:
    """Length of a window in seconds: ``"5min"``, ``"30s"``, ``"1h"``, a Timedelta, or seconds."""
    if isinstance(window, bool):
        raise InputError(None, "window", f"must be a duration like '5min' or seconds, got {window!r}")
    if isinstance(window, (int, float, np.integer, np.floating)):
        w = float(window)
    else:
        try:
            w = pd.Timedelta(window).total_seconds()
        except (ValueError, TypeError):
            raise InputError(None, "window", f"must be a duration like '5min', '30s', '1h', got {window!r}") from None
    if not math.isfinite(w) or w <= 0:
        raise InputError(None, "window", f"must be > 0, got {window!r}")
    return w



def window_grid(t: np.ndarray, w: float) -> tuple[float, int, np.ndarray]:
    """(origin, number of windows, window index of every arrival) on one clock."""
    origin = float(t.min())
    n = np.floor((float(t.max()) - origin) / w) + 1
    if not n <= WINDOWS.value:
        raise InputError(None, "window", f"the trace spans {float(t.max()) - origin:.6g} s, {n:.3g} windows of "
                                         f"{w:g} s; a calibration takes {WINDOWS.describe()}")
    nw = int(n)
    j = np.minimum(((t - origin) // w).astype(np.int64), nw - 1)
    return origin, nw, j


def window_counts(codes: np.ndarray, g: int, j: np.ndarray, nw: int) -> np.ndarray:
    """(g, nw) matrix of arrivals per group and window (zeros included)."""
    return np.bincount(codes.astype(np.int64) * nw + j, minlength=g * nw).reshape(g, nw)


def spans(t: np.ndarray, codes: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, last, count) of the arrivals of every group (g is small: services)."""
    first = np.full(g, np.nan)
    last = np.full(g, np.nan)
    for gi in range(g):
        tg = t[codes == gi]
        if len(tg):
            first[gi], last[gi] = tg.min(), tg.max()
    return first, last, np.bincount(codes, minlength=g)


def full_windows(starts: np.ndarray, w: float, first: float, last: float) -> np.ndarray:
    """Windows lying inside [first, last] (small tolerance for float round-off)."""
    eps = 1e-9 * max(1.0, abs(last))
    return (starts >= first - eps) & (starts + w <= last + eps)


def arrivals_per_window(trace: pd.DataFrame, window: str | float = "5min", *, by: str = "service") -> pd.DataFrame:
    """Requests per time window, zeros included: the series the provisioning statistics summarise.

    Windows are ``[origin + j*w, origin + (j+1)*w)`` with ``origin`` = the first arrival of the
    whole trace (one clock for all services; the last window also takes the last arrival).
    ``by`` is ``"service"``, ``"query_type"`` (the trace needs a ``query_type`` column, e.g. from
    :func:`label_query_types`) or ``"all"``.

    Columns: ``window`` (index j), ``start_s``, ``end_s``, ``service``, [``query_type``],
    ``count``, ``rate_rps`` (= count / w), ``full`` (True when the window lies inside the
    service's observed span [first arrival, last arrival], i.e. it is neither before the service
    started nor cut by the end of the trace; :func:`calibration_table` uses full windows only).
    """
    check_trace_frame(trace, need_types=(by == "query_type"))
    if by not in ("service", "query_type", "all"):
        raise InputError(None, "by", f"must be 'service', 'query_type' or 'all', got {by!r}")
    w = window_seconds(window)
    t = trace["arrival_s"].to_numpy(dtype=np.float64)
    origin, nw, j = window_grid(t, w)
    if by == "all":
        svc_codes, services = np.zeros(len(t), dtype=np.int32), ["all"]
    else:
        svc_codes, services = factorize(trace["service"], "service")
    first, last, _ = spans(t, svc_codes, len(services))
    if by == "query_type":
        qt_codes, qtypes = factorize(trace["query_type"], "query_type")
        combo = svc_codes.astype(np.int64) * len(qtypes) + qt_codes
        present = np.flatnonzero(np.bincount(combo, minlength=len(services) * len(qtypes)))
        remap = np.full(len(services) * len(qtypes), -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        codes = remap[combo]
        keys = [(services[c // len(qtypes)], qtypes[c % len(qtypes)]) for c in present]
    else:
        codes = svc_codes
        keys = [(s_, None) for s_ in services]
    counts = window_counts(codes, len(keys), j, nw)
    starts = origin + w * np.arange(nw)
    si = {s_: i for i, s_ in enumerate(services)}
    parts = []
    for gi, (s_, q_) in enumerate(keys):
        d: dict[str, Any] = {"window": np.arange(nw), "start_s": starts, "end_s": starts + w, "service": s_}
        if by == "query_type":
            d["query_type"] = q_
        d.update({"count": counts[gi], "rate_rps": counts[gi] / w,
                  "full": full_windows(starts, w, first[si[s_]], last[si[s_]])})
        parts.append(pd.DataFrame(d))
    return pd.concat(parts, ignore_index=True)


def rate_stats(counts: np.ndarray, full: np.ndarray, n: int, span_s: float, w: float) -> dict[str, float]:
    """mean, p95, p99, peak request rates (req/s) of one series of window counts.

    ``mean`` = n / span (the time-weighted mean over the observed span; a single request or a
    zero span uses the window length). Percentiles and peak are over full windows (all windows
    when none is full); each statistic is floored at the previous one so that
    mean <= p95 <= p99 <= peak always holds (provisioning below the long-run mean can never
    keep up).
    """
    mean = n / span_s if span_s > 0 else n / w
    r = counts[full] / w if full.any() else np.array([mean])
    p95 = max(mean, float(np.percentile(r, 95)))
    p99 = max(p95, float(np.percentile(r, 99)))
    peak = max(p99, float(r.max()))
    return {"mean": mean, "p95": p95, "p99": p99, "peak": peak}


# ---------------------------------------------------------------------------------------------
# the calibration table
# ---------------------------------------------------------------------------------------------
