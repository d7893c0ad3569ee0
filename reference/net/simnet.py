"""A deterministic network simulator for nodes written against `reference.net.node`.

Theory of operation
-------------------
A discrete-event simulator keeps a *virtual clock* and a queue of things
that will happen: "message 12 arrives at b at t=0.031", "a's timer
'retransmit' fires at t=0.2". It repeatedly takes the earliest one, moves
the clock to its time and runs it; running it (a node's handler) may add
more. Nothing waits for real time, so a minute of network life takes
milliseconds, and nothing depends on the operating system's scheduling.

The queue is one heap of ``(time, sequence number, action, args)``. The
sequence number breaks ties in the order things were scheduled, so the
order of events is decided by the simulator alone. Every random choice
(is this message lost? how long does it take? see
`reference.net.links.fate`) is drawn from one `random.Random(seed)`, in an
order fixed by the event order. Nothing reads
`time`, the global `random`, or iterates a set. So the same seed gives the
same run, event for event, and the same trace byte for byte, whatever
`PYTHONHASHSEED` is: a bug found on seed 1234 can be replayed and
watched.

The network is a set of directed *links*, one per pair of nodes, each with
a `Link` setting (default: `Simulation(link=...)`, per pair: `set_link`):

- `loss`: the chance a message vanishes;
- `duplicate`: the chance the network delivers a second copy;
- `delay`: a distribution (`Fixed`, `Uniform`, `Exponential`) drawn for
  every message, so two messages may arrive in the other order;
- `bandwidth`: messages per second the link carries (None: no limit);
  messages queue behind each other, which makes windows pay off only up to
  the bandwidth-delay product.

Faults beyond the links:

- `partition(side_a, side_b)` cuts every link between the two sides (only
  from a to b with `one_way=True`); `heal()` restores them. A message
  crosses only if its link is up both when it leaves and when it arrives.
- `crash(node)` throws the node object and its timers away; messages that
  arrive while it is down are dropped. `restart(node)` builds a new object
  from the node's factory and calls `on_start`; `storage` survived.
- `set_clock(node, Clock(offset, rate))`: the node's `ctx.now()` reads
  ``offset + rate * true time``, and its timers run at that rate.

Everything can be scheduled: `call_at(time, fn, *args)` runs any of these
(or any function) at a virtual time, e.g.
``sim.call_at(2.0, sim.partition, ["a"], ["b"])``.

`run(until=...)` runs the events up to a time. The trace of everything
that happened is `sim.trace` (see `reference.net.trace`), and
`sim.trace.text()` is its byte-exact serialization; `on_note`, if given,
sees each note as a node writes it.

Between events, three read-only views show what the trace cannot yet say
(`reference.debug.explorer` steps through a run with them):
`in_flight()`, the copies on their way and when they will arrive;
`pending_timers()`, the timers set and not yet fired or cancelled; and
`cut_links`, the directed links a partition has cut. Looking changes
nothing: no random draw, no event, the same trace.

What happens to each message, the faults and the trace are the host
contract shared with the UDP runtime (`reference.net.network.Network`, the
base class); this module adds virtual time, per-link settings, bandwidth
and clocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from heapq import heappop, heappush
from typing import Any, NamedTuple

from reference.net.links import Clock, Link
from reference.net.network import Network
from reference.net.node import Node, NodeDown, NodeFactory
from reference.net.trace import Note

# --- What a look inside shows ---------------------------------------------------


class InFlight(NamedTuple):
    """A copy of a message on its way: it arrives (or is dropped) at `arrival`."""

    src: str
    dst: str
    msg_id: int
    msg: Any
    arrival: float


class PendingTimer(NamedTuple):
    """A timer `name` of `node`, due at true time `due`."""

    node: str
    name: Hashable
    due: float


# --- The simulation -------------------------------------------------------------


class _Host:
    """One node's place in the simulation; it is also the node's `ctx`."""

    __slots__ = ("_sim", "clock", "factory", "node", "node_id", "random", "storage", "timers")

    def __init__(self, sim: Simulation, node_id: str, factory: NodeFactory, clock: Clock) -> None:
        self._sim = sim
        self.node_id = node_id
        self.factory = factory
        self.clock = clock
        self.random = sim.random
        self.storage: dict[Any, Any] = {}
        self.node: Node | None = None
        self.timers: dict[Hashable, int] = {}

    def send(self, dst: str, msg: Any) -> None:
        self._sim._send(self, dst, msg)

    def set_timer(self, delay: float, name: Hashable) -> None:
        self._sim._set_timer(self, delay, name)

    def cancel_timer(self, name: Hashable) -> None:
        self.timers.pop(name, None)

    def now(self) -> float:
        return self.clock.offset + self.clock.rate * self._sim.now

    def note(self, text: str) -> None:
        self._sim._note(self.node_id, text)

    def crash(self) -> None:
        self.node = None
        self.timers.clear()


class Simulation(Network):
    """Nodes, links between them, a virtual clock, one RNG and a trace."""

    def __init__(
        self,
        seed: int = 0,
        *,
        link: Link = Link(),
        on_note: Callable[[Note], None] | None = None,
    ) -> None:
        super().__init__(seed, on_note)
        self.seed = seed
        self.now = 0.0
        self.default_link = link
        self._links: dict[tuple[str, str], Link] = {}
        self._busy_until: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._scheduled = 0
        self._fire_timer = self._fire  # one bound method, so `run` can recognise timers by identity

    # -- Building the world

    def add_node(self, node_id: str, factory: NodeFactory, *, clock: Clock = Clock()) -> None:
        """Add a node built by `factory()`; it starts at the current time."""
        self._check_new_node_id(node_id)
        host = self._hosts[node_id] = _Host(self, node_id, factory, clock)
        self._schedule(self.now, self._start, host)

    @property
    def node_ids(self) -> list[str]:
        return list(self._hosts)

    def set_link(self, src: str, dst: str, link: Link, *, one_way: bool = False) -> None:
        """Use `link` from `src` to `dst` (and back, unless `one_way`)."""
        self._host(src)
        self._host(dst)
        self._links[src, dst] = link
        if not one_way:
            self._links[dst, src] = link

    def set_clock(self, node_id: str, clock: Clock) -> None:
        self._host(node_id).clock = clock

    def restart(self, node_id: str) -> None:
        """Start a fresh node object with the old storage (crashing it first if up)."""
        self.crash(node_id)
        self._start(self._host(node_id))

    # -- Running

    def call_at(self, time: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` at virtual time `time`."""
        if time < self.now:
            raise ValueError(f"cannot schedule at {time}, the time is already {self.now}")
        self._schedule(time, fn, *args)

    def run(self, until: float | None = None, *, max_events: int | None = None) -> int:
        """Process events up to time `until` (all of them if None).

        Stops early after `max_events` events (a guard against a node that
        schedules work without letting time pass). Returns the number of
        events processed. After a run to `until`, `now == until`.
        """
        heap, fire = self._heap, self._fire_timer
        limit = math.inf if until is None else until
        budget = math.inf if max_events is None else max_events
        processed = 0
        while heap and heap[0][0] <= limit and processed < budget:
            time, _, action, args = heappop(heap)
            if action is fire and args[0].timers.get(args[1]) != args[2]:
                continue  # a timer cancelled, replaced or lost in a crash: nothing happens
            self.now = time
            action(*args)
            processed += 1
        if until is not None and processed < budget and self.now < until:
            self.now = until
        return processed

    # -- Looking inside (read-only)

    def in_flight(self) -> list[InFlight]:
        """The copies on their way, earliest arrival first."""
        return [
            InFlight(*args, time)
            for time, _, action, args in sorted(self._heap, key=_when)
            if action == self._deliver
        ]

    def pending_timers(self) -> list[PendingTimer]:
        """The timers set and neither fired nor cancelled (nor lost in a crash), earliest first."""
        timers = [
            (time, *args) for time, _, action, args in self._heap if action is self._fire_timer
        ]
        return [
            PendingTimer(host.node_id, name, time)
            for time, host, name, token in sorted(timers, key=lambda timer: (timer[0], timer[3]))
            if host.timers.get(name) == token
        ]

    @property
    def cut_links(self) -> frozenset[tuple[str, str]]:
        """The directed links `(src, dst)` that partitions have cut now."""
        return frozenset(self._partitions.cut)

    # -- The machinery

    def _schedule(self, time: float, action: Callable[..., Any], *args: Any) -> None:
        self._scheduled += 1
        heappush(self._heap, (time, self._scheduled, action, args))

    def _link(self, src: str, dst: str) -> Link:
        return self._links.get((src, dst), self.default_link)

    def _carry(
        self, host: _Host, dst: str, link: Link, delay: float, msg_id: int, msg: Any
    ) -> None:
        leaves = self.now
        if link.bandwidth is not None:  # messages queue behind each other on the link
            pair = (host.node_id, dst)
            leaves = max(leaves, self._busy_until.get(pair, leaves)) + 1.0 / link.bandwidth
            self._busy_until[pair] = leaves
        self._scheduled += 1
        arrival = (leaves + delay, self._scheduled, self._deliver, (host.node_id, dst, msg_id, msg))
        heappush(self._heap, arrival)

    def _deliver(self, src: str, dst: str, msg_id: int, msg: Any) -> None:
        node = self._arrive(src, dst, msg_id)
        if node is not None:
            node.on_message(src, msg)

    def _set_timer(self, host: _Host, delay: float, name: Hashable) -> None:
        if not delay >= 0:
            raise ValueError(f"a timer delay must be >= 0, got {delay!r}")
        if host.node is None:
            raise NodeDown(host.node_id, "set timers")
        self._scheduled += 1
        token = self._scheduled
        heappush(
            self._heap,
            (self.now + delay / host.clock.rate, token, self._fire_timer, (host, name, token)),
        )
        host.timers[name] = token

    def _fire(self, host: _Host, name: Hashable, token: int) -> None:
        self._timer_fired(host, name)


def _when(entry: tuple) -> tuple[float, int]:
    """A queue entry's place: its time, then the order it was scheduled in."""
    return entry[0], entry[1]
