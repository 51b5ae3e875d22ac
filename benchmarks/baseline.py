"""Run a snippet of Python against an earlier revision of this repository (for before/after tables).

``run(rev, code)`` extracts ``git archive REV`` into a cache folder once and runs ``code`` there with
that tree first on ``sys.path``, returning its stdout (None when the revision is not in this checkout).
The current environment's libraries are used; nothing of the current tree is imported.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SLOSERVE_BASELINE_CACHE") or Path(tempfile.gettempdir()) / "sloserve-baselines")


def tree(rev: str) -> Path | None:
    """The files of ``rev`` in a cache folder (extracted on first use); None if git does not know ``rev``."""
    dest = CACHE / rev
    if (dest / ".complete").exists():
        return dest
    try:
        blob = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(blob)) as t:
        t.extractall(dest, filter="data") if sys.version_info >= (3, 12) else t.extractall(dest)  # noqa: S202
    (dest / ".complete").write_text(rev)
    return dest


def run(rev: str, code: str) -> str | None:
    """stdout of ``python -c code`` in the tree of ``rev`` (its sloserve imported, not this one's)."""
    root = tree(rev)
    if root is None:
        return None
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, capture_output=True, text=True)
    return out.stdout
