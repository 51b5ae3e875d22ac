"""Output-length predictors: an interval [ℓ, u] per request, by registry.

``predictor.fit(train) -> predictor`` learns from a training frame (only ``binned`` learns);
``predictor.predict(frame, rng) -> (lower, upper)`` gives integer lower bounds ≥ 1 and float upper
bounds ≥ lower (``inf`` allowed) for the requests of another frame. Frames are tidy trace frames:
``input_tokens``, ``output_tokens`` and optionally ``service`` (the query type).

Only predictors with ``reads_truth = True`` (``interval``, ``oracle``, ``bucket``) look at
``output_tokens`` in ``predict``; ``naive`` and ``binned`` do not (a test hands them frames without
that column). ``binned`` reads the true lengths of its *training* frame only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import InputError
from ..registry import Registry


class Predictor:
    """Base class: ``fit`` learns nothing, ``predict`` must be overridden."""

    name: ClassVar[str] = "base"
    #: whether predict reads the true output lengths of the frame it predicts
    reads_truth: ClassVar[bool] = False

    def fit(self, train: pd.DataFrame) -> "Predictor":
        return self

    def predict(self, frame: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


#: every registered predictor class; construct with its parameters, e.g. ``PREDICTORS.get("interval")(alpha=0.1)``
PREDICTORS: Registry[type[Predictor]] = Registry("predictor")


def _truth(frame: pd.DataFrame) -> np.ndarray:
    if "output_tokens" not in frame.columns:
        raise InputError(None, "output_tokens", "this predictor needs the true output lengths")
    o = frame["output_tokens"].to_numpy().astype(np.int64)
    if (o < 1).any():
        raise InputError(None, "output_tokens", "true output lengths must be >= 1")
    return o


@PREDICTORS.register("naive", help="every request gets the same interval [lo, hi] (default [1, 1000]): no information")
@dataclass
class Naive(Predictor):
    """The same interval for every request; Chen et al.'s "rough" predictions use [1, 1000]."""

    name: ClassVar[str] = "naive"
    lo: int = 1
    hi: float = 1000.0

    def __post_init__(self):
        if not (1 <= self.lo <= self.hi):
            raise InputError(None, "naive", f"need 1 <= lo <= hi, got [{self.lo}, {self.hi}]")

    def predict(self, frame, rng):
        n = len(frame)
        return np.full(n, int(self.lo), dtype=np.int64), np.full(n, float(self.hi))


