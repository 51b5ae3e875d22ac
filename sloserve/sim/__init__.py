"""Request-level simulation of a plan: arrivals, routing, replica engines with continuous batching,
a paged KV cache and preemption, and pluggable schedulers (``docs/simulation.md``,
``docs/schedulers.md``, ``docs/metrics.md``)."""
