"""The regime benchmarks' flags (benchmarks/regimes.py, agh_budgets.py, compare_refs.py): a bad value exits 2
with a usage error naming the flag, before any instance is built or solved."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``benchmarks/<name>`` with ``args`` from the repository root, sloserve importable."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)


@pytest.mark.parametrize("script, args, flag", [
    ("regimes.py", ["report", "--regimes", "tight_gpu", "--no-doc"], "--regimes"),
    ("regimes.py", ["heuristics", "--sizes", "Q"], "--sizes"),
    ("regimes.py", ["heuristics", "--seeds", "0"], "--seeds"),
    ("regimes.py", ["milp", "--first-seed", "-1"], "--first-seed"),
    ("regimes.py", ["milp", "--time-limit", "0"], "--time-limit"),
    ("agh_budgets.py", ["--vary", "routes_per_type=10", "--regimes", "regular,nope"], "--regimes"),
    ("agh_budgets.py", ["--vary", "routes_per_type=10", "--seeds", "x"], "--seeds"),
    ("agh_budgets.py", ["--vary", "routes_per_type=10", "--seeds", "-3"], "--seeds"),
    ("compare_refs.py", ["--base", "HEAD", "--regimes", "tight_gpu"], "--regimes"),
    ("compare_refs.py", ["--base", "HEAD", "--seeds", "a-b"], "--seeds"),
    ("compare_refs.py", ["--base", "HEAD", "--size", "XXL"], "--size"),
    ("compare_refs.py", ["--base", "no-such-revision-xyz"], "--base"),
])
def test_bad_flags_exit_2_naming_the_flag(script, args, flag):
    r = run_script(script, *args, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert flag in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
