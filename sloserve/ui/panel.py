"""The planner panel: the knobs of :func:`~sloserve.ui.explore.what_if` as widgets, and what a plan does.

:class:`PlannerPanel` is a thin view on the pure core :func:`what_if` (scenario + knobs → plan or
diagnosis). Every control is a named attribute with a stable CSS class (``sloserve-<name>``), so
notebooks, tests and browser tests address them the same way:

- knobs: ``cap`` (utilisation cap ρ̄), ``slo`` (factor on every latency SLO), ``err`` (factor on
  every error limit), ``budget`` ($/h, 0 = none), ``method`` (the method registry);
- ``status``: "solving…" with the method and, for exact solvers, the elapsed time, incumbent and gap
  as they arrive; then what was solved in how long;
- ``headline``, ``tables`` (GPUs and $/h per configuration; latency and error per type), ``chart``
  (GPUs per type) and ``changes`` (what the last change did to the plan and its cost);
- ``prove``: the MILP, warm-started from the current plan, within ``time_limit_s``; its gap;
- ``simulate_button`` with ``scheduler``: replays the plan on synthetic arrivals at the scenario's
  rates (``sim_duration_s``) and shows the latency CDFs with the SLOs, and the attainment.

Solves run in the kernel, one at a time: a control moved during a solve re-plans when it ends.
"""
from __future__ import annotations

import html
import io
import time

import pandas as pd

from ..model.scenario import Scenario, default_scenario
from ..problem.plan import Plan, replicas_frame, summary_frame
from ..solvers import SolveOptions, load_methods, solve
from ..errors import InfeasibleError
from .explore import WhatIf, what_if


def plan_changes(before: WhatIf | None, after: WhatIf) -> pd.DataFrame:
    """Replicas per configuration before and after a change (``before``, ``after``, ``delta``), changed rows only."""
    def reps(r):
        return {} if r is None or r.plan is None else {c: n for c, n in r.plan.replicas.items() if n}
    b, a = reps(before), reps(after)
    rows = [{"config": c, "before": b.get(c, 0), "after": a.get(c, 0)} for c in sorted(set(b) | set(a))]
    df = pd.DataFrame(rows, columns=["config", "before", "after"])
    df["delta"] = df["after"] - df["before"]
    return df[df["delta"] != 0].reset_index(drop=True)


