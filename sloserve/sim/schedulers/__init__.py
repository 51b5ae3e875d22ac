"""Request schedulers of the replica engine, by registry (``docs/schedulers.md``)."""
from __future__ import annotations

from .base import SCHEDULERS, Job, Scheduler, identity_footprint, paged_footprint

__all__ = ["SCHEDULERS", "Job", "Scheduler", "identity_footprint", "paged_footprint"]
