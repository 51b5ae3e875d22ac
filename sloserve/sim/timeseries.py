"""Per-replica time series in fixed bins: busy share, mean batch, KV utilisation, queue length.

Memory is O(replicas × bins), whatever the number of iterations: each interval of constant state
(an iteration, a run of decode iterations, an idle gap) is spread over the bins it covers,
weighted by its overlap with each.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


class TimeSeries:
    def __init__(self, bin_s: float):
        self.bin_s = float(bin_s)
        self._acc: dict[int, np.ndarray] = {}  # replica -> [bins, 5]: covered, busy, batch, kv, queue (time-weighted)

    def _grow(self, replica: int, nbins: int) -> np.ndarray:
        a = self._acc.get(replica)
        if a is None or len(a) < nbins:
            b = np.zeros((max(nbins, 2 * (0 if a is None else len(a)), 16), 5))
            if a is not None:
                b[:len(a)] = a
            self._acc[replica] = a = b
        return a

    def add(self, replica: int, t0: float, t1: float, busy: float, batch: float, kv: float, queue: float) -> None:
        if t1 <= t0:
            return
        w = self.bin_s
        i0, i1 = int(t0 // w), int(math.ceil(t1 / w))
        a = self._grow(replica, i1 + 1)
        vals = (1.0, busy, batch, kv, queue)
        if i1 - i0 <= 1:
            a[i0] += [(t1 - t0) * v for v in vals]
            return
        edges = np.arange(i0, i1 + 1) * w
        over = np.minimum(edges[1:], t1) - np.maximum(edges[:-1], t0)
        a[i0:i1] += over[:, None] * np.array(vals)[None, :]

    def frame(self, configs: list[str]) -> pd.DataFrame:
        """Tidy: replica, config, t_s (bin start), busy, batch (mean over busy time), kv_utilization, queue."""
        rows = []
        for r, a in sorted(self._acc.items()):
            cov = a[:, 0]
            keep = np.flatnonzero(cov > 0)
            if not len(keep):
                continue
            a = a[keep]
            busy_t = a[:, 1]
            rows.append(pd.DataFrame({
                "replica": r, "config": configs[r], "t_s": keep * self.bin_s,
                "busy": busy_t / a[:, 0],
                "batch": np.divide(a[:, 2], busy_t, out=np.zeros(len(a)), where=busy_t > 0),
                "kv_utilization": a[:, 3] / a[:, 0], "queue": a[:, 4] / a[:, 0]}))
        cols = ["replica", "config", "t_s", "busy", "batch", "kv_utilization", "queue"]
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
