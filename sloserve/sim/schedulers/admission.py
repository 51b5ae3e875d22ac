"""Admission tests: does a waiting job fit beside the running ones? Memory in KV tokens.

A test is built once per ``admit`` call from the running jobs and then asked about candidates in
priority order; a candidate that fits is added, so later questions see it.

* :class:`NextRound` (vLLM's rule): the next round's KV need stays within capacity.
* :class:`FuturePeak` (MC-SF, Jaillet et al. 2025): with every job's predicted remaining rounds,
  the predicted KV at every predicted completion round stays within capacity.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .base import Footprint, Job


class NextRound:
    """Fits iff the next round's need ``Σ footprint(prompt + generated + 1)`` stays ≤ capacity."""

    def __init__(self, running: Sequence[Job], capacity: int, footprint: Footprint):
        self.footprint = footprint
        need = getattr(running, "next_round_tokens", None)  # the engine may know the sum (see base.py)
        if need is None:
            need = sum(footprint(j.prompt_tokens + j.generated + 1) for j in running)
        self.free = int(capacity) - int(need)

    def __call__(self, job: Job) -> bool:
        need = self.footprint(job.prompt_tokens + job.generated + 1)
        if need > self.free:
            return False
        self.free -= need
        return True


def fit_cap(context: int, capacity: int, footprint: Footprint) -> int:
    """Largest total length e with ``footprint(context + e) <= capacity``, i.e. the most tokens a job
    whose prompt is ``context`` can ever hold alone (may be ≤ 0 when even the prompt does not fit)."""
    e = int(capacity) - int(context)
    while e > 0 and footprint(int(context) + e) > capacity:  # paged: at most block_size - 1 steps
        e -= 1
    return e


def predicted_rounds(job: Job, capacity: int, footprint: Footprint) -> int:
    """Rounds ``job`` is predicted to run from now: ``⌊õ⌋ − generated``, at least 1 (a running job has
    not finished, a waiting one needs its first round), and clipped so the job fits alone (a longer
    job could never complete, so the clip costs no information)."""
    g = job.generated
    est = job.estimate
    total = max(int(est) if math.isfinite(est) else capacity, g + 1)
    if footprint(job.prompt_tokens + total) > capacity:
        total = max(fit_cap(job.prompt_tokens, capacity, footprint), g + 1)
    return total - g


class FuturePeak:
    """MC-SF's future-peak check, vectorised.

    A job with context x (prompt + generated) and r predicted rounds to go holds ``footprint(x + k)``
    in round k = 1..r from now and nothing after. The sum is nondecreasing between completions, so
    its maximum over the future is attained at completion rounds: checking the predicted memory at
    every job's predicted completion round is exact. A candidate costs O(n) numpy work (its
    contribution at the existing checkpoints, plus the memory at its own completion), not O(n²).
    """

    def __init__(self, context: np.ndarray, remaining: np.ndarray, capacity: int, footprint: Footprint):
        context = np.asarray(context, dtype=np.int64)
        remaining = np.asarray(remaining, dtype=np.int64)
        n = len(context)
        size = max(16, 2 * n)
        self.capacity = int(capacity)
        self.footprint = footprint
        self.n = n
        self._x = np.zeros(size, dtype=np.int64)
        self._r = np.zeros(size, dtype=np.int64)
        self._mem = np.zeros(size, dtype=np.int64)
        self._x[:n], self._r[:n] = context, remaining
        if n:
            alive = remaining[:, None] <= remaining[None, :]  # [checkpoint m, job j]: j alive at R_m
            self._mem[:n] = np.where(alive, footprint(context[None, :] + remaining[:, None]), 0).sum(axis=1)

    @classmethod
    def of_running(cls, running: Sequence[Job], capacity: int, footprint: Footprint) -> "FuturePeak":
        """The check for the running jobs, each predicted to run :func:`predicted_rounds` more rounds."""
        n = len(running)
        s = np.fromiter((j.prompt_tokens for j in running), dtype=np.int64, count=n)
        g = np.fromiter((j.generated for j in running), dtype=np.int64, count=n)
        est = np.fromiter((j.estimate for j in running), dtype=float, count=n)
        # ⌊õ⌋ with ∞ -> capacity (any total beyond what fits alone is clipped below anyway)
        total = np.maximum(np.floor(np.minimum(est, capacity)).astype(np.int64), g + 1)
        over = np.flatnonzero(footprint(s + total) > capacity)  # as predicted_rounds, for the few that need it
        for i in over:
            total[i] = max(fit_cap(int(s[i]), capacity, footprint), int(g[i]) + 1)
        return cls(s + g, total - g, capacity, footprint)

    @property
    def context(self) -> np.ndarray:
        """Context tokens (prompt + generated) of every job in the check, candidates admitted so far included."""
        return self._x[:self.n].copy()

    @property
    def remaining(self) -> np.ndarray:
        """Predicted remaining rounds of every job in the check."""
        return self._r[:self.n].copy()

    def peak(self) -> int:
        """Largest predicted KV over the future (0 when nothing runs)."""
        return int(self._mem[:self.n].max(initial=0))

    def fits(self, context: int, rounds: int) -> bool:
        """Add a job of ``context`` tokens running ``rounds`` more rounds if every checkpoint (the
        existing ones and its own completion) stays ≤ capacity; say whether it was added."""
        n, cap, fp = self.n, self.capacity, self.footprint
        R, X, mem = self._r[:n], self._x[:n], self._mem[:n]
        add = np.where(R <= rounds, fp(context + R), 0)
        if n and int((mem + add).max()) > cap:
            return False
        own = int(fp(context + rounds)) + int(np.where(rounds <= R, fp(X + rounds), 0).sum())
        if own > cap:
            return False
        mem += add
        if n == len(self._x):
            self._x, self._r, self._mem = (np.concatenate([a, np.zeros_like(a)]) for a in (self._x, self._r, self._mem))
        self._x[n], self._r[n], self._mem[n] = context, rounds, own
        self.n = n + 1
        return True
