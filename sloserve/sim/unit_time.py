"""The papers' unit-time model (Jaillet et al. 2025; Chen, Ye, Zhou 2025), driving any registered
scheduler through the hooks of :mod:`sloserve.sim.schedulers.base`.

One worker with a KV cache of ``capacity`` = M tokens; time advances one unit per round whatever
the batch holds. A job started at decision time k (an integer ≥ its arrival) processes its prompt
and emits output token 1 in round k + 1, holding s + 1 tokens, holds s + j while producing token
j, and completes at c = k + o, freeing everything. At every decision time t the engine, in order:

1. adds the jobs that arrived by t (``on_arrival``);
2. evicts, in ``victims`` order, until the running jobs' next-round need fits (``on_evict``); an
   evicted job loses its progress and KV and waits again;
3. starts the jobs ``admit`` returns, as long as the next round fits (it refuses the rest);
4. runs one round: every running job produces a token (``on_token``); a job that reaches its true
   length completes at t + 1.

The true length o is hidden from non-clairvoyant schedulers (``Job.true_output`` is ``None``); they
see only the predicted interval [ℓ, u]. Every job completes, or, with ``max_rounds``, is reported
in flight; none is dropped. Memory uses the identity footprint unless told otherwise.
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from .predictors import PREDICTORS, Predictor
from .schedulers import SCHEDULERS, Job, Scheduler, identity_footprint
from .schedulers.base import Footprint

#: columns of the per-request frame :func:`simulate` returns
REQUEST_COLUMNS = ("rid", "arrived_at", "started_at", "first_token_at", "completed_at", "prompt_tokens",
                   "output_tokens", "evictions", "wasted_tokens", "state")
DONE, RUNNING, WAITING = "done", "running", "waiting"


@dataclass(frozen=True)
class UnitTimeResult:
    """What a run produced. Times are in rounds.

    ``requests``: one row per request (:data:`REQUEST_COLUMNS`): ``started_at`` is the start of the
    final (successful) run, ``first_token_at`` that run's first token, ``wasted_tokens`` the output
    tokens of evicted runs, ``state`` done | running | waiting (the last two only with a round cap).
    ``timeline``: one row per round: ``t`` (the round's end), ``kv_tokens`` held during it,
    ``running`` and ``waiting`` job counts. ``summary``: :func:`summarise` of ``requests``.
    """

    requests: pd.DataFrame
    timeline: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)


class _WaitingView(Sequence):
    """The engine's waiting jobs as a read-only sequence (O(1) length; iterating is O(W))."""

    def __init__(self, jobs: Mapping[int, Job]):
        self._jobs = jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self):
        return iter(self._jobs.values())

    def __getitem__(self, i):
        return list(self._jobs.values())[i]


