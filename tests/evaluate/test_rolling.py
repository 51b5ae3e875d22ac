"""Rolling-horizon re-planning: forecasts, resumable output, and rolling vs static on a toy trace."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sloserve.errors import InputError

from sloserve.evaluate.rolling import RollingOptions, forecast, horizon_summary, rolling_horizon, with_rates

from ..factories import tiny_compiled


def test_forecasts():
    h = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    assert np.allclose(forecast(h, "last"), [5, 2])
    assert np.allclose(forecast(h, "ewma", alpha=0.5), [0.25 * 1 + 0.25 * 3 + 0.5 * 5, 2])
    s = np.array([[1.0], [9.0], [1.0], [9.0], [1.0]])
    assert np.allclose(forecast(s, "seasonal", season=2), [9.0])  # same phase of the previous seasons
    with pytest.raises(ValueError):
        forecast(h, "oracle")


def _rates(n=8):
    t = np.arange(n)
    easy = 2.0 + 1.5 * np.sin(t / 2.0)  # demand swings between 0.5 and 3.5 rps
    return pd.DataFrame({"q-easy": easy, "q-hard": np.full(n, 1.0)}, index=t * 300.0)


def test_rolling_vs_static_on_swinging_demand(tmp_path):
    c = tiny_compiled()
    df = rolling_horizon(c, _rates(), RollingOptions(method="milp", forecast="last", time_limit_s=10), progress=False)
    s = horizon_summary(df).set_index("policy")
    assert set(s.index) == {"rolling", "static"} and (s["windows"] == 7).all()
    # the static plan is sized for the peak: never beyond capacity, and it pays for it every window
    assert s.loc["static", "beyond_capacity_mean"] == 0
    assert s.loc["rolling", "infra_mean"] < s.loc["static", "infra_mean"]
    st = df[df["policy"] == "static"]
    assert st["infra_cost_per_hour"].nunique() == 1


def test_rolling_output_is_appended_and_resumable(tmp_path):
    c = tiny_compiled()
    out = tmp_path / "rolling.csv"
    ro = RollingOptions(method="milp", forecast="ewma", time_limit_s=10, switching_cost=1.0)
    first = rolling_horizon(c, _rates(7), ro, out=out, progress=False)
    assert len(pd.read_csv(out)) == len(first) == 12
    # an interrupted run: keep the header and the first 7 records, and tear the 8th mid-line
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:8]) + lines[8][:10])
    again = rolling_horizon(c, _rates(7), ro, out=out, progress=False)
    assert len(again) == 12 and len(pd.read_csv(out)) == 12
    cols = [col for col in first.columns if col not in ("window_start", "replan_s")]
    pd.testing.assert_frame_equal(again[cols], first[cols], check_dtype=False)  # churn too: replicas are stored


def test_a_resume_with_other_options_or_inputs_is_refused(tmp_path):
    c = tiny_compiled()
    out = tmp_path / "rolling.csv"
    ro = RollingOptions(method="milp", time_limit_s=10)
    rolling_horizon(c, _rates(5), ro, out=out, progress=False)
    with pytest.raises(InputError, match="option margin: was 1.0 in the run that wrote this file, now 1.2"):
        rolling_horizon(c, _rates(5), replace(ro, margin=1.2), out=out, progress=False)
    with pytest.raises(InputError, match="input <rates per window>: differs"):
        rolling_horizon(c, _rates(6), ro, out=out, progress=False)
    with pytest.raises(InputError, match="option warmup"):
        rolling_horizon(c, _rates(5), ro, out=out, progress=False, warmup=2)
    fresh = rolling_horizon(c, _rates(6), replace(ro, margin=1.2), out=out, progress=False, overwrite=True)
    assert len(pd.read_csv(out)) == len(fresh) == 10
    (tmp_path / "foreign.csv").write_text("policy,window\nrolling,1\n")
    with pytest.raises(InputError, match="has no manifest"):
        rolling_horizon(c, _rates(5), ro, out=tmp_path / "foreign.csv", progress=False)


def test_with_rates_changes_only_rates():
    c = tiny_compiled()
    d = with_rates(c, [5.0, 6.0])
    assert list(d.query_types["rate_rps"]) == [5.0, 6.0] and list(c.query_types["rate_rps"]) == [2.0, 1.0]
    assert d.routes is c.routes
