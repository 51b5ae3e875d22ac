"""Replay requests against a plan: every replica of every configuration, a router, one clock.

:func:`simulate` builds the replicas the plan rents (``plan.replicas``), routes each arrival by the
plan's fractions (:mod:`.router`), runs the replica engines (:mod:`.engine`) on the compiled
step-time coefficients (``config_perf``), and returns a :class:`SimResult` with the tidy frames of
``docs/metrics.md``. Every arrival ends completed, in flight at the horizon, unserved by the plan,
or rejected (longer than the KV cache of its replica): the counts always add up.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..problem.instance import Instance, build_instance
from ..problem.plan import Plan, arrays_from_plan
from ..problem.steptime import StepTime
from ..problem.tables import Compiled
from .arrivals import Arrivals
from .engine import AFTER_HORIZON, RUNNING, UNSERVED, EngineOptions, ReplicaEngine, RequestTable
from .metrics import replica_frame, request_frame, type_summary
from .router import ROUTERS, UNSERVED as ROUTE_UNSERVED
from .schedulers import SCHEDULERS
from .timeseries import TimeSeries


@dataclass
class SimResult:
    """The outcome of one replay: per request, per query type, per replica, and over time."""

    requests: pd.DataFrame  # one row per arrival (docs/metrics.md, "Per request")
    summary: pd.DataFrame  # one row per query type (percentiles, attainment, goodput)
    replicas: pd.DataFrame  # one row per replica (utilisation, mean batch, KV, preemptions)
    timeseries: pd.DataFrame  # per replica and time bin: busy share, batch, KV utilisation, queue length
    horizon_s: float  # the simulated time span
    wall_s: float  # how long the replay took
    meta: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Arrivals by outcome (completed, in flight at the horizon, unserved by the plan, rejected —
        longer than the KV cache of their replica —, arriving after the horizon); they add up to all arrivals."""
        c = self.requests["status"].value_counts()
        return {k: int(c.get(k, 0)) for k in ("completed", "in_flight", "unserved", "rejected", "after_horizon")}

    def missed_targets(self) -> pd.DataFrame:
        """Query types whose SLO attainment is below their target (``slo_attainment``)."""
        s = self.summary
        return s[s["attainment_target"].notna() & (s["slo_attainment"] < s["attainment_target"])]

    def write(self, out_dir: str | Path) -> Path:
        """``requests.parquet`` (times in seconds from the start), ``summary.csv``, ``replicas.csv``,
        ``timeseries.csv`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.requests.to_parquet(out / "requests.parquet", index=False)
        self.summary.to_csv(out / "summary.csv", index=False)
        self.replicas.to_csv(out / "replicas.csv", index=False)
        self.timeseries.to_csv(out / "timeseries.csv", index=False)
        return out


def _max_seqs(compiled: Compiled, inst: Instance, x: np.ndarray, opts: EngineOptions) -> dict[str, int]:
    """Sequences per replica: the option, or per configuration the largest design batch of its used routes."""
    if opts.max_num_seqs != "plan":
        return {c: int(opts.max_num_seqs) for c in inst.configs}
    out = {c: 256 for c in inst.configs}
    if "design_batch" in compiled.routes.columns:
        used = x > 0
        b = compiled.routes["design_batch"].to_numpy(dtype=float)
        for c, m in zip(inst.route_c[used], b[used]):
            name = inst.configs[c]
            out[name] = int(m) if out[name] == 256 else max(out[name], int(m))
    return out


def simulate(compiled: Compiled, plan: Plan, arrivals: Arrivals, *, router: str = "plan",
             engine: EngineOptions = EngineOptions(), predictor=None, seed: int = 0,
             horizon_s: float | None = None, progress: bool | None = False, time_bin_s: float | None = None) -> SimResult:
    """Replay ``arrivals`` against ``plan`` on ``compiled``'s configurations.

    ``router``: a registered router (``plan``, ``least_outstanding``). ``engine``: the replica
    engines' options (scheduler, token budget, ...). ``predictor``: output-length intervals for the
    schedulers that use them (a fitted :mod:`sloserve.sim.predictors` object; default none: [1, ∞)).
    ``horizon_s``: stop the clock there (requests still running are reported in flight); default: run
    until every admitted request completes. ``time_bin_s``: resolution of the time series (default:
    the span / 600). The plan must pass the checker on ``compiled`` (a plan for another problem is refused)."""
    from ..checker import check

    t_wall = time.perf_counter()
    if compiled.config_perf is None:
        raise InputError(None, "config_perf", "the compiled tables have no step-time coefficients (config_perf.csv); "
                                              "compile the scenario again with `sloserve compile`")
    if tuple(map(str, compiled.query_types["query_type"])) != arrivals.types:
        raise InputError(arrivals.source, "query_type", "the arrivals were made for other query types than the problem's")
    inst = build_instance(compiled)
    res = check(inst, plan)
    if not res.ok:
        raise InputError(None, "plan", "the plan does not pass the checker on this problem:\n" + res.report())
    a = arrays_from_plan(inst, plan)
    sched_cls = SCHEDULERS.get(engine.scheduler, "scheduler")
    n = len(arrivals)
    qt = compiled.query_types
    exp_out = qt["output_tokens"].to_numpy(dtype=float)[arrivals.query_type] if n else np.zeros(0)
    if predictor is None:  # no information: [1, inf) (schedulers that ignore predictions, e.g. fcfs)
        lower, upper = np.ones(n, dtype=np.int64), np.full(n, np.inf)
    else:
        frame = pd.DataFrame({"input_tokens": arrivals.input_tokens, "output_tokens": arrivals.output_tokens,
                              "service": np.asarray(arrivals.types, dtype=object)[arrivals.query_type] if n else []})
        if not getattr(predictor, "reads_truth", False):
            frame = frame.drop(columns=["output_tokens"])
        lower, upper = predictor.predict(frame, np.random.default_rng(seed))
    table = RequestTable(arrivals.input_tokens, arrivals.output_tokens, lower, upper, exp_out, arrivals.arrived_at)

    # replicas
    cf = compiled.configs.set_index("config")
    seqs = _max_seqs(compiled, inst, a.x, engine)
    span = (arrivals.duration_s if horizon_s is None else horizon_s) or 1.0
    ts = TimeSeries(time_bin_s or max(span / 600.0, 1e-3))
    replicas: list[ReplicaEngine] = []
    config_replicas: list[list[int]] = []
    for c, name in enumerate(inst.configs):
        reps = []
        if a.y[c] > 0:
            st = StepTime.from_table(compiled.config_perf, compiled.configs, config=name)
            kv_tokens = float(cf.at[name, "kv_bytes"]) / float(cf.at[name, "kv_bytes_per_token"])
            for _ in range(int(a.y[c])):
                reps.append(len(replicas))
                replicas.append(ReplicaEngine(len(replicas), name, st, kv_tokens, seqs[name], engine, sched_cls(),
                                              table, ts))
        config_replicas.append(reps)
    # the router, from the plan's fractions
    type_configs = [[] for _ in range(inst.I)]
    type_fracs = [[] for _ in range(inst.I)]
    for r in np.flatnonzero(a.x > 0):
        type_configs[inst.route_i[r]].append(int(inst.route_c[r]))
        type_fracs[inst.route_i[r]].append(float(a.x[r]))
    rt = ROUTERS.get(router, "router")(type_configs, type_fracs, a.u, config_replicas)

    from tqdm import tqdm  # plain bar: tqdm.auto would need ipywidgets inside Jupyter
    bar = tqdm(total=n, desc="simulate", unit="req", disable=not progress if progress is not None else None,
               mininterval=0.5)
    horizon = math.inf if horizon_s is None else float(horizon_s)
    t_arr = arrivals.arrived_at
    qtype = arrivals.query_type
    step = max(n // 200, 1)
    for rid in range(n):
        t = float(t_arr[rid])
        if t >= horizon:
            table.status[rid:] = AFTER_HORIZON  # arrivals after the horizon: reported, not simulated
            break
        q = int(qtype[rid])
        if rt.needs_state:
            for k in rt.candidates(q):
                replicas[k].advance(t)
        k = rt.route(q, replicas)
        if k == ROUTE_UNSERVED:
            table.status[rid] = UNSERVED
        else:
            rep = replicas[k]
            rep.advance(t)
            rep.enqueue(rid, t)
        if rid % step == 0:
            bar.update(min(step, n - bar.n))
    bar.update(n - bar.n)
    bar.close()
    for rep in replicas:
        rep.drain(horizon)
    end = max([rep.t for rep in replicas] + [arrivals.duration_s]) if horizon_s is None else horizon
    for rep in replicas:
        if rep.t < end:
            rep.advance(end)  # idle to the end of the span
        elif rep.t > end:  # the last iteration was still running at the horizon
            rep.busy_s -= rep.t - end
    late = table.completed_at > end  # finished after the horizon: in flight when the clock stopped
    table.status[late] = RUNNING
    table.completed_at[late] = np.nan
    table.first_token_at[table.first_token_at > end] = np.nan
    requests = request_frame(table, arrivals, [r.config for r in replicas])
    summary = type_summary(requests, compiled, end)
    reps = replica_frame(replicas, end)
    out = SimResult(requests=requests, summary=summary, replicas=reps, timeseries=ts.frame([r.config for r in replicas]),
                    horizon_s=end, wall_s=time.perf_counter() - t_wall,
                    meta={"router": router, "scheduler": engine.scheduler, "arrivals": arrivals.source,
                          "plan": plan.method, "scenario": compiled.name, "seed": seed})
    counts = out.counts()
    if sum(counts.values()) != n:  # conservation: every arrival is accounted for
        raise AssertionError(f"simulation lost requests: {counts} != {n}")
    return out
