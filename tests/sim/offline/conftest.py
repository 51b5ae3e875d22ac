"""Shared fixtures of the offline tests: the default problem's Llama-3.1-8B / A100-80GB configuration."""
from __future__ import annotations

import numpy as np
import pytest


from sloserve.sim.offline.tables import batch_tables
from sloserve.problem.steptime import StepTime
from sloserve.sim.offline.density import DensityModel
from sloserve.sim.offline.engine import kv_capacity_tokens
from sloserve.sim.offline.requests import OfflineRequests

CONFIG = "llama-3.1-8b|a100-80gb|bf16|tp1pp1"


@pytest.fixture(scope="session")
def compiled():
    return batch_tables()


@pytest.fixture(scope="session")
def steptime(compiled):
    return StepTime.from_table(compiled.config_perf, compiled.configs, config=CONFIG)


@pytest.fixture(scope="session")
def model(compiled, steptime):
    return DensityModel(steptime, kv_capacity_tokens(compiled, CONFIG))


def random_segments(n: int, seed: int, *, systems: int = 3, blocks: int = 5, out_max: int = 64) -> OfflineRequests:
    """Small random prefix-structured batches: a system prompt, maybe a block, a unique suffix."""
    rng = np.random.default_rng(seed)
    sys_id = rng.integers(systems, size=n)
    blk = np.where(rng.random(n) < 0.6, rng.integers(blocks, size=n), -1)
    sys_len = np.array([5, 17, 40, 3, 8])[:systems][sys_id]
    blk_len = np.where(blk >= 0, 10 + 7 * np.maximum(blk, 0), 0)
    uniq = rng.integers(0, 30, size=n)  # 0: a prompt that ends where its prefix ends
    ids = np.stack([sys_id, np.where(blk >= 0, 100 + 10 * sys_id + blk, -1), 1000 + np.arange(n)], axis=1)
    lens = np.stack([sys_len, blk_len, uniq], axis=1)
    return OfflineRequests(output_tokens=rng.integers(1, out_max, size=n), segment_ids=ids, segment_tokens=lens)


def as_tokens(req: OfflineRequests) -> OfflineRequests:
    """The same prompts as token-id arrays (segment id k of length L -> L distinct ids derived from k)."""
    toks = []
    for ids, lens in zip(req.segment_ids, req.segment_tokens):
        parts = [np.arange(int(length)) + 1_000 * int(i) for i, length in zip(ids, lens) if i >= 0 and length > 0]
        toks.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
    return OfflineRequests(output_tokens=req.output_tokens, tokens=toks)
