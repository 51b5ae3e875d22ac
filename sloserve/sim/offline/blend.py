"""BlendServe's planning (§4.2–4.3, Algorithms 1–2): layer-wise density sort and conditional node split.

Input: the prefix tree of the requests still to serve (the warm-up sample already removed), prompt
lengths, estimated outputs (``sampling.estimate_outputs``) and a :class:`DensityModel`. Output: a
:class:`BlendPlan`, a leaf sequence from compute-dense (left) to memory-dense (right) with the
group statistics the dual scan (``scan.DualScan``) reads.

1. **Layer sort** (Algorithm 1): at every node the children are sorted by ρ(child), densest first
   (:meth:`PrefixTree.reordered`, one vectorised pass per tree level). Only siblings move, so every
   subtree stays contiguous and the sharing of the DFS order is untouched.
2. **Conditional node split** (Algorithm 2, simplified — its recursion was only partly legible):
   the *units* are the root's children, in density order after the sort. A node X deeper than a
   unit is **out of order** when its own density (ρ with its subtree served alone: the prefix above
   it computed once, exactly :attr:`PrefixTree.sharing`) is more than ``min_misorder`` (2×) above
   the density of the unit to the left of its unit, or below the one to its right (densities with
   the model's sharing discount, ``DensityModel.discount``). Detaching X and
   re-inserting it as a child of the root costs ``depth[parent(X)]`` recomputed prompt tokens (its
   own subtree still shares internally). Candidates are taken greedily by benefit/cost, benefit =
   (ΣComp + ΣMem of X) · ln(misorder factor), skipping any that overlaps (ancestor or descendant of)
   a node already split, while the total cost stays within the threshold t = (1 − keep)·s_DFS·P —
   the extra tokens that keep ≥ ``keep`` (99 %) of the DFS sharing ratio. Densities are recomputed
   and the tree re-sorted after each round; rounds repeat until no candidate fits (the paper's
   C1/C2), at most ``max_rounds`` times. Each request is split at most once. The paper's final
   merge of fragments is not needed here: the dual scan walks leaves, not nodes.
3. **Groups**: the leaf sequence is cut where the parent node changes and every ``group_size``
   leaves; each group carries its mean computed prompt (sharing counted inside the group: the
   parent's prefix once), mean estimated output and density, which is what the dual scan's
   budgets read. Large
   flat groups (one system prompt over 10⁵ chat requests) are thereby refined along the density
   sort of their leaves.

:func:`plan_density` is the ``density`` order: the same estimates and dual scan over requests
sorted by their own ρ(r), ignoring the tree (no prefix care; groups are runs of ``group_size``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .density import DensityModel
from .scan import DualScan
from .tree import PrefixTree


@dataclass(frozen=True, eq=False)
class BlendPlan:
    """A leaf sequence for the dual scan, with per-group statistics (means over the group's requests)."""

    sequence: np.ndarray  # request ids, compute-dense first
    group: np.ndarray  # group id of each position
    group_density: np.ndarray
    group_prompt: np.ndarray  # mean computed (unshared) prompt tokens per request
    group_output: np.ndarray
    group_held: np.ndarray  # E[d²]/(2E[d]) over the group: output KV a staggered slot holds
    root_density: float
    estimate: np.ndarray  # estimated output of every request (by request id)
    planned_sharing: float  # DFS sharing of the planned (split) tree
    dfs_sharing: float  # the tree's optimum before splitting
    num_splits: int
    split_requests: int

    def scan(self, prompt_tokens: np.ndarray, kv_tokens: float) -> DualScan:
        return DualScan(self.sequence, self.group, self.group_density, self.group_prompt, self.group_output,
                        self.root_density, kv_tokens, np.asarray(prompt_tokens).tolist(), self.group_held)


def _groups(keys: np.ndarray, group_size: int) -> np.ndarray:
    """Group id per position: a new group where ``keys`` changes and every ``group_size`` positions of a run."""
    n = len(keys)
    start = np.ones(n, dtype=bool)
    if n > 1:
        start[1:] = keys[1:] != keys[:-1]
    run_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    start |= ((np.arange(n) - run_start) % group_size) == 0
    return np.cumsum(start) - 1


def _group_stats(model, group, prompt, estimate, second, pre, comp, mem, computed):
    """Per group: density (``model``'s sharing discount with s_g), mean computed prompt (1 − s_g)·p̄,
    mean estimated output and E[d²]/(2E[d]), with s_g = 1 − computed/prompt tokens of the group."""
    ng = int(group[-1]) + 1
    cnt = np.bincount(group, minlength=ng)
    sp = np.bincount(group, weights=prompt, minlength=ng)
    sd = np.bincount(group, weights=estimate, minlength=ng)
    sc = np.bincount(group, weights=comp, minlength=ng)
    spre = np.bincount(group, weights=pre, minlength=ng)
    sm = np.bincount(group, weights=mem, minlength=ng)
    scomp = np.bincount(group, weights=computed, minlength=ng)
    s2 = np.bincount(group, weights=second, minlength=ng)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(sp > 0, 1.0 - scomp / np.where(sp > 0, sp, 1.0), 0.0)
    return model.shared_compute_s(share, spre, sc) / sm, scomp / cnt, sd / cnt, s2 / (2.0 * sd)


def layer_sort(tree: PrefixTree, density: np.ndarray) -> PrefixTree:
    """Algorithm 1: children of every node sorted by density, densest first."""
    return tree.reordered(-np.asarray(density, dtype=float))[0]


def _units(tree: PrefixTree) -> np.ndarray:
    """The root child above every node (itself for a root child; 0 for the root)."""
    u = np.where(tree.level > 1, tree.parent, np.arange(tree.num_nodes))
    while True:
        nu = np.where(tree.level[u] > 1, tree.parent[u], u)
        if np.array_equal(nu, u):
            return u
        u = nu


def _split_round(tree: PrefixTree, rho: np.ndarray, work: np.ndarray, frozen: np.ndarray, budget: float,
                 min_misorder: float) -> list[int]:
    """Nodes to detach this round (greedy by benefit/cost within ``budget`` recomputed tokens)."""
    unit = _units(tree)
    roots = np.flatnonzero(tree.parent == 0)  # in sibling (= density) order
    if len(roots) < 2:
        return []
    upos = np.full(tree.num_nodes, -1)
    upos[roots] = np.arange(len(roots))
    ru = rho[roots]
    j = upos[unit]
    left = np.where(j > 0, ru[np.maximum(j - 1, 0)], np.inf)
    right = np.where(j < len(roots) - 1, ru[np.minimum(j + 1, len(roots) - 1)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.maximum(np.where(left < np.inf, rho / left, 0.0), np.where(right > 0, right / rho, 0.0))
    cand = np.flatnonzero((tree.level >= 2) & (factor > min_misorder) & (tree.subtree_sum(frozen) == 0))
    if len(cand) == 0:
        return []
    cost = tree.depth[tree.parent[cand]].astype(float)  # the prefix above X, recomputed once
    benefit = work[cand] * np.log(factor[cand])
    order = np.argsort(-benefit / np.maximum(cost, 1.0), kind="stable")
    chosen: list[int] = []
    covered = np.zeros(tree.num_nodes, dtype=bool)
    spent = 0.0
    for i in order:
        x = int(cand[i])
        c = float(cost[i])
        if spent + c > budget:
            continue
        if covered[x] or covered[x:x + tree.size[x]].any():
            continue
        covered[x:x + tree.size[x]] = True
        chosen.append(x)
        spent += c
    return chosen


def plan_blendserve(tree: PrefixTree, prompt_tokens, estimate, model: DensityModel, *, second_moment=None,
                    keep_sharing: float = 0.99, group_size: int = 256, min_misorder: float = 2.0,
                    max_rounds: int = 4) -> BlendPlan:
    """Layer sort + conditional node split + groups (module docstring) over the requests of ``tree``;
    ``second_moment``: estimated E[d²] per request (default: estimate², i.e. the paper's d/2 slots)."""
    prompt = np.asarray(prompt_tokens, dtype=float)
    est = np.asarray(estimate, dtype=float)
    est2 = est * est if second_moment is None else np.asarray(second_moment, dtype=float)
    comp = model.compute_s(prompt, est)
    pre = model.prefill_compute_s(prompt)
    mem = model.memory_s(prompt, est)
    dfs_sharing = tree.optimal_sharing
    P = float(tree.prompt_tokens_below[0])
    budget = (1.0 - keep_sharing) * dfs_sharing * P

    def density(t):
        return model.shared_compute_s(t.sharing, t.subtree_sum(pre), t.subtree_sum(comp)) / t.subtree_sum(mem)

    t = layer_sort(tree, density(tree))
    frozen = np.zeros(tree.num_requests)
    num_splits = 0
    for _ in range(max_rounds):
        rho = density(t)
        chosen = _split_round(t, rho, t.subtree_sum(comp + mem), frozen, budget, min_misorder)
        if not chosen:
            break
        parent = t.parent.copy()
        seg = t.seg_len.copy()
        for x in chosen:
            budget -= float(t.depth[x] - t.seg_len[x])
            parent[x] = 0
            seg[x] = t.depth[x]
            lo, hi = x, x + t.size[x]
            reqs = t.request[lo:hi]
            frozen[reqs[reqs >= 0]] = 1.0
        num_splits += len(chosen)
        t2, _ = t.with_parents(parent, seg)
        t = layer_sort(t2, density(t2))
    rho = density(t)
    seq = t.dfs_order
    leaves = t.leaf_nodes
    par = t.parent[leaves]
    group = _groups(par, group_size)
    # computed tokens of a group: its leaves' own segments, plus its parent's prefix once
    first = np.ones(len(seq), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    computed = t.seg_len[leaves] + np.where(first, t.depth[par], 0)
    g_rho, g_p, g_d, g_h = _group_stats(model, group, prompt[seq], est[seq], est2[seq], pre[seq], comp[seq],
                                        mem[seq], computed.astype(float))
    return BlendPlan(sequence=seq, group=group, group_density=g_rho, group_prompt=g_p, group_output=g_d,
                     group_held=g_h, root_density=float(rho[0]), estimate=est, planned_sharing=t.optimal_sharing,
                     dfs_sharing=dfs_sharing, num_splits=num_splits, split_requests=int(frozen.sum()))


def plan_density(tree: PrefixTree, prompt_tokens, estimate, model: DensityModel, *, second_moment=None,
                 group_size: int = 256) -> BlendPlan:
    """The ``density`` order: requests of ``tree`` sorted by ρ(r) (ties in DFS order), dual-scanned."""
    prompt = np.asarray(prompt_tokens, dtype=float)
    est = np.asarray(estimate, dtype=float)
    est2 = est * est if second_moment is None else np.asarray(second_moment, dtype=float)
    dfs = tree.dfs_order
    comp = model.compute_s(prompt, est)
    mem = model.memory_s(prompt, est)
    seq = dfs[np.argsort(-(comp[dfs] / mem[dfs]), kind="stable")]
    group = _groups(np.zeros(len(seq), dtype=np.int64), group_size)
    g_rho, g_p, g_d, g_h = _group_stats(model, group, prompt[seq], est[seq], est2[seq], comp[seq], comp[seq],
                                        mem[seq], prompt[seq])
    return BlendPlan(sequence=seq, group=group, group_density=g_rho, group_prompt=g_p, group_output=g_d,
                     group_held=g_h, root_density=float(comp[dfs].sum() / mem[dfs].sum()), estimate=est,
                     planned_sharing=float("nan"), dfs_sharing=tree.optimal_sharing, num_splits=0, split_requests=0)
