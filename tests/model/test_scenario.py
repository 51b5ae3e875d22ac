"""Scenario files: the default loads; every kind of bad file gets one clear message and exit code 2."""
from __future__ import annotations

import textwrap

import pytest

from sloserve.cli import main
from sloserve.errors import InputError
from sloserve.model.generate import PRESETS, generate_scenario
from sloserve.model.scenario import default_scenario, load_scenario, loads_scenario, scenario_from_dict

GOOD = textwrap.dedent("""\
    name: t
    query_types:
      - {name: a, family: code, rate_rps: 1.0, input_tokens: 500, output_tokens: 50,
         tpot_slo_s: 0.05, max_error: 0.3}
    catalog: {models: [llama-3.1-8b], gpus: [h100-sxm], precisions: [bf16]}
    options: {utilization_cap: 0.8}
""")


def test_default_scenario_loads():
    sc = default_scenario()
    assert sc.query_types and sc.models and sc.gpus


def test_round_trip_yaml():
    sc = loads_scenario(GOOD, "good.yaml")
    again = loads_scenario(sc.to_yaml(), "again.yaml")
    assert again.query_types == sc.query_types and again.options == sc.options and again.models == sc.models


BAD = [
    # (description, replacement applied to GOOD, expected fragments of the message)
    ("unknown GPU", ("gpus: [h100-sxm]", "gpus: [h100-pcie]"), ["catalog.gpus[0]", "unknown value 'h100-pcie'", "allowed", "h100-sxm"]),
    ("unknown model", ("models: [llama-3.1-8b]", "models: [gpt-5]"), ["catalog.models[0]", "'gpt-5'", "allowed"]),
    ("negative rate", ("rate_rps: 1.0", "rate_rps: -1"), ["query_types[0].rate_rps", "must be >= 0", "-1"]),
    ("non-positive SLO", ("tpot_slo_s: 0.05", "tpot_slo_s: 0"), ["query_types[0].tpot_slo_s", "must be > 0"]),
    ("missing field", ("output_tokens: 50,", ""), ["query_types[0].output_tokens", "missing required field"]),
    ("mistyped field", ("input_tokens: 500", "input_tokens: lots"), ["query_types[0].input_tokens", "must be a whole number", "'lots'"]),
    ("misspelt key", ("max_error: 0.3", "max_eror: 0.3"), ["query_types[0].max_eror", "unknown field"]),
    ("bad option", ("utilization_cap: 0.8", "utilization_cap: 1.5"), ["options.utilization_cap", "must be <= 1"]),
    ("bad slo mode", ("utilization_cap: 0.8", "slo_mode: strict"), ["options.slo_mode", "per_route", "mean"]),
    ("bad family", ("family: code", "family: poetry"), ["query_types[0].family", "conversation"]),
    ("yaml syntax", ("name: t", "name: [t"), ["YAML syntax error", "line"]),
]


@pytest.mark.parametrize("what,repl,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_scenario_message_names_file_field_and_allowed(tmp_path, what, repl, fragments, capsys):
    assert repl[0] in GOOD
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD.replace(repl[0], repl[1]))
    with pytest.raises(InputError) as e:
        load_scenario(f)
    msg = str(e.value)
    assert msg.startswith(str(f)), msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    # the CLI: exit code 2, one line on stderr, no traceback
    assert main(["compile", str(f), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and str(f) in err


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(InputError, match="empty file"):
        load_scenario(tmp_path / "empty.yaml")
    with pytest.raises(InputError, match="must be a non-empty list"):
        scenario_from_dict({"name": "x", "query_types": []}, "x.yaml")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_generator_sizes_and_determinism(preset):
    p = PRESETS[preset]
    a, b = generate_scenario(preset, seed=3), generate_scenario(preset, seed=3)
    assert a == b
    assert (len(a.query_types), len(a.models), len(a.gpus)) == (p.query_types, p.models, p.gpus)
    assert generate_scenario(preset, seed=4) != a
    # generated scenarios are valid scenarios: they survive the YAML round trip through the validator
    assert loads_scenario(a.to_yaml(), "gen.yaml").query_types == a.query_types