@PREDICTORS.register("binned", help="per query type and input-length bin, the q_lo..q_hi percentiles of a training split")
@dataclass
class Binned(Predictor):
    """Intervals learned from a training split: requests are grouped by query type (``service``, when
    both frames have it) and by ``bins`` input-length quantile bins within each type; a request's
    interval is its group's [``q_lo``, ``q_hi``] quantiles of output length (default 10th–90th
    percentile), ℓ rounded down (≥ 1) and u up. Groups unseen in training fall back to the type's
    (or the whole split's) quantiles. The truth lies outside the interval for about
    ``q_lo + 1 − q_hi`` of the requests: a realistic, sometimes wrong predictor."""

    name: ClassVar[str] = "binned"
    bins: int = 4
    q_lo: float = 0.1
    q_hi: float = 0.9
    by_service: bool = True
    _edges: dict = field(default_factory=dict, init=False, repr=False)
    _table: dict = field(default_factory=dict, init=False, repr=False)
    _fallback: tuple = field(default=(1, 1.0), init=False, repr=False)

    def __post_init__(self):
        if self.bins < 1 or not (0.0 <= self.q_lo <= self.q_hi <= 1.0):
            raise InputError(None, "binned", f"need bins >= 1 and 0 <= q_lo <= q_hi <= 1, got {self}")

    def _interval(self, out: np.ndarray) -> tuple[int, float]:
        lo, hi = np.quantile(out, [self.q_lo, self.q_hi])
        return max(1, int(np.floor(lo))), float(max(np.ceil(hi), max(1, np.floor(lo))))

    def _types(self, frame: pd.DataFrame) -> np.ndarray:
        if self.by_service and "service" in frame.columns:
            return frame["service"].astype(str).to_numpy()
        return np.full(len(frame), "")

    def fit(self, train):
        if len(train) == 0:
            raise InputError(None, "train", "binned needs a non-empty training frame")
        x = train["input_tokens"].to_numpy()
        out = _truth(train)
        types = self._types(train)
        self._fallback = self._interval(out)
        self._edges, self._table = {}, {}
        for ty in np.unique(types):
            m = types == ty
            edges = np.unique(np.quantile(x[m], np.linspace(0, 1, self.bins + 1)[1:-1]))
            self._edges[ty] = edges
            b = np.searchsorted(edges, x[m], side="right")
            self._table[(ty, None)] = self._interval(out[m])
            for k in np.unique(b):
                self._table[(ty, int(k))] = self._interval(out[m][b == k])
        return self

    def predict(self, frame, rng):
        if not self._table:
            raise InputError(None, "binned", "call fit(train) before predict")
        x = frame["input_tokens"].to_numpy()
        types = self._types(frame)
        lower = np.empty(len(frame), dtype=np.int64)
        upper = np.empty(len(frame))
        for ty in np.unique(types):
            m = np.flatnonzero(types == ty)
            edges = self._edges.get(ty)
            b = np.searchsorted(edges, x[m], side="right") if edges is not None else np.full(len(m), -1)
            for k in np.unique(b):
                lo, hi = self._table.get((ty, int(k)), self._table.get((ty, None), self._fallback))
                sel = m[b == k]
                lower[sel], upper[sel] = lo, hi
        return lower, upper


@PREDICTORS.register("interval", help="a window of ratio l/u = alpha containing the truth, placed at random (seeded)")
@dataclass
class Interval(Predictor):
    """Chen et al.'s accuracy-α intervals: ℓ/u = α and ℓ ≤ o ≤ u. The window's position is random:
    ℓ = o·α^U with U ~ U[0, 1], so log o is uniform between log ℓ and log u. ℓ is rounded down to an
    integer (the ratio is α up to that rounding) and u = ℓ_real/α ≥ o is kept real; a window that
    would start below 1 token becomes [1, 1/α]. α = 1 gives ℓ = u = o."""

    name: ClassVar[str] = "interval"
    reads_truth: ClassVar[bool] = True
    alpha: float = 0.5

    def __post_init__(self):
        if not (0.0 < self.alpha <= 1.0):
            raise InputError(None, "alpha", f"must be in (0, 1], got {self.alpha}")

    def predict(self, frame, rng):
        o = _truth(frame)
        lo_real = o * self.alpha ** rng.random(len(o))
        lower = np.clip(np.floor(lo_real), 1, o).astype(np.int64)
        upper = np.maximum(np.maximum(lo_real, 1.0) / self.alpha, o)
        return lower, upper


@PREDICTORS.register("oracle", help="l = u = the true output length: makes any scheduler clairvoyant")
@dataclass
class Oracle(Predictor):
    """ℓ = u = o."""

    name: ClassVar[str] = "oracle"
    reads_truth: ClassVar[bool] = True

    def predict(self, frame, rng):
        o = _truth(frame)
        return o.copy(), o.astype(float)


@PREDICTORS.register("bucket", help="the fixed-width bucket holding the true length (an ideal length classifier)")
@dataclass
class Bucket(Predictor):
    """The interval of width ``width`` that holds the truth, [width·⌊(o−1)/width⌋ + 1, width·⌈o/width⌉]:
    the paper's "binned classification" read as a classifier that is always right."""

    name: ClassVar[str] = "bucket"
    reads_truth: ClassVar[bool] = True
    width: int = 100

    def __post_init__(self):
        if self.width < 1:
            raise InputError(None, "width", f"must be >= 1, got {self.width}")

    def predict(self, frame, rng):
        o = _truth(frame)
        w = int(self.width)
        return (w * ((o - 1) // w) + 1).astype(np.int64), (w * (-(-o // w))).astype(float)
