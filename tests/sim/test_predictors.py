"""Output-length predictors: what they may read, coverage, the α ratio, seeding."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.sim.predictors import PREDICTORS

from .instances import tracelike


def test_predictors_that_must_not_read_the_truth_work_without_it():
    f = tracelike(0, n=300)
    blind = f.drop(columns=["output_tokens"])
    binned = PREDICTORS.get("binned")().fit(tracelike(1, n=600))
    for p in (PREDICTORS.get("naive")(), binned):
        assert not p.reads_truth
        lo, hi = p.predict(blind, np.random.default_rng(0))
        lo2, hi2 = p.predict(f, np.random.default_rng(0))
        np.testing.assert_array_equal(lo, lo2)
        np.testing.assert_array_equal(hi, hi2)
    for name in ("interval", "oracle", "bucket"):
        p = PREDICTORS.get(name)()
        assert p.reads_truth
        with pytest.raises(InputError, match="true output"):
            p.predict(blind, np.random.default_rng(0))


def test_naive_gives_everyone_the_same_interval():
    f = tracelike(0, n=10)
    lo, hi = PREDICTORS.get("naive")().predict(f, np.random.default_rng(0))
    assert (lo == 1).all() and (hi == 1000).all()
    lo, hi = PREDICTORS.get("naive")(lo=5, hi=50).predict(f, np.random.default_rng(0))
    assert (lo == 5).all() and (hi == 50).all()
    with pytest.raises(InputError):
        PREDICTORS.get("naive")(lo=0)


def test_binned_learns_per_type_and_input_bin_on_one_split_and_applies_to_another():
    train, test = tracelike(1, n=4000), tracelike(2, n=2000)
    p = PREDICTORS.get("binned")(bins=4, q_lo=0.1, q_hi=0.9).fit(train)
    lo, hi = p.predict(train, np.random.default_rng(0))
    o = train["output_tokens"].to_numpy()
    cover = ((lo <= o) & (o <= hi)).mean()
    assert 0.74 <= cover <= 0.9  # about 80 %, a little less with integer rounding
    assert (lo >= 1).all() and (hi >= lo).all()
    # code and conversation get different intervals (their outputs differ by ~7x in tracelike)
    lo_t, hi_t = p.predict(test, np.random.default_rng(0))
    code = test["service"].to_numpy() == "code"
    assert np.median(hi_t[code]) < np.median(hi_t[~code])
    # a query type never seen in training falls back to the whole split's interval
    other = test.assign(service="vision")
    lo_o, hi_o = p.predict(other, np.random.default_rng(0))
    assert len(set(zip(lo_o, hi_o))) == 1
    with pytest.raises(InputError, match="fit"):
        PREDICTORS.get("binned")().predict(test, np.random.default_rng(0))


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.1, 0.01])
def test_interval_has_ratio_alpha_and_contains_the_truth(alpha):
    f = tracelike(3, n=2000)
    o = f["output_tokens"].to_numpy()
    lo, hi = PREDICTORS.get("interval")(alpha=alpha).predict(f, np.random.default_rng(4))
    assert ((lo <= o) & (o <= hi)).all() and (lo >= 1).all()
    ratio = lo / hi
    assert (ratio <= alpha + 1e-12).all()
    big = lo >= 20  # rounding ℓ down costs at most 1/ℓ of the ratio
    assert (ratio[big] >= alpha * (1 - 1 / lo[big]) - 1e-12).all()
    if alpha == 1.0:
        np.testing.assert_array_equal(lo, o)
        np.testing.assert_array_equal(hi, o)
    else:  # randomly placed: the truth is sometimes near ℓ, sometimes near u
        inner = lo >= 2  # windows not moved up to [1, 1/α]
        pos = np.log(o[inner] / lo[inner]) / np.log(hi[inner] / lo[inner])
        assert pos.min() < 0.1 and pos.max() > 0.9
    lo2, hi2 = PREDICTORS.get("interval")(alpha=alpha).predict(f, np.random.default_rng(4))
    np.testing.assert_array_equal(lo, lo2)
    np.testing.assert_array_equal(hi, hi2)
    with pytest.raises(InputError):
        PREDICTORS.get("interval")(alpha=0.0)


def test_oracle_and_bucket_contain_the_truth():
    f = pd.DataFrame({"input_tokens": [1, 2, 3, 4], "output_tokens": [1, 100, 101, 250]})
    lo, hi = PREDICTORS.get("oracle")().predict(f, np.random.default_rng(0))
    assert lo.tolist() == [1, 100, 101, 250] and hi.tolist() == [1, 100, 101, 250]
    lo, hi = PREDICTORS.get("bucket")(width=100).predict(f, np.random.default_rng(0))
    assert lo.tolist() == [1, 1, 101, 201] and hi.tolist() == [100, 100, 200, 300]
