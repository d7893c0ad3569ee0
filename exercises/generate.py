"""Write the learner notebooks from the solution sources.

`python -m exercises.generate` reads every `exercises/solutions/NN-*.ipynb`
and writes `exercises/NN-*.ipynb`, in which each region between

    # BEGIN SOLUTION: <hint>
    ...
    # END SOLUTION

is replaced by `raise NotImplementedError("<hint>")` at the same
indentation, and every output is cleared. `--check` writes nothing and
exits non-zero if a learner notebook is stale (the test suite runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from exercises.notebooks import learner_notebook, read, solution_notebooks

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::[ \t]*(?P<hint>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")


class MarkerError(ValueError):
    """Solution markers are unbalanced."""


def strip_solutions(source: str) -> str:
    """Replace each marked solution region of a cell with a stub."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise MarkerError(f"line {number}: BEGIN SOLUTION inside a solution")
            inside = True
            hint = begin["hint"] or "write this part"
            out.append(f"{begin['indent']}raise NotImplementedError({hint!r})")
        elif END.match(line):
            if not inside:
                raise MarkerError(f"line {number}: END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def learner_version(solution_path: Path) -> str:
    """The learner notebook for a solution source, as the text to save."""
    notebook = read(solution_path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    stale = []
    for solution in solution_notebooks():
        target = learner_notebook(solution)
        text = learner_version(solution)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if check_only:
            stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote exercises/{target.name}")
    if stale:
        print("stale learner notebooks (run `make exercises`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
