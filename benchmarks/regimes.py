"""GH and AGH against the MILP on every instance regime and size class (sloserve.model.regimes).

    # 1. the MILP references (slow, resumable: rerun the same command to continue)
    .venv/bin/python benchmarks/regimes.py milp --sizes S,M,L,L+,XL --seeds 10 --time-limit 600
    # 2. GH and AGH on the same instances (fast; rerun after any change to the heuristics)
    .venv/bin/python benchmarks/regimes.py heuristics --sizes S,M,L,L+,XL --seeds 10
    # 3. the tables: docs/heuristics.md (between the regimes markers) and the speedup table
    .venv/bin/python benchmarks/regimes.py report

Raw rows: ``docs/regimes_milp.csv`` (one cold MILP solve per instance: status, objective, bound, the
incumbent and bound trajectories) and ``docs/regimes_heuristics.csv`` (GH and AGH: cost, time, how
AGH stopped). Both record the 1-minute load average before and after each run, and a fingerprint of
the compiled tables, so a reference is never compared with a different instance. The MILP runs are
independent of the heuristics: re-running step 2 (e.g. on a quiet machine) reuses the references.

Gap = (cost − reference)/reference; the reference is the MILP optimum (status optimal, gap ≤ 1e-4),
else its best proven bound at the time limit (the table says which, per row).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sloserve.errors import InfeasibleError
from sloserve.model.regimes import REGIMES, regime_instance
from sloserve.problem.instance import build_instance
from sloserve.problem.size import SIZE_CLASSES
from sloserve.solvers import METHODS, SolveOptions, load_methods

from docblock import write_block  # benchmarks/docblock.py (this script's folder is on sys.path)
from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MILP_CSV = DOCS / "regimes_milp.csv"
HEUR_CSV = DOCS / "regimes_heuristics.csv"


def seeds_of(text: str) -> list[int]:
    """``0-9`` or ``0,3,5``; raises ``ValueError`` on anything else."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def seeds_arg(ap: argparse.ArgumentParser, text: str, flag: str = "--seeds") -> list[int]:
    """:func:`seeds_of`, or a usage error (exit 2) naming ``flag``."""
    try:
        seeds = seeds_of(text)
    except ValueError:
        ap.error(f"{flag}: expected A-B or a comma-separated list of integers, got {text!r}")
    if not seeds or min(seeds) < 0:
        ap.error(f"{flag}: expected non-negative seeds, got {text!r}")
    return seeds


