"""Runtime admission scans: which waiting request the engine may start next.

An order (``orders.py``) produces a *plan*; the engine walks it through a scan, one call per
candidate, with this small protocol (shared by every order, so orders differ only in what they
offer):

``peek()``        the next candidate (−1: none this step)
``skip()``        the candidate did not fit in memory; offer another side's, or none, this step
``take(r, kv)``   the candidate was admitted and allocated ``kv`` new KV tokens
``release(r)``    r stopped running (finished or preempted)
``requeue(r)``    r was preempted: offer it again before anything else of its side
``tick(k)``       k engine steps went by (token credits); clears the skips
``wait_steps()``  after ``peek() == -1``: steps until a candidate may appear with no release
                  (``inf``: only after a release); lets the engine jump over idle decode steps
``observe(r, d)`` r finished with d output tokens (the warm-up uses it)

:class:`SequentialScan` offers a fixed sequence in order (head-of-line: a candidate that does
not fit blocks the ones behind it, as vLLM's FCFS queue). :class:`PhasedScan` serves a warm-up
sequence first and builds the main scan from the outputs it observed. :class:`DualScan` is
BlendServe's Algorithm 3.

Dual scan (BlendServe §4.4, Algorithm 3)
----------------------------------------
Two cursors walk the leaf sequence, one from the left (compute-dense end) to the right, one from
the right (memory-dense end) to the left. The KV memory M is split so that the blend's density
is the root's:  M_L + M_R = M  and  ρ_L·M_L + ρ_R·M_R = ρ_root·M, i.e.

    M_L = M·(ρ_root − ρ_R)/(ρ_L − ρ_R),   M_R = M·(ρ_L − ρ_root)/(ρ_L − ρ_R)      (:func:`memory_split`)

and each side s gets N_s = M_s/(p_s + d_s/2) decode slots and a prefill rate C_s = N_s·p_s/d_s
tokens per step (:func:`side_budget`), where d_s is the mean estimated output of the *group* at
the cursor (a run of ≤ ``group_size`` consecutive leaves under one tree node), ρ_s its density and
p_s its mean **computed** prompt (1 − s_g)·p̄_g. Choices the paper leaves open, made here:

* **d_s/2 becomes E[d²]/(2E[d])** (from the sampled outputs, ``sampling.py``): a slot whose requests
  start staggered holds that much output KV on average (Little's law); with outputs spread like
  OpenVid's (8K–24K tokens) d/2 under-counts it by ~8 % and the memory side overruns its share;
* **p_s is the unshared prompt**: the paper writes the group's prompt length; with prefix sharing a
  request both computes and privately holds only its unshared part (the shared prefix is cached
  once), so with the full prompt an MMLU-like side (86 % shared) would get 7× too few slots and
  compute 7× too little per step;

* **edge cases**: ρ_root outside [min(ρ_L, ρ_R), max(ρ_L, ρ_R)] (a one-sided remainder, e.g. every
  memory-dense request already started) clamps the split to [0, M] (:func:`memory_split`) — all
  memory to one side, which the scan then serves like DFS: it merges, as when the cursors meet;
  |ρ_L − ρ_R| ≤ 10⁻⁶·max(ρ_L, ρ_R) splits evenly; d_s is floored at 1 token; when the cursors meet
  — or stand in the same group, so no density difference is left to blend — the scan offers the
  rest (requeued requests first, then the leaves between the cursors in sequence order) as one
  sequence with no side limits ("DFS for the middle");
* **when budgets are recomputed**: whenever either cursor enters a new group (and at the start);
* **slots as memory actually held, on the memory-dense side**: the less dense side admits while the
  KV its running requests hold is below M_s — tracked from what each admission allocated plus one
  token per step since (so N_s need not be an integer, and at least one request runs on a side
  with M_s > 0); a cap on estimated footprints would not see a side that outgrows its share, and
  the other side would then find no free KV at all. The denser side is paced by its credits
  (C_s already implies its N_s through the requests' lifetimes) and may hold whatever KV the other
  side does not: its share M_s is a few short-lived requests (M_L ≈ 24k tokens ≈ 12 Azure code
  requests on one A100), and capping it hard stalls compute whenever one heavy-tailed output
  lives long. The whole KV budget is still enforced by the engine for everybody;
* **C_s as a token bucket**: each step adds C_s credit tokens (capped at C_s + p_s, so at most one
  mean prompt of burst); a side admits while its credit is positive and each admission spends the
  KV tokens it allocates (the prompt tokens it will compute, plus any it must recompute). A per-step budget below one prompt (memory-dense sides: C_R ≈ 0.3 tokens/step for
  16K-token outputs) then admits one request every p/C_R steps, which staggers the long decodes as
  the steady state of Algorithm 3 assumes; the engine's ``max_num_batched_tokens`` caps the total;
* **which side first**: the right (memory-dense) side is offered first in a step, then the left;
* **retraction**: a preempted request goes back to the front of its own side; re-admitting it spends
  no credit (credits pace new work), but it counts against its side's memory again.
"""
from __future__ import annotations

