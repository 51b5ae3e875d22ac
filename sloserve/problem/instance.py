"""``Instance``: the numpy view of the compiled tables, shared by heuristics, checker and stress tests.

Index conventions: query types ``i`` in ``range(I)``, configurations ``c`` in ``range(C)``,
routes ``r`` in ``range(R)`` with ``route_i[r]``, ``route_c[r]``; GPU types ``k``, models ``j``,
deployments ``d`` (model, gpu, precision). A solution in array form is ``(y, x, u)``:
replicas per configuration (int, C), routing fraction per route (float, R), unserved fraction
per query type (float, I).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import InputError
from ..vocab import SECONDS_PER_HOUR
from .limits import PLANNED_REPLICAS, SMALLEST_LOAD, fmt
from .tables import Compiled, Options


@dataclass(frozen=True, eq=False)
class Instance:
    compiled: Compiled
    # query types (I)
    query_types: np.ndarray  # ids
    lam: np.ndarray  # λ_i, requests/s
    max_error: np.ndarray  # ε_i
    max_unserved: np.ndarray  # ζ_i
    penalty: np.ndarray  # φ_i, $/request
    e2e_slo: np.ndarray  # E2E_i, s (nan = none)
    # configurations (C)
    configs: np.ndarray
    cost: np.ndarray  # $/h per replica
    kv: np.ndarray  # KV_c, bytes
    gpus: np.ndarray  # GPUs per replica
    max_replicas: np.ndarray  # from the tables, replicas (float; inf = no limit)
    config_gpu: np.ndarray  # k of c
    config_model: np.ndarray  # j of c
    config_deployment: np.ndarray  # d of c
    # routes (R)
    route_i: np.ndarray
    route_c: np.ndarray
    ttft: np.ndarray
    tpot: np.ndarray
    e2e: np.ndarray
    error: np.ndarray
    mu: np.ndarray  # μ_ic, requests/s per replica
    omega: np.ndarray  # ω_ic, byte·s per request
    # GPU types (K), models (J), deployments (D)
    gpu_ids: np.ndarray
    available: np.ndarray  # A_k, inf = unlimited
    model_ids: np.ndarray
    fixed_cost: np.ndarray  # F_j, $/h
    deployments: list[tuple[str, str, str]]
    options: Options

    @property
    def I(self) -> int:  # noqa: E743
        return len(self.query_types)

    @property
    def C(self) -> int:
        return len(self.configs)

    @property
    def R(self) -> int:
        return len(self.route_i)

    @property
    def budget(self) -> float:
        b = self.options.budget_per_hour
        return np.inf if b is None else float(b)

    @property
    def rho(self) -> float:
        return float(self.options.utilization_cap)

    @cached_property
    def route_index(self) -> dict[tuple[str, str], int]:
        return {(self.query_types[i], self.configs[c]): r for r, (i, c) in enumerate(zip(self.route_i, self.route_c))}

    @cached_property
    def config_index(self) -> dict[str, int]:
        return {c: n for n, c in enumerate(self.configs)}

    @cached_property
    def query_type_index(self) -> dict[str, int]:
        return {q: n for n, q in enumerate(self.query_types)}

    @cached_property
    def cap_load(self) -> np.ndarray:
        """λ_i/μ_ic per route: replica-equivalents of busy time if all of i went to c."""
        return self.lam[self.route_i] / self.mu

    @cached_property
    def mem_load(self) -> np.ndarray:
        """λ_i·ω_ic per route: KV bytes held if all of i went to c (Little's law)."""
        return self.lam[self.route_i] * self.omega

    @cached_property
    def ymax(self) -> np.ndarray:
        """Ymax_c: a valid upper bound on replicas of each configuration (docs/formulation.md §3).

        min(max_replicas, ⌊A_k/gpus_c⌋, ⌊B/cost_c⌋, ⌈max(Σ_i λ_i/(ρ̄μ_ic), Σ_i λ_i ω_ic/KV_c)⌉).
        The memory term is added to the formulation's capacity term: without it the bound
        could cut off the optimum when KV memory, not compute, is binding.
        """
        need_cap = np.bincount(self.route_c, weights=self.cap_load / self.rho, minlength=self.C)
        need_mem = np.bincount(self.route_c, weights=self.mem_load, minlength=self.C) / np.maximum(self.kv, 1e-300)
        need = np.ceil(np.maximum(need_cap, need_mem) * (1 - 1e-12))
        bound = np.minimum(self.max_replicas.astype(float), need)
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.minimum(bound, np.floor(self.available[self.config_gpu] / self.gpus))
            if np.isfinite(self.budget):
                bound = np.minimum(bound, np.where(self.cost > 0, np.floor(self.budget / np.where(self.cost > 0, self.cost, 1)), np.inf))
        return np.maximum(bound, 0).astype(np.int64)

    def replicas_needed(self, x: np.ndarray) -> np.ndarray:
        """Smallest integer y_c meeting capacity and memory for routing ``x`` (length R)."""
        cap = np.bincount(self.route_c, weights=self.cap_load * x, minlength=self.C) / self.rho
        mem = np.bincount(self.route_c, weights=self.mem_load * x, minlength=self.C) / np.maximum(self.kv, 1e-300)
        need = np.maximum(cap, mem)
        return np.ceil(need * (1 - 1e-9) - 1e-12).clip(min=0).astype(np.int64)

    def objective(self, y: np.ndarray, u: np.ndarray, x: np.ndarray | None = None) -> float:
        """Σ cost_c y_c + Σ_j F_j s_j + 3600 Σ_i φ_i λ_i u_i, in $/h (docs/formulation.md §3).

        s_j = 1 when any configuration of model j is open (y > 0, or carries traffic in ``x``).
        """
        return float(self.cost @ y + self.fixed_cost @ self.models_selected(y, x) + SECONDS_PER_HOUR * (self.penalty * self.lam) @ u)

    def open_configs(self, y: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        o = np.asarray(y) > 0
        if x is not None:
            o = o | (np.bincount(self.route_c, weights=np.asarray(x) > 0, minlength=self.C) > 0)
        return o

    def models_selected(self, y: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        o = self.open_configs(y, x)
        return (np.bincount(self.config_model, weights=o, minlength=len(self.model_ids)) > 0).astype(float)

    def gpus_used(self, y: np.ndarray) -> np.ndarray:
        """Σ_{c∈C_k} gpus_c·y_c per GPU type k (in ``gpu_ids`` order), GPUs."""
        return np.bincount(self.config_gpu, weights=self.gpus * np.asarray(y, dtype=float), minlength=len(self.gpu_ids))

    def fixed_cost_of(self, y, x=None) -> float:
        return float(self.fixed_cost @ self.models_selected(y, x))


def fewest_replicas(inst: Instance) -> float:
    """A lower bound on the replicas any plan needs: each type's served share on its fastest route."""
    best = np.zeros(inst.I)
    np.maximum.at(best, inst.route_i, inst.mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(best > 0, inst.lam * (1 - inst.max_unserved) / (inst.rho * best), 0.0)
    return float(need.sum())


def check_scale(inst: Instance) -> None:
    """Refuse a problem every plan of which needs more than :data:`~sloserve.problem.limits.PLANNED_REPLICAS`
    replicas: no method's answer could be certified there (the limit and its reason: docs/inputs.md)."""
    n = fewest_replicas(inst)
    if n > PLANNED_REPLICAS.value:
        src = str(inst.compiled.extra.get("source") or inst.compiled.name)
        raise InputError(src, "rate_rps", f"every plan needs at least {n:.3g} replicas, more than "
                                          f"{PLANNED_REPLICAS.describe()}; lower the arrival rates")


def check_smallest_load(inst: Instance) -> None:
    """Refuse positive traffic so small that a route would carry less than
    :data:`~sloserve.problem.limits.SMALLEST_LOAD` of a replica: within its tolerances a solver may
    then route it to a configuration without replicas (measured: the MILP does at 1e-6 requests/s on
    a replica serving 20). For rates a user wrote; forecasts (rolling) are not refused here."""
    lam = inst.lam[inst.route_i]
    load = lam / (inst.rho * inst.mu)
    tiny = (lam > 0) & (load < SMALLEST_LOAD.value)
    if not tiny.any():
        return
    r = int(np.flatnonzero(tiny)[np.argmin(load[tiny])])
    i, c = inst.route_i[r], inst.route_c[r]
    least = SMALLEST_LOAD.value * inst.rho * float(inst.mu[inst.route_i == i].max())
    src = str(inst.compiled.extra.get("source") or inst.compiled.name)
    raise InputError(src, f"query type {inst.query_types[i]}.rate_rps",
                     f"{inst.lam[i]:.3g} requests/s is {load[r]:.2g} of one replica of {inst.configs[c]}, below the "
                     f"smallest load of {fmt(SMALLEST_LOAD.value)} replicas that the solvers can tell from no traffic; "
                     f"write 0, or at least {least:.2g} requests/s")


def build_instance(c: Compiled) -> Instance:
    """Numpy view of compiled tables (pure; rows keep the tables' order)."""
    qt, cf, rt, gp, md = c.query_types, c.configs, c.routes, c.gpus, c.models
    qidx = pd.Index(qt["query_type"])
    cidx = pd.Index(cf["config"])
    gidx = pd.Index(gp["gpu"])
    midx = pd.Index(md["model"])
    dep_keys = list(zip(cf["model"], cf["gpu"], cf["precision"]))
    deployments = list(dict.fromkeys(dep_keys))
    dmap = {d: n for n, d in enumerate(deployments)}
    avail = pd.to_numeric(gp["available"], errors="coerce").to_numpy(dtype=float)
    avail = np.where(np.isnan(avail), np.inf, avail)
    return Instance(
        compiled=c,
        query_types=qt["query_type"].to_numpy(dtype=object),
        lam=qt["rate_rps"].to_numpy(dtype=float),
        max_error=qt["max_error"].to_numpy(dtype=float),
        max_unserved=qt["max_unserved"].to_numpy(dtype=float),
        penalty=qt["unserved_penalty"].to_numpy(dtype=float),
        e2e_slo=pd.to_numeric(qt["e2e_slo_s"], errors="coerce").to_numpy(dtype=float),
        configs=cf["config"].to_numpy(dtype=object),
        cost=cf["cost_per_hour"].to_numpy(dtype=float),
        kv=cf["kv_bytes"].to_numpy(dtype=float),
        gpus=cf["gpus"].to_numpy(dtype=np.int64),
        max_replicas=np.nan_to_num(cf["max_replicas"].to_numpy(dtype=float), nan=np.inf),
        config_gpu=gidx.get_indexer(cf["gpu"]),
        config_model=midx.get_indexer(cf["model"]),
        config_deployment=np.array([dmap[d] for d in dep_keys], dtype=np.int64),
        route_i=qidx.get_indexer(rt["query_type"]),
        route_c=cidx.get_indexer(rt["config"]),
        ttft=rt["ttft_s"].to_numpy(dtype=float),
        tpot=rt["tpot_s"].to_numpy(dtype=float),
        e2e=rt["e2e_s"].to_numpy(dtype=float),
        error=rt["error"].to_numpy(dtype=float),
        mu=rt["capacity_rps"].to_numpy(dtype=float),
        omega=rt["kv_byte_seconds"].to_numpy(dtype=float),
        gpu_ids=gp["gpu"].to_numpy(dtype=object),
        available=avail,
        model_ids=md["model"].to_numpy(dtype=object),
        fixed_cost=md["fixed_cost_per_hour"].to_numpy(dtype=float),
        deployments=deployments,
        options=c.options,
    )
