"""The planner panel in a real browser: every control re-plans, and the page shows it.

A notebook with the panel on the teaching scenario; each control is changed as a user would (slider
readouts typed into, the budget box, the method list, the buttons). After each change the headline
cost, the tables and the chart must have changed, and a "solving…" state must have been on the page
while the solve ran (a MutationObserver records every status the page displayed). Screenshots:
before, solving (the MILP proving the plan), after, and the simulation.
"""
from __future__ import annotations

import nbformat

from .conftest import REPO, open_notebook, run_all, wait_all_executed

TEACHING = REPO / "data" / "scenarios" / "teaching.yaml"

RECORD = """() => {
  window.__statuses = [];
  const el = document.querySelector('.sloserve-status');
  new MutationObserver(recs => { for (const r of recs) for (const n of r.addedNodes)
      window.__statuses.push(n.textContent); }).observe(el, {childList: true, subtree: true});
}"""


def _state(page) -> dict:
    return page.evaluate("""() => ({
      status: document.querySelector('.sloserve-status').innerText,
      headline: document.querySelector('.sloserve-headline').innerText,
      tables: document.querySelector('.sloserve-tables').innerText,
      chart: (e => e.offsetParent === null ? '' : e.src)(document.querySelector('.sloserve-chart')),
      changes: document.querySelector('.sloserve-changes').innerText,
      statuses: window.__statuses.slice(),
    })""")


def _solve_count(status: str) -> int:
    return int(status.rsplit("(solve ", 1)[1].rstrip(")")) if "(solve " in status else 0


def _after(page, before: dict, timeout_s: float = 60) -> dict:
    """Wait for the next finished solve; the new state."""
    n = _solve_count(before["status"])
    page.wait_for_function(
        f"""() => {{ const s = document.querySelector('.sloserve-status').innerText;
                     const m = s.match(/\\(solve (\\d+)\\)/); return m && +m[1] > {n}; }}""",
        timeout=timeout_s * 1000, polling=100)
    page.wait_for_timeout(300)  # the outputs follow the status by a message or two
    return _state(page)


def _type_readout(page, cls: str, value: str) -> None:
    r = page.locator(f".sloserve-{cls} .widget-readout")
    r.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def test_panel_controls_replan_in_the_browser(lab, page, artifacts):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    url, root = lab
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from sloserve.model.scenario import load_scenario\n"
        "from sloserve.ui.panel import PlannerPanel\n"
        f"panel = PlannerPanel(load_scenario({str(TEACHING)!r}), method='agh', sim_duration_s=60.0)\n"
        "panel")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "panel.ipynb")
    open_notebook(page, url, "panel.ipynb")
    run_all(page)
    wait_all_executed(page, 120)
    page.wait_for_selector(".sloserve-panel img.sloserve-chart", timeout=60_000)
    page.evaluate(RECORD)
    s0 = _state(page)
    assert s0["headline"].startswith("agh: 6.88 $/h")
    page.locator(".sloserve-panel").screenshot(path=str(artifacts / "panel_before.png"))

    steps = [("cap", lambda: _type_readout(page, "cap", "0.5"), "8.74 $/h"),
             ("slo", lambda: _type_readout(page, "slo", "0.7"), "10.60 $/h"),
             ("err", lambda: _type_readout(page, "err", "1.5"), "1.86 $/h"),
             ("budget", lambda: (page.fill(".sloserve-budget input", "1"), page.keyboard.press("Enter")), "no plan"),
             ("budget", lambda: (page.fill(".sloserve-budget input", "0"), page.keyboard.press("Enter")), "1.86 $/h"),
             ("method", lambda: page.select_option(".sloserve-method select", "milp"), "milp: 1.86 $/h")]
    prev = s0
    for name, act, expect in steps:
        n_seen = len(prev["statuses"])
        act()
        now = _after(page, prev)
        assert expect in now["headline"], (name, now["headline"])
        assert any("solving…" in s for s in now["statuses"][n_seen:]), (name, now["statuses"][n_seen:])
        if "no plan" in expect:
            assert now["chart"] == "" and "budget" in now["tables"]
        elif "no plan" not in prev["headline"] and name != "method":  # the plan itself changed
            assert now["tables"] != prev["tables"], name
            try:
                page.wait_for_function("(old) => document.querySelector('.sloserve-chart').src !== old",
                                       arg=prev["chart"], timeout=10_000)
            except PlaywrightTimeout:
                raise AssertionError(f"{name}: the chart did not change ({prev['headline']!r} -> {now['headline']!r}, "
                                     f"{page.locator('.sloserve-chart').count()} images)") from None
            now = _state(page)
            assert now["changes"].startswith("vs previous:"), now["changes"]
        prev = now

    # the MILP's proof: a visible solving state, then the gap
    page.evaluate("""() => { window.__shot = false; const el = document.querySelector('.sloserve-status');
        new MutationObserver(() => { if (el.innerText.includes('solving… milp')) window.__shot = true; })
          .observe(el, {childList: true, subtree: true}); }""")
    n_seen = len(prev["statuses"])
    page.click(".sloserve-prove")
    page.wait_for_function("() => window.__statuses.some(s => s.includes('solving… milp'))", timeout=30_000)
    page.locator(".sloserve-panel").screenshot(path=str(artifacts / "panel_solving.png"))
    now = _after(page, prev)
    assert "MILP: optimal" in now["headline"] and "milp: optimal" in now["status"]
    assert any("solving… milp" in s for s in now["statuses"][n_seen:])
    page.locator(".sloserve-panel").screenshot(path=str(artifacts / "panel_after.png"))

    page.select_option(".sloserve-scheduler select", "fcfs")
    page.click(".sloserve-simulate-button")
    page.wait_for_function("() => document.querySelector('.sloserve-status').innerText.startsWith('simulated')",
                           timeout=120_000, polling=200)
    page.wait_for_selector(".sloserve-sim-out img", timeout=30_000)
    assert any("simulating…" in s for s in _state(page)["statuses"])
    assert "slo_attainment" in page.locator(".sloserve-sim-out").inner_text()
    page.locator(".sloserve-panel").screenshot(path=str(artifacts / "panel_simulated.png"))
