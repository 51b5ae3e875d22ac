"""Results survive: a partition per finished case, reruns skip them, failures are recorded, and a
resume with other options or inputs is refused (the manifest rule of sloserve.resume)."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from sloserve.errors import InputError
from sloserve.sweep import SweepStore, load_spec, read_records, run_sweep

SPEC = {"study": "echo", "grid": {"seed": {"range": [6]}}}


def test_every_case_gets_a_partition_and_a_rerun_skips_them(tmp_path):
    out = tmp_path / "sw"
    r = run_sweep(SPEC, out, progress=False)
    assert (r.ran, r.skipped, r.failed) == (6, 0, 0)
    parts = sorted(p.stem for p in (out / "records").glob("*.parquet"))
    assert parts == sorted(c.key for c in load_spec(SPEC).cases)
    assert sorted(r.records["value"]) == [0, 1, 4, 9, 16, 25]
    again = run_sweep(SPEC, out, progress=False)
    assert (again.ran, again.skipped) == (0, 6) and len(again.records) == 6


def test_a_failing_case_is_recorded_with_its_traceback_and_stops_no_other(tmp_path):
    spec = {"study": "echo", "grids": [{"grid": {"seed": [0, 2]}}, {"base": {"params": {"fail": True}}, "grid": {"seed": [1]}}]}
    out = tmp_path / "sw"
    r = run_sweep(spec, out, progress=False)
    assert (r.ran, r.failed) == (3, 1)
    bad = r.records[r.records["status"] == "error"]
    assert len(bad) == 1 and "RuntimeError: case asked to fail (seed 1)" in bad["error"].iloc[0]
    assert "Traceback" in bad["traceback"].iloc[0] and "in echo" in bad["traceback"].iloc[0]
    assert sorted(r.records.loc[r.records["status"] == "ok", "value"]) == [0, 4]
    assert run_sweep(spec, out, progress=False).ran == 0  # a failure is a finished case ...
    assert run_sweep(spec, out, progress=False, retry_errors=True).ran == 1  # ... unless asked to retry it


def test_a_resume_with_other_options_or_inputs_is_refused_naming_it(tmp_path):
    out = tmp_path / "sw"
    run_sweep(SPEC, out, progress=False)
    with pytest.raises(InputError, match=r"option grid.seed.range: was \[6\] in the run that wrote this sweep, now \[7\]"):
        run_sweep({"study": "echo", "grid": {"seed": {"range": [7]}}}, out, progress=False)
    spec = load_spec(SPEC)
    spec.inputs = [{"path": "/x.yaml", "size": 1, "sha256_first_mib": "0"}]
    with pytest.raises(InputError, match="inputs"):
        run_sweep(spec, out, progress=False)
    r = run_sweep({"study": "echo", "grid": {"seed": {"range": [7]}}}, out, progress=False, overwrite=True)
    assert r.ran == 7 and len(list((out / "records").glob("*.parquet"))) == 7
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a sweep directory"):
        run_sweep(SPEC, tmp_path / "other", progress=False)


def test_a_torn_or_damaged_partition_is_dropped_and_recomputed(tmp_path):
    out = tmp_path / "sw"
    run_sweep(SPEC, out, progress=False)
    parts = sorted((out / "records").glob("*.parquet"))
    parts[0].write_bytes(parts[0].read_bytes()[:40])  # damaged
    (out / "records" / "abc.parquet.tmp").write_bytes(b"half")  # a write cut short
    s = load_spec(SPEC)
    notes = io.StringIO()
    store = SweepStore(out, options=s.options, inputs=s.inputs, notes=notes)
    assert "unreadable partition" in notes.getvalue() and "was writing when it stopped" in notes.getvalue()
    assert len(store.done()) == 5
    r = run_sweep(SPEC, out, progress=False)
    assert r.ran == 1 and len(read_records(out)) == 6


def test_summary_of_a_sweep_directory(tmp_path):
    from sloserve.sweep import summarize
    run_sweep(SPEC, tmp_path / "sw", progress=False)
    s = summarize(read_records(tmp_path / "sw"))
    assert isinstance(s, pd.DataFrame) and int(s["cases"].sum()) == 6 and s["value"].iloc[0] == pytest.approx(55 / 6)
