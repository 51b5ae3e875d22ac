"""Compile: scenario -> the tables of docs/formulation.md §2.2, consistent with the catalog and the SLOs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sloserve.model import catalog
from sloserve.cli import main
from sloserve.model.compile import compile_scenario, load_problem
from sloserve.model.generate import generate_scenario
from sloserve.model.scenario import default_scenario, loads_scenario
from sloserve.problem.tables import SCHEMAS, read_compiled, write_compiled


@pytest.fixture(scope="module")
def default_compiled():
    return compile_scenario(default_scenario())


def test_tables_have_the_schema_columns(default_compiled):
    for t, cols in SCHEMAS.items():
        assert set(c.name for c in cols) <= set(default_compiled.table(t).columns), t


def test_nothing_dropped_silently(default_compiled):
    d = default_compiled.extra["dropped"]
    n_infeasible = sum(d["configs_infeasible"].values())
    assert d["candidate_configs"] == len(default_compiled.configs) + n_infeasible + d["configs_without_route"] + d["configs_unavailable"]


def test_routes_meet_per_route_slos(default_compiled):
    c = default_compiled
    r = c.routes.merge(c.query_types, on="query_type")
    assert (r["design_batch"] >= 1).all()
    for m, s in (("ttft_s", "ttft_slo_s"), ("tpot_s", "tpot_slo_s"), ("e2e_s", "e2e_slo_s")):
        ok = r[s].isna() | (r[m] <= r[s] * (1 + 1e-9))
        assert ok.all(), m
    np.testing.assert_allclose(r["e2e_s"], r["ttft_s"] + r["output_tokens"] * r["tpot_s"], rtol=1e-9)


def test_costs_and_errors_come_from_the_catalog(default_compiled):
    c = default_compiled
    inst = catalog.instances().set_index("instance_type")
    cf = c.configs
    # each replica pays for the whole instances that hold it (docs/catalog.md, "Instances")
    held = inst.loc[cf["instance_type"], "price_per_hour"].to_numpy() * cf["instances"].to_numpy()
    np.testing.assert_allclose(cf["cost_per_hour"], held)
    assert (inst.loc[cf["instance_type"], "gpus"].to_numpy() >= cf["tp"].to_numpy()).all()
    np.testing.assert_allclose(cf["spare_gpus"], cf["instances"] * cf["instance_gpus"] - cf["gpus"])
    assert (cf["gpus"] == cf["tp"] * cf["pp"]).all()
    acc = catalog.model_errors().set_index(["model", "family"])["accuracy"]
    r = c.routes.merge(cf[["config", "model", "precision"]], on="config").merge(
        c.query_types[["query_type", "family"]], on="query_type")
    rec = catalog.accuracy_recovery(r["model"], r["precision"]).to_numpy()
    a = acc.reindex(list(zip(r["model"], r["family"]))).to_numpy()
    np.testing.assert_allclose(r["error"], 1 - a * rec)


def test_multi_gpu_configurations_pay_for_multi_gpu_instances():
    """L4 at TP 1 is a g6.xlarge; TP 2 and 4 need a 4-GPU g6.12xlarge, TP 8 a g6.48xlarge (41-107 % more per GPU);
    TP 1 PP 2 is two g6.xlarge (the hop crosses instances); with per_gpu pricing replicas share instances."""
    text = """
name: t
query_types:
  - {name: a, family: conversation, rate_rps: 5, input_tokens: 500, output_tokens: 100, max_error: 0.9}
