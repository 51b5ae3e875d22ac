"""Path arguments checked before the work starts, and OS errors said in one line.

Every command checks its inputs (exists, is a file or a directory as expected, readable) and its
outputs (the directory exists and is writable, the path is not a directory, not one of the inputs)
with these helpers before it loads, compiles or solves anything; reading and writing go through
:func:`read_bytes`, :func:`read_text` and :func:`write_text`, so that an OS error met later (a disk
that fills up) is still one :class:`~sloserve.errors.InputError` naming the path and the problem.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import InputError

_REASONS = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many symbolic links",
    errno.EIO: "input/output error",
}


def reason(e: OSError) -> str:
    """The problem of an OS error in a few plain words."""
    return _REASONS.get(e.errno) or (e.strerror or str(e)).lower()


def os_error(path: str | Path, e: OSError, doing: str) -> InputError:
    """``<path>: cannot <doing>: <reason>`` as an InputError."""
    return InputError(str(path), None, f"cannot {doing}: {reason(e)}")


def input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as an existing, readable regular file (else one InputError saying what is wrong)."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, f"no such {what}" + ("" if p.parent.is_dir() else
                                                              f" (the directory {p.parent} does not exist)"))
    if p.is_dir():
        raise InputError(str(p), None, f"is a directory; expected a {what}")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise os_error(p, e, f"read the {what}") from None
    return p


def input_dir(path: str | Path, what: str = "directory") -> Path:
    """``path`` as an existing directory whose entries can be listed."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, f"no such {what}")
    if not p.is_dir():
        raise InputError(str(p), None, f"is not a directory; expected a {what}")
    try:
        with os.scandir(p) as it:
            next(it, None)
    except OSError as e:
        raise os_error(p, e, f"read the {what}") from None
    return p


def _writable_dir(d: Path, target: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".sloserve-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise InputError(str(target), None, f"cannot write in {d}: {reason(e)}") from None


def output_file(path: str | Path, what: str = "output file", inputs=()) -> Path:
    """``path`` as a file this command may write: its directory exists and is writable, it is not a
    directory and not one of ``inputs``. An existing file is overwritten (it must be writable)."""
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise InputError(str(p), None, f"is a directory; the {what} needs a file path")
    for i in inputs:
        if i is not None and Path(i).exists() and p.exists() and os.path.samefile(p, i):
            raise InputError(str(p), None, f"is also an input of this command; write the {what} elsewhere")
    parent = p.parent
    if not parent.exists():
        raise InputError(str(p), None, f"the directory {parent} does not exist")
    if not parent.is_dir():
        raise InputError(str(p), None, f"{parent} is not a directory")
    if p.exists():
        try:
            with open(p, "ab"):
                pass
        except OSError as e:
            raise os_error(p, e, f"write the {what}") from None
    else:
        _writable_dir(parent, p)
    return p


def output_dir(path: str | Path, what: str = "output directory") -> Path:
    """``path`` as a directory this command may create or write into."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(str(p), None, f"exists and is not a directory; the {what} must be a directory")
    if p.is_dir():
        _writable_dir(p, p)
        return p
    parent = p.parent
    if not parent.is_dir():
        raise InputError(str(p), None, f"the directory {parent} does not exist")
    _writable_dir(parent, p)
    return p


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), None, f"is a directory; expected a {what}")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(str(p), None, f"no such {what}") from None
    except OSError as e:
        raise os_error(p, e, f"read the {what}") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file (a byte-order mark is dropped), with OS and decoding errors as InputError."""
    raw = read_bytes(path, what)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(str(path), None, f"not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r}); "
                                          f"a {what} is text") from None


def write_text(path: str | Path, text: str, what: str = "output file") -> Path:
    p = Path(path)
    try:
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise os_error(p, e, f"write the {what}") from None
    return p
