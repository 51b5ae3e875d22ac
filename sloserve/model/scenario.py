"""Scenarios: query types, the allowed catalog, options. Loaded from YAML and validated loudly.

A bad file gets one :class:`~sloserve.errors.InputError` naming the file, the field
(``query_types[2].rate_rps``) and what is allowed; never a traceback from pandas or Pyomo.
The YAML schema is documented in ``docs/scenario.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import catalog
from . import validate as V
from .batch_job import jobs_from_list
from ..errors import InputError
from ..paths import read_bytes
from ..problem import limits
from ..problem.options import ERROR_MODES, INSTANCE_PRICING, SLO_MODES, ScenarioOptions, scenario_options_dict
from ..safeload import load_yaml

DEFAULT_SCENARIO = "default.yaml"


@dataclass(frozen=True)
class QueryType:
    """One class of requests (all times in seconds, rates in requests/s)."""

    name: str
    family: str  # error family: conversation | code | math
    rate_rps: float
    input_tokens: int
    output_tokens: int
    max_error: float
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    e2e_slo_s: float | None = None
    max_unserved: float = 0.0
    unserved_penalty: float = 0.0  # $ per unserved request
    slo_attainment: float | None = None  # share of requests that must meet every SLO in simulation (None: no target)
    error_mode: str = "per_route"  # per_route: no route above max_error | mean: the traffic-weighted mean


@dataclass(frozen=True)
class GpuOverride:
    available: int | None = None  # GPUs that can be rented; None = unlimited
    price_per_gpu_hour: float | None = None  # $/GPU-h; None = catalog price


@dataclass(frozen=True)
class Scenario:
    name: str
    query_types: tuple[QueryType, ...]
    models: tuple[str, ...]
    gpus: tuple[str, ...]
    precisions: tuple[str, ...]
    options: ScenarioOptions = field(default_factory=ScenarioOptions)
    gpu_overrides: dict[str, GpuOverride] = field(default_factory=dict)
    model_fixed_cost: dict[str, float] = field(default_factory=dict)  # $/h per model if used
    batch_jobs: tuple = ()  # offline jobs (sloserve.model.batch_job.BatchJob), provisioned by `sloserve batch --plan`
    description: str = ""
    source: str = ""  # file it came from, for messages

    def with_options(self, **kw) -> "Scenario":
        return replace(self, options=replace(self.options, **kw))

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (round-trips through :func:`scenario_from_dict`)."""
        qts = []
        for q in self.query_types:
            d = {k: v for k, v in asdict(q).items() if v is not None}
            qts.append(d)
        opts = scenario_options_dict(self.options)
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["query_types"] = qts
        out["catalog"] = {"models": list(self.models), "gpus": list(self.gpus), "precisions": list(self.precisions)}
        gp = {k: {kk: vv for kk, vv in asdict(v).items() if vv is not None} for k, v in self.gpu_overrides.items()}
        if gp:
            out["gpus"] = gp
        if self.model_fixed_cost:
            out["models"] = {k: {"fixed_cost_per_hour": v} for k, v in self.model_fixed_cost.items()}
        out["options"] = opts
        if self.batch_jobs:
            out["batch_jobs"] = [j.to_dict() for j in self.batch_jobs]
        return out

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text


# ---- the file's schema: one line per field ---------------------------------------------------------
# (check, required, default, nullable) per key; sloserve.model.validate does the checking and the messages.

TP_ALLOWED = (1, 2, 4, 8)
PP_ALLOWED = (1, 2, 3, 4, 8)
_FRACTION = V.number(lo=0, hi=1)
_SLO = V.number(lo=0, lo_open=True, hi=limits.SLO_S)

QUERY_TYPE_FIELDS: dict[str, V.Field] = {
    "name": V.Field(V.name(), required=True),
    "family": V.Field(V.choice(catalog.FAMILIES), required=True),
    "rate_rps": V.Field(V.number(lo=0, hi=limits.RATE_RPS), required=True),
    "input_tokens": V.Field(V.number(lo=1, hi=limits.TOKENS, integer=True), required=True),
    "output_tokens": V.Field(V.number(lo=1, hi=limits.TOKENS, integer=True), required=True),
    "max_error": V.Field(_FRACTION, required=True),
    "ttft_slo_s": V.Field(_SLO, nullable=True),
    "tpot_slo_s": V.Field(_SLO, nullable=True),
    "e2e_slo_s": V.Field(_SLO, nullable=True),
    "max_unserved": V.Field(_FRACTION, default=0.0),
    "unserved_penalty": V.Field(V.number(lo=0, hi=limits.PENALTY), default=0.0),
    "slo_attainment": V.Field(V.number(lo=0, lo_open=True, hi=1), nullable=True),
    "error_mode": V.Field(V.choice(ERROR_MODES), default="per_route"),
}
GPU_OVERRIDE_FIELDS: dict[str, V.Field] = {
    "available": V.Field(V.number(lo=0, hi=limits.GPUS, integer=True), nullable=True),
    "price_per_gpu_hour": V.Field(V.number(lo=0, hi=limits.GPU_PRICE), nullable=True),
}
MODEL_FIELDS: dict[str, V.Field] = {
    "fixed_cost_per_hour": V.Field(V.number(lo=0, hi=limits.DOLLARS_PER_HOUR), default=0.0),
}
_DEFAULT_OPTIONS = ScenarioOptions()
OPTION_FIELDS: dict[str, V.Field] = {
    "budget_per_hour": V.Field(V.number(lo=0, hi=limits.DOLLARS_PER_HOUR), nullable=True),
    "utilization_cap": V.Field(V.number(lo=0, lo_open=True, hi=1), default=_DEFAULT_OPTIONS.utilization_cap),
    "tp_degrees": V.Field(V.one_of_each(TP_ALLOWED, integer=True), default=_DEFAULT_OPTIONS.tp_degrees),
    "pp_degrees": V.Field(V.one_of_each(PP_ALLOWED, integer=True), default=_DEFAULT_OPTIONS.pp_degrees),
    "one_parallelism_per_deployment": V.Field(V.boolean(), default=_DEFAULT_OPTIONS.one_parallelism_per_deployment),
    "max_models": V.Field(V.number(lo=1, hi=limits.MODELS, integer=True), nullable=True),
    "slo_mode": V.Field(V.choice(SLO_MODES), default=_DEFAULT_OPTIONS.slo_mode),
    "max_batch": V.Field(V.number(lo=1, hi=limits.BATCH, integer=True), default=_DEFAULT_OPTIONS.max_batch),
    "memory_fraction": V.Field(V.number(lo=0, lo_open=True, hi=1), default=_DEFAULT_OPTIONS.memory_fraction),
    "instance_pricing": V.Field(V.choice(INSTANCE_PRICING), default=_DEFAULT_OPTIONS.instance_pricing),
}


