"""The ``calibrate`` command: traces -> query types -> scenario YAML."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from . import flags

from ..traces.choices import LABEL_METHODS, PROFILE_FIELDS, STATISTICS, TOKEN_STATISTICS, TYPE_RATES


def _parse_overrides(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """``["code.ttft_slo_s=0.5", "*.max_error=0.2", "conversation.e2e_slo_s=none"]`` -> nested dict."""
    out: dict[str, dict[str, Any]] = {}
    for it in items or []:
        if "=" not in it or "." not in it.split("=", 1)[0]:
            raise InputError(None, "--slo", f"expected SERVICE.FIELD=VALUE, got {it!r}")
        lhs, val = it.split("=", 1)
        svc, fld = lhs.split(".", 1)
        if fld not in PROFILE_FIELDS:
            raise InputError(None, "--slo", f"unknown field {fld!r} in {it!r}; allowed: {list(PROFILE_FIELDS)}")
        v: Any
        if val.lower() in ("none", "null", ""):
            v = None
        elif fld in ("family", "error_mode") or (fld == "e2e_slo_s" and val == "derived"):
            v = val
        else:
            try:
                v = float(val)
            except ValueError:
                raise InputError(None, "--slo", f"{lhs}: expected a number, got {val!r}") from None
        out.setdefault(svc, {})[fld] = v
    return out


def parse_columns(text: str | None) -> dict[str, str] | None:
    """``"arrival=time,input_tokens=in,output_tokens=out"`` -> the ``columns=`` mapping of the trace loader."""
    if text is None:
        return None
    out: dict[str, str] = {}
    for part in text.split(","):
        if "=" not in part or not part.split("=", 1)[0].strip() or not part.split("=", 1)[1].strip():
            raise InputError(None, "--columns", f"expected FIELD=COLUMN[,FIELD=COLUMN...], got {text!r}; fields: "
                                                "arrival, input_tokens, output_tokens, num_images")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def add_trace_flags(p) -> None:
    """Flags every command that reads traces shares."""
    p.add_argument("--columns", default=None, metavar="FIELD=COLUMN,...",
                   help="which columns of your CSV hold the arrival time and token counts, e.g. "
                        "arrival=time,input_tokens=prompt,output_tokens=completion (default: the Azure names)")


def add_commands(subparsers) -> argparse.ArgumentParser:
    """Add the ``calibrate`` subcommand; returns its parser."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate a scenario YAML from LLM inference traces",
        description="Split trace requests into query types per service, measure their arrival rates "
                    "and token sizes, and write a scenario YAML. TRACE is a CSV/CSV.gz file or a known "
                    "trace key (azure-2023-code, azure-2023-conv, azure-2024-code, azure-2024-conv, "
                    "azure-2025-multimodal).")
    p.add_argument("traces", nargs="+", metavar="TRACE")
    p.add_argument("--window", default="5min", type=flags.duration, help="rate window, e.g. 1min, 5min, 1h (default 5min)")
    p.add_argument("--percentile", "--statistic", dest="statistic", default="p95", choices=STATISTICS,
                   help="provisioning statistic of the windowed rate (default p95)")
    p.add_argument("--scale", type=flags.number(lo=0, hi=1e6), default=1.0, help="multiply every rate, in [0, 1e6] (default 1)")
    p.add_argument("--types-per-service", type=flags.number(lo=1, hi=1000, integer=True), default=3,
                   help="query types per service, in [1, 1000] (default 3)")
    p.add_argument("--method", default="kmeans", choices=LABEL_METHODS, help="how to split types (default kmeans)")
    p.add_argument("--tokens", default="mean", choices=TOKEN_STATISTICS,
                   help="token statistic used as the type's size (default mean)")
    p.add_argument("--type-rates", default="share", choices=TYPE_RATES,
                   help="per-type rate: service statistic x share (default) or each type's own statistic")
    p.add_argument("--service", action="append", default=None,
                   help="service of each TRACE, in order (default: from the file name)")
    p.add_argument("--slo", action="append", default=None, metavar="SERVICE.FIELD=VALUE",
                   help="override a per-service default, e.g. code.ttft_slo_s=0.5, *.max_error=0.25")
    p.add_argument("--name", default=None, help="scenario name (default from the trace files)")
    p.add_argument("--seed", type=flags.SEED, default=0)
    p.add_argument("--trace-dir", default=None, help="directory of local trace copies (else $SLOSERVE_TRACE_DIR)")
    p.add_argument("--no-download", action="store_true", help="never download known traces")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop bad rows (and report them) instead of failing")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar while loading (default: when stderr is a terminal)")
    add_trace_flags(p)
    p.add_argument("--out", "-o", default=None, help="output YAML (default: print to stdout)")
    p.set_defaults(func=_cli_calibrate)
    return p


