"""The prefix tree of an offline batch: a compressed trie (radix tree) over the prompts.

Every request is a **leaf** of its own (a prompt that is a prefix of another, or a duplicate,
gets a leaf of zero tokens under the node where it ends); an internal node is a token segment
that at least two requests share (the root, node 0, holds no tokens). Nodes are numbered in
**pre-order** (DFS, children in sibling order), so the subtree of node n is the id range
``[n, n + size[n])`` and a DFS order of the requests is the leaves in id order: every subtree
is contiguous in it by construction.

Per node (numpy arrays, one entry per node):

=================  ==============================================================================
``parent``         parent node (−1 at the root)
``seg_len``        tokens of the node's own segment
``depth``          tokens from the root to the end of the node (the prefix length it completes)
``level``          edges from the root
``size``           nodes in the subtree (itself included)
``request``        request id at a leaf, −1 elsewhere
=================  ==============================================================================

Shared-prefix accounting (:attr:`PrefixTree.sharing`): a subtree R whose requests hold P_R prompt
tokens in all, served one after another in DFS order with the prefix above R computed once, computes
``depth[parent(R)] + U_R`` tokens, where U_R is the sum of ``seg_len`` over R's nodes; its sharing
ratio is s_R = 1 − (depth[parent(R)] + U_R) / P_R. At the root this is the tree's optimum, the
prefix-sharing ratio a DFS order reaches with a cache that holds one root-to-leaf path
(BlendServe's "optimal" sharing). A leaf has s = 0.

Two builders (:func:`build_tree`): from a segment description (vectorised: one ``lexsort`` of the
N × K id matrix, run starts become nodes, single-child chains are contracted — no per-token work,
1 M requests in a few seconds) and from token-id arrays (sorted as big-endian bytes, longest
common prefixes of neighbours, one stack pass; a Python loop per request, meant for ≤ ~10⁵ prompts).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...errors import InputError
from .requests import OfflineRequests


@dataclass(frozen=True, eq=False)
class PrefixTree:
    """A compressed prefix tree in pre-order; see the module docstring for the arrays."""

    parent: np.ndarray
    seg_len: np.ndarray
    depth: np.ndarray
    level: np.ndarray
    size: np.ndarray
    request: np.ndarray
    leaf: np.ndarray  # node of every request (length N)

    # ---- shape ----------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return len(self.parent)

    @property
    def num_requests(self) -> int:
        return len(self.leaf)

    @cached_property
    def leaf_nodes(self) -> np.ndarray:
        """Leaf node ids in pre-order."""
        return np.flatnonzero(self.request >= 0)

    @cached_property
    def dfs_order(self) -> np.ndarray:
        """Request ids in DFS (pre-order) order: every subtree contiguous, siblings in sibling order."""
        return self.request[self.leaf_nodes]

    @cached_property
    def children_count(self) -> np.ndarray:
        return np.bincount(self.parent[1:], minlength=self.num_nodes)

    @cached_property
    def leaf_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per node: its subtree's requests are ``dfs_order[lo:hi]``."""
        ids = np.arange(self.num_nodes)
        return (np.searchsorted(self.leaf_nodes, ids), np.searchsorted(self.leaf_nodes, ids + self.size))

    # ---- subtree sums ---------------------------------------------------------------------
    def subtree_sum(self, per_request) -> np.ndarray:
        """Per node, the sum of a per-request quantity over the requests of its subtree."""
        v = np.asarray(per_request, dtype=float)[self.dfs_order]
        cs = np.concatenate([[0.0], np.cumsum(v)])
        lo, hi = self.leaf_range
        return cs[hi] - cs[lo]

    def subtree_node_sum(self, per_node) -> np.ndarray:
        """Per node, the sum of a per-node quantity over its subtree (itself included)."""
        cs = np.concatenate([[0.0], np.cumsum(np.asarray(per_node, dtype=float))])
        ids = np.arange(self.num_nodes)
        return cs[ids + self.size] - cs[ids]

    @cached_property
    def num_requests_below(self) -> np.ndarray:
        """Requests in each node's subtree."""
        lo, hi = self.leaf_range
        return hi - lo

    @cached_property
    def prompt_tokens_below(self) -> np.ndarray:
        """P_R: prompt tokens of the requests in each subtree (full prompts)."""
        return self.subtree_sum(self.depth[np.maximum(self.leaf, 0)])  # absent requests (−1) are never read

    @cached_property
    def unique_tokens_below(self) -> np.ndarray:
        """U_R: tokens of the segments inside each subtree (each counted once)."""
        return self.subtree_node_sum(self.seg_len)

    @cached_property
    def computed_tokens_below(self) -> np.ndarray:
        """Tokens a subtree computes when served alone in DFS order: depth[parent] + U_R."""
        return (self.depth - self.seg_len) + self.unique_tokens_below

    @cached_property
    def sharing(self) -> np.ndarray:
        """s_R = 1 − computed / prompt tokens of each subtree (0 where the subtree has no prompt tokens)."""
        p = self.prompt_tokens_below
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, 1.0 - self.computed_tokens_below / np.where(p > 0, p, 1.0), 0.0)

    @property
    def optimal_sharing(self) -> float:
        """The tree's optimum: the sharing ratio of a DFS order (the root's s_R)."""
        return float(self.sharing[0])

    # ---- paths ----------------------------------------------------------------------------
    def path(self, r: int) -> list[int]:
        """Nodes from the root's child down to request r's leaf (root excluded)."""
        out = []
        n = int(self.leaf[r])
        parent = self.parent
        while n > 0:
            out.append(n)
            n = int(parent[n])
        out.reverse()
        return out

    def reordered(self, key: np.ndarray) -> tuple["PrefixTree", np.ndarray]:
        """The same tree with every node's children sorted by ``key`` ascending (ties: current order).

        Returns the new tree and ``pos`` (old node id -> new node id)."""
        return _from_parent(self.parent, self.seg_len, self.request, key=np.asarray(key, dtype=float),
                            num_requests=self.num_requests)

    def with_parents(self, parent: np.ndarray, seg_len: np.ndarray) -> tuple["PrefixTree", np.ndarray]:
        """A tree with changed parent links and segment lengths (same requests), renumbered in
        pre-order with siblings kept in their current relative order; returns (tree, old -> new)."""
        return _from_parent(np.asarray(parent), np.asarray(seg_len), self.request,
                            key=np.arange(self.num_nodes, dtype=float), num_requests=self.num_requests)

    def restricted(self, keep_requests) -> "PrefixTree":
        """The tree of a subset of the requests (a boolean mask over request ids): empty subtrees are
        dropped and single-child chains contracted; request ids are unchanged (``leaf`` is −1 for the
        others, and :attr:`dfs_order` lists only the kept ones)."""
        keep = np.asarray(keep_requests, dtype=bool)
        leaf_kept = np.zeros(self.num_nodes, dtype=bool)
        leaf_kept[self.leaf[keep & (self.leaf >= 0)]] = True
        alive = self.subtree_node_sum(leaf_kept) > 0
        alive[0] = True
        request = np.where(leaf_kept, self.request, -1)
        return _contract(self.parent, self.depth, request, alive, self.num_requests)


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------
def build_tree(requests: OfflineRequests) -> PrefixTree:
    """The prefix tree of a batch (from its segment description, or from its token ids)."""
    if requests.segment_ids is not None:
        return _from_segments(requests.segment_ids, requests.segment_tokens)
    return _from_tokens(requests.tokens)


