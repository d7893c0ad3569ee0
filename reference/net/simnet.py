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
(is this message lost? how long does it take?) is drawn from one
`random.Random(seed)`, in an order fixed by the event order. Nothing reads
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
`sim.trace.text()` is its byte-exact serialization.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Iterable
from heapq import heappop, heappush
from typing import Any

from reference.net.links import Clock, Link
from reference.net.node import Node, NodeDown, NodeFactory, UnknownNode
from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Heal,
    Note,
    Partition,
    Send,
    Start,
    TimerFired,
    Trace,
)

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
        self._sim.trace.append(Note(self._sim.now, self.node_id, str(text)))


class Simulation:
    """Nodes, links between them, a virtual clock, one RNG and a trace."""

    def __init__(self, seed: int = 0, *, link: Link = Link()) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.now = 0.0
        self.default_link = link
        self.trace = Trace()
        self._hosts: dict[str, _Host] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._busy_until: dict[tuple[str, str], float] = {}
        self._cut: set[tuple[str, str]] = set()
        self._heap: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._scheduled = 0
        self._messages = 0
        self._fire_timer = self._fire  # one bound method, so `run` can recognise timers by identity

    # -- Building the world

    def add_node(self, node_id: str, factory: NodeFactory, *, clock: Clock = Clock()) -> None:
        """Add a node built by `factory()`; it starts at the current time."""
        if not isinstance(node_id, str):
            raise TypeError(f"node ids are strings, got {node_id!r}")
        if node_id in self._hosts:
            raise ValueError(f"there is already a node {node_id!r}")
        host = self._hosts[node_id] = _Host(self, node_id, factory, clock)
        self._schedule(self.now, self._start, host)

    @property
    def node_ids(self) -> list[str]:
        return list(self._hosts)

    def node(self, node_id: str) -> Node:
        """The running node object (a new one after each restart)."""
        node = self._host(node_id).node
        if node is None:
            raise NodeDown(node_id)
        return node

    def storage(self, node_id: str) -> dict[Any, Any]:
        """The node's durable storage (it survives crashes)."""
        return self._host(node_id).storage

    def is_up(self, node_id: str) -> bool:
        return self._host(node_id).node is not None

    def set_link(self, src: str, dst: str, link: Link, *, one_way: bool = False) -> None:
        """Use `link` from `src` to `dst` (and back, unless `one_way`)."""
        self._host(src)
        self._host(dst)
        self._links[src, dst] = link
        if not one_way:
            self._links[dst, src] = link

    def set_clock(self, node_id: str, clock: Clock) -> None:
        self._host(node_id).clock = clock

    # -- Faults

    def partition(
        self, side_a: Iterable[str], side_b: Iterable[str], *, one_way: bool = False
    ) -> None:
        """Cut the links from `side_a` to `side_b` (and back, unless `one_way`)."""
        a, b = self._sides(side_a, side_b)
        self._cut |= _pairs(a, b, one_way)
        self.trace.append(Partition(self.now, a, b, one_way))

    def heal(
        self,
        side_a: Iterable[str] | None = None,
        side_b: Iterable[str] | None = None,
        *,
        one_way: bool = False,
    ) -> None:
        """Restore the links between the sides, or every link if no sides are given."""
        if side_a is None and side_b is None:
            self._cut.clear()
            self.trace.append(Heal(self.now, (), (), False))
            return
        a, b = self._sides(side_a or (), side_b or ())
        self._cut -= _pairs(a, b, one_way)
        self.trace.append(Heal(self.now, a, b, one_way))

    def crash(self, node_id: str) -> None:
        """Stop the node: its object and timers are gone, its storage stays."""
        host = self._host(node_id)
        if host.node is None:
            return
        host.node = None
        host.timers.clear()
        self.trace.append(Crash(self.now, node_id))

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

    # -- The machinery

    def _schedule(self, time: float, action: Callable[..., Any], *args: Any) -> None:
        self._scheduled += 1
        heappush(self._heap, (time, self._scheduled, action, args))

    def _host(self, node_id: str) -> _Host:
        try:
            return self._hosts[node_id]
        except (KeyError, TypeError):
            raise UnknownNode(node_id) from None

    def _sides(self, side_a: Iterable[str], side_b: Iterable[str]) -> tuple[tuple, tuple]:
        if isinstance(side_a, str) or isinstance(side_b, str):
            raise TypeError("each side of a partition is a list of node ids, not a string")
        a, b = tuple(sorted(set(side_a))), tuple(sorted(set(side_b)))
        for node_id in a + b:
            self._host(node_id)
        if set(a) & set(b):
            raise ValueError(f"a node cannot be on both sides of a partition: {a} / {b}")
        return a, b

    def _start(self, host: _Host) -> None:
        node = host.factory()
        node.ctx = host
        host.node = node
        self.trace.append(Start(self.now, host.node_id))
        node.on_start()

    def _send(self, host: _Host, dst: str, msg: Any) -> None:
        if host.node is None:
            raise NodeDown(host.node_id, "send")
        if dst not in self._hosts:
            raise UnknownNode(dst)
        src, now, record = host.node_id, self.now, self.trace.append
        self._messages += 1
        msg_id = self._messages
        record(Send(now, src, dst, msg_id, msg))
        pair = (src, dst)
        if self._cut and pair in self._cut:
            record(Drop(now, src, dst, msg_id, "partition"))
            return
        link = self._links.get(pair, self.default_link)
        rng = self.random
        if link.loss and rng.random() < link.loss:
            record(Drop(now, src, dst, msg_id, "loss"))
            return
        self._transmit(pair, link, msg_id, msg)
        if link.duplicate and rng.random() < link.duplicate:
            self._messages += 1
            record(Duplicate(now, src, dst, self._messages, msg_id))
            self._transmit(pair, link, self._messages, msg)

    def _transmit(self, pair: tuple[str, str], link: Link, msg_id: int, msg: Any) -> None:
        leaves = self.now
        if link.bandwidth is not None:
            leaves = max(leaves, self._busy_until.get(pair, leaves)) + 1.0 / link.bandwidth
            self._busy_until[pair] = leaves
        arrives = leaves + link.delay.sample(self.random)
        self._scheduled += 1
        heappush(self._heap, (arrives, self._scheduled, self._deliver, (pair, msg_id, msg)))

    def _deliver(self, pair: tuple[str, str], msg_id: int, msg: Any) -> None:
        src, dst = pair
        node = self._hosts[dst].node
        if node is None:
            self.trace.append(Drop(self.now, src, dst, msg_id, "down"))
        elif self._cut and pair in self._cut:
            self.trace.append(Drop(self.now, src, dst, msg_id, "partition"))
        else:
            self.trace.append(Deliver(self.now, src, dst, msg_id))
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
        del host.timers[name]
        self.trace.append(TimerFired(self.now, host.node_id, name))
        host.node.on_timer(name)


def _pairs(side_a: tuple, side_b: tuple, one_way: bool) -> set[tuple[str, str]]:
    pairs = {(a, b) for a in side_a for b in side_b}
    if not one_way:
        pairs |= {(b, a) for a, b in pairs}
    return pairs
