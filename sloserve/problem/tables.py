"""The compiled tables (docs/formulation.md §2.2): schemas, the ``Compiled`` container, read/write.

The compiled tables are the interchange format between the performance model and every
solver, checker and simulator. Each table has one schema here (column, dtype, unit,
description); :func:`read_compiled` validates a directory loudly, naming file, row and field.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass(frozen=True)
class Column:
    """One column of a compiled table; ``empty`` says what an empty cell means (None: not allowed)."""

    name: str
    dtype: str  # "str" | "float" | "int" | "bool"
    unit: str
    description: str
    empty: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False  # strictly > 0

    @property
    def nullable(self) -> bool:
        return self.empty is not None


def _c(name, dtype, unit, description, empty=None, minimum=None, maximum=None, positive=False) -> Column:
    return Column(name, dtype, unit, description, empty, minimum, maximum, positive)


NO_SLO = "no such SLO"
NO_LIMIT = "no limit"


SCHEMAS: dict[str, list[Column]] = {
    "query_types": [
        _c("query_type", "str", "", "query type id i"),
        _c("rate_rps", "float", "requests/s", "arrival rate λ_i", minimum=0),
        _c("input_tokens", "float", "tokens", "prompt length h_i", minimum=0),
        _c("output_tokens", "float", "tokens", "generated length f_i", minimum=0),
        _c("ttft_slo_s", "float", "s", "time-to-first-token SLO", empty=NO_SLO, positive=True),
        _c("tpot_slo_s", "float", "s", "time-per-output-token SLO", empty=NO_SLO, positive=True),
        _c("e2e_slo_s", "float", "s", "end-to-end latency SLO E2E_i", empty=NO_SLO, positive=True),
        _c("max_error", "float", "fraction", "error limit ε_i", minimum=0, maximum=1),
        _c("max_unserved", "float", "fraction", "allowed unserved fraction ζ_i", minimum=0, maximum=1),
        _c("unserved_penalty", "float", "$/request", "penalty φ_i per unserved request", minimum=0),
        _c("slo_attainment", "float", "fraction", "share of requests that must meet every SLO in simulation",
           empty="no target", positive=True, maximum=1),
    ],
    "configs": [
        _c("config", "str", "", "configuration id c = model|gpu|precision|tpNppM"),
        _c("model", "str", "", "model j"),
        _c("gpu", "str", "", "GPU type k"),
        _c("precision", "str", "", "precision q"),
        _c("tp", "int", "GPUs", "tensor-parallel degree n", minimum=1),
        _c("pp", "int", "GPUs", "pipeline-parallel degree m", minimum=1),
        _c("gpus", "int", "GPUs", "GPUs per replica n·m", minimum=1),
        _c("cost_per_hour", "float", "$/h", "cost of one replica cost_c", minimum=0),
        _c("kv_bytes", "float", "bytes", "KV-cache budget per replica KV_c", positive=True),
        _c("max_replicas", "int", "replicas", "upper bound on replicas of the configuration", empty=NO_LIMIT, minimum=0),
    ],
    "routes": [
        _c("query_type", "str", "", "query type i"),
        _c("config", "str", "", "configuration c"),
        _c("ttft_s", "float", "s", "time to first token of type i on c", minimum=0),
        _c("tpot_s", "float", "s", "time per output token at the design batch", minimum=0),
        _c("e2e_s", "float", "s", "end-to-end latency e2e_ic", minimum=0),
        _c("error", "float", "fraction", "error rate e_ic", minimum=0, maximum=1),
        _c("capacity_rps", "float", "requests/s", "capacity μ_ic of one replica serving only i", positive=True),
        _c("kv_byte_seconds", "float", "byte·s", "KV byte-seconds ω_ic held by one request", minimum=0),
    ],
    "gpus": [
        _c("gpu", "str", "", "GPU type k"),
        _c("available", "float", "GPUs", "GPUs of type k that can be rented A_k", empty=NO_LIMIT, minimum=0),
    ],
    "models": [
        _c("model", "str", "", "model j"),
        _c("fixed_cost_per_hour", "float", "$/h", "fixed cost F_j of using model j at all", minimum=0),
    ],
    # the two-phase model's coefficients per configuration, for the time of an arbitrary iteration
    # (sloserve.problem.steptime); optional for the planner, required by the simulator
    "config_perf": [
        _c("config", "str", "", "configuration c"),
        _c("weight_read_s", "float", "s", "stream every weight once (W/n at effective HBM bandwidth)", minimum=0),
        _c("active_weight_read_s", "float", "s/token", "active weights one token of a pass touches (MoE)", minimum=0),
        _c("kv_read_s_per_token", "float", "s/token", "read one token of KV cache", minimum=0),
        _c("decode_compute_s_per_seq", "float", "s/sequence", "FLOP time of one decoded token", minimum=0),
        _c("prefill_compute_s_per_token", "float", "s/token", "FLOP time of one prefilled token", minimum=0),
        _c("compute_offset_s", "float", "s", "GEMM under-utilisation of a pass, added to its GEMM time", minimum=0),
        _c("elementwise_s_per_token", "float", "s/token", "norm, residual and activation traffic of one token", minimum=0),
        _c("attention_compute_s_per_pair", "float", "s/pair", "FLOP time of one (query, earlier token) attention pair", minimum=0),
        _c("comm_s_per_pass", "float", "s", "TP all-reduce and PP hand-off latency of one pass", minimum=0),
        _c("comm_s_per_token", "float", "s/token", "TP all-reduce and PP hand-off time per token carried", minimum=0),
        _c("step_overhead_s", "float", "s", "fixed time of one pass: kernel latencies and engine host time", minimum=0),
        _c("seq_overhead_s", "float", "s/sequence", "engine host time per decoding sequence of a pass", minimum=0),
        _c("prefill_overhead_s", "float", "s", "extra fixed time of a pass that prefills", minimum=0),
    ],
}
#: tables a compiled directory may lack (tables of 0.1 and of other tools): planning does not need them
OPTIONAL_TABLES = ("config_perf",)

from .options import SLO_MODES, Options  # noqa: E402,F401 (declared once there)


@dataclass
class Compiled:
    """The compiled tables of one scenario: tidy DataFrames plus scalar options.

    Extra columns (e.g. ``design_batch`` on routes, token percentiles) are kept; the
    columns of :data:`SCHEMAS` are guaranteed.
    """

    name: str
    query_types: pd.DataFrame
    configs: pd.DataFrame
    routes: pd.DataFrame
    gpus: pd.DataFrame
    models: pd.DataFrame
    options: Options = field(default_factory=Options)
    extra: dict[str, Any] = field(default_factory=dict)  # provenance, dropped items, ...
    config_perf: pd.DataFrame | None = None  # step-time coefficients (sloserve.problem.steptime); None = not compiled

    TABLES = ("query_types", "configs", "routes", "gpus", "models")

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def summary(self) -> str:
        return (f"{self.name}: {len(self.query_types)} query types, {len(self.configs)} configurations, "
                f"{len(self.routes)} routes, {len(self.gpus)} GPU types, {len(self.models)} models")


def scenario_json(c: Compiled) -> dict[str, Any]:
    d = asdict(c.options)
    d["name"] = c.name
    d.update({k: v for k, v in c.extra.items() if k not in d})
    return d


def write_compiled(c: Compiled, out_dir: str | Path) -> Path:
    """Write the tables of docs/formulation.md §2.2 as CSV files plus ``scenario.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in Compiled.TABLES + OPTIONAL_TABLES:
        df = c.table(name)
        if df is not None:
            df.to_csv(out / f"{name}.csv", index=False, float_format="%.10g")
    (out / "scenario.json").write_text(json.dumps(scenario_json(c), indent=2, default=_json_default) + "\n")
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def validate_table(df: pd.DataFrame, name: str, file: str) -> pd.DataFrame:
    """Check columns, types and ranges of one table; return it with canonical dtypes.

    Raises :class:`InputError` naming file, row (1-based data row + header = CSV line) and field.
    """
    schema = SCHEMAS[name]
    df = df.copy()
    for col in schema:  # a column that may be empty may also be left out: every cell is then empty
        if col.nullable and col.name not in df.columns:
            df[col.name] = np.nan
    missing = [col.name for col in schema if col.name not in df.columns]
    if missing:
        raise InputError(file, missing[0], f"missing column; {name} needs columns {[c.name for c in schema]}")
    df = df.copy()
    for col in schema:
        s = df[col.name]
        if col.dtype == "str":
            bad = s.isna() | (s.astype(str).str.strip() == "")
            if bad.any():
                raise InputError(file, col.name, "must be a non-empty string", row=int(np.flatnonzero(bad)[0]) + 2)
            df[col.name] = s.astype(str)
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad_parse = num.isna() & ~s.isna() & ~(s.astype(str).str.strip() == "")
        if bad_parse.any():
            r = int(np.flatnonzero(bad_parse)[0])
            raise InputError(file, col.name, f"must be a number ({col.unit or 'unitless'}), got {s.iloc[r]!r}", row=r + 2)
        if num.isna().any() and not col.nullable:
            r = int(np.flatnonzero(num.isna())[0])
            raise InputError(file, col.name, "must not be empty", row=r + 2)
        vals = num.to_numpy(dtype=float)
        if np.isinf(vals).any():
            r = int(np.flatnonzero(np.isinf(vals))[0])
            raise InputError(file, col.name, "must be finite", row=r + 2)
        if col.minimum is not None and (vals < col.minimum).any():
            r = int(np.flatnonzero(vals < col.minimum)[0])
            raise InputError(file, col.name, f"must be >= {col.minimum}, got {vals[r]}", row=r + 2)
        if col.positive and (vals <= 0).any():
            r = int(np.flatnonzero(vals <= 0)[0])
            raise InputError(file, col.name, f"must be > 0, got {vals[r]}", row=r + 2)
        if col.maximum is not None and (vals > col.maximum).any():
            r = int(np.flatnonzero(vals > col.maximum)[0])
            raise InputError(file, col.name, f"must be <= {col.maximum}, got {vals[r]}", row=r + 2)
        if col.dtype == "int":
            frac = ~np.isnan(vals) & (vals != np.round(vals))
            if frac.any():
                r = int(np.flatnonzero(frac)[0])
                raise InputError(file, col.name, f"must be a whole number, got {vals[r]}", row=r + 2)
            # a column that may be empty stays float (NaN = empty); the others are integers
            df[col.name] = vals if col.nullable else vals.astype(np.int64)
        else:
            df[col.name] = vals
    key = schema[0].name
    if name == "routes":
        dup = df.duplicated(["query_type", "config"])
        if dup.any():
            raise InputError(file, "query_type,config", "duplicate route", row=int(np.flatnonzero(dup)[0]) + 2)
    else:
        dup = df[key].duplicated()
        if dup.any():
            raise InputError(file, key, f"duplicate id {df[key].iloc[int(np.flatnonzero(dup)[0])]!r}",
                             row=int(np.flatnonzero(dup)[0]) + 2)
    return df.reset_index(drop=True)


