"""The broker's limits, each with nats-server 2.9's own error text."""

from __future__ import annotations

import contextlib

import trio
import trio.testing

from reference.routing.broker_connection import BrokerLimits
from tests.routing.broker_harness import connect, running_broker


async def test_a_payload_over_the_limit_is_refused_and_the_connection_closed():
    async with running_broker(max_payload=100) as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"PUB a 100\r\n" + b"x" * 100 + b"\r\n")
        assert await client.sync() == b""
        await client.send(b"PUB a 101\r\n")
        assert await client.read_to_end() == b"-ERR 'Maximum Payload Violation'\r\n"


async def test_a_control_line_over_the_limit_is_refused_before_its_end_arrives():
    async with running_broker(max_control_line=64) as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"SUB " + b"a" * 1000)  # no end of line, ever
        assert await client.read_to_end() == b"-ERR 'maximum control line exceeded'\r\n"


async def test_an_unknown_operation_is_refused_and_the_connection_closed():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"FOO bar\r\n")
        assert await client.read_to_end() == b"-ERR 'Unknown Protocol Operation'\r\n"


async def test_subscriptions_past_the_limit_are_refused_and_the_connection_lives():
    async with running_broker(max_subscriptions=2) as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nUNSUB 1\r\nSUB c 3\r\n")
        assert await client.sync() == b"-ERR 'maximum subscriptions exceeded'\r\n"
        assert len(broker.index) == 2


async def test_a_client_that_stops_answering_pings_is_dropped(autojump_clock):
    async with running_broker(ping_interval=5.0, max_pings_outstanding=2) as (broker, nursery):
        client = await connect(broker, nursery)
        start = trio.current_time()
        for expected_at in (5.0, 10.0):  # PINGs left unanswered
            assert await client.read_until(b"\r\n") == b"PING\r\n"
            assert trio.current_time() - start == expected_at
        assert await client.read_to_end() == b"-ERR 'Stale Connection'\r\n"
        assert trio.current_time() - start == 15.0
        assert broker.closed[-1].closed_because == "Stale Connection"


async def test_a_client_that_answers_pings_stays(autojump_clock):
    async with running_broker(ping_interval=5.0, max_pings_outstanding=1) as (broker, nursery):
        client = await connect(broker, nursery)
        for _ in range(10):
            assert await client.read_until(b"\r\n") == b"PING\r\n"
            await client.send(b"PONG\r\n")
        assert await client.sync() == b""
        assert len(broker.connections) == 1


async def test_a_slow_consumer_is_dropped_and_everyone_else_keeps_up(autojump_clock):
    async with running_broker(max_pending=16 * 1024, write_deadline=1.0) as (broker, nursery):
        slow = await connect(broker, nursery, lockstep=True)  # every write waits for a read
        await slow.send(b"SUB big 1\r\n")
        await slow.sync()  # ...and from here it reads nothing
        fast = await connect(broker, nursery)
        await fast.send(b"SUB big 1\r\n")
        await fast.sync()
        publisher = await connect(broker, nursery)
        start = trio.current_time()
        payload = b"x" * 1000
        for _ in range(200):
            await publisher.send(b"PUB big 1000\r\n" + payload + b"\r\n")
        await publisher.sync()  # the publisher never waited for the slow one
        assert trio.current_time() == start
        assert (await fast.sync()).count(payload) == 200
        dropped = broker.closed[-1]
        assert dropped.closed_because == "Slow Consumer"
        assert dropped.outbound.peak_bytes <= 16 * 1024
        assert len(broker.index) == 1  # the slow one's subscription went at once
        assert await slow.read_to_end()  # the write deadline ends it, unread


async def test_memory_stays_bounded_for_a_client_that_sends_and_never_reads(autojump_clock):
    limits = BrokerLimits()
    async with running_broker(max_pending=64 * 1024) as (broker, nursery):
        client = await connect(broker, nursery, lockstep=True)
        connection = next(iter(broker.connections.values()))
        flood = b"PING\r\n" * 100_000  # 600 kB of PINGs, none of whose PONGs it reads
        with trio.move_on_after(5):
            with contextlib.suppress(trio.BrokenResourceError):
                await client.stream.send_all(flood)
        assert connection.closed_because == "Slow Consumer"
        assert connection.outbound.peak_bytes <= 64 * 1024
        assert connection.reader.buffered <= limits.max_control_line + limits.max_payload
