"""A connection's outbound buffer: bounded, drained by one writer task.

Theory of operation
-------------------
A broker must never let one subscriber slow down a publisher. So
delivering a message does not write to the subscriber's socket: it appends
the message's bytes to that connection's `OutboundBuffer` and returns at
once, and one writer task per connection (`write_to`) drains the buffer
into the socket as fast as the peer reads, joining small pieces into one
`send_all` of up to `BATCH_BYTES`.

A peer that reads slower than messages arrive makes its buffer grow. The
buffer has a bound, `limit` bytes: `put` of a piece that would go over it
raises `SlowConsumer` and queues nothing. The broker then gives up on that
peer (nats-server does the same with its `max_pending`): `put_final`
throws away what is queued, queues one last piece (the error telling the
peer why) and closes the buffer; the writer exits once that piece is
written (or the broker's write deadline cuts it short). So a connection
holds at most `limit` bytes of output, plus the one batch being written,
however little its peer reads.

`messages` counts the messages (as opposed to protocol replies) queued
and not yet handed to the socket, which the broker offers to the
least-outstanding queue policy as a member's outstanding work.
"""

from __future__ import annotations

from collections import deque

import trio

from reference.wire.framing import BATCH_BYTES


class SlowConsumer(Exception):
    """The peer reads too slowly: its outbound buffer would exceed its bound."""

    def __init__(self, queued: int, adding: int, limit: int) -> None:
        super().__init__(f"{queued} bytes queued, {adding} more would exceed the limit of {limit}")
        self.limit = limit


class OutboundBuffer:
    """Bytes waiting to be written to one peer, at most `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self.messages = 0
        self.peak_bytes = 0
        self.closed = False
        self._pieces: deque[tuple[bytes, bool]] = deque()
        self._more = trio.Event()

    def put(self, data: bytes, *, message: bool = False) -> None:
        """Queue `data` (a message if `message`); SlowConsumer if it would not fit."""
        if self.closed:
            return  # the connection is closing: nothing more goes out
        if self.bytes + len(data) > self.limit:
            raise SlowConsumer(self.bytes, len(data), self.limit)
        self._append(data, message)

    def put_final(self, data: bytes) -> None:
        """Drop what is queued, queue `data` as the last piece, and close."""
        if self.closed:
            return
        self._pieces.clear()
        self.bytes = 0
        self.messages = 0
        self._append(data, False)
        self.closed = True

    def close(self) -> None:
        """Let the writer finish what is queued, then stop."""
        self.closed = True
        self._more.set()

    def _append(self, data: bytes, message: bool) -> None:
        self._pieces.append((data, message))
        self.bytes += len(data)
        self.messages += message
        self.peak_bytes = max(self.peak_bytes, self.bytes)
        self._more.set()

    async def write_to(self, stream: trio.abc.SendStream) -> None:
        """Drain into `stream` until closed and empty (the one writer task)."""
        while True:
            if not self._pieces:
                if self.closed:
                    return
                self._more = trio.Event()
                await self._more.wait()
                continue
            batch, size, messages = [], 0, 0
            while self._pieces and size < BATCH_BYTES:
                data, message = self._pieces.popleft()
                batch.append(data)
                size += len(data)
                messages += message
            self.bytes -= size
            self.messages -= messages
            await stream.send_all(b"".join(batch))
