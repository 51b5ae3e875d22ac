"""``sloserve sweep SPEC.yaml --out DIR``: a grid of cases on an executor; ``--summary DIR`` prints its tidy summary."""
from __future__ import annotations

import sys

from . import flags
from .common import print_frame, registry_choice


def _executors():
    from ..sweep import EXECUTORS
    return EXECUTORS


def cmd_sweep(args) -> int:
    from ..errors import InputError
    from ..paths import input_dir, input_file, output_dir
    if args.summary:
        return _summary(input_dir(args.summary, "sweep directory"))
    if not args.spec or not args.out:
        raise InputError(None, "spec", "give SPEC.yaml and --out DIR (or --summary DIR)")
    input_file(args.spec, "sweep spec")  # paths checked before any case runs
    output_dir(args.out, "sweep output directory")
    from ..sweep import run_sweep
    run = run_sweep(args.spec, args.out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                    memory_limit=args.memory_limit, overwrite=args.overwrite, retry_errors=args.retry_errors,
                    progress=False if args.quiet else None)
    print(f"{run.ran} cases run, {run.skipped} already done, {run.failed} failed, in {run.wall_s:.1f} s; "
          f"records in {run.out}/records", file=sys.stderr)
    _summary(args.out)
    return 1 if run.failed else 0


def _summary(out) -> int:
    from ..sweep import read_records, replanning_pays, summarize
    rec = read_records(out)
    if rec.empty:
        print("(no records)")
        return 0
    for study in sorted(rec["study"].unique()):
        s = summarize(rec, study)
        print_frame(f"{study}: {rec.loc[rec['study'] == study, 'case_id'].nunique()} cases", s)
        if study == "rolling" and len(s):
            print_frame("re-planning against the better static plan (cost_change, var_change: relative)",
                        replanning_pays(s))
    errs = rec[rec["status"] == "error"].drop_duplicates("case_id")
    if len(errs):
        print(f"\n{len(errs)} failed cases, e.g. {errs['error'].iloc[0]}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of cases (local or Dask), resumable; --summary DIR",
                       description="Expand SPEC.yaml into cases (scenarios x methods x seeds x stress x windows x "
                                   "replays), run them on an executor and store each case's rows as a Parquet "
                                   "partition as it finishes. A rerun skips finished cases, only with the same "
                                   "spec and inputs (else exit 2 naming the difference).",
                       epilog="exit codes: 0 ok, 1 some cases failed (recorded with their traceback), 2 bad input")
    p.add_argument("spec", nargs="?", help="the sweep spec (YAML)")
    p.add_argument("--out", help="output directory (manifest.json, records/*.parquet)")
    p.add_argument("--summary", metavar="DIR", help="print the tidy summary of a sweep directory and exit")
    p.add_argument("--executor", type=registry_choice(_executors), default=None,
                   help="local (in-process, serial) or dask (default: the spec's execution.executor, else local)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default $SLOSERVE_DASK_SCHEDULER, else a "
                        "LocalCluster")
    p.add_argument("--workers", type=flags.number(lo=1, hi=4096, integer=True), default=None, help="LocalCluster workers (default: one per core)")
    p.add_argument("--memory-limit", default=None, help="memory per LocalCluster worker (default 2GiB)")
    p.add_argument("--overwrite", action="store_true", help="start fresh instead of resuming")
    p.add_argument("--retry-errors", action="store_true", help="rerun the cases that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
