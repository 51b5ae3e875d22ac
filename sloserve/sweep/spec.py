"""Sweep specs: a YAML file (or dict) that expands into cases.

::

    study: rolling                 # a registered study (sloserve.sweep.STUDIES)
    description: "..."             # optional
    base:                          # fields every case shares (Case fields; option groups as mappings)
      scenario: default
      params: {forecaster: seasonal}
    grid:                          # the cartesian product of these axes, in this order
      method: [gh, agh]
      seed: [0, 1]
      window.volatility: [0.0, 0.5, 1.0]     # group.name sets one option of a group
      window.index: {range: [0, 24]}         # range: [stop] | [start, stop] | [start, stop, step]
    grids:                         # or several blocks, each with its own base (merged over the top one)
      - {base: {method: milp, method_options: {time_limit_s: 10}}, grid: {seed: [0, 1]}}
    execution: {executor: dask, workers: 2}  # how to run it: not part of the results' identity

Every case is then expanded by its study (the rolling study: one case per window). The spec minus
``execution`` and ``description`` is the sweep's options in its manifest; the files its cases read
(scenarios, catalog, traces) are its inputs.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..resume import fingerprint
from .case import PARAM_FIELDS, Case
from .run import case_inputs, expand

CASE_FIELDS = {f.name for f in fields(Case)}
SPEC_KEYS = {"study", "description", "base", "grid", "grids", "execution", "summary"}
EXECUTION_KEYS = {"executor", "workers", "scheduler", "memory_limit"}


@dataclass
class Spec:
    """An expanded spec: its cases (in order, no duplicates), the options and inputs of its manifest,
    and the execution settings it suggests."""

    cases: list[Case]
    options: dict
    inputs: list[dict]
    execution: dict = field(default_factory=dict)
    source: str = "<spec>"
    description: str = ""


def _merge(a: Mapping, b: Mapping) -> dict:
    out = copy.deepcopy(dict(a))
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _axis_values(src: str, key: str, v: Any) -> list:
    if isinstance(v, Mapping) and set(v) == {"range"}:
        r = v["range"]
        r = [r] if isinstance(r, int) else list(r)
        if not 1 <= len(r) <= 3 or not all(isinstance(x, int) for x in r):
            raise InputError(src, f"grid.{key}", "range takes [stop], [start, stop] or [start, stop, step] (integers)")
        return list(range(*r))
    if not isinstance(v, list) or not v:
        raise InputError(src, f"grid.{key}", f"an axis is a non-empty list (or {{range: [...]}}), got {v!r}")
    return v


def _set(d: dict, key: str, value: Any, src: str) -> None:
    head, _, tail = key.partition(".")
    if head not in CASE_FIELDS:
        raise InputError(src, key, f"not a case field; fields: {sorted(CASE_FIELDS)}")
    if tail:
        if head not in PARAM_FIELDS:
            raise InputError(src, key, f"{head} is not an option group ({', '.join(PARAM_FIELDS)})")
        d.setdefault(head, {})
        d[head] = {**d[head], tail: value}
    else:
        d[head] = value


def _flatten(prefix: str, v: Any, out: dict) -> None:
    if isinstance(v, Mapping) and v:
        for k in sorted(v):
            _flatten(f"{prefix}.{k}" if prefix else str(k), v[k], out)
    elif isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v):
        for i, x in enumerate(v):
            _flatten(f"{prefix}.{i}", x, out)
    else:
        out[prefix] = v


def load_spec(spec: str | Path | Mapping, *, fingerprint_inputs: bool = True) -> Spec:
    """A spec from a YAML path or a mapping, expanded into cases."""
    if isinstance(spec, Mapping):
        src, raw = "<spec>", dict(spec)
    else:
        import yaml
        src = str(spec)
        try:
            raw = yaml.safe_load(Path(spec).read_text())
        except OSError as e:
            raise InputError(src, None, f"cannot read the spec: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise InputError(src, None, f"not valid YAML: {e}") from None
    if not isinstance(raw, Mapping):
        raise InputError(src, None, "a sweep spec is a mapping (study:, base:, grid:)")
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise InputError(src, sorted(unknown)[0], f"unknown key; a spec has {sorted(SPEC_KEYS)}")
    if "study" not in raw:
        raise InputError(src, "study", "missing: name the study the cases run (e.g. plan, stress, rolling)")
    from .run import STUDIES
    STUDIES.get(raw["study"], "study")
    execution = dict(raw.get("execution") or {})
    bad = set(execution) - EXECUTION_KEYS
    if bad:
        raise InputError(src, f"execution.{sorted(bad)[0]}", f"unknown; execution takes {sorted(EXECUTION_KEYS)}")
    base = dict(raw.get("base") or {})
    if "grid" in raw and "grids" in raw:
        raise InputError(src, "grids", "give grid: or grids:, not both")
    blocks = raw.get("grids") or [{"grid": raw.get("grid") or {}}]
    cases: list[Case] = []
    seen: set[str] = set()
    for n, block in enumerate(blocks):
        if not isinstance(block, Mapping) or set(block) - {"base", "grid"}:
            raise InputError(src, f"grids.{n}", "each block is {base: ..., grid: ...}")
        b = _merge(base, block.get("base") or {})
        for k in list(b):
            if k not in CASE_FIELDS:
                raise InputError(src, f"base.{k}", f"not a case field; fields: {sorted(CASE_FIELDS)}")
        grid = block.get("grid") or {}
        axes = [(k, _axis_values(src, k, v)) for k, v in grid.items()]
        for combo in itertools.product(*[vals for _, vals in axes]):
            d = copy.deepcopy(b)
            for (k, _), v in zip(axes, combo):
                _set(d, k, v, src)
            d.pop("study", None)
            for c in expand(Case.make(raw["study"], **d)):
                if c.key not in seen:
                    seen.add(c.key)
                    cases.append(c)
    options: dict = {}
    _flatten("", {k: v for k, v in raw.items() if k not in ("execution", "description")}, options)
    inputs = []
    if fingerprint_inputs:
        paths = sorted({p for c in cases for p in case_inputs(c)})
        inputs = [fingerprint(p) for p in paths]
    return Spec(cases, options, inputs, execution, src, str(raw.get("description") or ""))


def spec_from_cases(cases, *, name: str = "cases", fingerprint_inputs: bool = True) -> Spec:
    """A spec made of cases given in Python (the manifest's options list their keys)."""
    out, seen = [], set()
    for c in cases:
        for e in expand(c):
            if e.key not in seen:
                seen.add(e.key)
                out.append(e)
    inputs = [fingerprint(p) for p in sorted({p for c in out for p in case_inputs(c)})] if fingerprint_inputs else []
    return Spec(out, {"cases": sorted(seen), "name": name}, inputs, {}, f"<{name}>")
