"""One query type per request: split each service's requests by token shape (k-means or quantiles).

Seeded k-means on (log input tokens, log output tokens) per service; types are named
``<service>-<size>`` (``code-s``, ``code-m``, ``code-l``) in order of their output length.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

from .choices import LABEL_METHODS

_SUFFIXES = {1: [""], 2: ["s", "l"], 3: ["s", "m", "l"], 4: ["xs", "s", "m", "l"], 5: ["xs", "s", "m", "l", "xl"]}
_KMEANS_SAMPLE = 100_000  # points the centroids are fitted on (all points are then assigned)


def check_trace_frame(trace: pd.DataFrame, need_types: bool = False) -> None:
    if not isinstance(trace, pd.DataFrame):
        raise InputError(None, "trace", f"must be a DataFrame from sloserve.trace, got {type(trace).__name__}")
    need = ["arrival_s", "input_tokens", "output_tokens", "service"] + (["query_type"] if need_types else [])
    missing = [c for c in need if c not in trace.columns]
    if missing:
        raise InputError(None, f"trace.{missing[0]}", f"missing column (have {list(trace.columns)})")
    if len(trace) == 0:
        raise InputError(None, "trace", "has no requests")


def factorize(col: pd.Series, field: str) -> tuple[np.ndarray, list[str]]:
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
    check_trace_frame(trace)
    if method not in LABEL_METHODS:
        raise InputError(None, "method", f"must be one of {list(LABEL_METHODS)}, got {method!r}")
    if isinstance(types_per_service, bool) or not isinstance(types_per_service, (int, np.integer)) \
            or types_per_service < 1:
        raise InputError(None, "types_per_service", f"must be an integer >= 1, got {types_per_service!r}")
    svc_codes, services = factorize(trace["service"], "service")
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


def type_order(name: str) -> int:
    suf = name.rsplit("-", 1)[-1] if "-" in name else ""
    order = ["xs", "s", "m", "l", "xl"]
    if suf in order:
        return order.index(suf)
    if suf.startswith("t") and suf[1:].isdigit():
        return 10 + int(suf[1:])
    return -1

