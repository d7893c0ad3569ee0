"""Raw-byte clients for broker tests: a broker on in-memory streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from reference.routing.broker import Broker
from reference.routing.broker_connection import BrokerLimits


class RawClient:
    """One client's end of a stream to the broker, speaking raw bytes."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.received = bytearray()

    async def send(self, data: bytes, *, byte_at_a_time: bool = False) -> None:
        if byte_at_a_time:
            for index in range(len(data)):
                await self.stream.send_all(data[index : index + 1])
        else:
            await self.stream.send_all(data)

    async def read_until(self, marker: bytes) -> bytes:
        """Everything received up to and including `marker` (which must come)."""
        with trio.fail_after(60):
            while marker not in self.received:
                data = await self.stream.receive_some(65536)
                assert data, f"end of stream before {marker!r}; got {bytes(self.received)!r}"
                self.received += data
        end = self.received.index(marker) + len(marker)
        taken = bytes(self.received[:end])
        del self.received[:end]
        return taken

    async def read_to_end(self) -> bytes:
        with trio.fail_after(60):
            while data := await self.stream.receive_some(65536):
                self.received += data
        taken = bytes(self.received)
        self.received.clear()
        return taken

    async def sync(self) -> bytes:
        """PING, then return everything before the PONG that answers it."""
        await self.send(b"PING\r\n")
        return (await self.read_until(b"PONG\r\n"))[: -len(b"PONG\r\n")]


@asynccontextmanager
async def running_broker(**limits: object) -> AsyncIterator[tuple[Broker, trio.Nursery]]:
    broker = Broker(BrokerLimits(**limits), queue_policy="round_robin")
    async with trio.open_nursery() as nursery:
        yield broker, nursery
        nursery.cancel_scope.cancel()


async def connect(
    broker: Broker,
    nursery: trio.Nursery,
    options: dict | None = None,
    *,
    lockstep: bool = False,
) -> RawClient:
    """A client that has read INFO and sent CONNECT with `options` (default: quiet)."""
    pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
    client_end, broker_end = pair()
    nursery.start_soon(broker.handle_connection, broker_end)
    client = RawClient(client_end)
    info = await client.read_until(b"\r\n")
    assert info.startswith(b"INFO {") and json.loads(info[5:])["headers"] is True
    options = {"verbose": False, "pedantic": False, **(options or {})}
    connect_line = b"CONNECT " + json.dumps(options).encode() + b"\r\n"
    await client.send(connect_line)
    return client
