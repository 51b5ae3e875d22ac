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


def test_sharing_discounts_node_density(model):
    req = random_segments(400, 3)
    tree = build_tree(req)
    p, d = req.prompt_tokens, req.output_tokens
    rho = model.node_density(tree, p, d)
    plain = tree.subtree_sum(model.compute_s(p, d)) / tree.subtree_sum(model.memory_s(p, d))
    np.testing.assert_allclose(rho, (1 - tree.sharing) * plain)
    assert (rho[tree.sharing > 0] < plain[tree.sharing > 0]).all()
    np.testing.assert_allclose(rho[tree.leaf], model.request_density(p, d))  # a leaf shares nothing
    ideal = model.ideal_makespan_s(tree, p, d)
    assert ideal["ideal_makespan_s"] == max((1 - tree.optimal_sharing) * ideal["t_comp_s"], ideal["t_mem_s"])
    assert ideal["density"] == pytest.approx(rho[0])
