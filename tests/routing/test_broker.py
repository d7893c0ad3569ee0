"""The broker's protocol, in raw bytes over in-memory streams."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reference.routing.broker import Broker, serve_broker
from tests.routing.broker_harness import RawClient, connect, running_broker

SCRIPT = (
    b"SUB orders.* 1\r\n"
    b"SUB orders.> q 2\r\n"
    b"PUB orders.eu 5\r\nhello\r\n"
    b"PUB orders.eu.paid reply.7 2\r\nhi\r\n"
    b"PUB other 1\r\nx\r\n"
    b"PUB orders.us 0\r\n\r\n"
)
EXPECTED = (
    b"MSG orders.eu 1 5\r\nhello\r\n"
    b"MSG orders.eu 2 5\r\nhello\r\n"
    b"MSG orders.eu.paid 2 reply.7 2\r\nhi\r\n"
    b"MSG orders.us 1 0\r\n\r\n"
    b"MSG orders.us 2 0\r\n\r\n"
)


@pytest.mark.parametrize("byte_at_a_time", [False, True])
async def test_subscribe_publish_and_receive(byte_at_a_time):
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(SCRIPT, byte_at_a_time=byte_at_a_time)
        assert await client.sync() == EXPECTED


async def test_verbose_answers_every_operation_but_ping_with_ok():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery, {"verbose": True})
        await client.send(b"SUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1\r\nPUB a 1\r\ny\r\n")
        assert await client.sync() == (
            b"+OK\r\n+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\n+OK\r\n+OK\r\n"  # PUB's +OK first
        )


async def test_pedantic_rejects_wildcard_publish_subjects():
    async with running_broker() as (broker, nursery):
        pedantic = await connect(broker, nursery, {"pedantic": True})
        relaxed = await connect(broker, nursery)
        await pedantic.send(b"SUB > 1\r\nPUB a.* 1\r\nx\r\nPUB a..b 1\r\nx\r\nPUB a 1\r\nx\r\n")
        error = b"-ERR 'Invalid Publish Subject'\r\n"
        assert await pedantic.sync() == error + error + b"MSG a 1 1\r\nx\r\n"
        await relaxed.send(b"PUB a.* 1\r\nx\r\n")
        assert await relaxed.sync() == b""


async def test_a_bad_filter_is_refused_pedantic_or_not_and_the_connection_lives():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"SUB a..b 1\r\nSUB a.>.b 2\r\nSUB a 3\r\nPUB a 1\r\nx\r\n")
        error = b"-ERR 'Invalid Subject'\r\n"
        assert await client.sync() == error + error + b"MSG a 3 1\r\nx\r\n"


async def test_queue_group_gives_each_message_to_one_member_beside_plain_subscribers():
    async with running_broker() as (broker, nursery):
        plain = await connect(broker, nursery)
        members = [await connect(broker, nursery) for _ in range(3)]
        publisher = await connect(broker, nursery)
        await plain.send(b"SUB jobs.* 1\r\n")
        for member in members:
            await member.send(b"SUB jobs.> workers 1\r\n")
        for client in [plain, *members]:
            await client.sync()
        for number in range(30):
            await publisher.send(b"PUB jobs.%d 2\r\n%02d\r\n" % (number, number))
        await publisher.sync()
        assert (await plain.sync()).count(b"MSG ") == 30
        received = [(await member.sync()).count(b"MSG ") for member in members]
        assert received == [10, 10, 10]  # round robin: exactly one member each time


async def test_unsub_with_max_stops_after_that_many_messages_in_all():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"SUB a 1\r\nSUB a 2\r\nPUB a 1\r\n1\r\nUNSUB 1 3\r\nUNSUB 2 1\r\n")
        for number in range(2, 6):
            await client.send(b"PUB a 1\r\n%d\r\n" % number)
        received = await client.sync()
        assert received == (
            b"MSG a 1 1\r\n1\r\nMSG a 2 1\r\n1\r\nMSG a 1 1\r\n2\r\nMSG a 1 1\r\n3\r\n"
        )
        assert not broker.index.match("a").plain  # both gone from the index


async def test_headers_from_a_client_that_did_not_ask_for_them_close_it():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        assert await client.read_to_end() == b""
        assert broker.closed[-1].closed_because == "message headers not supported"


async def test_unsub_of_an_unknown_sid_and_a_repeated_sid_are_ignored():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"UNSUB 9\r\nSUB a 1\r\nSUB b 1\r\nPUB b 1\r\nx\r\nPUB a 1\r\ny\r\n")
        assert await client.sync() == b"MSG a 1 1\r\ny\r\n"


async def test_headers_reach_a_subscriber_that_takes_them_and_only_the_payload_otherwise():
    async with running_broker() as (broker, nursery):
        with_headers = await connect(broker, nursery, {"headers": True})
        without = await connect(broker, nursery)
        for client in (with_headers, without):
            await client.send(b"SUB a 1\r\n")
            await client.sync()
        publisher = await connect(broker, nursery, {"headers": True})
        await publisher.send(b"HPUB a r 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n")
        await publisher.sync()
        assert await with_headers.sync() == b"HMSG a 1 r 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n"
        assert await without.sync() == b"MSG a 1 r 2\r\nhi\r\n"


async def test_echo_false_keeps_a_publisher_from_its_own_messages():
    async with running_broker() as (broker, nursery):
        quiet = await connect(broker, nursery, {"echo": False})
        other = await connect(broker, nursery)
        await other.send(b"SUB a 1\r\n")
        await other.sync()
        await quiet.send(b"SUB a 1\r\nPUB a 1\r\nx\r\n")
        assert await quiet.sync() == b""
        assert await other.sync() == b"MSG a 1 1\r\nx\r\n"
        # In a queue group too: the message goes to a member that is not the publisher.
        await other.send(b"SUB jobs q 2\r\n")
        await other.sync()
        await quiet.send(b"SUB jobs q 2\r\n")
        for _ in range(3):
            await quiet.send(b"PUB jobs 1\r\ny\r\n")
        assert await quiet.sync() == b""
        assert (await other.sync()).count(b"MSG jobs 2 1") == 3


async def test_a_client_that_leaves_takes_its_subscriptions_with_it():
    async with running_broker() as (broker, nursery):
        client = await connect(broker, nursery)
        await client.send(b"SUB a 1\r\nSUB b q 2\r\n")
        await client.sync()
        assert len(broker.index) == 2
        await client.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert len(broker.index) == 0


async def test_least_outstanding_sends_work_past_a_member_that_is_not_reading():
    broker = Broker(queue_policy="least_outstanding")
    async with trio.open_nursery() as nursery:
        stuck = await connect(broker, nursery, lockstep=True)
        await stuck.send(b"SUB jobs workers 1\r\n")
        await stuck.sync()  # ...and from here it reads nothing
        free = await connect(broker, nursery)
        await free.send(b"SUB jobs workers 1\r\n")
        await free.sync()
        publisher = await connect(broker, nursery)
        for _ in range(20):
            await publisher.send(b"PUB jobs 1\r\nx\r\n")
            await publisher.sync()
            await trio.testing.wait_all_tasks_blocked()  # each writer wrote what it could
        # The stuck member's writer holds its first message; its second stays queued, so
        # from then on it has work outstanding and the free member gets the rest.
        # (Round robin would give each 10.)
        assert (await free.sync()).count(b"MSG") >= 18
        nursery.cancel_scope.cancel()


async def test_serve_broker_listens_on_loopback_for_a_notebook_cell():
    async with serve_broker(port=0) as broker:
        stream = await trio.open_tcp_stream("127.0.0.1", broker.port)
        client = RawClient(stream)
        assert (await client.read_until(b"\r\n")).startswith(b"INFO ")
        await client.send(b'CONNECT {"verbose":false}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\n')
        assert await client.sync() == b"MSG a 1 2\r\nhi\r\n"
        await stream.aclose()
