"""What a NATS client keeps across a lost connection: the server list, the backoff, the outbox.

Theory of operation
-------------------
A client that loses its server does not give up: it dials the next server
of its list, and the next, going round. Dialling a dead list in a tight
loop would burn the CPU and hammer a recovering server, so each failed
dial waits longer: `backoff_delay` doubles the wait each time the whole
list has failed once more, up to a cap.

Meanwhile the application keeps publishing. Those messages wait in the
`Outbox`, the bytes the connection has not written yet. While connected,
the outbox is bounded by blocking: a publisher waits for the writer to
take what is there (backpressure). While disconnected nobody takes, so a
publish that would push the buffered messages past the bound raises
`ReconnectBufferFull` instead of waiting for a server that may never come
back, and memory stays bounded.

Not everything in the outbox is worth keeping. A SUB, an UNSUB or a PING
written for the old connection means nothing to the new one: the client
sends a fresh CONNECT, every live subscription and one PING per waiting
flush from its own tables. So each entry says whether it is *replayable*
(a message: PUB or HPUB), and `take_replayable` keeps only those.
"""

from __future__ import annotations

from collections import deque

import trio


class ReconnectBufferFull(Exception):
    """Disconnected, and the messages waiting to be sent already fill the buffer."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"disconnected with {size} bytes of messages waiting; the buffer holds {limit}"
        )
        self.size = size
        self.limit = limit


def parse_server(server: str | tuple[str, int]) -> tuple[str, int]:
    """`"nats://127.0.0.1:4222"`, `"127.0.0.1:4222"` or `("127.0.0.1", 4222)` as (host, port)."""
    if isinstance(server, tuple):
        return server
    address = server.removeprefix("nats://")
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"not a server address: {server!r} (write nats://host:port)")
    return host.strip("[]"), int(port)


def backoff_delay(failures: int, servers: int, first_wait: float, longest_wait: float) -> float:
    """Seconds to wait after the `failures`-th failed dial in a row, over a list of `servers`.

    >>> [backoff_delay(n, 3, 0.1, 1.0) for n in range(1, 11)]
    [0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.4, 0.4, 0.4, 0.8]
    """
    rounds = (failures - 1) // servers
    return min(first_wait * 2**rounds, longest_wait)


class Outbox:
    """Encoded operations waiting for the connection's writer, in order.

    Messages (replayable) count against `limit`; control operations (SUB,
    UNSUB, PING, PONG) are small, made one per call, and always accepted.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: deque[tuple[bytes, bool]] = deque()
        self.size = 0  # bytes of every entry
        self._writer = trio.lowlevel.ParkingLot()  # the writer, waiting for entries
        self._publishers = trio.lowlevel.ParkingLot()  # publishers, waiting for room

    def put(self, data: bytes, *, replayable: bool) -> None:
        self._entries.append((data, replayable))
        self.size += len(data)
        self._writer.unpark_all()

    def put_message(self, data: bytes, *, connected: bool) -> None:
        """Add a message without waiting; `ReconnectBufferFull` if disconnected and full."""
        if not connected and self.size + len(data) > self.limit:
            raise ReconnectBufferFull(self.size, self.limit)
        self.put(data, replayable=True)

    def has_room_for(self, size: int) -> bool:
        return self.size == 0 or self.size + size <= self.limit

    async def wait_for_room(self) -> None:
        await self._publishers.park()

    async def take_all(self) -> bytes:
        """Wait for entries; return them all, joined, for one `send_all`."""
        while not self._entries:
            await self._writer.park()
        data = b"".join(entry for entry, _ in self._entries)
        self._clear()
        return data

    def take_replayable(self) -> bytes:
        """The messages only, joined; everything else is dropped (it served the old connection)."""
        data = b"".join(entry for entry, replayable in self._entries if replayable)
        self._clear()
        return data

    def _clear(self) -> None:
        self._entries.clear()
        self.size = 0
        self._publishers.unpark_all()
