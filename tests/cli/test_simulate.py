"""``sloserve simulate``, ``plan --verify`` and ``stress --simulate`` end to end."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from sloserve.cli import main
from sloserve.model.scenario import default_scenario_path
from sloserve.traces.trace import default_trace_dir

TRACE_DIR = default_trace_dir()
CODE = None if TRACE_DIR is None else TRACE_DIR / "AzureLLMInferenceTrace_code.csv"
needs_azure = pytest.mark.skipif(CODE is None or not CODE.is_file(),
                                 reason="Azure 2023 trace samples not found (set SLOSERVE_TRACE_DIR)")

COLUMNS = ["arrived_at", "first_token_at", "completed_at", "input_tokens", "output_tokens", "query_type", "config",
           "replica", "preemptions"]


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    assert main(["plan", "--method", "agh", "--quiet", "--out", str(d / "plan.json")]) == 0
    return d / "plan.json"


def _with_targets(tmp_path, target: float):
    sc = yaml.safe_load(default_scenario_path().read_text())
    for q in sc["query_types"]:
        q["slo_attainment"] = target
    p = tmp_path / "targets.yaml"
    p.write_text(yaml.safe_dump(sc))
    return p


def test_simulate_writes_requests_and_summaries(tmp_path, default_plan, capsys):
    out = tmp_path / "sim"
    code = main(["simulate", str(default_scenario_path()), str(default_plan), "--duration", "120", "--out", str(out)])
    assert code == 0  # the default scenario states no attainment target: nothing to miss
    req = pd.read_parquet(out / "requests.parquet")
    assert list(req.columns[:len(COLUMNS)]) == COLUMNS
    assert (req["arrived_at"] >= 0).all() and req["arrived_at"].is_monotonic_increasing
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 6 and {"ttft_p90_s", "slo_attainment"} <= set(summary.columns)
    for f in ("replicas.csv", "timeseries.csv"):
        assert (out / f).exists()
    text = capsys.readouterr().out
    assert f"simulated {len(req):,} requests" in text


def test_simulate_exits_1_naming_each_type_that_misses(tmp_path, default_plan, capsys):
    # the mean-rate plan under a 99 % target: some types miss it (test_simulator shows the 90 % case)
    sc = _with_targets(tmp_path, 0.99)
    code = main(["simulate", str(sc), str(default_plan), "--duration", "300", "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 1
    summary = pd.read_csv(tmp_path / "sim" / "summary.csv")
    missed = summary[summary["slo_attainment"] < 0.99]
    assert len(missed) >= 1
    for q in missed["query_type"]:
        assert f"query type {q}: " in err and "target 99.0%" in err
    assert err.count("points short") == len(missed)


@needs_azure
def test_simulate_with_a_scheduler_trained_on_another_split(tmp_path, default_plan, capsys):
    """A_min with the binned predictor learning from the trace's first half, replaying its second."""
    lines = CODE.read_text().splitlines(keepends=True)
    half = 1 + (len(lines) - 1) // 2
    (tmp_path / "code_train.csv").write_text("".join(lines[:half]))
    (tmp_path / "code_replay.csv").write_text(lines[0] + "".join(lines[half:]))
    code = main(["simulate", str(default_scenario_path()), str(default_plan), "--trace", str(tmp_path / "code_replay.csv"),
                 "--scheduler", "amin", "--predictor", "binned", "--predictor-train", str(tmp_path / "code_train.csv"),
                 "--horizon", "600", "--out", str(tmp_path / "s")])
    assert code == 0
    req = pd.read_parquet(tmp_path / "s" / "requests.parquet")
    assert len(req) == len(lines) - half
    counts = req["status"].value_counts()
    assert counts.get("completed", 0) > 0 and counts.get("after_horizon", 0) > 0  # the half-hour is cut at 600 s
    assert set(req["query_type"]) <= {"code-s", "code-m", "code-l"}


def test_plan_verify_meets_the_target_and_says_what_it_costs(tmp_path, capsys):
    out = tmp_path / "verified.json"
    code = main(["plan", "--verify", "--attainment", "0.9", "--duration", "300", "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "verify: agh plans replayed in simulation" in text and "every target met in simulation" in text
    assert "checker: every constraint holds" in text
    plan = json.loads(out.read_text())
    assert plan["objective"] > 0
    assert main(["check", str(default_scenario_path()), str(out)]) == 0


def test_stress_simulate_prints_attainment_per_method(tmp_path, capsys):
    out = tmp_path / "stress.csv"
    code = main(["stress", str(default_scenario_path()), "--simulate", "--methods", "gh,agh", "--factors", "1.0,1.5",
                 "--duration", "120", "--out", str(out)])
    assert code == 0
    t = pd.read_csv(out)
    assert set(t["method"]) == {"gh", "agh"} and set(t["s"]) == {1.0, 1.5}
    assert t["attainment"].between(0, 1).all()
