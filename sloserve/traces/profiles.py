"""Per-service defaults of a calibrated scenario: error family, SLOs and accuracy targets.

Sources and reasoning: ``docs/calibration.md``, section "SLO defaults".
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import InputError
from ..problem.options import scenario_option_defaults
from .choices import PROFILE_FIELDS, SLO_FIELDS

#: Per-service defaults: error family, SLOs (seconds) and accuracy target. ``e2e_slo_s="derived"``
#: means ttft_slo_s + output_tokens * tpot_slo_s of each type; ``None`` drops the field.
#: Sources and reasoning: docs/calibration.md, section "SLO defaults".
SERVICE_DEFAULTS: dict[str, dict[str, Any]] = {
    "code": {"family": "code", "ttft_slo_s": 1.0, "tpot_slo_s": 0.05, "e2e_slo_s": "derived",
             "max_error": 0.15, "max_unserved": 0.0, "unserved_penalty": 0.0, "error_mode": "per_route"},
    "conversation": {"family": "conversation", "ttft_slo_s": 1.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
                     "max_error": 0.20, "max_unserved": 0.0, "unserved_penalty": 0.0, "error_mode": "per_route"},
    "multimodal": {"family": "conversation", "ttft_slo_s": 2.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
                   "max_error": 0.20, "max_unserved": 0.0, "unserved_penalty": 0.0, "error_mode": "per_route"},
    "math": {"family": "math", "ttft_slo_s": 2.0, "tpot_slo_s": 0.10, "e2e_slo_s": "derived",
             "max_error": 0.30, "max_unserved": 0.0, "unserved_penalty": 0.0, "error_mode": "per_route"},
}
#: services not listed above get this profile
FALLBACK_SERVICE = "conversation"

#: the options block written to every calibrated scenario (the schema's defaults, made visible)
DEFAULT_OPTIONS: dict[str, Any] = scenario_option_defaults()


def profile(service: str, slo_defaults: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    base = dict(SERVICE_DEFAULTS.get(service, SERVICE_DEFAULTS[FALLBACK_SERVICE]))
    for key in ("*", service):
        over = (slo_defaults or {}).get(key)
        if over is None:
            continue
        if not isinstance(over, Mapping):
            raise InputError(None, f"slo_defaults.{key}", f"must be a mapping, got {over!r}")
        bad = sorted(set(over) - set(PROFILE_FIELDS))
        if bad:
            raise InputError(None, f"slo_defaults.{key}.{bad[0]}", f"unknown field; allowed: {list(PROFILE_FIELDS)}")
        base.update(over)
    for f in SLO_FIELDS + ("max_error", "max_unserved", "unserved_penalty"):
        v = base.get(f)
        if v is None or (f == "e2e_slo_s" and v == "derived"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be a number, got {v!r}")
        if f in SLO_FIELDS and v <= 0:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be > 0, got {v!r}")
        if f in ("max_error", "max_unserved") and not 0 <= v <= 1:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be in [0, 1], got {v!r}")
        if f == "unserved_penalty" and v < 0:
            raise InputError(None, f"slo_defaults.{service}.{f}", f"must be >= 0, got {v!r}")
    if base.get("error_mode", "per_route") not in ("per_route", "mean"):
        raise InputError(None, f"slo_defaults.{service}.error_mode",
                         f"must be one of ['per_route', 'mean'], got {base.get('error_mode')!r}")
    if base.get("family") not in ("conversation", "code", "math"):
        raise InputError(None, f"slo_defaults.{service}.family",
                         f"must be one of ['conversation', 'code', 'math'], got {base.get('family')!r}")
    return base

