"""Every chapter in a real browser: JupyterLab in headless Chromium, Run All.

One JupyterLab server, over a temporary copy of chapters/ (autosave must
not write into the repository), and one Chromium driven by Playwright serve
every chapter. For each chapter the test runs all cells, waits until the
kernel has answered them all, saves from the page and reads the saved file,
since JupyterLab renders off-screen cells lazily and the page is no record
of what ran: every code cell ran, and no traceback shows outside cells
tagged `raises-exception`. In the page, every widget the committed chapter
shows renders; chapter 00's also answers when its slider moves. A
screenshot per chapter goes to screenshots/chapter-NN.png. Skipped, with
the reason, where Chromium or Playwright is missing (`.ci/run` installs
Chromium).
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from tests.lab import free_port, shut_down_kernels, wait_for_json

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]-*.ipynb"))
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RUN_ALL_WITHIN_MS = 240_000  # the slowest chapter takes ~25 s on an idle machine with 2 cores
RENDER_WITHIN_MS = 30_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TRACEBACK = "Traceback (most recent call last)"

playwright = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@dataclass(frozen=True)
class Lab:
    url: str
    chapters: Path  # the temporary copy the server writes to


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "chapters", home / "chapters")
    # Settings and workspaces of its own, so a developer's JupyterLab settings do not leak in;
    # no news prompt over the screenshots.
    news = home / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--port-retries=0", f"--ServerApp.root_dir={home}", "--IdentityProvider.token=",
        "--ServerApp.password=", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--ServerApp.disable_check_xsrf=True",  # lets shut_down_kernels call the REST API
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    # The kernels (and the processes they start) import `reference` and `exercises` from this
    # checkout, whatever the virtual environment was installed from.
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    log = open(home / "lab.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=home,
        env={**os.environ, "PYTHONPATH": python_path},
    )  # fmt: skip
    try:
        wait_for_json(f"http://127.0.0.1:{port}/api/status", process)
        yield Lab(f"http://127.0.0.1:{port}", home / "chapters")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser_context():
    """One Chromium for every chapter, one context so JupyterLab's scripts come from its cache."""
    SCREENSHOTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"],
        )  # fmt: skip
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        context.set_default_timeout(60_000)
        yield context
        browser.close()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_chapter_runs_all_in_jupyterlab(chapter, lab, browser_context):
    page = browser_context.new_page()
    try:
        page.goto(f"{lab.url}/lab/workspaces/{chapter.stem}/tree/chapters/{chapter.name}?reset")
        page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for()
        still_busy = run_all(page)
        saved = save_and_read(page, lab.chapters / chapter.name)

        problems = tracebacks_outside_tagged_cells(saved)
        not_run = [where(index, cell) for index, cell in code_cells(saved) if not ran(cell)]
        if not_run:
            why = still_busy or "Run All stopped before them"
            listed = "".join(f"\n  {cell}" for cell in not_run)
            problems.append(f"{why}; these code cells did not run:{listed}")
        if problems:
            pytest.fail(f"{chapter.name} in JupyterLab:\n" + "\n".join(problems), pytrace=False)

        check_widgets_render(page, nbformat.read(chapter, as_version=4))
        CHAPTER_CHECKS.get(chapter.stem, lambda page: None)(page)
    finally:
        page.screenshot(path=SCREENSHOTS / f"chapter-{chapter.name[:2]}.png", full_page=True)
        page.close()
        shut_down_kernels(lab.url)


def run_all(page) -> str | None:
    """Run All and wait until the kernel has answered every cell; say so if it has not in time.

    The toolbar's execution indicator turns busy when the first cell starts and idle only once
    every queued cell has finished (or been aborted after an error).
    """
    indicator = page.locator(".jp-Notebook-ExecutionIndicator-tooltip")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator("li[data-command='runmenu:run-all']").click()
    indicator.filter(has_text="Kernel status: Busy").wait_for(state="attached")
    try:
        indicator.filter(has_text="Kernel status: Idle").wait_for(
            state="attached", timeout=RUN_ALL_WITHIN_MS
        )
    except playwright.TimeoutError:
        return f"the kernel was still busy {RUN_ALL_WITHIN_MS / 1000:g} s after Run All"
    return None


