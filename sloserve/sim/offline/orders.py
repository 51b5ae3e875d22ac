"""Request orders for offline batching, by registry: ``ORDERS = Registry("order")``.

Every order is a class with two steps, so the engine can hide output lengths from it:

``warmup(ctx)``                   requests to serve first, whose outputs the order then sees
                                  (empty for orders that need no estimates);
``plan(ctx, sampled, observed)``  the plan for the remaining requests; ``plan.scan(...)`` is the
                                  runtime admission scan (``scan.py``).

=============  ==============================================================================
``fcfs``       request-id order (the order the batch was submitted in)
``random``     a seeded random permutation (NanoFlow-Balance: batches are balanced on average,
               prefixes are not shared); seed = ``OrderOptions.seed``
``dfs``        DFS order of the prefix tree (prefix-max; vLLM-DFS / SGLang-DFS / NanoFlow-DFS)
``density``    sample 1 % (≥ 16 per top-level prefix), then requests sorted by their own density ρ(r) and dual-scanned,
               prefixes ignored (BlendServe without the tree)
``blendserve`` sample 1 % (≥ 16 per top-level prefix), layer sort + conditional node split of the tree, dual scan
=============  ==============================================================================

:func:`order_sequence` gives an order's full permutation offline (sampled outputs revealed from
the true outputs, as the engine would observe them); the speed benchmark and the tests use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...registry import Registry
from .blend import BlendPlan, plan_blendserve, plan_density
from .density import DensityModel
from .sampling import DEFAULT_MIN_PER_PREFIX, DEFAULT_SAMPLE_FRACTION, draw_sample, estimate_outputs
from .scan import SequentialScan
from .tree import PrefixTree


@dataclass(frozen=True)
class OrderOptions:
    """Knobs of the orders (defaults are the paper's where it gives one)."""

    seed: int = 0  # seeds ``random`` and the output-length sample
    sample_fraction: float = DEFAULT_SAMPLE_FRACTION  # p_s (paper: 1 %)
    min_samples_per_prefix: int = DEFAULT_MIN_PER_PREFIX  # top-up per top-level prefix (ours)
    keep_sharing: float = 0.99  # node split keeps this share of the DFS sharing ratio (paper: ≈ 99 %)
    group_size: int = 256  # leaves per dual-scan group at most
    min_misorder: float = 2.0  # density factor beyond which a node counts as out of order


@dataclass(frozen=True, eq=False)
class OrderContext:
    """What an order may look at: the tree, prompt lengths, the density model and the KV capacity."""

    tree: PrefixTree
    prompt_tokens: np.ndarray
    density: DensityModel
    kv_tokens: int
    options: OrderOptions = OrderOptions()

    def rng(self, stream: int) -> np.random.Generator:
        """Independent seeded streams: 0 = the random order, 1 = the output sample."""
        return np.random.default_rng([self.options.seed, stream])


@dataclass(frozen=True, eq=False)
class SequencePlan:
    sequence: np.ndarray

    def scan(self, prompt_tokens, kv_tokens) -> SequentialScan:
        return SequentialScan(self.sequence)


class Order:
    """Base: no warm-up; subclasses give ``plan``."""

    name: ClassVar[str] = "base"
    needs_estimates: ClassVar[bool] = False

    def warmup(self, ctx: OrderContext) -> np.ndarray:
        return np.zeros(0, dtype=np.int64)

    def plan(self, ctx: OrderContext, sampled: np.ndarray, observed: np.ndarray):
        raise NotImplementedError


ORDERS: Registry[type[Order]] = Registry("order")


@ORDERS.register("fcfs", help="request-id (submission) order")
class FCFS(Order):
    name = "fcfs"

    def plan(self, ctx, sampled, observed):
        return SequencePlan(np.arange(ctx.tree.num_requests))


@ORDERS.register("random", help="seeded random permutation (NanoFlow-Balance)")
class RandomOrder(Order):
    name = "random"

    def plan(self, ctx, sampled, observed):
        return SequencePlan(ctx.rng(0).permutation(ctx.tree.num_requests))


@ORDERS.register("dfs", help="DFS order of the prefix tree (prefix sharing maximal)")
class DFS(Order):
    name = "dfs"

    def plan(self, ctx, sampled, observed):
        return SequencePlan(ctx.tree.dfs_order.copy())


class _Sampled(Order):
    """Orders that serve a p_s sample first (in DFS order) and plan the rest from its outputs."""

    needs_estimates = True

    def warmup(self, ctx):
        s = draw_sample(ctx.tree, ctx.options.sample_fraction, ctx.rng(1), ctx.options.min_samples_per_prefix)
        pos = np.empty(ctx.tree.num_requests, dtype=np.int64)
        pos[ctx.tree.dfs_order] = np.arange(ctx.tree.num_requests)
        return s[np.argsort(pos[s])]

    def _rest(self, ctx, sampled, observed):
        est, est2 = estimate_outputs(ctx.tree, sampled, observed, second_moment=True)
        keep = np.ones(ctx.tree.num_requests, dtype=bool)
        keep[sampled] = False
        return ctx.tree.restricted(keep), est, est2


@ORDERS.register("density", help="sample 1 %, sort by request density, dual scan; no prefix care")
class DensityOrder(_Sampled):
    name = "density"

    def plan(self, ctx, sampled, observed) -> BlendPlan:
        rest, est, est2 = self._rest(ctx, sampled, observed)
        return plan_density(rest, ctx.prompt_tokens, est, ctx.density, second_moment=est2,
                            group_size=ctx.options.group_size)


@ORDERS.register("blendserve", help="sample 1 %, layer sort + node split of the prefix tree, dual scan")
class BlendServe(_Sampled):
    name = "blendserve"

    def plan(self, ctx, sampled, observed) -> BlendPlan:
        rest, est, est2 = self._rest(ctx, sampled, observed)
        o = ctx.options
        return plan_blendserve(rest, ctx.prompt_tokens, est, ctx.density, second_moment=est2,
                               keep_sharing=o.keep_sharing, group_size=o.group_size, min_misorder=o.min_misorder)


def order_sequence(name: str, ctx: OrderContext, true_outputs: np.ndarray) -> tuple[np.ndarray, object]:
    """(full permutation: warm-up then plan, plan) of order ``name``; the warm-up's outputs are read
    from ``true_outputs`` (what serving them reveals)."""
    order = ORDERS.get(name)()
    warm = order.warmup(ctx)
    plan = order.plan(ctx, warm, np.asarray(true_outputs)[warm])
    return np.concatenate([warm, plan.sequence]).astype(np.int64), plan
