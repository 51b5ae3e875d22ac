"""What-if exploration: knobs change the plan the way they should; the widget panel re-plans."""
from __future__ import annotations

from pathlib import Path

import pytest

from sloserve.checker import check
from sloserve.model.scenario import load_scenario
from sloserve.ui.explore import what_if

TEACHING = load_scenario(Path(__file__).resolve().parents[2] / "data" / "scenarios" / "teaching.yaml")


def test_knobs_move_cost_the_right_way():
    base = what_if(TEACHING, method="milp")
    assert base.plan is not None and check(base.inst, base.plan).ok
    looser = what_if(TEACHING, method="milp", error_scale=1.6)
    stricter = what_if(TEACHING, method="milp", utilization_cap=0.4)
    assert looser.plan.objective <= base.plan.objective <= stricter.plan.objective
    assert check(stricter.inst, stricter.plan).ok


def test_an_impossible_budget_returns_the_diagnosis():
    r = what_if(TEACHING, method="milp", budget_per_hour=1.0)
    assert r.plan is None and any("budget short by" in line for line in r.diagnosis)
    assert r.headline().startswith("no plan: ")


def test_widget_panel_replans_on_change():
    pytest.importorskip("ipywidgets")
    from sloserve.ui.panel import plan_explorer
    panel = plan_explorer(TEACHING, method="gh")
    first = panel.result.plan.objective
    panel.cap.value = 0.4  # observed: re-plans at once
    assert panel.result.scenario.options.utilization_cap == pytest.approx(0.4)
    assert panel.result.plan.objective >= first
    assert panel.solves == 2 and "gh: solved in" in panel.status.value and "sloserve-idle" in panel.status.value
    assert panel.changes.value.startswith("vs previous: +")


def test_panel_shows_solving_while_it_solves_and_proves():
    pytest.importorskip("ipywidgets")
    from sloserve.ui.panel import PlannerPanel
    panel = PlannerPanel(TEACHING, method="agh")
    seen = []
    panel.status.observe(lambda ch: seen.append(ch["new"]), names="value")
    panel.method.value = "agh+milp"  # AGH's plan first, then the MILP's proof
    assert any("sloserve-solving" in s and "solving… agh+milp" in s for s in seen)
    assert any("the MILP is proving it" in s for s in seen)
    plan = panel.prove_optimality()
    assert plan is not None and plan.status == "optimal" and "milp: optimal" in panel.status.value
    assert panel.result.plan.objective == pytest.approx(plan.objective)


def test_panel_controls_reach_what_if_and_the_diagnosis():
    pytest.importorskip("ipywidgets")
    from sloserve.ui.panel import PlannerPanel, plan_changes
    panel = PlannerPanel(TEACHING, method="milp")
    panel.slo.value, panel.err.value = 1.5, 1.5
    assert panel.knobs()["slo_scale"] == 1.5 and panel.knobs()["error_scale"] == 1.5
    panel.budget.value = 1.0
    assert panel.result.plan is None and "budget short by" in panel.tables.value
    panel.budget.value = 0.0
    assert panel.result.plan is not None and panel.changes.value == "<i>a plan exists again</i>"
    d = plan_changes(panel.previous, panel.result)
    assert (d["before"] == 0).all() and (d["after"] > 0).all()


def test_panel_simulates_its_plan():
    pytest.importorskip("ipywidgets")
    from sloserve.ui.panel import PlannerPanel
    panel = PlannerPanel(TEACHING, method="agh", sim_duration_s=60.0)
    res = panel.simulate()
    assert res is not None and res.summary["requests"].sum() == len(res.requests) > 0
    assert "simulated" in panel.status.value and "sloserve-idle" in panel.status.value


@pytest.mark.parametrize("method", ["gh", "agh"])
def test_a_heuristic_gets_the_milps_diagnosis_once(method):
    exact = what_if(TEACHING, method="milp", budget_per_hour=1.0)
    r = what_if(TEACHING, method=method, budget_per_hour=1.0)
    assert r.plan is None and r.diagnosis == exact.diagnosis
    assert r.diagnosis[0].startswith("budget short by")
    assert len(set(r.diagnosis)) == len(r.diagnosis)
    assert not any(line in r.headline() for line in r.diagnosis)  # the panel prints them below: once


@pytest.mark.parametrize("knobs, word", [({"utilization_cap": 1.5}, "utilization_cap"), ({"slo_scale": 0}, "slo_scale"),
                                         ({"budget_per_hour": -1}, "budget_per_hour"), ({"method": "nope"}, "unknown method"),
                                         ({"diagnosis_time_limit_s": 0}, "diagnosis_time_limit_s")])
def test_bad_knobs_are_refused_by_name(knobs, word):
    with pytest.raises(ValueError, match=word):
        what_if(TEACHING, **knobs)


def test_a_stuck_heuristic_on_a_feasible_problem_gets_the_milps_plan(monkeypatch):
    from sloserve.errors import InfeasibleError
    from sloserve.ui import explore
    real = explore.solve

    def stuck_gh(inst, method, opts=None):
        if method == "gh":
            raise InfeasibleError("GH found no feasible plan", diagnosis=["every construction got stuck"])
        return real(inst, method, opts)

    monkeypatch.setattr(explore, "solve", stuck_gh)
    r = what_if(TEACHING, method="gh")
    assert r.plan is not None and r.plan.method == "milp" and check(r.inst, r.plan).ok
    assert r.diagnosis == ["gh found no plan; the MILP did"]
