"""Query types that no configuration can serve: the diagnosis that needs no solver.

A query type without any route in the compiled tables (no configuration meets its SLOs, or, with
``error_mode: per_route``, none within its SLOs meets its error limit) that may not be left unserved
makes every method infeasible; this says so in the user's units. The MILP,
the heuristics and the elastic diagnosis (:mod:`sloserve.solvers.milp.diagnose`) all ask here first.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InfeasibleError
from .instance import Instance


def _slo_text(row) -> str:
    parts = []
    for col, label, scale, unit in (("ttft_slo_s", "TTFT", 1.0, "s"), ("tpot_slo_s", "TPOT", 1e3, "ms"),
                                    ("e2e_slo_s", "E2E", 1.0, "s")):
        v = row.get(col)
        if v is not None and math.isfinite(float(v)):
            parts.append(f"{label} {float(v) * scale:g} {unit}")
    return " / ".join(parts) if parts else "no latency SLO: no GPU holds its model with a KV cache"


def _availability_text(inst: Instance) -> str:
    limited = [f"{g} {a:g}" for g, a in zip(inst.gpu_ids, inst.available) if math.isfinite(a)]
    return "available: " + ", ".join(limited) if limited else "see gpus.available"


def unroutable_types(inst: Instance) -> list[str]:
    """Query types with no feasible route that must be (partly) served: one line each. A type
    that some configuration could serve within its SLOs, had its GPUs been available (compile
    records these in ``dropped.query_types_unavailable``), is said to lack GPUs, not SLOs."""
    routed = np.bincount(inst.route_i, minlength=inst.I) > 0
    qt = inst.compiled.query_types
    limited = (inst.compiled.extra.get("dropped") or {}).get("error_limited") or {}
    dropped = inst.compiled.extra.get("dropped")
    unavailable = dropped.get("query_types_unavailable") if isinstance(dropped, dict) else None
    unavailable = set(unavailable) if isinstance(unavailable, list) else set()
    out = []
    for i in range(inst.I):
        if routed[i] or inst.max_unserved[i] >= 1:
            continue
        name = inst.query_types[i]
        if name in limited:
            out.append(f"query type {name}: no configuration within its SLOs meets its error limit "
                       f"{float(qt.iloc[i]['max_error']):g} (the best has {float(limited[name]):g}; error_mode "
                       "per_route)")
        elif name in unavailable:
            out.append(f"query type {name}: every configuration that meets its SLOs needs more GPUs than are available "
                       f"({_availability_text(inst)}); raise gpus.<type>.available or leave it empty for no limit")
        else:
            out.append(f"query type {name}: no configuration meets its SLOs ({_slo_text(qt.iloc[i])})")
    return out


def raise_if_unroutable(inst: Instance) -> None:
    lines = unroutable_types(inst)
    if lines:
        raise InfeasibleError("no plan exists: some query types cannot be served at all", lines)

