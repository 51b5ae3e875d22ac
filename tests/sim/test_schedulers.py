"""The schedulers' defining properties (research notes A.7 §10) and their admission test."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sloserve.sim.predictors import PREDICTORS
from sloserve.sim.schedulers import SCHEDULERS, AMax, AMin, Job, identity_footprint, paged_footprint
from sloserve.sim.schedulers.admission import FuturePeak, fit_cap, predicted_rounds
from sloserve.sim.unit_time import run, simulate

from .instances import synthetic, tracelike


def _completions(f, sched, M, pred, seed=0):
    return run(f, sched, M, pred, seed=seed).requests["completed_at"].to_numpy()


@pytest.mark.parametrize("seed", range(4))
def test_exact_intervals_make_amax_amin_mcsf_and_hsf_identical(seed):
    f, M = synthetic(seed, arrivals=seed % 2 == 1)
    ref = _completions(f, "hsf", M, "naive")
    for pred in (PREDICTORS.get("interval")(alpha=1.0), PREDICTORS.get("oracle")()):
        for sched in ("amax", "amin", "mcsf"):
            np.testing.assert_array_equal(_completions(f, sched, M, pred, seed), ref, err_msg=f"{sched} {pred}")
    assert run(f, "hsf", M, "naive").summary["evictions"] == 0


@pytest.mark.parametrize("alpha", [0.8, 0.3, 0.05])
def test_amax_never_evicts_when_every_output_is_within_its_upper_bound(alpha):
    for seed in range(3):
        f = tracelike(seed)
        for pred in (PREDICTORS.get("interval")(alpha=alpha), PREDICTORS.get("naive")(hi=1000)):
            lo, hi = pred.predict(f, np.random.default_rng(seed))
            assert (f["output_tokens"] <= hi).all()
            r = simulate(f, "amax", 5000, lo, hi)
            assert r.summary["evictions"] == 0
            assert (r.requests["state"] == "done").all()


def test_amax_survives_upper_bounds_that_are_too_small():
    f = tracelike(1)
    lo = np.ones(len(f), dtype=int)
    hi = np.maximum(1.0, f["output_tokens"].to_numpy() * 0.5)  # every o > u
    r = simulate(f, "amax", 4000, lo, hi)
    assert (r.requests["state"] == "done").all()
    assert r.timeline["kv_tokens"].max() <= 4000
    assert r.summary["evictions"] > 0


class _CountingAMax(AMax):
    def __init__(self):
        super().__init__()
        self.admitted = []

    def admit(self, waiting, running, capacity, footprint):
        out = super().admit(waiting, running, capacity, footprint)
        self.admitted.append(len(out))
        return out


@pytest.mark.parametrize("s,M", [(5, 4000), (20, 12000), (1, 1001), (0, 999)])
def test_amax_with_naive_intervals_admits_at_most_M_over_s_plus_1000(s, M):
    n = 40
    rng = np.random.default_rng(s)
    f = pd.DataFrame({"input_tokens": np.full(n, s), "output_tokens": rng.integers(1, 900, n)})
    sched = _CountingAMax()
    lo, hi = PREDICTORS.get("naive")().predict(f, rng)
    r = simulate(f, sched, M, lo, hi)
    cap = max(1, M // (s + 1000))  # a job that cannot fit u = 1000 alone is clipped to M - s: one at a time
    assert sched.admitted[0] == min(n, cap)
    assert max(sched.admitted) <= cap
    assert (r.requests["state"] == "done").all()


class _CheckedAMin(AMin):
    """A_min that checks, at each eviction, the order it chose and the evicted job's new estimate."""

    def __init__(self):
        super().__init__()
        self.progress = {}
        self.evicted = 0

    def victims(self, running):
        order = super().victims(running)
        est = [j.estimate for j in order]
        assert est == sorted(est)
        self.progress = {j.rid: (j.generated, j.estimate) for j in running}
        return order

    def on_evict(self, job):
        g, est = self.progress[job.rid]
        assert job.estimate == max(est, g) and job.estimate >= g
        assert job.generated == 0 and job.started_at is None
        self.evicted += 1
        super().on_evict(job)


@pytest.mark.parametrize("pred", ["naive", "interval"])
def test_amin_evicts_smallest_estimate_first_and_never_exceeds_memory(pred):
    for seed in range(3):
        f = tracelike(seed, n=200)
        p = PREDICTORS.get(pred)() if pred == "naive" else PREDICTORS.get(pred)(alpha=0.05)
        lo, hi = p.predict(f, np.random.default_rng(seed))
        sched = _CheckedAMin()
        r = simulate(f, sched, 4000, lo, hi)
        assert sched.evicted == r.summary["evictions"] > 0
        assert r.timeline["kv_tokens"].max() <= 4000
        assert (r.requests["state"] == "done").all()
        assert r.requests["wasted_tokens"].sum() == r.summary["wasted_tokens"] > 0


