"""Seeded paper-style offline workloads (BlendServe §6.1 and appendix): mixtures of request classes.

Every class has its **own system prompt** (a segment every request of the class shares); prompts
are segment descriptions ``[system prompt, few-shot block, unique part]`` (``requests.py``), so a
million requests build their tree in seconds. Classes:

=============  ===============================================  =====================================
class          prompt                                           output
=============  ===============================================  =====================================
``code``       Azure 2023 *code* trace ContextTokens            its GeneratedTokens (≥ 1); compute-heavy,
               (empirical resampling; the system prompt is      low sharing (the Azure-Trace / BurstGPT
               part of those tokens)                            role in the paper)
``mmlu``       system prompt + one of 57 five-shot blocks       1–2 tokens (an answer letter); compute-
               (one per subject, 550–800 tokens) + a unique     heavy, ~85 % of prompt tokens shared
               question (lognormal, mean ≈ 110)
``chat``       Azure 2023 *conversation* trace ContextTokens    its GeneratedTokens; in between
``video``      lognormal, mean ≈ 121 (OpenVid captions)         256 tokens × frames, frames uniform on
                                                                32..96: mean 16,384 (the paper's
                                                                normalised OpenVid); memory-heavy
``reasoning``  lognormal, mean ≈ 109 (LIMO problems)            lognormal, mean ≈ 7,600, capped at 32K
=============  ===============================================  =====================================

Without the Azure files (``SLOSERVE_TRACE_DIR`` / :func:`sloserve.traces.trace.default_trace_dir`),
``code`` and ``chat`` fall back to lognormals with the traces' means and coefficients of variation
(code: in 2,048 ± 1,974, out 28 ± 60; conversation: in 1,155 ± 1,109, out 211 ± 161); the
workload's ``meta["lengths"]`` says which was used.

:func:`mixture` makes a batch with given request shares of the classes. :func:`paper_workload`
solves for the shares of ``code`` (compute-heavy, low sharing), ``mmlu`` (compute-heavy, high
sharing) and a memory-heavy class that give a target density ρ and sharing s — the paper's recipe
(a compute trace mixed with OpenVid sets ρ; adding MMLU sets the sharing) — for a configuration's
:class:`DensityModel`: both targets are linear in the class shares once s is fixed,
(1 − s)·Σ x_c·Comp_c = ρ·Σ x_c·Mem_c and Σ x_c·Shared_c = s·Σ x_c·P_c, with the per-class means
taken from a pilot draw. The realised density and sharing of the generated batch (its prefix tree,
true outputs) are returned in ``meta`` and are what the benchmarks report. :data:`PAPER_TRACES`
are the four main traces; :func:`grid` the appendix grid (ρ 0.80–1.40 × s 0.05–0.45).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import InputError
from .density import DensityModel
from .requests import OfflineRequests
from .tree import build_tree

CLASSES = ("code", "mmlu", "chat", "video", "reasoning")
SYSTEM_PROMPT_TOKENS = {"code": 48, "mmlu": 24, "chat": 96, "video": 12, "reasoning": 24}
MMLU_SUBJECTS = 57
#: the four main traces of the paper: name -> (density, sharing)
PAPER_TRACES = {"trace1": (1.4, 0.35), "trace2": (0.9, 0.35), "trace3": (1.4, 0.05), "trace4": (0.9, 0.05)}
#: fallback lognormals (mean, coefficient of variation) of the Azure 2023 traces
AZURE_FALLBACK = {"code": ((2048.0, 0.96), (28.0, 2.15)), "chat": ((1155.0, 0.96), (211.0, 0.76))}
_ID_SYSTEM, _ID_BLOCK, _ID_UNIQUE = 0, 1_000, 1_000_000


def _lognormal(rng, mean, cv, n):
    s2 = np.log1p(cv * cv)
    return rng.lognormal(np.log(mean) - s2 / 2.0, np.sqrt(s2), n)


@lru_cache(maxsize=4)
def _azure_lengths(trace_dir: str | None) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    from ...traces.trace import default_trace_dir, load_trace

    d = Path(trace_dir) if trace_dir else default_trace_dir()
    if d is None:
        return None
    files = {"code": d / "AzureLLMInferenceTrace_code.csv", "chat": d / "AzureLLMInferenceTrace_conv.csv"}
    if not all(f.is_file() for f in files.values()):
        return None
    out = {}
    for k, f in files.items():
        df = load_trace(f)
        out[k] = (df["input_tokens"].to_numpy(np.int64), df["output_tokens"].to_numpy(np.int64))
    return out


@dataclass(frozen=True)
class ClassDraw:
    """n requests of one class: prompt parts and outputs (token counts)."""

    system: int
    block_id: np.ndarray  # −1: no few-shot block
    block_tokens: np.ndarray
    unique_tokens: np.ndarray
    output_tokens: np.ndarray


def draw_class(name: str, n: int, rng: np.random.Generator, azure=None) -> ClassDraw:
    """Lengths of ``n`` requests of class ``name`` (see the module table)."""
    sys_t = SYSTEM_PROMPT_TOKENS[name]
    no_block = np.full(n, -1, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    if name in ("code", "chat"):
        if azure is not None:
            inp, out = azure[name]
            i = rng.integers(len(inp), size=n)
            p, d = inp[i], out[i]
        else:
            (mi, ci), (mo, co) = AZURE_FALLBACK[name]
            p = np.rint(_lognormal(rng, mi, ci, n)).astype(np.int64)
            d = np.rint(_lognormal(rng, mo, co, n)).astype(np.int64)
        unique = np.maximum(p - sys_t, 1)
        return ClassDraw(sys_t, no_block, zero, unique, np.maximum(d, 1))
    if name == "mmlu":
        subj_rng = np.random.default_rng(7)  # the 57 five-shot blocks are fixed, like the benchmark's
        block_len = subj_rng.integers(550, 801, size=MMLU_SUBJECTS)
        b = rng.integers(MMLU_SUBJECTS, size=n)
        q = np.maximum(np.rint(_lognormal(rng, 110.0, 0.5, n)), 8).astype(np.int64)
        return ClassDraw(sys_t, b.astype(np.int64), block_len[b], q, rng.integers(1, 3, size=n))
    if name == "video":
        p = np.maximum(np.rint(_lognormal(rng, 121.0 - sys_t, 0.4, n)), 4).astype(np.int64)
        return ClassDraw(sys_t, no_block, zero, p, 256 * rng.integers(32, 97, size=n))
    if name == "reasoning":
        p = np.maximum(np.rint(_lognormal(rng, 109.0 - sys_t, 0.5, n)), 4).astype(np.int64)
        d = np.minimum(np.rint(_lognormal(rng, 7600.0, 0.6, n)), 32768).astype(np.int64)
        return ClassDraw(sys_t, no_block, zero, p, np.maximum(d, 1))
    raise InputError(None, "class", f"unknown workload class {name!r}; choose one of {CLASSES}")


def mixture(counts: dict[str, int], seed: int, *, trace_dir: str | os.PathLike | None = None,
            model: DensityModel | None = None) -> OfflineRequests:
    """A batch with ``counts[c]`` requests of each class, interleaved in a seeded random order.

    ``meta`` holds the counts, the length source, and — with a ``model`` — the realised density and
    sharing (tree optimum) of the batch."""
    for c in counts:
        if c not in CLASSES:
            raise InputError(None, "counts", f"unknown workload class {c!r}; choose one of {CLASSES}")
    rng = np.random.default_rng(seed)
    azure = _azure_lengths(None if trace_dir is None else str(trace_dir))
    parts = []
    for k, c in enumerate(CLASSES):
        n = int(counts.get(c, 0))
        if n <= 0:
            continue
        d = draw_class(c, n, rng, azure)
        parts.append((k, c, d))
    if not parts:
        raise InputError(None, "counts", "the mixture has no requests")
    total = sum(len(d.output_tokens) for _, _, d in parts)
    perm = rng.permutation(total)
    ids = np.full((total, 3), -1, dtype=np.int64)
    lens = np.zeros((total, 3), dtype=np.int64)
    out = np.zeros(total, dtype=np.int64)
    klass = np.empty(total, dtype=object)
    at = 0
    for k, c, d in parts:
        n = len(d.output_tokens)
        rows = perm[at:at + n]
        ids[rows, 0] = _ID_SYSTEM + k
        lens[rows, 0] = d.system
        has_block = d.block_id >= 0
        ids[rows, 1] = np.where(has_block, _ID_BLOCK + 100 * k + d.block_id, -1)
        lens[rows, 1] = d.block_tokens
        ids[rows, 2] = _ID_UNIQUE + rows
        lens[rows, 2] = d.unique_tokens
        out[rows] = d.output_tokens
        klass[rows] = c
        at += n
    meta = {"counts": {c: int(counts.get(c, 0)) for c in CLASSES if counts.get(c, 0)}, "seed": seed,
            "lengths": "azure-2023" if azure is not None else "lognormal fallback"}
    req = OfflineRequests(output_tokens=out, segment_ids=ids, segment_tokens=lens, klass=klass, meta=meta)
    if model is not None:
        tree = build_tree(req)
        ideal = model.ideal_makespan_s(tree, req.prompt_tokens, req.output_tokens)
        meta["density"] = ideal["density"]
        meta["sharing"] = ideal["sharing"]
    return req


def _class_means(name: str, model: DensityModel, azure, pilot: int = 20_000) -> dict[str, float]:
    """Per-request means of Comp, its prefill part, Mem, prompt tokens and shared prompt tokens of a
    class (pilot draw)."""
    d = draw_class(name, pilot, np.random.default_rng(12345), azure)
    p = d.system + d.block_tokens + d.unique_tokens
    shared = d.system + d.block_tokens
    return {"comp": float(model.compute_s(p, d.output_tokens).mean()), "pre": float(model.prefill_compute_s(p).mean()),
            "mem": float(model.memory_s(p, d.output_tokens).mean()), "prompt": float(p.mean()),
            "shared": float(shared.mean())}


def solve_shares(density: float, sharing: float, model: DensityModel, *, memory_class: str = "video",
                 trace_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Request shares of (``code``, ``mmlu``, ``memory_class``) with density ρ and sharing s (module doc)."""
    azure = _azure_lengths(None if trace_dir is None else str(trace_dir))
    names = ("code", "mmlu", memory_class)
    m = [_class_means(c, model, azure) for c in names]
    A = np.array([[float(model.shared_compute_s(sharing, x["pre"], x["comp"])) - density * x["mem"] for x in m],
                  [x["shared"] - sharing * x["prompt"] for x in m],
                  [1.0, 1.0, 1.0]])
    x = np.linalg.solve(A, np.array([0.0, 0.0, 1.0]))
    if (x < -1e-12).any():
        raise InputError(None, "workload", f"density {density} with sharing {sharing} is out of reach of a "
                         f"{'/'.join(names)} mixture (shares {np.round(x, 4).tolist()})")
    x = np.maximum(x, 0.0)
    return dict(zip(names, (x / x.sum()).tolist()))


def paper_workload(num_requests: int, density: float, sharing: float, model: DensityModel, seed: int = 0, *,
                   memory_class: str = "video", trace_dir: str | os.PathLike | None = None) -> OfflineRequests:
    """A batch of ``num_requests`` with target density and sharing (realised values in ``meta``)."""
    shares = solve_shares(density, sharing, model, memory_class=memory_class, trace_dir=trace_dir)
    counts = {c: int(round(v * num_requests)) for c, v in shares.items()}
    counts[memory_class] = max(counts[memory_class], 1 if shares[memory_class] > 0 else 0)
    req = mixture(counts, seed, trace_dir=trace_dir, model=model)
    req.meta.update({"target_density": density, "target_sharing": sharing, "shares": shares})
    return req


def grid(densities=None, sharings=None) -> list[tuple[float, float]]:
    """The appendix grid: ρ 0.80..1.40 step 0.05 × s 0.05..0.45 step 0.10 (65 points), or a sub-grid."""
    d = np.round(np.arange(0.80, 1.4001, 0.05), 2) if densities is None else densities
    s = np.round(np.arange(0.05, 0.4501, 0.10), 2) if sharings is None else sharings
    return [(float(a), float(b)) for a in d for b in s]