import math


INF = math.inf


def memory_split(M: float, rho_root: float, rho_left: float, rho_right: float, rel_tol: float = 1e-6
                 ) -> tuple[float, float]:
    """(M_L, M_R) with M_L + M_R = M and ρ_L·M_L + ρ_R·M_R = ρ_root·M, clamped to [0, M] (see module doc)."""
    den = rho_left - rho_right
    if abs(den) <= rel_tol * max(abs(rho_left), abs(rho_right), 1e-300):
        return M / 2.0, M / 2.0
    m_left = M * (rho_root - rho_right) / den
    m_left = min(max(m_left, 0.0), M)
    return m_left, M - m_left


def side_budget(M_side: float, prompt: float, output: float, held_per_slot: float | None = None
                ) -> tuple[float, float]:
    """(N_s, C_s): decode slots M_s/(p + h) and prefill tokens per step N_s·p/d (d floored at 1), with
    h the mean output KV a slot holds: d/2 (the paper's) unless ``held_per_slot`` = E[d²]/(2E[d])."""
    d = max(float(output), 1.0)
    h = d / 2.0 if held_per_slot is None else max(float(held_per_slot), d / 2.0)
    n = M_side / (float(prompt) + h)
    return n, n * float(prompt) / d


class SequentialScan:
    """Offer ``sequence`` in order; preempted requests first (most recent on top)."""

    def __init__(self, sequence):
        self.seq = [int(r) for r in sequence]
        self.pos = 0
        self.front: list[int] = []
        self.skipped = False

    def peek(self) -> int:
        if self.skipped:
            return -1
        if self.front:
            return self.front[-1]
        return self.seq[self.pos] if self.pos < len(self.seq) else -1

    def skip(self) -> None:
        self.skipped = True

    def take(self, r: int, kv: float = 0.0) -> None:
        if self.front and self.front[-1] == r:
            self.front.pop()
        else:
            self.pos += 1

    def release(self, r: int) -> None:
        pass

    def requeue(self, r: int) -> None:
        self.front.append(r)

    def tick(self, k: int = 1) -> None:
        self.skipped = False

    def wait_steps(self) -> float:
        return INF

    def observe(self, r: int, output: int) -> None:
        pass

    def remaining(self) -> int:
        return len(self.seq) - self.pos + len(self.front)


