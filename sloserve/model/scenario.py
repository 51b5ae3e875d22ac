"""Scenarios: query types, the allowed catalog, options. Loaded from YAML and validated loudly.

A bad file gets one :class:`~sloserve.errors.InputError` naming the file, the field
(``query_types[2].rate_rps``) and what is allowed; never a traceback from pandas or Pyomo.
The YAML schema is documented in ``docs/scenario.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, asdict, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import catalog
from ..errors import InputError
from ..problem.options import ERROR_MODES, INSTANCE_PRICING, SLO_MODES, ScenarioOptions, scenario_options_dict

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
        return out

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text


# ---- validation helpers ---------------------------------------------------------------------

class _V:
    """Field validators bound to one file, raising InputError with the field path."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, fld: str, msg: str):
        raise InputError(self.file, fld, msg)

    def mapping(self, d, fld: str, allowed: set[str] | None = None) -> dict:
        if not isinstance(d, dict):
            self.fail(fld, f"must be a mapping, got {type(d).__name__}")
        if allowed is not None:
            extra = sorted(set(d) - allowed)
            if extra:
                self.fail(f"{fld}.{extra[0]}" if fld else extra[0], f"unknown field; allowed: {sorted(allowed)}")
        return d

    def number(self, v, fld: str, *, lo: float | None = None, hi: float | None = None, positive=False,
               integer=False, optional=False):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(fld, f"must be a {'whole ' if integer else ''}number, got {v!r}")
        if not math.isfinite(v):
            self.fail(fld, f"must be finite, got {v!r}")
        if integer and v != int(v):
            self.fail(fld, f"must be a whole number, got {v!r}")
        if positive and v <= 0:
            self.fail(fld, f"must be > 0, got {v!r}")
        if lo is not None and v < lo:
            self.fail(fld, f"must be >= {lo}, got {v!r}")
        if hi is not None and v > hi:
            self.fail(fld, f"must be <= {hi}, got {v!r}")
        return int(v) if integer else float(v)

    def string(self, v, fld: str) -> str:
        if not isinstance(v, str) or not v.strip():
            self.fail(fld, f"must be a non-empty string, got {v!r}")
        return v

    def choice(self, v, fld: str, allowed) -> str:
        if v not in allowed:
            self.fail(fld, f"unknown value {v!r}; allowed: {sorted(allowed)}")
        return v

    def str_list(self, v, fld: str, allowed) -> tuple[str, ...]:
        if not isinstance(v, list) or not v:
            self.fail(fld, f"must be a non-empty list; allowed values: {sorted(allowed)}")
        for n, x in enumerate(v):
            self.choice(x, f"{fld}[{n}]", allowed)
        if len(set(v)) != len(v):
            self.fail(fld, "has duplicates")
        return tuple(v)

    def int_list(self, v, fld: str, allowed) -> tuple[int, ...]:
        if not isinstance(v, list) or not v:
            self.fail(fld, f"must be a non-empty list of integers from {sorted(allowed)}")
        out = []
        for n, x in enumerate(v):
            x = self.number(x, f"{fld}[{n}]", integer=True)
            self.choice(x, f"{fld}[{n}]", allowed)
            out.append(x)
        return tuple(sorted(set(out)))

    def boolean(self, v, fld: str) -> bool:
        if not isinstance(v, bool):
            self.fail(fld, f"must be true or false, got {v!r}")
        return v


_QT_REQUIRED = ("name", "family", "rate_rps", "input_tokens", "output_tokens", "max_error")
_QT_FIELDS = {f.name for f in fields(QueryType)}
_OPT_FIELDS = {f.name for f in fields(ScenarioOptions)}
TP_ALLOWED = {1, 2, 4, 8}
PP_ALLOWED = {1, 2, 3, 4, 8}


