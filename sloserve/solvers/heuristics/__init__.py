"""GH and AGH, the constraint-aware heuristics (``docs/heuristics.md``), on the numpy ``Instance``.

Registered methods:

- ``"gh"``       one greedy pass (:mod:`.gh`), milliseconds; falls back to LP rounding
                 (:mod:`.lp`, :mod:`.lpround`) when the greedy gets stuck;
- ``"agh"``      GH ∪ LP-rounding dive ∪ two restricted MILPs (:mod:`.submip`) ∪ local search and
                 seeded multi-starts (:mod:`.search`), on a deterministic work budget by size, :mod:`.agh`;
- ``"agh+milp"`` AGH, then the MILP warm-started from the AGH plan.

Both heuristics return a plan that :func:`sloserve.check.check_arrays` accepts, or raise
:class:`~sloserve.errors.InfeasibleError` — only when the LP relaxation (hence the MILP) is
infeasible, or, never observed, when every rounding failed (the message says which). Nothing
here imports Pyomo: the LP and the restricted MILP are built on the same arrays with ``highspy``.
"""
from __future__ import annotations

from .agh import BUDGETS, AghBudget, agh, agh_arrays, agh_budget, agh_milp, default_time_cap
from .core import Knobs, Prepared, State, insert_type, prepare
from .gh import construct, gh, gh_arrays, greedy, hardest_first
from .search import adaptive, local_search

__all__ = ["gh", "agh", "agh_milp", "agh_arrays", "gh_arrays", "prepare", "Prepared", "State", "Knobs",
           "insert_type", "construct", "greedy", "hardest_first", "adaptive", "local_search",
           "AghBudget", "BUDGETS", "default_time_cap", "agh_budget"]
