"""The waiting jobs in a scheduler's priority order, and the admit-a-maximal-prefix loop built on it.

A scheduler keeps its own heap of waiting jobs (pushed by ``on_arrival`` and ``on_evict``) instead
of sorting ``waiting`` every round, so a round costs O(k log W) heap operations for k admissions
among W waiting jobs. Entries are deleted lazily: an entry is stale once its job has started
(``started_at`` is not ``None``) or was pushed again after an eviction (a newer version exists).
"""
from __future__ import annotations

import heapq
from typing import Callable, Sequence

from .base import Footprint, Job, Scheduler

#: does this waiting job fit beside the running ones (and those admitted so far this round)?
Fits = Callable[[Job], bool]


class WaitQueue:
    """Min-heap of waiting jobs by a priority tuple (ties broken by ``rid``), with lazy deletion."""

    def __init__(self) -> None:
        self._heap: list[tuple[tuple, int, int, Job]] = []
        self._version: dict[int, int] = {}

    def push(self, job: Job, key: tuple) -> None:
        """Queue ``job`` under ``key``; an older entry of the same job becomes stale."""
        v = self._version.get(job.rid, 0) + 1
        self._version[job.rid] = v
        heapq.heappush(self._heap, (key, job.rid, v, job))

    def _live(self, entry) -> bool:
        return entry[3].started_at is None and self._version[entry[1]] == entry[2]

    def pop(self):
        """Remove and return the best live entry, or ``None`` when no job waits."""
        h = self._heap
        while h:
            e = heapq.heappop(h)
            if self._live(e):
                return e
        return None

    def restore(self, entry) -> None:
        """Put back an entry taken by :meth:`pop` (it stays live until its job starts)."""
        heapq.heappush(self._heap, entry)

    def __len__(self) -> int:
        """Live waiting jobs (O(W): for tests and reports, not the hot loop)."""
        return sum(1 for e in self._heap if self._live(e))


class QueuedScheduler(Scheduler):
    """Admit waiting jobs in :meth:`priority` order while :meth:`admission` says they fit, and stop
    at the first that does not (a maximal prefix, the papers' ``break``).

    Subclasses choose :meth:`initial_estimate`, :meth:`priority` (read when a job is queued: on
    arrival and after an eviction) and :meth:`admission`."""

    def __init__(self) -> None:
        self.queue = WaitQueue()

    def initial_estimate(self, job: Job) -> float:
        """õ on arrival (default: the predicted upper bound u)."""
        return float(job.upper)

    def priority(self, job: Job) -> tuple:
        """Sort key of a waiting job, smallest first (default: arrival order)."""
        return (job.arrived_at,)

    def admission(self, running: Sequence[Job], capacity: int, footprint: Footprint) -> Fits:
        raise NotImplementedError

    def on_arrival(self, job: Job) -> None:
        job.estimate = self.initial_estimate(job)
        self.queue.push(job, self.priority(job))

    def on_evict(self, job: Job) -> None:
        self.queue.push(job, self.priority(job))

    def admit(self, waiting: Sequence[Job], running: Sequence[Job], capacity: int, footprint: Footprint) -> list[Job]:
        return list(self._lazy(waiting, running, capacity, footprint))

    def propose(self, waiting: Sequence[Job], running: Sequence[Job], capacity: int, footprint: Footprint,
                limit: int | None = None):
        if type(self).admit is not QueuedScheduler.admit:  # a subclass's own admit is what it means
            return Scheduler.propose(self, waiting, running, capacity, footprint, limit)
        return self._lazy(waiting, running, capacity, footprint, limit)

    def _lazy(self, waiting: Sequence[Job], running: Sequence[Job], capacity: int, footprint: Footprint,
              limit: int | None = None):
        """The maximal prefix, proposed lazily: the engine pulls jobs until it can start no more and
        then closes the generator, which puts every taken entry back (started jobs' entries are stale
        from then on). Pulling only what is started keeps a round at O(k log W) for k admissions."""
        if not waiting or (limit is not None and limit <= 0):
            return
        fits = self.admission(running, capacity, footprint)
        taken = []
        try:
            while (limit is None or len(taken) < limit) and (e := self.queue.pop()) is not None:
                if not fits(e[3]):
                    self.queue.restore(e)
                    return
                taken.append(e)
                yield e[3]
        finally:
            for e in taken:  # stale once the engine started them; still queued if it started fewer
                self.queue.restore(e)
