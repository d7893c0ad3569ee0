"""The host contract, written once: what the simulator and the UDP runtime share.

Theory of operation
-------------------
A *host* runs nodes (reference/net/node.py) and carries their messages: the
simulator (reference/net/simnet.py) in virtual time, the UDP runtime
(reference/net/udp.py) over real sockets. How a host waits and moves bytes
differs; what happens to a message, and what the trace says about it, must
not. So `Network`, the base class of both, holds everything that does not
depend on time or I/O:

- the nodes by id: `node(id)` (the running object; `NodeDown` if it has
  crashed), `storage(id)`, `is_up(id)`, and `UnknownNode` for any id it does
  not know;
- the fate of a message: `_send` numbers it, records the `Send`, drops it if
  a partition cuts the link (`Partitions`, the one partition rule) or the
  `Link` loses it (`_fate`: by default `fate`, the one draw of loss,
  duplication and delay), records a `Duplicate` for an extra copy, and asks
  the host to carry each copy (`_carry`); `_arrive` records what becomes of a copy when it arrives:
  dropped because the node is down or the link is cut by then, or delivered;
- the faults: `partition`, `heal` and `crash`, each recorded as its event;
- the rest of the trace: a node's start, a timer that fires, a note (also
  handed to `on_note`, if given, as it is written).

A subclass provides `now` (the time to record), `_link(src, dst)` (the `Link`
to imitate, or None) and `_carry(host, dst, link, delay, msg_id, msg)`
(deliver one copy after `delay` seconds, or at once if `delay` is None, by
calling `_arrive`). Its per-node contexts have `node_id`, `factory`,
`storage`, `node` (None while down), `timers` and `crash()`.

`_fate(src, dst, link)` is the one hook for where a message's fate comes
from: a host that replays a recorded run (reference/debug/faults.py)
overrides it to read the fates from a schedule instead of the RNG. Left
alone, it draws exactly what `fate` draws, so traces do not change.

A host may also lose a copy for a reason of its own, and records a `Drop`
saying why; `send` never raises for it, since a handler that sends must not
fail because of the network. Only the UDP runtime has such reasons: a
datagram holds at most 65,507 bytes ("too large"), and the kernel may
refuse a `sendto` (the error's name). The simulator carries a message of
any size, as an ideal network would, and encodes nothing, so that its
traces stay exactly what they are.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from reference.net.links import Link, Partitions, fate
from reference.net.node import Node, NodeDown, UnknownNode
from reference.net.trace import (
    Crash,
    Deliver,
    Drop,
    Duplicate,
    Note,
    Send,
    Start,
    TimerFired,
    Trace,
)


class Network:
    """Nodes by id, the fate of their messages, faults and the trace."""

    now: float

    def __init__(
        self, seed: int, on_note: Callable[[Note], None] | None, trace: Trace | None = None
    ) -> None:
        self.random = random.Random(seed)
        self.trace = Trace() if trace is None else trace
        self._on_note = on_note
        self._hosts: dict[str, Any] = {}
        self._partitions = Partitions()
        self._messages = 0

    # -- The nodes

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

    # -- Faults

    def partition(
        self, side_a: Iterable[str], side_b: Iterable[str], *, one_way: bool = False
    ) -> None:
        """Cut the links from `side_a` to `side_b` (and back, unless `one_way`)."""
        known = self._known()
        self.trace.append(self._partitions.partition(self.now, side_a, side_b, one_way, known))

    def heal(
        self,
        side_a: Iterable[str] | None = None,
        side_b: Iterable[str] | None = None,
        *,
        one_way: bool = False,
    ) -> None:
        """Restore the links between the sides, or every link if no sides are given."""
        known = self._known()
        self.trace.append(self._partitions.heal(self.now, side_a, side_b, one_way, known))

    def crash(self, node_id: str) -> None:
        """Stop the node: its object and timers are gone, its storage stays."""
        host = self._host(node_id)
        if host.node is not None:
            host.crash()
            self.trace.append(Crash(self.now, node_id))

    # -- For the hosts

    def _known(self) -> dict[str, Any]:
        """Every node id a message may be sent to (the UDP runtime adds remote peers)."""
        return self._hosts

    def _host(self, node_id: str) -> Any:
        try:
            return self._hosts[node_id]
        except (KeyError, TypeError):
            raise UnknownNode(node_id) from None

    def _check_new_node_id(self, node_id: str) -> None:
        if not isinstance(node_id, str):
            raise TypeError(f"node ids are strings, got {node_id!r}")
        if node_id in self._known():
            raise ValueError(f"there is already a node {node_id!r}")

    def _start(self, host: Any) -> None:
        node = host.factory()
        node.ctx = host
        host.node = node
        self.trace.append(Start(self.now, host.node_id))
        node.on_start()

    def _link(self, src: str, dst: str) -> Link | None:
        raise NotImplementedError

    def _carry(
        self, host: Any, dst: str, link: Link | None, delay: float | None, msg_id: int, msg: Any
    ) -> None:
        raise NotImplementedError

    def _fate(self, src: str, dst: str, link: Link | None) -> tuple[float | None, ...]:
        """The delays of the copies of the message `src` is sending to `dst` now
        (None: at once), the original first; () if it is lost. Override it to
        take fates from somewhere other than the RNG."""
        return (None,) if link is None else fate(link, self.random)

    def _send(self, host: Any, dst: str, msg: Any) -> None:
        if host.node is None:
            raise NodeDown(host.node_id, "send")
        if dst not in self._known():
            raise UnknownNode(dst)
        src, now, record = host.node_id, self.now, self.trace.append
        self._messages += 1
        msg_id = self._messages
        record(Send(now, src, dst, msg_id, msg))
        cut = self._partitions.cut
        if cut and (src, dst) in cut:
            record(Drop(now, src, dst, msg_id, "partition"))
            return
        link = self._link(src, dst)
        delays = self._fate(src, dst, link)
        if not delays:
            record(Drop(now, src, dst, msg_id, "loss"))
            return
        self._carry(host, dst, link, delays[0], msg_id, msg)
        for delay in delays[1:]:
            self._messages += 1
            record(Duplicate(now, src, dst, self._messages, msg_id))
            self._carry(host, dst, link, delay, self._messages, msg)

    def _arrive(self, src: str, dst: str, msg_id: int) -> Node | None:
        """Record what becomes of a copy arriving at `dst`: the node to hand it to, or None."""
        node = self._hosts[dst].node
        if node is None:
            self.trace.append(Drop(self.now, src, dst, msg_id, "down"))
        elif (src, dst) in self._partitions.cut:
            self.trace.append(Drop(self.now, src, dst, msg_id, "partition"))
        else:
            self.trace.append(Deliver(self.now, src, dst, msg_id))
            return node
        return None

    def _timer_fired(self, host: Any, name: Hashable) -> None:
        del host.timers[name]
        self.trace.append(TimerFired(self.now, host.node_id, name))
        host.node.on_timer(name)

    def _note(self, node_id: str, text: Any) -> None:
        note = Note(self.now, node_id, str(text))
        self.trace.append(note)
        if self._on_note is not None:
            self._on_note(note)
