"""A JupyterLab server on 127.0.0.1 and Debian's Chromium driven by Playwright, for the browser tests.

The server gets a random port, no token, its own runtime, config, settings and workspace
directories, and a root directory of copies (the repository's files are never written). Chromium is
the system's (``$SLOSERVE_CHROMIUM`` or ``/usr/bin/chromium``), launched by ``executable_path``:
Playwright downloads no browser. Without either, the tests are skipped with the reason, unless
``$SLOSERVE_REQUIRE_BROWSER=1``: CI (``.ci/run``) installs Chromium with apt-get where it is missing
and requires it. Screenshots go to
``$SLOSERVE_ARTIFACTS`` (default ``build/browser/``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SLOSERVE_CHROMIUM", "/usr/bin/chromium"))


def _missing(reason: str):
    """Skip, or fail where the browser is required (CI sets SLOSERVE_REQUIRE_BROWSER=1)."""
    if os.environ.get("SLOSERVE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    d = Path(os.environ.get("SLOSERVE_ARTIFACTS", REPO / "build" / "browser"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """(base URL, root directory) of a running JupyterLab; stopped at the end of the session."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing("jupyterlab is not installed (pip install -e '.[test]')")
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the DOM (no virtual scrolling), so prompts and outputs can be read off the page
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = home / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                        "checkForUpdates": False}))
    docs = home / "settings" / "@jupyterlab" / "docmanager-extension"
    docs.mkdir(parents=True)  # no "Select Kernel" dialog: start the notebook's (preferred) kernel
    (docs / "plugin.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONUNBUFFERED": "1"}
    from sloserve.traces.trace import default_trace_dir
    if default_trace_dir() is not None:
        env["SLOSERVE_TRACE_DIR"] = str(default_trace_dir())
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
           "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={home / 'settings'}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}", "--ServerApp.open_browser=False"]
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start; its log:\n{(home / 'server.log').read_text()[-3000:]}")
        time.sleep(0.3)
    yield url, root
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SLOSERVE_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def shutdown_kernels(url: str) -> None:
    """Stop every kernel of the server (one test's notebook does not share the machine with the next)."""
    with urllib.request.urlopen(f"{url}/api/kernels", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{url}/api/kernels/{k['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


@pytest.fixture
def page(browser, lab):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()
    shutdown_kernels(lab[0])


def open_notebook(page, url: str, rel: str, timeout_s: float = 60.0) -> None:
    """Open ``rel`` (relative to the server root) and wait until its kernel is idle."""
    # ?reset: a fresh workspace, not the tabs an earlier test left open
    page.goto(f"{url}/lab/tree/{rel}?reset", timeout=timeout_s * 1000)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=timeout_s * 1000)
    accept_kernel_dialog(page, wait_ms=1500)  # should the kernel dialog still appear
    wait_kernel_idle(page, timeout_s)


def accept_kernel_dialog(page, wait_ms: float = 0) -> bool:
    """Accept JupyterLab's Select Kernel dialog with its default (the notebook's kernel), as a reader would,
    if it shows (within ``wait_ms``; 0: only if it shows now); whether it did."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    sel = ".jp-Dialog:has-text('Select Kernel')"
    if wait_ms:
        try:
            page.wait_for_selector(sel, timeout=wait_ms)
        except PlaywrightTimeout:
            return False
    elif not page.locator(sel).count():
        return False
    page.click(".jp-Dialog .jp-mod-accept")
    return True


def wait_kernel_idle(page, timeout_s: float) -> None:
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=timeout_s * 1000)


def run_all(page, tries: int = 6) -> None:
    """Run > Run All Cells, from the menu as a reader would; again if no cell started within 10 s
    (a kernel still connecting drops the request)."""
    started = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
        .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    for _ in range(tries):
        if accept_kernel_dialog(page):  # a busy machine can show it after open_notebook stopped waiting
            wait_kernel_idle(page, 60.0)
            continue
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            raise AssertionError(f"JupyterLab shows a dialog: {dialog.first.inner_text()!r}")
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:
            page.wait_for_function(started, timeout=10_000, polling=250)
            return
        except PlaywrightTimeout:  # no cell started: try the menu again
            pass
    raise AssertionError("Run All Cells started no cell")


def wait_all_executed(page, timeout_s: float) -> float:
    """Wait until every code cell shows an execution count (none pending); the seconds it took."""
    t0 = time.monotonic()
    js = """() => {
      const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
      return p.length > 0 && p.every(t => /^\\[\\d+\\]:$/.test(t));
    }"""
    page.wait_for_function(js, timeout=timeout_s * 1000, polling=500)
    wait_kernel_idle(page, timeout_s)
    return time.monotonic() - t0


def save(page) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-mod-dirty')",
                           timeout=30_000)
