"""Prefix-tree invariants: every request is a leaf, DFS orders keep subtrees contiguous, and the
sharing a DFS order reaches through the radix cache is the tree's optimum."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.errors import InputError
from sloserve.sim.offline.cache import replay_sharing
from sloserve.sim.offline.requests import OfflineRequests
from sloserve.sim.offline.tree import build_tree

from .conftest import as_tokens, random_segments


def _check_invariants(tree, req):
    n = len(req)
    leaves = tree.request >= 0
    assert leaves.sum() == n and sorted(tree.request[leaves]) == list(range(n))
    assert np.array_equal(leaves[1:], tree.children_count[1:] == 0)  # requests are exactly the leaves
    assert (tree.children_count[1:][~leaves[1:]] >= 2).all()  # compressed: no single-child chains
    np.testing.assert_array_equal(tree.depth[tree.leaf], req.prompt_tokens)
    ids = np.arange(tree.num_nodes)
    assert (tree.parent[1:] < ids[1:]).all()  # pre-order
    assert (tree.depth[1:] == tree.depth[tree.parent[1:]] + tree.seg_len[1:]).all()


@pytest.mark.parametrize("seed", range(4))
def test_segment_and_token_builders_agree(seed):
    req = random_segments(300, seed)
    a, b = build_tree(req), build_tree(as_tokens(req))
    for t in (a, b):
        _check_invariants(t, req)
    assert a.num_nodes == b.num_nodes
    assert a.optimal_sharing == pytest.approx(b.optimal_sharing, abs=1e-12)
    np.testing.assert_array_equal(np.sort(a.seg_len), np.sort(b.seg_len))


def test_dfs_order_keeps_every_subtree_contiguous():
    tree = build_tree(random_segments(500, 1))
    pos = np.empty(tree.num_requests, dtype=np.int64)
    pos[tree.dfs_order] = np.arange(tree.num_requests)
    for n in range(tree.num_nodes):
        reqs = tree.request[n:n + tree.size[n]]
        p = np.sort(pos[reqs[reqs >= 0]])
        assert p[-1] - p[0] + 1 == len(p)


@pytest.mark.parametrize("seed", range(3))
def test_dfs_reaches_the_optimum_and_other_orders_do_not_beat_it(seed):
    req = random_segments(400, seed)
    tree = build_tree(req)
    longest = int(req.prompt_tokens.max())
    assert replay_sharing(tree, tree.dfs_order, longest) == pytest.approx(tree.optimal_sharing, abs=1e-12)
    perm = np.random.default_rng(seed).permutation(len(req))
    assert replay_sharing(tree, perm, longest) < tree.optimal_sharing
    assert replay_sharing(tree, perm, 10 ** 9) == pytest.approx(tree.optimal_sharing, abs=1e-12)


def test_sharing_accounting_by_hand():
    # system prompt 10 shared by 3; block 20 shared by 2 of them; unique suffixes 3, 4, 5; one alone (7 + 2)
    ids = np.array([[0, 5, 100], [0, 5, 101], [0, -1, 102], [1, -1, 103]])
    lens = np.array([[10, 20, 3], [10, 20, 4], [10, 0, 5], [7, 0, 2]])
    tree = build_tree(OfflineRequests(output_tokens=np.ones(4, dtype=int), segment_ids=ids, segment_tokens=lens))
    prompt = 33 + 34 + 15 + 9
    unique = 10 + 20 + 3 + 4 + 5 + 9
    assert tree.optimal_sharing == pytest.approx(1 - unique / prompt)
    sys0 = tree.parent[tree.leaf[2]]
    assert tree.num_requests_below[sys0] == 3
    assert tree.sharing[sys0] == pytest.approx(1 - (10 + 20 + 3 + 4 + 5) / (33 + 34 + 15))
    assert tree.sharing[tree.leaf[3]] == 0.0


def test_reordering_and_restriction_keep_the_accounting():
    req = random_segments(300, 5)
    tree = build_tree(req)
    key = np.random.default_rng(0).random(tree.num_nodes)
    t2, pos = tree.reordered(key)
    _check_invariants(t2, req)
    assert t2.optimal_sharing == pytest.approx(tree.optimal_sharing)
    kids = np.flatnonzero(t2.parent == 0)
    assert (np.diff(key[np.argsort(pos)][kids]) >= 0).all()  # the root's children in key order
    keep = np.random.default_rng(1).random(len(req)) < 0.5
    sub = tree.restricted(keep)
    direct = build_tree(req.subset(np.flatnonzero(keep)))
    assert sub.optimal_sharing == pytest.approx(direct.optimal_sharing)
    assert sorted(sub.dfs_order) == list(np.flatnonzero(keep))


def test_inconsistent_segment_lengths_are_reported():
    ids = np.array([[0, 100], [0, 101]])
    lens = np.array([[10, 3], [11, 4]])
    with pytest.raises(InputError, match="segment id 0"):
        build_tree(OfflineRequests(output_tokens=np.ones(2, dtype=int), segment_ids=ids, segment_tokens=lens))
