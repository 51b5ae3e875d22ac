"""What finishing an offline job costs on each configuration: simulated, from the compiled tables.

For each configuration a job may use (its models, its error limit, prompts and outputs that fit the
KV cache), the cost is found in two stages, both reading the compiled ``config_perf`` table through
``StepTime`` (the one step-time model; no formula here):

1. **Screen** — the ideal makespan max(T_comp(s), T_mem) of :class:`DensityModel` (no per-pass
   overheads, no interference) prices every eligible configuration in milliseconds; per GPU type the
   ``shortlist`` cheapest go on.
2. **Simulate** — the offline engine (:func:`sloserve.sim.offline.run_offline`) serves a seeded random
   sample of the job's requests (``sample_requests``; all of them when ``None``) in each order on one
   replica; the job's **work** (replica-hours) is the sample's time until its last request was admitted, scaled
   by the job's tokens over the sample's, plus the sample's drain (:func:`job_work_h`): the drain —
   long outputs finishing in a thinning batch — happens once per job, not once per sample. A sample shares prefixes less than the whole job (a few-shot block is computed
   once per sample as once per job), so the sample's throughput is a conservative estimate.

Prices: ``job_cost_usd`` = work_h · cost_per_hour (replicas paid only while they run);
``window_cost_usd`` = replicas · cost_per_hour · deadline_h (replicas rented for the whole window);
the joint MILP charges what its replicas work, ((W − F)·share + F·replicas) · cost_per_hour, spread
over the window as $/h; ``fixed_h`` = the run's warm-up (an order's output-length sample) plus its drain (from the last
admission to the end), which every replica of a split job pays once (:func:`fixed_time_h`); ``replicas`` = ceil((work_h − fixed_h)/(D' − fixed_h)) with D' = deadline_h·(1 − 5 %),
the fewest replicas that finish by the deadline when the job is split into equal shares (BlendServe's tree splits at its top:
each share keeps its subtrees' sharing), missing (NaN) where the drain alone exceeds the deadline.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..model.compile import route_errors
from ..problem.steptime import StepTime
from ..problem.tables import Compiled
from ..sim.offline.density import DensityModel
from ..sim.offline.engine import EngineOptions, kv_tokens, run_offline
from ..sim.offline.requests import OfflineRequests
from ..sim.offline.tables import scenario_tables
from ..sim.offline.tree import build_tree
from ..sim.offline.workloads import mixture
from ..model.batch_job import BatchJob

SECONDS_PER_HOUR = 3600.0
#: share of a deadline kept free: a split job's replicas are planned to finish by D·(1 − margin). The
#: drain F is the whole job's; a share of the requests drains differently (notebook 06 saw one of three
#: random splits miss a 0.3 h deadline by 3 s without a margin)
DEADLINE_MARGIN = 0.05
#: configurations per GPU type that the screen passes to the simulator
DEFAULT_SHORTLIST = 2
PRICE_COLUMNS = ("job", "config", "model", "gpu", "precision", "tp", "pp", "gpus", "order", "step_mode",
                 "cost_per_hour", "throughput_tok_s", "sharing_ratio", "ideal_ratio", "work_h", "deadline_h",
                 "fixed_h", "replicas", "job_cost_usd", "window_cost_usd", "screen_cost_usd", "requests", "simulated_requests")


def job_tables(scenario) -> Compiled:
    """The tables a scenario's jobs are priced on: every feasible configuration of its catalog
    selection, options and GPU overrides (prices, availability) — not only those that meet an online
    type's SLOs (a job has no latency SLO): :func:`sloserve.sim.offline.tables.scenario_tables`."""
    return scenario_tables(scenario, name=f"{scenario.name}-batch")


def job_requests(job: BatchJob, trace_dir=None) -> OfflineRequests:
    """The job's requests (seeded draw of its mixture)."""
    return mixture(job.mixture, job.seed, trace_dir=trace_dir)


def job_sample(job: BatchJob, requests: OfflineRequests) -> OfflineRequests:
    """A seeded random sample of ``sample_requests`` requests (all of them when the job is smaller)."""
    n = len(requests)
    if job.sample_requests is None or job.sample_requests >= n:
        return requests
    idx = np.sort(np.random.default_rng(job.seed + 1).choice(n, size=job.sample_requests, replace=False))
    return requests.subset(idx)


