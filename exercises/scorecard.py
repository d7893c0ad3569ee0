"""`make check`: grade the learner's exercise notebooks and print a scorecard.

`python -m exercises.scorecard [CH ...]` runs nbval in lax mode over the
saved learner notebooks `exercises/NN-*.ipynb` (all of them, or the
chapters named, e.g. `01`): every cell runs in order in a fresh kernel,
and each `check` cell passes or fails with its grader. It then prints,
per chapter, how many tasks pass. The same module is the pytest plugin
that counts the check cells.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pytest

from exercises.notebooks import ROOT, tags

_results: dict[str, list[bool]] = defaultdict(list)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell", None)
    if cell is None or "check" not in tags(cell) or report.when != "call":
        return
    _results[Path(str(item.path)).name].append(report.passed)


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    write = terminalreporter.write_line
    write("")
    write("Scorecard")
    write(f"  {'chapter':<36} tasks passed")
    for notebook, passed in sorted(_results.items()):
        write(f"  {Path(notebook).stem:<36} {sum(passed)} / {len(passed)}")
    total = [p for results in _results.values() for p in results]
    write(f"  {'total':<36} {sum(total)} / {len(total)}")
    if not all(total):
        write("To see why a task fails, run its check cell in the notebook: it names the case.")


def notebooks_for(chapters: list[str], folder: Path = ROOT) -> list[Path]:
    found = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    if chapters:
        found = [path for path in found if path.name[:2] in {c.zfill(2) for c in chapters}]
    return found


def run(paths: list[Path]) -> int:
    _results.clear()
    args = ["--nbval-lax", "--nbval-current-env", "-q", "--no-header", "-p", "no:cacheprovider"]
    args += ["-o", "addopts=", "--tb=no", "-rN"]
    return pytest.main([*args, *map(str, paths)], plugins=[sys.modules[__name__]])


def main(argv: list[str]) -> int:
    paths = notebooks_for(argv)
    if not paths:
        print(f"no exercise notebooks match {' '.join(argv)!r}")
        return 2
    return int(run(paths) != 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
