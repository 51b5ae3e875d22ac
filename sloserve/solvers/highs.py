"""HiGHS through its own API (``highspy``), the way every part of sloserve constructs and runs it.

- :func:`new_highs` constructs a ``highspy.Highs`` whose output never reaches stdout: HiGHS writes a
  banner to the process's file descriptor 1 when the first instance is constructed, so the
  construction runs with descriptor 1 pointed at ``/dev/null`` (or at stderr with ``log=True``); then
  console logging is switched off and, with ``log=True``, every log line is forwarded to stderr
  through HiGHS's logging callback. Nothing here reads log text.
- :func:`column_model` passes ``min c·z s.t. row_lower ≤ A z ≤ row_upper`` given as COO blocks.

The callbacks used elsewhere (``cbMipImprovingSolution``, ``cbMipLogging``) are part of highspy's
public interface (HiGHS ≥ 1.7).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading

import highspy
import numpy as np

from ..errors import InputError

INF = highspy.kHighsInf
_FD_LOCK = threading.Lock()


@contextlib.contextmanager
def _stdout_fd_to(target_fd: int | None):
    """Point file descriptor 1 at ``target_fd`` (None: /dev/null) for the duration; restore after."""
    with _FD_LOCK:
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            saved = os.dup(1)
        except OSError:  # no descriptor 1 (some embedded interpreters): nothing can leak there
            yield
            return
        devnull = None
        try:
            if target_fd is None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                target_fd = devnull
            os.dup2(target_fd, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            if devnull is not None:
                os.close(devnull)


#: HiGHS threads of every solver this process creates (None: HiGHS's default, which uses every core).
#: A sweep sets 1 — a Dask worker is one core, and a solver using two halves the sweep's speedup —
#: and the environment variable SLOSERVE_SOLVER_THREADS overrides it.
_THREADS: int | None = None


def set_threads(n: int | None) -> None:
    """Threads of the HiGHS solvers created from now on in this process (None: HiGHS's default).

    HiGHS keeps one thread pool per process and refuses to run an instance whose ``threads`` option
    differs from the pool's, so a change also resets the pool (``Highs.resetGlobalScheduler``): call it
    between solves, never while another thread of this process is solving."""
    global _THREADS
    if n is not None and int(n) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {n}")
    new = None if n is None else int(n)
    if new != _THREADS:
        _THREADS = new
        highspy.Highs.resetGlobalScheduler(True)


def current_threads() -> int | None:
    """What :func:`set_threads` last set in this process (None: HiGHS's default)."""
    return _THREADS


def solver_threads() -> int | None:
    env = os.environ.get("SLOSERVE_SOLVER_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise InputError("environment", "SLOSERVE_SOLVER_THREADS", f"must be a whole number >= 1, got {env!r}") from None
        if n < 1:
            raise InputError("environment", "SLOSERVE_SOLVER_THREADS", f"must be a whole number >= 1, got {env!r}")
        return n
    return _THREADS


def new_highs(log: bool = False, seed: int = 0, progress: bool = False) -> highspy.Highs:
    """A ``highspy.Highs`` that prints nothing on stdout; with ``log`` its log lines go to stderr.

    ``progress``: keep HiGHS's logging switched on (without console output) so that the MIP logging
    callback, which carries the progress reports, fires; otherwise logging is off altogether."""
    with _stdout_fd_to(2 if log else None):
        h = highspy.Highs()
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("output_flag", bool(log or progress))
    h.setOptionValue("random_seed", int(seed))
    threads = solver_threads()
    if threads is not None:
        h.setOptionValue("threads", threads)
    if log:
        h.cbLogging.subscribe(_forward_log)
    return h


def _forward_log(event) -> None:
    sys.stderr.write(event.message)


def column_model(h: highspy.Highs, cost, col_lower, col_upper, row_lower: list, row_upper: list, rows: list,
                 cols: list, vals: list, integer=None, offset: float = 0.0) -> highspy.Highs:
    """Pass min cost·z + offset s.t. row_lower ≤ A z ≤ row_upper, col_lower ≤ z ≤ col_upper to ``h``.

    A is given as lists of COO triplet blocks (rows, cols, vals); zeros are dropped and the matrix is
    passed column-wise. ``integer`` marks integer columns (bool array)."""
    r, c, v = (np.concatenate([np.asarray(t) for t in blocks]) if len(blocks) else np.zeros(0)
               for blocks in (rows, cols, vals))
    r, c, v = r.astype(np.int64), c.astype(np.int64), v.astype(float)
    keep = v != 0
    r, c, v = r[keep], c[keep], v[keep]
    order = np.lexsort((r, c))
    r, c, v = r[order], c[order], v[order]
    ncol = len(cost)
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = int(sum(len(t) for t in row_lower))
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.offset_ = float(offset)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.concatenate([np.asarray(t, dtype=float) for t in row_lower]) if row_lower else np.zeros(0)
    lp.row_upper_ = np.concatenate([np.asarray(t, dtype=float) for t in row_upper]) if row_upper else np.zeros(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(c, np.arange(ncol + 1)).astype(np.int32)
    lp.a_matrix_.index_ = r.astype(np.int32)
    lp.a_matrix_.value_ = v
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if t else highspy.HighsVarType.kContinuous for t in integer]
    h.passModel(lp)
    return h


def csc_model(h: highspy.Highs, cost, col_lower, col_upper, row_lower, row_upper, indptr, indices, data,
              integer=None, offset: float = 0.0, maximize: bool = False) -> highspy.Highs:
    """Pass a model whose matrix is already column-wise (CSC arrays) to ``h``."""
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lower)
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.offset_ = float(offset)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(indptr, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(indices, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(data, dtype=float)
    if maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if t else highspy.HighsVarType.kContinuous for t in integer]
    h.passModel(lp)
    return h
