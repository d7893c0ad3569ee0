"""A TCP proxy that adds latency: a slow network on one machine.

Theory of operation
-------------------
On loopback a round trip takes tens of microseconds, so every way of
making calls looks alike. Across a data centre a round trip takes about a
millisecond, and across a continent tens of them; that is where waiting
for each reply before sending the next request ("lockstep") loses to
keeping many requests in flight ("pipelining"). This proxy makes loopback
behave like such a link: it sits between a client and a server and
delivers every chunk of bytes `delay` seconds after it arrived, in each
direction::

    client ──► proxy ──(+delay)──► server
    client ◄──(+delay)── proxy ◄── server

`delay_forward` is one direction of it. A reader task stamps each chunk
with the time it is due (arrival + delay) and queues it; a writer task
sleeps until the head of the queue is due and sends it. A chunk read at
time t leaves at t + delay whatever else is queued: delays overlap, as on
a real wire, rather than adding up, and order is preserved because every
chunk waits the same time. That is latency, not a bandwidth limit.

The queue is bounded (`max_queued_chunks`): when the far side stops
reading, the writer blocks, the queue fills, the reader stops reading, and
TCP flow control reaches back to the sender, as it would through any
router. End of stream is forwarded after the last delayed chunk.

Timers fire late, never early: on Linux an event loop sleeps in whole
milliseconds, so a 1 ms delay costs 1 to 2 ms in practice. Measure the
round trip rather than assume it.

A proxy on the path sees every byte, which is the point of the last use:
`tap(direction, chunk)`, if given, is called with each chunk as it passes
("to server" or "to client"), so a chapter can show what an eavesdropper
on the wire reads with and without TLS (delay 0 makes a plain wiretap).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import trio

CHUNK_SIZE = 16384

Tap = Callable[[str, bytes], None]


async def delay_forward(
    source: trio.abc.ReceiveStream,
    sink: trio.abc.SendStream,
    delay: float,
    *,
    max_queued_chunks: int = 256,
    tap: Callable[[bytes], None] | None = None,
) -> None:
    """Copy `source` to `sink`, each chunk arriving `delay` seconds late.

    Returns after the source ends and everything has been delivered; then
    it half-closes `sink` if it can (`send_eof`), so the far side sees EOF.
    `tap(chunk)`, if given, sees each chunk as it is read.
    """
    queue_in, queue_out = trio.open_memory_channel[tuple[float, bytes]](max_queued_chunks)

    async def read() -> None:
        async with queue_in:
            while chunk := await source.receive_some(CHUNK_SIZE):
                if tap is not None:
                    tap(chunk)
                await queue_in.send((trio.current_time() + delay, chunk))

    async def write() -> None:
        async with queue_out:
            async for due, chunk in queue_out:
                await trio.sleep_until(due)
                await sink.send_all(chunk)
        if isinstance(sink, trio.abc.HalfCloseableStream):
            await sink.send_eof()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        nursery.start_soon(write)


async def _proxy_connection(
    target_host: str, target_port: int, delay: float, tap: Tap | None, client: trio.SocketStream
) -> None:
    try:
        server = await trio.open_tcp_stream(target_host, target_port)
    except OSError:
        return  # nothing to relay to: serve_listeners closes the client
    async with server:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    functools.partial(delay_forward, tap=_direction(tap, "to server")),
                    client,
                    server,
                    delay,
                )
                nursery.start_soon(
                    functools.partial(delay_forward, tap=_direction(tap, "to client")),
                    server,
                    client,
                    delay,
                )
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # one side hung up abruptly: closing both is all a proxy can do


async def serve_delay_proxy(
    target_port: int,
    delay: float,
    *,
    target_host: str = "127.0.0.1",
    port: int = 0,
    host: str = "127.0.0.1",
    tap: Tap | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections and relay each to the target with `delay` added each way.

    `proxy_port = await nursery.start(serve_delay_proxy, server_port, 0.001)`
    starts it on a free port; connect there instead of to the server.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])
    handler = functools.partial(_proxy_connection, target_host, target_port, delay, tap)
    await trio.serve_listeners(handler, listeners)


def _direction(tap: Tap | None, direction: str) -> Callable[[bytes], None] | None:
    return None if tap is None else functools.partial(tap, direction)
