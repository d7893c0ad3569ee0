"""Histories drawn as timelines, with the checker's verdict on them.

Theory of operation
-------------------
A history is easiest to judge by eye: one row per client, time running
to the right, and a bar for each operation from its call to its return,
labelled with what it asked and what it got (``put x 1``, ``get x → 1``).
Two bars that overlap in time are concurrent: either may have taken
effect first. A call that never returned is a hatched bar running off to
the right edge, labelled ``→ ?``. When one client has two operations at
once (it gave up on a call and went on), the second goes on a lane just
below.

Given the checker's `CheckResult`, the drawing shows its reasoning:

- linearizable: each bar is green and numbered with its place in the
  witness order;
- not linearizable: the operations of the longest explained sequence are
  numbered in blue, those none of which can come next are red, and the
  rest grey; the title says how many could not be explained.

`draw_history` returns a matplotlib `Figure` built directly, not through
pyplot, so drawing touches no global state; Jupyter shows it as an image.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from reference.order.history import Operation, describe_operation, validate_history
from reference.order.linearizability import CheckResult
from reference.order.models import Model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PLAIN = "#8fb3d9"
_WITNESS = "#7fc97f"
_EXPLAINED = "#6baed6"
_UNEXPLAINED = "#e34a33"
_NOT_REACHED = "#d0d0d0"
_LANE = 0.3  # the vertical offset of a client's second, third... lane


def draw_history(
    history: list[Operation],
    result: CheckResult | None = None,
    *,
    model: Model | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """The timeline of `history`, marked with `result` when given; labels by `model.describe`."""
    # Imported here, not at the top: matplotlib takes a second to import.
    from matplotlib.figure import Figure

    operations = validate_history(history)
    clients = list(dict.fromkeys(op.client for op in operations))
    rows = {client: row for row, client in enumerate(clients)}
    heights = [
        rows[op.client] + lane * _LANE
        for op, lane in zip(operations, _lanes(operations), strict=True)
    ]
    start, end = _time_span(operations)
    fig = Figure(figsize=figsize or (9.0, 1.2 + 0.8 * max(len(clients), 1)), layout="constrained")
    ax = fig.add_subplot()
    numbers = {id(op): place for place, op in enumerate(result.order, 1)} if result else {}
    unexplained = {id(op) for op in result.unexplained} if result else set()
    describe = model.describe if model is not None else describe_operation
    for op, y in zip(operations, heights, strict=True):
        right = end if op.pending else op.ret
        color = _color(op, result, numbers, unexplained)
        ax.barh(
            y,
            right - op.call,
            left=op.call,
            height=0.22,
            color=color,
            edgecolor="#555555",
            hatch="//" if op.pending else None,
        )
        ax.text(op.call, y - 0.16, describe(op), fontsize=8, va="bottom")
        if id(op) in numbers:
            ax.text(op.call, y, f" {numbers[id(op)]}", fontsize=8, va="center", weight="bold")
    ax.set_yticks(range(len(clients)), [str(client) for client in clients])
    ax.set_ylim(max(heights, default=0) + 0.6, -0.7)
    ax.set_xlim(start, end)
    ax.set_xlabel("time")
    ax.set_title(title or _verdict(result), fontsize=10)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return fig


def _lanes(operations: list[Operation]) -> list[int]:
    """For each operation, the first lane of its client's row that is free when it is called."""
    busy_until: dict[Hashable, list[float]] = {}
    lanes = [0] * len(operations)
    for index in sorted(range(len(operations)), key=lambda i: operations[i].call):
        op = operations[index]
        ends = busy_until.setdefault(op.client, [])
        lane = next((lane for lane, until in enumerate(ends) if until < op.call), len(ends))
        if lane == len(ends):
            ends.append(op.ret)
        ends[lane] = op.ret
        lanes[index] = lane
    return lanes


def _time_span(operations: list[Operation]) -> tuple[float, float]:
    times = [t for op in operations for t in (op.call, op.ret) if not math.isinf(t)] or [0.0]
    start, end = min(times), max(times)
    width = max(end - start, 1.0)
    has_pending = any(op.pending for op in operations)
    return start - 0.02 * width, end + (0.15 if has_pending else 0.02) * width


def _color(op: Operation, result: CheckResult | None, numbers: dict, unexplained: set) -> Any:
    if result is None:
        return _PLAIN
    if result.linearizable:
        return _WITNESS
    if id(op) in unexplained:
        return _UNEXPLAINED
    return _EXPLAINED if id(op) in numbers else _NOT_REACHED


def _verdict(result: CheckResult | None) -> str:
    if result is None:
        return ""
    if result.linearizable:
        return "linearizable: numbers give a witness order"
    return "not linearizable: after the numbered operations, none in red can come next"
