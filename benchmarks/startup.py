"""Start-up time of the command line: `sloserve --help`, `sloserve --version`, `import sloserve`.

    .venv/bin/python benchmarks/startup.py [--repeats 15] [--baseline PATH]

Each command runs in a fresh interpreter (median wall time over the repeats); the heavy libraries
it imported are listed (pandas, numpy, Pyomo, HiGHS). With ``--baseline``, the same commands run
against an older checkout (its package first on PYTHONPATH) and the ratio is printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "sloserve --help": "import sys; sys.argv=['sloserve','--help']; from sloserve.cli import main; import contextlib,io\n"
                       "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])",
    "sloserve --version": "from sloserve.cli import main; import contextlib,io\n"
                          "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--version'])",
    "import sloserve": "import sloserve",
}
HEAVY = ("pandas", "numpy", "pyomo", "highspy", "scipy", "matplotlib")


def timed(root: Path, code: str) -> tuple[float, list[str]]:
    probe = code + "\nimport sys\nprint(','.join(m for m in " + repr(HEAVY) + " if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(root)}
    t = time.perf_counter()
    # cwd = the checkout itself: `python -c` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=root)
    last = out.stdout.rstrip("\n").split("\n")[-1]
    return time.perf_counter() - t, [m for m in last.split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--baseline", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    roots = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    bare = statistics.median(timed(REPO, "pass")[0] for _ in range(args.repeats))
    print(f"a bare interpreter: {bare:.3f} s (median of {args.repeats})\n")
    print(f"{'command':22} " + " ".join(f"{n + ' s':>12}" for n, _ in roots) + "   heavy modules loaded (this)")
    for name, code in CASES.items():
        row, mods = [], []
        for label, root in roots:
            runs = [timed(root, code) for _ in range(args.repeats)]
            row.append(statistics.median(t for t, _ in runs))
            if label == "this":
                mods = runs[0][1]
        ratio = f"  ({row[0] / row[1]:.2f}x of baseline)" if len(row) == 2 else ""
        print(f"{name:22} " + " ".join(f"{t:12.3f}" for t in row) + f"   {', '.join(mods) or 'none'}{ratio}")


if __name__ == "__main__":
    main()