def _levels_and_sizes(parent: np.ndarray, seg_len: np.ndarray):
    """level, depth (tokens) and subtree size of any rooted tree given by parent links (root 0)."""
    n = len(parent)
    level = np.zeros(n, dtype=np.int64)
    depth = seg_len.astype(np.int64).copy()
    a = parent.copy()
    while True:
        up = a >= 0
        if not up.any():
            break
        level += up
        depth[up] += seg_len[a[up]]
        a = np.where(up, parent[np.maximum(a, 0)], -1)
    size = np.ones(n, dtype=np.int64)
    if n > 1:
        by_level = np.argsort(level[1:], kind="stable") + 1
        lv = level[by_level]
        cuts = np.flatnonzero(np.diff(lv)) + 1
        for idx in reversed(np.split(by_level, cuts)):
            size += np.bincount(parent[idx], weights=size[idx], minlength=n).astype(np.int64)
    return level, depth, size


def _from_parent(parent, seg_len, request, *, key, num_requests) -> tuple[PrefixTree, np.ndarray]:
    """Renumber any rooted tree (node 0 = root) in pre-order, children sorted by ``key`` ascending."""
    parent = np.asarray(parent, dtype=np.int64)
    seg_len = np.asarray(seg_len, dtype=np.int64)
    request = np.asarray(request, dtype=np.int64)
    n = len(parent)
    level, depth, size = _levels_and_sizes(parent, seg_len)
    kids = np.arange(1, n)
    ch = kids[np.lexsort((kids, key[kids], parent[kids]))]  # by parent, then key, then id
    s = size[ch]
    excl = np.cumsum(s) - s
    start = np.ones(len(ch), dtype=bool)
    start[1:] = parent[ch[1:]] != parent[ch[:-1]]
    base = np.maximum.accumulate(np.where(start, np.arange(len(ch)), 0))
    offset = np.zeros(n, dtype=np.int64)
    offset[ch] = excl - excl[base]
    pos = np.zeros(n, dtype=np.int64)
    by_level = np.argsort(level, kind="stable")
    lv = level[by_level]
    cuts = np.flatnonzero(np.diff(lv)) + 1
    for idx in np.split(by_level, cuts)[1:]:
        pos[idx] = pos[parent[idx]] + 1 + offset[idx]
    perm = np.empty(n, dtype=np.int64)
    perm[pos] = np.arange(n)
    new_parent = np.where(parent[perm] >= 0, pos[np.maximum(parent[perm], 0)], -1)
    req = request[perm]
    leaf = np.full(num_requests, -1, dtype=np.int64)
    is_leaf = req >= 0
    leaf[req[is_leaf]] = np.flatnonzero(is_leaf)
    tree = PrefixTree(parent=new_parent, seg_len=seg_len[perm], depth=depth[perm], level=level[perm],
                      size=size[perm], request=req, leaf=leaf)
    return tree, pos


