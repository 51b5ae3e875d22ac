"""Orders are permutations; BlendServe's planning (estimates, layer sort, node split) and the dual
scan's budget equations."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.errors import InputError
from sloserve.sim.offline.blend import layer_sort, plan_blendserve
from sloserve.sim.offline.orders import ORDERS, OrderContext, OrderOptions, order_sequence
from sloserve.sim.offline.requests import OfflineRequests
from sloserve.sim.offline.sampling import draw_sample, estimate_outputs
from sloserve.sim.offline.scan import DualScan, memory_split, side_budget
from sloserve.sim.offline.tree import build_tree

from .conftest import random_segments


def _ctx(req, model, **opt):
    tree = build_tree(req)
    return OrderContext(tree, req.prompt_tokens, model, model.kv_tokens, OrderOptions(**opt))


@pytest.mark.parametrize("name", ORDERS.names())
def test_every_order_is_a_permutation_and_deterministic(name, model):
    req = random_segments(600, 2, out_max=3000)
    ctx = _ctx(req, model, seed=4, sample_fraction=0.05)
    seq, _ = order_sequence(name, ctx, req.output_tokens)
    assert sorted(seq.tolist()) == list(range(len(req)))
    again, _ = order_sequence(name, _ctx(req, model, seed=4, sample_fraction=0.05), req.output_tokens)
    np.testing.assert_array_equal(seq, again)
    if name == "dfs":
        np.testing.assert_array_equal(seq, ctx.tree.dfs_order)
    if name == "random":
        other, _ = order_sequence(name, _ctx(req, model, seed=5), req.output_tokens)
        assert not np.array_equal(seq, other)
    if ORDERS.get(name).needs_estimates:  # the sample is served first
        warm = ORDERS.get(name)().warmup(ctx)
        np.testing.assert_array_equal(seq[:len(warm)], warm)


def test_unknown_order_lists_the_valid_ones():
    with pytest.raises(InputError, match="blendserve"):
        ORDERS.get("nope")


def _hand_tree():
    # system A: block A1 (compute-dense, 2-token outputs) and block A2 (4000-token outputs); system B
    # (moderate); system C (long outputs). 0/1 = segment ids of the blocks.
    rows = ([("A", "A1", 300, 60, 2)] * 200 + [("A", "A2", 100, 50, 4000)] * 20
            + [("B", None, 0, 500, 300)] * 200 + [("C", None, 0, 100, 8000)] * 50)
    sys_id = {"A": 0, "B": 1, "C": 2}
    blk_id = {"A1": 10, "A2": 11}
    ids = np.array([[sys_id[s], blk_id[b] if b else -1, 100 + i] for i, (s, b, *_) in enumerate(rows)])
    lens = np.array([[50, bl, u] for (_, _, bl, u, _) in rows])
    out = np.array([r[4] for r in rows])
    klass = np.array([r[1] or r[0] for r in rows])
    return OfflineRequests(output_tokens=out, segment_ids=ids, segment_tokens=lens, klass=klass)


def test_layer_sort_puts_denser_siblings_first(model):
    req = _hand_tree()
    tree = build_tree(req)
    rho = model.node_density(tree, req.prompt_tokens, req.output_tokens)
    t2, pos = tree.reordered(-rho)
    sorted_tree = layer_sort(tree, rho)
    np.testing.assert_array_equal(sorted_tree.parent, t2.parent)
    rho_new = rho[np.argsort(pos)]
    for p in range(t2.num_nodes):
        kids = np.flatnonzero(t2.parent == p)
        assert (np.diff(rho_new[kids]) <= 0).all()


def test_node_split_moves_an_out_of_order_block_within_the_sharing_budget(model):
    req = _hand_tree()
    tree = build_tree(req)
    p, d = req.prompt_tokens, req.output_tokens.astype(float)
    where = lambda plan, k: np.flatnonzero(req.klass[plan.sequence] == k)  # noqa: E731
    kept = plan_blendserve(tree, p, d, model, keep_sharing=1.0)  # no budget: no split
    assert kept.num_splits == 0
    assert where(kept, "A1").min() > where(kept, "B").max()  # A1 is stuck behind B inside unit A
    plan = plan_blendserve(tree, p, d, model, keep_sharing=0.99)
    assert plan.num_splits >= 1 and plan.split_requests > 0
    assert where(plan, "A1").max() < where(plan, "B").min() < where(plan, "B").max() < where(plan, "A2").min()
    assert plan.planned_sharing >= 0.99 * plan.dfs_sharing
    assert plan.planned_sharing < plan.dfs_sharing
    assert sorted(plan.sequence.tolist()) == list(range(len(req)))


def test_estimates_use_the_nearest_sampled_ancestor(model):
    req = _hand_tree()
    tree = build_tree(req)
    a1 = np.flatnonzero(req.klass == "A1")
    b = np.flatnonzero(req.klass == "B")
    sampled = np.array([a1[0], a1[1], b[0]])
    est = estimate_outputs(tree, sampled, np.array([10, 20, 100]))
    assert est[a1[5]] == 15.0  # its block's samples
    assert (est[req.klass == "A2"] == 15.0).all()  # no sample in A2: the sibling block's, via system A
    assert est[b[3]] == 100.0 and est[a1[1]] == 20.0
    np.testing.assert_allclose(est[req.klass == "C"], (10 + 20 + 100) / 3)  # only the root has samples
    mean, second = estimate_outputs(tree, sampled, np.array([10, 20, 100]), second_moment=True)
    assert second[a1[5]] == (100 + 400) / 2
    s = draw_sample(tree, 0.01, np.random.default_rng(0), min_per_prefix=16)
    for k in (["A1", "A2"], ["B"], ["C"]):  # every top-level prefix gets at least 16 samples
        assert np.isin(np.flatnonzero(np.isin(req.klass, k)), s).sum() == 16
    s1 = draw_sample(tree, 0.5, np.random.default_rng(0), min_per_prefix=1)
    assert 0.4 * len(req) < len(s1) < 0.6 * len(req) and len(np.unique(s1)) == len(s1)


@pytest.mark.parametrize("seed", range(5))
def test_memory_split_solves_the_blend_equations(seed):
    rng = np.random.default_rng(seed)
    M = float(rng.uniform(1e4, 1e6))
    rho_r, rho_l = sorted(rng.uniform(0.01, 50, size=2))
    rho_root = float(rng.uniform(rho_r, rho_l))
    ml, mr = memory_split(M, rho_root, rho_l, rho_r)
    assert ml + mr == pytest.approx(M)
    assert rho_l * ml + rho_r * mr == pytest.approx(rho_root * M)
    assert 0 <= ml <= M


def test_memory_split_edge_cases():
    assert memory_split(60.0, 1.27, 3.73, 0.096) == pytest.approx((19.3, 40.7), abs=0.1)  # the paper's Fig. 6
    assert memory_split(100.0, 5.0, 3.0, 1.0) == (100.0, 0.0)  # ρ_root above both: all to the left
    assert memory_split(100.0, 0.5, 3.0, 1.0) == (0.0, 100.0)
    assert memory_split(100.0, 2.0, 1.5, 1.5) == (50.0, 50.0)
    n, c = side_budget(10_000.0, 100.0, 400.0)
    assert n == pytest.approx(10_000 / 300) and c == pytest.approx(n * 100 / 400)
    n2, _ = side_budget(10_000.0, 100.0, 400.0, held_per_slot=250.0)
    assert n2 == pytest.approx(10_000 / 350)
    assert side_budget(1000.0, 50.0, 0.0)[1] == pytest.approx(1000 / 50.5 * 50)  # d floored at 1


def test_dual_scan_walks_both_ends_and_requeues_on_the_same_side():
    seq = list(range(10))
    group = [0] * 5 + [1] * 5
    scan = DualScan(seq, group, [10.0, 0.1], [100.0, 100.0], [2.0, 5000.0], 1.0, 100_000.0, [100] * 10)
    ml, mr = scan.mem
    assert ml + mr == pytest.approx(100_000) and 10 * ml + 0.1 * mr == pytest.approx(100_000)
    assert scan.peek() == 9  # the memory-dense end first
    scan.take(9, 100)
    assert scan.held(1) == 100 and scan.peek() == 0  # the right side's credit is spent
    scan.take(0, 100)
    scan.tick(3)
    assert scan.held(0) == 103
    scan.release(9)  # preempted: released, then requeued on its own side
    scan.requeue(9)
    assert scan.front[1] == [9]
    while (r := scan.peek()) >= 0:
        scan.take(r, 100)
        scan.release(r)
        scan.observe(r, 1)
        scan.tick(1000)
    assert scan.merged and scan.remaining() == 0
