"""The world the exhaustive search explores: nodes, messages in flight, pending timers.

Theory of operation
-------------------
The simulator (reference/net/simnet.py) runs one future of a system, picked
by its seed. The search (reference/debug/search.py) wants all of them, so it
needs the system as a *state machine*: a state, the *steps* that can happen
in it, and the state each step leads to. `World` is that machine for nodes
written against reference/net/node.py, unchanged.

A state is three things, all hashable, so equal states can be recognised:

- every node's *snapshot* (see "The snapshot contract" below);
- the messages in flight, as a sorted tuple of ``(src, dst, text)``, where
  `text` is ``repr(msg)`` (the message itself is looked up by its text): the
  network is a multiset, so it has no order, and two copies of one message
  are the same message twice;
- every node's pending timers, by name.

A step is one of (`Step.kind`):

- ``"deliver"``: a message in flight arrives, and its `on_message` runs;
- ``"drop"``: the network loses a message in flight;
- ``"duplicate"``: the network makes a second copy of one;
- ``"timer"``: a pending timer fires, and its `on_timer` runs.

*Time is abstract.* Nothing in the state says what time it is: any pending
timer may fire at any moment, before or after any message arrives, and any
message may take any time. So the delays a node asks for (and the random
numbers it draws to pick them) do not matter, and one search covers every
timing the simulator could pick, including the unlucky ones a seed rarely
hits. In the model `ctx.now()` is always 0.0 and `ctx.random` is re-seeded
before each handler, so a step does the same thing whenever it happens: a
node whose state depends on its clock or its random draws is outside what
this model can check.

The snapshot contract
---------------------
A node may offer two methods:

- ``snapshot() -> Hashable``: everything its future behaviour depends on,
  including what it keeps in ``ctx.storage``, as plain hashable values
  (ints, strings, tuples, frozensets);
- ``restore(snapshot)``: put itself back into that state (it is called on a
  started node with its context attached; `on_start` is not run again).

A node without them gets a generic copy: its attributes (``vars(node)``
without `ctx`) and its storage are deep-copied, and a frozen form of them is
the hashable snapshot. That is correct for any node made of plain values,
but slow (8 times slower than `ElectionNode`'s own snapshot in
reference/debug/raft_election.py): a hand-written snapshot pays.

`World.step` changes the live node objects in place and returns the next
state; `World.restore` puts one node back. The search keeps the live nodes
equal to the state it is looking at, restoring the node a step changed
when it backtracks. `World(trace=...)` records what each step does as the
simulator's events (Start, Send, Deliver, Drop, Duplicate, TimerFired,
Note), with the step's number as its time, so a path draws with
reference/net/spacetime.py.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from reference.net.node import Node, NodeFactory, UnknownNode
from reference.net.trace import (
    Deliver,
    Drop,
    Duplicate,
    Note,
    Send,
    Start,
    TimerFired,
    Trace,
)

Flight = tuple[str, str, str]
"""A message in flight: source, destination and the message's text (its repr)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that can happen: `kind` is deliver, drop, duplicate or timer.

    A message step names the message by `src`, `dst` and `text`; a timer
    step names the node in `dst` and the timer in `text` (its repr).
    """

    kind: str
    src: str
    dst: str
    text: str

    def __str__(self) -> str:
        if self.kind == "timer":
            return f"timer    {self.dst}: {self.text}"
        return f"{self.kind:<9}{self.src}->{self.dst}: {self.text}"


class State(NamedTuple):
    """A state of the world; equal states behave the same from here on."""

    snapshots: tuple[Hashable, ...]  # in the order of `World.node_ids`
    in_flight: tuple[Flight, ...]  # sorted
    timers: tuple[tuple[str, ...], ...]  # per node: the texts of its pending timers, sorted


class _Context:
    """A node's `ctx` in the model: it collects what a handler asks for."""

    __slots__ = ("_random", "fresh", "node_id", "sent", "storage", "timer_changes", "world")

    def __init__(self, world: World, node_id: str) -> None:
        self.world = world
        self.node_id = node_id
        self.storage: dict[Any, Any] = {}
        self._random = random.Random(0)
        self.fresh = True  # False: re-seed `random` before the handler draws from it
        self.sent: list[tuple[str, Any]] = []
        self.timer_changes: list[tuple[Hashable, bool]] = []  # (name, pending afterwards)

    @property
    def random(self) -> random.Random:
        if not self.fresh:  # seeding costs more than a step: only for handlers that draw
            self._random.seed(0)
            self.fresh = True
        return self._random

    def send(self, dst: str, msg: Any) -> None:
        if dst not in self.world.index:
            raise UnknownNode(dst)
        self.sent.append((dst, msg))

    def set_timer(self, delay: float, name: Hashable) -> None:
        if not delay >= 0:
            raise ValueError(f"a timer delay must be >= 0, got {delay!r}")
        self.timer_changes.append((name, True))

    def cancel_timer(self, name: Hashable) -> None:
        self.timer_changes.append((name, False))

    def now(self) -> float:
        return 0.0  # time is abstract: see the module's docstring

    def note(self, text: str) -> None:
        self.world.record_note(self.node_id, str(text))


