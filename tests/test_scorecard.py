"""`make check` grades saved notebooks from a fresh kernel: untouched learner
notebooks fail every task, solved ones pass every task.

These run nbval (lax) in a subprocess, exactly as `make check` does, with this checkout first
on the kernels' path: a kernel starts in the notebook's folder, and would otherwise import the
graders from wherever the package is installed.
"""

import os
import re
import subprocess
import sys

from exercises.notebooks import ROOT, cells_tagged, read, solution_notebooks

ROW = re.compile(r"^\s+(\d\d-\S+)\s+(\d+) / (\d+)$", re.MULTILINE)


def scorecard(*args):
    path = os.pathsep.join(filter(None, [str(ROOT.parent), os.environ.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT.parent,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=900,
    )
    rows = {name: (int(passed), int(total)) for name, passed, total in ROW.findall(run.stdout)}
    return run.returncode, rows, run.stdout


def tasks_in(path):
    return len(cells_tagged(read(path), "check"))


def test_untouched_learner_notebooks_fail_every_task():
    code, rows, output = scorecard("-m", "exercises.scorecard")
    assert code == 1, output
    expected = {p.stem: (0, tasks_in(p)) for p in solution_notebooks()}
    assert rows == expected, output


def test_solved_notebooks_pass_every_task():
    solutions = [str(path) for path in solution_notebooks()]
    code, rows, output = scorecard(
        "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "exercises.scorecard",
        "-o", "addopts=", "-q", *solutions,
    )  # fmt: skip
    assert code == 0, output
    expected = {p.stem: (tasks_in(p), tasks_in(p)) for p in solution_notebooks()}
    assert rows == expected, output


def test_one_chapter_can_be_graded_alone():
    _, rows, output = scorecard("-m", "exercises.scorecard", "00")
    assert list(rows) == ["00-start-here"], output
