"""The CLI never prints a Python traceback: a bug of ours is one line asking for a report (exit 3),
the traceback only with ``sloserve --debug``; an OS error nothing caught is one line (exit 2).
And the two fixes this battery keeps: no 1,000,000-replica sentinel, no idle GPUs at zero traffic."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sloserve.cli import main
from sloserve.cli import plan as plan_commands
from sloserve.cli.main import ISSUES_URL
from sloserve.errors import EXIT_INTERNAL

HERE = Path(__file__).resolve().parent


def _boom(args):
    raise ZeroDivisionError("something we did not expect")


def test_an_internal_error_is_one_line_asking_for_a_report(monkeypatch, capsys):
    monkeypatch.setattr(plan_commands, "cmd_methods", _boom)
    assert main(["methods"]) == EXIT_INTERNAL == 3
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("internal error: ZeroDivisionError: something we did not expect; please report it at "
                          f"{ISSUES_URL} with the command you ran; rerun with --debug for the traceback")


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(plan_commands, "cmd_methods", _boom)
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "methods"])


def test_a_plan_the_checker_rejects_is_an_internal_error(monkeypatch, capsys):
    """PlanCheckFailed is a bug of the method that produced the plan, never the user's input."""
    from sloserve.solvers import PlanCheckFailed

    def fails(args):
        raise PlanCheckFailed("method 'x' produced a plan the checker rejects:\ncapacity[c]: ...")
    monkeypatch.setattr(plan_commands, "cmd_methods", fails)
    assert main(["methods"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("internal error: PlanCheckFailed: method 'x' produced a plan") and len(err.splitlines()) == 1


def test_an_uncaught_os_error_is_one_line_naming_the_path(monkeypatch, capsys):
    def denied(args):
        raise PermissionError(13, "Permission denied", "/some/where.csv")
    monkeypatch.setattr(plan_commands, "cmd_methods", denied)
    assert main(["methods"]) == 2
    assert capsys.readouterr().err == "error: /some/where.csv: permission denied\n"


def test_the_console_script_prints_no_traceback(tmp_path):
    """The same through a real process (python -m sloserve), where nothing catches for us."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nquery_types:\n  - {name: a, rate_rps: 1, rate_rps: 2}\n")
    r = subprocess.run([sys.executable, "-m", "sloserve", "compile", str(bad), "--out", str(tmp_path / "c")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "duplicate key 'rate_rps'" in r.stderr


def _teaching_at(rate: float):
    from sloserve.model.compile import compile_scenario
    from sloserve.model.scenario import load_scenario
    sc = load_scenario(HERE.parents[1] / "data" / "scenarios" / "teaching.yaml")
    return compile_scenario(dataclasses.replace(sc, query_types=tuple(dataclasses.replace(q, rate_rps=rate)
                                                                      for q in sc.query_types)))


def test_no_limit_is_no_limit_even_at_1e12_requests_per_second():
    """The old 'unlimited' max_replicas sentinel (1,000,000) was a real cap. At 1e12 req/s (beyond the
    scenario limit, so built in Python) nothing in the Instance caps replicas, a heuristic's plan of
    ~4e11 replicas passes the checker, and solve() refuses the scale with a message, not 'infeasible'."""
    from sloserve.checker import check
    from sloserve.errors import InputError
    from sloserve.problem.instance import build_instance
    from sloserve.solvers import METHODS, SolveOptions, solve
    inst = build_instance(_teaching_at(1e12))
    assert np.isinf(inst.max_replicas).all() and np.isinf(inst.available).all()
    assert inst.ymax.max() > 1e11
    plan = METHODS.get("gh")(inst, SolveOptions())
    assert sum(plan.replicas.values()) > 1e11 and check(inst, plan).ok
    with pytest.raises(InputError, match=r"every plan needs at least .* replicas, more than at most 1e8 replicas"):
        solve(inst, "gh")


@pytest.mark.parametrize("method", ["gh", "agh", "milp"])
def test_no_gpus_are_paid_for_without_traffic(method):
    from sloserve.problem.instance import build_instance
    from sloserve.solvers import solve
    plan = solve(build_instance(_teaching_at(0.0)), method)
    assert plan.objective == 0 and plan.replicas == {}
