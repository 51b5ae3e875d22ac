"""Size classes of a planning problem, by what the methods' work grows with: routes and configurations.

An instance's class is a function of its tables only (never of the generator or preset that made it),
so every part that scales a budget with size — AGH's work budget, the benchmarks' targets — reads it
from here:

    class   routes R          configurations C
    S       R <  5 000        C ≤   400
    M       R < 20 000        C ≤ 1 000
    L       R < 50 000        C ≤ 1 500
    L+      R < 80 000        C ≤ 2 000
    XL      R ≥ 80 000        C > 2 000

The class is the larger of the class by routes and the class by configurations. (The presets of
``sloserve.model.generate``: S 1.7k routes/296 configurations, M 9.3k/825, L 34k/1 293, XL 89k/1 665.)
"""
from __future__ import annotations

#: size classes, smallest first
SIZE_CLASSES = ("S", "M", "L", "L+", "XL")
#: upper ends (exclusive) of the route ranges of S, M, L, L+; XL is everything above
ROUTE_LIMITS = (5_000, 20_000, 50_000, 80_000)
#: upper ends (inclusive) of the configuration ranges of S, M, L, L+
CONFIG_LIMITS = (400, 1_000, 1_500, 2_000)


def size_rank(R: int, C: int) -> int:
    """Index into :data:`SIZE_CLASSES` of an instance with ``R`` routes and ``C`` configurations."""
    by_r = sum(R >= lim for lim in ROUTE_LIMITS)
    by_c = sum(C > lim for lim in CONFIG_LIMITS)
    return max(by_r, by_c)


def size_class(R: int, C: int) -> str:
    """The size class (``S``, ``M``, ``L``, ``L+`` or ``XL``) of an instance with ``R`` routes, ``C`` configurations."""
    return SIZE_CLASSES[size_rank(R, C)]


def route_range(size: str) -> tuple[int, float]:
    """[lower, upper) route range of a size class (what a generator aims for)."""
    k = SIZE_CLASSES.index(size)
    lo = 0 if k == 0 else ROUTE_LIMITS[k - 1]
    hi = ROUTE_LIMITS[k] if k < len(ROUTE_LIMITS) else float("inf")
    return lo, hi
