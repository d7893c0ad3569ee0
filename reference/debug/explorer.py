"""The trace explorer: step through a simulator run and see everything at each step.

Theory of operation
-------------------
`explore(sim, until)` records the run step by step (reference/debug/steps.py)
and shows it as a widget:

- a slider and "◀ prev" / "next ▶" buttons move over the steps;
- "next send", "next delivery", "next drop", "next crash" and "next note"
  jump to the next step that wrote an event of that kind;
- the node filter keeps only the steps whose events touch the chosen nodes
  (and draws only their lifelines);
- at each step: the space-time diagram (reference/net/spacetime.py) up to
  that step, its events ringed in gold; what the step did; a table of every
  node's state (or "down"); the messages in flight, the timers pending and
  the links cut.

All of that is kept apart from the widget in `Explorer`: `go_to`, `step_by`,
`jump`, `show_nodes` move it, and `figure()` and `tables_html()` draw the step it
is at. The widget's buttons only call them, so the logic is tested without a
browser, and the same two pictures are the page's static output: after the
widget, `explore` displays the figure and the tables of the step shown, so a
notebook read without a kernel (on GitHub, or checked by nbval) still shows a
diagram and a table.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from reference.debug.steps import Describe, Recording, Step, record, short_text
from reference.net.simnet import Simulation
from reference.net.spacetime import describe_cut, draw
from reference.net.trace import (
    Deliver,
    Drop,
    Duplicate,
    Event,
    Heal,
    Note,
    Partition,
    Send,
    TimerFired,
    short_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

JUMPS = {"send": "send", "delivery": "deliver", "drop": "drop", "crash": "crash", "note": "note"}
MAX_ROWS = 12  # rows of messages or timers shown; the rest are counted


class Explorer:
    """A recorded run and the step being looked at, under a node filter."""

    def __init__(
        self,
        recording: Recording,
        *,
        step: int | None = None,
        label: Callable[[Any], str] | None = None,
        figsize: tuple[float, float] | None = None,
    ) -> None:
        if not recording.steps:
            raise ValueError("the run has no steps to explore")
        self.recording = recording
        self.label = label or short_label
        self.figsize = figsize
        self.nodes = list(recording.nodes)
        self.visible = list(recording.steps)
        self.position = len(self.visible) - 1
        self._widget: Any = None
        if step is not None:
            self.go_to(step)

    def __repr__(self) -> str:
        return f"<Explorer at step {self.step.number} of {len(self.recording.steps)}>"

    @property
    def step(self) -> Step:
        return self.visible[self.position]

    # -- Moving

    def go_to(self, number: int) -> Step:
        """Show step `number`, or the first step shown after it under the filter."""
        later = [i for i, step in enumerate(self.visible) if step.number >= number]
        self.position = later[0] if later else len(self.visible) - 1
        return self._changed()

    def step_by(self, count: int) -> Step:
        """Move `count` steps (back if negative) among the steps the filter keeps."""
        self.position = min(max(self.position + count, 0), len(self.visible) - 1)
        return self._changed()

    def jump(self, kind: str) -> Step | None:
        """Go to the next step with an event of `kind` (a key of `JUMPS` or an event kind);
        stay, and return None, if there is none."""
        found = self.recording.find(self.step.number, JUMPS.get(kind, kind), self.nodes)
        return None if found is None else self.go_to(found.number)

    def show_nodes(self, nodes: Sequence[str]) -> Step:
        """Keep only the steps touching `nodes` (all steps if empty), near the current one."""
        number = self.step.number
        self.nodes = [name for name in self.recording.nodes if name in nodes] or list(
            self.recording.nodes
        )
        self.visible = [s for s in self.recording.steps if s.touches(self.nodes)]
        self.visible = self.visible or list(self.recording.steps)
        return self.go_to(number)

    # -- Pictures of the current step

    def figure(self) -> Figure:
        """The space-time diagram up to the step, on the whole run's time axis (so it grows
        to the right as you step), the step's events ringed."""
        steps = self.recording.steps
        return draw(
            self.recording.trace_until(self.step),
            nodes=self.nodes,
            start=steps[0].time,
            end=steps[-1].time,
            label=self.label,
            figsize=self.figsize,
            highlight=self.step.events,
        )

    def tables_html(self) -> str:
        """What the step did, the nodes' states, messages in flight, timers and cut links."""
        step = self.step
        head = f"<b>step {step.number} of {len(self.recording.steps)}</b> · t = {step.time:.4f} s"
        done = "".join(f"<li>{html.escape(self.event_text(e))}</li>" for e in step.events)
        return "".join(
            [
                f"<div class='trace-explorer'><p>{head}</p><ul>{done or '<li>nothing</li>'}</ul>",
                self._nodes_table(step),
                _table(
                    "in flight",
                    ["from", "to", "#", "message", "arrives"],
                    [
                        [m.src, m.dst, m.msg_id, self.label(m.msg), f"{m.arrival:.4f}"]
                        for m in step.in_flight
                        if m.src in self.nodes or m.dst in self.nodes
                    ],
                ),
                _table(
                    "timers",
                    ["node", "timer", "due"],
                    [
                        [t.node, short_text(t.name), f"{t.due:.4f}"]
                        for t in step.timers
                        if t.node in self.nodes
                    ],
                ),
                f"<p>cut links: {html.escape(describe_cut(step.cut) or 'none')}</p></div>",
            ]
        )

    def event_text(self, event: Event) -> str:
        """One event in a few words: ``s1 → s2 #13 vote 1 True``."""
        if isinstance(event, Send):
            return f"{event.src} → {event.dst} #{event.msg_id} {self.label(event.msg)}"
        if isinstance(event, Duplicate):
            return f"{event.src} → {event.dst} #{event.msg_id} copy of #{event.copy_of}"
        if isinstance(event, Deliver):
            return f"{event.dst} ← {event.src} #{event.msg_id} delivered"
        if isinstance(event, Drop):
            return f"{event.src} → {event.dst} #{event.msg_id} dropped ({event.reason})"
        if isinstance(event, Partition | Heal):
            sides = f"{', '.join(event.side_a)} | {', '.join(event.side_b)}"
            return f"{event.kind} {sides if event.side_a else '(every link)'}"
        if isinstance(event, TimerFired):
            return f"{event.node} timer {short_text(event.name)} fired"
        if isinstance(event, Note):
            return f"{event.node} note: {event.text}"
        return f"{event.node} {event.kind}"  # a start or a crash

    def _nodes_table(self, step: Step) -> str:
        """One column per node, one row per piece of state; a down node says so."""
        states = {name: step.nodes[name] for name in self.nodes}
        keys = list(dict.fromkeys(key for state in states.values() if state for key in state))
        rows = [["status", *("down" if state is None else "up" for state in states.values())]]
        for key in keys:
            rows.append([key, *((state or {}).get(key, "") for state in states.values())])
        return _table("nodes", ["", *states], rows, limit=None)

    def show(self) -> None:
        """Display the current step's diagram and tables (what reads without a kernel)."""
        from IPython.display import HTML, display

        display(self.figure())
        display(HTML(self.tables_html()))

    # -- The widget

    def widget(self) -> Any:
        """The ipywidgets box over this explorer (built once)."""
        if self._widget is None:
            self._widget = _ExplorerWidget(self)
        return self._widget.box

    def _changed(self) -> Step:
        if self._widget is not None:
            self._widget.refresh()
        return self.step


