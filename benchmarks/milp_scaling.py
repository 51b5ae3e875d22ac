"""MILP scaling: solve time, status and gap with HiGHS on generated S, M, L, XL scenarios.

    python benchmarks/milp_scaling.py [--presets S,M,L,XL] [--seeds 0,1,2] [--time-limit 300]

Writes a table into docs/benchmarks.md between ``<!-- BEGIN milp_scaling -->`` and
``<!-- END milp_scaling -->`` (other sections are kept), with the machine it ran on.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from importlib.metadata import version
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the source tree, also without an install

import pyomo.environ as pyo  # noqa: E402

from sloserve import milp  # noqa: E402
from sloserve.model.compile import compile_scenario  # noqa: E402
from sloserve.model.generate import generate_scenario  # noqa: E402
from sloserve.problem.instance import build_instance  # noqa: E402

from machine import describe  # noqa: E402  benchmarks/machine.py

BEGIN, END = "<!-- BEGIN milp_scaling -->", "<!-- END milp_scaling -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    return f"{describe()}, Pyomo {version('pyomo')}, highspy {version('highspy')}"


def run_one(preset: str, seed: int, time_limit_s: float, threads: int | None) -> dict:
    t0 = time.perf_counter()
    compiled = compile_scenario(generate_scenario(preset, seed))
    t1 = time.perf_counter()
    inst = build_instance(compiled)
    m = milp.create_pyomo_instance(inst)
    t2 = time.perf_counter()
    res = milp.solve_instance(m, time_limit_s=time_limit_s, threads=threads)
    row = {"preset": preset, "seed": seed, "I": inst.I, "C": inst.C, "R": inst.R,
           "vars": m.nvariables(), "cons": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True)),
           "compile_s": t1 - t0, "build_s": t2 - t1, "solve_s": res.runtime_s, "status": res.status or res.termination,
           "objective": None, "bound": res.bound, "gap": None}
    if res.has_solution:
        plan = milp.to_plan(m, res)
        row.update(objective=plan.objective, gap=plan.extra.get("gap"))
    return row


def fmt(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = ("| preset | seed | query types | configs | routes | variables | constraints | build s | solve s "
            "| status | objective $/h | bound $/h | gap |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['seed']} | {r['I']} | {r['C']} | {r['R']} | {r['vars']} | {r['cons']} "
                     f"| {r['build_s']:.1f} | {r['solve_s']:.1f} | {r['status']} | {fmt(r['objective'], ',.2f')} "
                     f"| {fmt(r['bound'], ',.2f')} | {fmt(r['gap'], '.2%')} |")
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    section = f"{BEGIN}\n{text}\n{END}"
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n## MILP scaling\n\n" + section + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="S,M,L,XL", help="comma-separated presets of sloserve.generate")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--time-limit", type=float, default=300.0, help="HiGHS time limit per solve, seconds")
    ap.add_argument("--threads", type=int, default=None, help="HiGHS threads (default: HiGHS decides)")
    ap.add_argument("--out", type=Path, default=DOC, help="markdown file to update")
    a = ap.parse_args(argv)
    rows = []
    for preset in a.presets.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            rows.append(run_one(preset.strip(), seed, a.time_limit, a.threads))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = (f"HiGHS via Pyomo (APPSI), time limit {a.time_limit:g} s per solve; "
            f"run {dt.date.today().isoformat()} on {machine()}. "
            f"Build = Pyomo instance from the compiled tables; solve = HiGHS wall time. "
            f"Regenerate with `python benchmarks/milp_scaling.py --time-limit {a.time_limit:g}`.\n\n" + table(rows))
    write_section(text, a.out)
    print(text)


if __name__ == "__main__":
    main()
