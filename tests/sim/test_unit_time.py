"""The unit-time engine: bookkeeping (TEL two ways), memory, completeness, hidden truth, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.sim.predictors import PREDICTORS
from sloserve.sim.schedulers import SCHEDULERS, FCFS, Scheduler
from sloserve.sim.unit_time import poisson_arrivals, run, simulate, tel, tel_from_starts

from .instances import synthetic, tracelike

PREDICTOR_CASES = [("naive", {}), ("interval", {"alpha": 0.2}), ("interval", {"alpha": 1.0}), ("oracle", {})]


def _pred(name, kw):
    return PREDICTORS.get(name)(**kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sched", SCHEDULERS.names())
def test_tel_two_ways_agree_and_every_job_completes(sched, seed):
    f, M = synthetic(seed)
    for name, kw in PREDICTOR_CASES:
        r = run(f, sched, M, _pred(name, kw), seed=seed)
        req = r.requests
        assert (req["state"] == "done").all()
        assert r.summary["tel"] == r.summary["tel_from_starts"] == tel(req) == tel_from_starts(req)
        # the final run goes straight through: c = k + o, first token one round after the start
        np.testing.assert_array_equal(req["completed_at"], req["started_at"] + req["output_tokens"])
        np.testing.assert_array_equal(req["first_token_at"], req["started_at"] + 1)
        assert (req["completed_at"] - req["arrived_at"] >= req["output_tokens"]).all()


@pytest.mark.parametrize("sched", SCHEDULERS.names())
def test_memory_never_exceeds_capacity(sched):
    for seed in range(3):
        f = tracelike(seed)
        M = 6000
        r = run(f, sched, M, "naive", seed=seed)
        assert r.timeline["kv_tokens"].max() <= M
        assert r.summary["peak_kv_tokens"] <= M
        # the timeline's memory is Σ (s + j) over running jobs: total token-rounds match
        kv_work = ((f["input_tokens"] * f["output_tokens"]) + f["output_tokens"] * (f["output_tokens"] + 1) // 2).sum()
        w = r.requests["wasted_tokens"]
        assert r.timeline["kv_tokens"].sum() >= kv_work
        if w.sum() == 0:
            assert r.timeline["kv_tokens"].sum() == kv_work


def test_round_cap_reports_jobs_in_flight_never_drops_them():
    f, M = synthetic(3, arrivals=True)
    r = run(f, "amin", M, "naive", max_rounds=40)
    req = r.requests
    assert len(req) == len(f)
    assert set(req["state"].unique()) <= {"done", "running", "waiting"}
    assert (req["state"] != "done").sum() == r.summary["in_flight"] > 0
    assert req.loc[req["state"] != "done", "completed_at"].isna().all()
    assert req.loc[req["state"] == "running", "started_at"].notna().all()
    assert r.timeline["t"].max() <= 40


def test_same_seed_same_results_and_another_seed_differs():
    f = tracelike(4)
    a = run(f, "amin", 5000, PREDICTORS.get("interval")(alpha=0.1), seed=7)
    b = run(f, "amin", 5000, PREDICTORS.get("interval")(alpha=0.1), seed=7)
    c = run(f, "amin", 5000, PREDICTORS.get("interval")(alpha=0.1), seed=8)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.timeline, b.timeline)
    assert not a.requests["completed_at"].equals(c.requests["completed_at"])


class _Spy(Scheduler):
    """Base FCFS that records what every job showed on arrival."""

    seen: list

    def __init__(self):
        self.seen = []

    def on_arrival(self, job):
        self.seen.append(job.true_output)
        super().on_arrival(job)


class _ClairvoyantSpy(_Spy):
    clairvoyant = True


def test_true_lengths_reach_only_clairvoyant_schedulers():
    f, M = synthetic(5)
    lo, hi = np.ones(len(f), dtype=int), np.full(len(f), 1000.0)
    blind, seer = _Spy(), _ClairvoyantSpy()
    simulate(f, blind, M, lo, hi)
    simulate(f, seer, M, lo, hi)
    assert blind.seen == [None] * len(f)
    assert sorted(seer.seen) == sorted(f["output_tokens"].tolist())


def test_hand_checked_schedules():
    # M = 10: A (s=2, o=3) peaks at 5, B (s=1, o=6) at 7, C (s=4, o=1) at 5
    f = pd.DataFrame({"input_tokens": [2, 1, 4], "output_tokens": [3, 6, 1]})
    lo = f["output_tokens"].to_numpy()
    hsf = simulate(f, "hsf", 10, lo, lo.astype(float)).requests
    # shortest first C, A, B; the predicted KV at the completions t = 1, 3, 6 is
    # 5 + 3 + 2 = 10, 5 + 4 = 9 and 7, all <= 10, so all three start at once
    assert hsf["started_at"].tolist() == [0, 0, 0]
    assert hsf["completed_at"].tolist() == [3, 6, 1]
    fcfs = simulate(f, "fcfs", 7, lo, lo.astype(float)).requests
    # M = 7: FCFS starts A (needs 3) and B (needs 2) at 0, C (needs 5) waits; at t=1 A=4, B=3 -> 7 fits;
    # at t=2 need A 5 + B 4 = 9 > 7: evict the newest (B, the larger rid); C fits only when A ends at 3
    assert fcfs["evictions"].tolist() == [0, 1, 0]
    assert fcfs["completed_at"].tolist()[0] == 3
    assert tel(fcfs) == tel_from_starts(fcfs)


def test_fcfs_is_the_base_policy():
    for seed in range(3):
        f, M = synthetic(seed, arrivals=seed == 2)
        lo, hi = np.ones(len(f), dtype=int), np.full(len(f), 1000.0)
        a = simulate(f, FCFS(), M, lo, hi).requests
        b = simulate(f, Scheduler(), M, lo, hi).requests
        pd.testing.assert_frame_equal(a, b)


def test_requests_that_can_never_fit_are_bad_input():
    f = pd.DataFrame({"input_tokens": [5], "output_tokens": [10]})
    with pytest.raises(InputError, match="could never complete"):
        run(f, "fcfs", 14, "naive")
    with pytest.raises(InputError, match="lower"):
        simulate(f, "fcfs", 100, np.array([0]), np.array([5.0]))


def test_poisson_arrivals_are_seeded_nondecreasing_integers():
    a = poisson_arrivals(500, 0.5, np.random.default_rng(1))
    b = poisson_arrivals(500, 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.dtype.kind == "i" and (np.diff(a) >= 0).all()
    assert 800 < a[-1] < 1200  # about n / rate rounds
    with pytest.raises(InputError):
        poisson_arrivals(3, 0.0, np.random.default_rng(0))
