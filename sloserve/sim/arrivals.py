"""Requests to replay: from a trace, or synthetic from a compiled problem's query types.

:class:`Arrivals` holds one row per request as numpy arrays (times in seconds from the start,
token counts, the query type's index into ``compiled.query_types``), sorted by arrival time.

- :func:`from_trace` labels every request of a trace with the same labelling the calibration uses
  (:func:`sloserve.traces.label.label_query_types`: same ``types_per_service``, ``method`` and
  ``seed`` give the same names), so a trace replays against a scenario calibrated from it;
- :func:`synthetic` draws arrivals per query type at its ``rate_rps`` (Poisson, or Gamma renewal
  with a coefficient of variation ``cv`` for bursts), and token lengths fixed at the type's sizes,
  lognormal around them with a coefficient of variation, or resampled from a trace's requests of
  the same type; seeded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..problem.tables import Compiled
from ..registry import Registry

#: how synthetic inter-arrival times are drawn
ARRIVAL_PROCESSES: Registry = Registry("arrival process")
#: tokens a request may carry (prompt or output), the physical bound of the loaders
MAX_TOKENS = 10_000_000


@dataclass(frozen=True)
class Arrivals:
    """Requests sorted by arrival: ``arrived_at`` (s), ``input_tokens``, ``output_tokens`` (≥ 1) and
    ``query_type`` (index into the problem's query types); ``types`` names the indices."""

    arrived_at: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    query_type: np.ndarray
    types: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        n = len(self.arrived_at)
        for name in ("input_tokens", "output_tokens", "query_type"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, arrived_at {n}")
        if n and np.any(np.diff(self.arrived_at) < 0):
            raise ValueError("arrivals must be sorted by time")

    def __len__(self) -> int:
        return len(self.arrived_at)

    @property
    def duration_s(self) -> float:
        return float(self.arrived_at[-1]) if len(self) else 0.0

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"arrived_at": self.arrived_at, "input_tokens": self.input_tokens,
                             "output_tokens": self.output_tokens,
                             "query_type": np.asarray(self.types, dtype=object)[self.query_type]})


def _types(compiled: Compiled) -> tuple[str, ...]:
    return tuple(map(str, compiled.query_types["query_type"]))


def from_frame(frame: pd.DataFrame, compiled: Compiled, source: str = "frame") -> Arrivals:
    """Arrivals from a tidy frame with ``arrival_s`` (or ``arrived_at``), ``input_tokens``,
    ``output_tokens`` and ``query_type`` columns (names of ``compiled``'s query types)."""
    types = _types(compiled)
    tcol = "arrival_s" if "arrival_s" in frame.columns else "arrived_at"
    for col in (tcol, "input_tokens", "output_tokens", "query_type"):
        if col not in frame.columns:
            raise InputError(source, col, f"missing column (have {list(frame.columns)})")
    names = frame["query_type"].astype(str).to_numpy()
    idx = pd.Index(types).get_indexer(names)
    if (idx < 0).any():
        unknown = sorted(set(names[idx < 0]))
        raise InputError(source, "query_type", f"request types {unknown[:8]} are not query types of the problem "
                                               f"{compiled.name!r} ({list(types)}); label the trace as the scenario "
                                               f"was calibrated (same types_per_service and seed)")
    t = frame[tcol].to_numpy(dtype=float)
    order = np.argsort(t, kind="stable")
    inp = np.clip(frame["input_tokens"].to_numpy(dtype=np.int64)[order], 1, MAX_TOKENS)
    out = np.clip(frame["output_tokens"].to_numpy(dtype=np.int64)[order], 1, MAX_TOKENS)
    t = t[order]
    return Arrivals(t - (t[0] if len(t) else 0.0), inp, out, idx[order].astype(np.int64), types, source)


def from_trace(trace: pd.DataFrame, compiled: Compiled, *, types_per_service: int = 3, method: str = "kmeans",
               seed: int = 0, source: str = "trace") -> Arrivals:
    """Arrivals of a loaded trace (:func:`sloserve.traces.trace.load_traces`), each request labelled
    with its query type exactly as :func:`sloserve.traces.calibrate.calibrate` labels it."""
    from ..traces.label import label_query_types

    t = trace.copy()
    t["query_type"] = label_query_types(t, types_per_service, method=method, seed=seed).astype(str)
    return from_frame(t, compiled, source)


# ---- synthetic arrivals --------------------------------------------------------------------------

