"""The client's token and TLS options, against our broker behind TLS, on 127.0.0.1.

The token travels in CONNECT as "auth_token"; TLS starts with the first byte and
checks the server's certificate against the host dialled; both are kept when
the client reconnects to a restarted broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme

from reference.routing.authorization import NotAuthorized
from reference.routing.broker import Broker
from reference.routing.client import NoServersAvailable, connect
from reference.routing.connection import connect_options
from reference.security.permissions import Permissions
from reference.security.tls import TLSServer, client_context, server_context

TOKEN = "a-token-for-orders"
DEADLINE = 10


def authorize(options: dict) -> Permissions:
    if options.get("auth_token") != TOKEN:
        raise NotAuthorized("not the token")
    return Permissions(publish=["orders.>"], subscribe=["orders.>"])


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    files = {"ca": tmp_path / "ca.pem", "other_ca": tmp_path / "other-ca.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    for name, hosts in (("ip", ("127.0.0.1",)), ("localhost_only", ("localhost",))):
        leaf = ca.issue_cert(*hosts)
        files[f"{name}_cert"] = tmp_path / f"{name}.pem"
        files[f"{name}_key"] = tmp_path / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(files[f"{name}_cert"]))
        leaf.private_key_pem.write_to_path(str(files[f"{name}_key"]))
    return files


@asynccontextmanager
async def tls_broker(
    pki: dict[str, Path], *, port: int = 0, certificate: str = "ip"
) -> AsyncIterator[tuple[Broker, TLSServer]]:
    """A token-checking broker that speaks NATS inside TLS from the first byte."""
    broker = Broker(authorize=authorize)
    context = server_context(pki[f"{certificate}_cert"], pki[f"{certificate}_key"])

    async def handler(stream: trio.SSLStream, identity: str | None) -> None:
        await broker.handle_connection(stream)

    server = TLSServer(context, handler)
    async with trio.open_nursery() as nursery:
        broker.port = await nursery.start(partial(server.serve, port))
        yield broker, server
        nursery.cancel_scope.cancel()


def test_the_token_goes_in_connect_as_auth_token_and_only_when_given():
    assert connect_options("me", TOKEN)["auth_token"] == TOKEN
    assert "auth_token" not in connect_options("me")


async def test_a_client_with_the_token_and_tls_publishes_and_receives(pki):
    with trio.fail_after(DEADLINE):
        async with tls_broker(pki) as (broker, server):
            context = client_context(pki["ca"])
            server_address = ("127.0.0.1", broker.port)
            async with connect([server_address], token=TOKEN, ssl_context=context) as client:
                subscription = await client.subscribe("orders.*")
                await client.flush()
                await client.publish("orders.new", b"over tls")
                message = await subscription.next_message()
            assert message.payload == b"over tls"
            assert server.identities == [None]  # one TLS client (no certificate asked)


@pytest.mark.parametrize(
    "token, ca, certificate",
    [
        ("a-wrong-token", "ca", "ip"),  # the broker refuses the CONNECT
        (None, "ca", "ip"),  # no token at all
        (TOKEN, "other_ca", "ip"),  # the client does not trust the server's CA
        (TOKEN, "ca", "localhost_only"),  # the certificate does not name 127.0.0.1
    ],
)
async def test_a_client_is_refused_without_the_token_or_a_server_it_can_trust(
    pki, token, ca, certificate
):
    with trio.fail_after(DEADLINE):
        async with tls_broker(pki, certificate=certificate) as (broker, _):
            context = client_context(pki[ca])
            with pytest.raises(NoServersAvailable):
                async with connect([("127.0.0.1", broker.port)], token=token, ssl_context=context):
                    pass  # pragma: no cover


async def test_a_plain_tcp_client_gets_nothing_from_a_tls_broker(pki):
    with trio.fail_after(DEADLINE):
        async with tls_broker(pki) as (broker, server):
            with pytest.raises(NoServersAvailable):
                async with connect([("127.0.0.1", broker.port)], token=TOKEN, connect_timeout=0.5):
                    pass  # pragma: no cover
            assert await server.wait_refusals(1)


async def run_tls_broker(pki, port, scope, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """A broker task that `scope.cancel()` stops (as if its process died)."""
    with scope:
        async with tls_broker(pki, port=port) as (broker, _):
            task_status.started(broker)
            await trio.sleep_forever()


async def test_token_and_tls_are_kept_across_a_reconnect(pki):
    with trio.fail_after(DEADLINE):
        context = client_context(pki["ca"])
        first_run, second_run = trio.CancelScope(), trio.CancelScope()
        async with trio.open_nursery() as nursery:
            first = await nursery.start(run_tls_broker, pki, 0, first_run)
            server = [("127.0.0.1", first.port)]
            async with connect(server, token=TOKEN, ssl_context=context, reconnect_wait=0.01) as c:
                subscription = await c.subscribe("orders.>")
                await c.flush()
                first_run.cancel()
                await c.wait_disconnected()
                second = await nursery.start(run_tls_broker, pki, first.port, second_run)
                await c.wait_reconnected(1)
                await c.flush()  # our SUB, replayed, is there before we publish
                (connection,) = second.connections.values()
                assert connection.grants is not None  # the token was sent again, and accepted
                await c.publish("orders.again", b"after the restart")
                assert (await subscription.next_message()).payload == b"after the restart"
            second_run.cancel()