def scenario_from_dict(d: Any, file: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping (the YAML form) and build a :class:`Scenario`."""
    v = _V(file)
    v.mapping(d, "", {"name", "description", "query_types", "catalog", "gpus", "models", "options"})
    name = v.string(d.get("name", Path(file).stem), "name")
    cat_g, cat_m, cat_p = catalog.gpus(), catalog.models(), catalog.precisions()
    all_g, all_m, all_p = set(cat_g.index), set(cat_m.index), set(cat_p.index)

    # query types
    qts_raw = d.get("query_types")
    if not isinstance(qts_raw, list) or not qts_raw:
        v.fail("query_types", "must be a non-empty list of query types")
    qts, seen = [], set()
    for n, q in enumerate(qts_raw):
        f = f"query_types[{n}]"
        v.mapping(q, f, _QT_FIELDS)
        for req in _QT_REQUIRED:
            if req not in q:
                v.fail(f"{f}.{req}", f"missing required field; a query type needs {list(_QT_REQUIRED)}")
        qn = v.string(q["name"], f"{f}.name")
        if qn in seen:
            v.fail(f"{f}.name", f"duplicate query type name {qn!r}")
        seen.add(qn)
        qts.append(QueryType(
            name=qn,
            family=v.choice(q["family"], f"{f}.family", set(catalog.FAMILIES)),
            rate_rps=v.number(q["rate_rps"], f"{f}.rate_rps", lo=0),
            input_tokens=v.number(q["input_tokens"], f"{f}.input_tokens", positive=True, integer=True),
            output_tokens=v.number(q["output_tokens"], f"{f}.output_tokens", positive=True, integer=True),
            max_error=v.number(q["max_error"], f"{f}.max_error", lo=0, hi=1),
            ttft_slo_s=v.number(q.get("ttft_slo_s"), f"{f}.ttft_slo_s", positive=True, optional=True),
            tpot_slo_s=v.number(q.get("tpot_slo_s"), f"{f}.tpot_slo_s", positive=True, optional=True),
            e2e_slo_s=v.number(q.get("e2e_slo_s"), f"{f}.e2e_slo_s", positive=True, optional=True),
            max_unserved=v.number(q.get("max_unserved", 0.0), f"{f}.max_unserved", lo=0, hi=1),
            unserved_penalty=v.number(q.get("unserved_penalty", 0.0), f"{f}.unserved_penalty", lo=0),
            slo_attainment=v.number(q.get("slo_attainment"), f"{f}.slo_attainment", positive=True, hi=1, optional=True),
            error_mode=v.choice(q.get("error_mode", "per_route"), f"{f}.error_mode", set(ERROR_MODES)),
        ))

    # catalog selection
    cat = v.mapping(d.get("catalog", {}) or {}, "catalog", {"models", "gpus", "precisions"})
    models = v.str_list(cat["models"], "catalog.models", all_m) if "models" in cat else tuple(cat_m.index)
    gpus = v.str_list(cat["gpus"], "catalog.gpus", all_g) if "gpus" in cat else tuple(cat_g.index)
    precs = v.str_list(cat["precisions"], "catalog.precisions", all_p) if "precisions" in cat else tuple(cat_p.index)

    # per-GPU and per-model overrides
    overrides = {}
    for g, o in (v.mapping(d.get("gpus", {}) or {}, "gpus")).items():
        v.choice(g, "gpus", set(gpus))
        v.mapping(o, f"gpus.{g}", {"available", "price_per_gpu_hour"})
        overrides[g] = GpuOverride(
            available=v.number(o.get("available"), f"gpus.{g}.available", lo=0, integer=True, optional=True),
            price_per_gpu_hour=v.number(o.get("price_per_gpu_hour"), f"gpus.{g}.price_per_gpu_hour", lo=0, optional=True))
    fixed = {}
    for m, o in (v.mapping(d.get("models", {}) or {}, "models")).items():
        v.choice(m, "models", set(models))
        v.mapping(o, f"models.{m}", {"fixed_cost_per_hour"})
        fixed[m] = v.number(o.get("fixed_cost_per_hour", 0.0), f"models.{m}.fixed_cost_per_hour", lo=0)

    # options
    o = v.mapping(d.get("options", {}) or {}, "options", _OPT_FIELDS)
    dflt = ScenarioOptions()
    opts = ScenarioOptions(
        budget_per_hour=v.number(o.get("budget_per_hour"), "options.budget_per_hour", lo=0, optional=True),
        utilization_cap=v.number(o.get("utilization_cap", dflt.utilization_cap), "options.utilization_cap", positive=True, hi=1),
        tp_degrees=v.int_list(o["tp_degrees"], "options.tp_degrees", TP_ALLOWED) if "tp_degrees" in o else dflt.tp_degrees,
        pp_degrees=v.int_list(o["pp_degrees"], "options.pp_degrees", PP_ALLOWED) if "pp_degrees" in o else dflt.pp_degrees,
        one_parallelism_per_deployment=v.boolean(o.get("one_parallelism_per_deployment", True), "options.one_parallelism_per_deployment"),
        max_models=v.number(o.get("max_models"), "options.max_models", lo=1, integer=True, optional=True),
        slo_mode=v.choice(o.get("slo_mode", dflt.slo_mode), "options.slo_mode", set(SLO_MODES)),
        max_batch=v.number(o.get("max_batch", dflt.max_batch), "options.max_batch", lo=1, integer=True),
        memory_fraction=v.number(o.get("memory_fraction", dflt.memory_fraction), "options.memory_fraction", positive=True, hi=1),
        instance_pricing=v.choice(o.get("instance_pricing", dflt.instance_pricing), "options.instance_pricing",
                                  set(INSTANCE_PRICING)),
    )
    return Scenario(name=name, query_types=tuple(qts), models=models, gpus=gpus, precisions=precs, options=opts,
                    gpu_overrides=overrides, model_fixed_cost=fixed, description=str(d.get("description", "")),
                    source=file)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), None, "no such scenario file") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise InputError(str(p), None, f"cannot read as a YAML scenario: {e}") from None
    return loads_scenario(text, str(p))


def loads_scenario(text: str, file: str = "<scenario>") -> Scenario:
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InputError(file, None, f"YAML syntax error: {where}{getattr(e, 'problem', None) or e}") from None
    if d is None:
        raise InputError(file, None, "empty file; a scenario needs name, query_types and (optionally) catalog and options")
    return scenario_from_dict(d, file)


def default_scenario_path() -> Path:
    return Path(str(resources.files("sloserve.data").joinpath(DEFAULT_SCENARIO)))


def default_scenario() -> Scenario:
    """The embedded default scenario (shipped as package data)."""
    return load_scenario(default_scenario_path())
