"""A run recorded step by step: what every node, message and timer looked like after each event.

Theory of operation
-------------------
A trace (reference/net/trace.py) says what happened; it does not say what a
node *was* in between: its role, its term, its log, the messages still on
their way, the timers about to fire. To debug a run we want to stop after
any event and look. The simulator can do exactly that: `sim.run(max_events=1)`
runs one thing from its queue (a delivery, a timer, a scheduled fault) and
returns, and between two calls nothing moves.

`record(sim, until)` runs the simulation that way and, after each *step*,
keeps a `Step`:

- the trace events the step wrote (a delivery and the sends its handler made);
- every node's state, as short texts: a node's own `describe()` if it has
  one (a dict, or a string), else its public attributes, or the `describe`
  function given to `record`; None for a node that is down;
- the messages in flight, the timers pending and the links cut, from the
  simulator's read-only views (`in_flight`, `pending_timers`, `cut_links`).

Looking changes nothing: the trace is the one `sim.run(until)` would write.
A run that never ends by itself (Raft's heartbeats go on for ever) is cut
off at `max_events` steps, so a recording stays a few megabytes at most.

Values are turned into short text at once (`short_text`: sets sorted, the
same whatever the hash seed; a long list costs only its first items), so a
step keeps what the node was then, not a reference to what it has become
since.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Collection, Mapping, Sized
from dataclasses import dataclass
from typing import Any

from reference.net.node import Node
from reference.net.simnet import InFlight, PendingTimer, Simulation
from reference.net.trace import Event, Trace

Describe = Callable[[Node], Mapping[str, Any] | str]

DOWN = None  # a node's state in a step while it is down


@dataclass(frozen=True, slots=True)
class Step:
    """The world right after one step of the simulation (numbered from 1)."""

    number: int
    time: float
    first_event: int  # where `events` start in the trace
    events: tuple[Event, ...]
    nodes: dict[str, dict[str, str] | None]
    in_flight: tuple[InFlight, ...]
    timers: tuple[PendingTimer, ...]
    cut: frozenset[tuple[str, str]]

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of the events this step wrote ("send", "deliver", "drop", ...)."""
        return frozenset(event.kind for event in self.events)

    def touches(self, nodes: Collection[str]) -> bool:
        """Whether an event of this step involves one of `nodes`."""
        return any(involves(event, nodes) for event in self.events)


@dataclass(frozen=True, slots=True)
class Recording:
    """A run as steps; `truncated` if recording stopped at `max_events` steps (the run may
    have had more to do)."""

    trace: Trace
    nodes: list[str]
    steps: list[Step]
    truncated: bool

    def trace_until(self, step: Step) -> Trace:
        """The trace up to and including `step`."""
        return Trace(self.trace.events[: step.first_event + len(step.events)])

    def find(
        self, after: int, kind: str | None = None, nodes: Collection[str] | None = None
    ) -> Step | None:
        """The first step after step number `after` with an event of `kind` (any
        step if None) that involves one of `nodes` (any node if None)."""
        for step in self.steps[max(after, 0) :]:
            events = [e for e in step.events if kind is None or e.kind == kind]
            if kind is not None and not events:
                continue
            if nodes is None or any(involves(event, nodes) for event in events):
                return step
        return None


def record(
    sim: Simulation,
    until: float | None = None,
    *,
    max_events: int = 3000,
    describe: Describe | None = None,
) -> Recording:
    """Run `sim` up to time `until`, one step at a time, keeping a `Step` after each."""
    describe = describe or default_describe
    steps: list[Step] = []
    while len(steps) < max_events:
        first = len(sim.trace)
        if sim.run(until, max_events=1) == 0:
            return Recording(sim.trace, sim.node_ids, steps, truncated=False)
        steps.append(
            Step(
                number=len(steps) + 1,
                time=sim.now,
                first_event=first,
                events=tuple(sim.trace.events[first:]),
                nodes={name: _state(sim, name, describe) for name in sim.node_ids},
                in_flight=tuple(sim.in_flight()),
                timers=tuple(sim.pending_timers()),
                cut=sim.cut_links,
            )
        )
    return Recording(sim.trace, sim.node_ids, steps, truncated=True)


def involves(event: Event, nodes: Collection[str]) -> bool:
    """Whether `event` is about one of `nodes` (a heal of every link is about all of them)."""
    named = Trace([event]).nodes()
    return not named or any(node in nodes for node in named)


def default_describe(node: Node) -> Mapping[str, Any] | str:
    """`node.describe()` if the node has it, else its public attributes (not `ctx`)."""
    own = getattr(node, "describe", None)
    if callable(own):
        return own()
    return {k: v for k, v in vars(node).items() if not k.startswith("_") and k != "ctx"}


def short_text(value: Any, width: int = 40) -> str:
    """`value` as at most `width` characters: a string as it is, anything else as a
    short repr (`reprlib`: a few items of each container, sets and dict keys sorted,
    so the text is the same whatever the hash seed), after its length if it is long.

    An object without a `__repr__` of its own shows as its type, ``<KVStore>``,
    never as an address that changes from run to run.
    """
    if isinstance(value, str):
        text = value
    elif type(value).__repr__ is object.__repr__:
        text = f"<{type(value).__name__}>"
    else:
        text = _SHORT.repr(value)
        if isinstance(value, Sized) and len(value) > _SHORT.maxlist:
            text = f"({len(value)}) {text}"
    return text if len(text) <= width else text[: width - 1] + "…"


# A long log or history costs only its first few items, however long it grows.
_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = _SHORT.maxdeque = 4
_SHORT.maxstring = _SHORT.maxother = 40


def _state(sim: Simulation, name: str, describe: Describe) -> dict[str, str] | None:
    if not sim.is_up(name):
        return DOWN
    state = describe(sim.node(name))
    if isinstance(state, str):
        return {"state": state}
    return {key: short_text(value) for key, value in state.items()}
