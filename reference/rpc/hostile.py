"""Clients that misbehave, and one that behaves: the load an RPC server is soaked under.

Theory of operation
-------------------
A server's limits (reference/rpc/limits.py) are only as good as the abuse
they were tried against. Each coroutine here is one kind of peer that hurt
an earlier version of reference/rpc/server.py; each runs against a port
until it is cancelled, reconnecting whenever the server hangs up on it:

- `never_reads`: sends requests as fast as the socket takes them and reads
  no reply, so replies pile up at the server;
- `slowloris`: announces a 1 MiB frame, then sends it a byte at a time;
- `parks_partial_frames`: many connections, each sending half of a 1 MiB
  frame and then nothing;
- `floods_notifications`: notifications as fast as the socket takes them;
- `sends_amplifying_cbor`: 1 MiB that is one array of a million empty
  maps, about 72 MiB once decoded, were it decoded.

`polite_caller` is the well-behaved client: one call at a time, each
call's latency recorded. tests/rpc/test_soak.py and bench/abuse.py compare
its latencies with and without the others.
"""

from __future__ import annotations

import contextlib
import time

import trio

from reference.rpc.client import RpcClient
from reference.rpc.wire import Notification, Request, encode_message
from reference.wire.framing import DEFAULT_MAX_FRAME_SIZE, encode_frame

ONE_MIB_HEADER = DEFAULT_MAX_FRAME_SIZE.to_bytes(4, "big")
AMPLIFYING_FRAME = encode_frame(b"\x9a\x00\x0f\x42\x3b" + b"\xa0" * 999_995)
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def polite_caller(port: int, latencies: list[float], payload: object = b"x" * 32) -> None:
    """Call `echo(payload)` one call at a time; append each call's seconds to `latencies`."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with RpcClient(stream) as client:
        while True:
            start = time.perf_counter()
            await client.call("echo", payload)
            latencies.append(time.perf_counter() - start)


async def _sends_forever(port: int, frame: bytes) -> None:
    """Send `frame` over and over, reconnecting whenever the server hangs up; read nothing."""
    while True:
        with contextlib.suppress(*_GONE):
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                while True:
                    await stream.send_all(frame * 16)
        await trio.sleep(0.05)


async def never_reads(port: int) -> None:
    await _sends_forever(port, encode_frame(encode_message(Request(1, "echo", [bytes(4096)]))))


async def floods_notifications(port: int, method: str = "work") -> None:
    await _sends_forever(port, encode_frame(encode_message(Notification(method, []))))


async def slowloris(port: int, seconds_per_byte: float = 0.1) -> None:
    while True:
        with contextlib.suppress(*_GONE):
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                await stream.send_all(ONE_MIB_HEADER)
                while True:
                    await trio.sleep(seconds_per_byte)
                    await stream.send_all(b"\xa0")
        await trio.sleep(0.05)


async def _parks_one_frame(port: int) -> None:
    while True:
        with contextlib.suppress(*_GONE):
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                await stream.send_all(ONE_MIB_HEADER + bytes(DEFAULT_MAX_FRAME_SIZE // 2))
                while await stream.receive_some():  # until the server hangs up
                    pass
        await trio.sleep(0.05)


async def parks_partial_frames(port: int, connections: int = 20) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(_parks_one_frame, port)


async def sends_amplifying_cbor(port: int, pause: float = 0.1) -> None:
    """One amplifying frame per connection (the server hangs up on it), every `pause` s."""
    while True:
        with contextlib.suppress(*_GONE):
            async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
                await stream.send_all(AMPLIFYING_FRAME)
                while await stream.receive_some():
                    pass
        await trio.sleep(pause)


EVERY_HOSTILE_KIND = (
    never_reads,
    slowloris,
    parks_partial_frames,
    floods_notifications,
    sends_amplifying_cbor,
)
