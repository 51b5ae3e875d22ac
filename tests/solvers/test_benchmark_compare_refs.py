"""benchmarks/compare_refs.py: two revisions side by side (its bad flags: tests/solvers/test_benchmark_flags.py)."""
from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from .test_benchmark_flags import REPO, run_script


def test_head_against_itself_changes_no_plan(tmp_path):
    """The committed revision against the working tree on one S instance: both workers solve it, the
    table has its row, and (the working tree being that commit in CI) no plan changes."""
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    out = tmp_path / "rows.csv"
    r = run_script("compare_refs.py", "--base", "HEAD", "--size", "S", "--seeds", "1", "--regimes", "tight_gpus",
                   "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "| tight_gpus | 1 |" in r.stdout
    df = pd.read_csv(out)
    assert len(df) == 1 and df.loc[0, "base_gh_s"] > 0 and df.loc[0, "head_agh_s"] > 0
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "sloserve"], capture_output=True, text=True).stdout
    if not dirty.strip():
        assert df.loc[0, "base_agh_cost"] == pytest.approx(df.loc[0, "head_agh_cost"], rel=1e-9)
        assert df.loc[0, "base_gh_cost"] == pytest.approx(df.loc[0, "head_gh_cost"], rel=1e-9)
