"""What a new user sees: stdout carries only sloserve's output, a time-limited answer says so, the
main job answers at once, and the entry points (``python -m sloserve``, ``--version``) work.

These run ``sloserve`` in a subprocess: HiGHS prints its banner once per process, at the first
construction, so only a fresh process shows whether it leaks onto stdout."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sloserve

DATA = Path(__file__).resolve().parents[2] / "data" / "scenarios"
DEFAULT = Path(sloserve.__file__).resolve().parent / "data" / "default.yaml"
SOLVER_NOISE = ("HiGHS", "Copyright", "Running ", "SCIP version", "licence")


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sloserve", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _trace(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for svc, out_mean in (("code", 30), ("conv", 200)):
        t = np.sort(rng.uniform(0, 1200, 300))
        ts = pd.Timestamp("2023-11-16T18:00:00") + pd.to_timedelta(t, unit="s")
        p = tmp_path / f"AzureLLMInferenceTrace_{svc}.csv"
        pd.DataFrame({"TIMESTAMP": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                      "ContextTokens": rng.integers(50, 3000, 300),
                      "GeneratedTokens": rng.integers(1, 2 * out_mean, 300)}).to_csv(p, index=False)
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("args", [
    ["plan", str(DATA / "teaching.yaml"), "--method", "agh"],
    ["plan", str(DATA / "teaching.yaml")],  # agh+milp
    ["solve", str(DATA / "teaching.yaml"), "--method", "milp"],
    ["solve", str(DATA / "teaching.yaml"), "--method", "gh"],
    ["stress", str(DATA / "teaching.yaml"), "--methods", "gh,agh,milp", "--factors", "1.0,1.2", "--draws", "1"],
], ids=["plan-agh", "plan-default", "solve-milp", "solve-gh", "stress"])
def test_stdout_carries_no_solver_banner(tmp_path, args):
    extra = ["--out", str(tmp_path / "out.json")] if args[0] in ("plan", "solve") else []
    r = run(*args, *extra, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not any(n in r.stdout for n in SOLVER_NOISE), r.stdout[:400]
    assert not any(n in r.stderr for n in SOLVER_NOISE), r.stderr[:400]  # and not on stderr without --log


def test_rolling_stdout_carries_no_solver_banner(tmp_path):
    r = run("rolling", *_trace(tmp_path), "--window", "5min", "--no-download", "--out", str(tmp_path / "r.csv"),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not any(n in r.stdout + r.stderr for n in SOLVER_NOISE), r.stdout[:400]


def test_log_goes_to_stderr(tmp_path):
    r = run("solve", str(DATA / "teaching.yaml"), "--method", "milp", "--log", "--out", str(tmp_path / "p.json"))
    assert r.returncode == 0 and "HiGHS" in r.stderr and "HiGHS" not in r.stdout


def test_a_time_limited_answer_says_so(tmp_path):
    """``solve --time-limit 1`` on a generated L scenario: the MILP cannot prove its optimum in a second
    here (the default scenario, with its routes above the error limits dropped, it now proves in less). Either
    it found a plan — then the plan says time_limit, carries bound and gap, pays for no idle replica, and
    stderr has the one stop line — or it found none, and says that (exit 1)."""
    from sloserve.model.generate import generate_scenario
    scenario = tmp_path / "l.yaml"
    generate_scenario("L", seed=1).to_yaml(scenario)
    out = tmp_path / "p.json"
    r = run("solve", str(scenario), "--method", "milp", "--time-limit", "1", "--out", str(out))
    if r.returncode == 1:
        assert "found no plan within the time limit of 1 s" in r.stderr and not out.exists()
        return
    assert r.returncode == 0, r.stderr
    plan = json.loads(out.read_text())
    assert plan["status"] == "time_limit" and plan["bound"] is not None and plan["gap"] > 0
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("stopped at the time limit: cost ")]
    assert len(line) == 1 and "best bound" in line[0] and "gap" in line[0]
    routed = {r_["config"] for r_ in plan["routing"] if r_["fraction"] > 0}
    assert set(plan["replicas"]) <= routed  # never pay for an idle replica


def test_a_stop_before_proof_is_never_optimal():
    """Deterministic: HiGHS stopped after its root node (a node limit) with AGH's plan as incumbent (on a
    generated M scenario: the default one is proved optimal at the root)."""
    from sloserve.cli.plan import stop_line
    from sloserve.model.compile import compile_scenario
    from sloserve.model.generate import generate_scenario
    from sloserve.problem.instance import build_instance
    from sloserve.solvers import milp, solve
    inst = build_instance(compile_scenario(generate_scenario("M", seed=2)))
    agh = solve(inst, "agh")
    m = milp.create_pyomo_instance(inst)
    res = milp.solve_instance(m, warm_start=agh, solver_options={"mip_max_nodes": 1})
    assert res.status == "time_limit" and res.has_solution and res.gap > 0
    plan = milp.to_plan(m, res)
    line = stop_line(plan)
    assert line.startswith(f"stopped at the time limit: cost {plan.objective:.2f} $/h, best bound ") and "gap" in line
    loose = milp.solve_instance(milp.create_pyomo_instance(inst), warm_start=agh, mip_gap=7.0)
    assert loose.status == "gap_limit" and stop_line(milp.to_plan(m, loose)).startswith("stopped at the gap limit")


def test_plan_prints_agh_first_then_the_proof(tmp_path):
    r = run("plan", "--out", str(tmp_path / "p.json"), "--quiet")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("agh: "))
    final = next(i for i, ln in enumerate(lines) if ln.startswith("agh+milp on "))
    assert first < final and "proving it with the MILP" in lines[first]


def test_entry_points():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"sloserve {sloserve.__version__}"
    r = run("--help")
    assert r.returncode == 0 and "COMMAND" in r.stdout


def test_a_mismatched_rolling_resume_exits_2_naming_the_option(tmp_path, capsys):
    from sloserve.cli import main
    traces = _trace(tmp_path)
    out = tmp_path / "r.csv"
    assert main(["rolling", *traces, "--window", "5min", "--no-download", "--out", str(out)]) == 0
    n = len(out.read_text().splitlines())
    capsys.readouterr()
    assert main(["rolling", *traces, "--window", "10min", "--no-download", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "option window: was '5min' in the run that wrote this file, now '10min'" in err and "--overwrite" in err
    assert len(out.read_text().splitlines()) == n  # nothing was appended
    assert main(["rolling", *traces, "--window", "10min", "--no-download", "--out", str(out), "--overwrite"]) == 0
