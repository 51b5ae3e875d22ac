"""Interactive what-if exploration of a scenario: move the knobs, re-plan, look.

:func:`what_if` is the pure part (scenario + knobs -> plan, or the diagnosis of why there is
none); :func:`sloserve.ui.panel.plan_explorer` is the widget panel on it. Knobs: utilisation cap
ρ̄, a factor on every latency SLO, a factor on every error limit, an hourly budget and the
method. Nothing here is a second copy of the model: it edits the scenario and re-compiles.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..model.compile import compile_scenario
from ..errors import InfeasibleError
from ..problem.instance import Instance, build_instance
from ..solvers import SolveOptions, load_methods, solve
from ..problem.plan import Plan, replicas_frame
from ..model.scenario import Scenario, default_scenario
from ..evaluate.stress import with_slo_margin


#: methods whose InfeasibleError already carries the MILP's elastic diagnosis
_EXACT = ("milp", "agh+milp")


@dataclass
class WhatIf:
    """The outcome of one what-if: a plan (and its instance), or why none exists.

    ``reason`` is one line (the error's message, shown by :meth:`headline`); ``diagnosis`` the
    lines to act on (each limit to relax and by how much), shown once below it.
    """

    scenario: Scenario
    inst: Instance
    plan: Plan | None
    diagnosis: list[str]
    reason: str = ""
    runtime_s: float = 0.0  # wall time of the solve and of any diagnosis, s

    def headline(self) -> str:
        if self.plan is None:
            return "no plan: " + (self.reason or "see the diagnosis")
        rep = replicas_frame(self.inst, self.plan)
        return (f"{self.plan.method}: {self.plan.objective:.2f} $/h on {int(rep['gpus'].sum())} GPUs "
                f"({', '.join(f'{g} x{n}' for g, n in rep.groupby('gpu')['gpus'].sum().items())})")


def _check_knobs(utilization_cap, slo_scale, error_scale, budget_per_hour, method, diagnosis_time_limit_s):
    if utilization_cap is not None and not 0 < utilization_cap <= 1:
        raise ValueError(f"utilization_cap must be in (0, 1], not {utilization_cap!r}")
    for name, v in (("slo_scale", slo_scale), ("error_scale", error_scale)):
        if not v > 0:
            raise ValueError(f"{name} must be a positive factor, not {v!r}")
    if budget_per_hour is not None and budget_per_hour < 0:
        raise ValueError(f"budget_per_hour must be >= 0 $/h (0 = no budget), not {budget_per_hour!r}")
    if method not in load_methods().names():
        raise ValueError(f"unknown method {method!r}; one of {', '.join(load_methods().names())}")
    if diagnosis_time_limit_s is not None and not diagnosis_time_limit_s > 0:
        raise ValueError(f"diagnosis_time_limit_s must be > 0 s or None, not {diagnosis_time_limit_s!r}")


def what_if(scenario: Scenario | None = None, *, utilization_cap: float | None = None, slo_scale: float = 1.0,
            error_scale: float = 1.0, budget_per_hour: float | None = None, method: str = "agh",
            time_limit_s: float | None = None, diagnosis_time_limit_s: float | None = None,
            solve_options: dict | None = None) -> WhatIf:
    """Re-plan ``scenario`` (default: the embedded one) with changed knobs.

    ``slo_scale`` multiplies every TTFT/TPOT/E2E SLO (< 1 = stricter), ``error_scale`` every
    error limit (clipped to 1); ``budget_per_hour`` None keeps the scenario's budget, 0 removes it.
    ``time_limit_s`` bounds the solve, s; ``solve_options``: further
    :class:`~sloserve.solvers.SolveOptions` fields (e.g. ``on_progress``, ``on_plan``).

    When a heuristic finds no plan, the MILP's elastic diagnosis runs (as ``method="milp"`` would):
    every method gets the same diagnosis, naming the limits to relax in their own units. If the
    elastic MILP finds nothing to relax, the problem is feasible and the heuristic only got stuck:
    the MILP's plan is returned instead. ``diagnosis_time_limit_s`` bounds each elastic solve, s
    (None: none; a diagnosis stopped by it reports the smallest relaxation found by then, which
    may overstate a shortfall).
    """
    _check_knobs(utilization_cap, slo_scale, error_scale, budget_per_hour, method, diagnosis_time_limit_s)
    t0 = time.perf_counter()
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
        why = e if method in _EXACT else _elastic(inst, diagnosis_time_limit_s)
        if isinstance(why, Plan):  # nothing to relax: the heuristic was stuck, the MILP has a plan
            return WhatIf(sc, inst, why, [f"{method} found no plan; the MILP did"], runtime_s=time.perf_counter() - t0)
        lines = list(dict.fromkeys(why.diagnosis or []))  # each line once
        return WhatIf(sc, inst, None, lines, reason=str(why).splitlines()[0], runtime_s=time.perf_counter() - t0)
    return WhatIf(sc, inst, plan, [], runtime_s=time.perf_counter() - t0)


def _elastic(inst: Instance, time_limit_s: float | None) -> InfeasibleError | Plan:
    """What ``method="milp"`` says about ``inst``: its InfeasibleError with the elastic diagnosis, or
    its plan when relaxing no limit is needed (``inst`` is feasible; a heuristic was stuck)."""
    from ..problem.routable import unroutable_types
    from ..solvers.milp import diagnose

    if unroutable_types(inst):
        return diagnose.infeasible_error(inst, time_limit_s=time_limit_s)
    lines = diagnose.alternatives(inst, time_limit_s=time_limit_s)
    if lines:
        return diagnose.infeasible_error(inst, time_limit_s=time_limit_s, lines=lines)
    try:
        return solve(inst, "milp", SolveOptions(time_limit_s=time_limit_s))
    except InfeasibleError as e:
        return e
