"""run_case(case) -> rows: the pure function every executor calls, and the registry of studies.

A study is registered with ``@STUDIES.register(name)`` on a :class:`Study`: ``run(case) -> list of
row dicts`` (most studies give one row; a stress case gives one per stress draw, a static plan one per
window), plus optional ``expand(case) -> cases`` (the rolling study turns one case into one per
window) and ``inputs(case) -> paths`` (files whose fingerprints the sweep's manifest keeps).

Purity: a case's rows depend on the case alone — the scenario it names, its seed, and for AGH the
deterministic work budget (the study raises AGH's safety time cap, :data:`AGH_SAFETY_CAP_S`, so
that the budget and not a busy worker's clock ends it; every AGH row reports ``agh_stopped_by``).
Wall-clock measurements are the only exception and live in :data:`TIMING_COLUMNS`. Problems and
instances are cached per worker process (a few, LRU), never across cases' results.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InfeasibleError, InputError
from ..registry import Registry
from .case import Case

#: columns holding wall-clock measurements or where a case ran: the only ones that may differ between
#: two runs of the same case (the identical-records tests compare everything else)
TIMING_COLUMNS = ("run_s", "solve_s", "replan_s", "sim_wall_s", "warm_start_s", "worker")
#: AGH's safety cap inside a sweep: far above its budgeted work (about 1 s on the default scenario),
#: so a loaded worker does not cut it short and change its plan
AGH_SAFETY_CAP_S = 120.0


@dataclass(frozen=True)
class Study:
    run: Callable[[Case], list[dict]]
    expand: Callable[[Case], list[Case]] | None = None
    inputs: Callable[[Case], list[str]] | None = None
    help: str = ""


STUDIES: Registry[Study] = Registry("study")


def study(name: str, help: str = "", expand=None, inputs=None):
    """Decorator registering ``fn(case) -> rows`` as a study."""
    def deco(fn):
        STUDIES.add(name, Study(fn, expand, inputs, help), help=help)
        return fn
    return deco


# ---- the pure function and its safe form -----------------------------------------------------------

def run_case(case: Case) -> list[dict]:
    """The rows of one case (plain dicts of scalars), without the case columns. Solvers run on one
    thread (:func:`sloserve.solvers.highs.set_threads`): one case per core, on every executor alike."""
    from ..solvers.highs import set_threads
    set_threads(1)  # a no-op after the first case of a process
    rows = STUDIES.get(case.study, "study").run(case)
    return [rows] if isinstance(rows, dict) else list(rows)


def run_case_safe(case: Case) -> list[dict]:
    """:func:`run_case` with the case columns, ``status`` (``ok`` | ``error``) and, for a failure,
    ``error`` and ``traceback``: an exception never escapes, so one bad case stops no other."""
    t0 = time.perf_counter()
    head = case.columns()
    try:
        rows = run_case(case)
        status, extra = "ok", {}
    except Exception as e:  # noqa: BLE001 - recorded with its traceback, the sweep goes on
        rows = [{}]
        status, extra = "error", {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    dt = time.perf_counter() - t0
    worker = f"{os.uname().nodename}:{os.getpid()}"
    return [{**head, "row": k, "status": status, **extra, **r, "run_s": dt, "worker": worker}
            for k, r in enumerate(rows or [{}])]


def expand(case: Case) -> list[Case]:
    s = STUDIES.get(case.study, "study")
    return s.expand(case) if s.expand is not None else [case]


def case_inputs(case: Case) -> list[str]:
    s = STUDIES.get(case.study, "study")
    return s.inputs(case) if s.inputs is not None else []


# ---- problems, cached per worker -----------------------------------------------------------------

def scenario_inputs(ref: str) -> list[str]:
    """Files a scenario reference reads: the packaged catalog (and default scenario), or the YAML /
    the compiled directory's tables."""
    from .. import data as _data
    pkg = Path(_data.__file__).parent
    catalog = sorted(str(p) for p in pkg.glob("*.csv"))
    if ref == "default":
        return catalog + [str(pkg / "default.yaml")]
    if ref.startswith("gen:"):
        return catalog
    p = Path(ref)
    if p.is_dir():
        return sorted(str(f) for f in p.iterdir() if f.is_file())
    return catalog + [str(p)]