def choices_arg(ap: argparse.ArgumentParser, text: str, allowed, flag: str) -> list[str]:
    """A comma-separated list whose every item is in ``allowed``, or a usage error (exit 2) naming ``flag``."""
    items = text.split(",")
    unknown = [v for v in items if v not in allowed]
    if unknown:
        ap.error(f"{flag}: unknown {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return items


def fingerprint(compiled) -> str:
    """SHA-256 (first 16 hex digits) of the tables a method reads."""
    h = hashlib.sha256()
    for df in (compiled.query_types, compiled.configs, compiled.routes, compiled.gpus, compiled.models):
        h.update(pd.util.hash_pandas_object(df.reset_index(drop=True), index=False).values.tobytes())
    h.update(json.dumps(compiled.options.__dict__, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def instances(sizes, regimes, seeds):
    for size in sizes:
        for regime in regimes:
            for seed in seeds:
                yield regime, size, seed


def _done(path: Path) -> set:
    if not path.exists():
        return set()
    df = pd.read_csv(path)
    return set(zip(df["regime"], df["size"], df["seed"].astype(int), df["fingerprint"]))


def _append(path: Path, row: dict) -> None:
    """One row, in the file's column order (a row missing a field, e.g. a method without a plan, gets an
    empty cell instead of shifting the others); a field the file lacks is refused (rerun with --overwrite)."""
    df = pd.DataFrame([row])
    if path.exists():
        cols = pd.read_csv(path, nrows=0).columns
        extra = [c for c in df.columns if c not in cols]
        if extra:
            raise SystemExit(f"{path}: the row has columns the file lacks ({', '.join(extra)}); rerun with --overwrite")
        df = df.reindex(columns=cols)
    df.to_csv(path, mode="a", header=not path.exists(), index=False)


def run_milp(args) -> None:
    from sloserve.solvers import milp
    done = _done(MILP_CSV)
    for regime, size, seed in instances(args.sizes, args.regimes, args.seeds):
        ri = regime_instance(regime, size, seed)
        fp = fingerprint(ri.compiled)
        if (regime, size, seed, fp) in done:
            continue
        inst = build_instance(ri.compiled)
        y, x, u = ri.witness
        l0 = load1()
        t0 = time.perf_counter()
        m = milp.create_pyomo_instance(inst)
        build_s = time.perf_counter() - t0
        bounds: list[tuple[float, float]] = []

        def progress(p):
            if p.bound is not None:
                bounds.append((round(p.elapsed_s, 3), p.bound))

        res = milp.solve_instance(m, time_limit_s=args.time_limit, on_progress=progress)
        plan = milp.to_plan(m, res) if res.has_solution else None
        row = {"regime": regime, "size": size, "seed": seed, "fingerprint": fp, "size_class": ri.size_class,
               "query_types": inst.I, "configs": inst.C, "routes": inst.R, "models": len(inst.model_ids),
               "gpu_types": len(inst.gpu_ids), "witness_cost": inst.objective(y, u, x),
               "milp_status": str(res.status), "milp_objective": plan.objective if plan else np.nan,
               "milp_bound": res.bound if res.bound is not None else np.nan, "milp_solve_s": res.runtime_s,
               "milp_build_s": build_s, "time_limit_s": args.time_limit,
               "incumbents": json.dumps([[round(t, 3), round(o, 6)] for t, o in res.incumbents]),
               "bounds": json.dumps(bounds[::max(1, len(bounds) // 200)] + bounds[-1:]),
               "budget_spent": (plan.objective if plan else np.nan), "budget": inst.budget,
               "load_before": l0, "load_after": load1()}
        if plan is not None and np.isfinite(inst.budget):  # does the budget bind at the MILP's plan?
            from sloserve.problem.plan import arrays_from_plan
            a = arrays_from_plan(inst, plan)
            row["budget_spent"] = float(inst.cost @ a.y + inst.fixed_cost_of(a.y, a.x))
        _append(MILP_CSV, row)
        print(f"{regime:12s} {size:3s} s{seed} [{ri.size_class}] I={inst.I} C={inst.C} R={inst.R}: "
              f"{row['milp_status']} {row['milp_objective']:.2f} bound {row['milp_bound']:.2f} "
              f"in {res.runtime_s:.1f} s (load {l0}->{row['load_after']})", flush=True)


def run_heuristics(args) -> None:
    load_methods()
    done = set() if args.overwrite else _done(HEUR_CSV)
    if args.overwrite and HEUR_CSV.exists():
        HEUR_CSV.unlink()
    for regime, size, seed in instances(args.sizes, args.regimes, args.seeds):
        ri = regime_instance(regime, size, seed)
        fp = fingerprint(ri.compiled)
        if (regime, size, seed, fp) in done:
            continue
        inst = build_instance(ri.compiled)
        row = {"regime": regime, "size": size, "seed": seed, "fingerprint": fp, "size_class": ri.size_class,
               "query_types": inst.I, "configs": inst.C, "routes": inst.R}
        for name in ("gh", "agh"):
            l0 = load1()
            t0 = time.perf_counter()
            try:
                p = METHODS.get(name)(inst, SolveOptions(seed=0))
                row[f"{name}_cost"] = p.objective
                ex = p.extra.get(name) or {}
                if name == "gh":
                    row["gh_fallback"] = ex.get("fallback")
                else:
                    row["agh_stopped_by"] = ex.get("stopped_by")
                    row["agh_best_start"] = ex.get("best_start")
                    row["agh_lp_bound"] = ex.get("lp_bound")
                    row["agh_work"] = json.dumps(ex.get("work", {}))
            except InfeasibleError:
                row[f"{name}_cost"] = np.nan
            row[f"{name}_time_s"] = time.perf_counter() - t0
            row[f"{name}_load"] = l0
        _append(HEUR_CSV, row)
        print(f"{regime:12s} {size:3s} s{seed} [{ri.size_class}]: GH {row['gh_cost']:.2f} ({row['gh_time_s']:.3f} s, "
              f"{row.get('gh_fallback')}) AGH {row['agh_cost']:.2f} ({row['agh_time_s']:.2f} s, "
              f"{row.get('agh_stopped_by')}, {row.get('agh_best_start')}) load {row['agh_load']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("milp", "heuristics", "report"))
    ap.add_argument("--sizes", default=",".join(SIZE_CLASSES))
    ap.add_argument("--regimes", default=",".join(REGIMES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=600.0, help="MILP time limit, s (default 600: ten minutes)")
    ap.add_argument("--overwrite", action="store_true", help="heuristics: start the CSV afresh")
    ap.add_argument("--no-doc", action="store_true", help="report: print only, leave docs/heuristics.md as it is")
    args = ap.parse_args()
    args.sizes = choices_arg(ap, args.sizes, SIZE_CLASSES, "--sizes")
    args.regimes = choices_arg(ap, args.regimes, REGIMES, "--regimes")
    if args.seeds < 1 or args.first_seed < 0:
        ap.error(f"--seeds / --first-seed: expected a count >= 1 from a seed >= 0, got {args.seeds} from {args.first_seed}")
    if args.step == "milp" and not args.time_limit > 0:
        ap.error(f"--time-limit: must be > 0 seconds, got {args.time_limit:g}")
    args.seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.step == "milp":
        run_milp(args)
    elif args.step == "heuristics":
        run_heuristics(args)
    else:
        report(args)


#: AGH's gap targets by size class (#16); L+ sits between L and XL and is held to XL's
GAP_TARGET = {"S": 0.01, "M": 0.01, "L": 0.02, "L+": 0.03, "XL": 0.03}
#: AGH time targets (s) by size class; GH's: 0.1 s on L
AGH_TIME_TARGET = {"L": 1.0, "L+": 3.0, "XL": 3.0}
GH_TIME_TARGET = {"L": 0.1}
BEGIN, END = "<!-- regimes:begin -->", "<!-- regimes:end -->"


def reference(r) -> tuple[float, str]:
    """(reference $/h, "opt" | "bound" | "none") of one MILP row: the optimum when proven, else the best
    bound when it is positive (a bound of 0 — the MILP's root not finished — says nothing)."""
    if r["milp_status"] == "optimal" and np.isfinite(r["milp_objective"]):
        return float(r["milp_objective"]), "opt"
    if np.isfinite(r["milp_bound"]) and r["milp_bound"] > 0:
        return float(r["milp_bound"]), "bound"
    return math.nan, "none"


def _time_to(incumbents: str, cost: float) -> float:
    """Seconds after the MILP's solve started at which its incumbent first cost ≤ ``cost`` (inf: never)."""
    for t, o in json.loads(incumbents):
        if o <= cost * (1 + 1e-6) + 1e-9:
            return float(t)
    return math.inf


def _best_by(incumbents: str, t_max: float) -> float:
    """The MILP's best incumbent cost within ``t_max`` s of its solve start (nan: none yet)."""
    best = math.nan
    for t, o in json.loads(incumbents):
        if t <= t_max and not (o >= best):
            best = o
    return best


def _joined() -> pd.DataFrame:
    m = pd.read_csv(MILP_CSV)
    h = pd.read_csv(HEUR_CSV)
    df = h.merge(m.drop(columns=["size_class", "query_types", "configs", "routes"]),
                 on=["regime", "size", "seed", "fingerprint"], how="inner")
    ref = df.apply(reference, axis=1, result_type="expand")
    df["ref"], df["ref_kind"] = ref[0], ref[1]
    for name in ("gh", "agh"):
        df[f"{name}_gap"] = (df[f"{name}_cost"] - df["ref"]) / df["ref"].abs().clip(lower=1e-9)
    df["milp_to_agh_s"] = [_time_to(i, c) for i, c in zip(df["incumbents"], df["agh_cost"])]
    df["milp_at_agh_time"] = [_best_by(i, t) for i, t in zip(df["incumbents"], df["agh_time_s"])]
    return df


def _pct(v: float) -> str:
    """A gap in percent; |v| < 5e-5 (the MILP's own optimality tolerance is 1e-4) prints as 0.00%."""
    return "—" if not np.isfinite(v) else f"{100 * (0.0 if abs(v) < 5e-5 else v):.2f}%"


def _s(v: float) -> str:
    return "—" if not np.isfinite(v) else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.0f}")


def regime_table(df: pd.DataFrame) -> list[str]:
    """The regime × size table: gaps vs the reference, times, targets."""
    out = ["| size (class) | regime | n | reference | AGH gap median / worst | AGH s median / worst | "
           "GH gap median | GH s median / worst | AGH stopped by cap | GH LP fallback | targets |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for size in [s for s in SIZE_CLASSES if s in set(df["size_class"])]:
        for regime in [r for r in REGIMES if r in set(df["regime"])]:
            g = df[(df["size_class"] == size) & (df["regime"] == regime)]
            if g.empty:
                continue
            kinds = g["ref_kind"].value_counts()
            ref = ", ".join(f"{kinds[k]} {k}" for k in ("opt", "bound", "none") if k in kinds)
            ag, at, gt = g["agh_gap"].dropna(), g["agh_time_s"], g["gh_time_s"]
            miss = []
            if ag.empty:
                miss.append("gap unknown (no reference)")
            elif ag.max() > GAP_TARGET[size] + 1e-9:
                miss.append(f"gap > {100 * GAP_TARGET[size]:.0f}%")
            if size in AGH_TIME_TARGET and at.max() > AGH_TIME_TARGET[size]:
                miss.append(f"AGH > {AGH_TIME_TARGET[size]:g} s")
            if size in GH_TIME_TARGET and gt.max() > GH_TIME_TARGET[size]:
                miss.append(f"GH > {GH_TIME_TARGET[size]:g} s")
            out.append(f"| {size} | {regime} | {len(g)} | {ref} | {_pct(ag.median()) if len(ag) else '—'} / {_pct(ag.max()) if len(ag) else '—'} | "
                       f"{_s(at.median())} / {_s(at.max())} | {_pct(g['gh_gap'].dropna().median()) if len(ag) else '—'} | "
                       f"{_s(gt.median())} / {_s(gt.max())} | {int((g['agh_stopped_by'] == 'time_cap').sum())} | "
                       f"{int(g['gh_fallback'].notna().sum())} | {'met' if not miss else '**missed**: ' + ', '.join(miss)} |")
    return out


def speedup_table(df: pd.DataFrame) -> list[str]:
    """Per size class: AGH time vs the MILP's time to optimal and to AGH's cost, and what the MILP has at AGH's time."""
    out = ["| size (class) | n | MILP optimal / limit | AGH s median | MILP s to optimal median (max) | "
           "speedup to optimal (median of ratios) | MILP s to AGH's cost median (max; never) | "
           "speedup to AGH's cost | MILP at AGH's time: no plan / median gap of its plan |",
           "|---|---|---|---|---|---|---|---|---|"]
    for size in [s for s in SIZE_CLASSES if s in set(df["size_class"])]:
        g = df[df["size_class"] == size]
        opt = g[g["ref_kind"] == "opt"]
        tto = opt["milp_solve_s"] + opt["milp_build_s"]
        sp_opt = (tto / opt["agh_time_s"]).median() if len(opt) else math.nan
        tta = g["milp_to_agh_s"] + g["milp_build_s"]
        reached = np.isfinite(tta)
        sp_agh = (tta[reached] / g["agh_time_s"][reached]).median() if reached.any() else math.nan
        at = g["milp_at_agh_time"]  # incumbents are timed from the solve start: the build is not charged
        none = int(at.isna().sum())
        gap_at = ((at - g["ref"]) / g["ref"].abs().clip(lower=1e-9)).median()
        lim = ", ".join(f"{int(v)} s" for v in sorted(set(g["time_limit_s"])))
        out.append(f"| {size} | {len(g)} | {len(opt)} / {lim} | {_s(g['agh_time_s'].median())} | "
                   f"{_s(tto.median()) if len(opt) else '—'} ({_s(tto.max()) if len(opt) else '—'}) | "
                   f"{sp_opt:.0f}× | {_s(tta[reached].median()) if reached.any() else '—'} "
                   f"({_s(tta[reached].max()) if reached.any() else '—'}; {int((~reached).sum())}) | "
                   f"{sp_agh:.0f}× | {none} / {_pct(gap_at)} |")
    return out


def report(args) -> None:
    df = _joined()
    df = df[df["regime"].isin(args.regimes) & df["size"].isin(args.sizes) & df["seed"].isin(list(args.seeds))]
    loads = df["agh_load"]
    head = [f"Machine: {describe()}. Heuristic runs: 1-minute load average {loads.min():.2f}–{loads.max():.2f} "
            f"(median {loads.median():.2f}); MILP runs: {df['load_before'].min():.2f}–{df['load_before'].max():.2f}. "
            f"Seeds per (regime, size): {df.groupby(['regime', 'size']).size().min()}–"
            f"{df.groupby(['regime', 'size']).size().max()} (seeds {df['seed'].min()}–{df['seed'].max()}).", ""]
    lines = head + ["**Regime × size** (gap = (cost − reference)/reference; reference = MILP optimum, or its best "
                    "proven bound where it did not converge in its time limit — then the gap is an upper bound):", ""]
    lines += regime_table(df) + ["", "**Speedup** (MILP times include building the Pyomo model; "
                                   "\"at AGH's time\" counts from the MILP's solve start, without the build):", ""]
    lines += speedup_table(df)
    text = "\n".join(lines)
    print(text)
    if args.no_doc:
        return
    write_block(DOCS / "heuristics.md", BEGIN, END, text, generator="benchmarks/regimes.py report",
                heading="Regimes (benchmarks/regimes.py)")


if __name__ == "__main__":
    main()
