"""Interactive what-if exploration of a scenario: move the knobs, re-plan, look.

:func:`what_if` is the pure part (scenario + knobs -> plan, or the diagnosis of why there is
none); :func:`plan_explorer` is the widget panel on it (:mod:`.panel`). Knobs: utilisation cap
ρ̄, a factor on every latency SLO, a factor on every error limit, an hourly budget and the
method. Nothing here is a second copy of the model: it edits the scenario and re-compiles.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..model.compile import compile_scenario
from ..errors import InfeasibleError
from ..problem.instance import Instance, build_instance
from ..solvers import SolveOptions, solve
from ..problem.plan import Plan, replicas_frame
from ..model.scenario import Scenario, default_scenario
from ..evaluate.stress import with_slo_margin


@dataclass
class WhatIf:
    """The outcome of one what-if: a plan (and its instance), or the diagnosis of why none exists."""

    scenario: Scenario
    inst: Instance
    plan: Plan | None
    diagnosis: list[str]

    def headline(self) -> str:
        if self.plan is None:
            return "no plan: " + "; ".join(self.diagnosis)
        rep = replicas_frame(self.inst, self.plan)
        return (f"{self.plan.method}: {self.plan.objective:.2f} $/h on {int(rep['gpus'].sum())} GPUs "
                f"({', '.join(f'{g} x{n}' for g, n in rep.groupby('gpu')['gpus'].sum().items())})")


def what_if(scenario: Scenario | None = None, *, utilization_cap: float | None = None, slo_scale: float = 1.0,
            error_scale: float = 1.0, budget_per_hour: float | None = None, method: str = "agh",
            time_limit_s: float | None = None, solve_options: dict | None = None) -> WhatIf:
    """Re-plan ``scenario`` (default: the embedded one) with changed knobs.

    ``slo_scale`` multiplies every TTFT/TPOT/E2E SLO (< 1 = stricter), ``error_scale`` every
    error limit (clipped to 1); ``budget_per_hour`` None keeps the scenario's budget, 0 removes it;
    ``solve_options``: further :class:`~sloserve.solvers.SolveOptions` fields (e.g. ``on_progress``).
    """
    sc = scenario or default_scenario()
    if utilization_cap is not None:
        sc = sc.with_options(utilization_cap=utilization_cap)
    if budget_per_hour is not None:
        sc = sc.with_options(budget_per_hour=None if budget_per_hour <= 0 else float(budget_per_hour))
    if slo_scale != 1.0:
        sc = with_slo_margin(sc, slo_scale)
    if error_scale != 1.0:
        sc = replace(sc, query_types=tuple(replace(q, max_error=min(1.0, q.max_error * error_scale))
                                            for q in sc.query_types))
    inst = build_instance(compile_scenario(sc))
    try:
        plan = solve(inst, method, SolveOptions(time_limit_s=time_limit_s, **(solve_options or {})))
    except InfeasibleError as e:
        return WhatIf(sc, inst, None, e.diagnosis or [str(e)])
    return WhatIf(sc, inst, plan, [])


def plan_explorer(scenario: Scenario | None = None, method: str = "agh", **kw):
    """The planner panel (:class:`sloserve.ui.panel.PlannerPanel`) on ``scenario``; display it in Jupyter.

    Its ``.update()`` re-plans with the current controls, ``.result`` is the current :class:`WhatIf`.
    Needs the ``notebooks`` extra (ipywidgets)."""
    from .panel import PlannerPanel
    return PlannerPanel(scenario, method, **kw)
