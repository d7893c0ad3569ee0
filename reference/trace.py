"""Traces: what happened in a run, as data, as text and as pictures.

Theory of operation
-------------------
Every run of the simulator (and of the Trio runtime) records a *trace*: a
list of small frozen events, one per thing that happened, in the order it
happened. The kinds are few:

=============  ===============================================================
`Start`        a node started (again, after a `Crash`: a restart)
`Crash`        a node crashed: its volatile state and timers are gone
`Send`         `src` handed message number `msg_id` to the network
`Duplicate`    the network made an extra copy `msg_id` of message `copy_of`
`Drop`         message `msg_id` was lost (`reason`: "loss", "partition", "down")
`Deliver`      message `msg_id` reached `dst` and its `on_message` ran
`TimerFired`   a timer went off and its `on_timer` ran
`Partition`    links from `side_a` to `side_b` (and back unless `one_way`) cut
`Heal`         those links restored (empty sides: every link restored)
`Note`         a line a node wrote with `ctx.note(text)`
=============  ===============================================================

Each message has one fate: a `Send` (or a `Duplicate`) introduces an id, and
at most one `Deliver` or `Drop` ends it. A message still in flight when the
run stops has no fate yet.

`Trace.text()` serializes a trace as one JSON object per line, with a fixed
key order and the message converted to plain JSON (sets sorted), so two
runs can be compared byte for byte: the simulator's determinism test does
exactly that.

Two pictures read a trace:

- `Trace.draw()` draws a *space-time diagram* (Lamport, 1978) with
  matplotlib: one horizontal line per node, time running to the right, an
  arrow from each send to its delivery. `reference/spacetime.py` draws it
  and explains how each kind of event looks.
- `Trace.mermaid()` writes a Mermaid sequence diagram, which JupyterLab
  renders from Markdown. Mermaid has no slanted arrows, so each message is
  drawn when it arrives (or is lost): reordering shows as arrival order.
  It suits short traces; longer ones are cut off with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# --- Events --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    kind: ClassVar[str] = "start"
    time: float
    node: str


@dataclass(frozen=True, slots=True)
class Crash:
    kind: ClassVar[str] = "crash"
    time: float
    node: str


@dataclass(frozen=True, slots=True)
class Send:
    kind: ClassVar[str] = "send"
    time: float
    src: str
    dst: str
    msg_id: int
    msg: Any


@dataclass(frozen=True, slots=True)
class Duplicate:
    kind: ClassVar[str] = "duplicate"
    time: float
    src: str
    dst: str
    msg_id: int
    copy_of: int


@dataclass(frozen=True, slots=True)
class Drop:
    kind: ClassVar[str] = "drop"
    time: float
    src: str
    dst: str
    msg_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Deliver:
    kind: ClassVar[str] = "deliver"
    time: float
    src: str
    dst: str
    msg_id: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    kind: ClassVar[str] = "timer"
    time: float
    node: str
    name: Hashable


@dataclass(frozen=True, slots=True)
class Partition:
    kind: ClassVar[str] = "partition"
    time: float
    side_a: tuple[str, ...]
    side_b: tuple[str, ...]
    one_way: bool


@dataclass(frozen=True, slots=True)
class Heal:
    kind: ClassVar[str] = "heal"
    time: float
    side_a: tuple[str, ...]
    side_b: tuple[str, ...]
    one_way: bool


@dataclass(frozen=True, slots=True)
class Note:
    kind: ClassVar[str] = "note"
    time: float
    node: str
    text: str


Event = Start | Crash | Send | Duplicate | Drop | Deliver | TimerFired | Partition | Heal | Note


def plain(value: Any) -> Any:
    """`value` as JSON-ready data, the same whatever the hash seed.

    Tuples become lists, sets become lists sorted by their JSON text,
    bytes become hex strings, dict keys become strings; anything else
    falls back to its `repr`.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {_key_text(key): plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        items = [plain(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return repr(value)


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(plain(key))


def event_json(event: Event) -> str:
    """One event as one line of JSON with a fixed key order."""
    record = {"kind": event.kind}
    for field in fields(event):
        record[field.name] = plain(getattr(event, field.name))
    return json.dumps(record, ensure_ascii=False)


# --- The trace -----------------------------------------------------------------


class Trace:
    """The events of one run, in the order they happened.

    Recorders append compact *rows* to `rows`: a tuple of the event's kind
    and its fields, like ``("deliver", 0.25, "a", "b", 7)``. Rows are cheap
    to make and cost the garbage collector nothing, which keeps the
    simulator fast; `events` turns them into the dataclasses above when
    someone reads the trace.
    """

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.rows: list[tuple] = []
        self._events: list[Event] = []
        for event in events:
            self.append(event)

    def append(self, event: Event) -> None:
        self.rows.append((event.kind, *(getattr(event, f.name) for f in fields(event))))

    @property
    def events(self) -> list[Event]:
        """The rows as event objects (made once, as they are first read)."""
        made = self._events
        for row in self.rows[len(made) :]:
            made.append(_KIND_CLASS[row[0]](*row[1:]))
        return made

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def text(self) -> str:
        """The whole trace, one JSON line per event (deterministic)."""
        return "".join(event_json(event) + "\n" for event in self.events)

    def counts(self) -> dict[str, int]:
        """How many events of each kind, in a fixed order of kinds."""
        tally = dict.fromkeys(_KIND_CLASS, 0)
        for row in self.rows:
            tally[row[0]] += 1
        return tally

    def nodes(self) -> list[str]:
        """Node ids in the order they first appear."""
        seen: dict[str, None] = {}
        for event in self.events:
            for name in _event_nodes(event):
                seen.setdefault(name)
        return list(seen)

    def draw(
        self,
        *,
        nodes: list[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        label: Callable[[Any], str] | None = None,
        max_labels: int = 40,
        figsize: tuple[float, float] | None = None,
    ) -> Figure:
        """A space-time diagram of the trace (or of `start`..`end`) as a Figure.

        Message labels are drawn when there are at most `max_labels`
        messages in view; `label(msg)` turns a message into its label.
        """
        # Imported here: spacetime reads the event classes defined in this module.
        from reference import spacetime

        return spacetime.draw(
            self,
            nodes=nodes,
            start=start,
            end=end,
            label=label or short_label,
            max_labels=max_labels,
            figsize=figsize,
        )

    def mermaid(self, *, max_events: int = 60, label: Callable[[Any], str] | None = None) -> str:
        """A Mermaid sequence diagram of the trace, cut after `max_events` lines."""
        return _mermaid(self, max_events, label or short_label)


_KIND_CLASS = {
    kind.kind: kind
    for kind in (Start, Crash, Send, Duplicate, Drop, Deliver, TimerFired, Partition, Heal, Note)
}


def _event_nodes(event: Event) -> tuple[str, ...]:
    if isinstance(event, Send | Duplicate | Drop | Deliver):
        return (event.src, event.dst)
    if isinstance(event, Partition | Heal):
        return event.side_a + event.side_b
    return (event.node,)


def short_label(msg: Any, width: int = 24) -> str:
    """A compact label: ``("data", 3, "x")`` becomes ``data 3 'x'``."""
    if isinstance(msg, list | tuple) and msg:
        head, *rest = msg
        text = " ".join([head if isinstance(head, str) else repr(head), *map(repr, rest)])
    else:
        text = repr(msg)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- Mermaid -------------------------------------------------------------------

_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE_TEXT = re.compile(r"[;#\n\r]")


def _mermaid(trace: Trace, max_events: int, label: Callable[[Any], str]) -> str:
    nodes = trace.nodes()
    alias = {name: name if _SAFE_ID.match(name) else f"n{i}" for i, name in enumerate(nodes)}
    lines = ["sequenceDiagram"]
    for name in nodes:
        if alias[name] == name:
            lines.append(f"    participant {name}")
        else:
            lines.append(f"    participant {alias[name]} as {_clean(name)}")
    body: list[str] = []
    origin: dict[int, Any] = {}
    copies: set[int] = set()
    started: set[str] = set()
    for event in trace.events:
        line = _mermaid_line(event, alias, origin, copies, started, label)
        if line is not None:
            body.append("    " + line)
    if len(body) > max_events:
        hidden = len(body) - max_events
        body = body[:max_events]
        body.append(f"    Note over {alias[nodes[0]]}: … {hidden} more events not shown")
    return "\n".join(lines + body) + "\n"


def _mermaid_line(
    event: Event,
    alias: dict[str, str],
    origin: dict[int, Any],
    copies: set[int],
    started: set[str],
    label: Callable[[Any], str],
) -> str | None:
    if isinstance(event, Send):
        origin[event.msg_id] = event.msg
    elif isinstance(event, Duplicate):
        origin[event.msg_id] = origin.get(event.copy_of)
        copies.add(event.msg_id)
    elif isinstance(event, Deliver):
        text = _clean(label(origin.get(event.msg_id)))
        arrow = "-->>" if event.msg_id in copies else "->>"
        suffix = " (copy)" if event.msg_id in copies else ""
        return f"{alias[event.src]}{arrow}{alias[event.dst]}: {text}{suffix}"
    elif isinstance(event, Drop):
        text = _clean(label(origin.get(event.msg_id)))
        return f"{alias[event.src]}-x{alias[event.dst]}: {text} ({event.reason})"
    elif isinstance(event, TimerFired):
        name = event.name
        text = " ".join(map(str, name)) if isinstance(name, tuple | list) else str(name)
        return f"Note over {alias[event.node]}: timer {_clean(text)}"
    elif isinstance(event, Crash):
        return f"Note over {alias[event.node]}: crash"
    elif isinstance(event, Start):
        first = event.node not in started
        started.add(event.node)
        return None if first else f"Note over {alias[event.node]}: restart"
    elif isinstance(event, Partition | Heal):
        sides = event.side_a + event.side_b
        span = sides or tuple(alias)  # healing everything spans every node
        if not span:
            return None
        over = ",".join(dict.fromkeys(alias[name] for name in (span[0], span[-1])))
        what = "partition" if isinstance(event, Partition) else "heal"
        arrow = "→" if event.one_way else "|"
        detail = f"{' '.join(event.side_a)} {arrow} {' '.join(event.side_b)}" if sides else "all"
        return f"Note over {over}: {what} {_clean(detail)}"
    elif isinstance(event, Note):
        return f"Note over {alias[event.node]}: {_clean(event.text)}"
    return None


def _clean(text: str) -> str:
    return _UNSAFE_TEXT.sub(" ", text)
