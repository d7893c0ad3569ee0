"""Traces: what happened in a run, as data, as text and as pictures.

Theory of operation
-------------------
Every run of the simulator (and of the Trio runtime) records a *trace*: a
list of small frozen events, one per thing that happened, in the order it
happened. A host builds each event and appends it (`Trace.append`); there
is no other format. The kinds are few:

=============  ===============================================================
`Start`        a node started (again, after a `Crash`: a restart)
`Crash`        a node crashed: its volatile state and timers are gone
`Send`         `src` handed message number `msg_id` to the network
`Duplicate`    the network made an extra copy `msg_id` of message `copy_of`
`Drop`         message `msg_id` was lost; `reason` is "loss", "partition" or
               "down" (the UDP runtime adds "sender down" and socket errors)
`Deliver`      message `msg_id` reached `dst` and its `on_message` ran
`TimerFired`   a timer went off and its `on_timer` ran
`Partition`    links from `side_a` to `side_b` (and back unless `one_way`) cut
`Heal`         those links restored (empty sides: every link restored)
`Note`         a line a node wrote with `ctx.note(text)`
=============  ===============================================================

Each message has one fate: a `Send` (or a `Duplicate`) introduces an id, and
at most one `Deliver` or `Drop` ends it. A message still in flight when the
run stops has no fate yet (nor, over UDP, one that the kernel loses).

`Trace.text()` serializes a trace as one JSON object per line, with a fixed
key order and the message converted to plain JSON (sets sorted), so two
runs can be compared byte for byte: the simulator's determinism test does
exactly that.

A simulation ends, so its `Trace` keeps every event. A UDP host may run for
days, so it keeps a `BoundedTrace`: the latest `limit` events, like a ring
buffer, and a count of the older ones it let go (`discarded`).

This module is data only. Two pictures read a trace, each importing it:

- `reference.net.spacetime.draw(trace)` draws a *space-time diagram*
  (Lamport, 1978) with matplotlib: one horizontal line per node, time
  running to the right, an arrow from each send to its delivery;
- `reference.net.mermaid.sequence_diagram(trace)` writes a Mermaid
  sequence diagram, which JupyterLab renders from Markdown.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar, get_args

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
    bytes become hex strings, dict keys become strings, an integer too long
    to print in decimal (Python refuses over 4,300 digits) becomes a hex
    string like ``"0x1f..."``; anything else falls back to its `repr`.
    """
    if isinstance(value, int) and value.bit_length() > _MAX_DECIMAL_BITS:
        return hex(value)
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


_MAX_DECIMAL_BITS = 14_000  # about 4,200 decimal digits: always printable


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

    A host records an event by building it and calling `append`; readers
    iterate the trace, index it, or read the list `events`.
    """

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = list(events)

    def append(self, event: Event) -> None:
        self.events.append(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def text(self) -> str:
        """The whole trace, one JSON line per event (deterministic)."""
        return "".join(event_json(event) + "\n" for event in self.events)

    def counts(self) -> dict[str, int]:
        """How many events of each kind, in a fixed order of kinds."""
        tally = dict.fromkeys(_KINDS, 0)
        for event in self.events:
            tally[event.kind] += 1
        return tally

    def nodes(self) -> list[str]:
        """Node ids in the order they first appear."""
        seen: dict[str, None] = {}
        for event in self.events:
            for name in _event_nodes(event):
                seen.setdefault(name)
        return list(seen)


class BoundedTrace(Trace):
    """A trace that keeps only the latest `limit` events (a ring buffer).

    `discarded` counts the older events it has let go, so a reader knows the
    trace is not the whole run; `counts()` tallies only what is kept.
    """

    def __init__(self, limit: int, events: Iterable[Event] = ()) -> None:
        if limit < 1:
            raise ValueError(f"a bounded trace keeps at least one event, not {limit}")
        self.limit = limit
        self.discarded = 0
        self.events: deque[Event] = deque(maxlen=limit)
        for event in events:
            self.append(event)

    def append(self, event: Event) -> None:
        if len(self.events) == self.limit:
            self.discarded += 1
        self.events.append(event)


_KINDS = tuple(event_class.kind for event_class in get_args(Event))


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