def check_references(c: Compiled, where: str = "compiled tables") -> None:
    """Routes name known query types/configs; configs name known GPUs/models."""
    refs = [
        ("routes", "query_type", c.query_types["query_type"]),
        ("routes", "config", c.configs["config"]),
        ("configs", "gpu", c.gpus["gpu"]),
        ("configs", "model", c.models["model"]),
    ] + ([("config_perf", "config", c.configs["config"])] if c.config_perf is not None else [])
    for table, col, allowed in refs:
        vals = c.table(table)[col]
        bad = ~vals.isin(set(allowed))
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise InputError(f"{where}/{table}.csv", col,
                             f"unknown {col} {vals.iloc[r]!r}; known: {sorted(set(allowed))[:12]}", row=r + 2)


def options_from_json(d: dict[str, Any], file: str) -> Options:
    known = {f.name for f in fields(Options)}
    kw = {k: v for k, v in d.items() if k in known}
    o = Options(**kw)
    if o.budget_per_hour is not None and not (isinstance(o.budget_per_hour, (int, float)) and o.budget_per_hour >= 0):
        raise InputError(file, "budget_per_hour", f"must be null or a number >= 0, got {o.budget_per_hour!r}")
    if not (isinstance(o.utilization_cap, (int, float)) and 0 < o.utilization_cap <= 1):
        raise InputError(file, "utilization_cap", f"must be in (0, 1], got {o.utilization_cap!r}")
    if o.max_models is not None and not (isinstance(o.max_models, int) and o.max_models >= 1):
        raise InputError(file, "max_models", f"must be null or an integer >= 1, got {o.max_models!r}")
    if o.slo_mode not in SLO_MODES:
        raise InputError(file, "slo_mode", f"must be one of {list(SLO_MODES)}, got {o.slo_mode!r}")
    if not isinstance(o.one_parallelism_per_deployment, bool):
        raise InputError(file, "one_parallelism_per_deployment", "must be true or false")
    return o


