"""The compiled tables (docs/formulation.md §2.2): schemas, the ``Compiled`` container, read/write.

The compiled tables are the interchange format between the performance model and every
solver, checker and simulator. Each table has one schema here (column, dtype, unit,
description); :func:`read_compiled` validates a directory loudly, naming file, row and field.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import math
from dataclasses import dataclass, field, fields, asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..paths import input_dir, os_error, read_text
from ..safeload import load_json
from . import limits as L
from .limits import Limit, name_problem, number_problem, show


@dataclass(frozen=True)
class Column:
    """One column of a compiled table; ``empty`` says what an empty cell means (None: not allowed)."""

    name: str
    dtype: str  # "str" | "float" | "int" | "bool"
    unit: str
    description: str
    empty: str | None = None
    minimum: float | None = None
    maximum: float | Limit | None = None  # a Limit carries its unit and physical reason
    positive: bool = False  # strictly > 0

    @property
    def nullable(self) -> bool:
        return self.empty is not None


def _c(name, dtype, unit, description, empty=None, minimum=None, maximum=None, positive=False) -> Column:
    if maximum is None and dtype in ("float", "int"):
        raise ValueError(f"column {name}: every numeric column has a largest value (sloserve.problem.limits)")
    return Column(name, dtype, unit, description, empty, minimum, maximum, positive)


NO_SLO = "no such SLO"
NO_LIMIT = "no limit"


SCHEMAS: dict[str, list[Column]] = {
    "query_types": [
        _c("query_type", "str", "", "query type id i"),
        _c("rate_rps", "float", "requests/s", "arrival rate λ_i", minimum=0, maximum=L.RATE_RPS),
        _c("input_tokens", "float", "tokens", "prompt length h_i", minimum=0, maximum=L.TOKENS),
        _c("output_tokens", "float", "tokens", "generated length f_i", minimum=0, maximum=L.TOKENS),
        _c("ttft_slo_s", "float", "s", "time-to-first-token SLO", empty=NO_SLO, positive=True, maximum=L.SLO_S),
        _c("tpot_slo_s", "float", "s", "time-per-output-token SLO", empty=NO_SLO, positive=True, maximum=L.SLO_S),
        _c("e2e_slo_s", "float", "s", "end-to-end latency SLO E2E_i", empty=NO_SLO, positive=True, maximum=L.SLO_S),
        _c("max_error", "float", "fraction", "error limit ε_i", minimum=0, maximum=1),
        _c("max_unserved", "float", "fraction", "allowed unserved fraction ζ_i", minimum=0, maximum=1),
        _c("unserved_penalty", "float", "$/request", "penalty φ_i per unserved request", minimum=0, maximum=L.PENALTY),
        _c("slo_attainment", "float", "fraction", "share of requests that must meet every SLO in simulation",
           empty="no target", positive=True, maximum=1),
    ],
    "configs": [
        _c("config", "str", "", "configuration id c = model|gpu|precision|tpNppM"),
        _c("model", "str", "", "model j"),
        _c("gpu", "str", "", "GPU type k"),
        _c("precision", "str", "", "precision q"),
        _c("tp", "int", "GPUs", "tensor-parallel degree n", minimum=1, maximum=L.PARALLEL),
        _c("pp", "int", "GPUs", "pipeline-parallel degree m", minimum=1, maximum=L.PARALLEL),
        _c("gpus", "int", "GPUs", "GPUs per replica n·m", minimum=1, maximum=L.PARALLEL.value ** 2),
        _c("cost_per_hour", "float", "$/h", "cost of one replica cost_c", minimum=0, maximum=L.DOLLARS_PER_HOUR),
        _c("kv_bytes", "float", "bytes", "KV-cache budget per replica KV_c", positive=True, maximum=L.BYTES),
        _c("max_replicas", "int", "replicas", "upper bound on replicas of the configuration", empty=NO_LIMIT, minimum=0,
           maximum=L.REPLICAS),
    ],
    "routes": [
        _c("query_type", "str", "", "query type i"),
        _c("config", "str", "", "configuration c"),
        _c("ttft_s", "float", "s", "time to first token of type i on c", minimum=0, maximum=L.SECONDS),
        _c("tpot_s", "float", "s", "time per output token at the design batch", minimum=0, maximum=L.SECONDS),
        _c("e2e_s", "float", "s", "end-to-end latency e2e_ic", minimum=0, maximum=L.SECONDS),
        _c("error", "float", "fraction", "error rate e_ic", minimum=0, maximum=1),
        _c("capacity_rps", "float", "requests/s", "capacity μ_ic of one replica serving only i", positive=True,
           maximum=L.CAPACITY_RPS),
        _c("kv_byte_seconds", "float", "byte·s", "KV byte-seconds ω_ic held by one request", minimum=0,
           maximum=L.BYTE_SECONDS),
    ],
    "gpus": [
        _c("gpu", "str", "", "GPU type k"),
        _c("available", "float", "GPUs", "GPUs of type k that can be rented A_k", empty=NO_LIMIT, minimum=0,
           maximum=L.GPUS),
    ],
    "models": [
        _c("model", "str", "", "model j"),
        _c("fixed_cost_per_hour", "float", "$/h", "fixed cost F_j of using model j at all", minimum=0,
           maximum=L.DOLLARS_PER_HOUR),
    ],
    # the two-phase model's coefficients per configuration, for the time of an arbitrary iteration
    # (sloserve.problem.steptime); optional for the planner, required by the simulator
    "config_perf": [
        _c("config", "str", "", "configuration c"),
        _c("weight_read_s", "float", "s", "stream every weight once (W/n at effective HBM bandwidth)", minimum=0, maximum=L.SECONDS),
        _c("active_weight_read_s", "float", "s/token", "active weights one token of a pass touches (MoE)", minimum=0, maximum=L.SECONDS),
        _c("kv_read_s_per_token", "float", "s/token", "read one token of KV cache", minimum=0, maximum=L.SECONDS),
        _c("decode_compute_s_per_seq", "float", "s/sequence", "FLOP time of one decoded token", minimum=0, maximum=L.SECONDS),
        _c("prefill_compute_s_per_token", "float", "s/token", "FLOP time of one prefilled token", minimum=0, maximum=L.SECONDS),
        _c("compute_offset_s", "float", "s", "GEMM under-utilisation of a pass, added to its GEMM time", empty="0 (a table from before this column)", minimum=0, maximum=L.SECONDS),
        _c("elementwise_s_per_token", "float", "s/token", "norm, residual and activation traffic of one token", empty="0 (a table from before this column)", minimum=0, maximum=L.SECONDS),
        _c("attention_compute_s_per_pair", "float", "s/pair", "FLOP time of one (query, earlier token) attention pair", minimum=0, maximum=L.SECONDS),
        _c("comm_s_per_pass", "float", "s", "TP all-reduce and PP hand-off latency of one pass", minimum=0, maximum=L.SECONDS),
        _c("comm_s_per_token", "float", "s/token", "TP all-reduce and PP hand-off time per token carried", minimum=0, maximum=L.SECONDS),
        _c("step_overhead_s", "float", "s", "fixed time of one pass: kernel latencies and engine host time", minimum=0, maximum=L.SECONDS),
        _c("seq_overhead_s", "float", "s/sequence", "engine host time per decoding sequence of a pass", empty="0 (a table from before this column)", minimum=0, maximum=L.SECONDS),
        _c("prefill_overhead_s", "float", "s", "extra fixed time of a pass that prefills", minimum=0, maximum=L.SECONDS),
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
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in Compiled.TABLES + OPTIONAL_TABLES:
            df = c.table(name)
            if df is not None:
                df.to_csv(out / f"{name}.csv", index=False, float_format="%.10g")
        (out / "scenario.json").write_text(json.dumps(scenario_json(c), indent=2, default=_json_default) + "\n")
    except OSError as e:
        raise os_error(e.filename or out, e, "write the compiled tables") from None
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _first(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def validate_table(df: pd.DataFrame, name: str, file: str, lines: np.ndarray | None = None) -> pd.DataFrame:
    """Check columns, types and ranges of one table; return it with canonical dtypes.

    ``df`` holds the cells as text (or numbers, for a table built in Python). Raises
    :class:`InputError` naming file, row (the CSV line: ``lines[r]``, default data row + header)
    and field. Ids must be usable names (never a cell a CSV reader takes for missing); numbers
    must parse as finite numbers within the column's limits; an empty cell is allowed only where
    ``docs/formulation.md`` §2.2 says what it means.
    """
    schema = SCHEMAS[name]
    df = df.copy()
    for col in schema:  # a column that may be empty may also be left out: every cell is then empty
        if col.nullable and col.name not in df.columns:
            df[col.name] = np.nan
    missing = [col.name for col in schema if col.name not in df.columns]
    if missing:
        raise InputError(file, missing[0], f"missing column; {name} needs columns {[c.name for c in schema]}")
    line = (lambda r: int(lines[r])) if lines is not None else (lambda r: r + 2)
    df = df.copy()
    for col in schema:
        s = df[col.name]
        if col.dtype == "str":
            for r, v in enumerate(s.tolist()):
                msg = name_problem(v, config_id=col.name == "config") if isinstance(v, str) else \
                    f"must be a name, got {show(v)}"
                if msg:
                    raise InputError(file, col.name, "must not be empty" if isinstance(v, str) and not v.strip()
                                     else msg, row=line(r))
            df[col.name] = s.astype(str)
            continue
        if s.dtype == object:
            text = s.astype(str).str.strip()
            empty = (text == "").to_numpy()
            num = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(dtype=float)
            bad_parse = np.isnan(num) & ~empty
            if bad_parse.any():
                r = _first(bad_parse)
                allowed = f"a number ({col.unit or 'unitless'})" + (f" or an empty cell ({col.empty})" if col.nullable else "")
                raise InputError(file, col.name, f"must be {allowed}, got {s.iloc[r]!r}", row=line(r))
        else:  # a table built in Python: NaN is an empty cell
            num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            empty = np.isnan(num)
        if empty.any() and not col.nullable:
            raise InputError(file, col.name, "must not be empty", row=line(_first(empty)))
        vals = num
        with np.errstate(invalid="ignore"):
            for r in np.flatnonzero(~empty & (~np.isfinite(vals) | (vals < (col.minimum if col.minimum is not None else -np.inf))
                                             | (col.positive & (vals <= 0))
                                             | (vals > (col.maximum.value if isinstance(col.maximum, Limit) else col.maximum))))[:1]:
                v = vals[r]
                got = str(s.iloc[r]).strip() if s.dtype == object else v
                if np.isinf(v) and isinstance(got, str) and got.lstrip("+-").lower() not in ("inf", "infinity"):
                    msg = number_problem(1e308 if v > 0 else -1e308, lo=col.minimum, hi=col.maximum)
                    msg = msg[:msg.rindex(", got ")] + f", got {show(got)}"  # a number too long for a float
                elif not np.isfinite(v):
                    msg = f"must be a finite number, got {show(got)}"
                elif col.positive and v <= 0:
                    msg = f"must be > 0, got {v:g}"
                else:
                    vv = int(v) if float(v).is_integer() and abs(v) < 1e15 else float(v)
                    msg = number_problem(vv, lo=col.minimum, hi=col.maximum)
                raise InputError(file, col.name, msg, row=line(int(r)))
        if col.dtype == "int":
            frac = ~empty & (vals != np.round(vals))
            if frac.any():
                r = _first(frac)
                raise InputError(file, col.name, f"must be a whole number, got {vals[r]:g}", row=line(r))
            # a column that may be empty stays float (NaN = empty); the others are integers
            df[col.name] = vals if col.nullable else vals.astype(np.int64)
        else:
            df[col.name] = vals
    if name == "configs":
        wrong = df["gpus"].to_numpy() != df["tp"].to_numpy() * df["pp"].to_numpy()
        if wrong.any():
            r = _first(wrong)
            raise InputError(file, "gpus", f"must be tp x pp = {df['tp'].iloc[r] * df['pp'].iloc[r]}, "
                                           f"got {df['gpus'].iloc[r]}", row=line(r))
    key = schema[0].name
    if name == "routes":
        dup = df.duplicated(["query_type", "config"])
        if dup.any():
            raise InputError(file, "query_type,config", "duplicate route", row=line(_first(dup)))
    else:
        dup = df[key].duplicated()
        if dup.any():
            r = _first(dup)
            raise InputError(file, key, f"duplicate id {df[key].iloc[r]!r}", row=line(r))
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


#: keys of scenario.json besides the options: what compile records about how the tables were made
#: (provenance, never read by a method); one line each: key -> the JSON types it may have
PROVENANCE_KEYS: dict[str, tuple[type, ...]] = {
    "dropped": (dict,), "compile_seconds": (int, float), "source": (str,), "tp_degrees": (list,),
    "pp_degrees": (list,), "max_batch": (int,), "memory_fraction": (int, float), "instance_pricing": (str,),
}


_JSON_TYPE = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}


def _fail(file: str, key: str, msg: str):
    raise InputError(file, key, msg)


def options_from_json(d: dict[str, Any], file: str) -> Options:
    """The planner's options from ``scenario.json``: every option present (no silent default), of
    its own type (``true`` is not 1), within its range; other keys must be known provenance."""
    known = [f.name for f in fields(Options)]
    allowed = ["name"] + known + list(PROVENANCE_KEYS)
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
            _fail(file, str(k), "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
                  + f"; scenario.json holds name, the options {known} and the provenance keys {list(PROVENANCE_KEYS)}")
    for k in ["name"] + known:
        if k not in d:
            _fail(file, k, f"missing; scenario.json must give name and every option {known} (null where it allows "
                           "no limit), so that no method plans with a default the file did not state")
    for k, types in PROVENANCE_KEYS.items():
        if k in d and d[k] is not None and (isinstance(d[k], bool) or not isinstance(d[k], types)):
            _fail(file, k, f"must be {' or '.join(_JSON_TYPE[t] for t in types)}, got {show(d[k])}")
    lists = d.get("dropped") or {}
    for k in ("query_types_without_route", "query_types_unavailable"):  # read by the infeasibility diagnosis
        if k in lists and not (isinstance(lists[k], list) and all(isinstance(x, str) for x in lists[k])):
            _fail(file, f"dropped.{k}", f"must be a list of query type names, got {show(lists[k])}")
    msg = name_problem(d["name"])
    if msg:
        _fail(file, "name", msg)

    def num(key, nullable=False, **kw):
        v = d[key]
        if v is None and nullable:
            return None
        m = number_problem(v, **kw)
        if m:
            _fail(file, key, m.replace("must be ", "must be null or ", 1) if nullable else m)
        return int(v) if kw.get("integer") else float(v)

    budget = num("budget_per_hour", nullable=True, lo=0, hi=L.DOLLARS_PER_HOUR)
    cap = num("utilization_cap", lo=0, lo_open=True, hi=1)
    max_models = num("max_models", nullable=True, lo=1, hi=L.MODELS, integer=True)
    if d["slo_mode"] not in SLO_MODES or isinstance(d["slo_mode"], bool):
        _fail(file, "slo_mode", f"must be one of {list(SLO_MODES)}, got {show(d['slo_mode'])}")
    if not isinstance(d["one_parallelism_per_deployment"], bool):
        _fail(file, "one_parallelism_per_deployment", f"must be true or false, got {show(d['one_parallelism_per_deployment'])}")
    return Options(budget_per_hour=budget, utilization_cap=cap,
                   one_parallelism_per_deployment=d["one_parallelism_per_deployment"], max_models=max_models,
                   slo_mode=d["slo_mode"])


def read_table_csv(f: Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The cells of one CSV file as text (nothing read as a number or a missing value yet) and the
    file line of each row; a header naming a column twice, or a row with too few or too many
    fields, is an error naming the line."""
    text = read_text(f, f"{name} table")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows, lines = [], []
        header = None
        for rec in reader:
            if not rec or (len(rec) == 1 and not rec[0].strip()):  # blank line
                continue
            if header is None:
                header = [h.strip() for h in rec]
                continue
            if len(rec) != len(header):
                raise InputError(str(f), None, f"has {len(rec)} fields, the header has {len(header)}",
                                 row=reader.line_num)
            rows.append(rec)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise InputError(str(f), None, f"malformed CSV: {e}") from None
    if header is None:
        raise InputError(str(f), None, f"empty file; the {name} table needs a header row {[c.name for c in SCHEMAS[name]]}")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(str(f), dup[0], "the header names this column twice", row=1)
    return pd.DataFrame(rows, columns=header, dtype=object), np.asarray(lines, dtype=np.int64)