class _GenericSnapshot:
    """The fallback snapshot: deep copies to restore from, compared by a frozen key."""

    __slots__ = ("attributes", "key", "storage")

    def __init__(self, node: Node) -> None:
        self.attributes = copy.deepcopy({k: v for k, v in vars(node).items() if k != "ctx"})
        self.storage = copy.deepcopy(node.ctx.storage)
        self.key = (freeze(self.attributes), freeze(self.storage))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GenericSnapshot) and self.key == other.key

    def restore(self, node: Node) -> None:
        ctx = node.ctx
        vars(node).clear()
        vars(node).update(copy.deepcopy(self.attributes))
        node.ctx = ctx
        ctx.storage.clear()
        ctx.storage.update(copy.deepcopy(self.storage))


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a plain value: lists become tuples, dicts and sets frozensets."""
    if isinstance(value, dict):
        return ("dict", frozenset((freeze(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(freeze(item) for item in value))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(freeze(item) for item in value))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


class World:
    """Nodes built from `factories` (id -> factory), as a state machine of `Step`s."""

    def __init__(self, factories: Mapping[str, NodeFactory], *, trace: Trace | None = None):
        self.node_ids = list(factories)
        self.index = {node_id: position for position, node_id in enumerate(self.node_ids)}
        self.trace = trace
        self.time = 0
        self.nodes: dict[str, Node] = {}
        self.messages: dict[str, Any] = {}  # text -> the message
        self.timer_names: dict[str, Hashable] = {}  # text -> the timer's name
        self._in_flight_ids: dict[Flight, list[int]] = {}  # for the trace: copies by id
        self._sent = 0
        self._snapshot: dict[str, Callable[[], Hashable]] = {}
        self._restore: dict[str, Callable[[Hashable], None]] = {}
        for node_id, factory in factories.items():
            node = factory()
            node.ctx = _Context(self, node_id)
            self.nodes[node_id] = node
            own = getattr(node, "snapshot", None), getattr(node, "restore", None)
            if callable(own[0]) and callable(own[1]):
                self._snapshot[node_id], self._restore[node_id] = own
            else:
                self._snapshot[node_id] = lambda node=node: _GenericSnapshot(node)
                self._restore[node_id] = lambda snapshot, node=node: snapshot.restore(node)

    def start(self) -> State:
        """Start every node (in order) and return the initial state."""
        empty: tuple[str, ...] = ()
        state = State(tuple(None for _ in self.node_ids), (), tuple(empty for _ in self.node_ids))
        for node_id in self.node_ids:
            if self.trace is not None:
                self.trace.append(Start(self.time, node_id))
            state = self._run(state, node_id, self.nodes[node_id].on_start)
        return state

    def steps(self, state: State, *, losses: bool, duplicates: bool) -> list[Step]:
        """Every step that can happen in `state`, in a fixed order."""
        found = []
        previous = None
        for flight in state.in_flight:
            if flight == previous:
                continue  # a second copy of the same message does the same things
            previous = flight
            found.append(Step("deliver", *flight))
            if losses:
                found.append(Step("drop", *flight))
            if duplicates:
                found.append(Step("duplicate", *flight))
        for node_id, pending in zip(self.node_ids, state.timers, strict=True):
            found.extend(Step("timer", "", node_id, text) for text in pending)
        return found

    def step(self, state: State, step: Step) -> State:
        """Do `step` in `state` (changing the live node `step.dst`); the next state."""
        self.time += 1
        flight = (step.src, step.dst, step.text)
        if step.kind == "timer":
            position = self.index[step.dst]
            pending = tuple(text for text in state.timers[position] if text != step.text)
            timers = _replace(state.timers, position, pending)
            name = self.timer_names[step.text]
            if self.trace is not None:
                self.trace.append(TimerFired(self.time, step.dst, name))
            state = State(state.snapshots, state.in_flight, timers)
            return self._run(state, step.dst, self.nodes[step.dst].on_timer, name)
        if step.kind == "duplicate":
            if self.trace is not None:
                self._record_duplicate(flight)
            return State(state.snapshots, _added(state.in_flight, [flight]), state.timers)
        in_flight = list(state.in_flight)
        in_flight.remove(flight)
        state = State(state.snapshots, tuple(in_flight), state.timers)
        msg_id = self._in_flight_ids[flight].pop(0) if self.trace is not None else 0
        if step.kind == "drop":
            if self.trace is not None:
                self.trace.append(Drop(self.time, step.src, step.dst, msg_id, "loss"))
            return state
        if self.trace is not None:
            self.trace.append(Deliver(self.time, step.src, step.dst, msg_id))
        handler = self.nodes[step.dst].on_message
        return self._run(state, step.dst, handler, step.src, self.messages[step.text])

    def restore(self, state: State, node_id: str) -> None:
        """Put the live node `node_id` back to its snapshot in `state`."""
        self._restore[node_id](state.snapshots[self.index[node_id]])

    def record_note(self, node_id: str, text: str) -> None:
        if self.trace is not None:
            self.trace.append(Note(self.time, node_id, text))

    # -- The machinery

    def _run(self, state: State, node_id: str, handler: Callable[..., None], *args: Any) -> State:
        """Run one handler of `node_id` and fold what it did into the next state."""
        node = self.nodes[node_id]
        ctx = node.ctx
        ctx.fresh = False
        handler(*args)
        position = self.index[node_id]
        snapshots = _replace(state.snapshots, position, self._snapshot[node_id]())
        timers = state.timers
        if ctx.timer_changes:
            timers = _replace(timers, position, self._timers_after(timers[position], ctx))
            ctx.timer_changes.clear()
        in_flight = state.in_flight
        if ctx.sent:
            flights = [self._flight(node_id, dst, msg) for dst, msg in ctx.sent]
            in_flight = _added(in_flight, flights)
            ctx.sent.clear()
        return State(snapshots, in_flight, timers)

    def _flight(self, src: str, dst: str, msg: Any) -> Flight:
        text = repr(msg)
        self.messages.setdefault(text, msg)
        flight = (src, dst, text)
        if self.trace is not None:
            self._sent += 1
            self.trace.append(Send(self.time, src, dst, self._sent, msg))
            self._in_flight_ids.setdefault(flight, []).append(self._sent)
        return flight

    def _timers_after(self, pending: tuple[str, ...], ctx: _Context) -> tuple[str, ...]:
        names = set(pending)
        for name, is_set in ctx.timer_changes:
            text = repr(name)
            self.timer_names.setdefault(text, name)
            if is_set:
                names.add(text)
            else:
                names.discard(text)
        return tuple(sorted(names))

    def _record_duplicate(self, flight: Flight) -> None:
        self._sent += 1
        original = self._in_flight_ids[flight][0]
        self.trace.append(Duplicate(self.time, flight[0], flight[1], self._sent, original))
        self._in_flight_ids[flight].append(self._sent)


def _replace(values: tuple, position: int, value: Any) -> tuple:
    return (*values[:position], value, *values[position + 1 :])


def _added(in_flight: tuple[Flight, ...], flights: list[Flight]) -> tuple[Flight, ...]:
    return tuple(sorted((*in_flight, *flights)))
