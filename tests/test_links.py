"""Every relative link in the notebooks and the top-level pages points at a file that exists.

A reader who follows "go on to chapter 05" into a missing file is lost. This reads the
markdown cells of every notebook in chapters/, exercises/ and exercises/solutions/, and
README.md and CONTRIBUTING.md, finds each link (inline, reference-style, and HTML href or
src) that is not a web address or an anchor in the same page, and checks that its file
exists relative to the page. A chapter still to be written is named in plain text until it
lands.
"""

import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from exercises.notebooks import SOLUTIONS, learner_notebook

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    *sorted(ROOT.glob("chapters/*.ipynb")),
    *sorted(ROOT.glob("exercises/*.ipynb")),
    *sorted(ROOT.glob("exercises/solutions/*.ipynb")),
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
]

LINKS = re.compile(
    r"\]\(\s*<?(?P<inline>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"  # [text](target "title")
    r"|^\s*\[[^\]]+\]:\s*<?(?P<reference>[^\s>]+)"  # [label]: target
    r"|\b(?:href|src)\s*=\s*[\"'](?P<html>[^\"']+)[\"']",  # <a href="target">
    re.MULTILINE,
)
NOT_A_FILE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#|//)", re.IGNORECASE)  # https:, mailto:, #top


def texts(page):
    """(where, markdown text) for each part of `page` a reader sees as prose."""
    if page.suffix != ".ipynb":
        return [(page.name, page.read_text(encoding="utf-8"))]
    notebook = nbformat.read(page, as_version=4)
    return [
        (f"{page.name}, cell {number} ({cell.get('id')})", cell.source)
        for number, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
    ]


def missing_targets(page):
    folder = learner_notebook(page).parent if page.parent == SOLUTIONS else page.parent
    missing = []
    for where, text in texts(page):
        for match in LINKS.finditer(text):
            target = next(group for group in match.groups() if group)
            if NOT_A_FILE.match(target):
                continue
            path = unquote(target.split("#", 1)[0].split("?", 1)[0])
            if path and not (folder / path).exists():
                missing.append(f"{where}: {target}")
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file(page):
    missing = missing_targets(page)
    assert not missing, "links to files that do not exist:\n" + "\n".join(missing)


def test_the_link_finder_sees_every_kind_of_link(tmp_path):
    (tmp_path / "there.ipynb").write_text("{}")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.ipynb) [gone](gone.ipynb#top) [web](https://example.org/x) [self](#top)\n"
        '[label]: missing.md\n<a href="also-missing.ipynb">x</a> <img src="there.ipynb">\n'
    )
    assert missing_targets(page) == [
        "page.md: gone.ipynb#top",
        "page.md: missing.md",
        "page.md: also-missing.ipynb",
    ]
