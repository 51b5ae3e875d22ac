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


def test_constraint_names_are_the_shared_vocabulary():
    from sloserve.checker import CONSTRAINTS as CHECKER
    from sloserve.vocab import MILP_CONSTRAINTS, Constraint
    assert milp.CONSTRAINTS == tuple(str(c) for c in MILP_CONSTRAINTS)
    assert set(CHECKER) == {str(c) for c in Constraint} == set(milp.CONSTRAINTS) | {"domain"}


def column_table(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The §2.2 table: (table, column) -> its cells."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| table | column | type |"))
    head = [h.strip() for h in lines[start].strip("|").split("|")]
    out = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = dict(zip(head, (c.strip() for c in line.strip().strip("|").split("|"))))
        out[(cells["table"].strip("`"), cells["column"].strip("`"))] = cells
    return out


def test_column_table_is_the_loader_schema():
    from sloserve.problem.tables import SCHEMAS
    doc = column_table(DOC.read_text())
    schema = {(t, c.name): c for t, cols in SCHEMAS.items() for c in cols}
    assert set(doc) == set(schema), "one row per column of every compiled table"
    for key, col in schema.items():
        row = doc[key]
        assert row["empty allowed"] == ("yes" if col.nullable else "no"), key
        assert row["an empty cell means"] == (col.empty or "—"), key
        assert row["type"] == col.dtype and row["unit"] == (col.unit or "—"), key


def test_the_loader_follows_the_column_table(tmp_path):
    """An empty cell in each column: accepted with its documented meaning where the table says yes,
    refused naming file, row and column where it says no."""
    import numpy as np
    import pytest

    from sloserve.errors import InputError
    from sloserve.model.compile import compile_scenario
    from sloserve.model.scenario import default_scenario
    from sloserve.problem.instance import build_instance
    from sloserve.problem.tables import SCHEMAS, read_compiled, write_compiled

    base = tmp_path / "base"
    write_compiled(compile_scenario(default_scenario()), base)
    doc = column_table(DOC.read_text())
    for (table, column), row in doc.items():
        d = tmp_path / f"{table}-{column}"
        d.mkdir()
        for f in base.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        lines = (d / f"{table}.csv").read_text().splitlines()
        header = lines[0].split(",")
        k = header.index(column)
        cells = lines[1].split(",")
        cells[k] = ""
        lines[1] = ",".join(cells)
        (d / f"{table}.csv").write_text("\n".join(lines) + "\n")
        if row["empty allowed"] == "yes":
            inst = build_instance(read_compiled(d))
            if column == "max_replicas":
                assert inst.max_replicas[0] == np.inf
            elif column == "available":
                assert inst.available[0] == np.inf
            elif column.endswith("_slo_s"):
                assert np.isnan(read_compiled(d).query_types[column].iloc[0])
        else:
            with pytest.raises(InputError, match=rf"{table}\.csv: row 2: {column}: must"):
                read_compiled(d)
    assert {t for t, _ in doc} == set(SCHEMAS)
