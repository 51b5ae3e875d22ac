"""Before/after check of a refactoring: same tables, same plans, same speed — measured side by side.

    .venv/bin/python benchmarks/seams.py --baseline /path/to/a/checkout/of/the/old/commit [--repeats 3]

Runs the same probe against the checkout under ``--baseline`` (its ``sloserve`` package first on
``PYTHONPATH``) and against this repository, in separate interpreters, and prints:

1. **byte identity** of every compiled table both versions write (generated S and XL, seed 0;
   ``scenario.json`` without its ``compile_seconds``, a wall time);
2. **plan identity** of every method on the generated benchmark seeds (gh and agh on S/M/L seeds
   0-2 and XL seed 0; milp on S/M seeds 0-2): replicas and routing fractions equal to 1e-9;
3. **speed**: compile XL, AGH on L (seed 0), MILP on M (seed 0); old and new runs interleaved,
   median of ``--repeats``, and the ratio new/old.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]

PROBE = r'''
import json, sys, time, hashlib
from pathlib import Path
import sloserve as ss
task, out = sys.argv[1], Path(sys.argv[2])
if task == "tables":
    res = {}
    for preset in ("S", "XL"):
        d = out / preset
        ss.write_compiled(ss.compile_scenario(ss.generate_scenario(preset, 0)), d)
        res[preset] = {}
        for p in sorted(d.iterdir()):
            data = p.read_bytes()
            if p.name == "scenario.json":  # compile_seconds is a wall time: everything else must match
                meta = json.loads(data); meta.pop("compile_seconds", None); data = json.dumps(meta, sort_keys=True).encode()
            res[preset][p.name] = hashlib.sha256(data).hexdigest()
    print(json.dumps(res))
elif task == "plans":
    res = {}
    jobs = [(p, s, m) for p in ("S", "M", "L") for s in (0, 1, 2) for m in ("gh", "agh")] + [("XL", 0, "gh"), ("XL", 0, "agh")]
    jobs += [(p, s, "milp") for p in ("S", "M") for s in (0, 1, 2)]
    cache = {}
    for p, s, m in jobs:
        if (p, s) not in cache:
            cache[p, s] = ss.build_instance(ss.compile_scenario(ss.generate_scenario(p, s)))
        plan = ss.solve(cache[p, s], m)
        res[f"{p}/{s}/{m}"] = {"objective": plan.objective, "replicas": plan.replicas,
                               "routing": sorted((r["query_type"], r["config"], r["fraction"]) for r in plan.routing),
                               "stopped_by": (plan.extra.get("agh") or {}).get("stopped_by")}
    print(json.dumps(res))
elif task == "time":
    what = sys.argv[3]
    if what == "compile_xl":
        sc = ss.generate_scenario("XL", 0); t = time.perf_counter(); ss.compile_scenario(sc)
    else:
        preset, method = {"agh_l": ("L", "agh"), "milp_m": ("M", "milp")}[what]
        inst = ss.build_instance(ss.compile_scenario(ss.generate_scenario(preset, 0)))
        t = time.perf_counter(); ss.solve(inst, method)
    print(json.dumps(time.perf_counter() - t))
'''


def run(root: Path, *args: str):
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=root)
    if out.returncode != 0:
        raise SystemExit(f"probe failed in {root}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, type=Path, help="a checkout of the commit before the change")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    old, new = args.baseline.resolve(), REPO
    print(f"machine: {describe()}\nbaseline: {old}\nthis:     {new}\n")
    with tempfile.TemporaryDirectory() as tmp:
        t_old, t_new = run(old, "tables", f"{tmp}/old"), run(new, "tables", f"{tmp}/new")
    print("1. compiled tables (sha256 per file)")
    same_tables = True
    for preset in t_old:
        for f, h in t_old[preset].items():
            ok = t_new[preset].get(f) == h
            same_tables &= ok
            print(f"   {preset:3} {f:18} {'identical' if ok else 'DIFFERENT'}")
        for f in sorted(set(t_new[preset]) - set(t_old[preset])):
            print(f"   {preset:3} {f:18} new in this version")
    p_old, p_new = run(old, "plans", "-"), run(new, "plans", "-")
    print("\n2. plans")
    same_plans = True
    for key in p_old:
        a, b = p_old[key], p_new[key]
        ok = (a["replicas"] == b["replicas"] and len(a["routing"]) == len(b["routing"])
              and all(x[:2] == y[:2] and abs(x[2] - y[2]) <= 1e-9 for x, y in zip(a["routing"], b["routing"]))
              and abs(a["objective"] - b["objective"]) <= 1e-9 * max(1.0, abs(a["objective"])))
        same_plans &= ok
        print(f"   {key:14} {a['objective']:10.4f} {b['objective']:10.4f}  {'identical' if ok else 'DIFFERENT'}"
              + (f"  (agh stopped by {a['stopped_by']}/{b['stopped_by']})" if a.get("stopped_by") else ""))
    print(f"\n3. speed (median of {args.repeats}, old and new interleaved)")
    print(f"   {'what':12} {'old s':>8} {'new s':>8} {'new/old':>8}")
    for what in ("compile_xl", "agh_l", "milp_m"):
        to, tn = [], []
        for _ in range(args.repeats):
            to.append(run(old, "time", "-", what))
            tn.append(run(new, "time", "-", what))
        mo, mn = statistics.median(to), statistics.median(tn)
        print(f"   {what:12} {mo:8.3f} {mn:8.3f} {mn / mo:8.2f}")
    print(f"\ntables identical: {same_tables}; plans identical: {same_plans}")


if __name__ == "__main__":
    main()
