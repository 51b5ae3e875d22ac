"""Every notebook, opened in JupyterLab in a real browser, runs all its cells without an error.

Run > Run All Cells from the menu, wait for every code cell's execution count, save, then read the
saved notebook: no ``error`` output, every code cell executed. A screenshot of each is kept.
"""
from __future__ import annotations

import time

import nbformat
import pytest

from .conftest import REPO, open_notebook, run_all, save, wait_all_executed

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
TIME_S = 240  # per notebook, in the browser (the kernel-only test allows 180 s)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_the_browser(lab, page, artifacts, name):
    url, root = lab
    t0 = time.monotonic()
    open_notebook(page, url, f"notebooks/{name}")
    run_all(page)
    took = wait_all_executed(page, TIME_S)
    save(page)
    page.screenshot(path=str(artifacts / f"{name.removesuffix('.ipynb')}.png"), full_page=False)
    nb = nbformat.read(root / "notebooks" / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code) for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: error outputs in code cells {errors}"
    assert all(c.execution_count for c in code), f"{name}: not every code cell ran"
    assert took < TIME_S and time.monotonic() - t0 < TIME_S + 60
