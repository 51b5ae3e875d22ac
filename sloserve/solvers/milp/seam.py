"""The solver seam: any Pyomo solver on the MILP, one status vocabulary, one result type.

``solve_instance`` takes a Pyomo model (the MILP or any model a notebook changed), solves it with
HiGHS (default), SCIP (pyscipopt) or any Pyomo solver by name, loads the best solution and maps
the solver's termination to :class:`~sloserve.vocab.Status` in one place (:func:`plan_status`).
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import pyomo.environ as pyo

from ...errors import InputError
from ...problem.plan import Plan
from ...vocab import OPTIMAL_GAP, Status
from ..methods import MipProgress
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

    status: Status | None  # optimal | gap_limit | time_limit | feasible | infeasible; None = solver error, no plan
    solver: str
    termination: str  # the solver's own condition name, for logs
    has_solution: bool
    objective: float | None  # incumbent objective the solver reports, $/h
    bound: float | None  # proven lower bound, $/h
    runtime_s: float
    #: whether the solver took the warm start as its first incumbent: "accepted", "rejected" or
    #: "unknown" (no reliable signal from this solver); None when there was no warm start
    warm_start: str | None = None
    #: the improving solutions as they came: (seconds since the solve started, objective $/h); HiGHS only
    incumbents: tuple[tuple[float, float], ...] = ()

    @property
    def gap(self) -> float | None:
        return relative_gap(self.objective, self.bound)

    @property
    def warm_start_accepted(self) -> bool | None:
        """True / False when the solver says, None when unknown or without a warm start."""
        return {"accepted": True, "rejected": False}.get(self.warm_start or "")


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """(objective − bound) / |objective|, ≥ 0; None without both numbers."""
    if objective is None or bound is None or not math.isfinite(bound):
        return None
    return max(0.0, objective - bound) / max(abs(objective), 1e-9)


def _finite(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


#: a warm start's objective is also given to HiGHS as a cutoff (``objective_bound``), slightly relaxed
#: so that a plan of the same cost is never cut off
WARM_CUTOFF = True
WARM_CUTOFF_SLACK = 1e-6
#: relative difference between the solver's incumbent objective and the plan's recomputed one beyond which
#: the solver's "optimal" is not trusted (its search pruned against an incumbent it did not return)
OBJECTIVE_MISMATCH = 1e-5


@dataclass(frozen=True)
class _Request:
    time_limit_s: float | None
    mip_gap: float | None
    threads: int | None
    log: bool
    warm: bool  # the variables hold a start to pass on
    warm_objective: float | None  # that start's checked objective (None: not checker-clean)
    on_progress: Callable[[MipProgress], None] | None
    solver_options: dict[str, Any] | None = None


def _solve_highs(m, rq: _Request) -> tuple:
    """HiGHS through highspy (:mod:`.highs`): progress, warm-start acceptance and bounds from its API."""
    from .highs import solve_pyomo

    cutoff = None
    if rq.warm and WARM_CUTOFF and rq.warm_objective is not None and math.isfinite(rq.warm_objective):
        cutoff = rq.warm_objective + WARM_CUTOFF_SLACK * max(1.0, abs(rq.warm_objective))
    out = solve_pyomo(m, time_limit_s=rq.time_limit_s, mip_gap=rq.mip_gap, threads=rq.threads, log=rq.log,
                      warm_start=rq.warm, warm_objective=rq.warm_objective, objective_bound=cutoff,
                      on_progress=rq.on_progress, options=rq.solver_options)
    warm = None if not rq.warm else {True: "accepted", False: "rejected"}.get(out.warm_start_accepted, "unknown")
    return out.termination, out.status, out.has_solution, out.objective, out.bound, warm, out.incumbents


def _solve_contrib(name, m, rq: _Request) -> tuple:
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus

    opt = SolverFactory(name)
    kw: dict[str, Any] = {"tee": sys.stderr if rq.log else False, "load_solutions": False,
                          "raise_exception_on_nonoptimal_result": False}
    if rq.time_limit_s is not None:
        kw["time_limit"] = float(rq.time_limit_s)
    if rq.mip_gap is not None:
        kw["rel_gap"] = float(rq.mip_gap)
    if rq.threads is not None:
        kw["threads"] = int(rq.threads)
    if rq.warm and "warmstart_discrete_vars" in opt.config:
        kw["warmstart_discrete_vars"] = True
    with _quiet_stdout(rq.log):
        res = opt.solve(m, **kw)
    has = res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    if has:
        res.solution_loader.load_vars()
    name_ = res.termination_condition.name
    return (name_, plan_status(name_, has), has, _finite(res.incumbent_objective), _finite(res.objective_bound),
            "unknown" if rq.warm else None, ())


#: option names of the legacy (executable) interfaces: time limit, relative gap, threads
_LEGACY_OPTIONS = {"gurobi": ("TimeLimit", "MIPGap", "Threads"), "cplex": ("timelimit", "mipgap", "threads"),
                   "cbc": ("seconds", "ratioGap", "threads"), "glpk": ("tmlim", "mipgap", None)}


def _solve_legacy(name, m, rq: _Request) -> tuple:
    opt = pyo.SolverFactory(name)
    names = _LEGACY_OPTIONS.get(name.split("_")[0], (None, None, None))
    options = {k: v for k, v in zip(names, (rq.time_limit_s, rq.mip_gap, rq.threads)) if k is not None and v is not None}
    kw: dict[str, Any] = {"tee": bool(rq.log), "load_solutions": False, "options": options}
    if rq.warm and opt.warm_start_capable():
        kw["warmstart"] = True
    with _quiet_stdout(rq.log):
        res = opt.solve(m, **kw)
    has = len(res.solution) > 0
    if has:
        m.solutions.load_from(res)
    name_ = res.solver.termination_condition.name
    return (name_, plan_status(name_, has), has, _finite(res.problem.upper_bound), _finite(res.problem.lower_bound),
            "unknown" if rq.warm else None, ())


def _quiet_stdout(log: bool):
    """A solver's own output goes to stderr with ``log`` and nowhere without (stdout is sloserve's)."""
    return contextlib.redirect_stdout(sys.stderr if log else io.StringIO())


def _backend(solver: str):
    """Which interface solves ``solver``: HiGHS via highspy, SCIP via pyscipopt (``pyomo.contrib.solver``
    'scip_direct'), new-style interfaces by their name, else the legacy factory."""
    from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory

    name = {"scip": "scip_direct"}.get(solver, solver)
    if name in ("highs", "appsi_highs"):
        return _solve_highs, True
    if name in ContribFactory:
        return (lambda m, rq: _solve_contrib(name, m, rq)), bool(ContribFactory(name).available())
    pyomo_log = logging.getLogger("pyomo")
    level = pyomo_log.level
    pyomo_log.setLevel(logging.CRITICAL + 1)  # an unknown name is logged with a traceback; ours is one line
    try:
        opt = pyo.SolverFactory(name)
        ok = bool(opt.available(exception_flag=False))
    finally:
        pyomo_log.setLevel(level)
    return (lambda m, rq: _solve_legacy(name, m, rq)), ok


def solve_instance(instance: pyo.ConcreteModel, solver: str = "highs", time_limit_s: float | None = None,
                   mip_gap: float | None = None, threads: int | None = None, log: bool = False,
                   warm_start: Plan | None = None,
                   start_objective: float | None = None,
                   on_progress: Callable[[MipProgress], None] | None = None,
                   solver_options: dict[str, Any] | None = None) -> SolveResult:
    """Solve a Pyomo instance of the MILP (or any linear model) and load the best solution found.

    ``solver``: 'highs' (default), 'scip' (pyscipopt), or any Pyomo solver name ('gurobi',
    'cplex', 'cbc', ...). ``time_limit_s`` seconds; ``mip_gap`` relative; ``warm_start`` a plan
    whose values are set on the variables and passed to solvers that accept a start; ``on_progress``
    receives the incumbent, bound and gap as the solve goes (HiGHS); ``solver_options`` are passed to
    HiGHS by name (e.g. ``{"mip_max_nodes": 100}``; other solvers ignore them). ``start_objective``: the
    variables already hold a start the caller set and checked, of this objective ($/h; for models that
    extend the MILP, e.g. :mod:`sloserve.batch.joint`); it is passed on like a warm start. The status is ``optimal`` only
    when the solver proved optimality within :data:`~sloserve.vocab.OPTIMAL_GAP`; a solver that stopped
    at a larger gap the user allowed gives ``gap_limit``.
    """
    fn, available = _backend(solver)
    if not available:
        raise InputError(None, "solver", f"solver {solver!r} is not available here; 'highs' and 'scip' "
                                         f"(pyscipopt) ship with sloserve's test extras")
    warm_obj = None
    if warm_start is not None:
        set_values(instance, warm_start)
        warm_obj = _finite(warm_cutoff(instance, warm_start))
    elif start_objective is not None:
        warm_obj = _finite(start_objective)
    warm = warm_start is not None or start_objective is not None
    rq = _Request(time_limit_s, mip_gap, threads, bool(log), warm, warm_obj, on_progress,
                  solver_options)
    t0 = time.perf_counter()
    termination, status, has, objective, bound, warm, incumbents = fn(instance, rq)
    if status == Status.OPTIMAL and bound is None:
        bound = objective
    gap = relative_gap(objective, bound)
    if status == Status.OPTIMAL and gap is not None and gap > OPTIMAL_GAP * (1 + 1e-9) + 1e-12:
        status = Status.GAP_LIMIT
    return SolveResult(status=status, solver=solver, termination=termination, has_solution=has,
                       objective=objective, bound=bound, runtime_s=time.perf_counter() - t0, warm_start=warm,
                       incumbents=tuple(incumbents))


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
    if result.warm_start is not None:
        plan.extra["warm_start"] = result.warm_start
    gap = relative_gap(plan.objective, result.bound)
    if gap is not None:
        plan.extra["gap"] = gap
    rep = result.objective
    if rep is not None and abs(rep - plan.objective) > OBJECTIVE_MISMATCH * max(1.0, abs(plan.objective)):
        # e.g. HiGHS presolve with a MIP start (docs/heuristics.md): the plan stands (the checker judges it),
        # the optimality claim does not
        plan.extra["solver_objective_mismatch"] = {"solver": rep, "plan": plan.objective}
        if plan.status == Status.OPTIMAL:
            plan.status = Status.FEASIBLE
    return plan

