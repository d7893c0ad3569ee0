"""Space-time diagrams: a trace drawn as a picture, with matplotlib.

Theory of operation
-------------------
A *space-time diagram* (Lamport, 1978) puts space on one axis and time on
the other: each node is a horizontal line, its *lifeline*, and time runs
to the right. A message is an arrow from the moment and node it was sent
to the moment and node it arrived, so an arrow's slant is its flight
time, arrows that cross are messages that overtook each other, and a
node can only have learned what reaches its line by an arrow from the
left. That is the whole point of the picture: "happened before" is a
path you can follow with a finger.

Each kind of event in a `reference.net.trace.Trace` is drawn like this:

=============  ===============================================================
`Start`        the lifeline is solid dark from here on; a restart (a `Start`
               after the window opens) is a green dot marked "start"
`Crash`        a red X marked "crash"; the lifeline is dotted grey until the
               node starts again (also before its first `Start`)
`Send`         the tail of an arrow; the arrow is blue, and carries the
               message's label at its middle when few enough are in view
`Duplicate`    the copy's arrow starts at the original's send and is orange
`Deliver`      the head of the arrow, on the receiver's line
`Drop`         the arrow is red and ends in a red cross where the message was
               lost; one lost the instant it was sent is drawn part of the way
               (45% of the median flight time) so it can be seen
`TimerFired`   a short grey tick on the node's line
`Partition`    from here the cut links are shaded purple, named at the top:
`Heal`         ``a↔b`` both ways, ``a→b`` one way; shading ends at the heal
`Note`         the note's text, in grey, just under the node's line
=============  ===============================================================

A message still in flight when the run stops has no fate, so no arrow.
Only messages sent or ended between `start` and `end`, between two nodes
that are drawn, appear. Events passed as `highlight` get a gold ring where
they happened (a send on the sender's line, a delivery or drop on the
receiver's, a partition or heal as a gold line across the picture): the
trace explorer (`reference.debug.explorer`) marks the step it shows.

`draw` returns a matplotlib `Figure` built directly, not through pyplot,
so drawing touches no global state; Jupyter shows it as an image.

"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from reference.net.links import Partitions
from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Event,
    Heal,
    Note,
    Partition,
    Send,
    Start,
    TimerFired,
    Trace,
    short_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def draw(
    trace: Trace,
    *,
    nodes: list[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    label: Callable[[Any], str] | None = None,
    max_labels: int = 40,
    figsize: tuple[float, float] | None = None,
    highlight: Sequence[Event] = (),
) -> Figure:
    """The space-time diagram of `trace` (or of `start`..`end`) as a Figure.

    `nodes` picks and orders the lifelines (default: every node, in the
    order they first appear). Message labels are drawn when at most
    `max_labels` messages are in view; `label(msg)` turns a message into
    its label (default: `short_label`). The events in `highlight` are
    ringed in gold.
    """
    return _SpaceTimeDiagram(trace, nodes, start, end, label or short_label).draw(
        max_labels, figsize, highlight
    )


_UP = "#333333"
_DOWN = "#bbbbbb"
_MESSAGE = "#1f77b4"
_COPY = "#ff7f0e"
_LOST = "#d62728"
_RESTART = "#2ca02c"
_HIGHLIGHT = "#f2b400"


class _SpaceTimeDiagram:
    def __init__(
        self,
        trace: Trace,
        nodes: list[str] | None,
        start: float | None,
        end: float | None,
        label: Callable[[Any], str],
    ) -> None:
        self.events = trace.events
        self.nodes = nodes if nodes is not None else trace.nodes()
        self.row = {name: index for index, name in enumerate(self.nodes)}
        times = [event.time for event in self.events] or [0.0]
        self.start = min(times) if start is None else start
        self.end = max(times) if end is None else end
        if self.end <= self.start:
            self.end = self.start + 1.0
        self.label = label

    def draw(
        self, max_labels: int, figsize: tuple[float, float] | None, highlight: Sequence[Event]
    ) -> Figure:
        # Imported here, not at the top: matplotlib takes a second to import,
        # and the simulator, which records traces, should start fast.
        from matplotlib.figure import Figure

        height = 1.2 + 0.7 * max(len(self.nodes), 1)
        fig = Figure(figsize=figsize or (9.0, height), layout="constrained")
        ax = fig.add_subplot()
        self._partitions(ax)
        self._lifelines(ax)
        self._messages(ax, max_labels)
        self._node_events(ax)
        self._highlight(ax, highlight)
        ax.set_yticks(range(len(self.nodes)), self.nodes)
        ax.set_ylim(len(self.nodes) - 0.5, -0.7)
        ax.set_xlim(self.start, self.end + 0.02 * (self.end - self.start))
        ax.set_xlabel("time (s)")
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", length=0)
        return fig

    def _in_view(self, time: float) -> bool:
        return self.start <= time <= self.end

    def _lifelines(self, ax: Any) -> None:
        from matplotlib.collections import LineCollection

        up_since: dict[str, float] = {}
        segments: dict[bool, list] = {True: [], False: []}
        down_since: dict[str, float] = dict.fromkeys(self.nodes, self.start)
        for event in self.events:
            if isinstance(event, Start) and event.node in self.row:
                segments[False].append(
                    self._span(event.node, down_since.pop(event.node, None), event.time)
                )
                up_since[event.node] = event.time
            elif isinstance(event, Crash) and event.node in self.row:
                segments[True].append(
                    self._span(event.node, up_since.pop(event.node, None), event.time)
                )
                down_since[event.node] = event.time
        for name, since in up_since.items():
            segments[True].append(self._span(name, since, self.end))
        for name, since in down_since.items():
            segments[False].append(self._span(name, since, self.end))
        ax.add_collection(LineCollection([s for s in segments[True] if s], colors=_UP, lw=1.5))
        ax.add_collection(
            LineCollection([s for s in segments[False] if s], colors=_DOWN, lw=1.0, linestyles=":")
        )

    def _span(self, name: str, since: float | None, until: float) -> list | None:
        if since is None:
            return None
        y = self.row[name]
        return [(max(since, self.start), y), (min(until, self.end), y)]

    def _messages(self, ax: Any, max_labels: int) -> None:
        origin: dict[int, tuple[float, str, Any]] = {}
        arrows = []
        for event in self.events:
            if isinstance(event, Send):
                origin[event.msg_id] = (event.time, event.msg)
            elif isinstance(event, Duplicate) and event.copy_of in origin:
                origin[event.msg_id] = origin[event.copy_of]
            elif (
                isinstance(event, Deliver | Drop)
                and event.msg_id in origin
                and event.src in self.row
                and event.dst in self.row
            ):
                arrows.append((event, *origin[event.msg_id]))
        arrows = [a for a in arrows if self._in_view(a[1]) or self._in_view(a[0].time)]
        copies = {e.msg_id for e in self.events if isinstance(e, Duplicate)}
        flight = _typical_flight_time(arrows)
        labelled = len(arrows) <= max_labels
        for event, sent_at, msg in arrows:
            y0, y1 = self.row[event.src], self.row[event.dst]
            color = _COPY if event.msg_id in copies else _MESSAGE
            if isinstance(event, Drop) and event.time == sent_at:
                x1, y1 = sent_at + 0.45 * flight, y0 + 0.45 * (y1 - y0)
            else:
                x1 = event.time
            if isinstance(event, Drop):
                color = _LOST
                ax.plot([x1], [y1], marker="x", color=_LOST, ms=7, mew=2, zorder=4)
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(sent_at, y0),
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.0, "shrinkA": 0},
                zorder=3,
            )
            if labelled:
                ax.text(
                    (sent_at + x1) / 2,
                    (y0 + y1) / 2,
                    self.label(msg),
                    fontsize=7,
                    color=color,
                    ha="center",
                    va="bottom",
                    rotation_mode="anchor",
                )

    def _node_events(self, ax: Any) -> None:
        for event in self.events:
            if not self._in_view(event.time):
                continue
            if isinstance(event, Crash) and event.node in self.row:
                y = self.row[event.node]
                ax.plot([event.time], [y], marker="X", color=_LOST, ms=10, zorder=5)
                ax.text(event.time, y - 0.2, "crash", fontsize=7, color=_LOST, ha="center")
            elif isinstance(event, Start) and event.node in self.row and event.time > self.start:
                y = self.row[event.node]
                ax.plot([event.time], [y], marker="o", color=_RESTART, ms=6, zorder=5)
                ax.text(event.time, y - 0.2, "start", fontsize=7, color=_RESTART, ha="center")
            elif isinstance(event, TimerFired) and event.node in self.row:
                y = self.row[event.node]
                ax.plot([event.time], [y], marker="|", color="#7f7f7f", ms=9, zorder=4)
            elif isinstance(event, Note) and event.node in self.row:
                y = self.row[event.node]
                ax.text(event.time, y + 0.3, event.text, fontsize=7, color="#555555", ha="left")

    def _highlight(self, ax: Any, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, Partition | Heal):
                ax.axvline(event.time, color=_HIGHLIGHT, lw=2, zorder=1)
                continue
            node = _line_of(event)
            if node in self.row and self._in_view(event.time):
                ax.plot(
                    [event.time],
                    [self.row[node]],
                    marker="o",
                    ms=16,
                    mfc="none",
                    mec=_HIGHLIGHT,
                    mew=2.5,
                    zorder=6,
                )

    def _partitions(self, ax: Any) -> None:
        partitions = Partitions()  # the hosts' own rule, replayed from the recorded events
        since = self.start
        for event in self.events:
            if not isinstance(event, Partition | Heal):
                continue
            if partitions.cut:
                self._shade(ax, since, event.time, partitions.cut)
            partitions.apply(event)
            since = event.time
        if partitions.cut:
            self._shade(ax, since, self.end, partitions.cut)

    def _shade(self, ax: Any, since: float, until: float, cut: set[tuple[str, str]]) -> None:
        since, until = max(since, self.start), min(until, self.end)
        if until <= since:
            return
        ax.axvspan(since, until, color="#9467bd", alpha=0.12, lw=0, zorder=0)
        ax.text(
            since,
            -0.55,
            "partition: " + describe_cut(cut),
            fontsize=7,
            color="#6a3d9a",
            ha="left",
            va="center",
        )


def _typical_flight_time(arrows: list) -> float:
    flights = sorted(e.time - sent for e, sent, _ in arrows if e.time > sent)
    return flights[len(flights) // 2] if flights else 1.0


def _line_of(event: Event) -> str:
    """The lifeline an event sits on: a send's sender, a delivery's or drop's receiver."""
    if isinstance(event, Send | Duplicate):
        return event.src
    return event.dst if isinstance(event, Deliver | Drop) else event.node


def describe_cut(cut: Collection[tuple[str, str]]) -> str:
    """Cut links as text: ``a↔b`` cut both ways, ``a→b`` one way (at most four, then a count)."""
    pairs = sorted(cut)
    two_way = [(a, b) for a, b in pairs if a < b and (b, a) in cut]
    one_way = [(a, b) for a, b in pairs if (b, a) not in cut]
    parts = [f"{a}↔{b}" for a, b in two_way] + [f"{a}→{b}" for a, b in one_way]
    text = ", ".join(parts[:4])
    return text + (f" (+{len(parts) - 4})" if len(parts) > 4 else "")
