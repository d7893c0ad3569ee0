"""Chapter 00 in a real browser: JupyterLab in headless Chromium, Run All.

Starts JupyterLab on a free loopback port over a temporary copy of the
chapter (autosave must not write into the repository), opens it in
Debian's Chromium driven by Playwright, runs all cells, and checks that the
only traceback is the one the chapter raises on purpose, and that the
widget renders and answers when its slider moves. A screenshot is saved to
screenshots/chapter-00.png. Skipped, with the reason, where Chromium or
Playwright is missing (`.ci/run` installs Chromium).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import free_port, wait_for_json

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@pytest.fixture
def lab(tmp_path):
    shutil.copy(ROOT / "chapters" / "00-start-here.ipynb", tmp_path)
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--port-retries=0", f"--ServerApp.root_dir={tmp_path}", "--IdentityProvider.token=",
        "--ServerApp.password=", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    # The kernel imports `reference` and `exercises` from this checkout, whatever the virtual
    # environment was installed from.
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": python_path},
    )  # fmt: skip
    try:
        wait_for_json(f"http://127.0.0.1:{port}/api/status", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_chapter_00_runs_all_and_its_widget_responds(lab):
    screenshots = ROOT / "screenshots"
    screenshots.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.set_default_timeout(60_000)
        page.goto(f"{lab}/lab/workspaces/browser-test/tree/00-start-here.ipynb?reset")
        page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()

        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator("li[data-command='runmenu:run-all']").click()

        output = page.locator(".widget-output", has_text="the caller waited")
        output.wait_for()
        assert "the caller waited 1.5 s" in output.inner_text()
        page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()

        tracebacks = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            has_text="Traceback",
        )
        texts = [tracebacks.nth(i).inner_text() for i in range(tracebacks.count())]
        assert len(texts) == 1 and "TooSlowError" in texts[0], texts  # the on-purpose failure

        handle = page.locator(".widget-slider .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")
        page.locator(".widget-output", has_text="the caller waited 2.0 s").wait_for()
        assert "✓ replica-2" in page.locator(".widget-output").first.inner_text()
        page.locator(".widget-output").first.screenshot(path=screenshots / "chapter-00-widget.png")
        page.screenshot(path=screenshots / "chapter-00.png", full_page=True)
        browser.close()
