"""Cases made at test time rather than committed: alias bombs, deep nesting, huge numbers, binary
files, files without read permission, directories where files belong, interrupted resumable outputs.

Each generator takes the case's :class:`Context` and returns the placeholders it sets (``case``, or a
whole ``argv``); compiled-directory generators change ``ctx.problem`` (a copy of the base directory).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GENERATORS = {}


def generator(fn):
    GENERATORS[fn.__name__] = fn
    return fn


@dataclass
class Context:
    tmp: Path
    problem: Path  # the base compiled directory with the case's files laid over it (a copy)
    good: Path  # a copy of cases/scenario/good.yaml
    good_plan: Path
    trace: Path


def _unreadable(p: Path) -> Path:
    os.chmod(p, 0)
    return p


# ---- scenario ----------------------------------------------------------------------------------

@generator
def alias_bomb(ctx):
    """958 bytes: nine levels of nine aliases each, 9^9 = 387 million values once expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    p = ctx.tmp / "bomb.yaml"
    p.write_text("\n".join(lines) + "\nname: bomb\nquery_types: *a9\n")
    return {"case": p}


@generator
def deep_nesting(ctx):
    p = ctx.tmp / "deep.yaml"
    p.write_text("name: deep\nquery_types: " + "[" * 20_000 + "]" * 20_000 + "\n")
    return {"case": p}


@generator
def binary_scenario(ctx):
    p = ctx.tmp / "binary.yaml"
    p.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(2000)))
    return {"case": p}


@generator
def huge_integer_scenario(ctx):
    p = ctx.tmp / "huge.yaml"
    p.write_text(ctx.good.read_text().replace("rate_rps: 4.0", "rate_rps: " + "9" * 5000))
    return {"case": p}


@generator
def unreadable_scenario(ctx):
    p = ctx.tmp / "unreadable.yaml"
    shutil.copy(ctx.good, p)
    return {"case": _unreadable(p)}


@generator
def stem_not_a_name(ctx):
    p = ctx.tmp / "my run, v2.yaml"
    p.write_text("".join(line for line in ctx.good.read_text().splitlines(keepends=True) if not line.startswith("name:")))
    return {"case": p}


# ---- compiled directory -----------------------------------------------------------------------------

@generator
def no_scenario_json(ctx):
    (ctx.problem / "scenario.json").unlink()
    return {}


@generator
def no_routes_csv(ctx):
    (ctx.problem / "routes.csv").unlink()
    return {}


@generator
def routes_is_directory(ctx):
    (ctx.problem / "routes.csv").unlink()
    (ctx.problem / "routes.csv").mkdir()
    return {}


@generator
def models_binary(ctx):
    (ctx.problem / "models.csv").write_bytes(bytes(random.Random(1).randrange(128, 256) for _ in range(500)))
    return {}


@generator
def unreadable_csv(ctx):
    _unreadable(ctx.problem / "query_types.csv")
    return {}


@generator
def unreadable_scenario_json(ctx):
    _unreadable(ctx.problem / "scenario.json")
    return {}


@generator
def unreadable_directory(ctx):
    _unreadable(ctx.problem)
    return {}


# ---- plan ----------------------------------------------------------------------------------------

@generator
def binary_plan(ctx):
    p = ctx.tmp / "binary.json"
    p.write_bytes(bytes(random.Random(2).randrange(128, 256) for _ in range(500)))
    return {"case": p}


@generator
def deep_plan(ctx):
    p = ctx.tmp / "deep.json"
    p.write_text('{"scenario": "small", "replicas": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return {"case": p}


@generator
def huge_integer_plan(ctx):
    p = ctx.tmp / "huge.json"
    p.write_text(ctx.good_plan.read_text().replace('"runtime_s": 0.5', '"runtime_s": ' + "9" * 5000))
    return {"case": p}


@generator
def unreadable_plan(ctx):
    p = ctx.tmp / "unreadable.json"
    shutil.copy(ctx.good_plan, p)
    return {"case": _unreadable(p)}


# ---- trace ---------------------------------------------------------------------------------------

@generator
def binary_trace(ctx):
    p = ctx.tmp / "binary.csv"
    p.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + bytes(random.Random(3).randrange(128, 256) for _ in range(500)))
    return {"case": p}


@generator
def corrupt_gzip(ctx):
    p = ctx.tmp / "corrupt.csv.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(random.Random(4).randrange(256) for _ in range(500)))
    return {"case": p}


@generator
def unreadable_trace(ctx):
    p = ctx.tmp / "unreadable.csv"
    shutil.copy(ctx.trace, p)
    return {"case": _unreadable(p)}


# ---- resumable outputs and output directories (flags) ----------------------------------------------

def _rolling(ctx, out, *extra):
    return ["rolling", str(ctx.trace), "--window", "1min", "--method", "gh", "--types-per-service", "1",
            "--no-download", "--out", str(out), *extra]


def _first_run(ctx, out):
    from sloserve.cli import main
    assert main(_rolling(ctx, out)) == 0


@generator
def resume_torn_line(ctx):
    out = ctx.tmp / "rolling.csv"
    _first_run(ctx, out)
    with open(out, "ab") as f:  # a crash in the middle of writing one more record
        f.write(b"rolling,99,0.5,")
    return {"argv": _rolling(ctx, out)}


@generator
def resume_without_manifest(ctx):
    out = ctx.tmp / "rolling.csv"
    out.write_text("policy,window\nrolling,0\n")
    return {"argv": _rolling(ctx, out)}


@generator
def resume_other_options(ctx):
    out = ctx.tmp / "rolling.csv"
    _first_run(ctx, out)
    return {"argv": _rolling(ctx, out, "--margin", "1.2")}


@generator
def out_unwritable_dir(ctx):
    d = ctx.tmp / "read-only"
    d.mkdir()
    os.chmod(d, 0o555)
    return {"argv": ["solve", str(ctx.good), "--method", "milp", "--quiet", "--out", str(d / "plan.json")]}


# ---- permission checks as an ordinary user ------------------------------------------------------------

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capabilities():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    header, data = _Header(0x20080522, 0), (_Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    return libc, header, data


@contextmanager
def unprivileged():
    """Permission bits that bind, as they do for an ordinary user. As root (as tests in containers
    often run) chmod 000 stops nothing, so the capabilities that bypass file permissions
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) are dropped from this thread's effective set for the
    case and restored after it; where that is impossible the case is skipped, not faked."""
    if os.geteuid() != 0:
        yield
        return
    import pytest
    try:
        libc, header, data = _capabilities()
    except (OSError, AttributeError) as e:
        pytest.skip(f"running as root without capget/capset ({e}): permission bits cannot be made to bind")
    saved = data[0].effective
    data[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: permission bits cannot be made to bind")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)
