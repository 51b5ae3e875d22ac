"""LLM inference request traces: loaders for the public Azure traces and for user CSV files.

Every loader returns a *tidy* DataFrame, one row per request, sorted by arrival:

=================  ========  ==========================================================
column             dtype     meaning (units)
=================  ========  ==========================================================
``arrival_s``      float64   arrival time in seconds since the trace start (first request = 0)
``input_tokens``   int64     prompt / context length in tokens (>= 0)
``output_tokens``  int64     generated tokens (>= 0)
``service``        str       service the request belongs to (``code``, ``conversation``, ...)
``num_images``     int64     images in the request (only when the file has such a column)
=================  ========  ==========================================================

``df.attrs`` carries ``source`` (file name[s]), ``t0`` (ISO time of the first request, or
``None`` for numeric-seconds files), ``arrival_kind`` (``datetime`` | ``seconds``),
``skipped`` (``{reason: count}`` of rows dropped) and ``skipped_first_line``
(``{reason: 1-based line number}`` of the first dropped row per reason).

Supported inputs
----------------
* Azure LLM Inference Trace 2023 (Splitwise, ISCA'24): ``TIMESTAMP,ContextTokens,GeneratedTokens``,
  timestamps ``2023-11-16 18:17:03.9799600`` (7 fractional digits, no time zone).
* Azure LLM Inference Trace 2024 (DynamoLLM, HPCA'25), week-long: same columns, tens of
  millions of rows, timestamps with ``+00:00`` and sometimes no fractional part. Read in
  chunks (bounded parsing memory) with an optional tqdm progress bar.
* Azure LMM (multimodal) Inference Trace 2025 (ModServe, SoCC'25): ``.csv.gz`` with an extra
  ``NumImages`` column.
* Any CSV with an arrival time (datetime strings or numeric seconds) and input/output token
  counts, through ``columns={"arrival": ..., "input_tokens": ..., "output_tokens": ...}``.

Bad rows (wrong number of fields, missing values, unparsable timestamps, non-numeric,
non-integer or negative token counts, counts above their limit: 10 million tokens, 10,000
images; :mod:`sloserve.problem.limits`) raise :class:`~sloserve.errors.InputError` naming the
file, the 1-based line number (header = line 1) and the column, or, with
``on_bad_rows="skip"``, are dropped and counted in ``df.attrs["skipped"]``. Nothing is
silently coerced. A UTF-8 byte-order mark (spreadsheets write one) is not part of the header. Blank lines carry no request and are dropped in both modes (counted
under ``"blank line"``).

The traces are CC BY 4.0 data of Microsoft (github.com/Azure/AzurePublicDataset); they are
never copied into this repository. :func:`fetch_trace` finds a local copy or downloads one.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import sys
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..paths import input_file, reason as os_reason
from ..problem import limits
from ..problem.limits import show

__all__ = [
    "AZURE_COLUMNS",
    "TRACE_COLUMNS",
    "KNOWN_TRACES",
    "TraceFile",
    "default_trace_dir",
    "fetch_trace",
    "infer_service",
    "load_trace",
    "load_traces",
    "resolve_trace",
]

#: canonical key -> column name in the Azure files
AZURE_COLUMNS: dict[str, str] = {
    "arrival": "TIMESTAMP",
    "input_tokens": "ContextTokens",
    "output_tokens": "GeneratedTokens",
    "num_images": "NumImages",
}
#: columns of the tidy frame, in order (``num_images`` only when present)
TRACE_COLUMNS = ("arrival_s", "input_tokens", "output_tokens", "service")
_REQUIRED_KEYS = ("arrival", "input_tokens", "output_tokens")
_TOKEN_KEYS = ("input_tokens", "output_tokens", "num_images")
ON_BAD_ROWS = ("error", "skip")
ARRIVAL_UNITS = {"auto": None, "datetime": None, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
DEFAULT_CHUNK_ROWS = 250_000
#: the largest count of each kind in one request (sloserve.problem.limits)
_COUNT_LIMITS = {"input_tokens": limits.TOKENS, "output_tokens": limits.TOKENS, "num_images": limits.IMAGES}

# reasons, in the order a row with several problems is attributed
R_MALFORMED = "malformed row"
R_MISSING = "missing value"
R_TIMESTAMP = "unparsable timestamp"
R_NONNUMERIC = "non-numeric token count"
R_NONINTEGER = "non-integer token count"
R_NEGATIVE = "negative token count"
R_TOO_LARGE = "count above its limit (tokens or images)"
R_BLANK = "blank line"


# ---------------------------------------------------------------------------------------------
# registry of public trace files
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TraceFile:
    """One public trace file: where it lives, what it holds, how to credit it."""

    key: str
    filename: str
    url: str
    service: str
    sha256: str | None  # None = not pinned (we could not hash the file offline)
    description: str
    citation: str


_AZ_RAW = "https://raw.githubusercontent.com/Azure/AzurePublicDataset/master/data/"
_AZ_BLOB = "https://azurepublicdatasettraces.blob.core.windows.net/azurellminfererencetrace/"  # sic
_SPLITWISE = ('Patel et al., "Splitwise: Efficient generative LLM inference using phase splitting", '
              "ISCA 2024")
_DYNAMO = ('Stojkovic et al., "DynamoLLM: Designing LLM Inference Clusters for Performance and '
           'Energy Efficiency", HPCA 2025')
_MODSERVE = ('Qiu et al., "ModServe: Modality- and Stage-Aware Resource Disaggregation for Scalable '
             'Multimodal Model Serving", SoCC 2025')

KNOWN_TRACES: dict[str, TraceFile] = {t.key: t for t in (
    TraceFile("azure-2023-code", "AzureLLMInferenceTrace_code.csv", _AZ_RAW + "AzureLLMInferenceTrace_code.csv",
              "code", "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6",
              "Azure LLM Inference Trace 2023, code service, 1 hour, 8,818 requests", _SPLITWISE),
    TraceFile("azure-2023-conv", "AzureLLMInferenceTrace_conv.csv", _AZ_RAW + "AzureLLMInferenceTrace_conv.csv",
              "conversation", "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
              "Azure LLM Inference Trace 2023, conversation service, 1 hour, 19,365 requests", _SPLITWISE),
    TraceFile("azure-2024-code", "AzureLLMInferenceTrace_code_1week.csv",
              _AZ_BLOB + "AzureLLMInferenceTrace_code_1week.csv", "code", None,
              "Azure LLM Inference Trace 2024, code service, 1 week (~16.8 M requests, ~0.7 GB)", _DYNAMO),
    TraceFile("azure-2024-conv", "AzureLLMInferenceTrace_conv_1week.csv",
              _AZ_BLOB + "AzureLLMInferenceTrace_conv_1week.csv", "conversation", None,
              "Azure LLM Inference Trace 2024, conversation service, 1 week (~27.3 M requests, ~1.1 GB)",
              _DYNAMO),
    TraceFile("azure-2025-multimodal", "AzureLMMInferenceTrace_multimodal.csv.gz",
              _AZ_RAW + "AzureLMMInferenceTrace_multimodal.csv.gz", "multimodal", None,
              "Azure LMM Inference Trace 2025, multimodal service, 1 week (~1 M requests)", _MODSERVE),
)}

#: short aliases accepted wherever a registry key is
_ALIASES = {"azure-2023-conversation": "azure-2023-conv", "azure-2024-conversation": "azure-2024-conv",
            "azure-2024-code-1week": "azure-2024-code", "azure-2024-conv-1week": "azure-2024-conv",
            "azure-2025-mm": "azure-2025-multimodal"}


def default_trace_dir() -> Path | None:
    """Directory holding local trace copies, or ``None``.

    Looks at ``$SLOSERVE_TRACE_DIR`` first, then ``<repo>/../shared/data/azure_llm_trace``
    (the shared copy of the 2023 samples next to a source checkout).
    """
    env = os.environ.get("SLOSERVE_TRACE_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    cand = repo.parent / "shared" / "data" / "azure_llm_trace"
    return cand if cand.is_dir() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_trace(key: str, trace_dir: str | Path | None = None, *, download: bool = True,
                progress: bool | None = None) -> Path:
    """Path of a known public trace file (see :data:`KNOWN_TRACES`), downloading it if needed.

    Looks in ``trace_dir``, then ``$SLOSERVE_TRACE_DIR`` / :func:`default_trace_dir`, and only
    then downloads with :mod:`pooch` into ``trace_dir`` (or pooch's user cache). Files with a
    pinned sha256 are verified; the 2024 and 2025 files have no pinned hash
    (``known_hash=None``) because they could not be hashed offline.
    """
    key = _ALIASES.get(key, key)
    if key not in KNOWN_TRACES:
        raise InputError(key, None, f"unknown trace; known: {sorted(KNOWN_TRACES)}")
    tf = KNOWN_TRACES[key]
    dirs = [Path(d).expanduser() for d in (trace_dir,) if d is not None]
    dtd = default_trace_dir()
    if dtd is not None:
        dirs.append(dtd)
    for d in dirs:
        p = d / tf.filename
        if p.is_file():
            if tf.sha256 is not None and _sha256(p) != tf.sha256:
                raise InputError(str(p), None, f"sha256 does not match the published {tf.key} file "
                                               f"(expected {tf.sha256}); delete it or fix the copy")
            return p
    if not download:
        raise InputError(tf.filename, None, f"not found in {[str(d) for d in dirs] or 'any trace directory'}; "
                                            "set SLOSERVE_TRACE_DIR or allow download")
    import pooch  # lazy: only needed for downloads

    target = Path(trace_dir).expanduser() if trace_dir is not None else Path(pooch.os_cache("sloserve"))
    known = None if tf.sha256 is None else f"sha256:{tf.sha256}"
    try:
        out = pooch.retrieve(tf.url, known_hash=known, fname=tf.filename, path=target,
                             progressbar=_progress_on(progress))
    except Exception as exc:  # network errors, hash mismatch
        raise InputError(tf.filename, None, f"could not download {tf.url} ({type(exc).__name__}: {exc}); "
                                            "put a copy in $SLOSERVE_TRACE_DIR") from exc
    return Path(out)


def azure_2023_samples(trace_dir: str | Path | None = None, *, download: bool = True) -> list[Path]:
    """The two public 2023 Azure samples (code, conversation): local copies when there are any
    (``trace_dir``, ``$SLOSERVE_TRACE_DIR``, ``../shared/data/azure_llm_trace`` beside a checkout),
    else downloaded once (pooch, hash-checked). When neither works the error says, in one line,
    where to put the files."""
    try:
        return [fetch_trace(k, trace_dir, download=download) for k in ("azure-2023-code", "azure-2023-conv")]
    except InputError as e:
        raise InputError(None, "traces", "the Azure 2023 samples (AzureLLMInferenceTrace_code.csv, "
                                         "AzureLLMInferenceTrace_conv.csv) are not here and could not be downloaded "
                                         f"({e.message}); put both files in a folder and set SLOSERVE_TRACE_DIR to it, "
                                         "or into ../shared/data/azure_llm_trace beside the repository") from None


def resolve_trace(spec: str | Path, trace_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """A path for ``spec``: an existing file, or a registry key (``azure-2023-code``, ...)."""
    p = Path(spec).expanduser()
    if p.exists():
        return p
    key = _ALIASES.get(str(spec), str(spec))
    if key in KNOWN_TRACES:
        return fetch_trace(key, trace_dir, download=download)
    raise InputError(str(spec), None, f"no such file, and not a known trace ({sorted(KNOWN_TRACES)})")


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------

def infer_service(path: str | Path) -> str:
    """Service name from a file name: ``*code*`` -> ``code``, ``*conv*`` -> ``conversation``,
    ``*multimodal*``/``*lmm*`` -> ``multimodal``, otherwise the file stem as a lower-case slug."""
    name = Path(path).name.lower()
    if "code" in name:
        return "code"
    if "conv" in name or "chat" in name:
        return "conversation"
    if "multimodal" in name or "lmm" in name:
        return "multimodal"
    stem = name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return slug or "default"


def _progress_on(progress: bool | None) -> bool:
    if progress is None:
        try:
            return bool(sys.stderr.isatty())
        except Exception:
            return False
    return bool(progress)


class _Problems:
    """Bad rows found so far: counts and first data-row index per reason."""

    def __init__(self):
        self.count: dict[str, int] = {}
        self.first_row: dict[str, int] = {}  # data-row index (0-based, pandas numbering)
        self.first_line: dict[str, int] = {}  # file line, when known directly

    def add(self, reason: str, n: int, first_row: int | None = None, first_line: int | None = None):
        if n <= 0:
            return
        self.count[reason] = self.count.get(reason, 0) + int(n)
        if first_row is not None and reason not in self.first_row and reason not in self.first_line:
            self.first_row[reason] = int(first_row)
        if first_line is not None:
            self.first_line[reason] = min(first_line, self.first_line.get(reason, first_line))


def _row_to_line(rows: np.ndarray, skipped_lines: Sequence[int]) -> np.ndarray:
    """1-based file line of pandas data rows, given the lines the parser did not yield."""
    rows = np.asarray(rows, dtype=np.int64)
    s = np.sort(np.asarray(list(skipped_lines), dtype=np.int64))
    adj = s - 2 - np.arange(len(s))  # data-row index each skipped line would have had
    return rows + 2 + np.searchsorted(adj, rows, side="right")


def _open_text(path: Path):
    """(text handle, raw binary handle for progress) of a .csv or .csv.gz file."""
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if path.suffix == ".gz" or magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8-sig", newline=""), raw
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), raw  # -sig: a spreadsheet's byte-order mark


def _scan_head(path: Path, ncols_needed: int | None = None) -> tuple[list[str], list[tuple[int, int]], int | None]:
    """Header fields, and (line, nfields) of leading data lines whose field count differs from
    the header, up to the first good line (pandas would otherwise take a longer first row as an
    index column and shift every column). Returns (header, bad_leading, first_good_line)."""
    import csv

    txt, raw = _open_text(path)
    try:
        reader = csv.reader(txt)
        try:
            header = next(reader)
        except StopIteration:
            return [], [], None
        bad: list[tuple[int, int]] = []
        for i, rec in enumerate(reader):
            line = i + 2
            if not rec:  # blank line
                continue
            if len(rec) != len(header):
                bad.append((line, len(rec)))
                if len(bad) > 10_000:
                    break
                continue
            return header, bad, line
        return header, bad, None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), None, _not_text(exc)) from None
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(str(path), None, _cannot_read(exc)) from None
    except csv.Error as exc:
        raise InputError(str(path), None, f"malformed CSV: {exc}") from exc
    finally:
        txt.close()
        raw.close()


def _not_text(exc: UnicodeDecodeError) -> str:
    return (f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start}); a trace is a CSV text "
            "file, or one compressed with gzip (.csv.gz)")


def _cannot_read(exc: BaseException) -> str:
    if isinstance(exc, (EOFError, gzip.BadGzipFile, zlib.error)):
        return f"not a readable gzip file ({exc or type(exc).__name__}); is it cut short, or not compressed at all?"
    return f"cannot read file: {os_reason(exc) if isinstance(exc, OSError) else exc}"


def _resolve_columns(path: Path, header: list[str], columns: Mapping[str, str] | None) -> dict[str, str]:
    """canonical key -> column name in this file (num_images only if present)."""
    allowed = set(_REQUIRED_KEYS) | {"num_images"}
    if columns is not None:
        extra = sorted(set(columns) - allowed)
        if extra:
            raise InputError(str(path), f"columns.{extra[0]}", f"unknown key; allowed: {sorted(allowed)}")
    mapping = dict(AZURE_COLUMNS)
    mapping.update(columns or {})
    lower = {h.strip().lower(): h for h in header}
    out: dict[str, str] = {}
    for key, col in mapping.items():
        if col in header:
            out[key] = col
        elif str(col).strip().lower() in lower:
            out[key] = lower[str(col).strip().lower()]
        elif key in _REQUIRED_KEYS:
            hint = "" if columns else ("; say which columns hold them: on the command line --columns "
                                       "arrival=COL,input_tokens=COL,output_tokens=COL (in Python: "
                                       "columns={'arrival': ..., 'input_tokens': ..., 'output_tokens': ...})")
            raise InputError(str(path), col, f"missing column (the header has {header}){hint}")
        elif columns is not None and key in columns:
            raise InputError(str(path), col, f"missing column (the header has {header})")
    return out


def _token_values(col: pd.Series, limit: float) -> tuple[np.ndarray, ...]:
    """(int64 values, missing, non-numeric, non-integer, above ``limit``) masks of a count column.
    Everything is compared as float before any cast, so 10^20 is "above its limit", never an
    int64 that wrapped around to a negative number."""
    missing = col.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        f = col.to_numpy(dtype=np.float64, na_value=np.nan)
        nonnum = np.zeros(len(f), dtype=bool)
    else:
        num = pd.to_numeric(col, errors="coerce")
        f = num.to_numpy(dtype=np.float64, na_value=np.nan)
        nonnum = ~missing & np.isnan(f)
    with np.errstate(invalid="ignore"):
        big = ~missing & ~nonnum & np.isfinite(f) & (f > limit)
        nonint = ~missing & ~nonnum & ~big & (~np.isfinite(f) | (f != np.floor(f)))
    ok = ~(missing | nonnum | nonint | big)
    v = np.zeros(len(f), dtype=np.int64)
    if pd.api.types.is_integer_dtype(col.dtype) and col.dtype.kind == "i" and not \
            pd.api.types.is_extension_array_dtype(col.dtype):
        v[ok] = col.to_numpy()[ok]  # exact: int64 values below the limit
    else:
        v[ok] = f[ok].astype(np.int64)
    return v, missing, nonnum, nonint, big


def _arrival_kind(col: pd.Series, unit: str) -> str:
    if unit == "datetime":
        return "datetime"
    if unit != "auto":
        return "seconds"
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return "seconds"
    nn = col.dropna().iloc[:1000]  # a sample decides; every value is still validated later
    if len(nn) == 0:
        return "datetime"
    num = pd.to_numeric(nn, errors="coerce")
    return "seconds" if num.notna().mean() > 0.5 else "datetime"


def _arrival_values(col: pd.Series, kind: str, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, missing, unparsable): int64 ns since epoch (datetime) or float64 seconds."""
    missing = col.isna().to_numpy()
    if kind == "datetime":
        if pd.api.types.is_numeric_dtype(col.dtype):
            bad = ~missing
            return np.zeros(len(col), dtype=np.int64), missing, bad
        d = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
        idx = pd.DatetimeIndex(d).as_unit("ns")
        bad = ~missing & idx.isna()
        return idx.asi8.copy(), missing, bad
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        f = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        f = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~missing & ~np.isfinite(f)
    return f * scale, missing, bad


_SKIP_RE = re.compile(r"Skipping line (\d+): (.*)")
_EXPECT_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def load_trace(path: str | Path, service: str | None = None, columns: Mapping[str, str] | None = None,
               on_bad_rows: str = "error", progress: bool | None = None, *,
               arrival_unit: str = "auto", chunk_rows: int = DEFAULT_CHUNK_ROWS) -> pd.DataFrame:
    """Load one trace file into the tidy frame described in the module docstring.

    Parameters
    ----------
    path : a ``.csv`` or ``.csv.gz`` file (gzip is detected by suffix or magic bytes).
    service : service name of every request; default :func:`infer_service` of the file name.
    columns : ``{"arrival": ..., "input_tokens": ..., "output_tokens": ..., "num_images": ...}``,
        file column names for the canonical fields; default the Azure names
        (``TIMESTAMP, ContextTokens, GeneratedTokens, NumImages``), matched case-insensitively.
    on_bad_rows : ``"error"`` raises :class:`InputError` at the first bad row (file, line,
        column); ``"skip"`` drops bad rows and counts them in ``attrs["skipped"]``.
    progress : tqdm bar over the file's bytes; ``None`` = only when stderr is a terminal.
    arrival_unit : ``"auto"`` (numeric -> seconds, else datetime strings), ``"datetime"``, or the
        unit of numeric times: ``"s"``, ``"ms"``, ``"us"``, ``"ns"``.
    chunk_rows : rows parsed per chunk; bounds the memory used for parsing.

    Datetime strings are parsed as ISO 8601 (any number of fractional digits, optional
    ``+hh:mm`` offset; times without an offset are taken as UTC). ``arrival_s`` is relative to
    the earliest request of the file.
    """
    path = Path(path)
    if on_bad_rows not in ON_BAD_ROWS:
        raise InputError(str(path), "on_bad_rows", f"must be one of {list(ON_BAD_ROWS)}, got {on_bad_rows!r}")
    if arrival_unit not in ARRIVAL_UNITS:
        raise InputError(str(path), "arrival_unit", f"must be one of {list(ARRIVAL_UNITS)}, got {arrival_unit!r}")
    input_file(path, "trace file")  # exists, not a directory, readable
    file = str(path)
    skip = on_bad_rows == "skip"
    service = service if service is not None else infer_service(path)

    header, bad_leading, first_good = _scan_head(path)
    if not header:
        raise InputError(file, None, "empty file (no header row)")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})[0]
        raise InputError(file, dup, "duplicate column name in the header", row=1)
    cols = _resolve_columns(path, header, columns)
    problems = _Problems()
    skipped_lines: list[int] = []
    if bad_leading:
        line, nf = bad_leading[0]
        if not skip:
            raise InputError(file, None, f"expected {len(header)} fields, saw {nf}", row=line)
        for line, nf in bad_leading:
            problems.add(R_MALFORMED, 1, first_line=line)
            skipped_lines.append(line)

    usecols = list(cols.values())
    kind_box: list[str | None] = [None]
    t_parts: list[np.ndarray] = []
    tok_parts: dict[str, list[np.ndarray]] = {k: [] for k in cols if k != "arrival"}
    show = _progress_on(progress)
    txt, raw = _open_text(path)
    size = path.stat().st_size
    from tqdm import tqdm  # plain bar: tqdm.auto needs ipywidgets under Jupyter and warns without it

    bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show, leave=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                reader = pd.read_csv(
                    txt, chunksize=max(1, int(chunk_rows)), skip_blank_lines=False,
                    on_bad_lines="warn" if skip else "error",
                    skiprows=[line - 1 for line in skipped_lines] or None,
                    dtype={c: str for c in usecols if c == cols["arrival"]} if arrival_unit == "datetime" else None,
                )
                for chunk in reader:
                    _consume_chunk(chunk, cols, file, skip, arrival_unit, problems, t_parts, tok_parts, kind_box)
                    bar.update(raw.tell() - bar.n)
            except pd.errors.ParserError as exc:
                m = _EXPECT_RE.search(str(exc))
                if m:
                    raise InputError(file, None, f"expected {m.group(1)} fields, saw {m.group(3)}",
                                     row=int(m.group(2))) from None
                raise InputError(file, None, f"malformed CSV: {exc}") from None
            except pd.errors.EmptyDataError:
                raise InputError(file, None, "empty file (no header row)") from None
            except UnicodeDecodeError as exc:
                raise InputError(file, None, _not_text(exc)) from None
            except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
                raise InputError(file, None, _cannot_read(exc)) from None
        for w in caught:
            for m in _SKIP_RE.finditer(str(w.message)):
                line = int(m.group(1))
                problems.add(R_MALFORMED, 1, first_line=line)
                skipped_lines.append(line)
    finally:
        bar.close()
        txt.close()
        raw.close()

    # line numbers of the first dropped row per reason (skip mode)
    for reason, rows in problems.first_row.items():
        line = int(_row_to_line(np.array([rows]), skipped_lines)[0])
        problems.first_line[reason] = min(line, problems.first_line.get(reason, line))

    kind = kind_box[0] or ("datetime" if arrival_unit in ("auto", "datetime") else "seconds")
    # assemble column by column, freeing the parts as we go (peak ~ 2 columns, not 2 frames)
    t = _concat(t_parts, np.int64 if kind == "datetime" else np.float64)
    t0_iso: str | None = None
    tmin: int | float | None = None
    if len(t) and kind == "datetime":
        tmin = int(t.min())
        t -= tmin
        arrival = t.astype(np.float64)
        del t
        arrival /= 1e9
        t0_iso = pd.Timestamp(tmin, unit="ns", tz="UTC").isoformat()
    elif len(t):
        tmin = float(t.min())
        arrival = t
        arrival -= tmin
    else:
        arrival = np.zeros(0, dtype=np.float64)
    order = np.argsort(arrival, kind="stable") if len(arrival) > 1 and np.any(np.diff(arrival) < 0) else None
    data: dict[str, np.ndarray] = {"arrival_s": arrival if order is None else arrival[order]}
    del arrival
    for k in ("input_tokens", "output_tokens", "num_images"):
        if k in tok_parts:
            v = _concat(tok_parts[k], np.int64)
            data[k] = v if order is None else v[order]
            del v
    svc_col = _service_column(service, len(data["arrival_s"]))
    df = pd.DataFrame({"arrival_s": data.pop("arrival_s"), "input_tokens": data.pop("input_tokens"),
                       "output_tokens": data.pop("output_tokens"), "service": svc_col, **data}, copy=False)
    df.attrs.update({
        "source": file,
        "t0": t0_iso,
        "t0_value": tmin,
        "arrival_kind": kind,
        "skipped": dict(problems.count),
        "skipped_first_line": dict(problems.first_line),
    })
    return df


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    """Concatenate and empty ``parts`` (so the pieces can be freed)."""
    out = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)
    parts.clear()
    return out


