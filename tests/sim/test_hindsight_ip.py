"""The hindsight IP: equal to brute force on tiny cases, below every scheduler, quiet."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.sim.hindsight_ip import solve_hindsight, start_windows
from sloserve.sim.schedulers import SCHEDULERS
from sloserve.sim.unit_time import run
from sloserve.vocab import Status


def _feasible(starts, s, o, M):
    """Memory Σ (s_i + t − k_i) over jobs running in round t, t = k_i + 1 .. k_i + o_i, stays <= M."""
    T = int((starts + o).max())
    mem = np.zeros(T + 1, dtype=np.int64)
    for k, si, oi in zip(starts, s, o):
        mem[k + 1:k + oi + 1] += si + np.arange(1, oi + 1)
    return bool((mem <= M).all())


def _brute_force(s, o, M, a):
    """Least TEL over all start vectors with every start in [a_i, a_i + Σ o] (no optimum idles longer)."""
    best = np.inf
    ranges = [range(ai, ai + int(o.sum()) + 1) for ai in a]
    for starts in itertools.product(*ranges):
        starts = np.asarray(starts)
        total = float((starts + o - a).sum())
        if total < best and _feasible(starts, s, o, M):
            best = total
    return best


def _tiny(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 4))
    M = int(rng.integers(8, 14))
    s = rng.integers(1, 4, n)
    o = rng.integers(1, M - s + 1)
    a = np.zeros(n, dtype=np.int64) if seed % 2 == 0 else rng.integers(0, 4, n)
    return s, o, M, a


@pytest.mark.parametrize("seed", range(8))
def test_ip_optimum_equals_brute_force(seed):
    s, o, M, a = _tiny(seed)
    res = solve_hindsight(s, o, M, a)
    assert res.status == Status.OPTIMAL and res.exact_horizon
    assert res.tel == _brute_force(s, o, M, a)
    assert _feasible(res.starts, s, o, M) and (res.starts >= a).all()


@pytest.mark.parametrize("seed", range(4))
def test_ip_optimum_is_below_every_scheduler(seed):
    rng = np.random.default_rng(100 + seed)
    n, M = 6, int(rng.integers(30, 51))
    s = rng.integers(1, 6, n)
    o = rng.integers(1, M - s + 1)
    f = pd.DataFrame({"input_tokens": s, "output_tokens": o})
    res = solve_hindsight(s, o, M, time_limit_s=30)
    assert res.status == Status.OPTIMAL
    hsf = run(f, "hsf", M, "oracle").summary["tel"]
    assert res.tel <= hsf
    for sched in SCHEDULERS:
        for pred in ("naive", "oracle"):
            assert res.tel <= run(f, sched, M, pred).summary["tel"], (sched, pred)


def test_a_user_horizon_is_flagged_as_possibly_cutting_off_the_optimum():
    s, o = np.array([1, 1]), np.array([3, 3])
    lo, hi, exact = start_windows(s, o, 10, incumbent_tel=6)
    assert exact and hi.tolist() == [0, 0]
    _, hi, exact = start_windows(s, o, 10, horizon=5)
    assert not exact and hi.tolist() == [2, 2]
    with pytest.raises(InputError):
        start_windows(s, o, 10, horizon=2)
    # M = 9 holds two jobs (s=2, o=4) only if the second starts 3 rounds after the first: TEL 4 + 7
    assert solve_hindsight(np.array([2, 2]), np.array([4, 4]), 9).tel == 11
    res = solve_hindsight(np.array([2, 2]), np.array([4, 4]), 9, horizon=7)
    assert res.tel == 11 and not res.exact_horizon
    with pytest.raises(InputError, match="no schedule"):
        solve_hindsight(np.array([2, 2]), np.array([4, 4]), 9, horizon=6)


def test_highs_prints_nothing(capfd):
    solve_hindsight(np.array([1, 2]), np.array([2, 3]), 7)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
