"""One subscription of the NATS client: a bounded queue of messages, read by `async for`.

Theory of operation
-------------------
The client's reader task hands each MSG to its subscription with
`_deliver`, which never waits: the reader serves every subscription, so
one slow application task must not stall the others. Instead each
subscription holds at most `pending_msgs_limit` messages; past that, a
message is dropped and counted in `dropped` (a *slow consumer*, on the
client's side; nats-py does the same).

`max_msgs` (from `unsubscribe(max_msgs=n)`) ends the subscription after
`n` messages in all, counting those already received: the server stops
sending at the same count, and the iteration ends once the queue is read.

Headers travel as a block of text lines, ``NATS/1.0`` then ``Name: value``
lines then an empty line; `encode_headers` and `decode_headers` convert
between the block and a dict.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

from reference.routing.operations import HMsg, Msg

HEADER_LINE = b"NATS/1.0"


class Subscription:
    """Messages on `subject` (for queue group `queue`), in arrival order."""

    def __init__(
        self,
        subject: str,
        queue: str | None,
        sid: str,
        pending_msgs_limit: int,
        unsubscribe_with: Callable[[Subscription, int | None], None],
    ) -> None:
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.pending_msgs_limit = pending_msgs_limit
        self.max_msgs: int | None = None
        self.received = 0  # delivered by the server, dropped ones included
        self.dropped = 0
        self._pending: deque[Msg | HMsg] = deque()
        self._ended = False
        self._arrivals = trio.lowlevel.ParkingLot()
        self._unsubscribe_with = unsubscribe_with  # the client's: it sends the UNSUB

    async def unsubscribe(self, max_msgs: int | None = None) -> None:
        """Stop now, or after `max_msgs` messages in all."""
        if not self._ended:
            self._unsubscribe_with(self, max_msgs)
        await trio.lowlevel.checkpoint()

    async def next_message(self) -> Msg | HMsg:
        """The next message; `trio.EndOfChannel` once the subscription ended and is read."""
        while not self._pending:
            if self._ended:
                raise trio.EndOfChannel(f"subscription {self.sid} to {self.subject!r} ended")
            await self._arrivals.park()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return self._pending.popleft()

    def next_message_nowait(self) -> Msg | HMsg:
        """The next message if one is waiting, else `trio.WouldBlock` (or `trio.EndOfChannel`)."""
        if not self._pending:
            raise trio.EndOfChannel(self.subject) if self._ended else trio.WouldBlock
        return self._pending.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Msg | HMsg:
        try:
            return await self.next_message()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _deliver(self, message: Msg | HMsg) -> None:
        self.received += 1
        if len(self._pending) < self.pending_msgs_limit:
            self._pending.append(message)
        else:
            self.dropped += 1
        if self.received_all:
            self._ended = True
        self._arrivals.unpark_all()

    @property
    def received_all(self) -> bool:
        """True once `max_msgs` messages have arrived: the server sends no more."""
        return self.max_msgs is not None and self.received >= self.max_msgs

    def _end(self) -> None:
        self._ended = True
        self._arrivals.unpark_all()


def encode_headers(headers: dict[str, str]) -> bytes:
    """The header block for `headers`.

    >>> encode_headers({"Trace-Id": "42"})
    b'NATS/1.0\\r\\nTrace-Id: 42\\r\\n\\r\\n'
    """
    lines = [HEADER_LINE]
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n ") or "\r" in value or "\n" in value:
            raise ValueError(f"a header cannot carry {name!r}: {value!r}")
        lines.append(f"{name}: {value}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def decode_headers(block: bytes) -> dict[str, str]:
    """The headers in a block (the status line, such as ``NATS/1.0 503``, is not among them).

    >>> decode_headers(b"NATS/1.0\\r\\nTrace-Id: 42\\r\\n\\r\\n")
    {'Trace-Id': '42'}
    """
    lines = block.decode().split("\r\n")
    if not lines[0].startswith(HEADER_LINE.decode()):
        raise ValueError(f"not a NATS header block: {block[:40]!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return headers