@ARRIVAL_PROCESSES.register("poisson", help="exponential inter-arrival times (cv = 1)")
def poisson_gaps(rng: np.random.Generator, rate: float, n: int, cv: float = 1.0) -> np.ndarray:
    return rng.exponential(1.0 / rate, n)


@ARRIVAL_PROCESSES.register("gamma", help="Gamma inter-arrival times with coefficient of variation cv (cv > 1: bursts)")
def gamma_gaps(rng: np.random.Generator, rate: float, n: int, cv: float = 1.0) -> np.ndarray:
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / (rate * shape), n)


LENGTHS = ("fixed", "lognormal", "trace")


def synthetic(compiled: Compiled, duration_s: float, *, process: str = "poisson", cv: float = 1.0, seed: int = 0,
              rate_scale: float = 1.0, lengths: str = "fixed", length_cv: float = 1.0,
              trace: pd.DataFrame | None = None, types_per_service: int = 3) -> Arrivals:
    """Arrivals over ``[0, duration_s)`` at each query type's ``rate_rps`` × ``rate_scale``.

    ``lengths``: ``fixed`` (every request has its type's input/output tokens), ``lognormal`` (mean =
    the type's size, coefficient of variation ``length_cv``) or ``trace`` (resampled from ``trace``'s
    requests of the same type, labelled as the calibration labels them). One seeded generator."""
    if not duration_s > 0:
        raise InputError(None, "duration", f"must be > 0 seconds, got {duration_s!r}")
    if not cv > 0:
        raise InputError(None, "cv", f"must be > 0, got {cv!r}")
    if lengths not in LENGTHS:
        raise InputError(None, "lengths", f"must be one of {list(LENGTHS)}, got {lengths!r}")
    gaps = ARRIVAL_PROCESSES.get(process, "arrivals")
    rng = np.random.default_rng(seed)
    qt = compiled.query_types
    types = _types(compiled)
    pools = None
    if lengths == "trace":
        if trace is None:
            raise InputError(None, "lengths", "lengths='trace' needs a trace to resample from")
        from ..traces.label import label_query_types
        lab = label_query_types(trace, types_per_service, seed=seed).astype(str)
        pools = {q: trace.loc[lab == q, ["input_tokens", "output_tokens"]].to_numpy(dtype=np.int64) for q in types}
    ts, ins, outs, idx = [], [], [], []
    for i, row in enumerate(qt.itertuples(index=False)):
        rate = float(row.rate_rps) * rate_scale
        if rate <= 0:
            continue
        n_guess = int(rate * duration_s + 6 * np.sqrt(rate * duration_s * max(cv, 1.0) ** 2) + 10)
        t = np.cumsum(gaps(rng, rate, n_guess, cv))
        while t[-1] < duration_s:  # rare: draw more
            t = np.concatenate([t, t[-1] + np.cumsum(gaps(rng, rate, n_guess, cv))])
        t = t[t < duration_s]
        n = len(t)
        if lengths == "fixed":
            a = np.full(n, int(round(row.input_tokens)))
            b = np.full(n, int(round(row.output_tokens)))
        elif lengths == "lognormal":
            s2 = np.log1p(length_cv ** 2)
            a = rng.lognormal(np.log(row.input_tokens) - s2 / 2, np.sqrt(s2), n)
            b = rng.lognormal(np.log(row.output_tokens) - s2 / 2, np.sqrt(s2), n)
        else:
            pool = pools[types[i]]
            if len(pool) == 0:
                raise InputError(None, "trace", f"the trace has no request of query type {types[i]!r} to resample")
            pick = pool[rng.integers(0, len(pool), n)]
            a, b = pick[:, 0], pick[:, 1]
        ts.append(t)
        ins.append(np.clip(np.round(a), 1, MAX_TOKENS).astype(np.int64))
        outs.append(np.clip(np.round(b), 1, MAX_TOKENS).astype(np.int64))
        idx.append(np.full(n, i, dtype=np.int64))
    if not ts:
        empty = np.zeros(0)
        return Arrivals(empty, empty.astype(np.int64), empty.astype(np.int64), empty.astype(np.int64), types, "synthetic")
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    return Arrivals(t[order], np.concatenate(ins)[order], np.concatenate(outs)[order], np.concatenate(idx)[order],
                    types, f"synthetic {process} cv={cv:g} lengths={lengths} seed={seed}")
