"""docs/formulation.md and the Pyomo model agree: one table row per constraint, named as in the model."""
from __future__ import annotations

import re
from pathlib import Path

import pyomo.environ as pyo

from sloserve.solvers import milp

DOC = Path(__file__).resolve().parents[2] / "docs" / "formulation.md"


def constraint_table_names(text: str) -> list[str]:
    """The `Pyomo name` column of the table whose header is | formula | meaning | Pyomo name |."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if re.fullmatch(r"\|\s*formula\s*\|\s*meaning\s*\|\s*Pyomo name\s*\|", line.strip()))
    names = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cell = line.strip().strip("|").split("|")[-1].strip()
        names.append(cell.strip("`"))
    return names


def test_doc_table_names_equal_model_constraints():
    names = constraint_table_names(DOC.read_text())
    assert len(names) == len(set(names)), "one row per constraint"
    model = {c.local_name for c in milp.abstract_model().component_objects(pyo.Constraint)}
    assert set(names) == model
    assert tuple(names) == milp.CONSTRAINTS
