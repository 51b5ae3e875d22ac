"""Calibration: query types, rates, schema of the produced scenario, CLI."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloserve.cli.traces import add_commands as add_cli
from sloserve.traces.calibrate import (ATTRIBUTION, STATISTICS, arrivals_per_window, calibrate,
                                calibration_table, label_query_types, window_seconds, write_scenario_yaml)
from sloserve.errors import InputError
from sloserve.traces.trace import default_trace_dir, load_traces

TRACE_DIR = default_trace_dir()
FILES = [] if TRACE_DIR is None else [TRACE_DIR / "AzureLLMInferenceTrace_code.csv",
                                      TRACE_DIR / "AzureLLMInferenceTrace_conv.csv"]
needs_azure = pytest.mark.skipif(not FILES or not all(f.is_file() for f in FILES),
                                 reason="Azure 2023 trace samples not found (set SLOSERVE_TRACE_DIR)")


@pytest.fixture(scope="module")
def azure():
    return load_traces(FILES)


def _check_schema(s: dict) -> None:
    assert isinstance(s["name"], str) and s["name"]
    qts = s["query_types"]
    assert len(qts) >= 1
    assert len({q["name"] for q in qts}) == len(qts)
    for q in qts:
        assert q["family"] in ("conversation", "code", "math")
        assert isinstance(q["rate_rps"], float) and q["rate_rps"] >= 0
        for k in ("input_tokens", "output_tokens"):
            assert isinstance(q[k], int) and q[k] > 0
        for k in ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s"):
            if k in q:
                assert isinstance(q[k], float) and q[k] > 0
        assert 0 <= q["max_error"] <= 1
    assert s["options"]["slo_mode"] in ("per_route", "mean")


@needs_azure
def test_calibrate_2023_matches_schema_and_loader(azure, tmp_path):
    s = calibrate(azure, name="azure-2023")
    _check_schema(s)
    names = [q["name"] for q in s["query_types"]]
    assert names == ["code-s", "code-m", "code-l", "conversation-s", "conversation-m", "conversation-l"]
    assert {q["family"] for q in s["query_types"]} == {"code", "conversation"}
    path = tmp_path / "scn.yaml"
    text = write_scenario_yaml(s, path, command="sloserve calibrate test", sources=[f.name for f in FILES])
    assert text.startswith("# " + ATTRIBUTION)
    assert "CC BY 4.0" in text and "sloserve calibrate test" in text
    assert yaml.safe_load(path.read_text()) == s
    scenario = pytest.importorskip("sloserve.scenario")
    sc = scenario.load_scenario(path)
    assert len(sc.query_types) == 6


@needs_azure
def test_mean_rates_sum_to_overall_rate(azure):
    s = calibrate(azure, statistic="mean", scale=1.0)
    total = sum(q["rate_rps"] for q in s["query_types"])
    a = azure["arrival_s"]
    overall = len(azure) / (a.max() - a.min())
    assert total == pytest.approx(overall, rel=0.03)
    # per service it is exact: requests / observed span
    tab = calibration_table(azure, statistic="mean")
    for svc, g in tab.groupby("service"):
        x = azure.loc[azure["service"] == svc, "arrival_s"]
        assert g["rate_rps"].sum() == pytest.approx(len(x) / (x.max() - x.min()), rel=1e-9)
    assert tab["requests"].sum() == len(azure)
    s2 = calibrate(azure, statistic="mean", scale=2.5)
    assert sum(q["rate_rps"] for q in s2["query_types"]) == pytest.approx(2.5 * total, rel=1e-5)


@needs_azure
def test_statistic_ordering_and_determinism(azure):
    rates = {st_: [q["rate_rps"] for q in calibrate(azure, statistic=st_)["query_types"]] for st_ in STATISTICS}
    for i in range(len(rates["mean"])):
        assert rates["mean"][i] <= rates["p95"][i] <= rates["p99"][i] <= rates["peak"][i]
    assert sum(rates["p95"]) > 1.2 * sum(rates["mean"])  # the code service is bursty
    assert calibrate(azure) == calibrate(azure)
    ind = calibration_table(azure, type_rates="independent")
    shr = calibration_table(azure, type_rates="share")
    assert (ind["rate_mean"].to_numpy() == pytest.approx(shr["rate_mean"].to_numpy()))
    assert ind["rate_p95"].sum() >= shr["rate_p95"].sum() * 0.999


@needs_azure
def test_overrides_tokens_and_quantile_method(azure):
    s = calibrate(azure, slo_defaults={"code": {"ttft_slo_s": 0.5, "e2e_slo_s": None, "max_error": 0.2},
                                       "*": {"tpot_slo_s": 0.08}}, tokens="p95", method="quantile",
                  types_per_service=2)
    code = [q for q in s["query_types"] if q["family"] == "code"]
    conv = [q for q in s["query_types"] if q["family"] == "conversation"]
    assert [q["name"] for q in code] == ["code-s", "code-l"]
    assert all(q["ttft_slo_s"] == 0.5 and "e2e_slo_s" not in q and q["max_error"] == 0.2 for q in code)
    assert all(q["tpot_slo_s"] == 0.08 and q["e2e_slo_s"] == pytest.approx(1.0 + q["output_tokens"] * 0.08)
               for q in conv)
    with pytest.raises(InputError, match="slo_defaults.code.bogus"):
        calibrate(azure, slo_defaults={"code": {"bogus": 1}})
    with pytest.raises(InputError, match="statistic"):
        calibrate(azure, statistic="p50")


@needs_azure
def test_arrivals_per_window_grid(azure):
    w = arrivals_per_window(azure, "5min")
    assert set(w["service"]) == {"code", "conversation"}
    assert w.groupby("service")["count"].sum().to_dict() == azure["service"].value_counts().to_dict()
    assert w.groupby("service").size().nunique() == 1  # same grid for every service, zeros included
    assert w["rate_rps"].to_numpy() == pytest.approx(w["count"].to_numpy() / 300.0)
    full = w[w["full"]]
    assert full.groupby("service").size().to_dict() == {"code": 10, "conversation": 11}
    one = arrivals_per_window(azure, 60, by="all")
    assert one["count"].sum() == len(azure) and set(one["service"]) == {"all"}
    minutes = arrivals_per_window(azure, "1min")
    code = minutes[(minutes["service"] == "code") & minutes["full"]]
    assert (code["count"] == 0).sum() >= 13  # the code service has idle minutes (on/off bursts)


def test_window_seconds():
    assert window_seconds("5min") == 300 and window_seconds(30) == 30 and window_seconds("1h") == 3600
    for bad in ("soon", 0, -1, True):
        with pytest.raises(InputError):
            window_seconds(bad)


def _synthetic(n_code: int, n_conv: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for svc, n, mi, mo in (("code", n_code, 7.5, 2.6), ("conversation", n_conv, 6.9, 4.9)):
        parts.append(pd.DataFrame({
            "arrival_s": np.sort(rng.uniform(0, 3600, n)),
            "input_tokens": np.maximum(1, rng.lognormal(mi, 0.9, n)).astype(np.int64),
            "output_tokens": np.maximum(1, rng.lognormal(mo, 0.8, n)).astype(np.int64),
            "service": svc}))
    return pd.concat(parts, ignore_index=True).sort_values("arrival_s", kind="stable").reset_index(drop=True)


def test_cli_end_to_end(tmp_path):
    df = _synthetic(300, 500)
    for svc in ("code", "conversation"):
        d = df[df["service"] == svc]
        ts = pd.Timestamp("2024-05-10T00:00:00Z") + pd.to_timedelta(d["arrival_s"], unit="s")
        pd.DataFrame({"TIMESTAMP": ts.dt.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
                      "ContextTokens": d["input_tokens"], "GeneratedTokens": d["output_tokens"]}
                     ).to_csv(tmp_path / f"AzureLLMInferenceTrace_{svc[:4]}_1week.csv", index=False)
    ap = argparse.ArgumentParser()
    add_cli(ap.add_subparsers())
    out = tmp_path / "s.yaml"
    args = ap.parse_args(["calibrate", str(tmp_path / "AzureLLMInferenceTrace_code_1week.csv"),
                          str(tmp_path / "AzureLLMInferenceTrace_conv_1week.csv"), "--window", "10min",
                          "--percentile", "peak", "--scale", "2", "--types-per-service", "2",
                          "--slo", "code.ttft_slo_s=0.4", "--out", str(out), "--no-download"])
    assert args.func(args) == 0
    text = out.read_text()
    assert "Azure LLM Inference Trace 2024" in text and "--percentile peak" in text
    s = yaml.safe_load(text)
    _check_schema(s)
    assert s["name"] == "azure-2024" and len(s["query_types"]) == 4
    assert all(q["ttft_slo_s"] == 0.4 for q in s["query_types"] if q["family"] == "code")
    bad = ap.parse_args(["calibrate", str(tmp_path / "nope.csv"), "--no-download"])
    with pytest.raises(InputError, match="no such file"):
        bad.func(bad)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_small_traces(data):
    n = data.draw(st.integers(1, 40))
    svcs = data.draw(st.lists(st.sampled_from(["code", "conversation", "other"]), min_size=n, max_size=n))
    df = pd.DataFrame({
        "arrival_s": np.sort(np.array(data.draw(st.lists(st.floats(0, 5000, allow_nan=False), min_size=n,
                                                                  max_size=n)))),
        "input_tokens": data.draw(st.lists(st.integers(0, 20000), min_size=n, max_size=n)),
        "output_tokens": data.draw(st.lists(st.integers(0, 2000), min_size=n, max_size=n)),
        "service": svcs})
    k = data.draw(st.integers(1, 4))
    window = data.draw(st.sampled_from(["1min", "5min", 7.5]))
    stat = data.draw(st.sampled_from(STATISTICS))
    method = data.draw(st.sampled_from(["kmeans", "quantile"]))
    labels = label_query_types(df, k, method=method)
    assert labels.notna().all() and len(labels) == n
    for svc in set(svcs):  # a type belongs to exactly one service, at most k types per service
        types = set(labels[df["service"] == svc])
        assert 1 <= len(types) <= k and all(t == svc or t.startswith(svc + "-") for t in types)
    tab = calibration_table(df, window=window, statistic=stat, types_per_service=k, method=method)
    assert tab["requests"].sum() == n and (tab["requests"] > 0).all()
    assert (tab["rate_rps"] >= 0).all() and np.isfinite(tab["rate_rps"]).all()
    assert (tab["rate_mean"] <= tab["rate_p95"] + 1e-12).all() and (tab["rate_p99"] <= tab["rate_peak"] + 1e-12).all()
    s = calibrate(df, window=window, statistic=stat, types_per_service=k, method=method)
    _check_schema(s)
    assert sorted(q["name"] for q in s["query_types"]) == sorted(tab["query_type"])
