"""The layout is the architecture: one dependency rule, read from the imports, and no circles.

Layers (``docs/architecture.md``), each importing only from the layers below it:

    cli, ui, sweep, batch               (the user's side; batch: offline jobs in the planner)
    evaluate, sim, solvers              (plans in the world, simulation, methods)
    checker                             (the independent checker)
    model, traces                       (scenario -> tables; logs -> scenarios)
    problem                             (the contract every part reads)
    errors, vocab, registry, resume,    (the vocabulary, resumable outputs,
    safeload, paths                      strict parsing, path checks)

``evaluate`` and ``sim`` may use ``solvers`` (a re-plan, an exact oracle); nothing imports upwards,
``problem/`` and ``checker`` import none of ``solvers``, ``sim``, ``model``, ``ui``, ``cli``, and the
numpy heuristics never load Pyomo.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sloserve
from sloserve.errors import InputError
from sloserve.registry import Registry, RegistryError

ROOT = Path(sloserve.__file__).resolve().parent

LAYER = {"errors": 0, "vocab": 0, "registry": 0, "resume": 0, "safeload": 0, "paths": 0, "problem": 1, "model": 2, "traces": 2, "checker": 3,
         "solvers": 4, "evaluate": 5, "sim": 5, "sweep": 6, "batch": 6, "ui": 6, "cli": 6, "__init__": 7, "__main__": 7, "data": 0}
#: same-layer imports that are part of the design (a simulator may use an exact solver as an oracle)
ALLOWED_SIDEWAYS = {("registry", "errors"), ("vocab", "errors"), ("resume", "errors"), ("safeload", "errors"),
                    ("paths", "errors"), ("resume", "paths"), ("evaluate", "sim"), ("sim", "solvers"), ("evaluate", "solvers"), ("ui", "sweep"), ("cli", "ui"),
                    ("cli", "sweep"), ("sweep", "ui"), ("cli", "batch")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every sloserve module this file imports, at any depth (function-level imports included)."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("sloserve")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("sloserve"):
                continue
            out.add(target)
            for a in node.names:  # "from . import milp" names a module
                if (ROOT.parent / Path(*f"{target}.{a.name}".split("."))).with_suffix(".py").exists() or \
                        (ROOT.parent / Path(*f"{target}.{a.name}".split(".")) / "__init__.py").exists():
                    out.add(f"{target}.{a.name}")
    return out


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_dependency_rule():
    bad = []
    for mod, deps in _graph().items():
        src = _top(mod)
        for d in deps:
            dst = _top(d)
            if dst == src or d == "sloserve":
                continue
            if LAYER[dst] > LAYER[src] or (LAYER[dst] == LAYER[src] and (src, dst) not in ALLOWED_SIDEWAYS):
                bad.append(f"{mod} -> {d}")
    assert not bad, "imports against the dependency rule:\n" + "\n".join(sorted(bad))


def test_problem_and_checker_import_nothing_above_them():
    forbidden = ("solvers", "sim", "model", "ui", "cli", "evaluate", "sweep", "traces")
    bad = [f"{m} -> {d}" for m, deps in _graph().items() if _top(m) in ("problem", "checker")
           for d in deps if _top(d) in forbidden]
    assert not bad, bad


def test_no_import_circles():
    g = _graph()
    nodes = {m for m in g} | {d for ds in g.values() for d in ds}
    # resolve "package.name" imports of non-modules (from x import Name) to the package
    g = {m: {d if d in g else d.rsplit(".", 1)[0] for d in ds} - {m} for m, ds in g.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(n, stack):
        state[n] = 1
        for d in g.get(n, ()):
            # a package's __init__ importing its own submodules is not a circle of concepts
            if d.startswith(n + "."):
                continue
            if state.get(d) == 1 and not n.startswith(d + "."):
                cycle.extend(stack[stack.index(d):] + [n, d] if d in stack else [n, d])
                return True
            if state.get(d) is None and visit(d, stack + [n]):
                return True
        state[n] = 2
        return False

    for n in sorted(nodes):
        if state.get(n) is None and visit(n, []):
            break
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_heuristics_never_load_pyomo():
    code = ("import sys; import sloserve.solvers.heuristics as h; from sloserve.solvers import load_methods; "
            "load_methods(); import sloserve.sim.schedulers; "
            "print(sorted(m for m in sys.modules if m == 'pyomo' or m.startswith('pyomo.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"Pyomo was imported: {out[:200]}"


def test_registry_recipe():
    r: Registry = Registry("widget")

    @r.register("a", help="first")
    def a():
        return 1

    assert r.get("a") is a and r.names() == ["a"] and "a" in r and r.entry("a").help == "first"
    with pytest.raises(RegistryError, match="registered twice"):
        r.register("a")(lambda: 2)
    with pytest.raises(InputError, match=r"unknown widget 'b'; choose one of \['a'\]"):
        r.get("b")


def test_every_registry_is_filled_by_explicit_imports():
    from sloserve.evaluate.forecast import FORECASTERS
    from sloserve.solvers import load_methods
    assert {"milp", "gh", "agh", "agh+milp"} <= set(load_methods().names())
    assert {"last", "ewma", "seasonal", "holt_winters"} <= set(FORECASTERS.names())
    from sloserve.sweep import EXECUTORS, STUDIES
    assert {"local", "dask"} <= set(EXECUTORS.names()) and {"plan", "stress", "simulate", "rolling"} <= set(STUDIES.names())


def test_old_module_paths_are_the_same_modules():
    import sloserve.instance as old
    import sloserve.problem.instance as new
    from sloserve.heuristics import core as old_core
    from sloserve.solvers.heuristics import core as new_core
    assert old is new and old_core is new_core
    assert callable(sloserve.solve) and callable(sloserve.check)


def test_only_sweep_imports_dask():
    """Dask is an optional extra for sweeps: no other package may import it (function level included)."""
    bad = []
    for p in ROOT.rglob("*.py"):
        mod = _module_name(p)
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n.split(".")[0] in ("dask", "distributed") for n in names) and _top(mod) != "sweep":
                bad.append(mod)
    assert not bad, f"only sloserve.sweep may import Dask: {sorted(set(bad))}"
    code = "import sys, sloserve.sweep; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing sloserve.sweep loaded Dask: {out[:200]}"
