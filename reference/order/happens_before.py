"""Happens-before over a recorded run, and every event's Lamport and vector timestamps.

Theory of operation
-------------------
A simulator trace (reference/net/trace.py) lists everything that happened in
a run. Some of it happens *at a node*; those are the events of
happens-before (reference/order/clocks.py explains the relation):

==============================  ==========================================
`Send`                          a send, at its `src`
`Deliver`                       a receive, at its `dst`
`Start`, `Crash`, `TimerFired`  local events at `node`
`Note`                          a local event at `node` (what a node wrote)
==============================  ==========================================

The rest is the network's doing, not a node's: a `Duplicate` is a second
copy of a message (its delivery is a receive of the *original* send, so it
joins the same send to a second receive), a `Drop` means the message has no
receive at all (so no edge), and `Partition`/`Heal` are the world changing.

An event is named by ``(node, index)``: the node it happened at and its place
in that node's history, counting from 0 (`NodeEvent.id`). A restarted node
carries on counting, because a restart is the same node later on: it still
has its storage, and what it did before the crash happened before what it
does after.

`HappensBefore(trace)` builds the relation from its definition and nothing
else: walking the trace in order, an event's *past* is the past of the
event before it on the same node, plus (for a receive) the past of the send,
plus those two events themselves. The pasts are sets of event numbers kept
as Python integers used as bit sets, so asking whether a → b is one bit
test. Every edge points forward in the trace (a message is delivered after
it is sent), so one pass in trace order is enough.

`timestamps(trace)` instead runs a `LamportClock` and a `VectorClock` per
node over the same events, as the nodes themselves would have (tick on a
local event, stamp a send, merge on a receive), and returns both stamps of
every event. The tests check on thousands of random runs that the clocks
agree with the relation: a → b implies L(a) < L(b), and a → b exactly when
V(a) < V(b). The chapter's widget uses both: pick two events on a space-time
diagram, see their timestamps and `HappensBefore.relation`.

A trace cut out of a longer one, or one process's trace of a multi-process
UDP run, may deliver a message whose send it does not hold; such a trace
raises `IncompleteTrace`, because happens-before needs the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from reference.net.trace import (
    Crash,
    Deliver,
    Duplicate,
    Event,
    Note,
    Send,
    Start,
    TimerFired,
    Trace,
)
from reference.order.clocks import LamportClock, Order, VectorClock

EventId = tuple[str, int]
"""``(node, index)``: the `index`-th event (from 0) that happened at `node`."""


class IncompleteTrace(ValueError):
    """The trace delivers a message it never shows being sent."""


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """An event that happened at a node, and where it is in the trace."""

    node: str
    index: int  # its place in the node's history, from 0
    position: int  # its place in `trace.events`
    event: Event

    @property
    def id(self) -> EventId:
        return (self.node, self.index)


@dataclass(frozen=True, slots=True)
class Stamps:
    """An event's Lamport timestamp and vector timestamp."""

    lamport: int
    vector: VectorClock


def node_of(event: Event) -> str | None:
    """The node an event happened at, or None for the network's events."""
    if isinstance(event, Send):
        return event.src
    if isinstance(event, Deliver):
        return event.dst
    if isinstance(event, Start | Crash | TimerFired | Note):
        return event.node
    return None


def _walk(trace: Trace) -> Iterator[tuple[NodeEvent, int | None]]:
    """Each node event in trace order, with the number (in this walk) of the
    send it receives, or None if it is not a receive."""
    count = 0
    per_node: dict[str, int] = {}
    sends: dict[int, int] = {}  # msg_id (of a message or its copy) -> number of its send
    for position, event in enumerate(trace):
        if isinstance(event, Duplicate):
            if event.copy_of in sends:
                sends[event.msg_id] = sends[event.copy_of]
            continue
        node = node_of(event)
        if node is None:
            continue
        send = None
        if isinstance(event, Deliver):
            if event.msg_id not in sends:
                raise IncompleteTrace(f"message {event.msg_id} is delivered but never sent")
            send = sends[event.msg_id]
        elif isinstance(event, Send):
            sends[event.msg_id] = count
        index = per_node[node] = per_node.get(node, -1) + 1
        yield NodeEvent(node, index, position, event), send
        count += 1


def node_events(trace: Trace) -> list[NodeEvent]:
    """Every event that happened at a node, in trace order."""
    return [event for event, _ in _walk(trace)]


class HappensBefore:
    """Lamport's relation over one run: `before(a, b)` is a → b."""

    def __init__(self, trace: Trace) -> None:
        self.events: list[NodeEvent] = []
        self._number: dict[EventId, int] = {}
        self._past: list[int] = []  # bit i set: event number i happened before this one
        last_on_node: dict[str, int] = {}
        for event, send in _walk(trace):
            number = len(self.events)
            past = 0
            for earlier in (last_on_node.get(event.node), send):
                if earlier is not None:
                    past |= self._past[earlier] | (1 << earlier)
            self.events.append(event)
            self._number[event.id] = number
            self._past.append(past)
            last_on_node[event.node] = number

    def event(self, event_id: EventId) -> NodeEvent:
        return self.events[self._find(event_id)]

    def before(self, a: EventId, b: EventId) -> bool:
        """True if a → b: a path of program order and messages leads from a to b."""
        return bool(self._past[self._find(b)] >> self._find(a) & 1)

    def relation(self, a: EventId, b: EventId) -> Order:
        """BEFORE if a → b, AFTER if b → a, EQUAL if they are one event, else CONCURRENT."""
        if a == b:
            self._find(a)
            return Order.EQUAL
        if self.before(a, b):
            return Order.BEFORE
        if self.before(b, a):
            return Order.AFTER
        return Order.CONCURRENT

    def past(self, event_id: EventId) -> list[EventId]:
        """Every event that happened before this one, in trace order."""
        past = self._past[self._find(event_id)]
        return [event.id for number, event in enumerate(self.events) if past >> number & 1]

    def _find(self, event_id: EventId) -> int:
        try:
            return self._number[tuple(event_id)]
        except (KeyError, TypeError):
            raise KeyError(f"no event {event_id!r} in this trace") from None


def timestamps(trace: Trace) -> dict[EventId, Stamps]:
    """Both clocks of every node event, as each node would have kept them."""
    lamport: dict[str, LamportClock] = {}
    vector: dict[str, VectorClock] = {}
    stamped: list[Stamps] = []
    result: dict[EventId, Stamps] = {}
    for event, send in _walk(trace):
        clock = lamport.setdefault(event.node, LamportClock())
        vclock = vector.setdefault(event.node, VectorClock())
        if isinstance(event.event, Send):
            time = clock.on_send()
        elif send is None:
            time = clock.tick()
        else:
            time = clock.on_receive(stamped[send].lamport)
            vclock.merge(stamped[send].vector)
        vclock.increment(event.node)
        stamps = Stamps(time, vclock.copy())
        stamped.append(stamps)
        result[event.id] = stamps
    return result
