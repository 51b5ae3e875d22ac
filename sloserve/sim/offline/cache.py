"""A radix prefix cache over the nodes of a :class:`~sloserve.sim.offline.tree.PrefixTree`.

SGLang's radix cache at segment granularity: the KV of a tree node (a token segment shared by the
requests below it) is computed once and then read by every request that passes through it while it
is resident. The set of resident nodes is closed under ancestors.

Node states: **absent** (no KV), **pending** (being prefilled by its *owner*, possibly over several
chunked-prefill steps; others that need it wait for it — a prefix shared inside one batch is
computed once), **resident**. A node filled at step t can be read by others from step t + 1 on
(``ready_at``, ``owner`` = who filled it): a forward pass does not attend to KV another sequence
of the same pass is writing.

Reference counts: a running request holds a reference on every node of its path; a referenced
node is never evicted. Eviction is **LRU over unreferenced leaves of the cache** (a node whose
children are all absent): its last-access time is the step at which its last reference was
released; ties are broken by node id. Evicting a node may make its parent evictable. Because a
node is referenced whenever any descendant is, every unreferenced resident node is evictable by
such a cascade, so :attr:`RadixCache.evictable_tokens` is exactly what :meth:`evict` can free.

The cache counts only the tokens of node segments (``tokens``); the caller owns the KV budget
(tokens of private decode KV live outside the cache) and calls :meth:`evict` when it needs room.
Memory is token-granular (SGLang's page size 1), not rounded to blocks.

State is kept in Python lists: the offline engine calls these methods on every admission and
completion, and list indexing is several times faster than numpy scalar access.
"""
from __future__ import annotations

import heapq

from .tree import PrefixTree

ABSENT, PENDING, RESIDENT = 0, 1, 2


class RadixCache:
    """Resident/pending node segments, references and LRU eviction (see the module docstring)."""

    def __init__(self, tree: PrefixTree):
        n = tree.num_nodes
        self.tree = tree
        self.seg = tree.seg_len.tolist()
        self.parent = tree.parent.tolist()
        self.state = [ABSENT] * n
        self.owner = [-1] * n
        self.done = [0] * n  # tokens already prefilled of a pending node
        self.ref = [0] * n
        self.live_children = [0] * n  # pending or resident children
        self.last = [0] * n
        self.ready_at = [-1] * n  # step at which a node became resident
        self.state[0] = RESIDENT  # the root holds no tokens
        self.tokens = 0  # tokens of pending + resident segments
        self.evictable_tokens = 0  # tokens of resident, unreferenced segments
        self._heap: list[tuple[int, int]] = []
        self.evicted_tokens = 0  # total ever evicted

    # ---- references -------------------------------------------------------------------------
    def lock(self, path: list[int]) -> None:
        """A request starts running: reference every node of its path."""
        ref, state, seg = self.ref, self.state, self.seg
        for n in path:
            if ref[n] == 0 and state[n] == RESIDENT:
                self.evictable_tokens -= seg[n]
            ref[n] += 1

    def unlock(self, path: list[int], now: int) -> None:
        """A request stops running (finished or preempted): release its references at step ``now``."""
        ref, state, seg, last = self.ref, self.state, self.seg, self.last
        for n in path:
            ref[n] -= 1
            if ref[n] == 0:
                last[n] = now
                if state[n] == RESIDENT:
                    self.evictable_tokens += seg[n]
                    if self.live_children[n] == 0:
                        heapq.heappush(self._heap, (now, n))

    def resident_prefix(self, path: list[int]) -> int:
        """Tokens of the longest resident prefix of ``path`` (a hit for a request starting now)."""
        hit = 0
        state, seg = self.state, self.seg
        for n in path:
            if state[n] != RESIDENT:
                break
            hit += seg[n]
        return hit

    # ---- node life cycle --------------------------------------------------------------------
    def claim(self, n: int, owner: int) -> int:
        """An absent node starts being prefilled by ``owner``; returns the tokens it occupies."""
        self.state[n] = PENDING
        self.owner[n] = owner
        self.done[n] = 0
        self.live_children[self.parent[n]] += 1
        s = self.seg[n]
        self.tokens += s
        return s

    def fill(self, n: int, now: int) -> None:
        """A pending node is completely prefilled at step ``now``: it becomes resident."""
        self.state[n] = RESIDENT  # ``owner`` now says who filled it (read with ``ready_at``)
        self.ready_at[n] = now
        if self.ref[n] == 0:  # nobody holds it (only possible when the caller locks later)
            self.evictable_tokens += self.seg[n]
            self.last[n] = now
            if self.live_children[n] == 0:
                heapq.heappush(self._heap, (now, n))

    def drop(self, n: int, now: int) -> int:
        """Free a pending or resident node now (a finished request's own leaf, or a preempted owner's
        unfinished segment); returns the tokens freed."""
        st = self.state[n]
        if st == ABSENT:
            return 0
        s = self.seg[n]
        if st == RESIDENT and self.ref[n] == 0:
            self.evictable_tokens -= s
        self.state[n] = ABSENT
        self.owner[n] = -1
        self.tokens -= s
        self._orphan(n, now)
        return s

    def _orphan(self, n: int, now: int) -> None:
        p = self.parent[n]
        self.live_children[p] -= 1
        if p > 0 and self.live_children[p] == 0 and self.ref[p] == 0 and self.state[p] == RESIDENT:
            heapq.heappush(self._heap, (self.last[p], p))

    def evict(self, need: int, now: int) -> int:
        """Evict LRU unreferenced cache leaves until ``need`` tokens are freed (or nothing is left)."""
        freed = 0
        heap, state, ref, live, last, seg = self._heap, self.state, self.ref, self.live_children, self.last, self.seg
        while freed < need and heap:
            stamp, n = heapq.heappop(heap)
            if state[n] != RESIDENT or ref[n] or live[n] or last[n] != stamp:
                continue  # stale entry
            s = seg[n]
            state[n] = ABSENT
            self.tokens -= s
            self.evictable_tokens -= s
            self.evicted_tokens += s
            freed += s
            self._orphan(n, now)
        return freed


def replay_sharing(tree: PrefixTree, order, capacity_tokens: int) -> float:
    """Prefix-sharing ratio of serving ``order`` one request at a time through a :class:`RadixCache`
    of ``capacity_tokens`` (each prompt computed, then released; a finished request's own leaf is
    dropped). With a capacity of at least the longest prompt, a DFS order reaches
    :attr:`PrefixTree.optimal_sharing`."""
    cache = RadixCache(tree)
    computed = 0
    total = 0
    for step, r in enumerate(order):
        r = int(r)
        path = tree.path(r)
        cache.lock(path)
        for n in path:
            if cache.state[n] == ABSENT:
                s = cache.seg[n]
                over = cache.tokens + s - capacity_tokens
                if over > 0:
                    cache.evict(over, step)
                    if cache.tokens + s > capacity_tokens:
                        raise ValueError(f"capacity {capacity_tokens} cannot hold request {r}'s prompt")
                cache.claim(n, r)
                cache.fill(n, step)
                computed += s
        total += int(tree.depth[tree.leaf[r]])
        cache.unlock(path, step)
        cache.drop(path[-1], step)
    return 1.0 - computed / total if total else 0.0
