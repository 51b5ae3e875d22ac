"""Every notebook in notebooks/ runs top to bottom (Jupyter-first: notebooks are product)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    if os.environ.get("SLOSERVE_REQUIRE_BROWSER") == "1":
        # CI: tests/browser runs every notebook top to bottom in Chromium and is required there, with the
        # same checks (no error output, every cell ran, a time limit); a second run in a bare kernel
        # would cost ~100 s of the 10-minute budget for nothing new
        pytest.skip("run in the browser by tests/browser/test_notebooks_in_browser.py (required here)")
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


def _render_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("render_notebooks", REPO / "scripts" / "render_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_rendered_copy_is_not_stale(path):
    """docs/notebooks/NAME.html exists and was rendered from the current .py source
    (regenerate with `.venv/bin/python scripts/render_notebooks.py NAME`)."""
    mod = _render_module()
    html = REPO / "docs" / "notebooks" / path.with_suffix(".html").name
    assert html.is_file(), f"{html.relative_to(REPO)} missing: run scripts/render_notebooks.py {path.stem}"
    with open(html, encoding="utf-8") as f:
        first = f.readline()
    assert first == mod.STAMP.format(mod.source_hash(path)), \
        f"{html.relative_to(REPO)} is stale: run scripts/render_notebooks.py {path.stem}"