def _service_column(service: str, n: int) -> pd.Categorical:
    """A categorical column holding one service name n times (1 byte per row)."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[str(service)])


def _consume_chunk(chunk: pd.DataFrame, cols: dict[str, str], file: str, skip: bool, arrival_unit: str,
                   problems: _Problems, t_parts: list, tok_parts: dict, kind_box: list) -> None:
    """Validate one parsed chunk; append its good rows; raise or count the bad ones."""
    rows = chunk.index.to_numpy(dtype=np.int64)
    n = len(chunk)
    if n == 0:
        return
    blank = chunk.isna().all(axis=1).to_numpy()
    if kind_box[0] is None:
        nonblank = chunk.loc[~blank, cols["arrival"]]
        if len(nonblank):
            kind_box[0] = _arrival_kind(nonblank, arrival_unit)
    kind = kind_box[0] or "datetime"
    t, t_missing, t_bad = _arrival_values(chunk[cols["arrival"]], kind, ARRIVAL_UNITS.get(arrival_unit) or 1.0)
    checks: list[tuple[str, str, np.ndarray]] = [(R_MISSING, cols["arrival"], t_missing & ~blank)]
    toks: dict[str, np.ndarray] = {}
    tok_checks: list[tuple[str, str, np.ndarray]] = []
    for key in tok_parts:
        v, miss, nonnum, nonint, big = _token_values(chunk[cols[key]], _COUNT_LIMITS[key].value)
        toks[key] = v
        checks.append((R_MISSING, cols[key], miss & ~blank))
        tok_checks += [(R_NONNUMERIC, cols[key], nonnum), (R_NONINTEGER, cols[key], nonint),
                       (R_TOO_LARGE, cols[key], big), (R_NEGATIVE, cols[key], ~(miss | nonnum | nonint | big) & (v < 0))]
    checks.append((R_TIMESTAMP, cols["arrival"], t_bad))
    checks += tok_checks
    bad_any = blank.copy()
    # rows in file order: first bad row decides the error message
    first: tuple[int, str, str] | None = None
    for reason, col, mask in checks:
        m = mask & ~bad_any
        if m.any():
            i = int(np.argmax(m))
            if first is None or rows[i] < first[0]:
                first = (int(rows[i]), reason, col)
            problems.add(reason, int(m.sum()), first_row=int(rows[i]))
            bad_any |= m
    if blank.any():
        problems.add(R_BLANK, int(blank.sum()), first_row=int(rows[int(np.argmax(blank))]))
    if first is not None and not skip:
        row, reason, col = first
        pos = int(np.searchsorted(rows, row))
        raw_val = chunk[col].iloc[pos]
        if reason == R_TOO_LARGE:
            key = next(k for k, c in cols.items() if c == col)
            raise InputError(file, col, _COUNT_LIMITS[key].exceeded_by(raw_val), row=row + 2)
        raise InputError(file, col, f"{reason}: {show(raw_val)}" if reason != R_MISSING else reason, row=row + 2)
    keep = ~bad_any
    if keep.all():
        t_parts.append(t)
        for key, v in toks.items():
            tok_parts[key].append(v)
    else:
        t_parts.append(t[keep])
        for key, v in toks.items():
            tok_parts[key].append(v[keep])


def load_traces(paths: Iterable[str | Path], services: Sequence[str | None] | None = None,
                columns: Mapping[str, str] | None = None, on_bad_rows: str = "error",
                progress: bool | None = None, *, align: str = "common", **kw) -> pd.DataFrame:
    """Load several trace files into one tidy frame (sorted by arrival).

    ``services`` gives a service per file (``None`` entries are inferred from file names).
    ``align="common"`` puts every file on one clock (zero = the earliest request of all files)
    when all files have absolute datetime stamps; ``align="each"`` (and any file with numeric
    seconds) starts every file at zero. ``attrs["skipped"]`` sums the per-file counts;
    ``attrs["skipped_by_file"]`` keeps them apart.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError(None, "paths", "no trace files given")
    if align not in ("common", "each"):
        raise InputError(None, "align", f"must be 'common' or 'each', got {align!r}")
    if services is not None and len(services) != len(paths):
        raise InputError(None, "services", f"{len(services)} services for {len(paths)} files")
    frames = [load_trace(p, service=None if services is None else services[i], columns=columns,
                         on_bad_rows=on_bad_rows, progress=progress, **kw) for i, p in enumerate(paths)]
    common = align == "common" and all(f.attrs.get("arrival_kind") == "datetime" and f.attrs.get("t0_value") is not None
                                       for f in frames)
    if common:
        base = min(f.attrs["t0_value"] for f in frames)
        for f in frames:
            f["arrival_s"] = f["arrival_s"] + (f.attrs["t0_value"] - base) / 1e9
    attrs = [dict(f.attrs) for f in frames]
    cats = sorted({str(c) for f in frames for c in f["service"].cat.categories})
    for f in frames:
        f["service"] = f["service"].cat.set_categories(cats)
        f.attrs = {}
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    if len(df) == 0:
        left = " left after skipping bad rows" if any(sum(a["skipped"].values()) for a in attrs) else ""
        raise InputError(", ".join(a["source"] for a in attrs), None, f"has no requests{left}")
    if len(frames) > 1:
        order = np.argsort(df["arrival_s"].to_numpy(), kind="stable")
        df = df.iloc[order].reset_index(drop=True)
    skipped: dict[str, int] = {}
    for a in attrs:
        for k, v in a["skipped"].items():
            skipped[k] = skipped.get(k, 0) + v
    df.attrs = {
        "source": [a["source"] for a in attrs],
        "t0": min((a["t0"] for a in attrs if a["t0"]), default=None) if common else None,
        "arrival_kind": "datetime" if common else "seconds",
        "skipped": skipped,
        "skipped_by_file": {a["source"]: a["skipped"] for a in attrs},
        "skipped_first_line": {a["source"]: a["skipped_first_line"] for a in attrs},
    }
    return df