def read_compiled(path: str | Path) -> Compiled:
    """Read and validate a compiled directory written by :func:`write_compiled` (or by hand)."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(str(p), None, "not a directory of compiled tables")
    sj = p / "scenario.json"
    if not sj.exists():
        raise InputError(str(sj), None, "missing file; a compiled directory needs scenario.json")
    try:
        meta = json.loads(sj.read_text())
    except json.JSONDecodeError as e:
        raise InputError(str(sj), None, f"invalid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise InputError(str(sj), None, "must be a JSON object")
    tables = {}
    for name in Compiled.TABLES:
        f = p / f"{name}.csv"
        if not f.exists():
            raise InputError(str(f), None, f"missing file; a compiled directory needs {[t + '.csv' for t in Compiled.TABLES]}")
        try:
            df = pd.read_csv(f, dtype={"query_type": str, "config": str, "gpu": str, "model": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise InputError(str(f), None, f"cannot parse CSV: {e}") from None
        tables[name] = validate_table(df, name, str(f))
    for name in OPTIONAL_TABLES:
        f = p / f"{name}.csv"
        if f.exists():
            try:
                df = pd.read_csv(f, dtype={"config": str})
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
                raise InputError(str(f), None, f"cannot parse CSV: {e}") from None
            tables[name] = validate_table(df, name, str(f))
    c = Compiled(name=str(meta.get("name", p.name)), options=options_from_json(meta, str(sj)), **tables,
                 extra={k: v for k, v in meta.items() if k != "name" and k not in {f.name for f in fields(Options)}})
    check_references(c, str(p))
    return c


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
