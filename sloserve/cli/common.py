"""Helpers every command module shares (no heavy imports at module level)."""
from __future__ import annotations

import argparse
import sys

PROBLEM_HELP = "a scenario YAML file or a directory written by `sloserve compile`"


def registry_choice(load):
    """An argparse ``type`` that accepts the names of a registry, loaded only when the flag is given
    (so building the parser imports nothing heavy); an unknown name is a usage error listing the valid ones."""
    def check(name: str) -> str:
        reg = load()
        if name not in reg:
            raise argparse.ArgumentTypeError(f"unknown {reg.family} {name!r}; choose one of {reg.names()}")
        return name
    return check


def methods_registry():
    from ..solvers import load_methods
    return load_methods()


def print_frame(title: str, df, out=None) -> None:
    import pandas as pd
    out = out or sys.stdout
    print(f"\n{title}", file=out)
    if df.empty:
        print("  (none)", file=out)
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 200,
                           "display.float_format", lambda v: f"{v:.4g}"):
        print(df.to_string(index=False), file=out)


def load_problem(path: str):
    """A scenario YAML or compiled directory -> compiled tables (imports the model only when run)."""
    from ..model import compile as _compile
    return _compile.load_problem(path)


def problem_path(path: str) -> str:
    """Check a PROBLEM argument before any work: a readable scenario file or a readable directory."""
    from pathlib import Path

    from ..paths import input_dir, input_file
    if Path(path).is_dir():
        input_dir(path, "directory of compiled tables")
    else:
        input_file(path, "scenario file (or directory written by `sloserve compile`)")
    return path
