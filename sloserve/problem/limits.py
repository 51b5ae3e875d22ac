"""The limits of every input, in one place: the largest value of each quantity and why, and the
rules an identifier follows.

A value beyond its limit is not a planning problem sloserve can answer truthfully: either it is
physically absurd (more requests per second than all LLM services together serve) or it pushes
the numbers past what double precision and the solvers' tolerances can certify. Every message
that rejects a value states the limit, its unit and its reason (:meth:`Limit.describe`);
``docs/inputs.md`` lists them, and a test keeps that page equal to :data:`LIMITS`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """The largest allowed value of a quantity, its unit and the physical reason for it."""

    name: str
    value: float
    unit: str
    why: str

    def describe(self) -> str:
        return f"at most {fmt(self.value)} {self.unit} ({self.why})"

    def exceeded_by(self, v) -> str:
        return f"{show(v)} is above the limit of {fmt(self.value)} {self.unit} ({self.why})"


def fmt(v: float) -> str:
    """A limit as people write it: 86,400 and 65,536; 1e7 and 1e15."""
    if v != v or v in (float("inf"), float("-inf")) or (1e-3 <= abs(v) < 1e6) or v == 0:
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"
    m, e = f"{v:e}".split("e")
    return f"{float(m):g}e{int(e)}"


def _l(name, value, unit, why) -> Limit:
    return Limit(name, value, unit, why)


RATE_RPS = _l("rate_rps", 1e7, "requests/s",
              "a thousand times the busiest public LLM service; the MILP is exact to about 1e9")
TOKENS = _l("tokens", 1e7, "tokens per request", "the longest context windows are about 10 million tokens")
SLO_S = _l("slo_s", 86_400, "s", "one day; a request allowed longer is a batch job, not a latency SLO")
PENALTY = _l("unserved_penalty", 1e3, "$/request",
             "a thousand times the dearest LLM call; to forbid unserved traffic use max_unserved: 0")
DOLLARS_PER_HOUR = _l("dollars_per_hour", 1e9, "$/h", "9 trillion dollars a year, a tenth of world GDP")
GPU_PRICE = _l("price_per_gpu_hour", 1e4, "$/GPU-h", "a thousand times the rent of any cloud GPU")
GPUS = _l("available", 1e8, "GPUs", "more GPUs than have ever been built; leave it empty for no limit")
REPLICAS = _l("replicas", 1e15, "replicas", "near 2^53, where whole numbers stop being exact in double precision")
PLANNED_REPLICAS = _l("planned_replicas", 1e8, "replicas",
                      "more GPUs than exist; the MILP was measured to return wrong plans near 1e9 replicas")
SMALLEST_LOAD = _l("smallest_load", 1e-6, "replicas",
                   "the least positive traffic a route may carry, as a share of one replica: below it the "
                   "solvers' tolerances cannot tell it from none")
MODELS = _l("max_models", 1e6, "models", "far more than any catalog; write null for no limit")
BATCH = _l("max_batch", 65_536, "sequences", "no serving engine keeps more sequences in flight on one replica")
PARALLEL = _l("parallel_degree", 1024, "GPUs", "a replica spans at most a few racks")
SECONDS = _l("seconds", 1e8, "s", "three years for one request or one engine step")
CAPACITY_RPS = _l("capacity_rps", 1e9, "requests/s", "a hundred times the limit of rate_rps, on one replica")
BYTES = _l("bytes", 1e15, "bytes", "a petabyte of KV cache on one replica, a thousand times the largest GPU node")
BYTE_SECONDS = _l("byte_seconds", 1e20, "byte·s", "a petabyte held for a day")
IMAGES = _l("num_images", 1e4, "images per request", "no model accepts more images in one prompt")
WINDOWS = _l("windows", 1e7, "windows", "95 years of 5-minute windows: a clock error, or use a longer --window")
DEADLINE_H = _l("deadline_h", 8_760, "h", "one year; a job allowed longer is capacity planning, not a deadline")
BATCH_REQUESTS = _l("batch_requests", 1e9, "requests", "a thousand times the largest published offline batch (~1 M prompts)")
NAME_CHARS = _l("name_length", 128, "characters", "names are identifiers, shown in tables and plan files")

LIMITS: dict[str, Limit] = {v.name: v for v in (RATE_RPS, TOKENS, SLO_S, PENALTY, DOLLARS_PER_HOUR, GPU_PRICE, GPUS,
                                                REPLICAS, PLANNED_REPLICAS, SMALLEST_LOAD, MODELS, BATCH, PARALLEL, SECONDS,
                                                CAPACITY_RPS, BYTES, BYTE_SECONDS, IMAGES, WINDOWS, DEADLINE_H, BATCH_REQUESTS,
                                                NAME_CHARS)}


def number_problem(v, *, lo: float | None = None, hi: Limit | float | None = None, lo_open: bool = False,
                   integer: bool = False) -> str | None:
    """What is wrong with ``v`` as a number in range, or None. Booleans are not numbers; huge
    integers are compared exactly (no OverflowError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a {'whole ' if integer else ''}number, got {show(v)}"
    if isinstance(v, float) and not math.isfinite(v):
        return f"must be a finite number, got {v!r}"
    if integer and isinstance(v, float) and v != math.floor(v):
        return f"must be a whole number, got {v!r}"
    if lo is not None and (v <= lo if lo_open else v < lo):
        return f"must be {'>' if lo_open else '>='} {lo:g}, got {show(v)}"
    top = hi.value if isinstance(hi, Limit) else hi
    if top is not None and v > top:
        return (f"must be {hi.describe()}, got {show(v)}" if isinstance(hi, Limit)
                else f"must be <= {top:g}, got {show(v)}")
    if isinstance(v, int) and abs(v) > 1e308:  # beyond any float: every later computation would overflow
        return f"must be a finite number, got {show(v)}"
    return None


def show(v) -> str:
    """A value as the user wrote it in YAML or JSON (true, null, 'text'), long numbers shortened."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):  # a numpy scalar
        v = v.item()
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int) and len(str(v)) > 20:
        return f"{str(v)[:12]}... ({len(str(v))} digits)"
    if isinstance(v, str) and len(v) > 40:
        return f"{v[:20]!r}... ({len(v)} characters)"
    if isinstance(v, (dict, list)):
        return f"a {'mapping' if isinstance(v, dict) else 'list'}"
    if isinstance(v, float) and abs(v) >= 1e6:
        return f"{v:.6g}"
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


# ---- names --------------------------------------------------------------------------------------

#: cells that pandas reads as a missing value (compared without case: other readers differ in case)
MISSING_MARKERS = frozenset(s.lower() for s in (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null"))
#: characters an id may not contain: '|' separates the parts of a configuration id, ',' the parts of a
#: route id in reports, '"' is CSV quoting; control characters (newlines, tabs) break tables
_FORBIDDEN = re.compile(r'[|,"\x00-\x1f\x7f]')


def name_problem(v, *, config_id: bool = False) -> str | None:
    """What is wrong with ``v`` as an identifier (query type, scenario, catalog key), or None.
    ``config_id=True`` allows the '|' of configuration ids."""
    if not isinstance(v, str):
        return f"must be a string, got {show(v)}"
    if v.strip().lower() in MISSING_MARKERS:
        return (f"{v!r} is not a usable name: CSV readers (pandas, spreadsheets) read it as a missing value; "
                "choose another name")
    if v != v.strip():
        return f"{v!r} starts or ends with white space"
    if len(v) > NAME_CHARS.value:
        return f"is {len(v)} characters long; a name has {NAME_CHARS.describe()}"
    bad = _FORBIDDEN.search(v.replace("|", "") if config_id else v)
    if bad:
        return (f"{v!r} contains {bad.group()!r}; a name may not contain '|' (it separates the parts of a "
                "configuration id), ',', '\"' or control characters")
    return None
