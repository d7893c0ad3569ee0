"""Tests for reference/routing/reconnect.py: server addresses, backoff, and the bounded outbox."""

from __future__ import annotations

import doctest

import pytest
import trio
import trio.testing

import reference.routing.reconnect
from reference.routing.reconnect import Outbox, ReconnectBufferFull, backoff_delay, parse_server


def test_docstring_examples():
    assert doctest.testmod(reference.routing.reconnect).failed == 0


def test_a_server_is_a_url_a_host_and_port_or_a_pair():
    assert parse_server("nats://127.0.0.1:4222") == ("127.0.0.1", 4222)
    assert parse_server("localhost:5") == ("localhost", 5)
    assert parse_server("nats://[::1]:4222") == ("::1", 4222)
    assert parse_server(("127.0.0.1", 7)) == ("127.0.0.1", 7)
    for bad in ["nats://127.0.0.1", "127.0.0.1:port", ""]:
        with pytest.raises(ValueError, match="not a server address"):
            parse_server(bad)


def test_backoff_doubles_per_round_of_the_list_and_stops_at_the_cap():
    assert [backoff_delay(n, 1, 1.0, 5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delay(2, 2, 1.0, 5.0) == 1.0  # the second server of the first round


def test_disconnected_the_outbox_holds_messages_up_to_its_limit():
    outbox = Outbox(limit=10)
    outbox.put_message(b"12345", connected=False)
    outbox.put_message(b"67890", connected=False)  # exactly the limit
    with pytest.raises(ReconnectBufferFull) as caught:
        outbox.put_message(b"!", connected=False)
    assert (caught.value.size, caught.value.limit) == (10, 10)
    outbox.put(b"SUB a 1\r\n", replayable=False)  # control operations always fit
    outbox.put_message(b"!", connected=True)  # connected, the publisher waits instead
    assert outbox.take_replayable() == b"1234567890!"
    assert outbox.size == 0


async def test_the_writer_waits_for_entries_and_takes_them_all_in_order():
    outbox = Outbox(limit=100)
    async with trio.open_nursery() as nursery:
        taken = []

        async def writer():
            taken.append(await outbox.take_all())

        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        assert taken == []
        outbox.put(b"PING\r\n", replayable=False)
        outbox.put_message(b"PUB a 0\r\n\r\n", connected=True)
    assert taken == [b"PING\r\nPUB a 0\r\n\r\n"]


async def test_a_publisher_waiting_for_room_is_woken_when_the_writer_takes():
    outbox = Outbox(limit=10)
    outbox.put_message(b"123456789", connected=True)
    assert not outbox.has_room_for(2)
    assert outbox.has_room_for(1)
    async with trio.open_nursery() as nursery:
        woken = trio.Event()

        async def publisher():
            await outbox.wait_for_room()
            woken.set()

        nursery.start_soon(publisher)
        await trio.testing.wait_all_tasks_blocked()
        assert not woken.is_set()
        await outbox.take_all()
    assert woken.is_set() and outbox.has_room_for(10)
