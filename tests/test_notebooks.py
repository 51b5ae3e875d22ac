"""Every notebook in notebooks/ runs top to bottom (Jupyter-first: notebooks are product)."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # notebooks write their files here, not into the repo
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert time.perf_counter() - t0 < 180, f"{path.name} took longer than 3 minutes"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_paired_with_its_py_source_and_stored_without_outputs(path):
    """The percent-format .py is the reviewed source; the .ipynb must be its `jupytext --sync` copy."""
    jupytext = pytest.importorskip("jupytext")
    src = path.with_suffix(".py")
    assert src.exists(), f"{path.name} has no paired source: jupytext --set-formats ipynb,py:percent {path}"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", f"{path.name} is not paired"

    def cells(n):
        return [(c.cell_type, c.source.strip()) for c in n.cells]

    assert cells(nb) == cells(jupytext.read(src)), f"{path.name} differs from {src.name}: jupytext --sync {src}"
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} is stored with outputs"
