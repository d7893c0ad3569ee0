"""Causal broadcast: no member sees an answer before the question it answers.

Theory of operation
-------------------
FIFO broadcast (reference/order/broadcast.py) keeps each sender's messages in
order but lets a reply overtake the message it replies to: Alice broadcasts
"I lost my keys", Bob delivers it and broadcasts "found them!", and Carol,
whose link from Alice is slow, reads Bob's answer first. The two messages are
related by happens-before (reference/order/clocks.py): Bob had delivered
Alice's message when he sent his, so m1 → m2. *Causal broadcast* promises
that every member delivers m1 before m2 whenever m1 → m2; messages that are
concurrent may still come in any order.

Each member keeps a vector `delivered`: ``delivered[s]`` is how many of
sender `s`'s messages it has delivered. A message carries its sender's
vector at the moment it was sent, with the sender's own entry counting this
message too: "this is my n-th message, and before sending it I had delivered
these many of everyone else's". A member may deliver message `m` from `s`
with vector `V` when (`deliverable`)

- ``V[s] == delivered[s] + 1``: it is the next message from `s`, and
- ``V[k] <= delivered[k]`` for every other `k`: everything `s` had delivered
  before sending `m`, this member has delivered too.

Otherwise the message waits in a *hold-back queue*. After each delivery the
queue is scanned again, since one delivery can make others deliverable. The
sender delivers its own message at once (it is deliverable by construction).

Over reliable FIFO links the first condition holds on arrival already; it is
kept so that `deliverable` is the whole rule, readable on its own (and the
exercise asks for exactly this function).
"""

from __future__ import annotations

from typing import Any

from reference.order.broadcast import Broadcast
from reference.order.clocks import VectorClock


def deliverable(sender: str, stamp: VectorClock, delivered: VectorClock) -> bool:
    """May a message from `sender` carrying `stamp` be delivered after `delivered`?"""
    if stamp[sender] != delivered[sender] + 1:
        return False
    return all(count <= delivered[node] for node, count in stamp.counts.items() if node != sender)


class CausalBroadcast(Broadcast):
    """Vector timestamps on every message, and a hold-back queue until it is deliverable."""

    def _first_start(self) -> None:
        self.state.update(vector=VectorClock(), held=[])

    def _send(self, n: int, payload: Any) -> None:
        me, vector = self.ctx.node_id, self.state["vector"]
        stamp = vector.copy()
        stamp.increment(me)
        self.send_to_peers(("causal", stamp.as_dict(), payload))
        vector.increment(me)
        self._deliver(me, n, payload)

    def _received(self, src: str, msg: Any) -> bool:
        if not (isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "causal"):
            return False
        _, counts, payload = msg
        try:
            stamp = VectorClock(counts)
        except (ValueError, AttributeError, TypeError):
            return False
        if stamp[src] == 0:
            return False  # a message from src must count itself
        if self._has_room(self.state["held"]):
            self.state["held"].append((src, stamp, payload))
            self._deliver_what_is_ready()
        return True

    def _deliver_what_is_ready(self) -> None:
        vector, held = self.state["vector"], self.state["held"]
        progress = True
        while progress:
            progress = False
            for item in list(held):
                sender, stamp, payload = item
                if deliverable(sender, stamp, vector):
                    held.remove(item)
                    vector.increment(sender)
                    self._deliver(sender, stamp[sender], payload)
                    progress = True
