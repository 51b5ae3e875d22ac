"""A_min (Chen, Ye, Zhou, arXiv 2508.14544): start from the lower bound, learn from progress, evict
the least-estimated job first."""
from __future__ import annotations

from typing import Sequence

from .base import SCHEDULERS, Job
from .mcsf import MCSF


@SCHEDULERS.register("amin", help="A_min: MC-SF on the lower bound, raised while generating; evict smallest estimate")
class AMin(MCSF):
    """A_min: optimistic estimates, refined online, ordered eviction (``docs/schedulers.md`` §amin).

    From the paper (abstract and summaries): õ starts at the lower bound ℓ; a job that has generated
    g tokens without finishing has o > g, so õ ← max(õ, g); waiting jobs are admitted by õ ascending;
    on overflow, running jobs are evicted in ascending order of õ; an evicted job's estimate becomes
    max(õ, g) and it waits again; the upper bound u is never used. Choices left open, and ours:

    * Admission test: :class:`MCSF`'s future-peak check on the current estimates (the most literal
      reading of "treat the lower bound as the output length"), not a next-round-only check. With
      ℓ = 1 both coincide: every job is predicted to end next round.
    * Eviction trigger: only when the *real* next round does not fit (the engine asks
      :meth:`victims` then), not when the predicted future overflows: a prediction is a lower
      bound, so a predicted overflow may never happen, while a real one must be resolved.
    * Eviction order: õ ascending; ties to the most recently started, then the larger id
      (deterministic, where a news write-up says random: same seed, same result without a
      scheduler RNG, and among equal estimates the newest job has lost the least work).
    * Evicted estimate: max(õ, g); ``on_token`` (MC-SF's) keeps õ ≥ g at every token, so it already holds
      when the engine reports the eviction (with ``generated`` reset to 0).
    * Re-admission: eviction runs before admission in the same round, so an evicted job may start
      again at once if it fits; its raised õ puts it behind jobs with smaller estimates.
    * Break vs skip: ``break`` (maximal prefix), as in MC-SF.
    * Restart cost: the lost run's tokens are recomputed from scratch (``wasted_tokens``).
    """

    name = "amin"

    def initial_estimate(self, job: Job) -> float:
        return float(job.lower)

    def victims(self, running: Sequence[Job]) -> list[Job]:
        return sorted(running, key=lambda j: (j.estimate, -(j.started_at or 0.0), -j.rid))
