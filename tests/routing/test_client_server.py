"""Our NATS client (reference/routing/client.py) against one real nats-server.

Every test starts its own nats-server on a free loopback port. On one
server a `flush` (PING/PONG) is a real barrier: the server handles our
operations in order, so once the PONG is back every SUB is in place and
every MSG for our own subscriptions has reached us. No test sleeps for
correctness. The last tests check protocol.py's error texts against what
this nats-server really replies to bad input.
"""

from __future__ import annotations

import pytest
import trio

from reference.routing.client import (
    ConnectionClosed,
    MaxPayloadExceeded,
    NoServersAvailable,
    ServerError,
    connect,
)
from reference.routing.inbox import NoResponders
from reference.routing.nats_server import run_nats_server
from reference.routing.operations import Err, HMsg, LocalProtocolError, Msg
from reference.routing.protocol import (
    CLIENT,
    NEED_DATA,
    ControlLineTooLong,
    PayloadTooLarge,
    ProtocolReader,
    UnknownOperation,
)
from reference.routing.subscription import decode_headers
from tests.system_packages import require_nats_server

DEADLINE = 10  # seconds: generous, for a busy machine; nothing waits this long when it works


@pytest.fixture
async def server():
    require_nats_server()
    async with run_nats_server() as running:
        yield running


