"""What a scheduler sees of a request, and what it decides.

A scheduler never sees a request's true output length unless it is clairvoyant (``hsf``, or any
scheduler paired with the ``oracle`` predictor): the engine hands it :class:`Job` views whose
``true_output`` is ``None`` otherwise. The same scheduler objects drive the papers' unit-time model
(:mod:`sloserve.sim.unit_time`) and the realistic replica engine (:mod:`sloserve.sim.engine`).

Memory is counted in KV tokens. The engine passes ``capacity`` (tokens the KV cache holds) and a
``footprint(tokens)`` function: identity in the unit-time model, rounding up to whole blocks of 16
tokens in the paged engine. A running job holds ``footprint(prompt + generated)`` and needs
``footprint(prompt + generated + 1)`` to produce its next token. A footprint is nondecreasing and
accepts an ``int`` or an integer numpy array (elementwise), so schedulers can check many future
rounds at once; both built-in footprints do.

The engine calls ``on_arrival`` once per job before it first appears in ``waiting`` and
``on_evict`` after every eviction, before the job appears in ``waiting`` again. ``started_at`` is
the start of the current run and ``None`` while the job waits (never started, or evicted), so a
scheduler may keep its own queue of waiting jobs instead of sorting ``waiting`` every round.

``generated`` counts the tokens of the current run: the unit-time model (the papers' restart
semantics) resets it to 0 on an eviction; the realistic engine keeps it, because vLLM's preemption
by recompute keeps the tokens already streamed and prefills prompt + generated again — so there a
waiting job may have ``generated > 0`` and needs ``footprint(prompt + generated + 1)`` to start.
An engine may attach ``next_round_tokens`` (Σ footprint(prompt + generated + 1) over the running
jobs, which it knows from its own accounting) to the ``running`` sequence it passes; the next-round
test uses it instead of summing.

Each round the engine calls, in this order:

1. while the running jobs' next-round need exceeds ``capacity``: ``victims(running)`` gives the
   eviction order; the engine evicts from its front (calling ``on_evict``) until the need fits;
2. ``admit(waiting, running, capacity, footprint)`` returns the waiting jobs to start this round,
   in order (the engine may start fewer when a token budget or sequence cap binds, never others);
   the engines consume it through ``propose`` (the same jobs, pulled lazily, closed when done);
3. after the round, ``on_token(job)`` for every job that produced a token.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import numpy as np

from ...registry import Registry

#: tokens of context -> KV tokens held; nondecreasing, int or integer numpy array (elementwise)
Footprint = Callable[[int], int]


def identity_footprint(tokens):
    """KV tokens held by ``tokens`` tokens of context in the unit-time model (no paging); int or array."""
    return tokens


def paged_footprint(block_size: int) -> Footprint:
    """KV tokens held when memory comes in blocks of ``block_size`` tokens (int or integer array)."""
    def footprint(tokens):
        if isinstance(tokens, np.ndarray):
            return -(-tokens // block_size) * block_size
        return -(-int(tokens) // block_size) * block_size
    return footprint


@dataclass(slots=True, eq=False)
class Job:
    """A request as a scheduler sees it (token counts; times in the engine's unit: rounds or seconds)."""

    rid: int  # request id, unique in a run
    arrived_at: float
    prompt_tokens: int  # s_i, known on arrival
    lower: int  # ℓ_i: predicted lower bound of the output length (≥ 1)
    upper: float  # u_i: predicted upper bound (may be inf)
    estimate: float = 0.0  # õ_i, kept by the scheduler (set in on_arrival)
    generated: int = 0  # g_i: output tokens produced in the current run (0 after an eviction)
    started_at: float | None = None  # start of the current run; None while waiting
    evictions: int = 0
    true_output: int | None = None  # o_i, only for clairvoyant schedulers


class Scheduler:
    """Base class: FCFS order, admit while the next round fits, evict the newest first (vLLM's rules).

    Subclasses override the hooks; every choice a paper leaves open is documented in the
    subclass docstring and ``docs/schedulers.md``."""

    name: ClassVar[str] = "base"
    #: the engine passes true output lengths only to clairvoyant schedulers
    clairvoyant: ClassVar[bool] = False
    #: admission can only newly succeed after an arrival or a departure (true of the next-round rule,
    #: whose need only grows while jobs run); the realistic engine then skips futile attempts
    monotone_admission: ClassVar[bool] = True

    def on_arrival(self, job: Job) -> None:
        """Initialise the job's estimate (default: the predicted upper bound)."""
        job.estimate = float(job.upper)

    def victims(self, running: Sequence[Job]) -> list[Job]:
        """Eviction order when the next round does not fit (default: newest start first)."""
        return sorted(running, key=lambda j: (-(j.started_at or 0.0), -j.arrived_at, -j.rid))

    def on_evict(self, job: Job) -> None:
        """Called after ``job`` was evicted: its progress and KV are gone (``generated`` is already 0,
        ``started_at`` None); the tokens its lost run made were reported through ``on_token``."""

    def admit(self, waiting: Sequence[Job], running: Sequence[Job], capacity: int, footprint: Footprint) -> list[Job]:
        """Jobs to start this round, in order (default: arrival order while the next round fits; stop at
        the first that does not)."""
        used = sum(footprint(j.prompt_tokens + j.generated + 1) for j in running)
        out = []
        for j in sorted(waiting, key=lambda j: (j.arrived_at, j.rid)):
            need = footprint(j.prompt_tokens + 1)
            if used + need > capacity:
                break
            used += need
            out.append(j)
        return out

    def propose(self, waiting: Sequence[Job], running: Sequence[Job], capacity: int, footprint: Footprint,
                limit: int | None = None):
        """:meth:`admit` as the engines consume it: a generator they pull from until they can start no
        more (at most ``limit``: the sequence cap and token budget), then close. Default: the list of
        :meth:`admit`; a scheduler may yield lazily so that a round costs what it starts."""
        yield from self.admit(waiting, running, capacity, footprint)

    def on_token(self, job: Job) -> None:
        """Called after ``job`` produced a token (``job.generated`` already counts it)."""


#: every registered scheduler class (instantiated per replica: schedulers may keep state)
SCHEDULERS: Registry[type[Scheduler]] = Registry("scheduler")
