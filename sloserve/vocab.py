"""The shared vocabulary: plan statuses, constraint names and unit constants.

The MILP, the checker, the diagnosis, the plan file and ``docs/formulation.md`` all use these
names; a test ties each of them to this module. ``StrEnum`` members compare equal to their
string values, so ``plan.status == "optimal"`` and JSON files keep plain strings.
"""
from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10
    from enum import Enum

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

#: seconds in an hour: $/request · requests/s -> $/h, and requests/h <-> requests/s
SECONDS_PER_HOUR = 3600.0
#: $ per request charged for a request that misses its SLOs or goes unserved, when its query type
#: states no ``unserved_penalty`` of its own (the stress studies' default; a user knob)
DEFAULT_VIOLATION_PENALTY = 0.01


class Status(StrEnum):
    """How a method's answer ended.

    ``optimal``     proven optimal within the solver's default tolerance (relative gap ≤ 1e-4)
    ``gap_limit``   an exact solver stopped at a relative gap the user allowed (> 1e-4); carries bound and gap
    ``time_limit``  an exact solver stopped at its time (or iteration) limit with a plan; carries bound and gap
    ``feasible``    a heuristic's plan: checked, not proven optimal (carries a bound when the method has one)
    ``infeasible``  no plan exists (a diagnosis says why)
    """

    OPTIMAL = "optimal"
    GAP_LIMIT = "gap_limit"
    TIME_LIMIT = "time_limit"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"


#: the relative gap at which a solve counts as proven optimal (HiGHS's default mip_rel_gap)
OPTIMAL_GAP = 1e-4


class Constraint(StrEnum):
    """The constraint families of the MILP (``docs/formulation.md`` §3), plus ``domain`` (variable
    bounds and integrality), which the checker verifies and the MILP enforces through domains."""

    DOMAIN = "domain"
    DEMAND = "demand"
    CAPACITY = "capacity"
    MEMORY = "memory"
    ERROR = "error"
    DELAY = "delay"
    BUDGET = "budget"
    AVAILABILITY = "availability"
    OPEN_REPLICAS = "open_replicas"
    OPEN_ROUTES = "open_routes"
    ONE_PARALLELISM = "one_parallelism"
    MODEL_SELECTED = "model_selected"
    MAX_MODELS = "max_models"


#: the MILP's constraint components, in formulation order (every Constraint but ``domain``)
MILP_CONSTRAINTS = tuple(c for c in Constraint if c is not Constraint.DOMAIN)