def test_amin_estimates_start_at_the_lower_bound_and_rise_with_progress():
    sched = SCHEDULERS.get("amin")()
    job = Job(rid=0, arrived_at=0.0, prompt_tokens=3, lower=4, upper=50.0)
    sched.on_arrival(job)
    assert job.estimate == 4
    for g in range(1, 8):
        job.generated = g
        sched.on_token(job)
        assert job.estimate == max(4, g)
    assert SCHEDULERS.get("amax")().initial_estimate(job) == 50.0
    assert SCHEDULERS.get("mcsf")().initial_estimate(job) == pytest.approx((4 * 50.0) ** 0.5)


def _brute_peak_ok(x, r, M, fp):
    """Predicted KV in every future round k = 1..max r stays <= M."""
    k = np.arange(1, int(r.max(initial=0)) + 1)
    mem = np.where(k[:, None] <= r[None, :], fp(x[None, :] + k[:, None]), 0).sum(axis=1)
    return bool((mem <= M).all())


@pytest.mark.parametrize("fp", [identity_footprint, paged_footprint(16)], ids=["identity", "paged16"])
def test_future_peak_check_equals_a_round_by_round_check(fp):
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(0, 8))
        M = int(rng.integers(100, 400))
        x = rng.integers(1, 60, n)
        r = rng.integers(1, 60, n)
        if not _brute_peak_ok(x, r, M, fp):
            continue  # the running jobs themselves are predicted to fit (eviction comes first)
        peak = FuturePeak(x, r, M, fp)
        xs, rs = x.copy(), r.copy()
        for _ in range(4):
            cx, cr = int(rng.integers(1, 60)), int(rng.integers(1, 80))
            want = _brute_peak_ok(np.append(xs, cx), np.append(rs, cr), M, fp)
            assert peak.fits(cx, cr) == want
            if want:
                xs, rs = np.append(xs, cx), np.append(rs, cr)
        k = np.arange(1, int(rs.max(initial=0)) + 1)
        assert peak.peak() == int(np.where(k[:, None] <= rs[None, :], fp(xs[None, :] + k[:, None]), 0).sum(axis=1).max(initial=0))


def test_predicted_rounds_is_at_least_one_and_fits_alone():
    fp = paged_footprint(16)
    j = Job(rid=0, arrived_at=0, prompt_tokens=100, lower=1, upper=np.inf, estimate=np.inf)
    assert fit_cap(100, 1000, fp) == 892 and fp(100 + 892) <= 1000 < fp(100 + 893)
    assert predicted_rounds(j, 1000, fp) == 892
    j.estimate, j.generated = 5.0, 9  # past its estimate: predicted to end next round
    assert predicted_rounds(j, 1000, fp) == 1
    j.estimate, j.generated = 30.7, 10
    assert predicted_rounds(j, 1000, identity_footprint) == 20


def test_a_job_the_engine_did_not_start_stays_queued():
    sched = SCHEDULERS.get("mcsf")()
    jobs = [Job(rid=i, arrived_at=0.0, prompt_tokens=2, lower=i + 1, upper=float(i + 1)) for i in range(3)]
    for j in jobs:
        sched.on_arrival(j)
    first = sched.admit(jobs, [], 100, identity_footprint)
    assert [j.rid for j in first] == [0, 1, 2]
    first[0].started_at = 0.0  # the engine started only the first
    again = sched.admit(jobs[1:], [first[0]], 100, identity_footprint)
    assert [j.rid for j in again] == [1, 2]
    assert len(sched.queue) == 2


def test_future_peak_of_running_uses_predicted_rounds():
    fp = paged_footprint(16)
    rng = np.random.default_rng(3)
    jobs = []
    for i in range(40):
        est = [np.inf, float(rng.integers(1, 400)), float(rng.integers(1, 20))][i % 3]
        jobs.append(Job(rid=i, arrived_at=0, prompt_tokens=int(rng.integers(1, 300)), lower=1, upper=np.inf,
                        estimate=est, generated=int(rng.integers(0, 60)), started_at=0.0))
    peak = FuturePeak.of_running(jobs, 5000, fp)
    np.testing.assert_array_equal(peak.remaining, [predicted_rounds(j, 5000, fp) for j in jobs])
    np.testing.assert_array_equal(peak.context, [j.prompt_tokens + j.generated for j in jobs])


def test_engines_pull_only_what_they_start_and_the_rest_stays_queued():
    """``propose`` yields the jobs of ``admit`` lazily; closing it after k starts leaves the others queued,
    and the next ``admit`` sees them in the same order."""
    sched = SCHEDULERS.get("fcfs")()
    jobs = [Job(rid=i, arrived_at=float(i), prompt_tokens=2, lower=1, upper=10.0) for i in range(6)]
    for j in jobs:
        sched.on_arrival(j)
    assert [j.rid for j in sched.admit(jobs, [], 100, identity_footprint)] == [0, 1, 2, 3, 4, 5]
    gen = sched.propose(jobs, [], 100, identity_footprint, limit=4)
    started = []
    for j in gen:
        j.started_at = 0.0
        started.append(j)
        if len(started) == 2:
            break
    gen.close()
    assert [j.rid for j in started] == [0, 1]
    assert [j.rid for j in sched.admit(jobs[2:], started, 100, identity_footprint)] == [2, 3, 4, 5]
    assert [j.rid for j in sched.propose(jobs[2:], started, 100, identity_footprint, limit=3)] == [2, 3, 4]
    assert len(sched.queue) == 4
