"""Executors by registry: ``local`` (in this process, one case after another) and ``dask``.

An executor is ``fn(cases, on_result, **settings)``: it runs :func:`~sloserve.sweep.run.run_case_safe`
on every case and calls ``on_result(case, rows)`` in this process as each one finishes, in any order.

``dask`` (dask.distributed) attaches to a running scheduler when given an address (``scheduler=``,
``--scheduler``, or the environment variable ``SLOSERVE_DASK_SCHEDULER``), else starts a
``LocalCluster`` of worker processes sized to the machine (one single-threaded worker per core,
each with a memory limit). A worker that dies takes only its running case with it: the scheduler
gives that case to another worker, and every finished case is already in this process (and on
disk). Workers need sloserve installed (and the same version: the manifest records it). This is
the only module of sloserve that imports Dask, and only when the dask executor runs.
"""
from __future__ import annotations

import logging
import os
import secrets
import traceback
from typing import Callable, Iterable

from ..errors import InputError
from ..registry import Registry
from .case import Case
from .run import run_case_safe

EXECUTORS: Registry = Registry("executor")
SCHEDULER_ENV = "SLOSERVE_DASK_SCHEDULER"
#: memory limit per local Dask worker (the worker is paused, then restarted, beyond it)
DEFAULT_MEMORY_LIMIT = "2GiB"

OnResult = Callable[[Case, list], None]


@EXECUTORS.register("local", help="in this process, one case after another")
def local(cases: Iterable[Case], on_result: OnResult, **_) -> None:
    """Cases run on one solver thread, as on a Dask worker (so both give the same records); this
    process's solvers get their thread setting back afterwards."""
    from ..solvers import highs
    before = highs.current_threads()
    try:
        for c in cases:
            on_result(c, run_case_safe(c))
    finally:
        highs.set_threads(before)


def require_distributed():
    """dask.distributed, or InputError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError(None, "executor", "the dask executor needs Dask: pip install 'sloserve[dask]' "
                                           "(or run with --executor local)") from None
    return distributed


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def failure_rows(case: Case, exc: BaseException) -> list[dict]:
    """The rows of a case whose task failed outside run_case (its worker died too often, ...)."""
    return [{**case.columns(), "row": 0, "status": "error", "error": f"{type(exc).__name__}: {exc}",
             "traceback": "".join(traceback.format_exception(exc))}]


def connect(scheduler: str | None = None, workers: int | None = None, memory_limit: str | None = None):
    """(client, cluster or None): attach to ``scheduler`` (or $SLOSERVE_DASK_SCHEDULER), else start a
    LocalCluster of ``workers`` single-threaded processes."""
    distributed = require_distributed()
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            return distributed.Client(address, timeout="20s", set_as_default=False), None
        except OSError as e:
            raise InputError(None, "scheduler", f"cannot reach the Dask scheduler at {address}: {e}") from None
    cluster = distributed.LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                                       memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT, host="127.0.0.1",
                                       dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    return distributed.Client(cluster, set_as_default=False), cluster


@EXECUTORS.register("dask", help="dask.distributed: a LocalCluster sized to the machine, or --scheduler ADDRESS")
def dask(cases: Iterable[Case], on_result: OnResult, *, scheduler: str | None = None, workers: int | None = None,
         memory_limit: str | None = None, client=None, **_) -> None:
    distributed = require_distributed()
    cases = list(cases)
    if not cases:
        return
    own = client is None
    cluster = None
    if own:
        client, cluster = connect(scheduler, workers, memory_limit)
    try:
        token = secrets.token_hex(4)  # a fresh key per run: never a result left on the cluster by another run
        futures = client.map(run_case_safe, cases, key=[f"sloserve-case-{c.key}-{token}" for c in cases], pure=False)
        of = {f.key: c for f, c in zip(futures, cases)}
        for fut in distributed.as_completed(futures, loop=client.loop):
            case = of[fut.key]
            try:
                rows = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. KilledWorker: recorded, the others go on
                rows = failure_rows(case, e)
            on_result(case, rows)
            fut.release()
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
