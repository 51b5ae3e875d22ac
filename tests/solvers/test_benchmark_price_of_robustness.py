"""benchmarks/price_of_robustness.py: the simulated study's rows and its picks, on tiny inputs."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.problem.instance import build_instance
from sloserve.solvers import SolveOptions, load_methods, solve

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "benchmarks"))  # the script imports its siblings docblock.py and machine.py
    try:
        spec = importlib.util.spec_from_file_location("bench_por", REPO / "benchmarks" / "price_of_robustness.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("bench_por", None)


def test_simulate_all_gives_every_world_method_and_stress_level_a_row(bench):
    load_methods()
    sc = default_scenario()
    tables = compile_scenario(sc)
    plan = solve(build_instance(tables), "gh", SolveOptions())
    listed = {"both": [("gh", "gh"), ("milp-robust 1.3 box", None)], "delays": [("gh", "gh")]}
    rows = pd.DataFrame(bench.simulate_all("default", sc, tables, {"gh": (tables, plan)}, listed, duration_s=60.0))
    planned = rows[rows["planned"]]
    # gh and the verified plan in both worlds at every level; the robust method without a plan once, unplanned
    assert len(planned) == 2 * 2 * len(bench.SIM_FACTORS)
    assert set(planned["method"]) == {"gh", bench.VERIFIED}
    assert list(rows[~rows["planned"]]["method"]) == ["milp-robust 1.3 box"]
    both = planned[planned["world"] == "both"].set_index(["method", "s"])["violated"]
    delays = planned[planned["world"] == "delays"].set_index(["method", "s"])["violated"]
    assert (delays <= both + 1e-12).all()  # errors as measured break no more than errors × s
    assert (planned["violated"].between(0, 1)).all()


def test_sim_section_picks_the_cheapest_plan_within_the_limit(bench):
    rows = []
    for inst in ("a", "b"):
        for s in bench.SIM_FACTORS:
            rows += [{"world": "delays", "instance": inst, "method": "milp", "planned": True, "s": s, "violated": 0.5,
                      "infra_cost_per_hour": 10.0, "verified_met": float("nan")},
                     {"world": "delays", "instance": inst, "method": "dear", "planned": True, "s": s,
                      "violated": 0.05 if s == 1.0 else 0.2, "infra_cost_per_hour": 20.0, "verified_met": float("nan")},
                     {"world": "delays", "instance": inst, "method": bench.VERIFIED, "planned": True, "s": s,
                      "violated": 0.005 if inst == "a" and s == 1.0 else 0.3, "infra_cost_per_hour": 30.0,
                      "verified_met": inst == "a"}]
    text, g, front = bench.sim_section(pd.DataFrame(rows), "delays")
    lines = text.splitlines()
    row1 = next(ln for ln in lines if ln.startswith("| 1 |"))
    assert row1 == f"| 1 | dear 2 | {bench.VERIFIED} 1, none 1 |"  # ≤ 10 %: the cheaper; ≤ 1 %: only a's verified
    assert next(ln for ln in lines if ln.startswith("| 1.1 |")) == "| 1.1 | none 2 | none 2 |"
    assert "met its target on seed 0 on 1 of 2 instances (a 30.00); not met within its iterations: b 30.00" in text
    assert "| dear | 2/2 | +100.0% |" in text
    assert set(front) == {"milp", "dear"}  # at s = 1.2 the verified plan is dearer and worse than "dear"
