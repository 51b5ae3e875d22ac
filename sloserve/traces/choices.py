"""The choices of the calibration pipeline, importable without numpy or pandas (the CLI reads them)."""
from __future__ import annotations

#: provisioning statistics of a windowed arrival rate
STATISTICS = ("mean", "p95", "p99", "peak")
#: token statistics used as a query type's size
TOKEN_STATISTICS = ("mean", "p50", "p90", "p95", "p99")
#: ways to split a service's requests into query types
LABEL_METHODS = ("kmeans", "quantile")
#: per-type rate: the service's statistic × the type's share, or each type's own statistic
TYPE_RATES = ("share", "independent")
SLO_FIELDS = ("ttft_slo_s", "tpot_slo_s", "e2e_slo_s")
#: the fields of a per-service profile (``--slo SERVICE.FIELD=VALUE``)
PROFILE_FIELDS = ("family", "ttft_slo_s", "tpot_slo_s", "e2e_slo_s", "max_error", "max_unserved",
                  "unserved_penalty", "error_mode")
