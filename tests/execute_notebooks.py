"""Execute notebooks top to bottom in a fresh kernel and save their outputs.

`python -m tests.execute_notebooks chapters/*.ipynb` (what `make notebooks`
runs). The kernel is this Python, so outputs match what nbval will see in
`make test`. Run it after editing a chapter, then commit the notebook.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    nbformat.write(notebook, path)


def main(paths: list[str]) -> int:
    for name in paths:
        print(f"executing {name}")
        execute(Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
