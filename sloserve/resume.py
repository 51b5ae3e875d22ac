"""Resumable outputs that never mix runs.

A long command (``rolling``, a sweep) appends one record per finished unit of work to an output file,
so that a rerun can skip what is done. :class:`Manifest` is the rule every such output follows
(``sloserve.sweep``'s Parquet partitions too); :class:`ResumableCSV` keeps one beside its file
(``<file>.manifest.json``): the command, the sloserve version, every option and a fingerprint of every
input (path, size, SHA-256 of its first MiB — or of the data itself for in-memory inputs). A rerun
with anything different stops with :class:`~sloserve.errors.InputError` (exit 2) naming what differs;
``overwrite=True`` (``--overwrite``) starts fresh. Records are appended as whole lines, each flushed;
on resume a torn last line (a crash mid-write) is dropped and reported, and every other line must
parse, or the file is refused.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import __version__
from .errors import InputError

FIRST_BYTES = 1 << 20  # how much of an input file its fingerprint hashes


def fingerprint(path: str | Path) -> dict[str, Any]:
    """What identifies an input file: its absolute path, size and the SHA-256 of its first MiB."""
    p = Path(path)
    try:
        st = p.stat()
        with p.open("rb") as f:
            head = f.read(FIRST_BYTES)
    except OSError as e:
        raise InputError(str(p), None, f"cannot read input: {e.strerror or e}") from None
    return {"path": str(p.resolve()), "size": int(st.st_size), "sha256_first_mib": hashlib.sha256(head).hexdigest()}


def fingerprint_data(name: str, data: bytes | str) -> dict[str, Any]:
    """The fingerprint of an in-memory input (a DataFrame's CSV text, a compiled problem's tables)."""
    b = data.encode() if isinstance(data, str) else data
    return {"path": f"<{name}>", "size": len(b), "sha256_first_mib": hashlib.sha256(b).hexdigest()}


def _plain(v: Any) -> Any:
    """Options as JSON values (tuples -> lists, paths -> str), so a manifest compares equal to itself."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, Path):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


class Manifest:
    """The manifest of a resumable output: command, sloserve version, options, input fingerprints and
    any ``fields`` the output fixes (a CSV's columns); ``noun`` is what messages call it. :meth:`check` compares a stored manifest with
    this run's and raises InputError naming the first field, option or input that differs;
    :meth:`write` stores it atomically. ``target`` names the output in messages."""

    def __init__(self, path: str | Path, *, target: str | Path, command: str, options: dict[str, Any],
                 inputs: Sequence[dict[str, Any]], noun: str = "file", **fields: Any):
        self.path = Path(path)
        self.target = str(target)
        self.noun = noun  # what the messages call the output ("file", "sweep")
        self.fields = ("command", "sloserve_version", *fields)
        self.data = {"command": command, "sloserve_version": __version__, "options": _plain(options),
                     "inputs": [dict(i) for i in inputs], **{k: _plain(v) for k, v in fields.items()}}

    def write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)

    def check(self, hint: str) -> None:
        """Refuse (InputError) unless the stored manifest describes the same run."""
        if not self.path.exists():
            raise InputError(self.target, None, f"exists but has no manifest ({self.path.name}), so it "
                                                f"was not written by this command; {hint}")
        try:
            old = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(str(self.path), None, f"unreadable manifest ({e}); {hint}") from None
        for field in self.fields:
            if old.get(field) != self.data[field]:
                raise InputError(self.target, field, f"was written with {field} {old.get(field)!r}, this run has "
                                                     f"{self.data[field]!r}; {hint}")
        oo, no = old.get("options", {}), self.data["options"]
        for k in sorted(set(oo) | set(no)):
            if oo.get(k) != no.get(k):
                raise InputError(self.target, f"option {k}", f"was {oo.get(k)!r} in the run that wrote this "
                                                             f"{self.noun}, now {no.get(k)!r}; {hint}")
        oi, ni = old.get("inputs", []), self.data["inputs"]
        if len(oi) != len(ni):
            raise InputError(self.target, "inputs", f"was written from {len(oi)} inputs, this run has {len(ni)}; {hint}")
        for a, b in zip(oi, ni):
            for k in ("path", "size", "sha256_first_mib"):
                if a.get(k) != b.get(k):
                    raise InputError(self.target, f"input {b.get('path')}", f"differs from the run that wrote this "
                                                                           f"{self.noun} ({k}: {a.get(k)!r} then, "
                                                                           f"{b.get(k)!r} now); {hint}")


class ResumableCSV:
    """A CSV file of records written as they finish, resumable only by the same run.

    ``columns`` fixes the order of the fields; ``key`` names the fields that identify a record
    (a resumed run asks :meth:`done` which keys it may skip)."""

    def __init__(self, path: str | Path, *, command: str, options: dict[str, Any],
                 inputs: Sequence[dict[str, Any]], columns: Sequence[str], key: Sequence[str],
                 overwrite: bool = False, notes=None):
        self.path = Path(path)
        self.manifest_path = self.path.with_name(self.path.name + ".manifest.json")
        self.columns = list(columns)
        self.key = list(key)
        self.notes = notes if notes is not None else sys.stderr
        self._manifest = Manifest(self.manifest_path, target=self.path, command=command, options=options,
                                  inputs=inputs, columns=self.columns)
        self.manifest = self._manifest.data
        self.records: list[dict[str, Any]] = []
        if self.path.is_dir():
            raise InputError(str(self.path), None, "is a directory; --out needs a file path")
        if overwrite:
            for p in (self.path, self.manifest_path):
                if p.exists():
                    p.unlink()
        if self.path.exists() and self.path.stat().st_size > 0:
            self._resume()
        else:
            self._start()

    # ---- opening --------------------------------------------------------------------------------
    def _start(self) -> None:
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(str(self.path), None, f"the directory {parent} does not exist")
        try:
            self._manifest.write()
            with self.path.open("w", newline="") as f:
                csv.writer(f, lineterminator="\n").writerow(self.columns)
        except OSError as e:
            raise InputError(str(self.path), None, f"cannot write: {e.strerror or e}") from None

    def _resume(self) -> None:
        hint = "use --overwrite to start fresh, or another --out"
        self._manifest.check(hint)
        self.records = self._read_records(hint)

    def _read_records(self, hint: str) -> list[dict[str, Any]]:
        raw = self.path.read_bytes()
        if not raw.endswith(b"\n"):  # torn last record: the run stopped mid-write
            cut = raw.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(cut)
            print(f"note: {self.path}: the last line was incomplete (the run stopped while writing it); "
                  f"it was dropped and will be recomputed", file=self.notes)
            raw = raw[:cut]
        text = raw.decode("utf-8", errors="strict")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or rows[0] != self.columns:
            raise InputError(str(self.path), "header", f"expected columns {self.columns}; {hint}")
        out = []
        for n, r in enumerate(rows[1:], start=2):
            if len(r) != len(self.columns):
                raise InputError(str(self.path), None, f"line {n} has {len(r)} fields, expected {len(self.columns)}; {hint}")
            out.append(dict(zip(self.columns, r)))
        return out

    # ---- use ----------------------------------------------------------------------------------------
    def done(self) -> set[tuple[str, ...]]:
        """Keys (as strings) of the records already in the file."""
        return {tuple(str(r[k]) for k in self.key) for r in self.records}

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line and flush it to the file."""
        missing = [c for c in self.columns if c not in record]
        if missing:
            raise ValueError(f"record lacks {missing}")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([record[c] for c in self.columns])
        with self.path.open("a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        self.records.append({c: record[c] for c in self.columns})

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.append(r)
