"""The simulator's parts and promises: arrivals, routers, metrics, conservation, verify, stress."""
from __future__ import annotations


import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.instance import build_instance
from sloserve.problem.plan import arrays_from_plan
from sloserve.sim import arrivals as A
from sloserve.sim.metrics import latencies, meets_slos
from sloserve.sim.router import ROUTERS, SmoothWRR
from sloserve.sim.simulator import simulate
from sloserve.sim.stress import simulated_stress
from sloserve.sim.verify import VerifyOptions, verify
from sloserve.solvers import solve


@pytest.fixture(scope="module")
def compiled():
    return compile_scenario(default_scenario())


@pytest.fixture(scope="module")
def plan(compiled):
    return solve(compiled, "agh")


# ---- arrivals ---------------------------------------------------------------------------------

def test_synthetic_rates_and_burstiness(compiled):
    rates = compiled.query_types["rate_rps"].to_numpy(float)
    for cv in (1.0, 3.0):
        a = A.synthetic(compiled, 4000.0, process="poisson" if cv == 1 else "gamma", cv=cv, seed=1)
        n = np.bincount(a.query_type, minlength=len(rates))
        # counts per type within 5 standard deviations of the rate (renewal: variance ~ cv² · mean)
        assert np.all(np.abs(n - 4000 * rates) < 5 * cv * np.sqrt(4000 * rates) + 1)
        for i in range(len(rates)):
            gaps = np.diff(a.arrived_at[a.query_type == i])
            assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.15)
    fixed = A.synthetic(compiled, 100.0, seed=1)
    qt = compiled.query_types
    assert np.array_equal(fixed.input_tokens, qt["input_tokens"].to_numpy()[fixed.query_type].round().astype(int))


