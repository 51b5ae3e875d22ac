"""run_sweep: a spec's cases on an executor, each case's rows stored as it finishes."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .case import Case
from .executors import EXECUTORS
from .spec import Spec, load_spec, spec_from_cases
from .store import SweepStore, read_records


@dataclass
class SweepRun:
    """What a sweep did: every record (earlier runs' included), and counts of this run."""

    records: pd.DataFrame
    ran: int
    skipped: int
    failed: int
    wall_s: float
    out: Path | None = None


def _as_spec(spec) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, (str, Path, Mapping)):
        return load_spec(spec)
    return spec_from_cases(list(spec))


def run_sweep(spec: Spec | str | Path | Mapping | Sequence[Case], out: str | Path | None = None, *,
              executor: str | None = None, workers: int | None = None, scheduler: str | None = None,
              memory_limit: str | None = None, overwrite: bool = False, retry_errors: bool = False,
              progress: bool | None = None, client=None, on_rows=None) -> SweepRun:
    """Run every case of ``spec`` (a YAML path, a mapping, a :class:`Spec` or a list of cases).

    With ``out`` (a directory) each case's rows are written as a Parquet partition the moment it
    finishes, and a rerun skips the cases already there (those that failed too, unless
    ``retry_errors``) — only when the options and inputs match (else InputError naming what
    differs; ``overwrite`` starts fresh). ``executor``: ``local`` or ``dask`` (default: the spec's
    ``execution.executor``, else ``local``); ``scheduler``: a Dask scheduler address; ``workers``:
    local Dask workers; ``client``: an existing dask.distributed Client. ``progress``: a bar on stderr
    (default: only on a terminal). ``on_rows(case, rows)`` is called as each case finishes."""
    from tqdm import tqdm
    s = _as_spec(spec)
    ex = executor or s.execution.get("executor") or ("dask" if scheduler or client is not None else "local")
    fn = EXECUTORS.get(ex, "executor")
    store = SweepStore(out, options=s.options, inputs=s.inputs, overwrite=overwrite) if out is not None else None
    done = store.done(retry_errors) if store is not None else set()
    todo = [c for c in s.cases if c.key not in done]
    collected: list[dict] = []
    failed = 0
    bar = tqdm(total=len(todo), desc="sweep", unit="case", disable=None if progress is None else not progress,
               file=sys.stderr)
    t0 = time.perf_counter()

    def on_result(case: Case, rows: list) -> None:
        nonlocal failed
        if store is not None:
            store.write(case.key, rows)
        else:
            collected.extend(rows)
        if any(r.get("status") == "error" for r in rows):
            failed += 1
            bar.set_postfix_str(f"{failed} failed")
        if on_rows is not None:
            on_rows(case, rows)
        bar.update(1)

    try:
        fn(todo, on_result, workers=workers or s.execution.get("workers"),
           scheduler=scheduler or s.execution.get("scheduler"),
           memory_limit=memory_limit or s.execution.get("memory_limit"), client=client)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    if store is not None:
        records = read_records(store.dir)
        keys = {c.key for c in s.cases}
        records = records[records["case_id"].isin(keys)] if len(records) else records
    else:
        records = pd.DataFrame(collected)
    return SweepRun(records.reset_index(drop=True), len(todo), len(s.cases) - len(todo), failed, wall,
                    None if out is None else Path(out))
