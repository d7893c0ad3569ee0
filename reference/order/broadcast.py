"""Broadcast to a group over reliable links, and FIFO broadcast, the first order it promises.

Theory of operation
-------------------
A *broadcast* sends one message to every member of a group, itself included.
What makes one broadcast protocol differ from another is the order in which
members *deliver* messages (hand them to the application), which may be
later than when they *receive* them: a protocol may hold a message back.

=================  ====================================================  =================
protocol           guarantee                                             module
=================  ====================================================  =================
`FifoBroadcast`    messages from one sender are delivered in the order   here
                   it sent them
`CausalBroadcast`  if m1 → m2 (m2's sender had delivered or sent m1),    order/causal.py
                   every member delivers m1 before m2
`Sequencer...`,    every member delivers the same messages in the same   order/total_order.py
`Lamport...`       order
=================  ====================================================  =================

All of them run on the same floor: *reliable FIFO links*, one to each peer,
built from chapter 04's parts (reference/delivery/reliable.py) rather than
anew. `ReliableLinks` gives a node one `SlidingWindowSender` per peer and one
`ReliableReceiver` for all of them, sharing the node's context: their
storage keys (``sender/<peer>``, ``receiver/<peer>``) and timer names
(``("retransmit", peer, seq)``) already differ per peer, so each node is
just told which frames are whose: ``("data", ...)`` goes to the receiver,
``("ack", ...)`` to the sender for that peer. Loss and duplication are
handled there, once: every payload sent on a link arrives exactly once, in
order, however often the network loses or copies frames.

On that floor FIFO broadcast is almost nothing: send the message on every
link and deliver it as it arrives. The link is FIFO, so messages from one
sender arrive in order. What FIFO broadcast does *not* promise is any order
between senders: a reply can overtake the message it answers (see
`reference.order.broadcast_scenarios`).

`Broadcast` is what all four protocols share. The application calls
`broadcast(payload)`, which returns the message's id ``(sender, n)`` (the
sender's n-th broadcast, from 1); a protocol implements `_send(n, payload)`
and `_received(src, msg)` and calls `_deliver(origin, n, payload)`. Each
delivery is appended to `delivered` and both moments are written into the
trace as notes (``broadcast a#1: ...``, ``deliver a#1: ...``), so the
space-time diagram shows them and reference/order/broadcast_checks.py can
check the order guarantees from the trace alone.

All of a node's protocol state lives in ``storage["broadcast"]``, updated in
the same handler as the reliable links' state, so a restarted node carries
on where it stopped. A message a peer sends that has the wrong shape is
ignored and noted; a node does not crash because a peer misbehaves.
Messages held back wait in a bounded queue (`max_held`): a peer cannot make
a node hold unbounded memory, and a message past the bound is dropped and
noted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from reference.delivery.reliable import Backoff, ReliableReceiver, SlidingWindowSender
from reference.net.node import Context, Node
from reference.net.trace import short_label

RETRANSMIT = Backoff()
"""The links' default retransmission schedule (chapter 04's)."""

MessageId = tuple[str, int]
"""``(sender, n)``: the `n`-th message (from 1) that `sender` broadcast."""


# --- The floor: one reliable FIFO link to each peer -------------------------------------


class _LinkReceiver(ReliableReceiver):
    """Chapter 04's receiver, handing each payload to a callback instead of a list."""

    def __init__(self, on_payload: Callable[[str, Any], None]) -> None:
        super().__init__()
        self.on_payload = on_payload

    def deliver(self, src: str, payload: Any) -> None:
        self.on_payload(src, payload)


class ReliableLinks:
    """Reliable FIFO links from one node to each of `peers`, on the node's context."""

    def __init__(
        self,
        ctx: Context,
        peers: Iterable[str],
        on_payload: Callable[[str, Any], None],
        *,
        window: int = 8,
        backoff: Backoff = RETRANSMIT,
    ) -> None:
        self.receiver = _LinkReceiver(on_payload)
        self.receiver.ctx = ctx
        self.senders: dict[str, SlidingWindowSender] = {}
        for peer in peers:
            sender = self.senders[peer] = SlidingWindowSender(peer, window=window, backoff=backoff)
            sender.ctx = ctx
            sender.on_start()  # resumes the outbox in storage after a restart

    def send(self, peer: str, payload: Any) -> None:
        """Queue `payload` for `peer`; it arrives exactly once, after earlier ones."""
        self.senders[peer].submit(payload)

    def on_message(self, src: str, frame: Any) -> None:
        kind = frame[0] if isinstance(frame, list | tuple) and frame else None
        if kind == "data":
            self.receiver.on_message(src, frame)
        elif kind == "ack" and src in self.senders:
            self.senders[src].on_message(src, frame)
        else:
            self.receiver.ctx.note(f"ignored a malformed frame from {src}")

    def on_timer(self, name: Hashable) -> None:
        _, peer, _ = name  # ("retransmit", peer, seq): the only timers the links set
        self.senders[peer].on_timer(name)