def poisson_arrivals(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Integer arrival rounds of ``n`` requests from a Poisson process of ``rate`` requests per round
    (each arrival time rounded up: a job arriving inside round t can start at its end)."""
    if rate <= 0:
        raise InputError(None, "rate", f"must be > 0 requests per round, got {rate}")
    return np.ceil(np.cumsum(rng.exponential(1.0 / rate, size=n))).astype(np.int64)


def _column(frame: pd.DataFrame, name: str, default=None) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy()
    if default is None:
        raise InputError(None, name, f"missing column; the frame has {list(frame.columns)}")
    return np.full(len(frame), default)


def simulate(frame: pd.DataFrame, scheduler: str | Scheduler, capacity: int, lower: np.ndarray,
             upper: np.ndarray, *, footprint: Footprint = identity_footprint, max_rounds: int | None = None,
             record_timeline: bool = True) -> UnitTimeResult:
    """Run ``scheduler`` (a registered name, or a fresh instance) on ``frame`` (columns
    ``input_tokens``, ``output_tokens`` and optionally integer ``arrived_at`` rounds, default 0)
    with KV capacity ``capacity`` tokens and predicted intervals ``lower`` ≤ o ≤ ``upper``."""
    sched = SCHEDULERS.get(scheduler)() if isinstance(scheduler, str) else scheduler
    s = _column(frame, "input_tokens").astype(np.int64)
    o = _column(frame, "output_tokens").astype(np.int64)
    a = _column(frame, "arrived_at", 0).astype(np.int64)
    n = len(frame)
    lower = np.asarray(lower)
    upper = np.asarray(upper, dtype=float)
    M = int(capacity)
    if lower.shape != (n,) or upper.shape != (n,):
        raise InputError(None, "lower/upper", f"need one interval per request ({n}), got {lower.shape} and {upper.shape}")
    if n and ((o < 1).any() or (s < 0).any() or (a < 0).any()):
        raise InputError(None, "output_tokens", "every request needs output_tokens >= 1, input_tokens >= 0, arrived_at >= 0")
    if n and ((lower < 1).any() or (upper < lower).any()):
        raise InputError(None, "lower", "intervals need 1 <= lower <= upper")
    too_big = np.flatnonzero(np.asarray(footprint(s + o)) > M)
    if len(too_big):
        i = int(too_big[0])
        raise InputError(None, "capacity", f"request {i} needs {footprint(int(s[i] + o[i]))} KV tokens at its last "
                                           f"token but the capacity is {M}; it could never complete")

    order = np.argsort(a, kind="stable")
    clairvoyant = bool(sched.clairvoyant)
    completed_at = np.full(n, np.nan)
    started_at = np.full(n, np.nan)
    evictions = np.zeros(n, dtype=np.int64)
    wasted = np.zeros(n, dtype=np.int64)
    jobs: list[Job | None] = [None] * n
    waiting: dict[int, Job] = {}
    view = _WaitingView(waiting)
    running: list[Job] = []
    ts, kvs, nrun, nwait = [], [], [], []
    nxt, done, t = 0, 0, 0
    name = getattr(sched, "name", type(sched).__name__)

    while done < n:
        if max_rounds is not None and t >= max_rounds:
            break
        while nxt < n and a[order[nxt]] <= t:  # 1. arrivals
            i = int(order[nxt])
            job = Job(rid=i, arrived_at=float(a[i]), prompt_tokens=int(s[i]), lower=int(lower[i]),
                      upper=float(upper[i]), true_output=int(o[i]) if clairvoyant else None)
            jobs[i] = job
            sched.on_arrival(job)
            waiting[i] = job
            nxt += 1
        need = sum(footprint(j.prompt_tokens + j.generated + 1) for j in running)
        if need > M:  # 2. evictions
            for v in sched.victims(running):
                if need <= M:
                    break
                if v.started_at is None:
                    raise RuntimeError(f"{name}.victims returned job {v.rid}, which is not running")
                need -= footprint(v.prompt_tokens + v.generated + 1)
                wasted[v.rid] += v.generated
                evictions[v.rid] += 1
                v.evictions += 1
                v.generated = 0
                v.started_at = None
                waiting[v.rid] = v
                sched.on_evict(v)
            if need > M:
                raise RuntimeError(f"{name}.victims did not offer enough running jobs to fit the next round")
            running = [j for j in running if j.started_at is not None]
        if waiting:  # 3. admissions
            with closing(sched.propose(view, running, M, footprint)) as proposals:  # puts back what was not started
                for j in proposals:
                    if waiting.get(j.rid) is not j:
                        raise RuntimeError(f"{name}.admit returned job {j.rid}, which is not waiting")
                    first = footprint(j.prompt_tokens + 1)
                    if need + first > M:
                        break  # the engine starts fewer, never others
                    need += first
                    del waiting[j.rid]
                    j.started_at = float(t)
                    running.append(j)
        if not running:
            if waiting:
                raise RuntimeError(f"{name} started nothing at t={t} although nothing runs and "
                                   f"{len(waiting)} jobs wait")
            t = int(a[order[nxt]])  # idle until the next arrival (nxt < n: not everything is done)
            continue
        t += 1  # 4. one round
        survivors = []
        for j in running:
            j.generated += 1
            sched.on_token(j)
            if j.generated == o[j.rid]:
                completed_at[j.rid] = t
                started_at[j.rid] = j.started_at
                done += 1
            else:
                survivors.append(j)
        if record_timeline:
            ts.append(t)
            kvs.append(need)
            nrun.append(len(running))
            nwait.append(len(waiting))
        running = survivors

    state = np.full(n, DONE, dtype=object)
    first_token = started_at + 1
    for j in running:
        state[j.rid] = RUNNING
        started_at[j.rid] = j.started_at
        first_token[j.rid] = j.started_at + 1
    for j in waiting.values():
        state[j.rid] = WAITING
    state[[i for i in range(n) if jobs[i] is None]] = WAITING  # not arrived before the round cap
    requests = pd.DataFrame({
        "rid": np.arange(n), "arrived_at": a, "started_at": started_at, "first_token_at": first_token,
        "completed_at": completed_at, "prompt_tokens": s, "output_tokens": o, "evictions": evictions,
        "wasted_tokens": wasted, "state": pd.Categorical(state, categories=[DONE, RUNNING, WAITING]),
    })
    timeline = pd.DataFrame({"t": np.asarray(ts, dtype=np.int64), "kv_tokens": np.asarray(kvs, dtype=np.int64),
                             "running": np.asarray(nrun, dtype=np.int64), "waiting": np.asarray(nwait, dtype=np.int64)})
    summary = summarise(requests)
    summary["peak_kv_tokens"] = float(timeline["kv_tokens"].max()) if len(timeline) else 0.0
    summary["capacity"] = float(M)
    return UnitTimeResult(requests, timeline, summary)


def tel(requests: pd.DataFrame) -> float:
    """Total end-to-end latency Σ (c − a) over completed requests, in rounds."""
    d = requests[requests["state"] == DONE]
    return float((d["completed_at"] - d["arrived_at"]).sum())


def tel_from_starts(requests: pd.DataFrame) -> float:
    """TEL the papers' second way: Σ_t t·|I_t| + Σ o − Σ a, where I_t holds the completed jobs whose
    final run starts at t (Chen et al. write it for a = 0). Equals :func:`tel` when every final run
    goes uninterrupted to completion."""
    d = requests[requests["state"] == DONE]
    starts = d["started_at"].to_numpy().astype(np.int64)
    counts = np.bincount(starts) if len(starts) else np.zeros(0, dtype=np.int64)  # |I_t|
    return float((np.arange(len(counts)) * counts).sum() + d["output_tokens"].sum() - d["arrived_at"].sum())


def summarise(requests: pd.DataFrame) -> dict[str, float]:
    """Run metrics from the per-request frame (rounds and tokens)."""
    d = requests[requests["state"] == DONE]
    total = tel(requests)
    return {
        "requests": float(len(requests)),
        "completed": float(len(d)),
        "in_flight": float(len(requests) - len(d)),
        "tel": total,
        "tel_from_starts": tel_from_starts(requests),
        "mean_latency": total / len(d) if len(d) else float("nan"),
        "mean_ttft": float((d["first_token_at"] - d["arrived_at"]).mean()) if len(d) else float("nan"),
        "makespan": float(d["completed_at"].max()) if len(d) else float("nan"),
        "evictions": float(requests["evictions"].sum()),
        "wasted_tokens": float(requests["wasted_tokens"].sum()),
    }


def run(frame: pd.DataFrame, scheduler: str | Scheduler, capacity: int, predictor: str | Predictor = "naive", *,
        seed: int = 0, train: pd.DataFrame | None = None, **kw) -> UnitTimeResult:
    """Predict intervals with ``predictor`` (a registered name or an instance; fitted on ``train``
    when given) using ``numpy.random.default_rng(seed)``, then :func:`simulate`."""
    pred = PREDICTORS.get(predictor)() if isinstance(predictor, str) else predictor
    if train is not None:
        pred = pred.fit(train)
    lower, upper = pred.predict(frame, np.random.default_rng(seed))
    return simulate(frame, scheduler, capacity, lower, upper, **kw)
