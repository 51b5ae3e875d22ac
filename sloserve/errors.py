"""Errors that the CLI maps to exit codes, in one place.

``InputError``      bad input (file, field, what is allowed)      -> exit 2
``InfeasibleError`` a well-formed problem that has no plan, with a
                    diagnosis a user can act on                     -> exit 1
anything else       a bug of sloserve's: one line asking for a report
                    (the traceback with ``sloserve --debug``)      -> exit 3
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_INFEASIBLE = 1  # also: a plan that violates constraints
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3  # an exception sloserve did not raise on purpose: a bug to report


class SloserveError(Exception):
    """Base class of every error sloserve raises on purpose."""

    exit_code = 1


class InputError(SloserveError, ValueError):
    """Bad input: names the file, the field (and row, if any) and what is allowed.

    >>> str(InputError("s.yaml", "query_types[2].rate_rps", "must be >= 0, got -1"))
    's.yaml: query_types[2].rate_rps: must be >= 0, got -1'
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, file: str | None, field: str | None, message: str, row: int | None = None):
        self.file = None if file is None else str(file)
        self.field = field
        self.row = row
        self.message = message
        parts = [p for p in (self.file, None if row is None else f"row {row}", field) if p]
        super().__init__(": ".join(parts + [message]))


class InfeasibleError(SloserveError):
    """No plan exists (or none was found); ``diagnosis`` lists what to relax, one line each."""

    exit_code = EXIT_INFEASIBLE

    def __init__(self, message: str, diagnosis: list[str] | None = None):
        self.diagnosis = list(diagnosis or [])
        text = message if not self.diagnosis else message + "\n" + "\n".join(f"  - {d}" for d in self.diagnosis)
        super().__init__(text)