# --- What every broadcast shares ----------------------------------------------------------

_NOTE = re.compile(r"(broadcast|deliver) (.+?)#(\d+): ")


def step_note(step: str, message: MessageId, payload: Any) -> str:
    """The note for a broadcast or a delivery: ``deliver a#3: 'hello'``."""
    origin, n = message
    return f"{step} {origin}#{n}: {short_label(payload)}"


def parse_step_note(text: str) -> tuple[str, MessageId] | None:
    """``("broadcast" or "deliver", message id)`` from a note, or None for other notes."""
    match = _NOTE.match(text)
    if match is None:
        return None
    return match[1], (match[2], int(match[3]))


class Broadcast(Node):
    """A member of `group` (node ids, itself included) that broadcasts and delivers."""

    def __init__(
        self,
        group: Iterable[str],
        *,
        window: int = 8,
        backoff: Backoff = RETRANSMIT,
        max_held: int = 10_000,
    ) -> None:
        self.group = sorted(set(group))
        self.window = window
        self.backoff = backoff
        self.max_held = max_held

    def on_start(self) -> None:
        me = self.ctx.node_id
        if me not in self.group:
            raise ValueError(f"node {me!r} is not in its group {self.group}")
        self.peers = [node for node in self.group if node != me]
        self.state: dict[str, Any] = self.ctx.storage.setdefault("broadcast", {})
        if not self.state:
            self.state.update(broadcasts=0, delivered=[])
            self._first_start()
        self.links = ReliableLinks(
            self.ctx, self.peers, self._from_link, window=self.window, backoff=self.backoff
        )

    @property
    def delivered(self) -> list[tuple[str, int, Any]]:
        """What this node delivered, in order: ``(origin, n, payload)``."""
        return self.state["delivered"]

    def broadcast(self, payload: Any) -> MessageId:
        """Send `payload` to the whole group; returns the message's id."""
        n = self.state["broadcasts"] = self.state["broadcasts"] + 1
        self.ctx.note(step_note("broadcast", (self.ctx.node_id, n), payload))
        self._send(n, payload)
        return (self.ctx.node_id, n)

    def on_message(self, src: str, msg: Any) -> None:
        if src not in self.peers:
            self.ctx.note(f"ignored a message from {src}, who is not in the group")
            return
        self.links.on_message(src, msg)

    def on_timer(self, name: Hashable) -> None:
        self.links.on_timer(name)

    def send_to_peers(self, msg: Any) -> None:
        for peer in self.peers:
            self.links.send(peer, msg)

    def _from_link(self, src: str, msg: Any) -> None:
        if not self._received(src, msg):
            self.ctx.note(f"ignored a malformed broadcast message from {src}")

    def _deliver(self, origin: str, n: int, payload: Any) -> None:
        self.delivered.append((origin, n, payload))
        self.ctx.note(step_note("deliver", (origin, n), payload))

    def _has_room(self, held: list[Any]) -> bool:
        """Is there room on a hold-back queue? If not, note that a message is dropped."""
        if len(held) < self.max_held:
            return True
        self.ctx.note(f"hold-back queue full ({self.max_held}): dropped a message")
        return False

    # -- What a protocol provides

    def _first_start(self) -> None:
        """Add the protocol's own entries to `self.state` (on the very first start)."""

    def _send(self, n: int, payload: Any) -> None:
        raise NotImplementedError

    def _received(self, src: str, msg: Any) -> bool:
        """Handle a message from a peer's link; False if it was malformed."""
        raise NotImplementedError


def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


class FifoBroadcast(Broadcast):
    """Send on every reliable FIFO link; deliver what arrives, as it arrives."""

    def _send(self, n: int, payload: Any) -> None:
        self.send_to_peers(("fifo", n, payload))
        self._deliver(self.ctx.node_id, n, payload)

    def _received(self, src: str, msg: Any) -> bool:
        if not (isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "fifo"):
            return False
        _, n, payload = msg
        if not is_count(n):
            return False
        self._deliver(src, n, payload)
        return True
