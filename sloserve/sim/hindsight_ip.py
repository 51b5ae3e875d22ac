"""The hindsight integer program of Jaillet et al. (arXiv 2502.07115): the least total end-to-end
latency any non-preemptive schedule reaches when every output length is known, solved with HiGHS.

Variables x_{i,k} = 1 if request i starts at k (k ≥ a_i). With all lengths known:

    minimise    Σ_i ( Σ_k k·x_{i,k} + o_i − a_i )
    subject to  Σ_k x_{i,k} = 1                                              ∀ i
                Σ_i Σ_{k = max(a_i, t − o_i)}^{t − 1} (s_i + t − k)·x_{i,k} ≤ M      ∀ t

A job started at k holds s_i + j tokens in round k + j (j = 1..o_i), as in
:mod:`sloserve.sim.unit_time`. The optimum also bounds every preemptive schedule of that model
from below (dropping the evicted runs leaves a feasible non-preemptive schedule with the same
completions), so it is a lower bound for every registered scheduler.

Start windows: by default the *exact* bound, which cuts off no optimum: with ``incumbent_tel`` the
TEL of any feasible schedule (H-SF's, found by simulation), TEL ≥ (k_i − a_i) + Σ_j o_j gives
k_i − a_i ≤ incumbent_tel − Σ_j o_j; and an optimum never idles once everyone has arrived, so
k_i ≤ max_j a_j + Σ_{j≠i} o_j. A user ``horizon`` T (every job completes by T, e.g. H-SF's
makespan) is smaller but may cut off the optimum: the result then says ``exact_horizon=False``.
Sized for about a dozen requests.
"""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from ..errors import InputError
from ..solvers.highs import new_highs
from ..vocab import Status


@dataclass(frozen=True)
class HindsightResult:
    """The IP's answer: ``status`` (optimal | time_limit), ``tel`` of the best schedule found (rounds),
    ``bound`` (HiGHS's dual bound), ``starts`` (k_i per request), the number of binaries and
    whether the start windows were exact (cut off no optimum)."""

    status: Status
    tel: float
    bound: float
    starts: np.ndarray
    num_binaries: int
    exact_horizon: bool
    solve_time_s: float


