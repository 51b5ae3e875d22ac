"""What optimistic scheduling saves: the GPUs and $/h the default scenario needs to meet 90 %
attainment under fcfs vs amin (A_min, arXiv:2508.14544) — one run.

    .venv/bin/python benchmarks/verify_schedulers.py [--duration S]

Traffic: Poisson at the scenario's rates with lognormal output lengths (CV 1: real length
uncertainty; seed 0). A_min and MC-SF need an output-length interval per request: the ``binned``
predictor learns its intervals per (type, input-length bin) from a *separate* synthetic sample
(seed 99) and never sees the replayed lengths. Each scheduler gets its own verify loop (same
options), then its verified plan is replayed out of sample (seeds 101–103) under the same scheduler.
"""
from __future__ import annotations

import argparse
import time

from sloserve.model.compile import compile_scenario
from sloserve.model.scenario import default_scenario
from sloserve.sim import arrivals as A
from sloserve.sim.engine import EngineOptions
from sloserve.sim.predictors import PREDICTORS
from sloserve.sim.simulator import simulate
from sloserve.sim.verify import VerifyOptions, verify

from machine import describe  # benchmarks/machine.py (this script's folder is on sys.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=900.0, help="seconds of synthetic traffic per replay")
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    sc = default_scenario()
    c = compile_scenario(sc)
    kw = dict(lengths="lognormal", length_cv=1.0)
    arr = A.synthetic(c, args.duration, seed=0, **kw)
    train = A.synthetic(c, args.duration, seed=99, **kw).frame().rename(columns={"query_type": "service"})
    rows = []
    for sched, pred_name in (("fcfs", None), ("mcsf", "binned"), ("amin", "binned")):
        pred = PREDICTORS.get(pred_name)().fit(train) if pred_name else None
        eng = EngineOptions(scheduler=sched)
        t0 = time.perf_counter()
        v = verify(sc, arr, VerifyOptions(target=0.9), engine=eng, predictor=pred)
        wall = time.perf_counter() - t0
        gpus = int(v.iterations.loc[v.iterations["cost_per_hour"] == v.plan.objective, "gpus"].iloc[0])
        oos = [float(simulate(v.compiled, v.plan, A.synthetic(c, args.duration, seed=s, **kw), engine=eng,
                              predictor=pred).summary["slo_attainment"].min()) for s in (101, 102, 103)]
        analytic = float(v.iterations["cost_per_hour"].iloc[0])
        rows.append((sched, pred_name or "-", v.met, v.plan.objective, gpus, analytic, len(v.iterations), oos, wall))
        print(f"{sched:5} ({pred_name or 'no predictor'}): {'met' if v.met else 'NOT met'} at {v.plan.objective:.2f} $/h "
              f"on {gpus} GPUs ({v.plan.objective / analytic:.2f} x analytic), {len(v.iterations)} replays, {wall:.0f} s; "
              f"worst type out of sample {', '.join(f'{x:.3f}' for x in oos)}")
    base = rows[0]
    print("\nagainst fcfs:")
    for r in rows[1:]:
        print(f"  {r[0]}: {r[3] - base[3]:+.2f} $/h ({100 * (r[3] / base[3] - 1):+.1f} %), {r[4] - base[4]:+d} GPUs")


if __name__ == "__main__":
    main()