def test_synthetic_is_seeded_and_sorted(compiled):
    a, b, c = (A.synthetic(compiled, 200.0, process="gamma", cv=2.0, lengths="lognormal", seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.arrived_at, b.arrived_at) and np.array_equal(a.output_tokens, b.output_tokens)
    assert not np.array_equal(a.arrived_at, c.arrived_at)
    assert np.all(np.diff(a.arrived_at) >= 0) and a.output_tokens.min() >= 1


def test_from_trace_labels_as_calibration_does(compiled):
    """Each request gets the query type the calibration's labelling gives it."""
    from sloserve.traces.label import label_query_types
    rng = np.random.default_rng(0)
    n = 600
    tr = pd.DataFrame({"arrival_s": np.sort(rng.uniform(0, 600, n)),
                       "input_tokens": rng.integers(10, 8000, n), "output_tokens": rng.integers(1, 800, n),
                       "service": np.where(rng.random(n) < 0.5, "code", "conversation")})
    a = A.from_trace(tr, compiled)
    want = label_query_types(tr, 3).astype(str).to_numpy()
    order = np.argsort(tr["arrival_s"].to_numpy(), kind="stable")
    assert list(np.asarray(a.types, dtype=object)[a.query_type]) == list(want[order])
    assert np.array_equal(a.input_tokens, tr["input_tokens"].to_numpy()[order])


# ---- routers ----------------------------------------------------------------------------------

def test_smooth_wrr_is_within_one_request_of_its_share():
    w = [0.5, 0.3, 0.2]
    r = SmoothWRR(w)
    counts = np.zeros(3)
    for n in range(1, 1001):
        counts[r.next()] += 1
        assert np.all(np.abs(counts - n * np.asarray(w)) <= 1.0)


def test_plan_router_sends_each_type_by_the_plans_fractions(compiled, plan):
    arr = A.synthetic(compiled, 1200.0, seed=2)
    res = simulate(compiled, plan, arr)
    inst = build_instance(compiled)
    x = arrays_from_plan(inst, plan).x
    for r in np.flatnonzero(x > 0):
        q, cfg = inst.query_types[inst.route_i[r]], inst.configs[inst.route_c[r]]
        of_type = res.requests[res.requests["query_type"] == q]
        assert abs((of_type["config"] == cfg).sum() - x[r] * len(of_type)) <= 1.0


def test_least_outstanding_stays_on_the_plans_configurations(compiled, plan):
    arr = A.synthetic(compiled, 300.0, seed=2)
    res = simulate(compiled, plan, arr, router="least_outstanding")
    inst = build_instance(compiled)
    x = arrays_from_plan(inst, plan).x
    allowed = {(inst.query_types[inst.route_i[r]], inst.configs[inst.route_c[r]]) for r in np.flatnonzero(x > 0)}
    used = set(map(tuple, res.requests[["query_type", "config"]].drop_duplicates().to_numpy()))
    assert used <= allowed
    assert "least_outstanding" in ROUTERS


# ---- conservation and metrics -----------------------------------------------------------------

def test_a_horizon_reports_what_is_in_flight(compiled, plan):
    arr = A.synthetic(compiled, 300.0, seed=5, rate_scale=3.0)  # overloaded: work left at the horizon
    res = simulate(compiled, plan, arr, horizon_s=200.0)
    counts = res.counts()
    assert sum(counts.values()) == len(arr)
    assert counts["in_flight"] > 0 and counts["after_horizon"] > 0
    done = res.requests["status"] == "completed"
    assert res.requests.loc[done, "completed_at"].max() <= 200.0 + 1e-9
    assert res.requests.loc[~done, "completed_at"].isna().all()


def test_attainment_is_the_share_meeting_every_slo(compiled, plan):
    res = simulate(compiled, plan, A.synthetic(compiled, 600.0, seed=6, rate_scale=1.3))
    req = res.requests
    lat = latencies(req)
    qt = compiled.query_types.set_index("query_type")
    for q, row in res.summary.set_index("query_type").iterrows():
        m = (req["query_type"] == q).to_numpy()
        ok = (req["status"].to_numpy()[m] == "completed")
        for col, slo in (("ttft_s", "ttft_slo_s"), ("tpot_s", "tpot_slo_s"), ("e2e_s", "e2e_slo_s")):
            v = lat[col].to_numpy()[m]
            ok &= np.isnan(v) & (col == "tpot_s") | (v <= qt.at[q, slo] * (1 + 1e-9))
        assert row["slo_attainment"] == pytest.approx(ok.mean())
        assert row["goodput_rps"] == pytest.approx(ok.sum() / res.horizon_s)
    assert meets_slos(req, compiled).sum() == pytest.approx((res.summary["goodput_rps"] * res.horizon_s).sum())
    # TPOT is the mean inter-token time of a request
    r = req[(req["status"] == "completed") & (req["output_tokens"] > 1)].iloc[0]
    assert latencies(req.loc[[r.name]])["tpot_s"].iloc[0] == pytest.approx(
        (r["completed_at"] - r["first_token_at"]) / (r["output_tokens"] - 1))


def test_the_frames_use_the_documented_columns(compiled, plan, tmp_path):
    res = simulate(compiled, plan, A.synthetic(compiled, 60.0, seed=0))
    want = ["arrived_at", "first_token_at", "completed_at", "input_tokens", "output_tokens", "query_type", "config",
            "replica", "preemptions"]
    assert set(want) <= set(res.requests.columns)
    res.write(tmp_path)
    back = pd.read_parquet(tmp_path / "requests.parquet")
    pd.testing.assert_frame_equal(back, res.requests, check_dtype=False)
    assert {"query_type", "ttft_p90_s", "tpot_p99_s", "e2e_p50_s", "slo_attainment", "goodput_rps"} <= set(
        pd.read_csv(tmp_path / "summary.csv").columns)


def test_plots_return_axes(compiled, plan):
    import matplotlib.pyplot as plt
    from sloserve.sim import plots
    res = simulate(compiled, plan, A.synthetic(compiled, 60.0, seed=0))
    for ax in (plots.plot_latency_cdf(res.requests, compiled, "ttft"), plots.plot_latency_cdf(res.requests, compiled, "tpot"),
               plots.plot_replica_series(res.timeseries, "busy"), plots.plot_attainment(res.summary)):
        assert isinstance(ax, matplotlib.axes.Axes)
    plt.close("all")


# ---- verify and stress ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def verified():
    sc = default_scenario()
    return sc, verify(sc, opts=VerifyOptions(duration_s=300.0, target=0.9))


def test_verify_returns_the_cheapest_checked_plan_that_met(verified):
    sc, v = verified
    it = v.iterations
    assert v.met and it["met"].any()
    assert v.plan.objective == pytest.approx(it.loc[it["met"], "cost_per_hour"].min())
    assert set(it["phase"]) <= {"tighten", "refine", "trim"} and it["phase"].iloc[0] == "tighten"
    assert v.checked.ok
    assert (v.result.summary["slo_attainment"] >= 0.9).all()
    # the analytic plan (iteration 0) is the mean-rate plan, and it misses some target under queueing
    assert not it["met"].iloc[0]
    assert it["cost_per_hour"].iloc[0] == pytest.approx(solve(compile_scenario(sc), "agh").objective)


def test_verify_returns_the_replay_of_its_plan(verified):
    """Replaying the returned plan on the returned tables and the same traffic gives the returned result."""
    sc, v = verified
    assert np.allclose(v.compiled.query_types["ttft_slo_s"], compile_scenario(sc).query_types["ttft_slo_s"])
    again = simulate(v.compiled, v.plan, v.arrivals)
    pd.testing.assert_frame_equal(again.summary, v.result.summary)
    # the synthetic traffic lasted until the rarest type expected 500 requests (300 s would give ~230)
    rarest = compile_scenario(sc).query_types["rate_rps"].min()
    assert v.arrivals.duration_s == pytest.approx(500 / rarest, rel=0.02)  # the last arrival
    assert v.result.summary["requests"].min() >= 400


def test_simulated_stress_degrades_with_slowdown(compiled, plan):
    t = simulated_stress(compiled, {"agh": plan}, factors=(1.0, 1.5), duration_s=300.0)
    assert list(t["s"]) == [1.0, 1.5]
    assert t["attainment"].iloc[1] <= t["attainment"].iloc[0]
    assert (t["attainment"] <= t["latency_attainment"] + 1e-12).all()
    assert (t.filter(like="cost").to_numpy() >= 0).all()


def test_simulated_stress_reports_errors_as_modelled_from_the_same_replay(compiled, plan):
    """Inflating the errors can only add violations; without inflation the two shares agree."""
    both = simulated_stress(compiled, {"agh": plan}, factors=(1.0, 1.3), duration_s=300.0)
    delays = simulated_stress(compiled, {"agh": plan}, factors=(1.0, 1.3), duration_s=300.0, errors=False)
    assert (both["violated_errors_as_modelled"] <= both["violated"] + 1e-12).all()
    np.testing.assert_allclose(both["violated_errors_as_modelled"], delays["violated"])
    np.testing.assert_allclose(delays["violated_errors_as_modelled"], delays["violated"])
    assert both["violated"].iloc[0] == pytest.approx(both["violated_errors_as_modelled"].iloc[0])
    assert both["error_violated_types"].iloc[1] > 0  # at s = 1.3 inflated errors break limits ...
    assert both["violated"].iloc[1] > both["violated_errors_as_modelled"].iloc[1]  # ... and that shows


@pytest.mark.parametrize("field, value", [("target", 0.0), ("target", 1.5), ("duration_s", 0.0), ("max_duration_s", -1.0),
                                          ("min_requests", -1), ("max_iterations", 0), ("refine_iterations", -1),
                                          ("trim_iterations", -1), ("derate_step", 1.0), ("slo_step", 0.0),
                                          ("min_factor", 1.5)])
def test_bad_verify_options_are_refused_naming_the_field(field, value):
    from sloserve.errors import InputError
    with pytest.raises(InputError, match=f"VerifyOptions.{field}: must be"):
        VerifyOptions(**{field: value})


def test_a_long_duration_is_kept_and_only_the_extension_is_capped():
    """max_duration_s bounds how far verify extends duration_s for rare types, never duration_s itself."""
    sc = default_scenario()
    rarest = compile_scenario(sc).query_types["rate_rps"].min()
    short = VerifyOptions(duration_s=60.0, max_duration_s=120.0, max_iterations=1, refine_iterations=0, trim_iterations=0)
    v = verify(sc, opts=short)
    assert v.arrivals.duration_s == pytest.approx(120.0, rel=0.05) and 500 / rarest > 120.0
    long = VerifyOptions(duration_s=900.0, max_duration_s=120.0, max_iterations=1, refine_iterations=0, trim_iterations=0)
    assert verify(sc, opts=long).arrivals.duration_s == pytest.approx(900.0, rel=0.02)
