"""Timelines: one row per client, a bar per operation, the checker's verdict marked on them."""

from __future__ import annotations

import math

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from reference.order.history import Operation, timed_out
from reference.order.linearizability import check_operations
from reference.order.models import KeyValueModel, RegisterModel
from reference.order.timeline import draw_history

REGISTER = RegisterModel(0)
WRITE = Operation("alice", ("write", 1), 0, None, 2)
READ_NEW = Operation("bob", ("read",), 1, 1, 3)
STALE = Operation("carol", ("read",), 4, 0, 5)


def bars(fig: Figure) -> list:
    return list(fig.axes[0].patches)


def texts(fig: Figure) -> list[str]:
    return [text.get_text().strip() for text in fig.axes[0].texts]


def bar_of(fig: Figure, op: Operation):
    """The bar that starts at the operation's call on its client's row (first lane)."""
    ax = fig.axes[0]
    row = [label.get_text() for label in ax.get_yticklabels()].index(str(op.client))
    (bar,) = [b for b in bars(fig) if b.get_x() == op.call and abs(b.get_y() + 0.11 - row) < 0.2]
    return bar


def test_a_plain_history_has_a_row_per_client_and_a_labelled_bar_per_call():
    fig = draw_history([WRITE, READ_NEW, STALE])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["alice", "bob", "carol"]
    assert len(bars(fig)) == 3
    assert texts(fig) == ["write 1", "read → 1", "read → 0"]
    bar = bar_of(fig, READ_NEW)
    assert (bar.get_x(), bar.get_width()) == (1, 2)  # from call to return
    assert fig.axes[0].get_title() == ""


def test_a_witness_is_numbered_in_order():
    history = [READ_NEW, WRITE]
    result = check_operations(REGISTER, history)
    fig = draw_history(history, result, model=REGISTER)
    assert "linearizable" in fig.axes[0].get_title()
    assert texts(fig) == ["read → 1", "2", "write 1", "1"]
    colors = {to_hex(bar.get_facecolor()) for bar in bars(fig)}
    assert len(colors) == 1


def test_a_rejected_history_shows_what_was_explained_and_what_cannot_come_next():
    history = [WRITE, READ_NEW, STALE, Operation("dave", ("read",), 6, 0, 7)]
    result = check_operations(REGISTER, history)
    assert result.unexplained == (STALE,)
    fig = draw_history(history, result)
    assert fig.axes[0].get_title().startswith("not linearizable")
    assert "1" in texts(fig) and "2" in texts(fig) and "3" not in texts(fig)
    explained = to_hex(bar_of(fig, WRITE).get_facecolor())
    stuck = to_hex(bar_of(fig, STALE).get_facecolor())
    not_reached = to_hex(bar_of(fig, history[3]).get_facecolor())
    assert len({explained, stuck, not_reached}) == 3
    assert to_hex(bar_of(fig, READ_NEW).get_facecolor()) == explained


def test_a_call_that_never_returned_runs_hatched_to_the_edge_on_a_lane_of_its_own():
    pending = timed_out("alice", ("write", 2), 1)
    after = Operation("alice", ("read",), 3, 2, 4)
    fig = draw_history([WRITE, pending, after, STALE], title="a timeout")
    ax = fig.axes[0]
    assert ax.get_title() == "a timeout"
    (hatched,) = [bar for bar in bars(fig) if bar.get_hatch()]
    assert hatched.get_x() == 1 and math.isclose(
        hatched.get_x() + hatched.get_width(), ax.get_xlim()[1]
    )
    lanes = sorted({bar.get_y() for bar in bars(fig) if bar.get_x() in (0, 1, 3)})
    assert len(lanes) == 2  # the write and the read share a lane; the pending call overlaps both
    assert "write 2 → ?" in texts(fig)


def test_labels_come_from_the_model_and_an_empty_history_draws():
    missing = Operation("a", ("get", "x"), 0, None, 1)
    assert texts(draw_history([missing], model=KeyValueModel())) == ["get x → None"]
    assert texts(draw_history([missing])) == ["get x"]
    assert bars(draw_history([])) == []
