"""The solver seam: any Pyomo solver on the MILP, one status vocabulary, one result type.

``solve_instance`` takes a Pyomo model (the MILP or any model a notebook changed), solves it with
HiGHS (default), SCIP (pyscipopt) or any Pyomo solver by name, loads the best solution and maps
the solver's termination to :class:`~sloserve.vocab.Status` in one place (:func:`plan_status`).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyomo.environ as pyo

from ...errors import InputError
from ...problem.plan import Plan
from ...vocab import Status
from ...errors import InfeasibleError
from ...problem.plan import plan_from_arrays
from .data import sloserve_instance, set_values, solution_arrays, warm_cutoff

# ---- the solver seam ------------------------------------------------------------------------------

#: Every solver termination condition sloserve knows, by its enum name (legacy Pyomo, APPSI and
#: pyomo.contrib.solver), mapped to the plan status vocabulary. The ONE place for this mapping.
_TERMINATION = {
    "optimal": Status.OPTIMAL, "convergenceCriteriaSatisfied": Status.OPTIMAL, "globallyOptimal": Status.OPTIMAL,
    "locallyOptimal": Status.OPTIMAL,
    "maxTimeLimit": Status.TIME_LIMIT, "maxIterations": Status.TIME_LIMIT, "iterationLimit": Status.TIME_LIMIT,
    "maxEvaluations": Status.TIME_LIMIT, "interrupted": Status.TIME_LIMIT, "userInterrupt": Status.TIME_LIMIT,
    "objectiveLimit": Status.FEASIBLE, "feasible": Status.FEASIBLE,
    "infeasible": Status.INFEASIBLE, "provenInfeasible": Status.INFEASIBLE, "locallyInfeasible": Status.INFEASIBLE,
    "infeasibleOrUnbounded": Status.INFEASIBLE, "intermediateNonInteger": Status.INFEASIBLE,
}


def plan_status(termination: str, has_solution: bool) -> str | None:
    """Map a solver's termination condition to ``optimal | feasible | infeasible | time_limit``.

    None means the solver stopped for another reason (an error) without a usable plan.
    """
    s = _TERMINATION.get(termination)
    if s in (Status.OPTIMAL, Status.FEASIBLE) and not has_solution:
        return None
    if s is None:
        return Status.FEASIBLE if has_solution else None
    return s


@dataclass
class SolveResult:
    """What a solve returned, in sloserve's words (the solution is loaded into the model)."""

    status: str | None  # optimal | feasible | infeasible | time_limit; None = solver error, no plan
    solver: str
    termination: str  # the solver's own condition name, for logs
    has_solution: bool
    objective: float | None  # incumbent objective the solver reports, $/h
    bound: float | None  # proven lower bound, $/h
    runtime_s: float
    #: HiGHS only: whether the warm start was accepted as the first incumbent (None: no warm start /
    #: not observable with this solver), and that incumbent's objective
    warm_start_accepted: bool | None = None
    warm_start_objective: float | None = None

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None or not math.isfinite(self.bound):
            return None
        return max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-9)


