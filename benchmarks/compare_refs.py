"""GH and AGH of two git revisions side by side on the regime instances, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/compare_refs.py --base 2e5ff75 [--head WORKTREE]
        --size L [--seeds 0-4] [--regimes tight_gpus,tight_error] [--out /tmp/refs.csv]

``--base`` is checked out (``git archive``) into a temporary folder; ``--head`` is this working tree
unless given. One worker process per revision imports *its own* sloserve and solves the instances it is
sent; the two run alternately on each instance (base first on even instances, head first on odd), so
both share the machine's load. The workers build each instance with their own generator and report the
fingerprint of its tables: an instance whose tables differ between the revisions is not compared (listed).
Prints per regime the median GH and AGH time of each revision, the median of the per-instance time
ratios head/base, and how many plans changed cost (relative 1e-9). This is how a speed-up of the code is
told apart from a quieter machine.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)
from regimes import choices_arg, seeds_arg  # benchmarks/regimes.py

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from regimes import fingerprint
from sloserve.model.regimes import regime_instance
from sloserve.problem.instance import build_instance
from sloserve.solvers import METHODS, SolveOptions, load_methods
load_methods()
for line in sys.stdin:
    regime, size, seed = json.loads(line)
    ri = regime_instance(regime, size, seed)
    inst = build_instance(ri.compiled)
    out = {"fingerprint": fingerprint(ri.compiled), "size_class": ri.size_class}
    for name in ("gh", "agh"):
        t0 = time.perf_counter()
        p = METHODS.get(name)(inst, SolveOptions(seed=0))
        out[name + "_s"] = time.perf_counter() - t0
        out[name + "_cost"] = p.objective
    print(json.dumps(out), flush=True)
"""


def checkout(ref: str, dest: Path) -> Path:
    """``git archive`` of ``ref`` unpacked into ``dest`` (no work tree of this repository is touched)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: refuse paths outside dest
            tf.extractall(dest, filter="data")
        else:  # the archive is this repository's own git tree
            tf.extractall(dest)
    return dest


def worker(tree: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.Popen([sys.executable, "-c", WORKER, str(tree)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=str(tree))


def ask(w: subprocess.Popen, key) -> dict:
    w.stdin.write(json.dumps(key) + "\n")
    w.stdin.flush()
    line = w.stdout.readline()
    if not line:
        raise SystemExit(f"a worker died on {key} (exit {w.wait()})")
    return json.loads(line)


def main() -> None:
    from sloserve.model.regimes import REGIMES
    from sloserve.problem.size import SIZE_CLASSES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision to compare against (e.g. a commit)")
    ap.add_argument("--head", default=None, help="folder of the other revision (default: this working tree)")
    ap.add_argument("--size", default="L")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--regimes", default=",".join(REGIMES))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    regimes = choices_arg(ap, args.regimes, REGIMES, "--regimes")
    choices_arg(ap, args.size, SIZE_CLASSES, "--size")
    seeds = seeds_arg(ap, args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base = checkout(args.base, Path(tmp))
        except subprocess.CalledProcessError as e:
            ap.error(f"--base: git archive {args.base!r} failed: {e.stderr.decode().strip()}")
        head = Path(args.head) if args.head else ROOT
        ws = {"base": worker(base), "head": worker(head)}
        rows, skipped = [], []
        for n, (regime, seed) in enumerate((r, s) for r in regimes for s in seeds):
            key = [regime, args.size, seed]
            order = ("base", "head") if n % 2 == 0 else ("head", "base")
            res = {who: ask(ws[who], key) for who in order}
            if res["base"]["fingerprint"] != res["head"]["fingerprint"]:
                skipped.append(f"{regime} s{seed}")
                continue
            row = {"regime": regime, "seed": seed, "size_class": res["head"]["size_class"], "load": os.getloadavg()[0]}
            for who in ("base", "head"):
                for k in ("gh_s", "gh_cost", "agh_s", "agh_cost"):
                    row[f"{who}_{k}"] = res[who][k]
            rows.append(row)
            print(f"{regime:12s} s{seed} [{row['size_class']}]: GH {row['base_gh_s']:.3f} -> {row['head_gh_s']:.3f} s, "
                  f"AGH {row['base_agh_s']:.2f} -> {row['head_agh_s']:.2f} s", flush=True)
        for w in ws.values():
            w.stdin.close()
            w.wait()
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    print(f"\n{describe()}; base {args.base}, head {args.head or 'working tree'}; size {args.size}, seeds {args.seeds}; "
          f"1-minute load {df.load.min():.2f}–{df.load.max():.2f}")
    if skipped:
        print("not compared (tables differ between the revisions):", ", ".join(skipped))
    out = []
    for regime, g in df.groupby("regime", sort=False):
        def changed(col: str) -> int:
            """Instances whose ``col`` (a plan's cost) differs between the revisions."""
            return int((~np.isclose(g[f"base_{col}"], g[f"head_{col}"], rtol=1e-9, atol=1e-9)).sum())
        out.append({"regime": regime, "n": len(g),
                    "GH s base": g.base_gh_s.median(), "GH s head": g.head_gh_s.median(),
                    "GH head/base": (g.head_gh_s / g.base_gh_s).median(),
                    "AGH s base": g.base_agh_s.median(), "AGH s head": g.head_agh_s.median(),
                    "AGH head/base": (g.head_agh_s / g.base_agh_s).median(),
                    "GH plans changed": changed("gh_cost"), "AGH plans changed": changed("agh_cost")})
    cols = list(out[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in out:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
