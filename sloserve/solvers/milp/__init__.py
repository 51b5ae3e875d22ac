"""The exact MILP: a Pyomo ``AbstractModel`` (:mod:`.model`), one data adapter (:mod:`.data`), the
solver seam (:mod:`.seam`) and the diagnosis of infeasible problems (:mod:`.diagnose`).

The stages a notebook can stop between::

    compiled --pyomo_data--> data dict --create_pyomo_instance--> ConcreteModel
             --solve_instance--> SolveResult --to_plan--> Plan

Importing this package registers the ``milp`` method without importing Pyomo; the names below are
loaded from their modules on first use (``from sloserve.solvers import milp; milp.abstract_model()``).
"""
from __future__ import annotations

import importlib

from ...errors import InfeasibleError
from ...problem.instance import Instance
from ...problem.plan import Plan
from ...vocab import Status
from ..methods import SolveOptions, register_method

_EXPORTS = {
    "abstract_model": "model", "CONSTRAINTS": "model", "UNLIMITED": "model", "SECONDS_PER_HOUR": "model",
    "pyomo_data": "data", "create_pyomo_instance": "data", "sloserve_instance": "data",
    "solution_arrays": "data", "set_values": "data", "warm_cutoff": "data", "to_plan": "seam",
    "solve_instance": "seam", "SolveResult": "seam", "plan_status": "seam",
    "WARM_CUTOFF": "seam", "WARM_CUTOFF_SLACK": "seam", "solver_available": "seam",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


@register_method("milp", "exact MILP (Pyomo; HiGHS by default, --solver scip|gurobi|cplex|...)")
def solve_milp(inst: Instance, opts: SolveOptions) -> Plan:
    """Build, solve and extract; infeasible instances raise InfeasibleError with a diagnosis."""
    from ...problem.routable import raise_if_unroutable
    from . import diagnose
    from .data import create_pyomo_instance
    from .seam import solve_instance, to_plan

    raise_if_unroutable(inst)
    m = create_pyomo_instance(inst)
    res = solve_instance(m, solver=opts.solver, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                         threads=opts.threads, log=opts.log, warm_start=opts.warm_start)
    if res.status == Status.INFEASIBLE:
        raise diagnose.infeasible_error(inst, solver=opts.solver, time_limit_s=opts.time_limit_s)
    if not res.has_solution:
        if res.status == Status.TIME_LIMIT:
            raise InfeasibleError(f"the MILP found no plan within the time limit of {opts.time_limit_s:g} s",
                                  ["raise --time-limit, or warm-start from a heuristic plan (--method agh)"])
        raise InfeasibleError(f"solver {opts.solver!r} stopped without a plan (its status: {res.termination})",
                              ["try another solver (--solver highs or scip), or check the solver log with --log"])
    return to_plan(m, res)


def uncertainty_of(opts: SolveOptions):
    """The :class:`~sloserve.problem.robust.Uncertainty` in ``opts.extra`` (:func:`~sloserve.problem.robust.uncertainty_from`)."""
    from ...problem.robust import uncertainty_from
    return uncertainty_from(opts.extra)


@register_method("milp-robust", "robust MILP: delays and errors up to s_max on at most Γ routes per type "
                                "(Bertsimas–Sim; extra s_max, gamma)")
def solve_milp_robust(inst: Instance, opts: SolveOptions) -> Plan:
    """The MILP of :mod:`.robust`; its plan is read on the nominal tables (same names)."""
    from .robust import create_robust_instance
    from .seam import solve_instance, to_plan

    unc = uncertainty_of(opts)
    m = create_robust_instance(inst, unc)
    res = solve_instance(m, solver=opts.solver, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                         threads=opts.threads, log=opts.log)
    if not res.has_solution:
        raise InfeasibleError(f"no robust plan at s_max={unc.s_max:g}, Γ={unc.gamma} (solver status {res.status or res.termination})",
                              ["lower s_max or Γ, or relax the SLOs / error limits / budget the worst case breaks"])
    plan = to_plan(m, res, method="milp-robust")
    plan.extra["robust"] = {"s_max": unc.s_max, "gamma": unc.gamma}
    return plan
