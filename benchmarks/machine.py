"""What machine a benchmark ran on, said the same way by every script in benchmarks/."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """CPU model, logical cores and Python version, e.g. 'AMD EPYC, 2 logical cores; Python 3.11.7'."""
    return f"{cpu_model()}, {os.cpu_count()} logical cores; Python {platform.python_version()}"
