"""Sweeps: grids of cases (scenarios × methods × seeds × stress levels × windows × replays) run on
an executor — in this process, or on Dask (a LocalCluster by default, any cluster by address) —
with every case's rows stored as a Parquet partition the moment it finishes.

    from sloserve.sweep import run_sweep, summarize
    run = run_sweep("benchmarks/sweeps/rolling_week.yaml", "out/week", executor="dask")
    summarize(run.records)

``Case`` (:mod:`.case`) is a frozen, hashable description of one unit of work; ``run_case`` (:mod:`.run`)
the pure function every executor calls; ``STUDIES`` the registry of what a case can be (``echo``,
``plan``, ``stress``, ``simulate``, ``rolling``); ``EXECUTORS`` ``local`` and ``dask``; a spec
(:mod:`.spec`) expands a YAML grid into cases; :mod:`.store` keeps the partitions and the manifest
(:class:`sloserve.resume.Manifest`); :mod:`.summary` the tidy summaries. This package is the only
one that imports Dask (an optional extra: ``pip install 'sloserve[dask]'``).
"""
from __future__ import annotations

from . import horizon, studies  # noqa: F401  (importing registers the studies)
from .case import Case
from .driver import SweepRun, run_sweep
from .executors import EXECUTORS, SCHEDULER_ENV
from .run import STUDIES, TIMING_COLUMNS, run_case, run_case_safe
from .spec import Spec, load_spec, spec_from_cases
from .store import SweepStore, read_records
from .summary import SUMMARIES, replanning_pays, rolling_summary, rolling_windows, summarize

__all__ = ["Case", "EXECUTORS", "SCHEDULER_ENV", "STUDIES", "SUMMARIES", "Spec", "SweepRun", "SweepStore",
           "TIMING_COLUMNS", "load_spec", "read_records", "replanning_pays", "rolling_summary", "rolling_windows",
           "run_case", "run_case_safe", "run_sweep", "spec_from_cases", "summarize"]
