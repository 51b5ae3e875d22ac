"""One registry of solve methods; the CLI's ``--method`` choices come from here.

A method is ``fn(inst: Instance, opts: SolveOptions) -> Plan``. It raises
:class:`~sloserve.errors.InfeasibleError` (with a diagnosis) when it finds no plan, and must
never return a plan the checker rejects: :func:`solve` checks every plan before returning it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Callable

from .check import check
from .errors import InputError
from .instance import Instance, build_instance
from .plan import Plan
from .tables import Compiled


@dataclass(frozen=True)
class SolveOptions:
    """Options every method accepts (ignore those that do not apply)."""

    time_limit_s: float | None = None  # wall-clock limit, seconds
    mip_gap: float | None = None  # relative gap at which an exact solver may stop
    threads: int | None = None
    solver: str = "highs"  # Pyomo solver name for MILP-based methods
    seed: int = 0  # heuristics' random seed
    log: bool = False  # pass the solver log through to stdout
    warm_start: Plan | None = None  # initial plan for methods that accept one
    extra: dict = field(default_factory=dict)  # method-specific knobs


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[[Instance, SolveOptions], Plan]
    help: str


METHODS: dict[str, Method] = {}

#: modules whose import registers methods (import is lazy so `sloserve --help` stays fast)
_PROVIDERS = ("sloserve.milp", "sloserve.heuristics")


def register_method(name: str, help: str):
    """Decorator: ``@register_method("gh", "greedy heuristic")``."""

    def deco(fn):
        METHODS[name] = Method(name, fn, help)
        return fn

    return deco


def load_methods() -> dict[str, Method]:
    for mod in _PROVIDERS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a provider not written yet; any other import error is a bug
            if e.name != mod:
                raise
    return METHODS


class PlanCheckFailed(RuntimeError):
    """A method returned a plan the checker rejects: a bug in that method, never user error."""


def solve(problem: Compiled | Instance, method: str = "milp", opts: SolveOptions | None = None, **kw) -> Plan:
    """Solve with a registered method and verify the plan with the independent checker."""
    methods = load_methods()
    if method not in methods:
        raise InputError(None, "method", f"unknown method {method!r}; choose one of {sorted(methods)}")
    opts = replace(opts or SolveOptions(), **kw)
    inst = problem if isinstance(problem, Instance) else build_instance(problem)
    plan = methods[method].fn(inst, opts)
    res = check(inst, plan)
    if not res.ok:
        raise PlanCheckFailed(f"method {method!r} produced a plan the checker rejects:\n{res.report()}")
    plan.objective = res.objective
    return plan
