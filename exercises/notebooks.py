"""Reading exercise notebooks: their cells by role, and the learner's answers.

Exercise notebooks mark each code cell's role with a tag in its metadata:

- `setup`: imports and helpers the tasks need;
- `answer`: the learner's function or class, with the part to write
  between `# BEGIN SOLUTION: <hint>` and `# END SOLUTION` lines;
- `check`: one call to a grader, right under its answer cell.

`load_answers` runs the setup and answer cells of a notebook as plain
Python (IPython `%magic` lines are skipped) and returns the namespace, so
the tests can grade a notebook's answers without starting a kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent
SOLUTIONS = ROOT / "solutions"


def tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def cells_tagged(notebook: Any, tag: str) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code" and tag in tags(cell)]


def read(path: str | Path) -> Any:
    return nbformat.read(str(path), as_version=4)


def without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


def load_answers(path: str | Path) -> dict[str, Any]:
    """Execute the `setup` and `answer` cells of a notebook; return their names."""
    namespace: dict[str, Any] = {"__name__": "__answers__"}
    for cell in read(path).cells:
        if cell.cell_type == "code" and {"setup", "answer"} & set(tags(cell)):
            exec(
                compile(without_magics(cell.source), f"{path}:{cell.get('id')}", "exec"), namespace
            )
    return namespace


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))


def learner_notebook(solution: Path) -> Path:
    return ROOT / solution.name
