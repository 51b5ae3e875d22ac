"""Calibrate a scenario from a request trace: query types, arrival rates, token sizes, SLOs.

Pipeline (every step is a pure function a notebook can call on its own)::

    trace (tidy frame of sloserve.trace)
      --label_query_types-->   one query type per request (per service, by token shape)
      --arrivals_per_window--> request counts per time window (zeros included)
      --calibration_table-->   one row per query type: rates, token statistics, shares
      --calibrate-->           scenario dict in the YAML schema of docs/scenario.md
      --write_scenario_yaml--> YAML file with the CC BY 4.0 attribution

Units: seconds, tokens, requests per second. Design choices and the numbers behind them
are in ``docs/calibration.md``.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from .errors import InputError

__all__ = [
    "ATTRIBUTION",
    "SERVICE_DEFAULTS",
    "STATISTICS",
    "add_cli",
    "arrivals_per_window",
    "calibrate",
    "calibration_table",
    "label_query_types",
    "window_seconds",
    "write_scenario_yaml",
]

STATISTICS = ("mean", "p95", "p99", "peak")
TOKEN_STATISTICS = ("mean", "p50", "p90", "p95", "p99")
METHODS = ("kmeans", "quantile")
TYPE_RATES = ("share", "independent")
SLO_FIELDS = ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")
PROFILE_FIELDS = ("family", "ttft_slo_s", "tpot_slo_s", "e2e_slo_s", "max_error", "max_unserved",
                  "unserved_penalty")

ATTRIBUTION = ("Derived from the Azure LLM Inference Trace 2023, Microsoft, CC BY 4.0, "
               "github.com/Azure/AzurePublicDataset")
ATTRIBUTIONS = {
    "2023": ATTRIBUTION + ' (Patel et al., "Splitwise", ISCA 2024)',
    "2024": ("Derived from the Azure LLM Inference Trace 2024, Microsoft, CC BY 4.0, "
             'github.com/Azure/AzurePublicDataset (Stojkovic et al., "DynamoLLM", HPCA 2025)'),
    "2025": ("Derived from the Azure LMM Inference Trace 2025, Microsoft, CC BY 4.0, "
             'github.com/Azure/AzurePublicDataset (Qiu et al., "ModServe", SoCC 2025)'),
}

#: Per-service defaults: error family, SLOs (seconds) and accuracy target. ``e2e_slo_s="derived"``
#: means ttft_slo_s + output_tokens * tpot_slo_s of each type; ``None`` drops the field.
#: Sources and reasoning: docs/calibration.md, section "SLO defaults".
SERVICE_DEFAULTS: dict[str, dict[str, Any]] = {
    "code": {"family": "code", "ttft_slo_s": 1.0, "tpot_slo_s": 0.05, "e2e_slo_s": "derived",
             "max_error": 0.30, "max_unserved": 0.0, "unserved_penalty": 0.0},
    "conversation": {"family": "conversation", "ttft_slo_s": 1.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
                     "max_error": 0.30, "max_unserved": 0.0, "unserved_penalty": 0.0},
    "multimodal": {"family": "conversation", "ttft_slo_s": 2.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
                   "max_error": 0.30, "max_unserved": 0.0, "unserved_penalty": 0.0},
    "math": {"family": "math", "ttft_slo_s": 2.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
             "max_error": 0.30, "max_unserved": 0.0, "unserved_penalty": 0.0},
}
#: services not listed above get this profile
FALLBACK_SERVICE = "conversation"

#: the options block written to every calibrated scenario (the schema's defaults, made visible)
DEFAULT_OPTIONS: dict[str, Any] = {
    "budget_per_hour": None, "utilization_cap": 0.8, "tp_degrees": [1, 2, 4, 8], "pp_degrees": [1, 2],
    "one_parallelism_per_deployment": True, "max_models": None, "slo_mode": "per_route",
}

_SUFFIXES = {1: [""], 2: ["s", "l"], 3: ["s", "m", "l"], 4: ["xs", "s", "m", "l"], 5: ["xs", "s", "m", "l", "xl"]}
_KMEANS_SAMPLE = 100_000  # points the centroids are fitted on (all points are then assigned)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

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


def _check_trace(trace: pd.DataFrame, need_types: bool = False) -> None:
    if not isinstance(trace, pd.DataFrame):
        raise InputError(None, "trace", f"must be a DataFrame from sloserve.trace, got {type(trace).__name__}")
    need = ["arrival_s", "input_tokens", "output_tokens", "service"] + (["query_type"] if need_types else [])
    missing = [c for c in need if c not in trace.columns]
    if missing:
        raise InputError(None, f"trace.{missing[0]}", f"missing column (have {list(trace.columns)})")
    if len(trace) == 0:
        raise InputError(None, "trace", "has no requests")


def _factor(col: pd.Series, field: str) -> tuple[np.ndarray, list[str]]:
    """(int codes, names sorted as strings) of a label column; categorical columns stay cheap."""
    codes, uniq = pd.factorize(col, sort=False)
    if (codes < 0).any():
        raise InputError(None, f"trace.{field}", f"missing value at row {int(np.argmax(codes < 0))}")
    names = [str(u) for u in uniq]
    if len(set(names)) != len(names):  # e.g. 1 and "1": merge by string form
        codes, uniq = pd.factorize(col.astype(str), sort=False)
        names = [str(u) for u in uniq]
    perm = np.argsort(np.array(names, dtype=object), kind="stable")
    inv = np.empty(len(names), dtype=np.int64)
    inv[perm] = np.arange(len(names))
    return inv[codes].astype(np.int32), [names[i] for i in perm]


# ---------------------------------------------------------------------------------------------
# query types
# ---------------------------------------------------------------------------------------------

def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 4, iters: int = 60) -> np.ndarray:
    """Centroids of a seeded k-means on rows of ``x`` (k-means++ init, Lloyd, best of n_init)."""
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        c = np.empty((k, x.shape[1]))
        c[0] = x[rng.integers(len(x))]
        d2 = ((x - c[0]) ** 2).sum(1)
        for j in range(1, k):
            tot = d2.sum()
            idx = rng.choice(len(x), p=d2 / tot) if tot > 0 else rng.integers(len(x))
            c[j] = x[idx]
            d2 = np.minimum(d2, ((x - c[j]) ** 2).sum(1))
        for _ in range(iters):
            lab, _d = _nearest(x, c)
            cnt = np.bincount(lab, minlength=k)
            new = c.copy()
            nz = cnt > 0
            for dim in range(x.shape[1]):
                new[nz, dim] = np.bincount(lab, weights=x[:, dim], minlength=k)[nz] / cnt[nz]
            moved = np.abs(new - c).max()
            c = new
            if moved < 1e-6:
                break
        inertia = _nearest(x, c)[1].sum()
        if inertia < best_inertia - 1e-9 * max(1.0, best_inertia if np.isfinite(best_inertia) else 1.0):
            best, best_inertia = c, inertia
    return best


def _nearest(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest centroid, squared distance to it) for every row of ``x``."""
    best_d = np.full(len(x), np.inf)
    lab = np.zeros(len(x), dtype=np.int64)
    for j in range(len(c)):
        d = np.zeros(len(x))
        for dim in range(x.shape[1]):
            d += (x[:, dim] - c[j, dim]) ** 2
        closer = d < best_d
        lab[closer] = j
        best_d = np.where(closer, d, best_d)
    return lab, best_d