class PlannerPanel:
    """An ipywidgets panel over :func:`what_if`; display it (or ``panel.widget``) in Jupyter.

    ``result`` is the current :class:`WhatIf`, ``previous`` the one before it, ``solves`` counts
    completed solves. Needs the ``notebooks`` extra (ipywidgets)."""

    def __init__(self, scenario: Scenario | None = None, method: str = "agh", *, time_limit_s: float = 60.0,
                 sim_duration_s: float = 300.0):
        import ipywidgets as w

        self.scenario = scenario or default_scenario()
        self.time_limit_s = float(time_limit_s)
        self.sim_duration_s = float(sim_duration_s)
        self.result: WhatIf | None = None
        self.previous: WhatIf | None = None
        self.solves = 0
        self._busy = False
        self._pending = False
        style = {"description_width": "160px"}
        wide = w.Layout(width="430px")
        sc = self.scenario
        self.cap = w.FloatSlider(value=sc.options.utilization_cap, min=0.3, max=1.0, step=0.05,
                                 description="utilisation cap ρ̄", style=style, layout=wide, continuous_update=False)
        self.slo = w.FloatSlider(value=1.0, min=0.3, max=2.0, step=0.05, description="SLO × factor",
                                 style=style, layout=wide, continuous_update=False)
        self.err = w.FloatSlider(value=1.0, min=0.5, max=2.0, step=0.05, description="error limit × factor",
                                 style=style, layout=wide, continuous_update=False)
        self.budget = w.BoundedFloatText(value=sc.options.budget_per_hour or 0.0, min=0.0, max=1e7, step=1.0,
                                         description="budget $/h (0 = none)", style=style,
                                         layout=w.Layout(width="300px"))
        self.method = w.Dropdown(options=load_methods().names(), value=method, description="method", style=style,
                                 layout=w.Layout(width="300px"))
        self.prove = w.Button(description="prove optimality (MILP)", layout=w.Layout(width="220px"),
                              tooltip=f"the MILP warm-started from this plan, at most {self.time_limit_s:g} s")
        from ..sim.schedulers import SCHEDULERS
        self.scheduler = w.Dropdown(options=SCHEDULERS.names(), value="fcfs", description="scheduler", style=style,
                                    layout=w.Layout(width="300px"))
        self.simulate_button = w.Button(description=f"simulate this plan ({self.sim_duration_s:g} s)",
                                        layout=w.Layout(width="220px"))
        self.status = w.HTML(value="")
        self.headline = w.HTML(value="")
        self.changes = w.HTML(value="")
        self.tables = w.HTML(value="")  # widget state, not output messages: each update is atomic
        self.chart = w.Image(format="png", layout=w.Layout(width="420px"))
        self.sim_out = w.Output()
        for name in ("cap", "slo", "err", "budget", "method", "prove", "scheduler", "simulate_button", "status",
                     "headline", "changes", "tables", "chart", "sim_out"):
            getattr(self, name).add_class(f"sloserve-{name.replace('_', '-')}")
        self.widget = w.VBox([
            w.HBox([w.VBox([self.cap, self.slo, self.err]), w.VBox([self.budget, self.method, self.prove])]),
            self.status, self.headline, self.changes, w.HBox([self.tables, self.chart]),
            w.HBox([self.scheduler, self.simulate_button]), self.sim_out])
        self.widget.add_class("sloserve-panel")
        for c in (self.cap, self.slo, self.err, self.budget, self.method):
            c.observe(self.update, names="value")
        self.prove.on_click(self.prove_optimality)
        self.simulate_button.on_click(self.simulate)
        self.update()

    # -- display -------------------------------------------------------------------------------------
    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _status(self, text: str, solving: bool) -> None:
        cls = "sloserve-solving" if solving else "sloserve-idle"
        self.status.value = f'<span class="{cls}">{html.escape(text)}</span>'

    def _show(self, r: WhatIf, note: str = "") -> None:
        """Headline, tables, chart and the change against the previous result."""
        from matplotlib.figure import Figure

        from .plots import plot_gpus_by_type

        if r.plan is not None and r.diagnosis:  # e.g. "gh found no plan; the MILP did"
            note = f" — {'; '.join(r.diagnosis)}{note}"
        self.headline.value = f"<b>{html.escape(r.headline())}</b>{html.escape(note)}"
        if r.plan is None:
            self.tables.value = "<pre>" + html.escape("\n".join(r.diagnosis)) + "</pre>"
            self.chart.layout.display = "none"  # no chart of the old plan
            self.changes.value = ""
            return
        rep = replicas_frame(r.inst, r.plan)
        lat = summary_frame(r.inst, r.plan)[["query_type", "rate_rps", "ttft_s_max", "ttft_slo_s", "tpot_s_max",
                                              "tpot_slo_s", "error_mean", "max_error"]]
        self.tables.value = rep.drop(columns=["config"]).round(3).to_html() + lat.round(4).to_html(index=False)
        fig = Figure(figsize=(4.5, 2.6))  # not pyplot's: nothing to close, nothing shown twice
        plot_gpus_by_type(rep, ax=fig.subplots())
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.chart.value = buf.getvalue()
        self.chart.layout.display = None
        prev = self.previous
        if prev is None:
            self.changes.value = ""
        elif prev.plan is None:
            self.changes.value = "<i>a plan exists again</i>"
        else:
            d = plan_changes(prev, r)
            dc = r.plan.objective - prev.plan.objective
            what = ", ".join(f"{c} {n:+d}" for c, n in zip(d["config"], d["delta"])) or "same replicas"
            self.changes.value = html.escape(f"vs previous: {dc:+.2f} $/h; {what}")

    # -- actions -------------------------------------------------------------------------------------
    def knobs(self) -> dict:
        """The current control values as :func:`what_if` keywords."""
        return dict(utilization_cap=self.cap.value, slo_scale=self.slo.value, error_scale=self.err.value,
                    budget_per_hour=self.budget.value, method=self.method.value, time_limit_s=self.time_limit_s)

    def update(self, *_) -> WhatIf | None:
        """Re-plan with the current controls (called on every change); returns the new result."""
        if self._busy:  # a change during a solve: re-plan once it ends
            self._pending = True
            return None
        self._busy = True
        try:
            while True:
                self._pending = False
                k = self.knobs()
                t0 = time.perf_counter()
                self._status(f"solving… {k['method']}", True)

                def progress(p):
                    gap = "" if p.gap is None else f", gap {100 * p.gap:.1f} %"
                    inc = "" if p.incumbent is None else f", best {p.incumbent:.2f} $/h"
                    self._status(f"solving… {k['method']} {p.elapsed_s:.0f} s{inc}{gap}", True)

                def early(plan: Plan):  # agh+milp: AGH's plan at once, the MILP's proof later
                    self._status(f"solving… {k['method']}: AGH {plan.objective:.2f} $/h in "
                                 f"{time.perf_counter() - t0:.1f} s, the MILP is proving it", True)

                r = what_if(self.scenario, **k, solve_options={"on_progress": progress, "on_plan": early})
                self.previous, self.result = self.result, r
                self.solves += 1
                self._show(r)
                self._status(f"{k['method']}: solved in {time.perf_counter() - t0:.1f} s (solve {self.solves})", False)
                if not self._pending:
                    return r
        finally:
            self._busy = False

    def prove_optimality(self, *_) -> Plan | None:
        """The MILP on the current settings, warm-started from the current plan; shows its gap."""
        r = self.result
        if r is None or r.plan is None or self._busy:
            return None
        self._busy = True
        t0 = time.perf_counter()
        try:
            self._status("solving… milp (proving the current plan)", True)

            def progress(p):
                gap = "" if p.gap is None else f", gap {100 * p.gap:.1f} %"
                self._status(f"solving… milp {p.elapsed_s:.0f} s{gap}", True)
            try:
                plan = solve(r.inst, "milp", SolveOptions(time_limit_s=self.time_limit_s, warm_start=r.plan,
                                                          on_progress=progress))
            except InfeasibleError as e:  # cannot happen with a feasible warm start; say so if it does
                self._status(f"milp: {e}", False)
                return None
            proved = WhatIf(r.scenario, r.inst, plan, [])
            self.previous, self.result = r, proved
            self.solves += 1
            gap = plan.extra.get("gap")
            gap_s = "optimal" if plan.status == "optimal" else (f"gap {100 * gap:.2f} %" if gap is not None
                                                                 else plan.status)
            self._show(proved, f" — MILP: {gap_s}")
            self._status(f"milp: {gap_s} in {time.perf_counter() - t0:.1f} s (solve {self.solves})", False)
            return plan
        finally:
            self._busy = False

    def simulate(self, *_):
        """Replay the current plan on synthetic arrivals at the scenario's rates; latency CDFs and attainment."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        from ..sim.arrivals import synthetic
        from ..sim.engine import EngineOptions
        from ..sim.plots import plot_attainment, plot_latency_cdf
        from ..sim.simulator import simulate

        r = self.result
        if r is None or r.plan is None or self._busy:
            return None
        self._busy = True
        t0 = time.perf_counter()
        try:
            self._status(f"simulating… {self.sim_duration_s:g} s of arrivals, {self.scheduler.value}", True)
            c = r.inst.compiled  # the tables the plan was made on (what_if compiled them once)
            res = simulate(c, r.plan, synthetic(c, self.sim_duration_s, seed=0),
                           engine=EngineOptions(scheduler=self.scheduler.value))
            self.sim_out.clear_output(wait=True)
            with self.sim_out:
                fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
                plot_latency_cdf(res.requests, c, "ttft", ax=axes[0])
                plot_latency_cdf(res.requests, c, "tpot", ax=axes[1])
                plot_attainment(res.summary, ax=axes[2])
                fig.tight_layout()
                display(fig)
                plt.close(fig)
                display(res.summary[["query_type", "requests", "ttft_p90_s", "tpot_p90_s", "slo_attainment"]].round(3))
            self._status(f"simulated {len(res.requests):,} requests in {time.perf_counter() - t0:.1f} s", False)
            return res
        finally:
            self._busy = False


def plan_explorer(scenario: Scenario | None = None, method: str = "agh", **kw) -> PlannerPanel:
    """The planner panel on ``scenario`` (default: the embedded one); display it in Jupyter."""
    return PlannerPanel(scenario, method, **kw)
