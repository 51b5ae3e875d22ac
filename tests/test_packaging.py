"""The declared dependency ranges and the pinned versions agree, and the ranges are closed."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
API_PACKAGES = {"pyomo", "highspy", "pandas", "numpy", "pyscipopt", "scipy", "dask", "distributed", "statsmodels"}


def _requirements() -> list[Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in meta["dependencies"]]
    for extra in meta["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def test_packages_whose_api_sloserve_calls_have_lower_and_upper_bounds():
    for r in _requirements():
        if canonicalize_name(r.name) in API_PACKAGES:
            ops = {s.operator for s in r.specifier}
            assert ops & {">=", ">"} and ops & {"<", "<="}, f"{r}: needs a lower and an upper bound"


def test_the_pins_lie_in_the_declared_ranges():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, v = line.split("==", 1)
            pins[canonicalize_name(name)] = Version(v.strip())
    for r in _requirements():
        name = canonicalize_name(r.name)
        if name in pins:
            assert pins[name] in r.specifier, f"constraints.txt pins {name}=={pins[name]} outside {r}"
    assert API_PACKAGES <= set(pins), f"constraints.txt lacks {API_PACKAGES - set(pins)}"
