"""The node interface: write a distributed algorithm once, run it anywhere.

Theory of operation
-------------------
A distributed algorithm is a set of *nodes* that only talk by messages.
Each node here is a plain Python object that reacts to three things and
does nothing else:

- `on_start()`: the node has just started (or restarted after a crash);
- `on_message(src, msg)`: a message `msg` arrived from node `src`;
- `on_timer(name)`: a timer the node set earlier has gone off.

To act on the world it uses its *context*, `self.ctx`, which the host
attaches before calling `on_start`:

==========================  ====================================================
``ctx.node_id``             this node's id (a string)
``ctx.send(dst, msg)``      send `msg` to node `dst`; returns at once, no promise
                            that it arrives (the network may lose, duplicate,
                            delay or reorder it)
``ctx.set_timer(d, name)``  call `on_timer(name)` after `d` seconds of this
                            node's clock; setting `name` again replaces it
``ctx.cancel_timer(name)``  forget the timer `name` (no error if unset)
``ctx.now()``               this node's clock, in seconds (it may be skewed
                            or drift: do not compare clocks of two nodes)
``ctx.storage``             a dict that survives a crash (a node's "disk")
``ctx.random``              a `random.Random` to use instead of `random`
``ctx.note(text)``          write a line into the trace (shown on diagrams)
==========================  ====================================================

The handlers never block, sleep or read a socket: they change the node's
state, call `ctx` and return. That is what lets the same class run

- on `reference.net.simnet.Simulation`, a deterministic simulator with virtual
  time, where the network loses, duplicates and delays messages on
  purpose, nodes crash, partitions come and go, and a seed replays it all;
- on `reference.net.udp`, over real UDP sockets with Trio.

Both hosts keep one contract, written once in `reference.net.network`:
`host.node(id)` is the running object, `host.storage(id)` its storage,
`crash`, `partition` and `heal` are the faults, and `host.trace` records
the same events for the same run. A message's fate is drawn by
`reference.net.links.fate`, a partition follows `links.Partitions`. An id
no host knows raises `UnknownNode`; a crashed node that is asked for, or
whose context is asked to send or set a timer, raises `NodeDown`.

Rules that keep a node portable:

- *Messages are plain values*: numbers, strings, bytes, lists, tuples and
  dicts of them. Never mutate a message after sending it. Over the real
  network messages travel as CBOR, so a tuple arrives as a list: unpack
  messages (``kind, seq, payload = msg``) rather than compare them to
  tuples.
- *Volatile state lives on `self`*, durable state in `ctx.storage`. A crash
  throws the node object away (and its timers); the restart builds a new one
  from the same factory and calls `on_start` again with the old storage.
  Each handler runs to completion, so everything a handler writes to
  `storage` is written together, or (if the node crashed before the
  handler) not at all.
- *Timer names* are strings or tuples of plain values, like
  ``("retransmit", 7)``.
- *Randomness and time* come from `ctx.random` and `ctx.now()` only, so a
  simulation replays exactly.

A node that answers every ``("ping", n)`` with ``("pong", n)`` and pings
its peer once a second::

    class Pinger(Node):
        def __init__(self, peer):
            self.peer = peer
            self.count = 0

        def on_start(self):
            self.ctx.set_timer(1.0, "tick")

        def on_timer(self, name):
            self.count += 1
            self.ctx.send(self.peer, ("ping", self.count))
            self.ctx.set_timer(1.0, "tick")

        def on_message(self, src, msg):
            kind, n = msg
            if kind == "ping":
                self.ctx.send(src, ("pong", n))
            else:
                self.ctx.note(f"pong {n} at {self.ctx.now():.3f}")

    sim = Simulation(seed=1)
    sim.add_node("a", functools.partial(Pinger, "b"))
    sim.add_node("b", functools.partial(Pinger, "a"))
    sim.run(until=5.0)

`add_node` takes a *factory* (a class, or a `functools.partial` of one), not
an instance, because a restart after a crash needs a fresh object.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any, Protocol


class Context(Protocol):
    """What a host (the simulator or the Trio runtime) offers a node."""

    node_id: str
    storage: MutableMapping[Any, Any]
    random: random.Random

    def send(self, dst: str, msg: Any) -> None: ...

    def set_timer(self, delay: float, name: Hashable) -> None: ...

    def cancel_timer(self, name: Hashable) -> None: ...

    def now(self) -> float: ...

    def note(self, text: str) -> None: ...


class Node:
    """Base class for nodes: override the handlers you need.

    The host sets `self.ctx` before `on_start`; do not use it in `__init__`.
    """

    ctx: Context

    def on_start(self) -> None:
        """Called when the node starts, and again after every restart."""

    def on_message(self, src: str, msg: Any) -> None:
        """Called for each message that arrives."""

    def on_timer(self, name: Hashable) -> None:
        """Called when the timer `name` goes off."""


NodeFactory = Callable[[], Node]
"""A zero-argument callable that builds a fresh node (a class or a partial)."""


class UnknownNode(LookupError):
    """A node id that no host knows about."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"no node with id {node_id!r}")
        self.node_id = node_id


class NodeDown(RuntimeError):
    """A crashed node (not restarted since) was asked for, or asked to act."""

    def __init__(self, node_id: str, action: str = "") -> None:
        doing = f" and cannot {action}" if action else ""
        super().__init__(f"node {node_id!r} is down{doing}")
        self.node_id = node_id
