"""A Case: one frozen, hashable cell of a study's grid.

Every field is plain data (strings, numbers, booleans, tuples), so a case pickles to any worker,
hashes the same on every machine and names its own result partition (:attr:`Case.key`, the
SHA-256 of its canonical JSON). Option groups are ``Params``: sorted ``(name, value)`` pairs, made
from dicts by :meth:`Case.make`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..errors import InputError

Params = tuple  # tuple[tuple[str, Any], ...], sorted by name
#: the option groups of a case (each a Params)
PARAM_FIELDS = ("method_options", "stress", "window", "sim", "params")
#: bumped when the meaning of a case's fields changes (old partitions then no longer match)
CASE_SCHEMA = 1


def freeze(value: Any, where: str = "value") -> Any:
    """A value as hashable plain data: lists -> tuples, dicts -> sorted (key, value) tuples, and a
    whole float as an int (``5.0`` and ``5`` are the same option, so they must be the same case)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v, f"{where}.{k}")) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v, where) for v in value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2 ** 53 else float(value)
    if hasattr(value, "item"):  # numpy scalars
        return freeze(value.item(), where)
    raise InputError(None, where, f"a case holds plain data only (numbers, strings, lists, mappings), "
                                  f"got {type(value).__name__}")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Case:
    """One unit of a sweep. ``study`` names the runner (:data:`sloserve.sweep.run.STUDIES`);
    ``scenario`` is ``default``, ``gen:PRESET:SEED``, a scenario YAML or a compiled directory;
    ``method`` a registered method; the Params groups carry the method's options, the stress setting,
    the demand window, the simulator settings and anything else the study reads."""

    study: str
    scenario: str = "default"
    method: str = "agh"
    seed: int = 0
    method_options: Params = ()
    stress: Params = ()
    window: Params = ()
    sim: Params = ()
    params: Params = ()

    @classmethod
    def make(cls, study: str, **kw) -> "Case":
        """A case from plain values; the Params groups may be given as dicts."""
        unknown = set(kw) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(None, sorted(unknown)[0], f"not a case field; fields: {[f.name for f in fields(cls)]}")
        for f in PARAM_FIELDS:
            if f in kw:
                v = kw[f]
                if not isinstance(v, Mapping):
                    v = dict(v)
                kw[f] = freeze(v, f)
        if "seed" in kw:
            kw["seed"] = int(kw["seed"])
        return cls(study=str(study), **kw)

    def get(self, group: str, name: str, default: Any = None) -> Any:
        """One option of a Params group (``case.get("window", "volatility", 0.0)``)."""
        for k, v in getattr(self, group):
            if k == name:
                return v
        return default

    def group(self, name: str) -> dict:
        """A Params group as a dict (tuples stay tuples)."""
        return dict(getattr(self, name))

    def to_dict(self) -> dict:
        """JSON-ready: Params groups as dicts, tuples as lists."""
        d = asdict(self)
        for f in PARAM_FIELDS:
            d[f] = {k: _plain(v) for k, v in getattr(self, f)}
        return d

    @property
    def key(self) -> str:
        """The case hash: 16 hex digits of the SHA-256 of its canonical JSON (and the case schema)."""
        text = json.dumps({"schema": CASE_SCHEMA, **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def columns(self) -> dict:
        """The case as flat record columns: ``study``, ``scenario``, ``method``, ``seed`` and one column
        per option, named ``group.name`` (lists as JSON text)."""
        out = {"case_id": self.key, "study": self.study, "scenario": self.scenario, "method": self.method,
               "seed": self.seed}
        for f in PARAM_FIELDS:
            for k, v in getattr(self, f):
                out[f"{f}.{k}"] = json.dumps(_plain(v)) if isinstance(v, tuple) else v
        return out

    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for f in ("stress", "window") for k, v in getattr(self, f))
        return f"{self.study}:{self.scenario}:{self.method}:s{self.seed}" + (f" ({extra})" if extra else "")
