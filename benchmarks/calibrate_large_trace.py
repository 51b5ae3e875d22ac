"""Load and calibrate a multi-million-row synthetic trace in the Azure 2024 format.

    .venv/bin/python benchmarks/calibrate_large_trace.py --rows 5000000

Writes a synthetic week-long-style CSV (``TIMESTAMP,ContextTokens,GeneratedTokens``, timestamps
``2024-05-10 00:00:00.009930+00:00``, some without fractional seconds) into a temporary
directory (in a child process, so its memory does not count), then loads it with
``sloserve.traces.trace.load_trace`` (chunked) and calibrates it, printing wall time, the peak of
traced Python/numpy allocations per phase (tracemalloc) and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd


def generate(path: Path, rows: int, seed: int = 0, block: int = 500_000) -> None:
    """Synthetic trace: Poisson arrivals with a diurnal rate over ~rows/28 s, lognormal tokens."""
    rng = np.random.default_rng(seed)
    mean_rate = 28.0  # req/s, like the 2024 code trace
    t = 0.0
    start = np.datetime64("2024-05-10T00:00:00", "us")
    with open(path, "w") as f:
        f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        for s in range(0, rows, block):
            n = min(block, rows - s)
            gaps = rng.exponential(1.0 / mean_rate, n)
            # diurnal modulation: the rate swings +-50 % over a day (approximate time warp)
            approx = t + np.cumsum(gaps)
            gaps = gaps / (1.0 + 0.5 * np.sin(2 * np.pi * approx / 86400.0))
            times = t + np.cumsum(gaps)
            t = float(times[-1])
            us = (times * 1e6).astype(np.int64)
            whole = rng.random(n) < 0.001  # a few stamps on whole seconds, written without a fraction
            us[whole] -= us[whole] % 1_000_000
            order = np.argsort(us, kind="stable")
            us, whole = us[order], whole[order]
            ts = np.datetime_as_string(start + us.astype("timedelta64[us]"), unit="us")
            ts = pd.Series(ts).str.replace("T", " ", regex=False)
            ts[whole] = ts[whole].str.slice(0, 19)
            inp = np.maximum(1, rng.lognormal(7.2, 1.0, n)).astype(np.int64)
            out = np.maximum(1, rng.lognormal(3.0, 1.1, n)).astype(np.int64)
            pd.DataFrame({"TIMESTAMP": ts + "+00:00", "ContextTokens": inp, "GeneratedTokens": out}).to_csv(
                f, header=False, index=False)


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    """Current resident set size (MB), from /proc when available."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=5e6)
    ap.add_argument("--chunk-rows", type=int, default=250_000)
    ap.add_argument("--window", default="5min")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also report traced allocation peaks per phase (slows the run several-fold)")
    ap.add_argument("--keep", default=None, help="directory to write the trace into (kept); default a temp dir")
    args = ap.parse_args(argv)
    rows = int(args.rows)

    from sloserve.traces.calibrate import calibration_table
    from sloserve.traces.trace import load_trace

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep) if args.keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        path = d / "AzureLLMInferenceTrace_code_1week.csv"
        t0 = time.perf_counter()
        proc = mp.get_context("spawn").Process(target=generate, args=(path, rows))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            print("generation failed", file=sys.stderr)
            return 1
        size_mb = path.stat().st_size / 1e6
        print(f"generated {rows:,} rows, {size_mb:.0f} MB in {time.perf_counter() - t0:.1f} s (child process)")
        print(f"before load: RSS {_rss_mb():.0f} MB")
        if args.tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()
        df = load_trace(path, progress=False, chunk_rows=args.chunk_rows)
        t_load = time.perf_counter() - t0
        frame_mb = df.memory_usage(deep=True).sum() / 1e6
        extra = ""
        if args.tracemalloc:
            extra = f"  traced peak {tracemalloc.get_traced_memory()[1] / 1e6:.0f} MB"
            tracemalloc.reset_peak()
        print(f"load:      {t_load:6.1f} s  ({len(df) / t_load / 1e6:.2f} M rows/s)  result frame {frame_mb:.0f} MB  "
              f"RSS {_rss_mb():.0f} MB  peak RSS {_peak_rss_mb():.0f} MB{extra}")
        t0 = time.perf_counter()
        tab = calibration_table(df, window=args.window)
        t_cal = time.perf_counter() - t0
        extra = ""
        if args.tracemalloc:
            extra = f"  traced peak {tracemalloc.get_traced_memory()[1] / 1e6:.0f} MB"
            tracemalloc.stop()
        print(f"calibrate: {t_cal:6.1f} s  RSS {_rss_mb():.0f} MB  peak RSS {_peak_rss_mb():.0f} MB{extra}")
        cols = ["query_type", "requests", "rate_mean", "rate_p95", "input_tokens", "output_tokens"]
        print(tab[cols].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
