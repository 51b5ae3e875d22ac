"""The time of one engine iteration, from the compiled ``config_perf`` table alone.

An iteration (one forward pass of a replica) processes ``prefill_tokens`` prompt tokens — whose
attention covers ``attention_pairs`` (query token, earlier token) pairs, h²/2 for a whole prompt
of h tokens — and one token for each of ``decode_seqs`` running sequences, whose contexts add up
to ``context_tokens``. The coefficients are those of the two-phase performance model
(:func:`sloserve.model.perf.step_coefficients`); this module only evaluates them, so the
simulator, the schedulers and the offline batcher share one copy of the formulas, and a test
checks that a lone prompt takes each route's ``ttft_s`` and a design batch each route's ``tpot_s``.

Two ways to combine the work of a mixed iteration (``mode``):

``sum``      prefill compute, then the decode roofline max(memory, compute), serialised, plus the
             pass's communication and fixed overheads — vLLM-style kernels, the performance model's own;
``overlap``  compute (prefill + decode FLOP) and memory traffic (weights + KV) overlap inside the
             pass (NanoFlow-style): max(compute, memory) · (1 + interference) plus communication and
             overheads. With ``interference = 0`` this is the ideal overlap.

PP: with m pipeline stages, m micro-batches are in flight; a decode iteration of d sequences
advances each of them by one token in the time one micro-batch of max(d/m, 1) sequences takes to
cross every stage, as in :func:`sloserve.model.perf.decode_step_s`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the coefficient columns of config_perf, all in seconds (per pass, per token, per sequence or per pair)
COEFFICIENTS = ("weight_read_s", "active_weight_read_s", "kv_read_s_per_token", "decode_compute_s_per_seq",
                "prefill_compute_s_per_token", "attention_compute_s_per_pair", "comm_s_per_pass",
                "comm_s_per_token", "step_overhead_s", "prefill_overhead_s")
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
    attention_compute_s_per_pair: float | np.ndarray
    comm_s_per_pass: float | np.ndarray
    comm_s_per_token: float | np.ndarray
    step_overhead_s: float | np.ndarray
    prefill_overhead_s: float | np.ndarray

    @classmethod
    def from_table(cls, config_perf: pd.DataFrame, configs: pd.DataFrame | None = None,
                   config: str | None = None) -> "StepTime":
        """From the ``config_perf`` table (and ``configs`` for ``pp``); one row when ``config`` is given."""
        t = config_perf
        if configs is not None and "pp" not in t:
            t = t.merge(configs[["config", "pp"]], on="config", how="left")
        if config is not None:
            row = t.loc[t["config"] == config]
            if len(row) != 1:
                raise KeyError(f"configuration {config!r} is not in config_perf")
            return cls(**{k: float(row[k].iloc[0]) for k in ("pp",) + COEFFICIENTS})
        return cls(**{k: t[k].to_numpy(dtype=float) for k in ("pp",) + COEFFICIENTS})

    # ---- phases -------------------------------------------------------------------------------
    def micro_batch(self, decode_seqs):
        """Sequences per micro-batch: max(d/m, 1) (0 when there is nothing to decode)."""
        d = np.asarray(decode_seqs, dtype=float)
        return np.where(d > 0, np.maximum(d / self.pp, 1.0), 0.0)

    def prefill_compute_s(self, prefill_tokens, attention_pairs):
        """FLOP time of the prompt tokens of one pass [s]."""
        return (np.asarray(prefill_tokens, dtype=float) * self.prefill_compute_s_per_token
                + np.asarray(attention_pairs, dtype=float) * self.attention_compute_s_per_pair)

    def decode_memory_s(self, decode_seqs, context_tokens):
        """Weight and KV traffic of the decode part of one pass [s] (weights are read once per pass)."""
        d = np.asarray(decode_seqs, dtype=float)
        bmb = self.micro_batch(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            ctx = np.where(d > 0, np.asarray(context_tokens, dtype=float) / np.where(d > 0, d, 1.0), 0.0)
        weights = np.minimum(self.weight_read_s, bmb * self.active_weight_read_s)
        return np.where(d > 0, weights + bmb * ctx * self.kv_read_s_per_token, 0.0)

    def decode_compute_s(self, decode_seqs):
        """FLOP time of the decode tokens of one pass [s]."""
        return self.micro_batch(decode_seqs) * self.decode_compute_s_per_seq

    def comm_s(self, prefill_tokens, decode_seqs):
        """TP all-reduces and PP hand-offs of one pass carrying these tokens [s]."""
        return self.comm_s_per_pass + (np.asarray(prefill_tokens, dtype=float) + self.micro_batch(decode_seqs)) \
            * self.comm_s_per_token

    # ---- one iteration ------------------------------------------------------------------------
    def step_s(self, prefill_tokens=0, attention_pairs=0, decode_seqs=0, context_tokens=0, *, mode: str = "sum",
               interference: float = 0.0):
        """Time of one iteration [s] (broadcasts over arrays); see the module docstring for ``mode``."""
        p = np.asarray(prefill_tokens, dtype=float)
        pre = self.prefill_compute_s(p, attention_pairs)
        mem = self.decode_memory_s(decode_seqs, context_tokens)
        dec_c = self.decode_compute_s(decode_seqs)
        if mode == "sum":
            work = pre + np.maximum(mem, dec_c)
        elif mode == "overlap":
            if interference < 0:
                raise ValueError(f"interference must be >= 0, got {interference}")
            has_decode = np.asarray(decode_seqs, dtype=float) > 0
            # a prefill-only pass still streams the weights once
            mem_all = np.where(has_decode, mem, np.where(p > 0, self.weight_read_s, 0.0))
            work = np.maximum(pre + dec_c, mem_all) * (1.0 + interference)
        else:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return work + self.comm_s(p, decode_seqs) + self.step_overhead_s + np.where(p > 0, self.prefill_overhead_s, 0.0)

    def prefill_s(self, input_tokens, batch=1):
        """A pass prefilling ``batch`` prompts of ``input_tokens`` tokens each, nothing else [s] (= TTFT of a lone prompt)."""
        h = np.asarray(input_tokens, dtype=float)
        b = np.asarray(batch, dtype=float)
        return self.step_s(b * h, b * h * h / 2.0)

    def decode_s(self, batch, context_tokens_per_seq):
        """A pass decoding ``batch`` sequences of mean context ``context_tokens_per_seq`` [s] (= TPOT at that batch)."""
        b = np.asarray(batch, dtype=float)
        return self.step_s(0.0, 0.0, b, b * np.asarray(context_tokens_per_seq, dtype=float))

    def decode_run_s(self, decode_seqs, context_tokens, steps):
        """Total time of ``steps`` consecutive decode-only iterations of the same ``decode_seqs``
        sequences whose contexts add up to ``context_tokens`` at the first and grow by one token per
        sequence per iteration [s] (closed form; equals summing :meth:`step_s` over the iterations).

        Per iteration the work is max(memory, compute): memory grows linearly with the context and
        compute is constant, so the sum splits where memory overtakes compute."""
        d = float(decode_seqs)
        n = np.asarray(steps, dtype=float)
        if d <= 0:
            return np.zeros_like(n)
        k0 = float(context_tokens)
        bmb = float(self.micro_batch(d))
        weights = float(np.minimum(self.weight_read_s, bmb * self.active_weight_read_s))
        a = weights + bmb * (k0 / d) * float(self.kv_read_s_per_token)  # memory of iteration 0
        b = bmb * float(self.kv_read_s_per_token)  # its growth per iteration (+1 token per sequence)
        c = float(self.decode_compute_s(d))
        e = float(self.comm_s(0.0, d)) + float(self.step_overhead_s)
        if a >= c or b <= 0:
            first = 0.0 if a >= c else np.inf  # index of the first memory-bound iteration
        else:
            first = np.ceil((c - a) / b)
        m = np.minimum(n, first)  # compute-bound iterations
        rest = n - m  # memory-bound iterations, indices first .. n-1
        mem = rest * a + b * (np.where(rest > 0, (first + n - 1) * rest / 2.0, 0.0) if np.isfinite(first) else 0.0)
        return m * c + mem + n * e

    def scalar(self) -> "ScalarStepTime":
        """The same model for one configuration on Python floats (a simulator's hot loop)."""
        return ScalarStepTime(self)


class ScalarStepTime:
    """:class:`StepTime` of one configuration evaluated with Python floats instead of numpy arrays —
    the same formulas, ~20× faster per call for a simulator that asks once per iteration; a test
    checks it against the array version on random iterations (``tests/problem/test_steptime.py``)."""

    __slots__ = ("pp", "w", "wa", "kv", "dc", "pc", "ac", "cp", "ct", "so", "po")

    def __init__(self, st: StepTime):
        self.pp = float(st.pp)
        self.w, self.wa, self.kv = float(st.weight_read_s), float(st.active_weight_read_s), float(st.kv_read_s_per_token)
        self.dc, self.pc = float(st.decode_compute_s_per_seq), float(st.prefill_compute_s_per_token)
        self.ac, self.cp, self.ct = float(st.attention_compute_s_per_pair), float(st.comm_s_per_pass), float(st.comm_s_per_token)
        self.so, self.po = float(st.step_overhead_s), float(st.prefill_overhead_s)

    def step_s(self, prefill_tokens=0, attention_pairs=0.0, decode_seqs=0, context_tokens=0, *, mode: str = "sum",
               interference: float = 0.0) -> float:
        d = decode_seqs
        bmb = max(d / self.pp, 1.0) if d > 0 else 0.0
        pre = prefill_tokens * self.pc + attention_pairs * self.ac
        mem = (min(self.w, bmb * self.wa) + bmb * (context_tokens / d) * self.kv) if d > 0 else 0.0
        dec_c = bmb * self.dc
        if mode == "sum":
            work = pre + (mem if mem > dec_c else dec_c)
        elif mode == "overlap":
            if d <= 0:
                mem = self.w if prefill_tokens > 0 else 0.0
            work = max(pre + dec_c, mem) * (1.0 + interference)
        else:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return work + self.cp + (prefill_tokens + bmb) * self.ct + self.so + (self.po if prefill_tokens > 0 else 0.0)

    def decode_run_s(self, decode_seqs, context_tokens, steps) -> float:
        """:meth:`StepTime.decode_run_s` on floats."""
        d = float(decode_seqs)
        n = float(steps)
        if d <= 0 or n <= 0:
            return 0.0
        bmb = max(d / self.pp, 1.0)
        a = min(self.w, bmb * self.wa) + bmb * (float(context_tokens) / d) * self.kv
        b = bmb * self.kv
        c = bmb * self.dc
        e = self.cp + bmb * self.ct + self.so
        if a >= c:
            first = 0.0
        elif b <= 0:
            return n * (c + e)
        else:
            first = math.ceil((c - a) / b)
        m = min(n, first)
        rest = n - m
        mem = rest * a + b * ((first + n - 1) * rest / 2.0) if rest > 0 else 0.0
        return m * c + mem + n * e
