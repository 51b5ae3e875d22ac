"""sloserve: plan SLO-constrained LLM inference in heterogeneous GPU clouds.

The pipeline is named stages a notebook can stop between::

    sc = load_scenario("s.yaml")          # or default_scenario(), generate_scenario("M", seed=0)
    compiled = compile_scenario(sc)       # the tables every part reads (docs/formulation.md §2)
    plan = solve(compiled, "milp")        # or "gh", "agh", "agh+milp"
    check(build_instance(compiled), plan) # the independent checker
    simulate(compiled, plan, arrivals)    # request by request (sloserve.sim; docs/simulation.md)

The package is laid out as its architecture (``docs/architecture.md``): ``model/`` turns a scenario
into tables, ``problem/`` is the contract every part reads, ``solvers/`` holds the MILP and the
heuristics, ``sim/`` replays plans request by request, ``evaluate/`` puts fixed plans in another world, ``traces/`` turns logs into
scenarios, ``ui/`` and ``cli/`` face the user. Names are loaded on first use, so ``import sloserve``
(and ``sloserve --help``) stay fast; the module paths of version 0.1 (``sloserve.milp``,
``sloserve.instance``, ...) keep working as aliases of their new homes.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.2.0"

#: public name -> module that defines it
_EXPORTS = {
    "check": "sloserve.checker", "compile_scenario": "sloserve.model.compile", "load_problem": "sloserve.model.compile",
    "InfeasibleError": "sloserve.errors", "InputError": "sloserve.errors",
    "generate_scenario": "sloserve.model.generate", "Instance": "sloserve.problem.instance",
    "build_instance": "sloserve.problem.instance", "SolveOptions": "sloserve.solvers.methods",
    "load_methods": "sloserve.solvers", "register_method": "sloserve.solvers.methods",
    "solve": "sloserve.solvers", "Plan": "sloserve.problem.plan", "replicas_frame": "sloserve.problem.plan",
    "routing_frame": "sloserve.problem.plan", "summary_frame": "sloserve.problem.plan",
    "Scenario": "sloserve.model.scenario", "default_scenario": "sloserve.model.scenario",
    "load_scenario": "sloserve.model.scenario", "Compiled": "sloserve.problem.tables",
    "read_compiled": "sloserve.problem.tables", "write_compiled": "sloserve.problem.tables",
    "predict_latency": "sloserve.model.predict", "predict_latency_frame": "sloserve.model.predict",
    "simulate": "sloserve.sim.simulator", "EngineOptions": "sloserve.sim.engine", "verify": "sloserve.sim.verify",
    "VerifyOptions": "sloserve.sim.verify",
}

#: module paths of sloserve 0.1 -> their home in the layered package
_MOVED = {
    "sloserve.catalog": "sloserve.model.catalog", "sloserve.scenario": "sloserve.model.scenario",
    "sloserve.perf": "sloserve.model.perf", "sloserve.compile": "sloserve.model.compile",
    "sloserve.generate": "sloserve.model.generate", "sloserve.tables": "sloserve.problem.tables",
    "sloserve.instance": "sloserve.problem.instance", "sloserve.plan": "sloserve.problem.plan",
    "sloserve.methods": "sloserve.solvers.methods", "sloserve.milp": "sloserve.solvers.milp",
    "sloserve.diagnose": "sloserve.solvers.milp.diagnose", "sloserve.heuristics": "sloserve.solvers.heuristics",
    "sloserve.stress": "sloserve.evaluate.stress", "sloserve.rolling": "sloserve.evaluate.rolling",
    "sloserve.explore": "sloserve.ui.explore", "sloserve.plots": "sloserve.ui.plots",
    "sloserve.trace": "sloserve.traces.trace", "sloserve.calibrate": "sloserve.traces.calibrate",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif f"sloserve.{name}" in _MOVED:
        value = importlib.import_module(_MOVED[f"sloserve.{name}"])
    else:
        raise AttributeError(f"module 'sloserve' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | {m.rsplit(".", 1)[1] for m in _MOVED})


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves the 0.1 module paths (and their submodules) to the same module objects as the new ones."""

    @staticmethod
    def _target(fullname: str) -> str | None:
        for old, new in _MOVED.items():
            if fullname == old or fullname.startswith(old + "."):
                return new + fullname[len(old):]
        return None

    def find_spec(self, fullname, path=None, target=None):
        new = self._target(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=importlib.util.find_spec(new).submodule_search_locations is not None)

    def create_module(self, spec):
        return importlib.import_module(self._target(spec.name))

    def exec_module(self, module):  # the module ran under its new name already: one object, two names
        pass


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())