catalog: {models: [qwen2.5-0.5b], gpus: [l4, a100-80gb], precisions: [bf16]}
"""
    cost = lambda c: c.configs.set_index("config")["cost_per_hour"]  # noqa: E731
    whole = cost(compile_scenario(loads_scenario(text)))
    per_gpu = cost(compile_scenario(loads_scenario(text + "options: {instance_pricing: per_gpu}\n")))
    k = "qwen2.5-0.5b|l4|bf16|"
    assert whole[k + "tp1pp1"] == pytest.approx(0.8048)
    assert whole[k + "tp2pp1"] == whole[k + "tp4pp1"] == pytest.approx(4.6016)
    assert whole[k + "tp8pp1"] == pytest.approx(13.3504)
    assert whole[k + "tp1pp2"] == pytest.approx(2 * 0.8048)
    assert per_gpu[k + "tp2pp1"] == pytest.approx(2 * 4.6016 / 4)
    # an A100-80GB comes only in 8-GPU p4de.24xlarge instances
    assert whole["qwen2.5-0.5b|a100-80gb|bf16|tp1pp1"] == pytest.approx(27.44705)
    assert per_gpu["qwen2.5-0.5b|a100-80gb|bf16|tp1pp1"] == pytest.approx(27.44705 / 8)


def test_per_route_error_mode_drops_routes_above_the_limit():
    """error_mode per_route (the default): a route above its type's error limit is not a route; mean keeps them
    and lets the mean error bind (the seed paper's constraint)."""
    text = """
name: t
query_types:
  - {name: a, family: code, rate_rps: 5, input_tokens: 500, output_tokens: 100, max_error: 0.15%s}
catalog: {models: [qwen2.5-7b, qwen2.5-32b], gpus: [h100-sxm], precisions: [bf16]}
"""
    per = compile_scenario(loads_scenario(text % ""))
    mean = compile_scenario(loads_scenario(text % ", error_mode: mean"))
    assert (per.routes["error"] <= 0.15).all() and (mean.routes["error"] > 0.15).any()
    assert per.extra["dropped"]["routes_above_error_limit"] == int((mean.routes["error"] > 0.15).sum())
    assert set(per.query_types["error_mode"]) == {"per_route"}


def test_availability_and_price_overrides():
    text = """
name: t
query_types:
  - {name: a, family: conversation, rate_rps: 5, input_tokens: 500, output_tokens: 100, tpot_slo_s: 0.1, max_error: 0.5}
catalog: {models: [llama-3.1-8b], gpus: [h100-sxm, l40s], precisions: [bf16]}
gpus:
  h100-sxm: {available: 4, price_per_gpu_hour: 2.5}
"""
    c = compile_scenario(loads_scenario(text))
    h = c.configs[c.configs["gpu"] == "h100-sxm"]
    assert (h["max_replicas"] == 4 // h["gpus"]).all()
    np.testing.assert_allclose(h["cost_per_hour"], 2.5 * h["gpus"])
    assert c.gpus.set_index("gpu").loc["h100-sxm", "available"] == 4
    assert np.isnan(c.gpus.set_index("gpu").loc["l40s", "available"])


def test_tighter_slo_never_adds_routes():
    sc = default_scenario()
    loose = compile_scenario(sc)
    tight = compile_scenario(sc.__class__(**{**sc.__dict__, "query_types": tuple(
        q.__class__(**{**q.__dict__, "tpot_slo_s": (q.tpot_slo_s or 1.0) / 2}) for q in sc.query_types)}))
    key = ["query_type", "config"]
    assert set(map(tuple, tight.routes[key].to_numpy())) <= set(map(tuple, loose.routes[key].to_numpy()))
    assert len(tight.routes) < len(loose.routes)


def test_slo_mode_mean_keeps_routes_over_e2e():
    sc = default_scenario()
    per = compile_scenario(sc)
    mean = compile_scenario(sc.with_options(slo_mode="mean"))
    assert len(mean.routes) >= len(per.routes)


def test_cli_compile_writes_exactly_the_tables(tmp_path, capsys):
    out = tmp_path / "c"
    from sloserve.model.scenario import default_scenario_path
    assert main(["compile", str(default_scenario_path()), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.csv" for t in SCHEMAS] + ["scenario.json"])
    meta = json.loads((out / "scenario.json").read_text())
    assert {"budget_per_hour", "utilization_cap", "one_parallelism_per_deployment", "max_models", "slo_mode"} <= set(meta)
    back = read_compiled(out)
    assert len(back.routes) == len(compile_scenario(default_scenario()).routes)
    assert "candidate configurations" in capsys.readouterr().out


def test_load_problem_accepts_dir_or_yaml(tmp_path):
    from sloserve.model.scenario import default_scenario_path
    c = compile_scenario(default_scenario())
    write_compiled(c, tmp_path)
    assert len(load_problem(tmp_path).routes) == len(load_problem(default_scenario_path()).routes)


@pytest.mark.parametrize("preset", ["S", "XL"])
def test_generated_scenarios_compile_with_routes_for_every_type(preset):
    c = compile_scenario(generate_scenario(preset, seed=0))
    assert not c.extra["dropped"]["query_types_without_route"]
    assert len(c.routes) > 10 * len(c.query_types)
