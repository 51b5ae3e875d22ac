"""Offline batch jobs in the planner: describe (:mod:`.job`), price by simulation (:mod:`.price`),
provision jointly with online traffic (:mod:`.joint`) and check (:mod:`.check`).

    jobs --price_job / work_table--> tidy prices (replica-hours per configuration, simulated)
         --solve_joint--> JointPlan (online plan + the jobs' replicas) --check_joint--> violations

See ``docs/offline_batching.md`` §7.
"""
from __future__ import annotations

from ..model.batch_job import BatchJob, load_jobs
from .price import cost_by_gpu, job_tables, price_job, work_table

__all__ = ["BatchJob", "cost_by_gpu", "job_tables", "load_jobs", "price_job", "work_table"]
