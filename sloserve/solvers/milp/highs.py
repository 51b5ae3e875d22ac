"""HiGHS on any linear Pyomo model, through highspy's API: no log text, no private attributes.

The model is compiled to matrices by Pyomo's public linear standard-form compiler
(``WriterFactory("compile_standard_form")``, mixed form: rows keep their sense), passed to a
:func:`sloserve.solvers.highs.new_highs` instance, and solved. What sloserve reports comes from
HiGHS's API only:

- status, objective, bound and gap from ``getModelStatus()`` / ``getInfo()``;
- progress (incumbent, bound, gap, elapsed) from the ``cbMipLogging`` callback;
- whether a warm start was accepted from the ``cbMipImprovingSolution`` callback: ``True`` when
  HiGHS's first incumbent *is* the start (same values), ``False`` when HiGHS reported no incumbent at
  all or a first incumbent worse than the start (it would never prefer a worse one), else ``None``
  (unknown: a different, not worse, first incumbent — the start may or may not have been used).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.opt import WriterFactory

from ...vocab import Status
from ..highs import csc_model, new_highs
from ..methods import MipProgress

#: HiGHS model status -> sloserve status (None: stopped without a usable answer, e.g. an error)
_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kInterrupt: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kObjectiveBound: Status.FEASIBLE,
    highspy.HighsModelStatus.kObjectiveTarget: Status.FEASIBLE,
}
#: a start and HiGHS's incumbent are "the same solution" within this absolute tolerance per column
SAME_SOLUTION_TOL = 1e-7


@dataclass
class HighsOutcome:
    termination: str  # HiGHS's model status name, for logs
    status: Status | None
    has_solution: bool
    objective: float | None
    bound: float | None
    warm_start_accepted: bool | None
    #: every improving solution HiGHS reported: (seconds since the solve started, objective $/h)
    incumbents: tuple[tuple[float, float], ...] = ()


def _finite(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def solve_pyomo(m: pyo.ConcreteModel, *, time_limit_s: float | None = None, mip_gap: float | None = None,
                threads: int | None = None, log: bool = False, warm_objective: float | None = None,
                warm_start: bool = False, objective_bound: float | None = None,
                on_progress: Callable[[MipProgress], None] | None = None,
                options: dict[str, Any] | None = None) -> HighsOutcome:
    """Solve ``m`` (its active linear objective and constraints) and load the best solution into its variables.

    ``warm_start``: pass the variables' current values as a MIP start; ``warm_objective`` is that start's
    objective (used to judge acceptance); ``objective_bound``: a cutoff (HiGHS ``objective_bound``)."""
    info = WriterFactory("compile_standard_form").write(m, mixed_form=True, set_sense=None)
    cols = info.columns
    objs = info.objectives
    if len(objs) != 1:
        raise ValueError(f"the model needs exactly one active objective, it has {len(objs)}")
    maximize = objs[0].sense == pyo.maximize
    A = info.A.tocsc()
    bt = np.array([r.bound_type for r in info.rows], dtype=int)
    rhs = np.asarray(info.rhs, dtype=float)
    row_lower = np.where(bt == 1, -np.inf, rhs)
    row_upper = np.where(bt == -1, np.inf, rhs)
    col_lower = np.array([-np.inf if v.lb is None else float(v.lb) for v in cols])
    col_upper = np.array([np.inf if v.ub is None else float(v.ub) for v in cols])
    integer = np.array([v.is_integer() for v in cols], dtype=bool)
    cost = np.asarray(info.c.toarray(), dtype=float).ravel() if info.c.shape[0] else np.zeros(len(cols))
    offset = float(np.asarray(info.c_offset).ravel()[0]) if np.asarray(info.c_offset).size else 0.0

    h = new_highs(log=log, progress=on_progress is not None)
    for k, v in {"time_limit": time_limit_s, "mip_rel_gap": mip_gap, "threads": threads,
                 "objective_bound": objective_bound, **(options or {})}.items():
        if v is not None:
            h.setOptionValue(k, float(v) if k in ("time_limit", "mip_rel_gap", "objective_bound") else v)
    csc_model(h, cost, col_lower, col_upper, row_lower, row_upper, A.indptr, A.indices, A.data,
              integer=integer if integer.any() else None, offset=offset, maximize=maximize)

    start = None
    if warm_start and integer.any():
        start = np.array([0.0 if v.value is None else float(v.value) for v in cols])
        sol = highspy.HighsSolution()
        sol.col_value = start
        sol.value_valid = True
        h.setSolution(sol)
    first: list[tuple[float, np.ndarray]] = []
    incumbents: list[tuple[float, float]] = []

    def improving(e) -> None:
        obj = float(e.data_out.objective_function_value)
        incumbents.append((time.perf_counter() - t_run, obj))
        if not first:
            first.append((obj, np.array(e.data_out.mip_solution)))

    h.cbMipImprovingSolution.subscribe(improving)
    t_run = time.perf_counter()
    if on_progress is not None:
        t0 = t_run

        def progress(e) -> None:
            d = e.data_out
            inc, bnd = _finite(d.mip_primal_bound), _finite(d.mip_dual_bound)
            on_progress(MipProgress(elapsed_s=time.perf_counter() - t0, incumbent=inc, bound=bnd,
                                    gap=_finite(d.mip_gap) if inc is not None else None, nodes=int(d.mip_node_count)))

        h.cbMipLogging.subscribe(progress)
    h.run()

    ms = h.getModelStatus()
    hinfo = h.getInfo()
    has = hinfo.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    if has:
        values = np.asarray(h.getSolution().col_value, dtype=float)
        for v, val in zip(cols, values):
            v.set_value(float(np.round(val)) if v.is_integer() else float(val), skip_validation=True)
        # variables in no active row or objective were left out of the matrices: any value in their
        # bounds is optimal; give unset ones their bound nearest 0 so the model can be evaluated
        for v in m.component_data_objects(pyo.Var, descend_into=True):
            if v.value is None and not v.fixed:
                lo, hi = v.lb, v.ub
                v.set_value(min(max(0.0, -np.inf if lo is None else lo), np.inf if hi is None else hi),
                            skip_validation=True)
    objective = _finite(hinfo.objective_function_value) if has else None
    if integer.any():
        bound = _finite(hinfo.mip_dual_bound)
    else:
        bound = objective if ms == highspy.HighsModelStatus.kOptimal else None
    accepted = None
    if start is not None:
        if not first:
            accepted = False
        elif np.max(np.abs(first[0][1] - start), initial=0.0) <= SAME_SOLUTION_TOL * max(1.0, float(np.max(np.abs(start), initial=0.0))):
            accepted = True
        elif warm_objective is not None and (first[0][0] - warm_objective) * (-1 if maximize else 1) > \
                1e-9 * max(1.0, abs(warm_objective)):
            accepted = False
    return HighsOutcome(termination=h.modelStatusToString(ms), status=_STATUS.get(ms), has_solution=has,
                        objective=objective, bound=bound, warm_start_accepted=accepted,
                        incumbents=tuple(incumbents))
