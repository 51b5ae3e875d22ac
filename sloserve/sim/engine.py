"""One replica of a configuration: iteration-level (continuous) batching over a paged KV cache.

Each iteration, as vLLM's and SGLang's schedulers do it:

1. **Decode first.** Every running sequence past its prefill adds one token; a sequence whose KV
   fills its last block needs a new block. When the free blocks do not cover that, the scheduler's
   ``victims`` order says whom to preempt (default: the newest started); a victim loses its KV and
   waits again — *by recompute*: it keeps the tokens it already generated (they were streamed), and
   when re-admitted prefills prompt + generated tokens before it continues.
2. **Chunked prefill.** What is left of the iteration's token budget (``max_num_batched_tokens``;
   decodes count one token each) goes to sequences still prefilling, in admission order, then to new
   admissions: the scheduler's ``admit`` proposes waiting requests in its order; the engine starts
   them while the budget, the sequence cap (``max_num_seqs``) and the KV cache allow — a request is
   admitted only when blocks for its whole prompt (+1 token) are free — and stops at the first that
   does not fit.
3. **Time.** The iteration takes :meth:`sloserve.problem.steptime.StepTime.step_s` of its prefill
   tokens, their attention pairs, its decode sequences and their context (× ``step_scale``, for
   stress): the compiled coefficients, no second copy of the performance model. With PP the step is
   the time one micro-batch crosses every stage, as in the planner.
4. A sequence whose prefill ends in the iteration emits a token at its end (its first token, unless
   it is recomputing); a sequence reaching its output length completes there and frees its blocks.

**Decode runs.** When no sequence is prefilling and no admission can happen (nothing waits, or what
waits cannot fit until a sequence leaves), the next iterations are identical decode steps whose
contexts grow by one token each; the engine advances them in one go up to the next event (a
completion, a block shortfall, the next arrival) with the closed-form sum
:meth:`~sloserve.problem.steptime.StepTime.decode_run_s`: the same times, fewer Python steps.

KV memory is counted in blocks of ``block_size`` tokens; the scheduler sees it in tokens
(``capacity`` = blocks × block size, footprint rounded up to whole blocks). A request that could
never fit the KV cache of its replica, even alone, is ``rejected`` (reported, never dropped).
"""
from __future__ import annotations

import heapq
import math
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from ..problem.steptime import StepTime
from .schedulers.base import Job, Scheduler, paged_footprint

#: request states in :attr:`RequestTable.status`
WAITING, RUNNING, COMPLETED, UNSERVED, REJECTED, AFTER_HORIZON = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {WAITING: "in_flight", RUNNING: "in_flight", COMPLETED: "completed", UNSERVED: "unserved",
                REJECTED: "rejected", AFTER_HORIZON: "after_horizon"}


@dataclass(frozen=True)
class EngineOptions:
    """Knobs of a replica engine, named as vLLM names them."""

    max_num_batched_tokens: int = 2048  # token budget of one iteration (vLLM's online-serving default)
    #: sequences a replica runs at once: an int, or "plan" = the largest design batch among the
    #: routes the plan sends to the configuration (what the planner assumed; 256 without one)
    max_num_seqs: int | str = "plan"
    block_size: int = 16  # tokens per KV block
    scheduler: str = "fcfs"  # a registered scheduler (sloserve.sim.schedulers.SCHEDULERS)
    step_scale: float = 1.0  # every iteration takes this many times as long (stress)
    step_mode: str = "sum"  # sum | overlap (StepTime)
    macro_steps: bool = True  # advance runs of identical decode iterations in one go (same times)


class RequestTable:
    """Per-request state shared by all replicas (Python lists in the hot loop, numpy for results)."""

    def __init__(self, prompt, output, lower, upper, expected_out, arrived_at):
        self.prompt = [int(v) for v in prompt]
        self.output = [int(v) for v in output]  # the truth: shown only to clairvoyant schedulers
        self.expected_out = [float(v) for v in expected_out]
        self.lower = [int(v) for v in lower]
        self.upper = [float(v) for v in upper]
        n = len(self.prompt)
        self.arrived_at = np.asarray(arrived_at, dtype=float)
        self.pre_left = [0] * n  # prefill tokens still to process in the current run
        self.pre_done = [0] * n  # prefill tokens processed in the current run (the attention offset)
        self.blocks = [0] * n  # KV blocks held
        self.key = [0] * n  # residue class of the context at the replica's phase (block accounting)
        self.first_token_at = np.full(n, np.nan)
        self.completed_at = np.full(n, np.nan)
        self.replica = np.full(n, -1, dtype=np.int64)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.status = np.full(n, WAITING, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.prompt)