class PhasedScan:
    """Serve the ``warmup`` requests first; when all of them finished, ``build(observed)`` gives the main
    scan (``observed``: {request: output tokens}). Nothing else starts before the warm-up is over."""

    def __init__(self, warmup, build):
        self.warm = SequentialScan(warmup)
        self.pending = set(int(r) for r in warmup)
        self.observed: dict[int, int] = {}
        self.build = build
        self.main = None
        self.warmup_done_step: int | None = None
        self._steps = 0
        if not self.pending:
            self._start()

    def _start(self):
        self.main = self.build(self.observed)
        self.warmup_done_step = self._steps

    @property
    def current(self):
        return self.warm if self.main is None else self.main

    def peek(self) -> int:
        return self.current.peek()

    def skip(self) -> None:
        self.current.skip()

    def take(self, r: int, kv: float = 0.0) -> None:
        self.current.take(r, kv)

    def release(self, r: int) -> None:
        if self.main is not None:
            self.main.release(r)

    def requeue(self, r: int) -> None:
        (self.warm if r in self.pending else self.current).requeue(r)

    def tick(self, k: int = 1) -> None:
        self._steps += k
        self.current.tick(k)

    def wait_steps(self) -> float:
        return INF if self.main is None else self.main.wait_steps()

    def observe(self, r: int, output: int) -> None:
        if self.main is None and r in self.pending:
            self.pending.discard(r)
            self.observed[r] = output
            if not self.pending:
                self._start()
        elif self.main is not None:
            self.main.observe(r, output)


