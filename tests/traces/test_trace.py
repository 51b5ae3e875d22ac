"""Trace loaders: the 2023 Azure samples, the 2024/2025 formats, user CSVs and bad input."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from sloserve.errors import InputError
from sloserve.traces.trace import (KNOWN_TRACES, default_trace_dir, fetch_trace, infer_service, load_trace,
                            load_traces, resolve_trace)

TRACE_DIR = default_trace_dir()
CODE = None if TRACE_DIR is None else TRACE_DIR / "AzureLLMInferenceTrace_code.csv"
CONV = None if TRACE_DIR is None else TRACE_DIR / "AzureLLMInferenceTrace_conv.csv"
needs_azure = pytest.mark.skipif(CODE is None or not CODE.is_file() or not CONV.is_file(),
                                 reason="Azure 2023 trace samples not found (set SLOSERVE_TRACE_DIR)")

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GOOD = ["2023-11-16 18:17:03.9799600,4808,10\n",
        "2023-11-16 18:17:04.0319600,3180,8\n",
        "2023-11-16 18:17:04.0781490,110,27\n",
        "2023-11-16 18:17:05.0000000,50,5\n"]


def _write(tmp_path: Path, lines: list[str], name: str = "t_code.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "".join(lines))
    return p


# ---- the public 2023 samples -----------------------------------------------------------------

@needs_azure
@pytest.mark.parametrize("path,service,n", [(CODE, "code", 8819), (CONV, "conversation", 19366)])
def test_azure_2023_samples(path, service, n):
    # The files have 8,820 lines (header + requests) and no trailing newline, so `wc -l` shows one less.
    df = load_trace(path)
    assert list(df.columns) == ["arrival_s", "input_tokens", "output_tokens", "service"]
    assert len(df) == n
    assert (df["service"] == service).all()
    a = df["arrival_s"].to_numpy()
    assert a[0] == 0.0 and np.all(np.diff(a) >= 0)
    assert (df["input_tokens"] > 0).all() and (df["output_tokens"] > 0).all()
    assert df["input_tokens"].dtype == np.int64 and df["output_tokens"].dtype == np.int64
    assert df.attrs["skipped"] == {} and df.attrs["arrival_kind"] == "datetime"
    assert df.attrs["t0"].startswith("2023-11-16T18:1")


@needs_azure
def test_azure_2023_values_and_common_clock():
    code = load_trace(CODE)
    # first rows: 18:17:03.9799600 and 18:17:04.0319600 -> 0.052 s apart (7 fractional digits kept)
    assert code["arrival_s"].iloc[1] == pytest.approx(0.052, abs=1e-6)
    assert code["input_tokens"].iloc[0] == 4808 and code["output_tokens"].iloc[0] == 10
    assert code["input_tokens"].mean() == pytest.approx(2047.8, abs=0.2)
    both = load_traces([CODE, CONV])
    assert len(both) == 8819 + 19366
    assert set(both["service"].unique()) == {"code", "conversation"}
    first_code = both.loc[both["service"] == "code", "arrival_s"].min()
    assert first_code == pytest.approx(77.299, abs=1e-3)  # conv starts 18:15:46.68, code 18:17:03.98
    each = load_traces([CODE, CONV], align="each")
    assert each.loc[each["service"] == "code", "arrival_s"].min() == 0.0


@needs_azure
def test_fetch_trace_finds_local_copy_and_verifies_hash():
    p = fetch_trace("azure-2023-code", download=False)
    assert p.name == KNOWN_TRACES["azure-2023-code"].filename
    assert resolve_trace("azure-2023-conv", download=False).name == "AzureLLMInferenceTrace_conv.csv"


def test_fetch_trace_local_dir_and_bad_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOSERVE_TRACE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="unknown trace"):
        fetch_trace("azure-1999")
    with pytest.raises(InputError, match="not found"):
        fetch_trace("azure-2024-code", download=False)
    (tmp_path / "AzureLLMInferenceTrace_code.csv").write_text(HEADER + GOOD[0])
    with pytest.raises(InputError, match="sha256"):
        fetch_trace("azure-2023-code", tmp_path, download=False)
    # unpinned files (2024/2025) are returned as found
    (tmp_path / "AzureLLMInferenceTrace_code_1week.csv").write_text(HEADER + GOOD[0])
    assert fetch_trace("azure-2024-code", tmp_path, download=False).parent == tmp_path
    assert all(t.url.startswith("https://") for t in KNOWN_TRACES.values())


def test_infer_service():
    assert infer_service("AzureLLMInferenceTrace_code_1week.csv") == "code"
    assert infer_service("x/AzureLLMInferenceTrace_conv.csv") == "conversation"
    assert infer_service("AzureLMMInferenceTrace_multimodal.csv.gz") == "multimodal"
    assert infer_service("My Trace.csv") == "my-trace"


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad,line_field,reason", [
    ("2023-11-16 25:99:00.0000000,10,5\n", "TIMESTAMP", "unparsable timestamp"),
    ("2023-11-16 18:17:04.5,-3,5\n", "ContextTokens", "negative token count"),
    ("2023-11-16 18:17:04.5,10,abc\n", "GeneratedTokens", "non-numeric token count"),
    ("2023-11-16 18:17:04.5,10.5,4\n", "ContextTokens", "non-integer token count"),
    ("2023-11-16 18:17:04.5,10\n", "GeneratedTokens", "missing value"),
])
def test_bad_row_raises_with_line_and_column(tmp_path, bad, line_field, reason):
    p = _write(tmp_path, GOOD[:2] + [bad] + GOOD[2:])
    with pytest.raises(InputError) as ei:
        load_trace(p)
    e = ei.value
    assert e.row == 4 and e.field == line_field and reason in e.message
    assert str(e).startswith(f"{p}: row 4: {line_field}: ")


def test_too_many_fields_raises_and_first_row_is_not_an_index(tmp_path):
    p = _write(tmp_path, GOOD[:2] + ["2023-11-16 18:17:04.5,1,2,3\n"] + GOOD[2:])
    with pytest.raises(InputError) as ei:
        load_trace(p)
    assert ei.value.row == 4 and "expected 3 fields, saw 4" in str(ei.value)
    # a longer *first* data row would make pandas treat column 1 as an index: must be caught
    p2 = _write(tmp_path, ["2023-11-16 18:17:03.5,7,8,\n"] + GOOD, name="lead.csv")
    with pytest.raises(InputError) as ei:
        load_trace(p2)
    assert ei.value.row == 2


def test_missing_column_and_empty_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.5,7\n")
    with pytest.raises(InputError) as ei:
        load_trace(p)
    assert ei.value.field == "GeneratedTokens" and "missing column" in ei.value.message
    e = tmp_path / "empty.csv"
    e.write_text("")
    with pytest.raises(InputError, match="empty file"):
        load_trace(e)
    with pytest.raises(InputError, match="no such trace file"):
        load_trace(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="on_bad_rows"):
        load_trace(p, on_bad_rows="ignore")


def test_skip_mode_counts_each_reason(tmp_path):
    bad = ["2023-11-16 18:17:03.5,1,2,3\n",        # line 2: malformed (first data row!)
           "not a time,10,5\n",                     # unparsable timestamp
           "2023-11-16 18:17:04.5,-3,5\n",          # negative
           "2023-11-16 18:17:04.6,10,abc\n",        # non-numeric
           "2023-11-16 18:17:04.7,1,2,3\n",         # malformed (later row)
           "\n",                                    # blank line
           "2023-11-16 18:17:04.8,10\n"]            # missing value
    p = _write(tmp_path, [bad[0], GOOD[0], bad[1], GOOD[1], bad[2], bad[3], bad[4], GOOD[2], bad[5], bad[6], GOOD[3]])
    df = load_trace(p, on_bad_rows="skip", chunk_rows=3)
    assert len(df) == 4
    assert df["input_tokens"].tolist() == [4808, 3180, 110, 50]
    sk = df.attrs["skipped"]
    assert sk == {"malformed row": 2, "unparsable timestamp": 1, "negative token count": 1,
                  "non-numeric token count": 1, "blank line": 1, "missing value": 1}
    first = df.attrs["skipped_first_line"]
    assert first["malformed row"] == 2
    assert first["unparsable timestamp"] == 4
    assert first["negative token count"] == 6
    assert first["non-numeric token count"] == 7
    assert first["blank line"] == 10
    assert first["missing value"] == 11


# ---- 2024 / 2025 formats and user CSVs ------------------------------------------------------

def test_2024_format_with_offsets_and_missing_fraction(tmp_path):
    p = tmp_path / "AzureLLMInferenceTrace_conv_1week.csv"
    p.write_text(HEADER + "2024-05-12 00:00:00.010000+00:00,100,10\n"
                 "2024-05-12 00:00:01+00:00,200,20\n"
                 "2024-05-12 00:00:01.5+00:00,300,0\n")
    df = load_trace(p, progress=False, chunk_rows=2)
    assert df["service"].iloc[0] == "conversation"
    assert df["arrival_s"].tolist() == pytest.approx([0.0, 0.99, 1.49])
    assert df["output_tokens"].tolist() == [10, 20, 0]


def test_2025_multimodal_gz(tmp_path):
    p = tmp_path / "AzureLMMInferenceTrace_multimodal.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write("TIMESTAMP,NumImages,ContextTokens,GeneratedTokens\n"
                "2024-10-15 12:00:00.000000+00:00,1,1500,40\n"
                "2024-10-15 12:00:02.250000+00:00,0,300,25\n")
    df = load_trace(p)
    assert list(df.columns) == ["arrival_s", "input_tokens", "output_tokens", "service", "num_images"]
    assert df["num_images"].tolist() == [1, 0] and df["service"].iloc[0] == "multimodal"
    assert df["arrival_s"].tolist() == pytest.approx([0.0, 2.25])


def test_user_csv_with_mapping_and_numeric_seconds(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("ts,prompt_len,gen_len,other\n10.5,100,7,x\n9.0,50,3,y\n12,80,5,z\n")
    df = load_trace(p, service="chat", columns={"arrival": "ts", "input_tokens": "prompt_len",
                                                "output_tokens": "gen_len"})
    assert df["arrival_s"].tolist() == pytest.approx([0.0, 1.5, 3.0])  # sorted by arrival
    assert df["input_tokens"].tolist() == [50, 100, 80]
    assert df.attrs["arrival_kind"] == "seconds" and df.attrs["t0"] is None
    ms = tmp_path / "ms.csv"
    ms.write_text("ts,prompt_len,gen_len\n1000,1,1\n3500,2,2\n")
    d2 = load_trace(ms, columns={"arrival": "ts", "input_tokens": "prompt_len", "output_tokens": "gen_len"},
                    arrival_unit="ms")
    assert d2["arrival_s"].tolist() == pytest.approx([0.0, 2.5])
    with pytest.raises(InputError, match="columns.bogus"):
        load_trace(p, columns={"bogus": "ts"})


def test_header_only_gives_empty_frame(tmp_path):
    p = _write(tmp_path, [])
    df = load_trace(p)
    assert len(df) == 0 and list(df.columns) == ["arrival_s", "input_tokens", "output_tokens", "service"]


def test_missing_samples_say_in_one_line_where_to_put_them(tmp_path, monkeypatch):
    from sloserve.traces.trace import azure_2023_samples
    monkeypatch.setenv("SLOSERVE_TRACE_DIR", str(tmp_path))
    with pytest.raises(InputError) as e:
        azure_2023_samples(download=False)
    msg = str(e.value)
    assert "\n" not in msg and "SLOSERVE_TRACE_DIR" in msg and "AzureLLMInferenceTrace_code.csv" in msg
