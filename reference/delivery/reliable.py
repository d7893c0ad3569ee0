"""Reliable, in-order, exactly-once delivery over a network that is none of those.

Theory of operation
-------------------
The network may lose a message, deliver it twice, deliver it late or
overtake it with a later one. Three ideas turn that into a reliable
channel:

1. *Sequence numbers.* The sender numbers its messages 0, 1, 2, ... and
   sends ``("data", seq, payload)``. The receiver knows which number comes
   next, so it can put messages back in order and recognise a duplicate.
2. *Acknowledgements and retransmission.* The receiver answers every data
   message with ``("ack", next_expected, seq)``: "I have everything below
   `next_expected`, and I have `seq`". The sender keeps each message until
   it is acknowledged and sends it again when a timer runs out. The
   timeout grows on every attempt (exponential backoff, up to a cap) and is
   randomized (jitter) so that senders that failed together do not retry
   together: see `Backoff`.
3. *Durable state.* The receiver keeps `next_expected` and its reorder
   buffer in `ctx.storage`, and updates them in the same handler that hands
   the message to the application. A receiver that crashes and restarts
   therefore neither forgets what it delivered (it would deliver it again)
   nor what it buffered (it has already acknowledged it). The senders keep
   their unacknowledged messages in `storage` too (an *outbox*), so a
   restarted sender resends them instead of losing them.

Together this is "at-least-once transmission + deduplication =
effectively-once delivery": the network may carry a message many times,
but the application sees it once.

Two senders share the receiver, and `ReliableSender`, their base class:
the durable outbox, `submit`, `done`, and reading acks.

- `StopAndWaitSender` has one message in flight: send, wait for the ack,
  send the next. Simple, and slow: one message per round trip at best.
- `SlidingWindowSender` keeps up to `window` messages in flight, each with
  its own retransmission timer, and the receiver buffers what arrives
  early (selective repeat). With a window of one it is stop-and-wait.
  It also resends a message at once when three later ones have been
  acknowledged before it (TCP's fast retransmit), so one loss does not
  stall the window for a whole timeout.

Timeouts here are fixed by `Backoff`; TCP instead measures the round trip
and derives its timeout from it (RFC 6298), which the chapter discusses.

Malformed messages (wrong shape, negative or non-integer numbers) are
ignored and noted in the trace: a node must not crash because a peer
misbehaves.

Bounded memory. Sender names cost nothing to invent, so the receiver
buffers at most `max_buffer` messages ahead of a sender's next expected
one, and `max_buffered_bytes` (see `buffered_size`) across *all* senders.
A message that does not fit is neither buffered nor acknowledged: it will
be sent again, so nothing is lost, and the next expected message needs no
room, so a full buffer slows senders down but never stops them. What
cannot be bounded is `next_expected` of each sender that had a message
delivered: forgetting it would deliver a late copy again (TCP forgets a
connection only after TIME_WAIT, when no old copy can still arrive). So a
sender gets a record in `storage` only once a message of its own is
delivered or buffered; over UDP the host learns a bounded number of names.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from reference.net.node import Node


@dataclass(frozen=True, slots=True)
class Backoff:
    """A retransmission schedule: exponential growth, a cap, then jitter.

    Attempt 0 waits up to `initial` seconds, attempt 1 up to
    ``initial * multiplier``, and so on, never more than `cap`. Jitter then
    takes a random fraction (up to `jitter`) off that ceiling: 0 gives the
    bare schedule, 0.5 is "equal jitter", 1 is "full jitter".

    >>> schedule = Backoff(initial=0.1, multiplier=2.0, cap=1.0, jitter=0.0)
    >>> [schedule.delay(attempt, 0.5) for attempt in range(6)]
    [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    >>> Backoff(initial=0.1, multiplier=2.0, cap=1.0, jitter=0.5).delay(3, 0.5)
    0.6000000000000001
    """

    initial: float = 0.1
    multiplier: float = 2.0
    cap: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("a backoff needs 0 < initial <= cap")
        if not self.multiplier >= 1:
            raise ValueError("a backoff multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def delay(self, attempt: int, u: float) -> float:
        """The timeout before retry number `attempt`, given a uniform draw `u` in [0, 1)."""
        if attempt < 0:
            raise ValueError(f"attempts count from 0, got {attempt}")
        try:
            ceiling = min(self.cap, self.initial * self.multiplier**attempt)
        except OverflowError:  # multiplier ** 5000 does not fit in a float
            ceiling = self.cap
        return ceiling * (1 - self.jitter * u)


# --- Messages --------------------------------------------------------------------


def _is_seq(value: Any) -> bool:
    return type(value) is int and value >= 0


def parse_data(msg: Any) -> tuple[int, Any] | None:
    """``("data", seq, payload)`` as ``(seq, payload)``, or None if malformed."""
    if isinstance(msg, list | tuple) and len(msg) == 3 and msg[0] == "data" and _is_seq(msg[1]):
        return msg[1], msg[2]
    return None


def parse_ack(msg: Any) -> tuple[int, int] | None:
    """``("ack", next_expected, seq)`` as a pair, or None if malformed."""
    if (
        isinstance(msg, list | tuple)
        and len(msg) == 3
        and msg[0] == "ack"
        and _is_seq(msg[1])
        and _is_seq(msg[2])
    ):
        return msg[1], msg[2]
    return None


# --- The receiver ----------------------------------------------------------------


ENTRY_COST = 100  # bytes of bookkeeping per buffered message (a dict entry, a key), roughly


def buffered_size(payload: Any) -> int:
    """What buffering `payload` costs: its printed length (any value has one) + `ENTRY_COST`."""
    return len(repr(payload)) + ENTRY_COST


class ReliableReceiver(Node):
    """Acknowledges, deduplicates and delivers in order, per sender.

    `deliver(src, payload)` is the application: by default it appends the
    payload to ``storage["delivered"]``. Override it to do something else;
    it runs in the same handler that records the delivery, so a crash
    cannot separate the two. `buffered_bytes` (counted again from `storage`
    on every start) is what the buffers hold now.
    """

    def __init__(self, *, max_buffer: int = 1024, max_buffered_bytes: int = 16 * 2**20) -> None:
        if max_buffer < 1 or max_buffered_bytes < 0:
            raise ValueError("a receiver needs max_buffer >= 1 and max_buffered_bytes >= 0")
        self.max_buffer = max_buffer
        self.max_buffered_bytes = max_buffered_bytes
        self.buffered_bytes = 0

    def on_start(self) -> None:
        records = [state for key, state in self.ctx.storage.items() if key.startswith("receiver/")]
        held = [payload for record in records for payload in record["buffer"].values()]
        self.buffered_bytes = sum(map(buffered_size, held))

    def on_message(self, src: str, msg: Any) -> None:
        data = parse_data(msg)
        if data is None:
            self.ctx.note(f"ignored a malformed message from {src}")
            return
        seq, payload = data
        key = f"receiver/{src}"
        state = self.ctx.storage.get(key) or {"next_expected": 0, "buffer": {}}
        buffer = state["buffer"]
        if seq >= state["next_expected"] + self.max_buffer:
            return  # too far ahead: not buffered, not acknowledged; it will come again
        if seq >= state["next_expected"] and seq not in buffer:
            cost = buffered_size(payload)
            room = self.max_buffered_bytes - self.buffered_bytes
            if seq > state["next_expected"] and cost > room:
                return  # no room: not buffered, not acknowledged; it will come again
            buffer[seq] = payload  # the next expected always fits, and leaves at once
            self.buffered_bytes += cost
        while state["next_expected"] in buffer:
            self.buffered_bytes -= buffered_size(buffer[state["next_expected"]])
            self.deliver(src, buffer.pop(state["next_expected"]))
            state["next_expected"] += 1
        self.ctx.storage[key] = state  # a record only once something was buffered or delivered
        self.ctx.send(src, ("ack", state["next_expected"], seq))

    def deliver(self, src: str, payload: Any) -> None:
        self.ctx.storage.setdefault("delivered", []).append(payload)


# --- The senders -------------------------------------------------------------------


class ReliableSender(Node):
    """What both senders share: the outbox, `submit`, `done` and reading acks.

    The outbox is the sender's durable state for `peer`, in
    ``storage[f"sender/{peer}"]``: `next_seq`, the number the next submitted
    message gets, and `unacked`, every message not yet acknowledged, by
    number, oldest first. On the first start it holds `messages`; after a
    restart it holds whatever was left. A subclass decides what to send:
    `_submitted(seq)` after each `submit`, `_acknowledged(next_expected, seq)`
    for each well-formed ack from the peer.
    """

    def __init__(
        self, peer: str, messages: Iterable[Any] = (), *, backoff: Backoff = Backoff()
    ) -> None:
        self.peer = peer
        self.first_messages = list(messages)
        self.backoff = backoff

    def on_start(self) -> None:
        key = f"sender/{self.peer}"
        if key not in self.ctx.storage:
            first = dict(enumerate(self.first_messages))
            self.ctx.storage[key] = {"next_seq": len(first), "unacked": first}
        self.outbox = self.ctx.storage[key]
        self.unacked: dict[int, Any] = self.outbox["unacked"]

    @property
    def done(self) -> bool:
        """True when every submitted message has been acknowledged."""
        return not self.unacked

    def submit(self, payload: Any) -> None:
        """Queue `payload` for reliable delivery (after `on_start`)."""
        seq = self.outbox["next_seq"]
        self.unacked[seq] = payload
        self.outbox["next_seq"] = seq + 1
        self._submitted(seq)

    def on_message(self, src: str, msg: Any) -> None:
        ack = parse_ack(msg) if src == self.peer else None
        if ack is None:
            self.ctx.note(f"ignored an unexpected message from {src}")
            return
        self._acknowledged(*ack)

    def _send_data(self, seq: int, attempt: int, timer: Hashable) -> None:
        """Send message `seq` and (re)start its retransmission timer for this attempt."""
        self.ctx.send(self.peer, ("data", seq, self.unacked[seq]))
        self.ctx.set_timer(self.backoff.delay(attempt, self.ctx.random.random()), timer)

    def _submitted(self, seq: int) -> None:
        raise NotImplementedError

    def _acknowledged(self, next_expected: int, seq: int) -> None:
        raise NotImplementedError


class StopAndWaitSender(ReliableSender):
    """One message in flight: send it, wait for its ack, then send the next."""

    def __init__(
        self, peer: str, messages: Iterable[Any] = (), *, backoff: Backoff = Backoff()
    ) -> None:
        super().__init__(peer, messages, backoff=backoff)
        self.attempt = 0

    def on_start(self) -> None:
        super().on_start()
        self._send_oldest()

    def _submitted(self, seq: int) -> None:
        if next(iter(self.unacked)) == seq:  # the only one left: nothing is in flight
            self._send_oldest()

    def _acknowledged(self, next_expected: int, seq: int) -> None:
        oldest = next(iter(self.unacked), None)
        if oldest is not None and (oldest < next_expected or oldest == seq):
            del self.unacked[oldest]
            self.attempt = 0
            self._send_oldest()

    def on_timer(self, name: Hashable) -> None:
        self.attempt += 1
        self._send_oldest()

    def _send_oldest(self) -> None:
        if not self.unacked:
            self.ctx.cancel_timer(("retransmit", self.peer))
            return
        self._send_data(next(iter(self.unacked)), self.attempt, ("retransmit", self.peer))


class SlidingWindowSender(ReliableSender):
    """Up to `window` messages in flight, each retransmitted on its own timer.

    `base` is the oldest unacknowledged sequence number and
    `next_to_send` the first not yet sent: the window is
    ``base <= seq < base + window``. An acknowledgement removes everything
    below its `next_expected` and its own `seq`, which may slide the window
    and let new messages go out.

    Fast retransmit (TCP resends after three duplicate acks): when acks for
    `fast_retransmit_after` later messages arrive while an earlier one, sent
    once, is still unacknowledged, that one was probably lost, so it is
    resent at once instead of when its timer runs out. One loss then does
    not stall the whole window. (Only first transmissions count: an ack
    that overtakes a retransmission may have been sent before it.)
    """

    fast_retransmit_after = 3

    def __init__(
        self,
        peer: str,
        messages: Iterable[Any] = (),
        *,
        window: int = 8,
        backoff: Backoff = Backoff(),
    ) -> None:
        if window < 1:
            raise ValueError(f"a window holds at least one message, got {window}")
        super().__init__(peer, messages, backoff=backoff)
        self.window = window
        self.attempts: dict[int, int] = {}
        self.overtaken: dict[int, int] = {}

    def on_start(self) -> None:
        super().on_start()
        self.base = min(self.unacked, default=self.outbox["next_seq"])
        self.next_to_send = self.base
        self._fill_window()

    def _submitted(self, seq: int) -> None:
        self._fill_window()

    def _acknowledged(self, next_expected: int, seq: int) -> None:
        for acked in (*range(self.base, min(next_expected, self.next_to_send)), seq):
            if acked < self.next_to_send and self.unacked.pop(acked, None) is not None:
                self.ctx.cancel_timer(("retransmit", self.peer, acked))
                self.attempts.pop(acked, None)
                self.overtaken.pop(acked, None)
        self._resend_overtaken(seq)
        while self.base < self.next_to_send and self.base not in self.unacked:
            self.base += 1
        self._fill_window()

    def _resend_overtaken(self, seq: int) -> None:
        """Fast retransmit: a message sent once and then overtaken by
        `fast_retransmit_after` later ones was probably lost."""
        for earlier in range(self.base, min(seq, self.next_to_send)):
            if self.attempts.get(earlier) == 0:
                overtaken = self.overtaken[earlier] = self.overtaken.get(earlier, 0) + 1
                if overtaken == self.fast_retransmit_after:
                    self._transmit(earlier, 1)

    def on_timer(self, name: Hashable) -> None:
        _, _, seq = name
        if seq in self.unacked:
            self._transmit(seq, self.attempts[seq] + 1)

    def _fill_window(self) -> None:
        end = min(self.outbox["next_seq"], self.base + self.window)
        while self.next_to_send < end:
            if self.next_to_send in self.unacked:
                self._transmit(self.next_to_send, 0)
            self.next_to_send += 1

    def _transmit(self, seq: int, attempt: int) -> None:
        self.attempts[seq] = attempt
        self._send_data(seq, attempt, ("retransmit", self.peer, seq))
