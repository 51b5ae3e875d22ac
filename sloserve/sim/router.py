"""Routers: which replica serves a request, by registry (``ROUTERS``).

A router is built from the plan's routing: for each query type, the configurations it is routed to
with their fractions x_ic, and the unserved fraction u_i (requests the plan chose not to serve,
reported as ``unserved``, never simulated). Replicas of one configuration share its traffic.

- ``plan`` (default): the plan's fractions, low-variance — a smooth weighted round-robin over the
  type's configurations (and its unserved share), then round-robin over the configuration's
  replicas. After n requests of a type, each configuration has received within one request of
  n·x_ic. Needs no replica state, so replicas are simulated independently.
- ``least_outstanding``: the unserved share as ``plan``; otherwise the replica, among those of the
  configurations the plan routes the type to, with the fewest outstanding tokens (prompt tokens
  not yet prefilled plus the expected remaining output, at the type's mean size — the router does
  not know true lengths), ties to the lower replica index.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..registry import Registry

ROUTERS: Registry = Registry("router")
UNSERVED = -1


class SmoothWRR:
    """Smooth weighted round-robin (nginx's): deterministic, each option's count within one of its share."""

    def __init__(self, weights: Sequence[float]):
        w = np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        self.current = np.zeros(len(w))

    def next(self) -> int:
        self.current += self.weights
        k = int(np.argmax(self.current))
        self.current[k] -= 1.0
        return k


class Router:
    """Base: per query type, a WRR over its configurations (index into ``type_configs[i]``) or UNSERVED."""

    needs_state = False

    def __init__(self, type_configs: list[list[int]], type_fractions: list[list[float]], unserved: np.ndarray,
                 config_replicas: list[list[int]]):
        self.type_configs = type_configs
        self.config_replicas = config_replicas
        self._wrr = []
        for cfgs, fr, u in zip(type_configs, type_fractions, unserved):
            opts = list(fr) + ([float(u)] if u > 0 else [])
            self._wrr.append(SmoothWRR(opts) if opts and sum(opts) > 0 else None)
        self._rr = [0] * len(config_replicas)

    def _config_or_unserved(self, qtype: int) -> int:
        w = self._wrr[qtype]
        if w is None:
            return UNSERVED
        k = w.next()
        return UNSERVED if k >= len(self.type_configs[qtype]) else self.type_configs[qtype][k]

    def route(self, qtype: int, replicas) -> int:
        raise NotImplementedError


@ROUTERS.register("plan", help="the plan's fractions: smooth weighted round-robin over configurations, round-robin over replicas")
class PlanRouter(Router):
    def route(self, qtype: int, replicas=None) -> int:
        c = self._config_or_unserved(qtype)
        if c == UNSERVED:
            return UNSERVED
        reps = self.config_replicas[c]
        k = self._rr[c]
        self._rr[c] = (k + 1) % len(reps)
        return reps[k]


@ROUTERS.register("least_outstanding", help="the replica with the fewest outstanding tokens among the plan's replicas of the type")
class LeastOutstandingRouter(Router):
    needs_state = True

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._candidates = [sorted(r for c in cfgs for r in self.config_replicas[c]) for cfgs in self.type_configs]

    def candidates(self, qtype: int) -> list[int]:
        return self._candidates[qtype]

    def route(self, qtype: int, replicas) -> int:
        c = self._config_or_unserved(qtype)
        if c == UNSERVED:
            return UNSERVED
        cand = self._candidates[qtype]
        return min(cand, key=lambda r: (replicas[r].outstanding_tokens, r))
