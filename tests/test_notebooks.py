"""Chapter notebooks are saved executed, top to bottom, from a fresh kernel.

nbval (run by `make test` over chapters/) compares each cell's output with
the saved one; these checks make sure the saved outputs are the ones a
learner gets from Run All on a fresh kernel, not a history of edits.
"""

import itertools
from pathlib import Path

import nbformat
import pytest

CHAPTERS = sorted((Path(__file__).resolve().parent.parent / "chapters").glob("[0-9][0-9]-*.ipynb"))


def test_chapters_exist():
    assert [p.name for p in CHAPTERS][:2] == [
        "00-start-here.ipynb",
        "01-messages-over-sockets.ipynb",
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_executed_in_order_from_a_fresh_kernel(path):
    notebook = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert None not in counts, f"{path.name}: unexecuted code cells; run `make notebooks`"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: cells not run top to bottom in one fresh kernel; run `make notebooks`"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_error_output_except_where_tagged(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [out for out in cell.outputs if out.output_type == "error"]
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors, (
                f"{path.name}: cell tagged raises-exception did not raise:\n{cell.source}"
            )
        else:
            assert not errors, f"{path.name}: unexpected error in cell:\n{cell.source}"
            assert not stderr, f"{path.name}: stray stderr output in cell:\n{cell.source}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_printed_output_is_not_split_into_pieces(path):
    # A stray blank output in the rendered page; `make notebooks` joins the pieces.
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
        split = [a for a, b in itertools.pairwise(kinds) if a == b and a[0] == "stream"]
        assert not split, f"{path.name}: printed output in pieces in cell:\n{cell.source}"
