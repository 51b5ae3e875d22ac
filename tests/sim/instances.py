"""Small seeded instances for the scheduler tests (the MC-SF paper's synthetic Model 1 and friends)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic(seed: int, n: int | None = None, M: int | None = None, arrivals: bool = False) -> tuple[pd.DataFrame, int]:
    """(frame, M): M ~ U[30, 50], s ~ U[1, 5], o ~ U[1, M − s], n requests (default U[40, 60])."""
    rng = np.random.default_rng(seed)
    M = int(rng.integers(30, 51)) if M is None else M
    n = int(rng.integers(40, 61)) if n is None else n
    s = rng.integers(1, 6, n)
    o = rng.integers(1, M - s + 1)
    f = pd.DataFrame({"input_tokens": s, "output_tokens": o})
    if arrivals:
        f["arrived_at"] = np.sort(rng.integers(0, 2 * n, n))
    return f, M


def tracelike(seed: int, n: int = 120) -> pd.DataFrame:
    """Long-tailed prompts and outputs with a query type, like the Azure trace but small."""
    rng = np.random.default_rng(seed)
    service = np.where(rng.random(n) < 0.6, "conversation", "code")
    s = np.where(service == "code", rng.lognormal(6.5, 0.8, n), rng.lognormal(6.0, 0.7, n)).astype(int) + 1
    o = np.where(service == "code", rng.lognormal(2.8, 0.9, n), rng.lognormal(4.8, 0.8, n)).astype(int) + 1
    return pd.DataFrame({"input_tokens": np.minimum(s, 3000), "output_tokens": np.minimum(o, 900), "service": service})