def eligible_configs(job: BatchJob, compiled: Compiled, requests: OfflineRequests) -> tuple[pd.DataFrame, dict]:
    """The configurations the job may run on, with their KV capacity ``kv_tokens``; and what was left
    out, counted by reason (nothing is dropped silently)."""
    cf = compiled.configs
    out = {}
    keep = np.ones(len(cf), dtype=bool)
    if job.models is not None:
        m = cf["model"].isin(job.models).to_numpy()
        out["model not allowed"] = int((keep & ~m).sum())
        keep &= m
    if job.max_error is not None:
        rt = pd.DataFrame({"query_type": job.name, "config": cf["config"]})
        qt = pd.DataFrame({"query_type": [job.name], "family": [job.family]})
        e = route_errors(rt, qt, cf)
        ok = e <= job.max_error * (1 + 1e-12)
        out["error above max_error"] = int((keep & ~ok).sum())
        keep &= ok
    if compiled.config_perf is None:
        raise InfeasibleError("the compiled tables have no config_perf table: batch jobs need the step-time "
                              "coefficients", ["compile the scenario with this version of sloserve"])
    M = kv_tokens(cf)
    peak = int((requests.prompt_tokens + requests.output_tokens).max())
    fits = M >= peak
    out["KV cache below the longest request"] = int((keep & ~fits).sum())
    keep &= fits
    df = cf.loc[keep].copy()
    df["kv_tokens"] = M[keep]
    return df.reset_index(drop=True), {k: v for k, v in out.items() if v}


def screen(job: BatchJob, compiled: Compiled, sample: OfflineRequests, scale: float,
           configs: pd.DataFrame, tree=None, options: EngineOptions = EngineOptions()) -> pd.DataFrame:
    """``configs`` with ``screen_work_h`` (replica-hours for the whole job) and ``screen_cost_usd``:
    the ideal makespan max(T_comp(s), T_mem) plus the fixed time of the passes the job needs at least
    (``StepTime.overhead_s`` + ``comm_s`` of a pass, times the most of: prefill chunks, decode tokens
    over the batch the KV cache holds, the longest output) — without the passes an 8-GPU replica
    looked as cheap per token as its roofline."""
    tree = build_tree(sample) if tree is None else tree
    p, d = sample.prompt_tokens, sample.output_tokens
    st_all = StepTime.from_table(compiled.config_perf, compiled.configs)
    ids = compiled.config_perf["config"].to_numpy()
    pos = {c: k for k, c in enumerate(ids)}
    s_opt = tree.optimal_sharing
    prefill_passes = (1.0 - s_opt) * float(p.sum()) * scale / options.max_num_batched_tokens
    mean_ctx = float((p + d / 2.0).mean())
    hours = np.empty(len(configs))
    for n, (c, M) in enumerate(zip(configs["config"], configs["kv_tokens"])):
        st = st_all.row(pos[c])
        ideal = DensityModel(st, int(M)).ideal_makespan_s(tree, p, d)["ideal_makespan_s"] * scale
        batch = max(1.0, min(float(options.max_num_seqs), float(M) / max(mean_ctx, 1.0)))
        passes = max(prefill_passes, float(d.sum()) * scale / batch, float(d.max()))
        per_pass = float(st.overhead_s(0.0, 1.0) + st.comm_s(0.0, 1.0))
        hours[n] = (ideal + passes * per_pass) / SECONDS_PER_HOUR
    out = configs.copy()
    out["screen_work_h"] = hours
    out["screen_cost_usd"] = hours * out["cost_per_hour"].to_numpy(dtype=float)
    return out