def start_windows(prompt, output, capacity, arrivals=None, *, incumbent_tel: float | None = None,
                  horizon: int | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(earliest, latest) start per request and whether the windows are exact (see module doc)."""
    o = np.asarray(output, dtype=np.int64)  # prompts do not bound start times; capacity is checked by the IP
    a = np.zeros_like(o) if arrivals is None else np.asarray(arrivals, dtype=np.int64)
    latest = a.max(initial=0) + o.sum() - o  # no idling once everyone has arrived
    if incumbent_tel is not None:
        latest = np.minimum(latest, a + int(np.floor(incumbent_tel)) - int(o.sum()))
    exact = True
    if horizon is not None:
        latest = np.minimum(latest, int(horizon) - o)
        exact = False
    if (latest < a).any():
        raise InputError(None, "horizon", "some request cannot complete within the horizon")
    return a, latest, exact


def solve_hindsight(prompt, output, capacity: int, arrivals=None, *, horizon: int | None = None,
                    incumbent_starts: np.ndarray | None = None, time_limit_s: float = 60.0,
                    cuts: int = 3) -> HindsightResult:
    """Solve the hindsight IP for requests with prompts ``prompt`` (s_i), true outputs ``output``
    (o_i) and integer ``arrivals`` (a_i, default 0) under KV capacity ``capacity`` (M tokens).

    ``incumbent_starts`` (e.g. H-SF's final starts) is a feasible schedule: it tightens the start
    windows exactly and is handed to HiGHS as a MIP start. Without it, H-SF is simulated first."""
    s, o = np.asarray(prompt, dtype=np.int64), np.asarray(output, dtype=np.int64)
    n = len(o)
    a = np.zeros(n, dtype=np.int64) if arrivals is None else np.asarray(arrivals, dtype=np.int64)
    M = int(capacity)
    if n == 0:
        return HindsightResult(Status.OPTIMAL, 0.0, 0.0, np.zeros(0, dtype=np.int64), 0, True, 0.0)
    if (s + o > M).any():
        raise InputError(None, "capacity", "some request needs more than the capacity at its last token")
    if incumbent_starts is None:
        incumbent_starts = _hsf_starts(s, o, a, M)
    inc = np.asarray(incumbent_starts, dtype=np.int64)
    inc_tel = float((inc + o - a).sum())
    lo, hi, exact = start_windows(s, o, M, a, incumbent_tel=inc_tel, horizon=horizon)

    # columns: for request i, starts k = lo_i .. hi_i
    width = hi - lo + 1
    col_job = np.repeat(np.arange(n), width)
    col_start = np.concatenate([np.arange(lo[i], hi[i] + 1) for i in range(n)])
    ncol = len(col_job)
    first_col = np.concatenate([[0], np.cumsum(width)])
    # memory entries: column (i, k) in rows t = k + 1 .. k + o_i with coefficient s_i + t − k
    reps = o[col_job]
    ent_col = np.repeat(np.arange(ncol), reps)
    j = np.arange(len(ent_col)) - np.repeat(np.cumsum(reps) - reps, reps) + 1  # 1..o_i within a column
    ent_row = col_start[ent_col] + j - 1  # memory row index t − 1
    ent_val = s[col_job][ent_col] + j
    T = int(ent_row.max()) + 1
    # assignment rows T .. T + n − 1
    rows = [ent_row, T + col_job]
    cols = [ent_col, np.arange(ncol)]
    vals = [ent_val.astype(float), np.ones(ncol)]
    row_hi = [np.full(T, float(M)), np.ones(n)]
    row_lo = [np.full(T, -highspy.kHighsInf), np.ones(n)]
    # valid cuts: in round t at most q jobs can each hold more than M/(q + 1) tokens
    nrow = T + n
    for q in range(1, cuts + 1):
        big = ent_val * (q + 1) > M
        if not big.any():
            break
        rows.append(nrow + ent_row[big])
        cols.append(ent_col[big])
        vals.append(np.ones(int(big.sum())))
        row_hi.append(np.full(T, float(q)))
        row_lo.append(np.full(T, -highspy.kHighsInf))
        nrow += T
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]

    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = nrow
    lp.col_cost_ = col_start.astype(float)
    lp.col_lower_ = np.zeros(ncol)
    lp.col_upper_ = np.ones(ncol)
    lp.row_lower_ = np.concatenate(row_lo)
    lp.row_upper_ = np.concatenate(row_hi)
    lp.offset_ = float((o - a).sum())
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(ncol + 1)).astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    lp.integrality_ = [highspy.HighsVarType.kInteger] * ncol

    h = new_highs()  # no banner on stdout, logging off
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1.0 - 1e-6)  # the objective is an integer
    h.passModel(lp)
    if ((inc >= lo) & (inc <= hi)).all():
        x0 = np.zeros(ncol)
        x0[first_col[:-1] + (inc - lo)] = 1.0
        sol = highspy.HighsSolution()
        sol.col_value = list(x0)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value)
    if status == highspy.HighsModelStatus.kOptimal:
        st = Status.OPTIMAL
    elif status in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit) and len(x) == ncol:
        st = Status.TIME_LIMIT
    elif status == highspy.HighsModelStatus.kInfeasible and not exact:
        raise InputError(None, "horizon", f"no schedule completes every request by {horizon}")
    else:
        raise RuntimeError(f"hindsight IP ended with {h.modelStatusToString(status)}")
    pick = x > 0.5
    starts = np.full(n, -1, dtype=np.int64)
    starts[col_job[pick]] = col_start[pick]
    tel = float((starts + o - a).sum())
    return HindsightResult(st, tel, float(info.mip_dual_bound), starts, ncol, exact, float(h.getRunTime()))


def _hsf_starts(s, o, a, M) -> np.ndarray:
    """Final starts of H-SF on the instance (a feasible non-preemptive schedule)."""
    import pandas as pd

    from .unit_time import simulate

    frame = pd.DataFrame({"input_tokens": s, "output_tokens": o, "arrived_at": a})
    res = simulate(frame, "hsf", M, o, o.astype(float), record_timeline=False)
    return res.requests["started_at"].to_numpy().astype(np.int64)
