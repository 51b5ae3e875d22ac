"""Mutated scenarios and plans through the CLI: every outcome is one of the three promised ones.

Hypothesis mutates the valid scenario (cases/scenario/good.yaml) and the valid plan
(cases/plan/good.json): a key deleted, renamed or duplicated, a value replaced by a value of
another type or an extreme one, a list emptied or an item repeated, a line of the text doubled or
cut. Each mutant goes through ``sloserve solve`` (scenarios, then ``check`` of the written plan) or
``sloserve check`` (plans), and the outcome must be

* exit 0 with a plan the checker accepts, or
* exit 1 with a diagnosis (``infeasible: ...`` and at least one line of it, or a check listing
  violations), or
* exit 2 with one line ``error: ...``,

never another exit code, a traceback or an internal error. The runs are derandomised (the same
examples every time); :data:`EXAMPLES` is how many each test draws.
"""
from __future__ import annotations

import copy
import json
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloserve.cli import main

HERE = Path(__file__).resolve().parent
GOOD_YAML = (HERE / "cases" / "scenario" / "good.yaml").read_text()
GOOD = yaml.safe_load(GOOD_YAML)
GOOD_PLAN = json.loads((HERE / "cases" / "plan" / "good.json").read_text())
BASE = HERE / "cases" / "compiled" / "base"
EXAMPLES = {"scenario": 200, "plan": 300}
SEEN: Counter = Counter()  # (test, exit code) -> examples

ODD_VALUES = [None, True, False, 0, -1, 1, 2, 0.5, 1e-3, 1.5, 800, 1e7, 1e7 + 1, 1e12, 1e308, -1e308, float("inf"),
              float("nan"), 10 ** 400, "", " ", "NA", "null", "x", "4", "chat", "a|b", "llama-3.1-8b", [], [1], ["x"],
              {}, {"a": 1}, [[]]]
SETTINGS = dict(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _paths(obj, prefix=()):
    """Every (path, value) in a nested structure of dicts and lists."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _copy(obj):
    return copy.deepcopy(obj)  # never share ODD_VALUES' lists with a mutant: the next mutation would change them


@st.composite
def mutated(draw, base: dict):
    """``base`` with one to three structural mutations."""
    obj = _copy(base)
    gentle = draw(st.booleans())  # only numbers scaled: mutants that mostly pass validation and reach the solvers
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, v in _paths(obj) if p and (not gentle or (isinstance(v, (int, float)) and not isinstance(v, bool)))]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        action = "scale" if gentle else draw(st.sampled_from(["replace", "replace", "scale", "delete", "rename", "add",
                                                               "repeat"]))
        value = parent[key]
        if action == "scale" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # in range or just beyond it: the values that reach the solvers
            scaled = value * draw(st.sampled_from([0, 0.001, 0.5, 2, 10, 1000, 1e6]))
            parent[key] = type(value)(scaled) if isinstance(value, int) else scaled
        elif action in ("replace", "scale"):
            parent[key] = _copy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from([key + "s", key[:-1] or "k", key.replace("_", ""), "extra"]))] = parent.pop(key)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "rate_rps", "name", "budget_per_hr", "utilisation_cap"]))] = \
                _copy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "repeat" and isinstance(parent, list):
            parent.append(_copy(parent[key]))
    return obj


@st.composite
def scenario_text(draw):
    obj = draw(mutated(GOOD))
    text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True) if isinstance(obj, dict) else GOOD_YAML
    lines = text.splitlines(keepends=True)
    edit = draw(st.sampled_from(["none", "none", "double", "cut"]))
    if edit != "none" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i]) if edit == "double" else lines.__setitem__(i, lines[i][: len(lines[i]) // 2] + "\n")
    return "".join(lines)


def _outcome(code: int, out: str, err: str, what: str) -> None:
    seen = out + err
    assert "Traceback" not in seen and "internal error" not in seen, (what, seen[-1500:])
    assert code in (0, 1, 2), (what, code, seen[-1500:])
    if code == 2:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (what, err)
    if code == 1:
        assert ("infeasible: " in err and "\n  - " in err) or "INFEASIBLE" in out, (what, seen[-1500:])


@settings(max_examples=EXAMPLES["scenario"], **SETTINGS)
@given(text=scenario_text(), method=st.sampled_from(["gh", "agh"]))
def test_mutated_scenarios(text, method):
    with tempfile.TemporaryDirectory() as t:
        f, plan = Path(t) / "s.yaml", Path(t) / "plan.json"
        f.write_text(text)
        out, err, code = _run(["solve", str(f), "--method", method, "--quiet", "--out", str(plan)])
        _outcome(code, out, err, text)
        SEEN[("scenario", code)] += 1
        if code == 0:  # the plan written is one the independent checker accepts
            c_out, c_err, c_code = _run(["check", str(f), str(plan)])
            assert c_code == 0 and "plan is feasible" in c_out, (text, c_out, c_err)


@st.composite
def plan_text(draw):
    obj = draw(mutated(GOOD_PLAN))
    return json.dumps(obj) if draw(st.booleans()) or not isinstance(obj, dict) else json.dumps(obj, indent=2)


@settings(max_examples=EXAMPLES["plan"], **SETTINGS)
@given(text=plan_text())
def test_mutated_plans(text):
    with tempfile.TemporaryDirectory() as t:
        f = Path(t) / "plan.json"
        f.write_text(text)
        out, err, code = _run(["check", str(BASE), str(f)])
        _outcome(code, out, err, text)
        SEEN[("plan", code)] += 1


def _run(argv):
    import contextlib
    import io
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        code = main(argv)
    return o.getvalue(), e.getvalue(), code


def test_fuzz_ran_and_reached_every_outcome():
    """After the two fuzz tests (pytest runs a file's tests in order): how many examples, by outcome."""
    if not SEEN:
        import pytest
        pytest.skip("the fuzz tests did not run in this session")
    print("fuzz examples by outcome:", dict(sorted(SEEN.items())))
    assert sum(n for (k, _), n in SEEN.items() if k == "scenario") == EXAMPLES["scenario"]
    assert sum(n for (k, _), n in SEEN.items() if k == "plan") == EXAMPLES["plan"]
    for kind in EXAMPLES:  # the mutants reach every outcome, not only refusals
        assert {c for (k, c) in SEEN if k == kind} == {0, 1, 2}, SEEN
