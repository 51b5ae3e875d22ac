"""Declarative field specs for the scenario file: one line per field, one loud message per mistake.

A spec maps each allowed key of a mapping to a :class:`Field` (how to check the value, whether it is
required, its default). :func:`check_mapping` rejects what is not a mapping, unknown keys (with a
did-you-mean), missing required keys and every bad value, naming the file and the field path
(``query_types[2].rate_rps``) and what is allowed — the limit of a number with its unit and reason
(:mod:`sloserve.problem.limits`). Nothing is coerced: ``true`` is not 1, ``"4"`` is not 4, ``[]`` and
``false`` are not "use the defaults".
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import InputError
from ..problem.limits import Limit, name_problem, number_problem, show

#: a value check: (value, field path, raise-with-message) -> the value to keep
Check = Callable[[Any, str, Callable[[str, str], None]], Any]


@dataclass(frozen=True)
class Field:
    check: Check
    required: bool = False
    default: Any = None
    nullable: bool = False  # null is a meaningful value (no SLO, no budget, no limit)


def did_you_mean(key: Any, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_mapping(d: Any, spec: dict[str, Field], path: str, file: str) -> dict[str, Any]:
    """Validate mapping ``d`` against ``spec``; returns every key of the spec (defaults filled in)."""
    def fail(fld: str, msg: str):
        raise InputError(file, fld, msg)

    where = path or "the file"
    if not isinstance(d, dict):
        fail(path or None, f"must be a mapping of {sorted(spec)}, got {_kind(d)}")
    for k in d:
        if k not in spec:
            fail(f"{path}.{k}" if path else str(k),
                 f"unknown field{did_you_mean(k, spec)}; {where} allows {sorted(spec)}")
    out = {}
    for k, f in spec.items():
        fld = f"{path}.{k}" if path else k
        if k not in d:
            if f.required:
                fail(fld, f"missing required field; {where} needs {[n for n, s in spec.items() if s.required]}")
            out[k] = f.default
        elif d[k] is None and f.nullable:
            out[k] = None
        else:
            out[k] = f.check(d[k], fld, fail)
    return out


def fail_in(file: str) -> Callable[[str, str], None]:
    """The ``fail(field, message)`` of a check run outside :func:`check_mapping`: raises InputError for ``file``."""
    def fail(fld: str, msg: str):
        raise InputError(file, fld, msg)
    return fail


def _kind(v: Any) -> str:
    if v is None:
        return "null (an empty value)"
    if isinstance(v, (list, dict)) and not v:
        return f"an empty {'list' if isinstance(v, list) else 'mapping'}"
    return f"the string {v!r}" if isinstance(v, str) else show(v)


# ---- value checks ---------------------------------------------------------------------------------

def number(*, lo: float | None = None, hi: Limit | float | None = None, lo_open: bool = False,
           integer: bool = False) -> Check:
    """A finite number (an int or float, never a bool or a string) within [lo, hi] (lo_open: > lo)."""
    def check(v, fld, fail):
        msg = number_problem(v, lo=lo, hi=hi, lo_open=lo_open, integer=integer)
        if msg:
            fail(fld, msg)
        return int(v) if integer else float(v)
    return check


def name() -> Check:
    """An identifier (see :func:`sloserve.problem.limits.name_problem`)."""
    def check(v, fld, fail):
        msg = name_problem(v)
        if msg:
            fail(fld, msg)
        return v
    return check


def text() -> Check:
    def check(v, fld, fail):
        if not isinstance(v, str):
            fail(fld, f"must be text, got {_kind(v)}")
        return v
    return check


def boolean() -> Check:
    def check(v, fld, fail):
        if not isinstance(v, bool):
            fail(fld, f"must be true or false, got {_kind(v)}")
        return v
    return check


def choice(allowed: Iterable[Any] | Callable[[], Iterable[Any]]) -> Check:
    def check(v, fld, fail):
        ok = list(allowed() if callable(allowed) else allowed)
        if isinstance(v, bool) or v not in ok:
            fail(fld, f"unknown value {show(v)}{did_you_mean(v, ok) if isinstance(v, str) else ''}; allowed: {ok}")
        return v
    return check


def one_of_each(allowed: Iterable[Any] | Callable[[], Iterable[Any]], *, integer: bool = False) -> Check:
    """A non-empty list of distinct values from ``allowed`` (a tuple, in the file's order; integer
    lists are sorted)."""
    def check(v, fld, fail):
        ok = list(allowed() if callable(allowed) else allowed)
        if not isinstance(v, list) or not v:
            fail(fld, f"must be a non-empty list of values from {ok}, got {_kind(v)}")
        for n, x in enumerate(v):
            if integer:
                msg = number_problem(x, integer=True)
                if msg:
                    fail(f"{fld}[{n}]", msg)
            choice(ok)(x, f"{fld}[{n}]", fail)
        if len(set(v)) != len(v):
            dup = next(x for x in v if v.count(x) > 1)
            fail(fld, f"lists {dup!r} twice")
        return tuple(sorted(int(x) for x in v)) if integer else tuple(v)
    return check


def list_of(item: Callable[[Any, str], Any], *, what: str) -> Check:
    """A non-empty list whose items ``item(value, path)`` validates."""
    def check(v, fld, fail):
        if not isinstance(v, list) or not v:
            fail(fld, f"must be a non-empty list of {what}, got {_kind(v)}")
        return [item(x, f"{fld}[{n}]") for n, x in enumerate(v)]
    return check


def keyed(keys: Iterable[str] | Callable[[], Iterable[str]], item: Callable[[Any, str], Any], *, what: str) -> Check:
    """A mapping {key: value} whose keys come from ``keys`` and whose values ``item`` validates."""
    def check(v, fld, fail):
        ok = list(keys() if callable(keys) else keys)
        if not isinstance(v, dict):
            fail(fld, f"must be a mapping of {what}, got {_kind(v)}")
        out = {}
        for k, x in v.items():
            if k not in ok:
                fail(f"{fld}.{k}", f"unknown key{did_you_mean(k, ok)}; allowed: the {what}, {ok}")
            out[k] = item(x, f"{fld}.{k}")
        return out
    return check
