"""GH and AGH, the constraint-aware heuristics of FORMULATION §5, on the numpy ``Instance``.

Registered methods:

- ``"gh"``       one greedy pass (:mod:`.gh`), milliseconds;
- ``"agh"``      GH + seeded multi-start + local search (:mod:`.agh`), capped at
                 ``SolveOptions.time_limit_s`` (default 1 s);
- ``"agh+milp"`` AGH, then the MILP warm-started from the AGH plan.

``SolveOptions.extra`` knobs for AGH: ``starts`` (default 8), ``noise`` (0.15), ``max_passes`` (4).
Both heuristics return a plan that :func:`sloserve.check.check_arrays` accepts, or raise
:class:`~sloserve.errors.InfeasibleError` with where they got stuck.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..check import check_arrays
from ..errors import InfeasibleError, InputError
from ..instance import Instance
from ..methods import METHODS, PlanCheckFailed, SolveOptions, load_methods, register_method
from ..plan import Plan, plan_from_arrays
from .agh import adaptive, local_search
from .core import Knobs, Prepared, State, finish, insert_type, prepare
from .gh import construct, greedy, hardest_first

__all__ = ["gh", "agh", "agh_arrays", "gh_arrays", "prepare", "Prepared", "State", "Knobs", "insert_type",
           "construct", "greedy", "hardest_first", "adaptive", "local_search", "AGH_DEFAULT_TIME_S"]

AGH_DEFAULT_TIME_S = 1.0


def _verified(inst: Instance, st: State, P: Prepared, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, x, u = finish(P, st)
    bad = check_arrays(inst, y, x, u)
    if bad:  # a bug in the heuristic, never the user's fault
        raise PlanCheckFailed(f"{who} built a plan the checker rejects: " + "; ".join(map(str, bad[:5])))
    return y, x, u


def gh_arrays(inst: Instance, P: Prepared | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GH as arrays (y: C replicas, x: R fractions, u: I fractions); raises ``InfeasibleError``."""
    P = P or prepare(inst)
    return _verified(inst, greedy(P), P, "GH")


def agh_arrays(inst: Instance, *, seed: int = 0, time_cap_s: float = AGH_DEFAULT_TIME_S, starts: int = 8,
               noise: float = 0.15, max_passes: int = 4, P: Prepared | None = None
               ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict]:
    """AGH as arrays plus stats (starts, moves, gh_objective, stopped_by); raises ``InfeasibleError``."""
    P = P or prepare(inst)
    diagnosis: list[str] = []
    try:
        gh_state = greedy(P)
        gh_obj = gh_state.objective(P)
    except InfeasibleError as e:
        gh_state, gh_obj = None, None
        diagnosis = e.diagnosis
    best, stats = adaptive(P, gh_state, seed=seed, starts=starts, noise=noise, max_passes=max_passes,
                           time_cap_s=time_cap_s)
    if best is None:
        raise InfeasibleError("AGH found no feasible plan", diagnosis=diagnosis or ["every randomised start got stuck"])
    stats["gh_objective"] = gh_obj
    return _verified(inst, best, P, "AGH"), stats


@register_method("gh", "greedy heuristic (one constraint-aware pass, milliseconds)")
def gh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    y, x, u = gh_arrays(inst)
    return plan_from_arrays(inst, y, x, u, method="gh", status="feasible", runtime_s=time.perf_counter() - t0)


@register_method("agh", "adaptive greedy heuristic (GH + multi-start + local search, time-capped, seeded)")
def agh(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    ex = opts.extra or {}
    cap = AGH_DEFAULT_TIME_S if opts.time_limit_s is None else float(opts.time_limit_s)
    (y, x, u), stats = agh_arrays(inst, seed=opts.seed, time_cap_s=cap, starts=int(ex.get("starts", 8)),
                                  noise=float(ex.get("noise", 0.15)), max_passes=int(ex.get("max_passes", 4)))
    return plan_from_arrays(inst, y, x, u, method="agh", status="feasible", runtime_s=time.perf_counter() - t0,
                            extra={"agh": stats, "seed": opts.seed})


@register_method("agh+milp", "AGH, then the MILP warm-started from the AGH plan")
def agh_milp(inst: Instance, opts: SolveOptions) -> Plan:
    t0 = time.perf_counter()
    load_methods()
    if "milp" not in METHODS:
        raise InputError(None, "method", "agh+milp needs the 'milp' method (sloserve.milp), which is not available")
    cap = AGH_DEFAULT_TIME_S if opts.time_limit_s is None else min(AGH_DEFAULT_TIME_S, float(opts.time_limit_s))
    warm = agh(inst, replace(opts, time_limit_s=cap))
    left = None if opts.time_limit_s is None else max(float(opts.time_limit_s) - (time.perf_counter() - t0), 1.0)
    plan = METHODS["milp"].fn(inst, replace(opts, warm_start=warm, time_limit_s=left))
    plan.method = "agh+milp"
    plan.runtime_s = time.perf_counter() - t0
    plan.extra = {**plan.extra, "agh_objective": warm.objective, "agh_runtime_s": warm.runtime_s}
    return plan
