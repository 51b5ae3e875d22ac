"""Compute density ρ = compute time / memory time of requests and of prefix-tree nodes (BlendServe §4).

All times come from :class:`~sloserve.problem.steptime.StepTime` (its ``prefill_compute_s``,
``decode_compute_s`` and ``decode_memory_s``); nothing here restates a coefficient formula.
For a request with prompt p and output d (the paper's counting: d decode tokens, the i-th reading
p + i tokens of KV):

* Comp(r) = ``prefill_compute_s(p, p²/2)`` + d · c_dec, where c_dec = ``decode_compute_s(B)/B``
  at a large batch B (one decoded token's FLOP time; divided by the PP depth when PP > 1);
* Mem(r)  = (p·d + d(d+1)/2) · m_kv, where m_kv is the memory time per KV token read.

**Weights** (``weights=``): the paper's Mem(r) counts KV only. By default (``"amortised"``) each KV
token read also carries a share of the weight read of its step, as if the step read a full KV
cache of M tokens: m_kv = ``decode_memory_s(B, M)/M`` = (W + M·k)/M. The factor (1 + W/(M·k)) is
the same for every request, so it changes no ordering; it puts ρ = 1 where a batch that fills the
KV cache is balanced under StepTime's own overlap model (compute = weights + KV traffic), which is
the balance the dual scan aims at. ``"none"`` uses m_kv = k (the paper's definition; ρ is then
larger by that factor: 1.27 for Llama-3.1-8B on one A100-80GB).

Node density with prefix sharing, s_R the subtree's sharing ratio (:attr:`PrefixTree.sharing`),
``discount=``:

* ``"prefill"`` (default): ρ(R) = ((1 − s_R)·ΣPre + ΣDec)/ΣMem — sharing saves prompt FLOP only
  (Pre = the prefill part of Comp, Dec = the decode part);
* ``"paper"``: ρ(R) = (1 − s_R)·ΣComp/ΣMem, the paper's formula, which discounts the decode FLOP too.
  Where a short prompt sits under a long shared prefix the two part ways: an Azure code request of
  49 tokens under a 48-token system prompt, 30 output tokens, has ρ ≈ 12.6 (compute-dense) but the
  paper's formula gives 0.70 (memory-dense), which sends it to the wrong end of the blend. Where
  the paper's workloads live (MMLU: 1–2 output tokens; OpenVid: no sharing) they agree.

The **ideal makespan** of a batch is max(T_comp(s), T_mem), T_comp(s) = (1 − s)·ΣPre + ΣDec with the
default discount ((1 − s)·T_comp with ``"paper"``), T_mem = ΣMem over all requests (true outputs)
and s the tree's optimal sharing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...problem.steptime import StepTime
from .tree import PrefixTree

WEIGHTS = ("amortised", "none")
DISCOUNTS = ("prefill", "paper")
#: batch at which the per-sequence decode coefficients are read (large: no PP micro-batch floor)
REFERENCE_BATCH = 1 << 20


@dataclass(frozen=True)
class DensityModel:
    """Per-request compute and memory times of one configuration (from its StepTime)."""

    steptime: StepTime
    kv_tokens: int  # M: KV capacity of the replica [tokens]
    weights: str = "amortised"
    discount: str = "prefill"

    def __post_init__(self):
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if self.discount not in DISCOUNTS:
            raise ValueError(f"discount must be one of {DISCOUNTS}, got {self.discount!r}")
        if self.kv_tokens <= 0:
            raise ValueError(f"kv_tokens must be > 0, got {self.kv_tokens}")

    @property
    def decode_compute_s_per_token(self) -> float:
        b = float(REFERENCE_BATCH)
        return float(self.steptime.decode_compute_s(b)) / b

    @property
    def memory_s_per_kv_token(self) -> float:
        """m_kv: memory time per KV token read (with the weights' share when ``weights="amortised"``)."""
        b, m = float(REFERENCE_BATCH), float(self.kv_tokens)
        full = float(self.steptime.decode_memory_s(b, m))
        if self.weights == "amortised":
            return full / m
        return (full - float(self.steptime.decode_memory_s(b, 0.0))) / m

    def compute_s(self, prompt_tokens, output_tokens) -> np.ndarray:
        """Comp(r) [s]: prefill FLOP of the whole prompt plus d decode tokens."""
        p = np.asarray(prompt_tokens, dtype=float)
        d = np.asarray(output_tokens, dtype=float)
        return self.steptime.prefill_compute_s(p, p * p / 2.0) + d * self.decode_compute_s_per_token

    def prefill_compute_s(self, prompt_tokens) -> np.ndarray:
        p = np.asarray(prompt_tokens, dtype=float)
        return self.steptime.prefill_compute_s(p, p * p / 2.0)

    def memory_s(self, prompt_tokens, output_tokens) -> np.ndarray:
        """Mem(r) [s]: Σ_{i=1..d} (p + i) KV tokens read, at m_kv each."""
        p = np.asarray(prompt_tokens, dtype=float)
        d = np.asarray(output_tokens, dtype=float)
        return (p * d + d * (d + 1.0) / 2.0) * self.memory_s_per_kv_token

    def request_density(self, prompt_tokens, output_tokens) -> np.ndarray:
        """ρ(r) = Comp(r)/Mem(r) (no sharing)."""
        return self.compute_s(prompt_tokens, output_tokens) / self.memory_s(prompt_tokens, output_tokens)

    def shared_compute_s(self, sharing, prefill_s, compute_s):
        """Compute left when a fraction ``sharing`` of the prompt tokens is served from cache, from the
        prefill part and the whole (sums over the same requests; see ``discount``)."""
        sharing = np.asarray(sharing, dtype=float)
        if self.discount == "paper":
            return (1.0 - sharing) * compute_s
        return compute_s - sharing * prefill_s

    def node_density(self, tree: PrefixTree, prompt_tokens, output_tokens) -> np.ndarray:
        """ρ(R) per node of ``tree`` with its sharing s_R (outputs: true or estimated; see ``discount``)."""
        pre = tree.subtree_sum(self.prefill_compute_s(prompt_tokens))
        comp = tree.subtree_sum(self.compute_s(prompt_tokens, output_tokens))
        mem = tree.subtree_sum(self.memory_s(prompt_tokens, output_tokens))
        return self.shared_compute_s(tree.sharing, pre, comp) / mem

    def ideal_makespan_s(self, tree: PrefixTree, prompt_tokens, output_tokens) -> dict[str, float]:
        """T_comp (no sharing), T_mem, s (the tree's optimum), T_comp(s) and the ideal makespan
        max(T_comp(s), T_mem) [s], and the batch's density T_comp(s)/T_mem."""
        keep = tree.leaf >= 0
        p = np.asarray(prompt_tokens)[keep]
        d = np.asarray(output_tokens)[keep]
        t_pre = float(np.sum(self.prefill_compute_s(p)))
        t_comp = float(np.sum(self.compute_s(p, d)))
        t_mem = float(np.sum(self.memory_s(p, d)))
        s = tree.optimal_sharing
        t_shared = float(self.shared_compute_s(s, t_pre, t_comp))
        return {"t_comp_s": t_comp, "t_mem_s": t_mem, "sharing": s, "t_comp_shared_s": t_shared,
                "ideal_makespan_s": max(t_shared, t_mem), "density": t_shared / t_mem}
