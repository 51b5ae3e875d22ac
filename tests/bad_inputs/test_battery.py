"""The bad-input battery: every case of cases.yaml through the CLI, in-process.

Each case asserts its exit code (0 accepted, 1 diagnosed, 2 refused), a fragment of the message, and
that nothing the user sees is a Python traceback or an internal error. A refusal is one line on
stderr starting ``error:``; a case expected to be refused that exits 0 is a silent acceptance and
fails. ``python -m tests.bad_inputs.test_battery`` prints the counts by input kind and outcome.
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from sloserve.model.scenario import default_scenario_path

from sloserve.cli import main
from sloserve.safeload import load_yaml

from .generate import GENERATORS, Context, unprivileged

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
TEACHING = HERE.parents[1] / "data" / "scenarios" / "teaching.yaml"
MANIFEST = load_yaml((HERE / "cases.yaml").read_text(encoding="utf-8"), "cases.yaml")
CASES = MANIFEST["cases"]
KINDS = ("scenario", "compiled", "plan", "trace", "flags", "batch")
OUTCOMES = {0: "accepted", 1: "diagnosed", 2: "refused"}


def _context(tmp: Path) -> Context:
    problem = tmp / "problem"
    shutil.copytree(CASES_DIR / "compiled" / "base", problem)
    work = tmp / "inputs"
    work.mkdir()
    good = work / "good.yaml"
    shutil.copy(CASES_DIR / "scenario" / "good.yaml", good)
    good_plan = work / "good.json"
    shutil.copy(CASES_DIR / "plan" / "good.json", good_plan)
    trace = work / "good.csv"
    shutil.copy(CASES_DIR / "trace" / "good.csv", trace)
    return Context(tmp=work, problem=problem, good=good, good_plan=good_plan, trace=trace)


def _argv(case: dict, ctx: Context, tmp: Path) -> list[str]:
    fill: dict[str, str] = {"problem": str(ctx.problem), "good": str(ctx.good), "good_plan": str(ctx.good_plan),
                            "trace": str(ctx.trace), "teaching": str(TEACHING), "tmp": str(ctx.tmp),
                            "default": str(default_scenario_path())}
    base = tmp / "base"
    shutil.copytree(CASES_DIR / "compiled" / "base", base)
    fill["base"] = str(base)
    if "generate" in case:
        made = GENERATORS[case["generate"]](ctx)
        if "argv" in made:
            return [str(a) for a in made["argv"]]
        fill.update({k: str(v) for k, v in made.items()})
    argv = case["argv"] if "argv" in case else MANIFEST["defaults"][case["kind"]]
    if "case" in case:
        src = CASES_DIR / case["case"]
        if case["kind"] == "compiled":  # the files this case changes, laid over the base directory
            for f in src.iterdir():
                shutil.copy(f, ctx.problem / f.name)
            fill["case"] = str(ctx.problem)
        else:
            fill["case"] = str(src)
    return [a.format(**fill) for a in argv]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, tmp_path, capsys):
    ctx = _context(tmp_path)
    argv = _argv(case, ctx, tmp_path)
    capsys.readouterr()
    if case.get("unprivileged"):
        with unprivileged():
            code = main(argv)
    else:
        code = main(argv)
    out, err = capsys.readouterr()
    seen = out + err
    assert "Traceback" not in seen and "internal error" not in seen, seen[-2000:]
    assert code == case["exit"], (f"{case['id']}: exit {code}, expected {case['exit']} "
                                  f"({'silently accepted' if code == 0 else 'wrong outcome'}); argv {argv}\n{seen[-1500:]}")
    where = err if code == 2 else seen
    assert case["message"] in where, f"{case['id']}: {case['message']!r} not in:\n{where[-1500:]}"
    if "regex" in case:
        assert re.search(case["regex"], seen), (case["regex"], seen[-1500:])
    if code == 2:  # one clear line
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    if case.get("no_stdout"):
        assert out == "", out


def counts() -> Counter:
    return Counter((c["kind"], OUTCOMES[c["exit"]]) for c in CASES)


def test_the_battery_covers_every_input_kind():
    c = counts()
    assert len(CASES) >= 150
    assert len({x["id"] for x in CASES}) == len(CASES)
    for kind in KINDS:
        assert sum(n for (k, _), n in c.items() if k == kind) >= 15, kind
    for x in CASES:
        assert x["kind"] in KINDS and x["exit"] in OUTCOMES and x["message"], x["id"]
        assert ("case" in x) + ("generate" in x) <= 1 and ("argv" in x or "case" in x or "generate" in x), x["id"]
        if x["exit"] == 0:
            assert x.get("legit"), f"{x['id']}: an accepted case says why it is legitimate"
        if "generate" in x:
            assert x["generate"] in GENERATORS, x["id"]
        if "case" in x:
            assert (CASES_DIR / x["case"]).exists(), x["id"]


def test_every_case_file_is_in_the_manifest():
    listed = {x["case"] for x in CASES if "case" in x}
    files = {str(p.relative_to(CASES_DIR)) for kind in ("scenario", "plan", "trace", "batch") for p in (CASES_DIR / kind).iterdir()}
    files |= {str(p.relative_to(CASES_DIR)) for p in (CASES_DIR / "compiled").iterdir() if p.name != "base"}
    helpers = {"scenario/good.yaml", "plan/good.json", "trace/good.csv", "batch/good.yaml"}
    assert files - listed <= helpers, sorted(files - listed - helpers)


if __name__ == "__main__":
    c = counts()
    print(f"{'kind':10s}" + "".join(f"{o:>11s}" for o in OUTCOMES.values()) + f"{'total':>8s}")
    for kind in KINDS:
        row = [c[(kind, o)] for o in OUTCOMES.values()]
        print(f"{kind:10s}" + "".join(f"{n:11d}" for n in row) + f"{sum(row):8d}")
    print(f"{'total':10s}" + "".join(f"{sum(c[(k, o)] for k in KINDS):11d}" for o in OUTCOMES.values()) + f"{len(CASES):8d}")
