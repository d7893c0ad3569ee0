"""Bearer tokens at the broker: raw CONNECT lines, then the real client, nats-py."""

from __future__ import annotations

import asyncio

import nats
import nats.errors
import pytest
import trio

from reference.routing.authorization import NotAuthorized
from reference.routing.broker import SERVER_NAME, Broker
from reference.security.broker_auth import token_authorizer
from reference.security.tokens import Claims, KeySet, issue_token
from reference.tools.background import TrioThread
from tests.routing.broker_harness import connect

NOW = 1_000_000
ISSUER = "workbook-issuer"
KEYS = KeySet()
KEYS.add("k1", b"k" * 32, signing=True)
AUTHORIZE = token_authorizer(KEYS, issuer=ISSUER, clock=lambda: NOW)
ORDERS_SCOPES = {"pub": ("orders.>",), "sub": ("orders.eu.*",)}


def token(*, audience=SERVER_NAME, expires=NOW + 60, scopes=ORDERS_SCOPES, keys=KEYS) -> str:
    claims = Claims(ISSUER, "alice", audience, NOW - 60, expires, scopes)
    return issue_token(keys, claims)


def test_a_valid_token_gives_the_permissions_of_its_scopes():
    permissions = AUTHORIZE({"auth_token": token()})
    assert permissions.may_publish("orders.us") and not permissions.may_publish("billing")
    assert permissions.may_subscribe("orders.eu.*") and not permissions.may_subscribe("orders.>")


def test_the_audience_is_the_broker_s_name_unless_told_otherwise():
    eu_broker = token_authorizer(KEYS, issuer=ISSUER, audience="eu", clock=lambda: NOW)
    assert eu_broker({"auth_token": token(audience="eu")}).may_publish("orders.x")
    with pytest.raises(NotAuthorized, match="WrongAudience"):
        eu_broker({"auth_token": token()})


OTHER_KEYS = KeySet()
OTHER_KEYS.add("k1", b"o" * 32, signing=True)
REFUSED = {
    "no token": ({}, "no auth_token"),
    "not text": ({"auth_token": 7}, "no auth_token"),
    "expired": ({"auth_token": token(expires=NOW)}, "TokenExpired"),
    "another broker's": ({"auth_token": token(audience="other")}, "WrongAudience"),
    "forged": ({"auth_token": token(keys=OTHER_KEYS)}, "BadSignature"),
    "garbage": ({"auth_token": "v1.x"}, "MalformedToken"),
    "scopes not filters": ({"auth_token": token(scopes={"sub": ("a..b",)})}, "InvalidScopes"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_a_bad_token_is_an_authorization_violation_and_the_broker_keeps_why(case):
    options, reason = REFUSED[case]
    broker = Broker(authorize=AUTHORIZE)
    async with trio.open_nursery() as nursery:
        client = await connect(broker, nursery, options)
        assert await client.read_to_end() == b"-ERR 'Authorization Violation'\r\n"
        assert reason in broker.closed[-1].refused_because


async def test_a_good_token_connects_over_raw_protocol_and_its_scopes_hold():
    broker = Broker(authorize=AUTHORIZE)
    async with trio.open_nursery() as nursery:
        client = await connect(broker, nursery, {"auth_token": token()})
        await client.send(b"SUB orders.eu.* 1\r\nSUB orders.> 2\r\nPUB orders.eu.x 1\r\ny\r\n")
        assert await client.sync() == (
            b"-ERR 'Permissions Violation for Subscription to \"orders.>\"'\r\n"
            b"MSG orders.eu.x 1 1\r\ny\r\n"
        )
        nursery.cancel_scope.cancel()


# nats-py, the real client, sends nats.connect(token=...) as "auth_token".
@pytest.fixture(scope="module")
def guarded_port():
    with TrioThread(name="guarded-broker") as background:
        yield background.start(Broker(authorize=AUTHORIZE).serve, 0)


def run(scenario, *args):
    asyncio.run(asyncio.wait_for(scenario(*args), 20))


@pytest.mark.parametrize("bad", [None, token(expires=NOW), token(audience="other")])
def test_nats_py_without_a_valid_token_is_refused(guarded_port, bad):
    async def scenario():
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization violation"):
            await nats.connect(f"nats://127.0.0.1:{guarded_port}", token=bad, allow_reconnect=False)

    run(scenario)


def test_nats_py_with_a_token_publishes_and_subscribes_within_its_scopes(guarded_port):
    async def scenario():
        errors: list[Exception] = []
        refused = asyncio.Event()

        async def on_error(error):
            errors.append(error)
            refused.set()

        client = await nats.connect(
            f"nats://127.0.0.1:{guarded_port}",
            token=token(),
            allow_reconnect=False,
            error_cb=on_error,
        )
        try:
            received = asyncio.Queue()
            await client.subscribe("orders.eu.*", cb=received.put)
            await client.publish("billing.eu", b"refused")  # outside "pub": dropped
            await client.flush()
            await client.publish("orders.eu.paid", b"allowed")
            message = await received.get()
            assert (message.subject, message.data) == ("orders.eu.paid", b"allowed")
            await refused.wait()  # the -ERR came before the MSG, its callback may run later
            assert 'permissions violation for publish to "billing.eu"' in str(errors[0])
            assert client.is_connected  # a permissions violation does not close
        finally:
            await client.close()

    run(scenario)
