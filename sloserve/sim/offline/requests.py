"""An offline batch: every request's prompt (its prefix structure) and its true output length.

Two ways to give prompts:

* **segments** (``segment_ids``, ``segment_tokens``: N × K integer matrices) — a prefix-structured
  synthetic description: column k is the k-th block of the prompt (system prompt, few-shot block,
  unique question, ...). Two prompts share their first j blocks exactly when their ids agree in the
  first j columns; block contents are otherwise unrelated (two different ids share no tokens). An
  id of −1 (or a length of 0) means the prompt has no block in that column. This is what the
  workload generator makes and what scales to millions of requests.
* **tokens** (a list of 1-D integer arrays) — real token ids; the tree is then a token-level radix
  trie (``tree.build_tree`` sorts and compares the arrays).

``output_tokens`` are the true output lengths. The engine uses them to decide when a request
finishes; orders never see them except for the requests they sample and serve first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError


@dataclass(frozen=True, eq=False)
class OfflineRequests:
    """N requests known at t = 0 (arrays indexed by request id 0..N−1)."""

    output_tokens: np.ndarray  # int64 (N,), ≥ 1
    segment_ids: np.ndarray | None = None  # int64 (N, K), −1 = no block
    segment_tokens: np.ndarray | None = None  # int64 (N, K), tokens of each block
    tokens: list[np.ndarray] | None = None  # alternative to segments: token ids per prompt
    klass: np.ndarray | None = None  # optional class label per request (str), for reporting
    meta: dict = field(default_factory=dict)  # e.g. the generator's parameters

    def __post_init__(self):
        out = np.asarray(self.output_tokens)
        if out.ndim != 1 or len(out) == 0:
            raise InputError(None, "output_tokens", "must be a non-empty 1-D array")
        if not np.issubdtype(out.dtype, np.integer) or (out < 1).any():
            raise InputError(None, "output_tokens", "must be integers >= 1")
        object.__setattr__(self, "output_tokens", out.astype(np.int64))
        n = len(out)
        if (self.tokens is None) == (self.segment_ids is None):
            raise InputError(None, "prompts", "give exactly one of segment_ids/segment_tokens or tokens")
        if self.tokens is not None:
            if len(self.tokens) != n:
                raise InputError(None, "tokens", f"has {len(self.tokens)} prompts for {n} outputs")
            toks = [np.asarray(t, dtype=np.int64).ravel() for t in self.tokens]
            if any((t < 0).any() for t in toks):
                raise InputError(None, "tokens", "token ids must be >= 0")
            object.__setattr__(self, "tokens", toks)
        else:
            ids = np.asarray(self.segment_ids)
            lens = np.asarray(self.segment_tokens)
            if ids.ndim != 2 or ids.shape != lens.shape or ids.shape[0] != n:
                raise InputError(None, "segment_ids", f"segment_ids and segment_tokens must both be ({n}, K)")
            if (lens < 0).any():
                raise InputError(None, "segment_tokens", "must be >= 0")
            object.__setattr__(self, "segment_ids", ids.astype(np.int64))
            object.__setattr__(self, "segment_tokens", np.where(ids >= 0, lens, 0).astype(np.int64))
        if self.klass is not None:
            k = np.asarray(self.klass)
            if k.shape != (n,):
                raise InputError(None, "klass", f"must have one label per request ({n})")
            object.__setattr__(self, "klass", k)

    def __len__(self) -> int:
        return len(self.output_tokens)

    @property
    def prompt_tokens(self) -> np.ndarray:
        """Prompt length of every request [tokens]."""
        if self.tokens is not None:
            return np.fromiter((len(t) for t in self.tokens), dtype=np.int64, count=len(self.tokens))
        return self.segment_tokens.sum(axis=1)

    def total_tokens(self) -> int:
        """Prompt + output tokens of the whole batch (the numerator of throughput)."""
        return int(self.prompt_tokens.sum() + self.output_tokens.sum())

    def subset(self, idx: np.ndarray) -> "OfflineRequests":
        """The requests ``idx`` (renumbered 0..len(idx)−1)."""
        idx = np.asarray(idx)
        return OfflineRequests(
            output_tokens=self.output_tokens[idx],
            segment_ids=None if self.segment_ids is None else self.segment_ids[idx],
            segment_tokens=None if self.segment_tokens is None else self.segment_tokens[idx],
            tokens=None if self.tokens is None else [self.tokens[i] for i in idx],
            klass=None if self.klass is None else self.klass[idx], meta=dict(self.meta))
