"""Results that survive: one Parquet partition per finished case, named by the case hash.

::

    OUT/manifest.json                 the run's options and input fingerprints (sloserve.resume.Manifest)
    OUT/records/<case hash>.parquet   the rows of one case (case columns, status, results)

A partition is written to a temporary name and renamed into place when the case finishes, so a
sweep killed at any moment leaves only whole partitions (a leftover temporary file is removed and
its case recomputed; a partition that cannot be read is dropped and recomputed, with a note). A
rerun with the same options and inputs skips every case that has a partition; anything different
stops with InputError (exit 2) naming it, unless ``overwrite``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..resume import Manifest

HINT = "use --overwrite to start fresh, or another --out"


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding anything but text become JSON text (Parquet needs one type per column)."""
    for col in df.columns:
        if df[col].dtype == object:
            vals = [v for v in df[col] if v is not None and not (isinstance(v, float) and v != v)]
            if vals and not all(isinstance(v, str) for v in vals):
                if all(isinstance(v, bool) for v in vals):
                    df[col] = df[col].astype("boolean")
                else:
                    df[col] = [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in df[col]]
    return df


class SweepStore:
    """The output directory of a sweep."""

    def __init__(self, out: str | Path, *, options: dict, inputs: list[dict], overwrite: bool = False, notes=None):
        self.dir = Path(out)
        self.records_dir = self.dir / "records"
        self.notes = notes if notes is not None else sys.stderr
        self.manifest = Manifest(self.dir / "manifest.json", target=self.dir, command="sweep", options=options,
                                 inputs=inputs, noun="sweep")
        if self.dir.exists() and not self.dir.is_dir():
            raise InputError(str(self.dir), None, "is a file; --out needs a directory")
        if overwrite and self.dir.exists():
            if self.records_dir.exists():
                shutil.rmtree(self.records_dir)
            if self.manifest.path.exists():
                self.manifest.path.unlink()
        ours = self.manifest.path.exists() or self.records_dir.exists()
        if ours:
            self.manifest.check(HINT)
        else:
            if self.dir.exists() and any(self.dir.iterdir()):
                raise InputError(str(self.dir), None, f"exists and is not a sweep directory (no manifest.json); {HINT}")
            if not self.dir.parent.is_dir():
                raise InputError(str(self.dir), None, f"the directory {self.dir.parent} does not exist")
            self.dir.mkdir(exist_ok=True)
            self.manifest.write()
        self.records_dir.mkdir(exist_ok=True)
        self._status = self._scan()

    def _scan(self) -> dict[str, str]:
        status = {}
        for tmp in sorted(self.records_dir.glob("*.tmp")):
            print(f"note: {tmp.name}: a partition the sweep was writing when it stopped; removed, its case will "
                  f"be recomputed", file=self.notes)
            tmp.unlink()
        for p in sorted(self.records_dir.glob("*.parquet")):
            try:
                s = pd.read_parquet(p, columns=["status"])["status"]
                status[p.stem] = "error" if (s == "error").any() else "ok"
            except Exception as e:  # noqa: BLE001 - a damaged file is recomputed, never trusted
                print(f"note: {p.name}: unreadable partition ({type(e).__name__}); removed, its case will be "
                      f"recomputed", file=self.notes)
                p.unlink()
        return status

    def done(self, retry_errors: bool = False) -> set[str]:
        """Hashes of the cases with a partition (``retry_errors``: only those that succeeded)."""
        return {k for k, s in self._status.items() if s == "ok" or not retry_errors}

    def write(self, key: str, rows: list[dict]) -> Path:
        """Store one case's rows as its partition (atomically)."""
        df = _parquet_safe(pd.DataFrame(rows))
        path = self.records_dir / f"{key}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        df.to_parquet(tmp, index=False)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self._status[key] = "error" if (df.get("status") == "error").any() else "ok"
        return path

    def read(self) -> pd.DataFrame:
        return read_records(self.dir)


def read_records(out: str | Path) -> pd.DataFrame:
    """Every row of every partition of a sweep directory (one frame; columns a case lacks are empty)."""
    d = Path(out) / "records"
    if not d.is_dir():
        raise InputError(str(out), None, "is not a sweep directory (no records/)")
    parts = [pd.read_parquet(p) for p in sorted(d.glob("*.parquet"))]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True, sort=False)
