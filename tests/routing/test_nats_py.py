"""The real NATS client, nats-py (asyncio), against our broker.

The broker runs in a background Trio thread (`TrioThread`); each test
runs its nats-py scenario with `asyncio.run` in the test's own thread.
nats-py's `flush()` can return before a SUB queued just before it reaches
the server, so no scenario relies on it: `settle` waits for a probe
message that went out behind everything the connection sent before.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable

import nats
import pytest

from reference.routing.broker import Broker
from reference.tools.background import TrioThread
from reference.tools.nats_py import settle

DEADLINE = 20.0


@pytest.fixture(scope="module")
def broker_port():
    with TrioThread(name="broker") as background:
        yield background.start(Broker(queue_policy="random", seed=1).serve, 0)


def run(scenario: Callable[..., Awaitable[None]], *args: object) -> None:
    asyncio.run(asyncio.wait_for(scenario(*args), DEADLINE))


async def connect(port: int) -> nats.NATS:
    return await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False)


async def collect(client: nats.NATS, subject: str, **options: object) -> list:
    """Subscribe; the list fills with (subject, data) as messages arrive."""
    received: list = []

    async def on_message(msg):
        received.append((msg.subject, msg.data))

    await client.subscribe(subject, cb=on_message, **options)
    return received


async def wildcards(port: int) -> None:
    subscriber, publisher = await connect(port), await connect(port)
    one_token = await collect(subscriber, "orders.*")
    rest = await collect(subscriber, "orders.>")
    exact = await collect(subscriber, "orders.eu.paid")
    await settle(subscriber)
    for subject in ["orders.eu", "orders.eu.paid", "orders", "other.eu", "orders.eu.paid.late"]:
        await publisher.publish(subject, subject.encode())
    await settle(publisher)
    await settle(subscriber)
    assert [s for s, _ in one_token] == ["orders.eu"]
    assert [s for s, _ in rest] == ["orders.eu", "orders.eu.paid", "orders.eu.paid.late"]
    assert exact == [("orders.eu.paid", b"orders.eu.paid")]
    await subscriber.close()
    await publisher.close()


def test_wildcards_match_and_do_not_match(broker_port):
    run(wildcards, broker_port)


async def queue_groups(port: int) -> None:
    members = [await connect(port) for _ in range(3)]
    watcher, publisher = await connect(port), await connect(port)
    shares = [await collect(member, "jobs.*", queue="workers") for member in members]
    watched = await collect(watcher, "jobs.*")
    for client in [*members, watcher]:
        await settle(client)
    for number in range(60):
        await publisher.publish(f"jobs.{number}", b"%d" % number)
    await settle(publisher)
    for client in [*members, watcher]:
        await settle(client)
    assert len(watched) == 60
    delivered = sorted(int(data) for share in shares for _, data in share)
    assert delivered == list(range(60))  # every job once, to one member
    assert all(share for share in shares), [len(share) for share in shares]
    for client in [*members, watcher, publisher]:
        await client.close()


def test_queue_group_beside_a_plain_subscriber(broker_port):
    run(queue_groups, broker_port)


async def unsubscribe_with_max(port: int) -> None:
    client = await connect(port)
    received: list = []

    async def on_message(msg):
        received.append(msg.data)

    subscription = await client.subscribe("counted", cb=on_message)
    await subscription.unsubscribe(limit=3)
    await settle(client)
    for number in range(10):
        await client.publish("counted", b"%d" % number)
    await settle(client)
    assert received == [b"0", b"1", b"2"]
    await client.close()


def test_unsubscribe_with_max(broker_port):
    run(unsubscribe_with_max, broker_port)


async def request_reply(port: int) -> None:
    server, caller = await connect(port), await connect(port)

    async def answer(msg):
        await msg.respond(msg.data.upper())

    await server.subscribe("greet", cb=answer)
    await settle(server)
    replies = [await caller.request("greet", word, timeout=5) for word in (b"hi", b"there")]
    assert [reply.data for reply in replies] == [b"HI", b"THERE"]
    await server.close()
    await caller.close()


def test_request_reply(broker_port):
    run(request_reply, broker_port)


async def order_and_sizes(port: int) -> None:
    subscriber = await connect(port)
    publishers = [await connect(port) for _ in range(2)]
    received = await collect(subscriber, "seq.>")
    await settle(subscriber)
    for number in range(300):
        for name, publisher in enumerate(publishers):
            await publisher.publish(f"seq.{name}", b"%d" % number)
    big = bytes(range(256)) * 256  # 64 KiB
    await publishers[0].publish("seq.sizes", b"")
    await publishers[0].publish("seq.sizes", big, headers={"Kind": "big"})
    for publisher in publishers:
        await settle(publisher)
    await settle(subscriber)
    for name in ("0", "1"):
        mine = [int(data) for subject, data in received if subject == f"seq.{name}"]
        assert mine == list(range(300))  # per publisher, in the order published
    assert [data for subject, data in received if subject == "seq.sizes"] == [b"", big]
    for client in [subscriber, *publishers]:
        await client.close()


def test_order_per_publisher_and_0_and_64_kib_payloads(broker_port):
    run(order_and_sizes, broker_port)


async def headers(port: int) -> None:
    client = await connect(port)
    seen: list = []

    async def on_message(msg):
        seen.append((msg.headers, msg.data))

    await client.subscribe("h", cb=on_message)
    await settle(client)
    await client.publish("h", b"body", headers={"Trace-Id": "42"})
    await settle(client)
    assert seen == [({"Trace-Id": "42"}, b"body")]
    await client.close()


def test_headers_travel(broker_port):
    run(headers, broker_port)


def test_the_command_line_broker_serves_nats_py():
    command = [sys.executable, "-m", "reference.routing.broker", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            host, port = json.loads(process.stdout.readline())["listening"]
            assert host == "127.0.0.1"
            run(wildcards, port)
        finally:
            process.terminate()
