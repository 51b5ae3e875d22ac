"""Solve methods on one problem: the exact MILP (:mod:`.milp`) and the heuristics (:mod:`.heuristics`).

:func:`solve` runs a registered method and checks its plan with the independent checker; the
methods register themselves in :data:`~sloserve.solvers.methods.METHODS` when this package
imports them (the MILP without importing Pyomo until it runs).
"""
from __future__ import annotations

from dataclasses import replace

from ..checker import check
from ..problem.instance import Instance, build_instance, check_scale
from ..problem.plan import Plan, tidy
from ..problem.tables import Compiled
from ..registry import Registry
from . import heuristics, milp  # noqa: F401  (importing registers gh, agh, agh+milp and milp)
from .methods import METHODS, Method, PlanCheckFailed, SolveOptions, register_method


def load_methods() -> Registry[Method]:
    """The method registry, with sloserve's own methods registered."""
    return METHODS


def solve(problem: Compiled | Instance, method: str = "milp", opts: SolveOptions | None = None, **kw) -> Plan:
    """Solve with a registered method, tidy the plan (:func:`~sloserve.problem.plan.tidy`: no idle
    replicas) and verify it with the independent checker; a rejected plan raises PlanCheckFailed. A problem
    every plan of which needs more than 1e8 replicas is refused first (InputError, docs/inputs.md)."""
    fn = METHODS.get(method)
    opts = replace(opts or SolveOptions(), **kw)
    inst = problem if isinstance(problem, Instance) else build_instance(problem)
    check_scale(inst)  # beyond it no method's plan could be certified: exit 2 with the limit, not a wrong answer
    plan = tidy(inst, fn(inst, opts))
    res = check(inst, plan)
    if not res.ok:
        raise PlanCheckFailed(f"method {method!r} produced a plan the checker rejects:\n{res.report()}")
    plan.objective = res.objective
    return plan


__all__ = ["METHODS", "Method", "PlanCheckFailed", "SolveOptions", "register_method", "load_methods", "solve"]
