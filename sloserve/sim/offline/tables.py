"""The compiled tables an offline batch job runs on: every feasible configuration of a catalog selection.

An online scenario's tables keep only the configurations that meet some query type's SLOs; a batch
job has no latency SLO, so its tables come from a permissive one-type scenario (no SLOs, no error
limit), compiled by the same ``compile_scenario``: every configuration whose weights fit gets its
``config_perf`` row (step-time coefficients) and its KV capacity.
"""
from __future__ import annotations

from dataclasses import replace

from ...model.compile import compile_scenario
from ...model.scenario import QueryType, Scenario, default_scenario
from ...problem.tables import Compiled


def scenario_tables(scenario: Scenario, *, input_tokens: int = 1024, output_tokens: int = 256,
                    name: str | None = None) -> Compiled:
    """Compiled tables with every feasible configuration of ``scenario``'s catalog selection, options and
    GPU overrides: its query types are replaced by one placeholder of the given size, without SLOs or
    error limit (``name`` defaults to the scenario's)."""
    q = QueryType(name="batch", family="conversation", rate_rps=1.0, input_tokens=int(input_tokens),
                  output_tokens=int(output_tokens), max_error=1.0, error_mode="mean")
    return compile_scenario(replace(scenario, name=name or scenario.name, query_types=(q,), batch_jobs=()))


def batch_tables(models=None, gpus=None, precisions=None, *, input_tokens: int = 1024, output_tokens: int = 256,
                 name: str = "batch") -> Compiled:
    """Compiled tables with every feasible configuration of ``models`` × ``gpus`` × ``precisions`` (default:
    the default scenario's catalog selection and options, without its GPU overrides). The single query
    type is a placeholder of the given size."""
    base = default_scenario()
    sc = Scenario(name=name, query_types=(), models=tuple(models or base.models), gpus=tuple(gpus or base.gpus),
                  precisions=tuple(precisions or base.precisions), options=base.options)
    return scenario_tables(sc, input_tokens=input_tokens, output_tokens=output_tokens)
