"""The embedded default scenario is exactly what its header's calibration command makes of the traces."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import sloserve
from sloserve.cli import main
from sloserve.traces.trace import default_trace_dir

DEFAULT = Path(sloserve.__file__).resolve().parent / "data" / "default.yaml"


def test_the_default_scenario_is_reproduced_by_its_header_command(tmp_path, capsys):
    traces = default_trace_dir()
    if traces is None or not (traces / "AzureLLMInferenceTrace_code.csv").exists():
        pytest.skip("Azure 2023 trace samples not found (set SLOSERVE_TRACE_DIR)")
    header = next(ln for ln in DEFAULT.read_text().splitlines() if ln.startswith("# Calibrated with: "))
    argv = shlex.split(header[len("# Calibrated with: "):])
    assert argv[:2] == ["sloserve", "calibrate"]
    args = argv[1:]
    out = args.index("--out")
    args[out + 1] = str(tmp_path / "default.yaml")
    args = [str(traces / a) if a.endswith(".csv") else a for a in args]
    assert main(args + ["--no-download"]) == 0
    made = (tmp_path / "default.yaml").read_text()
    assert made == DEFAULT.read_text()
