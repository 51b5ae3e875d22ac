"""The offline engine: one replica serving a batch known at t = 0, step by step.

``simulate_offline(requests, compiled, config, order, step_mode) -> OfflineResult`` is a pure
function (same inputs, same result; randomness only from ``OrderOptions.seed``), so a planner can
price an offline job with it.

What one engine step (one forward pass) does, in order:

1. **KV for this step's decodes.** Each of the B decoding requests writes one token of KV. If the
   KV cache (M tokens, ``configs.kv_bytes / kv_bytes_per_token`` or ``EngineOptions.kv_tokens``)
   would overflow, unreferenced prefixes are evicted (LRU, ``cache.py``), then running requests are
   **preempted by recompute**: victims are taken newest-admitted first (LIFO, vLLM's rule — the
   least progress is lost), prefilling or decoding alike. A victim loses its private KV (its
   generated tokens) and any segment it was still prefilling; its resident prefix stays cached
   (unreferenced, so evictable). It goes back to the front of its order's queue and, when
   re-admitted, recomputes its prompt's missing part plus every token it had generated, then
   continues decoding.
2. **Chunked prefill, continuous batching.** The token budget of the pass is
   ``max_num_batched_tokens`` minus one token per decoding request (vLLM's accounting). Requests
   already prefilling continue first (admission order); then the order's scan (``scan.py``) offers
   candidates, admitted while ``max_num_seqs`` and the budget allow and their missing prefix fits in
   free KV above a ``watermark`` (1 % of M, vLLM's default; evicting cached prefixes if needed).
   A candidate that does not fit is skipped for this step (``scan.skip``: a sequential order
   blocks behind it; the dual scan tries its other side). Admission reserves KV for every prompt
   segment the request must compute; decode KV is allocated a token at a time (step 1).
   A request's prefill computes its path's absent segments in order; a segment another request is
   computing is waited for (computed once per batch), and readable from the next step on. The step
   that completes a prompt emits the first output token. A prompt entirely in the cache still
   recomputes its last token for the logits (one budget token; not counted as computed for the
   sharing ratio).
3. **Decode**: every decoding request reads its whole context (prompt + generated tokens: shared
   prefixes save compute, never KV reads) and emits one token; a request with d output tokens
   decodes d − 1 steps after its prefill step.

The schedule does not depend on time, only on steps (all requests are present at t = 0 and no
decision reads the clock), so the engine records each step's composition — prefill tokens,
attention pairs, decode sequences B, context tokens C — and times all steps afterwards in one
vectorised :meth:`StepTime.step_s` call, for either ``mode``. :func:`run_offline` returns that
mode-free :class:`OfflineTrace`; :meth:`OfflineTrace.result` times it as ``sum`` or ``overlap``.

**Idle decode runs.** When a step prefilled nothing, nothing can be admitted (the scan is blocked
by memory, slots, the warm-up barrier or token credits) and no request finished, the following
steps are identical except that every context grows by one: B stays, C grows by B per step. The
engine advances such a run of k steps at once (k = min(steps to the next completion, steps until
the KV cache is full, steps until a side's credit turns positive)) and records it as one row with
``steps = k``; timing expands it exactly (C, C + B, ..., C + (k−1)·B).

**Overlap interference.** ``overlap`` mode times a pass as max(compute, memory)·(1 + interference)
(``StepTime.step_s``). The default ``interference = 0.10`` is a choice, not a measurement: NanoFlow
splits each batch into nano-batches and partitions the SMs between concurrent GEMM and attention
kernels, which costs some of both (smaller GEMMs, contention); BlendServe measures its "practical
optimal" from profiled overlapped execution for that reason and validates its per-operator estimates
to within 6 %. 10 % sits between that error and no overlap gain at all; benchmarks report 0, 0.10
and 0.20.

Outputs: throughput = (prompt + output tokens) / makespan; the prefix-sharing ratio (prompt tokens
not computed by a request's first run / all prompt tokens; recomputation after preemption excluded,
as in the paper); the per-step frame (compute_s, memory_s, step_s, batch composition); the
per-request frame. Conservation is checked at the end: every request completes, its output tokens
are counted once, and every prompt token is either computed in the first run or served from cache.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ...errors import InputError
from ...problem.steptime import MODES, StepTime
from .cache import ABSENT, PENDING, RESIDENT, RadixCache
from .density import DensityModel
from .orders import ORDERS, OrderContext, OrderOptions
from .requests import OfflineRequests
from .scan import PhasedScan
from .tree import PrefixTree, build_tree

WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3
DEFAULT_INTERFERENCE = 0.10


@dataclass(frozen=True)
class EngineOptions:
    """Engine knobs, named as vLLM names them."""

    max_num_batched_tokens: int = 2048  # tokens per pass (prefill chunk + one per decode)
    max_num_seqs: int = 1024  # running requests (prefilling + decoding)
    watermark: float = 0.01  # share of KV kept free when admitting (vLLM's default)
    kv_tokens: int | None = None  # KV capacity override [tokens]; None = the configuration's
    interference: float = DEFAULT_INTERFERENCE  # overlap-mode slow-down of max(compute, memory)
    idle_runs: bool = True  # advance identical decode-only steps at once (exact; off only to check that)

    def __post_init__(self):
        if self.max_num_batched_tokens < 1 or self.max_num_seqs < 1:
            raise ValueError("max_num_batched_tokens and max_num_seqs must be >= 1")
        if not 0.0 <= self.watermark < 1.0:
            raise ValueError(f"watermark must be in [0, 1), got {self.watermark}")


def kv_tokens(configs) -> np.ndarray:
    """M = kv_bytes // kv_bytes_per_token of every row of a configs table [tokens] (int64)."""
    return (configs["kv_bytes"] // configs["kv_bytes_per_token"]).to_numpy().astype(np.int64)


def kv_capacity_tokens(compiled, config: str) -> int:
    """M = configs.kv_bytes / configs.kv_bytes_per_token of ``config`` [tokens]."""
    row = compiled.configs.loc[compiled.configs["config"] == config]
    if len(row) != 1:
        raise InputError(None, "config", f"{config!r} is not a configuration of this problem")
    return int(kv_tokens(row)[0])


# ---------------------------------------------------------------------------------------------
# the schedule (mode-free) and its timing
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OfflineTrace:
    """What the engine did, step by step (no times yet); :meth:`result` times it."""

    order: str
    config: str
    steptime: StepTime
    density: DensityModel
    tree: PrefixTree
    requests: OfflineRequests
    kv_tokens: int
    options: EngineOptions
    rows: dict  # per recorded row: first step, steps, decode_seqs, context_tokens, prefill_tokens, ...
    per_request: dict  # per request: admitted_step, first_token_step, finish_step, preemptions, computed
    counters: dict = field(default_factory=dict)
    plan: object = None

    @cached_property
    def expanded(self) -> dict[str, np.ndarray]:
        """Every engine step (runs expanded): decode_seqs, context_tokens, prefill_tokens, attention_pairs."""
        k = self.rows["steps"]
        idx = np.repeat(np.arange(len(k)), k)
        start = np.cumsum(k) - k
        j = np.arange(int(k.sum())) - np.repeat(start, k)
        b = self.rows["decode_seqs"][idx]
        return {"row": idx, "decode_seqs": b, "context_tokens": self.rows["context_tokens"][idx] + j * b,
                "prefill_tokens": self.rows["prefill_tokens"][idx], "attention_pairs": self.rows["attention_pairs"][idx]}

    def step_times(self, mode: str, interference: float) -> dict[str, np.ndarray]:
        """compute_s, memory_s and step_s of every engine step."""
        e = self.expanded
        st = self.steptime
        p, a, b, c = e["prefill_tokens"], e["attention_pairs"], e["decode_seqs"], e["context_tokens"]
        return {"compute_s": st.prefill_compute_s(p, a) + st.decode_compute_s(b),
                "memory_s": st.decode_memory_s(b, c),
                "step_s": st.step_s(p, a, b, c, mode=mode, interference=interference)}

    def result(self, mode: str = "overlap", interference: float | None = None) -> "OfflineResult":
        if mode not in MODES:
            raise InputError(None, "step_mode", f"must be one of {MODES}, got {mode!r}")
        inter = self.options.interference if interference is None else float(interference)
        times = self.step_times(mode, inter)
        step_s = times["step_s"]
        end_s = np.cumsum(step_s)
        makespan = float(end_s[-1]) if len(end_s) else 0.0
        idx = self.expanded["row"]
        nrow = len(self.rows["steps"])
        sums = {k: np.bincount(idx, weights=v, minlength=nrow) for k, v in times.items()}
        steps = pd.DataFrame({**{k: v for k, v in self.rows.items()}, **sums})
        steps["start_s"] = np.concatenate([[0.0], np.cumsum(sums["step_s"])[:-1]]) if nrow else []
        pr = self.per_request
        req = pd.DataFrame({"request": np.arange(len(self.requests)),
                            "prompt_tokens": self.requests.prompt_tokens,
                            "output_tokens": self.requests.output_tokens, **pr})
        req["finish_s"] = end_s[req["finish_step"].to_numpy()]
        warm_step = self.counters.get("warmup_done_step")
        warmup_s = float(end_s[warm_step - 1]) if warm_step else 0.0
        ideal = self.density.ideal_makespan_s(self.tree, self.requests.prompt_tokens, self.requests.output_tokens)
        total = self.requests.total_tokens()
        thr = total / makespan
        ideal_thr = total / ideal["ideal_makespan_s"]
        return OfflineResult(
            order=self.order, config=self.config, step_mode=mode, interference=inter, makespan_s=makespan,
            throughput_tok_s=thr, prompt_tokens=int(self.requests.prompt_tokens.sum()),
            output_tokens=int(self.requests.output_tokens.sum()), sharing_ratio=self.counters["sharing_ratio"],
            optimal_sharing=self.tree.optimal_sharing, prefill_tokens_computed=self.counters["prefill_tokens"],
            preemptions=self.counters["preemptions"], num_steps=int(self.rows["steps"].sum()), warmup_s=warmup_s,
            t_comp_s=ideal["t_comp_s"], t_mem_s=ideal["t_mem_s"], density=ideal["density"],
            ideal_makespan_s=ideal["ideal_makespan_s"], ideal_ratio=thr / ideal_thr, steps=steps, requests=req,
            kv_tokens=self.kv_tokens)


@dataclass(frozen=True, eq=False)
class OfflineResult:
    """The timed outcome of an offline run (units in the names; see the module docstring)."""

    order: str
    config: str
    step_mode: str
    interference: float
    makespan_s: float
    throughput_tok_s: float
    prompt_tokens: int
    output_tokens: int
    sharing_ratio: float
    optimal_sharing: float
    prefill_tokens_computed: int  # every prefill token of every pass, recomputation included
    preemptions: int
    num_steps: int
    warmup_s: float  # time until the output-length sample was fully served (0 without one)
    t_comp_s: float
    t_mem_s: float
    density: float  # the batch's realised density T_comp(s)/T_mem (true outputs; density.py)
    ideal_makespan_s: float  # max(T_comp(s), T_mem)
    ideal_ratio: float  # throughput / ideal throughput
    steps: pd.DataFrame
    requests: pd.DataFrame
    kv_tokens: int

    def summary(self) -> dict[str, float | int | str]:
        """The scalar fields as a dict (one row of a comparison table)."""
        return {k: getattr(self, k) for k in (
            "order", "config", "step_mode", "interference", "makespan_s", "throughput_tok_s", "sharing_ratio",
            "optimal_sharing", "ideal_ratio", "density", "preemptions", "num_steps", "warmup_s",
            "prefill_tokens_computed", "prompt_tokens", "output_tokens")}


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------
def simulate_offline(requests: OfflineRequests, compiled, config: str, order: str = "blendserve",
                     step_mode: str = "overlap", *, options: EngineOptions = EngineOptions(),
                     order_options: OrderOptions = OrderOptions(), tree: PrefixTree | None = None) -> OfflineResult:
    """Serve ``requests`` on one replica of ``config`` in ``order``; time the steps with ``step_mode``."""
    if step_mode not in MODES:
        raise InputError(None, "step_mode", f"must be one of {MODES}, got {step_mode!r}")
    return run_offline(requests, compiled, config, order, options=options, order_options=order_options,
                       tree=tree).result(step_mode)


def run_offline(requests: OfflineRequests, compiled, config: str, order: str = "blendserve", *,
                options: EngineOptions = EngineOptions(), order_options: OrderOptions = OrderOptions(),
                tree: PrefixTree | None = None) -> OfflineTrace:
    """The mode-free schedule of ``requests`` in ``order`` (time it with :meth:`OfflineTrace.result`)."""
    order_cls = ORDERS.get(order, "order")
    st = StepTime.from_table(compiled.config_perf, compiled.configs, config=config)
    M = options.kv_tokens if options.kv_tokens is not None else kv_capacity_tokens(compiled, config)
    prompt = requests.prompt_tokens
    peak = prompt + requests.output_tokens
    if (peak > M).any():
        r = int(np.argmax(peak > M))
        raise InputError(None, f"requests[{r}]", f"needs {int(peak[r])} KV tokens at its end; the cache holds {M}")
    tree = build_tree(requests) if tree is None else tree
    dm = DensityModel(st, M)
    ctx = OrderContext(tree, prompt, dm, M, order_options)
    o = order_cls()
    warm = o.warmup(ctx)
    built = {}

    def build(observed):
        ids = np.fromiter(observed.keys(), dtype=np.int64, count=len(observed))
        outs = np.fromiter(observed.values(), dtype=np.int64, count=len(observed))
        plan = o.plan(ctx, ids, outs)
        built["plan"] = plan
        return plan.scan(prompt, M)

    scan = PhasedScan(warm, build)
    rows, per_req, counters = _simulate(tree, prompt, requests.output_tokens, scan, M, options)
    counters["warmup_done_step"] = scan.warmup_done_step if len(warm) else None
    return OfflineTrace(order=order, config=config, steptime=st, density=dm, tree=tree, requests=requests,
                        kv_tokens=M, options=options, rows=rows, per_request=per_req, counters=counters,
                        plan=built.get("plan"))


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
def _simulate(tree: PrefixTree, prompt: np.ndarray, output: np.ndarray, scan, M: int, opts: EngineOptions):
    cache = RadixCache(tree)
    cstate, cowner, cdone, cseg, cready = cache.state, cache.owner, cache.done, cache.seg, cache.ready_at
    cref = cache.ref
    depth = tree.depth.tolist()
    tparent = cache.parent
    leaf_of = tree.leaf.tolist()
    N = len(output)
    P = prompt.tolist()
    D = output.tolist()
    paths: list = [None] * N
    st = [WAITING] * N
    g0 = [0] * N  # tokens generated before the current run (to recompute)
    pc = [0] * N  # path cursor of a prefilling request
    priv_left = [0] * N  # generated tokens still to recompute
    run_work = [0] * N
    t0 = [0] * N
    epoch = [0] * N
    preempted = [0] * N
    admitted_at = [-1] * N
    first_token_at = [-1] * N
    finish_at = [-1] * N
    computed_first = [0] * N
    prefilling: list[int] = []
    fin: list = []  # (finish step, epoch, r)
    lifo: list = []  # (−admission number, epoch, r)
    maxbt, maxseq = opts.max_num_batched_tokens, opts.max_num_seqs
    wm = int(opts.watermark * M)
    # running sums over decoding requests: context at step t = Pdec + Q0 + B·t, private KV = Q0 + B·t
    state = {"B": 0, "Pdec": 0, "Q0": 0, "priv_pref": 0, "nadm": 0, "preemptions": 0, "done": 0}
    rec = {k: [] for k in ("step", "steps", "decode_seqs", "context_tokens", "prefill_tokens", "attention_pairs",
                           "prefill_seqs", "kv_used_tokens", "cache_tokens")}
    r_step, r_k, r_b, r_c, r_p, r_a, r_np, r_kv, r_ct = (rec[k] for k in rec)

    def path_of(r):
        p = paths[r]
        if p is None:
            p = []
            n = leaf_of[r]
            while n > 0:
                p.append(n)
                n = tparent[n]
            p.reverse()
            paths[r] = p
        return p

    def used_at(t):
        return cache.tokens + state["priv_pref"] + state["Q0"] + state["B"] * t

    def preempt_one(t) -> bool:
        while lifo:
            _, ep, r = heapq.heappop(lifo)
            if epoch[r] == ep and (st[r] == PREFILL or st[r] == DECODE):
                break
        else:
            return False
        epoch[r] += 1
        preempted[r] += 1
        state["preemptions"] += 1
        path = paths[r]
        if st[r] == DECODE:
            state["B"] -= 1
            state["Pdec"] -= P[r]
            state["Q0"] -= g0[r] - t0[r] + 1
            g0[r] = g0[r] + 1 + (t - t0[r])
        else:
            prefilling.remove(r)
            for n in path:
                if cstate[n] == PENDING and cowner[n] == r:
                    cache.drop(n, t)
            state["priv_pref"] -= g0[r]
        cache.unlock(path, t)
        st[r] = WAITING
        scan.release(r)
        scan.requeue(r)
        return True

    def make_room(need, t) -> None:
        """Evict, then preempt, until ``need`` more tokens fit at step t."""
        while used_at(t) + need > M:
            over = used_at(t) + need - M
            if cache.evictable_tokens > 0 and cache.evict(over, t) > 0:
                continue
            if not preempt_one(t):
                raise RuntimeError("KV overflow with nothing left to preempt")  # guarded by the peak check

    def try_admit(r, t) -> int:
        """Admit r at step t if its missing KV fits: the tokens allocated, or −1."""
        path = path_of(r)
        need = g0[r]
        protect = 0
        for n in path:
            s = cstate[n]
            if s == ABSENT:
                need += cseg[n]
            elif s == RESIDENT and cref[n] == 0:
                protect += cseg[n]
        free = M - used_at(t) - wm
        if need > free and need - free > cache.evictable_tokens - protect:
            return -1
        cache.lock(path)
        if need > free:
            cache.evict(need - free, t)
        for n in path:
            if cstate[n] == ABSENT:
                cache.claim(n, r)
        state["priv_pref"] += g0[r]
        priv_left[r] = g0[r]
        pc[r] = 0
        run_work[r] = 0
        st[r] = PREFILL
        prefilling.append(r)
        state["nadm"] += 1
        heapq.heappush(lifo, (-state["nadm"], epoch[r], r))
        if admitted_at[r] < 0:
            admitted_at[r] = t
        return need

    def advance(r, t, budget):
        """Prefill r within ``budget`` tokens at step t: (tokens, attention pairs, prompt complete?)."""
        path = paths[r]
        i = pc[r]
        n_path = len(path)
        tok = 0
        pairs = 0.0
        first = preempted[r] == 0
        complete = False
        while i < n_path:
            n = path[i]
            s = cstate[n]
            if s == RESIDENT:
                if cready[n] == t and cowner[n] != r:
                    break  # filled by another sequence in this very pass
                i += 1
                continue
            if s == PENDING:
                if cowner[n] != r:
                    break  # someone else is computing it: wait
                rem = cseg[n] - cdone[n]
                if rem > 0:
                    if budget <= 0:
                        break
                    c = rem if rem < budget else budget
                    a = depth[n] - cseg[n] + cdone[n]
                    tok += c
                    pairs += c * (2.0 * a + c) / 2.0
                    budget -= c
                    cdone[n] += c
                    if first:
                        computed_first[r] += c
                    if c < rem:
                        break
                cache.fill(n, t)
                i += 1
                continue
            # absent: its owner was preempted after r was admitted; compute it ourselves if it fits
            if used_at(t) + cseg[n] > M:
                if cache.evictable_tokens == 0 or cache.evict(used_at(t) + cseg[n] - M, t) == 0 or \
                        used_at(t) + cseg[n] > M:
                    break
            cache.claim(n, r)
        pc[r] = i
        if i == n_path:
            left = priv_left[r]
            if left > 0 and budget > 0:
                c = left if left < budget else budget
                a = P[r] + g0[r] - left
                tok += c
                pairs += c * (2.0 * a + c) / 2.0
                budget -= c
                priv_left[r] = left - c
                left -= c
            if left == 0:
                if run_work[r] + tok == 0:  # all cached: recompute the last prompt token for its logits
                    if budget > 0:
                        tok = 1
                        pairs = float(P[r])
                        complete = True
                else:
                    complete = True
        run_work[r] += tok
        return tok, pairs, complete

    def finish_request(r, t):
        if st[r] == DECODE:
            state["B"] -= 1
            state["Pdec"] -= P[r]
            state["Q0"] -= g0[r] - t0[r] + 1
        else:
            state["priv_pref"] -= g0[r]
        st[r] = DONE
        finish_at[r] = t
        state["done"] += 1
        path = paths[r]
        cache.unlock(path, t)
        cache.drop(path[-1], t)  # the request's own segment: nobody else can use it
        scan.release(r)
        scan.observe(r, D[r])

    t = 0
    while state["done"] < N:
        # 1. KV for this step's decode tokens
        if used_at(t) > M:
            make_room(0, t)
        scan.tick(1)
        B = state["B"]
        budget = maxbt - B
        tok_step = 0
        pairs_step = 0.0
        completed = []
        for r in prefilling:
            if budget <= 0:
                break
            tk, pr, done = advance(r, t, budget)
            budget -= tk
            tok_step += tk
            pairs_step += pr
            if done:
                completed.append(r)
        # 2. admissions
        room = maxseq - B - len(prefilling)
        capped = budget <= 0 or room <= 0  # blocked until a decode finishes, whatever the scan says
        while budget > 0 and room > 0:
            r = scan.peek()
            if r < 0:
                break
            kv = try_admit(r, t)
            if kv >= 0:
                scan.take(r, kv)
                room -= 1
                tk, pr, done = advance(r, t, budget)
                budget -= tk
                tok_step += tk
                pairs_step += pr
                if done:
                    completed.append(r)
            else:
                scan.skip()
        n_pref = len(prefilling)
        if B == 0 and tok_step == 0:
            # nothing ran: wait for credits (no time passes), or the scan is stuck (a bug)
            w = scan.wait_steps()
            if prefilling or not math.isfinite(w):
                raise RuntimeError(f"offline engine stalled at step {t} with {N - state['done']} requests left")
            scan.tick(int(w))
            continue
        r_step.append(t)
        r_k.append(1)
        r_b.append(B)
        r_c.append(state["Pdec"] + state["Q0"] + B * t)
        r_p.append(tok_step)
        r_a.append(pairs_step)
        r_np.append(n_pref)
        r_kv.append(used_at(t))
        r_ct.append(cache.tokens)
        # 3. prompts completed in this pass emit their first token; decoders that are done leave
        for r in completed:
            prefilling.remove(r)
            if first_token_at[r] < 0:
                first_token_at[r] = t
            rem = D[r] - g0[r] - 1
            if rem <= 0:
                finish_request(r, t)
            else:
                st[r] = DECODE
                t0[r] = t + 1
                state["B"] += 1
                state["Pdec"] += P[r]
                state["Q0"] += g0[r] - t
                state["priv_pref"] -= g0[r]
                heapq.heappush(fin, (t + rem, epoch[r], r))
        released = bool(completed)
        while fin and fin[0][0] <= t:
            _, ep, r = heapq.heappop(fin)
            if ep == epoch[r] and st[r] == DECODE:
                finish_request(r, t)
                released = True
        t += 1
        # 4. idle decode run: nothing prefilled, nothing admissible, nothing released
        if opts.idle_runs and tok_step == 0 and not prefilling and not released and state["B"] > 0:
            while fin and fin[0][1] != epoch[fin[0][2]]:
                heapq.heappop(fin)
            B = state["B"]
            k_c = fin[0][0] - t + 1 if fin else 1 << 62
            k_m = (M - used_at(t - 1)) // B
            k_s = (1 << 62) if capped else scan.wait_steps() - 1
            k = int(min(k_c, k_m, k_s))
            if k >= 2:
                r_step.append(t)
                r_k.append(k)
                r_b.append(B)
                r_c.append(state["Pdec"] + state["Q0"] + B * t)
                r_p.append(0)
                r_a.append(0.0)
                r_np.append(0)
                r_kv.append(used_at(t + k - 1))
                r_ct.append(cache.tokens)
                scan.tick(k)
                t += k
                while fin and fin[0][0] <= t - 1:
                    _, ep, r = heapq.heappop(fin)
                    if ep == epoch[r] and st[r] == DECODE:
                        finish_request(r, t - 1)

    rows = {"step": np.asarray(r_step, dtype=np.int64), "steps": np.asarray(r_k, dtype=np.int64),
            "decode_seqs": np.asarray(r_b, dtype=np.int64), "context_tokens": np.asarray(r_c, dtype=np.int64),
            "prefill_tokens": np.asarray(r_p, dtype=np.int64), "attention_pairs": np.asarray(r_a, dtype=float),
            "prefill_seqs": np.asarray(r_np, dtype=np.int64), "kv_used_tokens": np.asarray(r_kv, dtype=np.int64),
            "cache_tokens": np.asarray(r_ct, dtype=np.int64)}
    per_req = {"admitted_step": np.asarray(admitted_at), "first_token_step": np.asarray(first_token_at),
               "finish_step": np.asarray(finish_at), "preemptions": np.asarray(preempted),
               "computed_prompt_tokens": np.asarray(computed_first)}
    total_prompt = int(prompt.sum())
    first_run = int(np.sum(computed_first))
    _check_conservation(tree, prompt, per_req, rows, total_prompt)
    counters = {"sharing_ratio": 1.0 - first_run / total_prompt if total_prompt else 0.0,
                "prefill_tokens": int(rows["prefill_tokens"].sum()), "preemptions": state["preemptions"],
                "evicted_tokens": cache.evicted_tokens}
    return rows, per_req, counters


def _check_conservation(tree, prompt, per_req, rows, total_prompt) -> None:
    """Every request completed; prompt tokens computed first-run never exceed the prompt."""
    if (per_req["finish_step"] < 0).any():
        raise RuntimeError(f"{int((per_req['finish_step'] < 0).sum())} requests never completed")
    if (per_req["computed_prompt_tokens"] > prompt).any():
        raise RuntimeError("a request computed more prompt tokens than its prompt holds in its first run")
    if int(rows["prefill_tokens"].sum()) < int(np.sum(per_req["computed_prompt_tokens"])):
        raise RuntimeError("fewer prefill tokens were run than prompt tokens computed")
