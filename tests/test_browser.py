"""Seen in a real browser: one live JupyterLab session driven by playwright and Debian's chromium.

The tour (a copy, so autosave never touches the repository's) is opened
and run top to bottom; then the Loader widget is clicked through every
stage, the attach step puts XDP and tc on a veth pair of its own, reset
returns every stage to the start, and refused input is shown as an error;
the tour's MapView refreshes, stops and starts again.  What is
asserted is what a user sees: no raw reprs, no tracebacks, text fallbacks
hidden by the stylesheet, tables left-aligned.  Screenshots go to
``build/browser/`` (ignored by git).  Needs the ``browser`` extra
(playwright, which drives the system's chromium: no browser download);
with ``BPFNB_REQUIRE_KERNEL=1`` a missing chromium or playwright fails
instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REQUIRE_KERNEL

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sys.path.insert(0, str(ROOT / "scripts"))

import lab  # noqa: E402  (scripts/lab.py)

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]


def _require() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install 'bpfnb[browser]')")
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (apt-get install chromium)")
    if missing:
        (pytest.fail if REQUIRE_KERNEL else pytest.skip)(f"the browser test needs {' and '.join(missing)}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/, every cell rendered (no windowing), no news pop-up."""
    _require()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    settings = root / "settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"), "HOME": str(root),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "IPYTHONDIR": str(root / "ipython")}
    with socket.socket() as sock:  # a free port, so parallel runs do not meet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = lab.command(["--no-browser", f"--port={port}", "--ServerApp.port_retries=0"], notebooks=root / "notebooks")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    try:
        url, deadline = None, time.monotonic() + 180
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            url = lab.tour_url(line) if "127.0.0.1" in line else None
        assert url, "JupyterLab did not say where it listens"
        drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)  # keep the log pipe empty
        yield url
        drain.kill()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        for _ in range(30):  # the server logs its URL a moment before it answers
            try:
                page.goto(server)
                break
            except Exception:  # noqa: BLE001 - connection refused while it binds
                time.sleep(1)
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=120_000)
        yield page
        browser.close()


def _idle(page, timeout: float = 300) -> None:
    """Wait until no cell is queued or running ([*]) and the kernel says idle."""
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
        " && document.body.innerText.includes('| Idle')", timeout=timeout * 1000, polling=500)


def _menu(page, *items: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=items[0]).first.click()
    for item in items[1:]:
        page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _loader(page):
    return page.locator(".jp-OutputArea-output .widget-vbox:has(button:text-is('run all'))").first


def _button(widget, label: str):
    return widget.locator(f"button:text-is('{label}')").first


def test_tour_runs_and_shows_no_raw_reprs(page):
    _menu(page, "Run", "Run All Cells")
    _idle(page)
    _shot(page, "tour-end")
    notebook = page.locator(".jp-Notebook")
    text = notebook.inner_text()
    assert "<bpfnb." not in text and "object at 0x" not in text  # every value renders as a view
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0
    assert "Traceback" not in text
    # the stylesheet took over: fallbacks hidden, the rich views shown, cells left-aligned
    assert page.locator(".bpfnb-html").count() > 5
    assert page.locator(".bpfnb-text:visible").count() == 0
    assert page.locator(".bpfnb-html:visible").count() == page.locator(".bpfnb-html").count()
    core = page.locator(".jp-OutputArea-output:has-text('CO-RE relocations: core_kinds')").first
    core.scroll_into_view_if_needed()
    _shot(page, "tour-core-table")
    align = core.locator("td").nth(4).evaluate("td => getComputedStyle(td).textAlign")
    assert align == "left"
    assert core.locator("th", has_text="target type").count() == 1
    assert "poisoned: no candidate matches" in core.inner_text()


def test_loader_widget_through_every_stage_errors_attach_and_reset(page):
    w = _loader(page)
    w.scroll_into_view_if_needed()
    stages = ("parse", "btf", "maps", "relocate", "load")
    for stage in stages:
        _button(w, stage).click()
        page.wait_for_function(
            "([el, s]) => el.querySelector(`button.mod-success[title='run the ${s} stage']`) !== null",
            arg=[w.element_handle(), stage])
        selected = w.locator(".lm-TabBar-tab.lm-mod-current").inner_text()
        assert selected.strip() == stage
        assert f"Stage {stage}" in w.inner_text()  # the stage's own result, where the eye is
    _shot(page, "loader-loaded")
    assert "<bpfnb." not in w.inner_text()
    # attach on a veth pair of its own
    w.locator("label:has-text('veth pair') input[type=checkbox]").check()
    _button(w, "attach").click()
    page.wait_for_function("el => el.innerText.includes('attached 2')", arg=w.element_handle())
    attach_tab = w.inner_text()
    assert "XDP and tc attach to" in attach_tab and "in netns bpfnb-widget-" in attach_tab
    _shot(page, "loader-attached")
    _button(w, "reset").click()
    # the widget's state arrives as separate messages (stage buttons, the attach button's label, the
    # tabs): wait for all of them, not the first
    page.wait_for_function("el => !el.querySelector('button.mod-success') && !el.innerText.includes('Stage load')"
                           " && [...el.querySelectorAll('button')].some(b => b.innerText.trim() === 'attach')",
                           arg=w.element_handle())
    assert w.locator("button:text-is('attach')").count() == 1 and "Stage load" not in w.inner_text()
    # a refused input is an error shown in the widget, and the stages stay where they were
    w.locator(".widget-textarea:has(label:text-is('max entries')) textarea").fill("proto_stats = -1")
    _button(w, "parse").click()
    page.wait_for_function("el => el.innerText.includes('is not a map size')", arg=w.element_handle())
    assert "ValueError" in w.inner_text() and "Traceback" not in w.inner_text()
    _shot(page, "loader-error")
    w.locator(".widget-textarea:has(label:text-is('max entries')) textarea").fill("")
    _button(w, "reset").click()


def test_map_view_refreshes_stops_and_starts(page):
    view = page.locator(".jp-OutputArea-output .widget-vbox:has(button:text-is('stop'))").last
    view.scroll_into_view_if_needed()
    page.wait_for_function("el => /refreshed ([3-9]|\\d\\d+) times · refreshing every 0.5 s/.test(el.innerText)",
                           arg=view.element_handle())
    assert "2 of 2 rows" in view.inner_text() and "<bpfnb." not in view.inner_text()
    _shot(page, "mapview-running")
    _button(view, "stop").click()
    page.wait_for_function("el => el.innerText.includes('· stopped')", arg=view.element_handle())
    stopped = view.inner_text()
    time.sleep(1.5)
    assert view.inner_text() == stopped  # stopped means no more reads
    _button(view, "start").click()
    page.wait_for_function("el => el.innerText.includes('refreshing every 0.5 s')", arg=view.element_handle())
    _button(view, "stop").click()
    page.wait_for_function("el => el.innerText.includes('· stopped')", arg=view.element_handle())
