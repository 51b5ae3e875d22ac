"""The shipped calibration is exactly what benchmarks/fit_perf.py fits to the public measurements."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sloserve.model import perf

REPO = Path(__file__).resolve().parents[2]
VALIDATION = Path(os.environ.get("SLOSERVE_VALIDATION_DIR") or REPO.parent / "shared" / "validation")

pytestmark = pytest.mark.skipif(not (VALIDATION / "splitwise-sim" / "perf_model.csv").exists(),
                                reason=f"measurement set not found at {VALIDATION} ($SLOSERVE_VALIDATION_DIR, else "
                                       "../shared/validation from the repo root); see docs/perf_model.md")

# Median |pred/meas − 1| the calibrated model must stay under, per data set, on the rows it was fitted to and on
# the held-out models (docs/perf_model.md, "Calibration"): the target is 12 % held out for the GPU-side
# model; the 2023 engine's end-to-end rows carry its own host behaviour, which the held-out model only half
# shares (reported, bounded loosely); the bare roofline is at 37-77 %.
THRESHOLD = {("kernels (Vidur)", "in-sample"): 0.12, ("kernels (Vidur)", "held-out"): 0.12,
             ("attention (Vidur)", "in-sample"): 0.25, ("network (Vidur)", "in-sample"): 0.15,
             ("end-to-end (Splitwise)", "in-sample"): 0.20, ("end-to-end (Splitwise)", "held-out"): 0.25}


@pytest.fixture(scope="module")
def fit():
    spec = importlib.util.spec_from_file_location("fit_perf", REPO / "benchmarks" / "fit_perf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fit_perf"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    cal, data = mod.fit_all(VALIDATION)
    return mod, cal, data


def test_shipped_calibration_equals_refit(fit):
    mod, cal, data = fit
    shipped = perf.load_calibration()
    assert list(shipped["gpu"]) == list(cal["gpu"])
    assert list(shipped["source"]) == list(cal["source"])
    for c in perf.CALIBRATION_COLUMNS:
        np.testing.assert_allclose(shipped[c].to_numpy(float), cal[c].to_numpy(float), rtol=1e-3, atol=1e-9,
                                   err_msg=f"{c}: rerun benchmarks/fit_perf.py --write")
    eng = pd.read_csv(mod.ENGINE_CSV)
    for c in mod.ENGINE_TERMS:
        np.testing.assert_allclose(eng[c].to_numpy(float), data["engine_table"][c].to_numpy(float), rtol=1e-3,
                                   atol=1e-9, err_msg=f"{c}: rerun benchmarks/fit_perf.py --write")


def test_calibrated_error_is_small_and_beats_roofline(fit):
    mod, _, data = fit
    tab = mod.summarise(mod.predictions(data), ("data", "split", "phase"))
    roof = mod.summarise_roof(data).set_index(["data", "split", "phase"])
    for _, r in tab.iterrows():
        assert r["median"] < roof.loc[(r["data"], r["split"], r["phase"]), "median"], r.to_dict()
    for (name, split), thr in THRESHOLD.items():
        t = tab[(tab["data"] == name) & (tab["split"] == split)]
        assert len(t) > 0, (name, split)
        assert (t["median"] < thr).all(), t


def test_no_kernel_group_is_optimistic(fit):
    """An optimistic model breaks SLO promises: no (model, GPU, TP) group of the operator profiles, fitted or
    held out, is more than 10 % too fast."""
    mod, _, data = fit
    p = mod.predictions(data)
    g = mod.group_bias(p[p["data"] == "kernels (Vidur)"])
    assert (g["bias"] > -0.10).all(), g.sort_values("bias").head()


def test_transferred_gpus_name_their_source_and_evidence():
    cal = perf.load_calibration().set_index("gpu")
    for gpu, src in {"a100-40gb": "a100-80gb", "h200": "h100-sxm", "mi300x": "h100-sxm", "l4": "a40",
                     "a10g": "a40", "l40s": "a40"}.items():
        assert cal.loc[gpu, "source"].startswith(f"transferred from {src}")
    for gpu in ("a100-40gb", "h200"):  # same silicon as the measured part: every fraction kept
        ref = {"a100-40gb": "a100-80gb", "h200": "h100-sxm"}[gpu]
        assert (cal.loc[gpu, list(perf.CALIBRATION_COLUMNS)] == cal.loc[ref, list(perf.CALIBRATION_COLUMNS)]).all()
    # MI300X: AMD's max-achievable BF16 GEMM rate, 708 of 1307.4 TFLOPS, not H100's fraction
    assert cal.loc["mi300x", "mfu_gemm"] == pytest.approx(708 / 1307.4, rel=1e-3)
    assert cal.loc["mi300x", "eta_weights"] < cal.loc["h100-sxm", "eta_weights"]
    # the PCIe cards' collectives come from a measured all-reduce across PCIe, not from the A40 NVLink bridge
    assert cal.loc["l40s", "allreduce_bw_eff"] > 0.5
    for gpu in ("a100-80gb", "h100-sxm"):
        assert cal.loc[gpu, "source"].startswith("fitted")
    assert isinstance(cal, pd.DataFrame)
