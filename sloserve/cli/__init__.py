"""The ``sloserve`` command line — the only package that imports argparse.

:mod:`.main` builds the parser and maps sloserve's exceptions to exit codes (0 ok; 1 infeasible
or violated; 2 bad input); each command lives in the module of its stage (:mod:`.plan`,
:mod:`.evaluate`, :mod:`.traces`) and imports the heavy libraries only when it runs, so
``sloserve --help`` stays fast.
"""
from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
