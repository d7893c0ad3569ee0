"""The broker's authorization hook, in raw bytes over in-memory streams.

The replies are those nats-server 2.9.10 gave over a raw socket, with
users and permissions in its configuration file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from reference.routing.authorization import NotAuthorized
from reference.routing.broker import Broker
from reference.security.permissions import Permissions
from tests.routing.broker_harness import RawClient, connect

USERS = {
    "orders-token": Permissions(publish=["orders.>"], subscribe=["orders.eu.*"]),
    "audit-token": Permissions(subscribe=[">"]),
}
AUTHORIZATION_VIOLATION = b"-ERR 'Authorization Violation'\r\n"


def authorize(options: dict) -> Permissions:
    try:
        return USERS[options["auth_token"]]
    except (KeyError, TypeError):
        raise NotAuthorized("no such token") from None


@asynccontextmanager
async def guarded_broker() -> AsyncIterator[tuple[Broker, trio.Nursery]]:
    broker = Broker(authorize=authorize)
    async with trio.open_nursery() as nursery:
        yield broker, nursery
        nursery.cancel_scope.cancel()


async def refused(client: RawClient) -> bytes:
    """What the broker sent before it closed the connection."""
    return await client.read_to_end()


async def test_info_says_credentials_are_required_only_when_they_are():
    for broker, expected in ((Broker(authorize=authorize), True), (Broker(), None)):
        async with trio.open_nursery() as nursery:
            client_end, broker_end = trio.testing.memory_stream_pair()
            nursery.start_soon(broker.handle_connection, broker_end)
            info = await RawClient(client_end).read_until(b"\r\n")
            assert json.loads(info[5:]).get("auth_required") is expected
            nursery.cancel_scope.cancel()


async def test_a_connect_without_a_token_or_with_a_wrong_one_is_refused_and_closed():
    async with guarded_broker() as (broker, nursery):
        for options in ({}, {"auth_token": "guess"}, {"auth_token": ["orders-token"]}):
            client = await connect(broker, nursery, options)
            await client.send(b"SUB > 1\r\nPING\r\n")
            assert await refused(client) == AUTHORIZATION_VIOLATION
        assert not broker.connections
        assert [c.closed_because for c in broker.closed] == ["Authorization Violation"] * 3


async def test_any_operation_before_connect_is_an_authorization_violation():
    async with guarded_broker() as (broker, nursery):
        for line in (b"PING\r\n", b"SUB a 1\r\n", b"PUB a 1\r\nx\r\n"):
            client_end, broker_end = trio.testing.memory_stream_pair()
            nursery.start_soon(broker.handle_connection, broker_end)
            client = RawClient(client_end)
            await client.read_until(b"\r\n")  # INFO
            await client.send(line)
            assert await refused(client) == AUTHORIZATION_VIOLATION


async def test_a_valid_token_connects_and_its_permissions_hold_without_closing():
    async with guarded_broker() as (broker, nursery):
        client = await connect(broker, nursery, {"auth_token": "orders-token"})
        await client.send(
            b"PUB other 1\r\nx\r\n"
            b"SUB orders.> 1\r\n"
            b"SUB orders.eu.* 2\r\n"
            b"SUB orders.eu.x 3\r\n"
            b"SUB orders.* 4\r\n"
            b"SUB orders.eu.> 5\r\n"
            b"PUB orders.eu.x 1\r\ny\r\n"
            b"PUB orders.eu.x.y 1\r\nz\r\n"
        )
        assert await client.sync() == (
            b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"orders.>\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"orders.*\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"orders.eu.>\"'\r\n"
            b"MSG orders.eu.x 2 1\r\ny\r\n"
            b"MSG orders.eu.x 3 1\r\ny\r\n"
        )
        assert sorted(broker.connections[1].subscriptions) == ["2", "3"]


async def test_a_refused_publish_reaches_nobody():
    async with guarded_broker() as (broker, nursery):
        audit = await connect(broker, nursery, {"auth_token": "audit-token"})
        orders = await connect(broker, nursery, {"auth_token": "orders-token"})
        await audit.send(b"SUB > 1\r\n")
        assert await audit.sync() == b""
        await orders.send(b"PUB billing 1\r\nx\r\nPUB orders.us 1\r\ny\r\n")
        assert await orders.sync() == b"-ERR 'Permissions Violation for Publish to \"billing\"'\r\n"
        await audit.send(b"PUB anything 1\r\nz\r\n")  # audit may not publish at all
        assert await audit.sync() == (
            b"MSG orders.us 1 1\r\ny\r\n"
            b"-ERR 'Permissions Violation for Publish to \"anything\"'\r\n"
        )


async def test_verbose_answers_a_refused_operation_with_its_error_instead_of_ok():
    async with guarded_broker() as (broker, nursery):
        client = await connect(broker, nursery, {"auth_token": "orders-token", "verbose": True})
        await client.send(b"PUB other 1\r\nx\r\nSUB other 1\r\nSUB orders.eu.x 2\r\n")
        assert await client.sync() == (
            b"+OK\r\n"  # CONNECT
            b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
            b"+OK\r\n"
        )


async def test_a_malformed_subject_outside_the_permissions_gets_both_errors_in_pedantic():
    async with guarded_broker() as (broker, nursery):
        client = await connect(broker, nursery, {"auth_token": "orders-token", "pedantic": True})
        await client.send(b"PUB orders..x 1\r\nx\r\nSUB orders..x 7\r\n")
        assert await client.sync() == (  # as nats-server 2.9.10
            b"-ERR 'Invalid Publish Subject'\r\n"
            b"-ERR 'Permissions Violation for Publish to \"orders..x\"'\r\n"
            b"-ERR 'Permissions Violation for Subscription to \"orders..x\"'\r\n"
        )
