"""H-SF, the hindsight shortest-first benchmark of Chen, Ye, Zhou: MC-SF told the true lengths."""
from __future__ import annotations

from .base import SCHEDULERS, Job
from .mcsf import MCSF


@SCHEDULERS.register("hsf", help="hindsight shortest first: MC-SF with the true output lengths (clairvoyant)")
class HSF(MCSF):
    """MC-SF with õ = o, the true output length (``docs/schedulers.md`` §hsf). Clairvoyant: the engine
    fills ``true_output``. The future-peak check is then exact, so H-SF never overflows and never
    evicts; ties in o go to the earlier arrival, then the smaller id. Any scheduler paired with the
    ``oracle`` predictor (ℓ = u = o) behaves the same way (a test checks this for mcsf, amax, amin).
    """

    name = "hsf"
    clairvoyant = True

    def initial_estimate(self, job: Job) -> float:
        if job.true_output is None:
            raise ValueError(f"hsf is clairvoyant but job {job.rid} came without its true output length")
        return float(job.true_output)
