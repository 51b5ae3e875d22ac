"""Parser assembly and the one error formatter mapping exceptions to exit codes."""
from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, InputError, SloserveError
from . import batch, evaluate, plan, simulate, sweep, traces


ISSUES_URL = "https://github.com/sloserve/sloserve/issues"


class Parser(argparse.ArgumentParser):
    """argparse with sloserve's error format: one line saying what is wrong, and where the usage is."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (usage: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="sloserve",
        description="Plan SLO-constrained LLM inference in heterogeneous GPU clouds: which models, on which GPUs, "
                    "with which TP/PP, serving which traffic, at the lowest cost.",
        epilog="exit codes: 0 ok, 1 infeasible or violated, 2 bad input, 3 internal error (a bug: please report it)")
    ap.add_argument("--version", action="version", version=f"sloserve {__version__}")
    ap.add_argument("--debug", action="store_true", help="on an internal error, show Python's traceback")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (plan, traces, evaluate, simulate, sweep, batch):
        module.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command; every outcome is an exit code and at most a few lines on stderr, never a traceback
    (except with ``--debug`` on an internal error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv[:argv.index("--")] if "--" in argv else "--debug" in argv
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
    except OSError as e:  # a path no check caught (they all should): still one line naming it
        if debug:
            raise
        from ..paths import reason
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{reason(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug of ours: one line, and the traceback only when asked for
        if debug:
            raise
        msg = " ".join(str(e).split())
        msg = msg if len(msg) <= 300 else msg[:297] + "..."
        print(f"internal error: {type(e).__name__}: {msg}; please report it at {ISSUES_URL} with the command you "
              f"ran; rerun with --debug for the traceback", file=sys.stderr)
        return EXIT_INTERNAL