def _from_segments(ids: np.ndarray, lens: np.ndarray) -> PrefixTree:
    n_req, k_cols = ids.shape
    present = (ids >= 0) & (lens > 0)
    ids_eff = np.where(present, ids, -1)
    keys = [np.arange(n_req)] + [ids_eff[:, k] for k in reversed(range(k_cols))]
    order = np.lexsort(keys)
    S = ids_eff[order]
    P = present[order]
    L = lens[order] * P
    diff = np.ones_like(P)
    if n_req > 1:
        diff[1:] = S[1:] != S[:-1]
    changed = np.logical_or.accumulate(diff, axis=1)
    new = np.concatenate([P & changed, np.ones((n_req, 1), dtype=bool)], axis=1)  # + a leaf column
    present_f = np.concatenate([P, np.ones((n_req, 1), dtype=bool)], axis=1)
    L_f = np.concatenate([L, np.zeros((n_req, 1), dtype=np.int64)], axis=1)
    L_f[:, -1] = 0
    nid = np.cumsum(new.ravel()).reshape(new.shape)  # node ids from 1 (root = 0), row-major = pre-order
    node_at = np.maximum.accumulate(np.where(new, nid, 0), axis=0)
    depth_at = np.cumsum(L_f, axis=1)
    n_nodes = int(nid[-1, -1]) + 1
    par_at = np.zeros_like(node_at)
    last = np.zeros(n_req, dtype=np.int64)
    for k in range(k_cols + 1):
        par_at[:, k] = last
        last = np.where(present_f[:, k], node_at[:, k], last)
    parent = np.full(n_nodes, -1, dtype=np.int64)
    seg_len = np.zeros(n_nodes, dtype=np.int64)
    depth = np.zeros(n_nodes, dtype=np.int64)
    request = np.full(n_nodes, -1, dtype=np.int64)
    ids_new = nid[new]
    parent[ids_new] = par_at[new]
    seg_len[ids_new] = L_f[new]
    depth[ids_new] = depth_at[new]
    request[nid[:, -1]] = order
    # a node's id must name one segment length: every row through it must agree
    bad = present_f & (seg_len[node_at] != L_f)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise InputError(None, f"segment_tokens[{order[i]}, {k}]",
                         f"segment id {S[i, k]} has length {L_f[i, k]} here but {seg_len[node_at[i, k]]} elsewhere "
                         "under the same prefix")
    return _contract(parent, depth, request, np.ones(n_nodes, dtype=bool), n_req)