class DualScan:
    """BlendServe's dual scan over a leaf ``sequence`` split into groups (see the module docstring)."""

    LEFT, RIGHT, MIDDLE = 0, 1, 2

    def __init__(self, sequence, group, group_density, group_prompt, group_output, root_density: float,
                 kv_tokens: float, prompt_tokens, group_held=None):
        self.seq = [int(r) for r in sequence]
        self.group = [int(g) for g in group]
        self.g_rho = [float(x) for x in group_density]
        self.g_p = [float(x) for x in group_prompt]
        self.g_d = [float(x) for x in group_output]
        self.g_h = None if group_held is None else [float(x) for x in group_held]
        self.rho_root = float(root_density)
        self.M = float(kv_tokens)
        self.prompt = prompt_tokens  # list or array indexed by request id
        self.now = 0  # steps so far
        self.held0 = [0.0, 0.0]  # Σ (kv at admission − admission step) of each side's running requests
        self.running = [0, 0]
        self._adm: dict[int, float] = {}
        self._last_side: dict[int, int] = {}
        self._retracted: set[int] = set()
        self.lc, self.rc = 0, len(self.seq) - 1
        self.front = ([], [], [])
        self.side_of: dict[int, int] = {}
        self.credit = [0.0, 0.0]
        self.rate = [0.0, 0.0]
        self.cap = [0.0, 0.0]
        self.mem = [0.0, 0.0]
        self.skipped = [False, False, False]
        self.merged = len(self.seq) == 0
        self._offer = -1
        self._gl = self._gr = -1
        self._dense = 0
        self.rebalances = 0
        self.history: list[tuple[int, float, float, float, float, float, float]] = []  # (lc, ρL, ρR, ML, MR, CL, CR)
        if not self.merged:
            self._rebalance()
            self._initial_credit()

    # ---- budgets ----------------------------------------------------------------------------
    def _rebalance(self) -> None:
        gl, gr = self.group[self.lc], self.group[self.rc]
        if gl == gr:
            self._merge()
            return
        lo, hi = sorted((self.g_rho[gl], self.g_rho[gr]))
        if not lo < self.rho_root < hi:  # one-sided remainder: the split clamps, nothing left to blend
            self.history.append((self.lc, self.g_rho[gl], self.g_rho[gr], *memory_split(
                self.M, self.rho_root, self.g_rho[gl], self.g_rho[gr]), 0.0, 0.0))
            self._merge()
            return
        self._gl, self._gr = gl, gr
        ml, mr = memory_split(self.M, self.rho_root, self.g_rho[gl], self.g_rho[gr])
        self.mem = [ml, mr]
        self._dense = 0 if self.g_rho[gl] >= self.g_rho[gr] else 1
        for s, g, m in ((0, gl, ml), (1, gr, mr)):
            _, c = side_budget(m, self.g_p[g], self.g_d[g], None if self.g_h is None else self.g_h[g])
            self.rate[s] = c
            self.cap[s] = c + self.g_p[g]
            self.credit[s] = min(self.credit[s], self.cap[s])
        self.rebalances += 1
        self.history.append((self.lc, self.g_rho[gl], self.g_rho[gr], ml, mr, self.rate[0], self.rate[1]))

    def _initial_credit(self) -> None:
        if not self.merged:
            for s in (0, 1):
                self.credit[s] = self.cap[s] - self.rate[s] if self.mem[s] > 0 else 0.0

    def _candidate(self, s: int) -> int:
        if self.front[s]:
            return self.front[s][-1]
        if self.merged:
            return -1
        if self.lc > self.rc:
            return -1
        return self.seq[self.lc] if s == 0 else self.seq[self.rc]

    def held(self, s: int) -> float:
        """KV tokens side s's running requests hold now (allocation at admission + one per step)."""
        return self.held0[s] + self.running[s] * self.now

    def _limit(self, s: int) -> float:
        """KV side s may hold: M_s on the memory-dense side, what the other side leaves on the other."""
        if s == self._dense:
            return self.M - self.held(1 - s)
        return self.mem[s]

    def _side_open(self, s: int) -> bool:
        return not self.skipped[s] and self.credit[s] > 0.0 and self.held(s) < self._limit(s)

    # ---- protocol ---------------------------------------------------------------------------
    def peek(self) -> int:
        if not self.skipped[2] and self.front[2]:
            self._offer = 2
            return self.front[2][-1]
        if self.merged:
            return -1
        for s in (1, 0):
            if self._side_open(s):
                r = self._candidate(s)
                if r >= 0:
                    self._offer = s
                    return r
        return -1

    def skip(self) -> None:
        self.skipped[self._offer] = True

    def take(self, r: int, kv: float = 0.0) -> None:
        s = self._offer
        if s == 2 or (self.front[s] and self.front[s][-1] == r):
            self.front[s].pop()
        elif s == 0:
            self.lc += 1
        else:
            self.rc -= 1
        self.side_of[r] = s
        if s < 2:
            x = float(kv) - self.now
            self._adm[r] = x
            self.held0[s] += x
            self.running[s] += 1
            if r not in self._retracted:  # credits pace new work; a retracted request was paid for
                self.credit[s] -= float(kv)
        if not self.merged:
            if self.lc > self.rc:
                self._merge()
            elif self.group[self.lc] != self._gl or self.group[self.rc] != self._gr:
                self._rebalance()

    def _merge(self) -> None:
        """The cursors met: offer what is left, requeued requests first, then the leaves between the
        cursors in sequence order, with no side limits."""
        self.merged = True
        rest = self.seq[self.lc:self.rc + 1] if self.lc <= self.rc else []
        self.lc, self.rc = len(self.seq), len(self.seq) - 1
        self.front[2][:0] = rest[::-1]  # a stack: the last element is offered first
        self.front[2].extend(self.front[1])
        self.front[2].extend(self.front[0])
        self.front[0].clear()
        self.front[1].clear()

    def release(self, r: int) -> None:
        s = self.side_of.pop(r, 2)
        self._last_side[r] = s  # a preempted request is requeued on its side (release comes first)
        if s < 2:
            self.held0[s] -= self._adm.pop(r)
            self.running[s] -= 1

    def requeue(self, r: int) -> None:
        self._retracted.add(r)
        s = self._last_side.pop(r, 2)
        self.front[2 if self.merged else s].append(r)

    def tick(self, k: int = 1) -> None:
        self.now += k
        for s in (0, 1):
            self.credit[s] = min(self.credit[s] + k * self.rate[s], self.cap[s])
        self.skipped = [False, False, False]

    def wait_steps(self) -> float:
        if self.front[2] and not self.skipped[2]:
            return 0.0
        best = INF
        if self.merged:
            return best
        for s in (0, 1):
            if self.skipped[s] or self._candidate(s) < 0 or self.held(s) >= self._limit(s):
                continue
            if self.credit[s] > 0.0:
                return 0.0
            if self.rate[s] > 0.0:
                best = min(best, math.floor(-self.credit[s] / self.rate[s]) + 1.0)
        return best

    def observe(self, r: int, output: int) -> None:
        self._last_side.pop(r, None)
        self._retracted.discard(r)

    def remaining(self) -> int:
        return max(self.rc - self.lc + 1, 0) + sum(len(f) for f in self.front)