def read_compiled(path: str | Path) -> Compiled:
    """Read and validate a compiled directory written by :func:`write_compiled` (or by hand)."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, "no such file or directory")
    if not p.is_dir():
        raise InputError(str(p), None, "not a directory of compiled tables")
    input_dir(p, "directory of compiled tables")
    sj = p / "scenario.json"
    if not sj.exists():
        raise InputError(str(sj), None, "missing file; a compiled directory needs scenario.json")
    meta = load_json(read_text(sj, "file scenario.json"), str(sj))
    if not isinstance(meta, dict):
        raise InputError(str(sj), None, f"must be a JSON object, got {show(meta)}")
    options = options_from_json(meta, str(sj))
    tables = {}
    for name in Compiled.TABLES + OPTIONAL_TABLES:
        f = p / f"{name}.csv"
        if not f.exists():
            if name in OPTIONAL_TABLES:
                continue
            raise InputError(str(f), None, f"missing file; a compiled directory needs {[t + '.csv' for t in Compiled.TABLES]}")
        df, lines = read_table_csv(f, name)
        tables[name] = validate_table(df, name, str(f), lines)
    if len(tables["query_types"]) == 0:
        raise InputError(str(p / "query_types.csv"), None, "has no query types; a planning problem needs at least one")
    c = Compiled(name=meta["name"], options=options, **tables,
                 extra={k: v for k, v in meta.items() if k != "name" and k not in {f.name for f in fields(Options)}})
    check_references(c, str(p))
    return c


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
