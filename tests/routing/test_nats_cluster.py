"""Our client on a three-server nats-server cluster, and across a failover.

Across a cluster, a flush is not enough: it proves our server has our SUB,
not that the interest has crossed the routes to the server a publisher is
on. So each test waits by probing: publish probes on the far server until
one arrives, then publish the real messages (which the routes carry in
order after the probe that got through).
"""

from __future__ import annotations

import itertools

import pytest
import trio

from reference.routing import nats_server
from reference.routing.client import State, connect
from reference.routing.nats_server import kill, monitoring, run_nats_cluster, run_nats_server
from reference.routing.reconnect import ReconnectBufferFull
from tests.system_packages import require_nats_server

DEADLINE = 10  # seconds, generous; a healthy run takes a fraction of one


@pytest.fixture
async def cluster():
    require_nats_server()
    async with run_nats_cluster(3) as servers:
        yield servers


async def wait_until_routed(publisher, subscription, subject: str) -> None:
    """Publish probes on `subject` until `subscription` receives one; drop the probes."""
    with trio.fail_after(DEADLINE):
        for number in itertools.count():
            await publisher.publish(subject, b"probe %d" % number)
            with trio.move_on_after(0.05):
                while not (await subscription.next_message()).payload.startswith(b"probe"):
                    pass
                break
    await publisher.flush()
    while True:  # late probes may still be on the way: they are all before this marker
        await publisher.publish(subject, b"marker")
        with trio.move_on_after(0.05):
            while (await subscription.next_message()).payload != b"marker":
                pass
            return


async def test_every_server_routes_to_the_other_two(cluster):
    for server in cluster:
        routes = await monitoring(server, "routez")
        assert routes["num_routes"] == 2


async def test_a_message_published_on_one_server_arrives_through_another(cluster):
    async with connect([cluster[0].url]) as receiver, connect([cluster[2].url]) as sender:
        subscription = await receiver.subscribe("across")
        await wait_until_routed(sender, subscription, "across")
        for number in range(100):
            await sender.publish("across", b"%d" % number)
        with trio.fail_after(DEADLINE):
            got = [int((await subscription.next_message()).payload) for _ in range(100)]
    assert got == list(range(100))
    assert receiver.server == cluster[0].address


async def subscriptions_on(server, client_name: str) -> list[str]:
    """The subjects `server` holds subscriptions to for the client called `client_name`."""
    page = await monitoring(server, "connz?subs=1")
    [connection] = [c for c in page["connections"] if c.get("name") == client_name]
    return sorted(connection.get("subscriptions_list", []))


async def test_when_its_server_dies_the_client_moves_on_with_its_subscriptions(cluster):
    servers = [server.url for server in cluster]
    async with (
        connect(servers, name="mover", reconnect_wait=0.01) as client,
        connect([cluster[2].url]) as sender,
    ):
        plain = await client.subscribe("after.failover")
        counted = await client.subscribe("counted")
        await counted.unsubscribe(max_msgs=4)
        for number in range(2):
            await client.publish("counted", b"%d" % number)
        await client.flush()
        assert counted.received == 2
        assert client.server == cluster[0].address
        await kill(cluster[0])
        with trio.fail_after(DEADLINE):
            await client.wait_reconnected(1)
        assert client.server == cluster[1].address  # the next one in the list
        new_server = cluster[1]
        await client.flush()  # the replayed SUBs are in place on the new server
        assert await subscriptions_on(new_server, "mover") == ["after.failover", "counted"]
        for number in range(2, 4):  # the 2 left of max_msgs: then the server drops it too
            await client.publish("counted", b"%d" % number)
        await client.flush()
        assert [m.payload async for m in counted] == [b"0", b"1", b"2", b"3"]
        assert await subscriptions_on(new_server, "mover") == ["after.failover"]
        await wait_until_routed(sender, plain, "after.failover")
        for number in range(20):
            await sender.publish("after.failover", b"%d" % number)
        with trio.fail_after(DEADLINE):
            got = [int((await plain.next_message()).payload) for _ in range(20)]
        assert got == list(range(20))
        assert client.reconnects == 1


async def test_publishes_made_while_disconnected_are_held_then_sent_and_bounded():
    require_nats_server()
    async with run_nats_server() as first:
        port = first.port
        options = dict(reconnect_wait=0.01, reconnect_wait_max=0.05, reconnect_buffer_size=60)
        async with connect([first.url], **options) as client:
            subscription = await client.subscribe("held")
            await client.flush()
            await kill(first)
            with trio.fail_after(DEADLINE):
                await client.wait_disconnected()
            assert client.state is State.RECONNECTING
            for number in range(3):
                await client.publish("held", b"%d" % number)  # 3 x 15 bytes on the wire
            with pytest.raises(ReconnectBufferFull):
                await client.publish("held", b"one too many")  # 27 bytes more
            async with run_nats_server("-p", str(port)):
                with trio.fail_after(DEADLINE):
                    await client.wait_reconnected(1)
                    got = [(await subscription.next_message()).payload for _ in range(3)]
                assert got == [b"0", b"1", b"2"]


def test_without_nats_server_tests_skip_locally_fail_in_ci_and_helpers_say_how_to_install(
    monkeypatch,
):
    monkeypatch.setattr(nats_server.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(nats_server.NatsServerMissing, match="apt-get install nats-server"):
        nats_server.nats_server_executable()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install nats-server"):
        require_nats_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        require_nats_server()