def _finite(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


#: a warm start's objective is also given to HiGHS as a cutoff (``objective_bound``), slightly relaxed
#: so that a plan of the same cost is never cut off
WARM_CUTOFF = True
WARM_CUTOFF_SLACK = 1e-6
_MIP_START = re.compile(r"MIP start solution is feasible, objective value is\s+(\S+)")


def _solve_appsi_highs(m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    """HiGHS via APPSI. A warm start (``warm`` = its checked objective, :func:`warm_cutoff`; None = no
    start) is passed as a MIP start (``Highs.setSolution`` of the values :func:`set_values` put on the
    variables) and, with ``WARM_CUTOFF`` and a finite ``warm``, as ``objective_bound``; whether HiGHS
    accepted the start is read from its log."""
    import tempfile
    from pyomo.contrib.appsi.solvers import Highs

    opt = Highs()
    opt.config.load_solution = False
    opt.config.stream_solver = bool(log)
    opt.config.warmstart = warm is not None
    if time_limit_s is not None:
        opt.config.time_limit = float(time_limit_s)
    if mip_gap is not None:
        opt.config.mip_gap = float(mip_gap)
    options: dict[str, Any] = {}
    if threads is not None:
        options["threads"] = int(threads)
    if warm is not None and WARM_CUTOFF and math.isfinite(warm):
        options["objective_bound"] = float(warm) + WARM_CUTOFF_SLACK * max(1.0, abs(float(warm)))
    opt.highs_options = options
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if warm is not None:  # HiGHS says in its log whether it accepted the start
            opt.config.logfile = str(Path(tmp) / "highs.log")
        res = opt.solve(m)
        if warm is not None:
            opt._solver_model.setOptionValue("log_file", "")  # closes the file
            hit = _MIP_START.search(Path(opt.config.logfile).read_text(errors="replace"))
            extra["warm_start_accepted"] = hit is not None
            extra["warm_start_objective"] = float(hit.group(1)) if hit else None
    has = res.best_feasible_objective is not None
    if has:
        res.solution_loader.load_vars()
    return (res.termination_condition.name, has, _finite(res.best_feasible_objective),
            _finite(res.best_objective_bound), extra)


def _solve_contrib(name, m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus

    opt = SolverFactory(name)
    kw: dict[str, Any] = {"tee": bool(log), "load_solutions": False, "raise_exception_on_nonoptimal_result": False}
    if time_limit_s is not None:
        kw["time_limit"] = float(time_limit_s)
    if mip_gap is not None:
        kw["rel_gap"] = float(mip_gap)
    if threads is not None:
        kw["threads"] = int(threads)
    if warm is not None and "warmstart_discrete_vars" in opt.config:
        kw["warmstart_discrete_vars"] = True
    res = opt.solve(m, **kw)
    has = res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    if has:
        res.solution_loader.load_vars()
    return res.termination_condition.name, has, _finite(res.incumbent_objective), _finite(res.objective_bound), {}


#: option names of the legacy (executable) interfaces: time limit, relative gap, threads
_LEGACY_OPTIONS = {"gurobi": ("TimeLimit", "MIPGap", "Threads"), "cplex": ("timelimit", "mipgap", "threads"),
                   "cbc": ("seconds", "ratioGap", "threads"), "glpk": ("tmlim", "mipgap", None)}


def _solve_legacy(name, m, time_limit_s, mip_gap, threads, log, warm) -> tuple:
    opt = pyo.SolverFactory(name)
    names = _LEGACY_OPTIONS.get(name.split("_")[0], (None, None, None))
    options = {k: v for k, v in zip(names, (time_limit_s, mip_gap, threads)) if k is not None and v is not None}
    kw: dict[str, Any] = {"tee": bool(log), "load_solutions": False, "options": options}
    if warm is not None and opt.warm_start_capable():
        kw["warmstart"] = True
    res = opt.solve(m, **kw)
    has = len(res.solution) > 0
    if has:
        m.solutions.load_from(res)
    return (res.solver.termination_condition.name, has, _finite(res.problem.upper_bound),
            _finite(res.problem.lower_bound), {})


def _backend(solver: str):
    """Which interface solves ``solver``: HiGHS via APPSI (it warm-starts), SCIP via pyscipopt
    (``pyomo.contrib.solver`` 'scip_direct'), new-style interfaces by their name, else the legacy factory."""
    from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory

    name = {"scip": "scip_direct"}.get(solver, solver)
    if name in ("highs", "appsi_highs"):
        from pyomo.contrib.appsi.solvers import Highs
        return (lambda *a: _solve_appsi_highs(*a)), bool(Highs().available())
    if name in ContribFactory:
        return (lambda *a: _solve_contrib(name, *a)), bool(ContribFactory(name).available())
    opt = pyo.SolverFactory(name)
    return (lambda *a: _solve_legacy(name, *a)), bool(opt.available(exception_flag=False))


def solve_instance(instance: pyo.ConcreteModel, solver: str = "highs", time_limit_s: float | None = None,
                   mip_gap: float | None = None, threads: int | None = None, log: bool = False,
                   warm_start: Plan | None = None) -> SolveResult:
    """Solve a Pyomo instance of the MILP (or any model) and load the best solution found.

    ``solver``: 'highs' (default), 'scip' (pyscipopt), or any Pyomo solver name ('gurobi',
    'cplex', 'cbc', ...). ``time_limit_s`` seconds; ``mip_gap`` relative; ``warm_start`` a plan
    whose values are set on the variables and passed to solvers that accept a start.
    """
    fn, available = _backend(solver)
    if not available:
        raise InputError(None, "solver", f"solver {solver!r} is not available here; 'highs' and 'scip' "
                                         f"(pyscipopt) ship with sloserve's test extras")
    warm = None
    if warm_start is not None:
        set_values(instance, warm_start)
        warm = warm_cutoff(instance, warm_start)
    t0 = time.perf_counter()
    termination, has, objective, bound, extra = fn(instance, time_limit_s, mip_gap, threads, log, warm)
    status = plan_status(termination, has)
    if status == Status.OPTIMAL and bound is None:
        bound = objective
    return SolveResult(status=status, solver=solver, termination=termination, has_solution=has,
                       objective=objective, bound=bound, runtime_s=time.perf_counter() - t0,
                       warm_start_accepted=extra.get("warm_start_accepted"),
                       warm_start_objective=extra.get("warm_start_objective"))



def solver_available(solver: str) -> bool:
    """Whether ``solver`` ('highs', 'scip', or any Pyomo solver name) can run here."""
    return _backend(solver)[1]


def to_plan(instance: pyo.ConcreteModel, result: SolveResult, method: str = "milp") -> Plan:
    """The loaded solution as a :class:`Plan`; the objective is recomputed from replicas and unserved."""
    if not result.has_solution:
        raise InfeasibleError(f"{result.solver} returned no plan (status {result.status or result.termination})")
    inst = sloserve_instance(instance)
    y, x, u = solution_arrays(instance)
    plan = plan_from_arrays(inst, y, x, u, method=method, status=result.status or Status.FEASIBLE, bound=result.bound,
                            runtime_s=result.runtime_s,
                            extra={"solver": result.solver, "termination": result.termination})
    if result.warm_start_accepted is not None:
        plan.extra["warm_start_accepted"] = result.warm_start_accepted
        plan.extra["warm_start_objective"] = result.warm_start_objective
    if result.bound is not None and plan.objective is not None:
        plan.extra["gap"] = max(0.0, plan.objective - result.bound) / max(abs(plan.objective), 1e-9)
    return plan

