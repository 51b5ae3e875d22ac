"""Calibrate a scenario from a request trace: query types, arrival rates, token sizes, SLOs.

Pipeline (every step is a pure function a notebook can call on its own)::

    trace (tidy frame of sloserve.trace)
      --label_query_types-->   one query type per request (per service, by token shape)
      --arrivals_per_window--> request counts per time window (zeros included)
      --calibration_table-->   one row per query type: rates, token statistics, shares
      --calibrate-->           scenario dict in the YAML schema of docs/scenario.md
      --write_scenario_yaml--> YAML file with the CC BY 4.0 attribution

Units: seconds, tokens, requests per second. Design choices and the numbers behind them
are in ``docs/calibration.md``.
"""
from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from ..errors import InputError
from ..paths import write_text
from .choices import STATISTICS, TOKEN_STATISTICS, TYPE_RATES
from .label import check_trace_frame, factorize, label_query_types, type_order
from .profiles import DEFAULT_OPTIONS, SERVICE_DEFAULTS, profile
from .windows import arrivals_per_window, full_windows, rate_stats, spans, window_counts, window_grid, window_seconds

__all__ = ["ATTRIBUTION", "SERVICE_DEFAULTS", "STATISTICS", "arrivals_per_window", "calibrate", "calibration_table",
           "label_query_types", "window_seconds", "write_scenario_yaml"]

ATTRIBUTION = ("Derived from the Azure LLM Inference Trace 2023, Microsoft, CC BY 4.0, "
               "github.com/Azure/AzurePublicDataset")
ATTRIBUTIONS = {
    "2023": ATTRIBUTION + ' (Patel et al., "Splitwise", ISCA 2024)',
    "2024": ("Derived from the Azure LLM Inference Trace 2024, Microsoft, CC BY 4.0, "
             'github.com/Azure/AzurePublicDataset (Stojkovic et al., "DynamoLLM", HPCA 2025)'),
    "2025": ("Derived from the Azure LMM Inference Trace 2025, Microsoft, CC BY 4.0, "
             'github.com/Azure/AzurePublicDataset (Qiu et al., "ModServe", SoCC 2025)'),
}


