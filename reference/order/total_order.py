"""Total-order broadcast: every member delivers the same messages in the same order.

Theory of operation
-------------------
Causal broadcast (reference/order/causal.py) lets concurrent messages arrive
in any order. For a replicated bank account that is not enough: if one
member applies "deposit 50" then "add 10% interest" and another applies them
the other way round, their balances differ forever. Replicas that apply the
same deterministic operations *in the same order* stay equal (a replicated
state machine), and total-order broadcast gives them that order. Two ways:

**A sequencer** (`SequencerBroadcast`). One member, the sequencer, decides.
A member that broadcasts sends ``("submit", n, payload)`` to the sequencer
(or, if it is the sequencer, skips that step); the sequencer numbers each
message it receives 1, 2, 3, ... and sends ``("ordered", seq, origin, n,
payload)`` to every member, delivering it itself at once. A member delivers
the ordered messages by their number, which over the FIFO link from the
sequencer is the order they arrive in. Simple and fast (two hops), but the
sequencer is a single point of failure and a bottleneck; replacing it
safely when it fails is consensus, which Raft does (chapter 06, later on).

**Lamport timestamps with acknowledgements** (`LamportBroadcast`), no
leader. Every message is stamped with the sender's Lamport clock, and
``(timestamp, sender)`` orders all messages totally in a way that respects
causality (ties between equal timestamps go to the smaller node id). Each
member keeps the messages it has not delivered yet in a queue sorted by that
order. The question is when the head of the queue is safe to deliver: could a
message that sorts before it still arrive? A message from member `k` can
only sort before it if `k`'s clock was still below the head's stamp when it
sent it. So on receiving a message every member broadcasts an
acknowledgement ``("acknowledge", timestamp)`` stamped with its own (now
larger) clock, and a member delivers the head once it has heard from *every*
other member something stamped at least as late as the head. The links are
FIFO and clocks only go up, so after that anything `k` sends is stamped
later still, and whatever `k` sent before has arrived: nothing from `k` can
sort before the head any more.

The price is waiting for everybody: one silent or crashed member stops all
deliveries, and every message costs an acknowledgement from every member to
every member (n² messages). That is why real systems use a leader (a
sequencer) and make the leader's election safe instead.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

from reference.order.broadcast import Broadcast, is_count
from reference.order.clocks import LamportClock


def _message(msg: Any, kind: str, length: int) -> bool:
    return isinstance(msg, list | tuple) and len(msg) == length and msg[0] == kind


class SequencerBroadcast(Broadcast):
    """One member numbers every message; the others deliver in its order."""

    def __init__(self, group, sequencer: str | None = None, **options: Any) -> None:
        super().__init__(group, **options)
        self.sequencer = self.group[0] if sequencer is None else sequencer
        if self.sequencer not in self.group:
            raise ValueError(f"the sequencer {self.sequencer!r} is not in the group")

    def _first_start(self) -> None:
        self.state.update(last_ordered=0)

    def _send(self, n: int, payload: Any) -> None:
        if self.ctx.node_id == self.sequencer:
            self._order(self.ctx.node_id, n, payload)
        else:
            self.links.send(self.sequencer, ("submit", n, payload))

    def _order(self, origin: str, n: int, payload: Any) -> None:
        seq = self.state["last_ordered"] = self.state["last_ordered"] + 1
        self.send_to_peers(("ordered", seq, origin, n, payload))
        self._deliver(origin, n, payload)

    def _received(self, src: str, msg: Any) -> bool:
        if self.ctx.node_id == self.sequencer and _message(msg, "submit", 3):
            _, n, payload = msg
            if is_count(n):
                self._order(src, n, payload)
                return True
        elif src == self.sequencer and _message(msg, "ordered", 5):
            _, seq, origin, n, payload = msg
            if seq == self.state["last_ordered"] + 1 and origin in self.group and is_count(n):
                self.state["last_ordered"] = seq
                self._deliver(origin, n, payload)
                return True
        return False


class LamportBroadcast(Broadcast):
    """Deliver in (Lamport timestamp, sender) order, once every member has spoken since."""

    def _first_start(self) -> None:
        self.state.update(clock=LamportClock(), queue=[], heard={})

    def _send(self, n: int, payload: Any) -> None:
        timestamp = self.state["clock"].on_send()
        self.send_to_peers(("message", timestamp, n, payload))
        self._enqueue(timestamp, self.ctx.node_id, n, payload)

    def _received(self, src: str, msg: Any) -> bool:
        clock, heard = self.state["clock"], self.state["heard"]
        if _message(msg, "message", 4) and is_count(msg[1]) and is_count(msg[2]):
            _, timestamp, n, payload = msg
            clock.on_receive(timestamp)
            heard[src] = max(heard.get(src, 0), timestamp)
            self.send_to_peers(("acknowledge", clock.on_send()))
            self._enqueue(timestamp, src, n, payload)
            return True
        if _message(msg, "acknowledge", 2) and is_count(msg[1]):
            clock.on_receive(msg[1])
            heard[src] = max(heard.get(src, 0), msg[1])
            self._deliver_what_is_safe()
            return True
        return False

    def _enqueue(self, timestamp: int, origin: str, n: int, payload: Any) -> None:
        if self._has_room(self.state["queue"]):
            heappush(self.state["queue"], (timestamp, origin, n, payload))
            self._deliver_what_is_safe()

    def _deliver_what_is_safe(self) -> None:
        queue, heard = self.state["queue"], self.state["heard"]
        while queue and all(heard.get(peer, 0) >= queue[0][0] for peer in self.peers):
            _, origin, n, payload = heappop(queue)
            self._deliver(origin, n, payload)
