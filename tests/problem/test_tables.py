"""Compiled-table directories: round trip, and loud validation naming file, row and field."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.problem.instance import build_instance
from sloserve.problem.tables import SCHEMAS, Compiled, read_compiled, write_compiled

from ..factories import random_compiled, tiny_compiled


def test_round_trip(tmp_path):
    c = random_compiled(np.random.default_rng(7))
    write_compiled(c, tmp_path)
    # a table built by hand has no step-time coefficients: config_perf is optional (OPTIONAL_TABLES)
    assert c.config_perf is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{t}.csv" for t in Compiled.TABLES] + ["scenario.json"])
    d = read_compiled(tmp_path)
    assert d.options == c.options and d.config_perf is None
    for t in Compiled.TABLES:
        a, b = c.table(t), d.table(t)
        for col in SCHEMAS[t]:
            if col.dtype == "str":
                assert list(a[col.name]) == list(b[col.name])
            else:
                np.testing.assert_allclose(a[col.name].to_numpy(float), b[col.name].to_numpy(float), rtol=1e-9)
    ia, ib = build_instance(c), build_instance(d)
    np.testing.assert_array_equal(ia.ymax, ib.ymax)


def test_scenario_json_has_the_options(tmp_path):
    write_compiled(tiny_compiled(budget_per_hour=10.0, max_models=2), tmp_path)
    meta = json.loads((tmp_path / "scenario.json").read_text())
    assert {"budget_per_hour", "utilization_cap", "one_parallelism_per_deployment", "max_models", "slo_mode"} <= set(meta)
    assert meta["budget_per_hour"] == 10.0 and meta["max_models"] == 2


@pytest.mark.parametrize("table,col,value,fragment", [
    ("routes", "capacity_rps", "-3", "must be > 0"),
    ("routes", "error", "1.5", "must be <= 1"),
    ("query_types", "rate_rps", "fast", "must be a number"),
    ("configs", "tp", "1.5", "whole number"),
    ("routes", "config", "ghost|g|bf16|tp1pp1", "unknown config"),
])
def test_bad_cell_names_file_row_and_field(tmp_path, table, col, value, fragment):
    write_compiled(tiny_compiled(), tmp_path)
    f = tmp_path / f"{table}.csv"
    df = pd.read_csv(f, dtype=str)
    df.loc[1, col] = value
    df.to_csv(f, index=False)
    with pytest.raises(InputError) as e:
        read_compiled(tmp_path)
    msg = str(e.value)
    assert f"{table}.csv" in msg and "row 3" in msg and col in msg and fragment in msg, msg


def test_missing_column_and_file(tmp_path):
    write_compiled(tiny_compiled(), tmp_path)
    df = pd.read_csv(tmp_path / "routes.csv").drop(columns=["kv_byte_seconds"])
    df.to_csv(tmp_path / "routes.csv", index=False)
    with pytest.raises(InputError, match="kv_byte_seconds: missing column"):
        read_compiled(tmp_path)
    write_compiled(tiny_compiled(), tmp_path / "other")
    (tmp_path / "other" / "gpus.csv").unlink()
    with pytest.raises(InputError, match="gpus.csv: missing file"):
        read_compiled(tmp_path / "other")


def test_bad_option(tmp_path):
    write_compiled(tiny_compiled(), tmp_path)
    meta = json.loads((tmp_path / "scenario.json").read_text())
    meta["slo_mode"] = "strict"
    (tmp_path / "scenario.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="slo_mode: must be one of"):
        read_compiled(tmp_path)


def test_ymax_is_valid_and_tight():
    inst = build_instance(tiny_compiled())
    # small: all of q-easy (2 rps) + q-hard (1 rps) at 1 rps/replica -> 3; big: 3 rps at 2 rps -> 2
    assert list(inst.ymax) == [3, 2]
    c = tiny_compiled()
    c.gpus["available"] = 2.0
    assert list(build_instance(c).ymax) == [2, 2]
    assert list(build_instance(tiny_compiled(budget_per_hour=5.0)).ymax) == [3, 1]