def _assign(cols: Sequence[np.ndarray], mu: np.ndarray, sd: np.ndarray, c: np.ndarray,
            block: int = 1 << 20) -> np.ndarray:
    """Nearest centroid (in standardised space) of every point given as raw columns, in blocks
    so that temporaries stay bounded whatever the trace length."""
    n = len(cols[0])
    lab = np.empty(n, dtype=np.int32)
    for s in range(0, n, block):
        xb = np.column_stack([(col[s:s + block] - m) / v for col, m, v in zip(cols, mu, sd)])
        lab[s:s + block] = _nearest(xb, c)[0]
    return lab


def _labels_one_service(inp: np.ndarray, out: np.ndarray, k: int, method: str, seed: int) -> np.ndarray:
    """Cluster ids 0..K'-1 (K' <= k), ordered by mean log(1+in)+log(1+out) of the members."""
    n = len(inp)
    li = np.log1p(inp.astype(np.float32))
    lo = np.log1p(out.astype(np.float32))
    if method == "quantile":
        edges = np.unique(np.quantile(li, np.linspace(0, 1, k + 1)[1:-1]))
        lab = np.searchsorted(edges, li, side="right").astype(np.int32)
    else:
        mu = np.array([li.mean(dtype=np.float64), lo.mean(dtype=np.float64)])
        sd = np.array([li.std(dtype=np.float64), lo.std(dtype=np.float64)])
        sd = np.where(sd > 0, sd, 1.0)
        rng = np.random.default_rng(seed)
        idx = np.arange(n) if n <= _KMEANS_SAMPLE else np.sort(rng.choice(n, _KMEANS_SAMPLE, replace=False))
        fit = np.column_stack([(li[idx] - mu[0]) / sd[0], (lo[idx] - mu[1]) / sd[1]]).astype(np.float64)
        k_eff = max(1, min(k, len(np.unique(fit, axis=0))))
        c = _kmeans(fit, k_eff, rng)
        lab = _assign([li, lo], mu, sd, c)
    # drop empty clusters, order by size (mean log in + log out), renumber 0..K'-1
    kk = int(lab.max()) + 1
    cnt = np.bincount(lab, minlength=kk)
    tot = np.bincount(lab, weights=li, minlength=kk) + np.bincount(lab, weights=lo, minlength=kk)
    used = np.flatnonzero(cnt)
    order = used[np.argsort(tot[used] / cnt[used], kind="stable")]
    remap = np.zeros(kk, dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return remap[lab]


def _type_name(service: str, i: int, k: int) -> str:
    suf = _SUFFIXES[k][i] if k in _SUFFIXES else f"t{i + 1}"
    return f"{service}-{suf}" if suf else service


def label_query_types(trace: pd.DataFrame, types_per_service: int = 3, *, method: str = "kmeans",
                      seed: int = 0) -> pd.Series:
    """Query-type name of every request (a Series aligned with ``trace``).

    Requests are split per service by token shape into at most ``types_per_service`` types:
    ``method="kmeans"`` clusters standardised (log(1+input), log(1+output)) with a seeded k-means
    (k-means++ init, best of 4 starts, fitted on at most 100,000 sampled requests, then every
    request is assigned to its nearest centroid); ``method="quantile"`` cuts log input tokens at
    equal-count quantiles. Types are named ``{service}-s|m|l`` (``xs..xl`` for 4-5, ``t1..tK``
    beyond), smallest mean log(input)+log(output) first; empty or duplicate groups are dropped.
    Deterministic for a given ``seed``.
    """
    _check_trace(trace)
    if method not in METHODS:
        raise InputError(None, "method", f"must be one of {list(METHODS)}, got {method!r}")
    if isinstance(types_per_service, bool) or not isinstance(types_per_service, (int, np.integer)) \
            or types_per_service < 1:
        raise InputError(None, "types_per_service", f"must be an integer >= 1, got {types_per_service!r}")
    svc_codes, services = _factor(trace["service"], "service")
    inp = trace["input_tokens"].to_numpy()
    out = trace["output_tokens"].to_numpy()
    codes = np.empty(len(trace), dtype=np.int32)
    cats: list[str] = []
    for si, s in enumerate(services):
        m = svc_codes == si
        lab = _labels_one_service(inp[m], out[m], int(types_per_service), method, seed)
        k = int(lab.max()) + 1
        codes[m] = lab + len(cats)
        cats += [_type_name(s, i, k) for i in range(k)]
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=trace.index, name="query_type")