def _catalog_fields() -> dict[str, V.Field]:
    g, m, p = catalog.gpus(), catalog.models(), catalog.precisions()
    return {"models": V.Field(V.one_of_each(list(m.index)), default=tuple(m.index)),
            "gpus": V.Field(V.one_of_each(list(g.index)), default=tuple(g.index)),
            "precisions": V.Field(V.one_of_each(list(p.index)), default=tuple(p.index))}


def scenario_from_dict(d: Any, file: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping (the YAML form) and build a :class:`Scenario`.

    Sections (``catalog``, ``gpus``, ``models``, ``options``) may be left out for their defaults;
    given, each must be a mapping (``catalog: []`` is a mistake, not "the defaults")."""
    def section(key: str, sub: dict[str, V.Field]) -> V.Field:
        return V.Field(lambda v, fld, fail: V.check_mapping(v, sub, fld, file), default=V.check_mapping({}, sub, key, file))

    def query_type(q: Any, fld: str) -> QueryType:
        return QueryType(**V.check_mapping(q, QUERY_TYPE_FIELDS, fld, file))

    top = V.check_mapping(d, {
        "name": V.Field(V.name(), default=Path(file).stem),
        "description": V.Field(V.text(), default=""),
        "query_types": V.Field(V.list_of(query_type, what="query types"), required=True),
        "catalog": section("catalog", _catalog_fields()),
        "gpus": V.Field(lambda v, fld, fail: v, default={}),  # checked below, against the catalog chosen
        "models": V.Field(lambda v, fld, fail: v, default={}),
        "options": section("options", OPTION_FIELDS),
        "batch_jobs": V.Field(lambda v, fld, fail: _batch_jobs(v, fld, file), default=()),
    }, "", file)
    if isinstance(d, dict) and "name" not in d:  # the file's stem stands in: it must be a usable name too
        msg = limits.name_problem(top["name"])
        if msg:
            raise InputError(file, "name", f"missing, and the file name stands in for it: {msg}; add a name: line")
    seen: dict[str, int] = {}
    for n, q in enumerate(top["query_types"]):
        if q.name in seen:
            raise InputError(file, f"query_types[{n}].name",
                             f"duplicate query type name {q.name!r} (also query_types[{seen[q.name]}])")
        seen[q.name] = n
    cat = top["catalog"]
    overrides = V.keyed(cat["gpus"], lambda o, fld: GpuOverride(**V.check_mapping(o, GPU_OVERRIDE_FIELDS, fld, file)),
                        what="GPU types chosen in catalog.gpus")(top["gpus"], "gpus", V.fail_in(file))
    fixed = V.keyed(cat["models"], lambda o, fld: V.check_mapping(o, MODEL_FIELDS, fld, file)["fixed_cost_per_hour"],
                    what="models chosen in catalog.models")(top["models"], "models", V.fail_in(file))
    return Scenario(name=top["name"], query_types=tuple(top["query_types"]), models=cat["models"], gpus=cat["gpus"],
                    precisions=cat["precisions"], options=ScenarioOptions(**top["options"]),
                    gpu_overrides=overrides, model_fixed_cost=fixed, batch_jobs=top["batch_jobs"],
                    description=top["description"], source=file)


def _batch_jobs(v: Any, fld: str, file: str) -> tuple:
    return jobs_from_list(v, fld, file)




def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, "no such scenario file")
    return loads_scenario(read_bytes(p, "scenario file"), str(p))


def loads_scenario(text: str | bytes, file: str = "<scenario>") -> Scenario:
    d = load_yaml(text, file)  # duplicate keys, alias bombs and deep nesting refused there
    if d is None:
        raise InputError(file, None, "empty file; a scenario needs name, query_types and (optionally) catalog and options")
    return scenario_from_dict(d, file)


def default_scenario_path() -> Path:
    return Path(str(resources.files("sloserve.data").joinpath(DEFAULT_SCENARIO)))


def default_scenario() -> Scenario:
    """The embedded default scenario (shipped as package data)."""
    return load_scenario(default_scenario_path())
