"""Parser assembly and the one error formatter mapping exceptions to exit codes."""
from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import EXIT_BAD_INPUT, EXIT_OK, InputError, SloserveError
from . import evaluate, plan, simulate, sweep, traces


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="sloserve",
        description="Plan SLO-constrained LLM inference in heterogeneous GPU clouds: which models, on which GPUs, "
                    "with which TP/PP, serving which traffic, at the lowest cost.",
        epilog="exit codes: 0 ok, 1 infeasible or violated, 2 bad input")
    ap.add_argument("--version", action="version", version=f"sloserve {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (plan, traces, evaluate, simulate, sweep):
        module.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except SystemExit as e:  # argparse: usage errors are bad input
        return int(e.code) if isinstance(e.code, int) else EXIT_BAD_INPUT
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SloserveError as e:
        print(f"{type(e).__name__.replace('Error', '').lower() or 'error'}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