def _type_order(name: str) -> int:
    suf = name.rsplit("-", 1)[-1] if "-" in name else ""
    order = ["xs", "s", "m", "l", "xl"]
    if suf in order:
        return order.index(suf)
    if suf.startswith("t") and suf[1:].isdigit():
        return 10 + int(suf[1:])
    return -1


# ---------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------

def _grid(t: np.ndarray, w: float) -> tuple[float, int, np.ndarray]:
    """(origin, number of windows, window index of every arrival) on one clock."""
    origin = float(t.min())
    nw = int(np.floor((float(t.max()) - origin) / w)) + 1
    j = np.minimum(((t - origin) // w).astype(np.int64), nw - 1)
    return origin, nw, j


def _counts(codes: np.ndarray, g: int, j: np.ndarray, nw: int) -> np.ndarray:
    """(g, nw) matrix of arrivals per group and window (zeros included)."""
    return np.bincount(codes.astype(np.int64) * nw + j, minlength=g * nw).reshape(g, nw)


def _spans(t: np.ndarray, codes: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, last, count) of the arrivals of every group (g is small: services)."""
    first = np.full(g, np.nan)
    last = np.full(g, np.nan)
    for gi in range(g):
        tg = t[codes == gi]
        if len(tg):
            first[gi], last[gi] = tg.min(), tg.max()
    return first, last, np.bincount(codes, minlength=g)


def _full(starts: np.ndarray, w: float, first: float, last: float) -> np.ndarray:
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
    _check_trace(trace, need_types=(by == "query_type"))
    if by not in ("service", "query_type", "all"):
        raise InputError(None, "by", f"must be 'service', 'query_type' or 'all', got {by!r}")
    w = window_seconds(window)
    t = trace["arrival_s"].to_numpy(dtype=np.float64)
    origin, nw, j = _grid(t, w)
    if by == "all":
        svc_codes, services = np.zeros(len(t), dtype=np.int32), ["all"]
    else:
        svc_codes, services = _factor(trace["service"], "service")
    first, last, _ = _spans(t, svc_codes, len(services))
    if by == "query_type":
        qt_codes, qtypes = _factor(trace["query_type"], "query_type")
        combo = svc_codes.astype(np.int64) * len(qtypes) + qt_codes
        present = np.flatnonzero(np.bincount(combo, minlength=len(services) * len(qtypes)))
        remap = np.full(len(services) * len(qtypes), -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        codes = remap[combo]
        keys = [(services[c // len(qtypes)], qtypes[c % len(qtypes)]) for c in present]
    else:
        codes = svc_codes
        keys = [(s_, None) for s_ in services]
    counts = _counts(codes, len(keys), j, nw)
    starts = origin + w * np.arange(nw)
    si = {s_: i for i, s_ in enumerate(services)}
    parts = []
    for gi, (s_, q_) in enumerate(keys):
        d: dict[str, Any] = {"window": np.arange(nw), "start_s": starts, "end_s": starts + w, "service": s_}
        if by == "query_type":
            d["query_type"] = q_
        d.update({"count": counts[gi], "rate_rps": counts[gi] / w,
                  "full": _full(starts, w, first[si[s_]], last[si[s_]])})
        parts.append(pd.DataFrame(d))
    return pd.concat(parts, ignore_index=True)


def _rate_stats(counts: np.ndarray, full: np.ndarray, n: int, span_s: float, w: float) -> dict[str, float]:
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

def calibration_table(trace: pd.DataFrame, *, window: str | float = "5min", statistic: str = "p95",
                      scale: float = 1.0, types_per_service: int = 3, method: str = "kmeans",
                      tokens: str = "mean", type_rates: str = "share", seed: int = 0,
                      query_types: pd.Series | None = None) -> pd.DataFrame:
    """One row per query type: request shares, arrival rates and token statistics.

    Columns: ``service, query_type, requests, share_of_service, share_of_trace``; rates in req/s
    ``rate_mean, rate_p95, rate_p99, rate_peak`` and the provisioning rate ``rate_rps``
    (= ``rate_<statistic>`` x ``scale``); tokens ``input_mean, input_p50, input_p90, input_p95,
    input_p99, input_min, input_max, input_cv`` (cv = std / mean) and the same for ``output_``;
    the type's token sizes ``input_tokens, output_tokens`` (the ``tokens`` statistic, rounded,
    at least 1).

    ``type_rates="share"`` (default) gives each type its service's window statistic times the
    type's share of the service's requests, so the types of a service add up to the service's
    rate; ``"independent"`` computes each type's statistic from its own window counts (each type
    provisioned for its own peak; sums exceed the service's statistic). Both agree for ``mean``.
    ``query_types`` (a label per request) replaces :func:`label_query_types`.
    """
    _check_trace(trace)
    if statistic not in STATISTICS:
        raise InputError(None, "statistic", f"must be one of {list(STATISTICS)}, got {statistic!r}")
    if tokens not in TOKEN_STATISTICS:
        raise InputError(None, "tokens", f"must be one of {list(TOKEN_STATISTICS)}, got {tokens!r}")
    if type_rates not in TYPE_RATES:
        raise InputError(None, "type_rates", f"must be one of {list(TYPE_RATES)}, got {type_rates!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(scale) or scale < 0:
        raise InputError(None, "scale", f"must be a number >= 0, got {scale!r}")
    w = window_seconds(window)
    qt = query_types if query_types is not None else label_query_types(
        trace, types_per_service, method=method, seed=seed)
    if len(qt) != len(trace):
        raise InputError(None, "query_types", f"{len(qt)} labels for {len(trace)} requests")
    t = trace["arrival_s"].to_numpy(dtype=np.float64)
    inp = trace["input_tokens"].to_numpy()
    out = trace["output_tokens"].to_numpy()
    svc_codes, services = _factor(trace["service"], "service")
    qt_codes, qtypes = _factor(pd.Series(np.asarray(qt) if not isinstance(qt, pd.Series) else qt.to_numpy()),
                               "query_type")
    S, Q = len(services), len(qtypes)
    first, last, n_svc = _spans(t, svc_codes, S)
    origin, nw, j = _grid(t, w)
    starts = origin + w * np.arange(nw)
    svc_counts = _counts(svc_codes, S, j, nw)
    svc_stats = [_rate_stats(svc_counts[si], _full(starts, w, first[si], last[si]), int(n_svc[si]),
                             float(last[si] - first[si]), w) for si in range(S)]
    combo = svc_codes.astype(np.int64) * Q + qt_codes
    n_combo = np.bincount(combo, minlength=S * Q)
    present = np.flatnonzero(n_combo)
    qt_counts = None
    if type_rates == "independent":
        remap = np.full(S * Q, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        qt_counts = _counts(remap[combo], len(present), j, nw)
    order = np.argsort(combo, kind="stable")  # one sort, then contiguous slices per type
    bounds = np.concatenate([[0], np.cumsum(n_combo)])
    rows = []
    for pi, c in enumerate(present):
        si, qi = divmod(int(c), Q)
        n, ns = int(n_combo[c]), int(n_svc[si])
        if type_rates == "share":
            stats = {k: v * n / ns for k, v in svc_stats[si].items()}
        else:
            stats = _rate_stats(qt_counts[pi], _full(starts, w, first[si], last[si]), n,
                                float(last[si] - first[si]), w)
        row: dict[str, Any] = {"service": services[si], "query_type": qtypes[qi], "requests": n,
                               "share_of_service": n / ns, "share_of_trace": n / len(t)}
        row.update({f"rate_{k}": v for k, v in stats.items()})
        row["rate_rps"] = stats[statistic] * float(scale)
        idx = order[bounds[c]:bounds[c + 1]]
        for arr, pre in ((inp, "input"), (out, "output")):
            v = arr[idx].astype(np.float64)
            p50, p90, p95, p99 = np.percentile(v, [50, 90, 95, 99])
            mu = float(v.mean())
            row.update({f"{pre}_mean": mu, f"{pre}_p50": p50, f"{pre}_p90": p90, f"{pre}_p95": p95,
                        f"{pre}_p99": p99, f"{pre}_min": int(v.min()), f"{pre}_max": int(v.max()),
                        f"{pre}_cv": float(v.std() / mu) if mu > 0 else 0.0})
        for col, pre in (("input_tokens", "input"), ("output_tokens", "output")):
            row[col] = max(1, int(round(row[f"{pre}_{tokens}"])))
        rows.append(row)
    df = pd.DataFrame(rows)
    key = sorted(range(len(df)), key=lambda i: (df["service"].iloc[i], _type_order(df["query_type"].iloc[i]),
                                                df["query_type"].iloc[i]))
    return df.iloc[key].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------------------------

def _profile(service: str, slo_defaults: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    base = dict(SERVICE_DEFAULTS.get(service, SERVICE_DEFAULTS[FALLBACK_SERVICE]))
    for key in ("*", service):
        over = (slo_defaults or {}).get(key)
        if over is None:
            continue
        if not isinstance(over, Mapping):
            raise InputError(None, f"slo_defaults.{key}", f"must be a mapping, got {over!r}")
        bad = sorted(set(over) - set(PROFILE_FIELDS))
        if bad:
            raise InputError(None, f"slo_defaults.{key}.{bad[0]}", f"unknown field; allowed: {list(PROFILE_FIELDS)}")
        base.update(over)
    for f in SLO_FIELDS + ("max_error", "max_unserved", "unserved_penalty"):
        v = base.get(f)
        if v is None or (f == "e2e_slo_s" and v == "derived"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be a number, got {v!r}")
        if f in SLO_FIELDS and v <= 0:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be > 0, got {v!r}")
        if f in ("max_error", "max_unserved") and not 0 <= v <= 1:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be in [0, 1], got {v!r}")
        if f == "unserved_penalty" and v < 0:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be >= 0, got {v!r}")
    if base.get("family") not in ("conversation", "code", "math"):
        raise InputError(None, f"slo_defaults.{service}.family",
                         f"must be one of ['conversation', 'code', 'math'], got {base.get('family')!r}")
    return base


def _sig(x: float, digits: int = 6) -> float:
    """x rounded to ``digits`` significant digits (plain float for YAML)."""
    return float(f"{x:.{digits}g}") if x else 0.0


def calibrate(trace: pd.DataFrame, *, window: str | float = "5min", statistic: str = "p95", scale: float = 1.0,
              types_per_service: int = 3, slo_defaults: Mapping[str, Mapping[str, Any]] | None = None,
              name: str = "calibrated", description: str | None = None, method: str = "kmeans",
              tokens: str = "mean", type_rates: str = "share", seed: int = 0,
              options: Mapping[str, Any] | None = None, catalog: Mapping[str, Any] | None = None) -> dict:
    """A scenario (plain dict in the YAML schema of ``docs/scenario.md``) calibrated from a trace.

    Query types come from :func:`label_query_types` (``types_per_service``, ``method``, ``seed``);
    ``rate_rps`` is the ``statistic`` (``mean | p95 | p99 | peak``) of the request rate over
    ``window``-long windows, times ``scale`` (see :func:`calibration_table`); ``input_tokens`` /
    ``output_tokens`` are the type's ``tokens`` statistic (default the mean, which preserves the
    total prefill and decode work). Family, SLOs (seconds) and ``max_error`` come from
    :data:`SERVICE_DEFAULTS`, overridden per service by ``slo_defaults``
    (``{"code": {"ttft_slo_s": 0.5}, "*": {...}}``; ``"*"`` applies to all services). ``options``
    and ``catalog`` are copied into the scenario (options default to :data:`DEFAULT_OPTIONS`;
    no catalog = the whole packaged catalog).
    """
    table = calibration_table(trace, window=window, statistic=statistic, scale=scale,
                              types_per_service=types_per_service, method=method, tokens=tokens,
                              type_rates=type_rates, seed=seed)
    qts = []
    for _, r in table.iterrows():
        p = _profile(r["service"], slo_defaults)
        q: dict[str, Any] = {"name": r["query_type"], "family": p["family"], "rate_rps": _sig(r["rate_rps"]),
                             "input_tokens": int(r["input_tokens"]), "output_tokens": int(r["output_tokens"])}
        for f in ("ttft_slo_s", "tpot_slo_s"):
            if p.get(f) is not None:
                q[f] = float(p[f])
        e2e = p.get("e2e_slo_s")
        if e2e == "derived":
            if p.get("ttft_slo_s") is not None and p.get("tpot_slo_s") is not None:
                q["e2e_slo_s"] = round(float(p["ttft_slo_s"]) + q["output_tokens"] * float(p["tpot_slo_s"]), 3)
        elif e2e is not None:
            q["e2e_slo_s"] = float(e2e)
        q["max_error"] = float(p["max_error"])
        if p.get("max_unserved"):
            q["max_unserved"] = float(p["max_unserved"])
        if p.get("unserved_penalty"):
            q["unserved_penalty"] = float(p["unserved_penalty"])
        qts.append(q)
    w = window_seconds(window)
    spans = table.groupby("service")["requests"].sum() / table.groupby("service")["rate_mean"].sum()
    if description is None:
        src = trace.attrs.get("source")
        srcs = [Path(s).name for s in (src if isinstance(src, list) else [src])] if src else []
        description = (f"Calibrated from {len(trace):,} requests"
                       + (f" ({', '.join(srcs)})" if srcs else "")
                       + f", services {', '.join(f'{s} {spans[s] / 60:.1f} min' for s in spans.index)}; "
                       f"rate = {statistic} over {w:g}-s windows x {scale:g}; token sizes = {tokens}; "
                       f"{method} types (<= {types_per_service} per service).")
    out: dict[str, Any] = {"name": str(name), "description": description, "query_types": qts}
    if catalog is not None:
        out["catalog"] = {k: list(v) for k, v in catalog.items()}
    opts = dict(DEFAULT_OPTIONS)
    opts.update(options or {})
    out["options"] = opts
    return out


def _attribution_for(sources: Sequence[str] | None) -> str:
    """Credit lines for the Azure traces among ``sources`` (file names); 2023 credit if None."""
    if sources is None:
        return ATTRIBUTION
    names = [Path(str(s)).name.lower() for s in sources]
    years = {"2025": any("lmminference" in n or "multimodal" in n for n in names),
             "2024": any("llminferencetrace" in n and "1week" in n for n in names),
             "2023": any(n in ("azurellminferencetrace_code.csv", "azurellminferencetrace_conv.csv") for n in names)}
    lines = [ATTRIBUTIONS[y] for y in ("2023", "2024", "2025") if years[y]]
    return "\n".join(lines) if lines else "Calibrated from: " + ", ".join(names)


def write_scenario_yaml(scenario: Mapping[str, Any], path: str | Path | None, *, command: str | None = None,
                        sources: Sequence[str] | None = None) -> str:
    """Write ``scenario`` as YAML with a header comment (attribution, calibration command); return the text.

    The header carries the CC BY 4.0 credit the Azure traces ask for (``ATTRIBUTION``, plus the
    2024/2025 credits when ``sources`` name those files) and ``command`` (default: this
    process's command line). ``path=None`` only returns the text.
    """
    cmd = command if command is not None else " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name] + sys.argv[1:])
    credit = _attribution_for(sources)
    head = ["# " + line for line in credit.splitlines()]
    if "CC BY 4.0" in credit:
        head.append("# Licence: https://creativecommons.org/licenses/by/4.0/ -- rates and token sizes are "
                    "statistics of the trace (changed: aggregated).")
    head.append(f"# Calibrated with: {cmd}")
    text = "\n".join(head) + "\n" + yaml.safe_dump(dict(scenario), sort_keys=False, width=100)
    if path is not None:
        Path(path).write_text(text)
    return text


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

def _parse_overrides(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """``["code.ttft_slo_s=0.5", "*.max_error=0.2", "conversation.e2e_slo_s=none"]`` -> nested dict."""
    out: dict[str, dict[str, Any]] = {}
    for it in items or []:
        if "=" not in it or "." not in it.split("=", 1)[0]:
            raise InputError(None, "--slo", f"expected SERVICE.FIELD=VALUE, got {it!r}")
        lhs, val = it.split("=", 1)
        svc, fld = lhs.split(".", 1)
        if fld not in PROFILE_FIELDS:
            raise InputError(None, "--slo", f"unknown field {fld!r} in {it!r}; allowed: {list(PROFILE_FIELDS)}")
        v: Any
        if val.lower() in ("none", "null", ""):
            v = None
        elif fld == "family" or (fld == "e2e_slo_s" and val == "derived"):
            v = val
        else:
            try:
                v = float(val)
            except ValueError:
                raise InputError(None, "--slo", f"{lhs}: expected a number, got {val!r}") from None
        out.setdefault(svc, {})[fld] = v
    return out


def add_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``calibrate`` subcommand to an argparse ``subparsers`` object; returns the parser."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate a scenario YAML from LLM inference traces",
        description="Split trace requests into query types per service, measure their arrival rates "
                    "and token sizes, and write a scenario YAML. TRACE is a CSV/CSV.gz file or a known "
                    "trace key (azure-2023-code, azure-2023-conv, azure-2024-code, azure-2024-conv, "
                    "azure-2025-multimodal).")
    p.add_argument("traces", nargs="+", metavar="TRACE")
    p.add_argument("--window", default="5min", help="rate window, e.g. 1min, 5min, 1h (default 5min)")
    p.add_argument("--percentile", "--statistic", dest="statistic", default="p95", choices=STATISTICS,
                   help="provisioning statistic of the windowed rate (default p95)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every rate (default 1)")
    p.add_argument("--types-per-service", type=int, default=3, help="query types per service (default 3)")
    p.add_argument("--method", default="kmeans", choices=METHODS, help="how to split types (default kmeans)")
    p.add_argument("--tokens", default="mean", choices=TOKEN_STATISTICS,
                   help="token statistic used as the type's size (default mean)")
    p.add_argument("--type-rates", default="share", choices=TYPE_RATES,
                   help="per-type rate: service statistic x share (default) or each type's own statistic")
    p.add_argument("--service", action="append", default=None,
                   help="service of each TRACE, in order (default: from the file name)")
    p.add_argument("--slo", action="append", default=None, metavar="SERVICE.FIELD=VALUE",
                   help="override a per-service default, e.g. code.ttft_slo_s=0.5, *.max_error=0.25")
    p.add_argument("--name", default=None, help="scenario name (default from the trace files)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace-dir", default=None, help="directory of local trace copies (else $SLOSERVE_TRACE_DIR)")
    p.add_argument("--no-download", action="store_true", help="never download known traces")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop bad rows (and report them) instead of failing")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar while loading (default: when stderr is a terminal)")
    p.add_argument("--out", "-o", default=None, help="output YAML (default: print to stdout)")
    p.set_defaults(func=_cli_calibrate)
    return p


def _default_name(paths: Sequence[Path]) -> str:
    names = " ".join(p.name.lower() for p in paths)
    if "multimodal" in names:
        return "azure-2025"
    if "1week" in names:
        return "azure-2024"
    if "azurellminferencetrace" in names:
        return "azure-2023"
    return "calibrated"


def _cli_calibrate(args: argparse.Namespace) -> int:
    from .trace import load_traces, resolve_trace

    paths = [resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.traces]
    if args.service is not None and len(args.service) != len(paths):
        raise InputError(None, "--service", f"give one --service per TRACE ({len(paths)}), got {len(args.service)}")
    trace = load_traces(paths, services=args.service, on_bad_rows="skip" if args.skip_bad_rows else "error",
                        progress=args.progress)
    for src, sk in trace.attrs.get("skipped_by_file", {}).items():
        if sk:
            first = trace.attrs.get("skipped_first_line", {}).get(src, {})
            detail = ", ".join(f"{v} {k} (first at line {first.get(k, '?')})" for k, v in sorted(sk.items()))
            print(f"note: {src}: skipped {sum(sk.values())} rows: {detail}", file=sys.stderr)
    scen = calibrate(trace, window=args.window, statistic=args.statistic, scale=args.scale,
                     types_per_service=args.types_per_service, slo_defaults=_parse_overrides(args.slo),
                     name=args.name or _default_name(paths), method=args.method, tokens=args.tokens,
                     type_rates=args.type_rates, seed=args.seed)
    cmd = "sloserve calibrate " + " ".join(shlex.quote(a) for a in _cli_argv(args, paths))
    text = write_scenario_yaml(scen, args.out, command=cmd, sources=[p.name for p in paths])
    if args.out is None:
        sys.stdout.write(text)
    else:
        n = len(scen["query_types"])
        tot = sum(q["rate_rps"] for q in scen["query_types"])
        print(f"wrote {args.out}: {n} query types, total {args.statistic} rate {tot:.3f} req/s", file=sys.stderr)
    return 0


def _cli_argv(args: argparse.Namespace, paths: Sequence[Path]) -> list[str]:
    """A reproducible command line (trace file names, not local paths) for the YAML header."""
    argv = [p.name for p in paths]
    argv += ["--window", str(args.window), "--percentile", args.statistic, "--scale", f"{args.scale:g}",
             "--types-per-service", str(args.types_per_service)]
    if args.method != "kmeans":
        argv += ["--method", args.method]
    if args.tokens != "mean":
        argv += ["--tokens", args.tokens]
    if args.type_rates != "share":
        argv += ["--type-rates", args.type_rates]
    for s in args.service or []:
        argv += ["--service", s]
    for s in args.slo or []:
        argv += ["--slo", s]
    if args.seed:
        argv += ["--seed", str(args.seed)]
    if args.skip_bad_rows:
        argv.append("--skip-bad-rows")
    if args.out:
        argv += ["--out", Path(args.out).name]
    return argv