def _default_name(paths: Sequence[Path]) -> str:
    names = " ".join(p.name.lower() for p in paths)
    if "multimodal" in names:
        return "azure-2025"
    if "1week" in names:
        return "azure-2024"
    if "azurellminferencetrace" in names:
        return "azure-2023"
    return "calibrated"


def _cli_calibrate(args: argparse.Namespace) -> int:
    from ..model.scenario import scenario_from_dict
    from ..paths import input_dir, output_file
    from ..traces.calibrate import calibrate, write_scenario_yaml
    from ..traces.trace import load_traces, resolve_trace

    if args.trace_dir:
        input_dir(args.trace_dir, "--trace-dir directory")
    paths = [resolve_trace(t, args.trace_dir, download=not args.no_download) for t in args.traces]
    if args.service is not None and len(args.service) != len(paths):
        raise InputError(None, "--service", f"give one --service per TRACE ({len(paths)}), got {len(args.service)}")
    if args.out is not None:  # before a week-long trace is read
        output_file(args.out, "--out scenario file", inputs=paths)
    overrides = _parse_overrides(args.slo)
    trace = load_traces(paths, services=args.service, on_bad_rows="skip" if args.skip_bad_rows else "error",
                        progress=args.progress, columns=parse_columns(args.columns))
    for src, sk in trace.attrs.get("skipped_by_file", {}).items():
        if sk:
            first = trace.attrs.get("skipped_first_line", {}).get(src, {})
            detail = ", ".join(f"{v} {k} (first at line {first.get(k, '?')})" for k, v in sorted(sk.items()))
            print(f"note: {src}: skipped {sum(sk.values())} rows: {detail}", file=sys.stderr)
    notes: list[str] = []
    scen = calibrate(trace, window=args.window, statistic=args.statistic, scale=args.scale,
                     types_per_service=args.types_per_service, slo_defaults=overrides,
                     name=args.name or _default_name(paths), method=args.method, tokens=args.tokens,
                     type_rates=args.type_rates, seed=args.seed, notes=notes)
    # what calibrate wrote must be a scenario sloserve reads: say so now, not when it is compiled
    scenario_from_dict(scen, f"the scenario calibrated from {', '.join(p.name for p in paths)}")
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    cmd = "sloserve calibrate " + " ".join(shlex.quote(a) for a in _cli_argv(args, paths))
    text = write_scenario_yaml(scen, args.out, command=cmd, sources=[p.name for p in paths], notes=notes)
    if args.out is None:
        sys.stdout.write(text)
    else:
        n = len(scen["query_types"])
        tot = sum(q["rate_rps"] for q in scen["query_types"])
        print(f"wrote {args.out}: {n} query types, total {args.statistic} rate {tot:.3f} req/s", file=sys.stderr)
    return 0


def _cli_argv(args: argparse.Namespace, paths: Sequence[Path]) -> list[str]:
    """A reproducible command line (trace file names, not local paths) for the YAML header."""
    argv = [p.name for p in paths]
    argv += ["--window", str(args.window), "--percentile", args.statistic, "--scale", f"{args.scale:g}",
             "--types-per-service", str(args.types_per_service)]
    if args.method != "kmeans":
        argv += ["--method", args.method]
    if args.tokens != "mean":
        argv += ["--tokens", args.tokens]
    if args.type_rates != "share":
        argv += ["--type-rates", args.type_rates]
    for s in args.service or []:
        argv += ["--service", s]
    for s in args.slo or []:
        argv += ["--slo", s]
    if args.columns:
        argv += ["--columns", args.columns]
    if args.seed:
        argv += ["--seed", str(args.seed)]
    if args.name:
        argv += ["--name", args.name]
    if args.skip_bad_rows:
        argv.append("--skip-bad-rows")
    if args.out:
        argv += ["--out", Path(args.out).name]
    return argv
