"""Output-length sampling (BlendServe §4.3): serve a small random sample first, estimate the rest.

* **Sample**: each request independently with probability ``p_s`` (default 1 %, the paper's value),
  from a seeded ``numpy.random.Generator``, **topped up to at least ``min_per_prefix`` (16) random
  requests of every root child** (top-level prefix: in the generated workloads, one class's system
  prompt). The top-up is a choice of this implementation: at 1 % a class of a few hundred requests
  (the memory-heavy class of a 100k-request paper trace has ~280) draws 0–3 samples; with none it
  borrows the other classes' mean (a 16K-token output estimated at 15 tokens puts the class at the
  wrong end of the blend), with one or two its E[d²] — which sets the batch density and the memory
  side's slots — can be off by 2× (one 24K sample for a 16K mean). Extra samples of a rare class
  cost little time: they decode side by side, and the warm-up lasts as long as its longest sample
  anyway. The sampled requests are served for real before anything else (they count toward the
  makespan and their outputs go to the user).
* **Estimate** for an unsampled request: the mean sampled output length of the **nearest ancestor
  subtree that holds a sample** (its own leaf's parent first, then up to the root). The paper's
  "sibling fallback" (use the sibling subtree's mean when a subtree has no samples) is the parent
  level of this rule: the parent's subtree mean is the mean over the siblings' samples. When the
  nearest sampled ancestor holds several sibling subtrees with samples, their samples are pooled
  (weighted by sample count) rather than one sibling being picked.
* A sampled request's estimate is its observed output.
* The same rule also gives each request the **second moment** E[d²] of the outputs of its nearest
  sampled ancestor (``second_moment=True``): the dual scan sizes a side's slots by
  E[d²]/(2·E[d]) (the mean KV a slot holds when starts are staggered, by Little's law), which is
  the paper's d/2 when all outputs are equal.

Vectorised: per-node sample counts and sums are subtree sums over the pre-order; the nearest
sampled ancestor is found by pointer jumping (log₂ depth passes).
"""
from __future__ import annotations

import numpy as np

from .tree import PrefixTree

DEFAULT_SAMPLE_FRACTION = 0.01
DEFAULT_MIN_PER_PREFIX = 16


def draw_sample(tree: PrefixTree, fraction: float, rng: np.random.Generator,
                min_per_prefix: int = DEFAULT_MIN_PER_PREFIX) -> np.ndarray:
    """Request ids of the sample (sorted): each request with probability ``fraction``, topped up to
    ``min_per_prefix`` per root child (module docstring)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"sample fraction must be in (0, 1], got {fraction}")
    n = tree.num_requests
    pick = np.zeros(n, dtype=bool)
    present = tree.dfs_order
    pick[present] = rng.random(len(present)) < fraction
    lo, hi = tree.leaf_range
    for u in np.flatnonzero(tree.parent == 0):
        reqs = present[lo[u]:hi[u]]
        short = min(max(min_per_prefix, 1), len(reqs)) - int(pick[reqs].sum())
        if short > 0:
            pick[rng.choice(reqs[~pick[reqs]], size=short, replace=False)] = True
    return np.flatnonzero(pick)


def estimate_outputs(tree: PrefixTree, sampled: np.ndarray, observed: np.ndarray, *, second_moment: bool = False):
    """Estimated output length of every request (float), from the outputs ``observed`` of ``sampled``;
    with ``second_moment``, also the estimated E[d²] of every request: ``(mean, second)``."""
    n = tree.num_requests
    sampled = np.asarray(sampled, dtype=np.int64)
    if len(sampled) == 0:
        raise ValueError("at least one sampled request is needed")
    cnt = np.zeros(n)
    tot = np.zeros(n)
    obs = np.asarray(observed, dtype=float)
    cnt[sampled] = 1.0
    tot[sampled] = obs
    c = tree.subtree_sum(cnt)
    s = tree.subtree_sum(tot)
    # nearest ancestor-or-self with a sample: pointer jumping on "go to parent while empty"
    nxt = np.where(c > 0, np.arange(tree.num_nodes), tree.parent)
    nxt[0] = 0  # the root always holds every sample
    while True:
        jumped = nxt[nxt]
        if np.array_equal(jumped, nxt):
            break
        nxt = jumped
    leaf = np.maximum(tree.leaf, 0)
    est = (s[nxt] / c[nxt])[leaf]
    est[sampled] = obs
    if not second_moment:
        return est
    sq = np.zeros(n)
    sq[sampled] = obs * obs
    est2 = (tree.subtree_sum(sq)[nxt] / c[nxt])[leaf]
    est2[sampled] = obs * obs
    return est, est2
