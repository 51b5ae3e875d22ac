"""Offline batch jobs: what a scenario's ``batch_jobs`` (or a job file) describes, validated loudly.

A job is a set of requests all known at t = 0 that must be finished within ``deadline_h`` hours;
throughput, not latency, is what it asks of a replica (``docs/offline_batching.md`` §7). Its requests
are a seeded mixture of the paper-style workload classes (:mod:`sloserve.sim.offline.workloads`).
Priced and planned by :mod:`sloserve.batch`; a scenario's ``batch_jobs`` are read here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..paths import read_bytes
from ..problem import limits
from ..problem.steptime import MODES
from ..safeload import load_yaml
from . import catalog
from . import validate as V

#: the workload classes of sloserve.sim.offline.workloads and the orders of sloserve.sim.offline.ORDERS
#: (declared here, below the simulator, so that a scenario is validated whole; tests tie them)
CLASSES = ("code", "mmlu", "chat", "video", "reasoning")
ORDER_NAMES = ("fcfs", "random", "dfs", "density", "blendserve")

#: requests simulated per configuration when a job is priced: None = all of them (a seeded random
#: sample of that many otherwise; see sloserve.batch.price on its error)
DEFAULT_SAMPLE = None


@dataclass(frozen=True)
class BatchJob:
    """One offline job (hours, requests; ``mixture`` maps a workload class to its request count)."""

    name: str
    deadline_h: float  # finish every request within this many hours of the start [h]
    mixture: dict[str, int]  # class -> requests (sloserve.sim.offline.workloads.CLASSES)
    seed: int = 0  # of the workload draw and of the sample
    models: tuple[str, ...] | None = None  # models allowed (None: every model of the scenario)
    family: str | None = None  # error family of the job's task, with max_error
    max_error: float | None = None  # largest error rate allowed (catalog accuracy), fraction
    order: str = "blendserve"  # admission order of the simulated engine (ORDERS)
    step_mode: str = "overlap"  # sum | overlap (sloserve.problem.steptime)
    sample_requests: int | None = DEFAULT_SAMPLE  # simulated per configuration; None = the whole job
    source: str = field(default="", compare=False)  # file it came from, for messages

    @property
    def num_requests(self) -> int:
        return int(sum(self.mixture.values()))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "deadline_h": self.deadline_h,
                             "workload": {"mixture": dict(self.mixture), "seed": self.seed}}
        for k in ("models", "family", "max_error"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v) if k == "models" else v
        d.update(order=self.order, step_mode=self.step_mode, sample_requests=self.sample_requests)
        return d


def _mixture(v, fld, fail):
    if not isinstance(v, dict) or not v:
        fail(fld, f"must be a non-empty mapping of workload class to request count, classes {list(CLASSES)}")
    out = {}
    for k, n in v.items():
        if k not in CLASSES:
            fail(f"{fld}.{k}", f"unknown workload class{V.did_you_mean(k, CLASSES)}; allowed: {list(CLASSES)}")
        out[k] = V.number(lo=0, hi=limits.BATCH_REQUESTS, integer=True)(n, f"{fld}.{k}", fail)
    total = sum(out.values())
    if total < 1:
        fail(fld, "has no requests; give at least one class a count >= 1")
    if total > limits.BATCH_REQUESTS.value:
        fail(fld, limits.BATCH_REQUESTS.exceeded_by(total) + " (the sum of the counts)")
    return out


WORKLOAD_FIELDS: dict[str, V.Field] = {
    "mixture": V.Field(_mixture, required=True),
    "seed": V.Field(V.number(lo=0, hi=2**32 - 1, integer=True), default=0),
}


def job_fields(file: str) -> dict[str, V.Field]:
    """The spec of one job mapping (``file`` names the file in messages)."""
    return {
        "name": V.Field(V.name(), required=True),
        "deadline_h": V.Field(V.number(lo=0, lo_open=True, hi=limits.DEADLINE_H), required=True),
        "workload": V.Field(lambda v, fld, fail: V.check_mapping(v, WORKLOAD_FIELDS, fld, file), required=True),
        "models": V.Field(V.one_of_each(lambda: list(catalog.models().index)), nullable=True),
        "family": V.Field(V.choice(catalog.FAMILIES), nullable=True),
        "max_error": V.Field(V.number(lo=0, hi=1), nullable=True),
        "order": V.Field(V.choice(ORDER_NAMES), default="blendserve"),
        "step_mode": V.Field(V.choice(MODES), default="overlap"),
        "sample_requests": V.Field(V.number(lo=100, hi=limits.BATCH_REQUESTS, integer=True), nullable=True,
                                   default=DEFAULT_SAMPLE),
    }


def job_from_dict(d: Any, fld: str, file: str) -> BatchJob:
    """Validate one job mapping at field path ``fld`` (``batch_jobs[0]``)."""
    v = V.check_mapping(d, job_fields(file), fld, file)
    if (v["family"] is None) != (v["max_error"] is None):
        have, miss = ("family", "max_error") if v["family"] is not None else ("max_error", "family")
        raise InputError(file, f"{fld}.{miss}", f"missing: {have} is given, and an error limit needs both "
                         "family (which task's accuracy) and max_error (the largest error rate)")
    w = v.pop("workload")
    return BatchJob(mixture=w["mixture"], seed=w["seed"], source=file, **v)


def jobs_from_list(items: Any, fld: str, file: str) -> tuple[BatchJob, ...]:
    """A non-empty list of job mappings; names must be distinct."""
    jobs = V.list_of(lambda x, f: job_from_dict(x, f, file), what="batch jobs")(items, fld, V.fail_in(file))
    seen: dict[str, int] = {}
    for n, j in enumerate(jobs):
        if j.name in seen:
            raise InputError(file, f"{fld}[{n}].name", f"duplicate job name {j.name!r} (also {fld}[{seen[j.name]}])")
        seen[j.name] = n
    return tuple(jobs)


def load_jobs(path: str | Path) -> tuple[BatchJob, ...]:
    """A job file: one job mapping, or ``batch_jobs: [...]`` (a scenario file with jobs works too)."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, "no such job file")
    d = load_yaml(read_bytes(p, "job file"), str(p))
    if isinstance(d, dict) and "batch_jobs" in d:
        return jobs_from_list(d["batch_jobs"], "batch_jobs", str(p))
    if d is None:
        raise InputError(str(p), None, "empty file; a job file needs name, deadline_h and workload (or batch_jobs: [...])")
    return (job_from_dict(d, "", str(p)),)