def drain(subscription) -> list:
    """Every message already delivered to `subscription`, without waiting."""
    messages = []
    while True:
        try:
            messages.append(subscription.next_message_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return messages


async def test_messages_arrive_in_the_order_each_publisher_sent_them(server):
    async with connect([server.url]) as receiver, connect([server.address]) as sender:
        subscription = await receiver.subscribe("orders")
        await receiver.flush()
        for number in range(500):
            await sender.publish("orders", str(number).encode())
        with trio.fail_after(DEADLINE):
            got = [int((await subscription.next_message()).payload) for _ in range(500)]
    assert got == list(range(500))


async def test_wildcards_match_their_subjects_and_nothing_else(server):
    filters = ["a.*", "a.>", "a.b.c", "*.b.*", ">"]
    subjects = ["a", "a.b", "a.b.c", "a.b.c.d", "b.b.b", "ab.b"]
    async with connect([server.url]) as client:
        subscriptions = {name: await client.subscribe(name) for name in filters}
        for subject in subjects:
            await client.publish(subject, b"x")
        await client.flush()
        got = {name: [m.subject for m in drain(s)] for name, s in subscriptions.items()}
    assert got == {
        "a.*": ["a.b"],
        "a.>": ["a.b", "a.b.c", "a.b.c.d"],
        "a.b.c": ["a.b.c"],
        "*.b.*": ["a.b.c", "b.b.b"],
        ">": subjects,
    }


async def test_a_queue_group_shares_the_messages_while_a_plain_subscriber_gets_them_all(server):
    async with connect([server.url]) as client:
        workers = [await client.subscribe("jobs", queue="workers") for _ in range(2)]
        watcher = await client.subscribe("jobs")
        await client.flush()
        for number in range(100):
            await client.publish("jobs", str(number).encode())
        await client.flush()
        shares = [len(drain(worker)) for worker in workers]
        assert len(drain(watcher)) == 100
    assert sum(shares) == 100
    assert min(shares) > 0  # nats-server picks at random: all 100 to one is 2**-99 likely


async def test_unsubscribe_with_max_ends_after_that_many_messages(server):
    async with connect([server.url]) as client:
        counted = await client.subscribe("ticks")
        stopped = await client.subscribe("ticks")
        await counted.unsubscribe(max_msgs=3)
        await stopped.unsubscribe()
        for number in range(5):
            await client.publish("ticks", bytes([number]))
        await client.flush()
        with trio.fail_after(DEADLINE):
            assert [m.payload async for m in counted] == [b"\0", b"\1", b"\2"]
            assert [m async for m in stopped] == []
        assert counted.received == 3


async def test_request_reply_through_one_inbox_and_no_responders(server):
    async with connect([server.url]) as client, trio.open_nursery() as nursery:
        service = await client.subscribe("upper")

        async def answer_each_request():
            async for request in service:
                await client.publish(request.reply_to, request.payload.upper())

        nursery.start_soon(answer_each_request)
        await client.flush()
        replies = {}

        async def ask(word):
            replies[word] = (await client.request("upper", word)).payload

        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as askers:
                for word in [b"one", b"two", b"three"]:
                    askers.start_soon(ask, word)
            with pytest.raises(NoResponders):
                await client.request("nobody.listens", b"?")
        assert replies == {b"one": b"ONE", b"two": b"TWO", b"three": b"THREE"}
        assert len(client._subscriptions) == 2  # the service and the one inbox
        nursery.cancel_scope.cancel()


async def test_a_request_nobody_answers_ends_at_the_callers_deadline(server):
    async with connect([server.url]) as client:
        await client.subscribe("silent")
        await client.flush()
        with trio.move_on_after(0.2) as scope:
            await client.request("silent", b"?")
        assert scope.cancelled_caught
        assert client._inbox.in_flight == 0


@pytest.mark.parametrize("size", [0, 64 * 1024])
async def test_empty_and_64_kib_payloads_arrive_whole(server, size):
    payload = bytes(range(256)) * (size // 256)
    async with connect([server.url]) as client:
        subscription = await client.subscribe("blobs")
        await client.publish("blobs", payload)
        await client.flush()
        [message] = drain(subscription)
    assert message == Msg("blobs", subscription.sid, None, payload)


async def test_headers_travel_with_the_message(server):
    async with connect([server.url]) as client:
        subscription = await client.subscribe("traced")
        await client.publish("traced", b"body", reply_to="back", headers={"Trace-Id": "42"})
        await client.flush()
        [message] = drain(subscription)
    assert isinstance(message, HMsg)
    assert (message.payload, message.reply_to) == (b"body", "back")
    assert decode_headers(message.headers) == {"Trace-Id": "42"}


async def test_a_slow_subscription_drops_past_its_pending_limit_and_counts(server):
    async with connect([server.url], pending_msgs_limit=5) as client:
        slow = await client.subscribe("firehose")
        for number in range(20):
            await client.publish("firehose", bytes([number]))
        await client.flush()
        assert (slow.pending, slow.dropped, slow.received) == (5, 15, 20)
        assert [m.payload for m in drain(slow)] == [bytes([n]) for n in range(5)]


async def test_the_servers_max_payload_is_respected(tmp_path):
    require_nats_server()
    config = tmp_path / "small.conf"
    config.write_text("max_payload: 1024\n")
    async with run_nats_server("-c", str(config)) as small, connect([small.url]) as client:
        assert client.server_info["max_payload"] == 1024
        await client.publish("fits", bytes(1024))
        with pytest.raises(MaxPayloadExceeded):
            await client.publish("too.big", bytes(1025))
        await client.flush()


async def test_a_server_that_takes_larger_payloads_delivers_them_to_us(tmp_path):
    require_nats_server()
    config = tmp_path / "large.conf"
    config.write_text("max_payload: 2097152\n")
    payload = bytes(range(256)) * 6144  # 1.5 MiB: over the reader's 1 MiB default
    async with run_nats_server("-c", str(config)) as large, connect([large.url]) as client:
        subscription = await client.subscribe("large")
        await client.publish("large", payload)
        await client.flush()
        assert drain(subscription)[0].payload == payload
        assert client.reconnects == 0


async def test_a_subject_the_wire_cannot_carry_is_refused_before_anything_is_sent(server):
    async with connect([server.url]) as client:
        with pytest.raises(LocalProtocolError):
            await client.subscribe("two words")
        with pytest.raises(LocalProtocolError):
            await client.publish("two words", b"")
        assert client._subscriptions == {}
        await client.flush()
        assert client.last_error is None


async def test_an_err_reply_fails_the_next_flush_and_the_connection_goes_on(server):
    async with connect([server.url]) as client:
        await client.subscribe("a..b")
        with pytest.raises(ServerError, match="Invalid Subject"):
            await client.flush()
        assert client.last_error == "Invalid Subject"
        await client.flush()
        assert client.reconnects == 0


async def test_the_servers_pings_are_answered_so_it_keeps_us(tmp_path):
    require_nats_server()
    config = tmp_path / "pings.conf"
    config.write_text('ping_interval: "50ms"\nping_max: 1\n')
    async with run_nats_server("-c", str(config)) as pinging, connect([pinging.url]) as client:
        with trio.fail_after(DEADLINE):
            while client.pings_answered < 4:
                await trio.sleep(0.05)  # waiting for a condition, not timing anything
        assert client.reconnects == 0


async def test_connect_to_nothing_fails_clearly_and_a_closed_client_refuses(server):
    with trio.fail_after(DEADLINE):
        with pytest.raises(NoServersAvailable):
            async with connect(["nats://127.0.0.1:1"]):
                pass
    async with connect([server.url]) as client:
        pass
    with pytest.raises(ConnectionClosed):
        await client.publish("late", b"")


# --- protocol.py's error texts against the real server ----------------------------------------


async def err_reply_to(server, data: bytes) -> Err:
    """Send raw bytes to nats-server; return the -ERR it answers with, read by our reader."""
    reader = ProtocolReader(CLIENT)
    async with await trio.open_tcp_stream(*server.address) as stream:
        await stream.send_all(b'CONNECT {"verbose":false}\r\n' + data)
        with trio.fail_after(DEADLINE):
            while True:
                event = reader.next_event()
                if isinstance(event, Err):
                    return event
                if event is NEED_DATA:
                    reader.feed(await stream.receive_some(65536))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"FOO\r\n", UnknownOperation),
        (b"PUB a 2\r\nhiX\r\n", UnknownOperation),
        (b"PUB a 1048577\r\n", PayloadTooLarge),
        (b"SUB " + b"a" * 5000, ControlLineTooLong),
    ],
)
async def test_our_error_texts_are_the_ones_nats_server_sends(server, data, error):
    assert (await err_reply_to(server, data)).message == error.err_text
