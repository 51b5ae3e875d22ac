"""The time of one engine iteration, from the compiled ``config_perf`` table alone.

An iteration (one forward pass of a replica) processes ``prefill_tokens`` prompt tokens — whose
attention covers ``attention_pairs`` (query token, earlier token) pairs, h²/2 for a whole prompt
of h tokens — and one token for each of ``decode_seqs`` running sequences, whose contexts add up
to ``context_tokens``. The coefficients are those of the two-phase performance model
(:func:`sloserve.model.perf.step_table`); this module only evaluates them, so the simulator, the
schedulers and the offline batcher share one copy of the formulas, and a test checks that a lone
prompt takes each route's ``ttft_s`` and a loaded iteration at the design batch each route's ``tpot_s``.

Two ways to combine the work of a mixed iteration (``mode``):

``sum``      the performance model's own: the linear layers of all T tokens of the pass in one set of
             GEMMs, max(weight traffic, GEMM time), then the elementwise kernels, attention (prefill pairs
             and the decode KV read), the pass's communication and its fixed overheads — vLLM/SGLang
             chunked prefill;
``overlap``  compute (all FLOP) and memory traffic (weights, KV, elementwise) overlap inside the pass
             (NanoFlow-style): max(compute, memory) · (1 + interference) plus communication and
             overheads. With ``interference = 0`` this is the ideal overlap.

PP: with m pipeline stages, m micro-batches are in flight; a decode iteration of d sequences
advances each of them by one token in the time one micro-batch of max(d/m, 1) sequences (and the
prompt tokens it carries) takes to cross every stage, as in :func:`sloserve.model.perf.decode_step_s`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the coefficient columns of config_perf, all in seconds (per pass, per token, per sequence or per pair)
COEFFICIENTS = ("weight_read_s", "active_weight_read_s", "kv_read_s_per_token", "decode_compute_s_per_seq",
                "prefill_compute_s_per_token", "compute_offset_s", "elementwise_s_per_token",
                "attention_compute_s_per_pair", "comm_s_per_pass", "comm_s_per_token", "step_overhead_s",
                "seq_overhead_s", "prefill_overhead_s")
#: columns a config_perf table written before they existed may lack (their absence means 0)
OPTIONAL_COEFFICIENTS = ("compute_offset_s", "elementwise_s_per_token", "seq_overhead_s")
MODES = ("sum", "overlap")


@dataclass(frozen=True)
class StepTime:
    """The step-time coefficients of one configuration (floats) or of many (numpy arrays)."""

    pp: float | np.ndarray
    weight_read_s: float | np.ndarray
    active_weight_read_s: float | np.ndarray
    kv_read_s_per_token: float | np.ndarray
    decode_compute_s_per_seq: float | np.ndarray
    prefill_compute_s_per_token: float | np.ndarray
    compute_offset_s: float | np.ndarray
    elementwise_s_per_token: float | np.ndarray
    attention_compute_s_per_pair: float | np.ndarray
    comm_s_per_pass: float | np.ndarray
    comm_s_per_token: float | np.ndarray
    step_overhead_s: float | np.ndarray
    seq_overhead_s: float | np.ndarray
    prefill_overhead_s: float | np.ndarray

    @classmethod
    def from_table(cls, config_perf: pd.DataFrame, configs: pd.DataFrame | None = None,
                   config: str | None = None) -> "StepTime":
        """From the ``config_perf`` table (and ``configs`` for ``pp``); one row when ``config`` is given."""
        t = config_perf
        if configs is not None and "pp" not in t:
            t = t.merge(configs[["config", "pp"]], on="config", how="left")
        t = t.assign(**{k: (t[k].fillna(0.0) if k in t else 0.0) for k in OPTIONAL_COEFFICIENTS})
        if config is not None:
            row = t.loc[t["config"] == config]
            if len(row) != 1:
                raise KeyError(f"configuration {config!r} is not in config_perf")
            return cls(**{k: float(row[k].iloc[0]) for k in ("pp",) + COEFFICIENTS})
        return cls(**{k: t[k].to_numpy(dtype=float) for k in ("pp",) + COEFFICIENTS})

    def row(self, k: int) -> "StepTime":
        """Configuration ``k`` of a table-wide StepTime (:meth:`from_table` without ``config``), as scalars."""
        return StepTime(**{f: float(np.asarray(getattr(self, f))[k]) for f in ("pp",) + COEFFICIENTS})

    # ---- phases -------------------------------------------------------------------------------
    def micro_batch(self, decode_seqs):
        """Sequences per micro-batch: max(d/m, 1) (0 when there is nothing to decode)."""
        d = np.asarray(decode_seqs, dtype=float)
        return np.where(d > 0, np.maximum(d / self.pp, 1.0), 0.0)

    def linear_s(self, prefill_tokens, decode_seqs):
        """The linear layers of one pass: max(weight traffic, GEMM time) over its T tokens [s]."""
        p = np.asarray(prefill_tokens, dtype=float)
        bmb = self.micro_batch(decode_seqs)
        T = p + bmb
        weights = np.minimum(self.weight_read_s, T * self.active_weight_read_s)
        gemm = p * self.prefill_compute_s_per_token + bmb * self.decode_compute_s_per_seq + self.compute_offset_s
        return np.where(T > 0, np.maximum(weights, gemm), 0.0)

    def prefill_compute_s(self, prefill_tokens, attention_pairs):
        """FLOP time of the prompt tokens of one pass (GEMMs without the ramp, and attention) [s]."""
        return (np.asarray(prefill_tokens, dtype=float) * self.prefill_compute_s_per_token
                + np.asarray(attention_pairs, dtype=float) * self.attention_compute_s_per_pair)

    def kv_read_s(self, decode_seqs, context_tokens):
        """KV-cache traffic of the decode part of one pass (one micro-batch's share of the contexts) [s]."""
        d = np.asarray(decode_seqs, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ctx = np.where(d > 0, np.asarray(context_tokens, dtype=float) / np.where(d > 0, d, 1.0), 0.0)
        return self.micro_batch(d) * ctx * self.kv_read_s_per_token

    def decode_memory_s(self, decode_seqs, context_tokens):
        """Weight and KV traffic of a decode-only pass [s] (weights are read once per pass)."""
        bmb = self.micro_batch(decode_seqs)
        weights = np.where(bmb > 0, np.minimum(self.weight_read_s, bmb * self.active_weight_read_s), 0.0)
        return weights + self.kv_read_s(decode_seqs, context_tokens)

    def decode_compute_s(self, decode_seqs):
        """GEMM time of the decode tokens of one pass, without the ramp [s]."""
        return self.micro_batch(decode_seqs) * self.decode_compute_s_per_seq

    def elementwise_s(self, prefill_tokens, decode_seqs):
        """Norm, residual and activation traffic of the tokens of one pass [s]."""
        return (np.asarray(prefill_tokens, dtype=float) + self.micro_batch(decode_seqs)) * self.elementwise_s_per_token

    def comm_s(self, prefill_tokens, decode_seqs):
        """TP all-reduces and PP hand-offs of one pass carrying these tokens [s]."""
        return self.comm_s_per_pass + (np.asarray(prefill_tokens, dtype=float) + self.micro_batch(decode_seqs)) \
            * self.comm_s_per_token

    def overhead_s(self, prefill_tokens, decode_seqs):
        """Fixed time of a pass: kernel latencies and host terms, per sequence and for a pass that prefills [s]."""
        p = np.asarray(prefill_tokens, dtype=float)
        return self.step_overhead_s + np.asarray(decode_seqs, dtype=float) * self.seq_overhead_s \
            + np.where(p > 0, self.prefill_overhead_s, 0.0)

    # ---- one iteration ------------------------------------------------------------------------
    def step_s(self, prefill_tokens=0, attention_pairs=0, decode_seqs=0, context_tokens=0, *, mode: str = "sum",
               interference: float = 0.0):
        """Time of one iteration [s] (broadcasts over arrays); see the module docstring for ``mode``."""
        p = np.asarray(prefill_tokens, dtype=float)
        pairs = np.asarray(attention_pairs, dtype=float) * self.attention_compute_s_per_pair
        kv = self.kv_read_s(decode_seqs, context_tokens) + self.elementwise_s(p, decode_seqs)
        if mode == "sum":
            work = self.linear_s(p, decode_seqs) + pairs + kv
        elif mode == "overlap":
            if interference < 0:
                raise ValueError(f"interference must be >= 0, got {interference}")
            T = p + self.micro_batch(decode_seqs)
            weights = np.where(T > 0, np.minimum(self.weight_read_s, T * self.active_weight_read_s), 0.0)
            gemm = np.where(T > 0, p * self.prefill_compute_s_per_token + self.decode_compute_s(decode_seqs)
                            + self.compute_offset_s, 0.0)
            work = np.maximum(gemm + pairs, weights + kv) * (1.0 + interference)
        else:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return work + self.comm_s(p, decode_seqs) + self.overhead_s(p, decode_seqs)

    def prefill_s(self, input_tokens, batch=1):
        """A pass prefilling ``batch`` prompts of ``input_tokens`` tokens each, nothing else [s] (= TTFT of a lone prompt)."""
        h = np.asarray(input_tokens, dtype=float)
        b = np.asarray(batch, dtype=float)
        return self.step_s(b * h, b * h * h / 2.0)

    def decode_s(self, batch, context_tokens_per_seq):
        """A pass decoding ``batch`` sequences of mean context ``context_tokens_per_seq``, nothing else [s]."""
        b = np.asarray(batch, dtype=float)
        return self.step_s(0.0, 0.0, b, b * np.asarray(context_tokens_per_seq, dtype=float))

    def loaded_s(self, batch, input_tokens, output_tokens):
        """An iteration in steady state with chunked prefill: ``batch`` sequences decode and each micro-batch
        also prefills h/f prompt tokens per sequence [s] (= a route's TPOT at its design batch)."""
        b = np.asarray(batch, dtype=float)
        h = np.asarray(input_tokens, dtype=float)
        f = np.asarray(output_tokens, dtype=float)
        bmb = self.micro_batch(b)
        return self.step_s(bmb * h / f, bmb * h * h / (2.0 * f), b, b * (h + f / 2.0))

    def decode_run_s(self, decode_seqs, context_tokens, steps, *, mode: str = "sum", interference: float = 0.0):
        """Total time of ``steps`` consecutive decode-only iterations of the same ``decode_seqs``
        sequences whose contexts add up to ``context_tokens`` at the first and grow by one token per
        sequence per iteration [s] (closed form; equals summing :meth:`step_s` over the iterations).

        Without prefill tokens every term of an iteration is constant but the KV read, which grows by
        one token per sequence per iteration: in ``sum`` mode the total is an arithmetic series; in
        ``overlap`` mode max(compute, memory) switches once, where memory overtakes compute."""
        return ScalarStepTime(self).decode_run_s(decode_seqs, context_tokens, steps, mode=mode,
                                                 interference=interference)

    def scalar(self) -> "ScalarStepTime":
        """The same model for one configuration on Python floats (a simulator's hot loop)."""
        return ScalarStepTime(self)


class ScalarStepTime:
    """:class:`StepTime` of one configuration evaluated with Python floats instead of numpy arrays —
    the same formulas, ~20× faster per call for a simulator that asks once per iteration; a test
    checks it against the array version on random iterations (``tests/problem/test_steptime.py``)."""

    __slots__ = ("pp", "w", "wa", "kv", "dc", "pc", "off", "ew", "ac", "cp", "ct", "so", "sq", "po")

    def __init__(self, st: StepTime):
        f = float
        self.pp = f(np.asarray(st.pp).item()) if np.ndim(st.pp) == 0 else f(st.pp)
        self.w, self.wa, self.kv = f(st.weight_read_s), f(st.active_weight_read_s), f(st.kv_read_s_per_token)
        self.dc, self.pc, self.off = f(st.decode_compute_s_per_seq), f(st.prefill_compute_s_per_token), f(st.compute_offset_s)
        self.ew, self.ac = f(st.elementwise_s_per_token), f(st.attention_compute_s_per_pair)
        self.cp, self.ct = f(st.comm_s_per_pass), f(st.comm_s_per_token)
        self.so, self.sq, self.po = f(st.step_overhead_s), f(st.seq_overhead_s), f(st.prefill_overhead_s)

    def step_s(self, prefill_tokens=0, attention_pairs=0.0, decode_seqs=0, context_tokens=0, *, mode: str = "sum",
               interference: float = 0.0) -> float:
        p, d = prefill_tokens, decode_seqs
        bmb = (d / self.pp if d > self.pp else 1.0) if d > 0 else 0.0
        T = p + bmb
        if T > 0:
            weights = self.w if self.w < T * self.wa else T * self.wa
            gemm = p * self.pc + bmb * self.dc + self.off
        else:
            weights = gemm = 0.0
        pairs = attention_pairs * self.ac
        kv = (bmb * (context_tokens / d) * self.kv if d > 0 else 0.0) + T * self.ew
        if mode == "sum":
            work = (weights if weights > gemm else gemm) + pairs + kv
        elif mode == "overlap":
            if interference < 0:
                raise ValueError(f"interference must be >= 0, got {interference}")
            a, b = gemm + pairs, weights + kv
            work = (a if a > b else b) * (1.0 + interference)
        else:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return work + self.cp + T * self.ct + self.so + d * self.sq + (self.po if p > 0 else 0.0)

    def decode_run_s(self, decode_seqs, context_tokens, steps, *, mode: str = "sum", interference: float = 0.0) -> float:
        """:meth:`StepTime.decode_run_s` on floats."""
        d, n = float(decode_seqs), float(steps)
        if d <= 0 or n <= 0:
            return 0.0
        bmb = d / self.pp if d > self.pp else 1.0
        weights = min(self.w, bmb * self.wa)
        gemm = bmb * self.dc + self.off
        a0 = bmb * (float(context_tokens) / d) * self.kv  # KV read of the first iteration
        b = bmb * self.kv  # its growth per iteration
        fixed = self.cp + bmb * self.ct + self.so + d * self.sq + bmb * self.ew
        if mode == "sum":
            return n * (max(weights, gemm) + fixed - bmb * self.ew + bmb * self.ew + a0) + b * n * (n - 1) / 2.0
        if mode != "overlap":
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        k = 1.0 + interference
        m0 = weights + a0 + bmb * self.ew  # memory side of the first iteration
        other = fixed - bmb * self.ew
        if m0 >= gemm:
            first = 0.0
        elif b <= 0:
            return n * (gemm * k + other)
        else:
            first = float(math.ceil((gemm - m0) / b))
        c = min(n, first)  # compute-bound iterations
        rest = n - c  # memory-bound iterations, indices first .. n-1
        mem = rest * m0 + b * (first + n - 1) * rest / 2.0 if rest > 0 else 0.0
        return (c * gemm + mem) * k + n * other
