"""Offline batch inference: every request known at t = 0, throughput is the goal (BlendServe,
Zhao et al., ASPLOS'26). See ``docs/offline_batching.md``.

Modules, each one concept:

=============  ==============================================================================
``requests``   :class:`OfflineRequests`: prompts (segment description or token ids), true outputs
``tree``       :class:`PrefixTree` (radix tree in pre-order) and :func:`build_tree`
``cache``      :class:`RadixCache`: resident prefixes, references, LRU eviction inside the KV budget
``density``    :class:`DensityModel`: compute density ρ of requests and tree nodes, from StepTime
``sampling``   output-length sample and nearest-sampled-ancestor estimates
``blend``      BlendServe planning: layer sort, conditional node split, dual-scan groups
``scan``       runtime admission scans: sequential, warm-up phase, dual scan (memory split)
``orders``     ``ORDERS`` registry: fcfs, random, dfs, density, blendserve
``engine``     :func:`simulate_offline`: chunked prefill, continuous batching, prefix cache,
               preemption by recompute; step times from StepTime (``sum`` | ``overlap``)
``workloads``  seeded paper-style mixtures (code, MMLU-like, chat, video, reasoning) and grids
``plots``      Axes-returning plots of results
=============  ==============================================================================
"""
from __future__ import annotations

from .cache import RadixCache, replay_sharing
from .density import DensityModel
from .engine import EngineOptions, OfflineResult, OfflineTrace, kv_capacity_tokens, run_offline, simulate_offline
from .orders import ORDERS, OrderContext, OrderOptions, order_sequence
from .requests import OfflineRequests
from .tree import PrefixTree, build_tree

__all__ = ["ORDERS", "DensityModel", "EngineOptions", "OfflineRequests", "OfflineResult", "OfflineTrace",
           "OrderContext", "OrderOptions", "PrefixTree", "RadixCache", "build_tree", "kv_capacity_tokens",
           "order_sequence", "replay_sharing", "run_offline", "simulate_offline"]
