"""The options of a planning problem, declared once.

:class:`Options` are what every method reads (``scenario.json`` of a compiled directory);
:class:`ScenarioOptions` extend them with the performance-model knobs a scenario file sets before
compiling. Calibrated scenarios write :func:`scenario_option_defaults` so that the defaults are visible.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: how latency SLOs bind: every route within every SLO (per_route), or E2E only on average (mean)
SLO_MODES = ("per_route", "mean")
#: how a query type's error limit binds (a per-query-type field): no route above it (per_route), or the
#: traffic-weighted mean of its routes (mean, the seed paper's constraint)
ERROR_MODES = ("per_route", "mean")


@dataclass(frozen=True)
class Options:
    """The planner's options (``scenario.json``; ``docs/formulation.md`` §2)."""

    budget_per_hour: float | None = None  # B, $/h; None = no budget
    utilization_cap: float = 0.8  # ρ̄, fraction of a replica's time that may be busy
    one_parallelism_per_deployment: bool = True  # one TP/PP setting per (model, GPU, precision)
    max_models: int | None = None  # most models used at once; None = no limit
    slo_mode: str = "per_route"  # per_route | mean


@dataclass(frozen=True)
class ScenarioOptions(Options):
    """A scenario's options: the planner's plus the performance-model knobs used by ``compile``."""

    tp_degrees: tuple[int, ...] = (1, 2, 4, 8)  # tensor-parallel degrees considered
    pp_degrees: tuple[int, ...] = (1, 2)  # pipeline-parallel degrees considered
    max_batch: int = 256  # largest design batch considered, sequences in flight per replica
    memory_fraction: float = 0.9  # γ, usable share of GPU memory
    instance_pricing: str = "whole"  # whole: a replica pays for the whole instances holding it | per_gpu

    def planner_options(self) -> Options:
        """The :class:`Options` part (what the compiled tables carry)."""
        return Options(**{f.name: getattr(self, f.name) for f in fields(Options)})


#: the order in which a scenario file lists its options
SCENARIO_OPTION_ORDER = ("budget_per_hour", "utilization_cap", "tp_degrees", "pp_degrees",
                         "one_parallelism_per_deployment", "max_models", "slo_mode", "max_batch", "memory_fraction",
                         "instance_pricing")
#: how a configuration is priced from the instance catalog (sloserve.model.pricing)
INSTANCE_PRICING = ("whole", "per_gpu")


def scenario_options_dict(o: ScenarioOptions, keys=SCENARIO_OPTION_ORDER) -> dict[str, Any]:
    """A scenario's options as the YAML mapping (lists, not tuples), in file order."""
    d = asdict(o)
    return {k: list(d[k]) if isinstance(d[k], tuple) else d[k] for k in keys}


def scenario_option_defaults() -> dict[str, Any]:
    """The options block a calibrated scenario writes: the defaults of the planner and of TP/PP."""
    return scenario_options_dict(ScenarioOptions(), SCENARIO_OPTION_ORDER[:7])
