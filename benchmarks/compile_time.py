"""Compile time of generated scenarios S, M, L, XL (target: XL under 2 s), measured in one run.

    .venv/bin/python benchmarks/compile_time.py [--repeats 5]

Prints, per preset, the table sizes, the median wall time of `compile_scenario` over the repeats,
the share spent in the performance model, and the ratio to the 2-second target.
"""
from __future__ import annotations

import argparse
import statistics
import time

from sloserve.model import perf
from sloserve.model.compile import compile_scenario
from sloserve.model.generate import PRESETS, generate_scenario

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)

TARGET_S = 2.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print(f"{'preset':6} {'types':>5} {'configs':>8} {'routes':>8} {'compile s':>10} {'perf s':>8} {'vs 2 s target':>14}")
    orig = perf.evaluate
    for preset in PRESETS:
        sc = generate_scenario(preset, args.seed)
        times, perf_times = [], []

        def timed(*a, **k):
            t = time.perf_counter()
            out = orig(*a, **k)
            perf_times.append(time.perf_counter() - t)
            return out

        perf.evaluate = timed
        try:
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                c = compile_scenario(sc)
                times.append(time.perf_counter() - t0)
        finally:
            perf.evaluate = orig
        med = statistics.median(times)
        print(f"{preset:6} {len(c.query_types):5d} {len(c.configs):8d} {len(c.routes):8d} {med:10.3f} "
              f"{statistics.median(perf_times):8.3f} {med / TARGET_S:13.1%}")


if __name__ == "__main__":
    main()
