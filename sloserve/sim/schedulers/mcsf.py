"""MC-SF (Jaillet et al., arXiv 2502.07115) and A_max (Chen, Ye, Zhou, arXiv 2508.14544): shortest
predicted output first, admitted by the future-peak memory check."""
from __future__ import annotations

import math
from typing import Sequence

from .admission import FuturePeak, predicted_rounds
from .base import SCHEDULERS, Footprint, Job
from .waitqueue import Fits, QueuedScheduler


@SCHEDULERS.register("mcsf", help="MC-SF: shortest predicted first, future-peak admission, point = √(ℓu)")
class MCSF(QueuedScheduler):
    """Memory-Constrained Shortest First on a point prediction õ (``docs/schedulers.md`` §mcsf).

    Confirmed by the paper's summaries: running jobs keep running; waiting jobs are taken by õ
    ascending; a job is admitted only if, with every job's predicted length, the predicted KV at
    each predicted completion time stays ≤ M; the first job that fails ends the round's admissions
    (a maximal prefix, ``break``). Choices the paper leaves open, and ours:

    * Point prediction from an interval: the geometric midpoint õ = √(ℓ·u) (the median of the truth
      under the ``interval`` predictor's log-uniform placement); ℓ = u gives that value (``oracle``,
      α = 1). u = ∞ gives õ = ∞, clipped to what fits alone (below). ``amax`` takes õ = u instead.
    * Length in rounds: ⌊õ⌋ (the truth is an integer), at least 1, and clipped so that the job fits
      alone in memory (a longer job could never complete).
    * Ties: arrival time, then request id.
    * Feasibility: every checkpoint, including those of running jobs only, must stay ≤ M (the
      paper's test as written; with eviction before admission the running jobs' own prediction is
      always feasible, so this equals checking only the checkpoints the candidate touches).
    * Prediction violated (o > õ, impossible in the paper, which assumes õ ≥ o): the job keeps
      running; õ ← max(õ, generated) after each token, so it is predicted to finish in the next
      round. If the real next round then overflows, the engine evicts by :meth:`victims` (newest
      start first, vLLM's rule: MC-SF itself is non-preemptive). The evicted job keeps the
      learned õ = max(õ, generated) and is queued again by it.
    * Restart cost: an evicted job starts over (prefill and every token again); the unit-time
      model counts the lost tokens as ``wasted_tokens``.
    """

    name = "mcsf"

    def initial_estimate(self, job: Job) -> float:
        return math.sqrt(float(job.lower) * float(job.upper)) if math.isfinite(job.upper) else math.inf

    def priority(self, job: Job) -> tuple:
        return (job.estimate, job.arrived_at)

    def admission(self, running: Sequence[Job], capacity: int, footprint: Footprint) -> Fits:
        peak = FuturePeak.of_running(running, capacity, footprint)
        return lambda job: peak.fits(job.prompt_tokens + job.generated, predicted_rounds(job, capacity, footprint))

    def on_token(self, job: Job) -> None:
        if job.generated > job.estimate:  # the prediction was too short: learn the lower bound
            job.estimate = float(job.generated)


@SCHEDULERS.register("amax", help="A_max: MC-SF on the upper bound u (conservative; never evicts if o <= u)")
class AMax(MCSF):
    """A_max of Chen, Ye, Zhou: MC-SF with õ = u, the interval's upper bound (``docs/schedulers.md``
    §amax). Everything else is :class:`MCSF`'s, including its choices:

    * Ties in u (every job has u = 1000 under the ``naive`` predictor): arrival order, so A_max with
      one common interval is FCFS with the future-peak check (the paper's "MC-Benchmark").
    * o ≤ u for every job: never overflows, never evicts (a test checks this).
    * o > u (a wrong interval, e.g. ``binned``'s 90th percentile): :class:`MCSF`'s violation rule —
      the job is predicted to end next round, overflow evicts the newest started job, and an evicted
      job keeps õ = max(u, generated).
    """

    name = "amax"

    def initial_estimate(self, job: Job) -> float:
        return float(job.upper)