def save_and_read(page, path: Path):
    """Save from the page (Ctrl+S), wait for the file to change and read it."""
    before = path.stat().st_mtime_ns
    with page.expect_response(lambda r: r.request.method == "PUT" and "/api/contents/" in r.url):
        page.keyboard.press("Control+s")
    assert path.stat().st_mtime_ns != before, f"saving from the page did not write {path}"
    return nbformat.read(path, as_version=4)


def code_cells(notebook):
    return [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def ran(cell) -> bool:
    return cell.execution_count is not None


def where(index, cell) -> str:
    """A cell as JupyterLab's status bar counts it (from 1), with its first line."""
    first_line = cell.source.partition("\n")[0]
    return f"cell {index + 1} ({first_line!r})"


def tracebacks_outside_tagged_cells(notebook) -> list[str]:
    found = []
    for index, cell in code_cells(notebook):
        if "raises-exception" in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                found.append(f"{where(index, cell)} raised {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and TRACEBACK in output.text:
                last_line = output.text.strip().splitlines()[-1]
                found.append(f"{where(index, cell)} printed a traceback: {last_line}")
    return found


def check_widgets_render(page, committed) -> None:
    """Where the committed chapter shows a widget, the page renders one, and no traceback in it."""
    for index, cell in code_cells(committed):
        if not any(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs):
            continue
        in_page = page.locator(f".jp-Notebook-cell[data-windowed-list-index='{index}']")
        outputs = in_page.locator(".jp-Cell-outputArea")
        view = outputs.locator(".jupyter-widgets").first
        no_widget = f"{where(index, cell)} shows no widget"
        playwright.expect(view, no_widget).to_be_attached(timeout=RENDER_WITHIN_MS)
        scroll_to_the_middle(view)  # and so into the screenshot
        playwright.expect(view, no_widget).to_be_visible(timeout=RENDER_WITHIN_MS)
        for text in ("Error displaying widget", TRACEBACK):
            playwright.expect(outputs, f"{where(index, cell)}: {text}").not_to_contain_text(text)


def scroll_to_the_middle(element) -> None:
    """Cells rendered on the way change the notebook's height, so one scroll can fall short:
    scroll again until a scroll no longer moves the element."""
    for _ in range(10):
        before = element.bounding_box()
        element.evaluate("element => element.scrollIntoView({block: 'center'})")
        if element.bounding_box() == before:
            return


def move_the_deadline_slider(page) -> None:
    """Chapter 00's fan-out widget answers: a later deadline, a longer wait."""
    output = page.locator(".widget-output").first
    playwright.expect(output).to_contain_text("the caller waited 1.5 s")
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    playwright.expect(output).to_contain_text("the caller waited 2.0 s", timeout=RENDER_WITHIN_MS)
    assert "✓ replica-2" in output.inner_text()
    output.screenshot(path=SCREENSHOTS / "chapter-00-widget.png")


def step_through_the_raft_run(page) -> None:
    """Chapter 06's trace explorer: the slider and the buttons move its state table."""
    state = page.locator(".widget-html .trace-explorer").first
    widget = page.locator(".jp-Cell-outputArea", has=state)
    scroll_to_the_middle(state)
    last = state.inner_text().split(" · ")[0]  # "step N of N": it opens at the last step
    steps = last.split()[-1]
    assert last == f"step {steps} of {steps}", last
    handle = widget.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("Home")
    playwright.expect(state).to_contain_text(f"step 1 of {steps}", timeout=RENDER_WITHIN_MS)
    next_note = widget.get_by_role("button", name="next note")
    roles, terms = state.locator("tr", has_text="role"), state.locator("tr", has_text="term")
    playwright.expect(roles).not_to_contain_text("candidate")
    next_note.click()
    playwright.expect(state).to_contain_text("candidate in term 1", timeout=RENDER_WITHIN_MS)
    playwright.expect(roles).to_contain_text("candidate")
    playwright.expect(terms).to_contain_text("1")
    next_note.click()
    playwright.expect(state).to_contain_text("leader in term 1", timeout=RENDER_WITHIN_MS)
    playwright.expect(roles).to_contain_text("leader")
    before = state.inner_text().split(" · ")[0]
    widget.get_by_role("button", name="next ▶").click()
    playwright.expect(state).not_to_contain_text(before, timeout=RENDER_WITHIN_MS)
    widget.screenshot(path=SCREENSHOTS / "chapter-06-explorer.png")


CHAPTER_CHECKS = {
    "00-start-here": move_the_deadline_slider,
    "06-order-and-consistency": step_through_the_raft_run,
}
