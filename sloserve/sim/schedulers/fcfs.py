"""FCFS: vLLM's default policy, as the baseline every paper compares against."""
from __future__ import annotations

from typing import Sequence

from .admission import NextRound
from .base import SCHEDULERS, Footprint, Job
from .waitqueue import Fits, QueuedScheduler


@SCHEDULERS.register("fcfs", help="vLLM-like: arrival order, admit while the next round fits, evict the newest")
class FCFS(QueuedScheduler):
    """First come, first served, with vLLM's memory rules (``docs/schedulers.md`` §fcfs).

    * Order: arrival time, then request id. Predictions are never read.
    * Admission: start waiting jobs in order while the *next* round's KV need fits; stop at the first
      that does not (``break``, like vLLM's prefill loop: no smaller job overtakes it).
    * Eviction: only when the real next round does not fit; the most recently started job goes first
      (vLLM preempts from the back of its running queue), ties to the later arrival, then larger id.
    * Restart: an evicted job loses its progress and KV and waits again at its *arrival* position,
      so it is re-admitted before anyone who arrived after it (vLLM puts preempted requests at the
      front of the waiting queue). vLLM's recompute keeps the generated tokens and re-prefills
      prompt + output; the papers' model (and :mod:`sloserve.sim.unit_time`) drops them.
    * No watermark: vLLM keeps ~1 % of blocks free; the papers' model has no such reserve.

    Behaves exactly like :class:`~sloserve.sim.schedulers.base.Scheduler`; it only keeps a heap of
    waiting jobs instead of sorting them every round (a test checks they agree).
    """

    name = "fcfs"

    def priority(self, job: Job) -> tuple:
        return (job.arrived_at,)

    def admission(self, running: Sequence[Job], capacity: int, footprint: Footprint) -> Fits:
        return NextRound(running, capacity, footprint)
