"""docs/inputs.md and the code agree: the limits table is sloserve.problem.limits.LIMITS, every case the
battery accepts is listed among the cases decided legitimate, and the counts the page states are the
battery's and the fuzz test's."""
from __future__ import annotations

import re
from pathlib import Path

from sloserve.problem.limits import LIMITS, fmt

from .test_battery import CASES
from .test_fuzz import EXAMPLES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "inputs.md").read_text()
FLAT = " ".join(DOC.split())


def _table(header: str) -> list[list[str]]:
    lines = DOC.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_limits_table_is_the_limits_module():
    rows = {r[0].strip("`"): r for r in _table("| limit | value | unit |")}
    assert set(rows) == set(LIMITS)
    for name, lim in LIMITS.items():
        assert rows[name][1] == fmt(lim.value), name
        assert rows[name][2] == lim.unit, name


def test_every_accepted_case_is_listed_as_legitimate():
    listed = set()
    for r in _table("| case | why it is accepted |"):
        listed |= set(re.findall(r"`([a-z]+/[a-z0-9_]+)`", r[0]))
    accepted = {c["id"] for c in CASES if c["exit"] == 0}
    assert accepted == listed, (sorted(accepted - listed), sorted(listed - accepted))


def test_the_counts_the_page_states():
    assert f"`cases.yaml` lists {len(CASES)} cases" in FLAT
    assert f"({EXAMPLES['scenario']} examples) and the valid plan ({EXAMPLES['plan']} examples)" in FLAT
