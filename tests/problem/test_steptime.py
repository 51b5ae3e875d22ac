"""The config_perf table reproduces the performance model: a lone prompt takes the route's TTFT and a loaded
iteration at the design batch (chunked prefill of the next requests included) its TPOT, from the table
alone, in memory and after a CSV round trip; and the phases of perf.py (prefill, decode) come out too."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sloserve.model.compile import compile_scenario
from sloserve.model.generate import generate_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.steptime import StepTime
from sloserve.problem.tables import read_compiled, write_compiled


def _route_times(c):
    rt = c.routes.merge(c.query_types[["query_type", "input_tokens", "output_tokens"]], on="query_type")
    st = StepTime.from_table(c.config_perf.set_index("config").loc[rt["config"]].reset_index(), c.configs)
    h, f = rt["input_tokens"].to_numpy(float), rt["output_tokens"].to_numpy(float)
    return rt, st.prefill_s(h), st.loaded_s(rt["design_batch"].to_numpy(float), h, f)


@pytest.mark.parametrize("make", [default_scenario, lambda: generate_scenario("S", seed=0),
                                  lambda: generate_scenario("L", seed=1)], ids=["default", "S0", "L1"])
def test_table_reproduces_every_route(make):
    c = compile_scenario(make())
    assert set(c.config_perf["config"]) == set(c.configs["config"])
    rt, ttft, tpot = _route_times(c)
    np.testing.assert_allclose(ttft, rt["ttft_s"], rtol=1e-12)
    np.testing.assert_allclose(tpot, rt["tpot_s"], rtol=1e-12)


def test_table_survives_a_csv_round_trip(tmp_path):
    c = read_compiled(write_compiled(compile_scenario(generate_scenario("M", seed=2)), tmp_path / "m"))
    rt, ttft, tpot = _route_times(c)
    np.testing.assert_allclose(ttft, rt["ttft_s"], rtol=1e-8)
    np.testing.assert_allclose(tpot, rt["tpot_s"], rtol=1e-8)


def test_table_reproduces_the_phases_of_the_model():
    """StepTime.prefill_s / decode_s / loaded_s equal perf.prefill_time_s / decode_step_s / loaded_step_s."""
    from sloserve.model import perf
    from sloserve.model.compile import candidate_configs
    sc = generate_scenario("S", seed=3)
    cand = candidate_configs(sc)
    out, _ = perf.evaluate(cand, pd.DataFrame(columns=["query_type", "input_tokens", "output_tokens", "ttft_slo_s",
                                                       "tpot_slo_s", "e2e_slo_s"]))
    c = cand.loc[out["feasible"].to_numpy()].reset_index(drop=True)
    st = StepTime.from_table(perf.step_table(c), c)
    sp, cal = perf.spec_from_configs(c), perf.calibration_for(c["gpu"].to_numpy(dtype=object))
    for h, f, b in ((100.0, 20.0, 3.0), (4000.0, 300.0, 17.0), (1.0, 1.0, 1.0)):
        np.testing.assert_allclose(st.prefill_s(h, b), perf.prefill_time_s(h, sp, cal, batch=b), rtol=1e-12)
        np.testing.assert_allclose(st.decode_s(b, h + f / 2), perf.decode_step_s(b, h + f / 2, sp, cal), rtol=1e-12)
        np.testing.assert_allclose(st.loaded_s(b, h, f), perf.loaded_step_s(b, h, f, sp, cal), rtol=1e-12)


def test_mixed_iteration_is_between_its_parts_and_modes_order():
    c = compile_scenario(default_scenario())
    st = StepTime.from_table(c.config_perf, c.configs)
    pre = st.step_s(512, 512 * 512 / 2)
    dec = st.step_s(0, 0, 32, 32 * 1500)
    mixed = st.step_s(512, 512 * 512 / 2, 32, 32 * 1500)
    assert np.all(mixed >= np.maximum(pre, dec)) and np.all(mixed <= (pre + dec) * (1 + 1e-12))
    assert np.all(st.step_s(512, 512 * 512 / 2, 32, 32 * 1500, mode="overlap") <= mixed + 1e-15)


def test_the_scalar_evaluator_is_the_array_one():
    c = compile_scenario(generate_scenario("M", seed=4))
    rng = np.random.default_rng(0)
    for cfg in c.configs["config"].sample(40, random_state=1):
        st = StepTime.from_table(c.config_perf, c.configs, config=cfg)
        sc = st.scalar()
        for _ in range(25):
            p = int(rng.integers(0, 3000)) * int(rng.random() < 0.7)
            d = int(rng.integers(0, 300)) * int(rng.random() < 0.8)
            k = d * int(rng.integers(1, 4000))
            pairs = p * float(rng.integers(0, 2000)) + p * p / 2
            for mode in ("sum", "overlap"):
                assert sc.step_s(p, pairs, d, k, mode=mode) == pytest.approx(float(st.step_s(p, pairs, d, k, mode=mode)),
                                                                          rel=1e-12, abs=1e-15)
            if d:
                n = int(rng.integers(1, 3000))
                # the array decode_run_s is the sum of its steps (next test): the scalar one equals it
                assert sc.decode_run_s(d, k, n) == pytest.approx(float(st.decode_run_s(d, k, n)), rel=1e-11)


def test_a_run_of_decode_iterations_is_the_sum_of_its_steps():
    c = compile_scenario(generate_scenario("M", seed=6))
    rng = np.random.default_rng(2)
    for cfg in c.configs["config"].sample(30, random_state=3):
        st = StepTime.from_table(c.config_perf, c.configs, config=cfg)
        for _ in range(5):
            d = int(rng.integers(1, 300))
            k = d * int(rng.integers(1, 4000))
            n = int(rng.integers(1, 400))
            for mode in ("sum", "overlap"):
                direct = sum(float(st.step_s(0, 0, d, k + i * d, mode=mode, interference=0.1)) for i in range(n))
                assert st.decode_run_s(d, k, n, mode=mode, interference=0.1) == pytest.approx(direct, rel=1e-11)
