"""Render executed copies of the notebooks to HTML under docs/notebooks/, readable without running.

    .venv/bin/pip install -e '.[test]' && .venv/bin/python scripts/render_notebooks.py [NAME ...]

Each notebook is executed top to bottom (nbclient, in a scratch directory, as the test suite runs
it) and exported with nbconvert's HTML exporter. The first line of every page records the SHA-256
of the notebook's ``.py`` source; ``tests/test_notebooks.py`` fails when a source changed and its
page was not regenerated.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS, OUT = REPO / "notebooks", REPO / "docs" / "notebooks"
STAMP = "<!-- sloserve-source-sha256: {} -->\n"


def source_hash(ipynb: Path) -> str:
    """SHA-256 of the notebook's paired ``.py`` source (what reviewers read and edit)."""
    return hashlib.sha256(ipynb.with_suffix(".py").read_bytes()).hexdigest()


def render(ipynb: Path) -> Path:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # notebooks write their files there, not into the repository
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
        finally:
            os.chdir(cwd)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / ipynb.with_suffix(".html").name
    out.write_text(STAMP.format(source_hash(ipynb)) + body, encoding="utf-8")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook names (default: all)")
    args = ap.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
        if not paths:
            print(f"no notebook matches {args.names}", file=sys.stderr)
            return 2
    for p in paths:
        t0 = time.perf_counter()
        out = render(p)
        print(f"{out.relative_to(REPO)}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