def calibration_table(trace: pd.DataFrame, *, window: str | float = "5min", statistic: str = "p95",
                      scale: float = 1.0, types_per_service: int = 3, method: str = "kmeans",
                      tokens: str = "mean", type_rates: str = "share", seed: int = 0,
                      query_types: pd.Series | None = None) -> pd.DataFrame:
    """One row per query type: request shares, arrival rates and token statistics.

    Columns: ``service, query_type, requests, share_of_service, share_of_trace``; rates in req/s
    ``rate_mean, rate_p95, rate_p99, rate_peak`` and the provisioning rate ``rate_rps``
    (= ``rate_<statistic>`` x ``scale``); tokens ``input_mean, input_p50, input_p90, input_p95,
    input_p99, input_min, input_max, input_cv`` (cv = std / mean) and the same for ``output_``;
    the type's token sizes ``input_tokens, output_tokens`` (the ``tokens`` statistic, rounded,
    at least 1: a request has a prompt and produces at least its first token; ``input_tokens_raised``
    and ``output_tokens_raised`` say where the statistic rounded to 0 and 1 was used instead).

    ``type_rates="share"`` (default) gives each type its service's window statistic times the
    type's share of the service's requests, so the types of a service add up to the service's
    rate; ``"independent"`` computes each type's statistic from its own window counts (each type
    provisioned for its own peak; sums exceed the service's statistic). Both agree for ``mean``.
    ``query_types`` (a label per request) replaces :func:`label_query_types`.
    """
    check_trace_frame(trace)
    if statistic not in STATISTICS:
        raise InputError(None, "statistic", f"must be one of {list(STATISTICS)}, got {statistic!r}")
    if tokens not in TOKEN_STATISTICS:
        raise InputError(None, "tokens", f"must be one of {list(TOKEN_STATISTICS)}, got {tokens!r}")
    if type_rates not in TYPE_RATES:
        raise InputError(None, "type_rates", f"must be one of {list(TYPE_RATES)}, got {type_rates!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(scale) or scale < 0:
        raise InputError(None, "scale", f"must be a number >= 0, got {scale!r}")
    w = window_seconds(window)
    qt = query_types if query_types is not None else label_query_types(
        trace, types_per_service, method=method, seed=seed)
    if len(qt) != len(trace):
        raise InputError(None, "query_types", f"{len(qt)} labels for {len(trace)} requests")
    t = trace["arrival_s"].to_numpy(dtype=np.float64)
    inp = trace["input_tokens"].to_numpy()
    out = trace["output_tokens"].to_numpy()
    svc_codes, services = factorize(trace["service"], "service")
    qt_codes, qtypes = factorize(pd.Series(np.asarray(qt) if not isinstance(qt, pd.Series) else qt.to_numpy()),
                               "query_type")
    S, Q = len(services), len(qtypes)
    first, last, n_svc = spans(t, svc_codes, S)
    origin, nw, j = window_grid(t, w)
    starts = origin + w * np.arange(nw)
    svc_counts = window_counts(svc_codes, S, j, nw)
    svc_stats = [rate_stats(svc_counts[si], full_windows(starts, w, first[si], last[si]), int(n_svc[si]),
                             float(last[si] - first[si]), w) for si in range(S)]
    combo = svc_codes.astype(np.int64) * Q + qt_codes
    n_combo = np.bincount(combo, minlength=S * Q)
    present = np.flatnonzero(n_combo)
    qt_counts = None
    if type_rates == "independent":
        remap = np.full(S * Q, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        qt_counts = window_counts(remap[combo], len(present), j, nw)
    order = np.argsort(combo, kind="stable")  # one sort, then contiguous slices per type
    bounds = np.concatenate([[0], np.cumsum(n_combo)])
    rows = []
    for pi, c in enumerate(present):
        si, qi = divmod(int(c), Q)
        n, ns = int(n_combo[c]), int(n_svc[si])
        if type_rates == "share":
            stats = {k: v * n / ns for k, v in svc_stats[si].items()}
        else:
            stats = rate_stats(qt_counts[pi], full_windows(starts, w, first[si], last[si]), n,
                                float(last[si] - first[si]), w)
        row: dict[str, Any] = {"service": services[si], "query_type": qtypes[qi], "requests": n,
                               "share_of_service": n / ns, "share_of_trace": n / len(t)}
        row.update({f"rate_{k}": v for k, v in stats.items()})
        row["rate_rps"] = stats[statistic] * float(scale)
        idx = order[bounds[c]:bounds[c + 1]]
        for arr, pre in ((inp, "input"), (out, "output")):
            v = arr[idx].astype(np.float64)
            p50, p90, p95, p99 = np.percentile(v, [50, 90, 95, 99])
            mu = float(v.mean())
            row.update({f"{pre}_mean": mu, f"{pre}_p50": p50, f"{pre}_p90": p90, f"{pre}_p95": p95,
                        f"{pre}_p99": p99, f"{pre}_min": int(v.min()), f"{pre}_max": int(v.max()),
                        f"{pre}_cv": float(v.std() / mu) if mu > 0 else 0.0})
        for col, pre in (("input_tokens", "input"), ("output_tokens", "output")):
            row[col] = max(1, int(round(row[f"{pre}_{tokens}"])))
            row[f"{col}_raised"] = int(round(row[f"{pre}_{tokens}"])) < 1  # said by calibrate's notes
        rows.append(row)
    df = pd.DataFrame(rows)
    key = sorted(range(len(df)), key=lambda i: (df["service"].iloc[i], type_order(df["query_type"].iloc[i]),
                                                df["query_type"].iloc[i]))
    return df.iloc[key].reset_index(drop=True)



def _sig(x: float, digits: int = 6) -> float:
    """x rounded to ``digits`` significant digits (plain float for YAML)."""
    return float(f"{x:.{digits}g}") if x else 0.0


def calibrate(trace: pd.DataFrame, *, window: str | float = "5min", statistic: str = "p95", scale: float = 1.0,
              types_per_service: int = 3, slo_defaults: Mapping[str, Mapping[str, Any]] | None = None,
              name: str = "calibrated", description: str | None = None, method: str = "kmeans",
              tokens: str = "mean", type_rates: str = "share", seed: int = 0,
              options: Mapping[str, Any] | None = None, catalog: Mapping[str, Any] | None = None,
              notes: list[str] | None = None) -> dict:
    """A scenario (plain dict in the YAML schema of ``docs/scenario.md``) calibrated from a trace.

    Query types come from :func:`label_query_types` (``types_per_service``, ``method``, ``seed``);
    ``rate_rps`` is the ``statistic`` (``mean | p95 | p99 | peak``) of the request rate over
    ``window``-long windows, times ``scale`` (see :func:`calibration_table`); ``input_tokens`` /
    ``output_tokens`` are the type's ``tokens`` statistic (default the mean, which preserves the
    total prefill and decode work). Family, SLOs (seconds) and ``max_error`` come from
    :data:`SERVICE_DEFAULTS`, overridden per service by ``slo_defaults``
    (``{"code": {"ttft_slo_s": 0.5}, "*": {...}}``; ``"*"`` applies to all services). ``options``
    and ``catalog`` are copied into the scenario (options default to :data:`DEFAULT_OPTIONS`;
    no catalog = the whole packaged catalog). What the calibration changed on the way (a token
    statistic of 0 raised to 1) is appended to ``notes``, one line each.
    """
    table = calibration_table(trace, window=window, statistic=statistic, scale=scale,
                              types_per_service=types_per_service, method=method, tokens=tokens,
                              type_rates=type_rates, seed=seed)
    qts = []
    for _, r in table.iterrows():
        for col in ("input_tokens", "output_tokens"):
            if r[f"{col}_raised"] and notes is not None:
                notes.append(f"query type {r['query_type']}: the {tokens} of its {col} is "
                             f"{r[col.split('_')[0] + '_' + tokens]:.3g}, which rounds to 0; {col} is 1 "
                             "(a request has a prompt and produces at least one token)")
        p = profile(r["service"], slo_defaults)
        q: dict[str, Any] = {"name": r["query_type"], "family": p["family"], "rate_rps": _sig(r["rate_rps"]),
                             "input_tokens": int(r["input_tokens"]), "output_tokens": int(r["output_tokens"])}
        for f in ("ttft_slo_s", "tpot_slo_s"):
            if p.get(f) is not None:
                q[f] = float(p[f])
        e2e = p.get("e2e_slo_s")
        if e2e == "derived":
            if p.get("ttft_slo_s") is not None and p.get("tpot_slo_s") is not None:
                q["e2e_slo_s"] = round(float(p["ttft_slo_s"]) + q["output_tokens"] * float(p["tpot_slo_s"]), 3)
        elif e2e is not None:
            q["e2e_slo_s"] = float(e2e)
        q["max_error"] = float(p["max_error"])
        q["error_mode"] = str(p.get("error_mode", "per_route"))
        if p.get("max_unserved"):
            q["max_unserved"] = float(p["max_unserved"])
        if p.get("unserved_penalty"):
            q["unserved_penalty"] = float(p["unserved_penalty"])
        qts.append(q)
    w = window_seconds(window)
    spans = table.groupby("service")["requests"].sum() / table.groupby("service")["rate_mean"].sum()
    if description is None:
        src = trace.attrs.get("source")
        srcs = [Path(s).name for s in (src if isinstance(src, list) else [src])] if src else []
        description = (f"Calibrated from {len(trace):,} requests"
                       + (f" ({', '.join(srcs)})" if srcs else "")
                       + f", services {', '.join(f'{s} {spans[s] / 60:.1f} min' for s in spans.index)}; "
                       f"rate = {statistic} over {w:g}-s windows x {scale:g}; token sizes = {tokens}; "
                       f"{method} types (<= {types_per_service} per service).")
    out: dict[str, Any] = {"name": str(name), "description": description, "query_types": qts}
    if catalog is not None:
        out["catalog"] = {k: list(v) for k, v in catalog.items()}
    opts = dict(DEFAULT_OPTIONS)
    opts.update(options or {})
    out["options"] = opts
    return out


def _attribution_for(sources: Sequence[str] | None) -> str:
    """Credit lines for the Azure traces among ``sources`` (file names); 2023 credit if None."""
    if sources is None:
        return ATTRIBUTION
    names = [Path(str(s)).name.lower() for s in sources]
    years = {"2025": any("lmminference" in n or "multimodal" in n for n in names),
             "2024": any("llminferencetrace" in n and "1week" in n for n in names),
             "2023": any(n in ("azurellminferencetrace_code.csv", "azurellminferencetrace_conv.csv") for n in names)}
    lines = [ATTRIBUTIONS[y] for y in ("2023", "2024", "2025") if years[y]]
    return "\n".join(lines) if lines else "Calibrated from: " + ", ".join(names)


def write_scenario_yaml(scenario: Mapping[str, Any], path: str | Path | None, *, command: str | None = None,
                        sources: Sequence[str] | None = None, notes: Sequence[str] = ()) -> str:
    """Write ``scenario`` as YAML with a header comment (attribution, calibration command); return the text.

    The header carries the CC BY 4.0 credit the Azure traces ask for (``ATTRIBUTION``, plus the
    2024/2025 credits when ``sources`` name those files) and ``command`` (default: this
    process's command line). ``path=None`` only returns the text.
    """
    cmd = command if command is not None else " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name] + sys.argv[1:])
    credit = _attribution_for(sources)
    head = ["# " + line for line in credit.splitlines()]
    if "CC BY 4.0" in credit:
        head.append("# Licence: https://creativecommons.org/licenses/by/4.0/ -- rates and token sizes are "
                    "statistics of the trace (changed: aggregated).")
    head.append(f"# Calibrated with: {cmd}")
    head += [f"# Note: {n}" for n in notes]
    text = "\n".join(head) + "\n" + yaml.safe_dump(dict(scenario), sort_keys=False, width=100)
    if path is not None:
        write_text(path, text, "scenario file")
    return text
