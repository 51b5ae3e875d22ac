"""Instance regimes (sloserve.model.regimes): feasible by their witness, in the size class asked for,
seeded, and each with the feature that names it."""
from __future__ import annotations

import numpy as np
import pytest

from sloserve.checker import check_arrays
from sloserve.errors import InputError
from sloserve.model.regimes import REGIMES, regime_instance
from sloserve.problem.instance import build_instance
from sloserve.problem.size import size_class


@pytest.fixture(scope="module")
def small():
    return {r: regime_instance(r, "S", 3) for r in REGIMES}


@pytest.mark.parametrize("regime", list(REGIMES))
def test_the_witness_is_a_checker_clean_plan_in_the_class_asked_for(small, regime):
    ri = small[regime]
    inst = build_instance(ri.compiled)
    y, x, u = ri.witness
    assert check_arrays(inst, y, x, u) == []
    assert ri.size_class == size_class(inst.R, inst.C) == "S"


def test_each_regime_has_its_feature(small):
    insts = {r: build_instance(ri.compiled) for r, ri in small.items()}
    w = {r: ri.witness for r, ri in small.items()}
    tg = insts["tight_gpus"]
    y = w["tight_gpus"][0]
    used = np.bincount(tg.config_gpu, weights=tg.gpus * y, minlength=len(tg.gpu_ids))
    assert np.isfinite(tg.available).all()
    assert (tg.available[used > 0] <= np.ceil(used[used > 0] * 1.12)).all()  # near the witness's use
    tb = insts["tight_budget"]
    yb, xb, _ = w["tight_budget"]
    spent = float(tb.cost @ yb + tb.fixed_cost_of(yb, xb))
    assert np.isfinite(tb.budget) and spent <= tb.budget <= 1.05 * spent + 0.01
    assert (tb.max_unserved > 0).all()
    fm = insts["few_models"]
    assert fm.options.max_models in (1, 2) and (fm.fixed_cost > 0).all()
    assert insts["many_types"].I >= 100
    assert insts["regular"].I < 100
    # tight error: few configurations meet each type's error limit (compile drops the routes of the
    # others, so count a type's routes against the configurations)
    def share(inst):
        assert (inst.error <= inst.max_error[inst.route_i] + 1e-12).all()
        return np.bincount(inst.route_i, minlength=inst.I) / inst.C
    assert np.median(share(insts["tight_error"])) < 0.1 < np.median(share(insts["regular"]))

def test_seeded_and_distinct():
    a, b, c = (regime_instance("regular", "S", s) for s in (1, 1, 2))
    assert a.compiled.routes.equals(b.compiled.routes)
    assert not a.compiled.routes.equals(c.compiled.routes)


def test_unknown_regime_or_size_is_an_input_error():
    with pytest.raises(InputError):
        regime_instance("bogus", "S", 0)
    with pytest.raises(InputError):
        regime_instance("regular", "XXL", 0)
