"""Compute density from StepTime's coefficients: falls with the output length, is discounted by
prefix sharing, and weights amortised only rescale it."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.sim.offline.density import DensityModel
from sloserve.sim.offline.tree import build_tree

from .conftest import random_segments


def test_density_falls_with_the_output_length(model):
    d = np.arange(1, 20_000, 7)
    for p in (16, 300, 4000):
        rho = model.request_density(p, d)
        assert (np.diff(rho) < 0).all()
    assert model.request_density(800, 2) > 1.0 > model.request_density(121, 16_384)  # MMLU-like vs video-like


def test_times_are_stepTime_parts(model, steptime):
    p = np.array([10.0, 500.0, 3000.0])
    np.testing.assert_allclose(model.compute_s(p, 0), steptime.prefill_compute_s(p, p * p / 2))
    per_tok = float(steptime.decode_compute_s(1000.0)) / 1000.0
    np.testing.assert_allclose(model.compute_s(p, 5) - model.compute_s(p, 0), 5 * per_tok)
    M = model.kv_tokens
    full = float(steptime.decode_memory_s(1000.0, float(M)))  # one pass over a full KV cache
    assert model.memory_s(0, 1) * M == pytest.approx(full)  # Σ_{i=1..1} (0 + i) = 1 token read


def test_weights_amortised_rescale_density_by_a_constant(steptime, model):
    bare = DensityModel(steptime, model.kv_tokens, weights="none")
    p = np.array([50, 700, 2000])
    d = np.array([3, 500, 9000])
    ratio = bare.request_density(p, d) / model.request_density(p, d)
    W = float(steptime.weight_read_s)
    k = float(steptime.kv_read_s_per_token)
    np.testing.assert_allclose(ratio, 1.0 + W / (model.kv_tokens * k))


def test_sharing_discounts_node_density(model, steptime):
    req = random_segments(400, 3)
    tree = build_tree(req)
    p, d = req.prompt_tokens, req.output_tokens
    s = tree.sharing
    comp = tree.subtree_sum(model.compute_s(p, d))
    pre = tree.subtree_sum(model.prefill_compute_s(p))
    mem = tree.subtree_sum(model.memory_s(p, d))
    rho = model.node_density(tree, p, d)
    np.testing.assert_allclose(rho, (comp - s * pre) / mem)  # sharing saves prompt FLOP only
    assert (rho[s > 0] < (comp / mem)[s > 0]).all() and (rho >= (1 - s) * comp / mem - 1e-12).all()
    np.testing.assert_allclose(rho[tree.leaf], model.request_density(p, d))  # a leaf shares nothing
    paper = DensityModel(steptime, model.kv_tokens, discount="paper")
    np.testing.assert_allclose(paper.node_density(tree, p, d), (1 - s) * comp / mem)
    ideal = model.ideal_makespan_s(tree, p, d)
    s0 = tree.optimal_sharing
    assert ideal["ideal_makespan_s"] == pytest.approx(max(ideal["t_comp_s"] - s0 * pre[0], ideal["t_mem_s"]))
    assert ideal["density"] == pytest.approx(rho[0])
    pi = paper.ideal_makespan_s(tree, p, d)
    assert pi["ideal_makespan_s"] == pytest.approx(max((1 - s0) * pi["t_comp_s"], pi["t_mem_s"]))


def test_a_short_prompt_under_a_long_shared_prefix_stays_compute_dense(model, steptime):
    # 256 code-like requests: 48 shared + 1 own prompt token, 30 output tokens (the case that made the
    # paper's discount call them memory-dense)
    n, p, d = 256, 49, 30
    s = 1 - (48 + n) / (n * p)
    comp, pre, mem = n * model.compute_s(p, d), n * model.prefill_compute_s(p), n * model.memory_s(p, d)
    assert model.shared_compute_s(s, pre, comp) / mem > 10
    assert DensityModel(steptime, model.kv_tokens, discount="paper").shared_compute_s(s, pre, comp) / mem < 1
