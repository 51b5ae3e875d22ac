"""Request schedulers of the replica engine, by registry (``docs/schedulers.md``).

``fcfs`` (vLLM), ``mcsf`` (Jaillet et al.), ``amax`` and ``amin`` (Chen, Ye, Zhou), ``hsf``
(hindsight shortest first). Importing this package registers all of them.
"""
from __future__ import annotations

from .base import SCHEDULERS, Job, Scheduler, identity_footprint, paged_footprint
from .fcfs import FCFS
from .mcsf import MCSF, AMax
from .amin import AMin
from .hsf import HSF

__all__ = ["SCHEDULERS", "Job", "Scheduler", "identity_footprint", "paged_footprint",
           "FCFS", "MCSF", "AMax", "AMin", "HSF"]