class _Running(list):
    """The running jobs, with the next round's KV need the engine knows (see the scheduler contract)."""

    next_round_tokens: int = 0


class _Waiting:
    """What ``admit`` is told of the waiting jobs — how many there are (schedulers keep their own queue)."""

    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def __len__(self):
        return self.n

    def __bool__(self):
        return self.n > 0


class ReplicaEngine:
    """One replica: :meth:`advance` to a request's arrival time, then :meth:`enqueue` it;
    :meth:`advance` runs every iteration that starts before a time; :meth:`drain` runs to the end."""

    def __init__(self, index: int, config: str, st: StepTime, kv_tokens: float, max_seqs: int, opts: EngineOptions,
                 scheduler: Scheduler, table: RequestTable, timeseries=None):
        self.index = index
        self.config = config
        self.st = st.scalar() if hasattr(st, "scalar") else st  # floats in the hot loop, same formulas
        self.opts = opts
        self.bs = int(opts.block_size)
        self.total_blocks = int(kv_tokens // self.bs)
        self.capacity_tokens = self.total_blocks * self.bs
        self.free = self.total_blocks
        self.max_seqs = int(max_seqs)
        self.budget = max(int(opts.max_num_batched_tokens), self.max_seqs)
        self.sched = scheduler
        #: call on_token only when the scheduler has one (FCFS ignores tokens)
        self._on_token = None if type(scheduler).on_token is Scheduler.on_token else scheduler.on_token
        #: admission can only succeed again after an arrival or a departure (vLLM's next-round rule);
        #: schedulers with a predictive test (MC-SF, A_min) are asked every iteration
        self.monotone_admission = bool(getattr(scheduler, "monotone_admission", False))
        self.footprint = paged_footprint(self.bs)
        self.R = table
        self.t = 0.0
        self.running: _Running = _Running()  # started jobs (prefilling or decoding), in start order
        self.prefilling: list[Job] = []  # running jobs whose current prefill is not done, in admission order
        self.decoding: dict[int, Job] = {}  # running jobs past their prefill, by rid (insertion order)
        self.waiting = _Waiting()
        self.phase = 0  # decode steps made on this replica (rotates the block residues)
        self.cnt = [0] * self.bs  # decoding jobs per residue key
        self.k_dec = 0  # sum of the contexts of decoding jobs, tokens
        self.outstanding_tokens = 0.0  # for routers: prompt tokens to prefill + expected output to come
        self._stale = True  # an arrival or departure since the last admission attempt
        self._done_heap: list[tuple[int, int]] = []  # (phase at which a decoding job completes, rid)
        self._done_key: dict[int, int] = {}
        self.ts = timeseries
        self.busy_s = 0.0
        self.iterations = 0
        self.seq_iterations = 0.0  # Σ over iterations of the sequences in the batch
        self.kv_block_s = 0.0  # ∫ used blocks dt
        self.preemption_count = 0

    # ---- arrivals ---------------------------------------------------------------------------
    def enqueue(self, rid: int, t: float) -> None:
        R = self.R
        if self.t < t:
            self._record_idle(self.t, t)
            self.t = t
        R.replica[rid] = self.index
        if self.footprint(R.prompt[rid] + 1) > self.capacity_tokens:  # could never be admitted here
            R.status[rid] = REJECTED
            return
        job = Job(rid=rid, arrived_at=t, prompt_tokens=R.prompt[rid], lower=R.lower[rid], upper=R.upper[rid],
                  true_output=R.output[rid] if self.sched.clairvoyant else None)
        R.status[rid] = WAITING
        self.outstanding_tokens += job.prompt_tokens + R.expected_out[rid]
        self.waiting.n += 1
        self._stale = True
        self.sched.on_arrival(job)

    # ---- time ---------------------------------------------------------------------------------
    def advance(self, until: float) -> None:
        """Run every iteration that starts before ``until``; an idle replica waits until then."""
        while self.t < until:
            if not self._step(until):
                self._record_idle(self.t, until)
                self.t = until
                return

    def drain(self, horizon: float = math.inf) -> None:
        """Run until nothing is left to do, or until no iteration starts before ``horizon``."""
        while self.t < horizon and self._step(horizon):
            pass

    # ---- one iteration, or a run of identical decode iterations -----------------------------------
    def _step(self, until: float) -> bool:
        if not self.running and not self.waiting:
            return False
        R, bs = self.R, self.bs
        # 1. blocks for this iteration's decodes; preempt while they do not fit
        need = self.cnt[(-self.phase) % bs]
        while need > self.free:
            if len(self.running) == 1:  # alone and out of blocks: it can never finish on this replica
                job = self.running[0]
                self._remove(job)
                R.status[job.rid] = REJECTED
            else:
                self._evict(self.sched.victims(self.running)[0])
            need = self.cnt[(-self.phase) % bs]
        admission_possible = (self.waiting and len(self.running) < self.max_seqs
                              and (self._stale or not self.monotone_admission))
        if not self.prefilling and not admission_possible and self._decode_run(until):
            return True
        # 2. prefill chunks of the running, then admissions
        budget = self.budget - len(self.decoding)
        chunks: list[tuple[Job, int]] = []
        for job in self.prefilling:
            if budget <= 0:
                break
            c = min(R.pre_left[job.rid], budget)
            chunks.append((job, c))
            budget -= c
        if budget > 0 and admission_possible:
            self._stale = False
            self.running.next_round_tokens = (self.total_blocks - self.free + need) * bs
            # each start takes a sequence slot and at least one budget token: no more can start
            limit = min(self.max_seqs - len(self.running), budget)
            # closing: a lazy scheduler puts back what was not started
            with closing(self.sched.propose(self.waiting, self.running, self.capacity_tokens, self.footprint,
                                            limit=limit)) as proposals:
                for job in proposals:
                    if budget <= 0 or len(self.running) >= self.max_seqs:
                        break
                    nb = -(-(job.prompt_tokens + job.generated + 1) // bs)
                    if nb > self.free:
                        break
                    self._start(job, nb)
                    c = min(R.pre_left[job.rid], budget)
                    chunks.append((job, c))
                    budget -= c
        d = len(self.decoding)
        if not chunks and d == 0:
            return False  # waiting jobs that cannot start on an empty replica stay reported in flight
        # 3. the iteration's time
        p, pairs = 0, 0.0
        for job, c in chunks:
            p += c
            pairs += c * R.pre_done[job.rid] + c * c / 2.0
        dt = self.st.step_s(p, pairs, d, self.k_dec, mode=self.opts.step_mode) * self.opts.step_scale
        t1 = self.t + dt
        self._account(self.t, t1, len(self.running), 1)
        # 4. tokens: decodes (their blocks), then prefills that completed
        self.free -= need
        self._decode_tokens(1, t1)
        for job, c in chunks:
            rid = job.rid
            R.pre_left[rid] -= c
            R.pre_done[rid] += c
            self.outstanding_tokens -= c
        for job, _ in chunks:
            if R.pre_left[job.rid] == 0:
                self.prefilling.remove(job)
                self._prefill_done(job, t1)
        self.t = t1
        return True

    def _decode_run(self, until: float) -> bool:
        """Advance n ≥ 2 identical decode-only iterations at once when nothing else can happen."""
        if not self.opts.macro_steps or not self.decoding:
            return False
        bs = self.bs
        n = self._first_completion()  # decode steps to the first completion
        if n < 2:
            return False
        per = [self.cnt[(-self.phase - i) % bs] for i in range(bs)]  # new blocks needed at step i (mod bs)
        cycle = sum(per)

        def extra(m: int) -> int:
            q, r = divmod(m, bs)
            return q * cycle + sum(per[:r])

        if extra(n) > self.free:  # to the last step whose blocks are free
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if extra(mid) <= self.free else (lo, mid - 1)
            n = lo
        scale, d, k, mode = self.opts.step_scale, len(self.decoding), self.k_dec, self.opts.step_mode
        if n >= 2 and math.isfinite(until) and self.t + scale * self.st.decode_run_s(d, k, n - 1, mode=mode) >= until:
            lo, hi = 1, n - 1  # iterations may start only before `until`: the m-th starts at t + T(m-1)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                ok = self.t + scale * self.st.decode_run_s(d, k, mid - 1, mode=mode) < until
                lo, hi = (mid, hi) if ok else (lo, mid - 1)
            n = lo
        if n < 2:
            return False
        t1 = self.t + scale * self.st.decode_run_s(d, k, n, mode=mode)
        self._account(self.t, t1, len(self.running), n)
        self.free -= extra(n)
        self._decode_tokens(n, t1)
        self.t = t1
        return True

    # ---- bookkeeping ------------------------------------------------------------------------------
    def _first_completion(self) -> int:
        """Decode steps until the first decoding job completes: every decoding job advances by one per
        step, so out − generated + phase is constant while it decodes (a heap, stale entries skipped)."""
        h, dec, key = self._done_heap, self.decoding, self._done_key
        while h and (h[0][1] not in dec or key[h[0][1]] != h[0][0]):
            heapq.heappop(h)
        return h[0][0] - self.phase if h else 0

    def _decode_tokens(self, n: int, t_end: float) -> None:
        """Every decoding job generates ``n`` tokens (their blocks are allocated); completions at ``t_end``."""
        R = self.R
        out, exp = R.output, R.expected_out
        on_token = self._on_token
        finished = []
        gone = 0.0
        for rid, job in self.decoding.items():
            g0 = job.generated
            job.generated = g = g0 + n
            left = exp[rid] - g0
            if left > 0:
                gone += n if n < left else left
            if on_token is not None:
                on_token(job)
            if g >= out[rid]:
                finished.append(job)
        self.outstanding_tokens -= gone
        self.k_dec += n * len(self.decoding)
        self.phase += n
        for job in finished:
            self._complete(job, t_end)

    def _prefill_done(self, job: Job, t_end: float) -> None:
        """A prefill completed: it emits a token (the first one, unless the job is recomputing)."""
        R = self.R
        rid = job.rid
        if job.generated == 0:
            R.first_token_at[rid] = t_end
        if job.generated < R.expected_out[rid]:
            self.outstanding_tokens -= 1
        job.generated += 1
        if self._on_token is not None:
            self._on_token(job)
        if job.generated >= R.output[rid]:
            self._complete(job, t_end)
            return
        ctx = job.prompt_tokens + job.generated
        # blocks held: ⌈(ctx)/bs⌉ (allocated at admission for prompt + generated + 1 tokens)
        key = (ctx - self.phase) % self.bs
        R.key[rid] = key
        self.cnt[key] += 1
        self.k_dec += ctx
        self.decoding[rid] = job
        done_at = R.output[rid] - job.generated + self.phase
        self._done_key[rid] = done_at
        heapq.heappush(self._done_heap, (done_at, rid))

    def _start(self, job: Job, nb: int) -> None:
        R = self.R
        self.free -= nb
        R.blocks[job.rid] = nb
        R.pre_left[job.rid] = job.prompt_tokens + job.generated
        R.pre_done[job.rid] = 0
        R.status[job.rid] = RUNNING
        job.started_at = self.t
        self.running.append(job)
        self.prefilling.append(job)
        self.waiting.n -= 1

    def _remove(self, job: Job) -> None:
        """Take a running job off the replica and free its blocks."""
        R = self.R
        rid = job.rid
        if rid in self.decoding:
            del self.decoding[rid]
            self.cnt[R.key[rid]] -= 1
            ctx = job.prompt_tokens + job.generated
            self.k_dec -= ctx
            self.free += -(-ctx // self.bs)
        else:  # prefilling (or its prefill just ended with its last token)
            if R.pre_left[rid]:
                self.prefilling.remove(job)
                self.outstanding_tokens -= R.pre_left[rid]
            self.free += R.blocks[rid]
        R.blocks[rid] = 0
        R.pre_left[rid] = 0
        self.running.remove(job)
        self._stale = True

    def _complete(self, job: Job, t: float) -> None:
        R = self.R
        rid = job.rid
        self._remove(job)
        left = R.expected_out[rid] - job.generated
        if left > 0:
            self.outstanding_tokens -= left
        R.completed_at[rid] = t
        R.status[rid] = COMPLETED

    def _evict(self, job: Job) -> None:
        R = self.R
        self._remove(job)
        job.started_at = None  # waiting again (a completed or rejected job keeps it: never waits again)
        R.preemptions[job.rid] += 1
        job.evictions += 1
        self.preemption_count += 1
        R.status[job.rid] = WAITING
        self.waiting.n += 1
        self.outstanding_tokens += job.prompt_tokens + job.generated  # all of it is prefilled again
        self.sched.on_evict(job)

    # ---- statistics -----------------------------------------------------------------------------------
    def _account(self, t0: float, t1: float, batch: int, iterations: int) -> None:
        dt = t1 - t0
        self.busy_s += dt
        self.iterations += iterations
        self.seq_iterations += batch * iterations
        used = self.total_blocks - self.free
        self.kv_block_s += used * dt
        if self.ts is not None:
            self.ts.add(self.index, t0, t1, 1.0, batch, used / max(self.total_blocks, 1), self.waiting.n)

    def _record_idle(self, t0: float, t1: float) -> None:
        if self.ts is not None and t1 > t0:
            self.ts.add(self.index, t0, t1, 0.0, 0, (self.total_blocks - self.free) / max(self.total_blocks, 1),
                        self.waiting.n)
