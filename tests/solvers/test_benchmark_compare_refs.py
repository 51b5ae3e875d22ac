"""benchmarks/compare_refs.py: two revisions side by side; bad flags exit 2 naming the flag."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "compare_refs.py"


def run(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)


@pytest.mark.parametrize("args, flag", [(["--base", "HEAD", "--regimes", "tight_gpu"], "--regimes"),
                                        (["--base", "HEAD", "--seeds", "a-b"], "--seeds"),
                                        (["--base", "no-such-revision-xyz"], "--base")])
def test_bad_flags_exit_2_naming_the_flag(args, flag):
    r = run(*args)
    assert r.returncode == 2 and flag in r.stderr, r.stderr


def test_head_against_itself_changes_no_plan(tmp_path):
    """The committed revision against the working tree on one S instance: both workers solve it, the
    table has its row, and (the working tree being that commit in CI) no plan changes."""
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    out = tmp_path / "rows.csv"
    r = run("--base", "HEAD", "--size", "S", "--seeds", "1", "--regimes", "tight_gpus", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "| tight_gpus | 1 |" in r.stdout
    import pandas as pd
    df = pd.read_csv(out)
    assert len(df) == 1 and df.loc[0, "base_gh_s"] > 0 and df.loc[0, "head_agh_s"] > 0
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "sloserve"], capture_output=True, text=True).stdout
    if not dirty.strip():
        assert df.loc[0, "base_agh_cost"] == pytest.approx(df.loc[0, "head_agh_cost"], rel=1e-9)
        assert df.loc[0, "base_gh_cost"] == pytest.approx(df.loc[0, "head_gh_cost"], rel=1e-9)
