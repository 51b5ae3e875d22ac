"""One registry recipe for every pluggable family (methods, schedulers, predictors, orders,
forecasters, executors, stress modes, routers).

An implementation registers itself with a decorator next to its code::

    METHODS = Registry("method")

    @METHODS.register("gh", help="greedy heuristic")
    def gh(inst, opts): ...

A duplicate name raises :class:`RegistryError` (a programming error, never user input); an unknown
name raises :class:`~sloserve.errors.InputError` listing the valid names; :meth:`Registry.names`
feeds CLI ``choices`` and widget dropdowns. A registry holds only what has been imported: the
package that owns a family imports its implementations explicitly (no module names as strings).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from .errors import InputError

T = TypeVar("T")


class RegistryError(RuntimeError):
    """A family registered the same name twice: a bug in sloserve or a plug-in, not user input."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered implementation: its name, the object and a one-line help text."""

    name: str
    obj: T
    help: str = ""


class Registry(Generic[T]):
    """Name -> implementation for one family; ``family`` names it in messages ("method", "scheduler")."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, *, help: str = "") -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; raises :class:`RegistryError` on a duplicate."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.family} names must be non-empty strings, got {name!r}")

        def deco(obj: T) -> T:
            self.add(name, obj, help=help)
            return obj

        return deco

    def add(self, name: str, obj: T, *, help: str = "") -> None:
        """Register ``obj`` under ``name`` (the decorator's non-decorator form)."""
        if name in self._entries:
            raise RegistryError(f"{self.family} {name!r} is registered twice "
                                f"({self._entries[name].obj!r} and {obj!r})")
        self._entries[name] = Entry(name, obj, help)

    def get(self, name: str, field: str | None = None) -> T:
        """The implementation called ``name``; an unknown name raises InputError listing the valid ones."""
        return self.entry(name, field).obj

    def entry(self, name: str, field: str | None = None) -> Entry[T]:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise InputError(None, field or self.family,
                             f"unknown {self.family} {name!r}; choose one of {self.names()}") from None

    def names(self) -> list[str]:
        """Registered names, sorted (CLI choices, widget options)."""
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self.names())})"
