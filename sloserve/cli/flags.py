"""Flag values checked when the command line is parsed: argparse ``type=`` functions with ranges.

A bad value is a usage error (exit 2) naming the flag and what is allowed, before anything is
loaded: ``--seed -1``, ``--time-limit -5``, ``--gap nan`` or ``--factors 1,x`` never reach a solver.
"""
from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float | int:
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def number(*, lo: float | None = None, hi: float | None = None, lo_open: bool = False, integer: bool = False,
           why: str = ""):
    """A flag type: an int or float within [lo, hi] (lo_open: > lo); ``why`` explains the range."""
    kind = int if integer else float

    def parse(text: str):
        v = _number(text, kind)
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo:g}{why}, got {text}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi:g}{why}, got {text}")
        return v
    parse.__name__ = "integer" if integer else "number"  # argparse names the type in its messages
    return parse


def number_list(*, lo: float | None = None, hi: float | None = None, what: str = "numbers"):
    """A flag type: comma-separated finite numbers within [lo, hi], at least one."""
    one = number(lo=lo, hi=hi)

    def parse(text: str) -> list[float]:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, e.g. 1.0,1.2,1.5, got {text!r}")
        out = []
        for p in parts:
            try:
                out.append(one(p))
            except argparse.ArgumentTypeError as e:
                raise argparse.ArgumentTypeError(f"{p!r} in {text!r}: {e}") from None
        return out
    parse.__name__ = "list"
    return parse


def name_list(load, *, what: str):
    """A flag type: comma-separated names of a registry (``load()`` returns it), each once."""
    def parse(text: str) -> list[str]:
        names = [p.strip() for p in text.split(",")]
        reg = load()
        for n in names:
            if n not in reg:
                raise argparse.ArgumentTypeError(f"unknown {what} {n!r}; choose from {reg.names()}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"names a {what} twice: {text!r}")
        return names
    parse.__name__ = "list"
    return parse


def duration(text: str) -> str:
    """A window length like 5min, 30s, 1h (checked now, used as text)."""
    from ..traces.windows import window_seconds  # pandas, only when the flag is given
    from ..errors import InputError
    try:
        window_seconds(text)
    except InputError as e:
        raise argparse.ArgumentTypeError(e.message) from None
    return text


duration.__name__ = "duration"

SEED = number(lo=0, hi=2**63 - 1, integer=True, why=" (a seed of numpy's generator)")
TIME_LIMIT = number(lo=0, lo_open=True, why=" seconds")
GAP = number(lo=0, why=" (a relative gap; above 1 stops at the first plan found)")
THREADS = number(lo=1, hi=4096, integer=True)
COUNT = number(lo=1, hi=1_000_000, integer=True)
ATTAINMENT = number(lo=0, lo_open=True, hi=1, why=" (a share of requests)")