@lru_cache(maxsize=4)
def compiled_problem(ref: str, slo_margin: float = 1.0):
    """``default``, ``gen:PRESET:SEED``, a scenario YAML or a compiled directory -> compiled tables
    (``slo_margin`` < 1: every latency SLO × margin, the robustness study's headroom knob)."""
    from ..model.compile import compile_scenario, load_problem
    from ..model.scenario import default_scenario, load_scenario
    if ref == "default":
        sc = default_scenario()
    elif ref.startswith("gen:"):
        from ..model.generate import generate_scenario
        try:
            _, preset, seed = ref.split(":")
            sc = generate_scenario(preset, int(seed))
        except ValueError:
            raise InputError(None, "scenario", f"{ref!r}: write generated scenarios as gen:PRESET:SEED") from None
    elif Path(ref).is_dir():
        if slo_margin != 1.0:
            raise InputError(ref, "slo_margin", "needs a scenario YAML, not compiled tables")
        return load_problem(ref)
    else:
        sc = load_scenario(ref)
    if slo_margin != 1.0:
        from ..evaluate.stress import with_slo_margin
        sc = with_slo_margin(sc, slo_margin)
    return compile_scenario(sc)


@lru_cache(maxsize=4)
def instance(ref: str, slo_margin: float = 1.0):
    from ..problem.instance import build_instance
    return build_instance(compiled_problem(ref, slo_margin))


@lru_cache(maxsize=2)
def scenario_families(ref: str) -> tuple[str, ...]:
    c = compiled_problem(ref)
    qt = c.query_types
    return tuple(map(str, qt["family"])) if "family" in qt.columns else tuple(map(str, qt["query_type"]))


def solve_options(case: Case, inst=None):
    """SolveOptions from ``case.method_options`` (time_limit_s, mip_gap, extra knobs) and the seed;
    AGH (alone or before the MILP) gets :data:`AGH_SAFETY_CAP_S` unless the case sets a limit."""
    from ..solvers import SolveOptions
    mo = case.group("method_options")
    tl = mo.pop("time_limit_s", None)
    gap = mo.pop("mip_gap", None)
    mo.pop("warm_start", None)
    if tl is None and case.method == "agh":
        tl = AGH_SAFETY_CAP_S
    return SolveOptions(time_limit_s=None if tl is None else float(tl), mip_gap=gap, seed=case.seed, extra=mo)


def solve_case(case: Case, compiled_or_inst, method: str | None = None):
    """Solve with the case's method and options; ``method_options.warm_start: agh`` runs AGH (at its
    budget) first and warm-starts the method from its plan (its seconds go to
    ``plan.extra["warm_start_s"]``). Returns (plan, seconds of the method's own solve)."""
    from ..solvers import solve
    method = method or case.method
    opts = solve_options(replace(case, method=method))
    warm_s = None
    if case.get("method_options", "warm_start") == "agh":
        t0 = time.perf_counter()
        warm = solve(compiled_or_inst, "agh", replace(opts, time_limit_s=AGH_SAFETY_CAP_S))
        warm_s = time.perf_counter() - t0
        opts = replace(opts, warm_start=warm)
    t0 = time.perf_counter()
    plan = solve(compiled_or_inst, method, opts)
    dt = time.perf_counter() - t0
    if warm_s is not None:
        plan.extra = {**(plan.extra or {}), "warm_start_s": warm_s}
    return plan, dt


def plan_facts(plan) -> dict:
    """What every study reports about a plan (AGH's statistics when it ran)."""
    agh = (plan.extra or {}).get("agh") or {}
    out = {"objective": float(plan.objective), "bound": np.nan if plan.bound is None else float(plan.bound),
           "plan_status": str(plan.status)}
    if agh:
        out["agh_stopped_by"] = agh.get("stopped_by")
        out["agh_best_start"] = agh.get("best_start")
        out["agh_lp_bound"] = agh.get("lp_bound")
    if "warm_start_accepted" in (plan.extra or {}):
        out["warm_start_accepted"] = plan.extra.get("warm_start_accepted")
        out["warm_start_objective"] = plan.extra.get("warm_start_objective")
    if "warm_start_s" in (plan.extra or {}):
        out["warm_start_s"] = plan.extra["warm_start_s"]
    gh = (plan.extra or {}).get("gh") or {}
    if gh:
        out["gh_fallback"] = gh.get("fallback")
    return out