def _contract(parent, depth, request, alive, num_requests) -> PrefixTree:
    """Keep the ``alive`` nodes (closed under ancestors, in pre-order) and contract every chain of
    nodes with one alive child and no request of their own into that child."""
    n_nodes = len(parent)
    pa = np.where(alive, parent, -1)
    nchild = np.bincount(pa[1:][pa[1:] >= 0], minlength=n_nodes)
    kept = alive & ~((request < 0) & (nchild == 1))
    kept[0] = True
    a = parent.copy()
    while True:
        hop = (a >= 0) & ~kept[np.maximum(a, 0)]
        if not hop.any():
            break
        a = np.where(hop, parent[np.maximum(a, 0)], a)
    newid = np.cumsum(kept) - 1
    keep = np.flatnonzero(kept)
    anc = a[keep]
    parent_k = np.where(anc >= 0, newid[np.maximum(anc, 0)], -1)
    depth_k = depth[keep]
    seg_k = depth_k - np.where(anc >= 0, depth[np.maximum(anc, 0)], 0)
    req_k = request[keep]
    level, _, size = _levels_and_sizes(parent_k, seg_k)
    leaf = np.full(num_requests, -1, dtype=np.int64)
    is_leaf = req_k >= 0
    leaf[req_k[is_leaf]] = np.flatnonzero(is_leaf)
    return PrefixTree(parent=parent_k, seg_len=seg_k, depth=depth_k, level=level, size=size, request=req_k, leaf=leaf)


def _from_tokens(tokens: list[np.ndarray]) -> PrefixTree:
    n_req = len(tokens)
    keys = [np.asarray(t, dtype=">u8").tobytes() for t in tokens]  # big-endian: byte order = token order
    order = sorted(range(n_req), key=keys.__getitem__)
    parent = [-1]
    depth = [0]
    request = [-1]
    rank = [-1]
    stack = [0]
    eff = [0.0]  # effective depth of stacked nodes: a leaf counts half a token deeper (its terminator)
    prev = None
    for i, r in enumerate(order):
        t = tokens[r]
        if prev is None:
            lcp = 0
        else:
            m = min(len(prev), len(t))
            eq = prev[:m] == t[:m]
            lcp = m if eq.all() else int(np.argmin(eq))
        last = -1
        while eff[-1] > lcp:
            last = stack.pop()
            eff.pop()
        top = stack[-1]
        if depth[top] < lcp:  # split the last popped edge at depth lcp
            new = len(parent)
            parent.append(top)
            depth.append(lcp)
            request.append(-1)
            rank.append(rank[last])
            parent[last] = new
            stack.append(new)
            eff.append(float(lcp))
            top = new
        leaf = len(parent)
        parent.append(top)
        depth.append(len(t))
        request.append(r)
        rank.append(i)
        stack.append(leaf)
        eff.append(len(t) + 0.5)
        prev = t
    parent_a = np.asarray(parent, dtype=np.int64)
    depth_a = np.asarray(depth, dtype=np.int64)
    seg = depth_a - np.where(parent_a >= 0, depth_a[np.maximum(parent_a, 0)], 0)
    seg[0] = 0
    key = np.asarray(rank, dtype=float)
    tree, _ = _from_parent(parent_a, seg, np.asarray(request, dtype=np.int64), key=key, num_requests=n_req)
    return tree
