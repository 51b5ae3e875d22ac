"""The registry of solve methods; the CLI's ``--method`` choices and the panel's dropdown come from here.

A method is ``fn(inst: Instance, opts: SolveOptions) -> Plan``, registered next to its code with
``@METHODS.register("name", help=...)``. It raises :class:`~sloserve.errors.InfeasibleError`
(with a diagnosis) when it finds no plan, and must never return a plan the checker rejects:
:func:`sloserve.solvers.solve` checks every plan before returning it. This module holds only the
registry and the options; the package imports the methods it ships.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..problem.instance import Instance
from ..problem.plan import Plan
from ..registry import Entry, Registry


@dataclass(frozen=True)
class MipProgress:
    """One progress report of an exact solver (what the CLI's progress line shows)."""

    elapsed_s: float
    incumbent: float | None  # best plan's objective so far, $/h
    bound: float | None  # best proven lower bound, $/h
    gap: float | None  # relative gap between the two
    nodes: int = 0  # branch-and-bound nodes explored


@dataclass(frozen=True)
class SolveOptions:
    """Options every method accepts (ignore those that do not apply)."""

    time_limit_s: float | None = None  # wall-clock limit, seconds
    mip_gap: float | None = None  # relative gap at which an exact solver may stop
    threads: int | None = None
    solver: str = "highs"  # Pyomo solver name for MILP-based methods
    seed: int = 0  # heuristics' random seed
    log: bool = False  # pass the solver log through (to stderr)
    warm_start: Plan | None = None  # initial plan for methods that accept one
    extra: dict = field(default_factory=dict)  # method-specific knobs
    #: called with each progress report of an exact solver (incumbent, bound, gap, elapsed)
    on_progress: Callable[[MipProgress], None] | None = None
    #: called with a method's intermediate plans before its final one (agh+milp: AGH's plan)
    on_plan: Callable[[Plan], None] | None = None


Method = Callable[[Instance, SolveOptions], Plan]

#: every registered solve method
METHODS: Registry[Method] = Registry("method")


def register_method(name: str, help: str = ""):
    """Decorator: ``@register_method("gh", "greedy heuristic")`` (= ``METHODS.register``)."""
    return METHODS.register(name, help=help)


class PlanCheckFailed(RuntimeError):
    """A method returned a plan the checker rejects: a bug in that method, never user error."""


__all__ = ["MipProgress", "SolveOptions", "METHODS", "Method", "Entry", "register_method", "PlanCheckFailed"]