def price_job(job: BatchJob, compiled: Compiled, *, orders: tuple[str, ...] | None = None,
              step_modes: tuple[str, ...] | None = None, shortlist: int = DEFAULT_SHORTLIST,
              trace_dir=None, requests: OfflineRequests | None = None) -> pd.DataFrame:
    """Tidy prices of ``job``: one row per (shortlisted configuration, order, step mode); columns
    :data:`PRICE_COLUMNS` (hours, $, tokens/s). ``orders`` / ``step_modes`` default to the job's own.

    Raises :class:`InfeasibleError` naming what excluded every configuration."""
    orders = (job.order,) if orders is None else tuple(orders)
    modes = (job.step_mode,) if step_modes is None else tuple(step_modes)
    req = job_requests(job, trace_dir) if requests is None else requests
    sample = job_sample(job, req)
    scale = req.total_tokens() / sample.total_tokens()
    configs, dropped = eligible_configs(job, compiled, req)
    if configs.empty:
        why = "; ".join(f"{n} {k}" for k, n in dropped.items()) or "the problem has no configurations"
        raise InfeasibleError(f"batch job {job.name!r}: no configuration can run it ({why})",
                              ["allow more models or a higher max_error, or add GPUs with more memory "
                               "(the longest request must fit one replica's KV cache)"])
    tree = build_tree(sample)
    sc = screen(job, compiled, sample, scale, configs, tree)
    short = (sc.sort_values(["screen_cost_usd", "config"]).groupby("gpu", sort=False).head(shortlist)
             .sort_values(["gpu", "screen_cost_usd"]).reset_index(drop=True))
    rows = []
    for _, c in short.iterrows():
        for order in orders:
            trace = run_offline(sample, compiled, c["config"], order, tree=tree)
            for mode in modes:
                res = trace.result(mode)
                t_admit = last_admission_s(trace, res)
                work_h = job_work_h(trace, res, scale, t_admit)
                fixed_h = fixed_time_h(trace, res, t_admit)
                replicas = replicas_by_deadline(work_h, fixed_h, job.deadline_h)
                rows.append({
                    "job": job.name, "config": c["config"], "model": c["model"], "gpu": c["gpu"],
                    "precision": c["precision"], "tp": int(c["tp"]), "pp": int(c["pp"]), "gpus": int(c["gpus"]),
                    "order": order, "step_mode": mode, "cost_per_hour": float(c["cost_per_hour"]),
                    "throughput_tok_s": req.total_tokens() / (work_h * SECONDS_PER_HOUR), "sharing_ratio": res.sharing_ratio,
                    "ideal_ratio": res.ideal_ratio, "work_h": work_h, "deadline_h": job.deadline_h,
                    "fixed_h": fixed_h, "replicas": replicas,
                    "job_cost_usd": work_h * float(c["cost_per_hour"]),
                    "window_cost_usd": (replicas * float(c["cost_per_hour"]) * job.deadline_h
                                        if replicas is not None else math.nan),
                    "screen_cost_usd": float(c["screen_cost_usd"]), "requests": len(req),
                    "simulated_requests": len(sample)})
    out = pd.DataFrame(rows, columns=list(PRICE_COLUMNS))
    out["replicas"] = out["replicas"].astype("Int64")  # missing where one drain exceeds the deadline
    return out


def last_admission_s(trace, res) -> float:
    """When the run's last request was admitted: the end of that engine step [s]."""
    end_s = np.cumsum(trace.step_times(res.step_mode, res.interference)["step_s"])
    last = int(np.max(trace.per_request["admitted_step"]))
    return float(end_s[last]) if len(end_s) else 0.0


def fixed_time_h(trace, res, t_admit_s: float | None = None) -> float:
    """The part of a replica's run that does not shrink when the job is split [h]: its warm-up (the
    output-length sample an order like BlendServe serves first — every replica of a split job serves
    its own, of at least 16 requests per top-level prefix) plus its drain (from the last admission to
    the end: the running batch thinning out, the longest outputs finishing). ``t_admit_s``:
    :func:`last_admission_s`, when the caller has it."""
    t = last_admission_s(trace, res) if t_admit_s is None else t_admit_s
    return (float(res.warmup_s) + res.makespan_s - t) / SECONDS_PER_HOUR


def usable_h(deadline_h):
    """The part of a deadline replicas are planned to fill, D·(1 − DEADLINE_MARGIN) [h]."""
    return deadline_h * (1.0 - DEADLINE_MARGIN)


def replicas_by_deadline(work_h: float, fixed_h: float, deadline_h: float) -> int | None:
    """The fewest replicas that finish by the deadline: each runs its share of the scalable work and
    drains once, ceil((W − F)/(D' − F)) with D' = :func:`usable_h` (D); None when one drain alone
    exceeds D'."""
    d = usable_h(deadline_h)
    if fixed_h >= d:
        return None
    return max(1, int(math.ceil((work_h - fixed_h) / (d - fixed_h) - 1e-9)))


def job_work_h(trace, res, scale: float, t_admit_s: float | None = None) -> float:
    """Replica-hours for the whole job from a sample's run: the sample's time until its last request
    was admitted (the engine at steady state) scaled by the job's tokens over the sample's, plus the
    sample's drain (the running batch finishing, which a larger job has once too) [h]."""
    t = last_admission_s(trace, res) if t_admit_s is None else t_admit_s
    return (t * scale + (res.makespan_s - t)) / SECONDS_PER_HOUR


def cost_by_gpu(prices: pd.DataFrame) -> pd.DataFrame:
    """The cheapest configuration per (job, GPU type, order, step mode): a tidy frame, cheapest first."""
    best = prices.loc[prices.groupby(["job", "gpu", "order", "step_mode"])["job_cost_usd"].idxmin()]
    return best.sort_values(["job", "step_mode", "order", "job_cost_usd"]).reset_index(drop=True)


def work_table(compiled: Compiled, jobs, *, shortlist: int = DEFAULT_SHORTLIST, trace_dir=None) -> pd.DataFrame:
    """The table the joint MILP reads: every job priced in its own order and step mode (``price_job``)
    on ``compiled`` — :func:`job_tables` of the scenario, or any tables of its catalog."""
    frames = [price_job(j, compiled, shortlist=shortlist, trace_dir=trace_dir) for j in jobs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(PRICE_COLUMNS))