class _ExplorerWidget:
    """The controls, wired to an `Explorer`; each change redraws the diagram and tables."""

    def __init__(self, explorer: Explorer) -> None:
        import ipywidgets as widgets

        self.explorer = explorer
        self.refreshing = False
        self.slider = widgets.IntSlider(
            min=1, max=len(explorer.visible), value=explorer.position + 1, description="step"
        )
        self.slider.observe(self._slid, names="value")
        moves = [self._button("◀ prev", lambda: explorer.step_by(-1))]
        moves.append(self._button("next ▶", lambda: explorer.step_by(1)))
        jumps = [self._button(f"next {name}", lambda n=name: explorer.jump(n)) for name in JUMPS]
        self.filter = widgets.SelectMultiple(
            options=explorer.recording.nodes,
            value=tuple(explorer.nodes),
            rows=min(len(explorer.recording.nodes), 6),
            description="nodes",
        )
        self.filter.observe(lambda change: explorer.show_nodes(change["new"]), names="value")
        self.diagram = widgets.Image(format="png")
        self.tables = widgets.HTML()
        self.box = widgets.VBox(
            [
                widgets.HBox([self.slider, *moves]),
                widgets.HBox(jumps),
                self.filter,
                self.diagram,
                self.tables,
            ]
        )
        self.refresh()

    def _button(self, text: str, action: Callable[[], Any]) -> Any:
        import ipywidgets as widgets

        button = widgets.Button(description=text, layout=widgets.Layout(width="auto"))
        button.on_click(lambda _: action())
        return button

    def _slid(self, change: dict) -> None:
        if not self.refreshing:
            self.explorer.step_by(change["new"] - 1 - self.explorer.position)

    def refresh(self) -> None:
        explorer = self.explorer
        self.refreshing = True  # moving the slider here is not the learner moving it
        try:
            self.slider.max = len(explorer.visible)
            self.slider.value = explorer.position + 1
        finally:
            self.refreshing = False
        png = io.BytesIO()
        explorer.figure().savefig(png, format="png", dpi=80)
        self.diagram.value = png.getvalue()
        self.tables.value = explorer.tables_html()


def explore(
    sim: Simulation,
    until: float | None = None,
    *,
    max_events: int = 3000,
    describe: Describe | None = None,
    step: int | None = None,
    label: Callable[[Any], str] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Explorer:
    """Record `sim` up to `until`, display the explorer at `step` (default: the last),
    then that step's diagram and tables as static output; return the `Explorer`."""
    from IPython.display import display

    recording = record(sim, until, max_events=max_events, describe=describe)
    explorer = Explorer(recording, step=step, label=label, figsize=figsize)
    view = explorer.widget()._repr_mimebundle_()
    view["text/plain"] = f"trace explorer over {len(recording.steps)} steps"
    display(view, raw=True)
    explorer.show()
    return explorer


def _table(
    title: str, header: list[str], rows: list[list[Any]], limit: int | None = MAX_ROWS
) -> str:
    if not rows:
        return f"<p>{html.escape(title)}: none</p>"
    shown = rows if limit is None else rows[:limit]
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in shown
    )
    more = "" if len(shown) == len(rows) else f"<p>… and {len(rows) - len(shown)} more</p>"
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    return f"<p>{html.escape(title)}</p><table><tr>{head}</tr>{cells}</table>{more}"
