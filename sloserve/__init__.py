"""sloserve: plan SLO-constrained LLM inference in heterogeneous GPU clouds.

The pipeline is named stages a notebook can stop between::

    sc = load_scenario("s.yaml")          # or default_scenario(), generate_scenario("M", seed=0)
    compiled = compile_scenario(sc)       # the tables every solver reads (FORMULATION §2.2)
    plan = solve(compiled, "milp")        # or "gh", "agh", "agh+milp"
    check(build_instance(compiled), plan) # the independent checker
"""
from __future__ import annotations

__version__ = "0.1.0"

from .check import check
from .compile import compile_scenario, load_problem
from .errors import InfeasibleError, InputError
from .generate import generate_scenario
from .instance import Instance, build_instance
from .methods import SolveOptions, load_methods, register_method, solve
from .plan import Plan, replicas_frame, routing_frame, summary_frame
from .scenario import Scenario, default_scenario, load_scenario
from .tables import Compiled, read_compiled, write_compiled

__all__ = [
    "check", "compile_scenario", "load_problem", "InfeasibleError", "InputError", "generate_scenario", "Instance",
    "build_instance", "SolveOptions", "load_methods", "register_method", "solve", "Plan", "replicas_frame",
    "routing_frame", "summary_frame", "Scenario", "default_scenario", "load_scenario", "Compiled", "read_compiled",
    "write_compiled",
]
