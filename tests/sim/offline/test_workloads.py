"""Paper-style workloads: seeded, on target for density and sharing, honest about what is out of reach."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.errors import InputError
from sloserve.sim.offline.tree import build_tree
from sloserve.sim.offline.workloads import PAPER_TRACES, grid, mixture, paper_workload, solve_shares


@pytest.mark.parametrize("name", sorted(PAPER_TRACES))
def test_paper_traces_hit_their_targets(name, model):
    rho, share = PAPER_TRACES[name]
    req = paper_workload(60_000, rho, share, model, seed=0, trace_dir="/nonexistent")  # lognormal lengths
    m = req.meta
    assert m["lengths"] == "lognormal fallback"
    assert m["sharing"] == pytest.approx(share, abs=0.01)
    assert m["density"] == pytest.approx(rho, rel=0.12)  # a few hundred long outputs: sampling noise in Σd²
    tree = build_tree(req)
    assert tree.optimal_sharing == pytest.approx(m["sharing"])
    assert set(np.unique(req.klass)) <= {"code", "mmlu", "video"}


def test_classes_have_their_lengths_and_their_own_system_prompt():
    req = mixture({"code": 2000, "mmlu": 2000, "chat": 2000, "video": 200, "reasoning": 200}, seed=0,
                  trace_dir="/nonexistent")
    for k in ("code", "mmlu", "chat", "video", "reasoning"):
        sel = req.klass == k
        assert len(np.unique(req.segment_ids[sel, 0])) == 1
    out = {k: req.output_tokens[req.klass == k].mean() for k in np.unique(req.klass)}
    assert out["mmlu"] < 3 and out["code"] < 60 and 14_000 < out["video"] < 19_000 and 6_000 < out["reasoning"] < 9_000
    mmlu = build_tree(req.subset(np.flatnonzero(req.klass == "mmlu")))
    assert mmlu.optimal_sharing > 0.8
    assert len(np.unique(req.segment_ids[:, 0])) == 5


def test_seeded_and_reachable(model):
    a = paper_workload(5000, 1.1, 0.25, model, seed=3)
    b = paper_workload(5000, 1.1, 0.25, model, seed=3)
    np.testing.assert_array_equal(a.output_tokens, b.output_tokens)
    np.testing.assert_array_equal(a.segment_ids, b.segment_ids)
    assert not np.array_equal(paper_workload(5000, 1.1, 0.25, model, seed=4).output_tokens, a.output_tokens)
    assert abs(sum(solve_shares(1.1, 0.25, model).values()) - 1) < 1e-12
    with pytest.raises(InputError, match="out of reach"):
        solve_shares(1.0, 0.95, model)  # more sharing than MMLU itself has
    g = grid()
    assert len(g) == 65 and g[0] == (0.8, 0.05) and g[-1] == (1.4, 0.45)
