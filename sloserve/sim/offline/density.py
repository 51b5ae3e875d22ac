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

Node density with prefix sharing (the paper's formula): ρ(R) = (1 − s_R)·ΣComp/ΣMem over the
requests of subtree R, s_R the subtree's sharing ratio (:attr:`PrefixTree.sharing`). Like the
paper this discounts the decode FLOP by s_R too, although sharing saves only prefill work; the
error is small where it matters (sharing is high only for short-output requests).

The **ideal makespan** of a batch is max((1 − s)·T_comp, T_mem) with T_comp = ΣComp, T_mem = ΣMem
over all requests (true outputs) and s the tree's optimal sharing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...problem.steptime import StepTime
from .tree import PrefixTree

WEIGHTS = ("amortised", "none")
#: batch at which the per-sequence decode coefficients are read (large: no PP micro-batch floor)
REFERENCE_BATCH = 1 << 20


@dataclass(frozen=True)
class DensityModel:
    """Per-request compute and memory times of one configuration (from its StepTime)."""

    steptime: StepTime
    kv_tokens: int  # M: KV capacity of the replica [tokens]
    weights: str = "amortised"

    def __post_init__(self):
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
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

    def node_density(self, tree: PrefixTree, prompt_tokens, output_tokens) -> np.ndarray:
        """ρ(R) = (1 − s_R)·ΣComp/ΣMem per node of ``tree`` (outputs: true or estimated)."""
        comp = tree.subtree_sum(self.compute_s(prompt_tokens, output_tokens))
        mem = tree.subtree_sum(self.memory_s(prompt_tokens, output_tokens))
        return (1.0 - tree.sharing) * comp / mem

    def ideal_makespan_s(self, tree: PrefixTree, prompt_tokens, output_tokens) -> dict[str, float]:
        """T_comp, T_mem, s (the tree's optimum) and the ideal makespan max((1 − s)·T_comp, T_mem) [s]."""
        t_comp = float(np.sum(self.compute_s(prompt_tokens, output_tokens)))
        t_mem = float(np.sum(self.memory_s(prompt_tokens, output_tokens)))
        s = tree.optimal_sharing
        return {"t_comp_s": t_comp, "t_mem_s": t_mem, "sharing": s,
                "ideal_makespan_s": max((1.0 - s) * t_comp, t_mem), "density": (1.0 - s) * t_comp / t_mem}
