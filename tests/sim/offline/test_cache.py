"""The radix cache: references protect, eviction is LRU over unreferenced cache leaves, and the
budget bounds what stays resident."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.sim.offline.cache import ABSENT, RESIDENT, RadixCache, replay_sharing
from sloserve.sim.offline.requests import OfflineRequests
from sloserve.sim.offline.tree import build_tree

from .conftest import random_segments


def _tree():
    # three system prompts (10, 20, 30 tokens) with two requests each (unique 1 and 2 tokens)
    ids = np.array([[s, 100 + k] for s in range(3) for k in range(2 * s, 2 * s + 2)])
    lens = np.array([[10 * (s + 1), 1 + k % 2] for s in range(3) for k in range(2)])
    return build_tree(OfflineRequests(output_tokens=np.ones(6, dtype=int), segment_ids=ids, segment_tokens=lens))


def _serve(cache, tree, r, now):
    path = tree.path(r)
    cache.lock(path)
    for n in path:
        if cache.state[n] == ABSENT:
            cache.claim(n, r)
            cache.fill(n, now)
    return path


def test_lru_evicts_the_least_recently_released_unreferenced_prefix():
    tree = _tree()
    cache = RadixCache(tree)
    for t, r in enumerate((0, 2, 4)):  # system prompts 0, 1, 2 released at steps 0, 1, 2
        path = _serve(cache, tree, r, t)
        cache.unlock(path, t)
        cache.drop(path[-1], t)
    sys_nodes = [tree.parent[tree.leaf[r]] for r in (0, 2, 4)]
    assert cache.tokens == cache.evictable_tokens == 60
    assert cache.evict(5, now=3) == 10  # whole segments: system prompt 0 (10 tokens), the oldest
    assert [cache.state[n] for n in sys_nodes] == [ABSENT, RESIDENT, RESIDENT]
    path = tree.path(3)
    cache.lock(path)  # re-reference system prompt 1: now it may not go
    assert cache.evictable_tokens == 30
    assert cache.evict(100, now=4) == 30
    assert cache.state[sys_nodes[1]] == RESIDENT and cache.state[sys_nodes[2]] == ABSENT
    assert cache.tokens == 20 and cache.evictable_tokens == 0


def test_a_parent_goes_only_after_its_children():
    ids = np.array([[0, 5, 100], [0, 5, 101], [0, -1, 102]])  # the third keeps "system" a node of its own
    lens = np.array([[10, 20, 3], [10, 20, 4], [10, 0, 6]])
    tree = build_tree(OfflineRequests(output_tokens=np.ones(3, dtype=int), segment_ids=ids, segment_tokens=lens))
    cache = RadixCache(tree)
    path = _serve(cache, tree, 0, 0)
    cache.unlock(path, 0)  # keep the leaf cached too: system, block, leaf all unreferenced
    assert cache.evict(1, now=1) == 3  # the leaf first (the only cache leaf)
    assert cache.evict(1, now=1) == 20  # then the block
    assert cache.evict(1, now=1) == 10
    assert cache.tokens == 0 and cache.evicted_tokens == 33


@pytest.mark.parametrize("seed", range(3))
def test_sharing_grows_with_the_budget(seed):
    req = random_segments(300, seed)
    tree = build_tree(req)
    perm = np.random.default_rng(seed).permutation(len(req))
    longest = int(req.prompt_tokens.max())
    ratios = [replay_sharing(tree, perm, c) for c in (longest, 2 * longest, 5 * longest, 10 ** 9)]
    assert all(a <= b + 1e-12 for a, b in zip(ratios, ratios[1:]))
    assert ratios[-1] == pytest.approx(tree.optimal_sharing)
    with pytest.raises(ValueError, match="cannot hold"):
        replay_sharing(tree, perm, longest - 1)
